// Package acl connects documentation search to the directory: the groups
// documents are indexed for, and the groups a person is in when she asks.
package acl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Directory resolves groups and memberships in the directory. It sees the
// whole directory (the operator's view): an application's own
// synchronization scope is applied where the application names the user
// (searchapi).
type Directory struct {
	Dir *directory.Service
}

// GroupsOf implements search.Members: the groups the user is a direct
// member of now (groups do not nest), read at every query; none when she
// is disabled.
func (d Directory) GroupsOf(ctx context.Context, userID string) ([]string, error) {
	u, err := d.Dir.User(ctx, directory.Profile{}, userID, directory.ReadOptions{Groups: true})
	if errors.Is(err, directory.ErrNotFound) {
		return nil, &search.Error{Kind: search.ErrUnknownUser, Msg: "no such user"}
	}
	if err != nil {
		return nil, &search.Error{Kind: search.ErrUnavailable, Msg: "the directory is unavailable; retry later", Err: err}
	}
	if !u.Active {
		return []string{}, nil
	}
	out := make([]string, 0, len(u.Groups))
	for _, g := range u.Groups {
		out = append(out, g.ID)
	}
	return out, nil
}

// GroupIDs implements ingest.Groups: each name is a group's id or its
// displayName (compared without regard to case, as SCIM does).
func (d Directory) GroupIDs(ctx context.Context, names []string) ([]string, error) {
	byName := map[string]string{}
	byID := map[string]bool{}
	q := directory.Query{Limit: 500}
	for {
		page, err := d.Dir.Groups(ctx, directory.Profile{}, q)
		if err != nil {
			return nil, &search.Error{Kind: search.ErrUnavailable, Msg: "the directory is unavailable; retry later", Err: err}
		}
		for _, g := range page.Items {
			byName[strings.ToLower(g.DisplayName)] = g.ID
			byID[g.ID] = true
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	var out, missing []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case byID[n]:
			out = append(out, n)
		case byName[strings.ToLower(n)] != "":
			out = append(out, byName[strings.ToLower(n)])
		default:
			missing = append(missing, fmt.Sprintf("%q", n))
		}
	}
	if len(missing) > 0 {
		return nil, &search.Error{Kind: search.ErrInvalid, Msg: fmt.Sprintf("no such group: %s (create it first, or name it by its displayName or id); the index is unchanged", strings.Join(missing, ", "))}
	}
	if len(out) == 0 {
		return nil, &search.Error{Kind: search.ErrInvalid, Msg: "give at least one group whose members may read these documents"}
	}
	return out, nil
}

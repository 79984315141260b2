package scimclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Page is one page of a list.
type Page struct {
	// Resources are the page's resources not already seen on an earlier
	// page of the same walk.
	Resources []map[string]any
	// StartIndex is the 1-based index of the page's first resource;
	// TotalResults the total the server reported.
	StartIndex, TotalResults int
}

// ID returns a resource's id ("" when it has none).
func ID(doc map[string]any) string { return str(doc, "id") }

// str returns a string attribute, found case-insensitively.
func str(doc map[string]any, name string) string {
	_, v, _ := lookup(doc, name)
	s, _ := v.(string)
	return s
}

func escapeID(id string) string { return url.PathEscape(id) }

// ---- users

// GetUser reads a user.
func (c *Client) GetUser(ctx context.Context, id string) (map[string]any, error) {
	if id == "" {
		return nil, fmt.Errorf("scimclient: GetUser: empty id: %w", ErrNotFound)
	}
	d, _, err := c.doc(ctx, request{method: http.MethodGet, path: c.cfg.Paths.Users + "/" + escapeID(id)})
	return d, err
}

// FindUser returns the one user filter matches (build it with Eq and And),
// ErrNotFound when there is none, ErrAmbiguous when there are several.
func (c *Client) FindUser(ctx context.Context, filter string) (map[string]any, error) {
	return c.find(ctx, c.cfg.Paths.Users, filter, nil)
}

// ListUsers calls fn with each page of the users filter matches ("" for
// all).
func (c *Client) ListUsers(ctx context.Context, filter string, fn func(*Page) error) error {
	return c.list(ctx, c.cfg.Paths.Users, filter, nil, fn)
}

// CreateUser creates a user from doc and returns the server's document.
// A 409 answer is an *Error for which IsConflict is true: the account
// exists; look it up and update it.
func (c *Client) CreateUser(ctx context.Context, doc map[string]any) (map[string]any, error) {
	d, _, err := c.doc(ctx, request{method: http.MethodPost, path: c.cfg.Paths.Users, body: c.prepareUser(doc)})
	if err == nil && d == nil {
		// Okta's rule: an empty answer to a create is a failure — the id
		// is unknown.
		return nil, &Error{Method: http.MethodPost, Path: c.resolve(c.cfg.Paths.Users, nil).Path, Status: http.StatusCreated,
			Detail: "the server created the user but sent no document"}
	}
	return d, err
}

// ReplaceUser replaces user id with doc (PUT).
func (c *Client) ReplaceUser(ctx context.Context, id string, doc map[string]any) (map[string]any, error) {
	return c.replace(ctx, c.cfg.Paths.Users, id, c.prepareUser(doc))
}

// PatchUser applies ops to user id and returns the server's document, or
// nil when it answered 204.
func (c *Client) PatchUser(ctx context.Context, id string, ops []PatchOp) (map[string]any, error) {
	return c.patch(ctx, c.cfg.Paths.Users, id, ops, nil)
}

// UpdateUser makes user id (whose document is current, as read from the
// server) have the attributes desired names, sending nothing when it
// already has them. It sends a PATCH of only what differs when the server
// supports PATCH, else a PUT of current overlaid with desired; either way
// attributes desired does not name keep their values and a null in desired
// removes one. Read-only attributes (id, meta, groups) and password are
// not compared. It returns the user as it now is.
func (c *Client) UpdateUser(ctx context.Context, id string, current, desired map[string]any) (map[string]any, error) {
	d, _, err := c.updateUser(ctx, id, current, desired)
	return d, err
}

// updateUser is UpdateUser; it also reports whether it sent anything.
func (c *Client) updateUser(ctx context.Context, id string, current, desired map[string]any) (map[string]any, bool, error) {
	want := c.prepareUser(desired)
	if c.profile.UserAttributes != nil {
		// What the downstream does not keep cannot differ.
		cur := map[string]any{}
		for k, v := range current {
			if c.profile.allowsUserAttr(k) {
				cur[k] = v
			}
		}
		current = cur
	}
	ops := diffOps(current, want)
	if len(ops) == 0 {
		return current, false, nil
	}
	patch, err := c.usePatch(ctx)
	if err != nil {
		return nil, false, err
	}
	if !patch {
		body := merged(current, want)
		if _, _, ok := lookup(body, "schemas"); !ok {
			body["schemas"] = schemasFor(body, UserSchema)
		}
		d, err := c.replace(ctx, c.cfg.Paths.Users, id, body)
		return d, true, err
	}
	d, err := c.PatchUser(ctx, id, ops)
	if err == nil && d == nil {
		d, err = c.GetUser(ctx, id)
	}
	return d, true, err
}

// DeactivateUser sets active to false. Profiles without an active state
// (RAM) get ErrUnsupported: delete the user instead.
func (c *Client) DeactivateUser(ctx context.Context, id string) error {
	return c.setActive(ctx, id, false)
}

// ActivateUser sets active to true.
func (c *Client) ActivateUser(ctx context.Context, id string) error {
	return c.setActive(ctx, id, true)
}

func (c *Client) setActive(ctx context.Context, id string, active bool) error {
	if !c.profile.Active {
		return fmt.Errorf("scimclient: users of profile %s have no active state: %w", c.profile.Name, ErrUnsupported)
	}
	patch, err := c.usePatch(ctx)
	if err != nil {
		return err
	}
	if patch {
		_, err := c.PatchUser(ctx, id, []PatchOp{{Op: "replace", Path: "active", Value: active}})
		return err
	}
	cur, err := c.GetUser(ctx, id)
	if err != nil {
		return err
	}
	_, err = c.UpdateUser(ctx, id, cur, map[string]any{"active": active})
	return err
}

// DeleteUser deletes user id. A user that does not exist counts as deleted.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.delete(ctx, c.cfg.Paths.Users, id)
}

// prepareUser is the document to send for doc: read-only attributes
// dropped, the profile's rules applied, schemas filled in when missing.
func (c *Client) prepareUser(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		if isAttr(k, readOnlyUserAttrs) || !c.profile.allowsUserAttr(k) {
			continue
		}
		if c.profile.LowerCaseUserName && strings.EqualFold(k, "userName") {
			if s, ok := v.(string); ok {
				v = strings.ToLower(s)
			}
		}
		out[k] = v
	}
	if _, _, ok := lookup(out, "schemas"); !ok {
		out["schemas"] = schemasFor(out, UserSchema)
	}
	return out
}

// UserName returns userName as the profile sends it (lower-cased for RAM
// and GitBook), for filters.
func (c *Client) UserName(userName string) string {
	if c.profile.LowerCaseUserName {
		return strings.ToLower(userName)
	}
	return userName
}

// schemasFor lists the core schema and the extension URNs doc uses as keys.
func schemasFor(doc map[string]any, core string) []any {
	out := []any{core}
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		if strings.HasPrefix(strings.ToLower(k), "urn:") {
			out = append(out, k)
		}
	}
	return out
}

// ---- groups

func (c *Client) groupsSupported() error {
	if !c.profile.Groups {
		return fmt.Errorf("scimclient: profile %s has no groups: %w", c.profile.Name, ErrUnsupported)
	}
	return nil
}

// withoutMembers asks servers that support it (RFC 7644 §3.9) to leave the
// member list out of answers: a large group's can be huge.
var withoutMembers = url.Values{"excludedAttributes": {"members"}}

// GetGroup reads a group, with its members.
func (c *Client) GetGroup(ctx context.Context, id string) (map[string]any, error) {
	if err := c.groupsSupported(); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("scimclient: GetGroup: empty id: %w", ErrNotFound)
	}
	d, _, err := c.doc(ctx, request{method: http.MethodGet, path: c.cfg.Paths.Groups + "/" + escapeID(id)})
	return d, err
}

// FindGroup returns the one group filter matches, without its members
// (Eq("displayName", name)); ErrNotFound when there is none.
func (c *Client) FindGroup(ctx context.Context, filter string) (map[string]any, error) {
	if err := c.groupsSupported(); err != nil {
		return nil, err
	}
	return c.find(ctx, c.cfg.Paths.Groups, filter, withoutMembers)
}

// ListGroups calls fn with each page of the groups filter matches, without
// their members.
func (c *Client) ListGroups(ctx context.Context, filter string, fn func(*Page) error) error {
	if err := c.groupsSupported(); err != nil {
		return err
	}
	return c.list(ctx, c.cfg.Paths.Groups, filter, withoutMembers, fn)
}

// CreateGroup creates a group. A 409 is an *Error for which IsConflict is
// true.
//
// Beware servers with IDaaS's idempotent creates (Gatehouse's default):
// there a POST of a group that exists replaces it, members included, so two
// callers creating one group at once can lose each other's members. Look
// the group up first (as Target does) and add members with AddMember.
func (c *Client) CreateGroup(ctx context.Context, doc map[string]any) (map[string]any, error) {
	if err := c.groupsSupported(); err != nil {
		return nil, err
	}
	body := prepareGroup(doc)
	d, _, err := c.doc(ctx, request{method: http.MethodPost, path: c.cfg.Paths.Groups, body: body})
	if err == nil && d == nil {
		return nil, &Error{Method: http.MethodPost, Path: c.resolve(c.cfg.Paths.Groups, nil).Path, Status: http.StatusCreated,
			Detail: "the server created the group but sent no document"}
	}
	return d, err
}

// ReplaceGroup replaces group id with doc (PUT), members included.
func (c *Client) ReplaceGroup(ctx context.Context, id string, doc map[string]any) (map[string]any, error) {
	if err := c.groupsSupported(); err != nil {
		return nil, err
	}
	return c.replace(ctx, c.cfg.Paths.Groups, id, prepareGroup(doc))
}

// PatchGroup applies ops to group id. The answer leaves the members out
// where the server supports it; it is nil when the server answered 204.
func (c *Client) PatchGroup(ctx context.Context, id string, ops []PatchOp) (map[string]any, error) {
	if err := c.groupsSupported(); err != nil {
		return nil, err
	}
	return c.patch(ctx, c.cfg.Paths.Groups, id, ops, withoutMembers)
}

// DeleteGroup deletes group id. A group that does not exist counts as
// deleted.
func (c *Client) DeleteGroup(ctx context.Context, id string) error {
	if err := c.groupsSupported(); err != nil {
		return err
	}
	return c.delete(ctx, c.cfg.Paths.Groups, id)
}

// AddMember makes user userID a member of group groupID (adding a member
// twice is harmless). With PATCH it is one atomic operation; without, the
// group is read and replaced.
func (c *Client) AddMember(ctx context.Context, groupID, userID string) error {
	return c.changeMembers(ctx, groupID, userID, true)
}

// RemoveMember removes user userID from group groupID (removing a
// non-member is harmless).
func (c *Client) RemoveMember(ctx context.Context, groupID, userID string) error {
	return c.changeMembers(ctx, groupID, userID, false)
}

func (c *Client) changeMembers(ctx context.Context, groupID, userID string, add bool) error {
	if err := c.groupsSupported(); err != nil {
		return err
	}
	patch, err := c.usePatch(ctx)
	if err != nil {
		return err
	}
	if patch {
		op := PatchOp{Op: "add", Path: "members", Value: []any{map[string]any{"value": userID}}}
		if !add {
			op = PatchOp{Op: "remove", Path: "members[value eq " + quote(userID) + "]"}
		}
		_, err := c.PatchGroup(ctx, groupID, []PatchOp{op})
		return err
	}
	// Read-modify-write: a concurrent change to the group between the read
	// and the write can be lost, as with any server without PATCH.
	g, err := c.GetGroup(ctx, groupID)
	if err != nil {
		return err
	}
	members := memberIDs(g)
	has := slices.Contains(members, userID)
	switch {
	case add && has, !add && !has:
		return nil
	case add:
		members = append(members, userID)
	default:
		members = slices.DeleteFunc(members, func(m string) bool { return m == userID })
	}
	list := make([]any, len(members))
	for i, m := range members {
		list[i] = map[string]any{"value": m}
	}
	body := map[string]any{}
	for k, v := range g {
		if !isAttr(k, []string{"id", "meta", "members"}) {
			body[k] = v
		}
	}
	body["members"] = list
	_, err = c.ReplaceGroup(ctx, groupID, body)
	return err
}

// memberIDs lists a group document's member ids.
func memberIDs(g map[string]any) []string {
	_, v, _ := lookup(g, "members")
	list, _ := v.([]any)
	var out []string
	for _, el := range list {
		if m, ok := el.(map[string]any); ok {
			if id := str(m, "value"); id != "" {
				out = append(out, id)
			}
		}
	}
	return out
}

func prepareGroup(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		if !isAttr(k, []string{"id", "meta"}) {
			out[k] = v
		}
	}
	if _, _, ok := lookup(out, "schemas"); !ok {
		out["schemas"] = schemasFor(out, GroupSchema)
	}
	return out
}

// ---- shared

func (c *Client) replace(ctx context.Context, path, id string, body map[string]any) (map[string]any, error) {
	if id == "" {
		return nil, fmt.Errorf("scimclient: replace: empty id: %w", ErrNotFound)
	}
	r := request{method: http.MethodPut, path: path + "/" + escapeID(id), body: body}
	d, _, err := c.doc(ctx, r)
	if err == nil && d == nil {
		d, _, err = c.doc(ctx, request{method: http.MethodGet, path: r.path})
	}
	return d, err
}

func (c *Client) patch(ctx context.Context, path, id string, ops []PatchOp, query url.Values) (map[string]any, error) {
	if id == "" {
		return nil, fmt.Errorf("scimclient: patch: empty id: %w", ErrNotFound)
	}
	if len(ops) == 0 {
		return nil, errors.New("scimclient: patch: no operations")
	}
	body := map[string]any{"schemas": []string{PatchOpSchema}, "Operations": ops}
	d, _, err := c.doc(ctx, request{method: http.MethodPatch, path: path + "/" + escapeID(id), query: query, body: body})
	return d, err
}

func (c *Client) delete(ctx context.Context, path, id string) error {
	if id == "" {
		return nil
	}
	_, err := c.do(ctx, request{method: http.MethodDelete, path: path + "/" + escapeID(id)})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// find returns the one resource filter matches.
func (c *Client) find(ctx context.Context, path, filter string, extra url.Values) (map[string]any, error) {
	q := url.Values{"filter": {filter}, "startIndex": {"1"}, "count": {"2"}}
	for k, v := range extra {
		q[k] = v
	}
	lr, err := c.listPage(ctx, path, q)
	if err != nil {
		return nil, err
	}
	switch {
	case len(lr.Resources) == 0:
		return nil, ErrNotFound
	case len(lr.Resources) > 1 || lr.TotalResults > 1:
		return nil, ErrAmbiguous
	}
	return lr.Resources[0], nil
}

// listResponse is a ListResponse (RFC 7644 §3.4.2).
type listResponse struct {
	TotalResults int
	StartIndex   int
	ItemsPerPage int
	Resources    []map[string]any
}

func (c *Client) listPage(ctx context.Context, path string, q url.Values) (*listResponse, error) {
	r := request{method: http.MethodGet, path: path, query: q}
	d, _, err := c.doc(ctx, r)
	if err != nil {
		return nil, err
	}
	lr := &listResponse{}
	num := func(name string) int {
		_, v, _ := lookup(d, name)
		switch n := v.(type) {
		case json.Number:
			i, _ := n.Int64()
			return int(i)
		case string:
			i, _ := strconv.Atoi(n)
			return i
		}
		return 0
	}
	lr.TotalResults, lr.StartIndex, lr.ItemsPerPage = num("totalResults"), num("startIndex"), num("itemsPerPage")
	_, res, _ := lookup(d, "Resources")
	list, _ := res.([]any)
	for _, el := range list {
		if m, ok := el.(map[string]any); ok {
			lr.Resources = append(lr.Resources, m)
		}
	}
	return lr, nil
}

// list walks a list with startIndex and count until totalResults. It
// guards against servers that ignore count (pages of another size),
// return fewer than asked, ignore startIndex (the same page again) or
// report no total.
func (c *Client) list(ctx context.Context, path, filter string, extra url.Values, fn func(*Page) error) error {
	seen := map[string]bool{}
	start := 1
	for {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(c.cfg.PageSize)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		for k, v := range extra {
			q[k] = v
		}
		lr, err := c.listPage(ctx, path, q)
		if err != nil {
			return err
		}
		page := &Page{StartIndex: start, TotalResults: lr.TotalResults}
		for _, r := range lr.Resources {
			id := ID(r)
			if id != "" {
				if seen[id] {
					continue
				}
				seen[id] = true
			}
			page.Resources = append(page.Resources, r)
		}
		if len(page.Resources) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		start += len(lr.Resources)
		switch {
		case len(lr.Resources) == 0:
			return nil // the end, or a server that stopped early
		case len(page.Resources) == 0:
			return nil // nothing new: the server ignores startIndex
		case lr.TotalResults > 0 && start > lr.TotalResults:
			return nil
		}
	}
}

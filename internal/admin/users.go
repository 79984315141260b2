package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Listing and searching users and groups, for administrators: everything
// in the directory (no synchronization scope), filtered with the SCIM
// filter language (RFC 7644 §3.4.2.2, the same parser and SQL as the SCIM
// endpoint), in creation order, a page at a time.

// ListQuery selects a page of users or groups.
type ListQuery struct {
	// Filter is a SCIM filter ("userName sw \"a\""); empty: all.
	Filter string
	// Limit is the page size: 1 to MaxListLimit (0: DefaultListLimit).
	Limit int
	// After continues after the page whose Next it is.
	After string
}

// Page sizes of user and group listings.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// UserSummary is a user as a listing shows it.
type UserSummary struct {
	ID             string    `json:"id"`
	UserName       string    `json:"userName"`
	DisplayName    string    `json:"displayName,omitempty"`
	Email          string    `json:"email,omitempty"`
	Active         bool      `json:"active"`
	OrganizationID string    `json:"organizationId"`
	Created        time.Time `json:"created"`
	Modified       time.Time `json:"lastModified"`
}

// GroupSummary is a group as a listing shows it.
type GroupSummary struct {
	ID             string    `json:"id"`
	DisplayName    string    `json:"displayName"`
	OrganizationID string    `json:"organizationId"`
	Created        time.Time `json:"created"`
	Modified       time.Time `json:"lastModified"`
}

// ListPage is one page of a listing.
type ListPage[T any] struct {
	Items []T `json:"items"`
	// Total is the number of matches of the filter, all pages together.
	Total int `json:"total"`
	// Next continues the listing (absent on the last page): give it as
	// after.
	Next string `json:"next,omitempty"`
}

// Users lists users matching q.Filter, oldest first.
func (o *Ops) Users(ctx context.Context, q ListQuery) (*ListPage[UserSummary], error) {
	dq, err := o.listQuery(q, func(r *schema.Registry) *schema.ResourceType { return r.User })
	if err != nil {
		return nil, err
	}
	release, err := o.admit(ctx, o.Schemas, func(r *schema.Registry) *schema.ResourceType { return r.User }, dq)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := o.budget(ctx)
	defer cancel()
	page, err := o.Dir.Users(ctx, adminProfile(), dq)
	if err != nil {
		return nil, o.listErr(ctx, err)
	}
	out := &ListPage[UserSummary]{Items: make([]UserSummary, 0, len(page.Items)), Total: page.Total, Next: nextOf(page.Next)}
	for _, u := range page.Items {
		out.Items = append(out.Items, UserSummary{ID: u.ID, UserName: u.UserName, DisplayName: u.DisplayName, Email: u.Email(),
			Active: u.Active, OrganizationID: u.OrgID, Created: u.Created, Modified: u.Modified})
	}
	return out, nil
}

// Groups lists groups matching q.Filter, oldest first.
func (o *Ops) Groups(ctx context.Context, q ListQuery) (*ListPage[GroupSummary], error) {
	dq, err := o.listQuery(q, func(r *schema.Registry) *schema.ResourceType { return r.Group })
	if err != nil {
		return nil, err
	}
	release, err := o.admit(ctx, o.Schemas, func(r *schema.Registry) *schema.ResourceType { return r.Group }, dq)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := o.budget(ctx)
	defer cancel()
	page, err := o.Dir.Groups(ctx, adminProfile(), dq)
	if err != nil {
		return nil, o.listErr(ctx, err)
	}
	out := &ListPage[GroupSummary]{Items: make([]GroupSummary, 0, len(page.Items)), Total: page.Total, Next: nextOf(page.Next)}
	for _, g := range page.Items {
		out.Items = append(out.Items, GroupSummary{ID: g.ID, DisplayName: g.DisplayName, OrganizationID: g.OrgID, Created: g.Created, Modified: g.Modified})
	}
	return out, nil
}

// adminProfile sees the whole directory. It has no provisioning domain:
// externalIds (which belong to the applications that set them) are not
// shown, and a filter on externalId matches nothing.
func adminProfile() directory.Profile {
	return directory.Profile{TargetOrgID: directory.RootOrgID}
}

// listQuery checks q and builds the directory query: the filter parsed
// and resolved against the resource type, the page size, the position.
func (o *Ops) listQuery(q ListQuery, rt func(*schema.Registry) *schema.ResourceType) (directory.Query, error) {
	dq := directory.Query{Limit: q.Limit, Count: true}
	switch {
	case q.Limit == 0:
		dq.Limit = DefaultListLimit
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return dq, invalid("limit", "limit must be from 1 to %d", MaxListLimit)
	}
	if q.After != "" {
		seq, err := strconv.ParseInt(q.After, 10, 64)
		if err != nil || seq < 0 {
			return dq, invalid("after", "after must be the next value of the previous page")
		}
		dq.After = &directory.Key{Seq: seq}
	}
	if q.Filter != "" {
		if o.Schemas == nil {
			return dq, invalid("filter", "filters are not available here")
		}
		e, err := filter.Parse(q.Filter)
		if err != nil {
			return dq, invalid("filter", "filter: %v", err)
		}
		if err := filter.Resolve(e, rt(o.Schemas)); err != nil {
			return dq, invalid("filter", "filter: %v", err)
		}
		dq.Filter = e
	}
	return dq, nil
}

// listErr reports a filter the store cannot run as a bad filter.
func (o *Ops) listErr(ctx context.Context, err error) error {
	if errors.Is(err, directory.ErrInvalidFilter) {
		return invalid("filter", "filter: %s", directory.Message(err))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return invalid("filter", "the query did not finish within its time budget (%s): narrow the filter with an indexed equality (id, userName, externalId, emails.value; a group's displayName)", o.QueryTimeout)
	}
	return err
}

// admit takes a slot for an expensive listing (Admit), as a SCIM list
// does.
func (o *Ops) admit(ctx context.Context, reg *schema.Registry, rt func(*schema.Registry) *schema.ResourceType, dq directory.Query) (func(), error) {
	if o.Admit == nil || reg == nil {
		return func() {}, nil
	}
	return o.Admit(ctx, "admin", rt(reg), dq.Filter)
}

// budget bounds a listing's database work by QueryTimeout, as the SCIM
// endpoint bounds its lists: a filter no index answers, over a large
// directory, cannot hold a connection and a CPU for long.
func (o *Ops) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.QueryTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, o.QueryTimeout)
}

// nextOf is the position after a page ("" at the end). With no sort the
// walk is in creation order, so the row's sequence number is its key.
func nextOf(k *directory.Key) string {
	if k == nil {
		return ""
	}
	return strconv.FormatInt(k.Seq, 10)
}

// ---- HTTP

func (a *API) directoryRoutes() {
	a.handle("GET /users", a.listUsers)
	a.handle("GET /groups", a.listGroups)
}

func listQueryOf(r *http.Request) (ListQuery, error) {
	v := r.URL.Query()
	// Each given once: which of two would count is not for a proxy and
	// Gatehouse to read differently.
	for _, name := range []string{"filter", "after", "limit"} {
		if len(v[name]) > 1 {
			return ListQuery{}, &problem{Status: http.StatusBadRequest, Title: "Invalid value", Detail: name + " is given more than once", Field: name}
		}
	}
	q := ListQuery{Filter: v.Get("filter"), After: v.Get("after")}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return q, &problem{Status: http.StatusBadRequest, Title: "Invalid value", Detail: "limit must be an integer from 1 to " + strconv.Itoa(MaxListLimit), Field: "limit"}
		}
		q.Limit = n
	}
	return q, nil
}

func (a *API) listUsers(r *http.Request, _ directory.Actor) (int, any, error) {
	q, err := listQueryOf(r)
	if err != nil {
		return 0, nil, err
	}
	page, err := a.ops.Users(r.Context(), q)
	return http.StatusOK, page, err
}

func (a *API) listGroups(r *http.Request, _ directory.Actor) (int, any, error) {
	q, err := listQueryOf(r)
	if err != nil {
		return 0, nil, err
	}
	page, err := a.ops.Groups(r.Context(), q)
	return http.StatusOK, page, err
}

// User reads one account as administrators see it (its groups with it).
func (o *Ops) User(ctx context.Context, id string) (*directory.User, error) {
	return o.Dir.User(ctx, adminProfile(), id, directory.ReadOptions{Groups: true})
}

// Group reads one group as administrators see it (its members with it).
func (o *Ops) Group(ctx context.Context, id string) (*directory.Group, error) {
	return o.Dir.Group(ctx, adminProfile(), id, directory.ReadOptions{Members: true})
}

// Orgs lists the organizations.
func (o *Ops) Orgs(ctx context.Context) ([]*directory.Organization, error) {
	return o.Dir.Orgs(ctx)
}

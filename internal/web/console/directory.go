package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Users, groups and organizations: search with the SCIM filter language
// (admin.Ops.Users and Groups: the SCIM endpoint's parser and SQL), the
// detail pages, and a person's journey as a timeline (admin.Ops.Journey,
// what `gatehouse journey` shows).

// pageSize is how many users or groups a listing page shows.
const pageSize = 50

// listView is a listing page.
type listView[T any] struct {
	Filter   string
	Page     *admin.ListPage[T]
	NextURL  string
	FirstURL string
	Orgs     map[string]string // organization names by id
}

func (c *Console) listQuery(q *Request) admin.ListQuery {
	return admin.ListQuery{Filter: q.URL.Query().Get("filter"), Limit: pageSize, After: q.URL.Query().Get("after")}
}

// pageURL is the listing at path continued after next, keeping the
// filter.
func pageURL(path, filter, after string) string {
	v := url.Values{}
	if filter != "" {
		v.Set("filter", filter)
	}
	if after != "" {
		v.Set("after", after)
	}
	if len(v) == 0 {
		return Prefix + path
	}
	return Prefix + path + "?" + v.Encode()
}

// badFilter shows an invalid filter on the listing itself (400), the
// parser's message saying what is wrong.
func badFilter(err error) bool {
	var de *directory.Error
	return errors.As(err, &de) && de.Kind == directory.ErrInvalid
}

func (c *Console) orgNames(q *Request) map[string]string {
	orgs, err := c.opt.Ops.Orgs(q.Context())
	out := map[string]string{}
	if err != nil {
		return out
	}
	for _, o := range orgs {
		out[o.ID] = o.Name
	}
	return out
}

func (c *Console) usersPage(q *Request) error {
	lq := c.listQuery(q)
	v := listView[admin.UserSummary]{Filter: lq.Filter, Orgs: c.orgNames(q)}
	page, err := c.opt.Ops.Users(q.Context(), lq)
	if badFilter(err) {
		var de *directory.Error
		errors.As(err, &de)
		v.Page = &admin.ListPage[admin.UserSummary]{}
		return q.renderError(http.StatusBadRequest, "users.title", de.Msg, v)
	}
	if err != nil {
		return err
	}
	v.Page = page
	if page.Next != "" {
		v.NextURL = pageURL("/users", lq.Filter, page.Next)
	}
	if lq.After != "" {
		v.FirstURL = pageURL("/users", lq.Filter, "")
	}
	return q.Render("users.title", v)
}

func (c *Console) groupsPage(q *Request) error {
	lq := c.listQuery(q)
	v := listView[admin.GroupSummary]{Filter: lq.Filter, Orgs: c.orgNames(q)}
	page, err := c.opt.Ops.Groups(q.Context(), lq)
	if badFilter(err) {
		var de *directory.Error
		errors.As(err, &de)
		v.Page = &admin.ListPage[admin.GroupSummary]{}
		return q.renderError(http.StatusBadRequest, "groups.title", de.Msg, v)
	}
	if err != nil {
		return err
	}
	v.Page = page
	if page.Next != "" {
		v.NextURL = pageURL("/groups", lq.Filter, page.Next)
	}
	if lq.After != "" {
		v.FirstURL = pageURL("/groups", lq.Filter, "")
	}
	return q.Render("groups.title", v)
}

// userView is a person's page: the account and her journey.
type userView struct {
	User    *directory.User
	Emails  []string
	OrgName string
	Journey *admin.Journey
	// JourneyErr says why the journey cannot be shown (no event
	// pipeline on this database).
	JourneyErr string
}

func (c *Console) userPage(q *Request) error {
	ctx := q.Context()
	u, err := c.opt.Ops.User(ctx, q.PathValue("id"))
	if err != nil {
		return err
	}
	v := userView{User: u, OrgName: c.orgNames(q)[u.OrgID]}
	for _, e := range emails(u) {
		v.Emails = append(v.Emails, e)
	}
	j, err := c.opt.Ops.Journey(ctx, u.ID)
	var de *directory.Error
	switch {
	case err == nil:
		v.Journey = j
	case errors.As(err, &de) && de.Kind != directory.ErrUnavailable && de.Kind != directory.ErrNotFound:
		v.JourneyErr = de.Msg
	default:
		return err
	}
	return q.Render("user.title", v)
}

// emails lists an account's email addresses.
func emails(u *directory.User) []string {
	list, _ := u.Attrs["emails"].([]any)
	var out []string
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			if s, ok := m["value"].(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// groupView is a group's page.
type groupView struct {
	Group   *directory.Group
	OrgName string
}

func (c *Console) groupPage(q *Request) error {
	g, err := c.opt.Ops.Group(q.Context(), q.PathValue("id"))
	if err != nil {
		return err
	}
	slices.SortFunc(g.Members, func(a, b directory.Member) int {
		if a.Display < b.Display {
			return -1
		}
		if a.Display > b.Display {
			return 1
		}
		return 0
	})
	return q.Render("group.title", groupView{Group: g, OrgName: c.orgNames(q)[g.OrgID]})
}

// orgRow is one organization in the tree.
type orgRow struct {
	Org   *directory.Organization
	Depth int
	// Users is a link to the organization's people.
	Users string
}

func (c *Console) orgsPage(q *Request) error {
	orgs, err := c.opt.Ops.Orgs(q.Context())
	if err != nil {
		return err
	}
	children := map[string][]*directory.Organization{}
	for _, o := range orgs {
		children[o.ParentID] = append(children[o.ParentID], o)
	}
	var rows []orgRow
	seen := map[string]bool{}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, o := range children[parent] {
			if seen[o.ID] {
				continue
			}
			seen[o.ID] = true
			rows = append(rows, orgRow{Org: o, Depth: depth,
				Users: pageURL("/users", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organizationId eq "`+o.ID+`"`, "")})
			walk(o.ID, depth+1)
		}
	}
	walk("", 0)
	for _, o := range orgs {
		if !seen[o.ID] {
			rows = append(rows, orgRow{Org: o})
		}
	}
	return q.Render("orgs.title", rows)
}

// renderError renders the route's page with an error message (already
// in the page's language or the operation's own words).
func (q *Request) renderError(status int, titleKey, msg string, data any) error {
	v := &view{L: q.L, Title: q.L.T(titleKey), Admin: q.Admin, Nav: q.c.nav(q.L, q.route.Nav), CSRF: q.c.opt.Site.CSRF(q.Request),
		Error: msg, Data: data}
	return q.c.render(q.W, q.Request, status, q.route.Template, v)
}

// ago says how long before now t was, roughly.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " d"
}

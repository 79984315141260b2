package cli

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// users and groups list and search the directory, as GET /admin/v1/users
// and /admin/v1/groups do.

func listFlags(q *admin.ListQuery, what string) func(fs *flag.FlagSet) func() error {
	return func(fs *flag.FlagSet) func() error {
		fs.StringVar(&q.Filter, "filter", "", "a SCIM filter, as on GET /scim/v2/"+what+" (e.g. "+map[string]string{
			"Users":  `'userName sw "a"', 'active eq false and emails.value ew "@example.com"'`,
			"Groups": `'displayName co "readers"'`}[what]+")")
		fs.IntVar(&q.Limit, "limit", admin.DefaultListLimit, "how many, oldest first (at most "+strconv.Itoa(admin.MaxListLimit)+")")
		fs.StringVar(&q.After, "after", "", "continue after the previous page (the value it printed)")
		return func() error { return limitRange(q.Limit, admin.MaxListLimit) }
	}
}

// limitRange checks a --limit flag: a usage error (exit 2) unless it is
// from 1 to most, like a value that is not a number.
func limitRange(n, most int) error {
	if n < 1 || n > most {
		return usagef("--limit must be from 1 to %d (got %d)", most, n)
	}
	return nil
}

func (c *cmd) more(total, shown int, next string) {
	if next != "" {
		c.printf("(%d of %d; more: --after %s)\n", shown, total, next)
		return
	}
	c.printf("(%d matching)\n", total)
}

func (e *env) users(args []string) error {
	var q admin.ListQuery
	subs := map[string]*sub{
		"list": {
			about: "list users, or search them with --filter",
			flags: listFlags(&q, "Users"),
			run: func(c *cmd) error {
				page, err := c.a.Admin.Users(c.e.ctx, q)
				if err != nil {
					return err
				}
				return c.print(page, func() {
					var rows [][]string
					for _, u := range page.Items {
						rows = append(rows, []string{u.ID, u.UserName, u.DisplayName, u.Email, strconv.FormatBool(u.Active), u.OrganizationID, fmtTime(u.Created)})
					}
					_ = table(c.e.stdout, []string{"ID", "USERNAME", "DISPLAY NAME", "EMAIL", "ACTIVE", "ORGANIZATION", "CREATED"}, rows)
					c.more(page.Total, len(page.Items), page.Next)
				})
			},
		},
	}
	for name, sc := range loginSubs() {
		subs[name] = sc
	}
	for name, sc := range factorSubs() {
		subs[name] = sc
	}
	return e.runGroup(&group{name: "users", about: "The directory's users (all of them: no application's synchronization scope applies), and their sign-in.",
		order: []string{"list", "login", "reset-password", "unlock", "logout", "revoke-grants", "reset-factors"}, subs: subs}, args)
}

func (e *env) groups(args []string) error {
	var q admin.ListQuery
	subs := map[string]*sub{
		"list": {
			about: "list groups, or search them with --filter",
			flags: listFlags(&q, "Groups"),
			run: func(c *cmd) error {
				page, err := c.a.Admin.Groups(c.e.ctx, q)
				if err != nil {
					return err
				}
				return c.print(page, func() {
					var rows [][]string
					for _, g := range page.Items {
						rows = append(rows, []string{g.ID, g.DisplayName, g.OrganizationID, fmtTime(g.Created)})
					}
					_ = table(c.e.stdout, []string{"ID", "DISPLAY NAME", "ORGANIZATION", "CREATED"}, rows)
					c.more(page.Total, len(page.Items), page.Next)
				})
			},
		},
	}
	subs["policy"] = &sub{
		about: "show the groups login.admin_groups and login.group_factors are bound to (by id: a rename keeps them), with warnings",
		run: func(c *cmd) error {
			if c.a.Login == nil {
				return fmt.Errorf("sign-in is not available on this database")
			}
			bs, err := c.a.Login.BindPolicy(c.e.ctx)
			if err != nil {
				return err
			}
			type row struct {
				Ref     string   `json:"ref"`
				Groups  []string `json:"groupIds"`
				Warning string   `json:"warning,omitempty"`
			}
			out := []row{}
			for _, b := range bs {
				out = append(out, row{Ref: b.Ref, Groups: append([]string{}, b.IDs...), Warning: b.Warning})
			}
			return c.print(out, func() {
				var rows [][]string
				for _, r := range out {
					var names []string
					for _, id := range r.Groups {
						name := id
						if g, err := c.a.Directory.Group(c.e.ctx, directory.Profile{TargetOrgID: directory.RootOrgID}, id, directory.ReadOptions{}); err == nil {
							name = g.DisplayName + " (" + id + ")"
						}
						names = append(names, name)
					}
					rows = append(rows, []string{r.Ref, strings.Join(names, ", ")})
				}
				_ = table(c.e.stdout, []string{"CONFIGURED", "BOUND TO"}, rows)
				for _, r := range out {
					if r.Warning != "" {
						c.printf("warning: %s\n", r.Warning)
					}
				}
			})
		},
	}
	return e.runGroup(&group{name: "groups", about: "The directory's groups (all of them: no application's synchronization scope applies).",
		order: []string{"list", "policy"}, subs: subs}, args)
}

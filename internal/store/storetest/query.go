package storetest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// represent renders a stored user the way SCIM shows it, for filter.Match.
func represent(u *directory.User) map[string]any {
	m := map[string]any(u.Attrs.Clone())
	if m == nil {
		m = map[string]any{}
	}
	m["id"] = u.ID
	m["userName"] = u.UserName
	m["active"] = u.Active
	if u.ExternalID != "" {
		m["externalId"] = u.ExternalID
	}
	if u.DisplayName != "" {
		m["displayName"] = u.DisplayName
	}
	ent, _ := m[directory.EnterpriseURN].(map[string]any)
	if ent == nil {
		ent = map[string]any{}
	}
	ent["organizationId"] = u.OrgID
	m[directory.EnterpriseURN] = ent
	m["meta"] = map[string]any{
		"resourceType": "User",
		"created":      u.Created.Format(time.RFC3339Nano),
		"lastModified": u.Modified.Format(time.RFC3339Nano),
	}
	var groups []any
	for _, g := range u.Groups {
		groups = append(groups, map[string]any{"value": g.ID, "display": g.DisplayName, "type": "direct"})
	}
	if groups != nil {
		m["groups"] = groups
	}
	return m
}

func representGroup(g *directory.Group) map[string]any {
	m := map[string]any(g.Attrs.Clone())
	if m == nil {
		m = map[string]any{}
	}
	m["id"] = g.ID
	m["displayName"] = g.DisplayName
	if g.ExternalID != "" {
		m["externalId"] = g.ExternalID
	}
	m["meta"] = map[string]any{
		"resourceType": "Group",
		"created":      g.Created.Format(time.RFC3339Nano),
		"lastModified": g.Modified.Format(time.RFC3339Nano),
	}
	var members []any
	for _, mem := range g.Members {
		members = append(members, map[string]any{"value": mem.ID, "display": mem.Display, "type": "User"})
	}
	if members != nil {
		m["members"] = members
	}
	return m
}

type seedUser struct {
	name, display, ext string
	active             bool
	attrs              directory.Attrs
}

// seed creates a varied population: column, side-table and JSON attributes,
// missing values, non-ASCII text, several time zones.
func seed(t *testing.T, e *env) []*directory.User {
	t.Helper()
	given := []string{"Émile", "Barbara", "zoë", "Ødegaard", "bob", "ALICE", "Иван", "李"}
	depts := []string{"Sales", "sales", "Engineering", "R&D", ""}
	zones := []string{"Z", "+08:00", "-05:00"}
	var users []*directory.User
	for i := 0; i < 48; i++ {
		attrs := directory.Attrs{}
		attrs["name"] = map[string]any{"givenName": given[i%len(given)], "familyName": fmt.Sprintf("Family%02d", 47-i)}
		switch i % 4 {
		case 0:
			attrs["emails"] = []any{map[string]any{"value": fmt.Sprintf("User%d@Example.com", i), "type": "work", "primary": true}}
		case 1:
			attrs["emails"] = []any{
				map[string]any{"value": fmt.Sprintf("u%d@home.example.org", i), "type": "home"},
				map[string]any{"value": fmt.Sprintf("u%d@example.com", i), "type": "work", "primary": true},
			}
		case 2:
			attrs["emails"] = []any{map[string]any{"value": fmt.Sprintf("u%d@other.example.net", i), "type": "other"}}
		}
		if i%3 == 0 {
			attrs["phoneNumbers"] = []any{
				map[string]any{"value": fmt.Sprintf("+1 555 01%02d", i), "type": "mobile"},
				map[string]any{"value": fmt.Sprintf("+86-1380013%04d", i), "type": "work"},
			}
		}
		if d := depts[i%len(depts)]; d != "" {
			attrs[directory.EnterpriseURN] = map[string]any{"department": d, "employeeNumber": fmt.Sprintf("%05d", i*7)}
		}
		custom := map[string]any{}
		if i%5 != 0 {
			custom["level"] = float64(i % 7)
		}
		if i%2 == 0 {
			custom["startDate"] = fmt.Sprintf("2025-%02d-%02dT%02d:30:00%s", 1+i%12, 1+i%28, i%24, zones[i%len(zones)])
		}
		if i%3 != 2 {
			custom["badge"] = []string{"Gold", "gold", "Silver"}[i%3]
		}
		if i%4 != 3 {
			skills := []any{"go"}
			if i%2 == 0 {
				skills = append(skills, "SQL")
			}
			custom["skills"] = skills
		}
		if i%6 != 5 {
			custom["remote"] = i%2 == 1
		}
		attrs[customURN] = custom
		su := &directory.User{
			UserName:   fmt.Sprintf("%s.%02d@Example.com", []string{"Alpha", "beta", "Gamma", "delta"}[i%4], i),
			ExternalID: fmt.Sprintf("EXT-%03d", i),
			Active:     i%5 != 3,
			Attrs:      attrs,
		}
		if i%7 != 0 {
			su.DisplayName = fmt.Sprintf("%s Person %02d", given[i%len(given)], i)
		}
		if i%9 == 4 {
			su.ExternalID = ""
		}
		users = append(users, e.createUser(strict, su))
	}
	// Groups: every user is in zero, one or two groups.
	var a, b []string
	for i, u := range users {
		if i%2 == 0 {
			a = append(a, u.ID)
		}
		if i%3 == 0 {
			b = append(b, u.ID)
		}
	}
	e.createGroup("Readers", a...)
	e.createGroup("Writers", b...)
	e.createGroup("Nobody")
	// Reload with groups and stored forms.
	out := make([]*directory.User, len(users))
	for i, u := range users {
		got, err := e.store.User(e.ctx, u.ID, directory.ReadOptions{Groups: true, Domain: testDomain})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = got
	}
	return out
}

// userFilters are checked against filter.Match on every store.
var userFilters = []string{
	`userName eq "alpha.00@example.com"`,
	`userName eq "ALPHA.00@EXAMPLE.COM"`,
	`UserName Eq "beta.01@example.com"`,
	`userName ne "alpha.00@example.com"`,
	`userName co "MMA"`,
	`userName sw "delta"`,
	`userName ew ".com"`,
	`userName gt "beta"`,
	`userName le "beta.05@example.com"`,
	`id pr`,
	`externalId pr`,
	`externalId eq "EXT-001"`,
	`externalId eq "ext-001"`,
	`externalId sw "EXT-01"`,
	`displayName pr`,
	`displayName eq "émile person 08"`,
	`displayName co "ØDEGAARD"`,
	`not (displayName pr)`,
	`displayName eq null`,
	`displayName ne null`,
	`nickName eq null`,
	`name.middleName ne null`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:level eq null`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:level ne null`,
	`not (urn:ietf:params:scim:schemas:extension:customfield:2.0:User:badge pr)`,
	`active eq true`,
	`active eq false`,
	`active ne true`,
	`active eq "False"`,
	`meta.resourceType eq "User"`,
	`meta.resourceType eq "Group"`,
	`meta.created gt "2026-01-02T03:04:05.010Z"`,
	`meta.lastModified ge "2026-01-02T03:04:05.030Z" and meta.lastModified lt "2026-01-02T11:04:05.050+08:00"`,
	`emails pr`,
	`not (emails pr)`,
	`emails co "example.com"`,
	`emails.value ew "@EXAMPLE.COM"`,
	`emails.type eq "work"`,
	`emails[type eq "work" and value co "u1"]`,
	`emails[type eq "home"] and emails[type eq "work"]`,
	`emails[type eq "work"].value eq "u5@example.com"`,
	`emails[type eq "work" and primary eq true]`,
	`emails[not (type eq "work")]`,
	`emails.primary eq true`,
	`emails.value eq "user0@example.com"`,
	`name.givenName eq "émile"`,
	`name.givenName eq "ÉMILE"`,
	`name.familyName sw "family0"`,
	`name.FamilyName gt "Family40"`,
	`name.givenName co "ИВ"`,
	`name pr`,
	`name.middleName pr`,
	`phoneNumbers pr`,
	`phoneNumbers[type eq "mobile" and value sw "+1"]`,
	`phoneNumbers.value co "0013"`,
	`phoneNumbers[type eq "work"].value ew "0003"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales"`,
	`department eq "SALES"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber lt "00100"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organizationId eq "root"`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:level gt 3`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:level eq 0`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:level le 2.5`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:level pr`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:startDate gt "2025-06-01T00:00:00Z"`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:startDate le "2025-03-03T02:30:00+08:00"`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:startDate ge "2025-01-01T00:30:00.0004Z"`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:badge eq "gold"`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:badge eq "Gold"`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:skills eq "sql"`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:skills pr`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:remote eq true`,
	`urn:ietf:params:scim:schemas:extension:customfield:2.0:User:remote ne true`,
	`groups pr`,
	`groups.display eq "readers"`,
	`groups[display eq "Writers"] and not (groups[display eq "Readers"])`,
	`groups.type eq "direct"`,
	`userName sw "alpha" or userName sw "beta" and active eq false`,
	`(userName sw "alpha" or userName sw "beta") and active eq false`,
	`not (userName sw "alpha" or emails[type eq "other"])`,
	`not (not (active eq true))`,
	`title pr or nickName eq "x"`,
}

func testFilters(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	reg := registry(t)
	users := seed(t, e)
	for _, f := range userFilters {
		t.Run(f, func(t *testing.T) {
			expr, err := filter.Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := filter.Resolve(expr, reg.User); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, u := range users {
				if filter.Match(expr, represent(u)) {
					want = append(want, u.ID)
				}
			}
			page, err := e.store.Users(e.ctx, directory.Query{Filter: expr, Limit: 1000, Count: true, Read: directory.ReadOptions{Domain: testDomain}})
			if err != nil {
				t.Fatalf("store: %v", err)
			}
			var got []string
			for _, u := range page.Items {
				got = append(got, u.ID)
			}
			sort.Strings(want)
			sort.Strings(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("filter %s: store and reference disagree (-reference +store):\n%s", f, diff)
			}
			if page.Total != len(want) {
				t.Errorf("total = %d, want %d", page.Total, len(want))
			}
		})
	}
	// Tests that must not be vacuous.
	for _, f := range []string{`userName eq "ALPHA.00@EXAMPLE.COM"`, `emails[type eq "work"].value eq "u5@example.com"`, `name.givenName eq "ÉMILE"`, `externalId eq "EXT-001"`} {
		expr, _ := filter.Parse(f)
		_ = filter.Resolve(expr, reg.User)
		p, _ := e.store.Users(e.ctx, directory.Query{Filter: expr, Limit: 10, Read: directory.ReadOptions{Domain: testDomain}})
		if len(p.Items) == 0 {
			t.Errorf("%s matched nothing", f)
		}
	}
	// Groups.
	groups, err := e.store.Groups(e.ctx, directory.Query{Limit: 100, Read: directory.ReadOptions{Members: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{
		`displayName eq "readers"`,
		`displayName sw "W"`,
		`members pr`,
		`not (members pr)`,
		fmt.Sprintf(`members.value eq %q`, users[3].ID),
		fmt.Sprintf(`members[value eq %q]`, users[2].ID),
		`members[display co "person 0"]`,
		`members.type eq "User"`,
		`meta.resourceType eq "Group"`,
		`externalId pr`,
	} {
		t.Run("Group "+f, func(t *testing.T) {
			expr, err := filter.Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := filter.Resolve(expr, reg.Group); err != nil {
				t.Fatal(err)
			}
			var want, got []string
			for _, g := range groups.Items {
				if filter.Match(expr, representGroup(g)) {
					want = append(want, g.ID)
				}
			}
			page, err := e.store.Groups(e.ctx, directory.Query{Filter: expr, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range page.Items {
				got = append(got, g.ID)
			}
			sort.Strings(want)
			sort.Strings(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-reference +store):\n%s", diff)
			}
		})
	}
	// What the store cannot answer is refused with ErrInvalidFilter.
	for _, f := range []string{`meta.location eq "x"`, `meta.version eq "W/\"1\""`, `groups.$ref pr`} {
		expr, err := filter.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := filter.Resolve(expr, reg.User); err != nil {
			continue // refused earlier, also fine
		}
		_, err = e.store.Users(e.ctx, directory.Query{Filter: expr, Limit: 10})
		wantKind(t, err, directory.ErrInvalidFilter)
	}
}

func walk(t *testing.T, e *env, q directory.Query, between func(page int)) []string {
	t.Helper()
	var ids []string
	for page := 0; ; page++ {
		p, err := e.store.Users(e.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Items {
			ids = append(ids, u.ID)
		}
		if p.Next == nil {
			if len(p.Items) == q.Limit && len(p.Items) > 0 {
				// A full last page said there is nothing more: check that
				// there is indeed nothing after its last row.
				last, err := e.store.Users(e.ctx, directory.Query{Limit: 1, Filter: q.Filter, Sort: q.Sort, Descending: q.Descending, Offset: len(ids), Read: q.Read})
				if err != nil {
					t.Fatal(err)
				}
				if len(last.Items) != 0 {
					t.Fatalf("page claimed to be the last, but %s follows", last.Items[0].UserName)
				}
			}
			return ids
		}
		q.After = p.Next
		if between != nil {
			between(page)
		}
		if page > 10000 {
			t.Fatal("walk does not end")
		}
	}
}

func testPaging(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	var want []string
	for i := 0; i < 101; i++ {
		want = append(want, e.createUser(strict, &directory.User{UserName: fmt.Sprintf("p%03d", 100-i), Active: true}).ID)
	}
	got := walk(t, e, directory.Query{Limit: 10}, nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keyset walk (-want +got):\n%s", diff)
	}
	got = walk(t, e, directory.Query{Limit: 101}, nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("one-page walk (-want +got):\n%s", diff)
	}
	// Offsets.
	p, err := e.store.Users(e.ctx, directory.Query{Offset: 95, Limit: 10, Count: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 6 || p.Items[0].ID != want[95] || p.Next != nil || p.Total != 101 {
		t.Errorf("offset page: %d items, next=%v total=%d", len(p.Items), p.Next, p.Total)
	}
	// Limit 0 counts only.
	p, err = e.store.Users(e.ctx, directory.Query{Limit: 0, Count: true})
	if err != nil || len(p.Items) != 0 || p.Total != 101 {
		t.Errorf("count only: %v %d %d", err, len(p.Items), p.Total)
	}
	// Descending.
	got = walk(t, e, directory.Query{Limit: 7, Descending: true}, nil)
	rev := make([]string, len(want))
	for i, id := range want {
		rev[len(want)-1-i] = id
	}
	if diff := cmp.Diff(rev, got); diff != "" {
		t.Errorf("descending walk (-want +got):\n%s", diff)
	}
	// Organization scope.
	p, err = e.store.Users(e.ctx, directory.Query{Limit: 10, Count: true, Scope: &directory.SyncScope{OrgIDs: []string{"elsewhere"}}})
	if err != nil || p.Total != 0 || len(p.Items) != 0 {
		t.Errorf("scoped to an empty org: %v %d", err, p.Total)
	}
	p, err = e.store.Users(e.ctx, directory.Query{Limit: 10, Count: true, Scope: &directory.SyncScope{OrgIDs: []string{directory.RootOrgID}}})
	if err != nil || p.Total != 101 {
		t.Errorf("scoped to root: %v %d", err, p.Total)
	}
}

// testPagingUnderDeletes: a keyset walk while others delete users neither
// repeats nor skips the users that were not deleted.
func testPagingUnderDeletes(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	var all []*directory.User
	for i := 0; i < 120; i++ {
		all = append(all, e.createUser(strict, &directory.User{UserName: fmt.Sprintf("d%03d", i), Active: true}))
	}
	deleted := map[string]bool{}
	got := walk(t, e, directory.Query{Limit: 10}, func(page int) {
		// Delete one user already seen and one not yet seen.
		for _, i := range []int{page * 10, 119 - page} {
			if id := all[i].ID; !deleted[id] {
				deleted[id] = true
				if err := e.svc.DeleteUser(e.ctx, e.actor, strict, id, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		// And add one, which lands at the end.
		all = append(all, e.createUser(strict, &directory.User{UserName: fmt.Sprintf("n%03d", page), Active: true}))
	})
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, u := range all {
		if deleted[u.ID] {
			continue
		}
		if seen[u.ID] != 1 {
			t.Errorf("%s seen %d times", u.UserName, seen[u.ID])
		}
	}
}

func testSorting(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	reg := registry(t)
	users := seed(t, e)
	sortBy := func(path string) *filter.Path {
		ref, err := reg.User.ResolveLoose(path)
		if err != nil {
			t.Fatal(err)
		}
		return &filter.Path{Name: ref.Attr.Name, Ref: ref}
	}
	cases := []struct {
		path string
		key  func(u *directory.User) (string, bool) // sort key, present
	}{
		{"userName", func(u *directory.User) (string, bool) { return strings.ToLower(u.UserName), true }},
		{"displayName", func(u *directory.User) (string, bool) { return strings.ToLower(u.DisplayName), u.DisplayName != "" }},
		{"externalId", func(u *directory.User) (string, bool) { return u.ExternalID, u.ExternalID != "" }},
		{"name.familyName", func(u *directory.User) (string, bool) {
			n, _ := u.Attrs["name"].(map[string]any)
			s, _ := n["familyName"].(string)
			return strings.ToLower(s), s != ""
		}},
		{"emails", func(u *directory.User) (string, bool) {
			// primary first, else the first
			els, _ := u.Attrs["emails"].([]any)
			var first string
			for _, el := range els {
				m := el.(map[string]any)
				if p, _ := m["primary"].(bool); p {
					return strings.ToLower(m["value"].(string)), true
				}
				if first == "" {
					first = strings.ToLower(m["value"].(string))
				}
			}
			return first, first != ""
		}},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", func(u *directory.User) (string, bool) {
			s := u.Department()
			return strings.ToLower(s), s != ""
		}},
	}
	for _, tc := range cases {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", tc.path, desc), func(t *testing.T) {
				want := append([]*directory.User(nil), users...)
				sort.SliceStable(want, func(i, j int) bool {
					ki, pi := tc.key(want[i])
					kj, pj := tc.key(want[j])
					less := false
					switch {
					case pi != pj:
						less = pi // present before absent
					case ki != kj:
						less = ki < kj
					default:
						less = false // creation order breaks ties (stable sort on creation order)
					}
					return less
				})
				if desc {
					for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
						want[i], want[j] = want[j], want[i]
					}
				}
				var wantIDs []string
				for _, u := range want {
					wantIDs = append(wantIDs, u.ID)
				}
				got := walk(t, e, directory.Query{Sort: sortBy(tc.path), Descending: desc, Limit: 9, Read: directory.ReadOptions{Domain: testDomain}}, nil)
				if diff := cmp.Diff(wantIDs, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
	// Sorting on an attribute the store cannot sort on is refused.
	_, err := e.store.Users(e.ctx, directory.Query{Sort: sortBy("meta.location"), Limit: 5})
	wantKind(t, err, directory.ErrInvalidFilter)
	_ = schema.UserURN
}

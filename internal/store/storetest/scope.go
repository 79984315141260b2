package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

// testScopedVersions: a reader with a synchronization scope is shown
// versions and lastModified times that changes outside its scope do not
// move — memberships of hidden users or groups, a hidden manager replaced
// by another — while changes it can see do; its If-Match compares with
// what it is shown, and meta.lastModified filters and sorts see the same
// times. Unscoped readers see every change.
func testScopedVersions(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	org := func(name string) string {
		o, err := e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	eng, sales := org("Engineering"), org("Sales")
	alice := e.createUser(strict, &directory.User{UserName: "alice", Active: true, OrgID: eng})
	bob := e.createUser(strict, &directory.User{UserName: "bob", Active: true, OrgID: eng})
	carol := e.createUser(strict, &directory.User{UserName: "carol", Active: true, OrgID: sales})
	dan := e.createUser(strict, &directory.User{UserName: "dan", Active: true, OrgID: sales})
	if alice.AttrsVersion != 1 || !alice.AttrsModified.Equal(alice.Created) {
		t.Errorf("new user: attrs version %d, modified %v (created %v)", alice.AttrsVersion, alice.AttrsModified, alice.Created)
	}
	team, _, err := e.svc.CreateGroup(e.ctx, e.actor, strict, &directory.Group{DisplayName: "team", OrgID: eng,
		Members: []directory.Member{{ID: alice.ID}, {ID: carol.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	p := strict
	p.TargetOrgID, p.Scope = eng, directory.SyncScope{OrgIDs: []string{eng}}
	type seen struct {
		version  int64
		modified time.Time
	}
	user := func(p directory.Profile, id string) seen {
		t.Helper()
		u, err := e.svc.User(e.ctx, p, id, directory.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u.Groups != nil {
			t.Errorf("groups read though not asked for: %v", u.Groups)
		}
		return seen{u.Version, u.Modified}
	}
	group := func(p directory.Profile, id string) seen {
		t.Helper()
		g, err := e.svc.Group(e.ctx, p, id, directory.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g.Members != nil {
			t.Errorf("members read though not asked for: %v", g.Members)
		}
		return seen{g.Version, g.Modified}
	}
	alice0, team0 := user(p, alice.ID), group(p, team.ID)
	adminAlice0, adminTeam0 := user(strict, alice.ID), group(strict, team.ID)

	// Outside the scope: a Sales group gains alice, carol leaves team,
	// alice's manager is carol, then dan.
	if _, _, err := e.svc.CreateGroup(e.ctx, e.actor, strict, &directory.Group{DisplayName: "hidden", OrgID: sales,
		Members: []directory.Member{{ID: alice.ID}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateGroup(e.ctx, e.actor, strict, team.ID, nil, nil,
		[]directory.MemberOp{{Kind: directory.RemoveMembers, IDs: []string{carol.ID}}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{carol.ID, dan.ID} {
		if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, alice.ID, nil, func(u *directory.User) error {
			u.Attrs[directory.EnterpriseURN] = map[string]any{"manager": map[string]any{"value": m}}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := user(strict, alice.ID); got.version == adminAlice0.version {
		t.Errorf("unscoped reader: alice's version did not move (%d)", got.version)
	}
	if got := group(strict, team.ID); got.version == adminTeam0.version || got.modified.Equal(adminTeam0.modified) {
		t.Errorf("unscoped reader: team's version or lastModified did not move: %v → %v", adminTeam0, got)
	}
	if got := user(p, alice.ID); got != alice0 {
		t.Errorf("scoped reader: alice moved with changes outside the scope: %v → %v", alice0, got)
	}
	if got := group(p, team.ID); got != team0 {
		t.Errorf("scoped reader: team moved with changes outside the scope: %v → %v", team0, got)
	}
	// Lists show the same; filters and sorts on meta.lastModified see it.
	reg := registry(t)
	users, err := e.svc.Users(e.ctx, p, directory.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Items {
		if u.ID == alice.ID && (seen{u.Version, u.Modified}) != alice0 {
			t.Errorf("listed alice %v, read %v", seen{u.Version, u.Modified}, alice0)
		}
	}
	groups, err := e.svc.Groups(e.ctx, p, directory.Query{Limit: 10})
	if err != nil || len(groups.Items) != 1 || (seen{groups.Items[0].Version, groups.Items[0].Modified}) != team0 || groups.Items[0].Members != nil {
		t.Errorf("listed groups %v: %+v", err, groups)
	}
	modifiedAfter := func(p directory.Profile, at time.Time) []string {
		t.Helper()
		expr, err := filter.Parse(`meta.lastModified gt "` + at.Format(time.RFC3339Nano) + `"`)
		if err == nil {
			err = filter.Resolve(expr, reg.User)
		}
		if err != nil {
			t.Fatal(err)
		}
		page, err := e.svc.Users(e.ctx, p, directory.Query{Filter: expr, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range page.Items {
			out = append(out, u.UserName)
		}
		return out
	}
	if got := modifiedAfter(p, bob.Created); len(got) != 0 {
		t.Errorf("scoped: modified after bob's creation: %v", got)
	}
	if got := modifiedAfter(strict, bob.Created); !slices.Contains(got, "alice") {
		t.Errorf("unscoped: modified after bob's creation: %v, want alice among them", got)
	}
	ref, err := reg.User.ResolveLoose("meta.lastModified")
	if err != nil {
		t.Fatal(err)
	}
	sorted, err := e.svc.Users(e.ctx, p, directory.Query{Sort: &filter.Path{Name: "meta", Ref: ref}, Descending: true, Limit: 1})
	if err != nil || len(sorted.Items) != 1 || sorted.Items[0].ID != bob.ID {
		t.Errorf("scoped: last modified first: %v %+v", err, sorted)
	}

	// If-Match compares with what the reader is shown.
	is := func(v int64) func(int64) bool { return func(x int64) bool { return x == v } }
	_, err = e.svc.UpdateUser(e.ctx, e.actor, p, alice.ID, is(adminAlice0.version), func(u *directory.User) error { u.DisplayName = "A"; return nil })
	wantKind(t, err, directory.ErrPrecondition)
	upd, err := e.svc.UpdateUser(e.ctx, e.actor, p, alice.ID, is(alice0.version), func(u *directory.User) error { u.DisplayName = "Alice"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if (seen{upd.Version, upd.Modified}) != user(p, alice.ID) || upd.Version == alice0.version || !upd.Modified.After(alice0.modified) {
		t.Errorf("after a change the reader sees: answered %v, read %v, before %v", seen{upd.Version, upd.Modified}, user(p, alice.ID), alice0)
	}
	if upd.Attrs[directory.EnterpriseURN] != nil {
		t.Errorf("the answer shows the hidden manager: %v", upd.Attrs)
	}
	g, err := e.svc.UpdateGroup(e.ctx, e.actor, p, team.ID, is(team0.version), nil,
		[]directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{bob.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	// A member the reader sees joined: the version moves, lastModified
	// (the group's own attributes) does not.
	if team1 := group(p, team.ID); (seen{g.Version, g.Modified}) != team1 || team1.version == team0.version || !team1.modified.Equal(team0.modified) {
		t.Errorf("after bob joined: answered %v, read %v, before %v", seen{g.Version, g.Modified}, team1, team0)
	}
	if got := user(p, bob.ID); got.version == user(strict, bob.ID).version {
		t.Errorf("bob's scoped version is his unscoped one: %v", got)
	}
	wantKind(t, e.svc.DeleteGroup(e.ctx, e.actor, p, team.ID, is(team0.version)), directory.ErrPrecondition)
	wantKind(t, e.svc.DeleteUser(e.ctx, e.actor, p, alice.ID, is(alice0.version)), directory.ErrPrecondition)
	if err := e.svc.DeleteUser(e.ctx, e.actor, p, bob.ID, is(user(p, bob.ID).version)); err != nil {
		t.Errorf("delete with the scoped version: %v", err)
	}
}

package scim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// scopeFixture is a directory with two organizations and an application
// that sees only one of them, as an attacker holding that application's
// token would.
//
//	Engineering: bob (manager carol), carol, dave (manager sam), group eng-team {bob, sam}
//	Sales:       sam ("Sales Sam", sam@sales.example.com), group mixed {dave, sam}
type scopeFixture struct {
	h                     *harness
	eng, sales            string // organizations
	bob, carol, dave, sam string
	engTeam, mixed        string
	token                 string // the Engineering application's
}

func newScopeFixture(t *testing.T) *scopeFixture {
	h := newHarness(t)
	ctx := context.Background()
	f := &scopeFixture{h: h}
	for name, id := range map[string]*string{"Engineering": &f.eng, "Sales": &f.sales} {
		o, err := h.dir.CreateOrg(ctx, operator, &directory.Organization{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		*id = o.ID
	}
	ent := schema.EnterpriseURN
	user := func(name, org string, extra map[string]any) string {
		body := map[string]any{"userName": name + "@example.com", ent: map[string]any{"organizationId": org}}
		for k, v := range extra {
			body[k] = v
		}
		return h.createUser(body)
	}
	f.sam = user("sam", f.sales, map[string]any{"displayName": "Sales Sam",
		"emails": []map[string]any{{"value": "sam@sales.example.com", "type": "work"}}})
	f.carol = user("carol", f.eng, nil)
	f.bob = user("bob", f.eng, map[string]any{ent: map[string]any{"organizationId": f.eng, "manager": map[string]any{"value": f.carol}}})
	f.dave = user("dave", f.eng, map[string]any{ent: map[string]any{"organizationId": f.eng, "manager": map[string]any{"value": f.sam}}})
	group := func(name, org string, members ...string) string {
		g := &directory.Group{DisplayName: name, OrgID: org}
		for _, m := range members {
			g.Members = append(g.Members, directory.Member{ID: m})
		}
		out, _, err := h.dir.CreateGroup(ctx, operator, directory.Profile{TargetOrgID: org}, g)
		if err != nil {
			t.Fatal(err)
		}
		return out.ID
	}
	f.engTeam = group("eng-team", f.eng, f.bob, f.sam)
	f.mixed = group("mixed", f.sales, f.dave, f.sam)
	_, f.token = h.newClient(auth.AppSpec{Name: "eng-only", Profile: directory.Profile{
		TargetOrgID: f.eng, Scope: directory.SyncScope{OrgIDs: []string{f.eng}}}})
	return f
}

// as sends a request with the Engineering application's token.
func (f *scopeFixture) as(method, path string, body any) *response {
	f.h.t.Helper()
	return f.h.do(method, path, body, "Authorization", "Bearer "+f.token)
}

// ids lists the ids of a list response, in order.
func ids(r *response) []string {
	var out []string
	res, _ := r.Body["Resources"].([]any)
	for _, x := range res {
		id, _ := x.(map[string]any)["id"].(string)
		out = append(out, id)
	}
	return out
}

// TestScopedFiltersSeeOnlyTheScope: every filter and sort key of a scoped
// application evaluates only what it can see. Groups, members and managers
// outside its scope match nothing, so that no filter can tell their names,
// emails or ids, one character at a time or otherwise.
func TestScopedFiltersSeeOnlyTheScope(t *testing.T) {
	f := newScopeFixture(t)
	f.h.must(f.as("GET", "/Groups/"+f.mixed, nil), http.StatusNotFound)
	f.h.must(f.as("GET", "/Users/"+f.sam, nil), http.StatusNotFound)
	mgr := schema.EnterpriseURN + ":manager"
	cases := []struct {
		path string
		want []string
	}{
		// Users, through the groups they belong to.
		{`/Users?filter=groups.display sw "mi"`, nil},
		{`/Users?filter=groups[display eq "mixed"]`, nil},
		{`/Users?filter=groups.value eq "` + f.mixed + `"`, nil},
		{`/Users?filter=groups pr`, []string{f.bob}},
		{`/Users?filter=groups.type eq "direct"`, []string{f.bob}},
		{`/Users?filter=not (groups pr)`, []string{f.carol, f.dave}},
		// Groups, through their members.
		{`/Groups?filter=members.display sw "sales"`, nil},
		{`/Groups?filter=members[display co "sam"]`, nil},
		{`/Groups?filter=members.value eq "` + f.sam + `"`, nil},
		{`/Groups?filter=members.value eq "` + f.bob + `"`, []string{f.engTeam}},
		{`/Groups?filter=members pr`, []string{f.engTeam}},
		// Users, through their managers.
		{`/Users?filter=` + mgr + `.value eq "` + f.sam + `"`, nil},
		{`/Users?filter=` + mgr + `.value ge "0"`, []string{f.bob}},
		{`/Users?filter=` + mgr + ` pr`, []string{f.bob}},
		{`/Users?filter=` + mgr + `[value eq "` + f.sam + `"]`, nil},
		{`/Users?filter=` + mgr + `.value ne "` + f.carol + `"`, []string{f.carol, f.dave}},
		// Sort keys: a hidden manager sorts as an absent one.
		{`/Users?sortBy=` + mgr + `.value`, []string{f.bob, f.carol, f.dave}},
		{`/Users?sortBy=` + mgr + `.value&sortOrder=descending`, []string{f.dave, f.carol, f.bob}},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			r := f.as("GET", escapeQuery(tc.path), nil)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			if diff := cmp.Diff(tc.want, ids(r)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The same filters through POST /.search.
	r := f.h.must(f.as("POST", "/Users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"filter": `groups.display sw "mi"`}), http.StatusOK)
	if got := ids(r); len(got) != 0 {
		t.Errorf(".search through a hidden group: %v", got)
	}
	// Documents show what filters see: no hidden manager, group or member.
	r = f.h.must(f.as("GET", "/Users/"+f.dave, nil), http.StatusOK)
	if m := dig(r.Body, schema.EnterpriseURN, "manager"); m != nil {
		t.Errorf("dave's hidden manager is shown: %v", m)
	}
	if g := r.Body["groups"]; g != nil {
		t.Errorf("dave's hidden group is shown: %v", g)
	}
	r = f.h.must(f.as("GET", "/Users/"+f.bob, nil), http.StatusOK)
	if got := dig(r.Body, schema.EnterpriseURN, "manager", "value"); got != f.carol {
		t.Errorf("bob's manager (in scope) = %v, want carol", got)
	}
	r = f.h.must(f.as("GET", "/Groups/"+f.engTeam, nil), http.StatusOK)
	if got := dig(r.Body, "members", "1"); got != nil {
		t.Errorf("eng-team shows a hidden member: %v", got)
	}
}

// TestScopedWritesKeepHiddenManagers: what an application cannot see, it
// does not remove by leaving it out of a PUT, and a PATCH answer does not
// show it.
func TestScopedWritesKeepHiddenManagers(t *testing.T) {
	f := newScopeFixture(t)
	ent := schema.EnterpriseURN
	r := f.h.must(f.as("PUT", "/Users/"+f.dave, map[string]any{"schemas": []string{schema.UserURN}, "userName": "dave@example.com",
		"title": "Engineer", ent: map[string]any{"department": "Platform"}}), http.StatusOK)
	if m := dig(r.Body, ent, "manager"); m != nil {
		t.Errorf("PUT answer shows the hidden manager: %v", m)
	}
	r = f.h.must(f.as("PATCH", "/Users/"+f.dave, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "title", "value": "Staff Engineer"}}}), http.StatusOK)
	if m := dig(r.Body, ent, "manager"); m != nil {
		t.Errorf("PATCH answer shows the hidden manager: %v", m)
	}
	// The administrator's view still has him.
	r = f.h.must(f.h.do("GET", "/Users/"+f.dave, nil), http.StatusOK)
	if got := dig(r.Body, ent, "manager", "value"); got != f.sam {
		t.Errorf("dave's manager after scoped writes = %v, want sam", got)
	}
	if got := dig(r.Body, ent, "department"); got != "Platform" {
		t.Errorf("department = %v", got)
	}
	// Setting a manager it can see replaces the hidden one.
	f.h.must(f.as("PATCH", "/Users/"+f.dave, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": ent + ":manager.value", "value": f.carol}}}), http.StatusOK)
	r = f.h.must(f.h.do("GET", "/Users/"+f.dave, nil), http.StatusOK)
	if got := dig(r.Body, ent, "manager", "value"); got != f.carol {
		t.Errorf("dave's manager = %v, want carol", got)
	}
}

// TestScopedGroupDelete: deleting a group is refused while it has members
// the application cannot see, as replacing its members keeps them; nothing
// changes. Once they have left, the delete goes through.
func TestScopedGroupDelete(t *testing.T) {
	f := newScopeFixture(t)
	before := f.h.snapshot()
	r := f.as("DELETE", "/Groups/"+f.engTeam, nil)
	checkError(t, r, http.StatusConflict, "")
	if diff := snapshotDiff(before, f.h.snapshot()); diff != "" {
		t.Errorf("a refused delete changed the directory:\n%s", diff)
	}
	// Replacing the members keeps sam; the delete is still refused.
	f.h.must(f.as("PATCH", "/Groups/"+f.engTeam, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "members", "value": []any{}}}}), http.StatusOK)
	checkError(t, f.as("DELETE", "/Groups/"+f.engTeam, nil), http.StatusConflict, "")
	// Through Bulk too.
	r = f.h.must(f.as("POST", "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
		"Operations": []map[string]any{{"method": "DELETE", "path": "/Groups/" + f.engTeam}}}), http.StatusOK)
	if got := dig(r.Body, "Operations", "0", "status"); got != "409" {
		t.Errorf("bulk delete status %v: %s", got, r.Raw)
	}
	// Once sam has left (by an application that sees him), it goes.
	f.h.must(f.h.do("PATCH", "/Groups/"+f.engTeam, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "remove", "path": `members[value eq "` + f.sam + `"]`}}}), http.StatusOK)
	f.h.must(f.as("DELETE", "/Groups/"+f.engTeam, nil), http.StatusNoContent)
	f.h.must(f.h.do("GET", "/Groups/"+f.engTeam, nil), http.StatusNotFound)
}

// escapeQuery escapes the query of a path the way a client would.
func escapeQuery(p string) string {
	path, raw, ok := strings.Cut(p, "?")
	if !ok {
		return p
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return p
	}
	return path + "?" + q.Encode()
}

// TestScopedVersionsHideOutsideChanges: a scoped application cannot watch
// what it cannot see through ETags or meta.lastModified. Membership
// changes outside its scope, and the change of a manager it cannot see,
// move neither the version nor the time it is shown, nor what
// meta.lastModified filters and sorts see, and its If-Match still holds;
// changes it can see move its version. Readers without a scope see every
// change, as before.
func TestScopedVersionsHideOutsideChanges(t *testing.T) {
	f := newScopeFixture(t)
	h := f.h
	ctx := context.Background()
	type seen struct{ etag, version, modified string }
	look := func(path string) seen {
		t.Helper()
		r := f.h.must(f.as("GET", path, nil), http.StatusOK)
		if r.Header.Get("ETag") != r.str("meta", "version") {
			t.Errorf("%s: ETag %q, meta.version %q", path, r.Header.Get("ETag"), r.str("meta", "version"))
		}
		return seen{r.Header.Get("ETag"), r.str("meta", "version"), r.str("meta", "lastModified")}
	}
	adminVersion := func(path string) string {
		t.Helper()
		return h.must(h.do("GET", path, nil), http.StatusOK).Header.Get("ETag")
	}
	bob, engTeam, dave := "/Users/"+f.bob, "/Groups/"+f.engTeam, "/Users/"+f.dave
	bob0, team0, dave0 := look(bob), look(engTeam), look(dave)
	bobBody0 := f.h.must(f.as("GET", bob, nil), http.StatusOK).Body
	adminBob0, adminTeam0, adminDave0 := adminVersion(bob), adminVersion(engTeam), adminVersion(dave)

	// A group outside the scope gains bob; sam (outside) leaves eng-team;
	// dave's manager (outside) is replaced by another outside the scope.
	hidden, _, err := h.dir.CreateGroup(ctx, operator, directory.Profile{TargetOrgID: f.sales},
		&directory.Group{DisplayName: "hidden-2", OrgID: f.sales, Members: []directory.Member{{ID: f.bob}}})
	if err != nil {
		t.Fatal(err)
	}
	h.must(h.do("PATCH", engTeam, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "remove", "path": `members[value eq "` + f.sam + `"]`}}}), http.StatusOK)
	sue := h.createUser(map[string]any{"userName": "sue@example.com", schema.EnterpriseURN: map[string]any{"organizationId": f.sales}})
	h.must(h.do("PATCH", dave, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": schema.EnterpriseURN + ":manager.value", "value": sue}}}), http.StatusOK)

	// The administrator sees every change...
	for path, before := range map[string]string{bob: adminBob0, engTeam: adminTeam0, dave: adminDave0} {
		if after := adminVersion(path); after == before {
			t.Errorf("unscoped reader: %s ETag did not move (%s)", path, after)
		}
	}
	// ...the scoped application none of them.
	for path, before := range map[string]seen{bob: bob0, engTeam: team0, dave: dave0} {
		if diff := cmp.Diff(before, look(path), cmp.AllowUnexported(seen{})); diff != "" {
			t.Errorf("scoped reader: %s moved with changes outside its scope (-before +after):\n%s", path, diff)
		}
	}
	if diff := cmp.Diff(bobBody0, f.h.must(f.as("GET", bob, nil), http.StatusOK).Body); diff != "" {
		t.Errorf("bob's document changed for the scoped reader:\n%s", diff)
	}
	// Lists agree with reads, and meta.lastModified filters and sorts see
	// what the reader is shown.
	// (dave is the last user of the scope created.)
	r := f.h.must(f.as("GET", escapeQuery(`/Users?filter=meta.lastModified gt "`+dave0.modified+`"`), nil), http.StatusOK)
	if got := ids(r); len(got) != 0 {
		t.Errorf("meta.lastModified gt dave's creation finds %v", got)
	}
	r = f.h.must(f.as("GET", escapeQuery(`/Users?sortBy=meta.lastModified&sortOrder=descending&count=1`), nil), http.StatusOK)
	if got := ids(r); !slices.Equal(got, []string{f.dave}) {
		t.Errorf("the last modified user is %v, want dave", got)
	}
	r = f.h.must(f.as("GET", escapeQuery(`/Groups?filter=meta.lastModified ge "`+team0.modified+`"&excludedAttributes=members`), nil), http.StatusOK)
	if got := dig(r.Body, "Resources", "0", "meta", "version"); got != team0.version {
		t.Errorf("listed eng-team version %v, read %v", got, team0.version)
	}
	if got := dig(r.Body, "Resources", "0", "meta", "lastModified"); got != team0.modified {
		t.Errorf("listed eng-team lastModified %v, read %v", got, team0.modified)
	}
	// Its If-Match still holds: no spurious 412.
	r = f.h.must(f.h.do("PATCH", bob, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "title", "value": "Engineer"}}},
		"Authorization", "Bearer "+f.token, "If-Match", bob0.etag), http.StatusOK)
	bob1 := seen{r.Header.Get("ETag"), r.str("meta", "version"), r.str("meta", "lastModified")}
	if bob1.etag == bob0.etag || bob1.modified == bob0.modified {
		t.Errorf("a change bob's reader sees did not move his ETag or lastModified: %v → %v", bob0, bob1)
	}
	if diff := cmp.Diff(bob1, look(bob), cmp.AllowUnexported(seen{})); diff != "" {
		t.Errorf("the PATCH answer and a later read disagree (-patch +read):\n%s", diff)
	}
	f.h.must(f.h.do("PATCH", engTeam, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "displayName", "value": "eng-team"}}},
		"Authorization", "Bearer "+f.token, "If-Match", team0.etag), http.StatusOK)
	// A stale version is still refused.
	checkError(t, f.h.do("PATCH", bob, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "title", "value": "Staff"}}},
		"Authorization", "Bearer "+f.token, "If-Match", bob0.etag), http.StatusPreconditionFailed, "")
	// If-None-Match answers 304 with the version the reader was shown.
	if r := f.h.do("GET", bob, nil, "Authorization", "Bearer "+f.token, "If-None-Match", bob1.etag); r.Status != http.StatusNotModified {
		t.Errorf("If-None-Match with the current version: %d", r.Status)
	}

	// Changes inside the scope move the version: carol joins eng-team (its
	// members, her groups), dave's manager becomes carol.
	carol, carol0 := "/Users/"+f.carol, look("/Users/"+f.carol)
	h.must(h.do("PATCH", engTeam, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "add", "path": "members", "value": []any{map[string]any{"value": f.carol}}}}}), http.StatusOK)
	if look(engTeam).etag == team0.etag {
		t.Error("eng-team's version did not move when a member the reader sees joined")
	}
	if look(carol).etag == carol0.etag {
		t.Error("carol's version did not move when she joined a group the reader sees")
	}
	h.must(h.do("PATCH", dave, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": schema.EnterpriseURN + ":manager.value", "value": f.carol}}}), http.StatusOK)
	if look(dave).etag == dave0.etag {
		t.Error("dave's version did not move when his manager became one the reader sees")
	}
	_ = hidden
}

// TestUserDeleteRecordsMemberships: deleting an account removes it from
// every group it is in — for a scoped application too, from the groups it
// cannot see: the account is its to delete — and each group records the
// removal, in the transaction of the deletion: a Group.MemberRemoved event
// and a group audit record per group, before the User.Deleted.
func TestUserDeleteRecordsMemberships(t *testing.T) {
	f := newScopeFixture(t)
	h := f.h
	ctx := context.Background()
	var hidden []string
	for _, name := range []string{"hidden-sales", "hidden-2"} {
		g, _, err := h.dir.CreateGroup(ctx, operator, directory.Profile{TargetOrgID: f.sales},
			&directory.Group{DisplayName: name, OrgID: f.sales, Members: []directory.Member{{ID: f.bob}, {ID: f.sam}}})
		if err != nil {
			t.Fatal(err)
		}
		hidden = append(hidden, g.ID)
	}
	versions := map[string]string{}
	for _, g := range append([]string{f.engTeam}, hidden...) {
		versions[g] = h.must(h.do("GET", "/Groups/"+g, nil), http.StatusOK).Header.Get("ETag")
	}
	evs, err := h.store.EventsAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1].Seq
	type ev struct{ Type, Subject, Member, App string }
	recorded := func() []ev {
		t.Helper()
		evs, err := h.store.EventsAfter(ctx, last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []ev
		for _, r := range evs {
			var d directory.EventData
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev{r.Type, r.Subject, d.Member, r.Actor.AppName})
			last = r.Seq
		}
		return out
	}

	f.h.must(f.as("DELETE", "/Users/"+f.bob, nil), http.StatusNoContent)
	want := []ev{
		{directory.GroupMemberRemoved, "groups/" + f.engTeam, f.bob, "eng-only"},
		{directory.GroupMemberRemoved, "groups/" + hidden[0], f.bob, "eng-only"},
		{directory.GroupMemberRemoved, "groups/" + hidden[1], f.bob, "eng-only"},
		{directory.UserDeleted, "users/" + f.bob, "", "eng-only"},
	}
	if diff := cmp.Diff(want, recorded()); diff != "" {
		t.Errorf("events of a scoped delete (-want +got):\n%s", diff)
	}
	for _, g := range append([]string{f.engTeam}, hidden...) {
		r := h.must(h.do("GET", "/Groups/"+g, nil), http.StatusOK)
		if memberValues(r)[f.bob] {
			t.Errorf("group %s still has bob", g)
		}
		if r.Header.Get("ETag") == versions[g] {
			t.Errorf("group %s: version did not move", g)
		}
		recs, err := h.dir.Audit(ctx, directory.AuditQuery{ResourceID: g, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		var snap directory.GroupSnapshot
		if len(recs) != 1 || recs[0].Action != "group.update" || recs[0].Actor.AppName != "eng-only" || json.Unmarshal(recs[0].After, &snap) != nil ||
			!slices.Equal(snap.MembersRemoved, []string{f.bob}) || "W/\""+itoa(int(snap.Version))+"\"" != r.Header.Get("ETag") {
			t.Errorf("group %s: last audit record %+v", g, recs)
		}
	}
	// An application without a scope: the same.
	f.h.must(h.do("DELETE", "/Users/"+f.sam, nil), http.StatusNoContent)
	want = []ev{
		{directory.GroupMemberRemoved, "groups/" + f.engTeam, f.sam, "test-client"},
		{directory.GroupMemberRemoved, "groups/" + f.mixed, f.sam, "test-client"},
		{directory.GroupMemberRemoved, "groups/" + hidden[0], f.sam, "test-client"},
		{directory.GroupMemberRemoved, "groups/" + hidden[1], f.sam, "test-client"},
		{directory.UserDeleted, "users/" + f.sam, "", "test-client"},
	}
	if diff := cmp.Diff(want, recorded()); diff != "" {
		t.Errorf("events of an unscoped delete (-want +got):\n%s", diff)
	}
}

// TestScopedPlacementDoesNotProbe: for a scoped application, an
// organizationId outside its scope is refused exactly as one that does not
// exist, so that it cannot test which organizations exist.
func TestScopedPlacementDoesNotProbe(t *testing.T) {
	f := newScopeFixture(t)
	ent := schema.EnterpriseURN
	const random = "0b9f3f4e-9d52-4c6a-8f0e-1c2d3e4f5a6b"
	answers := map[string]string{}
	for _, org := range []string{f.sales, random, directory.RootOrgID} {
		for _, tc := range []struct {
			method, path string
			body         map[string]any
		}{
			{"POST", "/Users", map[string]any{"schemas": []string{schema.UserURN}, "userName": "probe@example.com", ent: map[string]any{"organizationId": org}}},
			{"PUT", "/Users/" + f.bob, map[string]any{"schemas": []string{schema.UserURN}, "userName": "bob@example.com", ent: map[string]any{"organizationId": org}}},
			{"PATCH", "/Users/" + f.bob, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []map[string]any{{"op": "replace", "path": ent + ":organizationId", "value": org}}}},
		} {
			r := f.as(tc.method, tc.path, tc.body)
			checkError(t, r, http.StatusBadRequest, "invalidValue")
			// The whole answer, but for the id the request gave.
			got := strings.ReplaceAll(string(r.Raw), org, "<id>")
			if prev, ok := answers[tc.method]; ok && prev != got {
				t.Errorf("%s with organization %s: %q, another organization: %q", tc.method, org, got, prev)
			}
			answers[tc.method] = got
		}
	}
	// An application without a scope is told plainly.
	r := f.h.do("POST", "/Users", map[string]any{"userName": "probe@example.com", ent: map[string]any{"organizationId": random}})
	checkError(t, r, http.StatusBadRequest, "invalidValue")
	if d := r.str("detail"); !strings.Contains(d, "does not exist") || strings.Contains(d, "scope") {
		t.Errorf("unscoped: %q", d)
	}
}

// TestWriteResponsesShowWhatAReadShows: the document a PATCH or PUT answers
// with — its groups read in the change's own transaction — is the one a
// GET right after it returns, groups, version and all: for an application
// that sees everything and for one scoped to an organization (which must
// not see groups outside its scope in the answer either), for a change and
// for a write that changes nothing. With attributes that leave groups out,
// the answer has none.
func TestWriteResponsesShowWhatAReadShows(t *testing.T) {
	f := newScopeFixture(t)
	h := f.h
	patchOp := func(name string) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "replace", "path": "displayName", "value": name}}}
	}
	// bob is in eng-team (Engineering) and, after this, in a Sales group
	// that the scoped application cannot see.
	if _, _, err := h.dir.CreateGroup(context.Background(), operator, directory.Profile{TargetOrgID: f.sales},
		&directory.Group{DisplayName: "sales-only", OrgID: f.sales, Members: []directory.Member{{ID: f.bob}}}); err != nil {
		t.Fatal(err)
	}
	bob := "/Users/" + f.bob
	groupNames := func(body map[string]any) []string {
		var out []string
		list, _ := body["groups"].([]any)
		for _, g := range list {
			out = append(out, g.(map[string]any)["display"].(string))
		}
		return out
	}
	for _, who := range []struct {
		name   string
		do     func(method, path string, body any) *response
		groups []string
	}{
		{"administrator", func(m, p string, b any) *response { return h.do(m, p, b) }, []string{"eng-team", "sales-only"}},
		{"scoped application", f.as, []string{"eng-team"}},
	} {
		for i, write := range []struct {
			method string
			body   func() any
		}{
			{"PATCH", func() any { return patchOp("Bob " + who.name) }},
			{"PATCH", func() any { return patchOp("Bob " + who.name) }}, // changes nothing
			{"PUT", func() any {
				cur := h.must(who.do("GET", bob, nil), http.StatusOK).Body
				delete(cur, "groups")
				delete(cur, "meta")
				cur["title"] = "Engineer " + who.name
				return cur
			}},
		} {
			w := h.must(who.do(write.method, bob, write.body()), http.StatusOK)
			r := h.must(who.do("GET", bob, nil), http.StatusOK)
			if diff := cmp.Diff(r.Body, w.Body); diff != "" {
				t.Errorf("%s, write %d (%s): the answer differs from a GET after it (-GET +answer):\n%s", who.name, i, write.method, diff)
			}
			if w.Header.Get("ETag") != r.Header.Get("ETag") {
				t.Errorf("%s, write %d (%s): ETag %q, a GET after it %q", who.name, i, write.method, w.Header.Get("ETag"), r.Header.Get("ETag"))
			}
			if got := groupNames(w.Body); !slices.Equal(got, who.groups) {
				t.Errorf("%s, write %d (%s): groups %v, want %v", who.name, i, write.method, got, who.groups)
			}
		}
		w := h.must(who.do("PATCH", bob+"?attributes=displayName", patchOp("Bob again "+who.name)), http.StatusOK)
		if _, ok := w.Body["groups"]; ok || w.Body["displayName"] != "Bob again "+who.name {
			t.Errorf("%s: PATCH with attributes=displayName answered %v", who.name, w.Body)
		}
	}
}

package scim_test

import (
	"context"
	"net/http"
	"net/url"
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

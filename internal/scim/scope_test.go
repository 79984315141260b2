package scim_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

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

package scim_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// TestExternalIDPerApplication: externalId belongs to the provisioning
// domain of the application that sets it (RFC 7643 §3.1). Two IdPs on one
// hub — Entra maps externalId from mailNickname — can use the same value
// for different people without one taking over the other's account, and
// each reads, filters and sorts on its own values only.
func TestExternalIDPerApplication(t *testing.T) {
	h := newHarness(t) // application A (IDaaS mode)
	_, tokB := h.newClient(auth.AppSpec{Name: "idp-b", Profile: directory.IDaaSProfile()})
	_, tokC := h.newClient(auth.AppSpec{Name: "idp-c", Profile: rfcProfile()})
	as := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	user := func(name, ext string) map[string]any {
		return map[string]any{"schemas": []string{schema.UserURN}, "userName": name, "externalId": ext}
	}
	alice := h.createUser(user("alice@example.com", "X1"))

	// B's idempotent create with A's value creates B's own account.
	r := h.must(h.do("POST", "/Users", user("bob@example.com", "X1"), as(tokB)...), http.StatusCreated)
	bob := r.str("id")
	if bob == alice || r.str("userName") != "bob@example.com" || r.str("externalId") != "X1" {
		t.Fatalf("B's create: %s", r.Raw)
	}
	r = h.must(h.do("GET", "/Users/"+alice, nil), http.StatusOK)
	if r.str("userName") != "alice@example.com" || r.str("externalId") != "X1" {
		t.Errorf("alice after B's create: %s", r.Raw)
	}
	// A strict client with the same value: no 409, its own account.
	carol := h.must(h.do("POST", "/Users", user("carol@example.com", "X1"), as(tokC)...), http.StatusCreated).str("id")
	// Within one application the value stays unique.
	h.wantError(h.do("POST", "/Users", user("dave@example.com", "X1"), as(tokC)...), http.StatusConflict, "uniqueness")

	// Each application reads its own value and none of the others'.
	for _, tc := range []struct {
		who, tok string
		id       string
		want     string
	}{
		{"A", h.token, alice, "X1"}, {"A", h.token, bob, ""}, {"A", h.token, carol, ""},
		{"B", tokB, bob, "X1"}, {"B", tokB, alice, ""},
		{"C", tokC, carol, "X1"}, {"C", tokC, alice, ""},
	} {
		r := h.must(h.do("GET", "/Users/"+tc.id, nil, as(tc.tok)...), http.StatusOK)
		if got := r.str("externalId"); got != tc.want {
			t.Errorf("%s reads externalId %q of %s, want %q", tc.who, got, r.str("userName"), tc.want)
		}
	}
	// Filters: each finds its own account.
	find := func(tok, f string) []string {
		t.Helper()
		r := h.must(h.do("GET", "/Users?filter="+url.QueryEscape(f), nil, as(tok)...), http.StatusOK)
		return ids(r)
	}
	for _, tc := range []struct {
		who, tok, filter string
		want             []string
	}{
		{"A", h.token, `externalId eq "X1"`, []string{alice}},
		{"B", tokB, `externalId eq "X1"`, []string{bob}},
		{"C", tokC, `externalId eq "X1"`, []string{carol}},
		{"A", h.token, `externalId pr`, []string{alice}},
		{"B", tokB, `externalId sw "X" or userName eq "alice@example.com"`, []string{alice, bob}},
		{"B", tokB, `not (externalId pr)`, []string{alice, carol}},
	} {
		if diff := cmp.Diff(tc.want, find(tc.tok, tc.filter)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", tc.who, tc.filter, diff)
		}
	}
	// B gives alice an externalId of its own: A's stays as it was.
	h.must(h.do("PATCH", "/Users/"+alice, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "add", "path": "externalId", "value": "B-ALICE"}}}, as(tokB)...), http.StatusOK)
	if got := h.must(h.do("GET", "/Users/"+alice, nil), http.StatusOK).str("externalId"); got != "X1" {
		t.Errorf("A's externalId of alice after B's PATCH = %q", got)
	}
	if got := h.must(h.do("GET", "/Users/"+alice, nil, as(tokB)...), http.StatusOK).str("externalId"); got != "B-ALICE" {
		t.Errorf("B's externalId of alice = %q", got)
	}
	// Sorting by externalId sorts by the caller's values.
	r = h.must(h.do("GET", "/Users?sortBy=externalId", nil, as(tokB)...), http.StatusOK)
	if diff := cmp.Diff([]string{alice, bob, carol}, ids(r)); diff != "" {
		t.Errorf("B sorted by externalId (-want +got):\n%s", diff)
	}
	r = h.must(h.do("GET", "/Users?sortBy=externalId&sortOrder=descending", nil), http.StatusOK)
	if diff := cmp.Diff([]string{carol, bob, alice}, ids(r)); diff != "" {
		t.Errorf("A sorted by externalId, descending (-want +got):\n%s", diff)
	}
	// A PUT without externalId removes the caller's value only.
	h.must(h.do("PUT", "/Users/"+alice, map[string]any{"schemas": []string{schema.UserURN}, "userName": "alice@example.com"}, as(tokB)...), http.StatusOK)
	if got := h.must(h.do("GET", "/Users/"+alice, nil), http.StatusOK).str("externalId"); got != "X1" {
		t.Errorf("A's externalId of alice after B's PUT = %q", got)
	}
	// B's idempotent create with A's value now creates nothing new: it is
	// B's own bob.
	r = h.must(h.do("POST", "/Users", user("bob2@example.com", "X1"), as(tokB)...), http.StatusOK)
	if r.str("id") != bob {
		t.Errorf("B's repeated create matched %s, want bob", r.str("id"))
	}

	// Groups alike.
	group := func(name, ext string) map[string]any {
		return map[string]any{"schemas": []string{schema.GroupURN}, "displayName": name, "externalId": ext}
	}
	g1 := h.must(h.do("POST", "/Groups", group("eng", "G1")), http.StatusCreated).str("id")
	r = h.must(h.do("POST", "/Groups", group("ops", "G1"), as(tokB)...), http.StatusCreated)
	if r.str("id") == g1 {
		t.Fatalf("B's group create took over A's group: %s", r.Raw)
	}
	if got := h.must(h.do("GET", "/Groups/"+g1, nil), http.StatusOK).str("displayName"); got != "eng" {
		t.Errorf("A's group renamed to %q", got)
	}
	r = h.must(h.do("GET", "/Groups?filter="+url.QueryEscape(`externalId eq "G1"`), nil, as(tokB)...), http.StatusOK)
	if got := ids(r); len(got) != 1 || got[0] == g1 {
		t.Errorf("B's groups with externalId G1: %v", got)
	}
	if got := h.must(h.do("GET", "/Groups/"+g1, nil, as(tokB)...), http.StatusOK).str("externalId"); got != "" {
		t.Errorf("B reads A's group externalId %q", got)
	}
}

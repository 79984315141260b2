package app_test

import (
	"testing"
)

// TestBodiesNotAltered: on each API of the running server, a JSON body
// that encoding/json would have decoded into something other than was sent
// — invalid UTF-8 or an unpaired surrogate (U+FFFD), a member given twice
// (the last one wins) — is 400 in that API's error format, and nothing is
// stored.
func TestBodiesNotAltered(t *testing.T) {
	r := start(t, nil)
	if res := adminCall(t, r, "POST", "/apps", `{"name":"bus","kind":"server-app","scopes":["events:write"]}`); res.status != 201 {
		t.Fatal(res.status, string(res.raw))
	}
	bus := adminCall(t, r, "POST", "/apps/bus/tokens", "").str("token")
	count := func(path, token, key string) int {
		res := call(t, "GET", r.url+path, "", bearer(token)...)
		items, _ := res.body[key].([]any)
		if res.status != 200 {
			t.Fatalf("GET %s: %d %s", path, res.status, res.raw)
		}
		return len(items)
	}
	users, orgs, receipts := count("/scim/v2/Users", r.token, "Resources"), count("/admin/v1/orgs", r.admin, "items"), count("/admin/v1/audit?action=event.receive", r.admin, "items")

	tests := []struct {
		name, path, token, contentType, body, errorType string
	}{
		{"SCIM, invalid UTF-8", "/scim/v2/Users", r.token, "application/scim+json", "{\"userName\":\"ada\xff@example.com\"}", "application/scim+json"},
		{"SCIM, unpaired surrogate", "/scim/v2/Users", r.token, "application/scim+json", `{"userName":"ada\ud800@example.com"}`, "application/scim+json"},
		{"SCIM, userName twice", "/scim/v2/Users", r.token, "application/scim+json", `{"userName":"ada@example.com","userName":"eve@example.com"}`, "application/scim+json"},
		{"events, id twice", "/events", bus, "application/cloudevents+json", `{"specversion":"1.0","id":"e1","source":"s","type":"t","id":"e2"}`, "application/json"},
		{"events, invalid UTF-8", "/events", bus, "application/json", "{\"eventId\":\"i1\",\"eventType\":\"urn:alibaba:idaas:app:event:ud:user:create\",\"eventData\":{\"email\":\"ada\xff@example.com\"}}", "application/json"},
		{"admin, name twice", "/admin/v1/orgs", r.admin, "application/json", `{"name":"Sales","name":"Admins"}`, "application/problem+json"},
		{"admin, name in another case", "/admin/v1/orgs", r.admin, "application/json", `{"name":"Sales","Name":"Admins"}`, "application/problem+json"},
		{"admin, unpaired surrogate", "/admin/v1/orgs", r.admin, "application/json", `{"name":"Sales\udc00"}`, "application/problem+json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := call(t, "POST", r.url+tc.path, tc.body, append(bearer(tc.token), "Content-Type", tc.contentType)...)
			if res.status != 400 || res.header.Get("Content-Type") != tc.errorType || res.str("detail") == "" {
				t.Errorf("%d %s %s", res.status, res.header.Get("Content-Type"), res.raw)
			}
		})
	}
	if n := count("/scim/v2/Users", r.token, "Resources"); n != users {
		t.Errorf("%d users, was %d", n, users)
	}
	if n := count("/admin/v1/orgs", r.admin, "items"); n != orgs {
		t.Errorf("%d organizations, was %d", n, orgs)
	}
	if n := count("/admin/v1/audit?action=event.receive", r.admin, "items"); n != receipts {
		t.Errorf("%d events received, was %d", n, receipts)
	}
}

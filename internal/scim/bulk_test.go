package scim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

const (
	bulkRequestURN  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	bulkResponseURN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
)

func bulkBody(failOnErrors int, ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, op := range ops {
		list[i] = op
	}
	b := map[string]any{"schemas": []string{bulkRequestURN}, "Operations": list}
	if failOnErrors > 0 {
		b["failOnErrors"] = failOnErrors
	}
	return b
}

func postUser(bulkID, userName string, extra ...any) map[string]any {
	data := map[string]any{"schemas": []string{schema.UserURN}, "userName": userName}
	for i := 0; i+1 < len(extra); i += 2 {
		data[extra[i].(string)] = extra[i+1]
	}
	return map[string]any{"method": "POST", "path": "/Users", "bulkId": bulkID, "data": data}
}

// bulkResult is a BulkResponse operation, reduced to what the tests compare.
type bulkResult struct {
	Method, BulkID, Status string
	Location, Version      bool // present
	ScimType               string
}

func bulkResults(t *testing.T, r *response) []bulkResult {
	t.Helper()
	if s, _ := r.Body["schemas"].([]any); len(s) != 1 || s[0] != bulkResponseURN {
		t.Errorf("schemas = %v", r.Body["schemas"])
	}
	if _, ok := r.Body["failOnErrors"]; ok {
		t.Error("failOnErrors in a response")
	}
	var out []bulkResult
	ops, _ := r.Body["Operations"].([]any)
	for _, op := range ops {
		m := op.(map[string]any)
		st, ok := m["status"].(string)
		if !ok {
			t.Errorf("status %v is not a string", m["status"])
		}
		res := bulkResult{Method: str(m["method"]), BulkID: str(m["bulkId"]), Status: st, ScimType: str(dig(m, "response", "scimType"))}
		_, res.Location = m["location"]
		_, res.Version = m["version"]
		if !strings.HasPrefix(st, "2") {
			resp, _ := m["response"].(map[string]any)
			if resp == nil || dig(resp, "status") != st || dig(resp, "schemas", "0") != schema.ErrorURN {
				t.Errorf("failed operation without a matching error response: %v", m)
			}
		}
		out = append(out, res)
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

// bulkLocations maps bulkIds to the ids their POSTs created.
func bulkLocations(r *response) map[string]string {
	out := map[string]string{}
	ops, _ := r.Body["Operations"].([]any)
	for _, op := range ops {
		loc, _ := dig(op, "location").(string)
		if id := str(dig(op, "bulkId")); id != "" && loc != "" {
			out[id] = loc[strings.LastIndex(loc, "/")+1:]
		}
	}
	return out
}

func TestBulkCrossReferences(t *testing.T) {
	h := newHarness(t)
	ent := schema.EnterpriseURN
	r := h.must(h.do("POST", "/Bulk", bulkBody(0,
		// The group comes first but refers to users created after it.
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g1", "data": map[string]any{
			"schemas": []string{schema.GroupURN}, "displayName": "Bulk Team",
			"members": []any{map[string]any{"value": "bulkId:alice", "type": "User"}, map[string]any{"value": "bulkId:bob"}}}},
		postUser("alice", "alice@example.com"),
		postUser("bob", "bob@example.com", ent, map[string]any{"manager": map[string]any{"value": "bulkId:alice"}}),
		map[string]any{"method": "PATCH", "path": "/Users/bulkId:alice", "data": map[string]any{"schemas": []string{patchURN},
			"Operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Alice"}}}},
		map[string]any{"method": "PUT", "path": "/Groups/bulkId:g1", "data": map[string]any{"displayName": "Bulk Team 2",
			"members": []any{map[string]any{"value": "bulkId:bob"}}}},
		postUser("carol", "carol@example.com"),
		map[string]any{"method": "delete", "path": "/Users/bulkId:carol"},
	)), http.StatusOK)
	got := bulkResults(t, r)
	want := []bulkResult{
		{Method: "POST", BulkID: "g1", Status: "201", Location: true, Version: true},
		{Method: "POST", BulkID: "alice", Status: "201", Location: true, Version: true},
		{Method: "POST", BulkID: "bob", Status: "201", Location: true, Version: true},
		{Method: "PATCH", Status: "200", Location: true, Version: true},
		{Method: "PUT", Status: "200", Location: true, Version: true},
		{Method: "POST", BulkID: "carol", Status: "201", Location: true, Version: true},
		{Method: "DELETE", Status: "204", Location: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s\n%s", diff, r.Raw)
	}
	ids := bulkLocations(r)
	// Locations are absolute URLs of the resources.
	ops := r.Body["Operations"].([]any)
	for i, wantLoc := range []string{"/Groups/" + ids["g1"], "/Users/" + ids["alice"], "/Users/" + ids["bob"], "/Users/" + ids["alice"], "/Groups/" + ids["g1"], "/Users/" + ids["carol"], "/Users/" + ids["carol"]} {
		if loc := str(dig(ops[i], "location")); loc != h.base+wantLoc {
			t.Errorf("operation %d: location %q, want %q", i, loc, h.base+wantLoc)
		}
	}
	// Versions are those the resources now have (for the last write).
	g := h.must(h.do("GET", "/Groups/"+ids["g1"], nil), http.StatusOK)
	if v := str(dig(ops[4], "version")); v != g.str("meta", "version") {
		t.Errorf("PUT version %q, group has %q", v, g.str("meta", "version"))
	}
	if g.str("displayName") != "Bulk Team 2" || len(memberValues(g)) != 1 || !memberValues(g)[ids["bob"]] {
		t.Errorf("group: %s", g.Raw)
	}
	b := h.must(h.do("GET", "/Users/"+ids["bob"], nil), http.StatusOK)
	if got := b.str(ent, "manager", "value"); got != ids["alice"] {
		t.Errorf("bob's manager %q, want alice %q", got, ids["alice"])
	}
	if got := b.str(ent, "manager", "$ref"); got != h.base+"/Users/"+ids["alice"] {
		t.Errorf("bob's manager $ref %q", got)
	}
	a := h.must(h.do("GET", "/Users/"+ids["alice"], nil), http.StatusOK)
	if a.str("displayName") != "Alice" {
		t.Errorf("alice: %s", a.Raw)
	}
	h.wantError(h.do("GET", "/Users/"+ids["carol"], nil), http.StatusNotFound, "")
	if strings.Contains(string(h.must(h.do("GET", "/Users", nil), http.StatusOK).Raw), "bulkId:") {
		t.Error("a bulkId reference was stored")
	}
}

func TestBulkErrors(t *testing.T) {
	ent := schema.EnterpriseURN
	tests := []struct {
		name string
		body map[string]any
		want []bulkResult
	}{
		{"unresolvable bulkId", bulkBody(0,
			map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g", "data": map[string]any{"displayName": "G", "members": []any{map[string]any{"value": "bulkId:nobody"}}}},
			postUser("u", "u@example.com"),
		), []bulkResult{
			{Method: "POST", BulkID: "g", Status: "409"},
			{Method: "POST", BulkID: "u", Status: "201", Location: true, Version: true},
		}},
		{"reference to a failed operation", bulkBody(0,
			postUser("bad", "bad@example.com", "password", "x"),
			map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g", "data": map[string]any{"displayName": "G", "members": []any{map[string]any{"value": "bulkId:bad"}}}},
			map[string]any{"method": "PATCH", "path": "/Users/bulkId:bad", "data": map[string]any{"Operations": []any{map[string]any{"op": "remove", "path": "title"}}}},
		), []bulkResult{
			{Method: "POST", BulkID: "bad", Status: "400", ScimType: "invalidValue"},
			{Method: "POST", BulkID: "g", Status: "409"},
			{Method: "PATCH", Status: "409"},
		}},
		{"circular managers", bulkBody(0,
			postUser("a", "a@example.com", ent, map[string]any{"manager": map[string]any{"value": "bulkId:b"}}),
			postUser("b", "b@example.com", ent, map[string]any{"manager": map[string]any{"value": "bulkId:a"}}),
			postUser("c", "c@example.com"),
		), []bulkResult{
			{Method: "POST", BulkID: "a", Status: "409"},
			{Method: "POST", BulkID: "b", Status: "409"},
			{Method: "POST", BulkID: "c", Status: "201", Location: true, Version: true},
		}},
		{"self reference", bulkBody(0,
			postUser("a", "a@example.com", ent, map[string]any{"manager": map[string]any{"value": "bulkId:a"}}),
		), []bulkResult{{Method: "POST", BulkID: "a", Status: "409"}}},
		{"failOnErrors 1 stops after the first error", bulkBody(1,
			postUser("a", "a@example.com"),
			postUser("b", "b@example.com", "emails", []any{map[string]any{"value": "not an email"}}),
			postUser("c", "c@example.com"),
		), []bulkResult{
			{Method: "POST", BulkID: "a", Status: "201", Location: true, Version: true},
			{Method: "POST", BulkID: "b", Status: "400", ScimType: "invalidValue"},
		}},
		{"failOnErrors 2", bulkBody(2,
			map[string]any{"method": "DELETE", "path": "/Users/nobody"},
			postUser("a", "a@example.com"),
			map[string]any{"method": "PUT", "path": "/Users/nobody", "data": map[string]any{"userName": "x@example.com"}},
			postUser("b", "b@example.com"),
		), []bulkResult{
			{Method: "DELETE", Status: "404", Location: true},
			{Method: "POST", BulkID: "a", Status: "201", Location: true, Version: true},
			{Method: "PUT", Status: "404", Location: true},
		}},
		{"failOnErrors counts unresolvable references", bulkBody(1,
			map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g", "data": map[string]any{"displayName": "G", "members": []any{map[string]any{"value": "bulkId:nobody"}}}},
			postUser("a", "a@example.com"),
		), []bulkResult{{Method: "POST", BulkID: "g", Status: "409"}}},
		{"failOnErrors counts duplicate bulkIds", bulkBody(1,
			postUser("a", "a@example.com"),
			postUser("a", "a2@example.com"),
			postUser("b", "b@example.com"),
		), []bulkResult{
			{Method: "POST", BulkID: "a", Status: "201", Location: true, Version: true},
			{Method: "POST", BulkID: "a", Status: "400", ScimType: "invalidValue"},
		}},
		{"failOnErrors not reached", bulkBody(5,
			map[string]any{"method": "DELETE", "path": "/Groups/nobody"},
			postUser("a", "a@example.com"),
		), []bulkResult{
			{Method: "DELETE", Status: "404", Location: true},
			{Method: "POST", BulkID: "a", Status: "201", Location: true, Version: true},
		}},
		{"malformed operations", bulkBody(0,
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "nodata"},
			map[string]any{"method": "GET", "path": "/Users"},
			map[string]any{"method": "POST", "path": "/Users/some-id", "data": map[string]any{"userName": "x@example.com"}},
			map[string]any{"method": "PATCH", "path": "/Users", "data": map[string]any{"Operations": []any{}}},
			map[string]any{"method": "POST", "path": "/Widgets", "data": map[string]any{}},
			map[string]any{"method": "DELETE", "path": "/Users/a/b"},
		), []bulkResult{
			{Method: "POST", BulkID: "nodata", Status: "400", ScimType: "invalidSyntax"},
			{Method: "GET", Status: "400", ScimType: "invalidSyntax", Location: true},
			{Method: "POST", Status: "400", ScimType: "invalidSyntax"},
			{Method: "PATCH", Status: "400", ScimType: "invalidSyntax", Location: true},
			{Method: "POST", Status: "404"},
			{Method: "DELETE", Status: "404"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.with(t).must(h.with(t).do("POST", "/Bulk", tc.body), http.StatusOK)
			if diff := cmp.Diff(tc.want, bulkResults(t, r)); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, r.Raw)
			}
		})
	}
}

func TestBulkVersions(t *testing.T) {
	h := newHarness(t)
	r := h.must(h.do("POST", "/Users", map[string]any{"userName": "v@example.com"}), http.StatusCreated)
	uid, v1 := r.str("id"), r.Header.Get("ETag")
	r = h.must(h.do("POST", "/Bulk", bulkBody(0,
		map[string]any{"method": "PATCH", "path": "/Users/" + uid, "version": v1, "data": map[string]any{"Operations": []any{map[string]any{"op": "replace", "path": "title", "value": "A"}}}},
		// The same version again is now stale.
		map[string]any{"method": "PATCH", "path": "/Users/" + uid, "version": v1, "data": map[string]any{"Operations": []any{map[string]any{"op": "replace", "path": "title", "value": "B"}}}},
		map[string]any{"method": "DELETE", "path": "/Users/" + uid, "version": `W/"999"`},
	)), http.StatusOK)
	want := []bulkResult{
		{Method: "PATCH", Status: "200", Location: true, Version: true},
		{Method: "PATCH", Status: "412", Location: true},
		{Method: "DELETE", Status: "412", Location: true},
	}
	if diff := cmp.Diff(want, bulkResults(t, r)); diff != "" {
		t.Errorf("(-want +got):\n%s\n%s", diff, r.Raw)
	}
	u := h.must(h.do("GET", "/Users/"+uid, nil), http.StatusOK)
	if u.str("title") != "A" || str(dig(r.Body, "Operations", "0", "version")) != u.str("meta", "version") {
		t.Errorf("user after bulk: %s", u.Raw)
	}
}

func TestBulkLimits(t *testing.T) {
	h := newHarness(t, withConfig(scim.Config{MaxBulkOperations: 3, MaxPayloadSize: 2048}))
	var ops []map[string]any
	for i := range 4 {
		ops = append(ops, postUser("u"+itoa(i), "u"+itoa(i)+"@example.com"))
	}
	r := h.do("POST", "/Bulk", bulkBody(0, ops...))
	checkError(t, r, http.StatusRequestEntityTooLarge, "")
	if d := r.str("detail"); !strings.Contains(d, "maxOperations") || !strings.Contains(d, "3") {
		t.Errorf("detail %q does not name maxOperations (3)", d)
	}
	r = h.do("POST", "/Bulk", bulkBody(0, postUser("big", "big@example.com", "displayName", strings.Repeat("x", 2048))))
	checkError(t, r, http.StatusRequestEntityTooLarge, "")
	if d := r.str("detail"); !strings.Contains(d, "maxPayloadSize") {
		t.Errorf("detail %q does not name maxPayloadSize", d)
	}
	// Nothing ran.
	if u := h.must(h.do("GET", "/Users", nil), http.StatusOK); u.Body["totalResults"] != jsonInt(0) {
		t.Errorf("refused bulk requests created users: %s", u.Raw)
	}
	// Exactly at the limit is fine.
	r = h.must(h.do("POST", "/Bulk", bulkBody(0, ops[:3]...)), http.StatusOK)
	if n := len(r.Body["Operations"].([]any)); n != 3 {
		t.Errorf("%d results, want 3", n)
	}
	for _, body := range []any{
		map[string]any{"schemas": []string{bulkRequestURN}},
		map[string]any{"Operations": "x"},
		map[string]any{"Operations": []any{"x"}},
		map[string]any{"Operations": []any{}, "failOnErrors": "1"},
		map[string]any{"Operations": []any{}, "failOnErrors": -1},
	} {
		checkError(t, h.do("POST", "/Bulk", body), http.StatusBadRequest, "invalidSyntax")
	}
}

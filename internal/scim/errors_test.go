package scim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

const patchURN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// patchBody builds a PatchOp body from operations written as JSON.
func patchBody(ops ...string) string {
	return `{"schemas":["` + patchURN + `"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// TestErrorsRouting covers requests no handler serves: every one must get a
// SCIM error document, with Allow on 405.
func TestErrorsRouting(t *testing.T) {
	h := newHarness(t)
	uid := h.createUser(map[string]any{"userName": "routing@example.com"})
	tests := []struct {
		method, path string
		body         any
		status       int
		scimType     string
		allow        []string // methods the Allow header must list
	}{
		{"GET", "/Nope", nil, 404, "", nil},
		{"GET", "/Users/" + uid + "/extra", nil, 404, "", nil},
		{"GET", "/v2/Users", nil, 404, "", nil},
		{"GET", "", nil, 404, "", nil},
		{"DELETE", "/Users", nil, 405, "", []string{"GET", "POST"}},
		{"PUT", "/Users", `{}`, 405, "", []string{"GET", "POST"}},
		{"PATCH", "/Groups", `{}`, 405, "", []string{"GET", "POST"}},
		{"POST", "/Users/" + uid, `{}`, 405, "", []string{"GET", "PUT", "PATCH", "DELETE"}},
		{"PUT", "/ServiceProviderConfig", `{}`, 405, "", []string{"GET"}},
		{"POST", "/Schemas", `{}`, 405, "", []string{"GET"}},
		{"DELETE", "/ResourceTypes/User", nil, 405, "", []string{"GET"}},
		{"GET", "/Bulk", nil, 405, "", []string{"POST"}},
		{"GET", "/.search", nil, 405, "", []string{"POST"}},
		// /Users/.search only takes POST, whatever the body.
		{"GET", "/Users/.search", nil, 405, "", []string{"POST"}},
		{"PUT", "/Users/.search", nil, 405, "", []string{"POST"}},
		{"PUT", "/Users/.search", `{"userName":"x"}`, 405, "", []string{"POST"}},
		{"PATCH", "/Users/.search", nil, 405, "", []string{"POST"}},
		{"PATCH", "/Users/.search", patchBody(`{"op":"replace","path":"active","value":false}`), 405, "", []string{"POST"}},
		{"DELETE", "/Users/.search", nil, 405, "", []string{"POST"}},
		{"GET", "/Groups/.search", nil, 405, "", []string{"POST"}},
		{"PUT", "/Groups/.search", nil, 405, "", []string{"POST"}},
		{"PATCH", "/Groups/.search", nil, 405, "", []string{"POST"}},
		{"DELETE", "/Groups/.search", nil, 405, "", []string{"POST"}},
		{"GET", "/Me", nil, 501, "", nil},
		{"PATCH", "/Me", `{}`, 501, "", nil},
		{"GET", "/Users/does-not-exist", nil, 404, "", nil},
		{"DELETE", "/Groups/does-not-exist", nil, 404, "", nil},
		{"GET", "/ResourceTypes/Nope", nil, 404, "", nil},
		{"GET", "/Schemas/urn:nope", nil, 404, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := h.with(t).do(tc.method, tc.path, tc.body)
			checkError(t, r, tc.status, tc.scimType)
			if tc.allow == nil {
				return
			}
			allow := r.Header.Get("Allow")
			for _, m := range tc.allow {
				if !strings.Contains(allow, m) {
					t.Errorf("Allow %q lacks %s", allow, m)
				}
			}
		})
	}
}

// TestErrorsAuth: every way of not being authenticated is 401 with
// WWW-Authenticate and a SCIM body; discovery needs no token.
func TestErrorsAuth(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	unknown, err := auth.NewSecret(auth.TokenPrefix)
	if err != nil {
		t.Fatal(err)
	}
	// Two more clients, each with a token that is then disabled or expires;
	// both are used once first, so that the service remembers them as
	// valid: the change must still take effect at the next request.
	otherID, disabled := h.newClient(auth.AppSpec{Name: "disabled-client"})
	expiringID, expired := h.newClient(auth.AppSpec{Name: "expiring-client"})
	for _, tok := range []string{disabled, expired} {
		h.must(h.do("GET", "/Users", nil, "Authorization", "Bearer "+tok), http.StatusOK)
	}
	// The last enabled token cannot be disabled: add a second first.
	toks, _ := h.auth.Tokens(ctx, otherID)
	if _, _, err := h.auth.CreateToken(ctx, operator, otherID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := h.auth.SetTokenEnabled(ctx, operator, otherID, toks[0].ID, false); err != nil {
		t.Fatal(err)
	}
	// Expiry: the stored expiry moves into the past, as time would move it.
	exp, _ := h.auth.Tokens(ctx, expiringID)
	err = h.store.WriteAuth(ctx, func(tx auth.Tx) error {
		exp[0].Expires = time.Now().Add(-time.Minute)
		return tx.UpdateToken(ctx, exp[0])
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, header string
	}{
		{"missing", ""},
		{"empty bearer", "Bearer "},
		{"malformed", "Bearer not-a-token"},
		{"basic scheme", "Basic dXNlcjpwYXNz"},
		{"token without scheme", h.token},
		{"unknown", "Bearer " + unknown},
		{"disabled", "Bearer " + disabled},
		{"expired", "Bearer " + expired},
	}
	for _, tc := range tests {
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/Users", ""},
			{"POST", "/Users", `{"userName":"nobody@example.com"}`},
			{"GET", "/Groups/x", ""},
			{"POST", "/Bulk", `{"Operations":[]}`},
			{"POST", "/.search", `{}`},
		} {
			t.Run(tc.name+"/"+req.method+" "+req.path, func(t *testing.T) {
				var body any
				if req.body != "" {
					body = req.body
				}
				r := h.with(t).do(req.method, req.path, body, "Authorization", tc.header)
				checkError(t, r, http.StatusUnauthorized, "")
				if wa := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, `Bearer realm="gatehouse"`) {
					t.Errorf("WWW-Authenticate = %q", wa)
				}
			})
		}
	}
	// Nothing was created by the refused POSTs.
	r := h.must(h.do("GET", "/Users", nil), http.StatusOK)
	if r.Body["totalResults"] != jsonInt(0) {
		t.Errorf("refused requests created users: %s", r.Raw)
	}
	// Discovery needs no token.
	for _, p := range []string{"/ServiceProviderConfig", "/ResourceTypes", "/ResourceTypes/User", "/Schemas", "/Schemas/" + schema.UserURN} {
		h.must(h.do("GET", p, nil, "Authorization", ""), http.StatusOK)
	}
}

// TestErrorsBody covers bodies that cannot be read.
func TestErrorsBody(t *testing.T) {
	h := newHarness(t)
	uid := h.createUser(map[string]any{"userName": "body@example.com"})
	gid := h.createGroup("body group")
	big := `{"userName":"big@example.com","displayName":"` + strings.Repeat("a", scim.DefaultMaxPayload) + `"}`
	type req struct {
		method, path string
		body         string
		contentType  string
		status       int
		scimType     string
	}
	var tests []req
	for _, target := range []struct{ method, path string }{
		{"POST", "/Users"},
		{"PUT", "/Users/" + uid},
		{"PATCH", "/Users/" + uid},
		{"POST", "/Groups"},
		{"PUT", "/Groups/" + gid},
		{"PATCH", "/Groups/" + gid},
		{"POST", "/Users/.search"},
		{"POST", "/Groups/.search"},
		{"POST", "/.search"},
		{"POST", "/Bulk"},
	} {
		m, p := target.method, target.path
		tests = append(tests,
			req{m, p, big, "application/scim+json", 413, ""},
			req{m, p, `{"userName": `, "application/scim+json", 400, "invalidSyntax"},
			req{m, p, `{"userName": "x"} {}`, "application/scim+json", 400, "invalidSyntax"},
			req{m, p, ``, "application/scim+json", 400, "invalidSyntax"},
			req{m, p, `   `, "application/json", 400, "invalidSyntax"},
			req{m, p, `[{"userName": "x"}]`, "application/scim+json", 400, "invalidSyntax"},
			req{m, p, `null`, "application/json", 400, "invalidSyntax"},
			req{m, p, `"userName"`, "application/json", 400, "invalidSyntax"},
			req{m, p, `{"userName":"a@example.com","USERNAME":"b@example.com"}`, "application/scim+json", 400, "invalidSyntax"},
			req{m, p, `{"userName":"a@example.com","name":{"givenName":"A","GivenName":"B"}}`, "application/json", 400, "invalidSyntax"},
			req{m, p, `<User><userName>x</userName></User>`, "text/xml", 415, ""},
			req{m, p, `userName=x`, "application/x-www-form-urlencoded", 415, ""},
		)
	}
	before := h.snapshot()
	for _, tc := range tests {
		name := tc.method + " " + tc.path + " " + tc.contentType + " " + itoa(tc.status)
		if len(tc.body) < 40 {
			name += " " + tc.body
		}
		t.Run(name, func(t *testing.T) {
			r := h.with(t).do(tc.method, tc.path, tc.body, "Content-Type", tc.contentType)
			checkError(t, r, tc.status, tc.scimType)
			if tc.status == 413 && !strings.Contains(r.str("detail"), "maxPayloadSize") {
				t.Errorf("413 detail does not name maxPayloadSize: %s", r.Raw)
			}
		})
	}
	if diff := snapshotDiff(before, h.snapshot()); diff != "" {
		t.Errorf("unreadable bodies changed the directory (-before +after):\n%s", diff)
	}
}

// TestErrorsMaxPayloadConfigured: the limit comes from scim.Config and is
// advertised.
func TestErrorsMaxPayloadConfigured(t *testing.T) {
	h := newHarness(t, withConfig(scim.Config{MaxPayloadSize: 200}))
	r := h.must(h.do("GET", "/ServiceProviderConfig", nil), http.StatusOK)
	if got := dig(r.Body, "bulk", "maxPayloadSize"); got != jsonInt(200) {
		t.Errorf("bulk.maxPayloadSize = %v, want 200", got)
	}
	r = h.do("POST", "/Users", `{"userName":"`+strings.Repeat("x", 200)+`@example.com"}`)
	checkError(t, r, http.StatusRequestEntityTooLarge, "")
	h.must(h.do("POST", "/Users", `{"userName":"small@example.com"}`), http.StatusCreated)
}

// TestErrorsUniqueness: strict profile answers 409 uniqueness; the IDaaS
// profile treats a repeated POST as an update.
func TestErrorsUniqueness(t *testing.T) {
	t.Run("strict", func(t *testing.T) {
		h := newHarness(t, withProfile(rfcProfile()))
		h.createUser(map[string]any{"userName": "Alice@Example.com", "externalId": "ext-alice"})
		h.createGroup("Engineering")
		before := h.snapshot()
		tests := []struct {
			name, path string
			body       map[string]any
		}{
			{"same userName", "/Users", map[string]any{"userName": "Alice@Example.com"}},
			{"userName other case", "/Users", map[string]any{"userName": "alice@EXAMPLE.COM"}},
			{"same externalId", "/Users", map[string]any{"userName": "bob@example.com", "externalId": "ext-alice"}},
			{"group displayName other case", "/Groups", map[string]any{"displayName": "ENGINEERING"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := h.with(t).do("POST", tc.path, tc.body)
				checkError(t, r, http.StatusConflict, "uniqueness")
			})
		}
		// Renaming another user onto a taken name is refused too.
		bob := h.createUser(map[string]any{"userName": "bob@example.com"})
		before = h.snapshot()
		checkError(t, h.do("PUT", "/Users/"+bob, map[string]any{"userName": "ALICE@example.com"}), http.StatusConflict, "uniqueness")
		checkError(t, h.do("PATCH", "/Users/"+bob, patchBody(`{"op":"replace","path":"externalId","value":"ext-alice"}`)), http.StatusConflict, "uniqueness")
		if diff := snapshotDiff(before, h.snapshot()); diff != "" {
			t.Errorf("409s changed the directory (-before +after):\n%s", diff)
		}
	})
	t.Run("idaas", func(t *testing.T) {
		h := newHarness(t)
		r := h.must(h.do("POST", "/Users", map[string]any{"userName": "Carol@Example.com", "externalId": "ext-carol", "displayName": "Carol"}), http.StatusCreated)
		id := r.str("id")
		v1 := r.Header.Get("ETag")
		// Same userName in another case: the account is updated, 200 (and
		// replaced: what the POST leaves out is cleared).
		r = h.must(h.do("POST", "/Users", map[string]any{"userName": "carol@example.com", "displayName": "Carol B"}), http.StatusOK)
		if _, ok := r.Body["externalId"]; ok {
			t.Errorf("repeated POST without externalId kept it: %s", r.Raw)
		}
		h.must(h.do("POST", "/Users", map[string]any{"userName": "carol@example.com", "externalId": "ext-carol"}), http.StatusOK)
		if r.str("id") != id || r.str("displayName") != "Carol B" {
			t.Errorf("repeated POST by userName: %s", r.Raw)
		}
		if r.Header.Get("ETag") == v1 || r.Header.Get("ETag") != r.str("meta", "version") {
			t.Errorf("ETag %q after update (was %q), meta.version %q", r.Header.Get("ETag"), v1, r.str("meta", "version"))
		}
		// Same externalId, new userName: the account is renamed.
		r = h.must(h.do("POST", "/Users", map[string]any{"userName": "carol.b@example.com", "externalId": "ext-carol"}), http.StatusOK)
		if r.str("id") != id || r.str("userName") != "carol.b@example.com" {
			t.Errorf("repeated POST by externalId: %s", r.Raw)
		}
		r = h.must(h.do("GET", "/Users", nil), http.StatusOK)
		if r.Body["totalResults"] != jsonInt(1) {
			t.Errorf("repeated POSTs created accounts: %s", r.Raw)
		}
	})
}

// TestErrorsValues: values that break a rule are 400 invalidValue (or
// mutability) with a detail naming the attribute, and change nothing.
func TestErrorsValues(t *testing.T) {
	h := newHarness(t)
	uid := h.createUser(map[string]any{"userName": "values@example.com", "emails": []map[string]any{{"value": "values@example.com"}}})
	gid := h.createGroup("values group", uid)
	user := func(extra map[string]any) map[string]any {
		b := map[string]any{"schemas": []string{schema.UserURN}, "userName": "new@example.com"}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	ent := schema.EnterpriseURN
	tests := []struct {
		name, method, path string
		body               any
		scimType, attr     string
	}{
		{"bad boolean", "POST", "/Users", user(map[string]any{"active": "yes"}), "invalidValue", "active"},
		{"bad boolean PUT", "PUT", "/Users/" + uid, user(map[string]any{"active": 1}), "invalidValue", "active"},
		{"bad boolean PATCH", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"active","value":"maybe"}`), "invalidValue", "active"},
		{"phoneRegion mismatch", "POST", "/Users", user(map[string]any{"phoneNumbers": []map[string]any{{"value": "+86-13800138000"}}, "phoneRegion": "1"}), "invalidValue", "phoneRegion"},
		{"bad phone", "POST", "/Users", user(map[string]any{"phoneNumbers": []map[string]any{{"value": "call me"}}}), "invalidValue", "phoneNumbers"},
		{"second email", "POST", "/Users", user(map[string]any{"emails": []map[string]any{{"value": "a@example.com", "type": "work"}, {"value": "b@example.com", "type": "work"}}}), "invalidValue", "emails"},
		{"second email PATCH", "PATCH", "/Users/" + uid, patchBody(`{"op":"add","path":"emails","value":[{"value":"other@example.com","type":"work"}]}`), "invalidValue", "emails"},
		{"home email", "POST", "/Users", user(map[string]any{"emails": []map[string]any{{"value": "a@example.com", "type": "home"}}}), "invalidValue", "emails"},
		{"not an email", "POST", "/Users", user(map[string]any{"emails": []map[string]any{{"value": "not an address"}}}), "invalidValue", "emails"},
		{"weak password", "POST", "/Users", user(map[string]any{"password": "abc"}), "invalidValue", "password"},
		{"password with user name", "POST", "/Users", user(map[string]any{"password": "new@example.com-X1"}), "invalidValue", "password"},
		{"weak password PATCH", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"password","value":"short"}`), "invalidValue", "password"},
		{"unknown organizationId", "POST", "/Users", user(map[string]any{ent: map[string]any{"organizationId": "no-such-org"}}), "invalidValue", "organizationId"},
		{"unknown organizationId PATCH", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"` + ent + `:organizationId","value":"no-such-org"}`), "invalidValue", "organizationId"},
		{"missing userName", "POST", "/Users", map[string]any{"displayName": "x"}, "invalidValue", "userName"},
		{"userName twice, once by URN", "POST", "/Users", user(map[string]any{schema.UserURN + ":userName": "other@example.com"}), "invalidValue", "userName"},
		{"department twice, once by URN", "PUT", "/Users/" + uid, user(map[string]any{ent: map[string]any{"department": "A"}, ent + ":department": "B"}), "invalidValue", "department"},
		{"path-less PATCH of name and name.givenName", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","value":{"name":{"givenName":"A"},"name.givenName":"B"}}`), "invalidValue", "name"},
		{"userName not a string", "POST", "/Users", map[string]any{"userName": map[string]any{"a": 1}}, "invalidValue", "userName"},
		{"name not an object", "POST", "/Users", user(map[string]any{"name": "Alice"}), "invalidValue", "name"},
		{"list for single value", "POST", "/Users", user(map[string]any{"displayName": []string{"a", "b"}}), "invalidValue", "displayName"},
		{"two primaries", "POST", "/Users", user(map[string]any{"roles": []map[string]any{{"value": "a", "primary": true}, {"value": "b", "primary": true}}}), "invalidValue", "roles"},
		{"group without displayName", "POST", "/Groups", map[string]any{"members": []any{}}, "invalidValue", "displayName"},
		{"group member not a user", "POST", "/Groups", map[string]any{"displayName": "g2", "members": []map[string]any{{"value": gid}}}, "invalidValue", "member"},
		{"nested group type", "POST", "/Groups", map[string]any{"displayName": "g3", "members": []map[string]any{{"value": gid, "type": "Group"}}}, "invalidValue", "member"},
		{"member not a user PATCH", "PATCH", "/Groups/" + gid, patchBody(`{"op":"add","path":"members","value":[{"value":"nobody"}]}`), "invalidValue", "member"},
		{"remove userName", "PATCH", "/Users/" + uid, patchBody(`{"op":"remove","path":"userName"}`), "mutability", "userName"},
		{"remove group displayName", "PATCH", "/Groups/" + gid, patchBody(`{"op":"remove","path":"displayName"}`), "mutability", "displayName"},
		{"change id", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"id","value":"another-id"}`), "mutability", "id"},
		{"change meta", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}`), "mutability", "meta"},
		{"add groups", "PATCH", "/Users/" + uid, patchBody(`{"op":"add","path":"groups","value":[{"value":"` + gid + `"}]}`), "mutability", "groups"},
		{"member sub-attribute", "PATCH", "/Groups/" + gid, patchBody(`{"op":"replace","path":"members[value eq \"` + uid + `\"].value","value":"x"}`), "mutability", "members"},
		{"remove without path", "PATCH", "/Users/" + uid, patchBody(`{"op":"remove"}`), "noTarget", "remove"},
		{"bad op", "PATCH", "/Users/" + uid, patchBody(`{"op":"move","path":"userName"}`), "invalidSyntax", "op"},
		{"no operations", "PATCH", "/Users/" + uid, `{"schemas":["` + patchURN + `"],"Operations":[]}`, "invalidSyntax", "Operations"},
		{"unknown path", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"shoeSize","value":"42"}`), "invalidPath", "shoeSize"},
		{"bad filter in path", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"emails[type eq]","value":"x"}`), "invalidFilter", "emails"},
		{"replace filter no match", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"emails[type eq \"home\"].value","value":"h@example.com"}`), "noTarget", "emails"},
		{"bad sortOrder", "GET", "/Users?sortBy=userName&sortOrder=sideways", nil, "invalidValue", "sortOrder"},
		{"bad count", "GET", "/Users?count=many", nil, "invalidValue", "count"},
		{"bad startIndex", "GET", "/Users?startIndex=first", nil, "invalidValue", "startIndex"},
		{"sort on password", "GET", "/Users?sortBy=password", nil, "invalidValue", "password"},
		{"filter on password", "GET", "/Users?filter=password%20pr", nil, "invalidFilter", "password"},
	}
	before := h.snapshot()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.with(t).do(tc.method, tc.path, tc.body)
			checkError(t, r, http.StatusBadRequest, tc.scimType)
			if d := r.str("detail"); !strings.Contains(strings.ToLower(d), strings.ToLower(tc.attr)) {
				t.Errorf("detail %q does not name %s", d, tc.attr)
			}
		})
	}
	if diff := snapshotDiff(before, h.snapshot()); diff != "" {
		t.Errorf("refused requests changed the directory (-before +after):\n%s", diff)
	}
}

// TestErrorsVersions: ETag equals meta.version; If-Match and If-None-Match.
func TestErrorsVersions(t *testing.T) {
	h := newHarness(t)
	r := h.must(h.do("POST", "/Users", map[string]any{"userName": "etag@example.com"}), http.StatusCreated)
	uid := r.str("id")
	etag := r.Header.Get("ETag")
	if etag == "" || etag != r.str("meta", "version") || !strings.HasPrefix(etag, `W/"`) {
		t.Fatalf("ETag %q, meta.version %q", etag, r.str("meta", "version"))
	}
	r = h.must(h.do("POST", "/Groups", map[string]any{"displayName": "etag group"}), http.StatusCreated)
	gid := r.str("id")
	getag := r.Header.Get("ETag")
	if getag == "" || getag != r.str("meta", "version") {
		t.Fatalf("group ETag %q, meta.version %q", getag, r.str("meta", "version"))
	}
	for _, p := range []string{"/Users/" + uid, "/Groups/" + gid} {
		r := h.must(h.do("GET", p, nil), http.StatusOK)
		if r.Header.Get("ETag") != r.str("meta", "version") {
			t.Errorf("GET %s: ETag %q, meta.version %q", p, r.Header.Get("ETag"), r.str("meta", "version"))
		}
	}
	stale := `W/"999"`
	before := h.snapshot()
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/Users/" + uid, map[string]any{"userName": "etag2@example.com"}},
		{"PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"displayName","value":"X"}`)},
		{"DELETE", "/Users/" + uid, nil},
		{"PUT", "/Groups/" + gid, map[string]any{"displayName": "renamed"}},
		{"PATCH", "/Groups/" + gid, patchBody(`{"op":"add","path":"members","value":[{"value":"` + uid + `"}]}`)},
		{"DELETE", "/Groups/" + gid, nil},
	} {
		for _, im := range []string{stale, `"999"`, `W/"abc"`} {
			t.Run(tc.method+" "+tc.path+" If-Match "+im, func(t *testing.T) {
				r := h.with(t).do(tc.method, tc.path, tc.body, "If-Match", im)
				checkError(t, r, http.StatusPreconditionFailed, "")
			})
		}
	}
	if diff := snapshotDiff(before, h.snapshot()); diff != "" {
		t.Errorf("412s changed the directory (-before +after):\n%s", diff)
	}
	// If-None-Match: 304 with no body when it matches, 200 when not.
	for _, tc := range []struct {
		path, inm string
		status    int
	}{
		{"/Users/" + uid, etag, http.StatusNotModified},
		{"/Users/" + uid, strings.TrimPrefix(etag, "W/"), http.StatusNotModified},
		{"/Users/" + uid, stale + ", " + etag, http.StatusNotModified},
		{"/Users/" + uid, "*", http.StatusNotModified},
		{"/Users/" + uid, stale, http.StatusOK},
		{"/Groups/" + gid, getag, http.StatusNotModified},
		{"/Groups/" + gid, stale, http.StatusOK},
	} {
		r := h.do("GET", tc.path, nil, "If-None-Match", tc.inm)
		if r.Status != tc.status {
			t.Errorf("GET %s If-None-Match %s: %d, want %d", tc.path, tc.inm, r.Status, tc.status)
		}
		if tc.status == http.StatusNotModified && (len(r.Raw) != 0 || r.Header.Get("ETag") == "") {
			t.Errorf("304 with body %q, ETag %q", r.Raw, r.Header.Get("ETag"))
		}
	}
	// Matching If-Match succeeds and moves the version on.
	r = h.must(h.do("PATCH", "/Users/"+uid, patchBody(`{"op":"replace","path":"displayName","value":"X"}`), "If-Match", etag), http.StatusOK)
	if r.Header.Get("ETag") == etag || r.Header.Get("ETag") != r.str("meta", "version") {
		t.Errorf("after PATCH: ETag %q (was %q), meta.version %q", r.Header.Get("ETag"), etag, r.str("meta", "version"))
	}
	etag2 := r.Header.Get("ETag")
	checkError(t, h.do("PUT", "/Users/"+uid, map[string]any{"userName": "etag@example.com"}, "If-Match", etag), http.StatusPreconditionFailed, "")
	r = h.must(h.do("PUT", "/Users/"+uid, map[string]any{"userName": "etag@example.com", "displayName": "Y"}, "If-Match", etag2), http.StatusOK)
	// A membership change moves the user's version too.
	etag3 := r.Header.Get("ETag")
	h.must(h.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}`), "If-Match", getag), http.StatusOK)
	r = h.must(h.do("GET", "/Users/"+uid, nil), http.StatusOK)
	if r.Header.Get("ETag") == etag3 {
		t.Errorf("user version did not change with its groups")
	}
	h.must(h.do("DELETE", "/Users/"+uid, nil, "If-Match", r.Header.Get("ETag")), http.StatusNoContent)
}

// jsonInt is an integer as h.do decodes it.
func jsonInt(i int) any { return json.Number(strconv.Itoa(i)) }

// TestBadInputChangesNothing: a request that fails, for whatever reason,
// leaves every user and group as it was — including a PATCH whose later
// operation fails after earlier valid ones, and failed Bulk operations.
func TestBadInputChangesNothing(t *testing.T) {
	for _, profile := range []string{"idaas", "strict"} {
		t.Run(profile, func(t *testing.T) {
			var opts []func(*options)
			if profile == "strict" {
				opts = append(opts, withProfile(rfcProfile()))
			}
			h := newHarness(t, opts...)
			ent := schema.EnterpriseURN
			a := h.createUser(map[string]any{"userName": "a@example.com", "externalId": "ext-a", "displayName": "A",
				"emails": []map[string]any{{"value": "a@example.com", "type": "work", "primary": true}},
				"name":   map[string]any{"givenName": "Ann", "familyName": "Able"},
				ent:      map[string]any{"department": "R&D"}})
			b := h.createUser(map[string]any{"userName": "b@example.com", "active": false})
			g := h.createGroup("staff", a)
			h.createGroup("other", b)
			before := h.snapshot()

			// Each of these must fail (any 4xx) and change nothing.
			bad := []struct {
				name, method, path string
				body               any
				headers            []string
			}{
				{"patch later op fails", "PATCH", "/Users/" + a, patchBody(
					`{"op":"replace","path":"displayName","value":"Changed"}`,
					`{"op":"add","path":"nickName","value":"Nick"}`,
					`{"op":"remove","path":"userName"}`), nil},
				{"patch later op bad value", "PATCH", "/Users/" + a, patchBody(
					`{"op":"replace","path":"active","value":false}`,
					`{"op":"replace","path":"`+ent+`:department","value":"Sales"}`,
					`{"op":"replace","path":"emails[type eq \"work\"].value","value":"not an address"}`), nil},
				{"patch later op no target", "PATCH", "/Users/" + a, patchBody(
					`{"op":"replace","path":"name.givenName","value":"Anna"}`,
					`{"op":"replace","path":"emails[type eq \"home\"].value","value":"h@example.com"}`), nil},
				{"patch weak password after rename", "PATCH", "/Users/" + a, patchBody(
					`{"op":"replace","path":"userName","value":"renamed@example.com"}`,
					`{"op":"replace","path":"password","value":"x"}`), nil},
				{"patch rename onto taken name", "PATCH", "/Users/" + a, patchBody(
					`{"op":"replace","path":"displayName","value":"Changed"}`,
					`{"op":"replace","path":"userName","value":"B@example.com"}`), nil},
				{"group patch member then bad attr", "PATCH", "/Groups/" + g, patchBody(
					`{"op":"add","path":"members","value":[{"value":"`+b+`"}]}`,
					`{"op":"remove","path":"members[value eq \"`+a+`\"]"}`,
					`{"op":"remove","path":"displayName"}`), nil},
				{"group patch rename then unknown member", "PATCH", "/Groups/" + g, patchBody(
					`{"op":"replace","path":"displayName","value":"renamed"}`,
					`{"op":"remove","path":"members"}`,
					`{"op":"add","path":"members","value":[{"value":"nobody"}]}`), nil},
				{"group patch rename onto taken name", "PATCH", "/Groups/" + g, patchBody(
					`{"op":"add","path":"members","value":[{"value":"`+b+`"}]}`,
					`{"op":"replace","path":"displayName","value":"OTHER"}`), nil},
				{"group put unknown member", "PUT", "/Groups/" + g, map[string]any{"displayName": "renamed", "members": []map[string]any{{"value": b}, {"value": "nobody"}}}, nil},
				{"put bad email", "PUT", "/Users/" + a, map[string]any{"userName": "a@example.com", "displayName": "Changed", "emails": []map[string]any{{"value": "nope"}}}, nil},
				{"put stale version", "PUT", "/Users/" + a, map[string]any{"userName": "a@example.com"}, []string{"If-Match", `W/"77"`}},
				{"patch stale version", "PATCH", "/Groups/" + g, patchBody(`{"op":"remove","path":"members"}`), []string{"If-Match", `W/"77"`}},
				{"delete stale version", "DELETE", "/Users/" + b, nil, []string{"If-Match", `W/"77"`}},
				{"post bad email", "POST", "/Users", map[string]any{"userName": "c@example.com", "emails": []map[string]any{{"value": "c at example.com"}}}, nil},
				{"post group with unknown member", "POST", "/Groups", map[string]any{"displayName": "new group", "members": []map[string]any{{"value": a}, {"value": "nobody"}}}, nil},
				{"post user unknown org", "POST", "/Users", map[string]any{"userName": "d@example.com", ent: map[string]any{"organizationId": "nowhere"}}, nil},
				{"post user weak password", "POST", "/Users", map[string]any{"userName": "e@example.com", "password": "e"}, nil},
				{"bulk failing ops only", "POST", "/Bulk", map[string]any{
					"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
					"Operations": []any{
						map[string]any{"method": "POST", "path": "/Users", "bulkId": "u1", "data": map[string]any{"userName": "f@example.com", "password": "f"}},
						map[string]any{"method": "PATCH", "path": "/Users/" + a, "data": map[string]any{"schemas": []string{patchURN}, "Operations": []any{
							map[string]any{"op": "replace", "path": "displayName", "value": "Changed"},
							map[string]any{"op": "remove", "path": "userName"}}}},
						map[string]any{"method": "PUT", "path": "/Groups/" + g, "version": `W/"77"`, "data": map[string]any{"displayName": "renamed"}},
						map[string]any{"method": "DELETE", "path": "/Users/nobody"},
						map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g1", "data": map[string]any{"displayName": "bulk group", "members": []any{map[string]any{"value": "bulkId:u1"}}}},
					}}, nil},
			}
			for _, tc := range bad {
				t.Run(tc.name, func(t *testing.T) {
					r := h.with(t).do(tc.method, tc.path, tc.body, tc.headers...)
					if tc.method == "POST" && tc.path == "/Bulk" {
						h.with(t).must(r, http.StatusOK)
						for i, op := range r.Body["Operations"].([]any) {
							if st, _ := op.(map[string]any)["status"].(string); !strings.HasPrefix(st, "4") {
								t.Errorf("bulk operation %d: status %q, want 4xx", i, st)
							}
						}
					} else if r.Status < 400 || r.Status >= 500 {
						t.Fatalf("status %d, want 4xx: %s", r.Status, r.Raw)
					}
					if diff := snapshotDiff(before, h.with(t).snapshot()); diff != "" {
						t.Errorf("the directory changed (-before +after):\n%s", diff)
					}
				})
			}
		})
	}
}

// TestBodiesNotAltered: a body that encoding/json would decode into
// something other than what was sent — invalid UTF-8 or an unpaired
// surrogate (both become U+FFFD), a member given twice (the last one wins),
// \u0000 (which PostgreSQL cannot store) — is 400 invalidSyntax on every
// endpoint that takes a body, and changes nothing. Each body is otherwise
// valid: without the defect it succeeds.
func TestBodiesNotAltered(t *testing.T) {
	h := newHarness(t)
	uid := h.createUser(map[string]any{"userName": "kept@example.com", "displayName": "Kept"})
	gid := h.createGroup("kept group")
	// In body, X stands for a string value; in dup, D for members of one
	// object (both named after an attribute that matters there).
	targets := []struct{ method, path, body, dup string }{
		{"POST", "/Users", `{"userName":"new@example.com","displayName":"X"}`, `{"userName":"new@example.com",D}`},
		{"PUT", "/Users/" + uid, `{"userName":"kept@example.com","displayName":"X"}`, `{"userName":"kept@example.com","name":{D}}`},
		{"PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"displayName","value":"X"}`), patchBody(`{"op":"replace","path":"displayName",D}`)},
		{"POST", "/Groups", `{"displayName":"X"}`, `{D}`},
		{"PUT", "/Groups/" + gid, `{"displayName":"X"}`, `{D}`},
		{"PATCH", "/Groups/" + gid, patchBody(`{"op":"replace","path":"displayName","value":"X"}`), patchBody(`{"op":"replace","value":{D}}`)},
		{"POST", "/Users/.search", `{"filter":"displayName eq \"X\""}`, `{D}`},
		{"POST", "/Groups/.search", `{"filter":"displayName eq \"X\""}`, `{D}`},
		{"POST", "/.search", `{"filter":"displayName eq \"X\""}`, `{D}`},
		{"POST", "/Bulk", `{"schemas":["` + bulkRequestURN + `"],"Operations":[{"method":"POST","path":"/Users","bulkId":"b","data":{"userName":"bulk@example.com","displayName":"X"}}]}`,
			`{"schemas":["` + bulkRequestURN + `"],"Operations":[{"method":"POST","path":"/Users","bulkId":"b","data":{"userName":"bulk@example.com",D}}]}`},
	}
	defects := []struct{ name, value string }{
		{"invalid UTF-8", "Ad\xffa"},
		{"truncated UTF-8", "Ad\xe4\xb8a"},
		{"lone high surrogate", `Ad\ud800a`},
		{"lone low surrogate", `Ad\udc00a`},
		{"NUL", `Ad\u0000a`},
	}
	dups := []struct{ name, members string }{
		{"displayName twice", `"displayName":"first","displayName":"second"`},
		{"displayName twice, once escaped", `"displayName":"first","display\u004eame":"second"`},
		{"givenName twice", `"givenName":"first","givenName":"second"`},
		{"filter twice", `"filter":"userName pr","filter":"displayName pr"`},
		{"value twice", `"value":"first","value":"second"`},
	}
	before := h.snapshot()
	for _, tg := range targets {
		for _, d := range defects {
			t.Run(tg.method+" "+tg.path+" "+d.name, func(t *testing.T) {
				r := h.with(t).do(tg.method, tg.path, strings.Replace(tg.body, "X", d.value, 1))
				checkError(t, r, http.StatusBadRequest, "invalidSyntax")
			})
		}
		for _, d := range dups {
			t.Run(tg.method+" "+tg.path+" "+d.name, func(t *testing.T) {
				r := h.with(t).do(tg.method, tg.path, strings.Replace(tg.dup, "D", d.members, 1))
				checkError(t, r, http.StatusBadRequest, "invalidSyntax")
			})
		}
	}
	if diff := snapshotDiff(before, h.snapshot()); diff != "" {
		t.Errorf("refused bodies changed the directory (-before +after):\n%s", diff)
	}
	// Without the defect, the same bodies succeed: the refusals are about
	// the defect alone.
	for i, tg := range targets {
		r := h.do(tg.method, tg.path, strings.Replace(tg.body, "X", "Ada "+itoa(i), 1))
		if r.Status >= 300 {
			t.Errorf("%s %s without a defect: %d %s", tg.method, tg.path, r.Status, r.Raw)
		}
	}
	// Valid characters stay exactly as they were sent, U+FFFD included.
	r := h.must(h.do("PATCH", "/Users/"+uid, patchBody(`{"op":"replace","path":"displayName","value":"张三 \ud83d\ude00 \ufffd"}`)), http.StatusOK)
	if got := r.str("displayName"); got != "张三 😀 \uFFFD" {
		t.Errorf("displayName = %q", got)
	}
}

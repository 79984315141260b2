package scim_test

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// TestPatchGroupShapes replays the membership PATCH shapes real clients
// send (Okta, Entra, OneLogin) against one group and checks the members
// after each.
func TestPatchGroupShapes(t *testing.T) {
	h := newHarness(t)
	var u []string
	for _, n := range []string{"u0", "u1", "u2", "u3", "u4"} {
		u = append(u, h.createUser(map[string]any{"userName": n + "@example.com", "displayName": strings.ToUpper(n)}))
	}
	gid := h.createGroup("Shapes")
	name := map[string]string{}
	for i, id := range u {
		name[id] = "u" + itoa(i)
	}
	members := func(r *response) []string {
		var out []string
		ms, _ := r.Body["members"].([]any)
		for _, m := range ms {
			out = append(out, name[dig(m, "value").(string)])
		}
		sort.Strings(out)
		return out
	}
	tests := []struct {
		name string
		ops  []string
		want []string
	}{
		{"Entra add with $ref null", []string{`{"op":"Add","path":"members","value":[{"$ref":null,"value":"` + u[0] + `"},{"$ref":null,"value":"` + u[1] + `"}]}`}, []string{"u0", "u1"}},
		{"Okta add without type", []string{`{"op":"add","path":"members","value":[{"value":"` + u[2] + `","display":"U2"}]}`}, []string{"u0", "u1", "u2"}},
		{"re-adding a member succeeds", []string{`{"op":"add","path":"members","value":[{"value":"` + u[2] + `","type":"User"}]}`}, []string{"u0", "u1", "u2"}},
		{"Okta remove by filter", []string{`{"op":"remove","path":"members[value eq \"` + u[2] + `\"]"}`}, []string{"u0", "u1"}},
		{"remove a non-member by filter", []string{`{"op":"remove","path":"members[value eq \"` + u[4] + `\"]"}`}, []string{"u0", "u1"}},
		{"Entra remove by value list", []string{`{"op":"Remove","path":"members","value":[{"value":"` + u[1] + `"}]}`}, []string{"u0"}},
		{"OneLogin lower-case add of one object", []string{`{"op":"add","path":"members","value":{"value":"` + u[3] + `"}}`}, []string{"u0", "u3"}},
		{"Okta replace the member list", []string{`{"op":"replace","path":"members","value":[{"value":"` + u[1] + `"},{"value":"` + u[2] + `"},{"value":"` + u[4] + `"}]}`}, []string{"u1", "u2", "u4"}},
		{"remove by or-filter", []string{`{"op":"remove","path":"members[value eq \"` + u[1] + `\" or value eq \"` + u[2] + `\"]"}`}, []string{"u4"}},
		{"remove by display filter", []string{`{"op":"add","path":"members","value":[{"value":"` + u[0] + `"}]}`, `{"op":"remove","path":"members[display eq \"U4\"]"}`}, []string{"u0"}},
		{"path-less add of members", []string{`{"op":"add","value":{"members":[{"value":"` + u[3] + `"}]}}`}, []string{"u0", "u3"}},
		{"path-less replace of members and name", []string{`{"op":"replace","value":{"id":"` + gid + `","displayName":"Shapes","members":[{"value":"` + u[2] + `"}]}}`}, []string{"u2"}},
		{"remove then add in one request", []string{`{"op":"remove","path":"members"}`, `{"op":"add","path":"members","value":[{"value":"` + u[0] + `"},{"value":"` + u[1] + `"}]}`}, []string{"u0", "u1"}},
		{"add then remove the same member", []string{`{"op":"add","path":"members","value":[{"value":"` + u[3] + `"}]}`, `{"op":"remove","path":"members[value eq \"` + u[3] + `\"]"}`}, []string{"u0", "u1"}},
		{"Okta empties the group", []string{`{"op":"replace","path":"members","value":[]}`}, nil},
		{"remove from an empty group", []string{`{"op":"remove","path":"members"}`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.with(t)
			r := h.must(h.do("PATCH", "/Groups/"+gid, patchBody(tc.ops...), "Content-Type", "application/json"), http.StatusOK)
			if diff := cmp.Diff(tc.want, members(r)); diff != "" {
				t.Errorf("response members (-want +got):\n%s", diff)
			}
			if r.str("id") != gid || r.str("displayName") != "Shapes" {
				t.Errorf("response is not the group: %s", r.Raw)
			}
			if r.Header.Get("ETag") != r.str("meta", "version") {
				t.Errorf("ETag %q, meta.version %q", r.Header.Get("ETag"), r.str("meta", "version"))
			}
			g := h.must(h.do("GET", "/Groups/"+gid, nil), http.StatusOK)
			if diff := cmp.Diff(tc.want, members(g)); diff != "" {
				t.Errorf("stored members (-want +got):\n%s", diff)
			}
		})
	}
	// A PATCH that changes nothing keeps the version and lastModified.
	h.must(h.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"add","path":"members","value":[{"value":"`+u[0]+`"}]}`)), http.StatusOK)
	before := h.must(h.do("GET", "/Groups/"+gid, nil), http.StatusOK)
	after := h.must(h.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"add","path":"members","value":[{"value":"`+u[0]+`"}]}`, `{"op":"remove","path":"members[value eq \"nobody\"]"}`, `{"op":"replace","path":"displayName","value":"Shapes"}`)), http.StatusOK)
	if before.str("meta", "version") != after.str("meta", "version") || before.str("meta", "lastModified") != after.str("meta", "lastModified") {
		t.Errorf("a no-op PATCH changed meta: %v → %v", before.Body["meta"], after.Body["meta"])
	}
	// Okta renames with the read-only id in the value.
	r := h.must(h.do("PATCH", "/Groups/"+gid, patchBody(`{"op":"replace","value":{"id":"`+gid+`","displayName":"Renamed"}}`)), http.StatusOK)
	if r.str("displayName") != "Renamed" || r.str("id") != gid {
		t.Errorf("rename: %s", r.Raw)
	}
	// Refused shapes.
	for _, tc := range []struct {
		name, op, scimType string
	}{
		{"nested group", `{"op":"add","path":"members","value":[{"value":"` + gid + `","type":"Group"}]}`, "invalidValue"},
		{"unknown user", `{"op":"add","path":"members","value":[{"value":"nobody"}]}`, "invalidValue"},
		{"member without value", `{"op":"add","path":"members","value":[{"display":"x"}]}`, "invalidValue"},
		{"member not an object", `{"op":"add","path":"members","value":["` + u[0] + `"]}`, "invalidValue"},
		{"replace a member in place", `{"op":"replace","path":"members[value eq \"` + u[0] + `\"]","value":{"value":"` + u[1] + `"}}`, "mutability"},
		{"member sub-attribute", `{"op":"replace","path":"members.display","value":"x"}`, "mutability"},
		{"bad member filter", `{"op":"remove","path":"members[value eq]"}`, "invalidFilter"},
		{"bulkId outside Bulk", `{"op":"add","path":"members","value":[{"value":"bulkId:x"}]}`, "invalidValue"},
	} {
		t.Run("refused "+tc.name, func(t *testing.T) {
			checkError(t, h.with(t).do("PATCH", "/Groups/"+gid, patchBody(tc.op)), http.StatusBadRequest, tc.scimType)
		})
	}
}

// TestPatchUserShapes: user PATCHes as Okta and Entra send them.
func TestPatchUserShapes(t *testing.T) {
	ent := schema.EnterpriseURN
	t.Run("idaas", func(t *testing.T) {
		h := newHarness(t)
		uid := h.createUser(map[string]any{"userName": "shape@example.com", "name": map[string]any{"givenName": "S", "familyName": "Hape"}})
		tests := []struct {
			name  string
			ops   []string
			check map[string]any // dotted path → expected value (nil: absent)
		}{
			{"Okta deactivation", []string{`{"op":"replace","value":{"active":false}}`}, map[string]any{"active": false}},
			{"Entra reactivation as string", []string{`{"op":"Replace","path":"active","value":"True"}`}, map[string]any{"active": true}},
			{"Entra deactivation as string", []string{`{"op":"Replace","path":"active","value":"False"}`}, map[string]any{"active": false}},
			{"path-less string boolean", []string{`{"op":"replace","value":{"active":"true"}}`}, map[string]any{"active": true}},
			{"Entra adds the work email", []string{`{"op":"Add","path":"emails[type eq \"work\"].value","value":"shape@example.com"}`},
				map[string]any{"emails.0.value": "shape@example.com", "emails.0.type": "work"}},
			{"Entra replaces the work email", []string{`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"shape2@example.com"}`},
				map[string]any{"emails.0.value": "shape2@example.com"}},
			{"Entra aadOptscim062020 keys", []string{`{"op":"replace","value":{"name.givenName":"Grace","name.familyName":"Hopper","` + ent + `:employeeNumber":"701984","` + ent + `:department":"Navy"}}`},
				map[string]any{"name.givenName": "Grace", "name.familyName": "Hopper", ent + ".employeeNumber": "701984", ent + ".department": "Navy"}},
			{"Entra adds the phone", []string{`{"op":"Add","path":"phoneNumbers[type eq \"work\"].value","value":"+86 138 0013 8000"}`},
				map[string]any{"phoneNumbers.0.value": "+86 138 0013 8000", "phoneRegion": "86"}},
			{"Entra removes the phone", []string{`{"op":"Remove","path":"phoneNumbers[type eq \"work\"]"}`}, map[string]any{"phoneNumbers": nil}},
			{"remove a manager that is not set", []string{`{"op":"Remove","path":"` + ent + `:manager"}`}, map[string]any{ent + ".manager": nil}},
			{"Okta id echo and meta", []string{`{"op":"replace","value":{"id":"` + uid + `","displayName":"Shape","meta":{"resourceType":"User"}}}`}, map[string]any{"displayName": "Shape"}},
			{"set and clear the title", []string{`{"op":"add","path":"title","value":"Dr"}`, `{"op":"remove","path":"title"}`}, map[string]any{"title": nil}},
			{"password change", []string{`{"op":"replace","path":"password","value":"New-Secret-9"}`}, map[string]any{"password": nil}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := h.with(t)
				r := h.must(h.do("PATCH", "/Users/"+uid+"?aadOptscim062020", patchBody(tc.ops...)), http.StatusOK)
				checkPaths(t, r.Body, tc.check)
				if r.str("id") != uid || r.str("userName") != "shape@example.com" {
					t.Errorf("response is not the user: %s", r.Raw)
				}
				if r.Header.Get("ETag") != r.str("meta", "version") {
					t.Errorf("ETag %q, meta.version %q", r.Header.Get("ETag"), r.str("meta", "version"))
				}
				g := h.must(h.do("GET", "/Users/"+uid, nil), http.StatusOK)
				checkPaths(t, g.Body, tc.check)
			})
		}
	})
	t.Run("strict", func(t *testing.T) {
		h := newHarness(t, withProfile(rfcProfile()))
		uid := h.createUser(map[string]any{"userName": "multi@example.com", "emails": []map[string]any{
			{"value": "w@example.com", "type": "work", "primary": true}, {"value": "h@example.com", "type": "home"}}})
		tests := []struct {
			name  string
			ops   []string
			check map[string]any
		}{
			{"make the home email primary", []string{`{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`},
				map[string]any{"emails.0.primary": nil, "emails.1.primary": true}},
			{"make the work email primary by element", []string{`{"op":"replace","path":"emails[type eq \"work\"]","value":{"primary":true}}`},
				map[string]any{"emails.0.primary": true, "emails.1.primary": nil}},
			{"add a primary email", []string{`{"op":"add","path":"emails","value":[{"value":"o@example.com","type":"other","primary":true}]}`},
				map[string]any{"emails.0.primary": nil, "emails.1.primary": nil, "emails.2.primary": true}},
			{"add a primary email by filter", []string{`{"op":"add","path":"emails[type eq \"work\"].primary","value":true}`},
				map[string]any{"emails.0.primary": true, "emails.2.primary": nil}},
			{"remove the other email", []string{`{"op":"remove","path":"emails[value eq \"o@example.com\"]"}`},
				map[string]any{"emails.2": nil, "emails.0.value": "w@example.com"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := h.with(t).must(h.with(t).do("PATCH", "/Users/"+uid, patchBody(tc.ops...)), http.StatusOK)
				checkPaths(t, r.Body, tc.check)
			})
		}
	})
}

// checkPaths checks dotted paths (list indexes as numbers) in a document;
// a nil want means the path is absent.
func checkPaths(t *testing.T, doc map[string]any, want map[string]any) {
	t.Helper()
	for path, w := range want {
		var parts []string
		// Extension URNs contain dots: take them whole.
		if strings.HasPrefix(path, "urn:") {
			i := strings.LastIndex(path, ".")
			parts = append([]string{path[:i]}, strings.Split(path[i+1:], ".")...)
		} else {
			parts = strings.Split(path, ".")
		}
		if got := dig(doc, parts...); !cmp.Equal(got, w) {
			t.Errorf("%s = %v, want %v", path, got, w)
		}
	}
}

// TestPatchNeverEnables: no PATCH that removes "active" or sets it to null
// enables a disabled account (a POST or PUT without "active" means active,
// but a PATCH only changes what it names). Each form is 400 mutability and
// changes nothing; an explicit true still enables.
func TestPatchNeverEnables(t *testing.T) {
	h := newHarness(t)
	uid := h.createUser(map[string]any{"userName": "disabled@example.com", "active": false})
	before := h.snapshot()
	for _, tc := range []struct{ name, op string }{
		{"remove", `{"op":"remove","path":"active"}`},
		{"Entra capitalised remove", `{"op":"Remove","path":"active"}`},
		{"remove by URN path", `{"op":"remove","path":"` + schema.UserURN + `:active"}`},
		{"remove with a value", `{"op":"remove","path":"active","value":false}`},
		{"replace with null", `{"op":"replace","path":"active","value":null}`},
		{"add null", `{"op":"add","path":"active","value":null}`},
		{"path-less replace with null", `{"op":"replace","value":{"active":null}}`},
		{"path-less replace with a URN key and null", `{"op":"replace","value":{"` + schema.UserURN + `:active":null}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := h.with(t)
			r := h.do("PATCH", "/Users/"+uid, patchBody(`{"op":"replace","path":"displayName","value":"Changed"}`, tc.op))
			checkError(t, r, http.StatusBadRequest, "mutability")
			if d := r.str("detail"); !strings.Contains(d, "active") {
				t.Errorf("detail %q does not name active", d)
			}
			if diff := snapshotDiff(before, h.snapshot()); diff != "" {
				t.Errorf("the directory changed (-before +after):\n%s", diff)
			}
		})
	}
	// In a Bulk request the operation fails alone.
	r := h.must(h.do("POST", "/Bulk", bulkBody(0, map[string]any{"method": "PATCH", "path": "/Users/" + uid,
		"data": map[string]any{"schemas": []string{patchURN}, "Operations": []any{map[string]any{"op": "remove", "path": "active"}}}})), http.StatusOK)
	if diff := cmp.Diff([]bulkResult{{Method: "PATCH", Status: "400", Location: true, ScimType: "mutability"}}, bulkResults(t, r)); diff != "" {
		t.Errorf("bulk (-want +got):\n%s", diff)
	}
	if diff := snapshotDiff(before, h.snapshot()); diff != "" {
		t.Errorf("the directory changed (-before +after):\n%s", diff)
	}
	r = h.must(h.do("PATCH", "/Users/"+uid, patchBody(`{"op":"replace","path":"active","value":true}`)), http.StatusOK)
	if r.Body["active"] != true {
		t.Errorf("replace with true: active = %v", r.Body["active"])
	}
}

// TestPatchPathlessBadFilter: a path-less key that is a value filter on a
// known attribute but does not parse (an unpaired surrogate's escape,
// unbalanced brackets, an unknown operator) is refused as the same path
// would be, and the operation changes nothing; a key naming no attribute
// is still ignored (red-team finding: such keys were ignored and the rest
// applied, 200).
func TestPatchPathlessBadFilter(t *testing.T) {
	h := newHarness(t, withProfile(rfcProfile()))
	uid := h.createUser(map[string]any{"userName": "keys@example.com", "displayName": "Keys",
		"emails": []map[string]any{{"value": "k@example.com", "type": "work"}}})
	for _, tc := range []struct{ key, scimType string }{
		{`emails[value eq \"\\ud800\"].display`, "invalidFilter"},
		{`emails[value eq \"\\udc00\"]`, "invalidFilter"},
		{`emails[value eq \"k@example.com\"`, "invalidPath"},
		{`emails[value like \"k@example.com\"].display`, "invalidFilter"},
		{`EMAILS[value eq \"\\ud800\"].display`, "invalidFilter"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			h := h.with(t)
			for _, op := range []string{"replace", "add"} {
				r := h.do("PATCH", "/Users/"+uid, patchBody(`{"op":"`+op+`","value":{"`+tc.key+`":"D","displayName":"changed"}}`))
				checkError(t, r, http.StatusBadRequest, tc.scimType)
			}
			if g := h.must(h.do("GET", "/Users/"+uid, nil), http.StatusOK); g.str("displayName") != "Keys" {
				t.Errorf("the operation changed the user: %s", g.Raw)
			}
		})
	}
	r := h.must(h.do("PATCH", "/Users/"+uid, patchBody(`{"op":"replace","value":{"shoes[size eq 3]":"x","displayName":"changed"}}`)), http.StatusOK)
	if r.str("displayName") != "changed" {
		t.Errorf("an unknown attribute's key: %s", r.Raw)
	}
}

// TestMalformedQuery: a query string net/url would read only in part (a
// pair holding ";", a malformed "%" escape, which url.Values drops without
// a word) is 400 on every SCIM endpoint, instead of a list without the
// filter (red-team finding).
func TestMalformedQuery(t *testing.T) {
	h := newHarness(t)
	h.createUser(map[string]any{"userName": "ada@example.com"})
	h.createUser(map[string]any{"userName": "bob@example.com"})
	ada := url.QueryEscape(`userName eq "ada@example.com"`)
	for _, q := range []string{
		"filter=" + ada + ";",
		"filter=" + ada + "&filter=" + url.QueryEscape(`userName eq "bob@example.com"`) + ";",
		"filter=userName%20eq%20%22a;b%22",
		"count=1&count=2;",
		"filter=" + ada + "%zz",
		"attributes=userName;",
	} {
		t.Run(q, func(t *testing.T) {
			h := h.with(t)
			for _, path := range []string{"/Users", "/Groups"} {
				r := h.do("GET", path+"?"+q, nil)
				checkError(t, r, http.StatusBadRequest, "invalidValue")
				if !strings.Contains(r.str("detail"), "malformed") {
					t.Errorf("detail: %q", r.str("detail"))
				}
			}
		})
	}
	// Encoded, the same characters are values like any other.
	r := h.must(h.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "a;b%zz"`), nil), http.StatusOK)
	if r.Body["totalResults"] != jsonInt(0) {
		t.Errorf("an encoded ; and %%: %s", r.Raw)
	}
}

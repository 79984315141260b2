package scim_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// schemaAttr finds an attribute (or sub-attribute) of a /Schemas document.
func schemaAttr(t *testing.T, doc map[string]any, path ...string) map[string]any {
	t.Helper()
	var cur map[string]any
	list, _ := doc["attributes"].([]any)
	for _, name := range path {
		cur = nil
		for _, a := range list {
			if m := a.(map[string]any); m["name"] == name {
				cur = m
			}
		}
		if cur == nil {
			return nil
		}
		list, _ = cur["subAttributes"].([]any)
	}
	return cur
}

// TestSchemasSayWhatIsEnforced: what /Schemas says of an attribute is what
// a request meets, in every mode. A value it says is required is refused
// when missing; a type outside the canonical values is refused unless the
// description says any type is accepted, and then it is stored;
// manager.displayName, which Gatehouse neither returns nor filters on, is
// not advertised.
func TestSchemasSayWhatIsEnforced(t *testing.T) {
	h := newHarness(t)
	_, rfc := h.newClient(auth.AppSpec{Name: "rfc-client", Profile: rfcProfile(), Scopes: auth.Scopes{auth.ScopeUsersRead, auth.ScopeUsersWrite}})
	_, drop := h.newClient(auth.AppSpec{Name: "dropping-client", Profile: dropProfile(), Scopes: auth.Scopes{auth.ScopeUsersRead, auth.ScopeUsersWrite}})
	values := map[string]any{"emails": "m@example.com", "phoneNumbers": "+86 138 0013 8000", "ims": "m@xmpp.example.com",
		"photos": "https://example.com/m.png", "addresses": nil}
	n := 0
	for mode, token := range map[string]string{"idaas": h.token, "rfc": rfc, "drop": drop} {
		auth := "Bearer " + token
		doc := h.must(h.do("GET", "/Schemas/"+schema.UserURN, nil, "Authorization", auth), http.StatusOK).Body
		for _, name := range []string{"emails", "phoneNumbers"} {
			if a := schemaAttr(t, doc, name, "value"); a["required"] != true {
				t.Errorf("%s mode: %s.value required = %v", mode, name, a["required"])
			}
			n++
			r := h.do("POST", "/Users", map[string]any{"userName": "novalue" + itoa(n) + "@example.com",
				name: []any{map[string]any{"type": "work"}}}, "Authorization", auth)
			checkError(t, r, http.StatusBadRequest, "invalidValue")
		}
		for name, value := range values {
			a := schemaAttr(t, doc, name, "type")
			canon, _ := a["canonicalValues"].([]any)
			if len(canon) == 0 {
				t.Errorf("%s mode: %s.type has no canonicalValues", mode, name)
				continue
			}
			anyType := strings.Contains(a["description"].(string), "any other type is accepted") ||
				strings.Contains(a["description"].(string), "any type is accepted")
			el := map[string]any{"type": "foo"}
			if value != nil {
				el["value"] = value
			} else {
				el["locality"] = "Hangzhou"
			}
			n++
			r := h.do("POST", "/Users", map[string]any{"userName": "type" + itoa(n) + "@example.com", name: []any{el}}, "Authorization", auth)
			switch {
			case anyType && r.Status != http.StatusCreated:
				t.Errorf("%s mode: %s.type %q refused though /Schemas says any type is accepted: %d %s", mode, name, "foo", r.Status, r.Raw)
			case anyType && mode != "drop" && r.str(name, "0", "type") != "foo":
				t.Errorf("%s mode: %s.type %q stored as %q", mode, name, "foo", r.str(name, "0", "type"))
			case !anyType && r.Status != http.StatusBadRequest:
				t.Errorf("%s mode: %s.type %q accepted though /Schemas lists only %v: %d %s", mode, name, "foo", canon, r.Status, r.Raw)
			}
		}
		ent := h.must(h.do("GET", "/Schemas/"+schema.EnterpriseURN, nil, "Authorization", auth), http.StatusOK).Body
		if a := schemaAttr(t, ent, "manager", "displayName"); a != nil {
			t.Errorf("%s mode: manager.displayName is advertised: %v", mode, a)
		}
		if d, _ := schemaAttr(t, ent, "manager", "value")["description"].(string); !strings.Contains(d, "a user the application can see") {
			t.Errorf("%s mode: manager.value description %q", mode, d)
		}
	}
	checkError(t, h.do("GET", escapeQuery(`/Users?filter=`+schema.EnterpriseURN+`:manager.displayName eq "x"`), nil), http.StatusBadRequest, "invalidFilter")
}

// valueExtension declares a custom reference and a custom binary
// attribute.
const valueURN = "urn:ietf:params:scim:schemas:extension:values:2.0:User"

func valueExtension() schema.ExtensionDef {
	return schema.ExtensionDef{URN: valueURN, Attributes: []schema.ExtensionAttr{
		{Name: "homepage", Type: schema.Reference},
		{Name: "keys", Type: schema.Binary, MultiValued: true},
	}}
}

// TestReferenceAndBinaryValues: an external reference must be an absolute
// http or https URL, a binary value base64 — core attributes and custom
// ones alike — else 400 invalidValue, changing nothing; /Schemas says so.
// A value stored before these rules keeps working until it changes.
func TestReferenceAndBinaryValues(t *testing.T) {
	h := newHarness(t, withExtensions(valueExtension()))
	good := map[string]any{
		"profileUrl":       "https://example.com/~ada",
		"photos":           []any{map[string]any{"value": "http://example.com/ada.png"}},
		"x509Certificates": []any{map[string]any{"value": "TUlJQ2lqQ0NBZk9nQXdJQkFn"}},
		valueURN:           map[string]any{"homepage": "HTTPS://ada.example.com/", "keys": []any{"AAEC", "AAECAw=="}},
	}
	bad := []map[string]any{
		{"profileUrl": "javascript:alert(1)"},
		{"profileUrl": "JavaScript:alert(1)"},
		{"profileUrl": "/users/ada"},
		{"profileUrl": "example.com/ada"},
		{"profileUrl": "data:text/html,<script>alert(1)</script>"},
		{"profileUrl": "https:///nohost"},
		{"profileUrl": "https://example.com/a b"},
		{"photos": []any{map[string]any{"value": "https://example.com/ok.png"}, map[string]any{"value": "vbscript:msgbox"}}},
		{"x509Certificates": []any{map[string]any{"value": "!!not base64!!"}}},
		{"x509Certificates": []any{map[string]any{"value": "AAE"}}}, // no padding
		{valueURN: map[string]any{"homepage": "ftp://example.com/"}},
		{valueURN: map[string]any{"keys": []any{"AAEC", "%%%"}}},
	}
	id := h.createUser(map[string]any{"userName": "ada@example.com"})
	for i, b := range bad {
		before := h.snapshot()
		body := map[string]any{"userName": "bad" + itoa(i) + "@example.com"}
		for k, v := range b {
			body[k] = v
		}
		checkError(t, h.do("POST", "/Users", body), http.StatusBadRequest, "invalidValue")
		body["userName"] = "ada@example.com"
		checkError(t, h.do("PUT", "/Users/"+id, body), http.StatusBadRequest, "invalidValue")
		var ops []any
		for k, v := range b {
			ops = append(ops, map[string]any{"op": "replace", "path": k, "value": v})
		}
		checkError(t, h.do("PATCH", "/Users/"+id, map[string]any{"schemas": []string{schema.PatchOpURN}, "Operations": ops}),
			http.StatusBadRequest, "invalidValue")
		if diff := snapshotDiff(before, h.snapshot()); diff != "" {
			t.Errorf("%v: a refused request changed the directory:\n%s", b, diff)
		}
	}
	body := map[string]any{"userName": "good@example.com"}
	for k, v := range good {
		body[k] = v
	}
	r := h.must(h.do("POST", "/Users", body), http.StatusCreated)
	if r.str("profileUrl") != "https://example.com/~ada" || r.str(valueURN, "homepage") != "HTTPS://ada.example.com/" {
		t.Errorf("good values: %s", r.Raw)
	}
	doc := h.must(h.do("GET", "/Schemas", nil), http.StatusOK).Body
	for _, res := range doc["Resources"].([]any) {
		sc := res.(map[string]any)
		for _, p := range [][]string{{"profileUrl"}, {"photos", "value"}, {"x509Certificates", "value"}, {"homepage"}, {"keys"}} {
			a := schemaAttr(t, sc, p...)
			if a == nil {
				continue
			}
			if d := a["description"].(string); !strings.Contains(d, "400 invalidValue") {
				t.Errorf("%s %v: description %q does not state the rule", sc["id"], p, d)
			}
			if a["type"] == "reference" && !slicesEqual(a["referenceTypes"], []any{"external"}) {
				t.Errorf("%s %v: referenceTypes %v", sc["id"], p, a["referenceTypes"])
			}
		}
	}

	// An account stored with such values (before these rules) keeps
	// working: a PATCH of something else, a PUT that sends them again.
	legacy, _, err := h.dir.CreateUser(context.Background(), operator, directory.Profile{TargetOrgID: directory.RootOrgID}, &directory.User{
		UserName: "legacy@example.com", Active: true, Attrs: directory.Attrs{"profileUrl": "javascript:void(0)",
			"x509Certificates": []any{map[string]any{"value": "not base64"}}}})
	if err != nil {
		t.Fatal(err)
	}
	h.must(h.do("PATCH", "/Users/"+legacy.ID, map[string]any{"schemas": []string{schema.PatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}}), http.StatusOK)
	h.must(h.do("PUT", "/Users/"+legacy.ID, map[string]any{"userName": "legacy@example.com", "active": false,
		"profileUrl": "javascript:void(0)", "x509Certificates": []any{map[string]any{"value": "not base64"}}}), http.StatusOK)
	checkError(t, h.do("PUT", "/Users/"+legacy.ID, map[string]any{"userName": "legacy@example.com",
		"profileUrl": "javascript:alert(2)"}), http.StatusBadRequest, "invalidValue")
	checkError(t, h.do("PATCH", "/Users/"+legacy.ID, map[string]any{"schemas": []string{schema.PatchOpURN},
		"Operations": []any{map[string]any{"op": "add", "path": "x509Certificates", "value": []any{map[string]any{"value": "still not"}}}}}),
		http.StatusBadRequest, "invalidValue")
}

func slicesEqual(a any, b []any) bool {
	l, _ := a.([]any)
	if len(l) != len(b) {
		return false
	}
	for i := range l {
		if l[i] != b[i] {
			return false
		}
	}
	return true
}

// TestManagerMustBeVisible: manager.value must name a user the
// application can see: an id that names no user is refused (400
// invalidValue), and for a scoped application one outside its scope is
// refused with the very same answer. A manager the account has already
// (deleted since) stays for an application without a scope.
func TestManagerMustBeVisible(t *testing.T) {
	f := newScopeFixture(t)
	h := f.h
	ent := schema.EnterpriseURN
	const random = "0b9f3f4e-9d52-4c6a-8f0e-1c2d3e4f5a6b"
	mgr := func(id string) map[string]any { return map[string]any{"manager": map[string]any{"value": id}} }
	// No user at all: refused for every application, on every write.
	for _, as := range []func(string, string, any) *response{
		func(m, p string, b any) *response { return h.do(m, p, b) },
		f.as,
	} {
		checkError(t, as("POST", "/Users", map[string]any{"userName": "x@example.com", ent: mgr(random)}), http.StatusBadRequest, "invalidValue")
		checkError(t, as("PUT", "/Users/"+f.carol, map[string]any{"userName": "carol@example.com", ent: mgr(random)}), http.StatusBadRequest, "invalidValue")
		checkError(t, as("PATCH", "/Users/"+f.carol, map[string]any{"schemas": []string{schema.PatchOpURN},
			"Operations": []any{map[string]any{"op": "replace", "path": ent + ":manager.value", "value": random}}}), http.StatusBadRequest, "invalidValue")
	}
	// Outside the scope: the same answer as no user, but for the id.
	hidden := f.as("PATCH", "/Users/"+f.carol, map[string]any{"schemas": []string{schema.PatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "path": ent + ":manager.value", "value": f.sam}}})
	none := f.as("PATCH", "/Users/"+f.carol, map[string]any{"schemas": []string{schema.PatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "path": ent + ":manager.value", "value": random}}})
	checkError(t, hidden, http.StatusBadRequest, "invalidValue")
	if a, b := strings.ReplaceAll(string(hidden.Raw), f.sam, "<id>"), strings.ReplaceAll(string(none.Raw), random, "<id>"); a != b {
		t.Errorf("a manager outside the scope: %s; no user: %s", a, b)
	}
	// dave's manager sam is outside the scope: sending it is refused too,
	// though it is his manager (the application cannot see it).
	checkError(t, f.as("PUT", "/Users/"+f.dave, map[string]any{"userName": "dave@example.com", ent: mgr(f.sam)}), http.StatusBadRequest, "invalidValue")
	// A user it sees is fine.
	h.must(f.as("PATCH", "/Users/"+f.carol, map[string]any{"schemas": []string{schema.PatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "path": ent + ":manager.value", "value": f.bob}}}), http.StatusOK)
	// A manager deleted since stays for an application without a scope
	// when a PUT sends it again or a PATCH leaves it alone.
	h.must(h.do("DELETE", "/Users/"+f.bob, nil), http.StatusNoContent)
	h.must(h.do("PUT", "/Users/"+f.carol, map[string]any{"userName": "carol@example.com", ent: mgr(f.bob)}), http.StatusOK)
	h.must(h.do("PATCH", "/Users/"+f.carol, map[string]any{"schemas": []string{schema.PatchOpURN},
		"Operations": []any{map[string]any{"op": "replace", "path": "title", "value": "Lead"}}}), http.StatusOK)
}

// TestBooleanStrings: a boolean may come as the string "true" or "false"
// (Entra's "True", "False"), in any case of its letters and nothing else:
// white space around it, a no-break space or a letter that is an ASCII one
// only ignoring case are 400 invalidValue, on POST and on PATCH.
func TestBooleanStrings(t *testing.T) {
	h := newHarness(t)
	id := h.createUser(map[string]any{"userName": "ada@example.com"})
	i := 0
	for _, tc := range []struct {
		in   string
		want any // true, false, or nil: refused
	}{
		{"True", true}, {"FALSE", false}, {"false", false}, {"tRuE", true},
		{"TRUE ", nil}, {" true", nil}, {"\ttrue", nil}, {"true\u00a0", nil}, {"true\n", nil}, {"falſe", nil},
		{"\u200btrue", nil}, {"yes", nil}, {"1", nil}, {"", nil},
	} {
		i++
		t.Run(jsonEscape(tc.in), func(t *testing.T) {
			h := h.with(t)
			r := h.do("POST", "/Users", map[string]any{"userName": "b" + itoa(i) + "@example.com", "active": tc.in})
			p := h.do("PATCH", "/Users/"+id, patchBody(`{"op":"replace","value":{"active":"`+jsonEscape(tc.in)+`"}}`))
			if tc.want == nil {
				checkError(t, r, http.StatusBadRequest, "invalidValue")
				checkError(t, p, http.StatusBadRequest, "invalidValue")
				return
			}
			if h.must(r, http.StatusCreated).Body["active"] != tc.want || h.must(p, http.StatusOK).Body["active"] != tc.want {
				t.Errorf("active %q: POST %s, PATCH %s", tc.in, r.Raw, p.Raw)
			}
		})
	}
}

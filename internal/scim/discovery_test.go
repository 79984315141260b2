package scim_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// customURN is the custom User extension the discovery tests configure.
const customURN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

func customExtension() schema.ExtensionDef {
	return schema.ExtensionDef{
		URN:         customURN,
		Name:        "AcmeUser",
		Description: "Acme's own user attributes",
		Attributes: []schema.ExtensionAttr{
			{Name: "badgeNumber", Type: schema.String, CaseExact: true, Description: "Badge printed on the access card"},
			{Name: "clearance", Type: schema.Integer},
			{Name: "remote", Type: schema.Boolean},
			{Name: "hireDate", Type: schema.DateTime},
			{Name: "skills", Type: schema.String, MultiValued: true},
		},
	}
}

// goldenHost replaces the test server's address in rendered documents.
const goldenHost = "http://gatehouse.test"

// golden compares got (a JSON document) with testdata/golden/name, or
// rewrites the file with -update. Host parts of URLs are normalised and keys
// sorted, so the files are stable.
func golden(t *testing.T, h *harness, name string, raw []byte) {
	t.Helper()
	raw = bytes.ReplaceAll(raw, []byte(h.srv.URL), []byte(goldenHost))
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got; -update rewrites it):\n%s", name, diff)
	}
}

func TestDiscoveryGolden(t *testing.T) {
	h := newHarness(t, withExtensions(customExtension()))
	tests := []struct{ path, file string }{
		{"/ServiceProviderConfig", "service_provider_config.json"},
		{"/ResourceTypes", "resource_types.json"},
		{"/ResourceTypes/User", "resource_type_user.json"},
		{"/ResourceTypes/Group", "resource_type_group.json"},
		{"/Schemas", "schemas.json"},
		{"/Schemas/" + schema.UserURN, "schema_user.json"},
		{"/Schemas/" + schema.GroupURN, "schema_group.json"},
		{"/Schemas/" + schema.EnterpriseURN, "schema_enterprise_user.json"},
		{"/Schemas/" + customURN, "schema_custom_extension.json"},
	}
	// An application in rfc mode sees the schemas of its mode.
	_, rfc := h.newClient(auth.AppSpec{Name: "rfc-client", Profile: rfcProfile()})
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			// Discovery needs no authentication.
			r := h.with(t).do("GET", tc.path, nil, "Authorization", "")
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", tc.path, r.Status, r.Raw)
			}
			if ct := r.Header.Get("Content-Type"); ct != scim.ContentType {
				t.Errorf("Content-Type %q", ct)
			}
			golden(t, h, tc.file, r.Raw)
		})
	}
	// One in idaas mode that drops extra values sees that.
	_, drop := h.newClient(auth.AppSpec{Name: "dropping-client", Profile: dropProfile()})
	for _, tc := range []struct{ path, file, token string }{
		{"/Schemas/" + schema.UserURN, "schema_user_rfc.json", rfc},
		{"/Schemas/" + schema.GroupURN, "schema_group_rfc.json", rfc},
		{"/Schemas/" + schema.EnterpriseURN, "schema_enterprise_user_rfc.json", rfc},
		{"/Schemas/" + schema.UserURN, "schema_user_drop.json", drop},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := h.with(t).must(h.with(t).do("GET", tc.path, nil, "Authorization", "Bearer "+tc.token), http.StatusOK)
			golden(t, h, tc.file, r.Raw)
		})
	}
}

// TestSchemasPerMode: /Schemas describes the caller's mode; without a
// credential the default (idaas) mode; with a bad one, nothing (401). The
// canonical values it says are the only ones accepted are the only ones
// accepted, and the others are refused.
func TestSchemasPerMode(t *testing.T) {
	h := newHarness(t) // its own client is in idaas mode
	_, rfc := h.newClient(auth.AppSpec{Name: "rfc-client", Profile: rfcProfile(), Scopes: auth.Scopes{auth.ScopeUsersRead, auth.ScopeUsersWrite}})
	_, drop := h.newClient(auth.AppSpec{Name: "dropping-client", Profile: dropProfile(), Scopes: auth.Scopes{auth.ScopeUsersRead, auth.ScopeUsersWrite}})
	get := func(auth string) *response {
		t.Helper()
		r := h.must(h.do("GET", "/Schemas/"+schema.UserURN, nil, "Authorization", auth), http.StatusOK)
		if v := r.Header.Values("Vary"); !slices.Contains(v, "Authorization") {
			t.Errorf("Vary = %v, want Authorization", v)
		}
		return r
	}
	anonymous, idaas, strict, dropping := get(""), get("Bearer "+h.token), get("Bearer "+rfc), get("Bearer "+drop)
	if diff := cmp.Diff(anonymous.Body, idaas.Body); diff != "" {
		t.Errorf("without a credential, /Schemas is not the idaas mode's (-anonymous +idaas):\n%s", diff)
	}
	if cmp.Equal(idaas.Body, strict.Body) {
		t.Error("/Schemas is the same in idaas and rfc mode")
	}
	if cmp.Equal(idaas.Body, dropping.Body) {
		t.Error("/Schemas is the same in idaas mode whether extra values are refused or dropped")
	}
	for _, bad := range []string{"Bearer gate_tk_nope", "Basic Zm9vOmJhcg=="} {
		r := h.do("GET", "/Schemas", nil, "Authorization", bad)
		checkError(t, r, http.StatusUnauthorized, "")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", bad)
		}
	}

	// attr finds an attribute (or sub-attribute) of a schema document.
	attr := func(doc map[string]any, path ...string) map[string]any {
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
				t.Fatalf("no attribute %v", path)
			}
			list, _ = cur["subAttributes"].([]any)
		}
		return cur
	}
	canonical := func(doc map[string]any, path ...string) []string {
		var out []string
		for _, v := range attr(doc, path...)["canonicalValues"].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	for _, name := range []string{"emails", "phoneNumbers"} {
		if diff := cmp.Diff([]string{"work"}, canonical(idaas.Body, name, "type")); diff != "" {
			t.Errorf("idaas %s.type canonicalValues (-want +got):\n%s", name, diff)
		}
	}
	// Each type the RFC lists: accepted in rfc mode; in idaas mode only if
	// the idaas schema lists it; with extra values dropped, only if that
	// schema lists it (all of them), and stored as "work".
	values := map[string]string{"emails": "m@example.com", "phoneNumbers": "+86 138 0013 8000"}
	for i, name := range []string{"emails", "phoneNumbers"} {
		allowed, allowedDrop := canonical(idaas.Body, name, "type"), canonical(dropping.Body, name, "type")
		if diff := cmp.Diff(canonical(strict.Body, name, "type"), allowedDrop); diff != "" {
			t.Errorf("%s.type canonicalValues with extra values dropped are not the RFC's (-rfc +drop):\n%s", name, diff)
		}
		for j, typ := range canonical(strict.Body, name, "type") {
			body := map[string]any{"userName": "u" + itoa(i) + "-" + itoa(j) + "@example.com", name: []any{map[string]any{"value": values[name], "type": typ}}}
			r := h.do("POST", "/Users", body, "Authorization", "Bearer "+rfc)
			if r.Status != http.StatusCreated {
				t.Errorf("rfc mode, %s of type %q: %d %s", name, typ, r.Status, r.Raw)
			}
			body["userName"] = "idaas-" + body["userName"].(string)
			r = h.do("POST", "/Users", body)
			if ok := slices.Contains(allowed, typ); ok != (r.Status == http.StatusCreated) {
				t.Errorf("idaas mode, %s of type %q (described: %v): %d %s", name, typ, ok, r.Status, r.Raw)
			}
			body["userName"] = "drop-" + body["userName"].(string)
			r = h.do("POST", "/Users", body, "Authorization", "Bearer "+drop)
			if ok := slices.Contains(allowedDrop, typ); ok != (r.Status == http.StatusCreated) || ok && r.str(name, "0", "type") != "work" {
				t.Errorf("idaas mode dropping extra values, %s of type %q (described: %v): %d %s", name, typ, ok, r.Status, r.Raw)
			}
		}
	}
	// What each mode's descriptions say about the rules that differ.
	docs := map[string]*response{"idaas": idaas, "rfc": strict, "drop": dropping}
	for _, tc := range []struct {
		mode string
		path []string
		want string
	}{
		{"idaas", []string{"emails"}, "at most one email"},
		{"rfc", []string{"emails"}, "at most one primary"},
		{"idaas", []string{"phoneNumbers", "value"}, "calling code"},
		{"rfc", []string{"phoneNumbers", "value"}, "at most 64 characters"},
		{"idaas", []string{"phoneRegion"}, `else "86"`},
		{"rfc", []string{"phoneRegion"}, "not checked"},
		{"idaas", []string{"userName"}, "updates that account (200)"},
		{"rfc", []string{"userName"}, "409 uniqueness"},
		{"idaas", []string{"userName"}, "Normalization Form C"},
		{"rfc", []string{"active"}, "cannot remove it or set it to null"},
		{"idaas", []string{"password"}, "8 to 128 characters"},
		{"idaas", []string{"phoneNumbers"}, "another type or a second number is 400 invalidValue"},
		{"drop", []string{"phoneNumbers"}, "the others are dropped unchecked, which the audit record notes"},
		{"drop", []string{"emails"}, "its type becomes \"work\""},
		{"drop", []string{"phoneNumbers", "type"}, "any type is accepted"},
		{"drop", []string{"phoneNumbers", "value"}, "calling code"},
		{"drop", []string{"userName"}, "updates that account (200)"},
	} {
		if d, _ := attr(docs[tc.mode].Body, tc.path...)["description"].(string); !strings.Contains(d, tc.want) {
			t.Errorf("%s mode: %v description %q does not say %q", tc.mode, tc.path, d, tc.want)
		}
	}
	if d := attr(strict.Body, "userName")["description"].(string); strings.Contains(d, "updates that account") {
		t.Errorf("rfc userName description speaks of idaas updates: %q", d)
	}
	ent := h.must(h.do("GET", "/Schemas/"+schema.EnterpriseURN, nil, "Authorization", ""), http.StatusOK)
	if d := attr(ent.Body, "organizationId")["description"].(string); !strings.Contains(d, "existing organization") || !strings.Contains(d, "cannot remove it") {
		t.Errorf("organizationId description %q", d)
	}
	grp := h.must(h.do("GET", "/Schemas/"+schema.GroupURN, nil, "Authorization", ""), http.StatusOK)
	if d := attr(grp.Body, "displayName")["description"].(string); !strings.Contains(d, "replaces that group") {
		t.Errorf("group displayName description %q", d)
	}
}

func TestServiceProviderConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  scim.Config
		want map[string]any // dotted path → value
	}{
		{"defaults", scim.Config{}, map[string]any{
			"bulk.maxOperations":                 jsonInt(1000),
			"bulk.maxPayloadSize":                jsonInt(1 << 20),
			"filter.maxResults":                  jsonInt(1000),
			"pagination.maxPageSize":             jsonInt(1000),
			"pagination.defaultPageSize":         jsonInt(100),
			"pagination.cursorTimeout":           jsonInt(3600),
			"pagination.cursor":                  true,
			"pagination.index":                   true,
			"pagination.defaultPaginationMethod": "index",
		}},
		{"configured", scim.Config{MaxBulkOperations: 5, MaxPayloadSize: 4096, MaxPageSize: 20, DefaultPageSize: 50, DocumentationURL: "https://docs.example.com/scim"}, map[string]any{
			"bulk.maxOperations":         jsonInt(5),
			"bulk.maxPayloadSize":        jsonInt(4096),
			"filter.maxResults":          jsonInt(20),
			"pagination.maxPageSize":     jsonInt(20),
			"pagination.defaultPageSize": jsonInt(20), // never above the maximum
			"documentationUri":           "https://docs.example.com/scim",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withConfig(tc.cfg))
			r := h.with(t).must(h.with(t).do("GET", "/ServiceProviderConfig", nil, "Authorization", ""), http.StatusOK)
			if s, _ := r.Body["schemas"].([]any); len(s) != 1 || s[0] != schema.SPConfigURN {
				t.Errorf("schemas = %v", r.Body["schemas"])
			}
			for _, f := range []string{"patch", "bulk", "filter", "changePassword", "sort", "etag"} {
				if dig(r.Body, f, "supported") != true {
					t.Errorf("%s.supported = %v, want true", f, dig(r.Body, f, "supported"))
				}
			}
			for path, want := range tc.want {
				if got := dig(r.Body, strings.Split(path, ".")...); got != want {
					t.Errorf("%s = %v (%T), want %v", path, got, got, want)
				}
			}
			if r.str("documentationUri") == "" {
				t.Error("documentationUri is empty")
			}
			schemes, _ := r.Body["authenticationSchemes"].([]any)
			if len(schemes) == 0 {
				t.Fatal("no authenticationSchemes")
			}
			for i := range schemes {
				for _, f := range []string{"type", "name", "description"} {
					if s, _ := dig(schemes[i], f).(string); s == "" {
						t.Errorf("authenticationSchemes[%d].%s is empty", i, f)
					}
				}
			}
			if loc := r.str("meta", "location"); loc != h.base+"/ServiceProviderConfig" {
				t.Errorf("meta.location = %q", loc)
			}
		})
	}
	// The limits advertised are the limits enforced.
	h := newHarness(t, withConfig(scim.Config{MaxBulkOperations: 2}))
	ops := []any{}
	for i := range 3 {
		ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": "u" + itoa(i), "data": map[string]any{"userName": "u" + itoa(i) + "@example.com"}})
	}
	r := h.do("POST", "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops})
	checkError(t, r, http.StatusRequestEntityTooLarge, "")
}

// TestDiscoveryConsistency checks what a client derives from discovery:
// resource types point at schemas that exist, schema documents are well
// formed, lookups are case-insensitive, and what the server returns for a
// user is what the schemas describe.
func TestDiscoveryConsistency(t *testing.T) {
	h := newHarness(t, withExtensions(customExtension()))
	schemas := h.must(h.do("GET", "/Schemas", nil), http.StatusOK)
	byID := map[string]map[string]any{}
	for _, res := range schemas.Body["Resources"].([]any) {
		m := res.(map[string]any)
		byID[m["id"].(string)] = m
	}
	for _, id := range []string{schema.UserURN, schema.GroupURN, schema.EnterpriseURN, customURN} {
		if byID[id] == nil {
			t.Errorf("/Schemas lacks %s", id)
		}
	}
	if schemas.Body["totalResults"] != jsonInt(len(byID)) {
		t.Errorf("/Schemas totalResults %v, %d resources", schemas.Body["totalResults"], len(byID))
	}
	// Every attribute has the characteristics RFC 7643 §7 lists.
	var checkAttrs func(where string, attrs []any)
	checkAttrs = func(where string, attrs []any) {
		for _, a := range attrs {
			m := a.(map[string]any)
			name, _ := m["name"].(string)
			for _, k := range []string{"name", "type", "multiValued", "description", "required", "mutability", "returned"} {
				if _, ok := m[k]; !ok {
					t.Errorf("%s.%s lacks %q", where, name, k)
				}
			}
			if subs, ok := m["subAttributes"].([]any); ok {
				if m["type"] != "complex" {
					t.Errorf("%s.%s has sub-attributes but type %v", where, name, m["type"])
				}
				checkAttrs(where+"."+name, subs)
			}
		}
	}
	for id, sc := range byID {
		checkAttrs(id, sc["attributes"].([]any))
		// /Schemas/{id} serves the same document, case-insensitively.
		for _, p := range []string{id, strings.ToUpper(id)} {
			one := h.must(h.do("GET", "/Schemas/"+p, nil), http.StatusOK)
			if diff := cmp.Diff(sc, one.Body); diff != "" {
				t.Errorf("/Schemas/%s differs from its /Schemas entry:\n%s", p, diff)
			}
		}
		if loc, _ := dig(sc, "meta", "location").(string); loc != h.base+"/Schemas/"+id {
			t.Errorf("%s meta.location = %q", id, loc)
		}
	}
	rts := h.must(h.do("GET", "/ResourceTypes", nil), http.StatusOK)
	for _, res := range rts.Body["Resources"].([]any) {
		rt := res.(map[string]any)
		if byID[rt["schema"].(string)] == nil {
			t.Errorf("resource type %v: schema %v not in /Schemas", rt["id"], rt["schema"])
		}
		exts, _ := rt["schemaExtensions"].([]any)
		for _, e := range exts {
			if byID[dig(e, "schema").(string)] == nil {
				t.Errorf("resource type %v: extension %v not in /Schemas", rt["id"], dig(e, "schema"))
			}
			if _, ok := dig(e, "required").(bool); !ok {
				t.Errorf("resource type %v: extension %v without required", rt["id"], dig(e, "schema"))
			}
		}
		one := h.must(h.do("GET", "/ResourceTypes/"+strings.ToLower(rt["id"].(string)), nil), http.StatusOK)
		if diff := cmp.Diff(rt, one.Body); diff != "" {
			t.Errorf("/ResourceTypes/%s differs from its list entry:\n%s", rt["id"], diff)
		}
	}
	if n := len(rts.Body["Resources"].([]any)); n != 2 {
		t.Errorf("%d resource types, want 2 (User, Group)", n)
	}

	// A user with every extension: its schemas list them, and each
	// attribute it returns is described (common attributes aside).
	r := h.must(h.do("POST", "/Users", map[string]any{
		"schemas": []string{schema.UserURN, customURN}, "userName": "discover@example.com",
		"name": map[string]any{"givenName": "Dee"}, "emails": []map[string]any{{"value": "discover@example.com"}},
		schema.EnterpriseURN: map[string]any{"department": "Docs"},
		customURN:            map[string]any{"badgeNumber": "B-7", "clearance": 3, "remote": "true", "hireDate": "2024-02-29T09:00:00Z", "skills": []string{"go", "sql"}},
	}), http.StatusCreated)
	want := map[string]any{"badgeNumber": "B-7", "clearance": json.Number("3"), "remote": true, "hireDate": "2024-02-29T09:00:00Z", "skills": []any{"go", "sql"}}
	if diff := cmp.Diff(want, r.Body[customURN]); diff != "" {
		t.Errorf("custom extension round trip (-want +got):\n%s", diff)
	}
	gotSchemas := map[string]bool{}
	for _, s := range r.Body["schemas"].([]any) {
		gotSchemas[s.(string)] = true
	}
	for _, s := range []string{schema.UserURN, schema.EnterpriseURN, customURN} {
		if !gotSchemas[s] {
			t.Errorf("schemas %v lacks %s", r.Body["schemas"], s)
		}
	}
	described := func(sc map[string]any, name string) bool {
		for _, a := range sc["attributes"].([]any) {
			if a.(map[string]any)["name"] == name {
				return true
			}
		}
		return false
	}
	for k, v := range r.Body {
		switch {
		case k == "schemas" || k == "id" || k == "externalId" || k == "meta":
		case byID[k] != nil:
			for ek := range v.(map[string]any) {
				if !described(byID[k], ek) {
					t.Errorf("%s:%s is returned but not in its schema", k, ek)
				}
			}
		case !described(byID[schema.UserURN], k):
			t.Errorf("%s is returned but not in the User schema", k)
		}
	}
	// A bad extension value is refused, naming the attribute.
	checkError(t, h.do("POST", "/Users", map[string]any{"userName": "bad@example.com", customURN: map[string]any{"clearance": "high"}}), http.StatusBadRequest, "invalidValue")
}

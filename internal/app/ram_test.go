package app_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/config"
)

// TestRAMProfile drives `serve --profile ram` the way ram-scim-oauth.txt
// drives RAM: a token from /v1/token exactly as the seed requests it, then
// the seed's create, query, update and delete at the root paths — and
// everything RAM does not offer is refused.
func TestRAMProfile(t *testing.T) {
	r := start(t, func(c *config.Config) { c.Profile = "ram" })
	id, secret := newServerApp(t, r, "idaas-push", "/acs/scim")
	tok := call(t, "POST", r.url+"/v1/token?grant_type=client_credentials&client_id="+id, "", "Authorization", basicAuth(id, secret))
	if tok.status != 200 || tok.str("scope") != "/acs/scim" || tok.str("token_type") != "Bearer" {
		t.Fatalf("token: %d %s", tok.status, tok.raw)
	}
	// RAM's answer to an hour's token is "3599" (ram-scim-oauth.txt).
	if tok.str("expires_in") != "3599" {
		t.Errorf("expires_in: %s, want \"3599\" as RAM's", tok.raw)
	}
	// As strict as RAM: grant_type and client_id in the query string, no
	// body; each refusal is an OAuth error and issues nothing.
	for _, bad := range []struct{ name, query, body string }{
		{"no client_id", "?grant_type=client_credentials", ""},
		{"no grant_type", "?client_id=" + id, ""},
		{"parameters in a form body", "", "grant_type=client_credentials&client_id=" + id},
		{"client_id in a form body", "?grant_type=client_credentials", "client_id=" + id},
	} {
		hdr := []string{"Authorization", basicAuth(id, secret)}
		if bad.body != "" {
			hdr = append(hdr, "Content-Type", "application/x-www-form-urlencoded")
		}
		res := call(t, "POST", r.url+"/v1/token"+bad.query, bad.body, hdr...)
		if res.status != 400 || res.str("error") != "invalid_request" || res.str("access_token") != "" {
			t.Errorf("%s: %d %s, want 400 invalid_request", bad.name, res.status, res.raw)
		}
	}
	h := append(bearer(tok.str("access_token")), "Content-Type", "application/json")

	// The seed's create request, verbatim.
	res := call(t, "POST", r.url+"/Users", `{
"displayName": "j2gg0s_****",
"schemas": [
"urn:ietf:params:scim:schemas:core:2.0:User"
],
"externalId": "6e74eec4-ddb5-4e74-bd12-5e7b99b2****",
"userName": "j2gg0screatedbyscim_exa"
}`, h...)
	if res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.raw)
	}
	uid := res.str("id")
	if !regexp.MustCompile(`^[1-9][0-9]{15}$`).MatchString(uid) {
		t.Errorf("id %q is not a RAM-style numeric id", uid)
	}
	meta, _ := res.body["meta"].(map[string]any)
	if meta["location"] != r.url+"/Users/"+uid || meta["resourceType"] != "User" || res.header.Get("Location") != r.url+"/Users/"+uid {
		t.Errorf("meta/location: %s %q", res.raw, res.header.Get("Location"))
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	for _, k := range keys(res.body) {
		switch k {
		case "id", "userName", "displayName", "externalId", "schemas", "meta":
		default:
			t.Errorf("RAM has no attribute %q: %s", k, res.raw)
		}
	}

	// Other attributes are not kept; a duplicate is 409, never an update.
	res = call(t, "POST", r.url+"/Users", `{"userName":"grace","emails":[{"value":"g@example.com"}],"active":false,"title":"x"}`, h...)
	if res.status != 201 || strings.Contains(string(res.raw), "emails") || strings.Contains(string(res.raw), "active") {
		t.Errorf("create with extra attributes: %d %s", res.status, res.raw)
	}
	if res = call(t, "POST", r.url+"/Users", `{"userName":"GRACE"}`, h...); res.status != 409 {
		t.Errorf("duplicate userName: %d %s", res.status, res.raw)
	}
	for _, bad := range []string{`{"displayName":"no name"}`, `{"userName":"ada@example.com"}`, `{"userName":"` + strings.Repeat("a", 65) + `"}`, `{"userName":7}`} {
		if res = call(t, "POST", r.url+"/Users", bad, h...); res.status != 400 || res.str("scimType") != "invalidValue" {
			t.Errorf("POST %s: %d %s", bad, res.status, res.raw)
		}
	}

	// Queries: eq and and on id, userName, externalId.
	q := func(filter string) *reply {
		return call(t, "GET", r.url+"/Users?filter="+url.QueryEscape(filter), "", h...)
	}
	res = q(`userName eq "j2gg0screatedbyscim_exa"`)
	if res.status != 200 || res.body["totalResults"] != float64(1) || res.body["itemsPerPage"] != float64(30) || res.body["startIndex"] != float64(1) {
		t.Errorf("query by userName: %d %s", res.status, res.raw)
	}
	if res = q(`externalId eq "6e74eec4-ddb5-4e74-bd12-5e7b99b2****" and id eq "` + uid + `"`); res.body["totalResults"] != float64(1) {
		t.Errorf("query by externalId and id: %d %s", res.status, res.raw)
	}
	for _, f := range []string{`userName co "j2"`, `userName eq "a" or userName eq "b"`, `displayName eq "x"`, `not (userName eq "a")`, `emails[value eq "x"]`, `userName eq`} {
		if res = q(f); res.status != 400 || res.str("scimType") != "invalidFilter" {
			t.Errorf("filter %s: %d %s", f, res.status, res.raw)
		}
	}

	// The seed's update: PUT. PATCH is not offered.
	res = call(t, "PUT", r.url+"/Users/"+uid, `{"displayName":"j2gg0s_new_****","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
"externalId":"6e74eec4-ddb5-4e74-bd12-5e7b99b2****","userName":"j2gg0screatedbyscim_new_exa"}`, h...)
	if res.status != 200 || res.str("userName") != "j2gg0screatedbyscim_new_exa" || res.str("displayName") != "j2gg0s_new_****" {
		t.Errorf("PUT: %d %s", res.status, res.raw)
	}
	if res = call(t, "PATCH", r.url+"/Users/"+uid, `{"Operations":[]}`, h...); res.status != 501 {
		t.Errorf("PATCH: %d %s", res.status, res.raw)
	}
	// No groups, no Bulk, no hub paths.
	for _, p := range []string{"/Groups", "/Bulk", "/ServiceProviderConfig", "/scim/v2/Users"} {
		if res = call(t, "GET", r.url+p, "", h...); res.status != 404 {
			t.Errorf("GET %s: %d %s", p, res.status, res.raw)
		}
	}
	// Discovery: the four attributes.
	res = call(t, "GET", r.url+"/Schemas", "")
	if res.status != 200 || strings.Count(string(res.raw), `"name":`) != 5 { // User + four attributes
		t.Errorf("Schemas: %d %s", res.status, res.raw)
	}

	// A user with an access key cannot be deleted.
	ak := adminCall(t, r, "POST", "/ram/users/"+uid+"/access-keys", "")
	if ak.status != 201 || !strings.HasPrefix(ak.str("accessKeyId"), "LTAI") {
		t.Fatalf("access key: %d %s", ak.status, ak.raw)
	}
	if res = call(t, "DELETE", r.url+"/Users/"+uid, "", h...); res.status != 409 || !strings.Contains(res.str("detail"), "DeleteConflict.User.AccessKey") {
		t.Errorf("DELETE with an access key: %d %s", res.status, res.raw)
	}
	// The access key survives a PUT, and is never shown over SCIM.
	res = call(t, "PUT", r.url+"/Users/"+uid, `{"userName":"j2gg0screatedbyscim_new_exa","displayName":"again"}`, h...)
	if res.status != 200 || strings.Contains(string(res.raw), "accessKeys") {
		t.Errorf("PUT: %d %s", res.status, res.raw)
	}
	if res = call(t, "DELETE", r.url+"/Users/"+uid, "", h...); res.status != 409 {
		t.Errorf("DELETE after PUT: %d %s", res.status, res.raw)
	}
	if res = adminCall(t, r, "DELETE", "/ram/users/"+uid+"/access-keys/"+ak.str("accessKeyId"), ""); res.status != 204 {
		t.Fatalf("delete access key: %d %s", res.status, res.raw)
	}
	if res = call(t, "DELETE", r.url+"/Users/"+uid, "", h...); res.status != 204 {
		t.Errorf("DELETE: %d %s", res.status, res.raw)
	}
	if res = call(t, "GET", r.url+"/Users/"+uid, "", h...); res.status != 404 {
		t.Errorf("GET after DELETE: %d %s", res.status, res.raw)
	}
}

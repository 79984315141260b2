package app_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/config"
)

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r *reply) str(k string) string { s, _ := r.body[k].(string); return s }

// call sends a request; hdr alternates names and values.
func call(t *testing.T, method, u, body string, hdr ...string) *reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func adminCall(t *testing.T, r *running, method, path, body string) *reply {
	t.Helper()
	return call(t, method, r.url+"/admin/v1"+path, body, "Authorization", "Bearer "+r.admin, "Content-Type", "application/json")
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// newServerApp creates, through the admin API, a server application with
// scopes and a client secret, and returns its client id and secret.
func newServerApp(t *testing.T, r *running, name string, scopes ...string) (string, string) {
	t.Helper()
	sc, _ := json.Marshal(scopes)
	res := adminCall(t, r, "POST", "/apps", `{"name":"`+name+`","kind":"server-app","scopes":`+string(sc)+`}`)
	if res.status != 201 {
		t.Fatalf("create app: %d %s", res.status, res.raw)
	}
	id := res.str("id")
	res = adminCall(t, r, "POST", "/apps/"+name+"/secrets", "")
	if res.status != 201 || !strings.HasPrefix(res.str("secret"), "gate_cs_") {
		t.Fatalf("create secret: %d %s", res.status, res.raw)
	}
	return id, res.str("secret")
}

// TestOAuthRAMShape: the token request of ram-scim-oauth.txt, with the
// client_id in the query string and the credentials in Basic, answered in
// RAM's shape; the access token then works on SCIM within its scopes.
func TestOAuthRAMShape(t *testing.T) {
	r := start(t, nil)
	id, secret := newServerApp(t, r, "ram-sync", "/acs/scim")
	res := call(t, "POST", r.url+"/v1/token?grant_type=client_credentials&client_id="+id, "", "Authorization", basicAuth(id, secret))
	if res.status != 200 {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}
	for _, k := range []string{"scope", "request_id", "access_token", "token_type", "expires_in"} {
		if _, ok := res.body[k]; !ok {
			t.Errorf("response lacks %q: %s", k, res.raw)
		}
	}
	if res.str("token_type") != "Bearer" || res.str("expires_in") != "3599" || res.str("scope") != "/acs/scim" ||
		res.str("request_id") != res.header.Get("X-Request-Id") {
		t.Errorf("response: %s", res.raw)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	tok := res.str("access_token")
	if got := call(t, "POST", r.url+"/scim/v2/Users", `{"userName":"ram@example.com"}`, append(bearer(tok), "Content-Type", "application/scim+json")...); got.status != 201 {
		t.Errorf("create with the access token: %d %s", got.status, got.raw)
	}
	// Without client_id in the query (as the seed's unquoted curl sends it:
	// the shell cuts the URL at '&'), the Basic credentials name the client.
	res = call(t, "POST", r.url+"/v1/token?grant_type=client_credentials", "", "Authorization", basicAuth(id, secret))
	if res.status != 200 {
		t.Errorf("token without client_id: %d %s", res.status, res.raw)
	}
	// Errors carry the request id too.
	res = call(t, "POST", r.url+"/v1/token?grant_type=client_credentials", "", "Authorization", basicAuth(id, secret+"x"))
	if res.status != 401 || res.str("error") != "invalid_client" || res.str("request_id") == "" || res.header.Get("WWW-Authenticate") == "" {
		t.Errorf("wrong secret: %d %s %v", res.status, res.raw, res.header)
	}
}

// TestOAuthScopes: an access token with scim:users:read reads but cannot
// write, and cannot touch groups.
func TestOAuthScopes(t *testing.T) {
	r := start(t, nil)
	id, secret := newServerApp(t, r, "reader", "scim:users:read", "scim:users:write", "scim:groups:read")
	res := call(t, "POST", r.url+"/oauth2/token", "grant_type=client_credentials&scope=scim:users:read",
		"Authorization", basicAuth(id, secret), "Content-Type", "application/x-www-form-urlencoded")
	if res.status != 200 || res.body["expires_in"] != float64(3600) || res.str("scope") != "scim:users:read" {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}
	tok := res.str("access_token")
	if got := call(t, "GET", r.url+"/scim/v2/Users", "", bearer(tok)...); got.status != 200 {
		t.Errorf("read: %d %s", got.status, got.raw)
	}
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/Users", `{"userName":"nope@example.com"}`},
		{"GET", "/Groups", ""},
		{"POST", "/Groups", `{"displayName":"nope"}`},
	} {
		got := call(t, w.method, r.url+"/scim/v2"+w.path, w.body, append(bearer(tok), "Content-Type", "application/scim+json")...)
		if got.status != 403 || got.str("status") != "403" || !strings.Contains(got.str("detail"), "scope") ||
			!strings.Contains(got.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("%s %s: %d %s %v", w.method, w.path, got.status, got.raw, got.header)
		}
	}
	// Bulk checks each operation.
	got := call(t, "POST", r.url+"/scim/v2/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"bulk@example.com"}}]}`,
		append(bearer(tok), "Content-Type", "application/scim+json")...)
	if got.status != 200 || !strings.Contains(string(got.raw), `"status":"403"`) {
		t.Errorf("bulk: %d %s", got.status, got.raw)
	}
	// Nothing was written.
	list := call(t, "GET", r.url+"/scim/v2/Users", "", bearer(tok)...)
	if list.body["totalResults"] != float64(0) {
		t.Errorf("refused writes wrote: %s", list.raw)
	}
	// Scopes beyond the application's are refused at the token endpoint.
	res = call(t, "POST", r.url+"/oauth2/token", "grant_type=client_credentials&scope=scim:groups:write",
		"Authorization", basicAuth(id, secret), "Content-Type", "application/x-www-form-urlencoded")
	if res.status != 400 || res.str("error") != "invalid_scope" {
		t.Errorf("scope beyond the application's: %d %s", res.status, res.raw)
	}
}

// TestOAuthErrors: RFC 6749 §5.2.
func TestOAuthErrors(t *testing.T) {
	r := start(t, nil)
	id, secret := newServerApp(t, r, "client", "/acs/scim")
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name   string
		method string
		body   string
		hdr    []string
		status int
		code   string
	}{
		{"no grant_type", "POST", "client_id=" + id + "&client_secret=" + secret, []string{"Content-Type", form}, 400, "invalid_request"},
		{"other grant", "POST", "grant_type=password&username=a&password=b", []string{"Authorization", basicAuth(id, secret), "Content-Type", form}, 400, "unsupported_grant_type"},
		{"unknown scope", "POST", "grant_type=client_credentials&scope=everything", []string{"Authorization", basicAuth(id, secret), "Content-Type", form}, 400, "invalid_scope"},
		{"repeated parameter", "POST", "grant_type=client_credentials&grant_type=client_credentials", []string{"Authorization", basicAuth(id, secret), "Content-Type", form}, 400, "invalid_request"},
		{"two auth methods", "POST", "grant_type=client_credentials&client_secret=" + secret, []string{"Authorization", basicAuth(id, secret), "Content-Type", form}, 400, "invalid_request"},
		{"no credentials", "POST", "grant_type=client_credentials", []string{"Content-Type", form}, 401, "invalid_client"},
		{"wrong secret", "POST", "grant_type=client_credentials", []string{"Authorization", basicAuth(id, "gate_cs_wrong"), "Content-Type", form}, 401, "invalid_client"},
		{"unknown client", "POST", "grant_type=client_credentials", []string{"Authorization", basicAuth("nobody", secret), "Content-Type", form}, 401, "invalid_client"},
		{"bad basic", "POST", "grant_type=client_credentials", []string{"Authorization", "Basic !!!", "Content-Type", form}, 401, "invalid_client"},
		{"json body", "POST", `{"grant_type":"client_credentials"}`, []string{"Authorization", basicAuth(id, secret), "Content-Type", "application/json"}, 400, "invalid_request"},
		{"GET", "GET", "", []string{"Authorization", basicAuth(id, secret)}, 405, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := call(t, tc.method, r.url+"/oauth2/token", tc.body, tc.hdr...)
			if res.status != tc.status || res.str("error") != tc.code || res.str("error_description") == "" {
				t.Fatalf("%d %s, want %d %s", res.status, res.raw, tc.status, tc.code)
			}
			if tc.status == 401 && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
			}
			if res.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", res.header.Get("Cache-Control"))
			}
		})
	}
	// client_secret_post works.
	res := call(t, "POST", r.url+"/oauth2/token", "grant_type=client_credentials&client_id="+id+"&client_secret="+url.QueryEscape(secret), "Content-Type", form)
	if res.status != 200 {
		t.Errorf("client_secret_post: %d %s", res.status, res.raw)
	}
	// A secret in the URL is refused.
	res = call(t, "POST", r.url+"/v1/token?grant_type=client_credentials&client_id="+id+"&client_secret="+secret, "")
	if res.status != 400 || res.str("error") != "invalid_request" {
		t.Errorf("secret in the URL: %d %s", res.status, res.raw)
	}
	// Discovery: metadata and keys.
	md := call(t, "GET", r.url+"/.well-known/oauth-authorization-server", "")
	if md.status != 200 || md.str("token_endpoint") != r.url+"/oauth2/token" || md.str("jwks_uri") != r.url+"/oauth2/jwks" {
		t.Errorf("metadata: %d %s", md.status, md.raw)
	}
	for _, p := range []string{"/oauth2/jwks", "/.well-known/jwks.json"} {
		ks := call(t, "GET", r.url+p, "")
		keys, _ := ks.body["keys"].([]any)
		if ks.status != 200 || len(keys) == 0 || strings.Contains(string(ks.raw), `"d"`) {
			t.Errorf("%s: %d %s", p, ks.status, ks.raw)
		}
	}
}

// TestAdminAPI drives the admin API: authentication, applications,
// credentials, statistics, organizations, audit.
func TestAdminAPI(t *testing.T) {
	r := start(t, nil)
	// Authentication and scope.
	if res := call(t, "GET", r.url+"/admin/v1/apps", ""); res.status != 401 || res.header.Get("Content-Type") != "application/problem+json" || res.header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %s", res.status, res.raw)
	}
	if res := call(t, "GET", r.url+"/admin/v1/apps", "", bearer(r.token)...); res.status != 403 {
		t.Errorf("SCIM token on the admin API: %d %s", res.status, res.raw)
	}
	if res := call(t, "GET", r.url+"/admin/v1/openapi.json", ""); res.status != 200 || res.str("openapi") != "3.1.0" {
		t.Errorf("openapi: %d", res.status)
	}
	// An application with a synchronization scope.
	org := adminCall(t, r, "POST", "/orgs", `{"name":"Engineering"}`)
	if org.status != 201 {
		t.Fatalf("org: %d %s", org.status, org.raw)
	}
	orgID := org.str("id")
	res := adminCall(t, r, "POST", "/apps", `{"name":"okta","scopes":["scim:users:read","scim:users:write"],"targetOrganizationId":"`+orgID+`","syncScope":{"organizations":["`+orgID+`"]}}`)
	if res.status != 201 || res.str("mode") != "idaas" || res.str("targetOrganizationId") != orgID {
		t.Fatalf("create app: %d %s", res.status, res.raw)
	}
	for _, bad := range []string{`{"name":"x","scopes":["everything"]}`, `{"name":"x","mode":"other"}`, `{"name":"x","unknown":1}`, `{"name":""}`, `not json`} {
		if res := adminCall(t, r, "POST", "/apps", bad); res.status != 400 || res.str("detail") == "" {
			t.Errorf("%s: %d %s", bad, res.status, res.raw)
		}
	}
	if res := adminCall(t, r, "POST", "/apps", `{"name":"okta"}`); res.status != 409 {
		t.Errorf("duplicate: %d %s", res.status, res.raw)
	}
	tok := adminCall(t, r, "POST", "/apps/okta/tokens", `{"validity":"90d"}`)
	if tok.status != 201 || !strings.HasPrefix(tok.str("token"), "gate_tk_") {
		t.Fatalf("token: %d %s", tok.status, tok.raw)
	}
	value := tok.str("token")
	// The value is never shown again.
	if res := adminCall(t, r, "GET", "/apps/okta", ""); strings.Contains(string(res.raw), value) || strings.Contains(string(res.raw), value[12:]) {
		t.Errorf("token value shown again: %s", res.raw)
	}
	// Traffic: a user inside the scope, one outside (created by another
	// client), and failures.
	scim := func(tok, method, path, body string) *reply {
		return call(t, method, r.url+"/scim/v2"+path, body, append(bearer(tok), "Content-Type", "application/scim+json")...)
	}
	in := scim(value, "POST", "/Users", `{"userName":"inside@example.com"}`)
	if in.status != 201 || !strings.Contains(string(in.raw), `"organizationId":"`+orgID+`"`) {
		t.Fatalf("create inside: %d %s", in.status, in.raw)
	}
	out := scim(r.token, "POST", "/Users", `{"userName":"outside@example.com"}`)
	if out.status != 201 {
		t.Fatalf("create outside: %d %s", out.status, out.raw)
	}
	if res := scim(value, "GET", "/Users/"+out.str("id"), ""); res.status != 404 {
		t.Errorf("out-of-scope user visible: %d", res.status)
	}
	list := scim(value, "GET", "/Users?filter="+url.QueryEscape(`userName eq "outside@example.com"`), "")
	if list.body["totalResults"] != float64(0) {
		t.Errorf("out-of-scope user found by filter: %s", list.raw)
	}
	if res := scim(value, "GET", "/Groups", ""); res.status != 403 {
		t.Errorf("groups without scope: %d", res.status)
	}
	if err := r.app.Auth.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	show := adminCall(t, r, "GET", "/apps/okta", "")
	stats, _ := show.body["stats"].(map[string]any)
	if show.status != 200 || stats == nil || stats["requests"] != float64(4) || stats["failures"] != float64(2) {
		t.Fatalf("stats: %s", show.raw)
	}
	by, _ := stats["failuresByReason"].(map[string]any)
	if by["404"] != float64(1) || by["403"] != float64(1) || !strings.Contains(stats["lastError"].(string), "403 on GET /scim/v2/Groups") {
		t.Errorf("failures by reason: %s", show.raw)
	}
	// Token rules through the API.
	tokID := tok.str("id")
	if res := adminCall(t, r, "PATCH", "/apps/okta/tokens/"+tokID, `{"enabled":false}`); res.status != 409 || !strings.Contains(res.str("detail"), "last enabled token") {
		t.Errorf("disable last token: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "DELETE", "/apps/okta/tokens/"+tokID, ""); res.status != 409 {
		t.Errorf("delete enabled token: %d %s", res.status, res.raw)
	}
	adminCall(t, r, "POST", "/apps/okta/tokens", "")
	if res := adminCall(t, r, "POST", "/apps/okta/tokens", ""); res.status != 409 {
		t.Errorf("third token: %d %s", res.status, res.raw)
	}
	// Disabling the application cuts its tokens off at once.
	if res := adminCall(t, r, "PATCH", "/apps/okta", `{"enabled":false}`); res.status != 200 || res.body["enabled"] != false {
		t.Fatalf("disable app: %d %s", res.status, res.raw)
	}
	if res := scim(value, "GET", "/Users", ""); res.status != 401 {
		t.Errorf("disabled application: %d", res.status)
	}
	// The audit log: filtered, and intact.
	aud := adminCall(t, r, "GET", "/audit?action=token.&actor=cli", "")
	items, _ := aud.body["items"].([]any)
	if aud.status != 200 || len(items) != 1 { // the e2e client's token, made by start
		t.Errorf("audit filter by actor cli: %d %s", aud.status, aud.raw)
	}
	aud = adminCall(t, r, "GET", "/audit?action=token.&actor=admin", "")
	items, _ = aud.body["items"].([]any)
	if len(items) != 2 || strings.Contains(string(aud.raw), value) {
		t.Errorf("audit of token changes: %s", aud.raw)
	}
	if res := adminCall(t, r, "GET", "/audit?since=yesterday", ""); res.status != 400 {
		t.Errorf("bad since: %d", res.status)
	}
	ver := adminCall(t, r, "POST", "/audit/verify", "")
	if ver.status != 200 || ver.body["ok"] != true {
		t.Errorf("verify: %s", ver.raw)
	}
	// Unknown routes are problems too.
	if res := adminCall(t, r, "GET", "/nothing", ""); res.status != 404 || res.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown route: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "PUT", "/apps", ""); res.status != 405 || res.header.Get("Allow") == "" {
		t.Errorf("wrong method: %d %v", res.status, res.header)
	}
}

// TestRotationWithoutDowntime: while a client keeps calling, its token is
// rotated the documented way — add a second token, switch the client,
// disable then delete the first — and not one request fails.
func TestRotationWithoutDowntime(t *testing.T) {
	r := start(t, nil)
	adminCall(t, r, "POST", "/apps", `{"name":"idaas"}`)
	first := adminCall(t, r, "POST", "/apps/idaas/tokens", "")
	var current atomic.Value
	current.Store(first.str("token"))
	var failures, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// switched[i] is set once worker i has completed a request made with
	// the second token: from then on it no longer uses the first.
	var switched [2]atomic.Bool
	var secondToken atomic.Value
	secondToken.Store("")
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok := current.Load().(string)
				req, _ := http.NewRequest("GET", r.url+"/scim/v2/Users", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				requests.Add(1)
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
					if err == nil {
						b, _ := io.ReadAll(resp.Body)
						t.Logf("failed: %d %s", resp.StatusCode, b)
					} else {
						t.Logf("failed: %v", err)
					}
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if tok == secondToken.Load().(string) {
					switched[i].Store(true)
				}
			}
		}()
	}
	second := adminCall(t, r, "POST", "/apps/idaas/tokens", `{"validity":"1y"}`)
	if second.status != 201 {
		t.Fatal(second.status)
	}
	secondToken.Store(second.str("token"))
	current.Store(second.str("token")) // the client switches
	// Requests made with the first token may still be in flight: wait
	// until every worker has finished one with the second.
	for !switched[0].Load() || !switched[1].Load() {
		runtime.Gosched()
	}
	if res := adminCall(t, r, "PATCH", "/apps/idaas/tokens/"+first.str("id"), `{"enabled":false}`); res.status != 200 {
		t.Fatalf("disable: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "DELETE", "/apps/idaas/tokens/"+first.str("id"), ""); res.status != 204 {
		t.Fatalf("delete: %d %s", res.status, res.raw)
	}
	for n := requests.Load(); requests.Load() < n+20; {
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed during rotation", failures.Load(), requests.Load())
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", bearer(first.str("token"))...); res.status != 401 {
		t.Errorf("the deleted token: %d", res.status)
	}
}

// TestThrottling: repeated failures from one address get 429 with
// Retry-After; a correct client at that address keeps working.
func TestThrottling(t *testing.T) {
	r := start(t, func(c *config.Config) { c.Auth.FailureLimit = 5 })
	var last *reply
	for range 10 {
		last = call(t, "GET", r.url+"/scim/v2/Users", "", bearer("gate_tk_guessguessguessguessguessguessgu")...)
		if last.status == 429 {
			break
		}
	}
	if last.status != 429 || last.header.Get("Retry-After") == "" || last.str("status") != "429" {
		t.Fatalf("no throttling: %d %v %s", last.status, last.header, last.raw)
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", bearer(r.token)...); res.status != 200 {
		t.Errorf("valid token refused while the address is throttled: %d", res.status)
	}
	// The token endpoint too.
	for range 10 {
		last = call(t, "POST", r.url+"/oauth2/token", "grant_type=client_credentials", "Authorization", basicAuth("nobody", "wrong"),
			"Content-Type", "application/x-www-form-urlencoded")
		if last.status == 429 {
			break
		}
	}
	if last.status != 429 || last.header.Get("Retry-After") == "" {
		t.Errorf("token endpoint not throttled: %d %s", last.status, last.raw)
	}
}

// TestMetrics: /metrics needs the metrics scope; requests are counted by
// route, method and code, a method the client makes up as "other" (a
// label per made-up name would grow the series without bound).
func TestMetrics(t *testing.T) {
	r := start(t, nil)
	call(t, "GET", r.url+"/scim/v2/Users", "", bearer(r.token)...)
	call(t, "GET", r.url+"/scim/v2/Users", "", bearer(r.token)...)
	for _, m := range []string{"FOO", "BAR123", "get"} {
		if res := call(t, m, r.url+"/scim/v2/Users", "", bearer(r.token)...); res.status < 400 {
			t.Errorf("%s: %d", m, res.status)
		}
	}
	if res := call(t, "GET", r.url+"/metrics", ""); res.status != 401 {
		t.Errorf("anonymous: %d", res.status)
	}
	if res := call(t, "GET", r.url+"/metrics", "", bearer(r.token)...); res.status != 403 {
		t.Errorf("SCIM token: %d", res.status)
	}
	res := call(t, "GET", r.url+"/metrics", "", bearer(r.admin)...)
	if res.status != 200 || !strings.Contains(string(res.raw), `gatehouse_http_requests_total{code="200",method="GET",route="GET /scim/v2/Users"} 2`+"\n") ||
		!strings.Contains(string(res.raw), `gatehouse_http_request_duration_seconds_count{method="GET",route="GET /scim/v2/Users"} 2`+"\n") ||
		!strings.Contains(string(res.raw), "gatehouse_app_requests_total") {
		t.Errorf("metrics: %d %.2000s", res.status, res.raw)
	}
	other := regexp.MustCompile(`gatehouse_http_requests_total\{code="[0-9]+",method="other",route="[^"]*"\} 3\n`)
	if !other.Match(res.raw) || regexp.MustCompile(`method="(FOO|BAR123|get)"`).Match(res.raw) {
		t.Errorf("made-up methods: %s", regexp.MustCompile(`(?m)^gatehouse_http_requests_total.*$`).FindAll(res.raw, -1))
	}
	pub := start(t, func(c *config.Config) { c.Metrics.Public = true })
	if res := call(t, "GET", pub.url+"/metrics", ""); res.status != 200 {
		t.Errorf("public metrics: %d", res.status)
	}
}

// TestAdminAPIExtraValues: the extra-values option of an application in
// idaas mode, set and changed through the admin API, decides whether the
// running server refuses or drops an IdP's extra phone numbers.
func TestAdminAPIExtraValues(t *testing.T) {
	r := start(t, nil)
	res := adminCall(t, r, "POST", "/apps", `{"name":"entra","extraValues":"drop"}`)
	if res.status != 201 || res.str("mode") != "idaas" || res.str("extraValues") != "drop" {
		t.Fatalf("create: %d %s", res.status, res.raw)
	}
	for _, bad := range []string{`{"name":"x","mode":"rfc","extraValues":"drop"}`, `{"name":"x","extraValues":"keep"}`} {
		if res := adminCall(t, r, "POST", "/apps", bad); res.status != 400 || res.str("field") != "extraValues" {
			t.Errorf("%s: %d %s", bad, res.status, res.raw)
		}
	}
	if res := adminCall(t, r, "PATCH", "/apps/entra", `{"mode":"rfc"}`); res.status != 400 || res.str("field") != "extraValues" {
		t.Errorf("rfc mode while dropping: %d %s", res.status, res.raw)
	}
	tok := adminCall(t, r, "POST", "/apps/entra/tokens", `{}`)
	if tok.status != 201 {
		t.Fatalf("token: %d %s", tok.status, tok.raw)
	}
	create := func(userName string) *reply {
		return call(t, "POST", r.url+"/scim/v2/Users", `{"userName":"`+userName+`","phoneNumbers":[
			{"type":"work","value":"+1 425 555 0100"},{"type":"mobile","value":"+1 425 555 0101"},{"type":"fax","value":"+1 425 555 0102"}]}`,
			append(bearer(tok.str("token")), "Content-Type", "application/scim+json")...)
	}
	if res := create("dropped@example.com"); res.status != 201 || strings.Contains(string(res.raw), "0101") || !strings.Contains(string(res.raw), "+1 425 555 0100") {
		t.Errorf("dropping: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "PATCH", "/apps/entra", `{"extraValues":"refuse"}`); res.status != 200 || res.str("extraValues") != "refuse" {
		t.Fatalf("refuse: %d %s", res.status, res.raw)
	}
	if res := create("refused@example.com"); res.status != 400 || !strings.Contains(res.str("detail"), `phoneNumbers[type eq "mobile"].value`) {
		t.Errorf("refusing: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "PATCH", "/apps/entra", `{"mode":"rfc"}`); res.status != 200 || res.str("mode") != "rfc" || res.body["extraValues"] != nil {
		t.Errorf("rfc mode: %d %s", res.status, res.raw)
	}
}

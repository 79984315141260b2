package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// TestOIDCEndToEnd: the real server, the real login page: a person of
// an allowed group signs in through /oidc/authorize, the client redeems
// the code at /oauth2/token; the OpenID Connect access token works at
// userinfo and is refused by the SCIM and admin APIs (its audience is the
// client, not Gatehouse); the discovery document and the RFC 8414 metadata
// name the same issuer, token endpoint and keys; the token is audited;
// RP-initiated logout ends the session.
func TestOIDCEndToEnd(t *testing.T) {
	r := start(t, devLogin)
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	id := r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering")
	groups, err := r.app.Directory.Groups(ctx, directory.Profile{}, directory.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	app, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "wiki", Kind: auth.KindOIDCClient,
		Access: auth.Access{AllowedGroups: []string{groups.Items[0].ID}},
		SSO:    json.RawMessage(`{"redirectUris":["https://wiki.example/cb"],"postLogoutRedirectUris":["https://wiki.example/bye"],"scopes":["email","groups"],"initiateLoginUri":"https://wiki.example/login"}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := r.app.Auth.CreateSecret(ctx, op, app.ID)
	if err != nil {
		t.Fatal(err)
	}

	// Discovery and RFC 8414 metadata agree.
	disc := call(t, "GET", r.url+oidc.DiscoveryPath, "")
	md := call(t, "GET", r.url+"/.well-known/oauth-authorization-server", "")
	for _, k := range []string{"issuer", "token_endpoint", "jwks_uri", "authorization_endpoint", "userinfo_endpoint", "end_session_endpoint"} {
		if disc.str(k) == "" || disc.str(k) != md.str(k) {
			t.Errorf("%s: discovery %q, RFC 8414 %q", k, disc.str(k), md.str(k))
		}
	}
	if disc.str("issuer") != r.url || disc.str("token_endpoint") != r.url+"/oauth2/token" {
		t.Errorf("discovery: %s", disc.raw)
	}

	// The browser: authorize → login page → back → code.
	b := newBrowser(t, r.url)
	verifier := "v-" + strings.Repeat("0123456789", 5)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {app.ID}, "redirect_uri": {"https://wiki.example/cb"}, "response_type": {"code"},
		"scope": {"openid email groups"}, "state": {"s-1"}, "nonce": {"n-1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	page, _ := b.follow(oidc.AuthorizePath + "?" + q.Encode())
	if page.status != 200 || !strings.Contains(page.body, `name="password"`) {
		t.Fatalf("authorize without a session: %d %s", page.status, page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); csp != web.CSP {
		t.Errorf("the login page's policy: %s", csp)
	}
	f := fields(page.body)
	f.Set("username", "ada@example.com")
	f.Set("password", "Correct-Horse-9")
	// The login ends on the "Signed in" page, which goes on by a
	// navigation of its own (Chromium applies the page's form-action
	// 'self' to every redirect after a form: TestBrowserOIDCRoundTrip).
	in := b.do("POST", "/login", f)
	resume, ok := strings.CutPrefix(in.header.Get("Refresh"), "0; url=")
	if in.status != http.StatusOK || !ok || !strings.HasPrefix(resume, oidc.ResumePath+"?id=") ||
		!strings.Contains(in.body, `href="`+html.EscapeString(resume)+`"`) || in.header.Get("Content-Security-Policy") != web.CSP {
		t.Fatalf("login: %d %v %s", in.status, in.header, in.body)
	}
	back := b.do("GET", resume, nil)
	loc, _ := url.Parse(back.header.Get("Location"))
	if back.status != http.StatusSeeOther || loc == nil || loc.Host != "wiki.example" || loc.Query().Get("state") != "s-1" || loc.Query().Get("iss") != r.url {
		t.Fatalf("resume: %d %q %s", back.status, back.header.Get("Location"), back.body)
	}

	// The user page links to the application's own sign-in.
	if home := b.do("GET", "/", nil); home.status != 200 || !strings.Contains(home.body, `https://wiki.example/login`) {
		t.Errorf("user page: %d, no link to the application: %s", home.status, home.body)
	}

	// The code at the token endpoint.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {"https://wiki.example/cb"},
		"code_verifier": {verifier}}
	req, _ := http.NewRequest("POST", r.url+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(app.ID, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	access, _ := tok["access_token"].(string)
	idToken, _ := tok["id_token"].(string)
	if res.StatusCode != 200 || access == "" || idToken == "" {
		t.Fatalf("token: %d %v", res.StatusCode, tok)
	}

	// userinfo yes; SCIM and admin no.
	if st, body := get(t, http.DefaultClient, r.url+oidc.UserInfoPath, access); st != 200 || !strings.Contains(body, `"groups":["engineering"]`) ||
		!strings.Contains(body, `"email":"ada@example.com"`) {
		t.Errorf("userinfo: %d %s", st, body)
	}
	for _, path := range []string{"/scim/v2/Users", "/admin/v1/apps", "/metrics"} {
		if st, body := get(t, http.DefaultClient, r.url+path, access); st != http.StatusUnauthorized {
			t.Errorf("the OpenID Connect access token at %s: %d %s", path, st, body)
		}
	}

	// Audited.
	found := false
	for _, a := range r.auditActions(t, id) {
		found = found || a == "sso.oidc.token"
	}
	if !found {
		t.Errorf("no sso.oidc.token audit record: %v", r.auditActions(t, id))
	}

	// RP-initiated logout with the ID token: back to the registered URI,
	// signed out.
	out := b.do("GET", oidc.LogoutPath+"?"+url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://wiki.example/bye"}, "state": {"z"}}.Encode(), nil)
	if out.status != http.StatusSeeOther || out.header.Get("Location") != "https://wiki.example/bye?state=z" {
		t.Fatalf("logout: %d %v %s", out.status, out.header, out.body)
	}
	if home := b.do("GET", "/", nil); home.status != http.StatusSeeOther {
		t.Errorf("still signed in after RP-initiated logout: %d", home.status)
	}
	if st, _ := get(t, http.DefaultClient, r.url+oidc.UserInfoPath, access); st != http.StatusUnauthorized {
		t.Errorf("userinfo after logout: %d", st)
	}
}

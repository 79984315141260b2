package oidc_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

const wikiSettings = `{"redirectUris":["https://wiki.example/cb"],"postLogoutRedirectUris":["https://wiki.example/bye"],
	"scopes":["profile","email","groups","offline_access"]}`

// TestCodeFlow: a confidential client gets a code after the login page,
// exchanges it with PKCE for an RFC 9068 access token, an ID token with
// auth_time, acr, amr, nonce, at_hash and the person's claims (groups
// limited to the application's allowed groups), and a refresh token;
// userinfo answers with the same claims; the refresh token rotates.
func TestCodeFlow(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	eng := h.group("engineering", ann.ID)
	h.group("sales", ann.ID)
	wiki := h.client("wiki", wikiSettings, auth.Access{AllowedGroups: []string{eng.ID}})
	h.sessions.next = ann.ID

	b := h.browser()
	verifier, challenge := pkce()
	q := wiki.authParams("openid profile email groups offline_access unknown_scope", challenge)
	cb := callback(t, b.authorize(q), wiki.redirect)
	if cb.Get("state") != q.Get("state") || cb.Get("iss") != h.url || cb.Get("code") == "" || cb.Get("error") != "" {
		t.Fatalf("callback = %v", cb)
	}
	if h.sessions.logins != 1 {
		t.Errorf("login page shown %d times, want 1", h.sessions.logins)
	}
	tr := h.exchange(wiki, cb.Get("code"), verifier)
	if tr.status != http.StatusOK {
		t.Fatalf("exchange: %d %v", tr.status, tr.body)
	}
	if tr.str("token_type") != "Bearer" || tr.str("refresh_token") == "" || tr.body["expires_in"] != float64(600) ||
		tr.str("scope") != "openid profile email groups offline_access" {
		t.Errorf("token response = %v", tr.body)
	}

	at, _ := h.verify(tr.str("access_token"), "at+jwt")
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "auth_time", "acr", "gid"} {
		if at[k] == nil {
			t.Errorf("access token lacks %s: %v", k, at)
		}
	}
	if at["sub"] != ann.ID || at["client_id"] != wiki.id || !cmp.Equal(at["aud"], []any{wiki.id}) || at["iss"] != h.url {
		t.Errorf("access token claims = %v", at)
	}
	if _, personal := at["email"]; personal {
		t.Error("the access token carries personal claims")
	}

	// ID tokens are RS256 by default (OIDC Core §15.1, Registration §2);
	// access tokens ES256.
	id, idh := h.verify(tr.str("id_token"), "JWT")
	if _, ath := h.verify(tr.str("access_token"), "at+jwt"); idh.Algorithm != "RS256" || ath.Algorithm != "ES256" {
		t.Errorf("id_token alg %s, access token alg %s; want RS256, ES256", idh.Algorithm, ath.Algorithm)
	}
	want := map[string]any{
		"iss": h.url, "sub": ann.ID, "aud": []any{wiki.id}, "azp": wiki.id, "nonce": q.Get("nonce"),
		"acr": login.ACR1FA, "amr": []any{"pwd"},
		"name": "Person ann@example.com", "given_name": "Given", "family_name": "Family", "preferred_username": "ann@example.com",
		"email": "ann@example.com", "email_verified": false, "groups": []any{"engineering"},
	}
	for k, v := range want {
		if !cmp.Equal(id[k], v) {
			t.Errorf("id_token %s = %v, want %v", k, id[k], v)
		}
	}
	for _, k := range []string{"exp", "iat", "auth_time", "at_hash", "updated_at"} {
		if id[k] == nil {
			t.Errorf("id_token lacks %s", k)
		}
	}

	status, ui := h.userinfo(tr.str("access_token"))
	if status != http.StatusOK || ui["sub"] != ann.ID || ui["email"] != "ann@example.com" || !cmp.Equal(ui["groups"], []any{"engineering"}) {
		t.Errorf("userinfo: %d %v", status, ui)
	}
	// Two Authorization headers are ambiguous: refused (RFC 6750 §3.1).
	req, _ := http.NewRequest(http.MethodGet, h.url+oidc.UserInfoPath, nil)
	req.Header["Authorization"] = []string{"Bearer " + tr.str("access_token"), "Bearer other"}
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("userinfo with two Authorization headers: %v %v, want 400", res, err)
	} else {
		res.Body.Close()
	}
	// At the token endpoint too: which client would it be?
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}}
	req, _ = http.NewRequest(http.MethodPost, h.url+oauth.TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(wiki.id), url.QueryEscape(wiki.secret))
	req.Header.Add("Authorization", "Basic b3RoZXI6c2VjcmV0")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("token request with two Authorization headers: %v %v, want 400", res, err)
	} else {
		res.Body.Close()
	}

	// Rotation: the new refresh token works once, with a narrower scope.
	r1 := h.token(wiki, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.str("refresh_token")}, "scope": {"openid email"}})
	if r1.status != http.StatusOK || r1.str("refresh_token") == "" || r1.str("refresh_token") == tr.str("refresh_token") || r1.str("scope") != "openid email" {
		t.Fatalf("refresh: %d %v", r1.status, r1.body)
	}
	id2, _ := h.verify(r1.str("id_token"), "JWT")
	if id2["auth_time"] != id["auth_time"] || id2["nonce"] != nil || id2["sub"] != ann.ID {
		t.Errorf("refreshed id_token: %v", id2)
	}
	if _, ui := h.userinfo(r1.str("access_token")); ui["email"] == nil || ui["name"] != nil {
		t.Errorf("userinfo of the narrowed token: %v", ui)
	}
	// A scope that was not granted is refused.
	if r := h.token(wiki, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r1.str("refresh_token")}, "scope": {"openid admin"}}); r.str("error") != "invalid_scope" {
		t.Errorf("wider scope: %d %v", r.status, r.body)
	}
}

// TestIDTokenES256: a client registered with idTokenSignedResponseAlg
// ES256 gets ES256 ID tokens, whose id_token_hint the logout endpoint
// accepts like an RS256 one.
func TestIDTokenES256(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	es := h.client("es", `{"redirectUris":["https://es.example/cb"],"postLogoutRedirectUris":["https://es.example/bye"],"idTokenSignedResponseAlg":"ES256"}`,
		auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	b := h.browser()
	verifier, challenge := pkce()
	cb := callback(t, b.authorize(es.authParams("openid", challenge)), es.redirect)
	tr := h.exchange(es, cb.Get("code"), verifier)
	if tr.status != http.StatusOK {
		t.Fatalf("exchange: %d %v", tr.status, tr.body)
	}
	id, hdr := h.verify(tr.str("id_token"), "JWT")
	if hdr.Algorithm != "ES256" || id["sub"] != ann.ID {
		t.Errorf("id_token alg %s, sub %v; want ES256, %s", hdr.Algorithm, id["sub"], ann.ID)
	}
}

// TestRefreshReuse: presenting a rotated refresh token again revokes the
// whole grant: the thief's and the client's tokens stop working, access
// tokens included (at userinfo), and the event is audited.
func TestRefreshReuse(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	tr := flow(t, h, wiki, "openid offline_access")
	r1 := h.refresh(wiki, tr.str("refresh_token"))
	if r1.status != http.StatusOK {
		t.Fatalf("first refresh: %d %v", r1.status, r1.body)
	}
	reused := h.refresh(wiki, tr.str("refresh_token"))
	if reused.status != http.StatusBadRequest || reused.str("error") != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v, want invalid_grant", reused.status, reused.body)
	}
	if r := h.refresh(wiki, r1.str("refresh_token")); r.str("error") != "invalid_grant" {
		t.Errorf("the rotated token still works after reuse: %d %v", r.status, r.body)
	}
	if status, _ := h.userinfo(r1.str("access_token")); status != http.StatusUnauthorized {
		t.Errorf("userinfo with an access token of the revoked grant: %d", status)
	}
	entries, err := h.store.Audit(h.ctx, directory.AuditQuery{Action: "sso.oidc.refresh_reused"})
	if err != nil || len(entries) != 1 || entries[0].ResourceID != ann.ID {
		t.Errorf("audit of the reuse: %v %v", entries, err)
	}
}

// TestCodeReuse: a code is redeemed once; the second redemption fails
// with invalid_grant and revokes what the first one got.
func TestCodeReuse(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	verifier, challenge := pkce()
	cb := callback(t, h.browser().authorize(wiki.authParams("openid offline_access", challenge)), wiki.redirect)
	first := h.exchange(wiki, cb.Get("code"), verifier)
	if first.status != http.StatusOK {
		t.Fatalf("exchange: %d %v", first.status, first.body)
	}
	second := h.exchange(wiki, cb.Get("code"), verifier)
	if second.status != http.StatusBadRequest || second.str("error") != "invalid_grant" {
		t.Fatalf("second exchange: %d %v", second.status, second.body)
	}
	if status, _ := h.userinfo(first.str("access_token")); status != http.StatusUnauthorized {
		t.Errorf("userinfo after the code was reused: %d, want 401", status)
	}
	if r := h.refresh(wiki, first.str("refresh_token")); r.str("error") != "invalid_grant" {
		t.Errorf("refresh after the code was reused: %v", r.body)
	}
}

// flow runs a whole authorization with PKCE and returns the tokens.
func flow(t *testing.T, h *harness, c *rp, scope string) tokenResponse {
	t.Helper()
	verifier, challenge := pkce()
	cb := callback(t, h.browser().authorize(c.authParams(scope, challenge)), c.redirect)
	tr := h.exchange(c, cb.Get("code"), verifier)
	if tr.status != http.StatusOK {
		t.Fatalf("exchange: %d %v", tr.status, tr.body)
	}
	return tr
}

// TestTokenRequestRefused: what the token endpoint refuses, in OAuth's
// error format, and that a refused request leaves the code usable when it
// was not the code's fault.
func TestTokenRequestRefused(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	spa := h.client("spa", `{"public":true,"redirectUris":["https://spa.example/cb"]}`, auth.Access{Everyone: true})
	other := h.client("other", `{"redirectUris":["https://other.example/cb"]}`, auth.Access{Everyone: true})
	h.sessions.next = ann.ID

	code := func(c *rp, challenge string) string {
		return callback(t, h.browser().authorize(c.authParams("openid", challenge)), c.redirect).Get("code")
	}
	verifier, challenge := pkce()
	wrongVerifier, _ := pkce()
	tests := []struct {
		name   string
		do     func() tokenResponse
		status int
		err    string
	}{
		{"wrong verifier", func() tokenResponse { return h.exchange(wiki, code(wiki, challenge), wrongVerifier) }, 400, "invalid_grant"},
		{"no verifier", func() tokenResponse { return h.exchange(wiki, code(wiki, challenge), "") }, 400, "invalid_grant"},
		{"verifier without challenge", func() tokenResponse { return h.exchange(wiki, code(wiki, ""), verifier) }, 400, "invalid_grant"},
		{"another client's code", func() tokenResponse { return h.exchange(other, code(wiki, challenge), verifier) }, 400, "invalid_grant"},
		{"another redirect_uri", func() tokenResponse {
			return h.token(wiki, url.Values{"grant_type": {"authorization_code"}, "code": {code(wiki, challenge)},
				"redirect_uri": {"https://wiki.example/cb/"}, "code_verifier": {verifier}})
		}, 400, "invalid_grant"},
		{"unknown code", func() tokenResponse { return h.exchange(wiki, "nope", verifier) }, 400, "invalid_grant"},
		{"wrong secret", func() tokenResponse {
			bad := *wiki
			bad.secret = "gh_sec_wrong"
			return h.exchange(&bad, code(wiki, challenge), verifier)
		}, 401, "invalid_client"},
		{"confidential without secret", func() tokenResponse {
			bad := *wiki
			bad.secret = ""
			return h.exchange(&bad, code(wiki, challenge), verifier)
		}, 401, "invalid_client"},
		{"public with a secret", func() tokenResponse {
			return h.token(spa, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {spa.id}, "client_secret": {"s"}})
		}, 401, "invalid_client"},
		{"unknown client", func() tokenResponse {
			return h.token(&rp{id: "nobody"}, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"nobody"}})
		}, 401, "invalid_client"},
		{"no code", func() tokenResponse { return h.token(wiki, url.Values{"grant_type": {"authorization_code"}}) }, 400, "invalid_request"},
		{"unknown refresh token", func() tokenResponse { return h.refresh(wiki, "nope") }, 400, "invalid_grant"},
		{"public client, PKCE", func() tokenResponse { return h.exchange(spa, code(spa, challenge), verifier) }, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.do()
			if got.status != tc.status || got.str("error") != tc.err {
				t.Errorf("got %d %v, want %d %s", got.status, got.body, tc.status, tc.err)
			}
		})
	}
	// A confidential client's code exchanged with the right verifier
	// after a wrong one still works: the wrong one did not burn it.
	c := code(wiki, challenge)
	if r := h.exchange(wiki, c, wrongVerifier); r.str("error") != "invalid_grant" {
		t.Fatalf("wrong verifier: %v", r.body)
	}
	if r := h.exchange(wiki, c, verifier); r.status != http.StatusOK {
		t.Errorf("right verifier after a wrong one: %d %v", r.status, r.body)
	}
}

// TestAuthorizeRefused: requests whose client or redirect_uri do not check
// out are answered on Gatehouse's page and sent nowhere; other errors go
// to the registered redirect_uri with state and iss.
func TestAuthorizeRefused(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	spa := h.client("spa", `{"public":true,"redirectUris":["https://spa.example/cb"]}`, auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	_, challenge := pkce()

	pages := []struct {
		name string
		q    func() url.Values
	}{
		{"unknown client", func() url.Values { q := wiki.authParams("openid", challenge); q.Set("client_id", "nobody"); return q }},
		{"no redirect_uri", func() url.Values { q := wiki.authParams("openid", challenge); q.Del("redirect_uri"); return q }},
		{"unregistered redirect_uri", func() url.Values {
			q := wiki.authParams("openid", challenge)
			q.Set("redirect_uri", "https://evil.example/cb")
			return q
		}},
		{"trailing slash", func() url.Values {
			q := wiki.authParams("openid", challenge)
			q.Set("redirect_uri", wiki.redirect+"/")
			return q
		}},
		{"added query", func() url.Values {
			q := wiki.authParams("openid", challenge)
			q.Set("redirect_uri", wiki.redirect+"?x=1")
			return q
		}},
		{"case", func() url.Values {
			q := wiki.authParams("openid", challenge)
			q.Set("redirect_uri", "https://WIKI.example/cb")
			return q
		}},
		{"http", func() url.Values {
			q := wiki.authParams("openid", challenge)
			q.Set("redirect_uri", "http://wiki.example/cb")
			return q
		}},
		{"repeated redirect_uri", func() url.Values {
			q := wiki.authParams("openid", challenge)
			q.Add("redirect_uri", "https://evil.example/")
			return q
		}},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			res := h.browser().authorize(tc.q())
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
				t.Errorf("got %d Location %q: %s", res.StatusCode, res.Header.Get("Location"), body)
			}
			// The client is registered: the page does not call it unknown
			// (outside review: a repeated redirect_uri was "Unknown
			// application").
			if tc.name != "unknown client" && strings.Contains(string(body), "Unknown application") {
				t.Errorf("a registered client's bad request is shown as an unknown application: %s", body)
			}
		})
	}

	redirects := []struct {
		name string
		c    *rp
		q    func(url.Values)
		err  string
	}{
		{"response_type token", wiki, func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"no response_type", wiki, func(q url.Values) { q.Del("response_type") }, "invalid_request"},
		{"no openid scope", wiki, func(q url.Values) { q.Set("scope", "profile") }, "invalid_scope"},
		{"plain PKCE", wiki, func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"challenge without method", wiki, func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		{"short challenge", wiki, func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request"},
		{"public client without PKCE", spa, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"request object", wiki, func(q url.Values) { q.Set("request", "eyJ.x.y") }, "request_not_supported"},
		{"request_uri", wiki, func(q url.Values) { q.Set("request_uri", "https://x") }, "request_uri_not_supported"},
		{"prompt none with login", wiki, func(q url.Values) { q.Set("prompt", "none login") }, "invalid_request"},
		{"unknown prompt", wiki, func(q url.Values) { q.Set("prompt", "sideways") }, "invalid_request"},
		{"negative max_age", wiki, func(q url.Values) { q.Set("max_age", "-1") }, "invalid_request"},
		{"repeated state", wiki, func(q url.Values) { q.Add("state", "other") }, "invalid_request"},
		{"control character", wiki, func(q url.Values) { q.Set("nonce", "a\x00b") }, "invalid_request"},
		{"response_mode fragment", wiki, func(q url.Values) { q.Set("response_mode", "fragment") }, "invalid_request"},
		{"prompt none, nobody signed in", wiki, func(q url.Values) { q.Set("prompt", "none") }, "login_required"},
	}
	for _, tc := range redirects {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.c.authParams("openid", challenge)
			tc.q(q)
			state := q.Get("state")
			if len(q["state"]) > 1 {
				state = ""
			}
			cb := callback(t, h.browser().authorize(q), tc.c.redirect)
			if cb.Get("error") != tc.err || cb.Get("code") != "" || cb.Get("iss") != h.url || state != "" && cb.Get("state") != state {
				t.Errorf("callback %v, want error %s", cb, tc.err)
			}
		})
	}
	if h.sessions.logins != 0 {
		t.Errorf("a refused request showed the login page %d times", h.sessions.logins)
	}
}

// TestPromptAndMaxAge: prompt=none answers from the session without a
// page; prompt=login and max_age=0 make her sign in again (once); max_age
// larger than the session's age does not; acr_values asking for two
// factors send a one-factor session to the login page.
func TestPromptAndMaxAge(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	b := h.browser()
	_, challenge := pkce()
	authorize := func(mut func(url.Values)) url.Values {
		t.Helper()
		q := wiki.authParams("openid", challenge)
		mut(q)
		return callback(t, b.authorize(q), wiki.redirect)
	}
	if cb := authorize(func(url.Values) {}); cb.Get("code") == "" || h.sessions.logins != 1 {
		t.Fatalf("first sign-in: %v, logins %d", cb, h.sessions.logins)
	}
	tests := []struct {
		name   string
		mut    func(url.Values)
		logins int // login pages shown
		err    string
	}{
		{"session reused", func(url.Values) {}, 0, ""},
		{"prompt none", func(q url.Values) { q.Set("prompt", "none") }, 0, ""},
		{"max_age long", func(q url.Values) { q.Set("max_age", "3600") }, 0, ""},
		// Past 64 bits it is still a non-negative integer (outside review:
		// refused as "must be a non-negative number").
		{"max_age past 64 bits", func(q url.Values) { q.Set("max_age", "99999999999999999999999") }, 0, ""},
		{"prompt login", func(q url.Values) { q.Set("prompt", "login") }, 1, ""},
		{"max_age 0", func(q url.Values) { q.Set("max_age", "0") }, 1, ""},
		{"prompt none, max_age 0", func(q url.Values) { q.Set("prompt", "none"); q.Set("max_age", "0") }, 0, "login_required"},
		{"prompt consent", func(q url.Values) { q.Set("prompt", "consent") }, 0, ""},
		{"acr 2fa", func(q url.Values) { q.Set("acr_values", login.ACR2FA) }, 1, ""},
		{"acr 2fa, prompt none", func(q url.Values) { q.Set("acr_values", login.ACR2FA); q.Set("prompt", "none") }, 0, "login_required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.sessions.logins
			cb := authorize(tc.mut)
			if got := h.sessions.logins - before; got != tc.logins {
				t.Errorf("login page shown %d times, want %d", got, tc.logins)
			}
			if cb.Get("error") != tc.err || (tc.err == "") != (cb.Get("code") != "") {
				t.Errorf("callback %v, want error %q", cb, tc.err)
			}
		})
	}
}

// TestAccessRefused: a person outside the application's allowed groups is
// refused with the page that says why (or access_denied to the client
// with prompt=none), gets no code, and loses her tokens when she leaves
// the group.
func TestAccessRefused(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	bob := h.user("bob@example.com")
	eng := h.group("engineering", ann.ID)
	wiki := h.client("wiki", wikiSettings, auth.Access{AllowedGroups: []string{eng.ID}})
	_, challenge := pkce()

	h.sessions.next = bob.ID
	b := h.browser()
	res := b.authorize(wiki.authParams("openid", challenge))
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "not in a group allowed to use wiki") || res.Header.Get("Location") != "" {
		t.Errorf("outsider: %d %q %s", res.StatusCode, res.Header.Get("Location"), body)
	}
	q := wiki.authParams("openid", challenge)
	q.Set("prompt", "none")
	if cb := callback(t, b.authorize(q), wiki.redirect); cb.Get("error") != "access_denied" {
		t.Errorf("outsider, prompt=none: %v", cb)
	}

	h.sessions.next = ann.ID
	tr := flow(t, h, wiki, "openid offline_access")
	if _, err := h.dir.UpdateGroup(h.ctx, cli, directory.Profile{TargetOrgID: directory.RootOrgID}, eng.ID, nil, nil,
		[]directory.MemberOp{{Kind: directory.RemoveMembers, IDs: []string{ann.ID}}}); err != nil {
		t.Fatal(err)
	}
	if status, _ := h.userinfo(tr.str("access_token")); status != http.StatusUnauthorized {
		t.Errorf("userinfo after leaving the group: %d", status)
	}
	if r := h.refresh(wiki, tr.str("refresh_token")); r.str("error") != "invalid_grant" {
		t.Errorf("refresh after leaving the group: %v", r.body)
	}
}

// TestSCIMTokenAtUserInfo: a client-credentials access token (audience
// gatehouse) and an ID token are not access tokens of the provider.
func TestSCIMTokenAtUserInfo(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	tr := flow(t, h, wiki, "openid")
	app, err := h.auth.CreateApp(h.ctx, cli, auth.AppSpec{Name: "reader", Kind: auth.KindServerApp})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := h.auth.CreateSecret(h.ctx, cli, app.ID)
	issued, err := h.auth.Issue(h.ctx, app.ID, secret, "127.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"client credentials": issued.AccessToken, "id token": tr.str("id_token"), "garbage": "x.y.z"} {
		if status, body := h.userinfo(tok); status != http.StatusUnauthorized || body["error"] != "invalid_token" {
			t.Errorf("%s at userinfo: %d %v", name, status, body)
		}
	}
	// And the provider's access token is no credential for Gatehouse's
	// APIs.
	if _, err := h.auth.Authenticate(h.ctx, "Bearer "+tr.str("access_token"), "127.0.0.1"); err == nil {
		t.Error("an OpenID Connect access token authenticates at Gatehouse's APIs")
	}
}

// TestLogout: RP-initiated logout ends the session named by id_token_hint
// and goes back only to a registered post-logout URI, with the state;
// without a hint the browser goes to the logout page, signed in still.
func TestLogout(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	b := h.browser()
	verifier, challenge := pkce()
	cb := callback(t, b.authorize(wiki.authParams("openid", challenge)), wiki.redirect)
	tr := h.exchange(wiki, cb.Get("code"), verifier)
	logout := func(q url.Values) *http.Response {
		res, err := b.c.Get(h.url + oidc.LogoutPath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	signedIn := func() bool {
		before := h.sessions.logins
		q := wiki.authParams("openid", challenge)
		callback(t, b.authorize(q), wiki.redirect)
		return h.sessions.logins == before
	}

	if res := logout(url.Values{"id_token_hint": {tr.str("id_token")}, "post_logout_redirect_uri": {"https://evil.example/"}}); res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
		t.Errorf("unregistered post_logout_redirect_uri: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := logout(url.Values{"id_token_hint": {"x.y.z"}, "post_logout_redirect_uri": {"https://wiki.example/bye"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("forged id_token_hint: %d", res.StatusCode)
	}
	if res := logout(url.Values{"client_id": {wiki.id}, "post_logout_redirect_uri": {"https://wiki.example/bye"}}); res.StatusCode != http.StatusOK || res.Request.URL.Path != oidc.LoginLogoutPath {
		t.Errorf("no hint: %d at %s, want Gatehouse's logout page", res.StatusCode, res.Request.URL)
	}
	if !signedIn() {
		t.Fatal("a refused logout ended the session")
	}
	res := logout(url.Values{"id_token_hint": {tr.str("id_token")}, "post_logout_redirect_uri": {"https://wiki.example/bye"}, "state": {"s1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "https://wiki.example/bye?state=s1" {
		t.Errorf("logout: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if signedIn() {
		t.Error("still signed in after logout")
	}
	if status, _ := h.userinfo(tr.str("access_token")); status != http.StatusUnauthorized {
		t.Errorf("the online grant's access token works after logout: %d", status)
	}
}

// TestRevocation: revoking a refresh token revokes its grant; another
// client cannot revoke it; unknown tokens are answered 200.
func TestRevocation(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	other := h.client("other", `{"redirectUris":["https://other.example/cb"]}`, auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	tr := flow(t, h, wiki, "openid offline_access")
	revoke := func(c *rp, token string) int {
		req, _ := http.NewRequest(http.MethodPost, h.url+oidc.RevokePath, strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.id, c.secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := revoke(other, tr.str("refresh_token")); s != http.StatusOK {
		t.Errorf("another client's revocation: %d", s)
	}
	if r := h.refresh(wiki, tr.str("refresh_token")); r.status != http.StatusOK {
		t.Fatalf("another client revoked the token: %v", r.body)
	} else {
		tr = r
	}
	if s := revoke(wiki, "unknown"); s != http.StatusOK {
		t.Errorf("unknown token: %d", s)
	}
	if s := revoke(wiki, tr.str("refresh_token")); s != http.StatusOK {
		t.Errorf("revoke: %d", s)
	}
	if r := h.refresh(wiki, tr.str("refresh_token")); r.str("error") != "invalid_grant" {
		t.Errorf("refresh after revocation: %v", r.body)
	}
	bad := *wiki
	bad.secret = "wrong"
	if s := revoke(&bad, "x"); s != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", s)
	}
}

// TestDisabledPerson: a person disabled after the grant gets no refresh
// and no userinfo.
func TestDisabledPerson(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	h.sessions.next = ann.ID
	tr := flow(t, h, wiki, "openid offline_access")
	if _, err := h.dir.UpdateUser(h.ctx, cli, directory.Profile{TargetOrgID: directory.RootOrgID}, ann.ID, nil,
		func(u *directory.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if status, _ := h.userinfo(tr.str("access_token")); status != http.StatusUnauthorized {
		t.Errorf("userinfo of a disabled person: %d", status)
	}
	if r := h.refresh(wiki, tr.str("refresh_token")); r.str("error") != "invalid_grant" {
		t.Errorf("refresh of a disabled person: %v", r.body)
	}
}

// TestSettings: what oidc-client settings accept and refuse.
func TestSettings(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // normalised redirectUris and scopes, or the error's start
	}{
		{"defaults", `{"redirectUris":["https://a.example/cb"]}`, "ok https://a.example/cb|openid profile email|allowed|600|RS256"},
		{"loopback http", `{"redirectUris":["http://127.0.0.1:8080/cb","http://localhost/cb","http://[::1]/cb"]}`, "ok http://127.0.0.1:8080/cb http://localhost/cb http://[::1]/cb|openid profile email|allowed|600|RS256"},
		{"native scheme, public", `{"public":true,"redirectUris":["com.example.app:/cb"]}`, "ok com.example.app:/cb|openid profile email|allowed|600|RS256"},
		{"native scheme, confidential", `{"redirectUris":["com.example.app:/cb"]}`, "err"},
		{"no redirect", `{}`, "err"},
		{"http elsewhere", `{"redirectUris":["http://a.example/cb"]}`, "err"},
		{"fragment", `{"redirectUris":["https://a.example/cb#x"]}`, "err"},
		{"relative", `{"redirectUris":["/cb"]}`, "err"},
		{"userinfo", `{"redirectUris":["https://u:p@a.example/cb"]}`, "err"},
		{"javascript", `{"public":true,"redirectUris":["javascript:alert(1)"]}`, "err"},
		{"space", `{"redirectUris":["https://a.example/c b"]}`, "err"},
		{"unknown member", `{"redirectUris":["https://a.example/cb"],"redirect_uris":[]}`, "err"},
		{"unknown scope", `{"redirectUris":["https://a.example/cb"],"scopes":["admin"]}`, "err"},
		{"bad groups claim", `{"redirectUris":["https://a.example/cb"],"groupsClaim":"some"}`, "err"},
		{"lifetime too long", `{"redirectUris":["https://a.example/cb"],"accessTokenLifetime":86400}`, "err"},
		{"duplicate member", `{"redirectUris":["https://a.example/cb"],"redirectUris":["https://b.example/cb"]}`, "err"},
		{"initiate login https", `{"redirectUris":["https://a.example/cb"],"initiateLoginUri":"https://a.example/login"}`, "ok https://a.example/cb|openid profile email|allowed|600|RS256"},
		{"initiate login http", `{"redirectUris":["https://a.example/cb"],"initiateLoginUri":"http://127.0.0.1/login"}`, "err"},
		{"ES256 ID tokens", `{"redirectUris":["https://a.example/cb"],"idTokenSignedResponseAlg":"ES256"}`, "ok https://a.example/cb|openid profile email|allowed|600|ES256"},
		{"RS256 ID tokens", `{"redirectUris":["https://a.example/cb"],"idTokenSignedResponseAlg":"RS256"}`, "ok https://a.example/cb|openid profile email|allowed|600|RS256"},
		{"HS256 ID tokens", `{"redirectUris":["https://a.example/cb"],"idTokenSignedResponseAlg":"HS256"}`, "err"},
		{"unsigned ID tokens", `{"redirectUris":["https://a.example/cb"],"idTokenSignedResponseAlg":"none"}`, "err"},
		{"lower-case alg", `{"redirectUris":["https://a.example/cb"],"idTokenSignedResponseAlg":"rs256"}`, "err"},
		{"bad post-logout", `{"redirectUris":["https://a.example/cb"],"postLogoutRedirectUris":["http://evil.example/"]}`, "err"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := oidc.ParseSettings(json.RawMessage(tc.in))
			got := "err"
			if err == nil {
				got = "ok " + strings.Join(s.RedirectURIs, " ") + "|" + strings.Join(s.Scopes, " ") + "|" + s.GroupsClaim + "|" + jsonNum(s.AccessTokenLifetime) + "|" + s.IDTokenSignedResponseAlg
			}
			if got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

var _ = time.Second

// TestIDTokenHint: an id_token_hint that is not an ID token Gatehouse
// issued to this client — forged, with a broken signature, another
// client's — is refused with invalid_request at the redirect_uri, with
// prompt=none or not, instead of being ignored; with prompt=none, a hint
// naming someone else than the person signed in gets login_required, and
// her own is answered (red team finding 4: OIDC Core §3.1.2.1, §3.1.2.6).
func TestIDTokenHint(t *testing.T) {
	h := newHarness(t)
	ann, bob := h.user("ann@example.com"), h.user("bob@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	other := h.client("other", `{"redirectUris":["https://other.example/cb"]}`, auth.Access{Everyone: true})
	idToken := func(b *browser, c *rp, who string) string {
		t.Helper()
		h.sessions.next = who
		verifier, challenge := pkce()
		cb := callback(t, b.authorize(c.authParams("openid", challenge)), c.redirect)
		tr := h.exchange(c, cb.Get("code"), verifier)
		if tr.status != http.StatusOK || tr.str("id_token") == "" {
			t.Fatalf("exchange: %d %v", tr.status, tr.body)
		}
		return tr.str("id_token")
	}
	b := h.browser()
	annHint := idToken(b, wiki, ann.ID)
	annOther := idToken(b, other, ann.ID)
	bobHint := idToken(h.browser(), wiki, bob.ID)
	parts := strings.Split(annHint, ".")
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 1
	broken := parts[0] + "." + parts[1] + "." + string(sig)
	resigned := parts[0] + "." + strings.TrimRight(base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+h.url+`","sub":"`+bob.ID+`","aud":"`+wiki.id+`"}`)), "=") + "." + parts[2]

	for _, tc := range []struct {
		name, hint, prompt, err string
	}{
		{"her own, prompt none", annHint, "none", ""},
		{"her own", annHint, "", ""},
		{"someone else's, prompt none", bobHint, "none", "login_required"},
		{"forged, prompt none", "x.y.z", "none", "invalid_request"},
		{"forged", "x.y.z", "", "invalid_request"},
		{"broken signature, prompt none", broken, "none", "invalid_request"},
		{"claims swapped, prompt none", resigned, "none", "invalid_request"},
		{"another client's, prompt none", annOther, "none", "invalid_request"},
		{"another client's", annOther, "", "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.sessions.logins
			_, challenge := pkce()
			q := wiki.authParams("openid", challenge)
			q.Set("id_token_hint", tc.hint)
			if tc.prompt != "" {
				q.Set("prompt", tc.prompt)
			}
			cb := callback(t, b.authorize(q), wiki.redirect)
			if cb.Get("error") != tc.err || (tc.err == "") != (cb.Get("code") != "") || cb.Get("state") != q.Get("state") {
				t.Errorf("callback %v, want error %q", cb, tc.err)
			}
			if h.sessions.logins != before {
				t.Errorf("the login page was shown")
			}
		})
	}
}

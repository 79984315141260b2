package oidc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

// Interoperability with relying parties nobody here wrote: panva's
// openid-client (npm, certified by the OpenID Foundation) and
// golang.org/x/oauth2.

// SkipNodeEnv lets the openid-client test skip where Node.js or the npm
// packages are missing (CI installs them: .ci/run runs npm ci).
const SkipNodeEnv = "GATEHOUSE_TEST_SKIP_NODE"

// signedIn makes a session for userID and returns its Cookie header.
func (h *harness) signedIn(userID string) string {
	now := time.Now()
	token := newID()
	h.sessions.mu.Lock()
	h.sessions.sessions[token] = &login.Session{ID: newID(), UserID: userID, AuthTime: now.Truncate(time.Second),
		AMR: []string{login.AMRPassword}, Factors: 1, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
	h.sessions.mu.Unlock()
	return cookieName + "=" + token
}

// TestOpenIDClient: openid-client discovers the provider, completes the
// code flow with PKCE (state, nonce, iss in the response, the ID token's
// signature with the key the JWKS publishes: RS256, openid-client's
// default, unless the client chose ES256), reads userinfo, gets
// invalid_grant for a reused code, rotates a refresh token and gets
// invalid_grant for the reused one (and then for its successor), and
// builds the logout URL; for a confidential and for a public client, and
// for a client registered with ES256 ID tokens.
func TestOpenIDClient(t *testing.T) {
	dir, err := filepath.Abs("testdata/rp")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "openid-client"))
	}
	if err != nil {
		msg := "openid-client interop needs Node.js 20 and the packages: cd internal/sso/oidc/testdata/rp && npm ci (or set " + SkipNodeEnv + "=1 to skip knowingly): " + err.Error()
		if os.Getenv(SkipNodeEnv) == "1" {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	h := newHarness(t)
	ann := h.user("ann@example.com")
	eng := h.group("engineering", ann.ID)
	settings := `{"redirectUris":["https://rp.example/cb"],"postLogoutRedirectUris":["https://rp.example/bye"],
		"scopes":["profile","email","groups","offline_access"],"emailVerified":true}`
	for _, kind := range []string{"confidential", "public", "es256"} {
		t.Run(kind, func(t *testing.T) {
			s, alg := settings, "RS256"
			switch kind {
			case "public":
				s = strings.Replace(s, "{", `{"public":true,`, 1)
			case "es256":
				s, alg = strings.Replace(s, "{", `{"idTokenSignedResponseAlg":"ES256",`, 1), "ES256"
			}
			c := h.client("rp-"+kind, s, auth.Access{AllowedGroups: []string{eng.ID}})
			cmd := exec.Command(node, "rp.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "ISSUER="+h.url, "CLIENT_ID="+c.id, "CLIENT_SECRET="+c.secret, "REDIRECT_URI="+c.redirect,
				"POST_LOGOUT_URI=https://rp.example/bye", "COOKIE="+h.signedIn(ann.ID))
			if kind == "es256" {
				cmd.Env = append(cmd.Env, "ID_TOKEN_ALG=ES256")
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("openid-client: %v\n%s", err, stderr.String())
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			logout, _ := got["logout_url"].(string)
			delete(got, "logout_url")
			want := map[string]any{
				"id_token_alg": alg, "sub": ann.ID, "email": "ann@example.com", "groups": []any{"engineering"}, "acr": login.ACR1FA, "amr": []any{"pwd"},
				"has_refresh": true, "userinfo_email": "ann@example.com", "code_reuse": "invalid_grant",
				"rotated": true, "refreshed_sub": ann.ID, "refresh_reuse": "invalid_grant", "after_reuse": "invalid_grant",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("openid-client results (-want +got):\n%s", diff)
			}
			u, err := url.Parse(logout)
			if err != nil || !strings.HasPrefix(logout, h.url+oidc.LogoutPath) || u.Query().Get("post_logout_redirect_uri") != "https://rp.example/bye" {
				t.Errorf("logout URL %q", logout)
			}
		})
	}
}

// TestOAuth2Client: golang.org/x/oauth2 (with the endpoints from the
// discovery document) exchanges a code with PKCE and refreshes through its
// TokenSource; the ID token verifies with the published keys.
func TestOAuth2Client(t *testing.T) {
	h := newHarness(t)
	ann := h.user("ann@example.com")
	c := h.client("goapp", wikiSettings, auth.Access{Everyone: true})
	res, err := http.Get(h.url + oidc.DiscoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(res.Body).Decode(&md)
	res.Body.Close()
	conf := &oauth2.Config{
		ClientID: c.id, ClientSecret: c.secret, RedirectURL: c.redirect, Scopes: []string{"openid", "email", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: md["authorization_endpoint"].(string), TokenURL: md["token_endpoint"].(string), AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-1"))
	b := h.browser()
	req, _ := http.NewRequest(http.MethodGet, authURL, nil)
	req.Header.Set("Cookie", h.signedIn(ann.ID))
	res, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cb := callback(t, res, c.redirect)
	if cb.Get("state") != "state-1" {
		t.Fatalf("callback %v", cb)
	}
	ctx := context.Background()
	tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	claims, _ := h.verify(idt, "JWT")
	if claims["sub"] != ann.ID || claims["nonce"] != "n-1" || claims["email"] != "ann@example.com" {
		t.Errorf("id_token claims %v", claims)
	}
	if _, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a reused code was exchanged")
	} else {
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("reused code: %v, want invalid_grant", err)
		}
	}
	// Refresh through the TokenSource (a fresh grant: the reuse above
	// revoked the first).
	res, _ = func() (*http.Response, error) {
		v := oauth2.GenerateVerifier()
		verifier = v
		r, _ := http.NewRequest(http.MethodGet, conf.AuthCodeURL("state-2", oauth2.S256ChallengeOption(v)), nil)
		r.Header.Set("Cookie", h.signedIn(ann.ID))
		return b.c.Do(r)
	}()
	tok, err = conf.Exchange(ctx, callback(t, res, c.redirect).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute) // make the source refresh
	fresh, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Errorf("refresh did not rotate: %+v", fresh)
	}
	if status, ui := h.userinfo(fresh.AccessToken); status != http.StatusOK || ui["email"] != "ann@example.com" {
		t.Errorf("userinfo: %d %v", status, ui)
	}
	_ = oauth.TokenPath
}

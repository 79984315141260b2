package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

// TestGrantsRevoked: a person's OpenID Connect grants (offline ones, with
// refresh tokens) are revoked when she signs out everywhere, her password
// is reset or changed, her factors are reset, an administrator signs her
// out everywhere or revokes
// them (CLI and admin API), and when her account is disabled — enabling it
// again does not revive them. The refresh after each gets invalid_grant
// (red team finding 2: they all survived).
func TestGrantsRevoked(t *testing.T) {
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
		SSO:    json.RawMessage(`{"redirectUris":["https://wiki.example/cb"],"scopes":["offline_access"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := r.app.Auth.CreateSecret(ctx, op, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	st := r.app.Store.(oidc.Store)
	// grant gives the client an offline grant of ada's, as a code
	// exchange would have, and returns its refresh token.
	n := 0
	grant := func() string {
		t.Helper()
		n++
		tok, _ := login.NewToken()
		h := sha256.Sum256([]byte(tok))
		now := time.Now().UTC()
		g := &oidc.Grant{ID: "grant-" + string(rune('a'+n)), ClientID: app.ID, UserID: id, Scopes: []string{"openid", "offline_access"},
			AuthTime: now, AMR: []string{"pwd"}, ACR: login.ACR1FA, Offline: true, Created: now, Expires: now.Add(24 * time.Hour)}
		if err := st.CreateGrant(ctx, g, &oidc.Token{Hash: h[:], GrantID: g.ID, Kind: oidc.KindRefresh, Created: now,
			Expires: now.Add(24 * time.Hour)}, ""); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// refresh redeems a refresh token, returning the status, the error
	// and the next refresh token.
	refresh := func(tok string) (int, string, string) {
		t.Helper()
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}
		req, _ := http.NewRequest("POST", r.url+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(app.ID, secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		e, _ := body["error"].(string)

		next, _ := body["refresh_token"].(string)
		return res.StatusCode, e, next
	}
	setActive := func(active bool) {
		t.Helper()
		if _, err := r.app.Directory.UpdateUser(ctx, op, directory.Profile{TargetOrgID: directory.RootOrgID}, id, nil,
			func(u *directory.User) error { u.Active = active; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		revoke func()
	}{
		{"her own sign out everywhere", func() {
			b := newBrowser(t, r.url)
			if last, pw := b.signIn("/", "ada@example.com", "Correct-Horse-9"); last.status != 200 {
				t.Fatalf("sign-in: %d %s", pw.status, pw.body)
			}
			page := b.do("GET", "/logout", nil)
			f := fields(page.body)
			f.Set("everywhere", "1")
			if out := b.do("POST", "/logout", f); out.status != 200 {
				t.Fatalf("sign out everywhere: %d %s", out.status, out.body)
			}
			if home := b.do("GET", "/", nil); home.status != http.StatusSeeOther {
				t.Errorf("still signed in after signing out everywhere: %d", home.status)
			}
		}},
		{"password change", func() {
			if err := r.app.Login.ChangePassword(ctx, &login.Session{ID: "elsewhere", UserID: id}, login.Client{Addr: "127.0.0.1"},
				"Correct-Horse-9", "Correct-Horse-10", "Correct-Horse-10"); err != nil {
				t.Fatal(err)
			}
		}},
		{"password reset", func() {
			if _, err := r.app.Admin.ResetPassword(ctx, op, "ada@example.com"); err != nil {
				t.Fatal(err)
			}
		}},
		{"factors reset", func() {
			if _, err := r.app.Admin.ResetFactors(ctx, op, "ada@example.com"); err != nil {
				t.Fatal(err)
			}
		}},
		{"sign out everywhere", func() {
			x, err := r.app.Admin.EndSessions(ctx, op, "ada@example.com")
			if err != nil || x.GrantsRevoked != 2 {
				t.Errorf("end sessions: %+v %v, want 2 grants revoked", x, err)
			}
		}},
		{"admin API", func() {
			rep := call(t, "DELETE", r.url+"/admin/v1/users/ada@example.com/grants", "", "Authorization", "Bearer "+r.admin)
			if rep.status != http.StatusOK || rep.body["revoked"] != 2.0 {
				t.Errorf("DELETE grants: %d %s", rep.status, rep.raw)
			}
		}},
		{"disabled and enabled again", func() { setActive(false); setActive(true) }},
	} {
		// Two grants: one refreshed once already (its second token), one
		// never used.
		used, fresh := grant(), grant()
		status, e, next := refresh(used)
		if status != http.StatusOK || next == "" {
			t.Fatalf("%s: refresh before: %d %s", tc.name, status, e)
		}
		tc.revoke()
		for _, tok := range []string{next, fresh} {
			if status, e, _ := refresh(tok); status != http.StatusBadRequest || e != "invalid_grant" {
				t.Errorf("%s: refresh after: %d %q, want 400 invalid_grant", tc.name, status, e)
			}
		}
	}
	var revoked bool
	for _, a := range r.auditActions(t, id) {
		revoked = revoked || a == "login.grants.revoke"
	}
	if !revoked {
		t.Errorf("no login.grants.revoke audit record: %v", r.auditActions(t, id))
	}
}

// TestSSOSecretsIssueNoAPITokens: a relying party's or service provider's
// client secret signs people in; client_credentials with it is 400
// unauthorized_client, and nothing is issued — before, it got an access
// token for Gatehouse's own audience (empty scope today; outside review).
// A server application's secret still gets one.
func TestSSOSecretsIssueNoAPITokens(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	for _, kind := range []auth.Kind{auth.KindOIDCClient, auth.KindServerApp} {
		spec := auth.AppSpec{Name: "app-" + string(kind), Kind: kind}
		if kind == auth.KindOIDCClient {
			spec.SSO = json.RawMessage(`{"redirectUris":["https://wiki.example/cb"]}`)
		} else {
			spec.Scopes = auth.Scopes{auth.ScopeUsersRead}
		}
		app, err := r.app.Auth.CreateApp(ctx, op, spec)
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := r.app.Auth.CreateSecret(ctx, op, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", r.url+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(app.ID), url.QueryEscape(secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		switch kind {
		case auth.KindOIDCClient:
			if resp.StatusCode != 400 || body["error"] != "unauthorized_client" || body["access_token"] != nil {
				t.Errorf("%s: %d %v, want 400 unauthorized_client", kind, resp.StatusCode, body)
			}
		default:
			if resp.StatusCode != 200 || body["access_token"] == nil {
				t.Errorf("%s: %d %v, want a token", kind, resp.StatusCode, body)
			}
		}
	}
}

package storetest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/checkpoint"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var cli = directory.Actor{Kind: "cli"}

func (e *env) auth(opt auth.Options) *auth.Service {
	if opt.Now == nil {
		opt.Now = e.clock.Now
	}
	opt.NewID = newID
	return auth.NewService(e.store, opt)
}

func mustApp(t *testing.T, svc *auth.Service, e *env, spec auth.AppSpec) *auth.App {
	t.Helper()
	a, err := svc.CreateApp(e.ctx, cli, spec)
	if err != nil {
		t.Fatalf("create app %q: %v", spec.Name, err)
	}
	return a
}

func mustToken(t *testing.T, svc *auth.Service, e *env, appID string) (*auth.Token, string) {
	t.Helper()
	tok, value, err := svc.CreateToken(e.ctx, cli, appID, 0)
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return tok, value
}

func bearer(v string) string { return "Bearer " + v }

func wantUnauthenticated(t *testing.T, svc *auth.Service, e *env, header, reason string) {
	t.Helper()
	_, err := svc.Authenticate(e.ctx, header, "192.0.2.1")
	var fe *auth.FailureError
	if !errors.As(err, &fe) {
		t.Fatalf("authenticate: got %v, want a failure (%s)", err, reason)
	}
	if reason != "" && fe.Reason != reason {
		t.Fatalf("authenticate: failure %q, want %q", fe.Reason, reason)
	}
}

func testApps(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	svc := e.auth(auth.Options{Extensions: []string{customURN}})
	app := mustApp(t, svc, e, auth.AppSpec{Name: "okta", Profile: directory.IDaaSProfile()})
	if app.Kind != auth.KindSCIMClient || !slices.Equal(app.Scopes, auth.Scopes{auth.ScopeSCIM}) || !app.Enabled {
		t.Errorf("defaults: %+v", app)
	}
	_, err := svc.CreateApp(e.ctx, cli, auth.AppSpec{Name: "okta"})
	wantKind(t, err, directory.ErrConflict)
	for name, spec := range map[string]auth.AppSpec{
		"target org":      {Name: "x1", Profile: directory.Profile{TargetOrgID: "missing"}},
		"scope org":       {Name: "x2", Profile: directory.Profile{Scope: directory.SyncScope{OrgIDs: []string{"missing"}}}},
		"scope group":     {Name: "x3", Profile: directory.Profile{Scope: directory.SyncScope{GroupIDs: []string{"missing"}}}},
		"kind":            {Name: "x4", Kind: "robot"},
		"scope":           {Name: "x5", Scopes: auth.Scopes{"scim:everything"}},
		"extension":       {Name: "x6", ExtensionURN: "urn:example:unknown"},
		"empty name":      {Name: "  "},
		"control in name": {Name: "a\nb"},
		"name not UTF-8":  {Name: "\xff"},
		"overlong UTF-8":  {Name: "\xc0\xaf"},
		"129 characters":  {Name: strings.Repeat("应", 129)},
		"drop in rfc":     {Name: "x7", Profile: directory.Profile{DropExtraValues: true}},
	} {
		if _, err := svc.CreateApp(e.ctx, cli, spec); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("%s: got %v, want invalid", name, err)
		}
	}
	reader := mustApp(t, svc, e, auth.AppSpec{Name: "ram-reader", Kind: auth.KindServerApp, ExtensionURN: customURN})
	if !slices.Equal(reader.Scopes, auth.Scopes{auth.ScopeUsersRead, auth.ScopeGroupsRead}) || reader.ExtensionURN != customURN {
		t.Errorf("server app defaults: %+v", reader)
	}

	got, err := svc.FindApp(e.ctx, "okta")
	if err != nil || got.ID != app.ID || !got.Profile.IDaaSFields || !got.Profile.Idempotent || got.Profile.TargetOrgID != directory.RootOrgID ||
		got.Profile.DropExtraValues {
		t.Fatalf("find by name: %v %+v", err, got)
	}
	if got, err := svc.FindApp(e.ctx, app.ID); err != nil || got.Name != "okta" {
		t.Fatalf("find by id: %v %+v", err, got)
	}
	eng, err := e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "Engineering", ParentID: directory.RootOrgID})
	if err != nil {
		t.Fatal(err)
	}
	grp := e.createGroup("auditors")
	upd, err := svc.UpdateApp(e.ctx, cli, app.ID, func(a *auth.App) error {
		a.Scopes = auth.Scopes{auth.ScopeUsersRead}
		a.Profile.Scope = directory.SyncScope{OrgIDs: []string{eng.ID}, GroupIDs: []string{grp.ID}}
		a.Profile.TargetOrgID = eng.ID
		a.Enabled = false
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = svc.FindApp(e.ctx, app.ID)
	if err != nil || !slices.Equal(got.Scopes, upd.Scopes) || got.Enabled || got.Profile.TargetOrgID != eng.ID ||
		!slices.Equal(got.Profile.Scope.OrgIDs, []string{eng.ID}) || !slices.Equal(got.Profile.Scope.GroupIDs, []string{grp.ID}) {
		t.Fatalf("after update: %v %+v", err, got)
	}
	// The target organization must lie inside the synchronization scope.
	_, err = svc.UpdateApp(e.ctx, cli, app.ID, func(a *auth.App) error {
		a.Profile.TargetOrgID = directory.RootOrgID
		return nil
	})
	wantKind(t, err, directory.ErrInvalid)
	// The target organization of an application cannot be deleted.
	wantKind(t, e.svc.DeleteOrg(e.ctx, e.actor, eng.ID), directory.ErrConflict)

	apps, err := svc.Apps(e.ctx)
	if err != nil || len(apps) != 2 || apps[0].Name != "okta" || apps[1].Name != "ram-reader" {
		t.Fatalf("apps: %v %d", err, len(apps))
	}
	if err := svc.DeleteApp(e.ctx, cli, reader.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.FindApp(e.ctx, reader.ID)
	wantKind(t, err, directory.ErrNotFound)
	wantKind(t, svc.DeleteApp(e.ctx, cli, reader.ID), directory.ErrNotFound)

	// Every change is audited, without secrets.
	entries, err := e.store.Audit(e.ctx, directory.AuditQuery{Action: "app."})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action)
	}
	if want := []string{"app.delete", "app.disable", "app.create", "app.create"}; !slices.Equal(actions, want) {
		t.Errorf("audit actions %v, want %v", actions, want)
	}

	// 128 characters, of three bytes each: the limit counts characters.
	long := mustApp(t, svc, e, auth.AppSpec{Name: strings.Repeat("应", 128)})
	if err := svc.DeleteApp(e.ctx, cli, long.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateApp(e.ctx, cli, app.ID, func(a *auth.App) error { a.Name = "okta\xed\xa0\x80"; return nil }); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("a rename to a name that is not UTF-8: got %v, want invalid", err)
	}

	// The extra-values option is stored, read back and changed.
	dropping := directory.IDaaSProfile()
	dropping.DropExtraValues = true
	entra := mustApp(t, svc, e, auth.AppSpec{Name: "entra", Profile: dropping})
	if got, err := svc.FindApp(e.ctx, "entra"); err != nil || !got.Profile.DropExtraValues {
		t.Fatalf("entra: %v %+v", err, got)
	}
	if _, err := svc.UpdateApp(e.ctx, cli, entra.ID, func(a *auth.App) error { a.Profile.DropExtraValues = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.FindApp(e.ctx, entra.ID); err != nil || got.Profile.DropExtraValues {
		t.Fatalf("entra after update: %v %+v", err, got)
	}
	if err := svc.DeleteApp(e.ctx, cli, entra.ID); err != nil {
		t.Fatal(err)
	}
}

func testTokens(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	svc := e.auth(auth.Options{})
	app := mustApp(t, svc, e, auth.AppSpec{Name: "okta"})
	tok, value := mustToken(t, svc, e, app.ID)
	if !auth.WellFormed(value, auth.TokenPrefix) || tok.Hint != value[:len(auth.TokenPrefix)+4]+"…" {
		t.Errorf("value %q / hint %q", value, tok.Hint)
	}
	if !tok.Expires.Equal(tok.Created.Add(auth.DefaultTokenValidity)) {
		t.Errorf("default validity: %v → %v", tok.Created, tok.Expires)
	}
	p, err := svc.Authenticate(e.ctx, bearer(value), "192.0.2.1")
	if err != nil || p.App.ID != app.ID || p.Token.ID != tok.ID || !p.Scopes.Has(auth.ScopeUsersWrite) {
		t.Fatalf("authenticate: %v %+v", err, p)
	}
	if _, err := svc.Authenticate(e.ctx, "bearer "+value, "192.0.2.1"); err != nil {
		t.Errorf("the scheme is case-insensitive: %v", err)
	}
	// The same token with its last character changed (to one it is not).
	last := "0"
	if strings.HasSuffix(value, "0") {
		last = "1"
	}
	for _, bad := range []string{"", "Bearer", "Basic " + value, bearer(value + "x"), bearer(value[:len(value)-1] + last), bearer("a.b.c")} {
		wantUnauthenticated(t, svc, e, bad, "")
	}
	other, _ := auth.NewSecret(auth.TokenPrefix)
	wantUnauthenticated(t, svc, e, bearer(other), "token_unknown")

	// Validity is between one day and three years.
	for _, v := range []time.Duration{time.Hour, 4 * 365 * 24 * time.Hour} {
		_, _, err := svc.CreateToken(e.ctx, cli, app.ID, v)
		wantKind(t, err, directory.ErrInvalid)
	}
	// At most two tokens.
	tok2, value2, err := svc.CreateToken(e.ctx, cli, app.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.CreateToken(e.ctx, cli, app.ID, 0)
	wantKind(t, err, directory.ErrConflict)

	// Use is counted.
	if err := svc.FlushUsage(e.ctx); err != nil {
		t.Fatal(err)
	}
	toks, err := svc.Tokens(e.ctx, app.ID)
	if err != nil || len(toks) != 2 || toks[0].ID != tok.ID {
		t.Fatalf("tokens: %v %d", err, len(toks))
	}
	if toks[0].UseCount != 2 || toks[0].LastUsed.IsZero() || toks[1].UseCount != 0 {
		t.Errorf("use count %d (last used %v), second token %d", toks[0].UseCount, toks[0].LastUsed, toks[1].UseCount)
	}
	st, err := svc.Stats(e.ctx, app.ID)
	if err != nil || st.Failures != 0 {
		t.Errorf("stats: %v %+v", err, st)
	}

	// A token must be disabled before it is deleted.
	wantKind(t, svc.DeleteToken(e.ctx, cli, app.ID, tok.ID), directory.ErrConflict)
	// Rotation: disable the first; a second process that had the first
	// remembered refuses it at its next request.
	other2 := e.auth(auth.Options{})
	if _, err := other2.Authenticate(e.ctx, bearer(value), "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetTokenEnabled(e.ctx, cli, app.ID, tok.ID, false); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, svc, e, bearer(value), "token_disabled")
	eventually(t, func() bool {
		_, err := other2.Authenticate(e.ctx, bearer(value), "192.0.2.2")
		return errors.Is(err, auth.ErrUnauthenticated)
	})
	if _, err := svc.Authenticate(e.ctx, bearer(value2), "192.0.2.1"); err != nil {
		t.Fatalf("second token: %v", err)
	}
	// The last enabled token cannot be disabled.
	_, err = svc.SetTokenEnabled(e.ctx, cli, app.ID, tok2.ID, false)
	wantKind(t, err, directory.ErrConflict)
	if err := svc.DeleteToken(e.ctx, cli, app.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, svc, e, bearer(value), "token_unknown")
	wantKind(t, svc.DeleteToken(e.ctx, cli, app.ID, tok.ID), directory.ErrNotFound)

	// Expiry is enforced, also for a remembered check.
	e.clock.Advance(24 * time.Hour)
	wantUnauthenticated(t, svc, e, bearer(value2), "token_expired")

	// A disabled application is refused.
	tok3, value3 := mustToken(t, svc, e, app.ID)
	if _, err := svc.Authenticate(e.ctx, bearer(value3), "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateApp(e.ctx, cli, app.ID, func(a *auth.App) error { a.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, svc, e, bearer(value3), "app_disabled")
	st, _ = svc.Stats(e.ctx, app.ID)
	if st.Failures == 0 || st.ByReason["401 app_disabled"] != 1 || !strings.Contains(st.LastError, "app_disabled") {
		t.Errorf("stats after failures: %+v", st)
	}

	// Deleting the application deletes its tokens.
	if err := svc.DeleteApp(e.ctx, cli, app.ID); err != nil {
		t.Fatal(err)
	}
	if toks, _ := e.store.Tokens(e.ctx, app.ID); len(toks) != 0 {
		t.Errorf("tokens survived their application: %d", len(toks))
	}
	wantUnauthenticated(t, svc, e, bearer(value3), "token_unknown")
	_, _, err = svc.CreateToken(e.ctx, cli, app.ID, 0)
	wantKind(t, err, directory.ErrNotFound)

	// Audit records name the token, never its value or hash.
	entries, _ := e.store.Audit(e.ctx, directory.AuditQuery{Action: "token.", Limit: 100})
	if len(entries) < 5 {
		t.Errorf("token audit entries: %d", len(entries))
	}
	for _, en := range entries {
		for _, v := range []string{value, value2, value3} {
			if strings.Contains(string(en.Before)+string(en.After), v[len(auth.TokenPrefix)+4:]) {
				t.Errorf("audit record %d holds a token", en.Seq)
			}
		}
	}
	_ = tok3
}

// eventually polls cond until it holds (a change made by one process
// reaches another through the database: at once with SQLite, after a
// notification with PostgreSQL).
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func testClientCredentials(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	svc := e.auth(auth.Options{Issuer: "https://gatehouse.example"})
	app := mustApp(t, svc, e, auth.AppSpec{Name: "ram", Kind: auth.KindServerApp,
		Scopes: auth.Scopes{auth.ScopeUsersRead, auth.ScopeUsersWrite, auth.ScopeGroupsRead}})
	sec, value, err := svc.CreateSecret(e.ctx, cli, app.ID)
	if err != nil || !auth.WellFormed(value, auth.SecretPrefix) {
		t.Fatalf("create secret: %v %q", err, value)
	}
	sec2, value2, err := svc.CreateSecret(e.ctx, cli, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.CreateSecret(e.ctx, cli, app.ID)
	wantKind(t, err, directory.ErrConflict)

	iss, err := svc.Issue(e.ctx, app.ID, value, "192.0.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if iss.ExpiresIn != time.Hour || !slices.Equal(iss.Scopes, app.Scopes) {
		t.Errorf("issued: %+v", iss)
	}
	c := jwtClaims(t, iss.AccessToken)
	if c["client_id"] != app.ID || c["sub"] != app.ID || c["iss"] != "https://gatehouse.example" || c["scope"] != app.Scopes.String() {
		t.Errorf("claims: %v", c)
	}
	p, err := svc.Authenticate(e.ctx, bearer(iss.AccessToken), "192.0.2.1")
	if err != nil || p.App.ID != app.ID || p.SecretID != sec.ID || !p.Scopes.Has(auth.ScopeUsersWrite) {
		t.Fatalf("authenticate with access token: %v %+v", err, p)
	}
	// Narrower scopes.
	ro, err := svc.Issue(e.ctx, app.ID, value2, "192.0.2.1", auth.Scopes{auth.ScopeUsersRead})
	if err != nil {
		t.Fatal(err)
	}
	p, err = svc.Authenticate(e.ctx, bearer(ro.AccessToken), "192.0.2.1")
	if err != nil || !p.Scopes.Has(auth.ScopeUsersRead) || p.Scopes.Has(auth.ScopeUsersWrite) || p.SecretID != sec2.ID {
		t.Fatalf("read-only token: %v %+v", err, p)
	}
	// Scopes beyond the application's.
	_, err = svc.Issue(e.ctx, app.ID, value, "192.0.2.1", auth.Scopes{auth.ScopeGroupsWrite})
	if !errors.Is(err, auth.ErrInvalidScope) {
		t.Errorf("scope beyond the application's: %v", err)
	}
	// Wrong credentials.
	for _, c := range [][2]string{{app.ID, value + "x"}, {app.ID, ""}, {"nobody", value}, {app.ID, value[:len(value)-1]}} {
		if _, err := svc.Issue(e.ctx, c[0], c[1], "192.0.2.1", nil); !errors.Is(err, auth.ErrInvalidClient) {
			t.Errorf("issue(%q, %q): %v, want invalid_client", c[0], c[1], err)
		}
	}
	// Disabling a secret ends it and the tokens obtained with it.
	if _, err := svc.SetSecretEnabled(e.ctx, cli, app.ID, sec.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Issue(e.ctx, app.ID, value, "192.0.2.1", nil); !errors.Is(err, auth.ErrInvalidClient) {
		t.Errorf("disabled secret: %v", err)
	}
	wantUnauthenticated(t, svc, e, bearer(iss.AccessToken), "secret_disabled")
	if _, err := svc.Authenticate(e.ctx, bearer(ro.AccessToken), "192.0.2.1"); err != nil {
		t.Errorf("token of the other secret: %v", err)
	}
	wantKind(t, svc.DeleteSecret(e.ctx, cli, app.ID, sec2.ID), directory.ErrConflict)
	if err := svc.DeleteSecret(e.ctx, cli, app.ID, sec.ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, svc, e, bearer(iss.AccessToken), "secret_deleted")

	// Key rotation: tokens signed by the previous key stay valid; the new
	// key signs from now on; both are published.
	old := jwtHeaderKid(t, ro.AccessToken)
	rotated, err := svc.RotateKeys(e.ctx, cli)
	if err != nil || len(rotated) != 2 || rotated[0].Algorithm != auth.AlgES256 || rotated[1].Algorithm != auth.AlgRS256 {
		t.Fatalf("rotate: %v %+v", err, rotated)
	}
	k := rotated[0]
	if k.ID == old {
		t.Fatalf("rotate: the same key %s", k.ID)
	}
	if _, err := svc.Authenticate(e.ctx, bearer(ro.AccessToken), "192.0.2.1"); err != nil {
		t.Errorf("token signed by the retired key: %v", err)
	}
	fresh, err := svc.Issue(e.ctx, app.ID, value2, "192.0.2.1", nil)
	if err != nil || jwtHeaderKid(t, fresh.AccessToken) != k.ID {
		t.Fatalf("issue after rotation: %v", err)
	}
	set, err := svc.JWKS(e.ctx)
	if err != nil || len(set.Keys) != 3 || len(set.Key(old)) != 1 || len(set.Key(k.ID)) != 1 || len(set.Key(rotated[1].ID)) != 1 {
		t.Fatalf("jwks: %v %+v", err, set)
	}
	for _, key := range set.Keys {
		if !key.IsPublic() {
			t.Error("JWKS publishes a private key")
		}
	}
	// Another process verifies the tokens with the keys from the store.
	other := e.auth(auth.Options{Issuer: "https://gatehouse.example"})
	if _, err := other.Authenticate(e.ctx, bearer(fresh.AccessToken), "192.0.2.3"); err != nil {
		t.Errorf("second process: %v", err)
	}
	// Expired access tokens are refused.
	e.clock.Advance(time.Hour + time.Minute)
	wantUnauthenticated(t, svc, e, bearer(fresh.AccessToken), "access_token_expired")
	// A token from another issuer is refused.
	foreign := e.auth(auth.Options{Issuer: "https://elsewhere.example"})
	wantUnauthenticated(t, foreign, e, bearer(ro.AccessToken), "")
}

// testSigningKeys: an ES256 and an RS256 key rotate side by side; the
// JWKS publishes both with kid, alg and use; a JWT signed by either
// verifies, also after its key retired; a JWT whose header names another
// algorithm than its key's is refused.
func testSigningKeys(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	svc := e.auth(auth.Options{Issuer: "https://gatehouse.example", KeyRotation: 24 * time.Hour})
	claims := map[string]any{"iss": "https://gatehouse.example", "sub": "u1"}
	sign := func(alg string) string {
		t.Helper()
		raw, err := svc.SignJWT(e.ctx, alg, "JWT", claims)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	header := func(raw string) (h struct{ Kid, Typ, Alg string }) {
		t.Helper()
		b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		if err != nil || json.Unmarshal(b, &h) != nil {
			t.Fatalf("header of %s", raw)
		}
		return h
	}
	verify := func(raw string) error {
		var out map[string]any
		return svc.VerifyJWT(e.ctx, raw, "JWT", &out)
	}
	rs, es := sign(auth.AlgRS256), sign(auth.AlgES256)
	if h := header(rs); h.Alg != "RS256" || h.Typ != "JWT" || h.Kid == "" {
		t.Errorf("RS256 header %+v", h)
	}
	if h := header(es); h.Alg != "ES256" || h.Kid == "" || h.Kid == header(rs).Kid {
		t.Errorf("ES256 header %+v", h)
	}
	if _, err := svc.SignJWT(e.ctx, "HS256", "JWT", claims); err == nil {
		t.Error("HS256: signed")
	}
	check := func(want ...string) {
		t.Helper()
		set, err := svc.JWKS(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range set.Keys {
			if !k.IsPublic() || k.Use != "sig" || k.KeyID == "" {
				t.Errorf("JWKS key %+v", k)
			}
			got = append(got, k.Algorithm)
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("JWKS algorithms (-want +got):\n%s", diff)
		}
	}
	check("ES256", "RS256")
	// Rotation by time: a day later both keys are replaced on use; the
	// old ones stay published and keep verifying.
	e.clock.Advance(25 * time.Hour)
	rs2 := sign(auth.AlgRS256)
	if header(rs2).Kid == header(rs).Kid {
		t.Error("RS256 key not rotated after the rotation period")
	}
	check("ES256", "ES256", "RS256", "RS256")
	for _, raw := range []string{rs, es, rs2} {
		if err := verify(raw); err != nil {
			t.Errorf("verify %s: %v", header(raw).Alg, err)
		}
	}
	// Rotation on demand: both algorithms.
	rotated, err := svc.RotateKeys(e.ctx, cli)
	if err != nil || len(rotated) != 2 {
		t.Fatal(err, rotated)
	}
	if h := header(sign(auth.AlgRS256)); h.Kid != rotated[1].ID {
		t.Errorf("after rotation RS256 is signed by %s, want %s", h.Kid, rotated[1].ID)
	}
	if err := verify(rs2); err != nil {
		t.Errorf("token of the retired RS256 key: %v", err)
	}
	// Algorithm confusion: an RS256 token re-labelled ES256 (and the
	// reverse) under the same kid is refused.
	relabel := func(raw, alg string) string {
		h := header(raw)
		b, _ := json.Marshal(map[string]string{"alg": alg, "kid": h.Kid, "typ": h.Typ})
		parts := strings.Split(raw, ".")
		return base64.RawURLEncoding.EncodeToString(b) + "." + parts[1] + "." + parts[2]
	}
	for _, raw := range []string{relabel(rs2, "ES256"), relabel(es, "RS256"), relabel(rs2, "HS256"), relabel(rs2, "none")} {
		if err := verify(raw); !errors.Is(err, auth.ErrBadJWT) {
			t.Errorf("relabelled token %s: %v", header(raw).Alg, err)
		}
	}
	// An RS256 JWT is never an access token.
	at, err := svc.SignJWT(e.ctx, auth.AlgRS256, "at+jwt", claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(e.ctx, bearer(at), "192.0.2.1"); err == nil {
		t.Error("an RS256 access token was accepted")
	}
}

func jwtHeaderKid(t *testing.T, token string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid, Typ, Alg string
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if h.Typ != "at+jwt" || h.Alg != "ES256" || h.Kid == "" {
		t.Errorf("JWT header %+v", h)
	}
	return h.Kid
}

func testThrottle(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	svc := e.auth(auth.Options{FailureLimit: 3, FailureWindow: time.Minute})
	app := mustApp(t, svc, e, auth.AppSpec{Name: "okta"})
	_, value := mustToken(t, svc, e, app.ID)
	bad, _ := auth.NewSecret(auth.TokenPrefix)
	var throttled *auth.ThrottledError
	for i := 0; i < 10 && throttled == nil; i++ {
		_, err := svc.Authenticate(e.ctx, bearer(bad), "198.51.100.7")
		errors.As(err, &throttled)
	}
	if throttled == nil || throttled.RetryAfter <= 0 {
		t.Fatalf("no throttling after repeated failures: %+v", throttled)
	}
	// The correctly configured client at the same address gets in.
	if _, err := svc.Authenticate(e.ctx, bearer(value), "198.51.100.7"); err != nil {
		t.Errorf("valid token refused from a throttled address: %v", err)
	}
	// Other addresses are not affected.
	wantUnauthenticated(t, svc, e, bearer(bad), "token_unknown")
}

func testSyncScope(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	eng, err := e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "Engineering", ParentID: directory.RootOrgID})
	if err != nil {
		t.Fatal(err)
	}
	platform, err := e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "Platform", ParentID: eng.ID})
	if err != nil {
		t.Fatal(err)
	}
	sales, err := e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "Sales", ParentID: directory.RootOrgID})
	if err != nil {
		t.Fatal(err)
	}
	alice := e.createUser(strict, &directory.User{UserName: "alice", Active: true, OrgID: eng.ID})
	bob := e.createUser(strict, &directory.User{UserName: "bob", Active: true, OrgID: platform.ID})
	carol := e.createUser(strict, &directory.User{UserName: "carol", Active: true, OrgID: sales.ID})
	dave := e.createUser(strict, &directory.User{UserName: "dave", Active: true, OrgID: sales.ID})
	engGroup, _, err := e.svc.CreateGroup(e.ctx, e.actor, strict, &directory.Group{DisplayName: "eng-readers", OrgID: eng.ID,
		Members: []directory.Member{{ID: alice.ID}, {ID: carol.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	salesGroup, _, err := e.svc.CreateGroup(e.ctx, e.actor, strict, &directory.Group{DisplayName: "sales-readers", OrgID: sales.ID,
		Members: []directory.Member{{ID: dave.ID}, {ID: bob.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	// An application that sees Engineering (and below) and the group
	// sales-readers (and its members).
	p := strict
	p.TargetOrgID = eng.ID
	p.Scope = directory.SyncScope{OrgIDs: []string{eng.ID}}
	users := func(p directory.Profile) []string {
		t.Helper()
		page, err := e.svc.Users(e.ctx, p, directory.Query{Limit: 100, Count: true})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range page.Items {
			names = append(names, u.UserName)
		}
		if page.Total != len(names) {
			t.Errorf("total %d, items %d", page.Total, len(names))
		}
		return names
	}
	if got := users(p); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("org scope sees %v", got)
	}
	_, err = e.svc.User(e.ctx, p, carol.ID, directory.ReadOptions{})
	wantKind(t, err, directory.ErrNotFound)
	g, err := e.svc.Group(e.ctx, p, engGroup.ID, directory.ReadOptions{Members: true})
	if err != nil || len(g.Members) != 1 || g.Members[0].ID != alice.ID {
		t.Errorf("members outside the scope are left out: %v %+v", err, g)
	}
	_, err = e.svc.Group(e.ctx, p, salesGroup.ID, directory.ReadOptions{})
	wantKind(t, err, directory.ErrNotFound)
	u, err := e.svc.User(e.ctx, p, bob.ID, directory.ReadOptions{Groups: true})
	if err != nil || len(u.Groups) != 0 {
		t.Errorf("groups outside the scope are left out: %v %+v", err, u)
	}
	testScopedFilters(t, e, p, scopedFixture{alice: alice, bob: bob, carol: carol, engGroup: engGroup, salesGroup: salesGroup})
	// Writes outside the scope fail as if the resource did not exist.
	_, err = e.svc.UpdateUser(e.ctx, e.actor, p, carol.ID, nil, func(u *directory.User) error { u.Active = false; return nil })
	wantKind(t, err, directory.ErrNotFound)
	wantKind(t, e.svc.DeleteUser(e.ctx, e.actor, p, carol.ID, nil), directory.ErrNotFound)
	wantKind(t, e.svc.DeleteGroup(e.ctx, e.actor, p, salesGroup.ID, nil), directory.ErrNotFound)
	_, err = e.svc.UpdateGroup(e.ctx, e.actor, p, engGroup.ID, nil, nil, []directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{dave.ID}}})
	wantKind(t, err, directory.ErrInvalid)
	// Moving a user out of the scope, or creating one outside it, is refused.
	_, err = e.svc.UpdateUser(e.ctx, e.actor, p, alice.ID, nil, func(u *directory.User) error { u.OrgID = sales.ID; return nil })
	wantKind(t, err, directory.ErrInvalid)
	_, _, err = e.svc.CreateUser(e.ctx, e.actor, p, &directory.User{UserName: "erin", Active: true, OrgID: sales.ID})
	wantKind(t, err, directory.ErrInvalid)
	erin, _, err := e.svc.CreateUser(e.ctx, e.actor, p, &directory.User{UserName: "erin", Active: true})
	if err != nil || erin.OrgID != eng.ID {
		t.Fatalf("create in the target org: %v %+v", err, erin)
	}
	// Replacing the members of a group keeps the members the application
	// cannot see.
	if _, err := e.svc.UpdateGroup(e.ctx, e.actor, p, engGroup.ID, nil, nil, []directory.MemberOp{{Kind: directory.ReplaceMembers, IDs: []string{erin.ID}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := e.memberIDs(engGroup.ID), sorted(carol.ID, erin.ID); !slices.Equal(got, want) {
		t.Errorf("members after a scoped replace: %v, want %v", got, want)
	}
	// So does deleting the group: refused while members it cannot see
	// remain, changing nothing; allowed once they have left.
	wantKind(t, e.svc.DeleteGroup(e.ctx, e.actor, p, engGroup.ID, nil), directory.ErrInUse)
	if got, want := e.memberIDs(engGroup.ID), sorted(carol.ID, erin.ID); !slices.Equal(got, want) {
		t.Errorf("members after a refused scoped delete: %v, want %v", got, want)
	}
	if _, err := e.svc.UpdateGroup(e.ctx, e.actor, strict, engGroup.ID, nil, nil, []directory.MemberOp{{Kind: directory.RemoveMembers, IDs: []string{carol.ID}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteGroup(e.ctx, e.actor, p, engGroup.ID, nil); err != nil {
		t.Errorf("scoped delete of a group without hidden members: %v", err)
	}
	// An idempotent create of an account outside the scope does not reach it.
	ip := idaas
	ip.TargetOrgID, ip.Scope = eng.ID, p.Scope
	_, _, err = e.svc.CreateUser(e.ctx, e.actor, ip, &directory.User{UserName: "carol", Active: true})
	wantKind(t, err, directory.ErrConflict)

	// Group scope: the group and its members.
	gp := strict
	gp.Scope = directory.SyncScope{GroupIDs: []string{salesGroup.ID}}
	if got := users(gp); !slices.Equal(got, []string{"bob", "dave"}) {
		t.Errorf("group scope sees %v", got)
	}
	page, err := e.svc.Groups(e.ctx, gp, directory.Query{Limit: 10, Count: true})
	if err != nil || page.Total != 1 || page.Items[0].ID != salesGroup.ID {
		t.Errorf("group scope groups: %v %+v", err, page)
	}
	// It places nothing: a create is refused, saying why, whatever the
	// organization (the answer tells nothing of which exist).
	for _, org := range []string{directory.RootOrgID, sales.ID, "no-such-org"} {
		cp := gp
		cp.TargetOrgID = org
		_, _, err := e.svc.CreateUser(e.ctx, e.actor, cp, &directory.User{UserName: "erin", Active: true})
		wantKind(t, err, directory.ErrInvalid)
		if err == nil || !strings.Contains(err.Error(), "holds groups only") {
			t.Errorf("a create through a scope of groups in %s: %v", org, err)
		}
	}
	// A filter cannot reach outside the scope either.
	if got := users(directory.Profile{Scope: directory.SyncScope{OrgIDs: []string{sales.ID}}}); !slices.Equal(got, []string{"carol", "dave"}) {
		t.Errorf("sales scope sees %v", got)
	}
	// The root organization in the scope is everything.
	if got := users(directory.Profile{Scope: directory.SyncScope{OrgIDs: []string{directory.RootOrgID}}}); len(got) != 5 {
		t.Errorf("root scope sees %v", got)
	}
}

// Tamper runs statement directly on the store's database, as someone with
// access to the database files could; with bypass, append-only triggers do
// not stop it.
type Tamper func(t *testing.T, s Store, bypass bool, statement string) error

func testAuditChain(t *testing.T, ns NewStore, tamper Tamper) {
	type step func(e *env) error
	build := func(t *testing.T) *env {
		e := setup(t, ns)
		svc := e.auth(auth.Options{})
		app := mustApp(t, svc, e, auth.AppSpec{Name: "okta"})
		mustToken(t, svc, e, app.ID)
		for _, name := range []string{"a", "b", "c"} {
			e.createUser(strict, &directory.User{UserName: name, Active: true})
		}
		e.createGroup("g")
		rep, err := e.svc.VerifyAudit(e.ctx)
		if err != nil || !rep.OK || rep.Records != 6 || rep.FirstSeq != 1 || rep.LastSeq != 6 || rep.HeadHash == "" {
			t.Fatalf("intact chain: %v %+v", err, rep)
		}
		return e
	}
	t.Run("AppendOnly", func(t *testing.T) {
		e := build(t)
		if tamper(t, e.store, false, `UPDATE audit_log SET action = 'user.read' WHERE seq = 3`) == nil {
			t.Error("an audit record was updated")
		}
		if tamper(t, e.store, false, `DELETE FROM audit_log WHERE seq = 3`) == nil {
			t.Error("an audit record was deleted")
		}
	})
	cases := []struct {
		name      string
		statement string
		seq       int64
		reason    string
	}{
		{"Edited", `UPDATE audit_log SET resource_id = 'someone-else' WHERE seq = 3`, 3, "changed"},
		{"EditedSnapshot", `UPDATE audit_log SET after = replace(after, '"active":true', '"active":false') WHERE seq = 4`, 4, "changed"},
		{"Removed", `DELETE FROM audit_log WHERE seq = 4`, 5, "missing"},
		{"Reordered", `UPDATE audit_log SET seq = 0 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 0`, 3, "does not follow"},
		{"TruncatedEnd", `DELETE FROM audit_log WHERE seq = 6`, 6, "removed from the end"},
		{"TruncatedStart", `DELETE FROM audit_log WHERE seq <= 2`, 3, "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := build(t)
			if err := tamper(t, e.store, true, tc.statement); err != nil {
				t.Fatal(err)
			}
			rep, err := e.svc.VerifyAudit(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			found := false
			for _, p := range rep.Problems {
				if p.Seq == tc.seq && strings.Contains(p.Reason, tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %+v do not name record %d (%q)", rep.Problems, tc.seq, tc.reason)
			}
		})
	}
	t.Run("Prune", func(t *testing.T) {
		e := build(t)
		e.clock.Advance(200 * 24 * time.Hour)
		e.createUser(strict, &directory.User{UserName: "late", Active: true})
		n, err := e.svc.PruneAudit(e.ctx, directory.Actor{Kind: "system"}, directory.AuditRetention)
		if err != nil || n != 6 {
			t.Fatalf("prune: %v %d", err, n)
		}
		rep, err := e.svc.VerifyAudit(e.ctx)
		if err != nil || !rep.OK || rep.Records != 2 || rep.FirstSeq != 7 || rep.LastSeq != 8 {
			t.Fatalf("after pruning: %v %+v", err, rep)
		}
		if n, err := e.svc.PruneAudit(e.ctx, directory.Actor{Kind: "system"}, directory.AuditRetention); err != nil || n != 0 {
			t.Fatalf("second prune: %v %d", err, n)
		}
		// Records cannot be removed behind the pruning's back.
		if err := tamper(t, e.store, true, `DELETE FROM audit_log WHERE seq = 7`); err != nil {
			t.Fatal(err)
		}
		if rep, _ := e.svc.VerifyAudit(e.ctx); rep.OK {
			t.Errorf("removal after pruning not detected: %+v", rep)
		}
	})
	t.Run("PruneStopsAtTheFirstYoungRecord", func(t *testing.T) {
		// Records 1 to 6 are past retention, 7 is not; 8 was stamped
		// long ago (by a host whose clock lagged): pruning deletes the
		// old start of the chain and stops at 7, keeping 8 as well.
		e := build(t)
		e.clock.Advance(200 * 24 * time.Hour)
		e.createUser(strict, &directory.User{UserName: "young", Active: true})
		lagging := directory.NewService(e.store, directory.Options{Now: (&clock{t: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)}).Now, NewID: newID})
		if _, _, err := lagging.CreateUser(e.ctx, e.actor, strict, &directory.User{UserName: "stamped-old", Active: true}); err != nil {
			t.Fatal(err)
		}
		n, err := e.svc.PruneAudit(e.ctx, directory.Actor{Kind: "system"}, 0)
		if err != nil || n != 6 {
			t.Fatalf("prune: %v %d, want 6 records deleted", err, n)
		}
		rep, err := e.svc.VerifyAudit(e.ctx)
		if err != nil || !rep.OK || rep.FirstSeq != 7 || rep.LastSeq != 9 {
			t.Fatalf("after pruning: %v %+v", err, rep)
		}
	})
	t.Run("PruneBackdatedRecord", func(t *testing.T) {
		// The red team's attack: back-date the last record and prune.
		// Only the records before the first young one may go: none.
		e := build(t)
		e.clock.Advance(24 * time.Hour)
		e.createUser(strict, &directory.User{UserName: "late", Active: true})
		if err := tamper(t, e.store, true, `UPDATE audit_log SET at = '2025-05-01T00:00:00.000000Z' WHERE seq = 7`); err != nil {
			t.Fatal(err)
		}
		n, err := e.svc.PruneAudit(e.ctx, directory.Actor{Kind: "system"}, 0)
		if err != nil || n != 0 {
			t.Fatalf("prune: %v %d, want nothing deleted", err, n)
		}
		rep, err := e.svc.VerifyAudit(e.ctx)
		if err != nil || rep.OK || rep.Records != 7 || len(rep.Problems) != 1 || rep.Problems[0].Seq != 7 {
			t.Fatalf("after pruning: %v %+v", err, rep)
		}
	})
	t.Run("PruneRefusesAlteredRecords", func(t *testing.T) {
		// Records 1 to 6 past retention, 7 not: what pruning would delete,
		// and the link to what it keeps, are checked first.
		old := func(t *testing.T) *env {
			e := build(t)
			e.clock.Advance(200 * 24 * time.Hour)
			e.createUser(strict, &directory.User{UserName: "late", Active: true})
			return e
		}
		for _, tc := range []struct {
			name      string
			build     func(t *testing.T) *env
			statement string
			reason    string
		}{
			{"Edited", old, `UPDATE audit_log SET resource_id = 'someone-else' WHERE seq = 3`,
				"record 3 was changed after it was written"},
			{"Removed", old, `DELETE FROM audit_log WHERE seq = 4`, "record 4 is missing"},
			{"Reordered", old, `UPDATE audit_log SET seq = 0 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 0`,
				"record 3 does not follow record 2"},
			{"TruncatedStart", old, `DELETE FROM audit_log WHERE seq <= 2`,
				"records 1 to 2 are missing and no retention pruning removed them"},
			{"FirstKeptRelinked", old, `UPDATE audit_log SET prev_hash = hash WHERE seq = 7`, "record 7 does not follow record 6"},
			{"AllBackdated", build, `UPDATE audit_log SET at = '2025-05-01T00:00:00.000000Z'`,
				"record 1 was changed after it was written"},
			{"TruncatedEnd", func(t *testing.T) *env {
				e := build(t)
				e.clock.Advance(200 * 24 * time.Hour)
				return e
			}, `DELETE FROM audit_log WHERE seq = 6`, "the chain's head is record 6, but the chain ends at record 5: record 6 was removed from the end"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := tc.build(t)
				if err := tamper(t, e.store, true, tc.statement); err != nil {
					t.Fatal(err)
				}
				before, err := e.svc.VerifyAudit(e.ctx)
				if err != nil || before.OK {
					t.Fatalf("tampering not detected: %v %+v", err, before)
				}
				n, err := e.svc.PruneAudit(e.ctx, directory.Actor{Kind: "system"}, 0)
				wantKind(t, err, directory.ErrTampered)
				if n != 0 || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), "retention pruning deleted nothing") {
					t.Errorf("prune: %d %v, want %q", n, err, tc.reason)
				}
				after, err := e.svc.VerifyAudit(e.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("the refused prune changed the log (-before +after):\n%s", diff)
				}
			})
		}
	})
	t.Run("Checkpoints", func(t *testing.T) { testAuditCheckpoints(t, build, tamper) })
	t.Run("Filters", func(t *testing.T) {
		e := build(t)
		all, _ := e.store.Audit(e.ctx, directory.AuditQuery{})
		mid := all[2].Time
		for name, tc := range map[string]struct {
			q    directory.AuditQuery
			want int
		}{
			"actor cli":      {directory.AuditQuery{Actor: "cli"}, 2},
			"actor app id":   {directory.AuditQuery{Actor: e.actor.AppID}, 4},
			"actor app name": {directory.AuditQuery{Actor: e.actor.AppName}, 4},
			"action":         {directory.AuditQuery{Action: "user.create"}, 3},
			"action prefix":  {directory.AuditQuery{Action: "token."}, 1},
			"since":          {directory.AuditQuery{Since: mid}, 3},
			"until":          {directory.AuditQuery{Until: mid}, 3},
			"limit":          {directory.AuditQuery{Limit: 2}, 2},
			"before seq":     {directory.AuditQuery{BeforeSeq: 3}, 2},
		} {
			got, err := e.store.Audit(e.ctx, tc.q)
			if err != nil || len(got) != tc.want {
				t.Errorf("%s: %v %d, want %d", name, err, len(got), tc.want)
			}
		}
	})
}

// testAuditCheckpoints: the chain compared with signed checkpoints of its
// head, kept outside the database, shows what the chain alone cannot —
// the last records removed and the head moved back, the chain rewritten
// consistently — and stays compatible with retention pruning.
func testAuditCheckpoints(t *testing.T, build func(t *testing.T) *env, tamper Tamper) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	// anchor signs the head now, as the server does, and reads the
	// checkpoint back as verification does.
	anchor := func(t *testing.T, e *env) directory.AuditCheckpoint {
		t.Helper()
		seq, hash, err := e.store.AuditHead(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := checkpoint.NewReader(pub)
		if err := r.Read(strings.NewReader(checkpoint.Sign(key, seq, hash, e.clock.Now())), "test"); err != nil || len(r.Checkpoints) != 1 {
			t.Fatalf("checkpoint of %d: %v %+v", seq, err, r.Problems)
		}
		return r.Checkpoints[0]
	}
	verify := func(t *testing.T, e *env, cps ...directory.AuditCheckpoint) *directory.AuditReport {
		t.Helper()
		rep, err := e.svc.VerifyAudit(e.ctx, cps...)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	// names reports whether a problem names record seq with reason.
	names := func(rep *directory.AuditReport, seq int64, reason string) bool {
		for _, p := range rep.Problems {
			if p.Seq == seq && strings.Contains(p.Reason, reason) {
				return true
			}
		}
		return false
	}
	// Removing records 5 and 6 and moving the head back to 4: as the
	// database's owner (triggers bypassed), and as the application's own
	// role, which may delete during retention pruning.
	truncations := map[string]struct {
		bypass bool
		stmt   func(dialect string) string
	}{
		"TruncatedEndHeadMovedBack": {true, func(string) string {
			return `DELETE FROM audit_log WHERE seq > 4; UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4) WHERE id = 1`
		}},
		"TruncatedAsTheApplication": {false, func(dialect string) string {
			if dialect == "postgres" {
				return `SELECT set_config('gatehouse.audit_prune', 'on', false); DELETE FROM audit_log WHERE seq > 4; ` +
					`UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4) WHERE id = 1`
			}
			return `INSERT INTO audit_prune_guard (pruning) VALUES (1); DELETE FROM audit_log WHERE seq > 4; DELETE FROM audit_prune_guard; ` +
				`UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4) WHERE id = 1`
		}},
	}
	for name, tc := range truncations {
		t.Run(name, func(t *testing.T) {
			e := build(t)
			cp := anchor(t, e)
			if rep := verify(t, e, cp); !rep.OK || rep.Checkpoints.Matched != 1 || rep.Checkpoints.Unanchored != 0 {
				t.Fatalf("before tampering: %+v %+v", rep, rep.Checkpoints)
			}
			if err := tamper(t, e.store, tc.bypass, tc.stmt(storeDialect(e.store))); err != nil {
				t.Fatal(err)
			}
			rep := verify(t, e, cp)
			if rep.OK || rep.LastSeq != 4 || !names(rep, 6, "records 5 to 6 were removed and the head moved back") {
				t.Errorf("truncation below the checkpoint not detected: %+v", rep)
			}
			// Records appended since do not hide it: record 6 is another.
			e.createUser(strict, &directory.User{UserName: "x", Active: true})
			e.createUser(strict, &directory.User{UserName: "y", Active: true})
			rep = verify(t, e, cp)
			if rep.OK || rep.LastSeq != 6 || !names(rep, 6, "does not match the checkpoint") {
				t.Errorf("rewritten chain not detected: %+v", rep)
			}
		})
	}
	t.Run("RecentRecordsAndLaterCheckpoints", func(t *testing.T) {
		e := build(t)
		early := anchor(t, e)
		e.createUser(strict, &directory.User{UserName: "late", Active: true})
		rep := verify(t, e, early)
		if !rep.OK || rep.Checkpoints.Latest.Seq != 6 || rep.Checkpoints.Unanchored != 1 {
			t.Errorf("a record after the checkpoint: %+v %+v", rep, rep.Checkpoints)
		}
		later := anchor(t, e)
		rep = verify(t, e, early, later)
		if !rep.OK || rep.Checkpoints.Read != 2 || rep.Checkpoints.Matched != 2 || rep.Checkpoints.Latest.Seq != 7 || rep.Checkpoints.Unanchored != 0 {
			t.Errorf("two checkpoints: %+v %+v", rep, rep.Checkpoints)
		}
		// A checkpoint that anchors another hash for a record that is there.
		other := early
		other.Hash = strings.Repeat("0", 64)
		if rep := verify(t, e, other); rep.OK || !names(rep, 6, "does not match") {
			t.Errorf("mismatching checkpoint: %+v", rep)
		}
	})
	t.Run("Pruned", func(t *testing.T) {
		e := build(t)
		atSix := anchor(t, e)
		atThree := atSix
		all, err := e.store.Audit(e.ctx, directory.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range all {
			if r.Seq == 3 {
				atThree.Seq, atThree.Hash = 3, r.Hash
			}
		}
		e.clock.Advance(200 * 24 * time.Hour)
		e.createUser(strict, &directory.User{UserName: "late", Active: true})
		if n, err := e.svc.PruneAudit(e.ctx, directory.Actor{Kind: "system"}, directory.AuditRetention); err != nil || n != 6 {
			t.Fatalf("prune: %v %d", err, n)
		}
		afterPrune := anchor(t, e)
		rep := verify(t, e, atThree, atSix, afterPrune)
		if !rep.OK || rep.Checkpoints.Pruned != 2 || rep.Checkpoints.Matched != 1 || rep.Checkpoints.Latest.Seq != 8 {
			t.Errorf("checkpoints below and above the prune point: %+v %+v", rep, rep.Checkpoints)
		}
		// The pruning recorded record 6's hash: a checkpoint of 6 with
		// another hash does not pass as pruned.
		wrong := atSix
		wrong.Hash = strings.Repeat("0", 64)
		if rep := verify(t, e, wrong); rep.OK || !names(rep, 6, "was pruned with hash") {
			t.Errorf("checkpoint contradicting the pruning: %+v", rep)
		}
		// Records removed behind the pruning's back are not pruned ones.
		if err := tamper(t, e.store, true, `DELETE FROM audit_log WHERE seq = 7`); err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, e, afterPrune); rep.OK {
			t.Errorf("removal after pruning not detected: %+v", rep)
		}
	})
	// Records written after a checkpoint was signed can only be pruned
	// once the retention has passed since its signing.
	t.Run("PrunedRightAtRetention", func(t *testing.T) {
		e := build(t)
		atSix := anchor(t, e)
		e.createUser(strict, &directory.User{UserName: "seven", Active: true})
		e.clock.Advance(directory.AuditRetention + time.Second)
		e.createUser(strict, &directory.User{UserName: "eight", Active: true})
		if n, err := e.svc.PruneAudit(e.ctx, directory.Actor{Kind: "system"}, 0); err != nil || n != 7 {
			t.Fatalf("prune: %v %d", err, n)
		}
		rep := verify(t, e, atSix, anchor(t, e))
		if !rep.OK || rep.Checkpoints.Pruned != 1 || rep.Checkpoints.Matched != 1 || rep.Checkpoints.RemovedEarly != 0 {
			t.Errorf("pruning right after the retention: %+v %+v", rep, rep.Checkpoints)
		}
	})
	// Someone who can write the database prunes with a retention of their
	// own (their own configuration, or clock): the chain is consistent, and
	// the audit.prune record genuine, but the checkpoints' times show that
	// the records it removed were younger than the retention.
	t.Run("PrunedEarly", func(t *testing.T) {
		e := build(t)
		atSix := anchor(t, e)
		e.clock.Advance(time.Hour)
		e.createUser(strict, &directory.User{UserName: "seven", Active: true})
		atSeven := anchor(t, e)
		e.clock.Advance(48 * time.Hour)
		e.createUser(strict, &directory.User{UserName: "eight", Active: true})
		own := directory.NewService(e.store, directory.Options{Now: e.clock.Now, NewID: newID, AuditRetention: 24 * time.Hour})
		if n, err := own.PruneAudit(e.ctx, directory.Actor{Kind: "cli"}, 0); err != nil || n != 7 {
			t.Fatalf("prune: %v %d", err, n)
		}
		if rep := verify(t, e); !rep.OK {
			t.Fatalf("the chain alone: %+v", rep)
		}
		afterPrune := anchor(t, e)
		for name, cps := range map[string][]directory.AuditCheckpoint{
			"anchored":         {atSix, atSeven, afterPrune},
			"not anchored yet": {atSix, atSeven},
		} {
			rep := verify(t, e, cps...)
			if rep.OK || !names(rep, 7, "was removed before its retention ended: the checkpoint signed") ||
				!names(rep, 7, "it pruned with a retention of 1d, shorter than the 180d verification holds pruning to") ||
				rep.Checkpoints.Pruned != 0 || rep.Checkpoints.RemovedEarly != 2 {
				t.Errorf("%s: early pruning not detected: %+v %+v", name, rep, rep.Checkpoints)
			}
		}
		// Held to the retention it pruned with (as after shortening
		// audit.retention), the same pruning is consistent.
		short := directory.NewService(e.store, directory.Options{Now: e.clock.Now, NewID: newID, AuditRetention: 24 * time.Hour})
		rep, err := short.VerifyAudit(e.ctx, atSix, atSeven, afterPrune)
		if err != nil || !rep.OK || rep.Checkpoints.Pruned != 2 {
			t.Errorf("with a retention of 1d: %v %+v %+v", err, rep, rep.Checkpoints)
		}
		// Records older than every checkpoint have no such bound.
		if rep := verify(t, e, atSeven, afterPrune); !rep.OK || rep.Checkpoints.Pruned != 1 {
			t.Errorf("only a checkpoint of the last pruned record: %+v %+v", rep, rep.Checkpoints)
		}
	})
	// The configured retention is the shortest pruning may use.
	t.Run("ShorterRetentionRefused", func(t *testing.T) {
		e := build(t)
		_, err := e.svc.PruneAudit(e.ctx, directory.Actor{Kind: "cli"}, 30*24*time.Hour)
		wantKind(t, err, directory.ErrInvalid)
	})
}

// storeDialect names the store's database ("" when it does not say).
func storeDialect(s Store) string {
	if d, ok := s.(interface{ Dialect() string }); ok {
		return d.Dialect()
	}
	return ""
}

// testAccessTokenForm: RFC 9068 §4 — an access token is a JWT of type
// at+jwt (or application/at+jwt) with an exp; one without exp, or of
// another type, is refused even when the service's own key signed it
// (ID tokens and other JWTs will be signed with the same keys).
func testAccessTokenForm(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	svc := e.auth(auth.Options{Issuer: "https://gatehouse.example"})
	app := mustApp(t, svc, e, auth.AppSpec{Name: "ram", Kind: auth.KindServerApp, Scopes: auth.Scopes{auth.ScopeUsersRead}})
	sec, value, err := svc.CreateSecret(e.ctx, cli, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Issue(e.ctx, app.ID, value, "192.0.2.1", nil); err != nil { // makes the signing key
		t.Fatal(err)
	}
	keys, err := svc.SigningKeys(e.ctx)
	if err != nil || len(keys) == 0 || keys[0].Algorithm != auth.AlgES256 {
		t.Fatal(err, keys)
	}
	block, _ := pem.Decode(keys[0].PrivatePEM)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	sign := func(typ any, change func(map[string]any)) string {
		t.Helper()
		claims := map[string]any{"iss": "https://gatehouse.example", "sub": app.ID, "aud": "gatehouse", "client_id": app.ID,
			"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j1",
			"scope": "scim:users:read", "sid": sec.ID}
		change(claims)
		opts := &jose.SignerOptions{}
		if typ != nil {
			opts = opts.WithHeader(jose.HeaderType, typ)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: keys[0].ID}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(claims)
		obj, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	keep := func(map[string]any) {}
	for _, tc := range []struct {
		name   string
		token  string
		reason string // "" : accepted
	}{
		{"at+jwt", sign("at+jwt", keep), ""},
		{"application/at+jwt", sign("application/at+jwt", keep), ""},
		{"AT+JWT", sign("AT+JWT", keep), ""},
		// The lifetime the service issues (an hour here), within a
		// minute; an iat, as every token it issues has.
		{"exp an hour and a minute after iat", sign("at+jwt", func(c map[string]any) { c["exp"] = now.Add(time.Hour + time.Minute).Unix() }), ""},
		{"exp ten years ahead", sign("at+jwt", func(c map[string]any) { c["exp"] = now.AddDate(10, 0, 0).Unix() }), "access_token_lifetime_too_long"},
		{"exp an hour and two minutes after iat", sign("at+jwt", func(c map[string]any) { c["exp"] = now.Add(time.Hour + 2*time.Minute).Unix() }),
			"access_token_lifetime_too_long"},
		{"iat ten years ago", sign("at+jwt", func(c map[string]any) { c["iat"] = now.AddDate(-10, 0, 0).Unix() }), "access_token_lifetime_too_long"},
		{"no iat", sign("at+jwt", func(c map[string]any) { delete(c, "iat") }), "access_token_no_issued_at"},
		{"iat null", sign("at+jwt", func(c map[string]any) { c["iat"] = nil }), "access_token_no_issued_at"},
		{"no iat, exp ten years ahead", sign("at+jwt", func(c map[string]any) { delete(c, "iat"); c["exp"] = now.AddDate(10, 0, 0).Unix() }),
			"access_token_no_issued_at"},
		{"iat in the future", sign("at+jwt", func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix(); c["exp"] = now.Add(2 * time.Hour).Unix() }),
			"access_token_invalid"},
		{"no exp", sign("at+jwt", func(c map[string]any) { delete(c, "exp") }), "access_token_no_expiry"},
		{"exp null", sign("at+jwt", func(c map[string]any) { c["exp"] = nil }), "access_token_no_expiry"},
		{"typ JWT", sign("JWT", keep), "access_token_wrong_type"},
		{"no typ", sign(nil, keep), "access_token_wrong_type"},
		{"typ not a string", sign(true, keep), "access_token_wrong_type"},
		{"typ of a logout token", sign("logout+jwt", keep), "access_token_wrong_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reason == "" {
				if _, err := svc.Authenticate(e.ctx, bearer(tc.token), "192.0.2.1"); err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantUnauthenticated(t, svc, e, bearer(tc.token), tc.reason)
		})
	}
	// The issuer changed (a server that learned its address): tokens that
	// name the former one are refused, even after a successful check.
	tok := sign("at+jwt", keep)
	if _, err := svc.Authenticate(e.ctx, bearer(tok), "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	svc.SetIssuer("http://127.0.0.1:8080")
	wantUnauthenticated(t, svc, e, bearer(tok), "access_token_invalid")
	fresh, err := svc.Issue(e.ctx, app.ID, value, "192.0.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := jwtClaims(t, fresh.AccessToken); c["iss"] != "http://127.0.0.1:8080" || svc.Issuer() != "http://127.0.0.1:8080" {
		t.Errorf("issuer after SetIssuer: token %v, service %q", c["iss"], svc.Issuer())
	}
}

type scopedFixture struct {
	alice, bob, carol    *directory.User
	engGroup, salesGroup *directory.Group
}

// testScopedFilters: filters and sort keys of a scoped reader see only what
// it can see. p sees Engineering (alice, bob, eng-readers); bob is a member
// of sales-readers and carol of eng-readers, both hidden from p.
func testScopedFilters(t *testing.T, e *env, p directory.Profile, f scopedFixture) {
	t.Helper()
	reg := registry(t)
	ent := directory.EnterpriseURN
	// alice's manager is carol (hidden), bob's is alice.
	for _, m := range [][2]*directory.User{{f.alice, f.carol}, {f.bob, f.alice}} {
		mgr := m[1].ID
		if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, m[0].ID, nil, func(u *directory.User) error {
			u.Attrs[ent] = map[string]any{"manager": map[string]any{"value": mgr}}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(users []*directory.User) []string {
		var out []string
		for _, u := range users {
			out = append(out, u.UserName)
		}
		return out
	}
	for _, tc := range []struct {
		filter, sort string
		desc         bool
		want         []string
	}{
		{filter: `groups.display eq "sales-readers"`},
		{filter: `groups.value eq "` + f.salesGroup.ID + `"`},
		{filter: `groups pr`, want: []string{"alice"}},
		{filter: `groups.type eq "direct"`, want: []string{"alice"}},
		{filter: `not (groups pr)`, want: []string{"bob"}},
		{filter: ent + `:manager.value eq "` + f.carol.ID + `"`},
		{filter: ent + `:manager pr`, want: []string{"bob"}},
		{filter: ent + `:manager[value pr]`, want: []string{"bob"}},
		{sort: ent + `:manager.value`, want: []string{"bob", "alice"}},
		{sort: ent + `:manager.value`, desc: true, want: []string{"alice", "bob"}},
	} {
		q := directory.Query{Limit: 10, Count: true, Descending: tc.desc}
		if tc.filter != "" {
			expr, err := filter.Parse(tc.filter)
			if err == nil {
				err = filter.Resolve(expr, reg.User)
			}
			if err != nil {
				t.Fatal(err)
			}
			q.Filter = expr
		}
		if tc.sort != "" {
			ref, err := reg.User.ResolveLoose(tc.sort)
			if err != nil {
				t.Fatal(err)
			}
			q.Sort = &filter.Path{Name: ref.Attr.Name, Ref: ref}
		}
		page, err := e.svc.Users(e.ctx, p, q)
		if err != nil {
			t.Fatalf("%s%s: %v", tc.filter, tc.sort, err)
		}
		if diff := cmp.Diff(tc.want, names(page.Items)); diff != "" || page.Total != len(tc.want) {
			t.Errorf("scoped users %s%s (desc %v), total %d (-want +got):\n%s", tc.filter, tc.sort, tc.desc, page.Total, diff)
		}
	}
	for _, fl := range []string{`members.display eq "carol"`, `members.value eq "` + f.carol.ID + `"`, `members[display sw "car"]`} {
		expr, err := filter.Parse(fl)
		if err == nil {
			err = filter.Resolve(expr, reg.Group)
		}
		if err != nil {
			t.Fatal(err)
		}
		page, err := e.svc.Groups(e.ctx, p, directory.Query{Filter: expr, Limit: 10, Count: true})
		if err != nil || len(page.Items) != 0 || page.Total != 0 {
			t.Errorf("scoped groups %s: %v %d %d", fl, err, len(page.Items), page.Total)
		}
	}
	// What the reader is shown agrees: no hidden manager.
	u, err := e.svc.User(e.ctx, p, f.alice.ID, directory.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Attrs[ent]; ok {
		t.Errorf("alice's hidden manager is shown: %v", u.Attrs[ent])
	}
	u, err = e.svc.User(e.ctx, strict, f.alice.ID, directory.ReadOptions{})
	if err != nil || u.Attrs[ent] == nil {
		t.Errorf("alice's manager is gone for an unscoped reader: %v %v", err, u)
	}
}

package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// The harness runs the provider as Gatehouse wires it — a real SQLite
// store, auth.Service's keys and client secrets, the oauth token endpoint —
// with a stand-in for the login pages (fakeSessions): the tests say who
// signs in and with which factors.

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type plainHasher struct{}

func (plainHasher) Hash(_ context.Context, pw string) (string, error) { return "plain:" + pw, nil }

// fakeSessions is login.Sessions with sessions in memory: /fake-login
// signs in whoever next names, with factors.
type fakeSessions struct {
	mu       sync.Mutex
	sessions map[string]*login.Session // by cookie value
	next     string                    // the user who signs in at the login page
	factors  int
	logins   int // times the login page was shown
	apps     auth.Store
	users    directory.Store
	now      func() time.Time
}

const cookieName = "fake_session"

func (f *fakeSessions) Current(r *http.Request) (*login.Session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[c.Value]
	if s == nil {
		return nil, nil
	}
	cp := *s
	return &cp, nil
}

func (f *fakeSessions) Satisfies(_ context.Context, s *login.Session, req login.Requirement) (bool, error) {
	if req.Force {
		return false, nil
	}
	if req.MaxAge > 0 && f.now().Sub(s.AuthTime) > req.MaxAge {
		return false, nil
	}
	return s.Factors >= req.MinFactors, nil
}

func (f *fakeSessions) Authenticate(w http.ResponseWriter, r *http.Request, req login.Requirement, resume string) {
	if !login.SafeResume(resume) {
		http.Error(w, "bad resume", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.logins++
	f.mu.Unlock()
	http.Redirect(w, r, "/fake-login?resume="+url.QueryEscape(resume), http.StatusSeeOther)
}

func (f *fakeSessions) login(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	user, factors := f.next, f.factors
	f.mu.Unlock()
	if user == "" {
		http.Error(w, "nobody signs in", http.StatusForbidden)
		return
	}
	now := f.now()
	amr := []string{login.AMRPassword}
	if factors >= 2 {
		amr = append(amr, login.AMROTP, login.AMRMultiFactor)
	}
	s := &login.Session{ID: newID(), UserID: user, AuthTime: now.Truncate(time.Second), AMR: amr, Factors: max(factors, 1),
		Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
	token := newID()
	f.mu.Lock()
	f.sessions[token] = s
	f.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", HttpOnly: true})
	resume := r.URL.Query().Get("resume")
	if !login.SafeResume(resume) {
		http.Error(w, "bad resume", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, resume, http.StatusSeeOther)
}

func (f *fakeSessions) Allowed(ctx context.Context, userID, appID string) (bool, string, error) {
	app, err := f.apps.App(ctx, appID)
	if err != nil {
		return false, "", err
	}
	u, err := f.users.User(ctx, userID, directory.ReadOptions{Groups: true})
	if err != nil {
		return false, "", err
	}
	if !u.Active || !app.Enabled {
		return false, "Your account or this application is disabled.", nil
	}
	if app.Access.Everyone {
		return true, "", nil
	}
	for _, g := range u.Groups {
		if slices.Contains(app.Access.AllowedGroups, g.ID) {
			return true, "", nil
		}
	}
	return false, "You are not in a group allowed to use " + app.Name + ".", nil
}

func (f *fakeSessions) Refuse(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s\n%s\n", title, message)
}

func (f *fakeSessions) EndSession(w http.ResponseWriter, r *http.Request) (*login.Session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[c.Value]
	delete(f.sessions, c.Value)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1})
	return s, nil
}

// harness is a running provider.
type harness struct {
	t        testing.TB
	ctx      context.Context
	store    *sqlite.Store
	auth     *auth.Service
	dir      *directory.Service
	sessions *fakeSessions
	srv      *httptest.Server
	url      string
	provider *oidc.Provider
}

var cli = directory.Actor{Kind: "cli"}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	as := auth.NewService(st, auth.Options{NewID: newID, Log: log})
	as.RegisterSSOKind(auth.KindOIDCClient, oidc.Validator)
	dir := directory.NewService(st, directory.Options{Hasher: plainHasher{}, Policy: directory.DefaultPasswordPolicy(), NewID: newID})
	fs := &fakeSessions{sessions: map[string]*login.Session{}, apps: st, users: st, now: time.Now, factors: 1}
	p := oidc.New(oidc.Options{Keys: as, Apps: st, Users: st, Sessions: fs, Store: st, Log: log})
	oh := oauth.New(as, oauth.Config{}, log)
	oh.AddGrants(p.Grants(), p.Metadata)
	mux := http.NewServeMux()
	for _, pat := range oauth.Patterns() {
		mux.Handle(pat, oh)
	}
	p.Mount(mux)
	mux.HandleFunc("/fake-login", fs.login)
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "confirm sign-out") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	as.SetIssuer(srv.URL)
	return &harness{t: t, ctx: ctx, store: st, auth: as, dir: dir, sessions: fs, srv: srv, url: srv.URL, provider: p}
}

func (h *harness) user(name string, groups ...string) *directory.User {
	h.t.Helper()
	u, _, err := h.dir.CreateUser(h.ctx, cli, directory.Profile{TargetOrgID: directory.RootOrgID}, &directory.User{
		UserName: name, DisplayName: "Person " + name, Active: true,
		Attrs: directory.Attrs{
			"name":   map[string]any{"givenName": "Given", "familyName": "Family"},
			"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

func (h *harness) group(name string, members ...string) *directory.Group {
	h.t.Helper()
	g := &directory.Group{DisplayName: name}
	for _, m := range members {
		g.Members = append(g.Members, directory.Member{ID: m})
	}
	out, _, err := h.dir.CreateGroup(h.ctx, cli, directory.Profile{TargetOrgID: directory.RootOrgID}, g)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// rp is a registered client.
type rp struct {
	id, secret string
	redirect   string
}

func (h *harness) client(name, settings string, access auth.Access) *rp {
	h.t.Helper()
	app, err := h.auth.CreateApp(h.ctx, cli, auth.AppSpec{Name: name, Kind: auth.KindOIDCClient, Access: access, SSO: json.RawMessage(settings)})
	if err != nil {
		h.t.Fatalf("create client %s: %v", name, err)
	}
	c := &rp{id: app.ID}
	var s oidc.Settings
	_ = json.Unmarshal(app.SSO, &s)
	c.redirect = s.RedirectURIs[0]
	if !s.Public {
		_, secret, err := h.auth.CreateSecret(h.ctx, cli, app.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		c.secret = secret
	}
	return c
}

// browser is a person's browser: a cookie jar, and no following of
// redirects that leave Gatehouse.
type browser struct {
	h *harness
	c *http.Client
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{h: h}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), h.url) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// authorize follows the authorization request through Gatehouse and
// returns the last response (the redirect out, or a page).
func (b *browser) authorize(q url.Values) *http.Response {
	b.h.t.Helper()
	res, err := b.c.Get(b.h.url + oidc.AuthorizePath + "?" + q.Encode())
	if err != nil {
		b.h.t.Fatal(err)
	}
	return res
}

// callback returns the query of the redirect a response makes, or fails.
func callback(t *testing.T, res *http.Response, redirect string) url.Values {
	t.Helper()
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, redirect) {
		t.Fatalf("want a redirect to %s, got %d %q: %s", redirect, res.StatusCode, loc, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// pkce returns a verifier and its S256 challenge.
func pkce() (string, string) {
	v := newID() + newID()
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

func (c *rp) authParams(scope, challenge string) url.Values {
	q := url.Values{"client_id": {c.id}, "redirect_uri": {c.redirect}, "response_type": {"code"}, "scope": {scope},
		"state": {"st-" + newID()}, "nonce": {"n-" + newID()}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	return q
}

// tokenResponse is a token endpoint answer.
type tokenResponse struct {
	status int
	body   map[string]any
}

func (r tokenResponse) str(k string) string { s, _ := r.body[k].(string); return s }

// token posts a token request, with the client's secret by HTTP Basic
// when it has one.
func (h *harness) token(c *rp, form url.Values) tokenResponse {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+oauth.TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.secret != "" {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	} else if form.Get("client_id") == "" {
		form.Set("client_id", c.id)
		req, _ = http.NewRequest(http.MethodPost, h.url+oauth.TokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	out := tokenResponse{status: res.StatusCode}
	_ = json.NewDecoder(res.Body).Decode(&out.body)
	return out
}

func (h *harness) exchange(c *rp, code, verifier string) tokenResponse {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return h.token(c, f)
}

func (h *harness) refresh(c *rp, rt string) tokenResponse {
	return h.token(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// userinfo calls the UserInfo endpoint with an access token.
func (h *harness) userinfo(access string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+oidc.UserInfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// verify checks a JWT's signature against the published JWKS and its typ,
// and returns its claims and header.
func (h *harness) verify(raw, typ string) (map[string]any, jose.Header) {
	h.t.Helper()
	res, err := http.Get(h.url + oauth.JWKSPath)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		h.t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		h.t.Fatalf("parse %s: %v", typ, err)
	}
	hdr := tok.Headers[0]
	if got, _ := hdr.ExtraHeaders[jose.HeaderType].(string); got != typ {
		h.t.Errorf("typ = %q, want %q", got, typ)
	}
	keys := set.Key(hdr.KeyID)
	if len(keys) != 1 {
		h.t.Fatalf("kid %q is not published", hdr.KeyID)
	}
	if keys[0].Algorithm != hdr.Algorithm || keys[0].Use != "sig" {
		h.t.Errorf("%s signed %s by a key published as %s, use %q", typ, hdr.Algorithm, keys[0].Algorithm, keys[0].Use)
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		h.t.Fatalf("signature: %v", err)
	}
	return claims, hdr
}

func sha(v string) []byte { s := sha256.Sum256([]byte(v)); return s[:] }

func splitScope(s string) []string { return strings.Fields(s) }

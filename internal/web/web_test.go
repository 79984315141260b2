package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

type plainHasher struct{}

func (plainHasher) Hash(_ context.Context, pw string) (string, error) { return "plain:" + pw, nil }
func (plainHasher) Verify(_ context.Context, pw, phc string) (bool, error) {
	return phc == "plain:"+pw, nil
}

// testSite is a site over an SQLite store with one person, ada, whose
// password is Secret-Pass-1.
func testSite(t testing.TB) (*Site, *login.Service) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	newID := func() string { v, _ := login.NewToken(); return v }
	dir := directory.NewService(st, directory.Options{Hasher: plainHasher{}, Policy: directory.DefaultPasswordPolicy(), NewID: newID})
	if _, _, err := dir.CreateUser(context.Background(), directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: "ada", Active: true, Password: "Secret-Pass-1"}); err != nil {
		t.Fatal(err)
	}
	svc := login.New(st, st, login.Options{Hasher: plainHasher{}, Lockout: login.Lockout{AddressFailures: 1 << 30, Failures: 100, AccountFailures: 1000}})
	site, err := New(svc, Options{Enabled: true, Secure: true, PolicyText: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return site, svc
}

const testBrowser = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 43 characters, a token's form

func (s *Site) handler() http.Handler {
	mux := http.NewServeMux()
	s.Mount(mux)
	mux.HandleFunc("GET /{$}", s.Home)
	return mux
}

// TestAuthenticateRefusesUnsafeResume: a protocol that asks to come back
// to anything but a path on Gatehouse gets the error page, no login.
func TestAuthenticateRefusesUnsafeResume(t *testing.T) {
	site, _ := testSite(t)
	for _, resume := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", ""} {
		w := httptest.NewRecorder()
		site.Authenticate(w, httptest.NewRequest("GET", "/saml/sso", nil), login.Requirement{}, resume)
		if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
			t.Errorf("resume %q: %d %v", resume, w.Code, w.Header())
		}
	}
	w := httptest.NewRecorder()
	site.Authenticate(w, httptest.NewRequest("GET", "/saml/sso", nil), login.Requirement{}, "/saml/sso?r=x")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login?l=") {
		t.Errorf("a safe resume: %d %v", w.Code, w.Header())
	}
	if c := w.Header().Get("Set-Cookie"); !strings.HasPrefix(c, "__Host-gatehouse_browser=") || !strings.Contains(c, "Secure") ||
		!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || !strings.Contains(c, "Path=/") || strings.Contains(c, "Domain") {
		t.Errorf("browser cookie: %s", c)
	}
}

// post sends a form to the site as a same-origin browser with the test's
// browser cookie.
func post(h http.Handler, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(&http.Cookie{Name: "__Host-gatehouse_browser", Value: testBrowser})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// FuzzLoginForm: whatever a form holds, the login answers without a
// server error, never sets a session without the right password, and
// redirects only to paths on the site.
func FuzzLoginForm(f *testing.F) {
	site, svc := testSite(f)
	h := site.handler()
	p, err := svc.Begin(context.Background(), login.Client{Browser: testBrowser}, login.Requirement{}, "/password")
	if err != nil {
		f.Fatal(err)
	}
	tok := csrf(testBrowser)
	for _, v := range []url.Values{
		{"csrf": {tok}, "l": {p.ID}, "stage": {"first"}, "username": {"ada"}, "password": {"wrong"}},
		{"csrf": {tok}, "l": {p.ID}, "stage": {"first"}, "username": {"ada"}, "password": {""}},
		{"csrf": {tok}, "l": {p.ID}, "stage": {"change"}, "new": {"x"}, "confirm": {"x"}},
		{"csrf": {tok}, "l": {p.ID}, "stage": {"step"}, "method": {"totp"}, "code": {"1"}},
		{"csrf": {tok}, "l": {"../../etc"}, "stage": {"first"}},
		{"csrf": {"nope"}, "l": {p.ID}},
		{"csrf": {tok}, "l": {p.ID}, "stage": {"first"}, "username": {strings.Repeat("a", 300)}, "password": {"x"}},
	} {
		f.Add(v.Encode(), "/login")
	}
	f.Add("%zz&&==;", "/login")
	f.Add("csrf="+tok, "/password")
	f.Add("csrf="+tok, "/logout")
	f.Fuzz(func(t *testing.T, body, path string) {
		switch path {
		case "/login", "/password", "/logout":
		default:
			path = "/login"
		}
		w := post(h, path, body)
		if w.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, w.Code, w.Body)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == "__Host-gatehouse_session" && c.Value != "" && !strings.Contains(body, "Secret-Pass-1") {
				t.Fatalf("POST %q set a session", body)
			}
		}
		if loc := w.Header().Get("Location"); loc != "" && !login.SafeResume(loc) {
			t.Fatalf("POST %q redirects to %q", body, loc)
		}
	})
}

// FuzzAcceptLanguage: any Accept-Language picks English or Chinese.
func FuzzAcceptLanguage(f *testing.F) {
	site, _ := testSite(f)
	for _, s := range []string{"", "zh-CN,zh;q=0.9", "en-US", "fr", "*", "zh-Hant-TW", "zh;q=x", ";;;,,,q=", strings.Repeat("en-", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/login", nil)
		r.Header.Set("Accept-Language", h)
		l := site.lang(r)
		if l.Tag != "en" && l.Tag != "zh-Hans" {
			t.Fatalf("%q → %q", h, l.Tag)
		}
	})
}

func TestLanguage(t *testing.T) {
	site, _ := testSite(t)
	for h, want := range map[string]string{"": "en", "zh-CN,zh;q=0.9": "zh-Hans", "zh-TW": "zh-Hans", "en-GB,zh;q=0.5": "en", "fr-FR": "en",
		"fr, zh;q=0.8": "zh-Hans"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", h)
		if got := site.lang(r).Tag; got != want {
			t.Errorf("Accept-Language %q: %s, want %s", h, got, want)
		}
	}
	// Every message has its Chinese.
	for k := range english {
		if _, ok := chinese[k]; !ok {
			t.Errorf("no Chinese for %q", k)
		}
	}
}

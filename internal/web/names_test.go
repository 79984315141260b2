package web

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// spoof holds every kind of character that can make a name read as
// another: bidi overrides, isolates and marks (the directory already
// refuses control characters in a displayName).
const spoof = "Ada\u202Egpj.exe\u2066x\u2069\u200E\u200F"

// TestNamesFromElsewhereShownVisibly: a displayName that came
// through SCIM with direction overrides, isolates, marks and control
// characters are shown on the pages with those characters as visible code
// points, never raw; so is a refusal message naming an application (red
// team finding 6).
func TestNamesFromElsewhereShownVisibly(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := directory.NewService(st, directory.Options{Hasher: plainHasher{}, Policy: directory.DefaultPasswordPolicy(),
		NewID: func() string { v, _ := login.NewToken(); return v }})
	if _, _, err := dir.CreateUser(ctx, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: "ada", DisplayName: spoof, Active: true, Password: "Secret-Pass-1"}); err != nil {
		t.Fatal(err)
	}
	svc := login.New(st, st, login.Options{Hasher: plainHasher{}})
	site, err := New(svc, Options{Enabled: true, Secure: true, PolicyText: "x"})
	if err != nil {
		t.Fatal(err)
	}
	c := login.Client{Addr: "192.0.2.1", Browser: testBrowser}
	p, err := svc.Begin(ctx, c, login.Requirement{}, "/")
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.Password(ctx, p, c, "ada", "Secret-Pass-1")
	if err != nil || !out.Done() {
		t.Fatalf("sign-in: %+v %v", out, err)
	}
	h := site.handler()
	get := func(path string) string {
		r := httptest.NewRequest("GET", path, nil)
		r.AddCookie(&http.Cookie{Name: "__Host-gatehouse_browser", Value: testBrowser})
		r.AddCookie(&http.Cookie{Name: "__Host-gatehouse_session", Value: out.Token})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
		}
		return html.UnescapeString(w.Body.String())
	}
	for _, path := range []string{"/", "/factors"} {
		body := get(path)
		if strings.ContainsFunc(body, func(r rune) bool { return directory.UnsafeRune(r) && r != '\n' && r != '\t' }) {
			t.Errorf("GET %s renders a control or direction character raw:\n%q", path, body)
		}
		if want := "Ada[U+202E]gpj.exe[U+2066]x[U+2069][U+200E][U+200F] (ada)"; path == "/" && !strings.Contains(body, want) {
			t.Errorf("GET %s does not show the name as %q:\n%s", path, want, body)
		}
	}
	w := httptest.NewRecorder()
	site.Refuse(w, httptest.NewRequest("GET", "/saml/sso", nil), http.StatusForbidden, "No", "Pay\u202Eroll is disabled in Gatehouse.")
	if body := html.UnescapeString(w.Body.String()); strings.ContainsRune(body, '\u202E') || !strings.Contains(body, "Pay[U+202E]roll is disabled") {
		t.Errorf("refusal page: %q", body)
	}
}

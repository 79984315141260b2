package app_test

import (
	"context"
	"encoding/json"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/login/webauthntest"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// Second factors end to end: the real server on loopback, a cookie-jar
// browser over HTTP, oathtool (Debian's) making the TOTP codes and a
// software authenticator answering the WebAuthn ceremonies.

// oathtool returns oathtool's code for secret (base32, spaces allowed) at
// time t. Without oathtool the test skips, unless
// GATEHOUSE_TEST_REQUIRE_OATHTOOL is 1 (CI).
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	path, err := exec.LookPath("oathtool")
	if err != nil {
		msg := "the second-factor tests need oathtool, which is not installed: apt-get install oathtool"
		if os.Getenv("GATEHOUSE_TEST_REQUIRE_OATHTOOL") == "1" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	out, err := exec.Command(path, "--totp", "-b", strings.ReplaceAll(secret, " ", ""), "-N", "@"+strconv.FormatInt(at.Unix(), 10)).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// startMFA starts a server whose sign-in works over http on loopback with
// base_url http://localhost:PORT (a WebAuthn RP ID must be a domain name),
// administrators needing two factors.
func startMFA(t *testing.T, mutate func(*config.Config)) (*running, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	r := startOn(t, ln, func(c *config.Config) {
		devLogin(c)
		c.BaseURL = origin
		c.Login.AdminGroups = []string{"admins"}
		if mutate != nil {
			mutate(c)
		}
	})
	return r, origin
}

var (
	secretRE  = regexp.MustCompile(`<p class="secret" id="totp-secret">([A-Z2-7 ]+)</p>`)
	optionsRE = regexp.MustCompile(`data-options="([^"]*)"`)
	codeRE    = regexp.MustCompile(`<li>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</li>`)
	factorRE  = regexp.MustCompile(`name="factor" value="([^"]+)"`)
)

func match(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s not found in:\n%s", re, body)
	}
	return html.UnescapeString(m[1])
}

// password posts user's password on the login page that path leads to,
// returning the page the login goes on to (a second factor's, a set-up).
func (b *browser) password(path, user, password string) (pageReply, string) {
	b.t.Helper()
	page, _ := b.follow(path)
	f := fields(page.body)
	f.Set("username", user)
	f.Set("password", password)
	r := b.do("POST", "/login", f)
	if r.status != http.StatusSeeOther {
		b.t.Fatalf("password: %d %s", r.status, r.body)
	}
	return b.follow(r.header.Get("Location"))
}

func TestSecondFactorsEndToEnd(t *testing.T) {
	r, origin := startMFA(t, nil)
	ctx := context.Background()
	id := r.createPerson(t, "root@example.com", "Correct-Horse-9", "admins")
	b := newBrowser(t, r.url)

	// An administrator has no second factor: right after her password she
	// sets one up. The QR code is inline SVG; the secret is shown for
	// typing in; no script on this page.
	page, path := b.password("/", "root@example.com", "Correct-Horse-9")
	if page.status != 200 || !strings.HasPrefix(path, "/login?l=") || !strings.Contains(page.body, "Set up a second factor") ||
		!strings.Contains(page.body, `<svg class="qr"`) || page.header.Get("Content-Security-Policy") != web.CSP || strings.Contains(page.body, "<script") {
		t.Fatalf("set-up page: %d %v\n%s", page.status, page.header, page.body)
	}
	secret := match(t, secretRE, page.body)
	f := fields(page.body)
	// A wrong code: the same secret again, with the error.
	f.Set("code", "000000")
	if oathtool(t, secret, time.Now()) == "000000" {
		f.Set("code", "111111")
	}
	wrong := b.do("POST", "/login", f)
	if wrong.status != http.StatusUnauthorized || match(t, secretRE, wrong.body) != secret || !strings.Contains(wrong.body, "The code is wrong.") {
		t.Fatalf("a wrong first code: %d\n%s", wrong.status, wrong.body)
	}
	confirmed := time.Now()
	f.Set("code", oathtool(t, secret, confirmed))
	f.Set("name", "work phone")
	codesPage := b.do("POST", "/login", f)
	codes := codeRE.FindAllStringSubmatch(codesPage.body, -1)
	if codesPage.status != 200 || len(codes) != 10 || codesPage.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("the recovery codes page: %d %v\n%s", codesPage.status, codesPage.header, codesPage.body)
	}
	if home, _ := b.follow("/"); home.status != 200 || !strings.Contains(home.body, "Second factors") {
		t.Fatalf("home after the set-up: %d", home.status)
	}
	st, err := r.app.Admin.LoginState(ctx, id)
	if err != nil || len(st.Sessions) != 1 || strings.Join(st.Sessions[0].AMR, " ") != "pwd otp mfa" || st.Sessions[0].ACR != login.ACR2FA ||
		len(st.Factors) != 1 || st.Factors[0].Name != "work phone" || st.RecoveryCodesLeft != 10 {
		t.Fatalf("login state: %+v %v", st, err)
	}

	// Signed out and in again: the code that confirmed the app is refused
	// (its step was used), the next one is accepted.
	logout := func() {
		t.Helper()
		home, _ := b.follow("/logout")
		if r := b.do("POST", "/logout", fields(home.body)); r.status != 200 {
			t.Fatalf("logout: %d", r.status)
		}
	}
	logout()
	page, _ = b.password("/", "root@example.com", "Correct-Horse-9")
	if !strings.Contains(page.body, "authenticator app shows") || !strings.Contains(page.body, "Use a recovery code") {
		t.Fatalf("second-factor page:\n%s", page.body)
	}
	f = fields(page.body)
	f.Set("code", oathtool(t, secret, confirmed))
	if used := b.do("POST", "/login", f); used.status != http.StatusUnauthorized || !strings.Contains(used.body, "used already") {
		t.Errorf("a used code: %d\n%s", used.status, used.body)
	}
	f.Set("code", oathtool(t, secret, confirmed.Add(login.TOTPPeriod)))
	if ok := b.do("POST", "/login", f); ok.status != http.StatusSeeOther || ok.header.Get("Location") != "/" {
		t.Fatalf("the next code: %d\n%s", ok.status, ok.body)
	}

	// A recovery code, on the page the link leads to.
	logout()
	page, _ = b.password("/", "root@example.com", "Correct-Horse-9")
	link := html.UnescapeString(regexp.MustCompile(`href="(/login\?l=[^"]+&amp;m=recovery)"`).FindStringSubmatch(page.body)[1])
	page, _ = b.follow(link)
	f = fields(page.body)
	f.Set("code", strings.ToUpper(codes[0][1]))
	if ok := b.do("POST", "/login", f); ok.status != http.StatusSeeOther {
		t.Fatalf("a recovery code: %d\n%s", ok.status, ok.body)
	}

	// A security key from the second-factor page: the page loads the one
	// script (CSP script-src 'self'), the options are in the form.
	keyPage, _ := b.follow("/factors/webauthn")
	if keyPage.status != 200 || keyPage.header.Get("Content-Security-Policy") != web.CSPScript ||
		!strings.Contains(keyPage.body, `<script src="/static/webauthn.js" defer></script>`) {
		t.Fatalf("the key page: %d %v\n%s", keyPage.status, keyPage.header, keyPage.body)
	}
	key := &webauthntest.Authenticator{Origin: origin}
	resp, err := key.Create([]byte(match(t, optionsRE, keyPage.body)))
	if err != nil {
		t.Fatal(err)
	}
	f = fields(keyPage.body)
	f.Set("name", "YubiKey")
	f.Set("credential", resp)
	if added := b.do("POST", "/factors/webauthn", f); added.status != http.StatusSeeOther || added.header.Get("Location") != "/factors?n=added" {
		t.Fatalf("register the key: %d\n%s", added.status, added.body)
	}
	list, _ := b.follow("/factors")
	if !strings.Contains(list.body, "YubiKey") || !strings.Contains(list.body, "work phone") || !strings.Contains(list.body, "9 unused recovery codes") {
		t.Fatalf("the list:\n%s", list.body)
	}

	// The login now asks for the key first.
	logout()
	page, _ = b.password("/", "root@example.com", "Correct-Horse-9")
	if page.header.Get("Content-Security-Policy") != web.CSPScript || !strings.Contains(page.body, `data-webauthn="get"`) {
		t.Fatalf("the key's login page:\n%s", page.body)
	}
	resp, err = key.Get([]byte(match(t, optionsRE, page.body)))
	if err != nil {
		t.Fatal(err)
	}
	f = fields(page.body)
	f.Set("credential", resp)
	if ok := b.do("POST", "/login", f); ok.status != http.StatusSeeOther {
		t.Fatalf("the key's assertion: %d\n%s", ok.status, ok.body)
	}
	st, _ = r.app.Admin.LoginState(ctx, id)
	if strings.Join(st.Sessions[0].AMR, " ") != "pwd hwk user mfa" {
		t.Errorf("AMR of a key's login: %v", st.Sessions[0].AMR)
	}

	// Remove the app; the key, her last factor, stays (administrators
	// need two).
	list, _ = b.follow("/factors")
	ids := factorRE.FindAllStringSubmatch(list.body, -1)
	if len(ids) != 2 {
		t.Fatalf("factor ids: %v", ids)
	}
	f = fields(list.body)
	f.Set("factor", ids[0][1])
	if rm := b.do("POST", "/factors/remove", f); rm.status != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", rm.status, rm.body)
	}
	f.Set("factor", ids[1][1])
	if rm := b.do("POST", "/factors/remove", f); rm.status != http.StatusConflict || !strings.Contains(rm.body, "must keep a second factor") {
		t.Errorf("remove the last: %d\n%s", rm.status, rm.body)
	}
	// Bad input changes nothing: no CSRF token, another site, an unknown
	// factor, a method the login does not offer.
	noToken := url.Values{"factor": {ids[1][1]}}
	if rm := b.do("POST", "/factors/remove", noToken); rm.status != http.StatusForbidden {
		t.Errorf("without the form token: %d", rm.status)
	}
	if rm := b.do("POST", "/factors/remove", f, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); rm.status != http.StatusForbidden {
		t.Errorf("from another site: %d", rm.status)
	}
	f.Set("factor", "no-such-factor")
	if rm := b.do("POST", "/factors/remove", f); rm.status != http.StatusBadRequest {
		t.Errorf("an unknown factor: %d", rm.status)
	}
	if st, _ := r.app.Admin.LoginState(ctx, id); len(st.Factors) != 1 || st.Factors[0].Name != "YubiKey" {
		t.Errorf("factors after bad input: %+v", st.Factors)
	}

	// The admin API's reset: factors gone, sessions ended; the next login
	// leads to a set-up again.
	req, _ := http.NewRequest("DELETE", r.url+"/admin/v1/users/root@example.com/factors", nil)
	req.Header.Set("Authorization", "Bearer "+r.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reset struct{ Removed, SessionsEnded int }
	_ = json.NewDecoder(res.Body).Decode(&reset)
	res.Body.Close()
	if res.StatusCode != 200 || reset.Removed != 1 || reset.SessionsEnded != 1 {
		t.Fatalf("reset: %d %+v", res.StatusCode, reset)
	}
	if home := b.do("GET", "/", nil); home.status != http.StatusSeeOther {
		t.Errorf("a session survived the reset: %d", home.status)
	}
	if page, _ := b.password("/", "root@example.com", "Correct-Horse-9"); !strings.Contains(page.body, "Set up a second factor") {
		t.Errorf("after the reset:\n%s", page.body)
	}

	// (A wrong first code of a set-up is no login failure: it guesses
	// nothing the person was not just shown.)
	want := []string{"user.factor.add", "user.recovery.generate", "login.success", // the set-up
		"login.logout", "login.failure", "login.success", // a used code, the next
		"login.logout", "user.recovery.use", "login.success",
		"user.factor.add", "login.logout", "login.success", "user.factor.remove", "user.factor.reset"}
	got := r.auditActions(t, id)
	got = slicesDeleteCreate(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit:\n got %v\nwant %v", got, want)
	}
}

func slicesDeleteCreate(list []string) []string {
	var out []string
	for _, a := range list {
		if a != "user.create" && a != "group.create" {
			out = append(out, a)
		}
	}
	return out
}

// TestStepUpEndToEnd: a person with one factor signs in for Gatehouse's
// own pages; a relying party then needs two — the login asks only for the
// missing factor (she has none: she sets one up), without her password.
func TestStepUpEndToEnd(t *testing.T) {
	r, _ := startMFA(t, nil)
	ctx := context.Background()
	r.createPerson(t, "ada@example.com", "Correct-Horse-9")
	b := newBrowser(t, r.url)
	if last, answer := b.signIn("/", "ada@example.com", "Correct-Horse-9"); last.status != 200 || answer.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %d", last.status, answer.status)
	}
	// As a protocol does: the session falls short, Authenticate.
	sess := r.session(t, b)
	if ok, _ := r.app.Sessions.Satisfies(ctx, sess, login.Requirement{MinFactors: 2}); ok {
		t.Fatal("a one-factor session satisfies two")
	}
	page := r.authenticate(t, b, login.Requirement{MinFactors: 2}, "/")
	if !strings.Contains(page.body, "Set up a second factor") || strings.Contains(page.body, `name="password"`) {
		t.Fatalf("step-up page:\n%s", page.body)
	}
	secret := match(t, secretRE, page.body)
	f := fields(page.body)
	f.Set("code", oathtool(t, secret, time.Now()))
	if done := b.do("POST", "/login", f); done.status != 200 || len(codeRE.FindAllString(done.body, -1)) != 10 {
		t.Fatalf("step-up set-up: %d\n%s", done.status, done.body)
	}
	now := r.session(t, b)
	if now.Factors != 2 || now.ID == sess.ID || !now.AuthTime.Equal(sess.AuthTime) {
		t.Errorf("stepped-up session %+v (before %+v)", now, sess)
	}
}

// session returns the browser's current session (through the site).
func (r *running) session(t *testing.T, b *browser) *login.Session {
	t.Helper()
	req, _ := http.NewRequest("GET", r.url+"/", nil)
	u, _ := url.Parse(r.url)
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	s, err := r.app.Sessions.Current(req)
	if err != nil || s == nil {
		t.Fatalf("no session: %v", err)
	}
	return s
}

// authenticate plays a protocol endpoint calling Authenticate for the
// browser, and follows the login page it is sent to.
func (r *running) authenticate(t *testing.T, b *browser, req login.Requirement, resume string) pageReply {
	t.Helper()
	hr, _ := http.NewRequest("GET", r.url+"/", nil)
	u, _ := url.Parse(r.url)
	for _, c := range b.c.Jar.Cookies(u) {
		hr.AddCookie(c)
	}
	w := &recorder{h: http.Header{}}
	r.app.Sessions.Authenticate(w, hr, req, resume)
	if w.status != http.StatusSeeOther {
		t.Fatalf("Authenticate: %d", w.status)
	}
	page, _ := b.follow(w.h.Get("Location"))
	return page
}

type recorder struct {
	h      http.Header
	status int
}

func (w *recorder) Header() http.Header         { return w.h }
func (w *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (w *recorder) WriteHeader(s int)           { w.status = s }

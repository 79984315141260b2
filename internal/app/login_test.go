package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// devLogin is the configuration of a test server whose sign-in works over
// http on loopback (login.insecure_dev_cookies).
func devLogin(c *config.Config) { c.Login.InsecureDevCookies = true }

// browser is a cookie-jar client that does not follow redirects, so that
// each step is seen.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	lang string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type pageReply struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) pageReply {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends with a form it posts to the same site.
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return pageReply{resp.StatusCode, resp.Header, string(raw)}
}

// follow GETs path and follows redirects on this site, returning the last
// answer and its path.
func (b *browser) follow(path string) (pageReply, string) {
	b.t.Helper()
	for range 10 {
		r := b.do("GET", path, nil)
		if r.status != http.StatusSeeOther && r.status != http.StatusFound {
			return r, path
		}
		path = r.header.Get("Location")
		if u, err := url.Parse(path); err == nil && u.IsAbs() {
			path = strings.TrimPrefix(path, b.base)
		}
	}
	b.t.Fatalf("too many redirects from %s", path)
	return pageReply{}, ""
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// fields returns the hidden fields of the (first) form of a page.
func fields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		if v.Get(m[1]) == "" {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	return v
}

// signIn goes through the login from path, returning the last answer
// (after the redirect back) and the login page's answer to the password.
func (b *browser) signIn(path, user, password string) (pageReply, pageReply) {
	b.t.Helper()
	page, _ := b.follow(path)
	if page.status != 200 || !strings.Contains(page.body, `name="password"`) {
		b.t.Fatalf("no login form at %s: %d %s", path, page.status, page.body)
	}
	f := fields(page.body)
	f.Set("username", user)
	f.Set("password", password)
	r := b.do("POST", "/login", f)
	if r.status != http.StatusSeeOther {
		return pageReply{}, r
	}
	last, _ := b.follow(r.header.Get("Location"))
	return last, r
}

func (r *running) createPerson(t testing.TB, userName, password string, groups ...string) string {
	t.Helper()
	u, _, err := r.app.Directory.CreateUser(context.Background(), directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: userName, DisplayName: "Person " + userName, Active: true, Password: password,
			Attrs: directory.Attrs{"emails": []any{map[string]any{"value": userName, "type": "work"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		grp, _, err := r.app.Directory.CreateGroup(context.Background(), directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
			&directory.Group{DisplayName: g, Members: []directory.Member{{ID: u.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		_ = grp
	}
	return u.ID
}

// auditActions lists the actions of the audit records about id, oldest
// first.
func (r *running) auditActions(t *testing.T, id string) []string {
	t.Helper()
	es, err := r.app.Store.Audit(context.Background(), directory.AuditQuery{ResourceID: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, es[i].Action)
	}
	return out
}

func TestSignInEndToEnd(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering")
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	grp, err := r.app.Directory.Groups(ctx, directory.Profile{}, directory.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Two SSO applications: one the person's group may use, one nobody may.
	if _, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "GitBook", Kind: auth.KindSAMLSP,
		Access: auth.Access{AllowedGroups: []string{grp.Items[0].ID}, RequireSSO: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "Payroll", Kind: auth.KindOIDCClient}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.url)

	// Not signed in: the user page sends the browser to the login page.
	first := b.do("GET", "/", nil)
	if first.status != http.StatusSeeOther || !strings.HasPrefix(first.header.Get("Location"), "/login?l=") {
		t.Fatalf("GET / without a session: %d %v", first.status, first.header)
	}
	if got := first.header.Get("Set-Cookie"); !strings.Contains(got, "HttpOnly") || !strings.Contains(got, "SameSite=Lax") {
		t.Errorf("browser cookie %q: want HttpOnly, SameSite=Lax", got)
	}
	page := b.do("GET", first.header.Get("Location"), nil)
	if page.header.Get("Content-Security-Policy") != web.CSP || page.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("login page headers: %v", page.header)
	}
	for _, want := range []string{`<label for="username">`, `<label for="password">`, `autocomplete="current-password"`, `lang="en"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}

	// A wrong password: 401, the form again with the name kept, nothing set.
	f := fields(page.body)
	f.Set("username", "ada@example.com")
	f.Set("password", "wrong")
	bad := b.do("POST", "/login", f)
	if bad.status != http.StatusUnauthorized || !strings.Contains(bad.body, "The user name or password is wrong.") ||
		!strings.Contains(bad.body, `value="ada@example.com"`) {
		t.Fatalf("wrong password: %d %s", bad.status, bad.body)
	}
	if strings.Contains(bad.header.Get("Set-Cookie"), "gatehouse_session") {
		t.Error("a failed login set a session cookie")
	}

	// The right one: a session, and back to the user page.
	f.Set("password", "Correct-Horse-9")
	ok := b.do("POST", "/login", f)
	if ok.status != http.StatusSeeOther || ok.header.Get("Location") != "/" {
		t.Fatalf("right password: %d %v %s", ok.status, ok.header, ok.body)
	}
	cookies := strings.Join(ok.header.Values("Set-Cookie"), "\n")
	if !strings.Contains(cookies, "gatehouse_session=") || !strings.Contains(cookies, "gatehouse_device=") {
		t.Errorf("cookies after login: %s", cookies)
	}
	home := b.do("GET", "/", nil)
	if home.status != 200 || !strings.Contains(home.body, "GitBook") || strings.Contains(home.body, "Payroll") ||
		!strings.Contains(home.body, "Person ada@example.com") {
		t.Fatalf("user page: %d %s", home.status, home.body)
	}
	// A client that is not a browser still gets the index.
	if st, body := get(t, http.DefaultClient, r.url+"/", ""); st != 200 || !strings.Contains(body, "SCIM 2.0: /scim/v2") {
		t.Errorf("GET / without Accept: text/html: %d %s", st, body)
	}

	// The audit log and the outbox have the failure and the login.
	if diff := cmp.Diff([]string{"user.create", "login.failure", "login.success"}, r.auditActions(t, id)); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}

	// Logging out: GET only asks; POST ends the session, and the session
	// cookie no longer works (also not replayed by hand).
	sessionCookie := ""
	for _, c := range b.c.Jar.Cookies(mustURL(r.url)) {
		if c.Name == "gatehouse_session" {
			sessionCookie = c.Value
		}
	}
	if confirm := b.do("GET", "/logout", nil); confirm.status != 200 || !strings.Contains(confirm.body, "Sign out of Gatehouse?") {
		t.Fatalf("GET /logout: %d %s", confirm.status, confirm.body)
	}
	if still := b.do("GET", "/", nil); still.status != 200 {
		t.Fatalf("GET /logout ended the session: %d", still.status)
	}
	out := b.do("POST", "/logout", fields(home.body))
	if out.status != 200 || !strings.Contains(out.body, "You are signed out.") {
		t.Fatalf("POST /logout: %d %s", out.status, out.body)
	}
	replay := newBrowser(t, r.url)
	replay.c.Jar.SetCookies(mustURL(r.url), []*http.Cookie{{Name: "gatehouse_session", Value: sessionCookie}})
	if again := replay.do("GET", "/", nil); again.status != http.StatusSeeOther {
		t.Errorf("an ended session's cookie still works: %d", again.status)
	}
	if diff := cmp.Diff([]string{"user.create", "login.failure", "login.success", "login.logout"}, r.auditActions(t, id)); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestSignInCrossSiteRefused: a form posted from another site, or without
// the browser's token, is refused and changes nothing.
func TestSignInCrossSiteRefused(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "bob@example.com", "Correct-Horse-9")
	b := newBrowser(t, r.url)
	page, _ := b.follow("/login")
	f := fields(page.body)
	f.Set("username", "bob@example.com")
	f.Set("password", "Correct-Horse-9")
	for name, tc := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"from another site": {f, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
		"without the token": {url.Values{"l": {f.Get("l")}, "stage": {"first"}, "username": {"bob@example.com"}, "password": {"Correct-Horse-9"}}, nil},
		"with another token": {func() url.Values {
			g := url.Values{}
			for k, v := range f {
				g[k] = v
			}
			g.Set("csrf", "AAAA")
			return g
		}(), nil},
	} {
		got := b.do("POST", "/login", tc.form, tc.hdr...)
		if got.status != http.StatusForbidden || strings.Contains(strings.Join(got.header.Values("Set-Cookie"), ""), "gatehouse_session") {
			t.Errorf("%s: %d %v", name, got.status, got.header)
		}
	}
	if diff := cmp.Diff([]string{"user.create"}, r.auditActions(t, id)); diff != "" {
		t.Errorf("refused forms changed something (-want +got):\n%s", diff)
	}
	// Another browser cannot continue this browser's login.
	other := newBrowser(t, r.url)
	other.follow("/login")
	g := fields(page.body)
	g.Set("csrf", fields(func() string { p, _ := other.follow("/login"); return p.body }()).Get("csrf"))
	g.Set("username", "bob@example.com")
	g.Set("password", "Correct-Horse-9")
	if got := other.do("POST", "/login", g); got.status != http.StatusBadRequest || !strings.Contains(got.body, "This sign-in has expired.") {
		t.Errorf("another browser's login: %d %s", got.status, got.body)
	}
}

// TestSessionEndsWhenDisabled: disabling an account in SCIM ends its
// sessions at once, and enabling it again does not bring them back;
// deleting it ends them too.
func TestSessionEndsWhenDisabled(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "cy@example.com", "Correct-Horse-9")
	b := newBrowser(t, r.url)
	if home, _ := b.signIn("/", "cy@example.com", "Correct-Horse-9"); home.status != 200 {
		t.Fatalf("login: %d", home.status)
	}
	patch := func(active bool) {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":%t}}]}`, active)
		req, _ := http.NewRequest("PATCH", r.url+"/scim/v2/Users/"+id, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PATCH active=%t: %d", active, resp.StatusCode)
		}
	}
	patch(false)
	if got := b.do("GET", "/", nil); got.status != http.StatusSeeOther {
		t.Fatalf("a disabled account's session still works: %d", got.status)
	}
	patch(true)
	if got := b.do("GET", "/", nil); got.status != http.StatusSeeOther {
		t.Fatalf("enabling the account again revived its session: %d", got.status)
	}
	if home, _ := b.signIn("/", "cy@example.com", "Correct-Horse-9"); home.status != 200 {
		t.Fatalf("login after enabling: %d", home.status)
	}
	req, _ := http.NewRequest("DELETE", r.url+"/scim/v2/Users/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := b.do("GET", "/", nil); got.status != http.StatusSeeOther {
		t.Fatalf("a deleted account's session still works: %d", got.status)
	}
}

// TestSessionEndsOnSCIMPassword: a password set through SCIM (PATCH or
// PUT of password, an HR system's reset) ends the account's sessions, as an
// administrator's reset does; a SCIM change that leaves the password alone
// does not.
func TestSessionEndsOnSCIMPassword(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "ed@example.com", "Correct-Horse-9")
	send := func(method, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, r.url+"/scim/v2/Users/"+id, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", method, body, resp.StatusCode)
		}
	}
	patchOp := func(value string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":` + value + `}]}`
	}
	put := func(password string) string {
		pw := ""
		if password != "" {
			pw = `,"password":"` + password + `"`
		}
		return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ed@example.com","displayName":"Ed","active":true,
			"emails":[{"value":"ed@example.com","type":"work"}]` + pw + `}`
	}
	signedIn := func(password string) *browser {
		t.Helper()
		b := newBrowser(t, r.url)
		if home, post := b.signIn("/", "ed@example.com", password); home.status != 200 {
			t.Fatalf("login with %s: %d %d %s", password, home.status, post.status, post.body)
		}
		return b
	}
	stillIn := func(b *browser) bool { return b.do("GET", "/", nil).status == http.StatusOK }

	b := signedIn("Correct-Horse-9")
	send("PATCH", patchOp(`{"displayName":"Ed Two"}`))
	send("PUT", put(""))
	if !stillIn(b) {
		t.Fatal("a SCIM change without a password ended the session")
	}
	send("PATCH", patchOp(`{"password":"Battery-Staple-7"}`))
	if stillIn(b) {
		t.Error("PATCH password: the session still works")
	}
	b = signedIn("Battery-Staple-7")
	send("PUT", put("Paper-Clip-Tower-5"))
	if stillIn(b) {
		t.Error("PUT password: the session still works")
	}
	signedIn("Paper-Clip-Tower-5")
}

// TestAdminResetForcesChange: an administrator's reset gives a temporary
// password (once), ends the person's sessions, and the next login must
// set a new password before it goes on.
func TestAdminResetForcesChange(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "di@example.com", "Correct-Horse-9")
	old := newBrowser(t, r.url)
	if home, _ := old.signIn("/", "di@example.com", "Correct-Horse-9"); home.status != 200 {
		t.Fatalf("login: %d", home.status)
	}
	req, _ := http.NewRequest("POST", r.url+admin.Prefix+"/users/di@example.com/reset-password", nil)
	req.Header.Set("Authorization", "Bearer "+r.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reset struct {
		Temporary string    `json:"temporaryPassword"`
		Expires   time.Time `json:"expires"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&reset)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(reset.Temporary) < 16 || reset.Expires.IsZero() {
		t.Fatalf("reset: %d %+v", resp.StatusCode, reset)
	}
	if got := old.do("GET", "/", nil); got.status != http.StatusSeeOther {
		t.Errorf("the reset left the person's session: %d", got.status)
	}
	b := newBrowser(t, r.url)
	if _, bad := b.signIn("/", "di@example.com", "Correct-Horse-9"); bad.status != http.StatusUnauthorized {
		t.Errorf("the old password after a reset: %d", bad.status)
	}
	page, _ := b.follow("/login")
	f := fields(page.body)
	f.Set("username", "di@example.com")
	f.Set("password", reset.Temporary)
	next := b.do("POST", "/login", f)
	change, _ := b.follow(next.header.Get("Location"))
	if !strings.Contains(change.body, "Choose a new password") || strings.Contains(strings.Join(next.header.Values("Set-Cookie"), ""), "gatehouse_session") {
		t.Fatalf("after the temporary password: %d %s", change.status, change.body)
	}
	g := fields(change.body)
	g.Set("new", "short")
	g.Set("confirm", "short")
	if weak := b.do("POST", "/login", g); weak.status != http.StatusBadRequest || !strings.Contains(weak.body, "at least 8 characters") {
		t.Errorf("a weak new password: %d %s", weak.status, weak.body)
	}
	g.Set("new", "Brand-New-Pass-7")
	g.Set("confirm", "Brand-New-Pass-7")
	done := b.do("POST", "/login", g)
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "/" {
		t.Fatalf("setting the new password: %d %s", done.status, done.body)
	}
	if home := b.do("GET", "/", nil); home.status != 200 {
		t.Errorf("user page after the change: %d", home.status)
	}
	// The temporary password no longer works; the new one does.
	if _, bad := newBrowser(t, r.url).signIn("/", "di@example.com", reset.Temporary); bad.status != http.StatusUnauthorized {
		t.Errorf("the temporary password after the change: %d", bad.status)
	}
	if home, _ := newBrowser(t, r.url).signIn("/", "di@example.com", "Brand-New-Pass-7"); home.status != 200 {
		t.Errorf("the new password: %d", home.status)
	}
	want := []string{"user.create", "login.success", "user.password.reset", "login.failure", "user.password.change", "login.success", "login.failure", "login.success"}
	if diff := cmp.Diff(want, r.auditActions(t, id)); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
}

// TestSessionsContract plays an SSO protocol over the real handler: a
// protocol endpoint with no session sends the browser to the login page,
// which brings it back to the endpoint's own path; the endpoint then has the
// session, checks the application's allowed groups and refuses a person
// outside them with the error page, which says why; a forced
// re-authentication (SAML ForceAuthn, OIDC prompt=login) is satisfied only by
// a login after the request; single logout ends the session.
func TestSessionsContract(t *testing.T) {
	r := start(t, devLogin)
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	r.createPerson(t, "in@example.com", "Correct-Horse-9", "readers")
	r.createPerson(t, "out@example.com", "Correct-Horse-9")
	grp, err := r.app.Admin.Groups(ctx, admin.ListQuery{Filter: `displayName eq "readers"`})
	if err != nil || len(grp.Items) != 1 {
		t.Fatal(grp, err)
	}
	book, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "Book <b>", Kind: auth.KindSAMLSP, Access: auth.Access{AllowedGroups: []string{grp.Items[0].ID}}})
	if err != nil {
		t.Fatal(err)
	}
	s := r.app.Sessions
	var since time.Time
	proto := http.NewServeMux()
	proto.HandleFunc("GET /proto/sso", func(w http.ResponseWriter, req *http.Request) {
		force := req.URL.Query().Get("force") == "1"
		if force && req.URL.Query().Get("back") == "" {
			since = time.Now() // the request arrives
		}
		need := login.Requirement{AppID: book.ID, Force: force, Since: since}
		sess, err := s.Current(req)
		if err != nil {
			t.Error(err)
		}
		ok := false
		if sess != nil {
			if ok, err = s.Satisfies(req.Context(), sess, need); err != nil {
				t.Error(err)
			}
		}
		if !ok {
			resume := "/proto/sso?back=1"
			if force {
				resume += "&force=1"
			}
			s.Authenticate(w, req, need, resume)
			return
		}
		allowed, why, err := s.Allowed(req.Context(), sess.UserID, book.ID)
		if err != nil {
			t.Error(err)
		}
		if !allowed {
			s.Refuse(w, req, http.StatusForbidden, "Not allowed: <GitBook>", why)
			return
		}
		fmt.Fprintf(w, "assertion for %s (%s)", sess.UserID, sess.ACR())
	})
	proto.HandleFunc("GET /proto/slo", func(w http.ResponseWriter, req *http.Request) {
		ended, err := s.EndSession(w, req)
		if err != nil || ended == nil {
			t.Errorf("single logout: %v %v", ended, err)
		}
		fmt.Fprint(w, "logged out")
	})
	proto.Handle("/", r.app.Handler())
	srv := httptest.NewServer(proto)
	defer srv.Close()

	in := newBrowser(t, srv.URL)
	got, _ := in.signIn("/proto/sso", "in@example.com", "Correct-Horse-9")
	if got.status != 200 || !strings.HasPrefix(got.body, "assertion for ") || !strings.HasSuffix(got.body, "("+login.ACR1FA+")") {
		t.Fatalf("allowed person: %d %s", got.status, got.body)
	}
	// Signed in: the endpoint answers at once.
	if again := in.do("GET", "/proto/sso", nil); again.status != 200 {
		t.Errorf("with a session: %d", again.status)
	}
	// Forced: a new login, after which it answers.
	forced := in.do("GET", "/proto/sso?force=1", nil)
	if forced.status != http.StatusSeeOther || !strings.HasPrefix(forced.header.Get("Location"), "/login?l=") {
		t.Fatalf("forced with a session: %d %v", forced.status, forced.header)
	}
	page := in.do("GET", forced.header.Get("Location"), nil)
	f := fields(page.body)
	f.Set("username", "in@example.com")
	f.Set("password", "Correct-Horse-9")
	back := in.do("POST", "/login", f)
	if back.header.Get("Location") != "/proto/sso?back=1&force=1" {
		t.Fatalf("back from the forced login: %d %v", back.status, back.header)
	}
	if ok := in.do("GET", back.header.Get("Location"), nil); ok.status != 200 {
		t.Errorf("after the forced login: %d %s", ok.status, ok.body)
	}

	out := newBrowser(t, srv.URL)
	refused, _ := out.signIn("/proto/sso", "out@example.com", "Correct-Horse-9")
	if refused.status != http.StatusForbidden || !strings.Contains(refused.body, "Not allowed: &lt;GitBook&gt;") ||
		!strings.Contains(refused.body, "You are not a member of a group allowed to use Book &lt;b&gt; (readers). Ask an administrator for access.") ||
		strings.Contains(refused.body, "<b>") {
		t.Errorf("refusal page: %d %s", refused.status, refused.body)
	}
	// Single logout.
	if lo := in.do("GET", "/proto/slo", nil); lo.status != 200 {
		t.Errorf("slo: %d", lo.status)
	}
	if after := in.do("GET", "/proto/sso", nil); after.status != http.StatusSeeOther {
		t.Errorf("after single logout: %d", after.status)
	}
}

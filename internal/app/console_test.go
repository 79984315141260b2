package app_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/internal/web/console"
)

// The administrators' console (issue 17): who may open it, and how.

var patternVar = regexp.MustCompile(`\{[a-zA-Z0-9_]*(\.\.\.)?\}`)

// routePath turns a console route ("GET /console/users/{id}") into a
// method and a path to request.
func routePath(route string) (string, string) {
	method, p, _ := strings.Cut(route, " ")
	p = strings.ReplaceAll(p, "{$}", "")
	return method, patternVar.ReplaceAllString(p, "x")
}

// consoleToken signs browser b in to the console with an admin token,
// failing the test unless it lands on the dashboard.
func consoleToken(t *testing.T, b *browser, token string) {
	t.Helper()
	page, _ := b.follow("/console/login")
	f := fields(page.body)
	f.Set("token", token)
	r := b.do("POST", "/console/login", f)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/" {
		t.Fatalf("token sign-in: %d %v\n%s", r.status, r.header, r.body)
	}
	if home := b.do("GET", "/console/", nil); home.status != 200 {
		t.Fatalf("dashboard after token sign-in: %d\n%s", home.status, home.body)
	}
}

// TestConsoleRoutesRefuseNonAdmins walks the console's route table: a
// person signed in who is not an administrator gets 403 on every route
// (with a valid CSRF token on the unsafe ones), and so does a browser
// with no session on every unsafe route (a GET is sent to sign in).
// Every route added to the table is covered without touching this test.
func TestConsoleRoutesRefuseNonAdmins(t *testing.T) {
	r, _ := startMFA(t, nil)
	routes := r.app.Console.Routes()
	if !slices.Contains(routes, "GET /console/{$}") || !slices.Contains(routes, "POST /console/logout") {
		t.Fatalf("route table: %v", routes)
	}
	r.createPerson(t, "eve@example.com", "Correct-Horse-9", "engineering")
	eve := newBrowser(t, r.url)
	if last, _ := eve.signIn("/", "eve@example.com", "Correct-Horse-9"); last.status != 200 {
		t.Fatalf("sign in: %d", last.status)
	}
	csrf := fields(eve.do("GET", "/console/login", nil).body).Get("csrf")
	if csrf == "" {
		t.Fatal("no CSRF token on the console's sign-in page")
	}
	anon := newBrowser(t, r.url)
	anonCSRF := fields(anon.do("GET", "/console/login", nil).body).Get("csrf")
	// Routes the table does not have are refused alike.
	routes = append(routes, "GET /console/no-such-page", "POST /console/no-such-page")
	for _, route := range routes {
		method, path := routePath(route)
		var form url.Values
		if method != "GET" {
			form = url.Values{"csrf": {csrf}}
		}
		got := eve.do(method, path, form)
		if got.status != http.StatusForbidden || !strings.Contains(got.body, "Only Gatehouse administrators") {
			t.Errorf("non-admin %s: %d\n%s", route, got.status, got.body)
		}
		if csp := got.header.Get("Content-Security-Policy"); csp != web.CSP {
			t.Errorf("%s: CSP %q", route, csp)
		}
		if method == "GET" {
			if got := anon.do(method, path, nil); got.status != http.StatusSeeOther || !strings.HasPrefix(got.header.Get("Location"), "/console/login?next=") {
				t.Errorf("anonymous %s: %d %v", route, got.status, got.header)
			}
		} else if got := anon.do(method, path, url.Values{"csrf": {anonCSRF}}); got.status != http.StatusForbidden {
			t.Errorf("anonymous %s: %d", route, got.status)
		}
	}
	// The public routes are exactly these.
	want := []string{"GET /console/login", "POST /console/login", "GET /console/sso", "GET /console/static/"}
	if got := console.PublicRoutes(); !slices.Equal(got, want) {
		t.Errorf("public routes %v, want %v", got, want)
	}
	// A SCIM client's token (no admin scope) is refused by the sign-in
	// form, and sets no console session.
	page := anon.do("GET", "/console/login", nil)
	f := fields(page.body)
	f.Set("token", r.token)
	if got := anon.do("POST", "/console/login", f); got.status != http.StatusForbidden || strings.Contains(strings.Join(got.header.Values("Set-Cookie"), ""), "gatehouse_console=") {
		t.Errorf("SCIM token: %d %v", got.status, got.header)
	}
	f.Set("token", "gh_not-a-token")
	if got := anon.do("POST", "/console/login", f); got.status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", got.status)
	}
}

// TestConsoleCrossSiteRefused: a form posted from another site, or
// without the browser's CSRF token, is refused and changes nothing — the
// console session survives a forged sign-out; the token form refuses a
// cross-site post too.
func TestConsoleCrossSiteRefused(t *testing.T) {
	r := start(t, devLogin)
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	csrf := fields(b.do("GET", "/console/", nil).body).Get("csrf")
	for name, tc := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"from another site":  {url.Values{"csrf": {csrf}}, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
		"without the token":  {url.Values{}, nil},
		"with another token": {url.Values{"csrf": {"AAAA"}}, nil},
	} {
		got := b.do("POST", "/console/logout", tc.form, tc.hdr...)
		if got.status != http.StatusForbidden {
			t.Errorf("%s: %d", name, got.status)
		}
		if home := b.do("GET", "/console/", nil); home.status != 200 {
			t.Fatalf("%s ended the session: %d", name, home.status)
		}
	}
	other := newBrowser(t, r.url)
	page := other.do("GET", "/console/login", nil)
	f := fields(page.body)
	f.Set("token", r.admin)
	if got := other.do("POST", "/console/login", f, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); got.status != http.StatusForbidden ||
		strings.Contains(strings.Join(got.header.Values("Set-Cookie"), ""), "gatehouse_console=") {
		t.Errorf("cross-site token sign-in: %d %v", got.status, got.header)
	}
	// A genuine sign-out ends it.
	if got := b.do("POST", "/console/logout", url.Values{"csrf": {csrf}}); got.status != http.StatusSeeOther {
		t.Errorf("sign out: %d", got.status)
	}
	if home := b.do("GET", "/console/", nil); home.status != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", home.status)
	}
}

// TestConsoleTokenSession: an admin token is exchanged for a console
// session (an HttpOnly, SameSite cookie that is not the token), shown on
// the pages as its application; disabling the token ends the session at
// the next request. The pages carry the strict CSP and speak Chinese to
// a browser that asks.
func TestConsoleTokenSession(t *testing.T) {
	r := start(t, devLogin)
	b := newBrowser(t, r.url)
	first := b.do("GET", "/console/", nil)
	if first.status != http.StatusSeeOther || first.header.Get("Location") != "/console/login?next=%2Fconsole%2F" {
		t.Fatalf("anonymous dashboard: %d %v", first.status, first.header)
	}
	page, _ := b.follow("/console/login")
	if page.header.Get("Content-Security-Policy") != web.CSP || !strings.Contains(page.body, `<label for="token">`) ||
		!strings.Contains(page.body, `<main id="main"`) || !strings.Contains(page.body, `class="skip" href="#main"`) {
		t.Fatalf("sign-in page: %v\n%s", page.header, page.body)
	}
	f := fields(page.body)
	f.Set("token", r.admin)
	in := b.do("POST", "/console/login", f)
	cookie := strings.Join(in.header.Values("Set-Cookie"), "\n")
	if in.status != http.StatusSeeOther || !strings.Contains(cookie, "gatehouse_console=") || !strings.Contains(cookie, "HttpOnly") ||
		!strings.Contains(cookie, "SameSite=Lax") || strings.Contains(cookie, r.admin) {
		t.Fatalf("token sign-in: %d %s", in.status, cookie)
	}
	home := b.do("GET", "/console/", nil)
	if home.status != 200 || !strings.Contains(home.body, `<nav class="side" aria-label="Console sections">`) ||
		!strings.Contains(home.body, "admin token") || strings.Contains(home.body, r.admin) {
		t.Fatalf("dashboard: %d\n%s", home.status, home.body)
	}
	b.lang = "zh-CN,zh;q=0.9"
	if zh := b.do("GET", "/console/", nil); !strings.Contains(zh.body, `<html lang="zh-Hans">`) || !strings.Contains(zh.body, "概览") {
		t.Errorf("Chinese dashboard:\n%s", zh.body)
	}
	b.lang = ""
	// Disable the admin token: the session ends with it.
	ctx := context.Background()
	p, err := r.app.Auth.Authenticate(ctx, "Bearer "+r.admin, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.app.Auth.CreateToken(ctx, directory.Actor{Kind: "cli"}, p.App.ID, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := r.app.Auth.SetTokenEnabled(ctx, directory.Actor{Kind: "cli"}, p.App.ID, p.Token.ID, false); err != nil {
		t.Fatal(err)
	}
	if got := b.do("GET", "/console/", nil); got.status != http.StatusSeeOther {
		t.Errorf("after the token was disabled: %d", got.status)
	}
}

// TestConsoleAdministratorSignIn: a member of login.admin_groups signs in
// with her account: one factor sends her to set up her second, and the
// console opens with two; the page names her.
func TestConsoleAdministratorSignIn(t *testing.T) {
	r, _ := startMFA(t, nil)
	r.createPerson(t, "ada@example.com", "Correct-Horse-9", "admins")
	b := newBrowser(t, r.url)
	page, _ := b.follow("/console/")
	if !strings.Contains(page.body, `href="/console/sso?next=%2Fconsole%2F"`) {
		t.Fatalf("sign-in page:\n%s", page.body)
	}
	step, _ := b.password("/console/sso?next=%2Fconsole%2F", "ada@example.com", "Correct-Horse-9")
	if !strings.Contains(step.body, "Set up a second factor") {
		t.Fatalf("an administrator with one factor:\n%s", step.body)
	}
	secret := match(t, secretRE, step.body)
	f := fields(step.body)
	f.Set("code", oathtool(t, secret, time.Now()))
	if done := b.do("POST", "/login", f); done.status != 200 {
		t.Fatalf("set-up: %d\n%s", done.status, done.body)
	}
	home, path := b.follow("/console/")
	if home.status != 200 || path != "/console/" || !strings.Contains(home.body, "Person ada@example.com") || !strings.Contains(home.body, "your account") {
		t.Fatalf("dashboard: %d %s\n%s", home.status, path, home.body)
	}
}

// TestConsoleDirectory: users and groups are searched with the SCIM
// filter language (a wrong filter says what is wrong, 400), a person's
// page shows her groups and her journey, a group's its members, the
// organizations their tree.
func TestConsoleDirectory(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "grace@example.com", "Correct-Horse-9", "engineering")
	r.createPerson(t, "alan@example.com", "Correct-Horse-9")
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	list := b.do("GET", "/console/users?filter="+url.QueryEscape(`userName sw "grace"`), nil)
	if list.status != 200 || !strings.Contains(list.body, `href="/console/users/`+id+`"`) || strings.Contains(list.body, "alan@example.com") ||
		!strings.Contains(list.body, "1 found.") {
		t.Fatalf("users sw grace: %d\n%s", list.status, list.body)
	}
	bad := b.do("GET", "/console/users?filter="+url.QueryEscape(`userName zz "grace"`), nil)
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, `role="alert"`) || !strings.Contains(bad.body, "zz") {
		t.Errorf("bad filter: %d\n%s", bad.status, bad.body)
	}
	user := b.do("GET", "/console/users/"+id, nil)
	if user.status != 200 || !strings.Contains(user.body, "engineering") || !strings.Contains(user.body, `<ol class="timeline"`) ||
		!strings.Contains(user.body, "Created by") {
		t.Fatalf("user page: %d\n%s", user.status, user.body)
	}
	if got := b.do("GET", "/console/users/no-such-id", nil); got.status != http.StatusNotFound {
		t.Errorf("unknown user: %d", got.status)
	}
	groups := b.do("GET", "/console/groups?filter="+url.QueryEscape(`displayName eq "engineering"`), nil)
	m := regexp.MustCompile(`href="/console/groups/([^"]+)"`).FindStringSubmatch(groups.body)
	if groups.status != 200 || m == nil {
		t.Fatalf("groups: %d\n%s", groups.status, groups.body)
	}
	if g := b.do("GET", "/console/groups/"+m[1], nil); g.status != 200 || !strings.Contains(g.body, `href="/console/users/`+id+`"`) {
		t.Errorf("group page: %d\n%s", g.status, g.body)
	}
	orgs := b.do("GET", "/console/orgs", nil)
	people := regexp.MustCompile(`<a href="(/console/users\?filter=[^"]+)">`).FindStringSubmatch(orgs.body)
	if orgs.status != 200 || people == nil {
		t.Fatalf("orgs: %d\n%s", orgs.status, orgs.body)
	}
	if got := b.do("GET", html.UnescapeString(people[1]), nil); got.status != 200 || !strings.Contains(got.body, "2 found.") {
		t.Errorf("the root organization's people: %d\n%s", got.status, got.body)
	}
}

// TestConsoleAudit: the audit log filtered by action, and the chain
// verified by the same code as `gatehouse audit verify`.
func TestConsoleAudit(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering")
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	page := b.do("GET", "/console/audit?action=user.create", nil)
	if page.status != 200 || !strings.Contains(page.body, `href="/console/users/`+id+`"`) || strings.Contains(page.body, "group.create") {
		t.Fatalf("audit user.create: %d\n%s", page.status, page.body)
	}
	if bad := b.do("GET", "/console/audit?since=yesterday", nil); bad.status != http.StatusBadRequest || !strings.Contains(bad.body, "RFC 3339") {
		t.Errorf("bad since: %d\n%s", bad.status, bad.body)
	}
	csrf := fields(page.body).Get("csrf")
	v := b.do("POST", "/console/audit/verify", url.Values{"csrf": {csrf}})
	if v.status != 200 || !strings.Contains(v.body, `<span class="ok">intact</span>`) || !strings.Contains(v.body, "is intact") {
		t.Errorf("verify: %d\n%s", v.status, v.body)
	}
}

// TestConsoleDashboard: the accounts counted, the latest changes listed
// with links to their people.
func TestConsoleDashboard(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering")
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	page := b.do("GET", "/console/", nil)
	for _, want := range []string{`<span class="n">1</span> <span class="k">users</span>`, `href="/console/users?filter=active+eq+false"`,
		`<span class="n">1</span> <span class="k">groups</span>`, `href="/console/users/` + id + `"`, "user.create", "Delivery health"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(page.body)
	}
}

// TestConsoleCharts: the charts are SVG drawn on the server, with their
// figures as a table; a sign-in is counted in the sign-ins chart.
func TestConsoleCharts(t *testing.T) {
	r := start(t, devLogin)
	r.createPerson(t, "ada@example.com", "Correct-Horse-9")
	person := newBrowser(t, r.url)
	if last, _ := person.signIn("/", "ada@example.com", "Correct-Horse-9"); last.status != 200 {
		t.Fatalf("sign in: %d", last.status)
	}
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	for _, period := range []string{"24h", "7d"} {
		page := b.do("GET", "/console/charts?period="+period, nil)
		if page.status != 200 || strings.Count(page.body, `<svg viewBox=`) != 4 || strings.Contains(page.body, "style=") ||
			strings.Contains(page.body, "<script") {
			t.Fatalf("charts %s: %d\n%s", period, page.status, page.body)
		}
		i := strings.Index(page.body, `id="signins-c"`)
		if i < 0 || !strings.Contains(page.body[i:], `<td class="num">1</td><td class="num">0</td>`) {
			t.Errorf("charts %s: the sign-in is not counted\n%s", period, page.body[max(i, 0):])
		}
	}
}

// TestConsoleTokenThrottled: guessing admin tokens in the console's form
// is throttled per client address as on the API (auth.failure_limit), and
// a right token of Gatehouse's form still gets in (as on the API: a value
// that cannot be one of Gatehouse's is refused unchecked while blocked).
func TestConsoleTokenThrottled(t *testing.T) {
	r := start(t, func(c *config.Config) { devLogin(c); c.Auth.FailureLimit = 3 })
	b := newBrowser(t, r.url)
	f := fields(b.do("GET", "/console/login", nil).body)
	var last int
	for i := range 5 {
		f.Set("token", fmt.Sprintf("gh_wrong-%d", i))
		last = b.do("POST", "/console/login", f).status
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("after 5 wrong tokens: %d", last)
	}
	ctx := context.Background()
	p, err := r.app.Auth.Authenticate(ctx, "Bearer "+r.admin, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := r.app.Auth.CreateToken(ctx, directory.Actor{Kind: "cli"}, p.App.ID, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	consoleToken(t, b, tok)
}

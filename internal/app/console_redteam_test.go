package app_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Red team 4: the console's administrator check and session handling.

// TestConsoleAdminGroupRenamed: login.admin_groups names a group, bound to
// its id at first use. Renaming the administrators' group and creating a
// new group with the old name does not make the new group's members
// administrators: they get 403 on the console, as anyone else.
func TestConsoleAdminGroupRenamed(t *testing.T) {
	r, _ := startMFA(t, nil)
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	ada := r.createPerson(t, "ada@example.com", "Correct-Horse-9")
	g, _, err := r.app.Directory.CreateGroup(ctx, op, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.Group{DisplayName: "admins", Members: []directory.Member{{ID: ada}}})
	if err != nil {
		t.Fatal(err)
	}
	grp := g.ID
	if ok, err := r.app.Login.IsAdmin(ctx, ada); err != nil || !ok {
		t.Fatalf("ada: IsAdmin %v %v", ok, err)
	}
	if _, err := r.app.Directory.UpdateGroup(ctx, op, directory.Profile{TargetOrgID: directory.RootOrgID}, grp, nil,
		func(g *directory.Group) error { g.DisplayName = "admins-2025"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	eve := r.createPerson(t, "eve@example.com", "Correct-Horse-9", "admins")
	if ok, err := r.app.Login.IsAdmin(ctx, eve); err != nil || ok {
		t.Errorf("eve, in a new group named admins: IsAdmin %v %v", ok, err)
	}
	if ok, err := r.app.Login.IsAdmin(ctx, ada); err != nil || !ok {
		t.Errorf("ada, in the renamed group: IsAdmin %v %v", ok, err)
	}
	b := newBrowser(t, r.url)
	if last, _ := b.signIn("/", "eve@example.com", "Correct-Horse-9"); last.status != 200 {
		t.Fatalf("sign in: %d", last.status)
	}
	// An administrator with one factor would be sent to the step-up
	// (303); eve is refused.
	if got := b.do("GET", "/console/", nil); got.status != http.StatusForbidden {
		t.Errorf("eve on the console: %d %v", got.status, got.header)
	}
	csrf := fields(b.do("GET", "/console/login", nil).body).Get("csrf")
	if got := b.do("POST", "/console/audit/verify", url.Values{"csrf": {csrf}}); got.status != http.StatusForbidden {
		t.Errorf("eve posting: %d", got.status)
	}
}

// TestConsoleSearchBudget: the console's user and group search (and the
// admin API's listings, the same operation) run within scim.query_timeout,
// as /scim/v2's lists do: a search that runs out of it is a 400 that says
// to narrow the filter, not a query left running. (Failed before: the
// listing had no budget and answered 200.)
func TestConsoleSearchBudget(t *testing.T) {
	r := start(t, devLogin)
	r.createPerson(t, "grace@example.com", "Correct-Horse-9")
	if r.app.Admin.QueryTimeout != 10*time.Second {
		t.Errorf("QueryTimeout %v, want scim.query_timeout", r.app.Admin.QueryTimeout)
	}
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	// A budget that has always run out.
	r.app.Admin.QueryTimeout = time.Nanosecond
	for _, path := range []string{"/console/users", "/console/groups"} {
		got := b.do("GET", path+"?filter="+url.QueryEscape(`displayName co "a"`), nil)
		if got.status != http.StatusBadRequest || !strings.Contains(got.body, "time budget") {
			t.Errorf("%s: %d\n%s", path, got.status, got.body)
		}
	}
}

// TestConsoleShowsSpoofingCharacters: userName and displayName refuse a
// right-to-left override or an invisible mark, but other values do not —
// a person's e-mail and title from a SCIM client, a downstream system's
// error text in the journey, names stored before the refusal, the filter
// an administrator is sent in a link — and such a character makes one
// text read as another ("\u202Emoc.elpmaxe" reads "example.com"). The
// console shows them as their code points, as the portal shows names.
// (Failed before: the console showed them raw.)
func TestConsoleShowsSpoofingCharacters(t *testing.T) {
	r := start(t, devLogin)
	const spoof = "\u202Enimda\u200F"
	u, _, err := r.app.Directory.CreateUser(context.Background(), directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: "mallory@example.com", Active: true,
			Attrs: directory.Attrs{"title": spoof, "emails": []any{map[string]any{"value": "mallory" + spoof + "@example.com", "type": "work"}}}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	for _, path := range []string{
		"/console/users", "/console/users/" + u.ID,
		"/console/users?filter=" + url.QueryEscape(`title eq "`+spoof+`"`),
		"/console/users?filter=" + url.QueryEscape(`userName zz "`+spoof+`"`),
	} {
		got := b.do("GET", path, nil)
		if strings.ContainsAny(got.body, "\u202E\u200F") || !strings.Contains(got.body, "[U+202E]nimda[U+200F]") {
			t.Errorf("%s: %d, shown raw:\n%s", path, got.status, got.body)
		}
	}
}

// TestConsoleSignOutEndsEveryWayIn: an administrator signed in with her
// account who also typed an admin token (the token session is the one
// the console uses) signs out: the console must not open again on the
// Gatehouse session left behind. (Failed before: only the token session
// ended, and the next page opened as her.)
func TestConsoleSignOutEndsEveryWayIn(t *testing.T) {
	r, _ := startMFA(t, nil)
	r.createPerson(t, "ada@example.com", "Correct-Horse-9", "admins")
	b := newBrowser(t, r.url)
	step, _ := b.password("/console/sso?next=%2Fconsole%2F", "ada@example.com", "Correct-Horse-9")
	secret := match(t, secretRE, step.body)
	f := fields(step.body)
	f.Set("code", oathtool(t, secret, time.Now()))
	if done := b.do("POST", "/login", f); done.status != 200 {
		t.Fatalf("set-up: %d\n%s", done.status, done.body)
	}
	if home, _ := b.follow("/console/"); home.status != 200 || !strings.Contains(home.body, "Person ada@example.com") {
		t.Fatalf("dashboard: %d\n%s", home.status, home.body)
	}
	consoleToken(t, b, r.admin)
	csrf := fields(b.do("GET", "/console/", nil).body).Get("csrf")
	if got := b.do("POST", "/console/logout", url.Values{"csrf": {csrf}}); got.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", got.status)
	}
	if got := b.do("GET", "/console/", nil); got.status != http.StatusSeeOther {
		t.Errorf("after signing out: %d\n%s", got.status, got.body)
	}
}

// TestConsoleTokenSignInReplacesSession: signing in again with a token in
// a browser that has a console session ends that session, rather than
// leaving it valid beside the new one — a console cookie planted in (or
// copied from) the browser before the sign-in is worth nothing after it.
// (Failed before: the old cookie still opened the console.)
func TestConsoleTokenSignInReplacesSession(t *testing.T) {
	r := start(t, devLogin)
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	u, _ := url.Parse(r.url)
	old := newBrowser(t, r.url)
	old.c.Jar.SetCookies(u, b.c.Jar.Cookies(u))
	if got := old.do("GET", "/console/", nil); got.status != 200 {
		t.Fatalf("copied session: %d", got.status)
	}
	consoleToken(t, b, r.admin)
	if got := old.do("GET", "/console/", nil); got.status != http.StatusSeeOther {
		t.Errorf("the session signed in over: %d", got.status)
	}
}

// TestConsoleTokenSessionEndsWithItsToken: a console session made with an
// admin token ends at the next request when its token is rotated
// (the next created, it disabled and deleted), when its application loses the admin scope, and
// when its application is disabled — each on its own session, and on the
// POST routes too.
func TestConsoleTokenSessionEndsWithItsToken(t *testing.T) {
	ctx := context.Background()
	cli := directory.Actor{Kind: "cli"}
	for name, end := range map[string]func(r *running, appID, tokenID string) error{
		"token rotated": func(r *running, appID, tokenID string) error {
			if _, _, err := r.app.Auth.CreateToken(ctx, cli, appID, 48*time.Hour); err != nil {
				return err
			}
			if _, err := r.app.Auth.SetTokenEnabled(ctx, cli, appID, tokenID, false); err != nil {
				return err
			}
			return r.app.Auth.DeleteToken(ctx, cli, appID, tokenID)
		},
		"admin scope removed": func(r *running, appID, _ string) error {
			_, err := r.app.Auth.UpdateApp(ctx, cli, appID, func(a *auth.App) error {
				a.Scopes = slices.DeleteFunc(a.Scopes, func(s string) bool { return s == auth.ScopeAdmin })
				return nil
			})
			return err
		},
		"application disabled": func(r *running, appID, _ string) error {
			_, err := r.app.Auth.UpdateApp(ctx, cli, appID, func(a *auth.App) error { a.Enabled = false; return nil })
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := start(t, devLogin)
			b := newBrowser(t, r.url)
			consoleToken(t, b, r.admin)
			csrf := fields(b.do("GET", "/console/", nil).body).Get("csrf")
			p, err := r.app.Auth.Authenticate(ctx, "Bearer "+r.admin, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			if err := end(r, p.App.ID, p.Token.ID); err != nil {
				t.Fatal(err)
			}
			if got := b.do("POST", "/console/audit/verify", url.Values{"csrf": {csrf}}); got.status != http.StatusForbidden {
				t.Errorf("POST: %d", got.status)
			}
			if got := b.do("GET", "/console/users", nil); got.status != http.StatusSeeOther {
				t.Errorf("GET: %d", got.status)
			}
		})
	}
}

// TestConsoleSearchSlots: the console's searches that no index answers
// take one of /scim/v2's slots for expensive queries, as a SCIM list does:
// with every slot taken, such a search is 503 with Retry-After; one an
// index answers still runs. (Failed before: the console ran any number of
// them at once, beside the SCIM endpoint's limit.)
func TestConsoleSearchSlots(t *testing.T) {
	r := start(t, func(c *config.Config) {
		devLogin(c)
		c.SCIM.ExpensiveQueries, c.SCIM.ExpensiveQueriesPerApp = 1, 1
	})
	r.createPerson(t, "grace@example.com", "Correct-Horse-9")
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	release, err := r.app.SCIM.Admit(context.Background(), "someone", r.app.Admin.Schemas.User, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.do("GET", "/console/users?filter="+url.QueryEscape(`displayName co "a"`), nil); got.status != http.StatusServiceUnavailable ||
		got.header.Get("Retry-After") == "" || !strings.Contains(got.body, "retry shortly") {
		t.Errorf("expensive search, no slot: %d %v\n%s", got.status, got.header, got.body)
	}
	if got := b.do("GET", "/console/users?filter="+url.QueryEscape(`userName eq "grace@example.com"`), nil); got.status != 200 {
		t.Errorf("indexed search, no slot: %d", got.status)
	}
	release()
	if got := b.do("GET", "/console/users?filter="+url.QueryEscape(`displayName co "a"`), nil); got.status != 200 {
		t.Errorf("expensive search, a slot free: %d", got.status)
	}
}

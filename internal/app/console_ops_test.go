package app_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// The console's applications, rules, deliveries, provisioning and
// settings pages (issue 17): each action is the admin API's operation,
// audited with the console's administrator as the actor.

// lastAudit returns the newest audit record of action.
func lastAudit(t *testing.T, r *running, action string) *directory.AuditEntry {
	t.Helper()
	es, _, err := r.app.Admin.Audit(context.Background(), admin.AuditFilter{Action: action, Limit: 1})
	if err != nil || len(es) == 0 {
		t.Fatalf("no %s audit record: %v", action, err)
	}
	return es[0]
}

// lastSeq is the newest audit record's seq.
func lastSeq(t *testing.T, r *running) int64 {
	t.Helper()
	es, _, err := r.app.Admin.Audit(context.Background(), admin.AuditFilter{Limit: 1})
	if err != nil || len(es) == 0 {
		t.Fatalf("audit: %v", err)
	}
	return es[0].Seq
}

var secretValueRE = regexp.MustCompile(`id="secret-value" class="mono wide" value="([^"]+)"`)

// TestConsoleApplications: an application created, its token made and
// shown once — the answer is no-store, a reload (the same POST again)
// shows nothing and makes nothing, the application's page never shows it
// — and the token works; rotation makes a new token and disables the old
// one; a client secret is made and disabled; each change is audited with
// the console's administrator.
func TestConsoleApplications(t *testing.T) {
	r := start(t, devLogin)
	ctx := context.Background()
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	list := b.do("GET", "/console/apps", nil)
	if list.status != 200 || !strings.Contains(list.body, ">e2e</a>") {
		t.Fatalf("apps: %d\n%s", list.status, list.body)
	}
	csrf := fields(list.body).Get("csrf")
	if got := b.do("POST", "/console/apps", url.Values{"csrf": {csrf}, "name": {" "}}); got.status != http.StatusBadRequest {
		t.Errorf("no name: %d", got.status)
	}
	created := b.do("POST", "/console/apps", url.Values{"csrf": {csrf}, "name": {"crm"}, "kind": {"scim-client"}, "scopes": {"scim:users:read"}})
	loc := created.header.Get("Location")
	if created.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/apps/") {
		t.Fatalf("create: %d %v\n%s", created.status, created.header, created.body)
	}
	app, err := r.app.Admin.GetApp(ctx, "crm")
	if err != nil || app.Kind != "scim-client" || strings.Join(app.Scopes, " ") != "scim:users:read" {
		t.Fatalf("crm: %+v %v", app, err)
	}
	if a := lastAudit(t, r, "app.create"); a.ResourceID != app.ID || a.Actor.Kind != "app" || a.Actor.AppName != "admin" {
		t.Errorf("app.create audit: %+v", a)
	}
	page := b.do("GET", loc, nil)
	f := fields(page.body)
	if page.status != 200 || f.Get("once") == "" {
		t.Fatalf("app page: %d\n%s", page.status, page.body)
	}
	form := url.Values{"csrf": {f.Get("csrf")}, "once": {f.Get("once")}, "validity": {"90d"}}
	made := b.do("POST", "/console/apps/"+app.ID+"/tokens", form)
	m := secretValueRE.FindStringSubmatch(made.body)
	if made.status != http.StatusCreated || m == nil || !strings.HasPrefix(m[1], "gate_tk_") {
		t.Fatalf("token: %d\n%s", made.status, made.body)
	}
	token := m[1]
	if cc := made.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page showing the token: Cache-Control %q", cc)
	}
	// A reload sends the same form again: refused, nothing shown, nothing made.
	again := b.do("POST", "/console/apps/"+app.ID+"/tokens", form)
	if again.status != http.StatusConflict || strings.Contains(again.body, token) || secretValueRE.MatchString(again.body) {
		t.Errorf("reload: %d\n%s", again.status, again.body)
	}
	if toks, _ := r.app.Admin.ListTokens(ctx, app.ID); len(toks) != 1 {
		t.Errorf("%d tokens after a reload, want 1", len(toks))
	}
	if got := b.do("POST", "/console/apps/"+app.ID+"/tokens", url.Values{"csrf": {f.Get("csrf")}}); got.status != http.StatusConflict {
		t.Errorf("without once: %d", got.status)
	}
	if p := b.do("GET", loc, nil); strings.Contains(p.body, token) || secretValueRE.MatchString(p.body) {
		t.Error("the application's page shows the token")
	}
	if a := lastAudit(t, r, "token.create"); a.Actor.AppName != "admin" || strings.Contains(string(a.After), token) {
		t.Errorf("token.create audit: %+v %s", a, a.After)
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", "Authorization", "Bearer "+token); res.status != 200 {
		t.Errorf("the new token: %d", res.status)
	}
	// Rotation: a new token shown once, the old one disabled.
	toks, _ := r.app.Admin.ListTokens(ctx, app.ID)
	old := toks[0].ID
	f = fields(b.do("GET", loc, nil).body)
	rot := b.do("POST", "/console/apps/"+app.ID+"/tokens/"+old+"/rotate", url.Values{"csrf": {f.Get("csrf")}, "once": {f.Get("once")}})
	m = secretValueRE.FindStringSubmatch(rot.body)
	if rot.status != http.StatusCreated || m == nil || m[1] == token {
		t.Fatalf("rotate: %d\n%s", rot.status, rot.body)
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", "Authorization", "Bearer "+token); res.status != http.StatusUnauthorized {
		t.Errorf("the rotated token: %d", res.status)
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", "Authorization", "Bearer "+m[1]); res.status != 200 {
		t.Errorf("the token it was rotated to: %d", res.status)
	}
	// A token of another application cannot be rotated through this one.
	f = fields(b.do("GET", loc, nil).body)
	e2e, _ := r.app.Admin.ListTokens(ctx, "e2e")
	if got := b.do("POST", "/console/apps/"+app.ID+"/tokens/"+e2e[0].ID+"/rotate", url.Values{"csrf": {f.Get("csrf")}, "once": {f.Get("once")}}); got.status != http.StatusNotFound {
		t.Errorf("another application's token: %d", got.status)
	}
	// A client secret, then disabled.
	f = fields(b.do("GET", loc, nil).body)
	sec := b.do("POST", "/console/apps/"+app.ID+"/secrets", url.Values{"csrf": {f.Get("csrf")}, "once": {f.Get("once")}})
	if m := secretValueRE.FindStringSubmatch(sec.body); sec.status != http.StatusCreated || m == nil || !strings.HasPrefix(m[1], "gate_cs_") {
		t.Fatalf("secret: %d\n%s", sec.status, sec.body)
	}
	secs, _ := r.app.Admin.ListSecrets(ctx, app.ID)
	if got := b.do("POST", "/console/apps/"+app.ID+"/secrets/"+secs[0].ID+"/disable", url.Values{"csrf": {f.Get("csrf")}}); got.status != http.StatusSeeOther {
		t.Errorf("disable secret: %d\n%s", got.status, got.body)
	}
	if secs, _ := r.app.Admin.ListSecrets(ctx, app.ID); secs[0].Enabled {
		t.Error("the secret is still enabled")
	}
	if a := lastAudit(t, r, "token.disable"); a.ResourceID != old || a.Actor.AppName != "admin" {
		t.Errorf("the rotation's token.disable audit: %+v", a)
	}
	// The application disabled: its tokens stop working.
	if got := b.do("POST", "/console/apps/"+app.ID+"/disable", url.Values{"csrf": {f.Get("csrf")}}); got.status != http.StatusSeeOther {
		t.Errorf("disable app: %d\n%s", got.status, got.body)
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", "Authorization", "Bearer "+m[1]); res.status != http.StatusUnauthorized {
		t.Errorf("a disabled application's token: %d", res.status)
	}
	if a := lastAudit(t, r, "app.disable"); a.ResourceID != app.ID || a.Actor.AppName != "admin" {
		t.Errorf("app.disable audit: %+v", a)
	}
	// The console's own application cannot disable itself (the API's rule).
	admins, _ := r.app.Admin.GetApp(ctx, "admin")
	if got := b.do("POST", "/console/apps/"+admins.ID+"/disable", url.Values{"csrf": {f.Get("csrf")}}); got.status != http.StatusConflict {
		t.Errorf("disable the console's own application: %d", got.status)
	}
}

// consoleRules: a webhook target and one rule in the rules file.
const consoleRules = `
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`

// TestConsoleRules: the rules in force listed; a rule saved from the
// editor is checked as the API checks it (an unknown target is refused,
// saying so, and nothing is stored) and audited; the rules file's rules
// are not editable; "test against an event" gives `rules test`'s verdict
// and explanation.
func TestConsoleRules(t *testing.T) {
	h := newHook(t)
	r := startWithRules(t, fmt.Sprintf(consoleRules, h.srv.URL, h.secret), devLogin)
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	list := b.do("GET", "/console/rules", nil)
	if list.status != 200 || !strings.Contains(list.body, `href="/console/rules/created"`) {
		t.Fatalf("rules: %d\n%s", list.status, list.body)
	}
	csrf := fields(list.body).Get("csrf")
	bad := b.do("POST", "/console/rules", url.Values{"csrf": {csrf}, "rule": {"name: leavers\npattern: {\"detail-type\": [\"User.Disabled\"]}\ntargets: [{target: nowhere}]\n"}})
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, `<ul id="problems"><li>line `) || !strings.Contains(bad.body, "nowhere") ||
		!strings.Contains(bad.body, `>{&#34;detail-type&#34;:[&#34;User.Disabled&#34;]}</textarea>`) {
		t.Fatalf("unknown target: %d\n%s", bad.status, bad.body)
	}
	if _, err := r.app.Admin.Rule("leavers"); err == nil {
		t.Error("a refused rule was stored")
	}
	if got := b.do("POST", "/console/rules", url.Values{"csrf": {csrf}, "rule": {"name: x\nbogus: 1\n"}}); got.status != http.StatusBadRequest || !strings.Contains(got.body, "bogus") {
		t.Errorf("unknown field: %d\n%s", got.status, got.body)
	}
	if got := b.do("POST", "/console/rules", url.Values{"csrf": {csrf}, "rule": {"name: created\npattern: {}\ntargets: [{target: hook}]\n"}}); got.status != http.StatusBadRequest || !strings.Contains(got.body, "rules file") {
		t.Errorf("the rules file's rule: %d\n%s", got.status, got.body)
	}
	good := b.do("POST", "/console/rules", url.Values{"csrf": {csrf}, "rule": {"name: leavers\npattern: {\"detail-type\": [\"User.Disabled\"]}\ntargets: [{target: hook}]\n"}})
	if good.status != http.StatusSeeOther || good.header.Get("Location") != "/console/rules/leavers?saved=1" {
		t.Fatalf("save: %d %v\n%s", good.status, good.header, good.body)
	}
	if rv, err := r.app.Admin.Rule("leavers"); err != nil || rv.Origin != "api" {
		t.Fatalf("saved rule: %+v %v", rv, err)
	}
	if a := lastAudit(t, r, "rule.create"); a.ResourceID != "leavers" || a.Actor.AppName != "admin" {
		t.Errorf("rule.create audit: %+v", a)
	}
	page := b.do("GET", "/console/rules/leavers?saved=1", nil)
	if page.status != 200 || !strings.Contains(page.body, `<textarea id="rule"`) || !strings.Contains(page.body, "Rule saved") {
		t.Errorf("rule page: %d\n%s", page.status, page.body)
	}
	if p := b.do("GET", "/console/rules/created", nil); p.status != 200 || strings.Contains(p.body, `<textarea id="rule"`) {
		t.Errorf("the rules file's rule is editable: %d\n%s", p.status, p.body)
	}
	// Test against an event: the verdict and why, as `rules test` says it.
	pattern, event := `{"detail-type": ["User.Disabled"]}`, `{"detail-type": "User.Created", "detail": {}}`
	want, err := admin.TestPattern([]byte(pattern), []byte(event))
	if err != nil || want.Match {
		t.Fatal(want, err)
	}
	res := b.do("POST", "/console/rules/test", url.Values{"csrf": {csrf}, "name": {"leavers"}, "pattern": {pattern}, "event": {event}})
	if res.status != 200 || !strings.Contains(html.UnescapeString(res.body), "no match</span>: "+want.Reason) {
		t.Errorf("test: %d (want %q)\n%s", res.status, want.Reason, res.body)
	}
	res = b.do("POST", "/console/rules/test", url.Values{"csrf": {csrf}, "pattern": {pattern}, "event": {`{"detail-type": "User.Disabled"}`}})
	if res.status != 200 || !strings.Contains(res.body, `<span class="ok">match</span>`) {
		t.Errorf("test match: %d\n%s", res.status, res.body)
	}
	if res := b.do("POST", "/console/rules/test", url.Values{"csrf": {csrf}, "pattern": {pattern}, "event": {"{not json"}}); res.status != http.StatusBadRequest || !strings.Contains(res.body, "not valid JSON") {
		t.Errorf("bad event: %d\n%s", res.status, res.body)
	}
}

var deliveryLinkRE = regexp.MustCompile(`href="/console/deliveries/([^"?]+)"`)

// TestConsoleDeadLetters: a delivery the target refused is a dead letter
// listed with its attempt log; replaying it from the console (audited
// as deliveries.replay by the administrator) delivers it; the dead
// letters of a target are replayed together; the targets page counts them.
func TestConsoleDeadLetters(t *testing.T) {
	h := newHook(t)
	var fixed atomic.Bool
	h.status = func(int) int {
		if fixed.Load() {
			return 200
		}
		return 400
	}
	r := startWithRules(t, fmt.Sprintf(consoleRules, h.srv.URL, h.secret), devLogin)
	createUser(t, r, `{"userName":"ada@example.com"}`)
	createUser(t, r, `{"userName":"alan@example.com"}`)
	ctx := context.Background()
	waitFor(t, "dead letters", func() bool {
		ds, _ := r.app.Admin.Deliveries(ctx, events.DeliveryQuery{State: events.StateDead})
		return len(ds) == 2
	})
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	if tg := b.do("GET", "/console/targets", nil); tg.status != 200 || !strings.Contains(tg.body, `<a href="/console/dead?target=hook">2</a>`) {
		t.Errorf("targets: %d\n%s", tg.status, tg.body)
	}
	dead := b.do("GET", "/console/dead?target=hook", nil)
	ids := deliveryLinkRE.FindAllStringSubmatch(dead.body, -1)
	if dead.status != 200 || len(ids) != 2 {
		t.Fatalf("dead letters: %d\n%s", dead.status, dead.body)
	}
	if bad := b.do("GET", "/console/deliveries?state=lost", nil); bad.status != http.StatusBadRequest {
		t.Errorf("bad state: %d", bad.status)
	}
	one := b.do("GET", "/console/deliveries/"+ids[0][1], nil)
	if one.status != 200 || !strings.Contains(one.body, `<span class="bad">permanent</span>`) || !strings.Contains(one.body, ">400<") ||
		!strings.Contains(one.body, "<dd>1</dd>") {
		t.Fatalf("delivery: %d\n%s", one.status, one.body)
	}
	fixed.Store(true)
	csrf := fields(one.body).Get("csrf")
	rep := b.do("POST", "/console/deliveries/"+ids[0][1]+"/replay", url.Values{"csrf": {csrf}})
	if rep.status != http.StatusSeeOther {
		t.Fatalf("replay: %d\n%s", rep.status, rep.body)
	}
	if a := lastAudit(t, r, "deliveries.replay"); a.ResourceID != ids[0][1] || a.Actor.AppName != "admin" {
		t.Errorf("replay audit: %+v", a)
	}
	waitFor(t, "the replayed delivery", func() bool { return len(h.received()) == 1 })
	if got := b.do("POST", "/console/deliveries/no-such/replay", url.Values{"csrf": {csrf}}); got.status != http.StatusNotFound {
		t.Errorf("unknown delivery: %d", got.status)
	}
	all := b.do("POST", "/console/dead/replay", url.Values{"csrf": {csrf}, "target": {"hook"}})
	if all.status != 200 || !strings.Contains(all.body, "1 deliveries made pending again.") {
		t.Errorf("replay the dead letters: %d\n%s", all.status, all.body)
	}
	waitFor(t, "every delivery", func() bool { return len(h.received()) == 2 })
	if got := b.do("POST", "/console/dead/replay", url.Values{"csrf": {csrf}, "target": {"nowhere"}}); got.status != http.StatusNotFound {
		t.Errorf("unknown target: %d", got.status)
	}
}

// TestConsoleSettings: the configuration the server recorded, its
// secrets absent.
func TestConsoleSettings(t *testing.T) {
	h := newHook(t)
	r := startWithRules(t, fmt.Sprintf(consoleRules, h.srv.URL, h.secret), devLogin)
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	var page pageReply
	// Recorded once the server serves.
	waitFor(t, "the recorded configuration", func() bool {
		page = b.do("GET", "/console/settings", nil)
		return strings.Contains(page.body, "<summary class=\"mono\">hook</summary>")
	})
	if page.status != 200 || strings.Contains(page.body, h.secret) || strings.Contains(page.body, h.srv.URL) || !strings.Contains(page.body, "(not recorded)") ||
		!strings.Contains(page.body, "<summary class=\"mono\">created</summary>") {
		t.Errorf("settings: %d\n%s", page.status, page.body)
	}
}

// TestConsolePushPlan: the plan of a push is `gatehouse push --dry-run`:
// what it would create, changing nothing downstream.
func TestConsolePushPlan(t *testing.T) {
	down := start(t, nil)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  crm:
    scim:
      base_url: %q
      token: %q
      push:
        follow: false
        mapping: '{"userName": "{{userName}}", "active": {{active}}}'
`, down.url+"/scim/v2", down.token), devLogin)
	createUser(t, r, `{"userName":"ada@example.com"}`)
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	page := b.do("GET", "/console/provisioning", nil)
	if page.status != 200 || !strings.Contains(page.body, `action="/console/provisioning/crm/plan"`) {
		t.Fatalf("provisioning: %d\n%s", page.status, page.body)
	}
	csrf := fields(page.body).Get("csrf")
	plan := b.do("POST", "/console/provisioning/crm/plan", url.Values{"csrf": {csrf}})
	if plan.status != 200 || !strings.Contains(plan.body, "<td>create</td><td><a href=\"/console/users/") || !strings.Contains(plan.body, "ada@example.com") {
		t.Fatalf("plan: %d\n%s", plan.status, plan.body)
	}
	if res := call(t, "GET", down.url+"/scim/v2/Users", "", "Authorization", "Bearer "+down.token); res.body["totalResults"] != float64(0) {
		t.Errorf("a dry run changed the target: %s", res.raw)
	}
	if got := b.do("POST", "/console/provisioning/nowhere/plan", url.Values{"csrf": {csrf}}); got.status != http.StatusNotFound {
		t.Errorf("unknown target: %d", got.status)
	}

	// The plan left no record of a run; a push does, and the provisioning
	// page and the dashboard show it: its counts, no account.
	if page := b.do("GET", "/console/provisioning", nil); !strings.Contains(page.body, "No push has run yet") {
		t.Errorf("a dry run shows as a run:\n%s", page.body)
	}
	ctx := context.Background()
	p, err := r.app.Pusher(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	sum, err := p.Run(ctx, provision.PushOptions{})
	if err != nil || sum.Actions["create"] != 1 {
		t.Fatalf("push: %+v %v", sum, err)
	}
	if err := r.app.RecordPush(ctx, directory.Actor{Kind: "cli"}, "crm", "cli", started, sum, nil); err != nil {
		t.Fatal(err)
	}
	entries, err := r.app.Directory.Audit(ctx, directory.AuditQuery{Action: provision.RunAction})
	if err != nil || len(entries) != 1 || entries[0].ResourceID != "crm" || strings.Contains(string(entries[0].After), "ada") {
		t.Fatalf("push.run records: %v %v", entries, err)
	}
	if rec, ok := provision.ReadRunRecord(entries[0]); !ok || rec.Created != 1 || rec.InScope != 1 || rec.Trigger != "cli" || rec.Failed != 0 {
		t.Errorf("push.run record: %s", entries[0].After)
	}
	page = b.do("GET", "/console/provisioning", nil)
	if page.status != 200 || !strings.Contains(page.body, "Latest pushes to crm") ||
		!strings.Contains(page.body, `<td>cli</td>`) || !strings.Contains(page.body, `<td class="num">1</td>`) {
		t.Errorf("provisioning after a push: %d\n%s", page.status, page.body)
	}
	if dash := b.do("GET", "/console/", nil); dash.status != 200 || !strings.Contains(dash.body, "(cli): created 1, updated 0") {
		t.Errorf("dashboard after a push: %d\n%s", dash.status, dash.body)
	}
}

// TestConsoleEveryFormRefusesForgery walks the console's route table: every
// unsafe route, sent by a signed-in administrator's browser without the
// CSRF token, with another one, or from another site, is refused (403)
// and changes nothing (no audit record is written).
func TestConsoleEveryFormRefusesForgery(t *testing.T) {
	r := start(t, devLogin)
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	csrf := fields(b.do("GET", "/console/", nil).body).Get("csrf")
	head := lastSeq(t, r)
	n := 0
	for _, route := range r.app.Console.Routes() {
		method, path := routePath(route)
		if method == "GET" {
			continue
		}
		n++
		for name, tc := range map[string]struct {
			form url.Values
			hdr  []string
		}{
			"from another site":  {url.Values{"csrf": {csrf}, "name": {"x"}}, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
			"without the token":  {url.Values{"name": {"x"}}, nil},
			"with another token": {url.Values{"csrf": {"AAAA"}, "name": {"x"}}, nil},
		} {
			if got := b.do(method, path, tc.form, tc.hdr...); got.status != http.StatusForbidden {
				t.Errorf("%s %s: %d", route, name, got.status)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d unsafe routes", n)
	}
	if now := lastSeq(t, r); now != head {
		t.Errorf("forged forms wrote audit records: head %d, then %d", head, now)
	}
	if home := b.do("GET", "/console/", nil); home.status != 200 {
		t.Errorf("a forged form ended the session: %d", home.status)
	}
}

// TestConsoleOperationsPagesRender: every page of the table without a
// path variable answers 200 to an administrator, in English and in
// Chinese, on a server without a rules file too.
func TestConsoleOperationsPagesRender(t *testing.T) {
	r := start(t, devLogin)
	for _, lang := range []string{"en", "zh-CN"} {
		b := newBrowser(t, r.url)
		b.lang = lang
		consoleToken(t, b, r.admin)
		for _, route := range r.app.Console.Routes() {
			method, path := routePath(route)
			if method != "GET" || strings.Contains(route, "{") && !strings.Contains(route, "{$}") {
				continue
			}
			if got := b.do("GET", path, nil); got.status != 200 || !strings.Contains(got.body, "<h1>") {
				t.Errorf("%s %s: %d\n%s", lang, path, got.status, got.body)
			}
		}
	}
}

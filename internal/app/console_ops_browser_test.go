package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/events"
)

// The console in Chromium (issue 17): sign in with an admin token, create
// an application and its token (shown once), replay a dead letter, edit
// and test a rule — a screenshot of each step saved for review in
// the directory $GATEHOUSE_TEST_SCREENSHOTS names (in a directory named
// after the test), else in the test's artifact directory; the path is
// logged.

// opsScreenshots returns where the test saves its screenshots: a
// directory named after it in screenshotDir.
func opsScreenshots(t *testing.T) string {
	dir := filepath.Join(screenshotDir(t), t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func TestBrowserConsoleOperations(t *testing.T) {
	h := newHook(t)
	var fixed atomic.Bool
	h.status = func(int) int {
		if fixed.Load() {
			return 200
		}
		return 400
	}
	r := startWithRules(t, fmt.Sprintf(consoleRules, h.srv.URL, h.secret), devLogin)
	createUser(t, r, `{"userName":"grace@example.com"}`)
	ctx0 := context.Background()
	waitFor(t, "the dead letter", func() bool {
		ds, _ := r.app.Admin.Deliveries(ctx0, events.DeliveryQuery{State: events.StateDead})
		return len(ds) == 1
	})
	dir := opsScreenshots(t)
	ctx, messages := newChrome(t)
	b := tab{t, ctx}
	b.do(chromedp.EmulateViewport(1280, 900))

	// Sign in with the admin token, typed and sent with Enter.
	b.do(chromedp.Navigate(r.url+"/console/"), visible("#token"))
	b.screenshot(dir, "01-sign-in.png")
	b.do(typeIn("#token", r.admin+"\r"), visible("ul.tiles"))
	if got := b.text("header .who span"); !strings.Contains(got, "admin token") {
		t.Errorf("signed in as %q", got)
	}
	b.screenshot(dir, "02-dashboard.png")

	// An application and its token, shown once.
	b.do(chromedp.Click(chromedp.CSS(`nav.side a[href="/console/apps"]`)), visible("#name"),
		typeIn("#name", "crm"), typeIn("#scopes", "scim:users:read\r"), visible("#new-token"))
	if got := b.text("h1"); got != "Application" {
		t.Fatalf("after creating: %q", got)
	}
	b.do(typeIn("#validity", "90d"), chromedp.Click(chromedp.CSS("#new-token")), visible("#secret-value"))
	token := eval[string](b, `document.querySelector('#secret-value').value`)
	if !strings.HasPrefix(token, "gate_tk_") {
		t.Fatalf("token shown: %q", token)
	}
	b.screenshot(dir, "03-token-shown-once.png")
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", "Authorization", "Bearer "+token); res.status != 200 {
		t.Errorf("the token the console showed: %d", res.status)
	}
	// A reload sends the form again: the token is not shown again, and no
	// other is made.
	b.do(chromedp.Reload(), visible("main"))
	if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, token) || strings.Contains(html, "secret-value") {
		t.Error("a reload shows the token again")
	}
	b.screenshot(dir, "04-reload.png")
	if toks, _ := r.app.Admin.ListTokens(ctx0, "crm"); len(toks) != 1 {
		t.Errorf("%d tokens after a reload, want 1", len(toks))
	}
	crm, err := r.app.Admin.GetApp(ctx0, "crm")
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(r.url+"/console/apps/"+crm.ID), visible("#new-token"))
	if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, token) {
		t.Error("the application's page shows the token")
	}

	// The dead letter: its attempt log, then replayed once the target is fixed.
	b.do(chromedp.Click(chromedp.CSS(`nav.side a[href="/console/dead"]`)), visible("#replay-dead"))
	b.screenshot(dir, "05-dead-letters.png")
	b.do(chromedp.Click(chromedp.CSS(`main table a[href^="/console/deliveries/"]`)), visible("#replay"))
	if got := b.text("main table tbody"); !strings.Contains(got, "permanent") || !strings.Contains(got, "400") {
		t.Errorf("attempt log: %q", got)
	}
	b.screenshot(dir, "06-attempt-log.png")
	fixed.Store(true)
	b.do(chromedp.Click(chromedp.CSS("#replay")), visible("p.notice"))
	waitFor(t, "the replayed delivery", func() bool { return len(h.received()) == 1 })
	b.do(chromedp.Reload(), visible("main table"))
	b.screenshot(dir, "07-replayed.png")
	if got := b.text("main dl.props"); !strings.Contains(got, "delivered") {
		t.Errorf("after the replay: %q", got)
	}

	// A rule: written in the editor, refused with the reason, fixed, saved,
	// then tested against an event.
	b.do(chromedp.Navigate(r.url+"/console/rules"), visible(`a[href="/console/rules/new"]`),
		chromedp.Click(chromedp.CSS(`a[href="/console/rules/new"]`)), visible("#rule"),
		chromedp.SetValue(chromedp.CSS("#rule"), "name: leavers\npattern: {\"detail-type\": [\"User.Disabled\"]}\ntargets: [{target: nowhere}]\n"),
		chromedp.Click(chromedp.CSS("#save-rule")), visible("#problems"))
	if got := b.text("#problems"); !strings.Contains(got, "nowhere") {
		t.Errorf("problems: %q", got)
	}
	b.screenshot(dir, "08-rule-refused.png")
	b.do(chromedp.SetValue(chromedp.CSS("#rule"), "name: leavers\npattern: {\"detail-type\": [\"User.Disabled\"]}\ntargets: [{target: hook}]\n"),
		chromedp.Click(chromedp.CSS("#save-rule")), visible("p.notice"))
	if rv, err := r.app.Admin.Rule("leavers"); err != nil || rv.Origin != "api" {
		t.Fatalf("the rule saved: %+v %v", rv, err)
	}
	b.do(chromedp.SetValue(chromedp.CSS("#event"), `{"detail-type": "User.Disabled", "detail": {"userName": "grace@example.com"}}`),
		chromedp.Click(chromedp.CSS("#test-rule")), visible("#verdict"))
	if got := b.text("#verdict"); !strings.HasPrefix(got, "match:") {
		t.Errorf("verdict: %q", got)
	}
	b.screenshot(dir, "09-rule-tested.png")
	// (The verdict shown is removed first, so that the wait is for the
	// next page's.)
	eval[bool](b, `document.querySelector('#verdict').remove() === undefined`)
	b.do(chromedp.SetValue(chromedp.CSS("#event"), `{"detail-type": "User.Created"}`),
		chromedp.Click(chromedp.CSS("#test-rule")), visible("#verdict"))
	if got := b.text("#verdict"); !strings.HasPrefix(got, "no match:") || !strings.Contains(got, "detail-type") {
		t.Errorf("verdict: %q", got)
	}
	b.screenshot(dir, "10-rule-no-match.png")

	// Every field of the pages visited has a label; nothing was refused by
	// the CSP, no script failed. (The 400 of the refused rule and the 409
	// of the reload are meant.)
	if !eval[bool](b, `[...document.querySelectorAll('input:not([type=hidden]), textarea, select')].every(i => i.labels.length === 1 && i.labels[0].textContent.trim() !== '')`) {
		t.Error("a field has no label")
	}
	for _, m := range messages() {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") ||
			(strings.HasPrefix(m, "error") && !strings.Contains(m, "status of 400") && !strings.Contains(m, "status of 409")) {
			t.Errorf("browser: %s", m)
		}
	}
}

package app_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// screenshotDir is where browser tests save their screenshots: the
// directory GATEHOUSE_TEST_SCREENSHOTS names (created if need be), else
// the test's artifact directory (kept with go test -artifacts -outputdir
// DIR; otherwise a temporary directory removed after the test).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_TEST_SCREENSHOTS")
	if dir == "" {
		return t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (b tab) screenshot(dir, name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

// waitFor evaluates js until it is true (a navigation may be under way:
// its errors are retried), for at most 30 s.
func (b tab) waitFor(js string) {
	b.t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		last = err
	}
	b.t.Fatalf("waiting for %s: %v", js, last)
}

// TestBrowserConsole: in Chromium, with the keyboard — an administrator
// signs in to the console with an admin token, sees the dashboard, finds
// a new hire an identity provider created over SCIM with a SCIM filter,
// and opens her journey. Screenshots of each page are saved
// (screenshotDir). The CSP refuses nothing (the console has no script).
func TestBrowserConsole(t *testing.T) {
	r := start(t, devLogin)
	// The new hire, as an identity provider creates her.
	req, _ := http.NewRequest("POST", r.url+"/scim/v2/Users", strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"mei.lin@example.com","displayName":"Mei Lin","active":true,"emails":[{"value":"mei.lin@example.com","type":"work","primary":true}]}`))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("SCIM create: %d", resp.StatusCode)
	}
	r.createPerson(t, "alan@example.com", "Correct-Horse-9")
	dir := screenshotDir(t)
	ctx, messages := newChrome(t)
	b := tab{t, ctx}
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// The console sends a stranger to its sign-in page.
	b.do(chromedp.Navigate(r.url+"/console/"), visible("#token"))
	if got := b.text("h1"); got != "Sign in to the console" {
		t.Errorf("sign-in heading %q", got)
	}
	b.screenshot(dir, "console-1-signin.png")
	// The skip link is the first thing the keyboard reaches.
	b.do(chromedp.KeyEvent(kb.Tab))
	if cls := eval[string](b, `document.activeElement.className`); cls != "skip" {
		t.Errorf("first Tab stop: %q", cls)
	}
	b.do(chromedp.Click(chromedp.CSS("#token")), typeIn("#token", r.admin+"\r"), visible("ul.tiles"))
	if got := b.text("h1"); got != "Dashboard" {
		t.Errorf("dashboard heading %q", got)
	}
	if main := b.text("main"); !strings.Contains(main, "users") || !strings.Contains(main, "user.create") {
		t.Errorf("dashboard: %q", main)
	}
	// The style sheet applied under the CSP: the current page is marked.
	if got := eval[string](b, `getComputedStyle(document.querySelector('nav.side a[aria-current=page]')).fontWeight`); got != "600" {
		t.Errorf("the console's style sheet did not apply: %q", got)
	}
	b.screenshot(dir, "console-2-dashboard.png")

	// Users: the SCIM filter finds her, alone.
	b.do(chromedp.Click(chromedp.CSS(`nav.side a[href="/console/users"]`)), visible("#filter"),
		typeIn("#filter", `userName sw "mei" and active eq true`+"\r"))
	// The unfiltered list has a table too: wait for the filtered page.
	b.waitFor(`location.search.includes("filter=") && document.readyState === "complete" && document.querySelector("table a") !== null`)
	if rows := eval[int](b, `document.querySelectorAll('main tbody tr').length`); rows != 1 {
		t.Errorf("%d users found", rows)
	}
	if !eval[bool](b, `[...document.querySelectorAll('input:not([type=hidden])')].every(i => i.labels.length === 1 && i.labels[0].textContent.trim() !== '')`) {
		t.Error("a field has no label")
	}
	b.screenshot(dir, "console-3-users.png")

	// Her journey: created by the SCIM client's application.
	b.do(chromedp.Click(chromedp.CSS("main tbody a")), visible("ol.timeline"))
	if got := b.text("h1"); got != "User" {
		t.Errorf("user heading %q", got)
	}
	main := b.text("main")
	if !strings.Contains(main, "mei.lin@example.com") || !strings.Contains(main, "Created by") || !strings.Contains(b.text("ol.timeline"), "user") {
		t.Errorf("user page: %q", main)
	}
	b.screenshot(dir, "console-4-journey.png")

	// The charts: SVG drawn on the server, under the CSP.
	b.do(chromedp.Click(chromedp.CSS(`nav.side a[href="/console/charts"]`)), visible("figure.chart svg"))
	if n := eval[int](b, `document.querySelectorAll('figure.chart svg').length`); n != 4 {
		t.Errorf("%d charts", n)
	}
	b.screenshot(dir, "console-5-charts.png")

	for _, m := range messages() {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") || strings.HasPrefix(m, "error") {
			t.Errorf("browser: %s", m)
		}
	}
}

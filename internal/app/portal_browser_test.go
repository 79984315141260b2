package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// screenshot saves a full-page PNG (quality 100: PNG, not JPEG) of the tab as name in the test's
// artifact directory (kept with go test -artifacts -outputdir DIR).
func (b tab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	file := filepath.Join(b.t.ArtifactDir(), name)
	if err := os.WriteFile(file, png, 0o600); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", file)
}

// TestBrowserPortalSearch: in Chromium, ada signs in, searches from the
// search box of her page with the keyboard, and sees the engineering page
// her group may read, highlighted, with its breadcrumb and source; bob,
// in another browser, searches the same words and sees only what his
// group may read. The page passes the strict CSP, every field is
// labelled, and the results are announced (role=status). Screenshots of
// both are saved.
func TestBrowserPortalSearch(t *testing.T) {
	r := startPortal(t, nil)
	for _, p := range []struct {
		user      string
		want, not []string
		shot      string
	}{
		{"ada@example.com", []string{"VPN", "连接 VPN", "vpn.md"}, nil, "portal-search-ada.png"},
		{"bob@example.com", []string{"leave.md"}, []string{"vpn.md", "WireGuard", "连接 VPN"}, "portal-search-bob.png"},
	} {
		ctx, messages := newChrome(t)
		b := tab{t, ctx}
		b.do(chromedp.Navigate(r.url+"/"), visible("#username"), typeIn("#username", p.user), typeIn("#password", "Correct-Horse-9\r"),
			visible("#q"))
		if !eval[bool](b, `[...document.querySelectorAll('input:not([type=hidden])')].every(i => i.labels.length === 1 && i.labels[0].textContent.trim() !== '')`) {
			t.Errorf("%s: a field of the user's page has no label", p.user)
		}
		b.do(typeIn("#q", "连接 VPN\r"), visible("#search-status"))
		if got := b.text("h1"); got != "Search: 连接 VPN" {
			t.Errorf("%s: heading %q", p.user, got)
		}
		main := b.text("ol.results")
		for _, w := range p.want {
			if !strings.Contains(main, w) {
				t.Errorf("%s: the results lack %q:\n%s", p.user, w, main)
			}
		}
		for _, w := range p.not {
			if strings.Contains(main, w) {
				t.Errorf("%s: the results show %q, which his groups may not read:\n%s", p.user, w, main)
			}
		}
		if got := eval[string](b, `[...document.querySelectorAll('ol.results mark')].map(m => m.textContent).join(',')`); !strings.Contains(got, "VPN") {
			t.Errorf("%s: highlighted %q", p.user, got)
		}
		// The style sheet applied under the CSP: the highlight is visible.
		if got := eval[string](b, `getComputedStyle(document.querySelector('ol.results mark')).backgroundColor`); got != "rgb(255, 226, 122)" {
			t.Errorf("%s: the highlight's background is %q", p.user, got)
		}
		if role := eval[string](b, `document.querySelector('#search-status').getAttribute('role')`); role != "status" {
			t.Errorf("%s: the result count's role is %q", p.user, role)
		}
		// The query stays in the box, to refine it.
		if v := eval[string](b, `document.querySelector('#q').value`); v != "连接 VPN" {
			t.Errorf("%s: the box holds %q", p.user, v)
		}
		b.screenshot(p.shot)
		for _, m := range messages() {
			if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") || strings.HasPrefix(m, "error") {
				t.Errorf("%s: browser: %s", p.user, m)
			}
		}
	}
}

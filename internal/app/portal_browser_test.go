package app_test

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserPortalSearch: in Chromium, ada signs in, searches from the
// search box of her page with the keyboard alone (Tab to the skip link,
// Enter, Tab to the box, type, Enter), and sees the engineering page
// her group may read, highlighted, with its breadcrumb and source; bob,
// in another browser, searches the same words and sees only what his
// group may read. The page passes the strict CSP, every field is
// labelled, and the results are announced (role=status). Screenshots of
// both are saved.
func TestBrowserPortalSearch(t *testing.T) {
	r := startPortal(t, nil)
	for _, p := range []struct {
		user, lang  string
		want, not   []string
		heading     string
		count, shot string
	}{
		{"ada@example.com", "", []string{"VPN", "连接 VPN", "vpn.md"}, nil, "Search: 连接 VPN", "2 results.", "portal-search-ada.png"},
		// Bob's browser asks for Chinese.
		{"bob@example.com", "zh-CN,zh;q=0.9", []string{"leave.md"}, []string{"vpn.md", "WireGuard", "连接 VPN"}, "搜索：连接 VPN", "共 1 条结果。", "portal-search-bob-zh.png"},
	} {
		ctx, messages := newChrome(t)
		b := tab{t, ctx}
		if p.lang != "" {
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
				Headers: network.Headers{"Accept-Language": p.lang}}); err != nil {
				t.Fatal(err)
			}
		}
		b.do(chromedp.Navigate(r.url+"/"), visible("#username"), typeIn("#username", p.user), typeIn("#password", "Correct-Horse-9\r"),
			visible("#q"))
		if !eval[bool](b, `[...document.querySelectorAll('input:not([type=hidden])')].every(i => i.labels.length === 1 && i.labels[0].textContent.trim() !== '')`) {
			t.Errorf("%s: a field of the user's page has no label", p.user)
		}
		// By keyboard alone: Tab reaches the skip link first (shown when
		// focused), Enter jumps to the page's content, Tab again is the
		// search box.
		b.do(chromedp.KeyEvent("\t"))
		if cls, left := eval[string](b, `document.activeElement.className`), eval[float64](b, `document.activeElement.getBoundingClientRect().left`); cls != "skip" || left < 0 {
			t.Errorf("%s: the first Tab focuses %q at x=%v, want the visible skip link", p.user, cls, left)
		}
		b.do(chromedp.KeyEvent("\r"), chromedp.KeyEvent("\t"))
		if id := eval[string](b, `document.activeElement.id`); id != "q" {
			t.Fatalf("%s: after the skip link, Tab focuses #%s, want the search box", p.user, id)
		}
		b.do(chromedp.KeyEvent("连接 VPN\r"), visible("#search-status"))
		if got, count := b.text("h1"), b.text("#search-status"); got != p.heading || count != p.count {
			t.Errorf("%s: heading %q, count %q", p.user, got, count)
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
		b.screenshot(screenshotDir(t), p.shot)
		if p.lang == "" {
			// Her profile and her page, for review.
			b.do(chromedp.Navigate(r.url+"/profile"), visible("dl.profile"))
			if got := b.text("dl.profile"); !strings.Contains(got, "engineering-readers") || !strings.Contains(got, "ada@example.com (work)") {
				t.Errorf("ada's profile: %q", got)
			}
			b.screenshot(screenshotDir(t), "portal-profile-ada.png")
			b.do(chromedp.Navigate(r.url+"/"), visible("#q"))
			b.screenshot(screenshotDir(t), "portal-home-ada.png")
		}
		for _, m := range messages() {
			if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") || strings.HasPrefix(m, "error") {
				t.Errorf("%s: browser: %s", p.user, m)
			}
		}
	}
}

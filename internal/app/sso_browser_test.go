package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/demo"
)

// TestBrowserSAMLRoundTrip: in Chromium, a person opens a SAML service
// provider's page (the GitBook stand-in, crewjam/saml's SP side); it sends
// her to Gatehouse with a signed AuthnRequest; she signs in with the
// keyboard; Gatehouse's auto-posting form (its one script allowed by hash
// under the CSP) takes the signed response to the SP's ACS, which checks
// it and shows her as signed in. Nothing is refused by the CSP.
func TestBrowserSAMLRoundTrip(t *testing.T) {
	r := start(t, devLogin)
	ctx0 := context.Background()
	r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering")
	g, err := demo.StartGitBookSP(ctx0, r.url+"/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	if _, err := g.Register(ctx0, r.app.Admin, "GitBook", []string{"engineering"}); err != nil {
		t.Fatal(err)
	}
	ctx, messages := newChrome(t)
	b := tab{t, ctx}

	b.do(chromedp.Navigate(g.URL+"/docs"), visible("#username"))
	if !strings.HasPrefix(eval[string](b, `location.href`), r.url+"/login") {
		t.Fatalf("the SP did not send the browser to Gatehouse: %s", eval[string](b, `location.href`))
	}
	b.do(typeIn("#username", "ada@example.com"), typeIn("#password", "Correct-Horse-9\r"), visible("#who"))
	if got := b.text("#who"); got != "ada@example.com" {
		t.Errorf("the SP shows %q", got)
	}
	if a := g.Accepted(); len(a) != 1 {
		t.Errorf("the SP accepted %d assertions: %+v", len(a), a)
	}
	if refused := g.Refused(); len(refused) > 0 {
		t.Errorf("the SP refused: %v", refused)
	}
	for _, m := range messages() {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("browser: %s", m)
		}
	}
}

package saml_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/demo"
)

// TestDemoGitBook: the demo's GitBook stand-in (crewjam/saml's service
// provider side), registered from its own metadata with the GitBook
// preset, reached by a browser that signs in when Gatehouse asks.
func TestDemoGitBook(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g, err := demo.StartGitBookSP(ctx, e.srv.URL+"/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ops := &admin.Ops{Auth: e.auth, Dir: e.dir}
	if _, err := g.Register(ctx, ops, "GitBook", []string{}); err != nil {
		t.Fatal(err)
	}
	hire := e.user("new.hire", "New.Hire@Example.com", "New", "Hire")
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	b := &browser{e: e, t: t, c: client}
	signedIn := false
	who, err := demo.SAMLLogin(ctx, client, g, func(ctx context.Context, c *http.Client, resp *http.Response) (*http.Response, error) {
		resp.Body.Close()
		signedIn = true
		b.signIn(hire, 2, e.now())
		resume := resp.Request.URL.Query().Get("resume")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+resume, nil)
		return c.Do(req)
	})
	if err != nil {
		t.Fatal(err)
	}
	if who != "new.hire@example.com" || !signedIn {
		t.Errorf("GitBook shows %q (signed in at Gatehouse: %v), want the lower-case email", who, signedIn)
	}
	// Again: the Gatehouse session is reused, no login page.
	again, err := demo.SAMLLogin(ctx, client, g, nil)
	if err != nil || again != who {
		t.Errorf("second visit: %q, %v", again, err)
	}
}

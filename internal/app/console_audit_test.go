package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/web/console"
)

// consoleDetail is the console part of a sign-in audit record.
type consoleDetail struct {
	SessionID string `json:"sessionId"`
	Reason    string `json:"reason"`
	Client    string `json:"client"`
}

func consoleAudit(t *testing.T, r *running, action string) []consoleDetail {
	t.Helper()
	es, _, err := r.app.Admin.Audit(context.Background(), admin.AuditFilter{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []consoleDetail
	for _, e := range es {
		var b struct {
			Console consoleDetail `json:"console"`
		}
		if err := json.Unmarshal(e.After, &b); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		out = append(out, b.Console)
	}
	return out
}

// TestConsoleSignInAudited: an admin token's sign-in to the console, a
// refused one (a wrong token, a token without the admin scope, a
// throttled client) and the sign-out are audit records in the hash chain
// (MLPS 2.0 level 3), with the application, the token id and the client
// address, never the token; the console's audit page lists them and the
// chain stays intact.
func TestConsoleSignInAudited(t *testing.T) {
	r := start(t, func(c *config.Config) { devLogin(c); c.Auth.FailureLimit = 3 })
	ctx := context.Background()
	p, err := r.app.Auth.Authenticate(ctx, "Bearer "+r.admin, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.url)
	consoleToken(t, b, r.admin)
	in := lastAudit(t, r, console.ActionSignIn)
	if in.Actor.Kind != "app" || in.Actor.AppID != p.App.ID || in.Actor.TokenID != p.Token.ID || in.ResourceType != "Application" || in.ResourceID != p.App.ID {
		t.Errorf("sign-in record: %+v", in)
	}
	if d := consoleAudit(t, r, console.ActionSignIn); len(d) != 1 || d[0].Client != "127.0.0.1" || d[0].SessionID == "" {
		t.Errorf("sign-in detail: %+v", d)
	}
	// The console's audit page lists it.
	page := b.do("GET", "/console/audit?action=console.", nil)
	if page.status != 200 || !strings.Contains(page.body, console.ActionSignIn) || !strings.Contains(page.body, `href="/console/apps/`+p.App.ID+`"`) {
		t.Errorf("audit page: %d\n%s", page.status, page.body)
	}
	csrf := fields(page.body).Get("csrf")
	if out := b.do("POST", "/console/logout", url.Values{"csrf": {csrf}}); out.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d\n%s", out.status, out.body)
	}
	o := lastAudit(t, r, console.ActionSignOut)
	if o.Actor.AppID != p.App.ID || o.Actor.TokenID != p.Token.ID {
		t.Errorf("sign-out record: %+v", o)
	}
	if d := consoleAudit(t, r, console.ActionSignOut); len(d) != 1 || d[0].SessionID != consoleAudit(t, r, console.ActionSignIn)[0].SessionID ||
		d[0].Client != "127.0.0.1" {
		t.Errorf("sign-out detail: %+v", d)
	}

	// Refused: a token of an application without the admin scope, wrong
	// tokens, then the client is throttled.
	f := fields(b.do("GET", "/console/login", nil).body)
	f.Set("token", r.token)
	if got := b.do("POST", "/console/login", f); got.status != http.StatusForbidden {
		t.Fatalf("scim-client token: %d", got.status)
	}
	scope := lastAudit(t, r, console.ActionSignInFailed)
	if scope.Actor.Kind != "app" || scope.Actor.AppID == "" || scope.Actor.AppID == p.App.ID || scope.Actor.TokenID == "" {
		t.Errorf("wrong-scope record: %+v", scope)
	}
	throttled := 0
	for _, tok := range []string{"gh_wrong-0", "gh_wrong-1", "gh_wrong-2", "gh_wrong-3", "gh_wrong-4"} {
		f.Set("token", tok)
		if b.do("POST", "/console/login", f).status == http.StatusTooManyRequests {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("five wrong tokens and the address was never throttled")
	}
	var reasons []string
	for _, d := range consoleAudit(t, r, console.ActionSignInFailed) {
		if d.Client != "127.0.0.1" {
			t.Errorf("refused sign-in without its client: %+v", d)
		}
		reasons = append(reasons, d.Reason)
	}
	// A throttled answer is not a record of its own (the log must not
	// grow at an attacker's request rate): the failures are.
	if got := strings.Join(reasons, " "); got != strings.Repeat("invalid-token ", 5-throttled)+"not-admin" {
		t.Errorf("refused sign-ins, newest first: %s", got)
	}
	// No token, nor any part of it, in the log.
	es, _, err := r.app.Admin.Audit(ctx, admin.AuditFilter{Action: "console.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(es)
	for _, secret := range []string{r.admin, r.token, "gh_wrong"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the audit log holds a token: %s", raw)
		}
	}
	rep, err := r.app.Directory.VerifyAudit(ctx)
	if err != nil || !rep.OK {
		t.Errorf("chain: %+v %v", rep, err)
	}
}

// TestConsoleStaticNoListing: the console's static files are served, its
// directory is not listed.
func TestConsoleStaticNoListing(t *testing.T) {
	r := start(t, devLogin)
	b := newBrowser(t, r.url)
	if got := b.do("GET", "/console/static/", nil); got.status != http.StatusNotFound || strings.Contains(got.body, "console.css") {
		t.Errorf("the directory: %d\n%s", got.status, got.body)
	}
	if got := b.do("GET", "/console/static/console.css", nil); got.status != 200 || got.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("console.css: %d %v", got.status, got.header)
	}
}

package app_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/config"
)

// TestConsoleFormOnceAcrossReplicas: two servers on one PostgreSQL
// database behind a load balancer. An administrator makes a token on one;
// her browser's reload of that answer reaches the other, which refuses it
// (409) and makes nothing: the used single-use values are the database's,
// not a process's.
func TestConsoleFormOnceAcrossReplicas(t *testing.T) {
	dbURL, schema := pgSchema(t)
	shared := withSearchPath(t, dbURL, schema)
	serve := func() string {
		t.Helper()
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.DatabaseURL = shared
		cfg.ShutdownTimeout = config.Duration(10 * time.Second)
		devLogin(&cfg)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r := serveOn(t, ln, cfg)
		if _, _, err := r.app.Auth.Bootstrap(context.Background(), adminToken); err != nil {
			t.Fatal(err)
		}
		return r.url
	}
	one, two := serve(), serve()

	// One browser (cookies are per host, not per port: both servers see
	// the same ones, as behind one load balancer's name).
	b := newBrowser(t, one)
	consoleToken(t, b, adminToken)
	created := b.do("POST", "/console/apps", url.Values{"csrf": {fields(b.do("GET", "/console/apps", nil).body).Get("csrf")},
		"name": {"crm"}, "kind": {"scim-client"}, "scopes": {"scim:users:read"}})
	loc := created.header.Get("Location")
	if created.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/apps/") {
		t.Fatalf("create: %d %v\n%s", created.status, created.header, created.body)
	}
	f := fields(b.do("GET", loc, nil).body)
	form := url.Values{"csrf": {f.Get("csrf")}, "once": {f.Get("once")}, "validity": {"90d"}}
	if made := b.do("POST", loc+"/tokens", form); made.status != http.StatusCreated || !secretValueRE.MatchString(made.body) {
		t.Fatalf("token on the first server: %d\n%s", made.status, made.body)
	}
	b.base = two
	again := b.do("POST", loc+"/tokens", form)
	if again.status != http.StatusConflict || secretValueRE.MatchString(again.body) {
		t.Errorf("the reload on the second server: %d\n%s", again.status, again.body)
	}
	page := b.do("GET", loc, nil)
	if page.status != 200 || secretValueRE.MatchString(page.body) {
		t.Fatalf("the application's page on the second server: %d", page.status)
	}
	if n := len(tokenRotateRE.FindAllString(page.body, -1)); n != 1 {
		t.Errorf("%d tokens listed after the reload, want 1", n)
	}
}

// tokenRotateRE finds a token's rotate form on an application's page: one
// a token.
var tokenRotateRE = regexp.MustCompile(`action="/console/apps/[^"/]+/tokens/[^"/]+/rotate"`)

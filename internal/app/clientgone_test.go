package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// TestClientGoneIsNotAServerFault: a request whose client went away (its
// context canceled) before the answer was ready is logged and counted as
// 499, at INFO, not as a 500 at ERROR: any client could otherwise raise the
// server-error rate and its alerts at will.
func TestClientGoneIsNotAServerFault(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	var logs lockedBuffer
	log, err := logging.New(&logs, logging.Options{Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	op := directory.Actor{Kind: "cli"}
	// newToken makes an application of spec and a token of it.
	newToken := func(spec auth.AppSpec) (string, string) {
		t.Helper()
		appl, err := a.Auth.CreateApp(ctx, op, spec)
		if err != nil {
			t.Fatal(err)
		}
		_, token, err := a.Auth.CreateToken(ctx, op, appl.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return appl.ID, token
	}
	oktaID, token := newToken(auth.AppSpec{Name: "okta", Profile: directory.IDaaSProfile()})
	_, busToken := newToken(auth.AppSpec{Name: "bus", Kind: auth.KindServerApp, Scopes: auth.Scopes{auth.ScopeEventsWrite}})
	_, admToken := newToken(auth.AppSpec{Name: "ops", Kind: auth.KindServerApp, Scopes: auth.Scopes{auth.ScopeAdmin}})
	// A SCIM credential used first by a request whose client is gone:
	// authentication itself reads the store.
	_, fresh, err := a.Auth.CreateToken(ctx, op, oktaID, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	serve := func(ctx context.Context, method, path, body string) int {
		req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		if strings.HasPrefix(path, "/admin/") {
			req.Header.Set("Authorization", "Bearer "+admToken)
			req.Header.Set("Content-Type", "application/json")
		}
		if strings.HasSuffix(path, "?fresh") {
			req.Header.Set("Authorization", "Bearer "+fresh)
		}
		if path == "/events" {
			req.Header.Set("Authorization", "Bearer "+busToken)
			req.Header.Set("Content-Type", "application/cloudevents+json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if code := serve(ctx, http.MethodPost, "/scim/v2/Users", `{"userName":"ann@example.com"}`); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	// Authentication is answered from what the server remembers; the
	// store then sees the canceled context.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/scim/v2/Users?filter=userName%20eq%20%22ann@example.com%22", ""},
		{http.MethodPost, "/scim/v2/Users", `{"userName":"bob@example.com"}`},
		{http.MethodPost, "/admin/v1/orgs", `{"name":"Sales"}`},
		{http.MethodGet, "/scim/v2/Users?fresh", ""},
		{http.MethodPost, "/events", `{"specversion":"1.0","id":"e1","source":"/hr","type":"hr.hire","data":{}}`},
	} {
		if code := serve(gone, c.method, c.path, c.body); code != logging.StatusClientClosed {
			t.Errorf("%s %s with the client gone: %d, want %d", c.method, c.path, code, logging.StatusClientClosed)
		}
	}
	// A Bulk whose client is gone before it starts is 499 as a whole.
	// (One whose client goes away between its operations answers 499 for
	// the operations left; a canceled context cannot be timed to fall
	// between two of them here.)
	req := httptest.NewRequestWithContext(gone, http.MethodPost, "/scim/v2/Bulk", strings.NewReader(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
		"Operations":[{"method":"POST","path":"/Users","bulkId":"c","data":{"userName":"carl@example.com"}}]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != logging.StatusClientClosed {
		t.Errorf("Bulk with the client gone: %d %s", w.Code, w.Body)
	}
	out := logs.String()
	if strings.Contains(out, `"level":"ERROR"`) || strings.Contains(out, `"status":500`) || strings.Count(out, `"status":499`) != 6 {
		t.Errorf("log:\n%s", out)
	}
}

package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/store/pgfault"
)

// pgSchema makes a schema of its own for the test in the database of
// GATEHOUSE_TEST_POSTGRES_URL (skipping the test without it) and returns
// the URL's database and the schema's name.
func pgSchema(t *testing.T) (string, string) {
	t.Helper()
	dbURL := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	if dbURL == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES_URL is not set")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "gatehouse_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return dbURL, name
}

// withSearchPath adds the search_path runtime parameter to a PostgreSQL URL.
func withSearchPath(t *testing.T, dbURL, schema string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// While PostgreSQL cannot be reached, SCIM, admin, OAuth (token endpoints
// and key sets), POST /events and /metrics requests are answered 503 with
// Retry-After in their own formats, not 500 (nor a 401 for a credential
// that could not be checked); then service resumes.
func TestDatabaseOutageIs503(t *testing.T) {
	dbURL, schema := pgSchema(t)
	p, err := pgfault.Start(withSearchPath(t, dbURL, schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	r := start(t, func(c *config.Config) {
		c.DatabaseURL = p.URL()
		c.Events.PollInterval = config.Duration(10 * time.Millisecond)
	})
	created := call(t, "POST", r.url+"/scim/v2/Users", `{"userName":"before@example.com"}`, bearer(r.token)...)
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	id := created.str("id")
	if res := adminCall(t, r, "POST", "/apps", `{"name":"bus","kind":"server-app","scopes":["events:write"]}`); res.status != http.StatusCreated {
		t.Fatalf("create bus: %d %s", res.status, res.raw)
	}
	bus := adminCall(t, r, "POST", "/apps/bus/tokens", "").str("token")
	clientID, secret := newServerApp(t, r, "ram-sync", "/acs/scim")
	byName := func(name string) string {
		return r.url + "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "`+name+`"`)
	}

	p.Down()
	for _, tt := range []struct {
		method, url, token, body, contentType string
	}{
		{"GET", r.url + "/scim/v2/Users/" + id, r.token, "", "application/scim+json"},
		{"GET", byName("before@example.com"), r.token, "", "application/scim+json"},
		{"POST", r.url + "/scim/v2/Users", r.token, `{"userName":"during@example.com"}`, "application/scim+json"},
		{"GET", r.url + "/admin/v1/apps", r.admin, "", "application/problem+json"},
		{"POST", r.url + "/admin/v1/orgs", r.admin, `{"name":"During"}`, "application/problem+json"},
		{"GET", r.url + "/scim/v2/Schemas", r.token, "", "application/scim+json"},
		{"POST", r.url + "/events", bus, `{"id":"e1","source":"com.example","detail-type":"User.Created","detail":{}}`, "application/json"},
		{"GET", r.url + "/metrics", r.admin, "", "text/plain; charset=utf-8"},
		{"GET", r.url + "/.well-known/jwks.json", "", "", "application/json;charset=UTF-8"},
		{"GET", r.url + "/oauth2/jwks", "", "", "application/json;charset=UTF-8"},
		{"POST", r.url + "/oauth2/token", "", "grant_type=client_credentials", "application/json;charset=UTF-8"},
		{"POST", r.url + "/v1/token?grant_type=client_credentials&client_id=" + clientID, "", "", "application/json;charset=UTF-8"},
	} {
		hdr := []string{"Authorization", "Bearer " + tt.token, "Content-Type", "application/json"}
		switch {
		case strings.Contains(tt.url, "token"):
			hdr = []string{"Authorization", basicAuth(clientID, secret)}
			if tt.body != "" {
				hdr = append(hdr, "Content-Type", "application/x-www-form-urlencoded")
			}
		case tt.token == "":
			hdr = nil
		}
		res := call(t, tt.method, tt.url, tt.body, hdr...)
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" || res.header.Get("Content-Type") != tt.contentType {
			t.Errorf("%s %s during the outage: %d, Retry-After %q, %s %s; want 503 with Retry-After, %s", tt.method, tt.url,
				res.status, res.header.Get("Retry-After"), res.header.Get("Content-Type"), res.raw, tt.contentType)
		}
	}

	// The dispatcher polls every 10 ms: let it fail for a while.
	if !waitLog(r, "dispatch events") {
		t.Fatal("the dispatcher did not log its failure")
	}
	time.Sleep(200 * time.Millisecond)
	p.Up()
	if res := call(t, "GET", r.url+"/scim/v2/Users/"+id, "", bearer(r.token)...); res.status != http.StatusOK {
		t.Errorf("after the outage: %d %s", res.status, res.raw)
	}
	// The dispatcher logged its failure once (then at most once a minute),
	// and that it works again.
	if !waitLog(r, "dispatch events: working again") {
		t.Error(`the dispatcher did not log "dispatch events: working again"`)
	}
	failed := 0
	for _, l := range r.log.lines() {
		if l["msg"] == "dispatch events" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("the dispatcher logged its failure %d times during the outage, want once", failed)
	}
	if res := call(t, "GET", byName("during@example.com"), "", bearer(r.token)...); res.status != http.StatusOK || !strings.Contains(string(res.raw), `"totalResults":0`) {
		t.Errorf("the user refused during the outage: %d %s", res.status, res.raw)
	}
}

// A list that runs out of its time budget is stopped and answered in SCIM's
// terms: 400 tooMany when it is expensive (it would run out again), 503 with
// Retry-After when it is an indexed lookup (the database is struggling).
// The lists are held up in PostgreSQL by a lock another session holds.
func TestQueryBudget(t *testing.T) {
	dbURL, schema := pgSchema(t)
	r := start(t, func(c *config.Config) {
		c.DatabaseURL = withSearchPath(t, dbURL, schema)
		c.SCIM.QueryTimeout = config.Duration(200 * time.Millisecond)
	})
	if res := call(t, "POST", r.url+"/scim/v2/Users", `{"userName":"someone@example.com"}`, bearer(r.token)...); res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.raw)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, withSearchPath(t, dbURL, schema))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		filter, scimType string
		status           int
	}{
		{`userName eq "someone@example.com"`, "", http.StatusServiceUnavailable},
		{`displayName co "one"`, "tooMany", http.StatusBadRequest},
	} {
		res := call(t, "GET", r.url+"/scim/v2/Users?filter="+url.QueryEscape(tt.filter), "", bearer(r.token)...)
		if res.status != tt.status || res.str("scimType") != tt.scimType ||
			(tt.status == http.StatusServiceUnavailable && res.header.Get("Retry-After") == "") {
			t.Errorf("%s past the budget: %d %s %s, want %d %q", tt.filter, res.status, res.header.Get("Retry-After"), res.raw, tt.status, tt.scimType)
		}
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users?filter="+url.QueryEscape(`displayName co "one"`), "", bearer(r.token)...); res.status != http.StatusOK {
		t.Errorf("after the lock: %d %s", res.status, res.raw)
	}
}

// waitLog waits until the server has logged msg, and reports whether it
// has.
func waitLog(r *running, msg string) bool {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, l := range r.log.lines() {
			if l["msg"] == msg {
				return true
			}
		}
	}
	return false
}

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

// While PostgreSQL cannot be reached, SCIM and admin requests are answered
// 503 with Retry-After in their own formats, not 500; then service resumes.
func TestDatabaseOutageIs503(t *testing.T) {
	dbURL, schema := pgSchema(t)
	p, err := pgfault.Start(withSearchPath(t, dbURL, schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	r := start(t, func(c *config.Config) { c.DatabaseURL = p.URL() })
	created := call(t, "POST", r.url+"/scim/v2/Users", `{"userName":"before@example.com"}`, bearer(r.token)...)
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	id := created.str("id")
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
	} {
		res := call(t, tt.method, tt.url, tt.body, "Authorization", "Bearer "+tt.token, "Content-Type", "application/json")
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" || res.header.Get("Content-Type") != tt.contentType {
			t.Errorf("%s %s during the outage: %d, Retry-After %q, %s %s; want 503 with Retry-After, %s", tt.method, tt.url,
				res.status, res.header.Get("Retry-After"), res.header.Get("Content-Type"), res.raw, tt.contentType)
		}
	}

	p.Up()
	if res := call(t, "GET", r.url+"/scim/v2/Users/"+id, "", bearer(r.token)...); res.status != http.StatusOK {
		t.Errorf("after the outage: %d %s", res.status, res.raw)
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

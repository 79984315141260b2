package scim_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// While another process holds SQLite's write lock past the busy timeout,
// writes are answered 503 with Retry-After, change nothing, and reads go on.
func TestDatabaseLockedIsUnavailable(t *testing.T) {
	var logs lockedLog
	h := newHarness(t, withStore(sqlite.Options{BusyTimeout: 50 * time.Millisecond}), func(o *options) { o.logTo = &logs })
	kept := h.must(h.do("POST", "/Users", map[string]any{"userName": "kept@example.com"}), http.StatusCreated).str("id")

	// Another process (here: another connection) takes the write lock.
	other, err := sql.Open("sqlite", "file:"+h.store.Path()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/Users", map[string]any{"userName": "new@example.com"}},
		{"PATCH", "/Users/" + kept, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Changed"}}}},
		{"DELETE", "/Users/" + kept, nil},
	} {
		res := h.do(req.method, req.path, req.body)
		if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || res.str("status") != "503" {
			t.Errorf("%s %s while the database is locked: %d Retry-After %q %s, want 503 with Retry-After",
				req.method, req.path, res.Status, res.Header.Get("Retry-After"), res.Raw)
		}
	}
	// A Bulk is answered 200 with each operation's 503, and each is logged
	// as the server fault it is, as a request would be.
	bulk := h.must(h.do("POST", "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
		"Operations": []any{map[string]any{"method": "POST", "path": "/Users", "bulkId": "b", "data": map[string]any{"userName": "bulk@example.com"}}}}),
		http.StatusOK)
	if !strings.Contains(string(bulk.Raw), `"status":"503"`) || !strings.Contains(logs.String(), "scim bulk operation failed") {
		t.Errorf("Bulk while the database is locked: %s\nlog:\n%s", bulk.Raw, logs.String())
	}
	// Reads do not need the write lock.
	h.must(h.do("GET", "/Users/"+kept, nil), http.StatusOK)

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	// Nothing was written: the user told 503 is created now (201, not the
	// 200 of a repeated submission), and the others are unchanged.
	h.must(h.do("POST", "/Users", map[string]any{"userName": "new@example.com"}), http.StatusCreated)
	if got := h.must(h.do("GET", "/Users/"+kept, nil), http.StatusOK).str("displayName"); got != "" {
		t.Errorf("displayName = %q after a refused PATCH", got)
	}
}

// lockedLog is a log destination the server and the test share.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// seedUsers writes n users straight into the SQLite database of dataDir
// (before a server opens it) and returns some of their ids.
func seedUsers(t *testing.T, dataDir string, n int) []string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "gatehouse.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var ids []string
	for lo := 0; lo < n; lo += 5000 {
		err := st.Write(ctx, func(tx directory.Tx) error {
			for i := lo; i < min(lo+5000, n); i++ {
				name := fmt.Sprintf("user%07d@example.com", i)
				id := fmt.Sprintf("00000000-0000-7000-8000-%012d", i)
				u := &directory.User{ID: id, UserName: name, DisplayName: fmt.Sprintf("User %d", i), Active: true,
					OrgID: directory.RootOrgID, Created: now, Modified: now, Version: 1,
					Attrs: directory.Attrs{"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}}}}
				if err := tx.InsertUser(ctx, u); err != nil {
					return err
				}
				if i%97 == 0 {
					ids = append(ids, id)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestExpensiveQueriesDoNotStarvePointReads: one application floods a real
// server with searches that read and sort every user (a hundred
// "emails.value ew" terms, count=1000, sortBy=displayName), many at once,
// ignoring Retry-After, while another client reads users by id. The point
// reads all succeed while the flood is limited: the application gets at
// most its share of expensive queries (the rest wait their turn, then get
// 429), and each one that runs is stopped at its time budget (400 tooMany)
// and counted as such.
func TestExpensiveQueriesDoNotStarvePointReads(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ids := seedUsers(t, data, 20000)
	// The budget is far below what the search costs on 20,000 users, so
	// every search that runs is stopped by it, after holding its slot for
	// the whole budget: 40 searches at once cannot all get their turn
	// within the 1 s a request waits for one.
	cfg := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("scim:\n  query_timeout: 50ms\n  expensive_queries: 2\n  expensive_queries_per_app: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, data, freeAddr(t), "GATEHOUSE_CONFIG="+cfg)
	token := newAppToken(t, srv, "flooder")
	reader := newAppToken(t, srv, "reader")

	terms := make([]string, 100)
	for i := range terms {
		terms[i] = fmt.Sprintf(`emails.value ew "@nowhere-%d.example"`, i)
	}
	search := srv.url + "/scim/v2/Users?" + url.Values{"filter": {strings.Join(terms, " or ")}, "count": {"1000"}, "sortBy": {"displayName"}}.Encode()

	var mu sync.Mutex
	outcomes := map[string]int{} // status and scimType of the searches
	var flood sync.WaitGroup
	for range 40 {
		flood.Go(func() {
			for range 3 {
				status, body, err := request("GET", search, token, "")
				if err != nil {
					t.Error(err)
					return
				}
				k := fmt.Sprint(status)
				if st, _ := body["scimType"].(string); st != "" {
					k += " " + st
				}
				mu.Lock()
				outcomes[k]++
				mu.Unlock()
			}
		})
	}
	floodDone := make(chan struct{})
	go func() {
		flood.Wait()
		close(floodDone)
	}()

	reads, failed := 0, 0
	for done := false; !done; {
		select {
		case <-floodDone:
			done = true
		default:
		}
		status, body, err := request("GET", srv.url+"/scim/v2/Users/"+ids[reads%len(ids)], reader, "")
		if err != nil {
			t.Fatal(err)
		}
		reads++
		if status != http.StatusOK {
			failed++
			if failed <= 3 {
				t.Errorf("point read during the flood: %d %v", status, body)
			}
		}
	}
	t.Logf("searches: %v; %d point reads during the flood", outcomes, reads)
	if outcomes["429"] == 0 || outcomes["400 tooMany"] == 0 || outcomes["400 tooMany"]+outcomes["429"] != 120 {
		t.Errorf("search outcomes %v: want only 429 (refused) and 400 tooMany (stopped at the budget), some of each", outcomes)
	}

	metrics := scrape(t, srv)
	for _, want := range []string{`gatehouse_scim_query_limits_total{reason="app"} ` + fmt.Sprint(outcomes["429"]),
		`gatehouse_scim_query_limits_total{reason="budget"} ` + fmt.Sprint(outcomes["400 tooMany"])} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// newAppToken creates an application through the admin API and returns a
// bearer token of it.
func newAppToken(t *testing.T, srv *server, name string) string {
	t.Helper()
	if status, body, err := request("POST", srv.url+"/admin/v1/apps", adminToken, `{"name":"`+name+`"}`); err != nil || status != 201 {
		t.Fatalf("create app: %d %v %v", status, err, body)
	}
	status, tok, err := request("POST", srv.url+"/admin/v1/apps/"+name+"/tokens", adminToken, "")
	if err != nil || status != 201 {
		t.Fatalf("create token: %d %v", status, err)
	}
	return tok["token"].(string)
}

// scrape returns the server's metrics.
func scrape(t *testing.T, srv *server) string {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

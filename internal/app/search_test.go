package app_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/search/ingest"
)

// TestSearchEndToEnd: the real server with search enabled; documents
// indexed for groups; GET /search by an application acting for a person
// shows her what her groups may read, now, and refuses bad requests in
// JSON.
func TestSearchEndToEnd(t *testing.T) {
	docs := t.TempDir()
	for name, body := range map[string]string{
		"engineering/vpn.md": "# VPN\n\n## 连接 VPN\n\n安装 WireGuard 客户端，导入配置文件后连接 VPN。\n",
		"everyone/leave.md":  "# Leave\n\nFull-time employees get 10 days of annual leave.\n",
	} {
		p := filepath.Join(docs, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	r := start(t, func(c *config.Config) {
		c.Search.Enabled = true
		c.Search.Embedder = "hash"
		c.Search.Dims = 64
	})
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	dir := r.app.Directory
	user := func(name string) string {
		u, _, err := dir.CreateUser(ctx, op, directory.IDaaSProfile(), &directory.User{UserName: name, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	alice, bob := user("alice@example.com"), user("bob@example.com")
	eng, _, err := dir.CreateGroup(ctx, op, directory.IDaaSProfile(), &directory.Group{DisplayName: "engineering-readers", Members: []directory.Member{{ID: alice}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dir.CreateGroup(ctx, op, directory.IDaaSProfile(), &directory.Group{DisplayName: "everyone", Members: []directory.Member{{ID: alice}, {ID: bob}}}); err != nil {
		t.Fatal(err)
	}
	s, err := r.app.Search()
	if err != nil {
		t.Fatal(err)
	}
	for sub, group := range map[string]string{"engineering": "engineering-readers", "everyone": "everyone"} {
		if _, err := s.Indexer.Index(ctx, ingest.Dir{Root: filepath.Join(docs, sub)}, ingest.Options{Groups: []string{group}}); err != nil {
			t.Fatal(err)
		}
	}
	portal, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "portal", Scopes: auth.Scopes{auth.ScopeDocsSearch}, Profile: directory.IDaaSProfile()})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := r.app.Auth.CreateToken(ctx, op, portal.ID, 0)
	if err != nil {
		t.Fatal(err)
	}

	ask := func(method, query, tok, who string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, r.url+"/search?"+query, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if who != "" {
			req.Header.Set("Gatehouse-User", who)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s %s: not JSON: %v", method, query, err)
		}
		return resp.StatusCode, body, resp.Header
	}
	sources := func(body map[string]any) []string {
		out := []string{}
		for _, it := range body["results"].([]any) {
			out = append(out, it.(map[string]any)["source"].(string))
		}
		return out
	}
	q := "q=" + url.QueryEscape("怎么连接VPN")

	status, body, _ := ask("GET", q, token, "alice@example.com")
	if status != http.StatusOK || len(sources(body)) == 0 || sources(body)[0] != "vpn.md" || body["mode"] != "hybrid" {
		t.Fatalf("alice: %d %v", status, body)
	}
	first := body["results"].([]any)[0].(map[string]any)
	if !strings.Contains(first["highlighted"].(string), "<mark>VPN</mark>") || first["url"] != nil && first["url"] != "" {
		t.Errorf("alice's result: %v", first)
	}
	if bc := first["breadcrumb"].([]any); len(bc) != 2 || bc[1] != "连接 VPN" {
		t.Errorf("breadcrumb = %v", bc)
	}
	// Bob (everyone only): not the VPN page, in any mode; by keyword,
	// nothing, not even a count.
	for _, mode := range []string{"hybrid", "vector", "keyword"} {
		status, body, _ = ask("GET", q+"&mode="+mode, token, bob)
		if status != http.StatusOK || slices.Contains(sources(body), "vpn.md") || (mode == "keyword" && (len(sources(body)) != 0 || body["matched"] != 0.0)) {
			t.Errorf("bob (%s): %d %v", mode, status, body)
		}
	}
	// Alice leaves engineering-readers: her next query no longer finds it.
	if _, err := dir.UpdateGroup(ctx, op, directory.IDaaSProfile(), eng.ID, nil, nil,
		[]directory.MemberOp{{Kind: directory.RemoveMembers, IDs: []string{alice}}}); err != nil {
		t.Fatal(err)
	}
	status, body, _ = ask("GET", q, token, alice)
	if status != http.StatusOK || slices.Contains(sources(body), "vpn.md") {
		t.Errorf("alice after leaving the group: %d %v", status, body)
	}
	status, body, _ = ask("GET", "q=annual+leave&mode=keyword&k=5", token, alice)
	if status != http.StatusOK || !cmp.Equal(sources(body), []string{"leave.md"}) || body["mode"] != "keyword" {
		t.Errorf("alice, leave: %d %v", status, body)
	}

	for _, tt := range []struct {
		method, query, token, who string
		status                    int
		code                      string
	}{
		{"GET", q, "", "alice@example.com", http.StatusUnauthorized, "invalid_token"},
		{"GET", q, "wrong", "alice@example.com", http.StatusUnauthorized, "invalid_token"},
		{"GET", q, r.token, "alice@example.com", http.StatusForbidden, "insufficient_scope"}, // a SCIM client's token
		{"GET", q, token, "", http.StatusBadRequest, "invalid_request"},
		{"GET", q, token, "nobody@example.com", http.StatusNotFound, "unknown_user"},
		{"GET", "q=", token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", "q=" + strings.Repeat("x", 1001), token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", "q=%FF%FE", token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", q + "&mode=fuzzy", token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", q + "&k=0", token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", q + "&k=99", token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", q + "&q=again", token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", q + "&mode=keyword;", token, alice, http.StatusBadRequest, "invalid_request"}, // net/url would drop the pair
		{"GET", q + "&k=3%zz", token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", q + "&groups=finance-readers", token, alice, http.StatusBadRequest, "invalid_request"},
		{"GET", q + "&answer=true", token, alice, http.StatusBadRequest, "invalid_request"}, // no chat endpoint
		{"POST", q, token, alice, http.StatusMethodNotAllowed, "invalid_request"},
	} {
		status, body, hdr := ask(tt.method, tt.query, tt.token, tt.who)
		if status != tt.status || body["error"] != tt.code || body["message"] == "" {
			t.Errorf("%s %.40s (token %q, user %q): %d %v, want %d %s", tt.method, tt.query, tt.token, tt.who, status, body, tt.status, tt.code)
		}
		if status == http.StatusUnauthorized && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer challenge: %v", hdr)
		}
	}
	// A header sent twice is ambiguous (a proxy may have checked the
	// first, Gatehouse read the other): refused, whichever it is.
	for _, hdr := range []http.Header{
		{"Authorization": {"Bearer " + token}, "Gatehouse-User": {"bob@example.com", "alice@example.com"}},
		{"Authorization": {"Bearer " + token}, "Gatehouse-User": {alice, "bob@example.com"}},
		{"Authorization": {"Bearer " + token, "Bearer " + token}, "Gatehouse-User": {alice}},
	} {
		req, _ := http.NewRequest("GET", r.url+"/search?"+q, nil)
		req.Header = hdr
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || err != nil || body["error"] != "invalid_request" {
			t.Errorf("headers %v: %d %v %v, want 400 invalid_request", hdr, resp.StatusCode, body, err)
		}
	}
	st, err := s.Backend.Stats(ctx)
	if err != nil || st.Chunks != 2 || st.Model == "" {
		t.Errorf("stats after the bad requests: %+v %v", st, err)
	}
}

// TestSearchAdminAPI: the admin API indexes configured sources by name
// (and nothing else), and describes the index.
func TestSearchAdminAPI(t *testing.T) {
	docs := t.TempDir()
	os.WriteFile(filepath.Join(docs, "leave.md"), []byte("# Leave\n\nTen days of annual leave.\n"), 0o644)
	r := start(t, func(c *config.Config) {
		c.Search.Enabled = true
		c.Search.Sources = []config.SearchSource{
			{Name: "handbook", Source: "dir:" + docs, Groups: []string{"everyone"}},
			{Name: "orphan", Source: docs, Groups: []string{"no-such-group"}},
		}
	})
	ctx := context.Background()
	if _, _, err := r.app.Directory.CreateGroup(ctx, directory.Actor{Kind: "cli"}, directory.IDaaSProfile(), &directory.Group{DisplayName: "everyone"}); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, r.url+"/admin/v1"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+r.admin)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := call("POST", "/docs/sources/handbook/index", `{"dryRun": true}`)
	if status != 200 || out["added"] != 1.0 || out["dryRun"] != true {
		t.Errorf("dry run: %d %v", status, out)
	}
	status, out = call("GET", "/docs", "")
	if idx, _ := out["index"].(map[string]any); status != 200 || idx["chunks"] != 0.0 || len(out["sources"].([]any)) != 2 {
		t.Errorf("status after a dry run: %d %v", status, out)
	}
	status, out = call("POST", "/docs/sources/handbook/index", "")
	if status != 200 || out["added"] != 1.0 {
		t.Errorf("index: %d %v", status, out)
	}
	status, out = call("GET", "/docs", "")
	if idx, _ := out["index"].(map[string]any); status != 200 || idx["chunks"] != 1.0 {
		t.Errorf("status: %d %v", status, out)
	}
	for _, tt := range []struct {
		path, body string
		status     int
	}{
		{"/docs/sources/nowhere/index", "", http.StatusNotFound},
		{"/docs/sources/orphan/index", "", http.StatusBadRequest},
		{"/docs/sources/handbook/index", `{"path": "/etc"}`, http.StatusBadRequest},
	} {
		if status, out := call("POST", tt.path, tt.body); status != tt.status || out["detail"] == "" {
			t.Errorf("POST %s %s: %d %v, want %d", tt.path, tt.body, status, out, tt.status)
		}
	}
}

// TestSearchSchedule: serve indexes a source with an interval when it
// starts (and logs the run).
func TestSearchSchedule(t *testing.T) {
	docs := t.TempDir()
	os.WriteFile(filepath.Join(docs, "leave.md"), []byte("# Leave\n\nTen days.\n"), 0o644)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SQLiteSynchronous = "NORMAL"
	cfg.Search.Enabled = true
	cfg.Search.Sources = []config.SearchSource{{Name: "handbook", Source: docs, Groups: []string{"everyone"}, Interval: config.Duration(time.Hour)}}
	logs := &logBuffer{}
	log, _ := logging.New(logs, logging.Options{Format: "json"})
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Directory.CreateGroup(ctx, directory.Actor{Kind: "cli"}, directory.IDaaSProfile(), &directory.Group{DisplayName: "everyone"}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
		a.Close()
	}()
	s, err := a.Search()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := s.Backend.Stats(ctx)
		if err == nil && st.Chunks == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled run did not index the source: %+v %v\n%v", st, err, logs.lines())
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		found := false
		for _, l := range logs.lines() {
			if l["msg"] == "documentation indexed" && l["source"] == "handbook" && l["added"] == 1.0 {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line of the run: %v", logs.lines())
		}
	}
}

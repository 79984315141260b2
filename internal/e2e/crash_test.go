// Package e2e holds tests that run the gatehouse binary as real processes:
// built once, started, killed and started again.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/targets"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, "github.com/gatehouse-id/gatehouse/cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminToken = "3c9a5e1f7b2d8046e9c1a7f3b5d20e8c4a6f1b9d3e7c5a2f"

type server struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (s *server) logText() string { return s.logs.String() }

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `gatehouse serve` on dataDir and waits until it is
// ready.
func startServer(t *testing.T, dataDir, addr string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--data-dir", dataDir, "--listen", addr, "--log-format", "json")
	cmd.Env = append(os.Environ(), append([]string{"GATEHOUSE_ADMIN_TOKEN=" + adminToken}, env...)...)
	logs := &syncBuffer{}
	cmd.Stderr, cmd.Stdout = logs, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, logs: logs}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func request(method, url, token, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, nil
}

// TestCrashLosesNoEvent: the server is killed (SIGKILL) in the middle of a
// stream of SCIM creates. After a restart, every create that was
// acknowledged (201) has its event delivered to the webhook at least once.
func TestCrashLosesNoEvent(t *testing.T) {
	secret := targets.NewWebhookSecret()
	var mu sync.Mutex
	delivered := map[string]int{} // user id → deliveries
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := targets.VerifyWebhook(secret, r.Header, body, 5*time.Minute, time.Now()); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(400)
			return
		}
		var doc struct {
			Detail struct {
				ID string `json:"id"`
			} `json:"detail"`
		}
		_ = json.Unmarshal(body, &doc)
		mu.Lock()
		delivered[doc.Detail.ID]++
		mu.Unlock()
	}))
	defer hook.Close()

	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
    policy: {schedule: [100ms, 200ms, 500ms, 1s, 1s, 1s, 1s, 1s, 1s, 1s]}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`, hook.URL, secret)), 0o600)
	cfg := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte("events:\n  rules_file: "+rules+"\n  egress_allow: [127.0.0.0/8]\n  poll_interval: 50ms\n"), 0o600)
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	srv := startServer(t, data, addr, "GATEHOUSE_CONFIG="+cfg)

	status, app, err := request("POST", srv.url+"/admin/v1/apps", adminToken, `{"name":"writer"}`)
	if err != nil || status != 201 {
		t.Fatalf("create app: %d %v %v", status, err, app)
	}
	status, tok, err := request("POST", srv.url+"/admin/v1/apps/writer/tokens", adminToken, "")
	if err != nil || status != 201 {
		t.Fatalf("create token: %d %v", status, err)
	}
	token := tok["token"].(string)

	// Writers create users until the server dies under them.
	var acked sync.Map // user id → true
	var nAcked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				status, body, err := request("POST", srv.url+"/scim/v2/Users", token, fmt.Sprintf(`{"userName":"w%d-%d@example.com"}`, w, i))
				if err != nil {
					return // the server is gone
				}
				if status == 201 {
					acked.Store(body["id"].(string), true)
					nAcked.Add(1)
				}
			}
		}()
	}
	for nAcked.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.cmd.Wait()
	close(stop)
	wg.Wait()
	var ids []string
	acked.Range(func(k, _ any) bool {
		ids = append(ids, k.(string))
		return true
	})
	t.Logf("%d creates acknowledged before SIGKILL", len(ids))

	startServer(t, data, addr, "GATEHOUSE_CONFIG="+cfg)
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		var missing []string
		for _, id := range ids {
			if delivered[id] == 0 {
				missing = append(missing, id)
			}
		}
		dups := 0
		for _, n := range delivered {
			if n > 1 {
				dups++
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			t.Logf("all %d acknowledged creates delivered; %d delivered more than once (at-least-once)", len(ids), dups)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged creates never delivered, e.g. %v", len(missing), len(ids), missing[:min(3, len(missing))])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOneServerPerSQLiteDatabase: a second server on the same SQLite
// database is refused (it would deliver the first one's running
// deliveries again), and the lock dies with its process.
func TestOneServerPerSQLiteDatabase(t *testing.T) {
	data := t.TempDir()
	first := startServer(t, data, freeAddr(t))
	second := exec.Command(binary, "serve", "--data-dir", data, "--listen", freeAddr(t))
	second.Env = append(os.Environ(), "GATEHOUSE_ADMIN_TOKEN="+adminToken)
	out, err := second.CombinedOutput()
	if err == nil {
		t.Fatalf("a second server started on the same database:\n%s", out)
	}
	if !strings.Contains(string(out), "another gatehouse server is running on this database") {
		t.Errorf("the refusal does not say why:\n%s", out)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	startServer(t, data, freeAddr(t)) // the killed server's lock is gone
}

// TestRulesReloadOnSIGHUP: the rules file is read again on SIGHUP; a file
// with a problem is refused (with its line) and the rules in force stay.
func TestRulesReloadOnSIGHUP(t *testing.T) {
	type hit struct{ path, user string }
	hits := make(chan hit, 16)
	secret := targets.NewWebhookSecret()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var doc struct {
			Detail struct {
				UserName string `json:"userName"`
			} `json:"detail"`
		}
		_ = json.Unmarshal(body, &doc)
		hits <- hit{r.URL.Path, doc.Detail.UserName}
	}))
	defer hook.Close()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	writeRules := func(path string) {
		t.Helper()
		rules := fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`, hook.URL+path, secret)
		if err := os.WriteFile(rulesPath, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeRules("/first")
	cfg := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte("events:\n  rules_file: "+rulesPath+"\n  egress_allow: [127.0.0.0/8]\n"), 0o600)
	srv := startServer(t, filepath.Join(dir, "data"), freeAddr(t), "GATEHOUSE_CONFIG="+cfg)
	request("POST", srv.url+"/admin/v1/apps", adminToken, `{"name":"writer"}`)
	_, tok, _ := request("POST", srv.url+"/admin/v1/apps/writer/tokens", adminToken, "")
	token, _ := tok["token"].(string)
	create := func(name string) {
		t.Helper()
		if status, body, err := request("POST", srv.url+"/scim/v2/Users", token, `{"userName":"`+name+`"}`); err != nil || status != 201 {
			t.Fatalf("create %s: %d %v %v", name, status, body, err)
		}
	}
	expect := func(want hit) {
		t.Helper()
		select {
		case got := <-hits:
			if got != want {
				t.Fatalf("webhook got %+v, want %+v", got, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no webhook for %+v", want)
		}
	}
	create("a@example.com")
	expect(hit{"/first", "a@example.com"})

	writeRules("/second")
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reload is logged; wait for it before the next create.
	waitLog(t, srv, `"rules reloaded"`)
	create("b@example.com")
	expect(hit{"/second", "b@example.com"})

	os.WriteFile(rulesPath, []byte("rules:\n  - name: broken\n    pattern: {\"detail-type\": \"User.Created\"}\n    targets: [{target: nowhere}]\n"), 0o600)
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, srv, `line 3`)
	create("c@example.com")
	expect(hit{"/second", "c@example.com"})
}

func waitLog(t *testing.T, s *server, substr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.logText(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("the server never logged %s:\n%s", substr, s.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

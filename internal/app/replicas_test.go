package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/targets"
)

// TestReplicas runs three `gatehouse serve` processes on one PostgreSQL
// database, writes users through all of them, and kills the leader with
// SIGKILL in the middle of the stream. Then:
//
//   - every acknowledged user is in the database, with its user.create
//     audit record and its User.Created event, and the audit chain
//     verifies with nothing left unsealed;
//   - every event is delivered to the webhook, and a delivery received
//     twice was first attempted before the kill (the killed server's
//     attempt, whose outcome it never recorded: at-least-once); no
//     delivery is attempted by two servers at once;
//   - one server leads at a time, another takes over, and the audit
//     retention schedule ran once;
//   - credentials disabled through one server are refused by another.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three servers")
	}
	dbURL, schema := pgSchema(t)
	dbURL = withSearchPath(t, dbURL, schema)
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gatehouse-id/gatehouse/cmd/gatehouse").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	hook := newReplicaHook(t)
	rules := fmt.Sprintf(`targets:
  hook:
    webhook: {url: %q, secrets: [%q], headers: {X-Test-Replica: "${env:TEST_REPLICA}"}}
    policy: {concurrency: 4, timeout: 2s}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`, hook.url, hook.secret)
	must(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600))
	cfg := fmt.Sprintf("auth:\n  failure_limit: 1000000\nmetrics:\n  public: true\nevents:\n  rules_file: %s\n  egress_allow: [127.0.0.0/8]\naudit:\n  checkpoint_key_file: %s\n",
		filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "checkpoint.key"))
	must(t, os.WriteFile(filepath.Join(dir, "gatehouse.yaml"), []byte(cfg), 0o600))
	const adminToken = "9d4b71e2c05a8f36e1b97d2c4a0f58e3b6c1d7a29e4f0b85"

	replicas := make([]*replica, 3)
	for i := range replicas {
		replicas[i] = startReplica(t, bin, dir, i, dbURL, adminToken)
	}
	defer func() {
		for _, r := range replicas {
			r.stop()
		}
	}()
	// A SCIM client, made through the first server.
	st, m := replicaCall(t, "POST", replicas[0].url+"/admin/v1/apps", adminToken, `{"name":"okta"}`)
	if st != http.StatusCreated {
		t.Fatalf("create app: %d %v", st, m)
	}
	st, m = replicaCall(t, "POST", replicas[0].url+"/admin/v1/apps/okta/tokens", adminToken, "")
	if st != http.StatusCreated {
		t.Fatalf("create token: %d %v", st, m)
	}
	token := m["token"].(string)

	first := waitLeader(t, replicas)

	// Writers through all three servers; the leader is killed after 150
	// acknowledgements.
	const total, killAt = 450, 150
	var (
		mu      sync.Mutex
		acked   = map[string]string{} // id → userName
		killed  time.Time
		n       atomic.Int64
		writers sync.WaitGroup
	)
	for w := range 6 {
		writers.Go(func() {
			for k := w; ; k++ {
				mu.Lock()
				done := len(acked) >= total
				mu.Unlock()
				if done {
					return
				}
				r := replicas[k%len(replicas)]
				if r.dead.Load() {
					continue
				}
				name := fmt.Sprintf("hire%d@example.com", n.Add(1))
				st, m, err := tryCall("POST", r.url+"/scim/v2/Users", token, `{"userName":"`+name+`"}`)
				if err != nil || st != http.StatusCreated {
					continue // the server died mid-request: not acknowledged
				}
				mu.Lock()
				acked[m["id"].(string)] = name
				if len(acked) == killAt {
					killed = time.Now()
					first.kill()
				}
				mu.Unlock()
			}
		})
	}
	writers.Wait()
	var alive []*replica
	for _, r := range replicas {
		if r != first {
			alive = append(alive, r)
		}
	}
	second := waitLeader(t, alive)
	t.Logf("%d users acknowledged; leader %d killed after %d, replica %d leads now", len(acked), first.i, killAt, second.i)

	// Every event delivered (the killed server's leases run out first).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		missing := 0
		for id := range acked {
			if hook.count(id) == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged users' events not delivered", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// At least once: an event the killed server was delivering may come
	// again from the one that took its lease over. Any other duplicate
	// means two live servers delivered one event. (Which server sent a
	// delivery, not when it arrived: a request the killed server sent just
	// before its death can reach the hook after it.)
	for id, senders := range hook.duplicates() {
		if !slices.Contains(senders, strconv.Itoa(first.i)) {
			t.Errorf("the event of %s was delivered %d times, by replicas %v, none of them the killed %d (killed at %s)",
				id, len(senders), senders, first.i, killed.Format(time.StampMicro))
		}
	}
	if n := hook.overlaps.Load(); n != 0 {
		t.Errorf("%d deliveries were attempted by two servers at once", n)
	}

	// Every acknowledged change, its audit record and its event survived.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	must(t, err)
	defer conn.Close(ctx)
	for _, q := range []struct{ what, query string }{
		{"user", `SELECT id FROM users`},
		{"user.create audit record", `SELECT resource_id FROM audit_log WHERE action = 'user.create'`},
		{"User.Created event", `SELECT resource_id FROM events WHERE type = 'User.Created'`},
	} {
		rows, err := conn.Query(ctx, q.query)
		must(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		must(t, err)
		have := map[string]bool{}
		for _, id := range ids {
			have[id] = true
		}
		for id, name := range acked {
			if !have[id] {
				t.Errorf("acknowledged user %s (%s) has no %s", id, name, q.what)
			}
		}
	}
	// The chain verifies, with nothing left unsealed (what the killed
	// server committed without sealing, a survivor's look seals).
	var rep struct {
		OK       bool  `json:"ok"`
		Records  int64 `json:"records"`
		Unsealed int64 `json:"unsealed"`
	}
	for deadline := time.Now().Add(time.Minute); ; {
		out := runCLI(t, bin, dir, dbURL, "audit", "verify", "--json")
		must(t, json.Unmarshal(out, &rep))
		if rep.Unsealed == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !rep.OK || rep.Unsealed != 0 || rep.Records < total {
		t.Errorf("audit verify: %+v", rep)
	}

	// Schedules: the retention ran once, on the first leader; the second
	// found its run claimed within the interval.
	var runs, leads int
	for _, r := range replicas {
		log := r.log()
		runs += strings.Count(log, `"msg":"audit chain head"`)
		leads += strings.Count(log, "this server is the leader")
	}
	if runs != 1 || leads != 2 {
		t.Errorf("audit retention ran %d times, %d leaderships; want 1 and 2", runs, leads)
	}

	// Credentials disabled through one server are refused by the others.
	other := alive[0]
	if other == second {
		other = alive[1]
	}
	start := time.Now()
	if st, m := replicaCall(t, "PATCH", second.url+"/admin/v1/apps/okta", adminToken, `{"enabled":false}`); st != http.StatusOK {
		t.Fatalf("disable the application: %d %v", st, m)
	}
	for {
		st, _, err := tryCall("GET", other.url+"/scim/v2/Users?count=1", token, "")
		must(t, err)
		if st == http.StatusUnauthorized {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the application disabled through replica %d is still accepted by replica %d", second.i, other.i)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("the application disabled through replica %d was refused by replica %d %v after the change was acknowledged", second.i, other.i, time.Since(start))
}

type replica struct {
	i       int
	url     string
	cmd     *exec.Cmd
	logPath string
	dead    atomic.Bool
}

func startReplica(t *testing.T, bin, dir string, i int, dbURL, adminToken string) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, fmt.Sprintf("replica%d", i))
	r := &replica{i: i, url: "http://" + addr, logPath: data + ".log"}
	logf, err := os.Create(r.logPath)
	must(t, err)
	defer logf.Close()
	r.cmd = exec.Command(bin, "serve", "--config", filepath.Join(dir, "gatehouse.yaml"), "--listen", addr, "--log-format", "json",
		"--data-dir", data, "--database-url", dbURL)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_TOKEN="+adminToken, fmt.Sprintf("TEST_REPLICA=%d", i))
	must(t, r.cmd.Start())
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(r.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			r.kill()
			t.Fatalf("replica %d did not start:\n%s", i, r.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *replica) kill() {
	if r.dead.CompareAndSwap(false, true) {
		_ = r.cmd.Process.Kill() // SIGKILL
		_ = r.cmd.Wait()
	}
}

func (r *replica) stop() {
	if r.dead.CompareAndSwap(false, true) {
		_ = r.cmd.Process.Signal(os.Interrupt)
		_ = r.cmd.Wait()
	}
}

func (r *replica) log() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

// leader reports whether the replica says it leads (gatehouse_leader).
func (r *replica) leader() bool {
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "gatehouse_leader 1" {
			return true
		}
	}
	return false
}

// waitLeader waits until exactly one of rs leads, and returns it.
func waitLeader(t *testing.T, rs []*replica) *replica {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var leaders []*replica
		for _, r := range rs {
			if r.leader() {
				leaders = append(leaders, r)
			}
		}
		if len(leaders) > 1 {
			t.Fatalf("%d leaders at once", len(leaders))
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runCLI(t *testing.T, bin, dir, dbURL string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG="+filepath.Join(dir, "gatehouse.yaml"), "GATEHOUSE_DATABASE_URL="+dbURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

var replicaClient = &http.Client{Timeout: 30 * time.Second}

func tryCall(method, url, token, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := replicaClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, nil
}

func replicaCall(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	st, m, err := tryCall(method, url, token, body)
	must(t, err)
	return st, m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// replicaHook is a webhook endpoint that checks signatures and records,
// for each user's User.Created delivery, which servers sent it (their
// X-Test-Replica header), and whether two attempts of it were ever in
// flight at once.
type replicaHook struct {
	url, secret string
	mu          sync.Mutex
	senders     map[string][]string
	active      map[string]int
	overlaps    atomic.Int64
}

func newReplicaHook(t *testing.T) *replicaHook {
	h := &replicaHook{secret: targets.NewWebhookSecret(), senders: map[string][]string{}, active: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln) //nolint:errcheck // closed below
	t.Cleanup(func() { srv.Close() })
	h.url = "http://" + ln.Addr().String() + "/hook"
	return h
}

func (h *replicaHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	sender := r.Header.Get("X-Test-Replica")
	if err := targets.VerifyWebhook(h.secret, r.Header, body, 5*time.Minute, now); err != nil || sender == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var doc struct {
		Detail struct {
			ID string `json:"id"`
		} `json:"detail"`
	}
	_ = json.Unmarshal(body, &doc)
	id := doc.Detail.ID
	h.mu.Lock()
	if h.active[id] > 0 {
		h.overlaps.Add(1)
	}
	h.active[id]++
	h.senders[id] = append(h.senders[id], sender)
	h.mu.Unlock()
	// Answer after a moment, so that a second attempt in flight would
	// overlap this one.
	time.Sleep(5 * time.Millisecond)
	h.mu.Lock()
	h.active[id]--
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *replicaHook) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.senders[id])
}

// duplicates returns the ids delivered more than once, with the servers
// that sent them.
func (h *replicaHook) duplicates() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]string{}
	for id, senders := range h.senders {
		if len(senders) > 1 {
			out[id] = slices.Clone(senders)
		}
	}
	return out
}

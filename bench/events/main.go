// Command events measures the event pipeline of a real gatehouse server
// (docs/benchmarks.md, "Event pipeline"):
//
//   - latency: SCIM POSTs at a fixed rate (open loop), and for each the time
//     from the 201 to the signed webhook that carries its User.Created
//     event, received by a local endpoint that verifies the signature;
//
//   - throughput: a backlog of N events written while the pipeline was off,
//     then the rate at which a restarted server delivers them.
//
//     go build -o /tmp/gatehouse ./cmd/gatehouse
//     go run ./bench/events -gatehouse /tmp/gatehouse -rates 100,1000 -duration 20s -backlog 50000
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
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
	"syscall"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/targets"
)

const adminToken = "8e1b4f7a2c5d9036b7e4a1c8f2d5b9e03a6c1f4d7b2e8a5c"

func main() {
	bin := flag.String("gatehouse", "", "the gatehouse binary")
	dbURL := flag.String("database-url", "", "database (default: SQLite in a temporary directory)")
	rates := flag.String("rates", "100,1000", "POST rates (per second) for the latency runs")
	duration := flag.Duration("duration", 20*time.Second, "length of each latency run")
	backlog := flag.Int("backlog", 50000, "events in the throughput run (0: none)")
	concurrency := flag.Int("concurrency", 16, "the webhook target's policy.concurrency")
	out := flag.String("out", "", "append one JSON line per run to this file")
	flag.Parse()
	if *bin == "" {
		log.Fatal("give -gatehouse")
	}
	b := &bench{bin: *bin, dbURL: *dbURL, concurrency: *concurrency}
	if err := b.setup(); err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(b.dir)
	var results []map[string]any
	srv, err := b.start(false)
	if err != nil {
		log.Fatal(err)
	}
	token, err := b.token()
	if err != nil {
		srv.stop()
		log.Fatal(err)
	}
	for _, r := range strings.Split(*rates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || rate <= 0 {
			log.Fatalf("bad rate %q", r)
		}
		res := b.latency(token, rate, *duration)
		results = append(results, res)
		printJSON(res)
	}
	peak := srv.peakRSS()
	srv.stop()
	if *backlog > 0 {
		res, err := b.throughput(token, *backlog)
		if err != nil {
			log.Fatal(err)
		}
		results = append(results, res)
		printJSON(res)
	}
	fmt.Fprintf(os.Stderr, "server peak RSS during the latency runs: %d MiB\n", peak>>20)
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range results {
			line, _ := json.Marshal(r)
			f.Write(append(line, '\n'))
		}
		f.Close()
	}
}

func printJSON(v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(b))
}

type bench struct {
	bin, dbURL  string
	concurrency int
	dir         string
	addr        string
	hook        *hook
}

// hook is the webhook endpoint: it verifies each delivery and notes when
// the event of each user arrived.
type hook struct {
	secret string
	srv    *http.Server
	url    string

	mu       sync.Mutex
	received map[string]time.Time // user id → first receipt
	count    atomic.Int64
	dups     atomic.Int64
	bad      atomic.Int64
}

func newHook() (*hook, error) {
	h := &hook{secret: targets.NewWebhookSecret(), received: map[string]time.Time{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.url = "http://" + ln.Addr().String() + "/hook"
	h.srv = &http.Server{Handler: h}
	go h.srv.Serve(ln)
	return h, nil
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	if err := targets.VerifyWebhook(h.secret, r.Header, body, 5*time.Minute, now); err != nil {
		h.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var doc struct {
		Detail struct {
			ID string `json:"id"`
		} `json:"detail"`
	}
	_ = json.Unmarshal(body, &doc)
	h.count.Add(1)
	h.mu.Lock()
	if _, ok := h.received[doc.Detail.ID]; ok {
		h.dups.Add(1)
	} else {
		h.received[doc.Detail.ID] = now
	}
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hook) reset() {
	h.mu.Lock()
	h.received = map[string]time.Time{}
	h.mu.Unlock()
	h.count.Store(0)
	h.dups.Store(0)
}

func (h *hook) got(id string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.received[id]
	return t, ok
}

func (b *bench) setup() error {
	var err error
	if b.dir, err = os.MkdirTemp("", "gatehouse-bench-events"); err != nil {
		return err
	}
	if b.hook, err = newHook(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.addr = ln.Addr().String()
	ln.Close()
	rules := fmt.Sprintf(`targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
    policy: {concurrency: %d}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`, b.hook.url, b.hook.secret, b.concurrency)
	if err := os.WriteFile(filepath.Join(b.dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		return err
	}
	for _, on := range []bool{true, false} {
		cfg := fmt.Sprintf("auth:\n  failure_limit: 1000000\nevents:\n  rules_file: %s\n  egress_allow: [127.0.0.0/8]\n  disabled: %v\n",
			filepath.Join(b.dir, "rules.yaml"), !on)
		name := "on.yaml"
		if !on {
			name = "off.yaml"
		}
		if err := os.WriteFile(filepath.Join(b.dir, name), []byte(cfg), 0o600); err != nil {
			return err
		}
	}
	return nil
}

type server struct {
	cmd *exec.Cmd
}

// start runs gatehouse serve with the pipeline on or off and waits for it.
func (b *bench) start(pipelineOff bool) (*server, error) {
	cfg := filepath.Join(b.dir, "on.yaml")
	if pipelineOff {
		cfg = filepath.Join(b.dir, "off.yaml")
	}
	args := []string{"serve", "--config", cfg, "--listen", b.addr, "--log-format", "json", "--data-dir", filepath.Join(b.dir, "data")}
	if b.dbURL != "" {
		args = append(args, "--database-url", b.dbURL)
	}
	cmd := exec.Command(b.bin, args...)
	logf, err := os.OpenFile(filepath.Join(b.dir, "server.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_TOKEN="+adminToken)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + b.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the server did not start; see %s", filepath.Join(b.dir, "server.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// peakRSS is the server's VmHWM.
func (s *server) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}}

func call(method, url, token, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if strings.Contains(url, "/admin/") {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, nil
}

func (b *bench) token() (string, error) {
	base := "http://" + b.addr + "/admin/v1"
	if st, m, err := call("POST", base+"/apps", adminToken, `{"name":"bench"}`); err != nil || st != 201 {
		return "", fmt.Errorf("create app: %d %v %v", st, m, err)
	}
	st, m, err := call("POST", base+"/apps/bench/tokens", adminToken, "")
	if err != nil || st != 201 {
		return "", fmt.Errorf("create token: %d %v %v", st, m, err)
	}
	return m["token"].(string), nil
}

var seq atomic.Int64

func userBody() string {
	n := seq.Add(1)
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
"userName":"hire%d@example.com","externalId":"E%d","displayName":"New Hire %d","name":{"givenName":"New","familyName":"Hire %d"},
"emails":[{"value":"hire%d@example.com","type":"work","primary":true}],
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering","employeeNumber":"%d"}}`, n, n, n, n, n, n)
}

type sample struct {
	id         string
	sent, ackd time.Time
}

// latency POSTs users at rate per second for d (open loop: a request is
// started on schedule whether or not earlier ones have finished) and
// measures, for each, acknowledgement → webhook and request → webhook.
func (b *bench) latency(token string, rate int, d time.Duration) map[string]any {
	b.hook.reset()
	url := "http://" + b.addr + "/scim/v2/Users"
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	samples := make([]sample, n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			st, m, err := call("POST", url, token, userBody())
			if err != nil || st != 201 {
				failed.Add(1)
				return
			}
			samples[i] = sample{id: m["id"].(string), sent: sent, ackd: time.Now()}
		}()
	}
	wg.Wait()
	sendSpan := time.Since(start)
	// Wait for the stragglers.
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := 0
		for _, s := range samples {
			if s.id != "" {
				if _, ok := b.hook.got(s.id); !ok {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var fromAck, fromSend, post []time.Duration
	lost := 0
	for _, s := range samples {
		if s.id == "" {
			continue
		}
		got, ok := b.hook.got(s.id)
		if !ok {
			lost++
			continue
		}
		fromAck = append(fromAck, max(0, got.Sub(s.ackd)))
		fromSend = append(fromSend, got.Sub(s.sent))
		post = append(post, s.ackd.Sub(s.sent))
	}
	return map[string]any{
		"run": "latency", "rate": rate, "posts": n, "failed": failed.Load(), "undelivered": lost,
		"achieved_rate":      float64(n) / sendSpan.Seconds(),
		"ack_to_webhook_ms":  quantiles(fromAck),
		"post_to_webhook_ms": quantiles(fromSend),
		"post_ms":            quantiles(post),
		"duplicates":         b.hook.dups.Load(),
	}
}

func quantiles(ds []time.Duration) map[string]float64 {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	q := func(p float64) float64 {
		i := min(len(ds)-1, int(p*float64(len(ds))))
		return float64(ds[i].Microseconds()) / 1000
	}
	return map[string]float64{"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": q(1)}
}

// throughput writes n users with the pipeline off, then starts the server
// with it on and times the delivery of the backlog.
func (b *bench) throughput(token string, n int) (map[string]any, error) {
	srv, err := b.start(true)
	if err != nil {
		return nil, err
	}
	url := "http://" + b.addr + "/scim/v2/Users"
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var werr atomic.Value
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				st, m, err := call("POST", url, token, userBody())
				if err != nil || st != 201 {
					werr.Store(fmt.Errorf("create: %d %v", st, err))
					return
				}
				ids[i] = m["id"].(string)
			}
		}()
	}
	wg.Wait()
	srv.stop()
	if err, _ := werr.Load().(error); err != nil {
		return nil, err
	}
	b.hook.reset()
	started := time.Now()
	srv, err = b.start(false)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	deadline := time.Now().Add(10 * time.Minute)
	for b.hook.count.Load() < int64(n) {
		if time.Now().After(deadline) {
			return nil, errors.New("the backlog was not delivered within 10 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var first, last time.Time
	for _, id := range ids {
		t, ok := b.hook.got(id)
		if !ok {
			return nil, fmt.Errorf("user %s: no delivery", id)
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	span := last.Sub(first)
	return map[string]any{
		"run": "throughput", "events": n, "concurrency": b.concurrency,
		"first_delivery_after_start_ms": first.Sub(started).Milliseconds(),
		"span_s":                        span.Seconds(),
		"deliveries_per_s":              float64(n) / span.Seconds(),
		"duplicates":                    b.hook.dups.Load(),
		"server_peak_rss_mib":           srv.peakRSS() >> 20,
	}, nil
}

package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/targets"
)

// hook is a webhook receiver: it records the requests it accepts and
// answers with what status decides.
type hook struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []hookReq
	status func(n int) int // answer to the n-th request (1-based); nil: 200
	delay  time.Duration
	n      atomic.Int64
}

type hookReq struct {
	header http.Header
	body   []byte
	doc    map[string]any
}

func newHook(t *testing.T) *hook {
	h := &hook{secret: targets.NewWebhookSecret()}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(h.n.Add(1))
		body, _ := io.ReadAll(r.Body)
		if h.delay > 0 {
			time.Sleep(h.delay)
		}
		status := 200
		if h.status != nil {
			status = h.status(n)
		}
		if status/100 == 2 {
			if err := targets.VerifyWebhook(h.secret, r.Header, body, 5*time.Minute, time.Now()); err != nil {
				t.Errorf("webhook signature: %v", err)
			}
			var doc map[string]any
			_ = json.Unmarshal(body, &doc)
			h.mu.Lock()
			h.got = append(h.got, hookReq{header: r.Header.Clone(), body: body, doc: doc})
			h.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) received() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.got...)
}

// mailbox is a real SMTP server (go-smtp) on loopback that keeps what it
// accepts; reply decides the answer to each DATA (nil: accept).
type mailbox struct {
	addr  string
	mu    sync.Mutex
	msgs  []mail
	reply func(n int) *smtp.SMTPError
	n     atomic.Int64
}

type mail struct {
	from string
	to   []string
	data string
}

type mailSession struct {
	b    *mailbox
	from string
	to   []string
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b: b}, nil }
func (s *mailSession) Reset()                                  { s.from, s.to = "", nil }
func (s *mailSession) Logout() error                           { return nil }
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	n := int(s.b.n.Add(1))
	if s.b.reply != nil {
		if e := s.b.reply(n); e != nil {
			return e
		}
	}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, mail{from: s.from, to: s.to, data: string(b)})
	s.b.mu.Unlock()
	return nil
}

func newMailbox(t *testing.T) *mailbox {
	b := &mailbox{}
	s := smtp.NewServer(b)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return b
}

func (b *mailbox) messages() []mail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]mail(nil), b.msgs...)
}

// startWithRules runs Gatehouse with a rules file; loopback targets are
// allowed (the egress policy refuses them by default).
func startWithRules(t *testing.T, rules string, mutate func(*config.Config)) *running {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, func(c *config.Config) {
		c.Events.RulesFile = path
		c.Events.EgressAllow = []string{"127.0.0.0/8"}
		c.Events.PollInterval = config.Duration(50 * time.Millisecond)
		if mutate != nil {
			mutate(c)
		}
	})
}

// waitFor polls cond for up to 20 s (a bound on liveness, not a timing
// assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func createUser(t *testing.T, r *running, body string) map[string]any {
	t.Helper()
	res := call(t, "POST", r.url+"/scim/v2/Users", body, append(bearer(r.token), "Content-Type", "application/scim+json")...)
	if res.status != 201 {
		t.Fatalf("create user: %d %s", res.status, res.raw)
	}
	return res.body
}

// TestEventsWebhook: a SCIM create produces a signed Standard Webhooks
// delivery of the event document.
func TestEventsWebhook(t *testing.T) {
	h := newHook(t)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`, h.srv.URL, h.secret), nil)
	u := createUser(t, r, `{"userName":"ada@example.com","emails":[{"value":"ada@example.com","type":"work"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Tour Operations"}}`)
	waitFor(t, "the webhook", func() bool { return len(h.received()) == 1 })
	got := h.received()[0]
	d, _ := got.doc["detail"].(map[string]any)
	if got.doc["type"] != "User.Created" || got.doc["detail-type"] != "User.Created" || got.doc["source"] != "gatehouse" || got.doc["specversion"] != "1.0" ||
		d["id"] != u["id"] || d["email"] != "ada@example.com" || d["dept"] != "tour-operations" || d["department"] != "Tour Operations" {
		t.Errorf("document: %s", got.body)
	}
	if got.header.Get("Webhook-Id") != got.doc["id"] {
		t.Errorf("webhook-id %q, event id %v", got.header.Get("Webhook-Id"), got.doc["id"])
	}
	// An update does not match this rule.
	call(t, "PATCH", r.url+"/scim/v2/Users/"+u["id"].(string), `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Ada"}]}`,
		append(bearer(r.token), "Content-Type", "application/scim+json")...)
	time.Sleep(300 * time.Millisecond)
	if n := len(h.received()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
	// The delivery is recorded with its attempt.
	res := adminCall(t, r, "GET", "/deliveries?target=hook", "")
	items, _ := res.body["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["state"] != "delivered" {
		t.Fatalf("deliveries: %s", res.raw)
	}
	id := items[0].(map[string]any)["id"].(string)
	res = adminCall(t, r, "GET", "/deliveries/"+id, "")
	log, _ := res.body["attemptLog"].([]any)
	if len(log) != 1 || log[0].(map[string]any)["status"] != float64(200) {
		t.Errorf("attempt log: %s", res.raw)
	}
	// The metrics count the match, the attempt and the delivery.
	m := call(t, "GET", r.url+"/metrics", "", bearer(r.admin)...)
	for _, want := range []string{`gatehouse_rule_matches_total{rule="created"} 1`, `gatehouse_delivery_attempts_total{outcome="delivered",target="hook"} 1`,
		`gatehouse_delivery_latency_seconds_count{target="hook"} 1`, `gatehouse_events_dispatched_total 2`} {
		if !strings.Contains(string(m.raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestEventsScenario runs the seeds' rules verbatim: a user created over
// SCIM gets a welcome email through a real SMTP server, an account with
// its {dept}-readers group in a downstream SCIM service (another
// Gatehouse, as GitBook), and a signed webhook.
func TestEventsScenario(t *testing.T) {
	mb := newMailbox(t)
	h := newHook(t)
	gitbook := start(t, nil) // the downstream SCIM service
	host, port, _ := net.SplitHostPort(mb.addr)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  welcome-email:
    smtp: {host: %q, port: %s, tls: none, from: "Onboarding <onboarding@example.com>"}
  gitbook:
    scim: {base_url: %q, token: %q, manage_groups: true, managed_groups: "*-readers"}
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: welcome
    pattern: {"source": ["com.alibabacloud.idaas"], "detail-type": ["User.Created"]}
    targets:
      - target: welcome-email
        payload: {"to": "${detail.email}", "template": "welcome_new_hire"}
      - target: hook
  - name: gitbook-access
    pattern: {"source": ["com.alibabacloud.idaas"], "detail-type": ["User.Created", "User.Updated"]}
    targets:
      - target: gitbook
        payload: {"userName": "{{email}}", "active": true, "groups": ["{{dept}}-readers"]}
`, host, port, gitbook.url+"/scim/v2", gitbook.token, h.srv.URL, h.secret), func(c *config.Config) {
		c.Events.Source = "com.alibabacloud.idaas"
	})
	start := time.Now()
	createUser(t, r, `{"userName":"grace@example.com","displayName":"Grace Hopper","emails":[{"value":"grace@example.com","type":"work"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering"}}`)
	waitFor(t, "the welcome email", func() bool { return len(mb.messages()) == 1 })
	m := mb.messages()[0]
	msg, err := netmail.ReadMessage(strings.NewReader(m.data))
	if err != nil {
		t.Fatalf("the email does not parse: %v\n%s", err, m.data)
	}
	if len(m.to) != 1 || m.to[0] != "grace@example.com" || !strings.Contains(m.data, "Grace Hopper") ||
		!strings.HasPrefix(msg.Header.Get("Message-Id"), "<") || msg.Header.Get("To") != "<grace@example.com>" {
		t.Errorf("email to %v:\n%.600s", m.to, m.data)
	}
	waitFor(t, "the webhook", func() bool { return len(h.received()) == 1 })
	var downstream map[string]any
	waitFor(t, "the GitBook account", func() bool {
		res := call(t, "GET", gitbook.url+"/scim/v2/Users?filter="+urlQuery(`userName eq "grace@example.com"`), "", bearer(gitbook.token)...)
		if res.body["totalResults"] != float64(1) {
			return false
		}
		downstream = res.body["Resources"].([]any)[0].(map[string]any)
		groups, _ := downstream["groups"].([]any)
		return len(groups) == 1
	})
	t.Logf("email, webhook and downstream account within %s", time.Since(start).Round(time.Millisecond))
	if g := downstream["groups"].([]any)[0].(map[string]any); g["display"] != "engineering-readers" || downstream["active"] != true {
		t.Errorf("downstream account: %v", downstream)
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "@", "%40").Replace(s)
}

// TestEventsRetryAndIsolation: a target that is down for a while gets
// everything after it comes back; a slow target does not hold up a fast
// one; a permanent failure is a dead letter that replay delivers.
func TestEventsRetryAndIsolation(t *testing.T) {
	down := newHook(t)
	var up atomic.Bool
	down.status = func(int) int {
		if up.Load() {
			return 200
		}
		return 503
	}
	slow := newHook(t)
	slow.delay = 500 * time.Millisecond
	fast := newHook(t)
	picky := newHook(t)
	var fixed atomic.Bool
	picky.status = func(int) int {
		if fixed.Load() {
			return 200
		}
		return 400
	}
	r := startWithRules(t, fmt.Sprintf(`
targets:
  down:
    webhook: {url: %q, secrets: [%q]}
    policy: {schedule: [50ms, 100ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms], breaker_failures: 1000}
  slow:
    webhook: {url: %q, secrets: [%q]}
    policy: {concurrency: 1}
  fast:
    webhook: {url: %q, secrets: [%q]}
  picky:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: all
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: down}, {target: slow}, {target: fast}, {target: picky}]
`, down.srv.URL, down.secret, slow.srv.URL, slow.secret, fast.srv.URL, fast.secret, picky.srv.URL, picky.secret), nil)
	const n = 10
	for i := range n {
		createUser(t, r, fmt.Sprintf(`{"userName":"user%d@example.com"}`, i))
	}
	waitFor(t, "the fast target", func() bool { return len(fast.received()) == n })
	if got := len(slow.received()); got >= n {
		t.Errorf("the slow target had finished (%d) before the fast one: not isolated?", got)
	}
	if got := len(down.received()); got != 0 {
		t.Errorf("the down target received %d", got)
	}
	waitFor(t, "retries against the down target", func() bool { return down.n.Load() >= 2*n })
	up.Store(true)
	waitFor(t, "the target that came back", func() bool { return len(down.received()) == n })
	waitFor(t, "the slow target", func() bool { return len(slow.received()) == n })
	// 400 is permanent: dead letters, one attempt each.
	waitFor(t, "dead letters", func() bool {
		res := adminCall(t, r, "GET", "/deliveries?target=picky&state=dead", "")
		items, _ := res.body["items"].([]any)
		return len(items) == n
	})
	if picky.n.Load() != n {
		t.Errorf("a permanent failure was retried: %d attempts for %d deliveries", picky.n.Load(), n)
	}
	fixed.Store(true)
	res := adminCall(t, r, "POST", "/deliveries/replay", `{"target":"picky"}`)
	if res.status != 200 || res.body["replayed"] != float64(n) {
		t.Fatalf("replay: %d %s", res.status, res.raw)
	}
	waitFor(t, "replayed deliveries", func() bool { return len(picky.received()) == n })
	// Each event reached each target exactly once here; the webhook-id is
	// the event id throughout.
	ids := map[string]bool{}
	for _, h := range [][]hookReq{down.received(), fast.received()} {
		for _, req := range h {
			ids[req.header.Get("Webhook-Id")] = true
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct webhook ids over two targets, want %d", len(ids), n)
	}
}

// TestEventsGoneDisablesTarget: 410 disables the target; enabling it
// delivers what waited.
func TestEventsGoneDisablesTarget(t *testing.T) {
	h := newHook(t)
	var gone atomic.Bool
	gone.Store(true)
	h.status = func(int) int {
		if gone.Load() {
			return 410
		}
		return 200
	}
	r := startWithRules(t, fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: all
    pattern: {"detail-type": [{"prefix": "User."}]}
    targets: [{target: hook}]
`, h.srv.URL, h.secret), nil)
	createUser(t, r, `{"userName":"a@example.com"}`)
	waitFor(t, "the target to be disabled", func() bool {
		res := adminCall(t, r, "GET", "/targets", "")
		items, _ := res.body["items"].([]any)
		return len(items) == 1 && items[0].(map[string]any)["disabled"] != nil
	})
	createUser(t, r, `{"userName":"b@example.com"}`)
	time.Sleep(200 * time.Millisecond)
	if h.n.Load() != 1 {
		t.Errorf("a disabled target was called %d times", h.n.Load())
	}
	gone.Store(false)
	if res := adminCall(t, r, "POST", "/targets/hook/enable", ""); res.status != 204 {
		t.Fatalf("enable: %d %s", res.status, res.raw)
	}
	waitFor(t, "the waiting deliveries", func() bool { return len(h.received()) == 2 })
}

// TestEventsEgressRefused: without an allow-list, targets on loopback — a
// real SMTP server, a real downstream SCIM service and its token endpoint,
// a webhook — are refused by the egress policy: each delivery is dead after
// one attempt whose error names the policy, and nothing reaches them.
func TestEventsEgressRefused(t *testing.T) {
	mb := newMailbox(t)
	h := newHook(t)
	downstream := start(t, nil)
	host, port, _ := net.SplitHostPort(mb.addr)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  mail:
    smtp: {host: %q, port: %s, tls: none, from: "Onboarding <onboarding@example.com>"}
  scim:
    scim: {base_url: %q, token: %q}
  ram:
    scim: {base_url: %q, profile: ram, token_url: %q, client_id: id, client_secret: s3cr3t}
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: all
    pattern: {"detail-type": ["User.Created"]}
    targets:
      - {target: mail, payload: {"to": "${detail.email}", "template": "welcome_new_hire"}}
      - {target: scim, payload: {"userName": "{{email}}"}}
      - {target: ram, payload: {"userName": "{{account}}"}}
      - {target: hook}
`, host, port, downstream.url+"/scim/v2", downstream.token, downstream.url, downstream.url+"/v1/token", h.srv.URL, h.secret),
		func(c *config.Config) { c.Events.EgressAllow = nil })
	createUser(t, r, `{"userName":"ada@example.com","emails":[{"value":"ada@example.com","type":"work"}]}`)
	var items []any
	waitFor(t, "four dead deliveries", func() bool {
		res := adminCall(t, r, "GET", "/deliveries?state=dead", "")
		items, _ = res.body["items"].([]any)
		return len(items) == 4
	})
	for _, it := range items {
		d := it.(map[string]any)
		if d["attempts"] != float64(1) || !strings.Contains(fmt.Sprint(d["lastError"]), "egress policy refused a connection to 127.0.0.1 (loopback address") ||
			strings.Contains(fmt.Sprint(d["lastError"]), "s3cr3t") {
			t.Errorf("delivery to %v: %v attempts, error %q", d["target"], d["attempts"], d["lastError"])
		}
	}
	if res := adminCall(t, r, "GET", "/deliveries?state=pending", ""); len(res.body["items"].([]any)) != 0 {
		t.Errorf("pending deliveries: %s", res.raw)
	}
	if len(mb.messages()) != 0 || h.n.Load() != 0 {
		t.Errorf("%d emails, %d webhook calls reached loopback", len(mb.messages()), h.n.Load())
	}
	res := call(t, "GET", downstream.url+"/scim/v2/Users", "", bearer(downstream.token)...)
	if res.body["totalResults"] != float64(0) {
		t.Errorf("the downstream has users: %s", res.raw)
	}
}

// TestEventsReceive: POST /events takes CloudEvents in all three modes,
// EventBridge-style events and IDaaS callbacks, once per (source, id), and
// routes them by the rules that name received events.
func TestEventsReceive(t *testing.T) {
	h := newHook(t)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: idaas
    pattern: {"received": {"app": ["bus"]}, "source": ["com.alibabacloud.idaas"], "detail-type": ["User.Created"]}
    targets:
      - target: hook
        payload: {"to": "${detail.email}", "by": "${received.app}"}
`, h.srv.URL, h.secret), nil)
	// A client with events:write.
	res := adminCall(t, r, "POST", "/apps", `{"name":"bus","kind":"server-app","scopes":["events:write"]}`)
	if res.status != 201 {
		t.Fatal(res.status, string(res.raw))
	}
	tok := adminCall(t, r, "POST", "/apps/bus/tokens", "")
	bus := tok.str("token")
	post := func(ct, body string, hdr ...string) *reply {
		return call(t, "POST", r.url+"/events", body, append(append(bearer(bus), "Content-Type", ct), hdr...)...)
	}
	ce := `{"specversion":"1.0","id":"e1","source":"com.alibabacloud.idaas","type":"User.Created","data":{"email":"one@example.com"}}`
	if res := post("application/cloudevents+json", ce); res.status != 202 || res.body["accepted"] != float64(1) {
		t.Fatalf("structured: %d %s", res.status, res.raw)
	}
	if res := post("application/cloudevents+json", ce); res.status != 202 || res.body["duplicates"] != float64(1) {
		t.Errorf("duplicate: %d %s", res.status, res.raw)
	}
	batch := `[{"specversion":"1.0","id":"e2","source":"com.alibabacloud.idaas","type":"User.Created","data":{"email":"two@example.com"}},
		{"specversion":"1.0","id":"e3","source":"other","type":"User.Created","data":{"email":"nope@example.com"}}]`
	if res := post("application/cloudevents-batch+json", batch); res.status != 202 || res.body["accepted"] != float64(2) {
		t.Errorf("batch: %d %s", res.status, res.raw)
	}
	if res := post("application/json", `{"email":"three@example.com"}`, "Ce-Specversion", "1.0", "Ce-Id", "e4", "Ce-Source", "com.alibabacloud.idaas", "Ce-Type", "User.Created"); res.status != 202 {
		t.Errorf("binary: %d %s", res.status, res.raw)
	}
	if res := post("application/json", `{"id":"e5","source":"com.alibabacloud.idaas","detail-type":"User.Created","detail":{"email":"four@example.com"}}`); res.status != 202 {
		t.Errorf("EventBridge style: %d %s", res.status, res.raw)
	}
	if res := post("application/json", `{"eventId":"e6","eventType":"urn:alibaba:idaas:app:event:ud:user:create","eventData":{"email":"five@example.com"}}`); res.status != 202 {
		t.Errorf("IDaaS callback: %d %s", res.status, res.raw)
	}
	// Bad input changes nothing.
	for name, c := range map[string][2]string{
		"no id":        {"application/cloudevents+json", `{"specversion":"1.0","source":"s","type":"t"}`},
		"bad version":  {"application/cloudevents+json", `{"specversion":"0.3","id":"x","source":"s","type":"t"}`},
		"not JSON":     {"application/json", `{"specversion":`},
		"bad name":     {"application/cloudevents+json", `{"specversion":"1.0","id":"x","source":"s","type":"t","Bad-Name":1}`},
		"batch as one": {"application/cloudevents+json", `[` + ce + `]`},
		"wrong type":   {"text/plain", `hello`},
	} {
		if res := post(c[0], c[1]); res.status/100 != 4 || res.str("detail") == "" {
			t.Errorf("%s: %d %s", name, res.status, res.raw)
		}
	}
	if res := call(t, "POST", r.url+"/events", ce, append(bearer(r.token), "Content-Type", "application/cloudevents+json")...); res.status != 403 {
		t.Errorf("without events:write: %d", res.status)
	}
	waitFor(t, "five deliveries", func() bool { return len(h.received()) == 5 })
	var tos []string
	for _, req := range h.received() {
		tos = append(tos, string(bytes.TrimSpace(req.body)))
		if req.doc["by"] != "bus" {
			t.Errorf("a received event is not marked as posted by bus: %s", req.body)
		}
	}
	for _, want := range []string{"one@", "two@", "three@", "four@", "five@"} {
		if !strings.Contains(strings.Join(tos, " "), want) {
			t.Errorf("no delivery for %s: %v", want, tos)
		}
	}
	// Receipts are audited.
	aud := adminCall(t, r, "GET", "/audit?action=event.receive", "")
	if items, _ := aud.body["items"].([]any); len(items) != 5 {
		t.Errorf("audit of receipts: %s", aud.raw)
	}
	if m := call(t, "GET", r.url+"/metrics", "", bearer(r.admin)...); !strings.Contains(string(m.raw), `gatehouse_events_received_total{kind="new"} 6`) { // five requests, one a batch of two
		t.Errorf("metrics do not count the received events:\n%s", grepLines(string(m.raw), "gatehouse_events_received"))
	}
	_ = context.Background
}

// TestAPIRules: rules made through the admin API route to the rules file's
// targets, are checked like the file's (a bad one is refused with the
// field at fault and changes nothing), cannot shadow the file's, are
// audited, and stop routing when deleted.
func TestAPIRules(t *testing.T) {
	h := newHook(t)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: from-file
    pattern: {"detail-type": ["Group.Created"]}
    targets: [{target: hook}]
`, h.srv.URL, h.secret), nil)
	// Nothing routes users yet.
	createUser(t, r, `{"userName":"first@example.com"}`)
	time.Sleep(200 * time.Millisecond)
	if n := len(h.received()); n != 0 {
		t.Fatalf("%d deliveries before any user rule", n)
	}

	bad := adminCall(t, r, "PUT", "/rules/welcome", `{"pattern":{"detail-type":"User.Created"},"targets":[{"target":"nowhere"}]}`)
	if bad.status != 400 || !strings.Contains(bad.str("detail"), `api_rules.welcome.pattern.detail-type`) ||
		!strings.Contains(bad.str("detail"), `no target named "nowhere"`) {
		t.Errorf("bad rule: %d %s", bad.status, bad.raw)
	}
	if res := adminCall(t, r, "PUT", "/rules/from-file", `{"pattern":{"source":["x"]},"targets":[{"target":"hook"}]}`); res.status != 409 {
		t.Errorf("shadowing a file rule: %d %s", res.status, res.raw)
	}
	res := adminCall(t, r, "PUT", "/rules/welcome", `{"pattern":{"detail-type":["User.Created"]},
		"targets":[{"target":"hook","payload":{"hello":"${detail.userName}"}}]}`)
	if res.status != 201 || res.str("origin") != "api" {
		t.Fatalf("put rule: %d %s", res.status, res.raw)
	}
	list := adminCall(t, r, "GET", "/rules", "")
	if items, _ := list.body["items"].([]any); len(items) != 2 {
		t.Errorf("rules: %s", list.raw)
	}
	createUser(t, r, `{"userName":"second@example.com"}`)
	waitFor(t, "the API rule's delivery", func() bool { return len(h.received()) == 1 })
	if got := h.received()[0].doc["hello"]; got != "second@example.com" {
		t.Errorf("payload: %s", h.received()[0].body)
	}
	audit := adminCall(t, r, "GET", "/audit?action=rule.", "")
	if !strings.Contains(string(audit.raw), `"rule.create"`) {
		t.Errorf("audit: %s", audit.raw)
	}
	if res := adminCall(t, r, "DELETE", "/rules/welcome", ""); res.status != 204 {
		t.Fatalf("delete: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "DELETE", "/rules/from-file", ""); res.status != 409 {
		t.Errorf("deleting a file rule: %d %s", res.status, res.raw)
	}
	createUser(t, r, `{"userName":"third@example.com"}`)
	time.Sleep(200 * time.Millisecond)
	if n := len(h.received()); n != 1 {
		t.Errorf("%d deliveries after the rule was deleted, want 1", n)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

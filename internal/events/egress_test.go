package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/targets"
)

// refusedDestinations are hosts in every range the egress policy refuses
// (one or more addresses each, names that resolve to them, and IPv6
// forms that embed a refused IPv4 address), with the reason the refusal
// gives.
var refusedDestinations = []struct{ host, reason string }{
	{"localhost", "loopback address"},
	{"127.0.0.1", "loopback address"},
	{"127.3.2.1", "loopback address"},
	{"::1", "loopback address"},
	{"0.0.0.0", "unspecified"},
	{"::", "unspecified address"},
	{"10.1.2.3", "private address"},
	{"172.16.5.4", "private address"},
	{"192.168.1.1", "private address"},
	{"100.64.0.1", "shared (carrier-grade NAT) address"},
	{"169.254.1.1", "link-local address"},
	{"169.254.169.254", "cloud metadata service"},
	{"100.100.100.200", "cloud metadata service"},
	{"224.0.0.251", "multicast address"},
	{"192.0.0.8", "IETF protocol assignments"},
	{"192.0.2.10", "documentation address"},
	{"198.51.100.7", "documentation address"},
	{"203.0.113.9", "documentation address"},
	{"198.18.0.1", "benchmarking address"},
	{"198.19.255.254", "benchmarking address"},
	{"192.88.99.1", "6to4 relay anycast"},
	{"240.0.0.1", "reserved address"},
	{"255.255.255.255", "broadcast address"},
	{"::ffff:127.0.0.1", "loopback address"},
	{"::ffff:169.254.169.254", "cloud metadata service"},
	{"::ffff:192.0.2.1", "documentation address"},
	{"::7f00:1", "IPv4-compatible"},
	{"64:ff9b::a9fe:a9fe", "cloud metadata service"}, // NAT64 of 169.254.169.254
	{"64:ff9b::a00:1", "private address"},            // NAT64 of 10.0.0.1
	{"64:ff9b::7f00:1", "loopback address"},          // NAT64 of 127.0.0.1
	{"64:ff9b:1::a00:1", "local-use IPv4/IPv6 translation"},
	{"2002:7f00:1::1", "loopback address"}, // 6to4 of 127.0.0.1
	{"2002:c612:1::1", "benchmarking address"},
	{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
	{"2001:2::1", "benchmarking address"},
	{"2001:10::1", "IETF protocol assignments"},
	{"2001:db8::1", "documentation address"},
	{"3fff::1", "documentation address"},
	{"100::1", "discard-only"},
	{"fc00::1", "unique local"},
	{"fd12:3456::1", "unique local"},
	{"fd00:ec2::254", "cloud metadata service"},
	{"fe80::1", "link-local address"},
	{"fec0::1", "site-local address"},
	{"ff02::1", "multicast address"},
	{"5f00::1", "not global unicast"},
	{"4000::1", "not global unicast"},
	{"::ffff:0:a00:1", "not global unicast"}, // IPv4-translated (SIIT) 10.0.0.1
}

// egressKinds builds a target of each kind (and the SCIM target's token
// endpoint) whose endpoint is host:port, and a delivery it would send.
var egressKinds = []struct {
	kind  string
	spec  func(host, port string) TargetSpec
	event string
	body  string
}{
	{"webhook", func(h, p string) TargetSpec {
		return TargetSpec{Webhook: &WebhookSpec{URL: "http://" + net.JoinHostPort(h, p) + "/hook?token=s3cr3t", Secrets: []string{testSecret}}}
	}, "User.Created", `{"a":1}`},
	{"resend", func(h, p string) TargetSpec {
		return TargetSpec{Resend: &ResendSpec{BaseURL: "http://" + net.JoinHostPort(h, p), APIKey: "re_s3cr3t", From: "hr@acme.example"}}
	}, "User.Created", `{"to":"ada@example.com","template":"welcome_new_hire"}`},
	{"smtp", func(h, p string) TargetSpec {
		port, _ := net.LookupPort("tcp", p)
		return TargetSpec{SMTP: &SMTPSpec{Host: h, Port: port, TLS: targets.SMTPNoTLS, From: "hr@acme.example"}}
	}, "User.Created", `{"to":"ada@example.com","template":"welcome_new_hire"}`},
	{"eventbridge", func(h, p string) TargetSpec {
		return TargetSpec{EventBridge: &EventBridgeSpec{Endpoint: "http://" + net.JoinHostPort(h, p), AccessKeyID: "id",
			AccessKeySecret: "s3cr3t", EventBus: "gatehouse"}}
	}, "User.Created", `{"a":1}`},
	{"scim", func(h, p string) TargetSpec {
		return TargetSpec{SCIM: &SCIMSpec{BaseURL: "http://" + net.JoinHostPort(h, p) + "/scim/v2", Token: "s3cr3t"}}
	}, "User.Created", `{"userName":"ada@example.com"}`},
	// The RAM profile asks for a token before anything else: the SCIM
	// server (which does not exist) is never reached.
	{"scim token endpoint", func(h, p string) TargetSpec {
		return TargetSpec{SCIM: &SCIMSpec{BaseURL: "https://scim.invalid", Profile: "ram",
			TokenURL: "http://" + net.JoinHostPort(h, p) + "/v1/token", ClientID: "c", ClientSecret: "s3cr3t"}}
	}, "User.Created", `{"userName":"ada"}`},
}

// sendOnce builds the target spec with env and sends one delivery.
func sendOnce(t *testing.T, spec TargetSpec, env Env, event, body string) Result {
	t.Helper()
	spec.Policy = PolicySpec{Timeout: "2s"}
	cfg, problems := Build(&File{Targets: map[string]TargetSpec{"t": spec}}, env)
	if len(problems) > 0 {
		t.Fatalf("problems: %q", problems)
	}
	doc := `{"id":"msg-1","type":"` + event + `","detail":{"userName":"ada@example.com","displayName":"Ada","email":"ada@example.com"}}`
	return cfg.Targets["t"].Sender.Send(context.Background(), &Delivery{ID: "d-1", EventID: "msg-1", EventType: event, Subject: "users/1",
		EventTime: time.Now(), Payload: json.RawMessage(body), Event: json.RawMessage(doc), Attempts: 1})
}

// TestEgressEveryTargetKind: every kind of target (and the SCIM target's
// token endpoint) is refused every range of the policy, at connect time,
// as a permanent failure that names the policy and leaks no secret; the
// allow-list opens a range for every kind.
func TestEgressEveryTargetKind(t *testing.T) {
	// A listener on loopback, where the loopback destinations would
	// arrive if they were not refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())

	dests := refusedDestinations
	// Every address of this host's own interfaces, whatever its range.
	for _, a := range hostAddrs(t) {
		dests = append(dests, struct{ host, reason string }{a.String(), ""})
	}
	// An address of this host outside the refused ranges (stood in for:
	// this host has none to test with).
	dests = append(dests, struct{ host, reason string }{"192.0.3.7", "this host's own address"})
	env := Env{Getenv: func(string) string { return "" }, Templates: targets.DefaultTemplates()}
	env.Egress.HostAddrs = func() ([]netip.Addr, error) {
		addrs, err := egress.InterfaceAddrs()
		return append(addrs, netip.MustParseAddr("192.0.3.7")), err
	}
	for _, k := range egressKinds {
		for _, d := range dests {
			t.Run(k.kind+"/"+d.host, func(t *testing.T) {
				t.Parallel()
				r := sendOnce(t, k.spec(d.host, port), env, k.event, k.body)
				if r.Outcome != OutcomePermanent {
					t.Fatalf("outcome %s (%v), want permanent", r.Outcome, r.Err)
				}
				msg := fmt.Sprint(r.Err)
				if !strings.Contains(msg, "egress policy refused a connection to ") || !strings.Contains(msg, d.reason) {
					t.Errorf("error %q, want the egress policy and %q", msg, d.reason)
				}
				if strings.Contains(msg, "s3cr3t") || strings.Contains(r.Response, "s3cr3t") {
					t.Errorf("error %q shows a secret", msg)
				}
			})
		}
	}
	t.Cleanup(func() {
		if n := accepted.Load(); n != 0 {
			t.Errorf("%d connections reached the loopback listener", n)
		}
	})
}

// TestEgressAllowList: an allow-listed range is reached by every kind of
// target; the cloud metadata addresses stay refused.
func TestEgressAllowList(t *testing.T) {
	// Connections are counted (an SMTP client waits for a greeting that
	// this HTTP server never sends).
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nothing here", http.StatusTeapot)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			hits.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := Env{Getenv: func(string) string { return "" }, Templates: targets.DefaultTemplates(),
		Egress: egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16")}}}
	for _, k := range egressKinds {
		before := hits.Load()
		r := sendOnce(t, k.spec("127.0.0.1", port), env, k.event, k.body)
		if egress.IsRefusal(r.Err) || hits.Load() == before {
			t.Errorf("%s: %s (%v): the allow-listed server was not reached", k.kind, r.Outcome, r.Err)
		}
		r = sendOnce(t, k.spec("169.254.169.254", port), env, k.event, k.body)
		if r.Outcome != OutcomePermanent || !strings.Contains(fmt.Sprint(r.Err), "cloud metadata service; always refused") {
			t.Errorf("%s: metadata allow-listed: %s (%v), want refused", k.kind, r.Outcome, r.Err)
		}
	}
}

// hostAddrs lists the addresses of this host's interfaces.
func hostAddrs(t *testing.T) []netip.Addr {
	t.Helper()
	as, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

package targets

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

func prefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// Through a target: refusals are Permanent and name the policy.
func TestEgressWebhookRefusals(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	tests := []struct {
		name   string
		url    string
		client *http.Client // nil: the webhook's default, egress.Policy{}
		want   Outcome
		errHas string
	}{
		{"localhost", "http://localhost:" + port + "/hook?token=s3cr3t", nil, Permanent, "loopback address"},
		{"127.0.0.1", "http://127.0.0.1:" + port + "/hook", nil, Permanent, "loopback address"},
		{"metadata", "http://169.254.169.254/latest/meta-data/iam/", nil, Permanent, "cloud metadata"},
		{"metadata, allow-listed", "http://169.254.169.254/latest/meta-data/", egress.Policy{Allow: prefixes("169.254.0.0/16")}.Client(0), Permanent, "cloud metadata"},
		{"Alibaba metadata", "http://100.100.100.200/latest/meta-data/", egress.Policy{Allow: prefixes("100.64.0.0/10")}.Client(0), Permanent, "cloud metadata"},
		{"mapped metadata", "http://[::ffff:169.254.169.254]/", nil, Permanent, "cloud metadata"},
		{"private", "http://10.0.0.1/", nil, Permanent, "private address"},
		{"allow-listed loopback", "http://localhost:" + port + "/hook", egress.Policy{Allow: prefixes("127.0.0.0/8", "::1/128")}.Client(0), Delivered, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			w, err := NewWebhook(WebhookConfig{URL: tt.url, Secrets: []string{NewWebhookSecret()}, Client: tt.client})
			if err != nil {
				t.Fatal(err)
			}
			r := w.Deliver(context.Background(), testDelivery())
			if r.Outcome != tt.want {
				t.Fatalf("got %v (%v), want %v", r.Outcome, r.Err, tt.want)
			}
			if tt.want == Delivered {
				return
			}
			var ee *egress.Error
			if !errors.As(r.Err, &ee) || !strings.Contains(r.Err.Error(), "egress policy") || !strings.Contains(r.Err.Error(), tt.errHas) {
				t.Errorf("Err = %v, want the egress policy and %q", r.Err, tt.errHas)
			}
			if strings.Contains(r.Err.Error(), "s3cr3t") || strings.Contains(r.Err.Error(), "meta-data") {
				t.Errorf("Err = %v shows the URL's path or query", r.Err)
			}
			if hits.Load() != before {
				t.Errorf("the request reached the server")
			}
		})
	}
}

// Every target's default policy is egress.Policy{}: without a client or a
// policy of its own, it refuses loopback.
func TestEgressDefaults(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
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
	addr := l.Addr().(*net.TCPAddr)
	base := "http://" + addr.String()
	smtp, err := NewSMTP(SMTPConfig{Host: "[::ffff:127.0.0.1]", Port: addr.Port, TLS: SMTPNoTLS, From: "hr@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	resend, err := NewResend(ResendConfig{BaseURL: base, APIKey: resendKey, From: "hr@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	eb, err := NewEventBridge(EventBridgeConfig{Endpoint: base, AccessKeyID: "id", AccessKeySecret: "s3cr3t", EventBus: "b"})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := NewWebhook(WebhookConfig{URL: base + "/hook", Secrets: []string{NewWebhookSecret()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []struct {
		Target
		d *Delivery
	}{{smtp, emailDelivery("evt-1")}, {resend, emailDelivery("evt-1")}, {eb, ebDelivery("evt-1")}, {hook, testDelivery()}} {
		r := tg.Deliver(context.Background(), tg.d)
		if r.Outcome != Permanent || !errors.As(r.Err, new(*egress.Error)) || !strings.Contains(r.Err.Error(), "loopback address") {
			t.Errorf("%s: %v (%v), want refused by the egress policy", tg.Kind(), r.Outcome, r.Err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d connections reached the listener", n)
	}
}

// An SMTP host is a name or an address (an IPv6 address with or without
// brackets), never go-mail's "unix://" socket path.
func TestSMTPHost(t *testing.T) {
	for _, tt := range []struct{ host, want, err string }{
		{"mail.example.com", "mail.example.com", ""},
		{"192.0.2.1", "192.0.2.1", ""},
		{"2001:db8::25", "2001:db8::25", ""},
		{"[2001:db8::25]", "2001:db8::25", ""},
		{"unix:///var/run/docker.sock", "", "want a host name or an IP address"},
		{"mail.example.com:25", "", "want a host name or an IP address"},
		{"mail example", "", "want a host name or an IP address"},
	} {
		s, err := NewSMTP(SMTPConfig{Host: tt.host})
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: %v, want %q", tt.host, err, tt.err)
		case tt.err == "" && (err != nil || s.cfg.Host != tt.want):
			t.Errorf("%q: %v, want host %q", tt.host, err, tt.want)
		}
	}
}

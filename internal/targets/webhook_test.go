package targets

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

var loopback = egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// The test vector of the Standard Webhooks specification.
func TestWebhookSignatureVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = "1614265330"
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	key, err := decodeWebhookSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := "v1," + webhookSignature(key, id, ts, []byte(body)); got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", want)
	now := time.Unix(1614265330, 0).Add(time.Minute)
	if err := VerifyWebhook(secret, h, []byte(body), 0, now); err != nil {
		t.Errorf("VerifyWebhook: %v", err)
	}
	if err := VerifyWebhook(secret, h, []byte(body+" "), 0, now); !errors.Is(err, ErrWebhookSignature) {
		t.Errorf("VerifyWebhook(changed body) = %v, want ErrWebhookSignature", err)
	}
	if err := VerifyWebhook(secret, h, []byte(body), 0, now.Add(time.Hour)); !errors.Is(err, ErrWebhookTimestamp) {
		t.Errorf("VerifyWebhook(an hour late) = %v, want ErrWebhookTimestamp", err)
	}
	if err := VerifyWebhook(secret, h, []byte(body), 0, now.Add(-time.Hour)); !errors.Is(err, ErrWebhookTimestamp) {
		t.Errorf("VerifyWebhook(an hour early) = %v, want ErrWebhookTimestamp", err)
	}
	h.Del("webhook-id")
	if err := VerifyWebhook(secret, h, []byte(body), 0, now); !errors.Is(err, ErrWebhookHeaders) {
		t.Errorf("VerifyWebhook(no id) = %v, want ErrWebhookHeaders", err)
	}
}

// received is what a test endpoint saw.
type received struct {
	mu   sync.Mutex
	reqs []receivedRequest
}

type receivedRequest struct {
	header http.Header
	body   []byte
}

func (rc *received) add(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs = append(rc.reqs, receivedRequest{r.Header.Clone(), b})
}

func (rc *received) all() []receivedRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedRequest(nil), rc.reqs...)
}

func testDelivery() *Delivery {
	return &Delivery{
		ID: "d1", EventID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", EventType: "User.Created",
		Subject: "users/42", Time: time.Date(2025, 3, 1, 9, 30, 0, 123e6, time.UTC),
		Payload: []byte(`{"type":"User.Created","data":{"userName":"ada"}}`), Attempt: 1,
	}
}

func TestWebhookDeliverAndRotation(t *testing.T) {
	var got received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.add(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	oldSecret, newSecret := NewWebhookSecret(), NewWebhookSecret()
	clock := time.Unix(1_740_000_000, 0)
	w, err := NewWebhook(WebhookConfig{
		URL: srv.URL + "/hooks/gatehouse?token=s3cr3t", Secrets: []string{newSecret, oldSecret},
		Headers: map[string]string{"X-Tenant": "acme"}, Client: loopback.Client(0),
		Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	d := testDelivery()
	for attempt := 1; attempt <= 2; attempt++ {
		d.Attempt = attempt
		clock = clock.Add(time.Minute)
		if r := w.Deliver(context.Background(), d); r.Outcome != Delivered || r.Status != 204 || r.Err != nil {
			t.Fatalf("attempt %d: %+v", attempt, r)
		}
	}
	reqs := got.all()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, rq := range reqs {
		h := rq.header
		if diff := cmp.Diff(string(d.Payload), string(rq.body)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
		if h.Get("Content-Type") != "application/json" || h.Get("X-Tenant") != "acme" || h.Get("User-Agent") == "" {
			t.Errorf("headers: %v", h)
		}
		if h.Get("webhook-id") != d.EventID {
			t.Errorf("webhook-id = %q, want the event id %q", h.Get("webhook-id"), d.EventID)
		}
		wantTS := clock.Add(time.Duration(i-1) * time.Minute).Unix()
		if h.Get("webhook-timestamp") != strconv.FormatInt(wantTS, 10) {
			t.Errorf("attempt %d: webhook-timestamp = %s, want %d (the attempt's time)", i+1, h.Get("webhook-timestamp"), wantTS)
		}
		if sigs := strings.Fields(h.Get("webhook-signature")); len(sigs) != 2 {
			t.Errorf("webhook-signature = %q, want two signatures", h.Get("webhook-signature"))
		}
		now := time.Unix(wantTS, 0)
		for _, s := range []string{oldSecret, newSecret} {
			if err := VerifyWebhook(s, h, rq.body, time.Minute, now); err != nil {
				t.Errorf("VerifyWebhook with one of the rotated secrets: %v", err)
			}
		}
		if err := VerifyWebhook(NewWebhookSecret(), h, rq.body, time.Minute, now); !errors.Is(err, ErrWebhookSignature) {
			t.Errorf("VerifyWebhook with another secret = %v", err)
		}
	}
}

// svixVerify is what a receiver built on an older Svix library does: it
// reads only the svix-* headers (same scheme: HMAC-SHA256 of
// id.timestamp.body with the secret's bytes, "v1," and base64, several
// space-separated).
func svixVerify(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	id, ts := h.Get("svix-id"), h.Get("svix-timestamp")
	if id == "" || ts == "" {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("svix-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// TestWebhookSignatureHeaders: a target may send Svix's header names
// (for receivers on older Svix libraries) instead of, or as well as,
// Standard Webhooks' ones; the values are the same.
func TestWebhookSignatureHeaders(t *testing.T) {
	var got received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.add(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	secret := NewWebhookSecret()
	for _, tt := range []struct {
		style          string
		standard, svix bool
	}{
		{"", true, false},
		{WebhookHeadersStandard, true, false},
		{WebhookHeadersSvix, false, true},
		{WebhookHeadersBoth, true, true},
	} {
		t.Run("style="+tt.style, func(t *testing.T) {
			w, err := NewWebhook(WebhookConfig{URL: srv.URL, Secrets: []string{secret}, SignatureHeaders: tt.style, Client: loopback.Client(0)})
			if err != nil {
				t.Fatal(err)
			}
			d := testDelivery()
			if r := w.Deliver(context.Background(), d); r.Outcome != Delivered {
				t.Fatalf("%+v", r)
			}
			reqs := got.all()
			rq := reqs[len(reqs)-1]
			std := VerifyWebhook(secret, rq.header, rq.body, 0, time.Now()) == nil
			if std != tt.standard || svixVerify(secret, rq.header, rq.body) != tt.svix {
				t.Errorf("Standard Webhooks verifies: %v (want %v); an older Svix library verifies: %v (want %v)",
					std, tt.standard, svixVerify(secret, rq.header, rq.body), tt.svix)
			}
			if tt.standard && tt.svix {
				for _, k := range []string{"id", "timestamp", "signature"} {
					if rq.header.Get("webhook-"+k) != rq.header.Get("svix-"+k) {
						t.Errorf("webhook-%s %q, svix-%s %q: want the same", k, rq.header.Get("webhook-"+k), k, rq.header.Get("svix-"+k))
					}
				}
			}
			if tt.svix && rq.header.Get("svix-id") != d.EventID {
				t.Errorf("svix-id = %q, want the event id", rq.header.Get("svix-id"))
			}
		})
	}
	if _, err := NewWebhook(WebhookConfig{URL: srv.URL, Secrets: []string{secret}, SignatureHeaders: "Svix"}); err == nil {
		t.Error("signature headers \"Svix\" accepted")
	}
	if _, err := NewWebhook(WebhookConfig{URL: srv.URL, Secrets: []string{secret}, Headers: map[string]string{"svix-signature": "v1,x"}}); err == nil {
		t.Error("a custom svix-signature header accepted")
	}
}

func TestWebhookClassification(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		outcome    Outcome
		retryAfter time.Duration
	}{
		{"200", 200, nil, Delivered, 0},
		{"202", 202, nil, Delivered, 0},
		{"410 disables", 410, nil, Disable, 0},
		{"429 retry-after seconds", 429, map[string]string{"Retry-After": "120"}, Retry, 2 * time.Minute},
		{"429 retry-after date", 429, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, Retry, 90 * time.Second},
		{"429 retry-after in the past", 429, map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, Retry, 0},
		{"429 retry-after garbage", 429, map[string]string{"Retry-After": "soon"}, Retry, 0},
		{"429 retry-after too far", 429, map[string]string{"Retry-After": "99999999999"}, Retry, maxRetryAfter},
		{"500", 500, nil, Retry, 0},
		{"502", 502, nil, Retry, 0},
		{"503 retry-after", 503, map[string]string{"Retry-After": "30"}, Retry, 30 * time.Second},
		{"504", 504, nil, Retry, 0},
		{"408", 408, nil, Retry, 0},
		{"400", 400, nil, Permanent, 0},
		{"401", 401, nil, Permanent, 0},
		{"404", 404, nil, Permanent, 0},
		{"413", 413, nil, Permanent, 0},
		{"301 not followed", 301, map[string]string{"Location": "/elsewhere"}, Permanent, 0},
		{"302 not followed", 302, map[string]string{"Location": "/elsewhere"}, Permanent, 0},
		{"307 not followed", 307, map[string]string{"Location": "/elsewhere"}, Permanent, 0},
		{"308 not followed", 308, map[string]string{"Location": "/elsewhere"}, Permanent, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits, elsewhere int
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if r.URL.Path == "/elsewhere" {
					elsewhere++
					return
				}
				hits++
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, `{"answer":"from the endpoint"}`)
			}))
			defer srv.Close()
			w, err := NewWebhook(WebhookConfig{URL: srv.URL, Secrets: []string{NewWebhookSecret()},
				Client: &http.Client{}, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			r := w.Deliver(context.Background(), testDelivery())
			if r.Outcome != tc.outcome || r.RetryAfter != tc.retryAfter || r.Status != tc.status {
				t.Errorf("got %v retryAfter=%v status=%d, want %v %v %d (err %v)", r.Outcome, r.RetryAfter, r.Status, tc.outcome, tc.retryAfter, tc.status, r.Err)
			}
			if (r.Err == nil) != (tc.outcome == Delivered) {
				t.Errorf("Err = %v", r.Err)
			}
			if r.Response != `{"answer":"from the endpoint"}` {
				t.Errorf("Response = %q", r.Response)
			}
			mu.Lock()
			defer mu.Unlock()
			if hits != 1 || elsewhere != 0 {
				t.Errorf("hits=%d redirect followed=%d", hits, elsewhere)
			}
		})
	}
}

func TestWebhookNetworkFailures(t *testing.T) {
	secret := NewWebhookSecret()

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		w, err := NewWebhook(WebhookConfig{URL: srv.URL, Secrets: []string{secret}, Timeout: 50 * time.Millisecond, Client: loopback.Client(0)})
		if err != nil {
			t.Fatal(err)
		}
		r := w.Deliver(context.Background(), testDelivery())
		if r.Outcome != Retry || r.Err == nil || !strings.Contains(r.Err.Error(), "timed out") {
			t.Errorf("got %v %v, want Retry with a timeout", r.Outcome, r.Err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		w, err := NewWebhook(WebhookConfig{URL: "http://" + addr + "/hook?token=s3cr3t", Secrets: []string{secret}, Client: loopback.Client(0)})
		if err != nil {
			t.Fatal(err)
		}
		r := w.Deliver(context.Background(), testDelivery())
		if r.Outcome != Retry || r.Err == nil || r.Status != 0 {
			t.Errorf("got %+v, want Retry", r)
		}
		if strings.Contains(r.Err.Error(), "s3cr3t") || strings.Contains(r.Err.Error(), "/hook") {
			t.Errorf("the error shows the URL's path or query: %v", r.Err)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // the server notices a closed connection only after the body
			cancel()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}))
		defer srv.Close()
		w, err := NewWebhook(WebhookConfig{URL: srv.URL, Secrets: []string{secret}, Client: loopback.Client(0)})
		if err != nil {
			t.Fatal(err)
		}
		r := w.Deliver(ctx, testDelivery())
		if r.Outcome != Retry || !errors.Is(r.Err, context.Canceled) || r.Err != context.Canceled {
			t.Errorf("got %v %v, want Retry with Err = context.Canceled", r.Outcome, r.Err)
		}
	})

	t.Run("payload not JSON", func(t *testing.T) {
		w, err := NewWebhook(WebhookConfig{URL: "https://example.com/", Secrets: []string{secret}})
		if err != nil {
			t.Fatal(err)
		}
		d := testDelivery()
		d.Payload = []byte("{oops")
		if r := w.Deliver(context.Background(), d); r.Outcome != Permanent {
			t.Errorf("got %+v, want Permanent", r)
		}
	})
}

func TestWebhookResponseExcerpt(t *testing.T) {
	secret := NewWebhookSecret()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		// An endpoint that echoes what it knows, including our secret,
		// and then a lot more.
		_, _ = io.WriteString(w, "secret="+secret+" "+strings.Repeat("é", 2000))
	}))
	defer srv.Close()
	w, err := NewWebhook(WebhookConfig{URL: srv.URL, Secrets: []string{secret}, Client: loopback.Client(0)})
	if err != nil {
		t.Fatal(err)
	}
	r := w.Deliver(context.Background(), testDelivery())
	if len(r.Response) > MaxResponse || strings.Contains(r.Response, strings.TrimPrefix(secret, "whsec_")) {
		t.Errorf("Response (%d bytes) = %.80q…", len(r.Response), r.Response)
	}
	if !strings.HasPrefix(r.Response, "secret=[redacted] é") {
		t.Errorf("Response = %.80q…", r.Response)
	}
}

func TestNewWebhookValidation(t *testing.T) {
	good := NewWebhookSecret()
	tests := []struct {
		name string
		cfg  WebhookConfig
		want string // in the error
	}{
		{"no secret", WebhookConfig{URL: "https://x.example/"}, "secrets"},
		{"three secrets", WebhookConfig{URL: "https://x.example/", Secrets: []string{good, good, good}}, "secrets"},
		{"short secret", WebhookConfig{URL: "https://x.example/", Secrets: []string{"whsec_c2hvcnQ="}}, "24 to 64"},
		{"long secret", WebhookConfig{URL: "https://x.example/", Secrets: []string{"whsec_" + strings.Repeat("QUFB", 22)}}, "24 to 64"},
		{"not base64", WebhookConfig{URL: "https://x.example/", Secrets: []string{"whsec_!!!"}}, "base64"},
		{"ftp URL", WebhookConfig{URL: "ftp://x.example/", Secrets: []string{good}}, "scheme"},
		{"credentials in URL", WebhookConfig{URL: "https://u:p@x.example/", Secrets: []string{good}}, "credentials"},
		{"override signature", WebhookConfig{URL: "https://x.example/", Secrets: []string{good}, Headers: map[string]string{"webhook-signature": "v1,x"}}, "cannot be overridden"},
		{"override content type", WebhookConfig{URL: "https://x.example/", Secrets: []string{good}, Headers: map[string]string{"content-type": "text/plain"}}, "cannot be overridden"},
		{"header injection", WebhookConfig{URL: "https://x.example/", Secrets: []string{good}, Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, "invalid value"},
		{"bad header name", WebhookConfig{URL: "https://x.example/", Secrets: []string{good}, Headers: map[string]string{"X A": "a"}}, "invalid name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewWebhook(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	// Every problem at once.
	_, err := NewWebhook(WebhookConfig{URL: "ftp://x", Headers: map[string]string{"Host": "y"}})
	if err == nil || !strings.Contains(err.Error(), "scheme") || !strings.Contains(err.Error(), "secrets") || !strings.Contains(err.Error(), "Host") {
		t.Errorf("err = %v, want all three problems", err)
	}
}

func TestWebhookID(t *testing.T) {
	for _, id := range []string{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "msg_p5jXN8AQM9LWM0D4loKWxJek"} {
		if got := webhookID(id); got != id {
			t.Errorf("webhookID(%q) = %q, want it unchanged", id, got)
		}
	}
	for _, id := range []string{"com.example.42", "a b", "", "x\ny"} {
		got := webhookID(id)
		if !strings.HasPrefix(got, "evt_") || got != webhookID(id) || strings.Contains(got, ".") {
			t.Errorf("webhookID(%q) = %q, want a stable evt_ digest", id, got)
		}
	}
}

func TestNewWebhookSecret(t *testing.T) {
	s := NewWebhookSecret()
	key, err := decodeWebhookSecret(s)
	if err != nil || len(key) != 32 || !strings.HasPrefix(s, "whsec_") {
		t.Errorf("NewWebhookSecret() = %q (%d bytes, %v)", s, len(key), err)
	}
	if NewWebhookSecret() == s {
		t.Error("two equal secrets")
	}
}

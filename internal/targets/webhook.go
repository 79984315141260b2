package targets

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

// WebhookConfig configures a Standard Webhooks 1.0 endpoint.
type WebhookConfig struct {
	URL string
	// Secrets sign every request: "whsec_" + base64 of 24 to 64 random
	// bytes. One, or two while a secret is being rotated (new first).
	Secrets []string
	// Headers are sent with every request. They cannot replace the
	// webhook-* headers, Content-Type or the headers the HTTP client
	// manages (Host, Content-Length…).
	Headers map[string]string
	// SignatureHeaders names the headers that carry the id, timestamp and
	// signature: WebhookHeadersStandard (webhook-id, webhook-timestamp,
	// webhook-signature; the default), WebhookHeadersSvix (svix-id,
	// svix-timestamp, svix-signature: what receivers built on older Svix
	// libraries read) or WebhookHeadersBoth. The values and the signature
	// scheme are the same.
	SignatureHeaders string
	// Timeout bounds one attempt (default 30 s; Standard Webhooks
	// recommends 15–30 s).
	Timeout time.Duration
	// Client sends the requests (default: egress.Policy{}.Client, which refuses
	// private and metadata addresses). Redirects are never followed, even
	// if the client's CheckRedirect would.
	Client *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// The values of WebhookConfig.SignatureHeaders.
const (
	WebhookHeadersStandard = "standard"
	WebhookHeadersSvix     = "svix"
	WebhookHeadersBoth     = "both"
)

// Webhook delivers payloads to an HTTP endpoint, signed per Standard
// Webhooks 1.0.
type Webhook struct {
	url      *url.URL
	keys     [][]byte
	secrets  []string // as configured, for redaction
	headers  http.Header
	prefixes []string // of the id, timestamp and signature headers: "webhook-", "svix-"
	timeout  time.Duration
	client   *http.Client
	now      func() time.Time
}

// reservedWebhookHeaders are the headers custom Headers may not set.
var reservedWebhookHeaders = []string{
	"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "Svix-Id", "Svix-Timestamp", "Svix-Signature", "Content-Type", "Content-Length",
	"Content-Encoding", "Transfer-Encoding", "Host", "Connection", "Upgrade", "Te", "Trailer",
	"Keep-Alive", "Proxy-Connection", "Expect",
}

// NewWebhook checks cfg and returns the target.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	var errs []error
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("webhook URL: %w", err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("webhook URL: scheme must be http or https"))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("webhook URL: no host"))
	case u.User != nil:
		errs = append(errs, fmt.Errorf("webhook URL: credentials in the URL are not allowed; use Headers"))
	}
	if len(cfg.Secrets) == 0 || len(cfg.Secrets) > 2 {
		errs = append(errs, fmt.Errorf("webhook secrets: want one, or two during rotation; got %d", len(cfg.Secrets)))
	}
	w := &Webhook{url: u, headers: http.Header{}, timeout: cfg.Timeout, client: cfg.Client, now: nowFunc(cfg.Now)}
	switch cfg.SignatureHeaders {
	case "", WebhookHeadersStandard:
		w.prefixes = []string{"webhook-"}
	case WebhookHeadersSvix:
		w.prefixes = []string{"svix-"}
	case WebhookHeadersBoth:
		w.prefixes = []string{"webhook-", "svix-"}
	default:
		errs = append(errs, fmt.Errorf("webhook signature headers %q: want standard, svix or both", cfg.SignatureHeaders))
	}
	for i, s := range cfg.Secrets {
		key, err := decodeWebhookSecret(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook secret %d: %w", i+1, err))
			continue
		}
		w.keys = append(w.keys, key)
		w.secrets = append(w.secrets, s, strings.TrimPrefix(s, "whsec_"))
	}
	for name, value := range cfg.Headers {
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !validHeaderName(name):
			errs = append(errs, fmt.Errorf("webhook header %q: invalid name", name))
		case slices.Contains(reservedWebhookHeaders, canon):
			errs = append(errs, fmt.Errorf("webhook header %q: set by Gatehouse, cannot be overridden", name))
		case strings.ContainsAny(value, "\r\n\x00"):
			errs = append(errs, fmt.Errorf("webhook header %q: invalid value", name))
		default:
			w.headers.Set(canon, value)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if w.timeout <= 0 {
		w.timeout = 30 * time.Second
	}
	if w.client == nil {
		w.client = egress.Policy{}.Client(0)
	} else {
		c := *w.client
		c.CheckRedirect = noRedirects
		w.client = &c
	}
	if w.headers.Get("User-Agent") == "" {
		w.headers.Set("User-Agent", "Gatehouse-Webhooks/1.0")
	}
	return w, nil
}

// Kind implements Target.
func (w *Webhook) Kind() string { return "webhook" }

// Deliver POSTs d.Payload to the endpoint. See the package documentation for
// how answers are classified.
func (w *Webhook) Deliver(ctx context.Context, d *Delivery) Result {
	if len(bytes.TrimSpace(d.Payload)) == 0 || !json.Valid(d.Payload) {
		return Result{Outcome: Permanent, Err: errors.New("webhook: the payload is not JSON")}
	}
	id := webhookID(d.EventID)
	start := w.now()
	ts := strconv.FormatInt(start.Unix(), 10)

	rctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, w.url.String(), bytes.NewReader(d.Payload))
	if err != nil {
		return Result{Outcome: Permanent, Err: fmt.Errorf("webhook: %w", err)}
	}
	for k, v := range w.headers {
		req.Header[k] = slices.Clone(v)
	}
	req.Header.Set("Content-Type", "application/json")
	sig := w.sign(id, ts, d.Payload)
	for _, p := range w.prefixes {
		req.Header.Set(p+"id", id)
		req.Header.Set(p+"timestamp", ts)
		req.Header.Set(p+"signature", sig)
	}

	what := "webhook POST " + redactURL(w.url)
	resp, err := w.client.Do(req)
	if err != nil {
		r := transportError(ctx, err, what, w.timeout)
		r.Latency = w.now().Sub(start)
		return r
	}
	body := readBody(resp.Body)
	r := Result{Status: resp.StatusCode, Latency: w.now().Sub(start), Response: excerpt(body, w.secrets...)}
	r.Outcome, r.RetryAfter = classifyWebhook(resp.StatusCode, resp.Header, w.now())
	if r.Outcome != Delivered {
		r.Err = fmt.Errorf("%s: %s", what, statusText(resp.StatusCode))
		if resp.StatusCode/100 == 3 {
			r.Err = fmt.Errorf("%s: %s: redirects are not followed (Standard Webhooks); update the endpoint URL", what, statusText(resp.StatusCode))
		}
	}
	return r
}

// classifyWebhook maps an HTTP answer to an outcome: 2xx Delivered; 410
// Disable; 408, 425, 429 and 5xx Retry (honouring Retry-After); 3xx and the
// other 4xx Permanent.
func classifyWebhook(status int, h http.Header, now time.Time) (Outcome, time.Duration) {
	switch {
	case status >= 200 && status < 300:
		return Delivered, 0
	case status == http.StatusGone:
		return Disable, 0
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests,
		status >= 500 && status < 600:
		return Retry, parseRetryAfter(h.Get("Retry-After"), now)
	}
	return Permanent, 0
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("HTTP %d %s", code, t)
	}
	return fmt.Sprintf("HTTP %d", code)
}

// sign returns the webhook-signature header: one "v1,<base64>" per secret.
func (w *Webhook) sign(id, ts string, body []byte) string {
	sigs := make([]string, len(w.keys))
	for i, k := range w.keys {
		sigs[i] = "v1," + webhookSignature(k, id, ts, body)
	}
	return strings.Join(sigs, " ")
}

func webhookSignature(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// webhookID is the webhook-id of an event: its id when that is safe to sign
// and to put in a header, else a stable digest of it ("evt_" + 32 hex
// digits). Standard Webhooks asks that the id contain no "." (the signed
// content is id.timestamp.body); CloudEvents ids received from outside may.
func webhookID(eventID string) string {
	ok := eventID != "" && len(eventID) <= 200
	for i := 0; ok && i < len(eventID); i++ {
		c := eventID[i]
		ok = c > ' ' && c < 0x7f && c != '.'
	}
	if ok {
		return eventID
	}
	sum := sha256.Sum256([]byte(eventID))
	return "evt_" + hex.EncodeToString(sum[:16])
}

// decodeWebhookSecret decodes "whsec_<base64>" (the prefix is optional) and
// checks the key is 24 to 64 bytes long.
func decodeWebhookSecret(s string) ([]byte, error) {
	raw := strings.TrimPrefix(strings.TrimSpace(s), "whsec_")
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(raw)
	}
	if err != nil {
		return nil, errors.New(`not "whsec_" followed by base64`)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the key is %d bytes; Standard Webhooks wants 24 to 64", len(key))
	}
	return key, nil
}

// NewWebhookSecret returns a new random signing secret: "whsec_" and the
// base64 of 32 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Errors of VerifyWebhook.
var (
	ErrWebhookHeaders   = errors.New("webhook: missing or malformed webhook-id, webhook-timestamp or webhook-signature")
	ErrWebhookTimestamp = errors.New("webhook: timestamp outside the tolerance")
	ErrWebhookSignature = errors.New("webhook: no matching signature")
)

// DefaultWebhookTolerance is VerifyWebhook's tolerance when it is given 0.
const DefaultWebhookTolerance = 5 * time.Minute

// VerifyWebhook checks a request signed per Standard Webhooks 1.0 as a
// receiver would: the timestamp within tolerance of now (either way; ≤ 0
// means DefaultWebhookTolerance) and one of the v1 signatures made with
// secret over id.timestamp.body (compared in constant time).
func VerifyWebhook(secret string, headers http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := decodeWebhookSecret(secret)
	if err != nil {
		return fmt.Errorf("webhook secret: %w", err)
	}
	id, ts, sigs := headers.Get("webhook-id"), headers.Get("webhook-timestamp"), headers.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrWebhookHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrWebhookHeaders
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrWebhookTimestamp
	}
	want := []byte(webhookSignature(key, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrWebhookSignature
}

// validHeaderName reports whether s is an HTTP token (RFC 9110, 5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

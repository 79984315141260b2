package targets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

// ResendConfig configures delivery through Resend's email API.
type ResendConfig struct {
	BaseURL   string // default https://api.resend.com
	APIKey    string // "re_…"
	From      string // default sender, e.g. "Acme HR <hr@acme.example>"; a payload's "from" wins
	Templates *Templates
	Client    *http.Client // default: egress.Policy{}.Client with a 30 s timeout (refuses private, loopback and metadata addresses)
	UserAgent string       // Resend refuses requests without one; default "gatehouse"
	// Locale is the locale used when neither the payload nor the event
	// names one (default "en").
	Locale string
	// TargetID is this target's part of the Idempotency-Key and is stable
	// across restarts: keep it when renaming or reconfiguring the target,
	// change it to deliberately resend. Default: a digest of BaseURL and
	// From.
	TargetID string
	// RateLimit is the most requests per second this target makes
	// (default 5, Resend's default team limit; < 0: no client-side limit).
	RateLimit float64
	Now       func() time.Time
}

// Resend sends templated emails through Resend (POST /emails).
type Resend struct {
	endpoint  *url.URL
	apiKey    string
	from      string
	tpl       *Templates
	client    *http.Client
	userAgent string
	locale    string
	targetID  string
	now       func() time.Time
	limiter   *rate.Limiter // nil: unlimited

	mu           sync.Mutex
	blockedUntil time.Time // set when Resend says the window is used up
}

// NewResend checks cfg and returns the target.
func NewResend(cfg ResendConfig) (*Resend, error) {
	var errs []error
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.resend.com"
	}
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case err == nil && u.User != nil:
		errs = append(errs, errors.New("resend: base URL: credentials in the URL are not allowed"))
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		errs = append(errs, fmt.Errorf("resend: base URL %q: want an http(s) URL", cfg.BaseURL))
	default:
		u = u.JoinPath("emails")
	}
	if cfg.APIKey == "" {
		errs = append(errs, errors.New("resend: no API key"))
	}
	if cfg.From != "" {
		if _, err := parseMailbox(cfg.From); err != nil {
			errs = append(errs, fmt.Errorf("resend: From: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r := &Resend{
		endpoint: u, apiKey: cfg.APIKey, from: cfg.From, tpl: cfg.Templates, client: cfg.Client,
		userAgent: cfg.UserAgent, locale: cfg.Locale, now: nowFunc(cfg.Now),
		targetID: targetIDFor(cfg.TargetID, "resend", u.String(), cfg.From),
	}
	if r.tpl == nil {
		r.tpl = DefaultTemplates()
	}
	if r.client == nil {
		r.client = egress.Policy{}.Client(30 * time.Second)
	}
	if r.userAgent == "" {
		r.userAgent = "gatehouse"
	}
	if r.locale == "" {
		r.locale = "en"
	}
	switch {
	case cfg.RateLimit == 0:
		r.limiter = rate.NewLimiter(5, 1)
	case cfg.RateLimit > 0:
		r.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), 1)
	}
	return r, nil
}

// Kind implements Target.
func (r *Resend) Kind() string { return "resend" }

type resendRequest struct {
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	HTML    string   `json:"html,omitempty"`
	Text    string   `json:"text,omitempty"`
}

type resendAnswer struct {
	ID         string `json:"id"`
	StatusCode int    `json:"statusCode"`
	Name       string `json:"name"`
	Message    string `json:"message"`
}

// Deliver renders the payload's template and sends it. See the package
// documentation for how answers are classified.
func (r *Resend) Deliver(ctx context.Context, d *Delivery) Result {
	e, err := composeEmail(d, r.tpl, r.from, r.locale)
	if err != nil {
		return Result{Outcome: Permanent, Err: fmt.Errorf("resend: %w", err)}
	}
	body, err := json.Marshal(resendRequest{From: e.From, To: e.To, Subject: e.Subject, HTML: e.HTML, Text: e.Text})
	if err != nil {
		return Result{Outcome: Permanent, Err: fmt.Errorf("resend: %w", err)}
	}
	if res, ok := r.wait(ctx); !ok {
		return res
	}

	start := r.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: Permanent, Err: fmt.Errorf("resend: %w", err)}
	}
	req.Header.Set("Authorization", "Bearer "+r.apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", r.userAgent)
	req.Header.Set("Idempotency-Key", idempotencyKey(d.EventID, r.targetID, e))
	resp, err := r.client.Do(req)
	if err != nil {
		res := transportError(ctx, err, "resend POST /emails", r.client.Timeout)
		res.Latency = r.now().Sub(start)
		return res
	}
	raw := readBody(resp.Body)
	now := r.now()
	res := Result{Status: resp.StatusCode, Latency: now.Sub(start), Response: excerpt(raw, r.apiKey)}
	r.observe(resp, now)

	var ans resendAnswer
	_ = json.Unmarshal(raw, &ans)
	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		res.Outcome = Delivered
		if ans.ID != "" {
			res.Response = excerpt([]byte(ans.ID), r.apiKey)
		}
		return res
	case status == http.StatusTooManyRequests:
		res.Outcome = Retry
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		if res.RetryAfter == 0 {
			res.RetryAfter, _ = parseSeconds(resp.Header.Get("Ratelimit-Reset"))
		}
	case status == http.StatusConflict && ans.Name == "concurrent_idempotent_requests":
		// The first attempt is still being processed: its answer will
		// be available later.
		res.Outcome = Retry
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	case status >= 500:
		res.Outcome = Retry
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	default:
		res.Outcome = Permanent
	}
	msg := excerpt([]byte(ans.Message), r.apiKey)
	switch {
	case ans.Name != "" && msg != "":
		res.Err = fmt.Errorf("resend: %s: %s: %s", statusText(status), ans.Name, msg)
	case msg != "":
		res.Err = fmt.Errorf("resend: %s: %s", statusText(status), msg)
	default:
		res.Err = fmt.Errorf("resend: %s", statusText(status))
	}
	if ans.Name == "invalid_idempotent_request" {
		res.Err = fmt.Errorf("%w (an email for this event was already sent through this target with different content; change TargetID to send it again)", res.Err)
	}
	return res
}

// wait blocks until the client-side limits allow a request. It returns
// false and the result to give when they do not within ctx.
func (r *Resend) wait(ctx context.Context) (Result, bool) {
	now := r.now()
	r.mu.Lock()
	delay := r.blockedUntil.Sub(now)
	r.mu.Unlock()
	var rsv *rate.Reservation
	if r.limiter != nil {
		rsv = r.limiter.ReserveN(now, 1)
		delay = max(delay, rsv.DelayFrom(now))
	}
	if delay <= 0 {
		return Result{}, true
	}
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < delay {
		if rsv != nil {
			rsv.CancelAt(now)
		}
		return Result{Outcome: Retry, RetryAfter: delay, Err: errors.New("resend: client-side rate limit: no slot before the deadline")}, false
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return Result{}, true
	case <-ctx.Done():
		if rsv != nil {
			rsv.CancelAt(r.now())
		}
		return Result{Outcome: Retry, Err: ctx.Err()}, false
	}
}

// observe honours Resend's rate-limit headers: when the window is used up
// (ratelimit-remaining: 0, or a 429) no request is made before it resets.
func (r *Resend) observe(resp *http.Response, now time.Time) {
	var pause time.Duration
	if resp.Header.Get("Ratelimit-Remaining") == "0" {
		pause, _ = parseSeconds(resp.Header.Get("Ratelimit-Reset"))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		wait := parseRetryAfter(resp.Header.Get("Retry-After"), now)
		if wait == 0 {
			wait, _ = parseSeconds(resp.Header.Get("Ratelimit-Reset"))
		}
		pause = max(pause, wait)
	}
	if pause <= 0 {
		return
	}
	r.mu.Lock()
	if until := now.Add(pause); until.After(r.blockedUntil) {
		r.blockedUntil = until
	}
	r.mu.Unlock()
}

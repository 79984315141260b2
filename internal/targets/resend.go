package targets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
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
	// Company is the company's name, the templates' "company" (default:
	// the root organization's name, unless it is still "Root").
	Company string
	// TargetID is this target's part of the Idempotency-Key and is stable
	// across restarts: keep it when renaming or reconfiguring the target,
	// change it to deliberately resend. Default: a digest of BaseURL and
	// From.
	TargetID string
	// RateLimit is the most requests per second this target makes
	// (default 5, Resend's default team limit; < 0: no client-side limit).
	// Targets that share an API key (through Accounts) share one limiter,
	// at the lowest rate among them (ShareResendLimits).
	RateLimit float64
	// Accounts, when set, is where targets with the same base URL and API
	// key share their rate limiter and the pauses Resend asks for; nil:
	// this target has its own.
	Accounts *ResendAccounts
	Now      func() time.Time
}

// ResendKeyLifetime is how long Resend remembers an Idempotency-Key.
const ResendKeyLifetime = 24 * time.Hour

// resendQuotaPause is how long a used-up quota pauses the API key's targets
// when Resend's answer does not say (with a retry-after of a minute or
// more) when to come back: Resend's daily quota counts the last 24 hours
// ("wait until 24 hours have passed"), so by then it has been reset. Then
// one request finds out.
const resendQuotaPause = 24 * time.Hour

// ResendAccounts shares what Resend limits per team between targets: the
// targets built with one ResendAccounts that have the same base URL and API
// key make their requests under one rate limiter, and share the pauses
// Resend asks for (a used-up rate window, a used-up daily or monthly
// quota). Resend counts per team, whatever the key: targets with different
// keys of one team are not known to share a limit. The delivery engine
// keeps one ResendAccounts for the life of the process; the targets are
// rebuilt at each reload, their accounts stay.
type ResendAccounts struct {
	mu sync.Mutex
	m  map[string]*resendAccount
}

// NewResendAccounts returns an empty set of accounts.
func NewResendAccounts() *ResendAccounts { return &ResendAccounts{m: map[string]*resendAccount{}} }

// resendAccount is what the targets of one base URL and API key share.
type resendAccount struct {
	limiter *rate.Limiter // rate.Inf: no client-side limit

	mu           sync.Mutex
	blockedUntil time.Time // Resend said the rate window is used up
	quotaUntil   time.Time // Resend said the quota is used up
	quotaWhy     string
}

func newResendAccount(perSecond float64) *resendAccount {
	a := &resendAccount{limiter: rate.NewLimiter(rate.Inf, 1)}
	a.setRate(perSecond)
	return a
}

// setRate sets the limiter to perSecond requests per second (≤ 0: none).
func (a *resendAccount) setRate(perSecond float64) {
	if perSecond <= 0 {
		a.limiter.SetLimit(rate.Inf)
		return
	}
	a.limiter.SetLimit(rate.Limit(perSecond))
	a.limiter.SetBurst(1)
}

// get returns the account of a base URL and key, made with perSecond if
// it is new.
func (as *ResendAccounts) get(endpoint, apiKey string, perSecond float64) *resendAccount {
	if as == nil {
		return newResendAccount(perSecond)
	}
	sum := sha256.Sum256([]byte(endpoint + "\x00" + apiKey))
	k := hex.EncodeToString(sum[:])
	as.mu.Lock()
	defer as.mu.Unlock()
	a := as.m[k]
	if a == nil {
		a = newResendAccount(perSecond)
		as.m[k] = a
	}
	return a
}

// ShareResendLimits sets the limiter of each account that ts use to the
// lowest RateLimit among the targets that use it (no limiter when none has
// one). Call it with every Resend target of a configuration once it is
// built: settings that changed at a reload then take effect.
func ShareResendLimits(ts []*Resend) {
	lowest := map[*resendAccount]float64{}
	for _, t := range ts {
		r, seen := lowest[t.acct]
		switch {
		case !seen:
			lowest[t.acct] = t.rate
		case t.rate > 0 && (r <= 0 || t.rate < r):
			lowest[t.acct] = t.rate
		}
	}
	for a, r := range lowest {
		a.setRate(r)
	}
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
	company   string
	targetID  string
	now       func() time.Time
	rate      float64 // this target's RateLimit (≤ 0: none)
	acct      *resendAccount
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
		userAgent: cfg.UserAgent, locale: cfg.Locale, company: strings.TrimSpace(cfg.Company), now: nowFunc(cfg.Now),
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
		r.rate = 5
	case cfg.RateLimit > 0:
		r.rate = cfg.RateLimit
	}
	r.acct = cfg.Accounts.get(r.endpoint.String(), r.apiKey, r.rate)
	return r, nil
}

// Kind implements Target.
func (r *Resend) Kind() string { return "resend" }

// IdempotencyKeyLifetime implements KeyLifetime: Resend remembers a key
// for 24 hours.
func (r *Resend) IdempotencyKeyLifetime() time.Duration { return ResendKeyLifetime }

// PausedUntil implements Pauser: while Resend's quota for the API key is
// used up, nothing is sent through it.
func (r *Resend) PausedUntil() (time.Time, string) {
	a := r.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.quotaUntil, a.quotaWhy
}

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
	e, err := composeEmail(d, r.tpl, emailDefaults{From: r.from, Locale: r.locale, Company: r.company})
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
	req.Header.Set("Idempotency-Key", idempotencyKey(d.EventID, r.targetID, d.Replays, e))
	resp, err := r.client.Do(req)
	if err != nil {
		res := transportError(ctx, err, "resend POST /emails", r.client.Timeout)
		res.Latency = r.now().Sub(start)
		// Without an answer, the email may have been sent (only an egress
		// refusal, Permanent, is known not to have left).
		res.Uncertain = res.Outcome == Retry
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
	case status == http.StatusTooManyRequests && isQuota(ans.Name):
		// Nothing goes through this key until the quota is reset: the
		// answer's retry-after when it gives one of a minute or more,
		// else 24 hours, after which one request finds out.
		res.Outcome = Retry
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		if res.RetryAfter < time.Minute {
			res.RetryAfter = resendQuotaPause
		}
		r.pauseQuota(ans.Name, now.Add(res.RetryAfter))
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
		res.Uncertain = true
	case status >= 500:
		// Resend may have sent the email before failing to answer.
		res.Outcome = Retry
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		res.Uncertain = true
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
	if res.Outcome == Retry && isQuota(ans.Name) {
		res.Err = fmt.Errorf("%w; nothing is sent with this API key until %s", res.Err, now.Add(res.RetryAfter).UTC().Format(time.RFC3339))
	}
	return res
}

// isQuota reports whether a 429's name says a quota (not the request
// rate) is used up.
func isQuota(name string) bool {
	return name == "daily_quota_exceeded" || name == "monthly_quota_exceeded"
}

// pauseQuota stops requests with the API key until until.
func (r *Resend) pauseQuota(name string, until time.Time) {
	a := r.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	if until.After(a.quotaUntil) {
		a.quotaUntil = until
		a.quotaWhy = "Resend answered " + name + " (the API key's quota is used up)"
	}
}

// wait blocks until the client-side limits allow a request. It returns
// false and the result to give when they do not within ctx.
func (r *Resend) wait(ctx context.Context) (Result, bool) {
	now := r.now()
	if res, paused := r.quotaPaused(now); paused {
		return res, false
	}
	a := r.acct
	a.mu.Lock()
	delay := a.blockedUntil.Sub(now)
	a.mu.Unlock()
	rsv := a.limiter.ReserveN(now, 1)
	delay = max(delay, rsv.DelayFrom(now))
	if delay <= 0 {
		return Result{}, true
	}
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < delay {
		rsv.CancelAt(now)
		return Result{Outcome: Retry, RetryAfter: delay, Err: errors.New("resend: client-side rate limit: no slot before the deadline")}, false
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		// A request that went meanwhile may have found the quota used up.
		if res, paused := r.quotaPaused(r.now()); paused {
			return res, false
		}
		return Result{}, true
	case <-ctx.Done():
		rsv.CancelAt(r.now())
		return Result{Outcome: Retry, Err: ctx.Err()}, false
	}
}

// quotaPaused is the result of a request not made because the API key's
// quota is used up (known not sent: not Uncertain).
func (r *Resend) quotaPaused(now time.Time) (Result, bool) {
	a := r.acct
	a.mu.Lock()
	until := a.quotaUntil
	a.mu.Unlock()
	if !until.After(now) {
		return Result{}, false
	}
	return Result{Outcome: Retry, RetryAfter: until.Sub(now),
		Err: fmt.Errorf("resend: not sent: the API key's quota is used up; nothing is sent with it until %s", until.UTC().Format(time.RFC3339))}, true
}

// observe honours Resend's rate-limit headers: when the window is used up
// (ratelimit-remaining: 0, or a 429) no request is made with the API key
// before it resets.
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
	a := r.acct
	a.mu.Lock()
	if until := now.Add(pause); until.After(a.blockedUntil) {
		a.blockedUntil = until
	}
	a.mu.Unlock()
}

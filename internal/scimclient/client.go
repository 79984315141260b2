// Package scimclient is a SCIM 2.0 client (RFC 7643, RFC 7644): Gatehouse
// uses it to push accounts and groups to downstream services — Alibaba Cloud
// RAM, IDaaS, GitBook, any SCIM server. The event pipeline's SCIM target
// (Target) and the provisioning push share it.
//
// Resources are SCIM documents as map[string]any: the caller builds them,
// the client sends them, adjusted only as the downstream's profile requires
// (RAM keeps four attributes and lower-case user names). The client
// authenticates with a static bearer token or an OAuth 2.0
// client-credentials grant (RAM's shape or RFC 6749's), limits its request
// rate, retries what may succeed later (429, 5xx, transport failures,
// honouring Retry-After), and reports failures as *Error.
package scimclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

// ContentType is the SCIM media type (RFC 7644 §8.1).
const ContentType = "application/scim+json"

// SCIM schema URNs the client writes.
const (
	UserSchema     = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema    = "urn:ietf:params:scim:schemas:core:2.0:Group"
	PatchOpSchema  = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	listRespSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
)

// Defaults.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRetries   = 3
	DefaultBackoff      = 250 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
	DefaultMaxRetryWait = 30 * time.Second
	DefaultMaxPause     = 5 * time.Minute
	DefaultPageSize     = 100
	maxResponseBytes    = 32 << 20
)

// Config configures a Client.
type Config struct {
	// BaseURL is the SCIM base URL; resource paths are relative to it
	// ("{BaseURL}/Users"). RAM's is https://scim.aliyun.com (no /scim/v2);
	// IDaaS gives one per application.
	BaseURL string
	// Auth is how to authenticate.
	Auth Auth
	// Profile names the downstream's behaviour: "generic" (the default),
	// "ram", "idaas" or "gitbook". See Profile.
	Profile string
	// Paths override the endpoints, relative to BaseURL or absolute.
	Paths Paths
	// ServiceProviderConfig, when set, is used instead of asking the server
	// (for servers that do not serve it, or to force PUT by saying PATCH is
	// unsupported).
	ServiceProviderConfig *ServiceProviderConfig

	// RateLimit bounds requests per second to this downstream (0: no
	// limit); Burst is how many may go at once (default: RateLimit rounded
	// up, at least 1).
	RateLimit float64
	Burst     int
	// MaxRetries is how often a request is retried after a retryable
	// failure (0: DefaultMaxRetries; negative: never).
	MaxRetries int
	// Backoff is the first retry's delay, doubled each retry up to
	// MaxBackoff, with jitter. A Retry-After from the server replaces it.
	Backoff, MaxBackoff time.Duration
	// MaxRetryWait is the longest the client waits before one retry of a
	// request on its own.
	MaxRetryWait time.Duration
	// MaxPause is the longest Retry-After the client honours by pausing the
	// whole target: a server that answers 429 or 5xx with a Retry-After
	// above MaxRetryWait and at most MaxPause stops every request of the
	// client until then (a rate limit is the target's, not one request's),
	// and the request is retried after the pause. A longer Retry-After
	// gets the error back at once, Retryable with its RetryAfter, for the
	// caller to schedule (the event pipeline does). Default
	// DefaultMaxPause; negative: no pause.
	MaxPause time.Duration
	// Timeout bounds each HTTP request, token requests included
	// (default DefaultTimeout).
	Timeout time.Duration
	// PageSize is the count asked for when listing (default 100, IDaaS's
	// maximum).
	PageSize int

	// HTTPClient sends the requests, token requests included (default:
	// egress.Policy{}.Client, which refuses private, loopback and metadata
	// addresses). The event pipeline passes one that enforces its egress
	// policy. A connection the policy refuses fails at once, not
	// Retryable.
	HTTPClient *http.Client
	// UserAgent is sent with every request.
	UserAgent string
	// Logger receives retries and token renewals, never a token, a secret
	// or personal data (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Paths are the endpoints, relative to the base URL or absolute.
type Paths struct {
	Users                 string // default "/Users"
	Groups                string // default "/Groups"
	ServiceProviderConfig string // default "/ServiceProviderConfig"
}

// Client talks to one SCIM server. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	profile Profile
	httpc   *http.Client
	limiter *rate.Limiter
	tokens  *tokenSource
	log     *slog.Logger
	now     func() time.Time

	spcMu sync.Mutex
	spc   *ServiceProviderConfig

	pauseMu     sync.Mutex
	pausedUntil time.Time
	// heldUntil: the target asked to be left alone for longer than the
	// client pauses for (MaxPause); until then nothing is sent to it.
	heldUntil time.Time
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimSpace(cfg.BaseURL))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, errors.New("scimclient: BaseURL must be an absolute http(s) URL")
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	base.Fragment = ""
	if err := cfg.Auth.validate(); err != nil {
		return nil, err
	}
	prof, ok := profileNamed(cfg.Profile)
	if !ok {
		return nil, fmt.Errorf("scimclient: unknown profile %q (generic, ram, idaas, gitbook)", cfg.Profile)
	}
	if cfg.RateLimit < 0 {
		return nil, errors.New("scimclient: RateLimit must not be negative")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Backoff)
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = DefaultMaxRetryWait
	}
	switch {
	case cfg.MaxPause == 0:
		cfg.MaxPause = DefaultMaxPause
	case cfg.MaxPause < 0:
		cfg.MaxPause = 0
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = prof.PageSize
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Paths.Users == "" {
		cfg.Paths.Users = "/Users"
	}
	if cfg.Paths.Groups == "" {
		cfg.Paths.Groups = "/Groups"
	}
	if cfg.Paths.ServiceProviderConfig == "" {
		cfg.Paths.ServiceProviderConfig = "/ServiceProviderConfig"
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "gatehouse-scimclient/1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, base: base, profile: prof, httpc: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now}
	if c.httpc == nil {
		c.httpc = egress.Policy{}.Client(0)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.RateLimit > 0 {
		burst := cfg.Burst
		if burst <= 0 {
			burst = max(1, int(cfg.RateLimit+0.999))
		}
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), burst)
	}
	c.tokens = &tokenSource{auth: cfg.Auth, httpc: c.httpc, timeout: cfg.Timeout, now: cfg.Now, ua: cfg.UserAgent}
	if cfg.ServiceProviderConfig != nil {
		spc := *cfg.ServiceProviderConfig
		c.spc = &spc
	}
	return c, nil
}

// Profile returns the downstream profile the client applies.
func (c *Client) Profile() Profile { return c.profile }

// request is one SCIM call.
type request struct {
	method string
	path   string // relative to the base URL, or absolute
	query  url.Values
	body   any
	header http.Header
	// anonymous requests carry no token (discovery).
	anonymous bool
}

// response is a successful answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// resolve turns a path into the request URL.
func (c *Client) resolve(p string, query url.Values) *url.URL {
	var u url.URL
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		if pu, err := url.Parse(p); err == nil {
			u = *pu
		}
	} else {
		u = *c.base
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		u.Path = c.base.Path + p
	}
	if len(query) > 0 {
		q := u.Query()
		for k, v := range query {
			q[k] = v
		}
		u.RawQuery = q.Encode()
	}
	return &u
}

// do sends r, retrying as the configuration says, and returns the 2xx
// answer or an *Error.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	var payload []byte
	if r.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r.body); err != nil {
			return nil, fmt.Errorf("scimclient: encode %s %s: %w", r.method, r.path, err)
		}
		payload = buf.Bytes()
	}
	u := c.resolve(r.path, r.query)
	path := u.Path
	refreshed := false
	for attempt := 0; ; attempt++ {
		if err := c.held(r.method, path); err != nil {
			return nil, err
		}
		if err := c.waitPause(ctx, r.method, path); err != nil {
			return nil, err
		}
		resp, tok, err := c.attempt(ctx, r, u, payload)
		if err == nil {
			return resp, nil
		}
		var se *Error
		if !errors.As(err, &se) {
			return nil, err
		}
		// A copy: a token error is shared by every caller that waited for
		// the token.
		e := new(Error)
		*e = *se
		if e.Method == "" {
			e.Method, e.Path = r.method, path
		}
		// A refused access token is renewed once, and the request sent
		// again at once: the token may have been revoked or expired early.
		if e.Status == http.StatusUnauthorized && !refreshed && !r.anonymous && tok != "" && c.tokens.invalidate(tok) {
			refreshed = true
			c.log.InfoContext(ctx, "scim access token refused; renewing it", "method", r.method, "path", path)
			attempt--
			continue
		}
		if !e.Retryable || attempt >= c.cfg.MaxRetries {
			return nil, e
		}
		wait := e.RetryAfter
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		if wait > c.cfg.MaxRetryWait {
			if e.RetryAfter <= 0 || e.RetryAfter > c.cfg.MaxPause {
				if e.RetryAfter > 0 {
					until := c.now().Add(e.RetryAfter)
					e.Detail = strings.TrimPrefix(e.Detail+"; ", "; ") + fmt.Sprintf("the server asks to wait %s (until %s), more than the client pauses for (%s)",
						e.RetryAfter, until.UTC().Format(time.RFC3339), c.cfg.MaxPause)
					e.tooLong = true
					c.hold(ctx, until, e.Status)
				}
				return nil, e
			}
			// A long Retry-After is the target's rate limit: pause every
			// request to it, this one included, and go on after.
			c.pause(ctx, e.RetryAfter, e.Status)
			if dl, ok := ctx.Deadline(); ok && c.now().Add(e.RetryAfter).After(dl) {
				return nil, e
			}
			continue
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
			return nil, e
		}
		c.log.InfoContext(ctx, "scim request will be retried", "method", r.method, "path", path,
			"status", e.Status, "attempt", attempt+1, "wait", wait.String())
		if err := sleep(ctx, wait); err != nil {
			return nil, e
		}
	}
}

// pause stops every request of the client for d (unless a pause already
// lasts longer).
func (c *Client) pause(ctx context.Context, d time.Duration, status int) {
	until := c.now().Add(d)
	c.pauseMu.Lock()
	longer := until.After(c.pausedUntil)
	if longer {
		c.pausedUntil = until
	}
	c.pauseMu.Unlock()
	if longer {
		c.log.WarnContext(ctx, "scim target asked to wait (Retry-After): every request to it pauses", "status", status,
			"wait", d.String())
	}
}

// hold stops sending anything to the target until the time it gave, when
// that is beyond what the client pauses for (MaxPause, when pausing is on):
// each request fails at once, without being sent. With pausing off each
// request meets the server's answer on its own.
func (c *Client) hold(ctx context.Context, until time.Time, status int) {
	if c.cfg.MaxPause <= 0 {
		return
	}
	c.pauseMu.Lock()
	longer := until.After(c.heldUntil)
	if longer {
		c.heldUntil = until
	}
	c.pauseMu.Unlock()
	if longer {
		c.log.WarnContext(ctx, "scim target asked to wait longer than max_pause (Retry-After): nothing is sent to it until then", "status", status,
			"until", until.UTC().Format(time.RFC3339))
	}
}

// held fails a request at once, without sending it, while the target is
// held (hold).
func (c *Client) held(method, path string) error {
	c.pauseMu.Lock()
	until := c.heldUntil
	c.pauseMu.Unlock()
	d := until.Sub(c.now())
	if d <= 0 {
		return nil
	}
	return &Error{Method: method, Path: path, Retryable: true, RetryAfter: d, tooLong: true,
		Err: fmt.Errorf("not sent: the target asked to be left alone until %s (Retry-After), longer than the client pauses for (%s)",
			until.UTC().Format(time.RFC3339), c.cfg.MaxPause)}
}

// PausedUntil reports until when the target asked to be left alone (the
// zero time when it did not, or that time is past).
func (c *Client) PausedUntil() time.Time {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	if !c.pausedUntil.After(c.now()) {
		return time.Time{}
	}
	return c.pausedUntil
}

// waitPause waits out a pause of the target. When ctx ends before the
// pause does, the request is not sent: the error is Retryable, with the
// rest of the pause as its RetryAfter.
func (c *Client) waitPause(ctx context.Context, method, path string) error {
	for {
		until := c.PausedUntil()
		if until.IsZero() {
			return nil
		}
		d := until.Sub(c.now())
		if dl, ok := ctx.Deadline(); ok && until.After(dl) {
			return &Error{Method: method, Path: path, Retryable: true, RetryAfter: d, Err: errPaused}
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

// errPaused: the request was not sent, the target asked to wait.
var errPaused = errors.New("not sent: the target asked to wait (Retry-After)")

// backoff is the delay before retry n (0-based): Backoff·2ⁿ capped at
// MaxBackoff, the upper half jittered.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.Backoff
	for range n {
		d *= 2
		if d >= c.cfg.MaxBackoff {
			d = c.cfg.MaxBackoff
			break
		}
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt sends the request once. It returns the token it used.
func (c *Client) attempt(ctx context.Context, r request, u *url.URL, payload []byte) (*response, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			// The wait would outlast the context's deadline.
			return nil, "", &Error{Retryable: true, Err: err}
		}
	}
	var tok string
	if !r.anonymous {
		var err error
		if tok, err = c.tokens.get(ctx); err != nil {
			return nil, "", err
		}
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	hr, err := http.NewRequestWithContext(actx, r.method, u.String(), body)
	if err != nil {
		return nil, tok, fmt.Errorf("scimclient: build %s %s: %w", r.method, u.Path, err)
	}
	for k, v := range r.header {
		hr.Header[k] = v
	}
	hr.Header.Set("Accept", ContentType+", application/json")
	hr.Header.Set("User-Agent", c.cfg.UserAgent)
	if payload != nil {
		hr.Header.Set("Content-Type", ContentType)
	}
	if tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.httpc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, tok, ctx.Err()
		}
		return nil, tok, transportError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		if ctx.Err() != nil {
			return nil, tok, ctx.Err()
		}
		return nil, tok, &Error{Retryable: true, Err: transportCause(err)}
	}
	if resp.StatusCode/100 != 2 {
		e := errorFromResponse(r.method, u.Path, resp.StatusCode, resp.Header, raw, c.now())
		e.Detail = redact(e.Detail, tok, c.cfg.Auth.BearerToken, c.cfg.Auth.ClientSecret)
		return nil, tok, e
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: raw}, tok, nil
}

// doc sends r and decodes the answer's SCIM document (nil for an empty
// body, such as 204).
func (c *Client) doc(ctx context.Context, r request) (map[string]any, int, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	m, err := decodeDoc(resp.body)
	if err != nil {
		return nil, resp.status, fmt.Errorf("scimclient: %s %s: %w", r.method, c.resolve(r.path, nil).Path, err)
	}
	return m, resp.status, nil
}

// decodeDoc reads a JSON object, keeping numbers as json.Number.
func decodeDoc(b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errors.New("the answer is not a JSON object")
	}
	return m, nil
}

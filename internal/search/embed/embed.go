// Package embed is Gatehouse's client for OpenAI-compatible embedding
// endpoints (POST {base}/embeddings): Alibaba Cloud Model Studio's
// (DashScope's) compatible mode, PAI-EAS, vLLM, Ollama's OpenAI endpoint.
//
// The client splits the texts into batches no larger than the provider
// takes, retries what may succeed later (408, 429, 5xx, transport failures
// and timeouts) with exponential backoff and jitter, honouring Retry-After,
// and checks every answer: one vector per input, each index once, each
// vector exactly Dimensions long, finite and not zero. Embed returns every
// vector or an error, never part of them, so that an index built from its
// answers is either updated whole or left as it was.
//
// Every connection goes through Gatehouse's egress policy
// (internal/egress).
package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Limits and backoff.
const (
	// maxResponseBytes bounds an answer: 2,048 vectors of 4,096 numbers
	// written out in full fit with room to spare.
	maxResponseBytes = 256 << 20
	backoffBase      = 500 * time.Millisecond
	backoffMax       = 20 * time.Second
	// DefaultMaxRetryWait is the longest the client waits before one retry
	// on its own, Retry-After included: a longer Retry-After is returned
	// in the error for the caller to schedule.
	DefaultMaxRetryWait = time.Minute
	userAgent           = "gatehouse-embed/1"
)

// Options are what the caller passes besides the configuration.
type Options struct {
	// HTTPClient sends the requests (default: egress.Policy{}.Client,
	// which refuses private, loopback and metadata addresses). Pass one
	// built from the configured egress policy. Its own Timeout, if any,
	// applies besides Config.Timeout.
	HTTPClient *http.Client
	// Getenv reads the API key's environment variable (default os.Getenv).
	Getenv func(string) string
	// Logger receives retries, never a key or a text (default: discard).
	Logger *slog.Logger
	// Sleep waits d or until ctx is done (default: a timer). Tests record
	// the waits through it.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxRetryWait overrides DefaultMaxRetryWait.
	MaxRetryWait time.Duration
}

var _ search.Embedder = (*Client)(nil)

// Client embeds texts with one model. It is safe for concurrent use.
type Client struct {
	cfg      Config
	prov     provider
	endpoint string
	key      string
	httpc    *http.Client
	log      *slog.Logger
	sleep    func(context.Context, time.Duration) error
	maxWait  time.Duration
}

// New returns a client for cfg, which must be valid (Problems), after
// reading the API key.
func New(cfg Config, opt Options) (*Client, error) {
	if ps := cfg.Problems(); len(ps) > 0 {
		return nil, fmt.Errorf("embed: %s", strings.Join(ps, "; "))
	}
	cfg = cfg.Resolve()
	getenv := opt.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	key, err := cfg.apiKey(getenv)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	if strings.ContainsAny(key, "\r\n") {
		return nil, errors.New("embed: the API key contains a line break")
	}
	u, _ := url.Parse(strings.TrimSpace(cfg.BaseURL))
	u.Path = strings.TrimSuffix(u.Path, "/") + "/embeddings"
	u.RawPath = ""
	c := &Client{cfg: cfg, prov: providers[cfg.Provider], endpoint: u.String(), key: key,
		httpc: opt.HTTPClient, log: opt.Logger, sleep: opt.Sleep, maxWait: opt.MaxRetryWait}
	if c.httpc == nil {
		c.httpc = egress.Policy{}.Client(0)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxRetryWait
	}
	return c, nil
}

// Model is the embedding model; Dims the length of its vectors. An
// index records both: vectors of another model or length cannot be
// compared with its own, and a change of either means a rebuild.
func (c *Client) Model() string { return c.cfg.Model }
func (c *Client) Dims() int     { return c.cfg.Dimensions }

// Provider is the configured provider's name.
func (c *Client) Provider() string { return c.cfg.Provider }

// BatchSize is how many texts go in one request.
func (c *Client) BatchSize() int { return c.cfg.BatchSize }

// Embed returns one vector per text, in order, or an error and no vector.
// Texts must be valid UTF-8 and not blank (providers refuse empty inputs).
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, &Error{Err: fmt.Errorf("text %d is empty: %w", i, ErrInput)}
		}
		if !utf8.ValidString(t) {
			return nil, &Error{Err: fmt.Errorf("text %d is not valid UTF-8: %w", i, ErrInput)}
		}
	}
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += c.cfg.BatchSize {
		batch := texts[start:min(start+c.cfg.BatchSize, len(texts))]
		vecs, err := c.embedBatch(ctx, batch)
		if err != nil {
			if start > 0 {
				err = fmt.Errorf("texts %d to %d: %w", start, start+len(batch)-1, err)
			}
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// request is the body of POST /embeddings.
type request struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	Dimensions     int      `json:"dimensions,omitempty"`
	EncodingFormat string   `json:"encoding_format,omitempty"`
}

// response is the answer's body; Data's embeddings are decoded later.
type response struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     *int            `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
}

// embedBatch sends one batch, retrying as configured.
func (c *Client) embedBatch(ctx context.Context, batch []string) ([][]float32, error) {
	body := request{Model: c.cfg.Model, Input: batch}
	if *c.cfg.SendDimensions {
		body.Dimensions = c.cfg.Dimensions
	}
	if c.prov.sendEncodingFormat {
		body.EncodingFormat = "float"
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	for attempt := 0; ; attempt++ {
		vecs, err := c.send(ctx, raw, len(batch))
		if err == nil {
			return vecs, nil
		}
		var e *Error
		if !errors.As(err, &e) || !e.Retryable || c.cfg.MaxRetries < 0 || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return nil, err
		}
		wait := e.RetryAfter
		if wait <= 0 {
			wait = backoff(attempt)
		}
		if wait > c.maxWait {
			return nil, err // the caller schedules the retry (RetryAfter)
		}
		c.log.WarnContext(ctx, "embedding request failed; retrying", "provider", c.cfg.Provider,
			"status", e.Status, "attempt", attempt+1, "wait", wait.String())
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("embed: %w (while waiting to retry after: %v)", err, e)
		}
	}
}

// backoff is the delay before retry n (0-based): 500 ms·2ⁿ capped at 20 s,
// less up to a quarter of jitter.
func backoff(n int) time.Duration {
	d := backoffBase << min(n, 10)
	d = min(d, backoffMax)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// send makes one attempt.
func (c *Client) send(ctx context.Context, body []byte, n int) ([][]float32, error) {
	actx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if c.key != "" {
		if c.prov.rawToken {
			req.Header.Set("Authorization", c.key)
		} else {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, actx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, actx, err)
	}
	if len(data) > maxResponseBytes {
		return nil, &Error{Status: resp.StatusCode, Err: fmt.Errorf("answer larger than %d bytes: %w", maxResponseBytes, ErrResponse)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, data)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, &Error{Status: resp.StatusCode, Err: fmt.Errorf("answer of type %q, not application/json: %w", mt, ErrResponse)}
	}
	vecs, err := c.decode(data, n)
	if err != nil {
		return nil, err
	}
	return vecs, nil
}

// transportError classifies a request that got no (whole) answer.
func (c *Client) transportError(ctx, actx context.Context, err error) error {
	switch {
	case egress.IsRefusal(err):
		return &Error{Err: err} // fails the same way until the configuration changes
	case ctx.Err() != nil:
		return &Error{Err: ctx.Err()}
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return &Error{Retryable: true, Err: fmt.Errorf("no answer within %s: %w", time.Duration(c.cfg.Timeout), ErrTimeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is known; keep the cause
	}
	return &Error{Retryable: true, Err: err}
}

// decode checks an answer and returns its vectors in input order.
func (c *Client) decode(data []byte, n int) ([][]float32, error) {
	bad := func(format string, args ...any) error {
		return &Error{Status: http.StatusOK, Err: fmt.Errorf(format+": %w", append(args, ErrResponse)...)}
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, bad("the answer is not an embeddings list (%v)", err)
	}
	if len(r.Data) != n {
		return nil, bad("%d inputs, %d vectors", n, len(r.Data))
	}
	out := make([][]float32, n)
	for i, d := range r.Data {
		if d.Index == nil || *d.Index < 0 || *d.Index >= n {
			return nil, bad("vector %d has no index between 0 and %d", i, n-1)
		}
		if out[*d.Index] != nil {
			return nil, bad("index %d answered twice", *d.Index)
		}
		var v []float64
		if err := json.Unmarshal(d.Embedding, &v); err != nil {
			return nil, bad("vector %d is not a list of numbers", *d.Index)
		}
		if len(v) != c.cfg.Dimensions {
			return nil, &Error{Status: http.StatusOK, Err: &DimensionError{Model: c.cfg.Model, Want: c.cfg.Dimensions, Got: len(v), Index: *d.Index}}
		}
		vec := make([]float32, len(v))
		var norm float64
		for j, x := range v {
			f := float32(x)
			if math.IsNaN(x) || math.IsInf(float64(f), 0) {
				return nil, bad("vector %d has a value that is not a finite number", *d.Index)
			}
			vec[j] = f
			norm += x * x
		}
		if norm == 0 {
			return nil, bad("vector %d is zero (it has no direction to compare)", *d.Index)
		}
		out[*d.Index] = vec
	}
	return out, nil
}

// statusError turns a non-200 answer into an *Error with the provider's
// code and message: OpenAI's and DashScope's {"error": {"message",
// "type", "code"}}, vLLM's {"object": "error", "message", "type", "code"},
// Ollama's {"error": "…"}.
func statusError(resp *http.Response, data []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.Retryable = true
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	var body struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    any             `json:"code"`
	}
	if json.Unmarshal(data, &body) == nil {
		var inner struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		}
		var s string
		switch {
		case json.Unmarshal(body.Error, &inner) == nil && (inner.Message != "" || inner.Code != nil):
			e.Message, e.Code = inner.Message, codeString(inner.Code, inner.Type)
		case json.Unmarshal(body.Error, &s) == nil:
			e.Message = s
		default:
			e.Message, e.Code = body.Message, codeString(body.Code, body.Type)
		}
	}
	if e.Message == "" {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if mt == "text/plain" {
			e.Message = string(data)
		}
	}
	e.Message = clip(e.Message, 300)
	return e
}

// codeString is the error's code: a string code ("InvalidParameter",
// "Throttling.RateQuota"), else its type ("BadRequestError": vLLM's code is
// the HTTP status), else a numeric code.
func codeString(code any, typ string) string {
	if v, ok := code.(string); ok && v != "" {
		return v
	}
	if typ != "" {
		return typ
	}
	if v, ok := code.(float64); ok {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// clip keeps at most n runes of s, on one line, printable.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(strings.TrimSpace(s), "?"))
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

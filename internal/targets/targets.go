package targets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

// Delivery is one event on its way to one target.
type Delivery struct {
	ID        string          // the delivery's id
	EventID   string          // CloudEvents id: the idempotency key end to end
	EventType string          // e.g. "User.Created"
	Subject   string          // e.g. "users/<id>"
	Time      time.Time       // event time
	Payload   json.RawMessage // the rule's transformed payload (what to send)
	Event     json.RawMessage // the whole event (CloudEvents JSON with detail), for templates
	Attempt   int             // 1 for the first attempt; numbering goes on across replays
	// Replays is how many times an operator replayed the delivery. The
	// email targets make it a part of the Idempotency-Key (Resend) and
	// the Message-ID (SMTP): a replay sends the email again.
	Replays int
}

// Outcome is what the delivery engine should do with a delivery after an
// attempt.
type Outcome int

const (
	// Delivered: the target accepted the delivery.
	Delivered Outcome = iota
	// Retry: try again later (after Result.RetryAfter if it is set).
	Retry
	// Permanent: the delivery cannot succeed as it is; do not retry.
	Permanent
	// Disable: the endpoint asked (HTTP 410 Gone) not to be sent anything
	// any more; disable the target.
	Disable
)

// String returns the outcome's name as the attempt history records it.
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	case Disable:
		return "disable"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is the classified outcome of one attempt.
type Result struct {
	Outcome    Outcome
	RetryAfter time.Duration // from Retry-After / rate-limit headers; 0 = engine's schedule
	Status     int           // HTTP status or SMTP reply code (0 if none)
	Latency    time.Duration
	Response   string // ≤ 1 KiB excerpt of the answer, never containing secrets
	Err        error  // what went wrong (nil on success)
	// Uncertain: the target may have acted on the request although the
	// answer does not say so (no answer, a 5xx, a request still in
	// progress). Set by targets whose idempotency keys expire (Resend),
	// so that retries stop before a retry could act twice.
	Uncertain bool
}

// KeyLifetime is implemented by targets whose service remembers an
// idempotency key for a limited time (Resend: 24 hours). A retry after the
// key is forgotten would act again on a request that may have been acted
// on (Result.Uncertain): the delivery engine stops retrying before then.
type KeyLifetime interface {
	IdempotencyKeyLifetime() time.Duration
}

// Pauser is implemented by targets that the service can ask to stop
// sending for a while (Resend's daily quota): until PausedUntil no attempt
// should be made. why says why, for the log.
type Pauser interface {
	PausedUntil() (until time.Time, why string)
}

// Target delivers events to one external system.
type Target interface {
	Kind() string
	Deliver(ctx context.Context, d *Delivery) Result
}

// Batcher is implemented by targets that can send several deliveries in one
// call. The results are in the order of ds.
type Batcher interface {
	DeliverBatch(ctx context.Context, ds []*Delivery) []Result
}

// MaxResponse is the largest Result.Response, in bytes.
const MaxResponse = 1024

// maxRetryAfter bounds what a server can ask for in Retry-After or
// rate-limit headers, so that a hostile or broken answer cannot park a
// delivery for years.
const maxRetryAfter = 7 * 24 * time.Hour

// maxBody is how much of an answer is read.
const maxBody = 64 << 10

// excerpt returns at most MaxResponse bytes of b (cut at a rune boundary),
// with every occurrence of the secrets replaced first, so that no part of a
// secret survives even when the cut falls inside it.
func excerpt(b []byte, secrets ...string) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.TrimSpace(s)
	if len(s) <= MaxResponse {
		return s
	}
	cut := MaxResponse
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110, 10.2.3). It returns 0 when the header is absent or unusable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return secondsDuration(n)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d < 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// parseSeconds reads a non-negative integer count of seconds (as in
// ratelimit-reset).
func parseSeconds(v string) (time.Duration, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false
	}
	return secondsDuration(n), true
}

func secondsDuration(n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > int64(maxRetryAfter/time.Second) {
		return maxRetryAfter
	}
	return time.Duration(n) * time.Second
}

// transportError classifies an error from an HTTP round trip (no response).
// parent is the caller's context: its cancellation is Retry with Err =
// parent.Err(). Egress refusals are Permanent; every other network error,
// including timeouts, is Retry. what names the request for the error text
// (it must not contain secrets).
func transportError(parent context.Context, err error, what string, timeout time.Duration) Result {
	if cerr := parent.Err(); cerr != nil {
		return Result{Outcome: Retry, Err: cerr}
	}
	var ee *egress.Error
	if errors.As(err, &ee) {
		return Result{Outcome: Permanent, Err: fmt.Errorf("%s: %w", what, ee)}
	}
	// url.Error carries the full URL, which may hold a secret (a token in
	// a webhook's path or query): keep only its cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		if timeout > 0 {
			return Result{Outcome: Retry, Err: fmt.Errorf("%s: timed out after %s: %w", what, timeout, err)}
		}
		return Result{Outcome: Retry, Err: fmt.Errorf("%s: timed out: %w", what, err)}
	}
	return Result{Outcome: Retry, Err: fmt.Errorf("%s: %w", what, err)}
}

// redactURL names an endpoint without the parts that may hold secrets
// (user info, path, query).
func redactURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		s += "/…"
	}
	return s
}

// readBody reads up to maxBody bytes of an answer and drains (a bounded
// amount of) the rest so that the connection can be reused.
func readBody(r io.ReadCloser) []byte {
	defer r.Close()
	b, _ := io.ReadAll(io.LimitReader(r, maxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, maxBody))
	return b
}

// nowFunc returns f, or time.Now when f is nil.
func nowFunc(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}

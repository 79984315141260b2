// Package fake holds local stand-ins for the SaaS services Gatehouse
// delivers to, faithful to their documented protocols, for the tests of
// the real clients (internal/targets) and for end-to-end tests. Each is an
// http.Handler to mount on an httptest.Server; each is safe for concurrent
// use.
package fake

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resend stands in for Resend's email API, POST /emails
// (https://resend.com/docs/api-reference/emails/send-email):
//
//   - a request without a User-Agent is refused before the API, as
//     Resend's edge does: 403 and "error code: 1010";
//   - "Authorization: Bearer <APIKey>" is required: 401 missing_api_key,
//     403 invalid_api_key;
//   - RateLimit requests per second (default 5) in one-second windows;
//     every answer carries ratelimit-limit, ratelimit-remaining and
//     ratelimit-reset, and the excess gets 429 rate_limit_exceeded with
//     retry-after;
//   - an Idempotency-Key (1 to 256 characters, else 400
//     invalid_idempotency_key) is remembered for 24 hours (KeyLifetime,
//     for tests that cannot wait a day) once an email is
//     sent: the same key with the same body answers the same id without
//     sending again, with a different body 409 invalid_idempotent_request,
//     and while the first request with the key is still being processed
//     409 concurrent_idempotent_requests (HoldNext keeps one in progress);
//   - from, to, subject and html or text are required (422
//     missing_required_field); "to" is a string or an array of 1 to 50
//     addresses and addresses must be "a@b.example" or "Name <a@b.example>"
//     (422 validation_error);
//   - with DailyQuota, an email that would make the recipients of the
//     emails sent in the last 24 hours more than DailyQuota (a free plan's
//     quota: "wait until 24 hours have passed") is refused with 429
//     daily_quota_exceeded, after the rate limit (whose headers it
//     carries) and the idempotency check. Resend does not document a
//     retry-after for it: the fake sends one only with QuotaRetryAfter.
//
// Errors are {"statusCode": …, "name": …, "message": …}.
type Resend struct {
	APIKey          string
	RateLimit       int              // requests per second; default 5; < 0: unlimited
	DailyQuota      int              // recipients per 24 hours; 0: none
	QuotaRetryAfter time.Duration    // the retry-after of a quota answer (0: none)
	KeyLifetime     time.Duration    // how long an Idempotency-Key is remembered (default 24 h)
	Now             func() time.Time // default time.Now

	mu          sync.Mutex
	emails      []Email
	keys        map[string]*idempotent
	inFlight    map[string]bool // idempotency keys of requests being processed
	windowStart time.Time
	windowCount int
	failNext    []int // statuses to answer before processing
	dropNext    int   // answers to replace by 503 after sending
	holds       []*hold
	log         []Answer
}

// Answer is one request the fake received and the status it answered.
type Answer struct {
	Time           time.Time
	Status         int
	Name           string // the error's name ("" on success)
	IdempotencyKey string
}

type hold struct {
	entered chan struct{}
	release chan struct{}
}

// Email is an email the fake accepted (sent).
type Email struct {
	ID             string
	From           string
	To             []string
	Subject        string
	HTML           string
	Text           string
	Headers        map[string]string
	IdempotencyKey string
	UserAgent      string
	RequestHeader  http.Header // the HTTP request's headers
	Received       time.Time
}

type idempotent struct {
	bodyHash [32]byte
	id       string
	expires  time.Time
}

// NewResend returns a fake accepting apiKey.
func NewResend(apiKey string) *Resend {
	return &Resend{APIKey: apiKey}
}

// FailNext makes the next n requests that pass authentication and the rate
// limit fail with status (500, 503, 429, 422…) and the error body Resend
// uses for it, before anything is sent.
func (f *Resend) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failNext = append(f.failNext, status)
	}
}

// DropNextAnswers makes the next n requests send their email and then
// answer 503, as if the answer had been lost: a retry with the same
// Idempotency-Key must not send it again.
func (f *Resend) DropNextAnswers(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropNext += n
}

// HoldNext makes the next request that would send an email stop, with its
// Idempotency-Key in progress, until release is called: meanwhile a request
// with the same key is answered 409 concurrent_idempotent_requests.
// entered is closed once the held request has stopped.
func (f *Resend) HoldNext() (entered <-chan struct{}, release func()) {
	h := &hold{entered: make(chan struct{}), release: make(chan struct{})}
	f.mu.Lock()
	f.holds = append(f.holds, h)
	f.mu.Unlock()
	var once sync.Once
	return h.entered, func() { once.Do(func() { close(h.release) }) }
}

// Log returns every request received so far with the status answered, in
// order.
func (f *Resend) Log() []Answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Answer(nil), f.log...)
}

// Emails returns the emails sent so far, in order.
func (f *Resend) Emails() []Email {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Email, len(f.emails))
	copy(out, f.emails)
	return out
}

// Requests counts the requests received.
func (f *Resend) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.log)
}

func (f *Resend) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

type resendError struct {
	StatusCode int    `json:"statusCode"`
	Name       string `json:"name"`
	Message    string `json:"message"`
}

// answer writes an answer and logs it. f.mu must be held.
func (f *Resend) answer(w http.ResponseWriter, status int, key string, body any, name string) {
	f.log = append(f.log, Answer{Time: f.now(), Status: status, Name: name, IdempotencyKey: key})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// fail writes Resend's error body. f.mu must be held.
func (f *Resend) fail(w http.ResponseWriter, status int, key, name, msg string) {
	f.answer(w, status, key, resendError{StatusCode: status, Name: name, Message: msg}, name)
}

// resendErrorFor is the error Resend answers with a given status.
func resendErrorFor(status int) (name, msg string) {
	switch status {
	case 400:
		return "validation_error", "We found an error with one or more fields in the request."
	case 401:
		return "missing_api_key", "Missing API key in the authorization header."
	case 403:
		return "invalid_api_key", "API key is invalid."
	case 404:
		return "not_found", "The requested endpoint does not exist."
	case 409:
		return "concurrent_idempotent_requests", "Same idempotency key used while original request is still in progress."
	case 422:
		return "validation_error", "We found an error with one or more fields in the request."
	case 429:
		return "rate_limit_exceeded", "Too many requests. Please limit the number of requests per second."
	}
	return "application_error", "An unexpected error occurred."
}

// ServeHTTP implements the protocol described on Resend.
func (f *Resend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	ik := r.Header.Get("Idempotency-Key")

	if r.Header.Get("User-Agent") == "" {
		// Resend's edge, not its API: no JSON error body.
		f.log = append(f.log, Answer{Time: now, Status: http.StatusForbidden, Name: "1010", IdempotencyKey: ik})
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("error code: 1010"))
		return
	}
	if r.URL.Path != "/emails" {
		f.fail(w, 404, ik, "not_found", "The requested endpoint does not exist.")
		return
	}
	if r.Method != http.MethodPost {
		f.fail(w, 405, ik, "method_not_allowed", "Method is not allowed for the requested path.")
		return
	}
	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "" || !ok || key == "":
		f.fail(w, 401, ik, "missing_api_key", "Missing API key in the authorization header.")
		return
	case key != f.APIKey:
		f.fail(w, 403, ik, "invalid_api_key", "API key is invalid.")
		return
	}
	if !f.admit(w, now, ik) {
		return
	}
	if len(f.failNext) > 0 {
		status := f.failNext[0]
		f.failNext = f.failNext[1:]
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		name, msg := resendErrorFor(status)
		f.fail(w, status, ik, name, msg)
		return
	}

	var body bytes.Buffer
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, 40<<20)); err != nil {
		f.fail(w, 422, ik, "validation_error", "The request body could not be read.")
		return
	}
	_, hasKey := r.Header["Idempotency-Key"]
	if hasKey {
		if len(ik) < 1 || len(ik) > 256 {
			f.fail(w, 400, ik, "invalid_idempotency_key", "The key must be between 1-256 chars.")
			return
		}
		if f.inFlight[ik] {
			name, msg := resendErrorFor(409)
			f.fail(w, 409, ik, name, msg)
			return
		}
		if rec := f.keys[ik]; rec != nil && now.Before(rec.expires) {
			if rec.bodyHash != sha256.Sum256(body.Bytes()) {
				f.fail(w, 409, ik, "invalid_idempotent_request", "Same idempotency key used with a different request payload.")
				return
			}
			f.answer(w, http.StatusOK, ik, map[string]string{"id": rec.id}, "")
			return
		}
	}

	var req struct {
		From    string            `json:"from"`
		To      json.RawMessage   `json:"to"`
		Subject string            `json:"subject"`
		HTML    string            `json:"html"`
		Text    string            `json:"text"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(body.Bytes(), &req); err != nil {
		f.fail(w, 422, ik, "validation_error", "Invalid JSON: "+err.Error())
		return
	}
	to, toName, toProblem := parseTo(req.To)
	switch {
	case req.From == "":
		f.fail(w, 422, ik, "missing_required_field", "Missing `from` field.")
		return
	case toProblem != "":
		f.fail(w, 422, ik, toName, toProblem)
		return
	case req.Subject == "":
		f.fail(w, 422, ik, "missing_required_field", "Missing `subject` field.")
		return
	case req.HTML == "" && req.Text == "":
		f.fail(w, 422, ik, "missing_required_field", "Missing `html` or `text` field.")
		return
	}
	if _, err := mail.ParseAddress(req.From); err != nil {
		f.fail(w, 422, ik, "validation_error", "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.")
		return
	}
	if f.DailyQuota > 0 {
		used := 0
		for _, e := range f.emails {
			if now.Sub(e.Received) < 24*time.Hour {
				used += len(e.To)
			}
		}
		if used+len(to) > f.DailyQuota {
			if f.QuotaRetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(f.QuotaRetryAfter/time.Second)))
			}
			f.fail(w, 429, ik, "daily_quota_exceeded", "You have reached your daily email sending quota.")
			return
		}
	}

	if len(f.holds) > 0 {
		h := f.holds[0]
		f.holds = f.holds[1:]
		if hasKey {
			if f.inFlight == nil {
				f.inFlight = map[string]bool{}
			}
			f.inFlight[ik] = true
		}
		f.mu.Unlock()
		close(h.entered)
		<-h.release
		f.mu.Lock()
		delete(f.inFlight, ik)
		now = f.now()
	}
	id := newUUID()
	f.emails = append(f.emails, Email{
		ID: id, From: req.From, To: to, Subject: req.Subject, HTML: req.HTML, Text: req.Text,
		Headers: req.Headers, IdempotencyKey: ik, UserAgent: r.Header.Get("User-Agent"),
		RequestHeader: r.Header.Clone(), Received: now,
	})
	if hasKey {
		if f.keys == nil {
			f.keys = map[string]*idempotent{}
		}
		life := f.KeyLifetime
		if life <= 0 {
			life = 24 * time.Hour
		}
		f.keys[ik] = &idempotent{bodyHash: sha256.Sum256(body.Bytes()), id: id, expires: now.Add(life)}
	}
	if f.dropNext > 0 {
		f.dropNext--
		name, msg := resendErrorFor(503)
		f.fail(w, 503, ik, name, msg)
		return
	}
	f.answer(w, http.StatusOK, ik, map[string]string{"id": id}, "")
}

// admit applies the rate limit, sets the ratelimit-* headers and answers
// 429 when the window is used up.
func (f *Resend) admit(w http.ResponseWriter, now time.Time, ik string) bool {
	limit := f.RateLimit
	if limit == 0 {
		limit = 5
	}
	if limit < 0 {
		return true
	}
	if f.windowStart.IsZero() || !now.Before(f.windowStart.Add(time.Second)) {
		f.windowStart, f.windowCount = now, 0
	}
	f.windowCount++
	reset := f.windowStart.Add(time.Second).Sub(now)
	resetSec := max(1, int((reset+time.Second-1)/time.Second))
	h := w.Header()
	h.Set("Ratelimit-Limit", strconv.Itoa(limit))
	h.Set("Ratelimit-Remaining", strconv.Itoa(max(0, limit-f.windowCount)))
	h.Set("Ratelimit-Reset", strconv.Itoa(resetSec))
	if f.windowCount > limit {
		h.Set("Retry-After", strconv.Itoa(resetSec))
		f.fail(w, 429, ik, "rate_limit_exceeded", "Too many requests. You can only make "+strconv.Itoa(limit)+" requests per second.")
		return false
	}
	return true
}

// parseTo reads "to": a string or an array of 1 to 50 addresses. It
// returns the error's name and message when "to" is not acceptable.
func parseTo(raw json.RawMessage) (to []string, name, problem string) {
	var one string
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "missing_required_field", "Missing `to` field."
	}
	if err := json.Unmarshal(raw, &one); err == nil {
		to = []string{one}
	} else if err := json.Unmarshal(raw, &to); err != nil {
		return nil, "validation_error", "Invalid `to` field: a string or an array of strings."
	}
	if len(to) == 0 || (len(to) == 1 && to[0] == "") {
		return nil, "missing_required_field", "Missing `to` field."
	}
	if len(to) > 50 {
		return nil, "validation_error", "Invalid `to` field. The maximum number of recipients is 50."
	}
	for _, a := range to {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, "validation_error", "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format."
		}
	}
	return to, "", ""
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

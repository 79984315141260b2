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
//     invalid_idempotency_key) is remembered for 24 hours once an email is
//     sent: the same key with the same body answers the same id without
//     sending again, with a different body 409 invalid_idempotent_request;
//   - from, to (1 to 50 addresses), subject and html or text are required:
//     422 validation_error.
//
// Errors are {"statusCode": …, "name": …, "message": …}.
type Resend struct {
	APIKey    string
	RateLimit int              // requests per second; default 5; < 0: unlimited
	Now       func() time.Time // default time.Now

	mu          sync.Mutex
	emails      []Email
	keys        map[string]*idempotent
	windowStart time.Time
	windowCount int
	failNext    []int // statuses to answer before processing
	dropNext    int   // answers to replace by 503 after sending
	requests    int
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
	return f.requests
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

func writeResendError(w http.ResponseWriter, status int, name, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resendError{StatusCode: status, Name: name, Message: msg})
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
	f.requests++
	now := f.now()

	if r.Header.Get("User-Agent") == "" {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("error code: 1010"))
		return
	}
	if r.URL.Path != "/emails" {
		writeResendError(w, 404, "not_found", "The requested endpoint does not exist.")
		return
	}
	if r.Method != http.MethodPost {
		writeResendError(w, 405, "method_not_allowed", "Method is not allowed for the requested path.")
		return
	}
	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "" || !ok || key == "":
		writeResendError(w, 401, "missing_api_key", "Missing API key in the authorization header.")
		return
	case key != f.APIKey:
		writeResendError(w, 403, "invalid_api_key", "API key is invalid.")
		return
	}
	if !f.admit(w, now) {
		return
	}
	if len(f.failNext) > 0 {
		status := f.failNext[0]
		f.failNext = f.failNext[1:]
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		name, msg := resendErrorFor(status)
		writeResendError(w, status, name, msg)
		return
	}

	var body bytes.Buffer
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, 40<<20)); err != nil {
		writeResendError(w, 422, "validation_error", "The request body could not be read.")
		return
	}
	idemKey, hasKey := r.Header["Idempotency-Key"]
	var ik string
	if hasKey {
		ik = idemKey[0]
		if len(ik) < 1 || len(ik) > 256 {
			writeResendError(w, 400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
			return
		}
		if rec := f.keys[ik]; rec != nil && now.Before(rec.expires) {
			if rec.bodyHash != sha256.Sum256(body.Bytes()) {
				writeResendError(w, 409, "invalid_idempotent_request", "Same idempotency key used with a different request payload.")
				return
			}
			f.answerID(w, rec.id)
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
		writeResendError(w, 422, "validation_error", "Invalid JSON: "+err.Error())
		return
	}
	to, toProblem := parseTo(req.To)
	switch {
	case req.From == "":
		writeResendError(w, 422, "validation_error", "Missing `from` field.")
		return
	case toProblem != "":
		writeResendError(w, 422, "validation_error", toProblem)
		return
	case req.Subject == "":
		writeResendError(w, 422, "validation_error", "Missing `subject` field.")
		return
	case req.HTML == "" && req.Text == "":
		writeResendError(w, 422, "validation_error", "Missing `html` or `text` field.")
		return
	}
	if _, err := mail.ParseAddress(req.From); err != nil {
		writeResendError(w, 422, "validation_error", "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.")
		return
	}
	id := newUUID()
	f.emails = append(f.emails, Email{
		ID: id, From: req.From, To: to, Subject: req.Subject, HTML: req.HTML, Text: req.Text,
		Headers: req.Headers, IdempotencyKey: ik, UserAgent: r.Header.Get("User-Agent"), Received: now,
	})
	if hasKey {
		if f.keys == nil {
			f.keys = map[string]*idempotent{}
		}
		f.keys[ik] = &idempotent{bodyHash: sha256.Sum256(body.Bytes()), id: id, expires: now.Add(24 * time.Hour)}
	}
	if f.dropNext > 0 {
		f.dropNext--
		name, msg := resendErrorFor(503)
		writeResendError(w, 503, name, msg)
		return
	}
	f.answerID(w, id)
}

func (f *Resend) answerID(w http.ResponseWriter, id string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
}

// admit applies the rate limit, sets the ratelimit-* headers and answers
// 429 when the window is used up.
func (f *Resend) admit(w http.ResponseWriter, now time.Time) bool {
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
		writeResendError(w, 429, "rate_limit_exceeded", "Too many requests. You can only make "+strconv.Itoa(limit)+" requests per second.")
		return false
	}
	return true
}

// parseTo reads "to": a string or an array of 1 to 50 addresses. It
// returns the validation message when "to" is not acceptable.
func parseTo(raw json.RawMessage) ([]string, string) {
	var to []string
	var one string
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "Missing `to` field."
	}
	if err := json.Unmarshal(raw, &one); err == nil {
		to = []string{one}
	} else if err := json.Unmarshal(raw, &to); err != nil {
		return nil, "Invalid `to` field: a string or an array of strings."
	}
	if len(to) == 0 {
		return nil, "Missing `to` field."
	}
	if len(to) > 50 {
		return nil, "Invalid `to` field. The maximum number of recipients is 50."
	}
	for _, a := range to {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format."
		}
	}
	return to, ""
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

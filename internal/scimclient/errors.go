package scimclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Test them with errors.Is (or the Is* helpers, which also
// recognise the matching HTTP statuses).
var (
	// ErrNotFound: no resource matched (a lookup by filter found nothing, or
	// the server answered 404).
	ErrNotFound = errors.New("scimclient: not found")
	// ErrConflict: the server refused a create or update because a unique
	// attribute is taken (409).
	ErrConflict = errors.New("scimclient: conflict")
	// ErrAmbiguous: a lookup that must find at most one resource found
	// several.
	ErrAmbiguous = errors.New("scimclient: more than one resource matched")
	// ErrWaitTooLong: the server asked to wait (Retry-After) longer than
	// the client pauses for (Config.MaxPause); the error's RetryAfter says
	// how long. A pausing client sends nothing more to the target until
	// then.
	ErrWaitTooLong = errors.New("scimclient: the server asks to wait longer than the client pauses for")
	// ErrUnsupported: the operation is not possible with the downstream's
	// profile (for example groups on RAM, or deactivation where there is no
	// active state).
	ErrUnsupported = errors.New("scimclient: not supported by the downstream")
)

// Error is a failed SCIM request: an HTTP error answer, parsed from the
// RFC 7644 §3.12 error document when there is one, or a transport failure
// (Status 0). It never holds a token or a secret.
type Error struct {
	// Method and Path name the request (the path without its query, which
	// may hold personal data in a filter).
	Method, Path string
	// Status is the HTTP status, 0 when no answer arrived.
	Status int
	// ScimType and Detail come from the SCIM error document; for other
	// bodies Detail is a short excerpt of the body.
	ScimType, Detail string
	// Retryable reports whether the same request may succeed later (429,
	// 5xx except 501 and 505, 408, transport failures other than a
	// connection the egress policy refused).
	Retryable bool
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Err is the transport failure, when Status is 0.
	Err error

	// auth marks a refusal of the client's credentials by the token
	// endpoint.
	auth bool
	// token marks an answer of the token endpoint: its 404 or 409 says
	// nothing of a SCIM resource.
	token bool
	// tooLong: the server asked to wait longer than the client pauses for
	// (ErrWaitTooLong).
	tooLong bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("scim")
	if e.Method != "" {
		b.WriteString(" " + e.Method + " " + e.Path)
	}
	b.WriteString(": ")
	if e.Status == 0 {
		b.WriteString("request failed")
		if e.Err != nil {
			b.WriteString(": " + e.Err.Error())
		}
		return b.String()
	}
	b.WriteString(strconv.Itoa(e.Status))
	if e.ScimType != "" {
		b.WriteString(" " + e.ScimType)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) and errors.Is(err, ErrConflict) work
// on HTTP errors.
func (e *Error) Is(target error) bool {
	if target == ErrWaitTooLong {
		return e.tooLong
	}
	if e.token {
		return false
	}
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

// IsConflict reports whether err is a uniqueness conflict (409): the
// resource exists, look it up and update it instead.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsNotFound reports whether err means the resource does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsRetryable reports whether err is worth retrying later, and after how
// long the server asked to wait (0 when it did not say).
func IsRetryable(err error) (bool, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable, e.RetryAfter
	}
	return false, 0
}

// retryableStatus reports whether a request that got status may succeed
// when repeated.
func retryableStatus(status int) bool {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout:
		return true
	case status == http.StatusNotImplemented, status == http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3). Dates in the past mean 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// errorFromResponse builds the Error for a non-2xx answer.
func errorFromResponse(method, path string, status int, header http.Header, body []byte, now time.Time) *Error {
	e := &Error{Method: method, Path: path, Status: status, Retryable: retryableStatus(status)}
	if d, ok := parseRetryAfter(header.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil && doc != nil {
		// RFC 7644 §3.12 (status is a string, but some send a number).
		e.ScimType, _ = doc["scimType"].(string)
		e.Detail, _ = doc["detail"].(string)
		if e.Detail == "" {
			// OAuth-style and other JSON error bodies.
			for _, k := range []string{"error_description", "message", "error", "title"} {
				if s, ok := doc[k].(string); ok && s != "" {
					e.Detail = s
					break
				}
			}
		}
		e.Detail = excerpt([]byte(e.Detail), 500)
		return e
	}
	e.Detail = excerpt(body, 200)
	return e
}

// excerpt returns the start of b as one line of printable text.
func excerpt(b []byte, limit int) string {
	b = bytes.TrimSpace(b)
	if !utf8.Valid(b) {
		return ""
	}
	var out strings.Builder
	space := false
	for _, r := range string(b) {
		if out.Len() >= limit {
			out.WriteString("…")
			break
		}
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = true
			continue
		}
		if space && out.Len() > 0 {
			out.WriteByte(' ')
		}
		space = false
		out.WriteRune(r)
	}
	return out.String()
}

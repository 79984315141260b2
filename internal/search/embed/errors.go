package embed

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Kinds of failure, for errors.Is.
var (
	// ErrInput: a text the client will not send (empty, not UTF-8).
	ErrInput = errors.New("invalid input")
	// ErrResponse: an answer that is not a valid embeddings list for the
	// request (wrong count, indices, values).
	ErrResponse = errors.New("invalid answer from the embedding endpoint")
	// ErrDimension: a vector whose length is not the configured one.
	ErrDimension = errors.New("wrong embedding dimension")
	// ErrTimeout: no answer within the configured timeout.
	ErrTimeout = errors.New("embedding endpoint timed out")
)

// Error is a failed embedding request.
type Error struct {
	// Status is the HTTP status (0 when there was no answer).
	Status int
	// Code and Message are the provider's error code and message (clipped,
	// on one line).
	Code, Message string
	// Retryable reports whether the same request may succeed later.
	Retryable bool
	// RetryAfter is the wait the server asked for (Retry-After), if any.
	RetryAfter time.Duration
	// Err is the cause, when it is not the server's refusal.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("embed: ")
	switch {
	case e.Status != 0 && e.Status != 200:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
		if e.Message != "" {
			fmt.Fprintf(&b, ": %s", e.Message)
		}
		if e.Err != nil {
			fmt.Fprintf(&b, ": %v", e.Err)
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("request failed")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap exposes the cause and the search kind: search.ErrInvalid for a
// text the client refused to send, search.ErrUnavailable for everything
// else (the endpoint failed, timed out, refused the request or answered
// something unusable: the index cannot be updated until it is fixed).
func (e *Error) Unwrap() []error {
	kind := search.ErrUnavailable
	if errors.Is(e.Err, ErrInput) {
		kind = search.ErrInvalid
	}
	if e.Err == nil {
		return []error{kind}
	}
	return []error{kind, e.Err}
}

// DimensionError is a vector of the wrong length: the endpoint serves
// another model or dimension than the configured one. Nothing is indexed.
type DimensionError struct {
	Model     string
	Want, Got int
	Index     int
}

func (e *DimensionError) Error() string {
	return fmt.Sprintf("vector %d of model %s has %d dimensions, want %d (is the endpoint serving another model, or ignoring \"dimensions\"?)",
		e.Index, e.Model, e.Got, e.Want)
}

func (e *DimensionError) Is(target error) bool { return target == ErrDimension }

// Package httpbody reads request bodies under a size limit, and refuses an
// oversized body in a way the client can read.
//
// A client that sends its whole body before it reads the answer (curl
// without "Expect: 100-continue", most SDKs) never sees an early refusal if
// the server stops reading and closes the connection: the unread data makes
// the server's kernel reset the connection, and the reset discards the
// answer waiting in the client's buffer. So a body found too large is read
// to its end and discarded — within bounds — before the refusal is sent.
package httpbody

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Bounds of the discarding of an oversized body: past MaxDiscard bytes, or
// DiscardTime, the rest is left unread and the connection is closed after
// the answer.
const (
	MaxDiscard  = 128 << 20
	DiscardTime = 10 * time.Second
)

// TooLargeError is the error for a body over its limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the request body exceeds %d bytes", e.Limit)
}

// Read reads r's body, at most limit bytes. A larger body, whether its
// Content-Length says so or it is found while reading, is a *TooLargeError,
// and the rest of it is discarded (up to MaxDiscard bytes, for up to
// DiscardTime) so that the client can read the answer. A client that
// announced a body too large and waits for "100 Continue" is not sent one:
// it does not send the body at all. Other read errors are returned as they
// are.
func Read(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	tooLarge := &TooLargeError{Limit: limit}
	if r.ContentLength > limit {
		if !strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
			discard(w, r.Body, r.ContentLength)
		}
		return nil, tooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		discard(w, r.Body, MaxDiscard)
		return nil, tooLarge
	}
	return b, err
}

// discard reads and drops up to n bytes of body (at most MaxDiscard), for
// at most DiscardTime.
func discard(w http.ResponseWriter, body io.Reader, n int64) {
	if n > MaxDiscard {
		return
	}
	// Not every ResponseWriter supports deadlines (test recorders): the
	// server's own read timeout still bounds the read.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(DiscardTime))
	_, _ = io.CopyN(io.Discard, body, n)
}

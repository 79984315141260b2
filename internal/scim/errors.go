package scim

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/patch"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Error is a SCIM error response (RFC 7644 §3.12).
type Error struct {
	Status   int
	ScimType string
	Detail   string
	// Header holds extra response headers (Allow, WWW-Authenticate,
	// Retry-After).
	Header http.Header
	// Err is an internal cause, logged but never shown.
	Err error
}

func (e *Error) Error() string {
	s := strconv.Itoa(e.Status) + " " + e.ScimType + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(status int, scimType, detail string) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: detail}
}

// body renders the error document.
func (e *Error) body() map[string]any {
	b := map[string]any{
		"schemas": []string{schema.ErrorURN},
		"status":  strconv.Itoa(e.Status),
	}
	if e.ScimType != "" {
		b["scimType"] = e.ScimType
	}
	if e.Detail != "" {
		b["detail"] = e.Detail
	}
	return b
}

// asError maps any error to a SCIM error. Domain errors keep their
// client-facing message; anything unexpected becomes a 500 whose detail says
// nothing about internals.
func asError(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var pe *patch.Error
	if errors.As(err, &pe) {
		return &Error{Status: http.StatusBadRequest, ScimType: pe.Type, Detail: pe.Msg}
	}
	var ve *schema.ValueError
	if errors.As(err, &ve) {
		return &Error{Status: http.StatusBadRequest, ScimType: "invalidValue", Detail: ve.Error()}
	}
	if filter.IsError(err) {
		return &Error{Status: http.StatusBadRequest, ScimType: "invalidFilter", Detail: err.Error()}
	}
	msg := directory.Message(err)
	if f := directory.Field(err); f != "" && !strings.Contains(strings.ToLower(msg), strings.ToLower(f)) &&
		(errors.Is(err, directory.ErrInvalid) || errors.Is(err, directory.ErrMutability) || errors.Is(err, directory.ErrConflict)) {
		// Name the attribute at fault ("organizationId: organization "x"
		// does not exist") so that the client can tell what to fix.
		msg = f + ": " + msg
	}
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Detail: msg}
	case errors.Is(err, directory.ErrConflict):
		return &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: msg}
	case errors.Is(err, directory.ErrInUse):
		return &Error{Status: http.StatusConflict, Detail: msg}
	case errors.Is(err, directory.ErrInvalidFilter):
		return &Error{Status: http.StatusBadRequest, ScimType: "invalidFilter", Detail: msg}
	case errors.Is(err, directory.ErrMutability):
		return &Error{Status: http.StatusBadRequest, ScimType: "mutability", Detail: msg}
	case errors.Is(err, directory.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, ScimType: "invalidValue", Detail: msg}
	case errors.Is(err, directory.ErrPrecondition):
		return &Error{Status: http.StatusPreconditionFailed, Detail: msg}
	case errors.Is(err, directory.ErrBusy):
		return &Error{Status: http.StatusServiceUnavailable, Detail: msg, Header: http.Header{"Retry-After": {"1"}}, Err: err}
	case errors.Is(err, directory.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Detail: msg, Header: http.Header{"Retry-After": {UnavailableRetryAfter}}, Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "internal error; the server log has details (request id in the X-Request-Id header)", Err: err}
}

// UnavailableRetryAfter is the Retry-After of a 503 for an unavailable
// database (seconds).
const UnavailableRetryAfter = "5"

// classify makes an error that means the database is unavailable (as the
// store tells: Config.Unavailable) a directory.ErrUnavailable.
func (s *Server) classify(err error) error {
	if errors.Is(err, logging.ErrStopping) && !errors.Is(err, directory.ErrUnavailable) {
		return &directory.Error{Kind: directory.ErrUnavailable, Op: "serve", Msg: "the server is stopping; retry later", Err: err}
	}
	if err == nil || s.cfg.Unavailable == nil || errors.Is(err, directory.ErrUnavailable) || !s.cfg.Unavailable(err) {
		return err
	}
	return &directory.Error{Kind: directory.ErrUnavailable, Op: "database", Msg: "the database is unavailable; retry later", Err: err}
}

// logged reports whether an error answer is logged at ERROR: server
// faults are; refusals for load (a 503 without a cause) are only counted,
// or a flood of them would flood the log, and so are requests a stopping
// server stopped (it logs their number once).
func logged(se *Error) bool {
	return logging.ServerFault(se.Status) && (se.Status != http.StatusServiceUnavailable || se.Err != nil) &&
		!errors.Is(se.Err, logging.ErrStopping)
}

// writeError sends err as a SCIM error response and logs server faults.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if logging.ClientGone(r, err) {
		// No one to answer; not a server fault, not logged as one.
		logging.AnswerClientGone(w, r)
		return
	}
	err = s.classify(logging.Stopped(r, err))
	se := asError(err)
	if logged(se) {
		s.log.ErrorContext(r.Context(), "scim request failed", "status", se.Status, "err", err)
	}
	for k, v := range se.Header {
		w.Header()[k] = v
	}
	reason := strconv.Itoa(se.Status)
	if se.ScimType != "" {
		reason += " " + se.ScimType
	}
	logging.SetFailure(r.Context(), reason)
	writeJSON(w, se.Status, se.body())
}

package directory

import (
	"errors"
	"fmt"
)

// Error kinds. Protocol layers map them to their own error formats; wrap
// them with *Error to add the operation and a message fit for the client.
var (
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict")            // a unique value is taken
	ErrInUse         = errors.New("in use")              // the change would drop what the caller cannot see
	ErrInvalid       = errors.New("invalid value")       // a value breaks a rule
	ErrMutability    = errors.New("mutability")          // a read-only or immutable value was changed
	ErrPrecondition  = errors.New("precondition failed") // If-Match did not match
	ErrBusy          = errors.New("busy")                // retry later (too much concurrent work)
	ErrUnavailable   = errors.New("unavailable")         // the database cannot be reached or cannot work; retry later
	ErrInvalidFilter = errors.New("invalid filter")      // a filter or sort the store cannot run
	ErrTampered      = errors.New("tampered")            // the audit log was altered: retention pruning refuses to run
)

// Error is a domain error: a kind, the operation, the attribute at fault (if
// any) and a message that may be shown to the client. Err keeps internal
// detail that must not be shown.
type Error struct {
	Kind  error
	Op    string
	Field string
	Msg   string
	Err   error
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes both the kind and the internal cause to errors.Is/As.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Errorf builds an *Error of the given kind for field, with a client-facing
// message.
func Errorf(kind error, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Message returns the client-facing message of err: the Msg of the
// outermost *Error, or a generic text for errors without one.
func Message(err error) string {
	var de *Error
	if errors.As(err, &de) && de.Msg != "" {
		return de.Msg
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return "resource not found"
	case errors.Is(err, ErrConflict):
		return "a unique value is already taken"
	case errors.Is(err, ErrInUse):
		return "the resource is in use"
	case errors.Is(err, ErrPrecondition):
		return "the resource has changed (version mismatch)"
	case errors.Is(err, ErrUnavailable):
		return "the database is unavailable; retry later"
	}
	return "internal error"
}

// Field returns the attribute named by err, if any.
func Field(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Field
	}
	return ""
}

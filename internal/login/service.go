package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// ErrNotImplemented is returned by the parts of the skeleton not built yet.
var ErrNotImplemented = errors.New("login: not implemented")

// Options configures a Service.
type Options struct {
	Now   func() time.Time
	NewID func() string
	Log   *slog.Logger
	// SessionIdle ends a session not used for this long (default 30 min);
	// SessionLifetime ends it this long after the login, whatever its use
	// (default 12 h).
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	// Reauth is how recent the last full authentication must be for a
	// sensitive action (a password change; default 5 min).
	Reauth time.Duration
}

// Service signs people in and keeps their sessions.
type Service struct {
	opt Options
}

// New returns a Service.
func New(opt Options) *Service { return &Service{opt: opt} }

// Session returns the valid session whose cookie token is token, or nil,
// nil.
func (s *Service) Session(ctx context.Context, token string) (*Session, error) {
	return nil, ErrNotImplemented
}

// Satisfies reports whether sess meets req and the policy.
func (s *Service) Satisfies(ctx context.Context, sess *Session, req Requirement) (bool, error) {
	return false, ErrNotImplemented
}

// Allowed reports whether userID may use appID, and if not why.
func (s *Service) Allowed(ctx context.Context, userID, appID string) (bool, string, error) {
	return false, "", ErrNotImplemented
}

// RecordIssued appends an SSO protocol's audit record.
func (s *Service) RecordIssued(ctx context.Context, r *http.Request, is Issued) error {
	return ErrNotImplemented
}

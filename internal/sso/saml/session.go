package saml

import (
	"context"
	"net/http"
	"time"
)

// What SAML needs of Gatehouse's sign-in (the contract of internal/login,
// docs/sso.md). The identity provider never authenticates anyone itself:
// it asks Sessions for the browser's session, sends the browser to the
// login page when it must, and checks the application's allowed groups.

// Session is a person's browser session at Gatehouse.
type Session struct {
	ID       string
	UserID   string
	AuthTime time.Time // the last full authentication: the AuthnInstant
	AMR      []string  // RFC 8176 methods of that authentication
	Factors  int       // distinct factors of that authentication
	Expires  time.Time
}

// Requirement is what a service provider's request needs of the session.
type Requirement struct {
	AppID      string
	MaxAge     time.Duration
	Force      bool // ForceAuthn
	MinFactors int
	Passive    bool // IsPassive
}

// Sessions is Gatehouse's sign-in, as the identity provider uses it.
type Sessions interface {
	// Current returns the request's valid session, or nil, nil.
	Current(r *http.Request) (*Session, error)
	// Satisfies reports whether s meets req (age, factors, policy).
	Satisfies(s *Session, req Requirement) bool
	// Authenticate sends the browser to the login page, to come back to
	// resume (a path on Gatehouse) once signed in.
	Authenticate(w http.ResponseWriter, r *http.Request, req Requirement, resume string)
	// Allowed reports whether the user may use the application, and if
	// not, why.
	Allowed(ctx context.Context, userID, appID string) (ok bool, why string, err error)
	// Refuse renders Gatehouse's error page.
	Refuse(w http.ResponseWriter, r *http.Request, status int, title, message string)
	// EndSession ends the request's session, returning it (nil if none).
	EndSession(w http.ResponseWriter, r *http.Request) (*Session, error)
}

// Package login is how people sign in to Gatehouse: server-side browser
// sessions, the password factor (the argon2id hashes the directory keeps),
// delegated bind to the LDAP/AD directories accounts are synced from,
// lockout and throttling, the factor policy per group and per application,
// and the audit records and events of every login, failure, lockout and
// logout. It holds no HTML: the pages are internal/web's, which also
// implements Sessions on top of this package for the SSO protocols
// (internal/sso/saml, internal/sso/oidc).
//
// A login is a server-side pending-login record that collects factors one
// step at a time (Pending): the first factor (password or delegated bind),
// then the second factor the policy asks for or the person has set up
// (Step: TOTP, WebAuthn, a recovery code) — or, for a person the policy
// asks two of who has none, setting one up — then the session.
package login

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// Session is a person's browser session at Gatehouse.
type Session struct {
	// ID is opaque. The cookie holds a random token whose SHA-256 is
	// stored, never the id itself (which may appear in audit records, as
	// the SAML SessionIndex or the OIDC sid).
	ID     string
	UserID string // directory user id
	// AuthTime is the time of the last full authentication (OIDC
	// auth_time, SAML AuthnInstant).
	AuthTime time.Time
	// AMR lists the RFC 8176 methods of the last authentication: "pwd"
	// (a password, or a delegated LDAP/AD bind: the audit record says which
	// directory checked it; a recovery code too: AMRRecoveryCode), "otp"
	// (a TOTP code), "hwk" or "swk" with "user" (a WebAuthn key bound
	// to its device, or a synced passkey; "user" for the presence test),
	// and "mfa" when two or more factors were used (docs/sso.md, "AMR and
	// ACR").
	AMR []string
	// Factors is the number of distinct factors of AuthTime's
	// authentication.
	Factors int
	Created time.Time
	// LastSeen is when the session was last used (it idles out
	// login.session_idle after it).
	LastSeen time.Time
	// Expires is the absolute end of the session (login.session_lifetime
	// after Created), whatever its use.
	Expires time.Time
}

// ACR values Gatehouse states about a session's authentication.
const (
	// ACR1FA: one factor (a password or a delegated bind).
	ACR1FA = "urn:gatehouse:acr:1fa"
	// ACR2FA: two or more distinct factors.
	ACR2FA = "urn:gatehouse:acr:2fa"
)

// RFC 8176 authentication method references.
const (
	AMRPassword = "pwd"
	// AMROTP: a TOTP code (RFC 8176's "otp" cites the generators of RFC
	// 4226 and RFC 6238: a code a device computes from a shared key).
	AMROTP = "otp"
	// AMRRecoveryCode: a recovery code is "pwd". It is a secret issued to
	// the person and presented verbatim, checked against a stored hash:
	// a password that works once (NIST SP 800-63B's "look-up secret"). It
	// is not "otp": no device generates it, and a relying party that reads
	// "otp" as "an authenticator app or token was used" would be misled.
	// Nor is it "kba", knowledge-based authentication (questions about the
	// person's history, NIST SP 800-63-2). That it was a second factor is
	// stated by "mfa" and the ACR; audit records and events name it
	// (factor kind "recovery").
	AMRRecoveryCode = AMRPassword
	// AMRHardwareKey and AMRSoftwareKey: a WebAuthn credential bound to
	// its device, or one its authenticator may copy to others (a synced
	// passkey: backup-eligible).
	AMRHardwareKey = "hwk"
	AMRSoftwareKey = "swk"
	// AMRUser: the user-presence test of every WebAuthn assertion.
	AMRUser        = "user"
	AMRMultiFactor = "mfa"
)

// ACR is the session's authentication context class: ACR2FA with two or
// more factors, else ACR1FA.
func (s *Session) ACR() string {
	if s.Factors >= 2 {
		return ACR2FA
	}
	return ACR1FA
}

// HasAMR reports whether the session's last authentication used method.
func (s *Session) HasAMR(method string) bool { return slices.Contains(s.AMR, method) }

// Requirement is what a relying party needs of the session.
type Requirement struct {
	// AppID is the SSO application asking: its policy (minimum factors)
	// and allowed groups apply. "" for Gatehouse's own pages.
	AppID string
	// MaxAge: re-authenticate if AuthTime is older (OIDC max_age); 0: any.
	MaxAge time.Duration
	// Force: re-authenticate now (SAML ForceAuthn, OIDC prompt=login).
	// Satisfies never accepts a Force requirement without Since: on the
	// way back from the login, ask again with Since set to the time the
	// protocol request arrived (the new login is after it).
	Force bool
	// Since: the authentication must not be older than this time (zero:
	// any). For a forced re-authentication, the time of the request.
	Since time.Time
	// MinFactors: at least this many factors (OIDC acr_values); 0: the
	// policy decides. The policy's own minimum (the person's groups, the
	// application's minFactors, administrators two) always applies too.
	MinFactors int
	// Passive: never show a page (SAML IsPassive, OIDC prompt=none); the
	// protocol answers with its own error when the session falls short.
	Passive bool
	// EndsElsewhere: the login ends at another site (an OpenID Connect
	// client's redirect URI). Its last form then lands on Gatehouse's
	// "Signed in" page, which goes on by itself (a Refresh header, or its
	// button), instead of a redirect: Chromium and Safari apply the login
	// pages' form-action 'self' to every redirect that follows a form's
	// submission — the one to the client and the client's own after it —
	// and block the first that is not 'self', leaving the person on the
	// login page. A new navigation is not a form's. false: the login ends
	// on Gatehouse (its user page, SAML's auto-posting page).
	EndsElsewhere bool
}

// Sessions is what the SSO protocols use. *web.Site implements it, on top
// of *Service.
type Sessions interface {
	// Current returns the request's valid session — not expired, not idle
	// past the idle timeout, not revoked, its user still existing and
	// active — or nil, nil. It reads the database on every call, so that
	// a session ended on one replica (logout, an account disabled in SCIM
	// or LDAP, deleted) is ended on all at once.
	Current(r *http.Request) (*Session, error)
	// Satisfies reports whether s meets req: its age (MaxAge, Force never
	// does), its factors (req.MinFactors and the policy's minimum for the
	// person and req.AppID).
	Satisfies(ctx context.Context, s *Session, req Requirement) (bool, error)
	// Authenticate sends the browser to the login page (303). After a
	// successful login the browser comes back to resume with GET. resume
	// must be a path on Gatehouse itself ("/saml/sso?r=<handle>"): a path
	// starting with one "/", no scheme or host, no backslash, no control
	// characters; anything else is refused with the error page, never
	// followed (no open redirect). Keep the pending protocol request
	// server-side and put only its handle into resume.
	Authenticate(w http.ResponseWriter, r *http.Request, req Requirement, resume string)
	// Allowed reports whether user userID may use application appID: the
	// application is enabled and of an SSO kind, the person is active and
	// in one of its allowed groups (or the application allows everyone).
	// If not, why is a sentence for the refusal page (no secret in it).
	Allowed(ctx context.Context, userID, appID string) (ok bool, why string, err error)
	// Refuse renders Gatehouse's error page (HTML, the look of the login
	// page) with status, title and message. Both are shown as text
	// (escaped).
	Refuse(w http.ResponseWriter, r *http.Request, status int, title, message string)
	// EndSession ends the request's session (single logout) and clears its
	// cookie, returning the ended session (nil if there was none). It
	// writes the audit record and the User.LoggedOut event.
	EndSession(w http.ResponseWriter, r *http.Request) (*Session, error)
}

// Issued is what an SSO protocol gave an application for a session: a SAML
// response, OIDC tokens. Recorder.RecordIssued appends it to the audit log.
type Issued struct {
	// Action is the audit action: "sso.saml.response", "sso.oidc.token",
	// "sso.oidc.refresh", …
	Action string
	AppID  string
	UserID string
	// SessionID is the Gatehouse session the grant came from ("" for a
	// refresh without one).
	SessionID string
	// Detail is a small JSON-marshalable record (the assertion id, the
	// NameID format, the scopes granted, the ACR stated). Never a token,
	// an assertion or a key.
	Detail any
}

// Recorder appends the audit records of the SSO protocols. *Service and
// *web.Site implement it.
type Recorder interface {
	RecordIssued(ctx context.Context, r *http.Request, is Issued) error
}

// SafeResume reports whether resume is a path on Gatehouse itself that the
// browser may be sent back to after a login: it starts with a single "/",
// carries no scheme, host, backslash, control character or fragment, and
// is at most 2048 bytes long.
func SafeResume(resume string) bool {
	if len(resume) == 0 || len(resume) > 2048 || resume[0] != '/' {
		return false
	}
	if len(resume) > 1 && (resume[1] == '/' || resume[1] == '\\') {
		return false
	}
	for i := 0; i < len(resume); i++ {
		c := resume[i]
		if c < 0x20 || c == 0x7f || c == '\\' || c == '#' {
			return false
		}
	}
	return true
}

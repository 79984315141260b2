package login

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Store is what the login service needs from the database. Everything a
// login or a session depends on lives there, so that several replicas
// share it: a session made on one is valid on all, ended on one is ended on
// all.
type Store interface {
	// User reads a user (as directory.Store.User).
	User(ctx context.Context, id string, opt directory.ReadOptions) (*directory.User, error)
	// Group reads a group (as directory.Store.Group).
	Group(ctx context.Context, id string, opt directory.ReadOptions) (*directory.Group, error)
	// UserIDByUserName finds an account by its userName, ignoring case
	// (directory.ErrNotFound when there is none).
	UserIDByUserName(ctx context.Context, userName string) (string, error)
	// SessionByHash returns the session whose token has this SHA-256, if
	// its user exists and is active (directory.ErrNotFound otherwise).
	// Expiry is the caller's to check.
	SessionByHash(ctx context.Context, hash []byte) (*Session, error)
	// UserSessions lists a user's sessions, newest first.
	UserSessions(ctx context.Context, userID string) ([]*Session, error)
	// Pending returns a pending login (directory.ErrNotFound when there is
	// none).
	Pending(ctx context.Context, id string) (*Pending, error)
	// Account returns a user's login state (a zero Account with UserID
	// set when there is none).
	Account(ctx context.Context, userID string) (*Account, error)
	// Device returns the trusted device whose token has this SHA-256
	// (directory.ErrNotFound when there is none).
	Device(ctx context.Context, hash []byte) (*Device, error)
	// Factors lists a user's second factors, confirmed or not, oldest
	// first.
	Factors(ctx context.Context, userID string) ([]*Factor, error)
	// RecoveryCodes counts a user's unused recovery codes.
	RecoveryCodes(ctx context.Context, userID string) (int, error)
	// WriteLogin runs fn in one transaction and commits it if fn returns
	// nil. fn may run more than once.
	WriteLogin(ctx context.Context, fn func(Tx) error) error
}

// Tx is a write transaction of the login service.
type Tx interface {
	// UserForUpdate locks and returns the user (as directory.Tx's).
	UserForUpdate(ctx context.Context, id, domain string) (*directory.User, error)
	// SetPasswordHash stores a user's new password hash, bumping its
	// version and modification time.
	SetPasswordHash(ctx context.Context, userID, hash string, at time.Time) error

	InsertSession(ctx context.Context, s *Session, hash []byte) error
	// TouchSession moves a session's LastSeen.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSession ends a session, reporting whether there was one.
	DeleteSession(ctx context.Context, id string) (bool, error)
	// DeleteUserSessions ends a user's sessions but except ("" for all),
	// returning the ids it ended.
	DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error)
	// RevokeUserGrants revokes every single sign-on grant of a user still
	// in force (OpenID Connect refresh tokens and what they issue), and
	// returns how many.
	RevokeUserGrants(ctx context.Context, userID string, at time.Time) (int64, error)

	// PutPending creates or replaces a pending login.
	PutPending(ctx context.Context, p *Pending) error
	DeletePending(ctx context.Context, id string) error

	// AccountForUpdate locks and returns a user's login state (a zero
	// Account with UserID set when there is none).
	AccountForUpdate(ctx context.Context, userID string) (*Account, error)
	PutAccount(ctx context.Context, a *Account) error
	// LockForUpdate locks and returns the failures of a user from one
	// client key (a zero Lock when there are none).
	LockForUpdate(ctx context.Context, userID, key string) (*Lock, error)
	PutLock(ctx context.Context, l *Lock) error
	// DeleteLocks forgets a user's failures from every client key.
	DeleteLocks(ctx context.Context, userID string) (int64, error)
	// GhostForUpdate locks and returns the stored limits of a user name
	// that is no account, by its ghost id (nil when there are none);
	// PutGhost stores them, to be forgotten after until (PruneLogin).
	GhostForUpdate(ctx context.Context, id string) ([]byte, error)
	PutGhost(ctx context.Context, id string, state []byte, until time.Time) error

	// PutDevice records a trusted device (or moves its LastUsed).
	PutDevice(ctx context.Context, d *Device, hash []byte) error
	// DeleteDevices forgets a user's trusted devices.
	DeleteDevices(ctx context.Context, userID string) error

	// InsertFactor adds a second factor (directory.ErrConflict when its
	// WebAuthn credential id is registered already).
	InsertFactor(ctx context.Context, f *Factor) error
	// FactorForUpdate locks and returns one of a user's factors
	// (directory.ErrNotFound when she has none with that id).
	FactorForUpdate(ctx context.Context, userID, id string) (*Factor, error)
	// UpdateFactor stores a factor's name, confirmation, secret, credential
	// and last use.
	UpdateFactor(ctx context.Context, f *Factor) error
	// UseTOTPStep records that a code of time step step was accepted for
	// TOTP factor id, if no code of that step or a later one was before:
	// false (and nothing changed) otherwise.
	UseTOTPStep(ctx context.Context, id string, step int64, at time.Time) (bool, error)
	// UseSignCount moves WebAuthn factor id's signature counter to count
	// and stores its credential record, if count is above the stored
	// counter (or both are 0, an authenticator without a counter): false
	// (and nothing changed) otherwise.
	UseSignCount(ctx context.Context, id string, count uint32, credential []byte, at time.Time) (bool, error)
	// DeleteFactor removes one of a user's factors, reporting whether it
	// existed.
	DeleteFactor(ctx context.Context, userID, id string) (bool, error)
	// DeleteFactors removes every factor of a user, returning how many
	// confirmed ones went.
	DeleteFactors(ctx context.Context, userID string) (int, error)
	// DeleteUnconfirmed removes a user's factors of kind that are not
	// confirmed (set-ups begun and left).
	DeleteUnconfirmed(ctx context.Context, userID, kind string) error
	// PutRecoveryCodes replaces a user's recovery codes with these
	// hashes.
	PutRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error
	// UseRecoveryCode deletes a user's recovery code with this hash,
	// reporting whether there was one.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error)
	// DeleteRecoveryCodes deletes a user's recovery codes, returning how
	// many there were.
	DeleteRecoveryCodes(ctx context.Context, userID string) (int, error)
	// CountRecoveryCodes counts a user's recovery codes (in the
	// transaction).
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)
	// PutChallenge stores a ceremony's state under its binding, replacing
	// the one there was.
	PutChallenge(ctx context.Context, c *Challenge) error
	// TakeChallenge deletes and returns the ceremony bound to binding
	// (directory.ErrNotFound when there is none).
	TakeChallenge(ctx context.Context, binding string) (*Challenge, error)

	// PruneLogin deletes sessions, pending logins, client locks and
	// ceremonies that ended before t, factors still unconfirmed that were
	// begun before t, trusted devices unused since before devicesBefore,
	// the console's single-use form values used a day before t, and the
	// limits of names that are no account that ended before t.
	PruneLogin(ctx context.Context, t, devicesBefore time.Time) (int64, error)

	AppendAudit(ctx context.Context, e *directory.AuditEntry) error
	AppendEvents(ctx context.Context, evs []*directory.EventRecord) error
}

// Pending is a login in progress: a server-side record, bound to the
// browser that started it (BrowserHash), that collects factors one step at
// a time until it becomes a session.
type Pending struct {
	// ID is random (it travels in the login page's URL); the browser
	// binding cookie's SHA-256 must match BrowserHash for it to be used.
	ID          string
	BrowserHash []byte
	// AppID, MinFactors and Force are the requirement it was started
	// for; Resume is where the browser goes after it (a path on
	// Gatehouse).
	AppID      string
	MinFactors int
	Force      bool
	Resume     string
	// EndsElsewhere is Requirement.EndsElsewhere.
	EndsElsewhere bool
	// UserID is set once the first factor succeeded.
	UserID string
	// AMR and Factors collect the methods succeeded so far; AuthTime is
	// the time of the first.
	AMR      []string
	Factors  int
	AuthTime time.Time
	// Stage is what the login asks for next: StageFirst, StageStep (a
	// further factor), StageChange (a new password, forced).
	Stage   string
	Created time.Time
	Expires time.Time
}

// Stages of a pending login.
const (
	StageFirst  = "first"
	StageStep   = "step"
	StageChange = "change"
	// StageEnrol: the policy needs a second factor the person has not set
	// up; she sets one up now (her first only), which then counts.
	StageEnrol = "enrol"
)

// Account is a user's login state.
type Account struct {
	UserID string
	// MustChange forces a new password at the next login (an
	// administrator's reset sets it).
	MustChange bool
	// TempExpires is when a temporary password set by an administrator
	// stops working (zero: the password is not temporary).
	TempExpires time.Time
	// Failures counts the failed logins from clients that are not one of
	// the user's trusted devices since the last success (forgotten after
	// a quiet window); NextAttempt is when such a client may try again
	// (the account-wide slow-down).
	Failures    int
	LastFailure time.Time
	NextAttempt time.Time
	// PasswordChanged is when the user last changed her password here.
	PasswordChanged time.Time
	// FactorFailures counts the failed second-factor attempts from
	// clients that are not the user's trusted devices since the last
	// success from such a client or an administrator's unlock: at
	// Lockout.FactorFailures, such clients may no longer try.
	FactorFailures int
}

// Lock is the failures of one user from one client key: a network
// ("net:203.0.113.0/24", "net:2001:db8::/64") or a trusted device
// ("dev:<id>").
type Lock struct {
	UserID string
	Key    string
	// Failures counts the failures (and attempts in flight) since First;
	// a lock ends after LockedUntil.
	Failures    int
	First       time.Time
	LockedUntil time.Time
}

// Device is a browser the user has signed in with before, recognised by a
// long-lived random cookie: its failures count on their own, so that
// failures elsewhere never lock it out.
type Device struct {
	ID       string
	UserID   string
	Created  time.Time
	LastUsed time.Time
}

// Kinds of second factor.
const (
	// FactorTOTP is an authenticator app (RFC 6238).
	FactorTOTP = "totp"
	// FactorWebAuthn is a security key or passkey (WebAuthn).
	FactorWebAuthn = "webauthn"
)

// Factor is one of a person's second factors: a TOTP authenticator or a
// WebAuthn credential. One begun but not confirmed (a TOTP secret whose
// first code has not come back yet) does not count.
type Factor struct {
	ID     string
	UserID string
	Kind   string
	// Name is the person's label for it ("phone", "YubiKey").
	Name      string
	Confirmed bool
	// Secret is a TOTP secret, sealed (Sealer): never stored or logged in
	// clear.
	Secret []byte
	// LastStep is the last TOTP time step a code was accepted for.
	LastStep int64
	// CredentialID and Credential are a WebAuthn credential's id and its
	// record (JSON: public key, flags, AAGUID, transports; nothing
	// secret); SignCount its signature counter.
	CredentialID []byte
	Credential   []byte
	SignCount    uint32
	Created      time.Time
	LastUsed     time.Time
}

// Challenge is a ceremony in progress (a WebAuthn registration or
// assertion): its server-side state, bound to the login or session that
// began it, used once.
type Challenge struct {
	// Binding names what it belongs to: "login:<pending login id>",
	// "enrol:<pending login id>", "session:<session id>".
	Binding string
	UserID  string
	Purpose string
	Data    []byte
	Expires time.Time
}

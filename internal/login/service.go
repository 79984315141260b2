package login

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Hasher hashes and checks passwords (auth.Argon2id).
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, phc string) (bool, error)
}

// Apps reads applications (auth.Store).
type Apps interface {
	App(ctx context.Context, id string) (*auth.App, error)
	Apps(ctx context.Context) ([]*auth.App, error)
}

// Directory is a directory accounts are synced from whose passwords it
// checks itself (delegated authentication: an LDAP bind). The accounts it
// holds are those with an externalId in its Domain.
type Directory interface {
	// Domain is the provisioning domain of its accounts ("ldap:corp"):
	// their externalId there is the entry's stable id.
	Domain() string
	// Bind checks password by binding as the entry with that id. A wrong
	// password (or an entry the directory will not let sign in) is
	// ErrInvalidCredentials, possibly wrapped in a *DirectoryRefusal that
	// says why; anything else means the directory could not answer.
	Bind(ctx context.Context, entryID, password string) error
}

// DirectoryRefusal is a directory's refusal of a correct password that it
// explains (Active Directory: an expired password, one that must be
// changed, a locked or disabled account). It wraps ErrInvalidCredentials.
type DirectoryRefusal struct {
	// Reason is a short code for the audit record ("password-expired",
	// "must-change", "locked", "disabled", "expired").
	Reason string
	// PasswordWasRight: the directory only gives this reason after it
	// checked the password, so the person may be told.
	PasswordWasRight bool
}

func (r *DirectoryRefusal) Error() string { return "the directory refused the login: " + r.Reason }

// Unwrap makes a refusal an ErrInvalidCredentials.
func (r *DirectoryRefusal) Unwrap() error { return ErrInvalidCredentials }

// Step is a second factor the login can ask for after the first: TOTP,
// WebAuthn, a recovery code (factors.go, webauthn.go).
type Step interface {
	// Method names the step in pages, forms and audit records: "totp",
	// "webauthn", "recovery".
	Method() string
	// Enrolled reports whether the person can use this step here.
	Enrolled(ctx context.Context, userID string) (bool, error)
	// Challenge prepares the page that asks for the factor: what its
	// script needs (WebAuthn's request options, whose challenge is kept
	// server-side, bound to login p), or nil for a plain form.
	Challenge(ctx context.Context, p *Pending) (json.RawMessage, error)
	// Verify checks what the person submitted for login p: what it
	// proved, or an error that wraps ErrInvalidCredentials when it is
	// wrong.
	Verify(ctx context.Context, p *Pending, c Client, form map[string][]string) (*Proof, error)
}

// Proof is what a step proved.
type Proof struct {
	// AMR are the RFC 8176 methods it adds to the session.
	AMR []string
	// Factor is the factor used (nil for a recovery code).
	Factor *Factor
}

// stepFailure is a wrong second factor, with the reason the audit record
// gives ("invalid-totp", "reused-totp", "invalid-webauthn",
// "sign-counter", "invalid-recovery", "no-ceremony").
type stepFailure struct {
	reason string
	factor *Factor
}

func (f *stepFailure) Error() string { return "second factor refused: " + f.reason }

// Unwrap makes a stepFailure an ErrInvalidCredentials.
func (f *stepFailure) Unwrap() error { return ErrInvalidCredentials }

// Lockout sets the rules that slow down and stop password guessing
// (docs/sso.md, "Lockout and throttling").
type Lockout struct {
	// Failures failed logins of one account from one client key (its
	// network, or one of its trusted devices) within Window lock that
	// key out of that account for Duration.
	Failures int
	Window   time.Duration
	Duration time.Duration
	// Past AccountFailures failures from clients that are not trusted
	// devices of the account, each further attempt from such a client
	// must wait twice as long as the last, from 1 s up to AccountMaxDelay.
	// The count is forgotten after Window without a failure, and on a
	// success.
	AccountFailures int
	AccountMaxDelay time.Duration
	// AddressFailures failures per client address (an IPv6 /64) within
	// AddressWindow are allowed, whatever the accounts; further attempts
	// from it are answered 429 until it is back within its allowance.
	AddressFailures int
	AddressWindow   time.Duration
	// FactorFailures failed second-factor attempts from clients that are
	// not the account's trusted devices (since the last success from such
	// a client) stop such attempts until an administrator unlocks the
	// account: with the password known, 10⁶ TOTP codes are not to be
	// tried. The person's trusted devices are not affected.
	FactorFailures int
}

// Policy says how many factors a session needs.
type Policy struct {
	// AdminGroups name the groups (by id or display name, bound to an id
	// once: binding.go) whose members administer something: they always
	// need two factors.
	AdminGroups []string
	// GroupFactors gives the factors the members of a group (by id or
	// display name, bound as AdminGroups) need, whatever the application.
	GroupFactors map[string]int
}

// Options configures a Service.
type Options struct {
	Now   func() time.Time
	NewID func() string
	Log   *slog.Logger
	// Hasher checks and makes password hashes; PasswordPolicy is what a
	// new password must satisfy (the directory's).
	Hasher         Hasher
	PasswordPolicy directory.PasswordPolicy
	// SessionIdle ends a session not used for this long (default 30 min);
	// SessionLifetime ends it this long after the login, whatever its use
	// (default 12 h).
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	// Reauth is how recent the last full authentication must be for a
	// sensitive action (default 5 min).
	Reauth time.Duration
	// PendingLifetime bounds a login in progress (default 10 min).
	PendingLifetime time.Duration
	// TempPasswordLifetime is how long a temporary password set by an
	// administrator works (default 72 h).
	TempPasswordLifetime time.Duration
	// DeviceLifetime is how long an unused trusted device is remembered
	// (default 180 days).
	DeviceLifetime time.Duration
	// HashWait bounds how long a login waits for a hashing slot before it
	// is answered "busy" (default 10 s).
	HashWait time.Duration
	Lockout  Lockout
	Policy   Policy
	// Sealer seals TOTP secrets (NewSealer with the key of
	// login.factor_key_file). Without it, authenticator apps are not
	// offered.
	Sealer *Sealer
	// RelyingParty is Gatehouse as a WebAuthn relying party
	// (NewRelyingParty with base_url). Without it, security keys are not
	// offered.
	RelyingParty *RelyingParty
	// Issuer names Gatehouse in authenticator apps (default "Gatehouse").
	Issuer string
	// Directories check the passwords of the accounts synced from them.
	Directories []Directory
	// OnCommit is called after every write that appended events (pokes
	// the event pipeline).
	OnCommit func()
}

// Service signs people in and keeps their sessions.
type Service struct {
	store Store
	apps  Apps
	opt   Options
	// binds are the policy's groups, bound to ids (binding.go).
	binds bindings
	// sealer seals TOTP secrets (nil: no TOTP); rp is the WebAuthn relying
	// party (nil: no WebAuthn); steps are the second factors, in the order
	// the login offers them.
	sealer *Sealer
	rp     *webauthn.WebAuthn
	steps  []Step
	addrs  *auth.Throttle
	// dummy is a hash checked when there is no account, so that a wrong
	// user name costs what a wrong password does.
	dummyOnce sync.Once
	dummy     string
}

// New returns a Service.
func New(store Store, apps Apps, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.SessionIdle, 30*time.Minute)
	def(&opt.SessionLifetime, 12*time.Hour)
	def(&opt.Reauth, 5*time.Minute)
	def(&opt.PendingLifetime, 10*time.Minute)
	def(&opt.TempPasswordLifetime, 72*time.Hour)
	def(&opt.DeviceLifetime, 180*24*time.Hour)
	def(&opt.HashWait, 10*time.Second)
	lo := &opt.Lockout
	def(&lo.Window, 15*time.Minute)
	def(&lo.Duration, 15*time.Minute)
	def(&lo.AccountMaxDelay, 5*time.Minute)
	def(&lo.AddressWindow, time.Minute)
	if lo.Failures <= 0 {
		lo.Failures = 5
	}
	if lo.AccountFailures <= 0 {
		lo.AccountFailures = 10
	}
	if lo.AddressFailures <= 0 {
		lo.AddressFailures = 20
	}
	if lo.FactorFailures <= 0 {
		lo.FactorFailures = 10
	}
	if opt.Issuer == "" {
		opt.Issuer = "Gatehouse"
	}
	if opt.Hasher == nil {
		opt.Hasher = auth.NewArgon2id()
	}
	if opt.PasswordPolicy.MaxLength == 0 {
		opt.PasswordPolicy = directory.DefaultPasswordPolicy()
	}
	s := &Service{store: store, apps: apps, opt: opt, binds: bindings{bound: map[string]*Binding{}}, addrs: auth.NewThrottle(lo.AddressFailures, lo.AddressWindow, opt.Now)}
	s.sealer = opt.Sealer
	if opt.RelyingParty != nil {
		s.rp = opt.RelyingParty.wa
		s.steps = append(s.steps, webAuthnStep{s})
	}
	if s.sealer != nil {
		s.steps = append(s.steps, totpStep{s})
	}
	s.steps = append(s.steps, recoveryStep{s})
	return s
}

// Options returns the service's options, defaults applied.
func (s *Service) Options() Options { return s.opt }

func (s *Service) stamp() time.Time { return s.opt.Now().UTC().Truncate(time.Microsecond) }

// Errors.
var (
	// ErrInvalidCredentials: the user name or password (or code) is wrong.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrNotImplemented is returned by what this build does not offer.
	ErrNotImplemented = errors.New("login: not implemented")
)

// Failure is why a login step did not succeed, for the page to say.
type Failure struct {
	// Reason is a code: "invalid" (wrong user name or password),
	// "throttled" (too many failures from this address), "locked" (this
	// account from this network or device), "slowed" (the account-wide
	// slow-down), "temp-expired", "directory-refused" (with Detail),
	// "unavailable" (the directory cannot be reached, or a TOTP secret
	// cannot be opened), "busy", "no-factor" (the policy needs a factor
	// the person has not set up and cannot set up here), "expired" (the
	// login took too long), "password-policy" (with Detail), "mismatch",
	// "same-password", "not-here" (the password is the directory's),
	// "reauth" (a sensitive action needs a recent login), "code-used" (a
	// TOTP code accepted before), "factor-locked" (too many wrong second
	// factors from untrusted clients), "factor-name" (with Detail),
	// "last-factor" (the policy needs the factor being removed),
	// "setup-expired" (the authenticator app being set up was begun too
	// long ago, or replaced by a newer set-up), "needs-factor" (recovery
	// codes without a factor),
	// "no-webauthn", "no-totp" (not offered here).
	Reason string
	// Detail is a sentence to show (a password policy rule); "" if none.
	Detail string
	// RetryAfter is how long to wait before trying again (0: now).
	RetryAfter time.Duration
}

func (f *Failure) Error() string {
	if f.Detail != "" {
		return "login: " + f.Reason + ": " + f.Detail
	}
	return "login: " + f.Reason
}

func fail(reason string) *Failure { return &Failure{Reason: reason} }

// Client is who is asking: the request's client address and cookies.
type Client struct {
	// Addr is the client address (after trusted proxies).
	Addr string
	// Browser is the value of the browser's login binding cookie.
	Browser string
	// Device is the value of the trusted-device cookie ("" if none).
	Device string
	// Session is the value of the session cookie ("" if none): a login
	// replaces that session.
	Session string
	// RequestID names the request in audit records.
	RequestID string
}

// NewToken returns a random 256-bit token, base64url without padding.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is the SHA-256 of a cookie token, as stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// tokenOK reports whether a cookie value has a token's form.
func tokenOK(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

func (s *Service) newID() string {
	if s.opt.NewID != nil {
		return s.opt.NewID()
	}
	t, _ := NewToken()
	return t
}

// write runs fn in a login transaction and pokes the pipeline after it.
func (s *Service) write(ctx context.Context, fn func(Tx) error) error {
	err := s.store.WriteLogin(ctx, fn)
	if err == nil && s.opt.OnCommit != nil {
		s.opt.OnCommit()
	}
	return err
}

func wrapf(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }

// Package auth holds applications — every system that talks to Gatehouse —
// and their credentials: IDaaS-style bearer tokens, RAM-style client secrets
// for the OAuth 2.0 client-credentials grant, and the signing keys of the
// access tokens that grant issues. It authenticates requests, decides what a
// caller may do (scopes, synchronization scope), throttles failed attempts
// and hashes user passwords.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Kind is what an application is.
type Kind string

// Application kinds.
const (
	// KindSCIMClient pushes accounts into Gatehouse (an IdP, an HR system,
	// IDaaS): by default it may read and write all of SCIM.
	KindSCIMClient Kind = "scim-client"
	// KindServerApp is a service that reads accounts, as RAM's "server
	// application" does with the client-credentials grant: by default it
	// may only read.
	KindServerApp Kind = "server-app"
	// KindAdmin administers Gatehouse through /admin/v1.
	KindAdmin Kind = "admin"
)

// Scopes.
const (
	ScopeUsersRead   = "scim:users:read"
	ScopeUsersWrite  = "scim:users:write"
	ScopeGroupsRead  = "scim:groups:read"
	ScopeGroupsWrite = "scim:groups:write"
	// ScopeSCIM is RAM's scope name for all of SCIM.
	ScopeSCIM = "/acs/scim"
	// ScopeAdmin allows the admin API.
	ScopeAdmin = "admin"
	// ScopeMetrics allows reading /metrics.
	ScopeMetrics = "metrics"
	// ScopeEventsWrite allows sending events to POST /events.
	ScopeEventsWrite = "events:write"
	// ScopeDocsSearch allows GET /search for the users the application
	// names (docs/search.md).
	ScopeDocsSearch = "docs:search"
)

// KnownScopes lists every scope, in a stable order.
func KnownScopes() []string {
	return []string{ScopeSCIM, ScopeUsersRead, ScopeUsersWrite, ScopeGroupsRead, ScopeGroupsWrite, ScopeAdmin, ScopeMetrics, ScopeEventsWrite, ScopeDocsSearch}
}

// Scopes is a set of scopes.
type Scopes []string

// Has reports whether the set grants scope: "/acs/scim" grants every scim:
// scope.
func (s Scopes) Has(scope string) bool {
	if slices.Contains(s, scope) {
		return true
	}
	return strings.HasPrefix(scope, "scim:") && slices.Contains(s, ScopeSCIM)
}

// Covers reports whether s grants every scope of other.
func (s Scopes) Covers(other Scopes) bool {
	for _, x := range other {
		if !s.Has(x) {
			return false
		}
	}
	return true
}

// String renders the set as OAuth writes it: space-separated.
func (s Scopes) String() string { return strings.Join(s, " ") }

// ParseScopes reads space- or comma-separated scopes, refusing unknown ones.
func ParseScopes(text string) (Scopes, error) {
	var out Scopes
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == ',' }) {
		if !slices.Contains(KnownScopes(), f) {
			return nil, directory.Errorf(directory.ErrInvalid, "scopes", "unknown scope %q (known: %s)", f, strings.Join(KnownScopes(), ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// DefaultScopes returns the scopes an application of kind k gets unless told
// otherwise.
func DefaultScopes(k Kind) Scopes {
	switch k {
	case KindServerApp:
		return Scopes{ScopeUsersRead, ScopeGroupsRead}
	case KindAdmin:
		return Scopes{ScopeAdmin, ScopeMetrics}
	case KindSAMLSP, KindOIDCClient:
		return Scopes{}
	}
	return Scopes{ScopeSCIM}
}

// App is an application.
type App struct {
	ID   string
	Name string
	Kind Kind
	// Scopes are what the application's credentials may do.
	Scopes Scopes
	// Profile is the SCIM behaviour the application gets: IDaaS's field
	// rules, idempotent creates, its synchronization target organization and
	// its synchronization scope (Profile.Scope).
	Profile directory.Profile
	// ExtensionURN is the custom extension namespace the application
	// speaks (Okta's customfield, Entra's <Name>): one of the configured
	// extensions, or "".
	ExtensionURN string
	// Access is who may use a single sign-on application (allowed groups)
	// and the factors it requires; empty for other kinds.
	Access Access
	// SSO holds a single sign-on application's protocol settings (a JSON
	// object owned by its kind's package, checked by the kind's
	// SSOValidator); nil for other kinds.
	SSO      json.RawMessage
	Enabled  bool
	Created  time.Time
	Modified time.Time
}

// ClientID is the application's OAuth 2.0 client_id: its id.
func (a *App) ClientID() string { return a.ID }

// Token is a bearer token's record; the secret itself is never stored.
type Token struct {
	ID    string
	AppID string
	// Hint is the start of the secret, enough to recognise it.
	Hint     string
	Enabled  bool
	Created  time.Time
	Expires  time.Time
	LastUsed time.Time // zero if never used
	UseCount int64
	// Hash is the SHA-256 of the token, as stored.
	Hash []byte `json:"-"`
}

// Secret is an OAuth 2.0 client secret's record (RAM's AppSecret).
type Secret struct {
	ID       string
	AppID    string
	Hint     string
	Enabled  bool
	Created  time.Time
	LastUsed time.Time
	UseCount int64
	// Hash is the SHA-256 of the secret, as stored.
	Hash []byte `json:"-"`
}

// Stats are an application's request counts, for monitoring ("monitor the
// API call frequency and failure logs").
type Stats struct {
	Requests  int64
	Failures  int64
	ByReason  map[string]int64 // failures by reason ("401 token_expired", "400 invalidValue", …)
	LastError string
	LastAt    time.Time // time of the last error
}

// SigningKey is a key that signs access tokens and ID tokens.
type SigningKey struct {
	ID        string // the JWS "kid"
	Algorithm string // AlgES256 or AlgRS256
	// PrivatePEM is the PKCS #8 private key.
	PrivatePEM []byte
	Created    time.Time
	// Retired is when the key stopped signing (zero while it signs). A
	// retired key stays published until tokens it signed have expired.
	Retired time.Time
}

// Store reads what this package needs; writes go through Write.
type Store interface {
	App(ctx context.Context, id string) (*App, error)
	AppByName(ctx context.Context, name string) (*App, error)
	Apps(ctx context.Context) ([]*App, error)
	Tokens(ctx context.Context, appID string) ([]*Token, error)
	Secrets(ctx context.Context, appID string) ([]*Secret, error)
	// TokenByHash finds a token and its application by the SHA-256 of the
	// token.
	TokenByHash(ctx context.Context, hash []byte) (*Token, *App, error)
	Secret(ctx context.Context, id string) (*Secret, error)
	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	AppStats(ctx context.Context, appID string) (*Stats, error)
	// CredentialsVersion changes whenever an application, token, secret,
	// key or organization changes, in this process or another: caches of
	// credential checks are valid only as long as it does not.
	CredentialsVersion(ctx context.Context) (int64, error)

	// WriteAuth runs fn in one transaction (committed if fn returns nil).
	WriteAuth(ctx context.Context, fn func(Tx) error) error
	// RecordUse adds use counts (tokens and secrets by id) and request
	// statistics (by application) gathered since the last call.
	RecordUse(ctx context.Context, u *Usage) error
}

// Tx is a write transaction over applications and credentials. Every
// change also bumps the credentials version and may append audit entries.
type Tx interface {
	InsertApp(ctx context.Context, a *App) error
	UpdateApp(ctx context.Context, a *App) error
	DeleteApp(ctx context.Context, id string) error
	AppForUpdate(ctx context.Context, id string) (*App, error)
	TokensForUpdate(ctx context.Context, appID string) ([]*Token, error)
	InsertToken(ctx context.Context, t *Token, hash []byte) error
	UpdateToken(ctx context.Context, t *Token) error
	DeleteToken(ctx context.Context, id string) error
	SecretsForUpdate(ctx context.Context, appID string) ([]*Secret, error)
	InsertSecret(ctx context.Context, s *Secret, hash []byte) error
	UpdateSecret(ctx context.Context, s *Secret) error
	DeleteSecret(ctx context.Context, id string) error
	InsertSigningKey(ctx context.Context, k *SigningKey) error
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
	DeleteSigningKey(ctx context.Context, id string) error
	OrgExists(ctx context.Context, id string) (bool, error)
	GroupExists(ctx context.Context, id string) (bool, error)
	// OrgInScope reports whether organization id is one of scope's
	// organizations or below one.
	OrgInScope(ctx context.Context, id string, scope *directory.SyncScope) (bool, error)
	AppendAudit(ctx context.Context, e *directory.AuditEntry) error
}

// Usage is what RecordUse adds.
type Usage struct {
	Tokens  map[string]Use
	Secrets map[string]Use
	Apps    map[string]*Stats // Requests, Failures, ByReason, LastError/LastAt
}

// Use is a credential's uses since the last flush.
type Use struct {
	N    int64
	Last time.Time
}

// Errors.
var (
	// ErrUnauthenticated: the credential is absent, malformed, unknown,
	// disabled or expired (answered 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the credential lacks a scope (answered 403).
	ErrForbidden = errors.New("forbidden")
	// ErrThrottled: too many failed attempts from this client (answered
	// 429 with Retry-After).
	ErrThrottled = errors.New("throttled")
)

// MergeStats adds add's counts to into and keeps the later of their last
// errors.
func MergeStats(into, add *Stats) {
	into.Requests += add.Requests
	into.Failures += add.Failures
	if into.ByReason == nil {
		into.ByReason = map[string]int64{}
	}
	for k, v := range add.ByReason {
		into.ByReason[k] += v
	}
	if add.LastAt.After(into.LastAt) {
		into.LastError, into.LastAt = add.LastError, add.LastAt
	}
}

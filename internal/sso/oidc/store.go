package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Store keeps the provider's state in the database, so that any replica
// can continue what another began: pending authorization requests, grants
// and their codes and refresh tokens (by the SHA-256 of their values).
type Store interface {
	// PutAuthRequest creates or replaces a pending authorization request.
	PutAuthRequest(ctx context.Context, r *AuthRequest) error
	// AuthRequest returns a pending authorization request
	// (directory.ErrNotFound).
	AuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// DeleteAuthRequest removes a pending authorization request (none is
	// not an error).
	DeleteAuthRequest(ctx context.Context, id string) error

	// CreateGrant records a grant and its authorization code, in one
	// transaction that also removes the pending request it answers
	// (authRequestID, "" for none).
	CreateGrant(ctx context.Context, g *Grant, code *Token, authRequestID string) error
	// TokenGrant returns a code or refresh token by its hash, with its
	// grant (directory.ErrNotFound).
	TokenGrant(ctx context.Context, kind TokenKind, hash []byte) (*Token, *Grant, error)
	// UseToken marks a code redeemed or a refresh token rotated, and
	// records next (a refresh token of the same grant; nil for none) and
	// the audit entry, in one transaction. A token already used is
	// ErrTokenUsed, and nothing changes.
	UseToken(ctx context.Context, kind TokenKind, hash []byte, at time.Time, next *Token, audit *directory.AuditEntry) error
	// Grant returns a grant (directory.ErrNotFound).
	Grant(ctx context.Context, id string) (*Grant, error)
	// RevokeGrant revokes a grant and so every token of its family (a
	// grant already revoked stays as it was), with its audit entry.
	RevokeGrant(ctx context.Context, id string, at time.Time, audit *directory.AuditEntry) error
	// RevokeSessionGrants revokes the online grants (not offline_access)
	// given in a browser session, and returns how many.
	RevokeSessionGrants(ctx context.Context, sessionID string, at time.Time) (int64, error)
	// PruneOIDC deletes pending requests and grants that expired before
	// before, with their tokens, and returns how many rows went.
	PruneOIDC(ctx context.Context, before time.Time) (int64, error)
}

// ErrTokenUsed is UseToken's error for a code or refresh token presented
// a second time.
var ErrTokenUsed = errors.New("token already used")

// AuthRequest is an authorization request waiting for its person to sign
// in.
type AuthRequest struct {
	ID       string
	ClientID string
	// Request is the validated request (an Authorize, as JSON).
	Request json.RawMessage
	Created time.Time
	Expires time.Time
	// LoginSent is when the browser was last sent to the login page for
	// this request (zero if never): a session authenticated after it is
	// the answer to that login.
	LoginSent time.Time
}

// Grant is what one authorization granted a client: the root of a family
// of one code and the refresh tokens that follow from it.
type Grant struct {
	ID        string
	ClientID  string
	UserID    string
	SessionID string // the browser session it was given in
	Scopes    []string
	Nonce     string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	// Offline grants (offline_access) outlive the browser session and have
	// refresh tokens; online ones end with the session.
	Offline bool
	Created time.Time
	// Expires bounds the family: no refresh token of it lives longer.
	Expires time.Time
	Revoked time.Time // zero while in force
}

// TokenKind tells codes from refresh tokens.
type TokenKind string

// Token kinds.
const (
	KindCode    TokenKind = "code"
	KindRefresh TokenKind = "refresh"
)

// Token is an authorization code or a refresh token.
type Token struct {
	Hash    []byte // SHA-256 of the value
	GrantID string
	Kind    TokenKind
	// RedirectURI and Challenge (the S256 PKCE code challenge, "" when the
	// request had none) are a code's.
	RedirectURI string
	Challenge   string
	Created     time.Time
	Expires     time.Time
	Used        time.Time // zero until redeemed or rotated
}

// Package auth holds applications — every system that talks to Gatehouse —
// and their credentials: bearer tokens for now. It authenticates requests
// and hashes user passwords.
package auth

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// App is an application: a SCIM client such as an upstream IdP.
type App struct {
	ID   string
	Name string
	// Profile is the SCIM behaviour the application gets (IDaaS's field
	// rules, idempotent creates, synchronization target organization).
	Profile  directory.Profile
	Enabled  bool
	Created  time.Time
	Modified time.Time
}

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
}

// Store is what this package needs from storage.
type Store interface {
	CreateApp(ctx context.Context, a *App) error
	UpdateApp(ctx context.Context, a *App) error
	DeleteApp(ctx context.Context, id string) error
	App(ctx context.Context, id string) (*App, error)
	AppByName(ctx context.Context, name string) (*App, error)
	Apps(ctx context.Context) ([]*App, error)

	CreateToken(ctx context.Context, t *Token, hash []byte) error
	UpdateToken(ctx context.Context, t *Token) error
	DeleteToken(ctx context.Context, id string) error
	Tokens(ctx context.Context, appID string) ([]*Token, error)
	// TokenByHash finds a token and its application by the SHA-256 of the
	// secret.
	TokenByHash(ctx context.Context, hash []byte) (*Token, *App, error)
	// RecordTokenUse adds n uses to a token and sets its last use.
	RecordTokenUse(ctx context.Context, id string, at time.Time, n int64) error
}

// Errors.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
)

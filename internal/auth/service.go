package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Service manages applications and tokens and authenticates requests.
type Service struct {
	store Store
	now   func() time.Time
	newID func() string
	log   *slog.Logger

	cacheTTL time.Duration
	mu       sync.RWMutex
	cache    map[[32]byte]cached

	usageMu sync.Mutex
	usage   map[string]usage
}

type cached struct {
	p       *Principal
	expires time.Time
}

type usage struct {
	n    int64
	last time.Time
}

// Principal is an authenticated caller.
type Principal struct {
	App   *App
	Token *Token
}

// Actor describes the principal for audit records.
func (p *Principal) Actor(requestID string) directory.Actor {
	return directory.Actor{Kind: "app", AppID: p.App.ID, AppName: p.App.Name, TokenID: p.Token.ID, RequestID: requestID}
}

// Options configures a Service.
type Options struct {
	Now   func() time.Time
	NewID func() string
	Log   *slog.Logger
	// CacheTTL is how long a successful token check is remembered
	// (default 5 s). Changes made through this Service take effect at once;
	// changes made by another process sharing the database (the CLI, another
	// replica) within CacheTTL.
	CacheTTL time.Duration
}

// NewService returns a Service.
func NewService(store Store, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.CacheTTL == 0 {
		opt.CacheTTL = 5 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		store: store, now: opt.Now, newID: opt.NewID, log: opt.Log, cacheTTL: opt.CacheTTL,
		cache: map[[32]byte]cached{}, usage: map[string]usage{},
	}
}

// Token lifetimes allowed (as IDaaS: one day to three years).
const (
	MinTokenValidity     = 24 * time.Hour
	MaxTokenValidity     = 3 * 365 * 24 * time.Hour
	DefaultTokenValidity = 365 * 24 * time.Hour
)

// CreateApp creates an application with the given profile.
func (s *Service) CreateApp(ctx context.Context, name string, p directory.Profile) (*App, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 128 {
		return nil, directory.Errorf(directory.ErrInvalid, "name", "an application name must have 1 to 128 characters")
	}
	if p.TargetOrgID == "" {
		p.TargetOrgID = directory.RootOrgID
	}
	now := s.now().UTC()
	a := &App{ID: s.newID(), Name: name, Profile: p, Enabled: true, Created: now, Modified: now}
	if err := s.store.CreateApp(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// FindApp finds an application by id or name.
func (s *Service) FindApp(ctx context.Context, idOrName string) (*App, error) {
	a, err := s.store.AppByName(ctx, idOrName)
	if errors.Is(err, directory.ErrNotFound) {
		return s.store.App(ctx, idOrName)
	}
	return a, err
}

// Apps lists applications.
func (s *Service) Apps(ctx context.Context) ([]*App, error) { return s.store.Apps(ctx) }

// CreateToken creates a bearer token for app, valid for validity, and
// returns it with its secret. The secret is not stored and cannot be shown
// again.
func (s *Service) CreateToken(ctx context.Context, appID string, validity time.Duration) (*Token, string, error) {
	if validity == 0 {
		validity = DefaultTokenValidity
	}
	if validity < MinTokenValidity || validity > MaxTokenValidity {
		return nil, "", directory.Errorf(directory.ErrInvalid, "validity", "a token must be valid for between 1 day and 3 years")
	}
	secret, err := NewSecret(TokenPrefix)
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC()
	t := &Token{ID: s.newID(), AppID: appID, Hint: Hint(secret), Enabled: true, Created: now, Expires: now.Add(validity)}
	if err := s.store.CreateToken(ctx, t, HashSecret(secret)); err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// Tokens lists an application's tokens.
func (s *Service) Tokens(ctx context.Context, appID string) ([]*Token, error) {
	return s.store.Tokens(ctx, appID)
}

// Authenticate checks an Authorization header value ("Bearer <token>").
// Every failure is ErrUnauthenticated; the reason is logged, never the token.
func (s *Service) Authenticate(ctx context.Context, header string) (*Principal, error) {
	scheme, secret, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, ErrUnauthenticated
	}
	secret = strings.TrimSpace(secret)
	if !WellFormed(secret, TokenPrefix) {
		return nil, ErrUnauthenticated
	}
	var key [32]byte
	copy(key[:], HashSecret(secret))
	now := s.now()

	s.mu.RLock()
	c, hit := s.cache[key]
	s.mu.RUnlock()
	if hit && now.Before(c.expires) && now.Before(c.p.Token.Expires) {
		s.recordUse(c.p.Token.ID, now)
		return c.p, nil
	}

	tok, app, err := s.store.TokenByHash(ctx, key[:])
	if err != nil {
		if !errors.Is(err, directory.ErrNotFound) {
			return nil, err
		}
		return nil, ErrUnauthenticated
	}
	// The lookup was by hash; comparing again in constant time costs
	// nothing and keeps the check independent of how the store matched.
	stored := HashSecret(secret)
	if subtle.ConstantTimeCompare(stored, key[:]) != 1 {
		return nil, ErrUnauthenticated
	}
	switch {
	case !tok.Enabled:
		s.log.InfoContext(ctx, "token refused", "reason", "disabled", "token_id", tok.ID, "app_id", app.ID)
		return nil, ErrUnauthenticated
	case !now.Before(tok.Expires):
		s.log.InfoContext(ctx, "token refused", "reason", "expired", "token_id", tok.ID, "app_id", app.ID)
		return nil, ErrUnauthenticated
	case !app.Enabled:
		s.log.InfoContext(ctx, "token refused", "reason", "application disabled", "token_id", tok.ID, "app_id", app.ID)
		return nil, ErrUnauthenticated
	}
	p := &Principal{App: app, Token: tok}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache)
	}
	s.cache[key] = cached{p: p, expires: now.Add(s.cacheTTL)}
	s.mu.Unlock()
	s.recordUse(tok.ID, now)
	return p, nil
}

// Forget drops cached token checks, so that a change made elsewhere to
// tokens or applications takes effect at once in this process.
func (s *Service) Forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

func (s *Service) recordUse(id string, at time.Time) {
	s.usageMu.Lock()
	u := s.usage[id]
	u.n++
	u.last = at
	s.usage[id] = u
	s.usageMu.Unlock()
}

// FlushUsage writes the use counts gathered since the last flush.
func (s *Service) FlushUsage(ctx context.Context) error {
	s.usageMu.Lock()
	pending := s.usage
	s.usage = map[string]usage{}
	s.usageMu.Unlock()
	var errs []error
	for id, u := range pending {
		if err := s.store.RecordTokenUse(ctx, id, u.last.UTC(), u.n); err != nil && !errors.Is(err, directory.ErrNotFound) {
			errs = append(errs, fmt.Errorf("record use of token %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// RunUsageFlusher flushes use counts every interval until ctx ends, then
// once more.
func (s *Service) RunUsageFlusher(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.FlushUsage(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("flush token usage", "err", err)
			}
			return
		case <-t.C:
			if err := s.FlushUsage(ctx); err != nil {
				s.log.Error("flush token usage", "err", err)
			}
		}
	}
}

package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// ThrottledError is ErrThrottled with the time to wait.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string { return "too many failed authentications; retry later" }

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// FailureError is ErrUnauthenticated with the reason, for logs and
// statistics (never shown to the client, which learns only "401").
type FailureError struct {
	Reason string
	AppID  string
}

func (e *FailureError) Error() string { return "unauthenticated: " + e.Reason }

// Is makes errors.Is(err, ErrUnauthenticated) true.
func (e *FailureError) Is(target error) bool { return target == ErrUnauthenticated }

// Authenticate checks an Authorization header value: "Bearer " and a bearer
// token or an OAuth access token. client is the caller's address, for
// throttling. Every failure is ErrUnauthenticated (a *FailureError naming
// the reason) or, after too many failures from the client or against the
// application, a *ThrottledError. A valid credential is accepted even then:
// throttling slows guessers, not the correctly configured client next to
// them.
//
// A successful check is remembered until the credentials version changes,
// so disabling, deleting or expiring a credential takes effect at the next
// request, in every process.
func (s *Service) Authenticate(ctx context.Context, header, client string) (*Principal, error) {
	scheme, value, ok := strings.Cut(strings.TrimSpace(header), " ")
	value = strings.TrimSpace(value)
	if !ok || !strings.EqualFold(scheme, "Bearer") || value == "" || len(value) > 4096 {
		return nil, s.fail(client, "", "no_bearer_credential")
	}
	key := sha256.Sum256([]byte(value))
	version, err := s.store.CredentialsVersion(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.RLock()
	c, hit := s.cache[key]
	s.mu.RUnlock()
	if hit && c.version == version && now.Before(c.p.Expires) {
		s.recordUse(c.p, now)
		return c.p, nil
	}
	isJWT := strings.Count(value, ".") == 2 && !hasKnownPrefix(value)
	blocked := s.throttle.wait(addrKey(client))
	if blocked > 0 && !isJWT && !WellFormed(value, value[:strings.LastIndexByte(value, '_')+1]) {
		// Blocked, and the value cannot be one of ours: do not spend a
		// lookup on it. A value that can be is still checked, so that a
		// correctly configured client is not locked out by a noisy
		// neighbour behind the same address.
		return nil, &ThrottledError{RetryAfter: blocked}
	}
	var p *Principal
	if isJWT {
		p, err = s.verifyAccessToken(ctx, value, now)
	} else {
		p, err = s.verifyBearerToken(ctx, value, key[:], now)
	}
	if err != nil {
		var fe *FailureError
		if !errors.As(err, &fe) {
			return nil, err
		}
		if blocked > 0 {
			return nil, &ThrottledError{RetryAfter: blocked}
		}
		return nil, s.fail(client, fe.AppID, fe.Reason)
	}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache)
	}
	s.cache[key] = cached{p: p, version: version}
	s.mu.Unlock()
	s.recordUse(p, now)
	return p, nil
}

// fail records a failed authentication and returns the error to answer.
func (s *Service) fail(client, appID, reason string) error {
	if s.opt.OnFailure != nil {
		s.opt.OnFailure(reason)
	}
	keys := []string{addrKey(client)}
	if appID != "" {
		keys = append(keys, "app:"+appID)
		s.observe(appID, "401 "+reason, "authentication failed: "+reason)
	}
	for _, k := range keys {
		if wait := s.throttle.fail(k); wait > 0 {
			return &ThrottledError{RetryAfter: wait}
		}
	}
	s.log.Info("authentication failed", "reason", reason, "client", client, "app_id", appID)
	return &FailureError{Reason: reason, AppID: appID}
}

func (s *Service) verifyBearerToken(ctx context.Context, value string, hash []byte, now time.Time) (*Principal, error) {
	if hasKnownPrefix(value) && !WellFormed(value, value[:strings.LastIndexByte(value, '_')+1]) {
		return nil, &FailureError{Reason: "token_malformed"}
	}
	tok, app, err := s.store.TokenByHash(ctx, hash)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, &FailureError{Reason: "token_unknown"}
	}
	if err != nil {
		return nil, err
	}
	// The lookup was by hash; the stored hash is compared again in constant
	// time, so that the check does not rest on how the store matched.
	if subtle.ConstantTimeCompare(tok.Hash, hash) != 1 {
		return nil, &FailureError{Reason: "token_unknown"}
	}
	switch {
	case !tok.Enabled:
		return nil, &FailureError{Reason: "token_disabled", AppID: app.ID}
	case !now.Before(tok.Expires):
		return nil, &FailureError{Reason: "token_expired", AppID: app.ID}
	case !app.Enabled:
		return nil, &FailureError{Reason: "app_disabled", AppID: app.ID}
	}
	return &Principal{App: app, Scopes: app.Scopes, Token: tok, Expires: tok.Expires}, nil
}

// Forget drops remembered checks (also done whenever the credentials
// version changes).
func (s *Service) Forget() { s.forget() }

func (s *Service) forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// ---- usage and statistics

func newUsage() *Usage {
	return &Usage{Tokens: map[string]Use{}, Secrets: map[string]Use{}, Apps: map[string]*Stats{}}
}

func (s *Service) recordUse(p *Principal, at time.Time) {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	if p.Token != nil {
		u := s.usage.Tokens[p.Token.ID]
		u.N++
		u.Last = at
		s.usage.Tokens[p.Token.ID] = u
	} else if p.SecretID != "" {
		u := s.usage.Secrets[p.SecretID]
		u.N++
		u.Last = at
		s.usage.Secrets[p.SecretID] = u
	}
}

// Observe counts a request an application made: reason is "" for a
// success, else a short failure reason ("404", "400 invalidValue", …) with
// detail for the last-error record.
func (s *Service) Observe(appID, reason, detail string) { s.observe(appID, reason, detail) }

func (s *Service) observe(appID, reason, detail string) {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	st := s.usage.Apps[appID]
	if st == nil {
		st = &Stats{ByReason: map[string]int64{}}
		s.usage.Apps[appID] = st
	}
	st.Requests++
	if reason != "" {
		st.Failures++
		st.ByReason[reason]++
		st.LastError, st.LastAt = detail, s.now().UTC()
	}
}

// FlushUsage writes the use counts and statistics gathered since the last
// flush.
func (s *Service) FlushUsage(ctx context.Context) error {
	s.usageMu.Lock()
	pending := s.usage
	s.usage = newUsage()
	s.usageMu.Unlock()
	if len(pending.Tokens) == 0 && len(pending.Secrets) == 0 && len(pending.Apps) == 0 {
		return nil
	}
	return s.store.RecordUse(ctx, pending)
}

// RunUsageFlusher flushes every interval until ctx ends, then once more.
func (s *Service) RunUsageFlusher(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.FlushUsage(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("flush usage", "err", err)
			}
			return
		case <-t.C:
			if err := s.FlushUsage(ctx); err != nil {
				s.log.Error("flush usage", "err", err)
			}
		}
	}
}

func snapshot(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

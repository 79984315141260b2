package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

var _ oidc.Store = (*Store)(nil)

// PutAuthRequest creates or replaces a pending authorization request.
func (s *Store) PutAuthRequest(ctx context.Context, r *oidc.AuthRequest) error {
	var sent *time.Time
	if !r.LoginSent.IsZero() {
		t := r.LoginSent.UTC()
		sent = &t
	}
	_, err := s.writeExec(ctx, "put authorization request", `INSERT INTO oidc_auth_requests (id, client_id, request, created, expires, login_sent)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET request = excluded.request, expires = excluded.expires, login_sent = excluded.login_sent`,
		r.ID, r.ClientID, string(r.Request), r.Created.UTC(), r.Expires.UTC(), sent)
	return err
}

// AuthRequest returns a pending authorization request.
func (s *Store) AuthRequest(ctx context.Context, id string) (*oidc.AuthRequest, error) {
	var r oidc.AuthRequest
	var req string
	var sent *time.Time
	err := s.pool.QueryRow(ctx, `SELECT id, client_id, request::text, created, expires, login_sent FROM oidc_auth_requests WHERE id = $1`, id).
		Scan(&r.ID, &r.ClientID, &req, &r.Created, &r.Expires, &sent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("AuthRequest", id)
	}
	if err != nil {
		return nil, fmt.Errorf("authorization request: %w", err)
	}
	r.Request = []byte(req)
	r.Created, r.Expires = r.Created.UTC(), r.Expires.UTC()
	if sent != nil {
		r.LoginSent = sent.UTC()
	}
	return &r, nil
}

// DeleteAuthRequest removes a pending authorization request.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.writeExec(ctx, "delete authorization request", `DELETE FROM oidc_auth_requests WHERE id = $1`, id)
	return err
}

func insertOIDCToken(ctx context.Context, t *tx, k *oidc.Token) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO oidc_tokens (hash, grant_id, kind, redirect_uri, challenge, created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.Hash, k.GrantID, string(k.Kind), k.RedirectURI, k.Challenge, k.Created.UTC(), k.Expires.UTC())
	return err
}

// CreateGrant records a grant and its code, and removes the pending
// request it answers.
func (s *Store) CreateGrant(ctx context.Context, g *oidc.Grant, code *oidc.Token, authRequestID string) error {
	amr := g.AMR
	if amr == nil {
		amr = []string{}
	}
	return s.write(ctx, func(t *tx) error {
		if _, err := t.tx.Exec(ctx, `INSERT INTO oidc_grants (id, client_id, user_id, session_id, scopes, nonce, auth_time, amr, acr, offline, created, expires)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			g.ID, g.ClientID, g.UserID, g.SessionID, strings.Join(g.Scopes, " "), g.Nonce, g.AuthTime.UTC(), amr, g.ACR,
			g.Offline, g.Created.UTC(), g.Expires.UTC()); err != nil {
			return conflict(err, "create grant")
		}
		if code != nil {
			if err := insertOIDCToken(ctx, t, code); err != nil {
				return conflict(err, "create grant")
			}
		}
		if authRequestID != "" {
			if _, err := t.tx.Exec(ctx, `DELETE FROM oidc_auth_requests WHERE id = $1`, authRequestID); err != nil {
				return fmt.Errorf("create grant: %w", err)
			}
		}
		return nil
	})
}

const grantCols = `g.id, g.client_id, g.user_id, g.session_id, g.scopes, g.nonce, g.auth_time, g.amr, g.acr, g.offline, g.created, g.expires, g.revoked`

type grantDest struct {
	g       oidc.Grant
	scopes  string
	revoked *time.Time
}

func (d *grantDest) dest() []any {
	return []any{&d.g.ID, &d.g.ClientID, &d.g.UserID, &d.g.SessionID, &d.scopes, &d.g.Nonce, &d.g.AuthTime, &d.g.AMR, &d.g.ACR,
		&d.g.Offline, &d.g.Created, &d.g.Expires, &d.revoked}
}

func (d *grantDest) finish() *oidc.Grant {
	g := d.g
	g.Scopes = strings.Fields(d.scopes)
	g.AuthTime, g.Created, g.Expires = g.AuthTime.UTC(), g.Created.UTC(), g.Expires.UTC()
	if d.revoked != nil {
		g.Revoked = d.revoked.UTC()
	}
	return &g
}

// TokenGrant returns a code or refresh token with its grant.
func (s *Store) TokenGrant(ctx context.Context, kind oidc.TokenKind, hash []byte) (*oidc.Token, *oidc.Grant, error) {
	var k oidc.Token
	var kindText string
	var used *time.Time
	var d grantDest
	dest := append([]any{&k.Hash, &k.GrantID, &kindText, &k.RedirectURI, &k.Challenge, &k.Created, &k.Expires, &used}, d.dest()...)
	err := s.pool.QueryRow(ctx, `SELECT t.hash, t.grant_id, t.kind, t.redirect_uri, t.challenge, t.created, t.expires, t.used, `+grantCols+`
		FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id WHERE t.hash = $1 AND t.kind = $2`, hash, string(kind)).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, notFound("Token", "")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find %s: %w", kind, err)
	}
	k.Kind = oidc.TokenKind(kindText)
	k.Created, k.Expires = k.Created.UTC(), k.Expires.UTC()
	if used != nil {
		k.Used = used.UTC()
	}
	return &k, d.finish(), nil
}

// UseToken marks a code redeemed or a refresh token rotated and records
// the next refresh token.
func (s *Store) UseToken(ctx context.Context, kind oidc.TokenKind, hash []byte, at time.Time, next *oidc.Token, audit *directory.AuditEntry) error {
	return s.write(ctx, func(t *tx) error {
		tag, err := t.tx.Exec(ctx, `UPDATE oidc_tokens SET used = $1 WHERE hash = $2 AND kind = $3 AND used IS NULL`, at.UTC(), hash, string(kind))
		if err != nil {
			return fmt.Errorf("use %s: %w", kind, err)
		}
		if tag.RowsAffected() == 0 {
			return oidc.ErrTokenUsed
		}
		if next != nil {
			if err := insertOIDCToken(ctx, t, next); err != nil {
				return conflict(err, "record refresh token")
			}
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
}

// Grant returns a grant.
func (s *Store) Grant(ctx context.Context, id string) (*oidc.Grant, error) {
	var d grantDest
	err := s.pool.QueryRow(ctx, `SELECT `+grantCols+` FROM oidc_grants g WHERE g.id = $1`, id).Scan(d.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Grant", id)
	}
	if err != nil {
		return nil, fmt.Errorf("grant: %w", err)
	}
	return d.finish(), nil
}

// RevokeGrant revokes a grant and its family.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time, audit *directory.AuditEntry) error {
	return s.write(ctx, func(t *tx) error {
		if _, err := t.tx.Exec(ctx, `UPDATE oidc_grants SET revoked = $1 WHERE id = $2 AND revoked IS NULL`, at.UTC(), id); err != nil {
			return fmt.Errorf("revoke grant: %w", err)
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
}

// RevokeSessionGrants revokes the online grants of a browser session.
func (s *Store) RevokeSessionGrants(ctx context.Context, sessionID string, at time.Time) (int64, error) {
	return s.writeExec(ctx, "revoke session grants", `UPDATE oidc_grants SET revoked = $1 WHERE session_id = $2 AND NOT offline AND revoked IS NULL`,
		at.UTC(), sessionID)
}

// PruneOIDC deletes what expired before before.
func (s *Store) PruneOIDC(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(t *tx) error {
		n = 0
		for _, q := range []string{`DELETE FROM oidc_auth_requests WHERE expires < $1`, `DELETE FROM oidc_grants WHERE expires < $1`} {
			tag, err := t.tx.Exec(ctx, q, before.UTC())
			if err != nil {
				return fmt.Errorf("prune oidc: %w", err)
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	return n, err
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

var _ oidc.Store = (*Store)(nil)

// PutAuthRequest creates or replaces a pending authorization request.
func (s *Store) PutAuthRequest(ctx context.Context, r *oidc.AuthRequest) error {
	var sent any
	if !r.LoginSent.IsZero() {
		sent = fmtTime(r.LoginSent)
	}
	_, err := s.writeExec(ctx, `INSERT INTO oidc_auth_requests (id, client_id, request, created, expires, login_sent) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET request = excluded.request, expires = excluded.expires, login_sent = excluded.login_sent`,
		r.ID, r.ClientID, string(r.Request), fmtTime(r.Created), fmtTime(r.Expires), sent)
	if err != nil {
		return fmt.Errorf("put authorization request: %w", err)
	}
	return nil
}

// AuthRequest returns a pending authorization request.
func (s *Store) AuthRequest(ctx context.Context, id string) (*oidc.AuthRequest, error) {
	var r oidc.AuthRequest
	var req, created, expires string
	var sent sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT id, client_id, request, created, expires, login_sent FROM oidc_auth_requests WHERE id = ?`, id).
		Scan(&r.ID, &r.ClientID, &req, &created, &expires, &sent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("AuthRequest", id)
	}
	if err != nil {
		return nil, fmt.Errorf("authorization request: %w", err)
	}
	r.Request = json.RawMessage(req)
	if r.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if r.Expires, err = parseTime(expires); err != nil {
		return nil, err
	}
	if sent.Valid {
		if r.LoginSent, err = parseTime(sent.String); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// DeleteAuthRequest removes a pending authorization request.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	if _, err := s.writeExec(ctx, `DELETE FROM oidc_auth_requests WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete authorization request: %w", err)
	}
	return nil
}

func insertOIDCToken(ctx context.Context, t *tx, k *oidc.Token) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO oidc_tokens (hash, grant_id, kind, redirect_uri, challenge, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.Hash, k.GrantID, string(k.Kind), k.RedirectURI, k.Challenge, fmtTime(k.Created), fmtTime(k.Expires))
	return err
}

// CreateGrant records a grant and its code, and removes the pending
// request it answers.
func (s *Store) CreateGrant(ctx context.Context, g *oidc.Grant, code *oidc.Token, authRequestID string) error {
	amr, err := json.Marshal(g.AMR)
	if err != nil {
		return err
	}
	err = s.submit(ctx, func(t *tx) error {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO oidc_grants (id, client_id, user_id, session_id, scopes, nonce, auth_time, amr, acr, offline, created, expires)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.ID, g.ClientID, g.UserID, g.SessionID, strings.Join(g.Scopes, " "), g.Nonce, fmtTime(g.AuthTime), string(amr), g.ACR,
			boolInt(g.Offline), fmtTime(g.Created), fmtTime(g.Expires)); err != nil {
			return err
		}
		if code != nil {
			if err := insertOIDCToken(ctx, t, code); err != nil {
				return err
			}
		}
		if authRequestID != "" {
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM oidc_auth_requests WHERE id = ?`, authRequestID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create grant: %w", err)
	}
	return nil
}

const grantCols = `g.id, g.client_id, g.user_id, g.session_id, g.scopes, g.nonce, g.auth_time, g.amr, g.acr, g.offline, g.created, g.expires, g.revoked`

type grantDest struct {
	g                          oidc.Grant
	scopes, amr                string
	authTime, created, expires string
	offline                    int
	revoked                    sql.NullString
}

func (d *grantDest) dest() []any {
	return []any{&d.g.ID, &d.g.ClientID, &d.g.UserID, &d.g.SessionID, &d.scopes, &d.g.Nonce, &d.authTime, &d.amr, &d.g.ACR,
		&d.offline, &d.created, &d.expires, &d.revoked}
}

func (d *grantDest) finish() (*oidc.Grant, error) {
	g := d.g
	g.Scopes = strings.Fields(d.scopes)
	g.Offline = d.offline != 0
	if err := json.Unmarshal([]byte(d.amr), &g.AMR); err != nil {
		return nil, fmt.Errorf("grant %s: bad amr: %w", g.ID, err)
	}
	var err error
	if g.AuthTime, err = parseTime(d.authTime); err != nil {
		return nil, err
	}
	if g.Created, err = parseTime(d.created); err != nil {
		return nil, err
	}
	if g.Expires, err = parseTime(d.expires); err != nil {
		return nil, err
	}
	if d.revoked.Valid {
		if g.Revoked, err = parseTime(d.revoked.String); err != nil {
			return nil, err
		}
	}
	return &g, nil
}

// TokenGrant returns a code or refresh token with its grant.
func (s *Store) TokenGrant(ctx context.Context, kind oidc.TokenKind, hash []byte) (*oidc.Token, *oidc.Grant, error) {
	var k oidc.Token
	var kindText, created, expires string
	var used sql.NullString
	var d grantDest
	dest := append([]any{&k.Hash, &k.GrantID, &kindText, &k.RedirectURI, &k.Challenge, &created, &expires, &used}, d.dest()...)
	err := s.r.QueryRowContext(ctx, `SELECT t.hash, t.grant_id, t.kind, t.redirect_uri, t.challenge, t.created, t.expires, t.used, `+grantCols+`
		FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id WHERE t.hash = ? AND t.kind = ?`, hash, string(kind)).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound("Token", "")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find %s: %w", kind, err)
	}
	k.Kind = oidc.TokenKind(kindText)
	if k.Created, err = parseTime(created); err != nil {
		return nil, nil, err
	}
	if k.Expires, err = parseTime(expires); err != nil {
		return nil, nil, err
	}
	if used.Valid {
		if k.Used, err = parseTime(used.String); err != nil {
			return nil, nil, err
		}
	}
	g, err := d.finish()
	if err != nil {
		return nil, nil, err
	}
	return &k, g, nil
}

// UseToken marks a code redeemed or a refresh token rotated and records
// the next refresh token.
func (s *Store) UseToken(ctx context.Context, kind oidc.TokenKind, hash []byte, at time.Time, next *oidc.Token, audit *directory.AuditEntry) error {
	return s.submit(ctx, func(t *tx) error {
		res, err := t.tx.ExecContext(ctx, `UPDATE oidc_tokens SET used = ? WHERE hash = ? AND kind = ? AND used IS NULL`, fmtTime(at), hash, string(kind))
		if err != nil {
			return fmt.Errorf("use %s: %w", kind, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return oidc.ErrTokenUsed
		}
		if next != nil {
			if err := insertOIDCToken(ctx, t, next); err != nil {
				return fmt.Errorf("record refresh token: %w", err)
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
	err := s.r.QueryRowContext(ctx, `SELECT `+grantCols+` FROM oidc_grants g WHERE g.id = ?`, id).Scan(d.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Grant", id)
	}
	if err != nil {
		return nil, fmt.Errorf("grant: %w", err)
	}
	return d.finish()
}

// RevokeGrant revokes a grant and its family.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time, audit *directory.AuditEntry) error {
	return s.submit(ctx, func(t *tx) error {
		if _, err := t.tx.ExecContext(ctx, `UPDATE oidc_grants SET revoked = ? WHERE id = ? AND revoked IS NULL`, fmtTime(at), id); err != nil {
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
	res, err := s.writeExec(ctx, `UPDATE oidc_grants SET revoked = ? WHERE session_id = ? AND offline = 0 AND revoked IS NULL`, fmtTime(at), sessionID)
	if err != nil {
		return 0, fmt.Errorf("revoke session grants: %w", err)
	}
	return res.RowsAffected()
}

// PruneOIDC deletes what expired before before.
func (s *Store) PruneOIDC(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.submit(ctx, func(t *tx) error {
		for _, q := range []string{`DELETE FROM oidc_auth_requests WHERE expires < ?`, `DELETE FROM oidc_grants WHERE expires < ?`} {
			res, err := t.tx.ExecContext(ctx, q, fmtTime(before))
			if err != nil {
				return err
			}
			m, _ := res.RowsAffected()
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune oidc: %w", err)
	}
	return n, nil
}

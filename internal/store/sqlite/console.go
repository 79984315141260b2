package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// The console sessions of admin tokens (login.TokenSession).

// PutConsoleSession stores a new console session under its token's hash,
// and its audit record (when not nil) in the same transaction.
func (s *Store) PutConsoleSession(ctx context.Context, x *login.TokenSession, hash []byte, audit *directory.AuditEntry) error {
	return s.submit(ctx, func(t *tx) error {
		_, err := t.tx.ExecContext(ctx, `INSERT INTO console_sessions (id, token_hash, app_id, token_id, created, last_seen, expires)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, x.ID, hash, x.AppID, x.TokenID, fmtTime(x.Created), fmtTime(x.LastSeen), fmtTime(x.Expires))
		if err != nil {
			return fmt.Errorf("insert console session: %w", err)
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
}

// ConsoleSession returns the console session stored under hash.
func (s *Store) ConsoleSession(ctx context.Context, hash []byte) (*login.TokenSession, error) {
	var x login.TokenSession
	var created, seen, expires string
	err := s.r.QueryRowContext(ctx, `SELECT id, app_id, token_id, created, last_seen, expires FROM console_sessions WHERE token_hash = ?`, hash).
		Scan(&x.ID, &x.AppID, &x.TokenID, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("ConsoleSession", "")
	}
	if err != nil {
		return nil, fmt.Errorf("console session: %w", err)
	}
	for _, p := range []struct {
		dst *time.Time
		s   string
	}{{&x.Created, created}, {&x.LastSeen, seen}, {&x.Expires, expires}} {
		if *p.dst, err = parseTime(p.s); err != nil {
			return nil, err
		}
	}
	return &x, nil
}

// TouchConsoleSession moves a console session's LastSeen.
func (s *Store) TouchConsoleSession(ctx context.Context, id string, at time.Time) error {
	return s.submit(ctx, func(t *tx) error {
		_, err := t.tx.ExecContext(ctx, `UPDATE console_sessions SET last_seen = ? WHERE id = ? AND last_seen < ?`, fmtTime(at), id, fmtTime(at))
		return err
	})
}

// DeleteConsoleSession ends a console session, with its audit record
// (when not nil) in the same transaction.
func (s *Store) DeleteConsoleSession(ctx context.Context, id string, audit *directory.AuditEntry) error {
	return s.submit(ctx, func(t *tx) error {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE id = ?`, id); err != nil {
			return err
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
}

// AppendConsoleAudit appends the audit record of a console sign-in that
// was refused (no session to write with it).
func (s *Store) AppendConsoleAudit(ctx context.Context, audit *directory.AuditEntry) error {
	return s.submit(ctx, func(t *tx) error {
		return t.AppendAudit(ctx, audit)
	})
}

// UseConsoleForm records the use of a single-use console form value (by
// its hash): true the first time, false when it was used before. Uses
// older than a day are forgotten (PruneLogin).
func (s *Store) UseConsoleForm(ctx context.Context, hash []byte, at time.Time) (bool, error) {
	first := false
	err := s.submit(ctx, func(t *tx) error {
		res, err := t.tx.ExecContext(ctx, `INSERT INTO console_form_uses (value_hash, used) VALUES (?, ?) ON CONFLICT (value_hash) DO NOTHING`,
			hash, fmtTime(at))
		if err != nil {
			return fmt.Errorf("use console form: %w", err)
		}
		n, _ := res.RowsAffected()
		first = n == 1
		return nil
	})
	return first, err
}

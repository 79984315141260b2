package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

var (
	_ login.Store = (*Store)(nil)
	_ login.Tx    = (*tx)(nil)
)

// optTime is a nullable time column's value.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

func parseOptTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

const sessionCols = `s.id, s.user_id, s.auth_time, s.amr, s.factors, s.created, s.last_seen, s.expires`

func scanSession(sc scanner) (*login.Session, error) {
	var x login.Session
	var auth, amr, created, seen, expires string
	if err := sc.Scan(&x.ID, &x.UserID, &auth, &amr, &x.Factors, &created, &seen, &expires); err != nil {
		return nil, err
	}
	x.AMR = strings.Fields(amr)
	var err error
	for _, p := range []struct {
		dst *time.Time
		s   string
	}{{&x.AuthTime, auth}, {&x.Created, created}, {&x.LastSeen, seen}, {&x.Expires, expires}} {
		if *p.dst, err = parseTime(p.s); err != nil {
			return nil, err
		}
	}
	return &x, nil
}

// SessionByHash returns a session of an active user by its token's hash.
func (s *Store) SessionByHash(ctx context.Context, hash []byte) (*login.Session, error) {
	x, err := scanSession(s.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM login_sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND u.active = 1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Session", "")
	}
	return x, err
}

// UserSessions lists a user's sessions, newest first.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]*login.Session, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sessionCols+` FROM login_sessions s WHERE s.user_id = ? ORDER BY s.created DESC, s.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return collect(rows, scanSession)
}

const pendingCols = `id, browser_hash, app_id, min_factors, force, resume, user_id, amr, factors, auth_time, stage, created, expires, ends_elsewhere`

func scanPending(sc scanner) (*login.Pending, error) {
	var p login.Pending
	var force, elsewhere int
	var user, auth sql.NullString
	var amr, created, expires string
	if err := sc.Scan(&p.ID, &p.BrowserHash, &p.AppID, &p.MinFactors, &force, &p.Resume, &user, &amr, &p.Factors, &auth, &p.Stage, &created, &expires, &elsewhere); err != nil {
		return nil, err
	}
	p.Force, p.EndsElsewhere, p.UserID, p.AMR = force != 0, elsewhere != 0, user.String, strings.Fields(amr)
	var err error
	if p.AuthTime, err = parseOptTime(auth); err != nil {
		return nil, err
	}
	if p.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if p.Expires, err = parseTime(expires); err != nil {
		return nil, err
	}
	return &p, nil
}

// Pending returns a pending login.
func (s *Store) Pending(ctx context.Context, id string) (*login.Pending, error) {
	p, err := scanPending(s.r.QueryRowContext(ctx, `SELECT `+pendingCols+` FROM login_pending WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Pending login", "")
	}
	return p, err
}

const accountCols = `user_id, must_change, temp_expires, failures, last_failure, next_attempt, password_changed, factor_failures`

func scanAccount(sc scanner, userID string) (*login.Account, error) {
	var a login.Account
	var must int
	var temp, last, next, changed sql.NullString
	err := sc.Scan(&a.UserID, &must, &temp, &a.Failures, &last, &next, &changed, &a.FactorFailures)
	if errors.Is(err, sql.ErrNoRows) {
		return &login.Account{UserID: userID}, nil
	}
	if err != nil {
		return nil, err
	}
	a.MustChange = must != 0
	for _, p := range []struct {
		dst *time.Time
		s   sql.NullString
	}{{&a.TempExpires, temp}, {&a.LastFailure, last}, {&a.NextAttempt, next}, {&a.PasswordChanged, changed}} {
		if *p.dst, err = parseOptTime(p.s); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

// Account returns a user's login state.
func (s *Store) Account(ctx context.Context, userID string) (*login.Account, error) {
	return scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM login_accounts WHERE user_id = ?`, userID), userID)
}

// Device returns a trusted device by its token's hash.
func (s *Store) Device(ctx context.Context, hash []byte) (*login.Device, error) {
	var d login.Device
	var created, used string
	err := s.r.QueryRowContext(ctx, `SELECT id, user_id, created, last_used FROM login_devices WHERE token_hash = ?`, hash).Scan(&d.ID, &d.UserID, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Device", "")
	}
	if err != nil {
		return nil, err
	}
	if d.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if d.LastUsed, err = parseTime(used); err != nil {
		return nil, err
	}
	return &d, nil
}

// WriteLogin runs fn in one transaction.
func (s *Store) WriteLogin(ctx context.Context, fn func(login.Tx) error) error {
	return s.submit(ctx, func(t *tx) error { return fn(t) })
}

func (t *tx) SetPasswordHash(ctx context.Context, userID, hash string, at time.Time) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, modified = ?, version = version + 1 WHERE id = ?`, nullStr(hash), fmtTime(at), userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("User", userID)
	}
	return nil
}

func (t *tx) InsertSession(ctx context.Context, x *login.Session, hash []byte) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO login_sessions (id, token_hash, user_id, auth_time, amr, factors, created, last_seen, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, x.ID, hash, x.UserID, fmtTime(x.AuthTime), strings.Join(x.AMR, " "), x.Factors,
		fmtTime(x.Created), fmtTime(x.LastSeen), fmtTime(x.Expires))
	if isForeignKey(err) {
		return notFound("User", x.UserID)
	}
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

func (t *tx) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE login_sessions SET last_seen = ? WHERE id = ? AND last_seen < ?`, fmtTime(at), id, fmtTime(at))
	return err
}

func (t *tx) DeleteSession(ctx context.Context, id string) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM login_sessions WHERE id = ?`, id)
	if err != nil {
		return false, fmt.Errorf("delete session: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (t *tx) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, `DELETE FROM login_sessions WHERE user_id = ? AND id <> ? RETURNING id`, userID, except)
	if err != nil {
		return nil, fmt.Errorf("delete sessions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (t *tx) PutPending(ctx context.Context, p *login.Pending) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO login_pending (`+pendingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, amr = excluded.amr, factors = excluded.factors,
			auth_time = excluded.auth_time, stage = excluded.stage, expires = excluded.expires`,
		p.ID, p.BrowserHash, p.AppID, p.MinFactors, boolInt(p.Force), p.Resume, nullStr(p.UserID), strings.Join(p.AMR, " "), p.Factors,
		optTime(p.AuthTime), p.Stage, fmtTime(p.Created), fmtTime(p.Expires), boolInt(p.EndsElsewhere))
	if isForeignKey(err) {
		return notFound("User", p.UserID)
	}
	if err != nil {
		return fmt.Errorf("put pending login: %w", err)
	}
	return nil
}

func (t *tx) DeletePending(ctx context.Context, id string) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM login_pending WHERE id = ?`, id)
	return err
}

func (t *tx) AccountForUpdate(ctx context.Context, userID string) (*login.Account, error) {
	return scanAccount(t.tx.QueryRowContext(ctx, `SELECT `+accountCols+` FROM login_accounts WHERE user_id = ?`, userID), userID)
}

func (t *tx) PutAccount(ctx context.Context, a *login.Account) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO login_accounts (`+accountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET must_change = excluded.must_change, temp_expires = excluded.temp_expires,
			failures = excluded.failures, last_failure = excluded.last_failure, next_attempt = excluded.next_attempt,
			password_changed = excluded.password_changed, factor_failures = excluded.factor_failures`,
		a.UserID, boolInt(a.MustChange), optTime(a.TempExpires), a.Failures, optTime(a.LastFailure), optTime(a.NextAttempt), optTime(a.PasswordChanged),
		a.FactorFailures)
	if isForeignKey(err) {
		return notFound("User", a.UserID)
	}
	if err != nil {
		return fmt.Errorf("put login state: %w", err)
	}
	return nil
}

func (t *tx) LockForUpdate(ctx context.Context, userID, key string) (*login.Lock, error) {
	l := login.Lock{UserID: userID, Key: key}
	var first string
	var until sql.NullString
	err := t.tx.QueryRowContext(ctx, `SELECT failures, first, locked_until FROM login_locks WHERE user_id = ? AND client_key = ?`, userID, key).
		Scan(&l.Failures, &first, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return &l, nil
	}
	if err != nil {
		return nil, err
	}
	if l.First, err = parseTime(first); err != nil {
		return nil, err
	}
	if l.LockedUntil, err = parseOptTime(until); err != nil {
		return nil, err
	}
	return &l, nil
}

func (t *tx) PutLock(ctx context.Context, l *login.Lock) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO login_locks (user_id, client_key, failures, first, locked_until) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, client_key) DO UPDATE SET failures = excluded.failures, first = excluded.first, locked_until = excluded.locked_until`,
		l.UserID, l.Key, l.Failures, fmtTime(l.First), optTime(l.LockedUntil))
	if isForeignKey(err) {
		return notFound("User", l.UserID)
	}
	if err != nil {
		return fmt.Errorf("put login lock: %w", err)
	}
	return nil
}

func (t *tx) DeleteLocks(ctx context.Context, userID string) (int64, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM login_locks WHERE user_id = ?`, userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *tx) PutDevice(ctx context.Context, d *login.Device, hash []byte) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO login_devices (id, token_hash, user_id, created, last_used) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET last_used = excluded.last_used`, d.ID, hash, d.UserID, fmtTime(d.Created), fmtTime(d.LastUsed))
	if isForeignKey(err) {
		return notFound("User", d.UserID)
	}
	if err != nil {
		return fmt.Errorf("put device: %w", err)
	}
	return nil
}

func (t *tx) DeleteDevices(ctx context.Context, userID string) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM login_devices WHERE user_id = ?`, userID)
	return err
}

func (t *tx) PruneLogin(ctx context.Context, before, devicesBefore time.Time) (int64, error) {
	var total int64
	b := fmtTime(before)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM login_sessions WHERE expires < ?`, []any{b}},
		{`DELETE FROM console_sessions WHERE expires < ?`, []any{b}},
		{`DELETE FROM console_form_uses WHERE used < ?`, []any{fmtTime(before.Add(-24 * time.Hour))}},
		{`DELETE FROM login_ghosts WHERE until < ?`, []any{b}},
		{`DELETE FROM login_pending WHERE expires < ?`, []any{b}},
		{`DELETE FROM login_locks WHERE first < ? AND (locked_until IS NULL OR locked_until < ?)`, []any{b, b}},
		{`DELETE FROM login_devices WHERE last_used < ?`, []any{fmtTime(devicesBefore)}},
		{`DELETE FROM login_challenges WHERE expires < ?`, []any{b}},
		{`DELETE FROM login_factors WHERE confirmed = 0 AND created < ?`, []any{b}},
	} {
		res, err := t.tx.ExecContext(ctx, q.sql, q.args...)
		if err != nil {
			return total, fmt.Errorf("prune login state: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// EndSessions ends a user's sessions and revokes her single sign-on
// grants (directory.Tx: a disabled account).
func (t *tx) EndSessions(ctx context.Context, id string, at time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM login_sessions WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	_, err := t.RevokeUserGrants(ctx, id, at)
	return err
}

// RevokeUserGrants revokes every OpenID Connect grant of a user still in
// force (login.Tx), and returns how many.
func (t *tx) RevokeUserGrants(ctx context.Context, userID string, at time.Time) (int64, error) {
	res, err := t.tx.ExecContext(ctx, `UPDATE oidc_grants SET revoked = ? WHERE user_id = ? AND revoked IS NULL`, fmtTime(at), userID)
	if err != nil {
		return 0, fmt.Errorf("revoke grants: %w", err)
	}
	return res.RowsAffected()
}

// GhostForUpdate returns the stored limits of a name that is no account
// (nil when there are none).
func (t *tx) GhostForUpdate(ctx context.Context, id string) ([]byte, error) {
	var state string
	err := t.tx.QueryRowContext(ctx, `SELECT state FROM login_ghosts WHERE id = ?`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read login ghost: %w", err)
	}
	return []byte(state), nil
}

// PutGhost stores the limits of a name that is no account, to be
// forgotten after until.
func (t *tx) PutGhost(ctx context.Context, id string, state []byte, until time.Time) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO login_ghosts (id, state, until) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, until = excluded.until`, id, string(state), fmtTime(until))
	if err != nil {
		return fmt.Errorf("put login ghost: %w", err)
	}
	return nil
}

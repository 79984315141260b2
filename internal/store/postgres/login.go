package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

var (
	_ login.Store = (*Store)(nil)
	_ login.Tx    = (*tx)(nil)
)

// tstz is a nullable timestamptz's value (NULL for the zero time).
func tstz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func fromTstz(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

const sessionCols = `s.id, s.user_id, s.auth_time, s.amr, s.factors, s.created, s.last_seen, s.expires`

func scanSession(sc scanner) (*login.Session, error) {
	var x login.Session
	var amr string
	if err := sc.Scan(&x.ID, &x.UserID, &x.AuthTime, &amr, &x.Factors, &x.Created, &x.LastSeen, &x.Expires); err != nil {
		return nil, err
	}
	x.AMR = strings.Fields(amr)
	x.AuthTime, x.Created, x.LastSeen, x.Expires = x.AuthTime.UTC(), x.Created.UTC(), x.LastSeen.UTC(), x.Expires.UTC()
	return &x, nil
}

// SessionByHash returns a session of an active user by its token's hash.
func (s *Store) SessionByHash(ctx context.Context, hash []byte) (*login.Session, error) {
	x, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM login_sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND u.active`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Session", "")
	}
	return x, err
}

// UserSessions lists a user's sessions, newest first.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]*login.Session, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sessionCols+` FROM login_sessions s WHERE s.user_id = $1 ORDER BY s.created DESC, s.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return collect(rows, scanSession)
}

const pendingCols = `id, browser_hash, app_id, min_factors, force, resume, user_id, amr, factors, auth_time, stage, created, expires, ends_elsewhere`

func scanPending(sc scanner) (*login.Pending, error) {
	var p login.Pending
	var user pgtype.Text
	var auth pgtype.Timestamptz
	var amr string
	if err := sc.Scan(&p.ID, &p.BrowserHash, &p.AppID, &p.MinFactors, &p.Force, &p.Resume, &user, &amr, &p.Factors, &auth, &p.Stage, &p.Created, &p.Expires, &p.EndsElsewhere); err != nil {
		return nil, err
	}
	p.UserID, p.AMR, p.AuthTime = user.String, strings.Fields(amr), fromTstz(auth)
	p.Created, p.Expires = p.Created.UTC(), p.Expires.UTC()
	return &p, nil
}

// Pending returns a pending login.
func (s *Store) Pending(ctx context.Context, id string) (*login.Pending, error) {
	p, err := scanPending(s.pool.QueryRow(ctx, `SELECT `+pendingCols+` FROM login_pending WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Pending login", "")
	}
	return p, err
}

const accountCols = `user_id, must_change, temp_expires, failures, last_failure, next_attempt, password_changed, factor_failures`

func scanAccount(sc scanner, userID string) (*login.Account, error) {
	var a login.Account
	var temp, last, next, changed pgtype.Timestamptz
	err := sc.Scan(&a.UserID, &a.MustChange, &temp, &a.Failures, &last, &next, &changed, &a.FactorFailures)
	if errors.Is(err, pgx.ErrNoRows) {
		return &login.Account{UserID: userID}, nil
	}
	if err != nil {
		return nil, err
	}
	a.TempExpires, a.LastFailure, a.NextAttempt, a.PasswordChanged = fromTstz(temp), fromTstz(last), fromTstz(next), fromTstz(changed)
	return &a, nil
}

// Account returns a user's login state.
func (s *Store) Account(ctx context.Context, userID string) (*login.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM login_accounts WHERE user_id = $1`, userID), userID)
}

// Device returns a trusted device by its token's hash.
func (s *Store) Device(ctx context.Context, hash []byte) (*login.Device, error) {
	var d login.Device
	err := s.pool.QueryRow(ctx, `SELECT id, user_id, created, last_used FROM login_devices WHERE token_hash = $1`, hash).Scan(&d.ID, &d.UserID, &d.Created, &d.LastUsed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Device", "")
	}
	if err != nil {
		return nil, err
	}
	d.Created, d.LastUsed = d.Created.UTC(), d.LastUsed.UTC()
	return &d, nil
}

// WriteLogin runs fn in one transaction.
func (s *Store) WriteLogin(ctx context.Context, fn func(login.Tx) error) error {
	return s.write(ctx, func(t *tx) error { return fn(t) })
}

func (t *tx) SetPasswordHash(ctx context.Context, userID, hash string, at time.Time) error {
	tag, err := t.tx.Exec(ctx, `UPDATE users SET password_hash = $1, modified = $2, version = version + 1 WHERE id = $3`, nullStr(hash), at, userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("User", userID)
	}
	return nil
}

func (t *tx) InsertSession(ctx context.Context, x *login.Session, hash []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_sessions (id, token_hash, user_id, auth_time, amr, factors, created, last_seen, expires)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, x.ID, hash, x.UserID, x.AuthTime, strings.Join(x.AMR, " "), x.Factors,
		x.Created, x.LastSeen, x.Expires)
	if isForeignKey(err) {
		return notFound("User", x.UserID)
	}
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

func (t *tx) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE login_sessions SET last_seen = $1 WHERE id = $2 AND last_seen < $1`, at, id)
	return err
}

func (t *tx) DeleteSession(ctx context.Context, id string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM login_sessions WHERE id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("delete session: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

func (t *tx) DeleteUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	rows, err := t.tx.Query(ctx, `DELETE FROM login_sessions WHERE user_id = $1 AND id <> $2 RETURNING id`, userID, except)
	if err != nil {
		return nil, fmt.Errorf("delete sessions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("delete sessions: %w", err)
	}
	return ids, nil
}

func (t *tx) PutPending(ctx context.Context, p *login.Pending) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_pending (`+pendingCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, amr = excluded.amr, factors = excluded.factors,
			auth_time = excluded.auth_time, stage = excluded.stage, expires = excluded.expires`,
		p.ID, p.BrowserHash, p.AppID, p.MinFactors, p.Force, p.Resume, nullStr(p.UserID), strings.Join(p.AMR, " "), p.Factors,
		tstz(p.AuthTime), p.Stage, p.Created, p.Expires, p.EndsElsewhere)
	if isForeignKey(err) {
		return notFound("User", p.UserID)
	}
	if err != nil {
		return fmt.Errorf("put pending login: %w", err)
	}
	return nil
}

func (t *tx) DeletePending(ctx context.Context, id string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM login_pending WHERE id = $1`, id)
	return err
}

// AccountForUpdate locks the user's login state row, creating it empty if
// needed, so that every login write about one user (its failures from any
// client included) is serialised on it.
func (t *tx) AccountForUpdate(ctx context.Context, userID string) (*login.Account, error) {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_accounts (user_id, must_change, failures) VALUES ($1, false, 0) ON CONFLICT (user_id) DO NOTHING`, userID)
	if isForeignKey(err) {
		return nil, notFound("User", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("lock login state: %w", err)
	}
	return scanAccount(t.tx.QueryRow(ctx, `SELECT `+accountCols+` FROM login_accounts WHERE user_id = $1 FOR UPDATE`, userID), userID)
}

func (t *tx) PutAccount(ctx context.Context, a *login.Account) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_accounts (`+accountCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (user_id) DO UPDATE SET must_change = excluded.must_change, temp_expires = excluded.temp_expires,
			failures = excluded.failures, last_failure = excluded.last_failure, next_attempt = excluded.next_attempt,
			password_changed = excluded.password_changed, factor_failures = excluded.factor_failures`,
		a.UserID, a.MustChange, tstz(a.TempExpires), a.Failures, tstz(a.LastFailure), tstz(a.NextAttempt), tstz(a.PasswordChanged), a.FactorFailures)
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
	var until pgtype.Timestamptz
	err := t.tx.QueryRow(ctx, `SELECT failures, first, locked_until FROM login_locks WHERE user_id = $1 AND client_key = $2 FOR UPDATE`, userID, key).
		Scan(&l.Failures, &l.First, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return &l, nil
	}
	if err != nil {
		return nil, err
	}
	l.First, l.LockedUntil = l.First.UTC(), fromTstz(until)
	return &l, nil
}

func (t *tx) PutLock(ctx context.Context, l *login.Lock) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_locks (user_id, client_key, failures, first, locked_until) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, client_key) DO UPDATE SET failures = excluded.failures, first = excluded.first, locked_until = excluded.locked_until`,
		l.UserID, l.Key, l.Failures, l.First, tstz(l.LockedUntil))
	if isForeignKey(err) {
		return notFound("User", l.UserID)
	}
	if err != nil {
		return fmt.Errorf("put login lock: %w", err)
	}
	return nil
}

func (t *tx) DeleteLocks(ctx context.Context, userID string) (int64, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM login_locks WHERE user_id = $1`, userID)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t *tx) PutDevice(ctx context.Context, d *login.Device, hash []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_devices (id, token_hash, user_id, created, last_used) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET last_used = excluded.last_used`, d.ID, hash, d.UserID, d.Created, d.LastUsed)
	if isForeignKey(err) {
		return notFound("User", d.UserID)
	}
	if err != nil {
		return fmt.Errorf("put device: %w", err)
	}
	return nil
}

func (t *tx) DeleteDevices(ctx context.Context, userID string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM login_devices WHERE user_id = $1`, userID)
	return err
}

func (t *tx) PruneLogin(ctx context.Context, before, devicesBefore time.Time) (int64, error) {
	var total int64
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM login_sessions WHERE expires < $1`, []any{before}},
		{`DELETE FROM console_sessions WHERE expires < $1`, []any{before}},
		{`DELETE FROM console_form_uses WHERE used < $1`, []any{before.Add(-24 * time.Hour)}},
		{`DELETE FROM login_ghosts WHERE until < $1`, []any{before}},
		{`DELETE FROM login_pending WHERE expires < $1`, []any{before}},
		{`DELETE FROM login_locks WHERE first < $1 AND (locked_until IS NULL OR locked_until < $1)`, []any{before}},
		{`DELETE FROM login_devices WHERE last_used < $1`, []any{devicesBefore}},
		{`DELETE FROM login_challenges WHERE expires < $1`, []any{before}},
		{`DELETE FROM login_factors WHERE NOT confirmed AND created < $1`, []any{before}},
	} {
		tag, err := t.tx.Exec(ctx, q.sql, q.args...)
		if err != nil {
			return total, fmt.Errorf("prune login state: %w", err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

// EndSessions ends a user's sessions and revokes her single sign-on
// grants (directory.Tx: a disabled account).
func (t *tx) EndSessions(ctx context.Context, id string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM login_sessions WHERE user_id = $1`, id); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	_, err := t.RevokeUserGrants(ctx, id, at)
	return err
}

// RevokeUserGrants revokes every OpenID Connect grant of a user still in
// force (login.Tx), and returns how many.
func (t *tx) RevokeUserGrants(ctx context.Context, userID string, at time.Time) (int64, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE oidc_grants SET revoked = $1 WHERE user_id = $2 AND revoked IS NULL`, at.UTC(), userID)
	if err != nil {
		return 0, fmt.Errorf("revoke grants: %w", err)
	}
	return tag.RowsAffected(), nil
}

// GhostForUpdate locks and returns the stored limits of a name that is no
// account (nil when there are none): two replicas counting the same name
// take turns.
func (t *tx) GhostForUpdate(ctx context.Context, id string) ([]byte, error) {
	// One statement that makes the row or locks it: a prune between an
	// insert and a SELECT … FOR UPDATE could delete it in between.
	var state string
	err := t.tx.QueryRow(ctx, `INSERT INTO login_ghosts (id, state, until) VALUES ($1, '', now())
		ON CONFLICT (id) DO UPDATE SET id = excluded.id RETURNING state`, id).Scan(&state)
	if err != nil {
		return nil, fmt.Errorf("lock login ghost: %w", err)
	}
	if state == "" {
		return nil, nil
	}
	return []byte(state), nil
}

// PutGhost stores the limits of a name that is no account, to be
// forgotten after until.
func (t *tx) PutGhost(ctx context.Context, id string, state []byte, until time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_ghosts (id, state, until) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, until = excluded.until`, id, string(state), until)
	if err != nil {
		return fmt.Errorf("put login ghost: %w", err)
	}
	return nil
}

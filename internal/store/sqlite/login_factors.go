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

// Second factors (migration 0016): TOTP authenticators and WebAuthn
// credentials, recovery codes, WebAuthn ceremonies in progress.

const factorCols = `id, user_id, kind, name, confirmed, secret, last_step, credential_id, credential, sign_count, created, last_used`

func scanFactor(sc scanner) (*login.Factor, error) {
	var f login.Factor
	var confirmed int
	var cred sql.NullString
	var count int64
	var created string
	var used sql.NullString
	if err := sc.Scan(&f.ID, &f.UserID, &f.Kind, &f.Name, &confirmed, &f.Secret, &f.LastStep, &f.CredentialID, &cred, &count, &created, &used); err != nil {
		return nil, err
	}
	f.Confirmed, f.SignCount = confirmed != 0, uint32(count)
	if cred.Valid {
		f.Credential = []byte(cred.String)
	}
	var err error
	if f.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if f.LastUsed, err = parseOptTime(used); err != nil {
		return nil, err
	}
	return &f, nil
}

func optBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func optText(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// Factors lists a user's second factors, oldest first.
func (s *Store) Factors(ctx context.Context, userID string) ([]*login.Factor, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+factorCols+` FROM login_factors WHERE user_id = ? ORDER BY created, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list factors: %w", err)
	}
	return collect(rows, scanFactor)
}

// RecoveryCodes counts a user's unused recovery codes.
func (s *Store) RecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM login_recovery_codes WHERE user_id = ?`, userID).Scan(&n)
	return n, err
}

func (t *tx) InsertFactor(ctx context.Context, f *login.Factor) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO login_factors (`+factorCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.UserID, f.Kind, f.Name, boolInt(f.Confirmed), optBytes(f.Secret), f.LastStep, optBytes(f.CredentialID), optText(f.Credential),
		int64(f.SignCount), fmtTime(f.Created), optTime(f.LastUsed))
	if isForeignKey(err) {
		return notFound("User", f.UserID)
	}
	if _, ok := isUnique(err); ok {
		return directory.Errorf(directory.ErrConflict, "credential", "this security key is registered already")
	}
	if err != nil {
		return fmt.Errorf("insert factor: %w", err)
	}
	return nil
}

func (t *tx) FactorForUpdate(ctx context.Context, userID, id string) (*login.Factor, error) {
	f, err := scanFactor(t.tx.QueryRowContext(ctx, `SELECT `+factorCols+` FROM login_factors WHERE id = ? AND user_id = ?`, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Factor", id)
	}
	return f, err
}

func (t *tx) UpdateFactor(ctx context.Context, f *login.Factor) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE login_factors SET name = ?, confirmed = ?, secret = ?, credential = ?, last_used = ? WHERE id = ? AND user_id = ?`,
		f.Name, boolInt(f.Confirmed), optBytes(f.Secret), optText(f.Credential), optTime(f.LastUsed), f.ID, f.UserID)
	if err != nil {
		return fmt.Errorf("update factor: %w", err)
	}
	return nil
}

func (t *tx) UseTOTPStep(ctx context.Context, id string, step int64, at time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `UPDATE login_factors SET last_step = ?, last_used = ? WHERE id = ? AND last_step < ?`, step, fmtTime(at), id, step)
	if err != nil {
		return false, fmt.Errorf("use a TOTP code: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *tx) UseSignCount(ctx context.Context, id string, count uint32, credential []byte, at time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `UPDATE login_factors SET sign_count = ?, credential = ?, last_used = ?
		WHERE id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`, int64(count), optText(credential), fmtTime(at), id, int64(count), int64(count))
	if err != nil {
		return false, fmt.Errorf("use a security key: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *tx) DeleteFactor(ctx context.Context, userID, id string) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM login_factors WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return false, fmt.Errorf("delete factor: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (t *tx) DeleteFactors(ctx context.Context, userID string) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM login_factors WHERE user_id = ? AND confirmed = 1`, userID)
	if err != nil {
		return 0, fmt.Errorf("delete factors: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM login_factors WHERE user_id = ?`, userID); err != nil {
		return 0, fmt.Errorf("delete factors: %w", err)
	}
	return int(n), nil
}

func (t *tx) DeleteUnconfirmed(ctx context.Context, userID, kind string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM login_factors WHERE user_id = ? AND kind = ? AND confirmed = 0`, userID, kind); err != nil {
		return fmt.Errorf("delete factors: %w", err)
	}
	return nil
}

func (t *tx) PutRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM login_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	for _, h := range hashes {
		_, err := t.tx.ExecContext(ctx, `INSERT INTO login_recovery_codes (user_id, code_hash, created) VALUES (?, ?, ?)`, userID, h, fmtTime(at))
		if isForeignKey(err) {
			return notFound("User", userID)
		}
		if err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
	}
	return nil
}

func (t *tx) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM login_recovery_codes WHERE user_id = ? AND code_hash = ?`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("use a recovery code: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *tx) DeleteRecoveryCodes(ctx context.Context, userID string) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM login_recovery_codes WHERE user_id = ?`, userID)
	if err != nil {
		return 0, fmt.Errorf("delete recovery codes: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (t *tx) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM login_recovery_codes WHERE user_id = ?`, userID).Scan(&n)
	return n, err
}

func (t *tx) PutChallenge(ctx context.Context, c *login.Challenge) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO login_challenges (binding, user_id, purpose, data, expires) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (binding) DO UPDATE SET user_id = excluded.user_id, purpose = excluded.purpose, data = excluded.data, expires = excluded.expires`,
		c.Binding, c.UserID, c.Purpose, string(c.Data), fmtTime(c.Expires))
	if isForeignKey(err) {
		return notFound("User", c.UserID)
	}
	if err != nil {
		return fmt.Errorf("put challenge: %w", err)
	}
	return nil
}

func (t *tx) TakeChallenge(ctx context.Context, binding string) (*login.Challenge, error) {
	c := login.Challenge{Binding: binding}
	var data, expires string
	err := t.tx.QueryRowContext(ctx, `DELETE FROM login_challenges WHERE binding = ? RETURNING user_id, purpose, data, expires`, binding).
		Scan(&c.UserID, &c.Purpose, &data, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Challenge", "")
	}
	if err != nil {
		return nil, fmt.Errorf("take challenge: %w", err)
	}
	c.Data = []byte(data)
	if c.Expires, err = parseTime(expires); err != nil {
		return nil, err
	}
	return &c, nil
}

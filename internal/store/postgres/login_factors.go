package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// Second factors (migration 0016): TOTP authenticators and WebAuthn
// credentials, recovery codes, WebAuthn ceremonies in progress.

const factorCols = `id, user_id, kind, name, confirmed, secret, last_step, credential_id, credential, sign_count, created, last_used`

func scanFactor(sc scanner) (*login.Factor, error) {
	var f login.Factor
	var cred pgtype.Text
	var count int64
	var used pgtype.Timestamptz
	if err := sc.Scan(&f.ID, &f.UserID, &f.Kind, &f.Name, &f.Confirmed, &f.Secret, &f.LastStep, &f.CredentialID, &cred, &count, &f.Created, &used); err != nil {
		return nil, err
	}
	f.SignCount, f.Created, f.LastUsed = uint32(count), f.Created.UTC(), fromTstz(used)
	if cred.Valid {
		f.Credential = []byte(cred.String)
	}
	return &f, nil
}

func optBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func optText(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// Factors lists a user's second factors, oldest first.
func (s *Store) Factors(ctx context.Context, userID string) ([]*login.Factor, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+factorCols+` FROM login_factors WHERE user_id = $1 ORDER BY created, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list factors: %w", err)
	}
	return collect(rows, scanFactor)
}

// RecoveryCodes counts a user's unused recovery codes.
func (s *Store) RecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM login_recovery_codes WHERE user_id = $1`, userID).Scan(&n)
	return n, err
}

func (t *tx) InsertFactor(ctx context.Context, f *login.Factor) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_factors (`+factorCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		f.ID, f.UserID, f.Kind, f.Name, f.Confirmed, optBytes(f.Secret), f.LastStep, optBytes(f.CredentialID), optText(f.Credential),
		int64(f.SignCount), f.Created, tstz(f.LastUsed))
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
	f, err := scanFactor(t.tx.QueryRow(ctx, `SELECT `+factorCols+` FROM login_factors WHERE id = $1 AND user_id = $2 FOR UPDATE`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Factor", id)
	}
	return f, err
}

func (t *tx) UpdateFactor(ctx context.Context, f *login.Factor) error {
	_, err := t.tx.Exec(ctx, `UPDATE login_factors SET name = $1, confirmed = $2, secret = $3, credential = $4, last_used = $5 WHERE id = $6 AND user_id = $7`,
		f.Name, f.Confirmed, optBytes(f.Secret), optText(f.Credential), tstz(f.LastUsed), f.ID, f.UserID)
	if err != nil {
		return conflict(err, "update factor")
	}
	return nil
}

func (t *tx) UseTOTPStep(ctx context.Context, id string, step int64, at time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE login_factors SET last_step = $1, last_used = $2 WHERE id = $3 AND last_step < $1`, step, at, id)
	if err != nil {
		return false, fmt.Errorf("use a TOTP code: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) UseSignCount(ctx context.Context, id string, count uint32, credential []byte, at time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE login_factors SET sign_count = $1, credential = $2, last_used = $3
		WHERE id = $4 AND (sign_count < $1 OR (sign_count = 0 AND $1 = 0))`, int64(count), optText(credential), at, id)
	if err != nil {
		return false, fmt.Errorf("use a security key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) DeleteFactor(ctx context.Context, userID, id string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM login_factors WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return false, fmt.Errorf("delete factor: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

func (t *tx) DeleteFactors(ctx context.Context, userID string) (int, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM login_factors WHERE user_id = $1 AND confirmed`, userID)
	if err != nil {
		return 0, fmt.Errorf("delete factors: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM login_factors WHERE user_id = $1`, userID); err != nil {
		return 0, fmt.Errorf("delete factors: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) DeleteUnconfirmed(ctx context.Context, userID, kind string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM login_factors WHERE user_id = $1 AND kind = $2 AND NOT confirmed`, userID, kind); err != nil {
		return fmt.Errorf("delete factors: %w", err)
	}
	return nil
}

func (t *tx) PutRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM login_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	if len(hashes) == 0 {
		return nil
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO login_recovery_codes (user_id, code_hash, created) SELECT $1, h, $3 FROM unnest($2::bytea[]) AS h`,
		userID, hashes, at)
	if isForeignKey(err) {
		return notFound("User", userID)
	}
	if err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	return nil
}

func (t *tx) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM login_recovery_codes WHERE user_id = $1 AND code_hash = $2`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("use a recovery code: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) DeleteRecoveryCodes(ctx context.Context, userID string) (int, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM login_recovery_codes WHERE user_id = $1`, userID)
	if err != nil {
		return 0, fmt.Errorf("delete recovery codes: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM login_recovery_codes WHERE user_id = $1`, userID).Scan(&n)
	return n, err
}

func (t *tx) PutChallenge(ctx context.Context, c *login.Challenge) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO login_challenges (binding, user_id, purpose, data, expires) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (binding) DO UPDATE SET user_id = excluded.user_id, purpose = excluded.purpose, data = excluded.data, expires = excluded.expires`,
		c.Binding, c.UserID, c.Purpose, string(c.Data), c.Expires)
	if isForeignKey(err) {
		return notFound("User", c.UserID)
	}
	if err != nil {
		return conflict(err, "put challenge")
	}
	return nil
}

func (t *tx) TakeChallenge(ctx context.Context, binding string) (*login.Challenge, error) {
	c := login.Challenge{Binding: binding}
	var data string
	err := t.tx.QueryRow(ctx, `DELETE FROM login_challenges WHERE binding = $1 RETURNING user_id, purpose, data, expires`, binding).
		Scan(&c.UserID, &c.Purpose, &data, &c.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Challenge", "")
	}
	if err != nil {
		return nil, fmt.Errorf("take challenge: %w", err)
	}
	c.Data, c.Expires = []byte(data), c.Expires.UTC()
	return &c, nil
}

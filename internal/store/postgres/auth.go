package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

var _ auth.Store = (*Store)(nil)

const appCols = `a.id, a.name, a.idaas_fields, a.idempotent, a.target_org_id, a.enabled, a.created, a.modified`

func scanApp(sc scanner) (*auth.App, error) {
	var a auth.App
	if err := sc.Scan(appDest(&a)...); err != nil {
		return nil, err
	}
	fixAppTimes(&a)
	return &a, nil
}

func appDest(a *auth.App) []any {
	return []any{&a.ID, &a.Name, &a.Profile.IDaaSFields, &a.Profile.Idempotent, &a.Profile.TargetOrgID, &a.Enabled, &a.Created, &a.Modified}
}

func fixAppTimes(a *auth.App) { a.Created, a.Modified = a.Created.UTC(), a.Modified.UTC() }

func badTargetOrg(a *auth.App) error {
	return directory.Errorf(directory.ErrInvalid, "targetOrg", "organization %q does not exist", a.Profile.TargetOrgID)
}

// CreateApp stores a new application.
func (s *Store) CreateApp(ctx context.Context, a *auth.App) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO apps (id, name, idaas_fields, idempotent, target_org_id, enabled, created, modified)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.ID, a.Name, a.Profile.IDaaSFields, a.Profile.Idempotent, a.Profile.TargetOrgID, a.Enabled, a.Created, a.Modified)
	if isForeignKey(err) {
		return badTargetOrg(a)
	}
	if err != nil {
		return conflict(err, "create application")
	}
	return nil
}

// UpdateApp stores an application's changed fields.
func (s *Store) UpdateApp(ctx context.Context, a *auth.App) error {
	tag, err := s.pool.Exec(ctx, `UPDATE apps SET name = $1, idaas_fields = $2, idempotent = $3, target_org_id = $4, enabled = $5, modified = $6
		WHERE id = $7`,
		a.Name, a.Profile.IDaaSFields, a.Profile.Idempotent, a.Profile.TargetOrgID, a.Enabled, a.Modified, a.ID)
	if isForeignKey(err) {
		return badTargetOrg(a)
	}
	if err != nil {
		return conflict(err, "update application")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Application", a.ID)
	}
	return nil
}

// DeleteApp deletes an application and its tokens.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM apps WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete application: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Application", id)
	}
	return nil
}

// App returns an application by id.
func (s *Store) App(ctx context.Context, id string) (*auth.App, error) {
	if !storable(id) {
		return nil, notFound("Application", id)
	}
	a, err := scanApp(s.pool.QueryRow(ctx, `SELECT `+appCols+` FROM apps a WHERE a.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Application", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get application: %w", err)
	}
	return a, nil
}

// AppByName returns an application by name.
func (s *Store) AppByName(ctx context.Context, name string) (*auth.App, error) {
	if !storable(name) {
		return nil, notFound("Application", name)
	}
	a, err := scanApp(s.pool.QueryRow(ctx, `SELECT `+appCols+` FROM apps a WHERE a.name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Application", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get application: %w", err)
	}
	return a, nil
}

// Apps lists applications by name.
func (s *Store) Apps(ctx context.Context) ([]*auth.App, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+appCols+` FROM apps a ORDER BY a.name`)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	defer rows.Close()
	var out []*auth.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("list applications: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

const tokenCols = `t.id, t.app_id, t.hint, t.enabled, t.created, t.expires, t.last_used, t.use_count`

func scanToken(sc scanner, extra ...any) (*auth.Token, error) {
	var t auth.Token
	var last pgtype.Timestamptz
	dest := append([]any{&t.ID, &t.AppID, &t.Hint, &t.Enabled, &t.Created, &t.Expires, &last, &t.UseCount}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	t.Created, t.Expires = t.Created.UTC(), t.Expires.UTC()
	if last.Valid {
		t.LastUsed = last.Time.UTC()
	}
	return &t, nil
}

// CreateToken stores a token and the hash of its secret.
func (s *Store) CreateToken(ctx context.Context, t *auth.Token, hash []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO app_tokens (id, app_id, hash, hint, enabled, created, expires, use_count)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0)`,
		t.ID, t.AppID, hash, t.Hint, t.Enabled, t.Created, t.Expires)
	if isForeignKey(err) {
		return notFound("Application", t.AppID)
	}
	if err != nil {
		return conflict(err, "create token")
	}
	return nil
}

// UpdateToken stores a token's enabled flag and expiry.
func (s *Store) UpdateToken(ctx context.Context, t *auth.Token) error {
	tag, err := s.pool.Exec(ctx, `UPDATE app_tokens SET enabled = $1, expires = $2 WHERE id = $3`, t.Enabled, t.Expires, t.ID)
	if err != nil {
		return fmt.Errorf("update token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Token", t.ID)
	}
	return nil
}

// DeleteToken deletes a token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM app_tokens WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Token", id)
	}
	return nil
}

// Tokens lists an application's tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, appID string) ([]*auth.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM app_tokens t WHERE t.app_id = $1 ORDER BY t.created, t.id COLLATE "C"`, appID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TokenByHash finds a token and its application.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*auth.Token, *auth.App, error) {
	var a auth.App
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+`, `+appCols+`
		FROM app_tokens t JOIN apps a ON a.id = t.app_id WHERE t.hash = $1`, hash), appDest(&a)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, notFound("Token", "")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find token: %w", err)
	}
	fixAppTimes(&a)
	return t, &a, nil
}

// RecordTokenUse adds n uses to a token and moves its last use forward
// (GREATEST ignores the NULL of a token never used).
func (s *Store) RecordTokenUse(ctx context.Context, id string, at time.Time, n int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE app_tokens SET use_count = use_count + $1, last_used = GREATEST(last_used, $2) WHERE id = $3`, n, at, id)
	if err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}

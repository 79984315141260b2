package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

const appCols = `id, name, idaas_fields, idempotent, target_org_id, enabled, created, modified`

func scanApp(sc scanner) (*auth.App, error) {
	var a auth.App
	var idaas, idem, enabled int
	var created, modified string
	if err := sc.Scan(&a.ID, &a.Name, &idaas, &idem, &a.Profile.TargetOrgID, &enabled, &created, &modified); err != nil {
		return nil, err
	}
	a.Profile.IDaaSFields, a.Profile.Idempotent, a.Enabled = idaas != 0, idem != 0, enabled != 0
	var err error
	if a.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if a.Modified, err = parseTime(modified); err != nil {
		return nil, err
	}
	return &a, nil
}

// CreateApp stores a new application.
func (s *Store) CreateApp(ctx context.Context, a *auth.App) error {
	_, err := s.writeExec(ctx, `INSERT INTO apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, boolInt(a.Profile.IDaaSFields), boolInt(a.Profile.Idempotent), a.Profile.TargetOrgID, boolInt(a.Enabled), fmtTime(a.Created), fmtTime(a.Modified))
	if isForeignKey(err) {
		return directory.Errorf(directory.ErrInvalid, "targetOrg", "organization %q does not exist", a.Profile.TargetOrgID)
	}
	if err != nil {
		return conflict(err, "create application")
	}
	return nil
}

// UpdateApp stores an application's changed fields.
func (s *Store) UpdateApp(ctx context.Context, a *auth.App) error {
	res, err := s.writeExec(ctx, `UPDATE apps SET name = ?, idaas_fields = ?, idempotent = ?, target_org_id = ?, enabled = ?, modified = ? WHERE id = ?`,
		a.Name, boolInt(a.Profile.IDaaSFields), boolInt(a.Profile.Idempotent), a.Profile.TargetOrgID, boolInt(a.Enabled), fmtTime(a.Modified), a.ID)
	if isForeignKey(err) {
		return directory.Errorf(directory.ErrInvalid, "targetOrg", "organization %q does not exist", a.Profile.TargetOrgID)
	}
	if err != nil {
		return conflict(err, "update application")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Application", a.ID)
	}
	return nil
}

// DeleteApp deletes an application and its tokens.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	res, err := s.writeExec(ctx, `DELETE FROM apps WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete application: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Application", id)
	}
	return nil
}

// App returns an application by id.
func (s *Store) App(ctx context.Context, id string) (*auth.App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Application", id)
	}
	return a, err
}

// AppByName returns an application by name.
func (s *Store) AppByName(ctx context.Context, name string) (*auth.App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Application", name)
	}
	return a, err
}

// Apps lists applications by name.
func (s *Store) Apps(ctx context.Context) ([]*auth.App, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appCols+` FROM apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	defer rows.Close()
	var out []*auth.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

const tokenCols = `t.id, t.app_id, t.hint, t.enabled, t.created, t.expires, t.last_used, t.use_count`

func scanToken(sc scanner, extra ...any) (*auth.Token, error) {
	var t auth.Token
	var enabled int
	var created, expires string
	var last sql.NullString
	dest := append([]any{&t.ID, &t.AppID, &t.Hint, &enabled, &created, &expires, &last, &t.UseCount}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	t.Enabled = enabled != 0
	var err error
	if t.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if t.Expires, err = parseTime(expires); err != nil {
		return nil, err
	}
	if last.Valid {
		if t.LastUsed, err = parseTime(last.String); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// CreateToken stores a token and the hash of its secret.
func (s *Store) CreateToken(ctx context.Context, t *auth.Token, hash []byte) error {
	_, err := s.writeExec(ctx, `INSERT INTO app_tokens (id, app_id, hash, hint, enabled, created, expires, use_count) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
		t.ID, t.AppID, hash, t.Hint, boolInt(t.Enabled), fmtTime(t.Created), fmtTime(t.Expires))
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
	res, err := s.writeExec(ctx, `UPDATE app_tokens SET enabled = ?, expires = ? WHERE id = ?`, boolInt(t.Enabled), fmtTime(t.Expires), t.ID)
	if err != nil {
		return fmt.Errorf("update token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Token", t.ID)
	}
	return nil
}

// DeleteToken deletes a token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	res, err := s.writeExec(ctx, `DELETE FROM app_tokens WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Token", id)
	}
	return nil
}

// Tokens lists an application's tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, appID string) ([]*auth.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM app_tokens t WHERE t.app_id = ? ORDER BY t.created, t.id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TokenByHash finds a token and its application.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*auth.Token, *auth.App, error) {
	var a auth.App
	var idaas, idem, enabled int
	var created, modified string
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+`, a.id, a.name, a.idaas_fields, a.idempotent, a.target_org_id, a.enabled, a.created, a.modified
		FROM app_tokens t JOIN apps a ON a.id = t.app_id WHERE t.hash = ?`, hash),
		&a.ID, &a.Name, &idaas, &idem, &a.Profile.TargetOrgID, &enabled, &created, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound("Token", "")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find token: %w", err)
	}
	a.Profile.IDaaSFields, a.Profile.Idempotent, a.Enabled = idaas != 0, idem != 0, enabled != 0
	if a.Created, err = parseTime(created); err != nil {
		return nil, nil, err
	}
	if a.Modified, err = parseTime(modified); err != nil {
		return nil, nil, err
	}
	return t, &a, nil
}

// RecordTokenUse adds n uses to a token.
func (s *Store) RecordTokenUse(ctx context.Context, id string, at time.Time, n int64) error {
	_, err := s.writeExec(ctx, `UPDATE app_tokens SET use_count = use_count + ?, last_used = max(COALESCE(last_used, ''), ?) WHERE id = ?`, n, fmtTime(at), id)
	if err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}

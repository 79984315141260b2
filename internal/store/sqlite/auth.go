package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

var (
	_ auth.Store = (*Store)(nil)
	_ auth.Tx    = (*tx)(nil)
)

const appCols = `a.id, a.name, a.kind, a.scopes, a.idaas_fields, a.idempotent, a.target_org_id, a.sync_orgs, a.sync_groups, a.extension_urn, a.enabled, a.created, a.modified, a.drop_extra_values,
	a.allowed_groups, a.allow_everyone, a.require_sso, a.min_factors, a.sso`

// appDest collects the columns of appCols; finish converts them.
type appDest struct {
	a                    auth.App
	kind, scopes         string
	idaas, idem, enabled int
	dropExtra            int
	syncOrgs, syncGroups string
	allowed              string
	everyone, requireSSO int
	sso                  sql.NullString
	ext                  sql.NullString
	created, modified    string
}

func (d *appDest) dest() []any {
	return []any{&d.a.ID, &d.a.Name, &d.kind, &d.scopes, &d.idaas, &d.idem, &d.a.Profile.TargetOrgID,
		&d.syncOrgs, &d.syncGroups, &d.ext, &d.enabled, &d.created, &d.modified, &d.dropExtra,
		&d.allowed, &d.everyone, &d.requireSSO, &d.a.Access.MinFactors, &d.sso}
}

func (d *appDest) finish() (*auth.App, error) {
	a := d.a
	a.Kind = auth.Kind(d.kind)
	a.Scopes = auth.Scopes(strings.Fields(d.scopes))
	a.Profile.IDaaSFields, a.Profile.Idempotent, a.Enabled = d.idaas != 0, d.idem != 0, d.enabled != 0
	a.Profile.DropExtraValues = d.dropExtra != 0
	a.ExtensionURN = d.ext.String
	if err := json.Unmarshal([]byte(d.syncOrgs), &a.Profile.Scope.OrgIDs); err != nil {
		return nil, fmt.Errorf("application %s: bad sync_orgs: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(d.syncGroups), &a.Profile.Scope.GroupIDs); err != nil {
		return nil, fmt.Errorf("application %s: bad sync_groups: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(d.allowed), &a.Access.AllowedGroups); err != nil {
		return nil, fmt.Errorf("application %s: bad allowed_groups: %w", a.ID, err)
	}
	if len(a.Access.AllowedGroups) == 0 {
		a.Access.AllowedGroups = nil
	}
	a.Access.Everyone, a.Access.RequireSSO = d.everyone != 0, d.requireSSO != 0
	if d.sso.Valid {
		a.SSO = json.RawMessage(d.sso.String)
	}
	var err error
	if a.Created, err = parseTime(d.created); err != nil {
		return nil, err
	}
	if a.Modified, err = parseTime(d.modified); err != nil {
		return nil, err
	}
	return &a, nil
}

func scanApp(sc scanner) (*auth.App, error) {
	var d appDest
	if err := sc.Scan(d.dest()...); err != nil {
		return nil, err
	}
	return d.finish()
}

// jsonIDs renders a list of ids for a TEXT column ("[]" when empty).
func jsonIDs(ids []string) string {
	if len(ids) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ids) // strings cannot fail to marshal
	return string(b)
}

func appArgs(a *auth.App) []any {
	return []any{a.Name, string(a.Kind), a.Scopes.String(), boolInt(a.Profile.IDaaSFields), boolInt(a.Profile.Idempotent),
		a.Profile.TargetOrgID, jsonIDs(a.Profile.Scope.OrgIDs), jsonIDs(a.Profile.Scope.GroupIDs), nullStr(a.ExtensionURN),
		boolInt(a.Enabled), fmtTime(a.Modified), boolInt(a.Profile.DropExtraValues),
		jsonIDs(a.Access.AllowedGroups), boolInt(a.Access.Everyone), boolInt(a.Access.RequireSSO), a.Access.MinFactors, nullStr(string(a.SSO))}
}

// ---- reads

// App returns an application by id.
func (s *Store) App(ctx context.Context, id string) (*auth.App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps a WHERE a.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Application", id)
	}
	return a, err
}

// AppByName returns an application by name.
func (s *Store) AppByName(ctx context.Context, name string) (*auth.App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps a WHERE a.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Application", name)
	}
	return a, err
}

// Apps lists applications by name.
func (s *Store) Apps(ctx context.Context) ([]*auth.App, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appCols+` FROM apps a ORDER BY a.name`)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	return collect(rows, scanApp)
}

func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

const tokenCols = `t.id, t.app_id, t.hash, t.hint, t.enabled, t.created, t.expires, t.last_used, t.use_count`

func scanToken(sc scanner, extra ...any) (*auth.Token, error) {
	var t auth.Token
	var enabled int
	var created, expires string
	var last sql.NullString
	dest := append([]any{&t.ID, &t.AppID, &t.Hash, &t.Hint, &enabled, &created, &expires, &last, &t.UseCount}, extra...)
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

func scanTokenRow(sc scanner) (*auth.Token, error) { return scanToken(sc) }

// Tokens lists an application's tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, appID string) ([]*auth.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM app_tokens t WHERE t.app_id = ? ORDER BY t.created, t.id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return collect(rows, scanTokenRow)
}

// TokenByHash finds a token and its application.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*auth.Token, *auth.App, error) {
	ctx, err := pointRead(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("find token: %w", err)
	}
	var d appDest
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+`, `+appCols+`
		FROM app_tokens t JOIN apps a ON a.id = t.app_id WHERE t.hash = ?`, hash), d.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound("Token", "")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find token: %w", err)
	}
	a, err := d.finish()
	if err != nil {
		return nil, nil, err
	}
	return t, a, nil
}

const secretCols = `c.id, c.app_id, c.hash, c.hint, c.enabled, c.created, c.last_used, c.use_count`

func scanSecret(sc scanner) (*auth.Secret, error) {
	var c auth.Secret
	var enabled int
	var created string
	var last sql.NullString
	if err := sc.Scan(&c.ID, &c.AppID, &c.Hash, &c.Hint, &enabled, &created, &last, &c.UseCount); err != nil {
		return nil, err
	}
	c.Enabled = enabled != 0
	var err error
	if c.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if last.Valid {
		if c.LastUsed, err = parseTime(last.String); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// Secrets lists an application's client secrets, oldest first.
func (s *Store) Secrets(ctx context.Context, appID string) ([]*auth.Secret, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+secretCols+` FROM app_secrets c WHERE c.app_id = ? ORDER BY c.created, c.id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return collect(rows, scanSecret)
}

// Secret returns a client secret by id.
func (s *Store) Secret(ctx context.Context, id string) (*auth.Secret, error) {
	c, err := scanSecret(s.r.QueryRowContext(ctx, `SELECT `+secretCols+` FROM app_secrets c WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Secret", id)
	}
	return c, err
}

func scanKey(sc scanner) (*auth.SigningKey, error) {
	var k auth.SigningKey
	var pemText, created string
	var retired sql.NullString
	if err := sc.Scan(&k.ID, &k.Algorithm, &pemText, &created, &retired); err != nil {
		return nil, err
	}
	k.PrivatePEM = []byte(pemText)
	var err error
	if k.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if retired.Valid {
		if k.Retired, err = parseTime(retired.String); err != nil {
			return nil, err
		}
	}
	return &k, nil
}

// SigningKeys lists the signing keys, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]*auth.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, alg, private_pem, created, retired FROM signing_keys ORDER BY created DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return collect(rows, scanKey)
}

// AppStats returns an application's request statistics (zero when it has
// made no request yet).
func (s *Store) AppStats(ctx context.Context, appID string) (*auth.Stats, error) {
	st := &auth.Stats{ByReason: map[string]int64{}}
	var byReason string
	var lastErr, lastAt sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT requests, failures, by_reason, last_error, last_at FROM app_stats WHERE app_id = ?`, appID).
		Scan(&st.Requests, &st.Failures, &byReason, &lastErr, &lastAt)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("application statistics: %w", err)
	}
	if err := json.Unmarshal([]byte(byReason), &st.ByReason); err != nil {
		return nil, fmt.Errorf("application statistics: %w", err)
	}
	st.LastError = lastErr.String
	if lastAt.Valid {
		if st.LastAt, err = parseTime(lastAt.String); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// credVersionTTL is how long a read of the credentials version is reused.
// Another process's change (the CLI disabling a token) is seen at most this
// late; this process's own changes at once. Under load it turns a query per
// request into one per millisecond.
const credVersionTTL = time.Millisecond

type credStamp struct {
	version int64
	at      time.Time // monotonic
}

// CredentialsVersion reads the credentials version, which every auth write
// (from any process) bumps.
func (s *Store) CredentialsVersion(ctx context.Context) (int64, error) {
	c := s.cred.Load()
	if c != nil && time.Since(c.at) < credVersionTTL {
		return c.version, nil
	}
	// One caller reads; the others meanwhile keep the value it replaces
	// (at most a read's duration older), instead of all reading at once.
	if c != nil && !s.credReading.CompareAndSwap(false, true) {
		return c.version, nil
	}
	if c != nil {
		defer s.credReading.Store(false)
	}
	ctx, err := pointRead(ctx)
	if err != nil {
		return 0, fmt.Errorf("credentials version: %w", err)
	}
	at := time.Now()
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM cred_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("credentials version: %w", err)
	}
	s.cred.Store(&credStamp{version: v, at: at})
	return v, nil
}

// ---- writes

// WriteAuth runs fn as one atomic write that also bumps the credentials
// version, so that every process drops what it remembered.
func (s *Store) WriteAuth(ctx context.Context, fn func(auth.Tx) error) error {
	err := s.submit(ctx, func(t *tx) error {
		if err := fn(t); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(ctx, `UPDATE cred_version SET version = version + 1 WHERE id = 1`)
		return err
	})
	s.cred.Store(nil) // read it again: this process sees its own change at once
	return err
}

// RecordUse adds use counts and request statistics. It does not bump the
// credentials version: usage is not a credential change.
func (s *Store) RecordUse(ctx context.Context, u *auth.Usage) error {
	return s.submit(ctx, func(t *tx) error {
		for id, use := range u.Tokens {
			if _, err := t.tx.ExecContext(ctx, `UPDATE app_tokens SET use_count = use_count + ?, last_used = max(COALESCE(last_used, ''), ?) WHERE id = ?`,
				use.N, fmtTime(use.Last), id); err != nil {
				return fmt.Errorf("record token use: %w", err)
			}
		}
		for id, use := range u.Secrets {
			if _, err := t.tx.ExecContext(ctx, `UPDATE app_secrets SET use_count = use_count + ?, last_used = max(COALESCE(last_used, ''), ?) WHERE id = ?`,
				use.N, fmtTime(use.Last), id); err != nil {
				return fmt.Errorf("record secret use: %w", err)
			}
		}
		for appID, add := range u.Apps {
			if err := t.addStats(ctx, appID, add); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *tx) addStats(ctx context.Context, appID string, add *auth.Stats) error {
	cur := &auth.Stats{ByReason: map[string]int64{}}
	var byReason string
	var lastErr, lastAt sql.NullString
	err := t.tx.QueryRowContext(ctx, `SELECT requests, failures, by_reason, last_error, last_at FROM app_stats WHERE app_id = ?`, appID).
		Scan(&cur.Requests, &cur.Failures, &byReason, &lastErr, &lastAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("record statistics: %w", err)
	default:
		if err := json.Unmarshal([]byte(byReason), &cur.ByReason); err != nil {
			return fmt.Errorf("record statistics: %w", err)
		}
		cur.LastError = lastErr.String
		if lastAt.Valid {
			cur.LastAt, _ = parseTime(lastAt.String)
		}
	}
	auth.MergeStats(cur, add)
	reasons, _ := json.Marshal(cur.ByReason)
	var at any
	if !cur.LastAt.IsZero() {
		at = fmtTime(cur.LastAt)
	}
	// An application deleted since the requests were counted is skipped.
	_, err = t.tx.ExecContext(ctx, `INSERT INTO app_stats (app_id, requests, failures, by_reason, last_error, last_at)
		SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM apps WHERE id = ?)
		ON CONFLICT (app_id) DO UPDATE SET requests = excluded.requests, failures = excluded.failures,
			by_reason = excluded.by_reason, last_error = excluded.last_error, last_at = excluded.last_at`,
		appID, cur.Requests, cur.Failures, string(reasons), nullStr(cur.LastError), at, appID)
	if err != nil {
		return fmt.Errorf("record statistics: %w", err)
	}
	return nil
}

func (t *tx) InsertApp(ctx context.Context, a *auth.App) error {
	args := append([]any{a.ID}, appArgs(a)...)
	args = append(args, fmtTime(a.Created))
	_, err := t.tx.ExecContext(ctx, `INSERT INTO apps (id, name, kind, scopes, idaas_fields, idempotent, target_org_id, sync_orgs, sync_groups, extension_urn, enabled, modified,
			drop_extra_values, allowed_groups, allow_everyone, require_sso, min_factors, sso, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if isForeignKey(err) {
		return directory.Errorf(directory.ErrInvalid, "targetOrg", "organization %q does not exist", a.Profile.TargetOrgID)
	}
	if err != nil {
		return conflict(err, "create application")
	}
	return nil
}

func (t *tx) UpdateApp(ctx context.Context, a *auth.App) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE apps SET name = ?, kind = ?, scopes = ?, idaas_fields = ?, idempotent = ?, target_org_id = ?,
		sync_orgs = ?, sync_groups = ?, extension_urn = ?, enabled = ?, modified = ?, drop_extra_values = ?,
		allowed_groups = ?, allow_everyone = ?, require_sso = ?, min_factors = ?, sso = ? WHERE id = ?`, append(appArgs(a), a.ID)...)
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

func (t *tx) DeleteApp(ctx context.Context, id string) error {
	return t.deleteRow(ctx, "apps", "Application", id)
}

func (t *tx) deleteRow(ctx context.Context, table, what, id string) error {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete %s: %w", strings.ToLower(what), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(what, id)
	}
	return nil
}

// AppForUpdate reads an application inside the write (SQLite's single
// writer already serializes it with every other write).
func (t *tx) AppForUpdate(ctx context.Context, id string) (*auth.App, error) {
	a, err := scanApp(t.tx.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps a WHERE a.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Application", id)
	}
	return a, err
}

func (t *tx) TokensForUpdate(ctx context.Context, appID string) ([]*auth.Token, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+tokenCols+` FROM app_tokens t WHERE t.app_id = ? ORDER BY t.created, t.id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return collect(rows, scanTokenRow)
}

func (t *tx) InsertToken(ctx context.Context, tok *auth.Token, hash []byte) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO app_tokens (id, app_id, hash, hint, enabled, created, expires, use_count) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
		tok.ID, tok.AppID, hash, tok.Hint, boolInt(tok.Enabled), fmtTime(tok.Created), fmtTime(tok.Expires))
	if isForeignKey(err) {
		return notFound("Application", tok.AppID)
	}
	if err != nil {
		return conflict(err, "create token")
	}
	return nil
}

func (t *tx) UpdateToken(ctx context.Context, tok *auth.Token) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE app_tokens SET enabled = ?, expires = ? WHERE id = ?`, boolInt(tok.Enabled), fmtTime(tok.Expires), tok.ID)
	if err != nil {
		return fmt.Errorf("update token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Token", tok.ID)
	}
	return nil
}

func (t *tx) DeleteToken(ctx context.Context, id string) error {
	return t.deleteRow(ctx, "app_tokens", "Token", id)
}

func (t *tx) SecretsForUpdate(ctx context.Context, appID string) ([]*auth.Secret, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+secretCols+` FROM app_secrets c WHERE c.app_id = ? ORDER BY c.created, c.id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return collect(rows, scanSecret)
}

func (t *tx) InsertSecret(ctx context.Context, c *auth.Secret, hash []byte) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO app_secrets (id, app_id, hash, hint, enabled, created, use_count) VALUES (?, ?, ?, ?, ?, ?, 0)`,
		c.ID, c.AppID, hash, c.Hint, boolInt(c.Enabled), fmtTime(c.Created))
	if isForeignKey(err) {
		return notFound("Application", c.AppID)
	}
	if err != nil {
		return conflict(err, "create secret")
	}
	return nil
}

func (t *tx) UpdateSecret(ctx context.Context, c *auth.Secret) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE app_secrets SET enabled = ? WHERE id = ?`, boolInt(c.Enabled), c.ID)
	if err != nil {
		return fmt.Errorf("update secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Secret", c.ID)
	}
	return nil
}

func (t *tx) DeleteSecret(ctx context.Context, id string) error {
	return t.deleteRow(ctx, "app_secrets", "Secret", id)
}

func (t *tx) InsertSigningKey(ctx context.Context, k *auth.SigningKey) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO signing_keys (id, alg, private_pem, created) VALUES (?, ?, ?, ?)`,
		k.ID, k.Algorithm, string(k.PrivatePEM), fmtTime(k.Created))
	if err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	return nil
}

func (t *tx) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE signing_keys SET retired = ? WHERE id = ? AND retired IS NULL`, fmtTime(at), id)
	if err != nil {
		return fmt.Errorf("retire signing key: %w", err)
	}
	return nil
}

func (t *tx) DeleteSigningKey(ctx context.Context, id string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete signing key: %w", err)
	}
	return nil
}

func (t *tx) GroupExists(ctx context.Context, id string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM groups WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

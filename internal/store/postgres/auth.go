package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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
	a            auth.App
	kind, scopes string
	ext          pgtype.Text
	sso          []byte
}

func (d *appDest) dest() []any {
	return []any{&d.a.ID, &d.a.Name, &d.kind, &d.scopes, &d.a.Profile.IDaaSFields, &d.a.Profile.Idempotent, &d.a.Profile.TargetOrgID,
		&d.a.Profile.Scope.OrgIDs, &d.a.Profile.Scope.GroupIDs, &d.ext, &d.a.Enabled, &d.a.Created, &d.a.Modified, &d.a.Profile.DropExtraValues,
		&d.a.Access.AllowedGroups, &d.a.Access.Everyone, &d.a.Access.RequireSSO, &d.a.Access.MinFactors, &d.sso}
}

func (d *appDest) finish() *auth.App {
	a := d.a
	a.Kind = auth.Kind(d.kind)
	a.Scopes = auth.Scopes(strings.Fields(d.scopes))
	a.ExtensionURN = d.ext.String
	a.Created, a.Modified = a.Created.UTC(), a.Modified.UTC()
	if len(a.Access.AllowedGroups) == 0 {
		a.Access.AllowedGroups = nil
	}
	if d.sso != nil {
		a.SSO = json.RawMessage(d.sso)
	}
	return &a
}

func scanApp(sc scanner) (*auth.App, error) {
	var d appDest
	if err := sc.Scan(d.dest()...); err != nil {
		return nil, err
	}
	return d.finish(), nil
}

// ids is a list of ids for a text[] NOT NULL column: pgx sends a nil slice
// as NULL.
func ids(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// appArgs are the values of the columns InsertApp and UpdateApp write:
// every column but id and created.
func appArgs(a *auth.App) []any {
	return []any{a.Name, string(a.Kind), a.Scopes.String(), a.Profile.IDaaSFields, a.Profile.Idempotent, a.Profile.TargetOrgID,
		ids(a.Profile.Scope.OrgIDs), ids(a.Profile.Scope.GroupIDs), nullStr(a.ExtensionURN), a.Enabled, a.Modified, a.Profile.DropExtraValues,
		ids(a.Access.AllowedGroups), a.Access.Everyone, a.Access.RequireSSO, a.Access.MinFactors, nullJSON(a.SSO)}
}

// nullJSON is a JSON document for a jsonb column, NULL when absent.
func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func badTargetOrg(a *auth.App) error {
	return directory.Errorf(directory.ErrInvalid, "targetOrg", "organization %q does not exist", a.Profile.TargetOrgID)
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, scan func(scanner) (T, error)) ([]T, error) {
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

// ---- reads

// App returns an application by id.
func (s *Store) App(ctx context.Context, id string) (*auth.App, error) {
	return getApp(ctx, s.pool, id, false)
}

func getApp(ctx context.Context, q querier, id string, forUpdate bool) (*auth.App, error) {
	if !storable(id) {
		return nil, notFound("Application", id)
	}
	query := `SELECT ` + appCols + ` FROM apps a WHERE a.id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	a, err := scanApp(q.QueryRow(ctx, query, id))
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
	out, err := collect(rows, scanApp)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	return out, nil
}

const tokenCols = `t.id, t.app_id, t.hash, t.hint, t.enabled, t.created, t.expires, t.last_used, t.use_count`

func scanToken(sc scanner, extra ...any) (*auth.Token, error) {
	var t auth.Token
	var last pgtype.Timestamptz
	dest := append([]any{&t.ID, &t.AppID, &t.Hash, &t.Hint, &t.Enabled, &t.Created, &t.Expires, &last, &t.UseCount}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	t.Created, t.Expires = t.Created.UTC(), t.Expires.UTC()
	if last.Valid {
		t.LastUsed = last.Time.UTC()
	}
	return &t, nil
}

func scanTokenRow(sc scanner) (*auth.Token, error) { return scanToken(sc) }

// Tokens lists an application's tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, appID string) ([]*auth.Token, error) {
	return listTokens(ctx, s.pool, appID, false)
}

func listTokens(ctx context.Context, q querier, appID string, forUpdate bool) ([]*auth.Token, error) {
	if !storable(appID) {
		return nil, nil
	}
	query := `SELECT ` + tokenCols + ` FROM app_tokens t WHERE t.app_id = $1 ORDER BY t.created, t.id COLLATE "C"`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, query, appID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out, err := collect(rows, scanTokenRow)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// TokenByHash finds a token and its application.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*auth.Token, *auth.App, error) {
	var d appDest
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+`, `+appCols+`
		FROM app_tokens t JOIN apps a ON a.id = t.app_id WHERE t.hash = $1`, hash), d.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, notFound("Token", "")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find token: %w", err)
	}
	return t, d.finish(), nil
}

const secretCols = `c.id, c.app_id, c.hash, c.hint, c.enabled, c.created, c.last_used, c.use_count`

func scanSecret(sc scanner) (*auth.Secret, error) {
	var c auth.Secret
	var last pgtype.Timestamptz
	if err := sc.Scan(&c.ID, &c.AppID, &c.Hash, &c.Hint, &c.Enabled, &c.Created, &last, &c.UseCount); err != nil {
		return nil, err
	}
	c.Created = c.Created.UTC()
	if last.Valid {
		c.LastUsed = last.Time.UTC()
	}
	return &c, nil
}

// Secrets lists an application's client secrets, oldest first.
func (s *Store) Secrets(ctx context.Context, appID string) ([]*auth.Secret, error) {
	return listSecrets(ctx, s.pool, appID, false)
}

func listSecrets(ctx context.Context, q querier, appID string, forUpdate bool) ([]*auth.Secret, error) {
	if !storable(appID) {
		return nil, nil
	}
	query := `SELECT ` + secretCols + ` FROM app_secrets c WHERE c.app_id = $1 ORDER BY c.created, c.id COLLATE "C"`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, query, appID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	out, err := collect(rows, scanSecret)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return out, nil
}

// Secret returns a client secret by id.
func (s *Store) Secret(ctx context.Context, id string) (*auth.Secret, error) {
	if !storable(id) {
		return nil, notFound("Secret", id)
	}
	c, err := scanSecret(s.pool.QueryRow(ctx, `SELECT `+secretCols+` FROM app_secrets c WHERE c.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Secret", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get secret: %w", err)
	}
	return c, nil
}

func scanKey(sc scanner) (*auth.SigningKey, error) {
	var k auth.SigningKey
	var pemText string
	var retired pgtype.Timestamptz
	if err := sc.Scan(&k.ID, &k.Algorithm, &pemText, &k.Created, &retired); err != nil {
		return nil, err
	}
	k.PrivatePEM = []byte(pemText)
	k.Created = k.Created.UTC()
	if retired.Valid {
		k.Retired = retired.Time.UTC()
	}
	return &k, nil
}

// SigningKeys lists the signing keys, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]*auth.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, alg, private_pem, created, retired FROM signing_keys ORDER BY created DESC, id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	out, err := collect(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return out, nil
}

// readStats reads an application's statistics; found is false when it has
// none yet.
func readStats(ctx context.Context, q querier, appID string, forUpdate bool) (st *auth.Stats, found bool, err error) {
	st = &auth.Stats{ByReason: map[string]int64{}}
	var byReason []byte
	var lastErr pgtype.Text
	var lastAt pgtype.Timestamptz
	query := `SELECT requests, failures, by_reason, last_error, last_at FROM app_stats WHERE app_id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	err = q.QueryRow(ctx, query, appID).Scan(&st.Requests, &st.Failures, &byReason, &lastErr, &lastAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(byReason, &st.ByReason); err != nil {
		return nil, false, err
	}
	st.LastError = lastErr.String
	if lastAt.Valid {
		st.LastAt = lastAt.Time.UTC()
	}
	return st, true, nil
}

// AppStats returns an application's request statistics (zero when it has
// made no request yet).
func (s *Store) AppStats(ctx context.Context, appID string) (*auth.Stats, error) {
	if !storable(appID) {
		return &auth.Stats{ByReason: map[string]int64{}}, nil
	}
	st, _, err := readStats(ctx, s.pool, appID, false)
	if err != nil {
		return nil, fmt.Errorf("application statistics: %w", err)
	}
	return st, nil
}

// CredentialsVersion returns the credentials version, which every auth
// write (from any process) bumps. While the credentials listener listens it
// answers from memory; otherwise it reads the table.
func (s *Store) CredentialsVersion(ctx context.Context) (int64, error) {
	if s.creds.live.Load() {
		return s.creds.version.Load(), nil
	}
	return readCredVersion(ctx, s.pool)
}

// ---- writes

// WriteAuth runs fn as one transaction (retried as write retries) that also
// bumps the credentials version and notifies the other processes' listeners,
// which hear it once the transaction commits. This process's version moves
// at once.
func (s *Store) WriteAuth(ctx context.Context, fn func(auth.Tx) error) error {
	var version int64
	err := s.write(ctx, func(t *tx) error {
		if err := fn(t); err != nil {
			return err
		}
		// Last: the row lock on cred_version queues concurrent auth writes
		// only for the end of their transactions.
		if err := t.tx.QueryRow(ctx, `UPDATE cred_version SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&version); err != nil {
			return fmt.Errorf("bump credentials version: %w", err)
		}
		if _, err := t.tx.Exec(ctx, `SELECT pg_notify($1, $2)`, credChannel, strconv.FormatInt(version, 10)); err != nil {
			return fmt.Errorf("notify credentials change: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.creds.raise(version)
	return nil
}

// RecordUse adds use counts and request statistics, in one transaction. It
// does not bump the credentials version: usage is not a credential change.
// Counts are added in SQL and statistics merged under the row's lock, so
// that processes flushing at once add up instead of overwriting each other.
//
// Statistics come first: adding an application's first statistics waits
// for a transaction that holds the application (creating a token, say)
// before this one holds any of its credentials, which that transaction may
// lock next. A deadlock left (with a concurrent DeleteApp) is retried.
func (s *Store) RecordUse(ctx context.Context, u *auth.Usage) error {
	return s.write(ctx, func(t *tx) error {
		apps := make([]string, 0, len(u.Apps))
		for id := range u.Apps {
			apps = append(apps, id)
		}
		slices.Sort(apps) // one lock order for every process
		for _, id := range apps {
			if err := t.addStats(ctx, id, u.Apps[id]); err != nil {
				return fmt.Errorf("record statistics: %w", err)
			}
		}
		if err := t.addUses(ctx, "app_tokens", u.Tokens); err != nil {
			return fmt.Errorf("record token use: %w", err)
		}
		if err := t.addUses(ctx, "app_secrets", u.Secrets); err != nil {
			return fmt.Errorf("record secret use: %w", err)
		}
		return nil
	})
}

// addUses adds uses to the credentials of table (app_tokens or app_secrets)
// in one statement; credentials deleted meanwhile are skipped.
// GREATEST ignores the NULL of a credential never used before.
func (t *tx) addUses(ctx context.Context, table string, uses map[string]auth.Use) error {
	if len(uses) == 0 {
		return nil
	}
	keys := make([]string, 0, len(uses))
	for id := range uses {
		if storable(id) {
			keys = append(keys, id)
		}
	}
	slices.Sort(keys) // one lock order for every process
	ns := make([]int64, len(keys))
	lasts := make([]pgtype.Timestamptz, len(keys))
	for i, id := range keys {
		use := uses[id]
		ns[i] = use.N
		lasts[i] = pgtype.Timestamptz{Time: use.Last, Valid: !use.Last.IsZero()}
	}
	_, err := t.tx.Exec(ctx, `UPDATE `+table+` c SET use_count = c.use_count + u.n, last_used = GREATEST(c.last_used, u.last)
		FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS u (id, n, last) WHERE c.id = u.id`, keys, ns, lasts)
	return err
}

// addStats merges add into an application's statistics with
// auth.MergeStats, under the row's lock. An application deleted since the
// requests were counted is skipped.
func (t *tx) addStats(ctx context.Context, appID string, add *auth.Stats) error {
	if !storable(appID) {
		return nil
	}
	// Make sure the row exists, to have something to lock.
	_, err := t.tx.Exec(ctx, `INSERT INTO app_stats (app_id, requests, failures, by_reason)
		SELECT $1, 0, 0, '{}' WHERE EXISTS (SELECT 1 FROM apps WHERE id = $1) ON CONFLICT (app_id) DO NOTHING`, appID)
	if isForeignKey(err) {
		// The application was deleted after the EXISTS looked: run again,
		// which skips it.
		return fmt.Errorf("%w: %w", errConcurrentChange, err)
	}
	if err != nil {
		return err
	}
	cur, found, err := readStats(ctx, t.tx, appID, true)
	if err != nil || !found {
		return err
	}
	auth.MergeStats(cur, add)
	reasons, err := json.Marshal(cur.ByReason)
	if err != nil {
		return err
	}
	lastAt := pgtype.Timestamptz{Time: cur.LastAt, Valid: !cur.LastAt.IsZero()}
	_, err = t.tx.Exec(ctx, `UPDATE app_stats SET requests = $1, failures = $2, by_reason = $3, last_error = $4, last_at = $5 WHERE app_id = $6`,
		cur.Requests, cur.Failures, string(reasons), nullStr(cur.LastError), lastAt, appID)
	return err
}

func (t *tx) InsertApp(ctx context.Context, a *auth.App) error {
	args := append([]any{a.ID}, appArgs(a)...)
	args = append(args, a.Created)
	_, err := t.tx.Exec(ctx, `INSERT INTO apps (id, name, kind, scopes, idaas_fields, idempotent, target_org_id, sync_orgs, sync_groups,
			extension_urn, enabled, modified, drop_extra_values, allowed_groups, allow_everyone, require_sso, min_factors, sso, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`, args...)
	if isForeignKey(err) {
		return badTargetOrg(a)
	}
	if err != nil {
		return conflict(err, "create application")
	}
	return nil
}

func (t *tx) UpdateApp(ctx context.Context, a *auth.App) error {
	tag, err := t.tx.Exec(ctx, `UPDATE apps SET name = $1, kind = $2, scopes = $3, idaas_fields = $4, idempotent = $5, target_org_id = $6,
			sync_orgs = $7, sync_groups = $8, extension_urn = $9, enabled = $10, modified = $11, drop_extra_values = $12,
			allowed_groups = $13, allow_everyone = $14, require_sso = $15, min_factors = $16, sso = $17
		WHERE id = $18`, append(appArgs(a), a.ID)...)
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

// DeleteApp deletes an application with its tokens, secrets and statistics.
func (t *tx) DeleteApp(ctx context.Context, id string) error {
	return t.deleteRow(ctx, "apps", "Application", id)
}

func (t *tx) deleteRow(ctx context.Context, table, what, id string) error {
	if !storable(id) {
		return notFound(what, id)
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete %s: %w", strings.ToLower(what), err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(what, id)
	}
	return nil
}

// AppForUpdate reads an application and locks it until the transaction
// ends.
func (t *tx) AppForUpdate(ctx context.Context, id string) (*auth.App, error) {
	return getApp(ctx, t.tx, id, true)
}

// lockApp locks an application's row (if it exists), the lock its
// credentials' read-modify-write changes queue on. It must be a statement of
// its own: at READ COMMITTED a statement that waited for a lock still reads
// with the snapshot it started with, so a read of the credentials in the
// same statement would miss one that the lock's previous holder inserted.
func (t *tx) lockApp(ctx context.Context, appID string) error {
	if !storable(appID) {
		return nil
	}
	if _, err := t.tx.Exec(ctx, `SELECT 1 FROM apps WHERE id = $1 FOR UPDATE`, appID); err != nil {
		return fmt.Errorf("lock application: %w", err)
	}
	return nil
}

// TokensForUpdate locks the application, then reads and locks its tokens:
// two transactions that count the tokens before adding one take turns.
func (t *tx) TokensForUpdate(ctx context.Context, appID string) ([]*auth.Token, error) {
	if err := t.lockApp(ctx, appID); err != nil {
		return nil, err
	}
	return listTokens(ctx, t.tx, appID, true)
}

func (t *tx) InsertToken(ctx context.Context, tok *auth.Token, hash []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO app_tokens (id, app_id, hash, hint, enabled, created, expires, use_count)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0)`,
		tok.ID, tok.AppID, hash, tok.Hint, tok.Enabled, tok.Created, tok.Expires)
	if isForeignKey(err) {
		return notFound("Application", tok.AppID)
	}
	if err != nil {
		return conflict(err, "create token")
	}
	return nil
}

func (t *tx) UpdateToken(ctx context.Context, tok *auth.Token) error {
	tag, err := t.tx.Exec(ctx, `UPDATE app_tokens SET enabled = $1, expires = $2 WHERE id = $3`, tok.Enabled, tok.Expires, tok.ID)
	if err != nil {
		return fmt.Errorf("update token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Token", tok.ID)
	}
	return nil
}

func (t *tx) DeleteToken(ctx context.Context, id string) error {
	return t.deleteRow(ctx, "app_tokens", "Token", id)
}

// SecretsForUpdate locks the application, then reads and locks its
// secrets (as TokensForUpdate).
func (t *tx) SecretsForUpdate(ctx context.Context, appID string) ([]*auth.Secret, error) {
	if err := t.lockApp(ctx, appID); err != nil {
		return nil, err
	}
	return listSecrets(ctx, t.tx, appID, true)
}

func (t *tx) InsertSecret(ctx context.Context, c *auth.Secret, hash []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO app_secrets (id, app_id, hash, hint, enabled, created, use_count) VALUES ($1, $2, $3, $4, $5, $6, 0)`,
		c.ID, c.AppID, hash, c.Hint, c.Enabled, c.Created)
	if isForeignKey(err) {
		return notFound("Application", c.AppID)
	}
	if err != nil {
		return conflict(err, "create secret")
	}
	return nil
}

func (t *tx) UpdateSecret(ctx context.Context, c *auth.Secret) error {
	tag, err := t.tx.Exec(ctx, `UPDATE app_secrets SET enabled = $1 WHERE id = $2`, c.Enabled, c.ID)
	if err != nil {
		return fmt.Errorf("update secret: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Secret", c.ID)
	}
	return nil
}

func (t *tx) DeleteSecret(ctx context.Context, id string) error {
	return t.deleteRow(ctx, "app_secrets", "Secret", id)
}

func (t *tx) InsertSigningKey(ctx context.Context, k *auth.SigningKey) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO signing_keys (id, alg, private_pem, created) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Algorithm, string(k.PrivatePEM), k.Created)
	if err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	return nil
}

func (t *tx) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE signing_keys SET retired = $1 WHERE id = $2 AND retired IS NULL`, at, id); err != nil {
		return fmt.Errorf("retire signing key: %w", err)
	}
	return nil
}

func (t *tx) DeleteSigningKey(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete signing key: %w", err)
	}
	return nil
}

// GroupExists reports whether group id exists.
func (t *tx) GroupExists(ctx context.Context, id string) (bool, error) {
	if !storable(id) {
		return false, nil
	}
	var ok bool
	if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM groups WHERE id = $1)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("check group: %w", err)
	}
	return ok, nil
}

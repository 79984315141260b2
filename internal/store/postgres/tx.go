package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

// errConcurrentChange marks a failure caused by a concurrent transaction
// that running fn again resolves, as Write does.
var errConcurrentChange = errors.New("changed by a concurrent transaction")

// writeAttempts bounds how often Write runs a transaction that keeps failing
// for a reason that retrying may cure (isRetryable).
const writeAttempts = 5

// Write runs fn in a READ COMMITTED transaction and commits it (write).
func (s *Store) Write(ctx context.Context, fn func(directory.Tx) error) error {
	return s.write(ctx, func(t *tx) error { return fn(t) })
}

// write runs fn in a READ COMMITTED transaction and commits it. When the
// database aborts the transaction for a serialization failure or a deadlock,
// or fn fails because of a concurrent change (errConcurrentChange), write
// rolls back and runs fn again, a few times, after a short random pause; fn
// must therefore have no effects outside tx.
func (s *Store) write(ctx context.Context, fn func(*tx) error) error {
	for attempt := 1; ; attempt++ {
		appended, err := s.writeOnce(ctx, fn)
		if err == nil && appended {
			// Committed: its audit record and events go into the chain
			// and the outbox before the change is acknowledged.
			s.sealer.wait()
		}
		if err == nil || !isRetryable(err) {
			return err
		}
		if attempt == writeAttempts {
			return &directory.Error{Kind: directory.ErrBusy, Op: "write", Msg: "the database is busy; try again", Err: err}
		}
		// Up to 2, 4, 8… ms, so that the transactions that collided do not
		// collide again in step.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(*tx) error) (appended bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	p := &pipeTx{conn: conn}
	defer p.release(ctx)
	t := &tx{tx: p}
	if err := fn(t); err != nil {
		return false, err
	}
	return t.appended, s.commit(ctx, p)
}

// commit sends what is queued and COMMIT, in one round trip, resolving a
// COMMIT whose answer is lost.
func (s *Store) commit(ctx context.Context, p *pipeTx) error {
	if !p.sent() {
		return nil // nothing was sent: nothing to commit
	}
	if !p.begun {
		// Only queued statements: they go first, with BEGIN, so that the
		// transaction's id is known before COMMIT is sent.
		if err := p.flush(ctx); err != nil {
			return err
		}
	}
	err := p.commit(ctx)
	switch {
	case err == nil:
		return nil
	case answered(err, p):
		// The database refused a queued statement or COMMIT, on a
		// connection still up: the transaction did not commit, whatever
		// the error's code says of the server's state.
	case unavailable(err) && (p.idle || notSent(err)):
		// The transaction changed nothing (execOnly), or the batch
		// carrying COMMIT never reached the database and the transaction
		// ended with the connection: nothing was made.
		return notMade(err)
	case p.xid != 0 && unavailable(err):
		// The connection was lost with COMMIT sent: the database knows
		// what became of the transaction. The lost connection gives its
		// place in the pool back first, so that the question can be
		// asked when every connection is held by such a write.
		p.discard(ctx)
		return s.commitOutcome(ctx, p.xid, err)
	}
	if p.err != nil {
		return err // a queued statement failed; the error names it
	}
	return fmt.Errorf("commit: %w", err)
}

// notMade is the error of a write whose connection was lost before it
// committed: retrying is safe.
func notMade(err error) error {
	return &directory.Error{Kind: directory.ErrUnavailable, Op: "commit",
		Msg: "the database connection was lost; the change was not made", Err: err}
}

// answered reports whether err is the database's answer on p's
// connection, which is still up.
func answered(err error, p *pipeTx) bool {
	_, ok := pgError(err)
	return ok && !p.conn.Conn().IsClosed()
}

// notSent reports whether err says that a batch was not sent, or that none
// of it ran: pgx could not prepare it, or failed before writing a byte.
func notSent(err error) bool {
	var pe pgx.ErrPreprocessingBatch
	return errors.As(err, &pe) || pgconn.SafeToRetry(err)
}

// commitOutcome learns what became of transaction xid, whose COMMIT was
// sent but whose answer was lost with the connection (commitErr): it asks
// the database, over another connection, for the transaction's status
// (txid_status) until the database answers or outcomeWait has passed. A
// committed transaction is a success; an aborted one an ErrUnavailable
// (nothing was written: retrying is safe). When the database cannot tell in
// time, the error says that the change may have been made.
func (s *Store) commitOutcome(ctx context.Context, xid int64, commitErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeWait)
	defer cancel()
	for {
		var status *string
		err := s.pool.QueryRow(ctx, `SELECT txid_status($1)`, xid).Scan(&status)
		switch {
		case err == nil && status != nil && *status == "committed":
			return nil
		case err == nil && status != nil && *status == "aborted":
			return notMade(commitErr)
		}
		// "in progress" (the server is still committing), or no answer.
		select {
		case <-ctx.Done():
			return &directory.Error{Kind: directory.ErrUnavailable, Op: "commit",
				Msg: "the database connection was lost while the change was being committed: it may have been made; read the resource before retrying (a repeated create updates the same account)",
				Err: commitErr}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// outcomeWait bounds how long commitOutcome waits for the database.
const outcomeWait = 5 * time.Second

type tx struct {
	tx *pipeTx
	// appended: the transaction wrote to audit_pending or events_pending,
	// which the writer has sealed before it answers (seal.go).
	appended bool
}

// deferredStmt is a statement whose answer nothing in the transaction
// reads, queued to travel with the next statement sent (pipeTx.queue); op
// names it in errors.
type deferredStmt struct {
	sql  string
	args []any
	op   string
}

var _ directory.Tx = (*tx)(nil)

// conflict maps a uniqueness violation to a domain conflict naming the
// attribute, by the constraint's name (the migrations name them), as the
// SQLite store does by column, and text PostgreSQL cannot store to an invalid
// value; it wraps any other error with op.
func conflict(err error, op string) error {
	if isBadText(err) {
		return &directory.Error{Kind: directory.ErrInvalid, Op: op, Msg: "text must be valid UTF-8 without NUL characters", Err: err}
	}
	constraint, ok := isUnique(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	field, msg := "", "a unique value is already taken"
	switch constraint {
	case "users_user_name_lower_key":
		field, msg = "userName", "userName is already taken"
	case "user_external_ids_value_key", "group_external_ids_value_key", "orgs_external_id_key":
		field, msg = "externalId", "externalId is already taken"
	case "groups_display_name_lower_key":
		field, msg = "displayName", "a group with this displayName already exists"
	case "users_id_key", "groups_id_key", "orgs_pkey", "apps_pkey":
		field, msg = "id", "id is already taken"
	case "apps_name_key":
		field, msg = "name", "an application with this name already exists"
	}
	return &directory.Error{Kind: directory.ErrConflict, Op: op, Field: field, Msg: msg}
}

func (t *tx) UserForUpdate(ctx context.Context, id, domain string) (*directory.User, error) {
	return getUser(ctx, t.tx, id, directory.ReadOptions{Domain: domain}, true)
}

// lookupID runs query, which selects an id by args, the last of which is
// the value looked for.
func (t *tx) lookupID(ctx context.Context, query, what string, args ...string) (string, error) {
	vals := make([]any, len(args))
	for i, a := range args {
		if !storable(a) {
			return "", notFound(what, args[len(args)-1])
		}
		vals[i] = a
	}
	var id string
	err := t.tx.QueryRow(ctx, query, vals...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound(what, args[len(args)-1])
	}
	if err != nil {
		return "", fmt.Errorf("find %s: %w", strings.ToLower(what), err)
	}
	return id, nil
}

func (t *tx) UserIDByExternalID(ctx context.Context, domain, externalID string) (string, error) {
	return t.lookupID(ctx, `SELECT u.id FROM user_external_ids x JOIN users u ON u.seq = x.user_seq WHERE x.domain = $1 AND x.external_id = $2`,
		"User", domain, externalID)
}

func (t *tx) UserIDByUserName(ctx context.Context, userName string) (string, error) {
	return t.lookupID(ctx, `SELECT id FROM users WHERE user_name_lower = $1`, "User", strings.ToLower(userName))
}

// setExternalID sets or (with "") removes the externalId in domain of the
// row id of table (users or groups), kept in side (keyed by key). The
// statement is queued (pipeTx.queue): nothing reads its answer, and its
// failure (the externalId is taken) is reported by the next statement.
func (t *tx) setExternalID(table, side, key, id, domain, externalID, op string) {
	if externalID == "" {
		t.tx.queue(deferredStmt{op: op, sql: `DELETE FROM ` + side + ` WHERE ` + key + ` = (SELECT seq FROM ` + table + ` WHERE id = $1) AND domain = $2`,
			args: []any{id, domain}})
		return
	}
	t.tx.queue(deferredStmt{op: op, sql: `INSERT INTO ` + side + ` (` + key + `, domain, external_id) SELECT seq, $1, $2 FROM ` + table + ` WHERE id = $3
		ON CONFLICT (` + key + `, domain) DO UPDATE SET external_id = EXCLUDED.external_id`, args: []any{domain, externalID, id}})
}

func (t *tx) SetUserExternalID(ctx context.Context, id, domain, externalID string) error {
	t.setExternalID("users", "user_external_ids", "user_seq", id, domain, externalID, "set user externalId")
	return nil
}

// InsertUser queues the user's INSERT (pipeTx.queue) with its emails'
// index: nothing reads their answers, and a failure (the userName or id is
// taken) is reported by the next statement or the commit, as the same
// conflict.
func (t *tx) InsertUser(ctx context.Context, u *directory.User) error {
	attrs, err := encodeAttrs(u.Attrs)
	if err != nil {
		return err
	}
	t.tx.queue(deferredStmt{op: "create user", sql: `INSERT INTO users (id, org_id, user_name, user_name_lower, display_name, display_name_lower,
			active, password_hash, attrs, created, modified, version, attrs_version, attrs_modified)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		args: []any{u.ID, u.OrgID, u.UserName, strings.ToLower(u.UserName), nullStr(u.DisplayName), nullStr(strings.ToLower(u.DisplayName)),
			u.Active, nullStr(u.PasswordHash), attrs, u.Created, u.Modified, u.Version, u.AttrsVersion, u.AttrsModified}})
	t.writeEmails(u, false)
	return nil
}

// writeEmails indexes user u's emails in user_emails, one statement for
// all of them. The statements are queued (pipeTx.queue): nothing in the
// transaction reads their answers. They find the user by id, so that they
// can be queued behind its INSERT.
func (t *tx) writeEmails(u *directory.User, replace bool) {
	if replace {
		t.tx.queue(deferredStmt{op: "index emails", sql: `DELETE FROM user_emails WHERE user_seq = (SELECT seq FROM users WHERE id = $1)`, args: []any{u.ID}})
	}
	emails, _ := u.Attrs["emails"].([]any)
	var (
		pos             []int32
		values          []string
		types, displays []*string
		primaries       []bool
	)
	for i, el := range emails {
		m, _ := el.(map[string]any)
		v, _ := m["value"].(string)
		if v == "" {
			continue
		}
		typ, _ := m["type"].(string)
		disp, _ := m["display"].(string)
		primary, _ := m["primary"].(bool)
		pos = append(pos, int32(i))
		values = append(values, strings.ToLower(v))
		types = append(types, nullStr(strings.ToLower(typ)))
		displays = append(displays, nullStr(strings.ToLower(disp)))
		primaries = append(primaries, primary)
	}
	if len(pos) == 0 {
		return
	}
	t.tx.queue(deferredStmt{op: "index emails", sql: `INSERT INTO user_emails (user_seq, pos, value_lower, type_lower, display_lower, is_primary)
		SELECT (SELECT seq FROM users WHERE id = $1), e.pos, e.value, e.type, e.display, e.is_primary
		FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::boolean[]) AS e (pos, value, type, display, is_primary)`,
		args: []any{u.ID, pos, values, types, displays, primaries}})
}

// UpdateUser writes u over cur. PostgreSQL writes a new row version with
// new index entries whatever the columns set (modified, which changes with
// every update, is indexed), so cur is not needed here.
func (t *tx) UpdateUser(ctx context.Context, _, u *directory.User) error {
	attrs, err := encodeAttrs(u.Attrs)
	if err != nil {
		return err
	}
	tag, err := t.tx.Exec(ctx, `UPDATE users SET org_id = $1, user_name = $2, user_name_lower = $3, display_name = $4,
			display_name_lower = $5, active = $6, password_hash = $7, attrs = $8, modified = $9, version = $10,
			attrs_version = $11, attrs_modified = $12
		WHERE id = $13`,
		u.OrgID, u.UserName, strings.ToLower(u.UserName), nullStr(u.DisplayName), nullStr(strings.ToLower(u.DisplayName)),
		u.Active, nullStr(u.PasswordHash), attrs, u.Modified, u.Version, u.AttrsVersion, u.AttrsModified, u.ID)
	if err != nil {
		return conflict(err, "update user")
	}
	if tag.RowsAffected() == 0 {
		return notFound("User", u.ID)
	}
	t.writeEmails(u, true)
	return nil
}

func (t *tx) DeleteUser(ctx context.Context, id string) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT g.id FROM group_members gm JOIN groups g ON g.seq = gm.group_seq JOIN users u ON u.seq = gm.user_seq
		WHERE u.id = $1 ORDER BY g.seq`, id)
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	groups, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil, notFound("User", id)
	}
	return groups, nil
}

func (t *tx) MissingUsers(ctx context.Context, ids []string, scope *directory.SyncScope) ([]string, error) {
	return missingUsers(ctx, t.tx, ids, scope)
}

// MissingUsers returns those of ids that are not users inside scope (nil:
// any user).
func (s *Store) MissingUsers(ctx context.Context, ids []string, scope *directory.SyncScope) ([]string, error) {
	return missingUsers(ctx, s.pool, ids, scope)
}

func missingUsers(ctx context.Context, q querier, ids []string, scope *directory.SyncScope) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// Ids PostgreSQL cannot hold are not users (and would fail the query).
	keys := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !storable(id) })
	b := &sqlfilter.Builder{D: dialect{}}
	query := `SELECT t.id FROM users t WHERE t.id = ANY(` + b.Arg(keys) + `)`
	if scope != nil {
		query += ` AND ` + b.ScopeUsers("t", scope)
	}
	rows, err := q.Query(ctx, query, b.Args...)
	if err != nil {
		return nil, fmt.Errorf("check users: %w", err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("check users: %w", err)
	}
	found := make(map[string]bool, len(users))
	for _, id := range users {
		found[id] = true
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// UsersGroups returns the groups of each of ids that is a user in a group.
func (s *Store) UsersGroups(ctx context.Context, ids []string) (map[string][]directory.GroupRef, error) {
	out := map[string][]directory.GroupRef{}
	// Ids PostgreSQL cannot hold are not users (and would fail the query).
	keys := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !storable(id) })
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT u.id, g.id, g.display_name FROM users u
		JOIN group_members gm ON gm.user_seq = u.seq JOIN groups g ON g.seq = gm.group_seq
		WHERE u.id = ANY($1) ORDER BY u.seq, g.seq`, keys)
	if err != nil {
		return nil, fmt.Errorf("users' groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user string
		var g directory.GroupRef
		if err := rows.Scan(&user, &g.ID, &g.DisplayName); err != nil {
			return nil, fmt.Errorf("users' groups: %w", err)
		}
		out[user] = append(out[user], g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users' groups: %w", err)
	}
	return out, nil
}

func (t *tx) UserGroups(ctx context.Context, id string, scope *directory.SyncScope) ([]directory.GroupRef, error) {
	if !storable(id) {
		return nil, nil
	}
	b := &sqlfilter.Builder{D: dialect{}}
	cond := ""
	if scope != nil {
		cond = " AND " + b.ScopeGroups("g", scope)
	}
	rows, err := t.tx.Query(ctx, `SELECT g.id, g.display_name FROM group_members gm JOIN groups g ON g.seq = gm.group_seq
		WHERE gm.user_seq = (SELECT seq FROM users WHERE id = `+b.Arg(id)+`)`+cond+` ORDER BY g.seq`, b.Args...)
	if err != nil {
		return nil, fmt.Errorf("user groups: %w", err)
	}
	defer rows.Close()
	var out []directory.GroupRef
	for rows.Next() {
		var g directory.GroupRef
		if err := rows.Scan(&g.ID, &g.DisplayName); err != nil {
			return nil, fmt.Errorf("user groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// TouchUsers bumps the users' versions (their lastModified stays: only their
// group list changed, as in the SQLite store).
func (t *tx) TouchUsers(ctx context.Context, ids []string, _ time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	t.tx.queue(deferredStmt{op: "touch users", sql: `UPDATE users SET version = version + 1 WHERE id = ANY($1)`, args: []any{ids}})
	return nil
}

func (t *tx) TouchGroups(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	t.tx.queue(deferredStmt{op: "touch groups", sql: `UPDATE groups SET version = version + 1, modified = $1 WHERE id = ANY($2)`, args: []any{at, ids}})
	return nil
}

func (t *tx) GroupForUpdate(ctx context.Context, id, domain string) (*directory.Group, error) {
	return getGroup(ctx, t.tx, id, directory.ReadOptions{Domain: domain}, true)
}

func (t *tx) GroupIDByExternalID(ctx context.Context, domain, externalID string) (string, error) {
	return t.lookupID(ctx, `SELECT g.id FROM group_external_ids x JOIN groups g ON g.seq = x.group_seq WHERE x.domain = $1 AND x.external_id = $2`,
		"Group", domain, externalID)
}

func (t *tx) GroupIDByDisplayName(ctx context.Context, displayName string) (string, error) {
	return t.lookupID(ctx, `SELECT id FROM groups WHERE display_name_lower = $1`, "Group", strings.ToLower(displayName))
}

func (t *tx) SetGroupExternalID(ctx context.Context, id, domain, externalID string) error {
	t.setExternalID("groups", "group_external_ids", "group_seq", id, domain, externalID, "set group externalId")
	return nil
}

func (t *tx) InsertGroup(ctx context.Context, g *directory.Group) error {
	attrs, err := encodeAttrs(g.Attrs)
	if err != nil {
		return err
	}
	t.tx.queue(deferredStmt{op: "create group", sql: `INSERT INTO groups (id, org_id, display_name, display_name_lower, attrs, created, modified, version,
			attrs_version, attrs_modified)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		args: []any{g.ID, g.OrgID, g.DisplayName, strings.ToLower(g.DisplayName), attrs, g.Created, g.Modified, g.Version, g.AttrsVersion, g.AttrsModified}})
	_, err = t.AddMembers(ctx, g.ID, memberIDs(g.Members))
	return err
}

func memberIDs(ms []directory.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func (t *tx) UpdateGroup(ctx context.Context, g *directory.Group) error {
	attrs, err := encodeAttrs(g.Attrs)
	if err != nil {
		return err
	}
	tag, err := t.tx.Exec(ctx, `UPDATE groups SET org_id = $1, display_name = $2, display_name_lower = $3, attrs = $4,
			modified = $5, version = $6, attrs_version = $7, attrs_modified = $8
		WHERE id = $9`,
		g.OrgID, g.DisplayName, strings.ToLower(g.DisplayName), attrs, g.Modified, g.Version, g.AttrsVersion, g.AttrsModified, g.ID)
	if err != nil {
		return conflict(err, "update group")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Group", g.ID)
	}
	return nil
}

func (t *tx) DeleteGroup(ctx context.Context, id string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM groups WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete group: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Group", id)
	}
	return nil
}

// UserInScope reports whether user id is inside scope.
func (t *tx) UserInScope(ctx context.Context, id string, scope *directory.SyncScope) (bool, error) {
	if !storable(id) {
		return false, nil
	}
	b := &sqlfilter.Builder{D: dialect{}}
	var in bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users t WHERE t.id = `+b.Arg(id)+` AND `+b.ScopeUsers("t", scope)+`)`,
		b.Args...).Scan(&in)
	if err != nil {
		return false, fmt.Errorf("check user scope: %w", err)
	}
	return in, nil
}

// OrgInScope reports whether organization id is one of scope's
// organizations or below one.
func (t *tx) OrgInScope(ctx context.Context, id string, scope *directory.SyncScope) (bool, error) {
	if !storable(id) {
		return false, nil
	}
	b := &sqlfilter.Builder{D: dialect{}}
	p := b.Arg(id)
	var in bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orgs WHERE id = `+p+` AND `+b.ScopeOrg(p, scope)+`)`, b.Args...).Scan(&in)
	if err != nil {
		return false, fmt.Errorf("check organization scope: %w", err)
	}
	return in, nil
}

// Members lists the group's members inside scope (nil: all), in user
// creation order.
func (t *tx) Members(ctx context.Context, groupID string, scope *directory.SyncScope) ([]directory.Member, error) {
	if !storable(groupID) {
		return nil, nil
	}
	b := &sqlfilter.Builder{D: dialect{}}
	cond := ""
	if scope != nil {
		cond = " AND " + b.ScopeUsers("u", scope)
	}
	rows, err := t.tx.Query(ctx, `SELECT u.id, COALESCE(u.display_name, u.user_name) FROM group_members gm
		JOIN users u ON u.seq = gm.user_seq JOIN groups g ON g.seq = gm.group_seq WHERE g.id = `+b.Arg(groupID)+cond+` ORDER BY gm.user_seq`,
		b.Args...)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	defer rows.Close()
	var out []directory.Member
	for rows.Next() {
		var m directory.Member
		if err := rows.Scan(&m.ID, &m.Display); err != nil {
			return nil, fmt.Errorf("members: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// AddMembers adds, in one statement, those of ids that are users and not
// members yet; ON CONFLICT DO NOTHING also covers a concurrent addition of
// the same member, which it waits for.
func (t *tx) AddMembers(ctx context.Context, groupID string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `WITH added AS (
			INSERT INTO group_members (group_seq, user_seq)
			SELECT g.seq, u.seq FROM groups g JOIN users u ON u.id = ANY($2) WHERE g.id = $1
			ON CONFLICT DO NOTHING
			RETURNING user_seq
		)
		SELECT u.id FROM added JOIN users u ON u.seq = added.user_seq ORDER BY u.seq`, groupID, ids)
	var added []string
	if err == nil {
		added, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if isForeignKey(err) {
		// A user this statement saw was deleted by a transaction that
		// committed while the insert waited for its row. Run fn again: its
		// check for missing users will now report the user.
		return nil, fmt.Errorf("add members: %w: %w", errConcurrentChange, err)
	}
	if err != nil {
		return nil, fmt.Errorf("add members: %w", err)
	}
	return added, nil
}

// RemoveMembers removes, in one statement, those of ids that are members.
func (t *tx) RemoveMembers(ctx context.Context, groupID string, ids []string) ([]string, error) {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !storable(id) }) // not members
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `DELETE FROM group_members gm USING groups g, users u
		WHERE g.id = $1 AND u.id = ANY($2) AND gm.group_seq = g.seq AND gm.user_seq = u.seq
		RETURNING u.id`, groupID, ids)
	if err != nil {
		return nil, fmt.Errorf("remove members: %w", err)
	}
	removed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("remove members: %w", err)
	}
	return removed, nil
}

func (t *tx) OrgForUpdate(ctx context.Context, id string) (*directory.Organization, error) {
	return getOrg(ctx, t.tx, id, true)
}

// OrgExists takes a KEY SHARE lock: it keeps the organization from being
// deleted or re-keyed, yet lets concurrent creates in it proceed.
func (t *tx) OrgExists(ctx context.Context, id string) (bool, error) {
	if !storable(id) {
		return false, nil
	}
	var n int
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM orgs WHERE id = $1 FOR KEY SHARE) o`, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check organization: %w", err)
	}
	return n > 0, nil
}

func (t *tx) InsertOrg(ctx context.Context, o *directory.Organization) error {
	t.tx.queue(deferredStmt{op: "create organization", sql: `INSERT INTO orgs (id, parent_id, name, external_id, created, modified, version) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		args: []any{o.ID, nullStr(o.ParentID), o.Name, nullStr(o.ExternalID), o.Created, o.Modified, o.Version}})
	return nil
}

func (t *tx) UpdateOrg(ctx context.Context, o *directory.Organization) error {
	tag, err := t.tx.Exec(ctx, `UPDATE orgs SET parent_id = $1, name = $2, external_id = $3, modified = $4, version = $5 WHERE id = $6`,
		nullStr(o.ParentID), o.Name, nullStr(o.ExternalID), o.Modified, o.Version, o.ID)
	if err != nil {
		return conflict(err, "update organization")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Organization", o.ID)
	}
	return nil
}

func (t *tx) DeleteOrg(ctx context.Context, id string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM orgs WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete organization: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Organization", id)
	}
	return nil
}

func (t *tx) OrgInUse(ctx context.Context, id string) (bool, error) {
	var inUse bool
	err := t.tx.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM orgs WHERE parent_id = $1) OR
		EXISTS (SELECT 1 FROM users WHERE org_id = $1) OR
		EXISTS (SELECT 1 FROM groups WHERE org_id = $1) OR
		EXISTS (SELECT 1 FROM apps WHERE target_org_id = $1)`, id).Scan(&inUse)
	if err != nil {
		return false, fmt.Errorf("check organization use: %w", err)
	}
	return inUse, nil
}

// snapshot is an audit snapshot as text, byte for byte (nil: NULL).
func snapshot(b json.RawMessage) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

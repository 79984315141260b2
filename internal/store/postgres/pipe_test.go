package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// roundTrips counts what a pool sends: each Exec, Query, QueryRow and batch
// is one round trip to the database.
type roundTrips struct {
	mu   sync.Mutex
	sent []string // the first statement of each
	all  []string // every statement, whole
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	first := ""
	if d.Batch.Len() > 0 {
		first = d.Batch.QueuedQueries[0].SQL
	}
	r.add(first)
	r.mu.Lock()
	for _, q := range d.Batch.QueuedQueries {
		r.all = append(r.all, q.SQL)
	}
	r.mu.Unlock()
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (r *roundTrips) add(sql string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > 40 {
		sql = sql[:40]
	}
	r.sent = append(r.sent, sql)
}

// take returns what was sent since the last take.
func (r *roundTrips) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

// traced points s's writes at a pool of their own whose round trips are
// counted, until the test ends.
func traced(t *testing.T, s *Store, url string) *roundTrips {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{s.schema}.Sanitize()
	rt := &roundTrips{}
	cfg.ConnConfig.Tracer = rt
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := s.pool
	s.pool = pool
	t.Cleanup(func() {
		s.pool = old
		pool.Close()
	})
	return rt
}

// TestWriteRoundTrips: a write waits for the database only for the answers
// it reads. BEGIN travels with the first statement; the user, the index of
// its emails, its externalId, the audit record and the events travel with
// the next statement or with COMMIT; a transaction that wrote nothing sends
// nothing.
func TestWriteRoundTrips(t *testing.T) {
	url := testURL(t)
	s := openIn(t, url, freshSchema(t, url))
	rt := traced(t, s, url)
	ctx := context.Background()

	u := newUser("rt-1", "rt@example.com")
	u.Attrs = directory.Attrs{"emails": []any{map[string]any{"value": "rt@example.com", "primary": true}}}
	rt.take()
	appended, err := s.writeOnce(ctx, func(t *tx) error {
		if err := t.InsertUser(ctx, u); err != nil {
			return err
		}
		if err := t.SetUserExternalID(ctx, u.ID, "", "ext-rt-1"); err != nil {
			return err
		}
		if _, err := t.MarkActivated(ctx, u.ID, u.Created); err != nil {
			return err
		}
		if err := t.AppendAudit(ctx, &directory.AuditEntry{Time: u.Created, Action: "user.create", ResourceType: "User", ResourceID: u.ID}); err != nil {
			return err
		}
		return t.AppendEvents(ctx, []*directory.EventRecord{{ID: "ev-rt-1", Type: "user.created", Subject: u.ID, Time: u.Created,
			ResourceType: "User", ResourceID: u.ID, Data: []byte(`{}`)}})
	})
	if err != nil || !appended {
		t.Fatalf("write: appended %v, %v", appended, err)
	}
	want := []string{
		beginSQL,                    // with the transaction's id, the INSERTs of the user, its emails and its externalId, and MarkActivated's
		"INSERT INTO audit_pending", // with the events and COMMIT
	}
	if got := rt.take(); !sentAsWanted(got, want) {
		t.Errorf("round trips:\n got %q\nwant %q", got, want)
	}

	// What the queued statements wrote is there, in the same transaction
	// and after it.
	var emails, ext int
	if _, err := s.writeOnce(ctx, func(t *tx) error {
		return t.tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM user_emails e JOIN users u ON u.seq = e.user_seq WHERE u.id = $1),
			(SELECT count(*) FROM user_external_ids x JOIN users u ON u.seq = x.user_seq WHERE u.id = $1 AND x.external_id = 'ext-rt-1')`, u.ID).Scan(&emails, &ext)
	}); err != nil || emails != 1 || ext != 1 {
		t.Fatalf("after the write: %d emails, %d externalIds, %v; want 1, 1", emails, ext, err)
	}
	rt.take()

	// A group with a member: its INSERT travels with the insert of its
	// members (whose answer is read), the members' new versions with the
	// commit's batch.
	g := &directory.Group{ID: "g-rt", OrgID: directory.RootOrgID, DisplayName: "rt", Members: []directory.Member{{ID: u.ID}},
		Created: u.Created, Modified: u.Created, Version: 1}
	if _, err := s.writeOnce(ctx, func(t *tx) error {
		if err := t.InsertGroup(ctx, g); err != nil {
			return err
		}
		if err := t.TouchUsers(ctx, []string{u.ID}, u.Created); err != nil {
			return err
		}
		return t.AppendAudit(ctx, &directory.AuditEntry{Time: u.Created, Action: "group.create", ResourceType: "Group", ResourceID: g.ID})
	}); err != nil {
		t.Fatal(err)
	}
	want = []string{beginSQL, "UPDATE users SET version = version + 1"} // the second with COMMIT
	if got := rt.take(); !sentAsWanted(got, want) {
		t.Errorf("group round trips:\n got %q\nwant %q", got, want)
	}
	var members int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM group_members gm JOIN groups g ON g.seq = gm.group_seq WHERE g.id = $1`, g.ID).Scan(&members); err != nil || members != 1 {
		t.Fatalf("group members %d, %v; want 1", members, err)
	}
	rt.take()

	// Nothing written, nothing sent.
	if _, err := s.writeOnce(ctx, func(*tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := rt.take(); len(got) != 0 {
		t.Errorf("a transaction that wrote nothing sent %q", got)
	}
}

// sentAsWanted reports whether each round trip of got began with the
// statement want says.
func sentAsWanted(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

// TestQueuedStatementFailure: a queued statement that fails is reported by
// the statement it travelled with, as its own error would have been — the
// conflict naming the attribute — and nothing of the transaction stays.
// The reporting statement does not take it for its own failure, and the
// connection goes back to the pool usable.
func TestQueuedStatementFailure(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	mustWrite(t, s, func(ctx context.Context, tx directory.Tx) error {
		if err := tx.InsertUser(ctx, newUser("a", "a@example.com")); err != nil {
			return err
		}
		return tx.SetUserExternalID(ctx, "a", "", "taken")
	})

	// Reported by the next statement (UserIDByUserName's lookup).
	err := s.Write(ctx, func(tx directory.Tx) error {
		if err := tx.InsertUser(ctx, newUser("b", "b@example.com")); err != nil {
			return err
		}
		if err := tx.SetUserExternalID(ctx, "b", "", "taken"); err != nil {
			t.Errorf("queued: reported at once: %v", err)
			return err
		}
		_, err := tx.UserIDByUserName(ctx, "nobody@example.com")
		if errors.Is(err, directory.ErrNotFound) {
			t.Errorf("the lookup after a failed queued statement answered not found")
		}
		return err
	})
	if !errors.Is(err, directory.ErrConflict) || directory.Field(err) != "externalId" {
		t.Errorf("got %v (field %q), want a conflict on externalId", err, directory.Field(err))
	}
	// Reported by the commit.
	err = s.Write(ctx, func(tx directory.Tx) error {
		if err := tx.InsertUser(ctx, newUser("c", "c@example.com")); err != nil {
			return err
		}
		return tx.SetUserExternalID(ctx, "c", "", "taken")
	})
	if !errors.Is(err, directory.ErrConflict) || directory.Field(err) != "externalId" {
		t.Errorf("at commit: got %v (field %q), want a conflict on externalId", err, directory.Field(err))
	}
	for _, id := range []string{"b", "c"} {
		if _, err := s.User(ctx, id, directory.ReadOptions{}); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("user %s after its failed write: %v, want not found", id, err)
		}
	}

	// A failure that is not a conflict keeps its words but not its code:
	// the reporting statement's own checks (here: a foreign key violation
	// means "no such organization") must not take it for theirs.
	p := &pipeTx{}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.conn = conn
	p.queue(deferredStmt{op: "queued insert", sql: `INSERT INTO user_emails (user_seq, pos, value_lower, is_primary) VALUES (-1, 0, 'x', false)`})
	_, err = p.Exec(ctx, `SELECT 1`)
	if err == nil || !strings.Contains(err.Error(), "queued insert") || isForeignKey(err) {
		t.Errorf("queued foreign key violation reported as %v (isForeignKey %v)", err, isForeignKey(err))
	}
	p.release(ctx)

	// Every connection is usable afterwards.
	for range 2 * int(s.pool.Config().MaxConns) {
		if _, err := s.User(ctx, "a", directory.ReadOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQueuedBeforeReads: statements queued run before the next statement,
// in order, so that a read in the transaction sees them; rows come back
// through a batch as through a query.
func TestQueuedBeforeReads(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeTx{conn: conn}
	defer p.release(ctx)
	// (A batch's statements are prepared before any runs: the table must
	// exist before the batch that uses it is sent.)
	if _, err := p.Exec(ctx, `CREATE TEMP TABLE q (n int) ON COMMIT DROP`); err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		p.queue(deferredStmt{op: "insert", sql: `INSERT INTO q VALUES ($1)`, args: []any{n}})
	}
	rows, err := p.Query(ctx, `SELECT n FROM q ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(got) != 3 || got[2] != 2 {
		t.Fatalf("rows %v, %v; want [0 1 2]", got, err)
	}
	p.queue(deferredStmt{op: "delete", sql: `DELETE FROM q WHERE n = 0`})
	var n int
	if err := p.QueryRow(ctx, `SELECT count(*) FROM q`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count %d, %v; want 2", n, err)
	}
	p.queue(deferredStmt{op: "delete", sql: `DELETE FROM q`})
	if err := p.QueryRow(ctx, `SELECT n FROM q`).Scan(&n); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("no rows: %v, want pgx.ErrNoRows", err)
	}
	if err := p.commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAbortedCommit: COMMIT of a transaction the database aborted answers
// ROLLBACK, which is a failure, not a success.
func TestAbortedCommit(t *testing.T) {
	s := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeTx{conn: conn}
	defer p.release(ctx)
	if _, err := p.Exec(ctx, `SELECT 1/0`); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if err := p.commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("commit of an aborted transaction: %v, want pgx.ErrTxCommitRollback", err)
	}
}

// TestFailedBatchSticks: when a batch that carried BEGIN did not run (the
// context was over, or a statement could not be prepared, which fails the
// whole batch before any runs), the connection may be outside a
// transaction; every later statement and the commit fail with the first
// failure, so that none commits on its own. A statement that could not be
// prepared keeps its SQLSTATE, not named after a queued statement.
func TestFailedBatchSticks(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		fail func(p *pipeTx) error
	}{
		{"context over", func(p *pipeTx) error {
			c, cancel := context.WithCancel(ctx)
			cancel()
			_, err := p.Exec(c, `SELECT 1`)
			return err
		}},
		{"not prepared", func(p *pipeTx) error {
			_, err := p.Exec(ctx, `SELECT no_such_column FROM users`)
			return err
		}},
		{"not prepared, behind a queued statement", func(p *pipeTx) error {
			p.queue(deferredStmt{op: "queued", sql: `SELECT 1`})
			_, err := p.Exec(ctx, `SELECT no_such_column FROM users`)
			if pe, ok := pgError(err); !ok || pe.Code != "42703" || strings.Contains(err.Error(), "queued") {
				t.Errorf("undefined column reported as %v", err)
			}
			return err
		}},
	} {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := &pipeTx{conn: conn}
		first := tc.fail(p)
		if first == nil {
			t.Fatalf("%s: the first statement succeeded", tc.name)
		}
		id := "sticks-" + tc.name
		if _, err := p.Exec(ctx, `INSERT INTO login_ghosts (id, state, until) VALUES ($1, '', now())`, id); err == nil {
			t.Errorf("%s: a statement after the failed batch ran", tc.name)
		}
		var one int
		if err := p.QueryRow(ctx, `SELECT 1`).Scan(&one); err == nil {
			t.Errorf("%s: a query after the failed batch ran", tc.name)
		}
		if err := p.commit(ctx); err == nil {
			t.Errorf("%s: the commit after the failed batch succeeded", tc.name)
		}
		p.release(ctx)
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM login_ghosts WHERE id = $1`, id).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows, %v; want none", tc.name, n, err)
		}
	}
}

// TestQueuedFailureInCommitBatch: a statement queued into COMMIT's batch
// that the database refuses is reported as itself — a taken userName as
// the conflict, an error whose code speaks of the server's state (a full
// disk) as that error, not as a lost connection — and nothing of the
// transaction stays, nor a connection idle in it.
func TestQueuedFailureInCommitBatch(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	mustWrite(t, s, insert("a", "a@example.com"))
	err := write(s, readThenInsert("b", "A@example.com"))
	if !errors.Is(err, directory.ErrConflict) || directory.Field(err) != "userName" {
		t.Fatalf("got %v (field %q), want a conflict on userName", err, directory.Field(err))
	}
	if _, err := s.pool.Exec(ctx, `CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END$$`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `CREATE TRIGGER full_disk BEFORE INSERT ON user_external_ids FOR EACH ROW EXECUTE FUNCTION full_disk()`); err != nil {
		t.Fatal(err)
	}
	err = write(s, readThenInsert("c", "c@example.com"))
	if err == nil || !s.Unavailable(err) || strings.Contains(directory.Message(err), "connection was lost") ||
		strings.Contains(directory.Message(err), "may have been made") {
		t.Fatalf("a full disk: %v (%q), want the database's error, unavailable, not a lost connection", err, directory.Message(err))
	}
	for _, id := range []string{"b", "c"} {
		if _, err := s.User(ctx, id, directory.ReadOptions{}); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("user %s of a failed write: %v, want not found", id, err)
		}
	}
	var idle int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid() AND query ILIKE '%user_external_ids%'`).Scan(&idle); err != nil || idle != 0 {
		t.Errorf("%d connections idle in a failed write's transaction, %v", idle, err)
	}
	if _, err := s.pool.Exec(ctx, `DROP TRIGGER full_disk ON user_external_ids`); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, readThenInsert("c", "c@example.com"))
}

// TestExecOnlyIdle: a write of one statement that changes nothing (a
// sweep with nothing to sweep) takes no transaction id, so that the
// database writes nothing to its log; one that changes rows commits them.
func TestExecOnlyIdle(t *testing.T) {
	url := testURL(t)
	s := openIn(t, url, freshSchema(t, url))
	rt := traced(t, s, url)
	ctx := context.Background()
	now := time.Now().UTC()
	if n, err := s.Recover(ctx, now); err != nil || n != 0 {
		t.Fatalf("Recover on nothing: %d, %v", n, err)
	}
	rt.mu.Lock()
	all := rt.all
	rt.mu.Unlock()
	if !slices.Contains(all, xidIfAssignedSQL) || slices.Contains(all, xidSQL) {
		t.Errorf("a one-statement write sent %q; want %q after the statement, not %q", all, xidIfAssignedSQL, xidSQL)
	}
	// The database says whether the statement gave the transaction an id
	// (without one, its COMMIT writes nothing to the log).
	idOf := func(sql string, args ...any) (idle bool, xid int64) {
		t.Helper()
		if _, err := s.writeOnce(ctx, func(t *tx) error {
			_, err := t.tx.execOnly(ctx, sql, args...)
			idle, xid = t.tx.idle, t.tx.xid
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return idle, xid
	}
	if idle, xid := idOf(`UPDATE deliveries SET updated = $1 WHERE state = 'running' AND lease_until < $1`, now); !idle || xid != 0 {
		t.Errorf("a statement that changed nothing: idle %v, transaction id %d; want idle, none", idle, xid)
	}
	if idle, xid := idOf(`INSERT INTO sync_state (scope, state, updated) VALUES ('scope-0', '{}', $1)`, now); idle || xid == 0 {
		t.Errorf("a statement that inserted a row: idle %v, transaction id %d; want an id", idle, xid)
	}
	rt.take()
	if err := s.SetSyncState(ctx, "scope-1", `{"n":1}`); err != nil {
		t.Fatal(err)
	}
	var committed int
	for _, sql := range rt.take() {
		if strings.HasPrefix(strings.ToLower(sql), "commit") {
			committed++
		}
	}
	if committed != 1 {
		t.Errorf("a write that changed a row sent %d COMMITs, want 1", committed)
	}
	got, err := s.SyncState(ctx, "scope-1")
	if err != nil || got != `{"n":1}` {
		t.Errorf("sync state after the write: %s, %v", got, err)
	}
}

// onceStore runs the directory's writes without waiting for the sealer,
// so that a tracer sees the writing transaction's round trips alone.
type onceStore struct{ *Store }

func (o onceStore) Write(ctx context.Context, fn func(directory.Tx) error) error {
	_, err := o.Store.writeOnce(ctx, func(t *tx) error { return fn(t) })
	return err
}

// TestCreateUserRoundTrips: SCIM's create of an active user in the root
// organization waits for the database twice — the lookup of the userName
// (with BEGIN), and the commit's batch, which carries the user's row, its
// emails, its first activation (known without asking: the account is new),
// the audit record and the events — and the activation is there. In
// another organization, its check (with BEGIN) comes first.
func TestCreateUserRoundTrips(t *testing.T) {
	url := testURL(t)
	s := openIn(t, url, freshSchema(t, url))
	ctx := context.Background()
	ids := 0
	svc := directory.NewService(onceStore{s}, directory.Options{Now: time.Now, NewID: func() string {
		ids++
		return fmt.Sprintf("rt-create-%d", ids)
	}})
	rt := traced(t, s, url)
	u := &directory.User{UserName: "rt-create@example.com", Active: true,
		Attrs: directory.Attrs{"emails": []any{map[string]any{"value": "rt-create@example.com", "primary": true}}}}
	rt.take()
	out, created, err := svc.CreateUser(ctx, directory.Actor{Kind: "cli"}, directory.IDaaSProfile(), u)
	if err != nil || !created {
		t.Fatalf("create: %v, %v", created, err)
	}
	want := []string{beginSQL, "INSERT INTO users"}
	if got := rt.take(); !sentAsWanted(got, want) {
		t.Errorf("round trips:\n got %q\nwant %q", got, want)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM user_activations WHERE user_id = $1`, out.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("activations of the new user: %d, %v; want 1", n, err)
	}
	var first bool
	if err := s.pool.QueryRow(ctx, `SELECT coalesce((data::jsonb #>> '{firstActivation}')::boolean, false) FROM events_pending
		WHERE type = 'User.Created' AND resource_id = $1`, out.ID).Scan(&first); err != nil {
		t.Errorf("the event's firstActivation: %v", err)
	} else if !first {
		t.Errorf("User.Created without firstActivation")
	}

	org, err := svc.CreateOrg(ctx, directory.Actor{Kind: "cli"}, &directory.Organization{Name: "Sales"})
	if err != nil {
		t.Fatal(err)
	}
	orgID := org.ID
	rt.take()
	u2 := &directory.User{UserName: "rt-create-2@example.com", Active: true, OrgID: orgID}
	if _, _, err := svc.CreateUser(ctx, directory.Actor{Kind: "cli"}, directory.IDaaSProfile(), u2); err != nil {
		t.Fatal(err)
	}
	want = []string{beginSQL, "SELECT id FROM users WHERE user_name_low", "INSERT INTO users"}
	if got := rt.take(); !sentAsWanted(got, want) {
		t.Errorf("round trips in organization %s:\n got %q\nwant %q", orgID, got, want)
	}
	u3 := &directory.User{UserName: "rt-create-3@example.com", Active: true, OrgID: "no-such-org"}
	if _, _, err := svc.CreateUser(ctx, directory.Actor{Kind: "cli"}, directory.IDaaSProfile(), u3); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("a create in an organization that does not exist: %v, want ErrInvalid", err)
	}
}

// TestSealRoundTrips: a sealing round that finds a change pending waits
// for the database four times — the look (outside a transaction), the
// head's lock with the reads of what is pending (and BEGIN), the move
// into the chain and the outbox, and COMMIT — and one that finds nothing
// once.
func TestSealRoundTrips(t *testing.T) {
	url := testURL(t)
	s := openIn(t, url, freshSchema(t, url))
	ctx := context.Background()
	mustWrite(t, s, insert("u1", "one@example.com")) // sealed before it returns
	rt := traced(t, s, url)
	if _, err := s.writeOnce(ctx, func(t *tx) error {
		return t.AppendAudit(ctx, &directory.AuditEntry{Time: time.Now().UTC(), Action: "user.create", ResourceType: "User", ResourceID: "u1"})
	}); err != nil {
		t.Fatal(err)
	}
	rt.take()
	n, err := s.seal(ctx, true)
	if err != nil || n != 1 {
		t.Fatalf("seal: %d, %v; want 1 record", n, err)
	}
	want := []string{"SELECT EXISTS (SELECT 1 FROM audit_pendi", beginSQL, "WITH moved AS ( DELETE FROM audit_pendin", "commit"}
	if got := rt.take(); !sentAsWanted(got, want) {
		t.Errorf("round trips:\n got %q\nwant %q", got, want)
	}
	if n, err := s.seal(ctx, true); err != nil || n != 0 {
		t.Fatalf("seal of nothing: %d, %v", n, err)
	}
	if got := rt.take(); len(got) != 1 {
		t.Errorf("a round with nothing pending sent %q; want the look alone", got)
	}
	rep, err := directory.VerifyAudit(ctx, s, directory.VerifyOptions{})
	if err != nil || !rep.OK || rep.Records != 1 || rep.Unsealed != 0 {
		t.Errorf("verify: %v %+v; want 1 record, sealed", err, rep)
	}
}

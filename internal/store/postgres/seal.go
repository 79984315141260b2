package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Sealing (migration 0018). The audit chain needs a total order, and the
// dispatcher needs events numbered in commit order; taking both in every
// writing transaction, under the audit head's row lock, serialized every
// commit of every replica (fsync included). Instead:
//
//   - A change's transaction appends its audit record to audit_pending and
//     its events to events_pending, taking no lock, so that changes commit
//     in parallel (and the database can flush their commits together).
//   - Sealing moves the committed pending rows, in rid order, into the
//     chain and the outbox, in one transaction that holds the audit head's
//     row lock: each record gets the next seq, the previous record's hash
//     and its own (directory.AuditHash), each event the next events_seq.
//     What rolled back was never visible and is never sealed.
//   - Every process seals: after a transaction that appended commits, the
//     writer waits for the next sealing round of its process (one at a
//     time, covering every pending row committed before it started,
//     whoever wrote it) before it answers. So an acknowledged change's
//     audit record is in the chain, and its events are numbered, as
//     before. The rounds of several replicas take turns on the head lock;
//     each takes everything pending, so they batch under load.
//   - A process that dies between its commit and the round leaves pending
//     rows: the next round of any process seals them, and each process
//     looks for such rows every Options.SealEvery.
//
// The head lock is now held by sealing rounds, retention pruning, the
// receipt of external events and rules coming into force (which also seal
// first), for milliseconds, instead of by every write until its commit.

// sealBatch bounds how many rows one statement of a round moves.
const sealBatch = 5000

// vacuumAfter is how many sealed records make the sealer vacuum the
// pending tables (at most once a second).
const vacuumAfter = 1000

// sealer runs this process's sealing rounds.
type sealer struct {
	s       *Store
	log     *slog.Logger
	every   time.Duration
	kick    chan struct{}
	mu      sync.Mutex
	waiting []chan struct{} // writers waiting for the next round
	stop    context.CancelFunc
	done    chan struct{}
}

func startSealer(s *Store, every time.Duration, log *slog.Logger) *sealer {
	ctx, cancel := context.WithCancel(context.Background())
	z := &sealer{s: s, log: log, every: every, kick: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	go z.run(ctx)
	return z
}

func (z *sealer) run(ctx context.Context) {
	defer close(z.done)
	var sweep <-chan time.Time
	if z.every > 0 {
		t := time.NewTicker(z.every)
		defer t.Stop()
		sweep = t.C
	}
	failing := false
	sealed, vacuumed := 0, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-z.kick:
		case <-sweep:
		}
		z.mu.Lock()
		ws := z.waiting
		z.waiting = nil
		z.mu.Unlock()
		// Look first: the writers' rows may have been sealed already (by
		// the round before, or another process's), and an empty round
		// still locks the head and flushes its commit.
		n, err := z.s.seal(ctx, true)
		for _, w := range ws {
			close(w)
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			z.log.Error("audit sealing failed: committed audit records wait in audit_pending until a round succeeds", "err", err)
		case err == nil && failing:
			failing = false
			z.log.Info("audit sealing works again")
		}
		if sealed += n; sealed >= vacuumAfter && time.Since(vacuumed) >= time.Second {
			// Autovacuum wakes up once a minute: keep the queues small.
			// (A vacuum another process runs is not waited for.)
			if _, err := z.s.pool.Exec(ctx, `VACUUM (SKIP_LOCKED) audit_pending, events_pending`); err == nil {
				sealed, vacuumed = 0, time.Now()
			}
		}
	}
}

// wait returns once a sealing round that started after the call has
// ended, successful or not (a failed round leaves the rows pending for
// the next one: the writer's change is committed either way), or when the
// sealer stops. A caller whose context ends waits all the same: a
// committed change is acknowledged only once sealed, even to a request
// the server is stopping.
func (z *sealer) wait() {
	ch := make(chan struct{})
	z.mu.Lock()
	z.waiting = append(z.waiting, ch)
	z.mu.Unlock()
	select {
	case z.kick <- struct{}{}:
	default:
	}
	select {
	case <-ch:
	case <-z.done:
	}
}

func (z *sealer) close() {
	z.stop()
	<-z.done
}

// SealAudit moves every committed pending audit record and event into the
// chain and the outbox now, and returns how many audit records it sealed.
// Processes seal on their own (see above); this is for what must see the
// chain whole, such as a checkpoint about to be signed.
func (s *Store) SealAudit(ctx context.Context) (int, error) {
	return s.seal(ctx, false)
}

// seal runs one sealing round; with look, only when something is pending.
func (s *Store) seal(ctx context.Context, look bool) (int, error) {
	if look {
		// By the primary keys (see seal), outside a transaction: no
		// transaction id, nothing to flush.
		var pending bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_pending ORDER BY rid LIMIT 1)
			OR EXISTS (SELECT 1 FROM events_pending ORDER BY rid LIMIT 1)`).Scan(&pending)
		if err != nil || !pending {
			return 0, err
		}
	}
	var n int
	err := s.write(ctx, func(t *tx) error {
		var err error
		n, err = t.seal(ctx)
		return err
	})
	return n, err
}

// auditPendingCols are audit_pending's columns, as scanAudit reads them (seq,
// prev_hash and hash are what sealing gives a record).
const auditPendingCols = `rid, at, actor_kind, actor_app_id, actor_app_name, actor_token_id, request_id, action, resource_type, resource_id, before, after, '', ''`

// seal takes the audit head's row lock (held until the transaction ends)
// and moves every pending row committed so far into the chain and the
// outbox. It returns how many audit records it sealed.
func (t *tx) seal(ctx context.Context) (int, error) {
	// The pending tables are queues: between two vacuums they hold many
	// deleted rows and few live ones, which a sequential scan would read
	// every time; their primary keys skip them (deleted entries are marked
	// dead in the index as scans meet them). The round's statements are
	// few and pipelined: a round costs the same whether it seals one
	// record or a thousand.
	var headSeq int64
	var headHash string
	sealed := 0
	for first := true; ; first = false {
		b := &pgx.Batch{}
		if first {
			// (With sequential scans off, the scan of events_seq, which
			// can only be one, looks so expensive that the planner would
			// JIT-compile the statement: 200 ms. No JIT in this
			// transaction.) The head's lock, then the reads below, in one
			// round trip: statements of a batch run one after another, so
			// the reads run once the lock is held.
			b.Queue(`SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true), set_config('gatehouse.audit_seal', 'on', true)`)
			b.Queue(`SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`)
		}
		// What is pending now (READ COMMITTED: as of this statement,
		// taken after the lock), and where events_seq stands: only
		// holders of the head lock take its values.
		b.Queue(`SELECT `+auditPendingCols+` FROM audit_pending ORDER BY rid LIMIT $1`, sealBatch)
		b.Queue(`SELECT coalesce((SELECT array_agg(rid ORDER BY rid) FROM (SELECT rid FROM events_pending ORDER BY rid LIMIT $1) e), '{}'),
			(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM events_seq)`, sealBatch)
		br := t.tx.SendBatch(ctx, b)
		var err error
		if first {
			if _, err = br.Exec(); err == nil {
				err = br.QueryRow().Scan(&headSeq, &headHash)
			}
		}
		var recs []*directory.AuditEntry
		if err == nil {
			recs, err = readPending(br)
		}
		var evRids []int64
		var evBase int64
		if err == nil {
			err = br.QueryRow().Scan(&evRids, &evBase)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return sealed, fmt.Errorf("seal audit: %w", err)
		}
		if len(recs) == 0 && len(evRids) == 0 {
			return sealed, nil
		}
		b = &pgx.Batch{}
		if len(recs) > 0 {
			rids, seqs, prevs, hashes := make([]int64, len(recs)), make([]int64, len(recs)), make([]string, len(recs)), make([]string, len(recs))
			for i, e := range recs {
				rids[i] = e.Seq // the rid, until it has a seq
				headSeq++
				e.Seq, e.PrevHash = headSeq, headHash
				e.Hash = directory.AuditHash(e.PrevHash, e)
				headHash = e.Hash
				seqs[i], prevs[i], hashes[i] = e.Seq, e.PrevHash, e.Hash
			}
			// Moved, and the head moved, in one statement.
			b.Queue(`WITH moved AS (
					DELETE FROM audit_pending p USING unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u (rid, seq, prev_hash, hash)
					WHERE p.rid = u.rid
					RETURNING u.seq, p.at, p.actor_kind, p.actor_app_id, p.actor_app_name, p.actor_token_id, p.request_id,
						p.action, p.resource_type, p.resource_id, p.before, p.after, u.prev_hash, u.hash
				), ins AS (
					INSERT INTO audit_log (seq, at, actor_kind, actor_app_id, actor_app_name, actor_token_id, request_id,
						action, resource_type, resource_id, before, after, prev_hash, hash)
					SELECT * FROM moved
					RETURNING 1
				)
				UPDATE audit_head SET seq = $5, hash = $6 WHERE id = 1 AND (SELECT count(*) FROM ins) = $7`,
				rids, seqs, prevs, hashes, headSeq, headHash, len(recs))
		}
		if len(evRids) > 0 {
			// Numbered in rid order from the sequence's next value; the
			// sequence moves past them.
			b.Queue(`WITH moved AS (
					DELETE FROM events_pending WHERE rid = ANY($1) RETURNING *
				), ins AS (
					INSERT INTO events (seq, id, source, type, subject, time, actor, resource_type, resource_id, data)
					SELECT $2::bigint + row_number() OVER (ORDER BY m.rid), m.id, '', m.type, m.subject, m.time, m.actor,
						m.resource_type, m.resource_id, m.data
					FROM moved m
				)
				SELECT setval('events_seq', $3)`, evRids, evBase, evBase+int64(len(evRids)))
		}
		br = t.tx.SendBatch(ctx, b)
		for i := range b.Len() {
			var tag pgconn.CommandTag
			if tag, err = br.Exec(); err != nil {
				break
			}
			if i == 0 && len(recs) > 0 && tag.RowsAffected() != 1 {
				// A record read a moment ago is gone: someone else moved
				// it, which the head lock rules out. Seal nothing.
				err = errors.New("pending audit records changed while being sealed")
				break
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return sealed, fmt.Errorf("seal audit: %w", err)
		}
		sealed += len(recs)
		if len(recs) < sealBatch && len(evRids) < sealBatch {
			return sealed, nil
		}
	}
}

// readPending reads the batch's pending audit records, each with its rid
// in Seq.
func readPending(br pgx.BatchResults) ([]*directory.AuditEntry, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	return collectAudit(rows)
}

// AuditUnsealed returns how many audit records are committed but not yet
// sealed into the chain, and the time of the oldest.
func (s *Store) AuditUnsealed(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, `SELECT count(*), min(at) FROM audit_pending`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("unsealed audit records: %w", err)
	}
	return n, oldest.Time.UTC(), nil
}

// appendChained appends e to the chain itself, under the head's row lock
// (taken here if this transaction does not hold it yet), after sealing
// what is pending: for the audit.prune record, which must be in the chain
// in the transaction of its deletion.
func (t *tx) appendChained(ctx context.Context, e *directory.AuditEntry) error {
	if _, err := t.seal(ctx); err != nil {
		return err
	}
	var headSeq int64
	var headHash string
	if err := t.tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&headSeq, &headHash); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	e.Seq, e.Time, e.PrevHash = headSeq+1, e.Time.UTC().Truncate(time.Microsecond), headHash
	e.Hash = directory.AuditHash(e.PrevHash, e)
	// The record and the head move in one statement.
	_, err := t.tx.Exec(ctx, `WITH rec AS (
			INSERT INTO audit_log (seq, at, actor_kind, actor_app_id, actor_app_name, actor_token_id, request_id,
				action, resource_type, resource_id, before, after, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			RETURNING seq, hash
		)
		UPDATE audit_head h SET seq = rec.seq, hash = rec.hash FROM rec WHERE h.id = 1`,
		e.Seq, e.Time, e.Actor.Kind, nullStr(e.Actor.AppID), nullStr(e.Actor.AppName), nullStr(e.Actor.TokenID), nullStr(e.Actor.RequestID),
		e.Action, e.ResourceType, e.ResourceID, snapshot(e.Before), snapshot(e.After), e.PrevHash, e.Hash)
	if err != nil {
		return conflict(err, "append audit")
	}
	return nil
}

// AppendAudit appends e to audit_pending, taking no lock; sealing gives it
// its seq and hash once the transaction has committed (e.Seq stays 0). The
// insert is queued: it goes with the commit, or with the next statement.
func (t *tx) AppendAudit(ctx context.Context, e *directory.AuditEntry) error {
	e.Seq, e.Time, e.PrevHash, e.Hash = 0, e.Time.UTC().Truncate(time.Microsecond), "", ""
	t.tx.queue(deferredStmt{op: "append audit", sql: `INSERT INTO audit_pending (at, actor_kind, actor_app_id,
			actor_app_name, actor_token_id, request_id, action, resource_type, resource_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		args: []any{e.Time, e.Actor.Kind, nullStr(e.Actor.AppID), nullStr(e.Actor.AppName), nullStr(e.Actor.TokenID),
			nullStr(e.Actor.RequestID), e.Action, e.ResourceType, e.ResourceID, snapshot(e.Before), snapshot(e.After)}})
	t.appended = true
	return nil
}

// AppendEvents writes a change's events to events_pending, taking no lock,
// with rids in the order of evs (unnest yields its rows in order, and
// nextval is taken as each row is produced); sealing numbers them (their
// Seq stays 0). The insert is queued (pipeTx.queue).
func (t *tx) AppendEvents(ctx context.Context, evs []*directory.EventRecord) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	ids, types, subjects, actors, resTypes, resIDs, data := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]time.Time, n)
	for i, e := range evs {
		actor, _ := json.Marshal(e.Actor) // strings only: cannot fail
		ids[i], types[i], subjects[i], times[i], actors[i] = e.ID, e.Type, e.Subject, e.Time.UTC(), string(actor)
		resTypes[i], resIDs[i], data[i] = e.ResourceType, e.ResourceID, string(e.Data)
		e.Seq = 0
	}
	t.tx.queue(deferredStmt{op: "append events", sql: `INSERT INTO events_pending
			(rid, id, type, subject, time, actor, resource_type, resource_id, data)
		SELECT nextval('pending_rid'), e.id, e.type, e.subject, e.time, e.actor::jsonb, e.resource_type, e.resource_id, e.data
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[])
			AS e (id, type, subject, time, actor, resource_type, resource_id, data)`,
		args: []any{ids, types, subjects, times, actors, resTypes, resIDs, data}})
	t.appended = true
	return nil
}

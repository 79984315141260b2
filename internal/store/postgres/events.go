package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// The event pipeline's tables (migration 0002). What differs from the
// SQLite store, which has a single writer:
//
//   - Events get their seqs only under the audit chain head's row lock,
//     held until commit: a change's events when they are sealed (seal.go),
//     received events in AppendExternal, which locks the head first. So
//     seq order is commit order and a reader of "seq > cursor" never skips
//     an event committed late.
//   - Dispatch moves the cursor by compare-and-set, first: a second
//     dispatcher from the same cursor waits for the first and then finds the
//     cursor moved.
//   - Claim locks due deliveries FOR UPDATE SKIP LOCKED, so that claimers in
//     several replicas take disjoint sets without waiting for each other.
//   - Multi-row writes send arrays (unnest) and pipeline their statements.

var _ events.Store = (*Store)(nil)

const eventCols = `seq, id, source, type, subject, time, actor, resource_type, resource_id, data`

func scanEventRecord(sc scanner) (*directory.EventRecord, error) {
	var e directory.EventRecord
	var source, data string
	var actor []byte
	if err := sc.Scan(&e.Seq, &e.ID, &source, &e.Type, &e.Subject, &e.Time, &actor, &e.ResourceType, &e.ResourceID, &data); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	if err := json.Unmarshal(actor, &e.Actor); err != nil {
		return nil, fmt.Errorf("event %d: bad actor: %w", e.Seq, err)
	}
	e.Data = json.RawMessage(data)
	// A received event: the actor is the application that posted it.
	e.Source = source
	return &e, nil
}

// EventsAfter returns outbox records after seq, in order.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]*directory.EventRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventCols+` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	out, err := collect(rows, scanEventRecord)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// AppendExternal stores received events, skipping those the same
// application has posted before with the same source and id (the key
// events.Store describes), and records the receipt of the new ones in the audit log, in one
// transaction. It takes the audit head's lock before the events' seqs, as
// every taker of event seqs does (see above); holding it, it is also the
// only writer of events, so the inserts that do nothing on conflict tell
// exactly which events are new.
func (s *Store) AppendExternal(ctx context.Context, evs []*events.External, actor directory.Actor) ([]bool, error) {
	fresh := make([]bool, len(evs))
	if len(evs) == 0 {
		return fresh, nil
	}
	a, _ := json.Marshal(actor) // strings only: cannot fail
	err := s.write(ctx, func(t *tx) error {
		clear(fresh)
		if _, err := t.tx.Exec(ctx, `SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
			return fmt.Errorf("store received events: %w", err)
		}
		// One insert per event, in order, in one round trip: a
		// (source, id) repeated within evs is new only the first time.
		b := &pgx.Batch{}
		for _, e := range evs {
			b.Queue(`INSERT INTO events (seq, id, source, receiver, type, subject, time, actor, resource_type, resource_id, data)
				VALUES (nextval('events_seq'), $1, $2, $3, $4, $5, $6, $7, 'Event', $1, $8)
				ON CONFLICT (source, id, receiver) DO NOTHING`,
				e.ID, e.Source, actor.AppID, e.Type, e.Subject, e.Time.UTC(), string(a), string(e.Doc))
		}
		br := t.tx.SendBatch(ctx, b)
		var ids []string
		for i, e := range evs {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return conflict(err, "store received event")
			}
			if fresh[i] = tag.RowsAffected() > 0; fresh[i] {
				ids = append(ids, e.ID)
			}
		}
		if err := br.Close(); err != nil {
			return conflict(err, "store received event")
		}
		if len(ids) == 0 {
			return nil
		}
		after, _ := json.Marshal(map[string]any{"count": len(ids), "ids": ids})
		return t.AppendAudit(ctx, &directory.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: "event.receive",
			ResourceType: "Event", ResourceID: ids[0], After: after})
	})
	if err != nil {
		return nil, err
	}
	return fresh, nil
}

// DispatchCursor returns the seq of the last dispatched event.
func (s *Store) DispatchCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT seq FROM event_cursor WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("dispatch cursor: %w", err)
	}
	return seq, nil
}

// Dispatch stores documents and deliveries and moves the cursor, in one
// transaction whose three statements go in one round trip. The cursor moves
// first, by compare-and-set: a concurrent dispatcher from the same cursor
// waits for the row, then finds it moved and fails with
// events.ErrCursorMoved (its inserts roll back with it).
func (s *Store) Dispatch(ctx context.Context, from, to int64, docs []*events.EventDoc, ds []*events.Delivery) error {
	// A document given twice for one seq: the last one wins, as one
	// upsert after another would have it (one statement cannot upsert a
	// row twice).
	last := make(map[int64]int, len(docs))
	for i, d := range docs {
		last[d.Seq] = i
	}
	var (
		docSeqs         []int64
		docIDs, docText []string
	)
	for i, d := range docs {
		if last[d.Seq] == i {
			docSeqs, docIDs, docText = append(docSeqs, d.Seq), append(docIDs, d.ID), append(docText, string(d.Doc))
		}
	}
	n := len(ds)
	var (
		dIDs, evIDs, evTypes, rules, targets, subjects, payloads = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seqs                     = make([]int64, n)
		evTimes, nextAts, create = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	)
	for i, d := range ds {
		dIDs[i], seqs[i], evIDs[i], evTypes[i], evTimes[i] = d.ID, d.EventSeq, d.EventID, d.EventType, d.EventTime.UTC()
		rules[i], targets[i], subjects[i], payloads[i] = d.Rule, d.Target, d.Subject, string(d.Payload)
		nextAts[i], create[i] = d.NextAt.UTC(), d.Created.UTC()
	}
	return s.write(ctx, func(t *tx) error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE event_cursor SET seq = $1 WHERE id = 1 AND seq = $2`, to, from)
		if len(docSeqs) > 0 {
			b.Queue(`INSERT INTO event_docs (seq, id, doc)
				SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
				ON CONFLICT (seq) DO UPDATE SET id = excluded.id, doc = excluded.doc`, docSeqs, docIDs, docText)
		}
		if n > 0 {
			b.Queue(`INSERT INTO deliveries (id, event_seq, event_id, event_type, event_time, rule, target, subject, payload,
					state, attempts, next_at, created, updated)
				SELECT d.id, d.event_seq, d.event_id, d.event_type, d.event_time, d.rule, d.target, d.subject, d.payload,
					'pending', 0, d.next_at, d.created, d.created
				FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[],
					$9::text[], $10::timestamptz[], $11::timestamptz[])
					AS d (id, event_seq, event_id, event_type, event_time, rule, target, subject, payload, next_at, created)`,
				dIDs, seqs, evIDs, evTypes, evTimes, rules, targets, subjects, payloads, nextAts, create)
		}
		br := t.tx.SendBatch(ctx, b)
		defer br.Close()
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return events.ErrCursorMoved
		}
		for range b.Len() - 1 {
			if _, err := br.Exec(); err != nil {
				return conflict(err, "dispatch")
			}
		}
		if err := br.Close(); err != nil {
			return conflict(err, "dispatch")
		}
		return nil
	})
}

const deliveryCols = `d.id, d.event_seq, d.event_id, d.event_type, d.event_time, d.rule, d.target, d.subject, d.payload, d.state,
	d.attempts, d.replays, d.replay_base, d.next_at, d.lease_until, d.created, d.updated, d.last_status, d.last_error, d.uncertain_since`

func scanDelivery(sc scanner, extra ...any) (*events.Delivery, error) {
	var d events.Delivery
	var payload string
	var lease, uncertain pgtype.Timestamptz
	var lastStatus pgtype.Int4
	var lastErr pgtype.Text
	dest := append([]any{&d.ID, &d.EventSeq, &d.EventID, &d.EventType, &d.EventTime, &d.Rule, &d.Target, &d.Subject, &payload, &d.State,
		&d.Attempts, &d.Replays, &d.ReplayBase, &d.NextAt, &lease, &d.Created, &d.Updated, &lastStatus, &lastErr, &uncertain}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	d.Payload = json.RawMessage(payload)
	d.EventTime, d.NextAt, d.Created, d.Updated = d.EventTime.UTC(), d.NextAt.UTC(), d.Created.UTC(), d.Updated.UTC()
	if lease.Valid {
		d.LeaseUntil = lease.Time.UTC()
	}
	if uncertain.Valid {
		d.UncertainSince = uncertain.Time.UTC()
	}
	d.LastStatus, d.LastError = int(lastStatus.Int32), lastErr.String
	return &d, nil
}

func scanDeliveryRow(sc scanner) (*events.Delivery, error) { return scanDelivery(sc) }

// Claim takes due deliveries of target, in one statement: it locks them
// FOR UPDATE SKIP LOCKED (rows another claimer holds are skipped, and rows
// one claimed since the statement began fail the recheck of state), marks
// them running and returns them with their event documents. With ordered,
// a delivery waits while an earlier one of the same target and subject is
// pending or running; a claimer that sees the earlier one finished sees the
// commit that finished it, so two deliveries of one subject never run at
// once. The statement never waits for a lock.
func (s *Store) Claim(ctx context.Context, target string, now time.Time, limit int, lease time.Duration, ordered bool) ([]*events.Delivery, error) {
	if limit <= 0 || !storable(target) {
		return nil, nil
	}
	wait := ""
	if ordered {
		wait = ` AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.target = d.target AND e.subject = d.subject
				AND e.state IN ('pending', 'running') AND e.event_seq < d.event_seq)`
	}
	rows, err := s.pool.Query(ctx, `WITH due AS MATERIALIZED (
			SELECT d.id FROM deliveries d
			WHERE d.target = $1 AND d.state = 'pending' AND d.next_at <= $2`+wait+`
			ORDER BY d.next_at, d.event_seq
			LIMIT $3
			FOR UPDATE OF d SKIP LOCKED
		), claimed AS (
			UPDATE deliveries d SET state = 'running', attempts = d.attempts + 1, lease_until = $4, updated = $2
			FROM due WHERE d.id = due.id
			RETURNING d.*
		)
		SELECT `+deliveryCols+`, e.doc FROM claimed d JOIN event_docs e ON e.seq = d.event_seq
		ORDER BY d.event_seq, d.id COLLATE "C"`,
		target, now.UTC(), limit, now.Add(lease).UTC())
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (*events.Delivery, error) {
		var doc string
		d, err := scanDelivery(sc, &doc)
		if err != nil {
			return nil, err
		}
		d.Event = json.RawMessage(doc)
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return out, nil
}

// Complete records attempts and new states, in one transaction of two
// statements sent in one round trip.
func (s *Store) Complete(ctx context.Context, cs []*events.Completion, now time.Time) error {
	if len(cs) == 0 {
		return nil
	}
	// One statement cannot write a row twice: fold repeats into what one
	// write after another would leave. Attempts are appended, never
	// rewritten: an attempt given twice keeps the first (and one already
	// stored stays, ON CONFLICT DO NOTHING); a delivery takes the last
	// state, the NextAt of the last retry (next_at moves only for pending)
	// and the time of the first uncertain attempt.
	type attemptKey struct {
		id string
		n  int
	}
	type state struct {
		id, state, err string
		status         int
		next           *time.Time
		uncertain      *time.Time
	}
	attempts := map[attemptKey]*events.Attempt{}
	states := map[string]*state{}
	for _, c := range cs {
		a := c.Attempt
		if _, dup := attempts[attemptKey{a.DeliveryID, a.N}]; !dup {
			attempts[attemptKey{a.DeliveryID, a.N}] = &a
		}
		st := states[a.DeliveryID]
		if st == nil {
			st = &state{id: a.DeliveryID}
			states[a.DeliveryID] = st
		}
		st.state, st.status, st.err = c.State, a.Status, a.Error
		if c.State == events.StatePending {
			next := c.NextAt.UTC()
			st.next = &next
		}
		if c.Uncertain && st.uncertain == nil {
			at := a.At.UTC()
			st.uncertain = &at
		}
	}
	var (
		aIDs, outcomes  []string
		ns, statuses    []int32
		ats             []time.Time
		latencies       []int64
		responses, errs []*string
	)
	// In key order, as the deliveries below: concurrent completions lock
	// rows in one order.
	for _, k := range slices.SortedFunc(maps.Keys(attempts), func(x, y attemptKey) int {
		return cmp.Or(cmp.Compare(x.id, y.id), cmp.Compare(x.n, y.n))
	}) {
		a := attempts[k]
		aIDs, ns, ats, outcomes = append(aIDs, a.DeliveryID), append(ns, int32(a.N)), append(ats, a.At.UTC()), append(outcomes, a.Outcome)
		statuses, latencies = append(statuses, int32(a.Status)), append(latencies, a.Latency.Microseconds())
		responses, errs = append(responses, nullStr(a.Response)), append(errs, nullStr(a.Error))
	}
	var (
		dIDs, dStates     []string
		dNext, dUncertain []*time.Time
		dStatus           []int32
		dErrs             []*string
	)
	for _, id := range slices.Sorted(maps.Keys(states)) {
		st := states[id]
		dIDs, dStates, dNext, dUncertain = append(dIDs, id), append(dStates, st.state), append(dNext, st.next), append(dUncertain, st.uncertain)
		dStatus, dErrs = append(dStatus, int32(st.status)), append(dErrs, nullStr(st.err))
	}
	return s.write(ctx, func(t *tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO delivery_attempts (delivery_id, n, at, outcome, status, latency_us, response, error)
			SELECT * FROM unnest($1::text[], $2::integer[], $3::timestamptz[], $4::text[], $5::integer[], $6::bigint[], $7::text[], $8::text[])
			ON CONFLICT (delivery_id, n) DO NOTHING`,
			aIDs, ns, ats, outcomes, statuses, latencies, responses, errs)
		b.Queue(`UPDATE deliveries d SET state = c.state, next_at = COALESCE(c.next_at, d.next_at), lease_until = NULL, updated = $1,
				last_status = c.status, last_error = c.error, uncertain_since = COALESCE(d.uncertain_since, c.uncertain)
			FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::integer[], $6::text[], $7::timestamptz[])
				AS c (id, state, next_at, status, error, uncertain)
			WHERE d.id = c.id`,
			now.UTC(), dIDs, dStates, dNext, dStatus, dErrs, dUncertain)
		if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
			return conflict(err, "record attempt")
		}
		return nil
	})
}

// NextDue returns the earliest next attempt of target's pending deliveries.
func (s *Store) NextDue(ctx context.Context, target string) (time.Time, error) {
	if !storable(target) {
		return time.Time{}, nil
	}
	var next pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, `SELECT min(next_at) FROM deliveries WHERE target = $1 AND state = 'pending'`, target).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("next due delivery: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return next.Time.UTC(), nil
}

// writeExec runs one statement as a write transaction (so retried as write
// retries it) and returns the number of rows it affected.
func (s *Store) writeExec(ctx context.Context, op, query string, args ...any) (int64, error) {
	var n int64
	err := s.write(ctx, func(t *tx) error {
		tag, err := t.tx.execOnly(ctx, query, args...)
		if err != nil {
			return conflict(err, op)
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}

// Recover returns expired running deliveries to pending. Their attempt's
// outcome is unknown: it may have reached the target since its claim
// (updated).
func (s *Store) Recover(ctx context.Context, now time.Time) (int64, error) {
	return s.writeExec(ctx, "recover deliveries", `UPDATE deliveries SET state = 'pending', lease_until = NULL,
		uncertain_since = COALESCE(uncertain_since, updated), updated = $1, next_at = $1
		WHERE state = 'running' AND lease_until < $1`, now.UTC())
}

// deliveryWhere returns the conditions of q on deliveries d, and args with
// their arguments appended (numbered after those already there); false when
// q holds text that no delivery can hold.
func deliveryWhere(q *events.DeliveryQuery, args []any) ([]string, []any, bool) {
	var conds []string
	for _, c := range []struct{ col, v string }{{"d.target", q.Target}, {"d.rule", q.Rule}, {"d.state", q.State}, {"d.event_id", q.EventID}} {
		if c.v == "" {
			continue
		}
		if !storable(c.v) {
			return nil, nil, false
		}
		args = append(args, c.v)
		conds = append(conds, c.col+" = $"+strconv.Itoa(len(args)))
	}
	if q.BeforeSeq > 0 {
		args = append(args, q.BeforeSeq)
		conds = append(conds, "d.event_seq < $"+strconv.Itoa(len(args)))
	}
	return conds, args, true
}

// Deliveries lists deliveries, newest event first.
func (s *Store) Deliveries(ctx context.Context, q events.DeliveryQuery) ([]*events.Delivery, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	conds, args, ok := deliveryWhere(&q, nil)
	if !ok {
		return nil, nil
	}
	args = append(args, q.Limit)
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryCols+` FROM deliveries d`+whereClause(conds)+`
		ORDER BY d.event_seq DESC, d.id COLLATE "C" LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out, err := collect(rows, scanDeliveryRow)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// Delivery returns one delivery.
func (s *Store) Delivery(ctx context.Context, id string) (*events.Delivery, error) {
	if !storable(id) {
		return nil, notFound("Delivery", id)
	}
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries d WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Delivery", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get delivery: %w", err)
	}
	return d, nil
}

// Attempts lists a delivery's attempts in order.
func (s *Store) Attempts(ctx context.Context, deliveryID string) ([]*events.Attempt, error) {
	if !storable(deliveryID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT delivery_id, n, at, outcome, status, latency_us, response, error
		FROM delivery_attempts WHERE delivery_id = $1 ORDER BY n`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (*events.Attempt, error) {
		var a events.Attempt
		var status pgtype.Int4
		var us int64
		var resp, errText pgtype.Text
		if err := sc.Scan(&a.DeliveryID, &a.N, &a.At, &a.Outcome, &status, &us, &resp, &errText); err != nil {
			return nil, err
		}
		a.At = a.At.UTC()
		a.Status, a.Latency, a.Response, a.Error = int(status.Int32), time.Duration(us)*time.Microsecond, resp.String, errText.String
		return &a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return out, nil
}

// EventDocument returns the document of a dispatched event.
func (s *Store) EventDocument(ctx context.Context, seq int64) (json.RawMessage, error) {
	var doc string
	err := s.pool.QueryRow(ctx, `SELECT doc FROM event_docs WHERE seq = $1`, seq).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Event", strconv.FormatInt(seq, 10))
	}
	if err != nil {
		return nil, fmt.Errorf("get event document: %w", err)
	}
	return json.RawMessage(doc), nil
}

// Replay makes deliveries pending again, due now; their attempts stay
// counted and logged, and the schedule starts over (replay_base).
// A running delivery is left alone: its worker will complete it (a replay
// that waits for a claim's lock sees the delivery running).
func (s *Store) Replay(ctx context.Context, ids []string, q *events.DeliveryQuery, now time.Time, audit *directory.AuditEntry) (int64, error) {
	const set = `UPDATE deliveries d SET state = 'pending', replays = d.replays + 1, replay_base = d.attempts, uncertain_since = NULL,
		next_at = $1, lease_until = NULL, updated = $1
		WHERE d.state <> 'running'`
	args := []any{now.UTC()}
	var query string
	switch {
	case len(ids) > 0:
		keys := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !storable(id) }) // no delivery has them
		if len(keys) == 0 {
			return 0, nil
		}
		query, args = set+` AND d.id = ANY($2)`, append(args, keys)
	case q != nil:
		conds, qargs, ok := deliveryWhere(q, args)
		if !ok {
			return 0, nil
		}
		query, args = set+strings.Join(append([]string{""}, conds...), " AND "), qargs
	default:
		return 0, nil
	}
	var n int64
	err := s.write(ctx, func(t *tx) error {
		tag, err := t.tx.Exec(ctx, query, args...)
		if err != nil {
			return conflict(err, "replay")
		}
		n = tag.RowsAffected()
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
	return n, err
}

// Prune deletes finished deliveries (their attempts go with them, ON DELETE
// CASCADE) and then dispatched events, with their documents, older than
// before that have no delivery left.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	before = before.UTC()
	err := s.write(ctx, func(t *tx) error {
		tag, err := t.tx.Exec(ctx, `DELETE FROM deliveries WHERE state IN ('delivered', 'dead') AND updated < $1`, before)
		if err != nil {
			return fmt.Errorf("prune deliveries: %w", err)
		}
		n = tag.RowsAffected()
		if _, err := t.tx.Exec(ctx, `DELETE FROM event_docs WHERE seq <= (SELECT seq FROM event_cursor WHERE id = 1)
			AND seq IN (SELECT seq FROM events WHERE time < $1)
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = event_docs.seq)`, before); err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		if _, err := t.tx.Exec(ctx, `DELETE FROM events WHERE time < $1 AND seq <= (SELECT seq FROM event_cursor WHERE id = 1)
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)`, before); err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		return nil
	})
	return n, err
}

// Backlog counts deliveries by target and state.
func (s *Store) Backlog(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT target, state, count(*) FROM deliveries GROUP BY target, state`)
	if err != nil {
		return nil, fmt.Errorf("delivery backlog: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	for rows.Next() {
		var target, state string
		var n int64
		if err := rows.Scan(&target, &state, &n); err != nil {
			return nil, fmt.Errorf("delivery backlog: %w", err)
		}
		if out[target] == nil {
			out[target] = map[string]int64{}
		}
		out[target][state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery backlog: %w", err)
	}
	return out, nil
}

// TargetsDisabled lists disabled targets and why.
func (s *Store) TargetsDisabled(ctx context.Context) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT target, reason FROM targets_disabled`)
	if err != nil {
		return nil, fmt.Errorf("disabled targets: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var target, reason string
		if err := rows.Scan(&target, &reason); err != nil {
			return nil, fmt.Errorf("disabled targets: %w", err)
		}
		out[target] = reason
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("disabled targets: %w", err)
	}
	return out, nil
}

// SetTargetDisabled disables or re-enables a target.
func (s *Store) SetTargetDisabled(ctx context.Context, target, reason string, disabled bool, audit *directory.AuditEntry) error {
	if !disabled && !storable(target) && audit == nil {
		return nil // no row holds it
	}
	return s.write(ctx, func(t *tx) error {
		var err error
		switch {
		case disabled:
			_, err = t.tx.Exec(ctx, `INSERT INTO targets_disabled (target, reason, since) VALUES ($1, $2, $3)
				ON CONFLICT (target) DO UPDATE SET reason = excluded.reason, since = excluded.since`, target, reason, time.Now().UTC())
		case storable(target):
			_, err = t.tx.Exec(ctx, `DELETE FROM targets_disabled WHERE target = $1`, target)
		}
		if err != nil {
			return conflict(err, "set target disabled")
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
}

// AttemptsSince returns the delivery attempts made at or after since,
// oldest first, at most limit (the console's charts).
func (s *Store) AttemptsSince(ctx context.Context, since time.Time, limit int) ([]events.AttemptPoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.at, d.target, a.outcome, a.latency_us
		FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE a.at >= $1 ORDER BY a.at LIMIT $2`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("attempts since: %w", err)
	}
	defer rows.Close()
	var out []events.AttemptPoint
	for rows.Next() {
		var p events.AttemptPoint
		var us int64
		if err := rows.Scan(&p.At, &p.Target, &p.Outcome, &us); err != nil {
			return nil, err
		}
		p.At, p.Latency = p.At.UTC(), time.Duration(us)*time.Microsecond
		out = append(out, p)
	}
	return out, rows.Err()
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

var _ events.Store = (*Store)(nil)

// AppendEvents writes a change's events to the outbox. The single writer
// makes seq commit order.
func (t *tx) AppendEvents(ctx context.Context, evs []*directory.EventRecord) error {
	for _, e := range evs {
		actor, _ := json.Marshal(e.Actor)
		err := t.tx.QueryRowContext(ctx, `INSERT INTO events (id, source, type, subject, time, actor, resource_type, resource_id, data)
			VALUES (?, '', ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
			e.ID, e.Type, e.Subject, fmtTime(e.Time), string(actor), e.ResourceType, e.ResourceID, string(e.Data)).Scan(&e.Seq)
		if err != nil {
			return fmt.Errorf("append event: %w", err)
		}
	}
	return nil
}

func scanEventRecord(sc scanner) (*directory.EventRecord, error) {
	var e directory.EventRecord
	var source, at, actor, data string
	if err := sc.Scan(&e.Seq, &e.ID, &source, &e.Type, &e.Subject, &at, &actor, &e.ResourceType, &e.ResourceID, &data); err != nil {
		return nil, err
	}
	var err error
	if e.Time, err = parseTime(at); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(actor), &e.Actor); err != nil {
		return nil, fmt.Errorf("event %d: bad actor: %w", e.Seq, err)
	}
	e.Data = json.RawMessage(data)
	// A received event: the actor is the application that posted it.
	e.Source = source
	return &e, nil
}

// EventsAfter returns outbox records after seq, in order.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]*directory.EventRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, id, source, type, subject, time, actor, resource_type, resource_id, data
		FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return collect(rows, scanEventRecord)
}

// AppendExternal stores received events, skipping those the same
// application has posted before with the same source and id (the key
// events.Store describes).
func (s *Store) AppendExternal(ctx context.Context, evs []*events.External, actor directory.Actor) ([]bool, error) {
	fresh := make([]bool, len(evs))
	a, _ := json.Marshal(actor) // strings only: cannot fail
	err := s.submit(ctx, func(t *tx) error {
		var ids []string
		for i, e := range evs {
			res, err := t.tx.ExecContext(ctx, `INSERT OR IGNORE INTO events (id, source, receiver, type, subject, time, actor, resource_type, resource_id, data)
				VALUES (?, ?, ?, ?, ?, ?, ?, 'Event', ?, ?)`,
				e.ID, e.Source, actor.AppID, e.Type, e.Subject, fmtTime(e.Time), string(a), e.ID, string(e.Doc))
			if err != nil {
				return fmt.Errorf("store received event: %w", err)
			}
			n, _ := res.RowsAffected()
			fresh[i] = n > 0
			if fresh[i] {
				ids = append(ids, e.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		after, _ := json.Marshal(map[string]any{"count": len(ids), "ids": ids})
		return t.AppendAudit(ctx, &directory.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: "event.receive",
			ResourceType: "Event", ResourceID: ids[0], After: after})
	})
	return fresh, err
}

// DispatchCursor returns the seq of the last dispatched event.
func (s *Store) DispatchCursor(ctx context.Context) (int64, error) {
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT seq FROM event_cursor WHERE id = 1`).Scan(&seq)
	return seq, err
}

// Dispatch stores documents and deliveries and moves the cursor.
func (s *Store) Dispatch(ctx context.Context, from, to int64, docs []*events.EventDoc, ds []*events.Delivery) error {
	return s.submit(ctx, func(t *tx) error {
		res, err := t.tx.ExecContext(ctx, `UPDATE event_cursor SET seq = ? WHERE id = 1 AND seq = ?`, to, from)
		if err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return events.ErrCursorMoved
		}
		for _, d := range docs {
			if _, err := t.tx.ExecContext(ctx, `INSERT OR REPLACE INTO event_docs (seq, id, doc) VALUES (?, ?, ?)`, d.Seq, d.ID, string(d.Doc)); err != nil {
				return fmt.Errorf("dispatch: %w", err)
			}
		}
		for _, d := range ds {
			_, err := t.tx.ExecContext(ctx, `INSERT INTO deliveries (id, event_seq, event_id, event_type, event_time, rule, target, subject, payload,
					state, attempts, next_at, created, updated)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
				d.ID, d.EventSeq, d.EventID, d.EventType, fmtTime(d.EventTime), d.Rule, d.Target, d.Subject, string(d.Payload),
				events.StatePending, fmtTime(d.NextAt), fmtTime(d.Created), fmtTime(d.Created))
			if err != nil {
				return fmt.Errorf("dispatch: %w", err)
			}
		}
		return nil
	})
}

const deliveryCols = `d.id, d.event_seq, d.event_id, d.event_type, d.event_time, d.rule, d.target, d.subject, d.payload, d.state,
	d.attempts, d.replays, d.replay_base, d.next_at, d.lease_until, d.created, d.updated, d.last_status, d.last_error, d.uncertain_since`

func scanDelivery(sc scanner, extra ...any) (*events.Delivery, error) {
	var d events.Delivery
	var payload, evTime, next, created, updated string
	var lease, lastErr, uncertain sql.NullString
	var lastStatus sql.NullInt64
	dest := append([]any{&d.ID, &d.EventSeq, &d.EventID, &d.EventType, &evTime, &d.Rule, &d.Target, &d.Subject, &payload, &d.State,
		&d.Attempts, &d.Replays, &d.ReplayBase, &next, &lease, &created, &updated, &lastStatus, &lastErr, &uncertain}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	d.Payload = json.RawMessage(payload)
	d.LastStatus, d.LastError = int(lastStatus.Int64), lastErr.String
	var err error
	for _, p := range []struct {
		dst *time.Time
		s   string
	}{{&d.EventTime, evTime}, {&d.NextAt, next}, {&d.Created, created}, {&d.Updated, updated}, {&d.LeaseUntil, lease.String},
		{&d.UncertainSince, uncertain.String}} {
		if p.s == "" {
			continue
		}
		if *p.dst, err = parseTime(p.s); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

func scanDeliveryRow(sc scanner) (*events.Delivery, error) { return scanDelivery(sc) }

// Claim takes due deliveries of target.
func (s *Store) Claim(ctx context.Context, target string, now time.Time, limit int, lease time.Duration, ordered bool) ([]*events.Delivery, error) {
	var out []*events.Delivery
	err := s.submit(ctx, func(t *tx) error {
		out = nil
		q := `SELECT d.id FROM deliveries d WHERE d.target = ? AND d.state = 'pending' AND d.next_at <= ?`
		if ordered {
			q += ` AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.target = d.target AND e.subject = d.subject
				AND e.state IN ('pending', 'running') AND e.event_seq < d.event_seq)`
		}
		q += ` ORDER BY d.next_at, d.event_seq LIMIT ?`
		rows, err := t.tx.QueryContext(ctx, q, target, fmtTime(now), limit)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		ids, err := collectStrings(rows)
		if err != nil || len(ids) == 0 {
			return err
		}
		args := []any{fmtTime(now.Add(lease)), fmtTime(now)}
		for _, id := range ids {
			args = append(args, id)
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE deliveries SET state = 'running', attempts = attempts + 1, lease_until = ?, updated = ?
			WHERE id IN (`+placeholders(len(ids))+`)`, args...); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		rows, err = t.tx.QueryContext(ctx, `SELECT `+deliveryCols+`, e.doc FROM deliveries d JOIN event_docs e ON e.seq = d.event_seq
			WHERE d.id IN (`+placeholders(len(ids))+`) ORDER BY d.event_seq`, args[2:]...)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var doc string
			d, err := scanDelivery(rows, &doc)
			if err != nil {
				return err
			}
			d.Event = json.RawMessage(doc)
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// Complete records attempts and new states. Attempts are appended: a
// (delivery, number) already recorded keeps its row.
func (s *Store) Complete(ctx context.Context, cs []*events.Completion, now time.Time) error {
	return s.submit(ctx, func(t *tx) error {
		for _, c := range cs {
			a := c.Attempt
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO delivery_attempts (delivery_id, n, at, outcome, status, latency_us, response, error)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id, n) DO NOTHING`, a.DeliveryID, a.N, fmtTime(a.At), a.Outcome, a.Status,
				a.Latency.Microseconds(), nullStr(a.Response), nullStr(a.Error)); err != nil {
				return fmt.Errorf("record attempt: %w", err)
			}
			var next, uncertain any
			if c.State == events.StatePending {
				next = fmtTime(c.NextAt)
			}
			if c.Uncertain {
				uncertain = fmtTime(a.At)
			}
			if _, err := t.tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, next_at = COALESCE(?, next_at), lease_until = NULL, updated = ?,
				last_status = ?, last_error = ?, uncertain_since = COALESCE(uncertain_since, ?) WHERE id = ?`,
				c.State, next, fmtTime(now), a.Status, nullStr(a.Error), uncertain, a.DeliveryID); err != nil {
				return fmt.Errorf("record attempt: %w", err)
			}
		}
		return nil
	})
}

// NextDue returns the earliest next attempt of target's pending deliveries.
func (s *Store) NextDue(ctx context.Context, target string) (time.Time, error) {
	var next sql.NullString
	if err := s.r.QueryRowContext(ctx, `SELECT min(next_at) FROM deliveries WHERE target = ? AND state = 'pending'`, target).Scan(&next); err != nil {
		return time.Time{}, err
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return parseTime(next.String)
}

// Recover returns expired running deliveries to pending. Their attempt's
// outcome is unknown: it may have reached the target since its claim
// (updated).
func (s *Store) Recover(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.writeExec(ctx, `UPDATE deliveries SET state = 'pending', lease_until = NULL, uncertain_since = COALESCE(uncertain_since, updated),
		updated = ?, next_at = ? WHERE state = 'running' AND lease_until < ?`, fmtTime(now), fmtTime(now), fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("recover deliveries: %w", err)
	}
	return res.RowsAffected()
}

// RequeueInterrupted returns every running delivery to pending, whatever
// its lease: for a server starting on a database no other server uses
// (SQLite, under the serve lock), a running delivery is one whose attempt
// the previous process did not live to record.
func (s *Store) RequeueInterrupted(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.writeExec(ctx, `UPDATE deliveries SET state = 'pending', lease_until = NULL, uncertain_since = COALESCE(uncertain_since, updated),
		updated = ?, next_at = ? WHERE state = 'running'`, fmtTime(now), fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("requeue interrupted deliveries: %w", err)
	}
	return res.RowsAffected()
}

func deliveryWhere(q *events.DeliveryQuery) (string, []any) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{{"d.target", q.Target}, {"d.rule", q.Rule}, {"d.state", q.State}, {"d.event_id", q.EventID}} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if q.BeforeSeq > 0 {
		conds = append(conds, "d.event_seq < ?")
		args = append(args, q.BeforeSeq)
	}
	return whereClause(conds), args
}

// Deliveries lists deliveries, newest event first.
func (s *Store) Deliveries(ctx context.Context, q events.DeliveryQuery) ([]*events.Delivery, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	where, args := deliveryWhere(&q)
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryCols+` FROM deliveries d`+where+` ORDER BY d.event_seq DESC, d.id LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return collect(rows, scanDeliveryRow)
}

// Delivery returns one delivery.
func (s *Store) Delivery(ctx context.Context, id string) (*events.Delivery, error) {
	d, err := scanDelivery(s.r.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM deliveries d WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Delivery", id)
	}
	return d, err
}

// Attempts lists a delivery's attempts in order.
func (s *Store) Attempts(ctx context.Context, deliveryID string) ([]*events.Attempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT delivery_id, n, at, outcome, status, latency_us, response, error
		FROM delivery_attempts WHERE delivery_id = ? ORDER BY n`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return collect(rows, func(sc scanner) (*events.Attempt, error) {
		var a events.Attempt
		var at string
		var status sql.NullInt64
		var us int64
		var resp, errText sql.NullString
		if err := sc.Scan(&a.DeliveryID, &a.N, &at, &a.Outcome, &status, &us, &resp, &errText); err != nil {
			return nil, err
		}
		a.Status, a.Latency, a.Response, a.Error = int(status.Int64), time.Duration(us)*time.Microsecond, resp.String, errText.String
		var err error
		a.At, err = parseTime(at)
		return &a, err
	})
}

// EventDocument returns the document of a dispatched event.
func (s *Store) EventDocument(ctx context.Context, seq int64) (json.RawMessage, error) {
	var doc string
	err := s.r.QueryRowContext(ctx, `SELECT doc FROM event_docs WHERE seq = ?`, seq).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Event", fmt.Sprint(seq))
	}
	return json.RawMessage(doc), err
}

// Replay makes deliveries pending again; their attempts stay counted and
// logged.
func (s *Store) Replay(ctx context.Context, ids []string, q *events.DeliveryQuery, now time.Time, audit *directory.AuditEntry) (int64, error) {
	var n int64
	err := s.submit(ctx, func(t *tx) error {
		set := `UPDATE deliveries SET state = 'pending', replays = replays + 1, replay_base = attempts, uncertain_since = NULL,
			next_at = ?, lease_until = NULL, updated = ?`
		args := []any{fmtTime(now), fmtTime(now)}
		var res sql.Result
		var err error
		switch {
		case len(ids) > 0:
			for _, id := range ids {
				args = append(args, id)
			}
			res, err = t.tx.ExecContext(ctx, set+` WHERE state <> 'running' AND id IN (`+placeholders(len(ids))+`)`, args...)
		case q != nil:
			where, wargs := deliveryWhere(q)
			cond := " WHERE d.state <> 'running'"
			if where != "" {
				cond = where + " AND d.state <> 'running'"
			}
			res, err = t.tx.ExecContext(ctx, set+` WHERE id IN (SELECT d.id FROM deliveries d`+cond+`)`, append(args, wargs...)...)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		n, _ = res.RowsAffected()
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
	return n, err
}

// Prune deletes finished deliveries and dispatched events older than
// before.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.submit(ctx, func(t *tx) error {
		b := fmtTime(before)
		res, err := t.tx.ExecContext(ctx, `DELETE FROM deliveries WHERE state IN ('delivered', 'dead') AND updated < ?`, b)
		if err != nil {
			return fmt.Errorf("prune deliveries: %w", err)
		}
		n, _ = res.RowsAffected()
		// Events (and their documents) older than before, dispatched, and
		// with no delivery left.
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM event_docs WHERE seq <= (SELECT seq FROM event_cursor WHERE id = 1)
			AND seq IN (SELECT seq FROM events WHERE time < ?)
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = event_docs.seq)`, b); err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM events WHERE time < ? AND seq <= (SELECT seq FROM event_cursor WHERE id = 1)
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)`, b); err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		return nil
	})
	return n, err
}

// Backlog counts deliveries by target and state.
func (s *Store) Backlog(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT target, state, count(*) FROM deliveries GROUP BY target, state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	for rows.Next() {
		var target, state string
		var n int64
		if err := rows.Scan(&target, &state, &n); err != nil {
			return nil, err
		}
		if out[target] == nil {
			out[target] = map[string]int64{}
		}
		out[target][state] = n
	}
	return out, rows.Err()
}

// TargetsDisabled lists disabled targets and why.
func (s *Store) TargetsDisabled(ctx context.Context) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT target, reason FROM targets_disabled`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var t, r string
		if err := rows.Scan(&t, &r); err != nil {
			return nil, err
		}
		out[t] = r
	}
	return out, rows.Err()
}

// SetTargetDisabled disables or re-enables a target.
func (s *Store) SetTargetDisabled(ctx context.Context, target, reason string, disabled bool, audit *directory.AuditEntry) error {
	return s.submit(ctx, func(t *tx) error {
		var err error
		if disabled {
			_, err = t.tx.ExecContext(ctx, `INSERT OR REPLACE INTO targets_disabled (target, reason, since) VALUES (?, ?, ?)`, target, reason, fmtTime(time.Now()))
		} else {
			_, err = t.tx.ExecContext(ctx, `DELETE FROM targets_disabled WHERE target = ?`, target)
		}
		if err != nil {
			return fmt.Errorf("set target disabled: %w", err)
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
	rows, err := s.r.QueryContext(ctx, `SELECT a.at, d.target, a.outcome, a.latency_us
		FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE a.at >= ? ORDER BY a.at LIMIT ?`, fmtTime(since), limit)
	if err != nil {
		return nil, fmt.Errorf("attempts since: %w", err)
	}
	defer rows.Close()
	var out []events.AttemptPoint
	for rows.Next() {
		var p events.AttemptPoint
		var at string
		var us int64
		if err := rows.Scan(&at, &p.Target, &p.Outcome, &us); err != nil {
			return nil, err
		}
		if p.At, err = parseTime(at); err != nil {
			return nil, err
		}
		p.Latency = time.Duration(us) * time.Microsecond
		out = append(out, p)
	}
	return out, rows.Err()
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// Lifecycle (migration 0007): when each rule came into force, which
// accounts have been active; backfills.

// StartRules records the start of each rule of names that has none and
// returns each one's start.
func (s *Store) StartRules(ctx context.Context, names []string, now time.Time) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	err := s.submit(ctx, func(t *tx) error {
		clear(out)
		var from sql.NullInt64
		if err := t.tx.QueryRowContext(ctx, `SELECT rules_from FROM event_cursor WHERE id = 1`).Scan(&from); err != nil {
			return fmt.Errorf("start rules: %w", err)
		}
		if !from.Valid {
			// The single writer: no event is being written meanwhile.
			if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&from.Int64); err != nil {
				return fmt.Errorf("start rules: %w", err)
			}
		} else if _, err := t.tx.ExecContext(ctx, `UPDATE event_cursor SET rules_from = NULL WHERE id = 1`); err != nil {
			return fmt.Errorf("start rules: %w", err)
		}
		for _, name := range names {
			var seq int64
			err := t.tx.QueryRowContext(ctx, `INSERT INTO rule_starts (name, seq, since) VALUES (?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING seq`, name, from.Int64, fmtTime(now)).Scan(&seq)
			if err != nil {
				return fmt.Errorf("start rules: %w", err)
			}
			out[name] = seq
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AddActivation records the first activation of user id, created in this
// transaction.
func (t *tx) AddActivation(ctx context.Context, id string, at time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO user_activations (user_id, at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`, id, fmtTime(at)); err != nil {
		return fmt.Errorf("add activation: %w", err)
	}
	return nil
}

// MarkActivated records the first activation of user id; false: it had
// been active before.
func (t *tx) MarkActivated(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO user_activations (user_id, at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`, id, fmtTime(at))
	if err != nil {
		return false, fmt.Errorf("mark activated: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// PastEvents returns dispatched events after seq whose documents are kept.
func (s *Store) PastEvents(ctx context.Context, after int64, limit int) ([]*events.PastEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT e.seq, e.id, e.type, e.subject, e.time, d.doc FROM events e JOIN event_docs d ON d.seq = e.seq
		WHERE e.seq > ? AND e.seq <= (SELECT seq FROM event_cursor WHERE id = 1) ORDER BY e.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("past events: %w", err)
	}
	return collect(rows, func(sc scanner) (*events.PastEvent, error) {
		var e events.PastEvent
		var at, doc string
		if err := sc.Scan(&e.Seq, &e.ID, &e.Type, &e.Subject, &at, &doc); err != nil {
			return nil, err
		}
		var err error
		e.Time, err = parseTime(at)
		e.Doc = json.RawMessage(doc)
		return &e, err
	})
}

// Enqueue queues the deliveries not stored yet.
func (s *Store) Enqueue(ctx context.Context, ds []*events.Delivery, dryRun bool, audit *directory.AuditEntry) ([]bool, error) {
	fresh := make([]bool, len(ds))
	if dryRun {
		for i, d := range ds {
			var n int
			if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE id = ?`, d.ID).Scan(&n); err != nil {
				return nil, fmt.Errorf("enqueue: %w", err)
			}
			fresh[i] = n == 0
		}
		return fresh, nil
	}
	err := s.submit(ctx, func(t *tx) error {
		for i, d := range ds {
			res, err := t.tx.ExecContext(ctx, `INSERT INTO deliveries (id, event_seq, event_id, event_type, event_time, rule, target, subject, payload,
					state, attempts, next_at, created, updated)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
				d.ID, d.EventSeq, d.EventID, d.EventType, fmtTime(d.EventTime), d.Rule, d.Target, d.Subject, string(d.Payload),
				events.StatePending, fmtTime(d.NextAt), fmtTime(d.Created), fmtTime(d.Created))
			if err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
			n, _ := res.RowsAffected()
			fresh[i] = n > 0
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fresh, nil
}

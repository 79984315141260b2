package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// Lifecycle (migration 0007): when each rule came into force, which
// accounts have been active; backfills.

// StartRules records the start of each rule of names that has none and
// returns each one's start. It seals what is pending and holds the audit
// head's lock, which every taker of event seqs holds: no event is being
// numbered meanwhile, so the last seq it reads is exact. Replicas starting the same
// rule at once agree: the first insert wins.
func (s *Store) StartRules(ctx context.Context, names []string, now time.Time) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	err := s.write(ctx, func(t *tx) error {
		clear(out)
		if _, err := t.seal(ctx); err != nil {
			return fmt.Errorf("start rules: %w", err)
		}
		var from pgtype.Int8
		err := t.tx.QueryRow(ctx, `WITH old AS (SELECT rules_from FROM event_cursor WHERE id = 1 FOR UPDATE)
			UPDATE event_cursor SET rules_from = NULL FROM old WHERE id = 1 RETURNING old.rules_from`).Scan(&from)
		if err != nil {
			return fmt.Errorf("start rules: %w", err)
		}
		if !from.Valid {
			if err := t.tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&from.Int64); err != nil {
				return fmt.Errorf("start rules: %w", err)
			}
		}
		for _, name := range names {
			var seq int64
			err := t.tx.QueryRow(ctx, `INSERT INTO rule_starts (name, seq, since) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING seq`, name, from.Int64, now.UTC()).Scan(&seq)
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
// transaction. The statement is queued (pipeTx.queue): nothing reads its
// answer.
func (t *tx) AddActivation(ctx context.Context, id string, at time.Time) error {
	t.tx.queue(deferredStmt{op: "add activation", sql: `INSERT INTO user_activations (user_id, at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`, args: []any{id, at.UTC()}})
	return nil
}

// MarkActivated records the first activation of user id; false: it had
// been active before.
func (t *tx) MarkActivated(ctx context.Context, id string, at time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO user_activations (user_id, at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`, id, at.UTC())
	if err != nil {
		return false, fmt.Errorf("mark activated: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// PastEvents returns dispatched events after seq whose documents are kept.
func (s *Store) PastEvents(ctx context.Context, after int64, limit int) ([]*events.PastEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.seq, e.id, e.type, e.subject, e.time, d.doc FROM events e JOIN event_docs d ON d.seq = e.seq
		WHERE e.seq > $1 AND e.seq <= (SELECT seq FROM event_cursor WHERE id = 1) ORDER BY e.seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("past events: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (*events.PastEvent, error) {
		var e events.PastEvent
		var doc string
		if err := sc.Scan(&e.Seq, &e.ID, &e.Type, &e.Subject, &e.Time, &doc); err != nil {
			return nil, err
		}
		e.Time, e.Doc = e.Time.UTC(), json.RawMessage(doc)
		return &e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("past events: %w", err)
	}
	return out, nil
}

// Enqueue queues the deliveries not stored yet, in one round trip.
func (s *Store) Enqueue(ctx context.Context, ds []*events.Delivery, dryRun bool, audit *directory.AuditEntry) ([]bool, error) {
	fresh := make([]bool, len(ds))
	if dryRun {
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		rows, err := s.pool.Query(ctx, `SELECT id FROM deliveries WHERE id = ANY($1)`, ids)
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		have, err := collect(rows, func(sc scanner) (string, error) {
			var id string
			return id, sc.Scan(&id)
		})
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		for i, d := range ds {
			fresh[i] = !slices.Contains(have, d.ID)
		}
		return fresh, nil
	}
	err := s.write(ctx, func(t *tx) error {
		clear(fresh)
		b := &pgx.Batch{}
		for _, d := range ds {
			b.Queue(`INSERT INTO deliveries (id, event_seq, event_id, event_type, event_time, rule, target, subject, payload,
					state, attempts, next_at, created, updated)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11, $11) ON CONFLICT (id) DO NOTHING`,
				d.ID, d.EventSeq, d.EventID, d.EventType, d.EventTime.UTC(), d.Rule, d.Target, d.Subject, string(d.Payload),
				d.NextAt.UTC(), d.Created.UTC())
		}
		if b.Len() > 0 {
			br := t.tx.SendBatch(ctx, b)
			for i := range ds {
				tag, err := br.Exec()
				if err != nil {
					br.Close()
					return conflict(err, "enqueue")
				}
				fresh[i] = tag.RowsAffected() > 0
			}
			if err := br.Close(); err != nil {
				return conflict(err, "enqueue")
			}
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

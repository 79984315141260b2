package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Lifecycle (migration 0013): when each rule came into force, and which
// accounts have been active.

// StartRules records the start of each rule of names that has none and
// returns each one's start. It holds the audit head's lock, which every
// writer of events takes before their seqs: no event is being written
// meanwhile, so the head it reads is exact. Replicas starting the same
// rule at once agree: the first insert wins.
func (s *Store) StartRules(ctx context.Context, names []string, now time.Time) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	err := s.write(ctx, func(t *tx) error {
		clear(out)
		if _, err := t.tx.Exec(ctx, `SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
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

// MarkActivated records the first activation of user id; false: it had
// been active before.
func (t *tx) MarkActivated(ctx context.Context, id string, at time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO user_activations (user_id, at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`, id, at.UTC())
	if err != nil {
		return false, fmt.Errorf("mark activated: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Lifecycle (migration 0013): when each rule came into force, and which
// accounts have been active.

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

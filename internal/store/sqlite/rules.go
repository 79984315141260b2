package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

var _ events.RuleStore = (*Store)(nil)

// APIRules returns the rules made through the admin API, by name.
func (s *Store) APIRules(ctx context.Context) ([]events.StoredRule, int64, error) {
	var out []events.StoredRule
	var v int64
	err := func() error {
		// The version first: a change between the two reads makes the
		// version older than the rules, and only costs a second reload.
		q := s.r
		if err := q.QueryRowContext(ctx, `SELECT v FROM rules_version WHERE id = 1`).Scan(&v); err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, `SELECT spec, created, updated FROM api_rules ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var spec, created, updated string
			if err := rows.Scan(&spec, &created, &updated); err != nil {
				return err
			}
			var r events.StoredRule
			if err := json.Unmarshal([]byte(spec), &r.Rule); err != nil {
				return fmt.Errorf("stored rule: %w", err)
			}
			if r.Created, err = parseTime(created); err != nil {
				return err
			}
			if r.Updated, err = parseTime(updated); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, 0, fmt.Errorf("api rules: %w", err)
	}
	return out, v, nil
}

// RulesVersion moves with every change to the stored rules.
func (s *Store) RulesVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT v FROM rules_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("rules version: %w", err)
	}
	return v, nil
}

// PutRule creates or replaces a rule.
func (s *Store) PutRule(ctx context.Context, r events.RuleSpec, now time.Time, audit *directory.AuditEntry) (bool, error) {
	spec, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	var created bool
	err = s.submit(ctx, func(t *tx) error {
		var n int
		if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM api_rules WHERE name = ?`, r.Name).Scan(&n); err != nil {
			return err
		}
		created = n == 0
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO api_rules (name, spec, created, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated = excluded.updated`, r.Name, string(spec), fmtTime(now), fmtTime(now)); err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE rules_version SET v = v + 1 WHERE id = 1`); err != nil {
			return err
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("put rule: %w", err)
	}
	return created, nil
}

// DeleteRule removes a rule.
func (s *Store) DeleteRule(ctx context.Context, name string, audit *directory.AuditEntry) error {
	return s.submit(ctx, func(t *tx) error {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM api_rules WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("delete rule: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Rule", name)
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE rules_version SET v = v + 1 WHERE id = 1`); err != nil {
			return err
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
}

package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

var _ events.RuleStore = (*Store)(nil)

// APIRules returns the rules made through the admin API, by name.
func (s *Store) APIRules(ctx context.Context) ([]events.StoredRule, int64, error) {
	// The version first: a change between the two reads makes the version
	// older than the rules, and only costs a second reload.
	v, err := s.RulesVersion(ctx)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.pool.Query(ctx, `SELECT spec, created, updated FROM api_rules ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, 0, fmt.Errorf("api rules: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.StoredRule, error) {
		var sr events.StoredRule
		var spec string
		if err := r.Scan(&spec, &sr.Created, &sr.Updated); err != nil {
			return sr, err
		}
		sr.Created, sr.Updated = sr.Created.UTC(), sr.Updated.UTC()
		return sr, json.Unmarshal([]byte(spec), &sr.Rule)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("api rules: %w", err)
	}
	return out, v, nil
}

// RulesVersion moves with every change to the stored rules.
func (s *Store) RulesVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT v FROM rules_version WHERE id = 1`).Scan(&v); err != nil {
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
	err = s.write(ctx, func(t *tx) error {
		// The version row orders concurrent changes.
		if _, err := t.tx.Exec(ctx, `UPDATE rules_version SET v = v + 1 WHERE id = 1`); err != nil {
			return err
		}
		if err := t.tx.QueryRow(ctx, `INSERT INTO api_rules (name, spec, created, updated) VALUES ($1, $2, $3, $3)
			ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated = excluded.updated
			RETURNING created = updated`, r.Name, string(spec), now.UTC()).Scan(&created); err != nil {
			return conflict(err, "put rule")
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
	return created, err
}

// DeleteRule removes a rule.
func (s *Store) DeleteRule(ctx context.Context, name string, audit *directory.AuditEntry) error {
	return s.write(ctx, func(t *tx) error {
		if _, err := t.tx.Exec(ctx, `UPDATE rules_version SET v = v + 1 WHERE id = 1`); err != nil {
			return err
		}
		tag, err := t.tx.Exec(ctx, `DELETE FROM api_rules WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("delete rule: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("Rule", name)
		}
		if audit != nil {
			return t.AppendAudit(ctx, audit)
		}
		return nil
	})
}

package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/events"
)

var _ events.ServerConfigStore = (*Store)(nil)

// RecordServerConfig stores c as its server's configuration.
func (s *Store) RecordServerConfig(ctx context.Context, c *events.ServerConfig, forgetBefore time.Time) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("record server configuration: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM server_configs WHERE recorded < $1 AND server <> $2`, forgetBefore.UTC(), c.Server); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO server_configs (server, recorded, stopped, config) VALUES ($1, $2, NULL, $3)
			ON CONFLICT (server) DO UPDATE SET recorded = excluded.recorded, stopped = NULL, config = excluded.config`,
			c.Server, c.Recorded.UTC(), string(doc))
		return err
	})
	if err != nil {
		return fmt.Errorf("record server configuration: %w", err)
	}
	return nil
}

// ServerStopped notes that server stopped at.
func (s *Store) ServerStopped(ctx context.Context, server string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE server_configs SET stopped = $1 WHERE server = $2`, at.UTC(), server); err != nil {
		return fmt.Errorf("record server stop: %w", err)
	}
	return nil
}

// ServerConfigs returns the records, the most recently recorded first.
func (s *Store) ServerConfigs(ctx context.Context) ([]*events.ServerConfig, error) {
	rows, err := s.pool.Query(ctx, `SELECT recorded, stopped, config FROM server_configs ORDER BY recorded DESC, server COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("server configurations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*events.ServerConfig, error) {
		var recorded time.Time
		var stopped *time.Time
		var doc string
		if err := r.Scan(&recorded, &stopped, &doc); err != nil {
			return nil, err
		}
		c := &events.ServerConfig{}
		if err := json.Unmarshal([]byte(doc), c); err != nil {
			return nil, err
		}
		c.Recorded, c.Stopped = recorded.UTC(), nil
		if stopped != nil {
			at := stopped.UTC()
			c.Stopped = &at
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("server configurations: %w", err)
	}
	return out, nil
}

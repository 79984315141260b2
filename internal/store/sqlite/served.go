package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/events"
)

var _ events.ServerConfigStore = (*Store)(nil)

// RecordServerConfig stores c as its server's configuration.
func (s *Store) RecordServerConfig(ctx context.Context, c *events.ServerConfig, forgetBefore time.Time) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("record server configuration: %w", err)
	}
	err = s.submit(ctx, func(t *tx) error {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM server_configs WHERE recorded < ? AND server <> ?`, fmtTime(forgetBefore), c.Server); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO server_configs (server, recorded, stopped, config) VALUES (?, ?, NULL, ?)
			ON CONFLICT (server) DO UPDATE SET recorded = excluded.recorded, stopped = NULL, config = excluded.config`,
			c.Server, fmtTime(c.Recorded), string(doc))
		return err
	})
	if err != nil {
		return fmt.Errorf("record server configuration: %w", err)
	}
	return nil
}

// ServerStopped notes that server stopped at.
func (s *Store) ServerStopped(ctx context.Context, server string, at time.Time) error {
	err := s.submit(ctx, func(t *tx) error {
		_, err := t.tx.ExecContext(ctx, `UPDATE server_configs SET stopped = ? WHERE server = ?`, fmtTime(at), server)
		return err
	})
	if err != nil {
		return fmt.Errorf("record server stop: %w", err)
	}
	return nil
}

// ServerConfigs returns the records, the most recently recorded first.
func (s *Store) ServerConfigs(ctx context.Context) ([]*events.ServerConfig, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT recorded, stopped, config FROM server_configs ORDER BY recorded DESC, server`)
	if err != nil {
		return nil, fmt.Errorf("server configurations: %w", err)
	}
	defer rows.Close()
	var out []*events.ServerConfig
	for rows.Next() {
		var recorded, doc string
		var stopped sql.NullString
		if err := rows.Scan(&recorded, &stopped, &doc); err != nil {
			return nil, fmt.Errorf("server configurations: %w", err)
		}
		c := &events.ServerConfig{}
		if err := json.Unmarshal([]byte(doc), c); err != nil {
			return nil, fmt.Errorf("server configuration: %w", err)
		}
		if c.Recorded, err = parseTime(recorded); err != nil {
			return nil, err
		}
		c.Stopped = nil
		if stopped.Valid {
			at, err := parseTime(stopped.String)
			if err != nil {
				return nil, err
			}
			c.Stopped = &at
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

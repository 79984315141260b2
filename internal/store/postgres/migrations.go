package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Migration is one of the store's embedded migrations.
type Migration struct {
	Version int
	Name    string // the file name, 0002_events.sql
	About   string // the first line of its leading comment
	SQL     string
}

// Migrations returns the embedded migrations in the order they apply.
func Migrations() ([]Migration, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(ms))
	for i, m := range ms {
		out[i] = Migration{Version: m.version, Name: m.name, About: about(m.body), SQL: m.body}
	}
	return out, nil
}

// about is the first line of a migration's leading "--" comment.
func about(body string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	if s, ok := strings.CutPrefix(line, "--"); ok {
		return strings.TrimSpace(s)
	}
	return ""
}

// AppliedMigrations returns the migrations the database at url (in schema,
// or the connection's search_path when "") has applied, by version, with
// when. It changes nothing: exists is false when the database holds no
// Gatehouse schema yet.
func AppliedMigrations(ctx context.Context, url, schema string) (applied map[int]time.Time, exists bool, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: %w", err)
	}
	if schema != "" {
		cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, false, fmt.Errorf("postgres: %w", err)
	}
	if !exists {
		return nil, false, nil
	}
	rows, err := conn.Query(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, true, fmt.Errorf("postgres: %w", err)
	}
	defer rows.Close()
	applied = map[int]time.Time{}
	for rows.Next() {
		var v int
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			return nil, true, err
		}
		applied[v] = at.UTC()
	}
	return applied, true, rows.Err()
}

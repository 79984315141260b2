package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
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
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Migration
	for _, name := range names {
		base := filepath.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migrate: bad migration name %q", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: base, About: about(string(body)), SQL: string(body)})
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

// AppliedMigrations returns the migrations the database at path has
// applied, by version, with when. It changes nothing and creates nothing:
// exists is false when there is no database file at path.
func AppliedMigrations(ctx context.Context, path string) (applied map[int]time.Time, exists bool, err error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	registerLower()
	db, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, true, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, true, fmt.Errorf("%s: %w", path, err)
	}
	applied = map[int]time.Time{}
	if n == 0 {
		return applied, true, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		var at string
		if err := rows.Scan(&v, &at); err != nil {
			return nil, true, err
		}
		t, err := parseTime(at)
		if err != nil {
			return nil, true, err
		}
		applied[v] = t
	}
	return applied, true, rows.Err()
}

package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-id/gatehouse/internal/store/storetest"
)

func open(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tamper edits the database file through a connection of its own, as
// anyone who can write the file could.
func tamper(t *testing.T, s storetest.Store, bypass bool, statement string) error {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+s.(*sqlite.Store).Path()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if bypass {
		if _, err := db.Exec(`DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete`); err != nil {
			t.Fatal(err)
		}
	}
	_, err = db.Exec(statement)
	return err
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t) }, tamper)
}

// TestMigrationLifecycle: migration 0007 on a database made before it.
func TestMigrationLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	open := func() storetest.Store {
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.MigrationLifecycle(t, open(), open, tamper, `DROP TABLE user_activations; DROP TABLE rule_starts;
		ALTER TABLE event_cursor DROP COLUMN rules_from; DELETE FROM schema_migrations WHERE version = 7`)
}

// TestMustExist: with MustExist a missing database is refused and nothing
// is created (neither the file nor its directory); a file without
// Gatehouse's tables is refused too; a database serve created opens.
func TestMustExist(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "not-yet")
	path := filepath.Join(dir, "gatehouse.db")
	_, err := sqlite.Open(ctx, path, sqlite.Options{MustExist: true})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing database: err = %v, want fs.ErrNotExist naming %s", err, path)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the refused open created %s (%v)", dir, err)
	}

	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, empty, sqlite.Options{MustExist: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file without tables: err = %v, want fs.ErrNotExist", err)
	}

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path, sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatalf("an existing database: %v", err)
	}
	s.Close()
}

func TestSearch(t *testing.T) {
	storetest.Search(t, func(t *testing.T) storetest.SearchStore { return open(t) })
}

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
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

// TestMigrationLifecycle: migration 0013 on a database made before it.
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
		ALTER TABLE event_cursor DROP COLUMN rules_from; DELETE FROM schema_migrations WHERE version = 13`)
}

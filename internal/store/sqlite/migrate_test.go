package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/store/storetest"
)

// TestMigrateExternalIDs: a database written with the schema of migration
// 0005 (hub-wide externalIds) opens with each externalId in the domain that
// set it.
func TestMigrateExternalIDs(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("single=%v", single), func(t *testing.T) {
			s := legacy(t, 5, storetest.LegacyExternalIDs(storetest.LegacySQL{True: "1", False: "0", EmptyList: "[]"}, single))
			storetest.CheckMigratedExternalIDs(t, s, single)
			// The hub-wide columns are emptied (SQLite cannot drop them).
			var n int
			if err := s.rdb.QueryRow(`SELECT (SELECT count(*) FROM users WHERE external_id IS NOT NULL) + (SELECT count(*) FROM groups WHERE external_id IS NOT NULL)`).Scan(&n); err != nil || n != 0 {
				t.Errorf("hub-wide externalIds left: %v %d", err, n)
			}
		})
	}
}

// TestMigrateAttemptLogs: deliveries written before migration 0010 (a
// replay reset the attempt count and rewrote the log) number their next
// attempts after the log, which stays.
func TestMigrateAttemptLogs(t *testing.T) {
	s := legacy(t, 9, storetest.LegacyAttemptLogs())
	storetest.CheckMigratedAttemptLogs(t, s)
}

// TestMigrateAttrsVersions: a database written with the schema of
// migration 0010 opens with each user's and group's own-attribute version
// and time taken from its version and modification time.
func TestMigrateAttrsVersions(t *testing.T) {
	s := legacy(t, 10, storetest.LegacyAttrsVersions(storetest.LegacySQL{True: "1", False: "0", EmptyList: "[]"}))
	storetest.CheckMigratedAttrsVersions(t, s)
}

// TestMigrateEventReceivers: an event received before migration 0024 is
// its poster's: posted again by it, a duplicate; by another application,
// new.
func TestMigrateEventReceivers(t *testing.T) {
	s := legacy(t, 23, storetest.LegacyEventReceivers())
	storetest.CheckMigratedEventReceivers(t, s)
}

// TestMigratePolicyBindings: the policy bindings recorded as one record
// before migration 0020 are one row per reference after it.
func TestMigratePolicyBindings(t *testing.T) {
	s := legacy(t, 19, storetest.LegacyPolicyBindings())
	storetest.CheckMigratedPolicyBindings(t, s)
}

// migrateTo applies the migrations up to version last, as Open would have.
func migrateTo(t *testing.T, db *sql.DB, last int) {
	t.Helper()
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, name := range names {
		v, _ := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if v > last {
			break
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, '2026-01-01T00:00:00.000000Z')`, v); err != nil {
			t.Fatal(err)
		}
	}
}

// legacy writes stmts into a new database file migrated up to version
// last, as an older build left it, and opens it with this build (which
// migrates the rest).
func legacy(t *testing.T, last int, stmts []string) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	registerLower()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	migrateTo(t, db, last)
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%v: %s", err, stmt)
		}
	}
	db.Close()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestAppliedMigrations: the migrations a database has are read without
// changing it: no file is created where there is none, a database a
// release behind shows the rest pending, and Open applies them.
func TestAppliedMigrations(t *testing.T) {
	ctx := context.Background()
	ms, err := Migrations()
	if err != nil || len(ms) < 2 {
		t.Fatalf("migrations: %d %v", len(ms), err)
	}
	// Numbers run 1, 2, 3… with no gap: work developed in parallel is
	// renumbered when it is merged.
	for i, m := range ms {
		if i == 0 && m.Version != 1 || i > 0 && m.Version <= ms[i-1].Version || m.About == "" || !strings.HasPrefix(m.Name, fmt.Sprintf("%04d_", m.Version)) {
			t.Errorf("migration %d: %+v", i, m)
		}
	}
	path := filepath.Join(t.TempDir(), "sub", "gatehouse.db")
	if got, exists, err := AppliedMigrations(ctx, path); err != nil || exists || got != nil {
		t.Fatalf("no database: %v %v %v", got, exists, err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("reading created the directory: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	registerLower()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	behind := len(ms) - 1
	migrateTo(t, db, behind)
	db.Close()
	got, exists, err := AppliedMigrations(ctx, path)
	if err != nil || !exists || len(got) != behind {
		t.Fatalf("a release behind: %v %v %v", got, exists, err)
	}
	if _, ok := got[len(ms)]; ok {
		t.Errorf("the last migration is reported applied: %v", got)
	}
	// Reading changed nothing: still behind.
	if got, _, _ := AppliedMigrations(ctx, path); len(got) != behind {
		t.Errorf("read twice: %v", got)
	}
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, _, err := AppliedMigrations(ctx, path); err != nil || len(got) != len(ms) {
		t.Errorf("after Open: %v %v", got, err)
	}
}

// TestNewerDatabaseRefused: a database with a migration this build does
// not know (a newer Gatehouse used it) is not opened — and this build's own
// pending migration is not applied to it; the message says what to do.
func TestNewerDatabaseRefused(t *testing.T) {
	ctx := context.Background()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	path, db := createdDatabase(t)
	refused := func(what, want string) {
		t.Helper()
		for _, opt := range []Options{{}, {MustExist: true}} {
			if s, err := Open(ctx, path, opt); err == nil || !strings.Contains(err.Error(), want) {
				if s != nil {
					s.Close()
				}
				t.Errorf("opening %s (%+v): %v, want %q", what, opt, err, want)
			}
		}
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (9999, '2030-01-01T00:00:00.000000Z')`); err != nil {
		t.Fatal(err)
	}
	refused("a newer database", "has 1 migration(s) this build does not know (9999): it was used by a newer Gatehouse. Run that version")
	// With a migration of this build pending too.
	last := ms[len(ms)-1].Version
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version = ?; INSERT INTO schema_migrations VALUES (10000, '2030-01-01T00:00:00.000000Z')`, last); err != nil {
		t.Fatal(err)
	}
	refused("a newer database a migration behind", "has 2 migration(s) this build does not know (9999, 10000)")
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = ?`, last).Scan(&n); err != nil || n != 0 {
		t.Errorf("the pending migration %d was applied to the newer database: %d %v", last, n, err)
	}
}

// TestChainTriggerDropped: a database whose audit chain trigger was dropped
// is refused, saying that it was altered (or is a development build's), not
// opened to write audit records outside the chain.
func TestChainTriggerDropped(t *testing.T) {
	ctx := context.Background()
	path, db := createdDatabase(t)
	if _, err := db.Exec(`DROP TRIGGER audit_log_head`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path, Options{})
	if err == nil {
		s.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "no audit chain trigger (audit_log_head): it was altered outside Gatehouse") {
		t.Errorf("opening a database without its chain trigger: %v", err)
	}
}

// createdDatabase creates a Gatehouse database, closes the store, and
// returns its path and a plain connection to it, to change it as anyone
// with the file could; the connection is closed when the test ends.
func createdDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return path, db
}

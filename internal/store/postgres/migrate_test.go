package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/store/storetest"
)

// TestMigrateExternalIDs: a database written with the schema of migration
// 0005 (hub-wide externalIds) opens with each externalId in the domain that
// set it, and without the hub-wide columns.
func TestMigrateExternalIDs(t *testing.T) {
	url := testURL(t)
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("single=%v", single), func(t *testing.T) {
			ctx := context.Background()
			s, schemaName := legacy(t, url, 5, storetest.LegacyExternalIDs(storetest.LegacySQL{True: "true", False: "false", EmptyList: "{}"}, single))
			storetest.CheckMigratedExternalIDs(t, s, single)
			var n int
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
				WHERE table_schema = $1 AND table_name IN ('users', 'groups') AND column_name = 'external_id'`, schemaName).Scan(&n); err != nil || n != 0 {
				t.Errorf("hub-wide externalId columns left: %v %d", err, n)
			}
		})
	}
}

// TestAppliedMigrations: the migrations a schema has are read without
// changing it: an empty schema (or none) has no Gatehouse tables, and
// Open applies every migration.
func TestAppliedMigrations(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	ms, err := Migrations()
	if err != nil || len(ms) < 2 {
		t.Fatalf("migrations: %d %v", len(ms), err)
	}
	// Numbers run 1, 2, 3… with no gap: work developed in parallel is
	// renumbered when it is merged.
	for i, m := range ms {
		if i == 0 && m.Version != 1 || i > 0 && m.Version <= ms[i-1].Version || m.About == "" || m.SQL == "" {
			t.Errorf("migration %d: %+v", i, m)
		}
	}
	schemaName := freshSchema(t, url)
	if got, exists, err := AppliedMigrations(ctx, url, schemaName); err != nil || exists || got != nil {
		t.Fatalf("no schema: %v %v %v", got, exists, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schemaName).Scan(&n); err != nil || n != 0 {
		t.Fatalf("reading created the schema: %d %v", n, err)
	}
	openIn(t, url, schemaName)
	got, exists, err := AppliedMigrations(ctx, url, schemaName)
	if err != nil || !exists || len(got) != len(ms) {
		t.Fatalf("after Open: %v %v %v", got, exists, err)
	}
	for _, m := range ms {
		if got[m.Version].IsZero() {
			t.Errorf("migration %s: no time applied", m.Name)
		}
	}
}

// TestMigrateAttemptLogs: deliveries written before migration 0010 (a
// replay reset the attempt count and rewrote the log) number their next
// attempts after the log, which stays.
func TestMigrateAttemptLogs(t *testing.T) {
	s, _ := legacy(t, testURL(t), 9, storetest.LegacyAttemptLogs())
	storetest.CheckMigratedAttemptLogs(t, s)
}

// connectIn connects to url with a new schema as the search path.
func connectIn(t *testing.T, url, schemaName string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	sch := pgx.Identifier{schemaName}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+sch+`; SET search_path TO `+sch); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	return conn
}

// legacy writes stmts into a new schema migrated up to version last, as a
// database an older build left, and opens it with this build (which
// migrates the rest). It returns the store and the schema's name.
func legacy(t *testing.T, url string, last int, stmts []string) (*Store, string) {
	t.Helper()
	ctx := context.Background()
	schemaName := freshSchema(t, url)
	conn := connectIn(t, url, schemaName)
	migrateTo(t, conn, last)
	for _, stmt := range stmts {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%v: %s", err, stmt)
		}
	}
	return openIn(t, url, schemaName), schemaName
}

// migrateTo applies the migrations up to version last, as Open would have.
func migrateTo(t *testing.T, conn *pgx.Conn, last int) {
	t.Helper()
	ctx := context.Background()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version > last {
			break
		}
		if _, err := conn.Exec(ctx, m.body); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateAttrsVersions: a database written with the schema of
// migration 0010 opens with each user's and group's own-attribute version
// and time taken from its version and modification time.
func TestMigrateAttrsVersions(t *testing.T) {
	s, _ := legacy(t, testURL(t), 10, storetest.LegacyAttrsVersions(storetest.LegacySQL{True: "true", False: "false", EmptyList: "{}"}))
	storetest.CheckMigratedAttrsVersions(t, s)
}

// TestMigrateEventReceivers: an event received before migration 0024 is
// its poster's: posted again by it, a duplicate; by another application,
// new.
func TestMigrateEventReceivers(t *testing.T) {
	s, _ := legacy(t, testURL(t), 23, storetest.LegacyEventReceivers())
	storetest.CheckMigratedEventReceivers(t, s)
}

// TestMigratePolicyBindings: the policy bindings recorded as one record
// before migration 0020 are one row per reference after it.
func TestMigratePolicyBindings(t *testing.T) {
	s, _ := legacy(t, testURL(t), 19, storetest.LegacyPolicyBindings())
	storetest.CheckMigratedPolicyBindings(t, s)
}

// TestNewerDatabaseRefused: a database with a migration this build does
// not know (a newer Gatehouse used it) is not opened — and this build's own
// pending migration is not applied to it; the message says what to do.
func TestNewerDatabaseRefused(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	schemaName := freshSchema(t, url)
	openIn(t, url, schemaName).Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tbl := pgx.Identifier{schemaName, "schema_migrations"}.Sanitize()
	refused := func(what, want string) {
		t.Helper()
		for _, opt := range []Options{{Schema: schemaName}, {Schema: schemaName, MustExist: true}} {
			if s, err := Open(ctx, url, opt); err == nil || !strings.Contains(err.Error(), want) {
				if s != nil {
					s.Close()
				}
				t.Errorf("opening %s (%+v): %v, want %q", what, opt, err, want)
			}
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO `+tbl+` (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	refused("a newer database", "the database has 1 migration(s) this build does not know (9999): it was used by a newer Gatehouse. Run that version")
	// With a migration of this build pending too.
	last := ms[len(ms)-1].version
	if _, err := conn.Exec(ctx, `DELETE FROM `+tbl+` WHERE version = $1`, last); err != nil {
		t.Fatal(err)
	}
	refused("a newer database a migration behind", "the database has 1 migration(s) this build does not know (9999)")
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+tbl+` WHERE version = $1`, last).Scan(&n); err != nil || n != 0 {
		t.Errorf("the pending migration %d was applied to the newer database: %d %v", last, n, err)
	}
}

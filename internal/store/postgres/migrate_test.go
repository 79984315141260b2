package postgres

import (
	"context"
	"fmt"
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
			schemaName := freshSchema(t, url)
			cfg, err := pgx.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			sch := pgx.Identifier{schemaName}.Sanitize()
			if _, err := conn.Exec(ctx, `CREATE SCHEMA `+sch+`; SET search_path TO `+sch); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				t.Fatal(err)
			}
			ms, err := loadMigrations()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.version > 5 {
					break
				}
				if _, err := conn.Exec(ctx, m.body); err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
					t.Fatal(err)
				}
			}
			for _, stmt := range storetest.LegacyExternalIDs(storetest.LegacySQL{True: "true", False: "false", EmptyList: "{}"}, single) {
				if _, err := conn.Exec(ctx, stmt); err != nil {
					t.Fatalf("%v: %s", err, stmt)
				}
			}
			s := openIn(t, url, schemaName)
			storetest.CheckMigratedExternalIDs(t, s, single)
			var n int
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
				WHERE table_schema = $1 AND table_name IN ('users', 'groups') AND column_name = 'external_id'`, schemaName).Scan(&n); err != nil || n != 0 {
				t.Errorf("hub-wide externalId columns left: %v %d", err, n)
			}
		})
	}
}

// TestMigrateAttrsVersions: a database written with the schema of
// migration 0016 opens with each user's and group's own-attribute version
// and time taken from its version and modification time.
func TestMigrateAttrsVersions(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	schemaName := freshSchema(t, url)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	sch := pgx.Identifier{schemaName}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+sch+`; SET search_path TO `+sch); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version > 16 {
			break
		}
		if _, err := conn.Exec(ctx, m.body); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range storetest.LegacyAttrsVersions(storetest.LegacySQL{True: "true", False: "false", EmptyList: "{}"}) {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%v: %s", err, stmt)
		}
	}
	storetest.CheckMigratedAttrsVersions(t, openIn(t, url, schemaName))
}

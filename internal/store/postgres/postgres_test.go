package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/storetest"
)

// testURL returns the database the tests use, or skips the test.
func testURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES_URL is not set; skipping the PostgreSQL store tests " +
			"(e.g. GATEHOUSE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return url
}

// freshSchema names a schema of its own for the test, and drops it when the
// test ends (after the stores opened later have been closed).
func freshSchema(t *testing.T, url string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "gatehouse_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

func openIn(t *testing.T, url, schemaName string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, Options{Schema: schemaName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func open(t *testing.T) *Store {
	t.Helper()
	url := testURL(t)
	return openIn(t, url, freshSchema(t, url))
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t) }, tamper)
}

// tamper runs statement on a connection of its own in the store's schema,
// as anyone who can connect to the database as its owner could. With
// bypass, the session is a replica's, for which ordinary triggers (the
// append-only ones) do not fire. The statement goes as a simple query, so it
// may hold several.
func tamper(t *testing.T, s storetest.Store, bypass bool, statement string) error {
	t.Helper()
	ctx := context.Background()
	var schemaName string
	if err := s.(*Store).pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schemaName); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schemaName}.Sanitize()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if bypass {
		if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
	}
	_, err = conn.PgConn().Exec(ctx, statement).ReadAll()
	return err
}

func TestDialect(t *testing.T) {
	s := open(t)
	if s.Dialect() != "postgres" {
		t.Errorf("Dialect() = %q", s.Dialect())
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestTextFunctions checks the dialect's text tests against Go's, including
// the empty pattern and non-ASCII text.
func TestTextFunctions(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	d := dialect{}
	for _, x := range []string{"", "abc", "émile", "李李"} {
		for _, p := range []string{"", "a", "c", "abc", "abcd", "é", "ile", "李"} {
			var contains, prefix, suffix bool
			err := s.pool.QueryRow(ctx, `SELECT `+d.Contains("$1::text", "$2")+`, `+d.HasPrefix("$1::text", "$2")+`, `+d.HasSuffix("$1::text", "$2"),
				x, p).Scan(&contains, &prefix, &suffix)
			if err != nil {
				t.Fatal(err)
			}
			got := [3]bool{contains, prefix, suffix}
			want := [3]bool{containsStr(x, p), len(x) >= len(p) && x[:len(p)] == p, len(x) >= len(p) && x[len(x)-len(p):] == p}
			if got != want {
				t.Errorf("x=%q p=%q: contains, prefix, suffix = %v, want %v", x, p, got, want)
			}
		}
	}
	// Collate orders by code point whatever the database's locale.
	var less bool
	if err := s.pool.QueryRow(ctx, `SELECT `+d.Collate("$1::text")+` < $2`, "Z", "a").Scan(&less); err != nil || !less {
		t.Errorf(`"Z" < "a" under Collate: %v %v`, less, err)
	}
}

func containsStr(x, p string) bool {
	for i := 0; i+len(p) <= len(x); i++ {
		if x[i:i+len(p)] == p {
			return true
		}
	}
	return false
}

// TestJSONTime: malformed stored dateTimes fail to match instead of failing
// the query, and offsets are honoured.
func TestJSONTime(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	d := dialect{}
	cond := d.JSONTimeCompare("$1::jsonb", []string{"t"}, ">", "$2")
	for _, tc := range []struct {
		doc  string
		want *bool
	}{
		{`{"t": "2025-01-02T03:04:05Z"}`, ptr(true)},
		{`{"t": "2025-01-02T11:04:05.5+08:00"}`, ptr(true)},
		{`{"t": "2025-01-02T03:04:04.999999Z"}`, ptr(false)},
		{`{"t": "2025-01-02T03:04:04.9999991Z"}`, ptr(false)}, // PostgreSQL keeps microseconds
		{`{"t": "2025-02-30T00:00:00Z"}`, nil},
		{`{"t": "2025-01-02"}`, nil},
		{`{"t": "today"}`, nil},
		{`{"t": "2025-01-02T03:04:05"}`, nil},
		{`{"t": 20250102}`, nil},
		{`{}`, nil},
	} {
		var got *bool
		if err := s.pool.QueryRow(ctx, `SELECT `+cond, tc.doc, "2025-01-02T03:04:04.999999Z").Scan(&got); err != nil {
			t.Errorf("%s: %v", tc.doc, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.doc, diff)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestAuditLogAppendOnly: the trigger refuses to change or remove entries,
// sealed or pending.
func TestAuditLogAppendOnly(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	entry := &directory.AuditEntry{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Actor: directory.Actor{Kind: "cli"},
		Action: "user.create", ResourceType: "User", ResourceID: "u1", After: []byte(`{"userName": "x"}`),
	}
	if err := s.Write(ctx, func(tx directory.Tx) error { return tx.AppendAudit(ctx, entry) }); err != nil {
		t.Fatal(err)
	}
	// Sealed before Write returned: the first record of the chain.
	entry.Seq = 1
	entry.Hash = directory.AuditHash("", entry)
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_pending (at, actor_kind, action, resource_type, resource_id) VALUES (now(), 'cli', 'x', 'User', 'u2')`); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE audit_log SET action = 'user.delete'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`UPDATE audit_pending SET action = 'user.delete'`,
		`DELETE FROM audit_pending`,
		`TRUNCATE audit_pending`,
	} {
		_, err := s.pool.Exec(ctx, stmt)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "P0001" {
			t.Errorf("%s: got %v, want the trigger's exception (P0001)", stmt, err)
		}
	}
	got, err := s.Audit(ctx, directory.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*directory.AuditEntry{entry}, got); diff != "" {
		t.Errorf("audit log changed (-want +got):\n%s", diff)
	}
}

// TestConcurrentMigrate: stores opened at once on a new schema (replicas
// starting together) all succeed, and the migrations are applied once.
func TestConcurrentMigrate(t *testing.T) {
	url := testURL(t)
	name := freshSchema(t, url)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			stores[i], errs[i] = Open(context.Background(), url, Options{Schema: name, MaxConns: 2})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("store %d: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := stores[0].pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", applied, len(ms))
	}
	orgs, err := stores[n-1].Orgs(context.Background())
	if err != nil || len(orgs) != 1 || orgs[0].ID != directory.RootOrgID {
		t.Errorf("orgs after concurrent migration: %v %+v", err, orgs)
	}
	// Opening again is a no-op.
	openIn(t, url, name)
}

// TestKeysetSort walks sorts the conformance suite does not: on time
// columns and JSON numbers, with ties and missing values, both ways. The key
// scanned from each page's last row must work as the next page's argument.
func TestKeysetSort(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	const ext = "urn:ietf:params:scim:schemas:extension:test:2.0:User"
	reg, err := schema.NewRegistry([]schema.ExtensionDef{{URN: ext, Attributes: []schema.ExtensionAttr{
		{Name: "level", Type: schema.Decimal},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var users []*directory.User
	err = s.Write(ctx, func(tx directory.Tx) error {
		for i := range 23 {
			custom := map[string]any{}
			if i%4 != 0 {
				custom["level"] = float64(i%5) + 0.1 // ties, and 0.1 is not a short binary fraction
			}
			u := &directory.User{
				ID: fmt.Sprintf("u%02d", i), UserName: fmt.Sprintf("user%02d", i), OrgID: directory.RootOrgID, Active: true,
				Attrs:   directory.Attrs{ext: custom},
				Created: base.Add(time.Duration(i) * time.Microsecond),
				// Ties: three users share each modification time.
				Modified: base.Add(time.Duration(i/3) * time.Second).Add(123456 * time.Microsecond),
				Version:  1,
			}
			if err := tx.InsertUser(ctx, u); err != nil {
				return err
			}
			users = append(users, u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	level := func(u *directory.User) (float64, bool) {
		f, ok := u.Attrs[ext].(map[string]any)["level"].(float64)
		return f, ok
	}
	cases := []struct {
		path string
		less func(a, b *directory.User) int // 0: tie, broken by creation order
	}{
		{"meta.created", func(a, b *directory.User) int { return a.Created.Compare(b.Created) }},
		{"meta.lastModified", func(a, b *directory.User) int { return a.Modified.Compare(b.Modified) }},
		{ext + ":level", func(a, b *directory.User) int {
			la, pa := level(a)
			lb, pb := level(b)
			switch {
			case pa != pb: // present before absent
				if pa {
					return -1
				}
				return 1
			case la < lb:
				return -1
			case la > lb:
				return 1
			}
			return 0
		}},
	}
	for _, tc := range cases {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", tc.path, desc), func(t *testing.T) {
				want := append([]*directory.User(nil), users...)
				sort.SliceStable(want, func(i, j int) bool { return tc.less(want[i], want[j]) < 0 })
				var wantIDs []string
				for _, u := range want {
					wantIDs = append(wantIDs, u.ID)
				}
				if desc {
					for i, j := 0, len(wantIDs)-1; i < j; i, j = i+1, j-1 {
						wantIDs[i], wantIDs[j] = wantIDs[j], wantIDs[i]
					}
				}
				ref, err := reg.User.ResolveLoose(tc.path)
				if err != nil {
					t.Fatal(err)
				}
				q := directory.Query{Sort: &filter.Path{Name: ref.Attr.Name, Ref: ref}, Descending: desc, Limit: 4}
				var got []string
				for range 100 {
					p, err := s.Users(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					for _, u := range p.Items {
						got = append(got, u.ID)
					}
					if p.Next == nil {
						break
					}
					q.After = p.Next
				}
				if diff := cmp.Diff(wantIDs, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestMigrationLifecycle: migration 0007 on a database made before it.
func TestMigrationLifecycle(t *testing.T) {
	url := testURL(t)
	schemaName := freshSchema(t, url)
	open := func() storetest.Store { return openIn(t, url, schemaName) }
	storetest.MigrationLifecycle(t, open(), open, tamper, `DROP TABLE user_activations; DROP TABLE rule_starts;
		ALTER TABLE event_cursor DROP COLUMN rules_from; DELETE FROM schema_migrations WHERE version = 7`)
}

// TestMustExist: with MustExist a schema that has never been migrated is
// refused and left as it was (not created); once migrated, it opens.
func TestMustExist(t *testing.T) {
	url := testURL(t)
	name := freshSchema(t, url)
	ctx := context.Background()
	_, err := Open(ctx, url, Options{Schema: name, MustExist: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("never migrated: err = %v, want fs.ErrNotExist", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name).Scan(&exists); err != nil || exists {
		t.Fatalf("the refused open created schema %s (%v)", name, err)
	}
	openIn(t, url, name)
	s, err := Open(ctx, url, Options{Schema: name, MustExist: true})
	if err != nil {
		t.Fatalf("a migrated schema: %v", err)
	}
	s.Close()
}

func TestSearch(t *testing.T) {
	testURL(t)
	storetest.Search(t, func(t *testing.T) storetest.SearchStore { return open(t) })
}

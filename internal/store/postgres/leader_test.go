package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestLeaderElection: of two servers of one database, one leads; when its
// lock connection ends (as when its process dies), its singletons stop and
// the other takes over. Servers of another schema have a leader of their
// own.
func TestLeaderElection(t *testing.T) {
	url := testURL(t)
	schemaName := freshSchema(t, url)
	a, b := openIn(t, url, schemaName), openIn(t, url, schemaName)
	elsewhere := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type lead struct {
		name string
		ctx  context.Context
	}
	started := make(chan lead, 4)
	var wg sync.WaitGroup
	for name, s := range map[string]*Store{"a": a, "b": b, "elsewhere": elsewhere} {
		wg.Go(func() {
			s.Lead(ctx, func(lctx context.Context) {
				started <- lead{name, lctx}
				<-lctx.Done()
			}, nil)
		})
	}
	defer wg.Wait()
	defer cancel()
	first, second := <-started, <-started
	if first.name != "elsewhere" && second.name != "elsewhere" {
		t.Fatalf("leaders %s and %s of one schema at once", first.name, second.name)
	}
	if first.name == "elsewhere" {
		first = second
	}
	// The leader's lock connection ends.
	leader, follower := a, b
	if first.name == "b" {
		leader, follower = b, a
	}
	key := leaderLock(schemaName)
	var terminated bool
	err := leader.pool.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = $1::bigint::oid AND objid = $2::bigint::oid`, int64(uint32(uint64(key)>>32)), int64(uint32(key))).Scan(&terminated)
	if err != nil || !terminated {
		t.Fatalf("end the leader's connection: %v %v", err, terminated)
	}
	<-first.ctx.Done() // the old leader stops its singletons
	next := <-started
	if want := map[*Store]string{a: "a", b: "b"}[follower]; next.name != want {
		t.Errorf("the new leader is %s, want %s", next.name, want)
	}
	select {
	case l := <-started:
		t.Errorf("%s leads as well", l.name)
	default:
	}
}

// TestClaimRun: a schedule's run is claimed once per interval, whichever
// server asks.
func TestClaimRun(t *testing.T) {
	url := testURL(t)
	schemaName := freshSchema(t, url)
	a, b := openIn(t, url, schemaName), openIn(t, url, schemaName)
	ctx := context.Background()
	var wg sync.WaitGroup
	claims := make([]bool, 8)
	for i := range claims {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			ok, wait, err := s.ClaimRun(ctx, "push:ram", time.Hour, "test")
			if err != nil {
				t.Error(err)
			}
			if !ok && (wait <= 59*time.Minute || wait > time.Hour) {
				t.Errorf("wait %v, want just under an hour", wait)
			}
			claims[i] = ok
		})
	}
	wg.Wait()
	n := 0
	for _, ok := range claims {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d claims of one run, want 1", n)
	}
	// Another schedule is its own; a run that is due is claimed again.
	if ok, _, err := b.ClaimRun(ctx, "ldap:corp", time.Hour, "test"); err != nil || !ok {
		t.Errorf("another schedule: %v %v", ok, err)
	}
	if _, err := a.pool.Exec(ctx, `UPDATE schedule_runs SET started = started - interval '1 hour' WHERE name = 'push:ram'`); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := b.ClaimRun(ctx, "push:ram", time.Hour, "test"); err != nil || !ok {
		t.Errorf("a due run: %v %v", ok, err)
	}
}

// TestLeaderPerSearchPath: servers that choose their schema with the URL's
// search_path (not Options.Schema) each have their own leader: one of
// another schema does not hold theirs.
func TestLeaderPerSearchPath(t *testing.T) {
	url := testURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var stores []*Store
	for range 2 {
		name := freshSchema(t, url)
		if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		s, err := Open(ctx, url+sep+"search_path="+name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	started := make(chan int, 2)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, s := range stores {
		wg.Go(func() {
			s.Lead(ctx, func(lctx context.Context) {
				started <- i
				<-lctx.Done()
			}, nil)
		})
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("the servers of two schemas do not both lead: they share one lock")
		}
	}
}

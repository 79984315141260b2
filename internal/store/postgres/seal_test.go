package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// auditedInsert inserts a user with its audit record and one event, as a
// directory change does.
func auditedInsert(ctx context.Context, tx directory.Tx, id string) error {
	u := newUser(id, id+"@example.com")
	if err := tx.InsertUser(ctx, u); err != nil {
		return err
	}
	if err := tx.AppendAudit(ctx, &directory.AuditEntry{Time: u.Created, Actor: directory.Actor{Kind: "cli"},
		Action: "user.create", ResourceType: "User", ResourceID: id}); err != nil {
		return err
	}
	return tx.AppendEvents(ctx, []*directory.EventRecord{{ID: "ev-" + id, Type: "User.Created", Subject: id, Time: u.Created,
		Actor: directory.Actor{Kind: "cli"}, ResourceType: "User", ResourceID: id, Data: []byte(`{}`)}})
}

// TestAppendsDoNotWaitForEachOther: a change whose transaction has appended
// its audit record and event but not committed does not hold up another
// change: appends take no lock (before issue 16 every append locked the
// chain's head until commit). The one that commits first is sealed first:
// its record and event come first in the chain and the outbox.
func TestAppendsDoNotWaitForEachOther(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	appended, release := make(chan struct{}), make(chan struct{})
	slowDone := make(chan error, 1)
	go func() {
		slowDone <- s.Write(ctx, func(tx directory.Tx) error {
			if err := auditedInsert(ctx, tx, "slow"); err != nil {
				return err
			}
			close(appended)
			<-release
			return nil
		})
	}()
	<-appended
	var pid int32
	fastDone := make(chan error, 1)
	go func() {
		fastDone <- s.write(ctx, func(t *tx) error {
			if err := t.tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return err
			}
			return auditedInsert(ctx, t, "fast")
		})
	}()
	// The second change finishes, or is seen waiting for a lock.
	for done := false; !done; {
		select {
		case err := <-fastDone:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		case <-time.After(10 * time.Millisecond):
			var waiting bool
			if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock')`,
				pid).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting {
				close(release)
				<-slowDone
				t.Fatal("a change waits for a lock held by another change that has appended its audit record")
			}
		}
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.AuditChain(ctx, func(e *directory.AuditEntry) error {
		got = append(got, fmt.Sprint(e.Seq, " ", e.ResourceID))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1 fast", "2 slow"}, got); diff != "" {
		t.Errorf("chain (-want +got):\n%s", diff)
	}
	evs, err := s.EventsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, e := range evs {
		got = append(got, fmt.Sprint(e.Seq, " ", e.Subject))
	}
	if diff := cmp.Diff([]string{"1 fast", "2 slow"}, got); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}
}

// TestSealedInCommitOrder: many changes at once, and a reader that walks
// the outbox as the dispatcher does (seq > cursor) while they commit: it
// sees every event exactly once (no event is numbered below a cursor that
// has passed), and the chain verifies.
func TestSealedInCommitOrder(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Write(ctx, func(tx directory.Tx) error { return auditedInsert(ctx, tx, fmt.Sprintf("u%d-%d", w, i)) }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	written := make(chan struct{})
	go func() { wg.Wait(); close(written) }()
	seen := map[string]int{}
	var cursor int64
	walk := func() {
		evs, err := s.EventsAfter(ctx, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			seen[e.Subject]++
			cursor = e.Seq
		}
	}
	for done := false; !done; {
		select {
		case <-written:
			done = true
		default:
		}
		walk()
	}
	walk()
	if len(seen) != writers*each {
		t.Errorf("the walk saw %d events, want %d", len(seen), writers*each)
	}
	for subject, n := range seen {
		if n != 1 {
			t.Errorf("event of %s seen %d times", subject, n)
		}
	}
	rep, err := directory.VerifyAudit(ctx, s, directory.VerifyOptions{})
	if err != nil || !rep.OK || rep.Records != writers*each || rep.Unsealed != 0 {
		t.Errorf("verify: %v %+v", err, rep)
	}
}

// TestUnsealedRecords: a process that died between its commit and the
// sealing round leaves its audit record and event pending. Verification
// reports the record as not yet sealed (the chain itself intact), and the
// next round of any process seals it, before the records committed after
// it.
func TestUnsealedRecords(t *testing.T) {
	url := testURL(t)
	schemaName := freshSchema(t, url)
	s, err := Open(context.Background(), url, Options{Schema: schemaName, SealEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	mustWrite(t, s, func(ctx context.Context, tx directory.Tx) error { return auditedInsert(ctx, tx, "first") })
	// Committed, not sealed: the writer is gone.
	if appended, err := s.writeOnce(ctx, func(t *tx) error { return auditedInsert(ctx, t, "orphan") }); err != nil || !appended {
		t.Fatal(appended, err)
	}
	rep, err := directory.VerifyAudit(ctx, s, directory.VerifyOptions{})
	if err != nil || !rep.OK || rep.Records != 1 || rep.Unsealed != 1 || rep.UnsealedSince.IsZero() {
		t.Fatalf("verify with a pending record: %v %+v", err, rep)
	}
	// Another process writes: its round seals the orphan first.
	other := openIn(t, url, schemaName)
	mustWrite(t, other, func(ctx context.Context, tx directory.Tx) error { return auditedInsert(ctx, tx, "next") })
	rep, err = directory.VerifyAudit(ctx, s, directory.VerifyOptions{})
	if err != nil || !rep.OK || rep.Records != 3 || rep.Unsealed != 0 {
		t.Fatalf("verify after the next write: %v %+v", err, rep)
	}
	var chain []string
	if err := s.AuditChain(ctx, func(e *directory.AuditEntry) error { chain = append(chain, e.ResourceID); return nil }); err != nil {
		t.Fatal(err)
	}
	evs, err := s.EventsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var outbox []string
	for _, e := range evs {
		outbox = append(outbox, e.Subject)
	}
	want := []string{"first", "orphan", "next"}
	if !slices.Equal(chain, want) || !slices.Equal(outbox, want) {
		t.Errorf("chain %v, outbox %v, want %v", chain, outbox, want)
	}
}

// TestSealSweep: with no write to come, the store's periodic look seals
// what a dead process left.
func TestSealSweep(t *testing.T) {
	url := testURL(t)
	schemaName := freshSchema(t, url)
	s, err := Open(context.Background(), url, Options{Schema: schemaName, SealEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, err := s.writeOnce(ctx, func(t *tx) error { return auditedInsert(ctx, t, "orphan") }); err != nil {
		t.Fatal(err)
	}
	for {
		n, _, err := s.AuditUnsealed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if seq, _, err := s.AuditHead(ctx); err != nil || seq != 1 {
		t.Errorf("head %d %v, want 1", seq, err)
	}
}

// TestSealTwoReplicas: two stores on one schema (two replicas), each with
// its own sealer and a sealing loop besides, under writes through both.
// Every record and event is sealed once; event seqs have no gap; a write
// acknowledged before another began has the lower event and audit seqs;
// the chain verifies and nothing stays pending. (A sealer that read what
// is pending before holding the head's lock fails here at once.)
func TestSealTwoReplicas(t *testing.T) {
	url := testURL(t)
	schemaName := freshSchema(t, url)
	stores := []*Store{openIn(t, url, schemaName), openIn(t, url, schemaName)}
	a := stores[0]
	ctx := context.Background()
	const writers, each = 16, 60
	type span struct{ start, end time.Time }
	var mu sync.Mutex
	spans := map[string]span{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			s := stores[w%2]
			for i := range each {
				id := fmt.Sprintf("u%d-%d", w, i)
				start := time.Now()
				if err := s.Write(ctx, func(tx directory.Tx) error { return auditedInsert(ctx, tx, id) }); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				spans[id] = span{start, time.Now()}
				mu.Unlock()
			}
		})
	}
	stop := make(chan struct{})
	var sealers sync.WaitGroup
	for _, s := range stores {
		sealers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.SealAudit(ctx); err != nil {
					t.Error("seal:", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sealers.Wait()

	evs, err := a.EventsAfter(ctx, 0, 10*writers*each)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != writers*each {
		t.Errorf("%d events, want %d", len(evs), writers*each)
	}
	eventSeq := map[string]int64{}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: a gap", i+1, e.Seq)
		}
		if _, dup := eventSeq[e.Subject]; dup {
			t.Errorf("two events of %s", e.Subject)
		}
		eventSeq[e.Subject] = e.Seq
	}
	auditSeq := map[string]int64{}
	if err := a.AuditChain(ctx, func(e *directory.AuditEntry) error { auditSeq[e.ResourceID] = e.Seq; return nil }); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for x, sx := range spans {
		for y, sy := range spans {
			if sx.end.Before(sy.start) && (eventSeq[x] >= eventSeq[y] || auditSeq[x] >= auditSeq[y]) {
				if bad++; bad <= 3 {
					t.Errorf("%s was acknowledged before %s began, but its seqs are event %d ≥ %d, audit %d ≥ %d",
						x, y, eventSeq[x], eventSeq[y], auditSeq[x], auditSeq[y])
				}
			}
		}
	}
	rep, err := directory.VerifyAudit(ctx, a, directory.VerifyOptions{})
	if err != nil || !rep.OK || rep.Records != writers*each || rep.Unsealed != 0 {
		t.Errorf("verify: %v %+v", err, rep)
	}
	var pending int
	if err := a.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_pending) + (SELECT count(*) FROM events_pending)`).Scan(&pending); err != nil || pending != 0 {
		t.Errorf("%d rows still pending, %v", pending, err)
	}
}

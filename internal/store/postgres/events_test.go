package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// These tests run the event pipeline's store the way several replicas do:
// two Stores (two pools) on one schema, many goroutines.

// twoReplicas opens two stores on one fresh schema.
func twoReplicas(t *testing.T) [2]*Store {
	t.Helper()
	url := testURL(t)
	name := freshSchema(t, url)
	return [2]*Store{openIn(t, url, name), openIn(t, url, name)}
}

// deliveriesFor makes the documents of events 1..n and one delivery of each
// to target, the subjects taking turns among subjects.
func deliveriesFor(target string, n, subjects int, now time.Time) ([]*events.EventDoc, []*events.Delivery) {
	var docs []*events.EventDoc
	var ds []*events.Delivery
	for seq := int64(1); seq <= int64(n); seq++ {
		docs = append(docs, &events.EventDoc{Seq: seq, ID: fmt.Sprintf("e%d", seq), Doc: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, seq))})
		ds = append(ds, &events.Delivery{ID: fmt.Sprintf("%s-%04d", target, seq), EventSeq: seq, EventID: fmt.Sprintf("e%d", seq),
			EventType: "User.Updated", EventTime: now, Rule: "r", Target: target, Subject: fmt.Sprintf("users/%d", int(seq)%subjects),
			Payload: json.RawMessage(`{}`), NextAt: now, Created: now})
	}
	return docs, ds
}

// TestClaimConcurrent: goroutines of two replicas claim one target's
// deliveries at once; each delivery is claimed exactly once, with its
// document, and no other target's.
func TestClaimConcurrent(t *testing.T) {
	rs := twoReplicas(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const n = 600
	docs, ds := deliveriesFor("hook", n, 37, now)
	_, mail := deliveriesFor("mail", 50, 1, now)
	if err := rs[0].Dispatch(ctx, 0, n, docs, append(ds, mail...)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	claimed := map[string]int{} // delivery id → claims
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			s := rs[w%2]
			for {
				got, err := s.Claim(ctx, "hook", now, 1+w, time.Minute, false)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for i, d := range got {
					claimed[d.ID]++
					if d.Target != "hook" || d.State != events.StateRunning || d.Attempts != 1 || !d.LeaseUntil.Equal(now.Add(time.Minute)) ||
						string(d.Event) != fmt.Sprintf(`{"seq":%d}`, d.EventSeq) {
						t.Errorf("claimed %+v with document %s", d, d.Event)
					}
					if i > 0 && d.EventSeq <= got[i-1].EventSeq {
						t.Errorf("claim out of event order: %d after %d", d.EventSeq, got[i-1].EventSeq)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Errorf("%d deliveries claimed, want %d", len(claimed), n)
	}
	for id, k := range claimed {
		if k != 1 {
			t.Errorf("%s claimed %d times", id, k)
		}
	}
	back, err := rs[1].Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int64{"hook": {events.StateRunning: n}, "mail": {events.StatePending: 50}}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("backlog (-want +got):\n%s", diff)
	}
}

// TestClaimOrderedConcurrent: with ordered claims from two replicas, a
// subject's deliveries run one at a time, in event order, and all are
// delivered.
func TestClaimOrderedConcurrent(t *testing.T) {
	rs := twoReplicas(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const n, subjects = 400, 16
	docs, ds := deliveriesFor("hook", n, subjects, now)
	if err := rs[0].Dispatch(ctx, 0, n, docs, ds); err != nil {
		t.Fatal(err)
	}
	// The order each subject's deliveries must run in.
	next := map[string][]int64{}
	for _, d := range ds {
		next[d.Subject] = append(next[d.Subject], d.EventSeq)
	}
	var mu sync.Mutex
	running := map[string]bool{} // subject → a delivery of it is running
	done := 0
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			s := rs[w%2]
			for {
				mu.Lock()
				finished := done == n
				mu.Unlock()
				if finished || ctx.Err() != nil {
					return
				}
				got, err := s.Claim(ctx, "hook", now, 3, time.Minute, true)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					time.Sleep(time.Millisecond) // the rest wait for deliveries other workers run
					continue
				}
				var cs []*events.Completion
				mu.Lock()
				for _, d := range got {
					if running[d.Subject] {
						t.Errorf("%s claimed while another delivery of %s runs", d.ID, d.Subject)
					}
					if q := next[d.Subject]; len(q) == 0 || q[0] != d.EventSeq {
						t.Errorf("%s (event %d) claimed out of order: next of %s is %v", d.ID, d.EventSeq, d.Subject, q[:min(len(q), 1)])
					} else {
						next[d.Subject] = q[1:]
					}
					running[d.Subject] = true
					cs = append(cs, &events.Completion{Attempt: events.Attempt{DeliveryID: d.ID, N: d.Attempts, At: now,
						Outcome: events.OutcomeDelivered, Status: 200}, State: events.StateDelivered})
				}
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond) // the delivery's work
				// Finished here, before Complete commits: no one may claim
				// the subject's next delivery before that.
				mu.Lock()
				for _, d := range got {
					running[d.Subject] = false
				}
				done += len(got)
				mu.Unlock()
				if err := s.Complete(ctx, cs, now); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("gave up with %d of %d delivered", done, n)
	}
	back, err := rs[0].Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]map[string]int64{"hook": {events.StateDelivered: n}}, back); diff != "" {
		t.Errorf("backlog (-want +got):\n%s", diff)
	}
}

// TestDispatchConcurrent: dispatchers of two replicas move the cursor from
// the same seq at once; one wins, the others wait for it and then fail with
// ErrCursorMoved, and only the winner's deliveries are stored.
func TestDispatchConcurrent(t *testing.T) {
	rs := twoReplicas(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Hold the cursor so that every dispatcher is waiting for it.
	hold, err := rs[0].pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx) //nolint:errcheck // released below
	if _, err := hold.Exec(ctx, `SELECT seq FROM event_cursor WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	const k = 6
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() {
			docs, ds := deliveriesFor(fmt.Sprintf("t%d", i), 10, 3, now)
			errs[i] = rs[i%2].Dispatch(ctx, 0, 10, docs, ds)
		})
	}
	waitForLocks(t, rs[0], "UPDATE event_cursor", k)
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case err == nil:
			t.Errorf("dispatchers %d and %d both moved the cursor", won, i)
		case !errors.Is(err, events.ErrCursorMoved):
			t.Errorf("dispatcher %d: %v, want ErrCursorMoved", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no dispatcher moved the cursor")
	}
	if c, err := rs[1].DispatchCursor(ctx); err != nil || c != 10 {
		t.Errorf("cursor %d %v", c, err)
	}
	back, err := rs[1].Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]map[string]int64{fmt.Sprintf("t%d", won): {events.StatePending: 10}}, back); diff != "" {
		t.Errorf("backlog (-want +got):\n%s", diff)
	}
}

// waitForLocks waits until n other sessions wait for a lock while running a
// statement that contains marker.
func waitForLocks(t *testing.T, s *Store, marker string, n int) {
	t.Helper()
	for range 2000 {
		var waiting int
		err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND strpos(query, $1) > 0`, marker).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d sessions wait for a lock in %q", n, marker)
}

// TestAppendExternalConcurrent: replicas receiving the same events at once
// store each (source, id) once and report it new exactly once; every call
// that stored something has its audit record, and seqs follow commit order.
func TestAppendExternalConcurrent(t *testing.T) {
	rs := twoReplicas(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ext := func(id string) *events.External {
		return &events.External{ID: id, Source: "urn:idaas", Type: "User.Created", Subject: "u/" + id, Time: now,
			Doc: json.RawMessage(`{"id":"` + id + `"}`)}
	}
	const shared, k = 20, 8
	var mu sync.Mutex
	freshCount := map[string]int{}
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() {
			var evs []*events.External
			for j := range shared {
				evs = append(evs, ext(fmt.Sprintf("x%d", j)))
			}
			rand.Shuffle(len(evs), func(a, b int) { evs[a], evs[b] = evs[b], evs[a] })
			evs = append(evs, ext(fmt.Sprintf("own%d", i)), ext(fmt.Sprintf("own%d", i))) // repeated within the call
			fresh, err := rs[i%2].AppendExternal(ctx, evs, directory.Actor{Kind: "app", AppID: "idaas"})
			if err != nil {
				t.Error(err)
				return
			}
			if !fresh[len(evs)-2] || fresh[len(evs)-1] {
				t.Errorf("call %d: own event new %v, repeated %v; want true, false", i, fresh[len(evs)-2], fresh[len(evs)-1])
			}
			mu.Lock()
			defer mu.Unlock()
			for j, e := range evs {
				if fresh[j] {
					freshCount[e.ID]++
				}
			}
		})
	}
	wg.Wait()
	if len(freshCount) != shared+k {
		t.Errorf("%d events reported new, want %d", len(freshCount), shared+k)
	}
	for id, c := range freshCount {
		if c != 1 {
			t.Errorf("%s reported new %d times", id, c)
		}
	}
	recs, err := rs[0].EventsAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != shared+k {
		t.Errorf("%d events stored, want %d", len(recs), shared+k)
	}
	if !slices.IsSortedFunc(recs, func(a, b *directory.EventRecord) int { return int(a.Seq - b.Seq) }) {
		t.Error("events out of seq order")
	}
	for _, r := range recs {
		if r.Source != "urn:idaas" || r.Actor.AppID != "idaas" || !r.Time.Equal(now) || string(r.Data) != `{"id":"`+r.ID+`"}` {
			t.Errorf("record %+v", r)
		}
	}
	audit, err := rs[1].Audit(ctx, directory.AuditQuery{Action: "event.receive"})
	if err != nil || len(audit) != k {
		t.Errorf("receipt records: %d %v, want %d", len(audit), err, k)
	}
}

// TestDeliveryTimes: times are stored with microsecond precision, in UTC;
// Complete moves next_at only for pending deliveries.
func TestDeliveryTimes(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 3, 1, 13, 0, 0, 123456789, paris)
	docs, ds := deliveriesFor("hook", 2, 2, at)
	if err := s.Dispatch(ctx, 0, 2, docs, ds); err != nil {
		t.Fatal(err)
	}
	d, err := s.Delivery(ctx, "hook-0001")
	if err != nil {
		t.Fatal(err)
	}
	want := at.UTC().Truncate(time.Microsecond)
	for name, got := range map[string]time.Time{"eventTime": d.EventTime, "nextAt": d.NextAt, "created": d.Created, "updated": d.Updated} {
		if got != want { // == : the same instant, in UTC
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if _, err := s.Delivery(ctx, "missing"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("missing delivery: %v", err)
	}
	if _, err := s.EventDocument(ctx, 99); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("missing document: %v", err)
	}
	got, err := s.Claim(ctx, "hook", at, 10, time.Minute, false)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim: %v %d", err, len(got))
	}
	later := at.Add(time.Hour)
	err = s.Complete(ctx, []*events.Completion{
		{Attempt: events.Attempt{DeliveryID: "hook-0001", N: 1, At: at, Outcome: events.OutcomeRetry, Latency: 1500 * time.Microsecond}, State: events.StatePending, NextAt: later},
		{Attempt: events.Attempt{DeliveryID: "hook-0002", N: 1, At: at, Outcome: events.OutcomePermanent}, State: events.StateDead, NextAt: later},
		// An attempt reported twice: the attempt log keeps the first report
		// (a recorded attempt is never rewritten); the delivery takes the
		// last state.
		{Attempt: events.Attempt{DeliveryID: "hook-0002", N: 1, At: at, Outcome: events.OutcomePermanent, Status: 400, Error: "bad"}, State: events.StateDead},
	}, at)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := s.Delivery(ctx, "hook-0001")
	d2, _ := s.Delivery(ctx, "hook-0002")
	if d1.State != events.StatePending || d1.NextAt != later.UTC().Truncate(time.Microsecond) || !d1.LeaseUntil.IsZero() {
		t.Errorf("retried: %+v", d1)
	}
	if d2.State != events.StateDead || d2.NextAt != want || d2.LastStatus != 400 || d2.LastError != "bad" {
		t.Errorf("dead: %+v", d2)
	}
	att, err := s.Attempts(ctx, "hook-0002")
	wantAtt := []*events.Attempt{{DeliveryID: "hook-0002", N: 1, At: want, Outcome: events.OutcomePermanent}}
	if diff := cmp.Diff(wantAtt, att); err != nil || diff != "" {
		t.Errorf("attempts: %v (-want +got):\n%s", err, diff)
	}
	if att, _ := s.Attempts(ctx, "hook-0001"); len(att) != 1 || att[0].Latency != 1500*time.Microsecond {
		t.Errorf("latency: %+v", att)
	}
	// Replay never touches a running delivery.
	if _, err := s.Claim(ctx, "hook", later, 10, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Replay(ctx, []string{"hook-0001", "hook-0002", "nul\x00"}, nil, later, nil); err != nil || n != 1 {
		t.Errorf("replay: %d %v, want 1 (hook-0001 runs)", n, err)
	}
	if n, err := s.Replay(ctx, nil, &events.DeliveryQuery{Target: "hook"}, later, nil); err != nil || n != 1 {
		t.Errorf("replay by query: %d %v, want 1", n, err)
	}
}

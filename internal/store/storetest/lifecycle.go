package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// testRuleStarts: a rule's start is the last event written when it first
// came into force, and stays; replicas starting one rule at once agree;
// after an upgrade the first start takes the position the migration left.
func testRuleStarts(t *testing.T, ns NewStore, tamper Tamper) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	start := func(names ...string) map[string]int64 {
		t.Helper()
		got, err := es.StartRules(e.ctx, names, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	head := func() int64 {
		t.Helper()
		recs, err := es.EventsAfter(e.ctx, 0, 1000)
		if err != nil || len(recs) == 0 {
			t.Fatalf("events: %v %d", err, len(recs))
		}
		return recs[len(recs)-1].Seq
	}
	if diff := cmp.Diff(map[string]int64{"a": 0}, start("a")); diff != "" {
		t.Errorf("an empty outbox (-want +got):\n%s", diff)
	}
	e.createUser(strict, &directory.User{UserName: "ada", Active: true})
	e.createUser(strict, &directory.User{UserName: "grace", Active: true})
	h := head()
	if diff := cmp.Diff(map[string]int64{"a": 0, "b": h}, start("a", "b")); diff != "" {
		t.Errorf("a new rule and a known one (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{}, start()); diff != "" {
		t.Errorf("no rules (-want +got):\n%s", diff)
	}
	// The journey reads them back, without starting any.
	if js, ok := e.store.(admin.JourneyStore); ok {
		got, err := js.RuleStarts(e.ctx)
		if diff := cmp.Diff(map[string]int64{"a": 0, "b": h}, got); err != nil || diff != "" {
			t.Errorf("read back: %v (-want +got):\n%s", err, diff)
		}
	}

	// Replicas putting the same new rule in force at once, while events
	// are written.
	var wg sync.WaitGroup
	got := make([]int64, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				e.createUser(strict, &directory.User{UserName: "u" + string(rune('a'+i)), Active: true})
			}
			m, err := es.StartRules(e.ctx, []string{"c"}, e.clock.Now())
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = m["c"]
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] || g < h {
			t.Fatalf("concurrent starts %v (head before: %d)", got, h)
		}
	}

	// An upgraded database whose pipeline had dispatched up to event 1:
	// the first start puts the rules it brings at 1, once.
	if err := tamper(t, e.store, false, `UPDATE event_cursor SET rules_from = 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{"a": 0, "d": 1}, start("a", "d")); diff != "" {
		t.Errorf("after an upgrade (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"e": head()}, start("e")); diff != "" {
		t.Errorf("the next start after an upgrade (-want +got):\n%s", diff)
	}
}

// testFirstActivation: the event that makes an account active for the
// first time says so — its User.Created, or the User.Enabled of an
// account created disabled — and no other.
func testFirstActivation(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	setActive := func(id string, active bool) {
		t.Helper()
		if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, id, nil, func(u *directory.User) error { u.Active = active; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	ada := e.createUser(strict, &directory.User{UserName: "ada", Active: true})
	setActive(ada.ID, false)
	setActive(ada.ID, true)
	grace := e.createUser(strict, &directory.User{UserName: "grace", Active: false})
	if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, grace.ID, nil, func(u *directory.User) error { u.DisplayName = "Grace"; return nil }); err != nil {
		t.Fatal(err)
	}
	setActive(grace.ID, true)
	setActive(grace.ID, false)
	setActive(grace.ID, true)
	// A deleted account takes its record with it.
	if err := e.svc.DeleteUser(e.ctx, e.actor, strict, grace.ID, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := es.EventsAfter(e.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	name := map[string]string{"users/" + ada.ID: "ada", "users/" + grace.ID: "grace"}
	var got []string
	for _, r := range recs {
		var d directory.EventData
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		s := name[r.Subject] + " " + r.Type
		if d.FirstActivation {
			s += " first"
		}
		got = append(got, s)
	}
	want := []string{"ada User.Created first", "ada User.Disabled", "ada User.Enabled",
		"grace User.Created", "grace User.Updated", "grace User.Enabled first", "grace User.Disabled", "grace User.Enabled", "grace User.Deleted"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// MigrationLifecycle checks migration 0007 on a database made before it.
// s is a store with the schema of today; revert undoes migration 0007 in
// its dialect; reopen opens the database again, which migrates it. The
// accounts that existed count as activated (their User.Created was routed
// before), and a pipeline that had dispatched keeps its backlog for the
// rules of the first start.
func MigrationLifecycle(t *testing.T, s Store, reopen func() Store, tamper Tamper, revert string) {
	t.Helper()
	e := setup(t, func(*testing.T) Store { return s })
	active := e.createUser(strict, &directory.User{UserName: "active", Active: true})
	waiting := e.createUser(strict, &directory.User{UserName: "starts-later", Active: false})
	if err := tamper(t, s, false, revert+`; UPDATE event_cursor SET seq = 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	s.(interface{ Close() error }).Close()

	e = setup(t, func(*testing.T) Store { return reopen() })
	es := asEvents(t, e.store)
	for _, id := range []string{active.ID, waiting.ID} {
		if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, id, nil, func(u *directory.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, id, nil, func(u *directory.User) error { u.Active = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := es.EventsAfter(e.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var d directory.EventData
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.FirstActivation && r.Type == directory.UserEnabled {
			t.Errorf("%s of an account that existed before the upgrade is its first activation", r.Type)
		}
	}
	got, err := es.StartRules(e.ctx, []string{"welcome"}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got["welcome"] != 1 {
		t.Errorf("the first start after the upgrade: %v, want the cursor (1)", got)
	}
	got, err = es.StartRules(e.ctx, []string{"later"}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if head := recs[len(recs)-1].Seq; got["later"] != head {
		t.Errorf("a rule after the first start: %v, want the head (%d)", got, head)
	}
}

// testBackfillStore: past events are the dispatched ones with their
// documents; Enqueue queues only deliveries not stored yet, tells which,
// and writes nothing on a dry run.
func testBackfillStore(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	e.createUser(strict, &directory.User{UserName: "a", Active: true})
	e.createUser(strict, &directory.User{UserName: "b", Active: true})
	recs, err := es.EventsAfter(e.ctx, 0, 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("events: %v %d", err, len(recs))
	}
	var docs []*events.EventDoc
	for i, r := range recs {
		docs = append(docs, &events.EventDoc{Seq: r.Seq, ID: r.ID, Doc: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	if err := es.Dispatch(e.ctx, 0, recs[1].Seq, docs, nil); err != nil {
		t.Fatal(err)
	}
	e.createUser(strict, &directory.User{UserName: "c", Active: true}) // not dispatched
	past, err := es.PastEvents(e.ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range past {
		got = append(got, fmt.Sprintf("%d %s %s %s %s", p.Seq, p.ID, p.Type, p.Subject, p.Doc))
		if !p.Time.Equal(recs[0].Time) && !p.Time.Equal(recs[1].Time) {
			t.Errorf("time %v", p.Time)
		}
	}
	var want []string
	for i, r := range recs {
		want = append(want, fmt.Sprintf("%d %s %s %s {\"n\":%d}", r.Seq, r.ID, r.Type, r.Subject, i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("past events (-want +got):\n%s", diff)
	}
	if rest, err := es.PastEvents(e.ctx, recs[0].Seq, 10); err != nil || len(rest) != 1 {
		t.Errorf("after the first: %v %d", err, len(rest))
	}

	now := e.clock.Now()
	d := func(id string) *events.Delivery {
		return &events.Delivery{ID: id, EventSeq: recs[0].Seq, EventID: recs[0].ID, EventType: recs[0].Type, EventTime: recs[0].Time,
			Rule: "r", Target: "hook", Subject: recs[0].Subject, Payload: json.RawMessage(`{"p":1}`), State: events.StatePending,
			NextAt: now, Created: now}
	}
	enqueue := func(dry bool, audit *directory.AuditEntry, ds ...*events.Delivery) []bool {
		t.Helper()
		fresh, err := es.Enqueue(e.ctx, ds, dry, audit)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if diff := cmp.Diff([]bool{true}, enqueue(true, nil, d("b1"))); diff != "" {
		t.Errorf("dry run: %s", diff)
	}
	if _, err := es.Delivery(e.ctx, "b1"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("a dry run queued: %v", err)
	}
	if diff := cmp.Diff([]bool{true, false}, enqueue(false, nil, d("b1"), d("b1"))); diff != "" {
		t.Errorf("enqueue: %s", diff)
	}
	if diff := cmp.Diff([]bool{false, true}, enqueue(true, nil, d("b1"), d("b2"))); diff != "" {
		t.Errorf("dry run after: %s", diff)
	}
	enqueue(false, &directory.AuditEntry{Time: now, Actor: e.actor, Action: "events.backfill", ResourceType: "Rule", ResourceID: "r"})
	if entries, err := e.store.Audit(e.ctx, directory.AuditQuery{Action: "events.backfill"}); err != nil || len(entries) != 1 {
		t.Errorf("audit: %v %d", err, len(entries))
	}
	claimed, err := es.Claim(e.ctx, "hook", now, 10, time.Minute, false)
	if err != nil || len(claimed) != 1 || claimed[0].ID != "b1" || string(claimed[0].Event) != `{"n":0}` {
		t.Errorf("claim: %v %+v", err, claimed)
	}
}

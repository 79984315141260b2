package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// EventStore is a store with the event pipeline's tables.
type EventStore interface {
	Store
	events.Store
}

func asEvents(t *testing.T, s Store) events.Store {
	t.Helper()
	es, ok := s.(events.Store)
	if !ok {
		t.Skip("the store has no event pipeline")
	}
	return es
}

// testOutbox: every change writes its events in its transaction, in commit
// order; failed changes write none.
func testOutbox(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	u := e.createUser(strict, &directory.User{UserName: "ada", Active: true,
		Attrs: directory.Attrs{directory.EnterpriseURN: map[string]any{"department": "Engineering"}}})
	g := e.createGroup("eng", u.ID)
	if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, u.ID, nil, func(u *directory.User) error { u.DisplayName = "Ada L."; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, u.ID, nil, func(u *directory.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	// A failed change writes no event.
	_, _, err := e.svc.CreateUser(e.ctx, e.actor, strict, &directory.User{UserName: "ADA", Active: true})
	wantKind(t, err, directory.ErrConflict)
	if err := e.svc.DeleteGroup(e.ctx, e.actor, strict, g.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteUser(e.ctx, e.actor, strict, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := es.EventsAfter(e.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	var last int64
	for _, r := range recs {
		types = append(types, r.Type)
		if r.Seq <= last {
			t.Errorf("seq %d after %d", r.Seq, last)
		}
		last = r.Seq
		if r.ID == "" || r.Time.IsZero() || r.Actor != e.actor {
			t.Errorf("record %+v", r)
		}
	}
	want := []string{"User.Created", "Group.Created", "Group.MemberAdded", "User.Updated", "User.Disabled",
		"Group.Deleted", "Group.MemberRemoved", "User.Deleted"}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	var d directory.EventData
	if err := json.Unmarshal(recs[3].Data, &d); err != nil || !slices.Equal(d.Changed, []string{"displayName"}) || d.Before == nil || d.After == nil {
		t.Errorf("update data: %v %s", err, recs[3].Data)
	}
	if err := json.Unmarshal(recs[2].Data, &d); err != nil || d.Member != u.ID || recs[2].Subject != "groups/"+g.ID {
		t.Errorf("member data: %v %s", err, recs[2].Data)
	}
	// Paging.
	page, err := es.EventsAfter(e.ctx, recs[2].Seq, 2)
	if err != nil || len(page) != 2 || page[0].Seq != recs[3].Seq {
		t.Errorf("page after %d: %v %d", recs[2].Seq, err, len(page))
	}
}

// testOutboxConcurrent: events of concurrent writers come out in commit
// order, each exactly once (the dispatcher's "seq > cursor" reads must
// never skip an event committed late).
func testOutboxConcurrent(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	const n = 40
	var wg sync.WaitGroup
	seen := map[int64]bool{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var cursor int64
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		// A reader that advances a cursor while writers commit.
		defer reader.Done()
		for {
			// Whether the writers were done before this read: only a read
			// that started after the last commit may end the loop.
			var done bool
			select {
			case <-stop:
				done = true
			default:
			}
			recs, err := es.EventsAfter(e.ctx, cursor, 7)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, r := range recs {
				if seen[r.Seq] {
					t.Errorf("event %d read twice", r.Seq)
				}
				seen[r.Seq] = true
				cursor = r.Seq
			}
			mu.Unlock()
			if done && len(recs) == 0 {
				return
			}
		}
	}()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := e.svc.CreateUser(e.ctx, e.actor, strict, &directory.User{UserName: fmt.Sprintf("u%d", i), Active: true}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	if len(seen) != n {
		t.Errorf("read %d events, want %d (an event committed late was skipped)", len(seen), n)
	}
}

// testDeliveries drives the delivery tables: dispatch, claim (ordered and
// not), complete, replay, recover, prune.
func testDeliveries(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	a := e.createUser(strict, &directory.User{UserName: "a", Active: true})
	b := e.createUser(strict, &directory.User{UserName: "b", Active: true})
	if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, a.ID, nil, func(u *directory.User) error { u.DisplayName = "A"; return nil }); err != nil {
		t.Fatal(err)
	}
	recs, err := es.EventsAfter(e.ctx, 0, 10)
	if err != nil || len(recs) != 3 {
		t.Fatalf("events: %v %d", err, len(recs))
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var docs []*events.EventDoc
	var ds []*events.Delivery
	for i, r := range recs {
		docs = append(docs, &events.EventDoc{Seq: r.Seq, ID: r.ID, Doc: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
		for _, target := range []string{"hook", "mail"} {
			ds = append(ds, &events.Delivery{ID: fmt.Sprintf("d%d-%s", i, target), EventSeq: r.Seq, EventID: r.ID, EventType: r.Type,
				EventTime: r.Time, Rule: "r", Target: target, Subject: r.Subject, Payload: json.RawMessage(`{"p":1}`),
				State: events.StatePending, NextAt: now, Created: now})
		}
	}
	if err := es.Dispatch(e.ctx, 0, recs[2].Seq, docs, ds); err != nil {
		t.Fatal(err)
	}
	if err := es.Dispatch(e.ctx, 0, recs[2].Seq, nil, nil); !errors.Is(err, events.ErrCursorMoved) {
		t.Errorf("second dispatch from the same cursor: %v", err)
	}
	if c, _ := es.DispatchCursor(e.ctx); c != recs[2].Seq {
		t.Errorf("cursor %d", c)
	}
	// Ordered: a's second event waits for its first.
	got, err := es.Claim(e.ctx, "hook", now, 10, time.Minute, true)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ds []*events.Delivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	if !slices.Equal(ids(got), []string{"d0-hook", "d1-hook"}) {
		t.Fatalf("ordered claim: %v", ids(got))
	}
	if got[0].Attempts != 1 || got[0].State != events.StateRunning || string(got[0].Event) != `{"n":0}` || string(got[0].Payload) != `{"p":1}` {
		t.Errorf("claimed %+v %s", got[0], got[0].Event)
	}
	// Nothing more is due for hook until the first finishes.
	if more, _ := es.Claim(e.ctx, "hook", now, 10, time.Minute, true); len(more) != 0 {
		t.Errorf("claimed again: %v", ids(more))
	}
	// Unordered: all three of mail at once.
	if got, _ := es.Claim(e.ctx, "mail", now, 10, time.Minute, false); len(got) != 3 {
		t.Errorf("unordered claim: %v", ids(got))
	}
	// d0 delivered, d1 retried later.
	err = es.Complete(e.ctx, []*events.Completion{
		{Attempt: events.Attempt{DeliveryID: "d0-hook", N: 1, At: now, Outcome: events.OutcomeDelivered, Status: 200, Latency: 3 * time.Millisecond, Response: "ok"}, State: events.StateDelivered},
		{Attempt: events.Attempt{DeliveryID: "d1-hook", N: 1, At: now, Outcome: events.OutcomeRetry, Status: 503, Error: "unavailable"}, State: events.StatePending, NextAt: now.Add(time.Hour)},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = es.Claim(e.ctx, "hook", now, 10, time.Minute, true)
	if !slices.Equal(ids(got), []string{"d2-hook"}) {
		t.Errorf("after completion: %v", ids(got))
	}
	if next, err := es.NextDue(e.ctx, "hook"); err != nil || !next.Equal(now.Add(time.Hour)) {
		t.Errorf("next due %v %v", next, err)
	}
	att, err := es.Attempts(e.ctx, "d1-hook")
	if err != nil || len(att) != 1 || att[0].Status != 503 || att[0].Error != "unavailable" || att[0].Outcome != events.OutcomeRetry {
		t.Errorf("attempts %v %+v", err, att)
	}
	d, err := es.Delivery(e.ctx, "d1-hook")
	if err != nil || d.State != events.StatePending || d.LastStatus != 503 || d.Attempts != 1 {
		t.Errorf("delivery %v %+v", err, d)
	}
	// Recover: expired leases go back to pending.
	n, err := es.Recover(e.ctx, now.Add(2*time.Minute))
	if err != nil || n != 4 { // d2-hook and the three mail deliveries
		t.Errorf("recover %v %d", err, n)
	}
	// Dead, then replayed.
	if err := es.Complete(e.ctx, []*events.Completion{{Attempt: events.Attempt{DeliveryID: "d2-hook", N: 1, At: now, Outcome: events.OutcomePermanent, Status: 400}, State: events.StateDead}}, now); err != nil {
		t.Fatal(err)
	}
	dead, err := es.Deliveries(e.ctx, events.DeliveryQuery{State: events.StateDead})
	if err != nil || len(dead) != 1 || dead[0].ID != "d2-hook" {
		t.Errorf("dead: %v %v", err, ids(dead))
	}
	if n, err := es.Replay(e.ctx, nil, &events.DeliveryQuery{State: events.StateDead, Target: "hook"}, now, nil); err != nil || n != 1 {
		t.Errorf("replay: %v %d", err, n)
	}
	// The attempt count and log stay; the schedule starts over after them.
	if d, _ := es.Delivery(e.ctx, "d2-hook"); d.State != events.StatePending || d.Attempts != 1 || d.Replays != 1 || d.ReplayBase != 1 || d.RoundAttempts() != 0 {
		t.Errorf("replayed: %+v", d)
	}
	if att, err := es.Attempts(e.ctx, "d2-hook"); err != nil || len(att) != 1 || att[0].Outcome != events.OutcomePermanent {
		t.Errorf("attempts of the replayed delivery: %v %+v", err, att)
	}
	replayAudit := &directory.AuditEntry{Time: now, Actor: e.actor, Action: "deliveries.replay", ResourceType: "Delivery", ResourceID: "d0-hook"}
	if n, err := es.Replay(e.ctx, []string{"d0-hook"}, nil, now, replayAudit); err != nil || n != 1 {
		t.Errorf("replay by id: %v %d", err, n)
	}
	if got, err := e.store.Audit(e.ctx, directory.AuditQuery{Action: "deliveries.replay"}); err != nil || len(got) != 1 || got[0].ResourceID != "d0-hook" {
		t.Errorf("the replay's audit record: %v %+v", err, got)
	}
	back, _ := es.Backlog(e.ctx)
	if back["hook"][events.StatePending] != 3 || back["mail"][events.StatePending] != 3 {
		t.Errorf("backlog %v", back)
	}
	// Disabled targets.
	if err := es.SetTargetDisabled(e.ctx, "hook", "HTTP 410", true, &directory.AuditEntry{Time: now, Actor: e.actor,
		Action: "target.disable", ResourceType: "Target", ResourceID: "hook"}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.store.Audit(e.ctx, directory.AuditQuery{Action: "target."}); err != nil || len(got) != 1 || got[0].ResourceID != "hook" {
		t.Errorf("the disable's audit record: %v %+v", err, got)
	}
	if dis, _ := es.TargetsDisabled(e.ctx); dis["hook"] != "HTTP 410" {
		t.Errorf("disabled %v", dis)
	}
	if err := es.SetTargetDisabled(e.ctx, "hook", "", false, nil); err != nil {
		t.Fatal(err)
	}
	if dis, _ := es.TargetsDisabled(e.ctx); len(dis) != 0 {
		t.Errorf("still disabled %v", dis)
	}
	// Prune: finished deliveries older than the horizon go, with their
	// attempts; pending ones and their events stay.
	all, _ := es.Claim(e.ctx, "hook", now.Add(2*time.Hour), 10, time.Minute, false)
	var cs []*events.Completion
	for _, d := range all {
		cs = append(cs, &events.Completion{Attempt: events.Attempt{DeliveryID: d.ID, N: d.Attempts, At: now, Outcome: events.OutcomeDelivered}, State: events.StateDelivered})
	}
	if err := es.Complete(e.ctx, cs, now); err != nil {
		t.Fatal(err)
	}
	n, err = es.Prune(e.ctx, now.Add(time.Second))
	if err != nil || n != 3 {
		t.Errorf("prune: %v %d", err, n)
	}
	if att, _ := es.Attempts(e.ctx, "d1-hook"); len(att) != 0 {
		t.Errorf("attempts survived: %d", len(att))
	}
	if left, _ := es.Deliveries(e.ctx, events.DeliveryQuery{}); len(left) != 3 {
		t.Errorf("left %v", ids(left))
	}
	if _, err := es.EventDocument(e.ctx, recs[0].Seq); err != nil {
		t.Errorf("document of an event with pending deliveries: %v", err)
	}
	_ = b
}

// testAttemptLog: a delivery's attempt log is appended to and never
// rewritten: an attempt recorded again under its number keeps its first
// record; replays number on. An uncertain attempt, or a recovered lease,
// sets UncertainSince once; a replay clears it.
func testAttemptLog(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	e.createUser(strict, &directory.User{UserName: "a", Active: true})
	recs, err := es.EventsAfter(e.ctx, 0, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("events: %v %d", err, len(recs))
	}
	r := recs[0]
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := &events.Delivery{ID: "d1", EventSeq: r.Seq, EventID: r.ID, EventType: r.Type, EventTime: r.Time, Rule: "r", Target: "mail",
		Subject: r.Subject, Payload: json.RawMessage(`{}`), State: events.StatePending, NextAt: t0, Created: t0}
	if err := es.Dispatch(e.ctx, 0, r.Seq, []*events.EventDoc{{Seq: r.Seq, ID: r.ID, Doc: json.RawMessage(`{}`)}}, []*events.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	claim := func(now time.Time) *events.Delivery {
		t.Helper()
		got, err := es.Claim(e.ctx, "mail", now, 10, time.Minute, false)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim at %v: %v %d", now, err, len(got))
		}
		return got[0]
	}
	complete := func(c *events.Completion, now time.Time) {
		t.Helper()
		if err := es.Complete(e.ctx, []*events.Completion{c}, now); err != nil {
			t.Fatal(err)
		}
	}
	get := func() *events.Delivery {
		t.Helper()
		d, err := es.Delivery(e.ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Attempt 1: certain; attempt 2: uncertain (a lost answer).
	c1 := claim(t0)
	complete(&events.Completion{Attempt: events.Attempt{DeliveryID: "d1", N: c1.Attempts, At: t0, Outcome: events.OutcomeRetry, Status: 429, Error: "slow down"},
		State: events.StatePending, NextAt: t0.Add(time.Second)}, t0)
	if got := get(); !got.UncertainSince.IsZero() {
		t.Errorf("uncertain since %v after a certain attempt", got.UncertainSince)
	}
	t2 := t0.Add(time.Minute)
	c2 := claim(t2)
	complete(&events.Completion{Attempt: events.Attempt{DeliveryID: "d1", N: c2.Attempts, At: t2, Outcome: events.OutcomeRetry, Status: 503, Error: "lost"},
		State: events.StatePending, NextAt: t2.Add(time.Second), Uncertain: true}, t2)
	// The same attempt recorded again (another outcome): the first record stays,
	// in one call and across calls.
	t3 := t0.Add(2 * time.Minute)
	dup := &events.Completion{Attempt: events.Attempt{DeliveryID: "d1", N: c2.Attempts, At: t3, Outcome: events.OutcomeDelivered, Status: 200},
		State: events.StatePending, NextAt: t3.Add(time.Second), Uncertain: true}
	if err := es.Complete(e.ctx, []*events.Completion{dup, dup}, t3); err != nil {
		t.Fatal(err)
	}
	got := get()
	if c1.Attempts != 1 || c2.Attempts != 2 || !got.UncertainSince.Equal(t2) {
		t.Errorf("claims numbered %d, %d; uncertain since %v, want %v", c1.Attempts, c2.Attempts, got.UncertainSince, t2)
	}
	// Replay: numbering goes on; uncertainty is forgotten.
	if n, err := es.Replay(e.ctx, []string{"d1"}, nil, t3, nil); err != nil || n != 1 {
		t.Fatalf("replay: %v %d", err, n)
	}
	got = get()
	if got.Attempts != 2 || got.Replays != 1 || got.ReplayBase != 2 || !got.UncertainSince.IsZero() {
		t.Errorf("replayed: attempts %d, replays %d, base %d, uncertain since %v", got.Attempts, got.Replays, got.ReplayBase, got.UncertainSince)
	}
	t4 := t0.Add(3 * time.Minute)
	c3 := claim(t4)
	complete(&events.Completion{Attempt: events.Attempt{DeliveryID: "d1", N: c3.Attempts, At: t4, Outcome: events.OutcomeDelivered, Status: 200},
		State: events.StateDelivered}, t4)
	att, err := es.Attempts(e.ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		N       int
		At      time.Time
		Outcome string
		Status  int
	}
	var rows []row
	for _, a := range att {
		rows = append(rows, row{a.N, a.At, a.Outcome, a.Status})
	}
	want := []row{{1, t0, events.OutcomeRetry, 429}, {2, t2, events.OutcomeRetry, 503}, {3, t4, events.OutcomeDelivered, 200}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("attempt log (-want +got):\n%s", diff)
	}
	// The console's charts read the attempts since a time, with their
	// target, oldest first, at most limit.
	type since interface {
		AttemptsSince(ctx context.Context, since time.Time, limit int) ([]events.AttemptPoint, error)
	}
	if ss, ok := e.store.(since); !ok {
		t.Error("the store does not read attempts since a time")
	} else {
		pts, err := ss.AttemptsSince(e.ctx, t2, 10)
		if err != nil {
			t.Fatal(err)
		}
		wantPts := []events.AttemptPoint{{At: t2, Target: "mail", Outcome: events.OutcomeRetry}, {At: t4, Target: "mail", Outcome: events.OutcomeDelivered}}
		if diff := cmp.Diff(wantPts, pts); diff != "" {
			t.Errorf("attempts since t2 (-want +got):\n%s", diff)
		}
		if pts, err := ss.AttemptsSince(e.ctx, t0, 1); err != nil || len(pts) != 1 || !pts[0].At.Equal(t0) {
			t.Errorf("attempts since t0, limit 1: %v %v", pts, err)
		}
	}
	// A lease that runs out: the attempt may have been made, since the claim.
	if n, err := es.Replay(e.ctx, []string{"d1"}, nil, t4, nil); err != nil || n != 1 {
		t.Fatalf("replay: %v %d", err, n)
	}
	t5 := t0.Add(4 * time.Minute)
	claim(t5)
	if n, err := es.Recover(e.ctx, t5.Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("recover: %v %d", err, n)
	}
	if got := get(); !got.UncertainSince.Equal(t5) || got.State != events.StatePending || got.Replays != 2 || got.Attempts != 4 {
		t.Errorf("recovered: %+v", got)
	}
}

// testExternalEvents: received events are stored once per (source, id)
// and application, with an audit record, in the same sequence as
// Gatehouse's own.
func testExternalEvents(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	e.createUser(strict, &directory.User{UserName: "first", Active: true})
	now := time.Now().UTC().Truncate(time.Microsecond)
	evs := []*events.External{
		{ID: "x1", Source: "urn:idaas", Type: "User.Created", Subject: "u/1", Time: now, Doc: json.RawMessage(`{"id":"x1"}`)},
		{ID: "x2", Source: "urn:idaas", Type: "User.Created", Subject: "u/2", Time: now, Doc: json.RawMessage(`{"id":"x2"}`)},
	}
	actor := directory.Actor{Kind: "app", AppID: "app-1", AppName: "idaas", RequestID: "r1"}
	fresh, err := es.AppendExternal(e.ctx, evs, actor)
	if err != nil || !slices.Equal(fresh, []bool{true, true}) {
		t.Fatalf("append: %v %v", err, fresh)
	}
	fresh, err = es.AppendExternal(e.ctx, []*events.External{evs[1], {ID: "x1", Source: "urn:other", Type: "T", Time: now, Doc: json.RawMessage(`{}`)}}, actor)
	if err != nil || !slices.Equal(fresh, []bool{false, true}) {
		t.Fatalf("append again: %v %v", err, fresh)
	}
	recs, _ := es.EventsAfter(e.ctx, 0, 10)
	if len(recs) != 4 || recs[1].ID != "x1" || recs[1].Source != "urn:idaas" || string(recs[1].Data) != `{"id":"x1"}` {
		t.Fatalf("records: %d %+v", len(recs), recs)
	}
	// A received event's actor is the application that posted it; the
	// hub's own have no source.
	if diff := cmp.Diff(actor, recs[1].Actor); diff != "" {
		t.Errorf("received event's actor (-want +got):\n%s", diff)
	}
	if recs[0].Source != "" {
		t.Errorf("the hub's own event has source %q", recs[0].Source)
	}
	entries, _ := e.store.Audit(e.ctx, directory.AuditQuery{Action: "event.receive"})
	if len(entries) != 2 {
		t.Errorf("audit records of receipts: %d", len(entries))
	}
	// Another application posting the same source and id, before or after
	// the first, is not its duplicate: an application allowed to post
	// events cannot have another's dropped by posting its ids first.
	other := directory.Actor{Kind: "app", AppID: "app-2", AppName: "intruder", RequestID: "r2"}
	early := &events.External{ID: "x3", Source: "urn:idaas", Type: "User.Created", Subject: "u/3", Time: now, Doc: json.RawMessage(`{"id":"forged"}`)}
	if fresh, err := es.AppendExternal(e.ctx, []*events.External{evs[0], early}, other); err != nil || !slices.Equal(fresh, []bool{true, true}) {
		t.Fatalf("another application's append: %v %v", err, fresh)
	}
	real := &events.External{ID: "x3", Source: "urn:idaas", Type: "User.Created", Subject: "u/3", Time: now, Doc: json.RawMessage(`{"id":"x3"}`)}
	if fresh, err := es.AppendExternal(e.ctx, []*events.External{real, evs[0]}, actor); err != nil || !slices.Equal(fresh, []bool{true, false}) {
		t.Fatalf("the sender's own after another's: %v %v", err, fresh)
	}
	if fresh, err := es.AppendExternal(e.ctx, []*events.External{early}, other); err != nil || !slices.Equal(fresh, []bool{false}) {
		t.Fatalf("the other application again: %v %v", err, fresh)
	}
	recs, _ = es.EventsAfter(e.ctx, 0, 10)
	if n := len(recs); n != 7 || recs[6].ID != "x3" || string(recs[6].Data) != `{"id":"x3"}` || recs[6].Actor.AppID != "app-1" {
		t.Fatalf("records after another application's: %d %+v", n, recs[n-1])
	}
}

// testMembershipEvents: a group change with many members writes one event
// per member, each naming its member and holding the group without the
// change's member lists (which would make n events of size n).
func testMembershipEvents(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	const n = 300
	var members []string
	for i := range n {
		members = append(members, e.createUser(strict, &directory.User{UserName: fmt.Sprintf("m%03d", i), Active: true}).ID)
	}
	recs, err := es.EventsAfter(e.ctx, 0, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	after := recs[len(recs)-1].Seq
	g := e.createGroup("big", members...)
	recs, err = es.EventsAfter(e.ctx, after, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	added := map[string]bool{}
	for _, r := range recs {
		if r.Type != directory.GroupMemberAdded {
			continue
		}
		var d directory.EventData
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		added[d.Member] = true
		if len(r.Data) > 2048 {
			t.Fatalf("a membership event of a %d-member change holds %d bytes", n, len(r.Data))
		}
		var snap directory.GroupSnapshot
		if err := json.Unmarshal(d.After, &snap); err != nil || snap.ID != g.ID || len(snap.MembersAdded) != 0 {
			t.Fatalf("event data %s: %v", r.Data, err)
		}
	}
	if len(added) != n {
		t.Errorf("%d MemberAdded events, want %d", len(added), n)
	}
}

// testUserDeleteMemberships: deleting a user removes it from every group,
// outside the deleting application's scope included, and records each
// removal in the transaction of the deletion: a group.update audit record
// naming the member removed, with the group's new version, and a
// Group.MemberRemoved event, before the user.delete record and the
// User.Deleted event. A refused deletion records nothing.
func testUserDeleteMemberships(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	eng, err := e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "Engineering"})
	if err != nil {
		t.Fatal(err)
	}
	ada := e.createUser(strict, &directory.User{UserName: "ada", Active: true, OrgID: eng.ID})
	bob := e.createUser(strict, &directory.User{UserName: "bob", Active: true, OrgID: eng.ID})
	team, _, err := e.svc.CreateGroup(e.ctx, e.actor, strict, &directory.Group{DisplayName: "team", OrgID: eng.ID,
		Members: []directory.Member{{ID: ada.ID}, {ID: bob.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	hidden := e.createGroup("hidden", ada.ID) // in root: outside the scope
	p := strict
	p.TargetOrgID, p.Scope = eng.ID, directory.SyncScope{OrgIDs: []string{eng.ID}}
	recs, err := es.EventsAfter(e.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1].Seq
	head, err := e.store.Audit(e.ctx, directory.AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}

	wantKind(t, e.svc.DeleteUser(e.ctx, e.actor, p, ada.ID, func(int64) bool { return false }), directory.ErrPrecondition)
	if recs, err := es.EventsAfter(e.ctx, last, 100); err != nil || len(recs) != 0 {
		t.Errorf("a refused delete wrote events: %v %d", err, len(recs))
	}
	if got, err := e.store.Audit(e.ctx, directory.AuditQuery{Limit: 1}); err != nil || got[0].Seq != head[0].Seq {
		t.Errorf("a refused delete wrote audit records: %v", err)
	}

	if err := e.svc.DeleteUser(e.ctx, e.actor, p, ada.ID, nil); err != nil {
		t.Fatal(err)
	}
	recs, err = es.EventsAfter(e.ctx, last, 100)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct{ Type, Subject, Member string }
	var got []ev
	for _, r := range recs {
		var d directory.EventData
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, ev{r.Type, r.Subject, d.Member})
		if r.Actor != e.actor {
			t.Errorf("%s by %+v", r.Type, r.Actor)
		}
	}
	want := []ev{
		{directory.GroupMemberRemoved, "groups/" + team.ID, ada.ID},
		{directory.GroupMemberRemoved, "groups/" + hidden.ID, ada.ID},
		{directory.UserDeleted, "users/" + ada.ID, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, g := range []*directory.Group{team, hidden} {
		now, err := e.store.Group(e.ctx, g.ID, directory.ReadOptions{Members: true})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(now.Members, func(m directory.Member) bool { return m.ID == ada.ID }) || now.Version != g.Version+1 {
			t.Errorf("group %s after the delete: version %d (was %d), members %v", g.DisplayName, now.Version, g.Version, now.Members)
		}
		entries, err := e.store.Audit(e.ctx, directory.AuditQuery{ResourceID: g.ID, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		var before, after directory.GroupSnapshot
		if len(entries) != 1 || entries[0].Action != "group.update" || entries[0].Actor != e.actor ||
			json.Unmarshal(entries[0].Before, &before) != nil || json.Unmarshal(entries[0].After, &after) != nil {
			t.Fatalf("group %s: audit %+v", g.DisplayName, entries)
		}
		if before.Version != g.Version || after.Version != now.Version || !after.Modified.Equal(now.Modified) ||
			!slices.Equal(after.MembersRemoved, []string{ada.ID}) || after.DisplayName != g.DisplayName {
			t.Errorf("group %s: audit before %+v after %+v, stored version %d", g.DisplayName, before, after, now.Version)
		}
	}
	entries, err := e.store.Audit(e.ctx, directory.AuditQuery{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action+" "+en.ResourceID)
	}
	if diff := cmp.Diff([]string{"user.delete " + ada.ID, "group.update " + hidden.ID, "group.update " + team.ID}, actions); diff != "" {
		t.Errorf("audit records, newest first (-want +got):\n%s", diff)
	}
}

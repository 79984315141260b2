package storetest

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
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

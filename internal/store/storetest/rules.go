package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// testAPIRules: rules made through the admin API are stored, replaced,
// listed by name and deleted, each change moving the version and writing
// its audit record.
func testAPIRules(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	rs, ok := e.store.(events.RuleStore)
	if !ok {
		t.Skip("the store keeps no rules")
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	v0, err := rs.RulesVersion(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	audit := func(action, name string) *directory.AuditEntry {
		return &directory.AuditEntry{Time: now, Actor: e.actor, Action: action, ResourceType: "Rule", ResourceID: name}
	}
	welcome := events.RuleSpec{Name: "welcome", Pattern: map[string]any{"detail-type": []any{"User.Created"}},
		Targets: []events.RouteSpec{{Target: "mail", Payload: map[string]any{"to": "${detail.email}", "template": "welcome_new_hire"}}}}
	other := events.RuleSpec{Name: "audit-hook", Pattern: map[string]any{"source": []any{"gatehouse"}}, Targets: []events.RouteSpec{{Target: "hook"}}}
	for _, r := range []events.RuleSpec{welcome, other} {
		created, err := rs.PutRule(e.ctx, r, now, audit("rule.create", r.Name))
		if err != nil || !created {
			t.Fatalf("put %s: %v %v", r.Name, created, err)
		}
	}
	welcome.Description = "the seeds' welcome email"
	if created, err := rs.PutRule(e.ctx, welcome, now.Add(time.Minute), audit("rule.update", "welcome")); err != nil || created {
		t.Fatalf("replace: %v %v", created, err)
	}
	got, v, err := rs.APIRules(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != v0+3 {
		t.Errorf("version %d after three changes from %d", v, v0)
	}
	if len(got) != 2 || got[0].Rule.Name != "audit-hook" || got[1].Rule.Name != "welcome" {
		t.Fatalf("rules: %+v", got)
	}
	if diff := cmp.Diff(welcome, got[1].Rule); diff != "" {
		t.Errorf("stored rule (-want +got):\n%s", diff)
	}
	if !got[1].Created.Equal(now) || !got[1].Updated.Equal(now.Add(time.Minute)) {
		t.Errorf("times: %v %v", got[1].Created, got[1].Updated)
	}
	if err := rs.DeleteRule(e.ctx, "audit-hook", audit("rule.delete", "audit-hook")); err != nil {
		t.Fatal(err)
	}
	wantKind(t, rs.DeleteRule(e.ctx, "audit-hook", audit("rule.delete", "audit-hook")), directory.ErrNotFound)
	if got, v2, _ := rs.APIRules(e.ctx); len(got) != 1 || v2 != v+1 {
		t.Errorf("after delete: %d rules, version %d", len(got), v2)
	}
	entries, err := e.store.Audit(e.ctx, directory.AuditQuery{Action: "rule."})
	if err != nil || len(entries) != 4 {
		t.Errorf("audit: %v, %d records, want 4 (the failed delete writes none)", err, len(entries))
	}
}

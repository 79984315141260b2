package provision_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// TestRunEntry: a push run's audit record counts what the run did, keeps
// a bounded error, and reads back; another record does not read as one.
func TestRunEntry(t *testing.T) {
	start := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	sum := &provision.Summary{Target: "crm", InScope: 9, Errors: 1, Compared: true, Warnings: []string{"w"},
		Actions: map[string]int{"create": 2, "update": 1, "deactivate": 3, "delete": 1, "unchanged": 1, "error": 1, "skip": 4}}
	e := provision.RunEntry(directory.Actor{Kind: "cli"}, "crm", "cli", start, start.Add(1500*time.Millisecond), sum,
		errors.New(strings.Repeat("x", 600)))
	if e.Action != provision.RunAction || e.ResourceType != "PushTarget" || e.ResourceID != "crm" || !e.Time.Equal(start.Add(1500*time.Millisecond)) {
		t.Fatalf("entry: %+v", e)
	}
	r, ok := provision.ReadRunRecord(e)
	if !ok {
		t.Fatalf("unreadable: %s", e.After)
	}
	want := provision.RunRecord{Target: "crm", Trigger: "cli", Start: start, Seconds: 1.5, InScope: 9, Created: 2, Updated: 1,
		Deactivated: 3, Deleted: 1, Unchanged: 1, Skipped: 4, Failed: 1, Compared: true, Warnings: 1, Error: strings.Repeat("x", 500) + "…"}
	if r != want {
		t.Errorf("record:\n got %+v\nwant %+v", r, want)
	}
	// A run that did not start: no counts, its error.
	if r, ok := provision.ReadRunRecord(provision.RunEntry(directory.Actor{Kind: "system"}, "crm", "schedule", start, start, nil, errors.New("gone"))); !ok || r.Error != "gone" || r.Created != 0 {
		t.Errorf("no summary: %+v %v", r, ok)
	}
	// Cut short at a character's boundary.
	long := provision.RunEntry(directory.Actor{Kind: "cli"}, "crm", "cli", start, start, nil, errors.New("x"+strings.Repeat("张", 200)))
	if r, _ := provision.ReadRunRecord(long); r.Error != "x"+strings.Repeat("张", 166)+"…" {
		t.Errorf("cut error: %q", r.Error)
	}
	if _, ok := provision.ReadRunRecord(&directory.AuditEntry{Action: "user.create", After: e.After}); ok {
		t.Error("a user.create record read as a push run")
	}
}

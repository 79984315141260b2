package provision

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// RunAction is the audit action of a push run: every push that writes (a
// scheduled one, `gatehouse push TARGET`; never a dry run) leaves one
// record in the hash-chained audit log, its subject the target.
const RunAction = "push.run"

// RunRecord is what a push run's audit record keeps (its After): counts,
// never an account's name.
type RunRecord struct {
	Target string `json:"target"`
	// Trigger: "schedule" (serve) or "cli" (gatehouse push).
	Trigger     string    `json:"trigger"`
	Start       time.Time `json:"start"`
	Seconds     float64   `json:"seconds"`
	InScope     int       `json:"inScope"`
	Created     int       `json:"created"`
	Updated     int       `json:"updated"`
	Deactivated int       `json:"deactivated"`
	Deleted     int       `json:"deleted"`
	Unchanged   int       `json:"unchanged"`
	Skipped     int       `json:"skipped"`
	Failed      int       `json:"failed"`
	Compared    bool      `json:"compared"`
	Warnings    int       `json:"warnings"`
	// Error is why the run stopped ("" when it finished).
	Error string `json:"error,omitempty"`
}

// maxRunError bounds the error a record keeps.
const maxRunError = 500

// RunEntry is the audit record of the run of target that started at start
// and ended with sum (nil when it did not start) and err.
func RunEntry(actor directory.Actor, target, trigger string, start, end time.Time, sum *Summary, err error) *directory.AuditEntry {
	r := RunRecord{Target: target, Trigger: trigger, Start: start.UTC(), Seconds: end.Sub(start).Seconds()}
	if sum != nil {
		a := sum.Actions
		r.InScope, r.Created, r.Updated, r.Deactivated, r.Deleted = sum.InScope, a["create"], a["update"], a["deactivate"], a["delete"]
		r.Unchanged, r.Skipped, r.Failed, r.Compared, r.Warnings = a["unchanged"], a["skip"], sum.Errors, sum.Compared, len(sum.Warnings)
	}
	if err != nil {
		r.Error = err.Error()
		if len(r.Error) > maxRunError {
			n := maxRunError
			for n > 0 && !utf8.RuneStart(r.Error[n]) {
				n-- // not in the middle of a character
			}
			r.Error = r.Error[:n] + "…"
		}
	}
	after, _ := json.Marshal(r)
	return &directory.AuditEntry{Time: end.UTC(), Actor: actor, Action: RunAction, ResourceType: "PushTarget", ResourceID: target, After: after}
}

// ReadRunRecord reads a push run's audit record; ok is false for another
// record or one it cannot read.
func ReadRunRecord(e *directory.AuditEntry) (r RunRecord, ok bool) {
	if e == nil || e.Action != RunAction || json.Unmarshal(e.After, &r) != nil {
		return RunRecord{}, false
	}
	if r.Target == "" {
		r.Target = e.ResourceID
	}
	return r, true
}

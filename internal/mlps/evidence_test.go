package mlps

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEvidence(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	facts := IdentityFacts{
		Now: now, DormantAfter: 90 * day, MaxCredentialAge: 90 * day,
		Accounts: []Account{
			{UserName: "fresh", Active: true, Created: now.Add(-200 * day), Modified: now.Add(-10 * day)},
			{UserName: "dormant", Active: true, Created: now.Add(-200 * day), Modified: now.Add(-91 * day)},
			{UserName: "never-changed", Active: true, Created: now.Add(-120 * day)},
			{UserName: "disabled", Active: false, Created: now.Add(-400 * day), Modified: now.Add(-300 * day)},
		},
		Admins: []AdminApp{{Name: "ops", Enabled: true}},
		Audit:  AuditFacts{Verified: true, OK: false, Records: 10, Problems: []string{"record 4: hash does not match"}, Retention: 30 * day},
		Credentials: []Credential{
			{App: "okta", Kind: "token", ID: "t1", Hint: "abcd", Enabled: true, Created: now.Add(-100 * day), Expires: now.Add(100 * day)},
			{App: "okta", Kind: "token", ID: "t2", Hint: "efgh", Enabled: true, Created: now.Add(-5 * day), Expires: now.Add(80 * day)},
			{App: "okta", Kind: "token", ID: "t3", Hint: "ijkl", Enabled: true, Created: now.Add(-200 * day), Expires: now.Add(-1 * day)},
			{App: "ram", Kind: "secret", ID: "s1", Hint: "mnop", Enabled: true, Created: now.Add(-95 * day)},
			{App: "ram", Kind: "secret", ID: "s2", Hint: "qrst", Enabled: false, Created: now.Add(-300 * day)},
			{App: "ram", Kind: "secret", ID: "s3", Hint: "uvwx", Enabled: true, Created: now.Add(-1 * day)},
		},
	}
	ev := BuildEvidence(nil, facts, false)
	type row struct {
		ID, Status string
		Items      []string
	}
	var got []row
	for _, c := range ev.Controls {
		got = append(got, row{c.ID, c.Status, c.Items})
	}
	want := []row{
		{"infrastructure", EvUnknown, nil},
		{"dormant-accounts", EvFail, []string{"dormant (last changed 2026-03-02, 91 days ago)", "never-changed (last changed 2026-02-01, 120 days ago)"}},
		{"admin-mfa", EvNotAvailable, nil},
		{"audit-chain", EvFail, []string{"record 4: hash does not match"}},
		{"audit-retention", EvFail, nil},
		{"credential-age", EvFail, []string{
			"token t1 of okta (…abcd, created 2026-02-21): 100 days old",
			"secret s1 of ram (…mnop, created 2026-02-26): 95 days old",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("controls (-want +got):\n%s", diff)
	}
	if ev.Status != EvFail {
		t.Errorf("status %s", ev.Status)
	}

	// All well: pass, with MFA still not available.
	facts.Accounts = facts.Accounts[:1]
	facts.Credentials = facts.Credentials[1:2]
	facts.Audit = AuditFacts{Verified: true, OK: true, Records: 10, Retention: 180 * day, CheckpointsRead: 2, CheckpointsMatched: 2}
	ev = BuildEvidence(&Report{Summary: Summary{Resources: 3, Checks: 3, Passed: 3}}, facts, false)
	if ev.Status != EvPass {
		t.Errorf("status %s: %+v", ev.Status, ev.Controls)
	}
}

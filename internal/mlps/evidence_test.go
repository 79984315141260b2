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
		{"group-mfa", EvNotAvailable, nil},
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

	// All well: pass, with MFA not available (no sign-in data).
	facts.Accounts = facts.Accounts[:1]
	facts.Credentials = facts.Credentials[1:2]
	facts.Audit = AuditFacts{Verified: true, OK: true, Records: 10, Retention: 180 * day, CheckpointsRead: 2, CheckpointsMatched: 2}
	ev = BuildEvidence(&Report{Summary: Summary{Resources: 3, Checks: 3, Passed: 3}}, facts, false)
	if ev.Status != EvPass {
		t.Errorf("status %s: %+v", ev.Status, ev.Controls)
	}
}

// TestEvidenceMFA: the administrators' MFA and the groups that need two
// factors, from the factor policy and the second factors people set up.
func TestEvidenceMFA(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	base := IdentityFacts{Now: now, DormantAfter: 90 * 24 * time.Hour, MaxCredentialAge: 90 * 24 * time.Hour,
		Admins: []AdminApp{{Name: "ops", Enabled: true}},
		Audit:  AuditFacts{Verified: true, OK: true, Records: 1, Retention: 180 * 24 * time.Hour, CheckpointsRead: 1, CheckpointsMatched: 1}}
	type row struct {
		Status string
		Items  []string
	}
	for _, tc := range []struct {
		name              string
		mfa               *MFAFacts
		admin, groups     row
		overall           string
		adminDetailPrefix string
	}{
		{"no policy", &MFAFacts{}, row{EvUnknown, nil}, row{EvPass, nil}, EvUnknown, "login.admin_groups is empty"},
		{"all enrolled", &MFAFacts{
			Groups: []MFAGroup{{Ref: "Admins", Name: "admins", Admin: true, Factors: 2, Members: 2, Enrolled: 2},
				{Ref: "finance", Name: "finance", Factors: 2, Members: 3, Enrolled: 1},
				{Ref: "sales", Name: "sales", Factors: 1, Members: 5}},
			People: []MFAPerson{{UserName: "ann", Admin: true, SecondFactors: 1, RecoveryCodes: 10}, {UserName: "bo", Admin: true, SecondFactors: 2},
				{UserName: "cy", SecondFactors: 1}, {UserName: "di"}, {UserName: "ed"}}},
			row{EvPass, nil},
			row{EvPass, []string{"admins (login.admin_groups): 2 factors; 2 of 2 active members have a second factor set up",
				"finance (login.group_factors): 2 factors; 1 of 3 active members have a second factor set up"}},
			EvPass, "2 of 2 active administrators (members of admins)"},
		{"an administrator without a second factor, a group that does not exist", &MFAFacts{
			Groups: []MFAGroup{{Ref: "admins", Name: "admins", Admin: true, Factors: 2, Members: 2, Enrolled: 1},
				{Ref: "root-admins", Admin: true, Factors: 2}, {Ref: "finanse", Factors: 2}},
			People: []MFAPerson{{UserName: "ann", Admin: true, SecondFactors: 1}, {UserName: "bo", Admin: true, RecoveryCodes: 0}}},
			row{EvFail, []string{"bo: no second factor set up (0 recovery codes); the next sign-in makes her set one up",
				`login.admin_groups names "root-admins", which is no group: the policy applies to nobody there`}},
			row{EvFail, []string{"admins (login.admin_groups): 2 factors; 1 of 2 active members have a second factor set up",
				`"root-admins" (login.admin_groups): no such group — the policy applies to nobody`,
				`"finanse" (login.group_factors): no such group — the policy applies to nobody`}},
			EvFail, "1 of 2 active administrators (members of admins)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			f.MFA = tc.mfa
			ev := BuildEvidence(&Report{Summary: Summary{Resources: 1, Checks: 1, Passed: 1}}, f, false)
			got := map[string]Control{}
			for _, c := range ev.Controls {
				got[c.ID] = c
			}
			if diff := cmp.Diff(tc.admin, row{got["admin-mfa"].Status, got["admin-mfa"].Items}); diff != "" {
				t.Errorf("admin-mfa (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.groups, row{got["group-mfa"].Status, got["group-mfa"].Items}); diff != "" {
				t.Errorf("group-mfa (-want +got):\n%s", diff)
			}
			if d := got["admin-mfa"].Detail; len(d) < len(tc.adminDetailPrefix) || d[:len(tc.adminDetailPrefix)] != tc.adminDetailPrefix {
				t.Errorf("admin-mfa detail %q", d)
			}
			if ev.Status != tc.overall {
				t.Errorf("overall %s, want %s", ev.Status, tc.overall)
			}
		})
	}
}

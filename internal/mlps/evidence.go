package mlps

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// IdentityFacts is what Gatehouse knows of its own identity controls, read
// from its database by the caller (the command line).
type IdentityFacts struct {
	Now time.Time
	// DormantAfter is how long without a change makes an active account
	// dormant.
	DormantAfter time.Duration
	// MaxCredentialAge is the age past which an enabled token or secret
	// should have been replaced.
	MaxCredentialAge time.Duration
	Accounts         []Account
	Admins           []AdminApp
	Audit            AuditFacts
	Credentials      []Credential
	// MFA is the factor policy and who it asks two factors of (nil: not
	// read — the database has no sign-in).
	MFA *MFAFacts
}

// MFAFacts are the sign-in factor policy (login.admin_groups,
// login.group_factors) and the active people it asks two or more factors
// of, with the second factors they have set up.
type MFAFacts struct {
	// Groups are the policy's groups, as configured.
	Groups []MFAGroup
	// People are the active members of those groups that need two factors.
	People []MFAPerson
}

// MFAGroup is one group of the factor policy.
type MFAGroup struct {
	// Ref is the group as the configuration names it (display name or id);
	// Name its display name ("" when no group matches: the policy then
	// applies to nobody).
	Ref, Name string
	Admin     bool // named by login.admin_groups (always two factors)
	Factors   int  // the factors its members need
	// Members is how many active direct members it has, Enrolled how many
	// of them have a second factor set up.
	Members, Enrolled int
}

// MFAPerson is an active person the policy asks two or more factors of.
type MFAPerson struct {
	UserName string
	Admin    bool
	// SecondFactors is how many confirmed second factors (authenticator
	// apps, security keys, passkeys) she has; RecoveryCodes how many
	// recovery codes are left.
	SecondFactors, RecoveryCodes int
}

// Account is a directory account.
type Account struct {
	ID       string
	UserName string
	Active   bool
	Created  time.Time
	Modified time.Time
}

// AdminApp is an application that administers Gatehouse.
type AdminApp struct {
	Name    string
	Enabled bool
}

// AuditFacts are the audit log's verification and retention.
type AuditFacts struct {
	Verified  bool
	OK        bool
	Records   int64
	Problems  []string
	Retention time.Duration
	Oldest    time.Time // the oldest record kept (zero when none)
	// Checkpoints read and matched outside the database; Unanchored records
	// came after the latest checkpoint.
	CheckpointsRead    int
	CheckpointsMatched int
	Unanchored         int64
	Err                string
}

// Credential is an application's bearer token or client secret.
type Credential struct {
	App      string
	Kind     string // "token" or "secret"
	ID       string
	Hint     string
	Enabled  bool
	Created  time.Time
	Expires  time.Time // zero: never expires
	LastUsed time.Time
}

// Control is one line of the evidence report.
type Control struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Clauses []string `json:"clauses"`
	// Status is pass, fail, unknown or "not available".
	Status string   `json:"status"`
	Detail string   `json:"detail"`
	Items  []string `json:"items,omitempty"`
	// More counts the items left out of Items.
	More int `json:"more,omitempty"`
}

// Evidence is the report an auditor reads: the infrastructure check and
// the identity controls Gatehouse attests.
type Evidence struct {
	Generated time.Time `json:"generated"`
	Status    string    `json:"status"`
	Controls  []Control `json:"controls"`
	Check     *Report   `json:"infrastructure,omitempty"`
}

// Evidence statuses.
const (
	EvPass         = "pass"
	EvFail         = "fail"
	EvUnknown      = "unknown"
	EvNotAvailable = "not available"
)

// maxItems bounds the items listed per control.
const maxItems = 50

// BuildEvidence joins the infrastructure check (nil when no PATH was
// given) with the identity facts.
func BuildEvidence(check *Report, f IdentityFacts, strict bool) *Evidence {
	ev := &Evidence{Generated: f.Now.UTC(), Check: check}
	days := func(d time.Duration) int { return int(d.Hours() / 24) }

	infra := Control{ID: "infrastructure", Title: "Infrastructure as code meets the MLPS 2.0 level-3 baseline (gatehouse mlps check)",
		Clauses: []string{"8.1.2", "8.1.3", "8.1.4", "8.1.5"}}
	if check == nil {
		infra.Status = EvUnknown
		infra.Detail = "not run: give the Terraform directories or plans (gatehouse mlps evidence PATH…)"
	} else {
		s := check.Summary
		infra.Detail = fmt.Sprintf("%d resources in %s: %d checks, %d passed, %d failed, %d unknown, %d suppressed",
			s.Resources, strings.Join(check.Paths, ", "), s.Checks, s.Passed, s.Failed, s.Unknown, s.Suppressed)
		switch {
		case check.Blocking(false) > 0:
			infra.Status = EvFail
		case s.Unknown > 0:
			infra.Status = EvUnknown
		default:
			infra.Status = EvPass
		}
		for _, fd := range check.Findings {
			if fd.Suppressed == nil && (fd.Status == StatusFail || fd.Status == StatusUnknown) {
				infra.Items = append(infra.Items, fmt.Sprintf("%s %s %s: %s", strings.ToUpper(string(fd.Status)), fd.Rule, fd.Pos, fd.Message))
			}
		}
	}
	ev.Controls = append(ev.Controls, infra)

	// Dormant accounts.
	dormant := Control{ID: "dormant-accounts", Title: fmt.Sprintf("No active account left unchanged for %d days", days(f.DormantAfter)),
		Clauses: []string{"8.1.4.2"}}
	active := 0
	for _, a := range f.Accounts {
		if !a.Active {
			continue
		}
		active++
		last := a.Modified
		if last.IsZero() {
			last = a.Created
		}
		if f.Now.Sub(last) > f.DormantAfter {
			dormant.Items = append(dormant.Items, fmt.Sprintf("%s (last changed %s, %d days ago)", a.UserName, last.UTC().Format(time.DateOnly), days(f.Now.Sub(last))))
		}
	}
	dormant.Detail = fmt.Sprintf("%d of %d active accounts unchanged for more than %d days. "+
		"An account's last activity here is its last change (by SCIM, LDAP synchronization or an administrator); sign-ins are not counted",
		len(dormant.Items), active, days(f.DormantAfter))
	dormant.Status = passIf(len(dormant.Items) == 0)
	ev.Controls = append(ev.Controls, limit(dormant))

	// Administrators' MFA and the groups that need two factors.
	enabledAdmins := 0
	for _, a := range f.Admins {
		if a.Enabled {
			enabledAdmins++
		}
	}
	ev.Controls = append(ev.Controls, adminMFA(f.MFA, enabledAdmins), groupMFA(f.MFA))

	// Audit chain.
	chain := Control{ID: "audit-chain", Title: "The audit log is intact (hash chain, signed checkpoints)", Clauses: []string{"8.1.4.3"}}
	switch a := f.Audit; {
	case a.Err != "":
		chain.Status, chain.Detail = EvUnknown, "verification could not run: "+a.Err
	case !a.Verified:
		chain.Status, chain.Detail = EvUnknown, "not verified"
	case !a.OK:
		chain.Status = EvFail
		chain.Detail = fmt.Sprintf("the chain of %d records was altered", a.Records)
		chain.Items = a.Problems
	default:
		chain.Status = EvPass
		chain.Detail = fmt.Sprintf("%d records verified", a.Records)
		if a.CheckpointsRead == 0 {
			chain.Detail += "; no signed checkpoint was compared: only the chain's own consistency was checked"
			if strict {
				chain.Status = EvUnknown
			}
		} else {
			chain.Detail += fmt.Sprintf("; %d signed checkpoint(s) compared, %d matched; %d record(s) after the latest checkpoint", a.CheckpointsRead, a.CheckpointsMatched, a.Unanchored)
		}
	}
	ev.Controls = append(ev.Controls, limit(chain))

	// Audit retention.
	ret := Control{ID: "audit-retention", Title: "Audit records are kept at least 180 days", Clauses: []string{"8.1.5.4", "CSL Art. 21"}}
	ret.Status = passIf(f.Audit.Retention >= 180*24*time.Hour)
	ret.Detail = fmt.Sprintf("audit.retention is %d days", days(f.Audit.Retention))
	if !f.Audit.Oldest.IsZero() {
		ret.Detail += fmt.Sprintf("; the oldest record kept is from %s (%d days ago)", f.Audit.Oldest.UTC().Format(time.DateOnly), days(f.Now.Sub(f.Audit.Oldest)))
	}
	ev.Controls = append(ev.Controls, ret)

	// Credential ages.
	cred := Control{ID: "credential-age", Title: fmt.Sprintf("Enabled tokens and secrets are younger than %d days and expire", days(f.MaxCredentialAge)),
		Clauses: []string{"8.1.4.1"}}
	creds := append([]Credential(nil), f.Credentials...)
	sort.Slice(creds, func(i, j int) bool { return creds[i].Created.Before(creds[j].Created) })
	total := 0
	for _, c := range creds {
		if !c.Enabled || (!c.Expires.IsZero() && !f.Now.Before(c.Expires)) {
			continue
		}
		total++
		age := f.Now.Sub(c.Created)
		var why []string
		if age > f.MaxCredentialAge {
			why = append(why, fmt.Sprintf("%d days old", days(age)))
		}
		if c.Expires.IsZero() && c.Kind == "token" {
			why = append(why, "never expires")
		}
		if len(why) > 0 {
			cred.Items = append(cred.Items, fmt.Sprintf("%s %s of %s (…%s, created %s): %s", c.Kind, c.ID, c.App, c.Hint,
				c.Created.UTC().Format(time.DateOnly), strings.Join(why, ", ")))
		}
	}
	cred.Status = passIf(len(cred.Items) == 0)
	cred.Detail = fmt.Sprintf("%d of %d enabled, unexpired credentials are older than %d days or never expire (client secrets have no expiry: rotate them)",
		len(cred.Items), total, days(f.MaxCredentialAge))
	ev.Controls = append(ev.Controls, limit(cred))

	ev.Status = EvPass
	for _, c := range ev.Controls {
		switch {
		case c.Status == EvFail:
			ev.Status = EvFail
		case c.Status == EvUnknown && ev.Status == EvPass:
			ev.Status = EvUnknown
		}
	}
	return ev
}

// adminMFA: the members of login.admin_groups need two factors at every
// sign-in (the policy); the evidence that they use them is that each has
// a second factor set up. One who has none cannot sign in until she sets
// one up, and is listed.
func adminMFA(m *MFAFacts, apiAdmins int) Control {
	c := Control{ID: "admin-mfa", Title: "Administrators sign in with two or more factors", Clauses: []string{"8.1.4.1"}}
	api := fmt.Sprintf("; the %d enabled administration application(s) of the admin API authenticate with bearer tokens (see credential-age)", apiAdmins)
	if m == nil {
		c.Status, c.Detail = EvNotAvailable, "not available: this database has no sign-in data"+api
		return c
	}
	var groups, missing []string
	for _, g := range m.Groups {
		if !g.Admin {
			continue
		}
		if g.Name == "" {
			missing = append(missing, g.Ref)
			continue
		}
		groups = append(groups, g.Name)
	}
	if len(groups) == 0 && len(missing) == 0 {
		c.Status = EvUnknown
		c.Detail = "login.admin_groups is empty: the factor policy names no administrators, so who they are cannot be told" + api
		return c
	}
	admins, enrolled := 0, 0
	for _, p := range m.People {
		if !p.Admin {
			continue
		}
		admins++
		if p.SecondFactors > 0 {
			enrolled++
			continue
		}
		c.Items = append(c.Items, fmt.Sprintf("%s: no second factor set up (%d recovery codes); the next sign-in makes her set one up", p.UserName, p.RecoveryCodes))
	}
	for _, ref := range missing {
		c.Items = append(c.Items, fmt.Sprintf("login.admin_groups names %q, which is no group: the policy applies to nobody there", ref))
	}
	c.Status = passIf(len(c.Items) == 0)
	c.Detail = fmt.Sprintf("%d of %d active administrators (members of %s) have a second factor set up; the factor policy asks them two factors at every sign-in%s",
		enrolled, admins, strings.Join(groups, ", "), api)
	return limit(c)
}

// groupMFA lists the groups whose policy asks two or more factors, with
// how many of their active members have a second factor; a configured
// group that matches no group fails (the policy then protects nobody).
func groupMFA(m *MFAFacts) Control {
	c := Control{ID: "group-mfa", Title: "Groups whose policy requires two or more factors", Clauses: []string{"8.1.4.1"}}
	if m == nil {
		c.Status, c.Detail = EvNotAvailable, "not available: this database has no sign-in data"
		return c
	}
	bad := false
	n := 0
	for _, g := range m.Groups {
		if g.Factors < 2 {
			continue
		}
		why := "login.group_factors"
		if g.Admin {
			why = "login.admin_groups"
		}
		if g.Name == "" {
			bad = true
			c.Items = append(c.Items, fmt.Sprintf("%q (%s): no such group — the policy applies to nobody", g.Ref, why))
			continue
		}
		n++
		c.Items = append(c.Items, fmt.Sprintf("%s (%s): %d factors; %d of %d active members have a second factor set up", g.Name, why, g.Factors, g.Enrolled, g.Members))
	}
	c.Status = passIf(!bad)
	c.Detail = fmt.Sprintf("%d group(s) require two or more factors of their members (a member without a second factor sets one up at her next sign-in)", n)
	return limit(c)
}

func passIf(ok bool) string {
	if ok {
		return EvPass
	}
	return EvFail
}

func limit(c Control) Control {
	if len(c.Items) > maxItems {
		c.More = len(c.Items) - maxItems
		c.Items = c.Items[:maxItems]
	}
	return c
}

// WriteText writes the evidence report for a person.
func (ev *Evidence) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "MLPS 2.0 level-3 evidence, generated %s\n", ev.Generated.Format(time.RFC3339))
	fmt.Fprintf(w, "Overall: %s\n\n", strings.ToUpper(ev.Status))
	for _, c := range ev.Controls {
		var cl []string
		for _, x := range c.Clauses {
			if t, ok := Clauses[x]; ok {
				cl = append(cl, t)
			} else {
				cl = append(cl, "GB/T 22239-2019 "+x)
			}
		}
		fmt.Fprintf(w, "[%s] %s\n", strings.ToUpper(c.Status), c.Title)
		fmt.Fprintf(w, "    %s\n", c.Detail)
		for _, it := range c.Items {
			fmt.Fprintf(w, "    - %s\n", it)
		}
		if c.More > 0 {
			fmt.Fprintf(w, "    … and %d more (--json lists the first %d too)\n", c.More, maxItems)
		}
		fmt.Fprintf(w, "    Clauses: %s\n\n", strings.Join(cl, "; "))
	}
	_, err := fmt.Fprintln(w, "Generated by `gatehouse mlps evidence`; the infrastructure rules and their clauses: `gatehouse mlps check --list-rules`.")
	return err
}

// WriteJSON writes the evidence report as JSON.
func (ev *Evidence) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ev)
}

package ldapsync_test

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync/slapdtest"
)

// TestRehire: an entry deleted and created again with the same uid (a new
// entryUUID) takes back its account — the same person, by employeeNumber —
// instead of failing on every run; a different person with the same uid is
// refused with the command that says it is the same, and two entries
// present at once never share an account.
func TestRehire(t *testing.T) {
	s := smallDir(t, slapdtest.Options{})
	g := newGatehouse(t)
	cfg := openldapConfig(s)
	env := map[string]string{"LDAP_PW": s.SvcPW}
	sy := g.syncer(t, cfg, env)
	run(t, sy, ldapsync.Options{})
	g.newEvents(t)
	adm := s.AdminT(t)
	emea := ouDN(s.Suffix, "Sales", "EMEA")

	// read returns an entry's attributes (entryUUID included).
	read := func(dn string) *ldap.Entry {
		t.Helper()
		res, err := adm.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"*", "entryUUID"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		return res.Entries[0]
	}
	// recreate adds entry e again, some attributes replaced (slapd gives
	// it a new entryUUID); it returns the new id.
	recreate := func(e *ldap.Entry, replace map[string]string) string {
		t.Helper()
		add := ldap.NewAddRequest(e.DN, nil)
		for _, a := range e.Attributes {
			if strings.EqualFold(a.Name, "entryUUID") {
				continue
			}
			if v, ok := replace[a.Name]; ok {
				add.Attribute(a.Name, []string{v})
				continue
			}
			add.Attribute(a.Name, a.Values)
		}
		if err := adm.Add(add); err != nil {
			t.Fatal(err)
		}
		return read(e.DN).GetAttributeValue("entryUUID")
	}
	// remove deletes an entry and returns what it was.
	remove := func(dn string) *ldap.Entry {
		t.Helper()
		e := read(dn)
		if err := adm.Del(ldap.NewDelRequest(dn, nil)); err != nil {
			t.Fatal(err)
		}
		return e
	}
	var changes []ldapsync.Change
	runOpt := func(opt ldapsync.Options) *ldapsync.Summary {
		t.Helper()
		changes = nil
		opt.Progress = func(p ldapsync.Progress) {
			if p.Change != nil && p.Change.Kind == "User" {
				changes = append(changes, *p.Change)
			}
		}
		return run(t, g.syncer(t, cfg, env), opt)
	}

	t.Run("after the departure was seen", func(t *testing.T) {
		dn := "uid=emea-0001," + emea
		old := g.user(t, "emea-0001")
		e := remove(dn)
		if sum := runOpt(ldapsync.Options{}); sum.Users.Disabled != 1 {
			t.Fatalf("users %+v", sum.Users)
		}
		g.newEvents(t)
		id := recreate(e, nil)
		// The dry run shows it; the run does it.
		for _, dry := range []bool{true, false} {
			sum := runOpt(ldapsync.Options{DryRun: dry})
			if sum.ErrorCount != 0 || sum.Users.Updated != 1 || sum.Users.Created != 0 {
				t.Fatalf("dry run %v: users %+v, errors %v", dry, sum.Users, sum.Errors)
			}
			var got []string
			for _, c := range changes {
				got = append(got, c.Op+" "+c.Name+" "+c.ID+" "+strings.Join(c.Changed, ","))
			}
			if diff := cmp.Diff([]string{"relink emea-0001 " + old.ID + " externalId,active"}, got); diff != "" {
				t.Errorf("dry run %v: changes (-want +got):\n%s", dry, diff)
			}
		}
		u := g.user(t, "emea-0001")
		if u.ID != old.ID || !u.Active || u.ExternalID != id {
			t.Errorf("the account: id %s (was %s), active %v, externalId %s (want %s)", u.ID, old.ID, u.Active, u.ExternalID, id)
		}
		if n := len(g.group(t, "emea").Members); n != 4 {
			t.Errorf("emea has %d members, want 4 (back in its group)", n)
		}
		counts, _ := g.newEvents(t)
		if diff := cmp.Diff(map[string]int{directory.UserEnabled: 1, directory.GroupMemberAdded: 3}, counts); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		var remotes []string
		for _, l := range g.links(t, "ldap:corp") {
			if l.LocalID == old.ID {
				remotes = append(remotes, l.RemoteID)
			}
		}
		if diff := cmp.Diff([]string{id}, remotes); diff != "" {
			t.Errorf("the account's links (-want +got):\n%s", diff)
		}
		if sum := runOpt(ldapsync.Options{}); sum.ErrorCount != 0 || len(changes) != 0 {
			t.Errorf("the next run: errors %v, changes %+v", sum.Errors, changes)
		}
	})

	t.Run("between two runs", func(t *testing.T) {
		old := g.user(t, "emea-0002")
		id := recreate(remove("uid=emea-0002,"+emea), nil)
		sum := runOpt(ldapsync.Options{})
		if sum.ErrorCount != 0 || sum.Users.Updated != 1 || sum.Users.Disabled != 0 {
			t.Fatalf("users %+v, errors %v", sum.Users, sum.Errors)
		}
		if u := g.user(t, "emea-0002"); u.ID != old.ID || !u.Active || u.ExternalID != id {
			t.Errorf("the account: %+v", u)
		}
		if counts, _ := g.newEvents(t); counts[directory.UserDisabled] != 0 || counts[directory.UserUpdated] != 1 {
			t.Errorf("events: %v", counts)
		}
	})

	t.Run("another person", func(t *testing.T) {
		dn := "uid=emea-0003," + emea
		old := g.user(t, "emea-0003")
		gone := remove(dn)
		runOpt(ldapsync.Options{})
		g.newEvents(t)
		id := recreate(gone, map[string]string{"employeeNumber": "E999999", "cn": "Someone Else", "displayName": "Someone Else"})
		sum := runOpt(ldapsync.Options{})
		if sum.ErrorCount != 1 || sum.Users.Failed != 1 {
			t.Fatalf("users %+v, errors %v", sum.Users, sum.Errors)
		}
		e := sum.Errors[0]
		for _, want := range []string{`userName "emea-0003" belongs to account ` + old.ID, "whose entry has gone",
			"employeeNumber differs", "gatehouse sync ldap corp --relink emea-0003"} {
			if !strings.Contains(e.Error, want) {
				t.Errorf("error %q has no %q", e.Error, want)
			}
		}
		if e.Field != "userName" || e.DN != dn {
			t.Errorf("error: %+v", e)
		}
		if u := g.user(t, "emea-0003"); u.Active || u.ExternalID != old.ExternalID || u.DisplayName != old.DisplayName {
			t.Errorf("the departed account was changed: %+v", u)
		}
		if counts, _ := g.newEvents(t); len(counts) != 0 {
			t.Errorf("events: %v", counts)
		}
		// The operator says it is the same person.
		sum = runOpt(ldapsync.Options{Relink: []string{"emea-0003"}})
		if sum.ErrorCount != 0 || sum.Users.Updated != 1 {
			t.Fatalf("users %+v, errors %v", sum.Users, sum.Errors)
		}
		if u := g.user(t, "emea-0003"); u.ID != old.ID || !u.Active || u.ExternalID != id || u.DisplayName != "Someone Else" {
			t.Errorf("the account: %+v", u)
		}
	})

	t.Run("two entries at once", func(t *testing.T) {
		// A second entry with emea-0000's uid, the first still there:
		// never the same account, whatever --relink says.
		first := g.user(t, "emea-0000")
		e := read("uid=emea-0000," + emea)
		dn := "uid=emea-0000," + ouDN(s.Suffix, "Sales", "APAC")
		add := ldap.NewAddRequest(dn, nil)
		for _, a := range e.Attributes {
			if !strings.EqualFold(a.Name, "entryUUID") {
				add.Attribute(a.Name, a.Values)
			}
		}
		if err := adm.Add(add); err != nil {
			t.Fatal(err)
		}
		sum := runOpt(ldapsync.Options{Relink: []string{"emea-0000"}})
		if sum.ErrorCount != 1 || !strings.Contains(sum.Errors[0].Error, "is taken by the account synchronised from uid=emea-0000,ou=emea") {
			t.Fatalf("users %+v, errors %+v", sum.Users, sum.Errors)
		}
		if u := g.user(t, "emea-0000"); u.ExternalID != first.ExternalID || g.orgPath(t, u.OrgID) != "Root/People/Sales/EMEA" {
			t.Errorf("the account: %+v", u)
		}
	})
}

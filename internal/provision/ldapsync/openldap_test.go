package ldapsync_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync/slapdtest"
)

// The OpenLDAP directory of the tests: nested OUs under ou=People, a CEO,
// per leaf OU a lead (managed by the CEO) and staff (managed by the lead),
// and groups nested two levels deep plus a cycle.
var leafOUs = []struct{ path []string }{
	{[]string{"Engineering", "Platform"}},
	{[]string{"Engineering", "Apps"}},
	{[]string{"Sales", "EMEA"}},
	{[]string{"Sales", "APAC"}},
	{[]string{"Support"}},
}

func ouDN(suffix string, path ...string) string {
	dn := "ou=People," + suffix
	for _, p := range path {
		dn = "ou=" + p + "," + dn
	}
	return dn
}

func leafKey(path []string) string { return strings.ToLower(path[len(path)-1]) }

// openldapData returns perLeaf accounts in each leaf OU, the CEO, and the
// groups. Every entry's modifyTimestamp is in 2020, so that changes made
// by the test are the only recent ones.
func openldapData(suffix string, perLeaf int) string {
	var l ldif
	old := "20200101000000Z"
	l.entry("ou=People,"+suffix, "objectClass", "organizationalUnit", "ou", "People", "modifyTimestamp", old)
	l.entry("ou=Groups,"+suffix, "objectClass", "organizationalUnit", "ou", "Groups", "modifyTimestamp", old)
	seen := map[string]bool{}
	for _, leaf := range leafOUs {
		for i := range leaf.path {
			dn := ouDN(suffix, leaf.path[:i+1]...)
			if !seen[dn] {
				seen[dn] = true
				l.entry(dn, "objectClass", "organizationalUnit", "ou", leaf.path[i], "modifyTimestamp", old)
			}
		}
	}
	ceo := "uid=ceo," + ouDN(suffix)
	person := func(dn, uid, given, family, title, dept, manager string, n int) {
		l.entry(dn, "objectClass", "inetOrgPerson", "uid", uid, "cn", given+" "+family, "givenName", given, "sn", family,
			"displayName", given+" "+family, "mail", uid+"@example.com", "telephoneNumber", fmt.Sprintf("+86 138 %04d %04d", n/10000, n%10000),
			"title", title, "departmentNumber", dept, "employeeNumber", fmt.Sprintf("E%06d", n), "manager", manager, "modifyTimestamp", old)
	}
	person(ceo, "ceo", "Grace", "Hopper", "CEO", "Board", "", 0)
	n := 1
	members := map[string][]string{}
	for _, leaf := range leafOUs {
		key := leafKey(leaf.path)
		lead := ""
		for i := range perLeaf {
			uid := fmt.Sprintf("%s-%04d", key, i)
			dn := "uid=" + uid + "," + ouDN(suffix, leaf.path...)
			manager, title := lead, "Engineer"
			if i == 0 {
				lead, manager, title = dn, ceo, "Lead"
			}
			person(dn, uid, "Given"+uid, "Family"+uid, title, leaf.path[0], manager, n)
			n++
			members[key] = append(members[key], dn)
		}
	}
	group := func(cn string, ms ...string) {
		attrs := []string{"objectClass", "groupOfNames", "cn", cn, "modifyTimestamp", old}
		for _, m := range ms {
			attrs = append(attrs, "member", m)
		}
		l.entry("cn="+cn+",ou=Groups,"+suffix, attrs...)
	}
	gdn := func(cn string) string { return "cn=" + cn + ",ou=Groups," + suffix }
	for _, leaf := range leafOUs {
		key := leafKey(leaf.path)
		group(key, members[key]...)
	}
	group("engineering", gdn("platform"), gdn("apps"), ceo)
	group("sales", gdn("emea"), gdn("apac"))
	group("all-staff", gdn("engineering"), gdn("sales"), gdn("support"), "uid=nobody,ou=Elsewhere,"+suffix)
	// A cycle: each contains the other.
	group("loop-a", gdn("loop-b"), members["support"][1])
	group("loop-b", gdn("loop-a"), members["support"][2])
	return l.String()
}

func openldapConfig(s *slapdtest.Server) ldapsync.Config {
	zero := ldapsync.Duration(0)
	return ldapsync.Config{
		Name: "corp", Profile: "openldap", URL: s.LDAPURL, StartTLS: true, CAFile: s.CAFile,
		BindDN: s.SvcDN, BindPasswordEnv: "LDAP_PW", BaseDNs: []string{"ou=People," + s.Suffix, "ou=Groups," + s.Suffix},
		Overlap: &zero, PageSize: 200,
	}
}

func TestOpenLDAP(t *testing.T) {
	const perLeaf = 240 // 5 leaves: 1,200 accounts and the CEO
	s := slapdtest.StartT(t, slapdtest.Options{LDIF: openldapData("dc=example,dc=com", perLeaf), Limits: "size=unlimited"})
	g := newGatehouse(t)
	env := map[string]string{"LDAP_PW": s.SvcPW}
	cfg := openldapConfig(s)
	sy := g.syncer(t, cfg, env)
	adm := s.AdminT(t)
	suffix := s.Suffix
	total := 5*perLeaf + 1

	t.Run("initial", func(t *testing.T) {
		sum := run(t, sy, ldapsync.Options{})
		if sum.ErrorCount != 0 {
			t.Fatalf("errors: %+v", sum.Errors[0])
		}
		got := []int{sum.Listed, sum.Read, sum.Users.Created, sum.Orgs.Created, sum.Groups.Created}
		// OUs: People, Groups, Engineering, Platform, Apps, Sales, EMEA, APAC, Support.
		// Groups: 5 leaves, engineering, sales, all-staff, loop-a, loop-b.
		want := []int{total, total, total, 9, 10}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("listed, read, users, orgs, groups created (-want +got):\n%s", diff)
		}
		if !sum.Full {
			t.Error("the first run was not full")
		}
		if sum.UnresolvedMembers != 1 {
			t.Errorf("unresolved members = %d, want 1 (uid=nobody)", sum.UnresolvedMembers)
		}
		u := g.user(t, "platform-0003")
		if u == nil {
			t.Fatal("platform-0003 was not created")
		}
		lead := g.user(t, "platform-0000")
		gotUser := map[string]any{
			"displayName": u.DisplayName, "active": u.Active, "org": g.orgPath(t, u.OrgID), "email": u.Email(), "phone": u.Phone(),
			"department": u.Department(), "title": u.Attrs["title"], "name": u.Attrs["name"],
			"manager":  u.Attrs[directory.EnterpriseURN].(map[string]any)["manager"],
			"employee": u.Attrs[directory.EnterpriseURN].(map[string]any)["employeeNumber"],
		}
		wantUser := map[string]any{
			"displayName": "Givenplatform-0003 Familyplatform-0003", "active": true, "org": "Root/People/Engineering/Platform",
			"email": "platform-0003@example.com", "phone": "+86 138 0000 0004", "department": "Engineering", "title": "Engineer",
			"name":     map[string]any{"givenName": "Givenplatform-0003", "familyName": "Familyplatform-0003"},
			"manager":  map[string]any{"value": lead.ID},
			"employee": "E000004",
		}
		if diff := cmp.Diff(wantUser, gotUser); diff != "" {
			t.Errorf("platform-0003 (-want +got):\n%s", diff)
		}
		if u.ExternalID == "" || len(u.ExternalID) != 36 {
			t.Errorf("externalId = %q, want the entryUUID", u.ExternalID)
		}
		ceo := g.user(t, "ceo")
		if got := lead.Attrs[directory.EnterpriseURN].(map[string]any)["manager"]; !cmp.Equal(got, map[string]any{"value": ceo.ID}) {
			t.Errorf("the lead's manager = %v, want the CEO %s", got, ceo.ID)
		}
		if got := g.orgPath(t, ceo.OrgID); got != "Root/People" {
			t.Errorf("the CEO's organization = %s", got)
		}
		// Nested groups are flattened; the cycle ends.
		if gr := g.group(t, "all-staff"); len(gr.Members) != total {
			t.Errorf("all-staff has %d members, want %d (everyone, through engineering, sales and support)", len(gr.Members), total)
		}
		if gr := g.group(t, "engineering"); len(gr.Members) != 2*perLeaf+1 {
			t.Errorf("engineering has %d members, want %d", len(gr.Members), 2*perLeaf+1)
		}
		if diff := cmp.Diff([]string{"support-0001", "support-0002"}, memberNames(t, g, g.group(t, "loop-a"))); diff != "" {
			t.Errorf("loop-a (-want +got):\n%s", diff)
		}
		counts, recs := g.newEvents(t)
		if counts[directory.UserCreated] != total || counts[directory.GroupCreated] != 10 || counts[directory.OrganizationCreated] != 9 {
			t.Errorf("events: %v", counts)
		}
		for _, r := range recs {
			if r.Actor != (directory.Actor{Kind: "connector", AppName: "ldap:corp"}) {
				t.Fatalf("event %s by %+v", r.Type, r.Actor)
			}
		}
		audit, err := g.dir.Audit(g.ctx, directory.AuditQuery{Actor: "ldap:corp", Action: "user.create", Limit: 5000})
		if err != nil || len(audit) != total {
			t.Errorf("audit user.create by ldap:corp: %d, %v", len(audit), err)
		}
		if n := len(g.links(t, "ldap:corp")); n != total+9+10 {
			t.Errorf("links: %d", n)
		}
	})

	t.Run("unchanged", func(t *testing.T) {
		sum := run(t, sy, ldapsync.Options{})
		if sum.Full {
			t.Error("the second run was full")
		}
		got := [3]ldapsync.Counts{sum.Users, sum.Groups, sum.Orgs}
		want := [3]ldapsync.Counts{{Unchanged: sum.Read}, {Unchanged: 10}, {Unchanged: 9}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if counts, _ := g.newEvents(t); len(counts) != 0 {
			t.Errorf("events of a run without changes: %v", counts)
		}
	})

	modify := func(t *testing.T, dn string, f func(*ldap.ModifyRequest)) {
		t.Helper()
		req := ldap.NewModifyRequest(dn, nil)
		f(req)
		if err := adm.Modify(req); err != nil {
			t.Fatal(err)
		}
	}
	apps3 := "uid=apps-0003," + ouDN(suffix, "Engineering", "Apps")

	t.Run("change", func(t *testing.T) {
		modify(t, apps3, func(r *ldap.ModifyRequest) { r.Replace("title", []string{"Staff Engineer"}) })
		sum := run(t, sy, ldapsync.Options{})
		if sum.Users.Updated != 1 || sum.ErrorCount != 0 {
			t.Errorf("users: %+v, errors %d", sum.Users, sum.ErrorCount)
		}
		if got := g.user(t, "apps-0003").Attrs["title"]; got != "Staff Engineer" {
			t.Errorf("title = %v", got)
		}
		counts, recs := g.newEvents(t)
		if diff := cmp.Diff(map[string]int{directory.UserUpdated: 1}, counts); diff != "" {
			t.Fatalf("events (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"title"}, changed(t, recs[0])); diff != "" {
			t.Errorf("changed (-want +got):\n%s", diff)
		}
		// The watermark is now the change's time: the next run reads
		// only entries changed since (the overlap is 0 here).
		modify(t, "uid=apps-0004,"+ouDN(suffix, "Engineering", "Apps"), func(r *ldap.ModifyRequest) {
			r.Replace("mail", []string{"a4@example.org"})
		})
		sum = run(t, sy, ldapsync.Options{})
		if sum.Read != 2 || sum.Users.Updated != 1 || sum.Users.Unchanged != 1 {
			t.Errorf("incremental read %d (want 2: the last run's change and this one), users %+v", sum.Read, sum.Users)
		}
		if got := g.user(t, "apps-0004").Email(); got != "a4@example.org" {
			t.Errorf("email = %q", got)
		}
		g.newEvents(t)
	})

	t.Run("disable and enable", func(t *testing.T) {
		lock := func(v []string) {
			modify(t, apps3, func(r *ldap.ModifyRequest) { r.Replace("pwdAccountLockedTime", v) })
		}
		lock([]string{"000001010000Z"})
		sum := run(t, sy, ldapsync.Options{})
		if sum.Users.Disabled != 1 {
			t.Errorf("users: %+v", sum.Users)
		}
		if g.user(t, "apps-0003").Active {
			t.Error("apps-0003 is still active")
		}
		lock(nil)
		sum = run(t, sy, ldapsync.Options{})
		if sum.Users.Enabled != 1 {
			t.Errorf("users: %+v", sum.Users)
		}
		counts, _ := g.newEvents(t)
		if diff := cmp.Diff(map[string]int{directory.UserDisabled: 1, directory.UserEnabled: 1}, counts); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("move", func(t *testing.T) {
		req := ldap.NewModifyDNRequest(apps3, "uid=apps-0003", false, ouDN(suffix, "Sales", "EMEA"))
		if err := adm.ModifyDN(req); err != nil {
			t.Fatal(err)
		}
		sum := run(t, sy, ldapsync.Options{})
		if sum.Users.Moved != 1 {
			t.Errorf("users: %+v", sum.Users)
		}
		if got := g.orgPath(t, g.user(t, "apps-0003").OrgID); got != "Root/People/Sales/EMEA" {
			t.Errorf("apps-0003 is in %s", got)
		}
		_, recs := g.newEvents(t)
		var got []string
		for _, r := range recs {
			got = append(got, r.Type+" "+strings.Join(changed(t, r), ","))
		}
		if !slices.Contains(got, directory.UserUpdated+" organizationId") {
			t.Errorf("events: %q", got)
		}
		apps3 = "uid=apps-0003," + ouDN(suffix, "Sales", "EMEA")
	})

	t.Run("membership", func(t *testing.T) {
		modify(t, "cn=loop-b,ou=Groups,"+suffix, func(r *ldap.ModifyRequest) {
			r.Add("member", []string{apps3})
		})
		sum := run(t, sy, ldapsync.Options{})
		if sum.Groups.Updated != 2 { // loop-b, and loop-a through it
			t.Errorf("groups: %+v", sum.Groups)
		}
		if diff := cmp.Diff([]string{"apps-0003", "support-0001", "support-0002"}, memberNames(t, g, g.group(t, "loop-a"))); diff != "" {
			t.Errorf("loop-a (-want +got):\n%s", diff)
		}
		counts, _ := g.newEvents(t)
		if diff := cmp.Diff(map[string]int{directory.GroupMemberAdded: 2}, counts); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("delete", func(t *testing.T) {
		gone := "uid=support-0007," + ouDN(suffix, "Support")
		if err := adm.Del(ldap.NewDelRequest(gone, nil)); err != nil {
			t.Fatal(err)
		}
		// slapd keeps the member value of a deleted entry (no refint):
		// it no longer resolves to an account.
		sum := run(t, sy, ldapsync.Options{})
		if sum.Users.Disabled != 1 || sum.Listed != total-1 {
			t.Errorf("users: %+v, listed %d", sum.Users, sum.Listed)
		}
		u := g.user(t, "support-0007")
		if u == nil || u.Active {
			t.Fatalf("support-0007 after its entry went: %+v", u)
		}
		if len(u.Groups) != 0 {
			t.Errorf("support-0007 is still in %v", u.Groups)
		}
		counts, _ := g.newEvents(t)
		if counts[directory.UserDisabled] != 1 || counts[directory.GroupMemberRemoved] != 2 { // support, all-staff
			t.Errorf("events: %v", counts)
		}
		// Disabled once: the next run leaves it alone.
		if sum := run(t, sy, ldapsync.Options{}); sum.Users.Disabled != 0 {
			t.Errorf("disabled again: %+v", sum.Users)
		}
		// With on_delete: delete, it goes.
		del := cfg
		del.OnDelete = "delete"
		sum = run(t, g.syncer(t, del, env), ldapsync.Options{})
		if sum.Users.Deleted != 1 {
			t.Errorf("users: %+v", sum.Users)
		}
		if g.user(t, "support-0007") != nil {
			t.Error("support-0007 was not deleted")
		}
		if counts, _ := g.newEvents(t); counts[directory.UserDeleted] != 1 {
			t.Errorf("events: %v", counts)
		}
	})

	t.Run("ou gone", func(t *testing.T) {
		// Move APAC's accounts to EMEA, then delete the OU: its
		// organization goes.
		apac := ouDN(suffix, "Sales", "APAC")
		res, err := adm.Search(ldap.NewSearchRequest(apac, ldap.ScopeSingleLevel, 0, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Entries {
			rdn := strings.SplitN(e.DN, ",", 2)[0]
			if err := adm.ModifyDN(ldap.NewModifyDNRequest(e.DN, rdn, true, ouDN(suffix, "Sales", "EMEA"))); err != nil {
				t.Fatal(err)
			}
		}
		if err := adm.Del(ldap.NewDelRequest(apac, nil)); err != nil {
			t.Fatal(err)
		}
		sum := run(t, sy, ldapsync.Options{})
		if sum.Orgs.Deleted != 1 || sum.Users.Moved != perLeaf || sum.ErrorCount != 0 {
			t.Errorf("orgs %+v, users %+v, errors %v", sum.Orgs, sum.Users, sum.Errors)
		}
		if got := g.orgPath(t, g.user(t, "apac-0001").OrgID); got != "Root/People/Sales/EMEA" {
			t.Errorf("apac-0001 is in %s", got)
		}
		orgs, _ := g.dir.Orgs(g.ctx)
		for _, o := range orgs {
			if o.Name == "APAC" {
				t.Error("the APAC organization is still there")
			}
		}
	})

	t.Run("ou renamed and moved", func(t *testing.T) {
		// Support becomes Customer Care under Sales: its organization is
		// renamed and moved, and its accounts stay in it — their entries'
		// DNs change, not their ids.
		support := g.user(t, "support-0001")
		req := ldap.NewModifyDNRequest(ouDN(suffix, "Support"), "ou=Customer Care", true, ouDN(suffix, "Sales"))
		if err := adm.ModifyDN(req); err != nil {
			t.Fatal(err)
		}
		g.newEvents(t)
		sum := run(t, sy, ldapsync.Options{})
		if sum.Orgs.Moved != 1 || sum.Users.Updated+sum.Users.Moved != 0 || sum.ErrorCount != 0 {
			t.Errorf("orgs %+v, users %+v, errors %v", sum.Orgs, sum.Users, sum.Errors)
		}
		after := g.user(t, "support-0001")
		if after.OrgID != support.OrgID || g.orgPath(t, after.OrgID) != "Root/People/Sales/Customer Care" {
			t.Errorf("support-0001 is in %s (%s, was %s)", g.orgPath(t, after.OrgID), after.OrgID, support.OrgID)
		}
		if counts, _ := g.newEvents(t); counts[directory.OrganizationUpdated] != 1 {
			t.Errorf("events: %v", counts)
		}
	})
}

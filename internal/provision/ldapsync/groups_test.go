package ldapsync_test

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync/slapdtest"
)

// mixedGroups is a directory with both kinds of static group OpenLDAP
// has: groupOfNames (member) and groupOfUniqueNames (uniqueMember, with
// and without the optional #'…'B suffix).
func mixedGroups(suffix string) string {
	var l ldif
	l.entry("ou=People,"+suffix, "objectClass", "organizationalUnit", "ou", "People")
	l.entry("ou=Staff,ou=People,"+suffix, "objectClass", "organizationalUnit", "ou", "Staff")
	l.entry("ou=Groups,"+suffix, "objectClass", "organizationalUnit", "ou", "Groups")
	l.entry("ou=Engineering,ou=Groups,"+suffix, "objectClass", "organizationalUnit", "ou", "Engineering")
	for _, uid := range []string{"ada", "alan", "grace"} {
		l.entry("uid="+uid+",ou=Staff,ou=People,"+suffix, "objectClass", "inetOrgPerson", "uid", uid, "cn", uid, "sn", uid)
	}
	p := func(uid string) string { return "uid=" + uid + ",ou=Staff,ou=People," + suffix }
	l.entry("cn=names,ou=Engineering,ou=Groups,"+suffix, "objectClass", "groupOfNames", "cn", "names", "member", p("ada"), "member", p("alan"))
	l.entry("cn=uniques,ou=Engineering,ou=Groups,"+suffix, "objectClass", "groupOfUniqueNames", "cn", "uniques",
		"uniqueMember", p("alan"), "uniqueMember", p("grace")+"#'0101'B")
	return l.String()
}

// TestMemberAttributeList: with member: [member, uniqueMember] a group's
// members come from the first of the attributes it has — groupOfNames
// from member, groupOfUniqueNames from uniqueMember.
func TestMemberAttributeList(t *testing.T) {
	s := smallDir(t, slapdtest.Options{LDIF: mixedGroups("dc=example,dc=com")})
	g := newGatehouse(t)
	cfg := openldapConfig(s)
	cfg.GroupFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
	cfg.Attributes = map[string]ldapsync.AttrList{ldapsync.FieldMember: {"member", "uniqueMember"}}
	sum := run(t, g.syncer(t, cfg, map[string]string{"LDAP_PW": s.SvcPW}), ldapsync.Options{})
	if sum.Groups.Created != 2 || sum.ErrorCount != 0 || sum.UnresolvedMembers != 0 {
		t.Fatalf("groups %+v, unresolved %d, errors %v", sum.Groups, sum.UnresolvedMembers, sum.Errors)
	}
	got := map[string][]string{
		"names":   memberNames(t, g, g.group(t, "names")),
		"uniques": memberNames(t, g, g.group(t, "uniques")),
	}
	want := map[string][]string{"names": {"ada", "alan"}, "uniques": {"alan", "grace"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
}

// TestRenameKeepsOldRDN: a group or an OU renamed by modrdn without
// deleteoldrdn keeps its old name as a second value of cn or ou; the name
// is the new RDN's, not the attribute's first value.
func TestRenameKeepsOldRDN(t *testing.T) {
	s := smallDir(t, slapdtest.Options{LDIF: mixedGroups("dc=example,dc=com")})
	g := newGatehouse(t)
	cfg := openldapConfig(s)
	sy := g.syncer(t, cfg, map[string]string{"LDAP_PW": s.SvcPW})
	run(t, sy, ldapsync.Options{})
	before := g.group(t, "names")
	groupsOrg := before.OrgID

	adm := s.AdminT(t)
	for _, m := range []*ldap.ModifyDNRequest{
		ldap.NewModifyDNRequest("cn=names,ou=Engineering,ou=Groups,"+s.Suffix, "cn=Named People", false, ""),
		ldap.NewModifyDNRequest("ou=Engineering,ou=Groups,"+s.Suffix, "ou=Platform", false, ""),
	} {
		if err := adm.ModifyDN(m); err != nil {
			t.Fatal(err)
		}
	}
	// slapd keeps the old value first: cn is [names, Named People].
	res, err := adm.Search(ldap.NewSearchRequest("cn=Named People,ou=Platform,ou=Groups,"+s.Suffix, ldap.ScopeBaseObject, 0, 0, 0, false,
		"(objectClass=*)", []string{"cn"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Entries[0].GetAttributeValues("cn"); len(got) != 2 {
		t.Fatalf("cn after modrdn = %q, want the old and the new value", got)
	}

	sum := run(t, sy, ldapsync.Options{})
	if sum.ErrorCount != 0 || sum.Groups.Updated != 1 || sum.Orgs.Updated != 1 {
		t.Errorf("groups %+v, orgs %+v, errors %v", sum.Groups, sum.Orgs, sum.Errors)
	}
	after := g.group(t, "Named People")
	if after == nil || after.ID != before.ID {
		t.Fatalf("the renamed group: %+v (was %s)", after, before.ID)
	}
	if got := g.orgPath(t, groupsOrg); after.OrgID != groupsOrg || got != "Root/Groups/Platform" {
		t.Errorf("the renamed OU's organization is %s", got)
	}
	// A third run changes nothing.
	if sum := run(t, sy, ldapsync.Options{}); sum.Groups.Updated+sum.Orgs.Updated != 0 {
		t.Errorf("groups %+v, orgs %+v", sum.Groups, sum.Orgs)
	}
}

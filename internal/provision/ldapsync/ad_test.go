package ldapsync_test

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync/slapdtest"
)

// A GUID and its objectGUID bytes as AD stores them (the first three
// fields little-endian), written out by hand.
const (
	knownGUID  = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	knownBytes = "\xe0\x04\x25\x3f\x89\x4f\xd3\x11\x9a\x0c\x03\x05\xe8\x2c\x33\x01"
)

// adDir builds an AD-like directory: objectGUIDs and uSNChanged written
// as a domain controller would.
type adDir struct {
	ldif
	suffix string
	usn    int
	guids  int
}

func (d *adDir) nextUSN() string { d.usn++; return strconv.Itoa(d.usn) }

func (d *adDir) guid() string {
	d.guids++
	b := make([]byte, 16)
	copy(b, fmt.Sprintf("gh-test-%08d", d.guids))
	return base64.StdEncoding.EncodeToString(b)
}

func (d *adDir) ou(dn, name string) {
	d.entry(dn, "objectClass", "organizationalUnit", "objectClass", "gatehouseTestADObject", "ou", name,
		"objectGUID:", d.guid(), "uSNChanged", d.nextUSN())
}

func (d *adDir) user(dn, cn, sam, upn string, uac int, extra ...string) {
	attrs := []string{"objectClass", "user", "cn", cn, "sn", "Family " + sam, "givenName", "Given " + sam, "displayName", cn,
		"sAMAccountName", sam, "userPrincipalName", upn, "userAccountControl", strconv.Itoa(uac),
		"mail", sam + "@corp.example", "department", "Dept", "employeeID", "ID-" + sam, "objectGUID:", d.guid(), "uSNChanged", d.nextUSN()}
	d.entry(dn, append(attrs, extra...)...)
}

func adData(suffix string, n int) (string, *adDir) {
	d := &adDir{suffix: suffix}
	staff := "OU=Staff," + suffix
	d.ou(staff, "Staff")
	d.ou("OU=Finance,"+staff, "Finance")
	d.ou("OU=IT,"+staff, "IT")
	d.ou("OU=Groups,"+suffix, "Groups")
	var it, fin []string
	for i := range n {
		sam := fmt.Sprintf("u%04d", i)
		ou := "OU=IT," + staff
		if i%2 == 1 {
			ou = "OU=Finance," + staff
		}
		dn := "CN=User " + sam + "," + ou
		d.user(dn, "User "+sam, sam, sam+"@corp.example", 512)
		if i%2 == 1 {
			fin = append(fin, dn)
		} else {
			it = append(it, dn)
		}
	}
	// AD names accounts "Last, First": the comma is escaped in the DN.
	d.user(`CN=Lovelace\, Ada,OU=IT,`+staff, "Lovelace, Ada", "ada", "ada@corp.example", 66048)
	// An account without a UPN: its sAMAccountName is the user name.
	d.user("CN=Legacy,OU=Finance,"+staff, "Legacy", "legacy", "", 512)
	// A disabled account (ACCOUNTDISABLE, 0x2).
	d.user("CN=Gone Soon,OU=Finance,"+staff, "Gone Soon", "gonesoon", "gonesoon@corp.example", 514)
	// The account with a known GUID.
	d.entry("CN=Known,OU=IT,"+staff, "objectClass", "user", "cn", "Known", "sn", "K", "sAMAccountName", "known",
		"userPrincipalName", "known@corp.example", "userAccountControl", "512", "manager", `CN=Lovelace\, Ada,OU=IT,`+staff,
		"objectGUID:", base64.StdEncoding.EncodeToString([]byte(knownBytes)), "uSNChanged", d.nextUSN())
	// A computer is a user too, in AD: the default filter leaves it out.
	d.entry("CN=WS01,OU=IT,"+staff, "objectClass", "computer", "cn", "WS01", "sn", "WS01", "sAMAccountName", "WS01$",
		"userAccountControl", "4096", "objectGUID:", d.guid(), "uSNChanged", d.nextUSN())
	group := func(cn string, members ...string) {
		attrs := []string{"objectClass", "group", "cn", cn, "sAMAccountName", cn, "objectGUID:", d.guid(), "uSNChanged", d.nextUSN()}
		for _, m := range members {
			attrs = append(attrs, "member", m)
		}
		d.entry("CN="+cn+",OU=Groups,"+suffix, attrs...)
	}
	group("IT Staff", append(it, `CN=Lovelace\, Ada,OU=IT,`+staff)...)
	group("Finance Staff", fin...)
	group("Everyone", "CN=IT Staff,OU=Groups,"+suffix, "CN=Finance Staff,OU=Groups,"+suffix)
	return d.String(), d
}

func TestActiveDirectoryProfile(t *testing.T) {
	const n = 300
	suffix := "DC=corp,DC=example"
	data, d := adData(suffix, n)
	s := slapdtest.StartT(t, slapdtest.Options{Suffix: suffix, AD: true, LDIF: data, Limits: "size=unlimited"})
	g := newGatehouse(t)
	cfg := ldapsync.Config{
		Name: "ad", Profile: "ad", URL: s.LDAPSURL, CAFile: s.CAFile, BindDN: s.SvcDN, BindPasswordEnv: "PW",
		BaseDNs: []string{"OU=Staff," + suffix, "OU=Groups," + suffix}, PageSize: 100,
	}
	sy := g.syncer(t, cfg, map[string]string{"PW": s.SvcPW})
	adm := s.AdminT(t)
	staff := "OU=Staff," + suffix
	total := n + 4

	t.Run("initial", func(t *testing.T) {
		sum := run(t, sy, ldapsync.Options{})
		if sum.ErrorCount != 0 {
			t.Fatalf("errors: %+v", sum.Errors[0])
		}
		got := []int{sum.Listed, sum.Users.Created, sum.Orgs.Created, sum.Groups.Created}
		if diff := cmp.Diff([]int{total, total, 4, 3}, got); diff != "" {
			t.Errorf("listed, users, orgs, groups (-want +got):\n%s", diff)
		}
		known := g.user(t, "known@corp.example")
		if known == nil || known.ExternalID != knownGUID {
			t.Fatalf("known's externalId: %+v", known)
		}
		ada := g.user(t, "ada@corp.example")
		type row struct {
			Name, Display, Org string
			Active             bool
		}
		var rows []row
		for _, name := range []string{"ada@corp.example", "legacy", "gonesoon@corp.example", "u0001@corp.example"} {
			u := g.user(t, name)
			if u == nil {
				t.Fatalf("%s is missing", name)
			}
			rows = append(rows, row{u.UserName, u.DisplayName, g.orgPath(t, u.OrgID), u.Active})
		}
		want := []row{
			{"ada@corp.example", "Lovelace, Ada", "Root/Staff/IT", true},
			{"legacy", "Legacy", "Root/Staff/Finance", true},
			{"gonesoon@corp.example", "Gone Soon", "Root/Staff/Finance", false},
			{"u0001@corp.example", "User u0001", "Root/Staff/Finance", true},
		}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("accounts (-want +got):\n%s", diff)
		}
		ent := known.Attrs[directory.EnterpriseURN].(map[string]any)
		if !cmp.Equal(ent["manager"], map[string]any{"value": ada.ID}) {
			t.Errorf("known's manager = %v, want ada %s", ent["manager"], ada.ID)
		}
		if g.user(t, "WS01$") != nil {
			t.Error("the computer account was synchronised")
		}
		if gr := g.group(t, "Everyone"); len(gr.Members) != n+1 {
			t.Errorf("Everyone has %d members, want %d", len(gr.Members), n+1)
		}
		if ent := ada.Attrs[directory.EnterpriseURN].(map[string]any); ent["employeeNumber"] != "ID-ada" || ent["department"] != "Dept" {
			t.Errorf("ada's enterprise attributes: %v", ent)
		}
	})

	modify := func(t *testing.T, dn string, bump bool, f func(*ldap.ModifyRequest)) {
		t.Helper()
		req := ldap.NewModifyRequest(dn, nil)
		f(req)
		if bump {
			req.Replace("uSNChanged", []string{d.nextUSN()})
		}
		if err := adm.Modify(req); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("incremental by uSNChanged", func(t *testing.T) {
		modify(t, "CN=User u0002,OU=IT,"+staff, true, func(r *ldap.ModifyRequest) { r.Replace("department", []string{"Security"}) })
		// A change a domain controller would have numbered, but this one
		// is not: an incremental run cannot see it.
		modify(t, "CN=User u0004,OU=IT,"+staff, false, func(r *ldap.ModifyRequest) { r.Replace("department", []string{"Unseen"}) })
		sum := run(t, sy, ldapsync.Options{})
		if sum.Full || sum.Users.Updated != 1 {
			t.Errorf("full %v, users %+v", sum.Full, sum.Users)
		}
		if got := g.user(t, "u0002@corp.example").Department(); got != "Security" {
			t.Errorf("u0002's department = %q", got)
		}
		if got := g.user(t, "u0004@corp.example").Department(); got != "Dept" {
			t.Errorf("u0004's department = %q: the incremental run read an unchanged USN", got)
		}
		// A full run reads everything.
		sum = run(t, sy, ldapsync.Options{Full: true})
		if !sum.Full || sum.Read != total || sum.Users.Updated != 1 {
			t.Errorf("full %v, read %d, users %+v", sum.Full, sum.Read, sum.Users)
		}
		if got := g.user(t, "u0004@corp.example").Department(); got != "Unseen" {
			t.Errorf("u0004's department after a full run = %q", got)
		}
	})

	t.Run("userAccountControl", func(t *testing.T) {
		modify(t, "CN=Gone Soon,OU=Finance,"+staff, true, func(r *ldap.ModifyRequest) { r.Replace("userAccountControl", []string{"512"}) })
		modify(t, "CN=User u0003,OU=Finance,"+staff, true, func(r *ldap.ModifyRequest) { r.Replace("userAccountControl", []string{"66050"}) })
		g.newEvents(t)
		sum := run(t, sy, ldapsync.Options{})
		if sum.Users.Enabled != 1 || sum.Users.Disabled != 1 {
			t.Errorf("users: %+v", sum.Users)
		}
		counts, _ := g.newEvents(t)
		if diff := cmp.Diff(map[string]int{directory.UserEnabled: 1, directory.UserDisabled: 1}, counts); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("retried by objectGUID", func(t *testing.T) {
		// u0005 is renamed to a name an account of Gatehouse's own holds:
		// it fails, and is read again (by its objectGUID) once the name is
		// free, its entry unchanged.
		op := directory.Actor{Kind: "cli"}
		blocker, _, err := g.dir.CreateUser(g.ctx, op, directory.Profile{}, &directory.User{UserName: "taken@corp.example", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		modify(t, "CN=User u0005,OU=Finance,"+staff, true, func(r *ldap.ModifyRequest) {
			r.Replace("userPrincipalName", []string{"taken@corp.example"})
		})
		if sum := run(t, sy, ldapsync.Options{}); sum.Users.Failed != 1 || sum.Errors[0].Field != "userName" {
			t.Fatalf("users %+v, errors %+v", sum.Users, sum.Errors)
		}
		// Another change moves the watermark past u0005's USN.
		modify(t, "CN=User u0006,OU=IT,"+staff, true, func(r *ldap.ModifyRequest) { r.Replace("title", []string{"Auditor"}) })
		if sum := run(t, sy, ldapsync.Options{}); sum.Users.Failed != 1 || sum.Users.Updated != 1 {
			t.Fatalf("users %+v", sum.Users)
		}
		if err := g.dir.DeleteUser(g.ctx, op, directory.Profile{}, blocker.ID, nil); err != nil {
			t.Fatal(err)
		}
		// u0006 at the watermark, and u0005 from the retry list.
		sum := run(t, sy, ldapsync.Options{})
		if sum.Full || sum.Read != 2 || sum.Users.Updated != 1 || sum.ErrorCount != 0 {
			t.Errorf("full %v, read %d, users %+v, errors %v", sum.Full, sum.Read, sum.Users, sum.Errors)
		}
		if u := g.user(t, "taken@corp.example"); u == nil || u.DisplayName != "User u0005" {
			t.Errorf("taken@corp.example: %+v", u)
		}
	})
}

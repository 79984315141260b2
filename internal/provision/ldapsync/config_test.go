package ldapsync

import (
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

func validConfig() Config {
	return Config{Name: "corp", Profile: "ad", URL: "ldaps://dc1.corp.example", BindDN: "CN=svc,DC=corp,DC=example",
		BindPasswordEnv: "PW", BaseDNs: []string{"OU=Staff,DC=corp,DC=example"}}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"valid", func(c *Config) {}, nil},
		{"valid StartTLS", func(c *Config) { c.URL, c.StartTLS = "ldap://dc1:389", true }, nil},
		{"valid ldapi without bind", func(c *Config) { c.URL, c.BindDN, c.BindPasswordEnv = "ldapi:///", "", "" }, nil},
		{"bad name", func(c *Config) { c.Name = "Corp AD" }, []string{`name: "Corp AD" must be 1 to 63 lower-case letters, digits, '-' or '_'`}},
		{"unknown profile", func(c *Config) { c.Profile = "novell" }, []string{`profile: must be one of ad, openldap, not "novell"`}},
		{"no url", func(c *Config) { c.URL = "" }, []string{"url: required (ldaps://host, or ldap://host with start_tls)"}},
		{"plaintext", func(c *Config) { c.URL = "ldap://dc1" },
			[]string{"url: an ldap:// URL needs start_tls: true (or insecure_plaintext: true to send the password and the entries in clear)"}},
		{"plaintext allowed", func(c *Config) { c.URL, c.InsecurePlaintext = "ldap://dc1", true }, nil},
		{"StartTLS on LDAPS", func(c *Config) { c.StartTLS = true }, []string{"start_tls: not with an ldaps:// URL (it is TLS already)"}},
		{"http", func(c *Config) { c.URL = "https://dc1" }, []string{`url: the scheme must be ldaps, ldap or ldapi, not "https"`}},
		{"credentials in the URL", func(c *Config) { c.URL = "ldaps://svc:secret@dc1" },
			[]string{"url: must not carry credentials (use bind_dn and bind_password_env or bind_password_file)"}},
		{"no host", func(c *Config) { c.URL = "ldaps:///" }, []string{`url: "ldaps:///" names no host`}},
		{"no password source", func(c *Config) { c.BindPasswordEnv = "" }, []string{"bind_dn: give bind_password_env or bind_password_file"}},
		{"two password sources", func(c *Config) { c.BindPasswordFile = "/run/pw" }, []string{"bind_password_env, bind_password_file: give one, not both"}},
		{"password without DN", func(c *Config) { c.BindDN = "" }, []string{"bind_dn: required with a bind password"}},
		{"bad bind DN", func(c *Config) { c.BindDN = "svc" }, []string{`bind_dn: "svc" is not a DN`}},
		{"no base", func(c *Config) { c.BaseDNs = nil }, []string{"base_dns: give at least one"}},
		{"overlapping bases", func(c *Config) { c.BaseDNs = []string{"DC=corp,DC=example", "ou=staff,dc=CORP,dc=example"} },
			[]string{`base_dns: "dc=corp,dc=example" and "ou=staff,dc=CORP,dc=example" overlap (one is inside the other)`}},
		{"a DN split by YAML", func(c *Config) { c.BaseDNs = []string{"ou=People", "dc=example", "dc=com"} },
			[]string{"base_dns: ou=People, dc=example, dc=com look like one DN split at its commas (in YAML, write DNs as a block list or quote them)"}},
		{"bad filter", func(c *Config) { c.UserFilter = "(objectClass=user" },
			[]string{`user_filter: "(objectClass=user" is not an LDAP filter: LDAP Result Code 201 "Filter Compile Error": ldap: unexpected end of filter`}},
		{"numbers", func(c *Config) {
			c.PageSize, c.Workers, c.MaxDeletions, c.Interval = 20000, 100, -2, Duration(time.Second)
			c.MaxMembershipRemovals = -5
		},
			[]string{"page_size: must be between 1 and 10000", "workers: must be between 1 and 64", "max_deletions: must be -1 (no limit) or more",
				"max_membership_removals: must be -1 (no limit) or more", "interval: must be at least 1m"}},
		{"choices", func(c *Config) { c.OUs, c.Groups, c.OnDelete = "flat", "nested", "purge" },
			[]string{`ous: must be one of tree, ignore, not "flat"`, `groups: must be one of flatten, direct, off, not "nested"`, `on_delete: must be one of disable, delete, not "purge"`}},
		{"mapping", func(c *Config) {
			c.Attributes = map[string]AttrList{"nickName": {"x"}, "userName": {}, "email": {"mail;lang-en"}}
		}, []string{`attributes.email: "mail;lang-en" is not an attribute name`, `attributes: unknown field "nickName" (one of userName, displayName, givenName, familyName, email, phone, title, department, employeeNumber, manager, groupName, member, orgName)`, "attributes.userName: cannot be turned off"}},
		{"mapping off", func(c *Config) { c.Attributes = map[string]AttrList{"phone": {}, "manager": nil} }, nil},
		{"disabled rule", func(c *Config) { c.Disabled = &DisabledRule{Attribute: "x", Bit: 2, Values: []string{"y"}} },
			[]string{"disabled: give bit or values, not both (and bit must be positive)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			if diff := cmp.Diff(tt.want, c.Problems()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestYAML(t *testing.T) {
	src := `
name: corp
profile: openldap
url: ldaps://ldap.example.com
bind_dn: cn=gatehouse,ou=system,dc=example,dc=com
bind_password_file: /run/secrets/ldap
base_dns: ["ou=People,dc=example,dc=com"]
interval: 15m
overlap: 0s
attributes:
  userName: mail
  email: [mail, mailAlternateAddress]
  phone:
disabled: {attribute: employeeType, values: [disabled, left]}
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if p := c.Problems(); p != nil {
		t.Fatal(p)
	}
	r := c.Resolve()
	got := map[string]any{
		"interval": time.Duration(r.Interval), "overlap": time.Duration(*r.Overlap), "userName": r.Attributes[FieldUserName],
		"email": r.Attributes[FieldEmail], "phone": r.Attributes[FieldPhone], "surname": r.Attributes[FieldFamilyName],
		"disabled": *r.Disabled, "id": r.IDAttribute, "change": r.ChangeAttribute, "org": r.Organization,
		"page": r.PageSize, "max": r.MaxDeletions, "full": time.Duration(r.FullInterval), "onDelete": r.OnDelete,
		"userFilter": r.UserFilter, "bases": r.BaseDNs,
	}
	want := map[string]any{
		"interval": 15 * time.Minute, "overlap": time.Duration(0), "userName": AttrList{"mail"},
		"email": AttrList{"mail", "mailAlternateAddress"}, "phone": AttrList(nil), "surname": AttrList{"sn"},
		"disabled": DisabledRule{Attribute: "employeeType", Values: []string{"disabled", "left"}}, "id": "entryUUID",
		"change": "modifyTimestamp", "org": directory.RootOrgID, "page": 500, "max": 500, "full": 24 * time.Hour,
		"onDelete": "disable", "userFilter": "(objectClass=inetOrgPerson)", "bases": []string{"ou=People,dc=example,dc=com"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolved (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"interval: soon", "attributes: {email: {a: b}}"} {
		var c Config
		if err := yaml.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestDefaultsResolve(t *testing.T) {
	r := validConfig().Resolve()
	want := Config{
		Name: "corp", Profile: "ad", URL: "ldaps://dc1.corp.example", BindDN: "CN=svc,DC=corp,DC=example", BindPasswordEnv: "PW",
		BaseDNs: []string{"OU=Staff,DC=corp,DC=example"}, UserFilter: "(&(objectClass=user)(!(objectClass=computer)))",
		GroupFilter: "(objectClass=group)", OUFilter: "(objectClass=organizationalUnit)", PageSize: 500, Timeout: Duration(2 * time.Minute),
		Workers: 8, Organization: "root", OUs: "tree", Groups: "flatten", OnDelete: "disable", MaxDeletions: 500, MaxMembershipRemovals: 1000,
		FullInterval: Duration(24 * time.Hour), IDAttribute: "objectGUID", ChangeAttribute: "uSNChanged",
		Disabled: &DisabledRule{Attribute: "userAccountControl", Bit: 2},
	}
	o := Duration(5 * time.Minute)
	want.Overlap = &o
	want.Attributes = profiles["ad"].attrs
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("resolved (-want +got):\n%s", diff)
	}
	if got := r.Actor(); got != (directory.Actor{Kind: "connector", AppName: "ldap:corp"}) {
		t.Errorf("actor %+v", got)
	}
	// The attributes read for an account, once each.
	if diff := cmp.Diff([]string{"objectGUID", "uSNChanged", "userPrincipalName", "sAMAccountName", "displayName", "cn", "givenName", "sn",
		"mail", "telephoneNumber", "title", "department", "employeeID", "manager", "userAccountControl"}, (mapper{c: r}).userAttrs()); diff != "" {
		t.Errorf("user attributes (-want +got):\n%s", diff)
	}
}

func TestMapping(t *testing.T) {
	c := validConfig()
	c.Attributes = map[string]AttrList{FieldTitle: {}} // title left alone
	m := mapper{c: c.Resolve()}
	e := ldap.NewEntry("CN=Ada,OU=IT,DC=corp", map[string][]string{
		"sAMAccountName": {"ada"}, "userPrincipalName": {" "}, "DisplayName": {"Ada L."}, "givenName": {"Ada"},
		"mail": {"ada@corp.example"}, "telephoneNumber": {"+44 20 7946 0000"}, "title": {"Countess"}, "department": {"R&D"},
		"userAccountControl": {"66050"}, "manager": {"CN=Babbage,OU=IT,DC=corp"},
	})
	w, err := m.user(e, "guid-1")
	if err != nil {
		t.Fatal(err)
	}
	want := &wantUser{ExternalID: "guid-1", UserName: "ada", DisplayName: "Ada L.", Active: false, GivenName: "Ada",
		Email: "ada@corp.example", Phone: "+44 20 7946 0000", Department: "R&D", ManagerDN: "cn=babbage,ou=it,dc=corp"}
	if diff := cmp.Diff(want, w, cmp.AllowUnexported(wantUser{})); diff != "" {
		t.Errorf("mapped (-want +got):\n%s", diff)
	}
	w.OrgID, w.ManagerID = "org-it", "id-babbage"
	u := &directory.User{ID: "u1", UserName: "old", Active: true, OrgID: "root", Attrs: directory.Attrs{
		"title": "Kept", "nickName": "kept", "phoneRegion": "86",
		"name":                  map[string]any{"givenName": "Old", "familyName": "Gone", "middleName": "kept"},
		directory.EnterpriseURN: map[string]any{"costCenter": "kept", "employeeNumber": "E1"},
	}}
	before := u.Clone()
	m.apply(w, u)
	wantAttrs := directory.Attrs{
		"title": "Kept", "nickName": "kept",
		"name":                  map[string]any{"givenName": "Ada", "middleName": "kept"},
		"emails":                []any{map[string]any{"value": "ada@corp.example", "type": "work", "primary": true}},
		"phoneNumbers":          []any{map[string]any{"value": "+44 20 7946 0000", "type": "work", "primary": true}},
		directory.EnterpriseURN: map[string]any{"costCenter": "kept", "department": "R&D", "manager": map[string]any{"value": "id-babbage"}},
	}
	if diff := cmp.Diff(wantAttrs, u.Attrs); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"userName", "externalId", "displayName", "active", "organizationId", "emails", "name", "phoneNumbers",
		"department", "employeeNumber", "manager"}, changedFields(before, u)); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	if _, err := m.user(ldap.NewEntry("CN=x", map[string][]string{"cn": {"x"}}), "g"); err == nil ||
		err.Error() != "no user name: the entry has none of userPrincipalName, sAMAccountName" {
		t.Errorf("got %v", err)
	}
}

func TestDisabledRule(t *testing.T) {
	tests := []struct {
		rule  DisabledRule
		attrs map[string][]string
		want  bool
	}{
		{DisabledRule{Attribute: "userAccountControl", Bit: 2}, map[string][]string{"userAccountControl": {"512"}}, false},
		{DisabledRule{Attribute: "userAccountControl", Bit: 2}, map[string][]string{"userAccountControl": {"514"}}, true},
		{DisabledRule{Attribute: "userAccountControl", Bit: 2}, map[string][]string{"useraccountcontrol": {"66050"}}, true},
		{DisabledRule{Attribute: "userAccountControl", Bit: 2}, map[string][]string{"userAccountControl": {"junk"}}, false},
		{DisabledRule{Attribute: "userAccountControl", Bit: 2}, nil, false},
		{DisabledRule{Attribute: "pwdAccountLockedTime", Values: []string{"000001010000Z"}}, map[string][]string{"pwdAccountLockedTime": {"000001010000Z"}}, true},
		// A lockout after failed binds carries its time: not disabled.
		{DisabledRule{Attribute: "pwdAccountLockedTime", Values: []string{"000001010000Z"}}, map[string][]string{"pwdAccountLockedTime": {"20260101120000Z"}}, false},
		{DisabledRule{Attribute: "employeeType", Values: []string{"Left"}}, map[string][]string{"employeeType": {"staff", "left"}}, true},
		{DisabledRule{Attribute: "nsAccountLock"}, map[string][]string{"nsAccountLock": {"TRUE"}}, true},
		{DisabledRule{Attribute: "nsAccountLock"}, nil, false},
		{DisabledRule{}, map[string][]string{"userAccountControl": {"514"}}, false},
	}
	for _, tt := range tests {
		c := validConfig()
		c.Disabled = &tt.rule
		m := mapper{c: c.Resolve()}
		if got := m.disabled(ldap.NewEntry("cn=x", tt.attrs)); got != tt.want {
			t.Errorf("%+v on %v: %v", tt.rule, tt.attrs, got)
		}
	}
}

// TestFirstNamingValue: of a multi-valued attribute, the value in the
// entry's RDN wins (a modrdn that kept the old RDN leaves it first).
func TestFirstNamingValue(t *testing.T) {
	m := mapper{c: Config{Profile: "openldap"}.Resolve()}
	tests := []struct {
		dn    string
		field string
		vals  map[string][]string
		want  string
	}{
		{"cn=new,ou=g,dc=x", FieldGroupName, map[string][]string{"cn": {"old", "new"}}, "new"},
		{"CN=New Name,ou=g,dc=x", FieldGroupName, map[string][]string{"cn": {"old", "new name"}}, "new name"},
		{`cn=Doe\, John,ou=g,dc=x`, FieldGroupName, map[string][]string{"cn": {"old", "Doe, John"}}, "Doe, John"},
		{"cn=研发部+ou=x,dc=x", FieldGroupName, map[string][]string{"cn": {"旧名", "研发部"}}, "研发部"},
		{"uid=g1,ou=g,dc=x", FieldGroupName, map[string][]string{"cn": {"first", "second"}}, "first"},
		{"cn=gone,ou=g,dc=x", FieldGroupName, map[string][]string{"cn": {"first", "second"}}, "first"},
		{"ou=new,dc=x", FieldOrgName, map[string][]string{"ou": {"Old", "New"}}, "New"},
		{"uid=ada2,ou=p,dc=x", FieldUserName, map[string][]string{"uid": {"ada", "ada2"}}, "ada2"},
		{"not a dn", FieldGroupName, map[string][]string{"cn": {"first", "second"}}, "first"},
	}
	for _, tt := range tests {
		if got := m.first(ldap.NewEntry(tt.dn, tt.vals), tt.field); got != tt.want {
			t.Errorf("%s %v: got %q, want %q", tt.dn, tt.vals, got, tt.want)
		}
	}
}

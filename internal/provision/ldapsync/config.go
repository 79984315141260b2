package ldapsync

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Config is one directory to synchronise from (an entry of the
// configuration file's `ldap:` list). Fields left empty take the defaults of
// the profile (see Resolve).
type Config struct {
	// Name identifies the directory: the links and the watermark are kept
	// under "ldap:<name>", and changes are audited as made by "ldap:<name>".
	Name string `yaml:"name"`
	// Profile chooses the default mappings: "ad" (Active Directory) or
	// "openldap".
	Profile string `yaml:"profile"`
	// URL is the server: ldaps://host[:636], ldap://host[:389] (with
	// StartTLS) or ldapi://.
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection to TLS before binding.
	StartTLS bool `yaml:"start_tls"`
	// CAFile holds the PEM certificates that sign the server's certificate
	// (default: the system's roots).
	CAFile string `yaml:"ca_file"`
	// TLSServerName is the name the server's certificate must carry
	// (default: the URL's host).
	TLSServerName string `yaml:"tls_server_name"`
	// InsecurePlaintext allows an ldap:// URL without StartTLS: the bind
	// password and every entry cross the network in clear.
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
	// BindDN is the account to bind as (empty: no bind, anonymous reads).
	BindDN string `yaml:"bind_dn"`
	// The bind password comes from the environment variable named by
	// BindPasswordEnv or from the file BindPasswordFile (trailing newlines
	// removed) — never from the configuration file itself or a flag.
	BindPasswordEnv  string `yaml:"bind_password_env"`
	BindPasswordFile string `yaml:"bind_password_file"`
	// BaseDNs are the subtrees to read (at least one; none inside another).
	BaseDNs []string `yaml:"base_dns"`
	// UserFilter, GroupFilter and OUFilter select the entries that become
	// users, groups and organizations.
	UserFilter  string `yaml:"user_filter"`
	GroupFilter string `yaml:"group_filter"`
	OUFilter    string `yaml:"ou_filter"`
	// PageSize is the RFC 2696 page size (default 500; AD serves at most
	// 1,000).
	PageSize int `yaml:"page_size"`
	// Timeout bounds each LDAP request (default 2m).
	Timeout Duration `yaml:"timeout"`
	// Workers is how many changes are written at once (default 8).
	Workers int `yaml:"workers"`
	// Organization is the Gatehouse organization the tree hangs under
	// (default: the root).
	Organization string `yaml:"organization"`
	// OUs: "tree" (default) mirrors the organizational units as
	// organizations; "ignore" puts every account in Organization.
	OUs string `yaml:"ous"`
	// Groups: "flatten" (default: a group's members are the users in it
	// and in the groups nested in it), "direct" (users directly in it; nested
	// groups are ignored) or "off" (groups are not synchronised).
	Groups string `yaml:"groups"`
	// OnDelete is what happens to an account whose entry has gone:
	// "disable" (default) or "delete".
	OnDelete string `yaml:"on_delete"`
	// MaxDeletions stops a run from removing more accounts and groups than
	// this (default 500; -1 for no limit): an emptied search base or a
	// broken filter looks like everyone leaving.
	MaxDeletions int `yaml:"max_deletions"`
	// MaxMembershipRemovals stops a run from removing more memberships
	// (an account from a group) than this (default 1,000; -1 for no
	// limit). A run stopped by either limit removes nothing.
	MaxMembershipRemovals int `yaml:"max_membership_removals"`
	// Interval, when set, makes `gatehouse serve` run the sync this often.
	Interval Duration `yaml:"interval"`
	// FullInterval forces a full run (every entry read again) when the last
	// one is older than this (default 24h).
	FullInterval Duration `yaml:"full_interval"`
	// Overlap is subtracted from a timestamp watermark (default 5m), for
	// clock skew and replication delay between servers.
	Overlap *Duration `yaml:"overlap"`
	// IDAttribute is the stable id of an entry (objectGUID, entryUUID).
	IDAttribute string `yaml:"id_attribute"`
	// ChangeAttribute orders changes for incremental runs (uSNChanged,
	// modifyTimestamp).
	ChangeAttribute string `yaml:"change_attribute"`
	// Attributes overrides the profile's mapping: a Gatehouse field (see
	// Fields) → the LDAP attributes to take it from, the first present
	// wins. An empty list leaves the field alone.
	Attributes map[string]AttrList `yaml:"attributes"`
	// DelegatedAuth makes the accounts synced from this directory sign in
	// to Gatehouse with their directory password: the login binds as the
	// account's entry (found by its stable id), and a password Gatehouse
	// may hold for such an account is not used (docs/sso.md, "Delegated
	// authentication").
	DelegatedAuth bool `yaml:"delegated_auth"`
	// Disabled says which entries are disabled accounts (default: AD's
	// userAccountControl bit 0x2; OpenLDAP's administrative lock,
	// pwdAccountLockedTime = 000001010000Z).
	Disabled *DisabledRule `yaml:"disabled"`
}

// DisabledRule recognises a disabled account by one attribute: with Bit,
// when its integer value has that bit set; with Values, when one of its
// values is one of them (ignoring case); with neither, when it is present.
// An empty Attribute makes every account active.
type DisabledRule struct {
	Attribute string   `yaml:"attribute"`
	Bit       int64    `yaml:"bit"`
	Values    []string `yaml:"values"`
}

// AttrList is a list of LDAP attribute names; YAML may give one name as a
// plain string.
type AttrList []string

// UnmarshalYAML reads a name or a list of names.
func (a *AttrList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
			*a = AttrList{}
			return nil
		}
		*a = AttrList{strings.TrimSpace(n.Value)}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*a = AttrList(s)
		return nil
	}
	return fmt.Errorf("line %d: want an attribute name or a list of names", n.Line)
}

// Duration is a time.Duration written as "15m" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (such as 15m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// The Gatehouse fields a mapping can fill.
const (
	FieldUserName       = "userName"
	FieldDisplayName    = "displayName"
	FieldGivenName      = "givenName"
	FieldFamilyName     = "familyName"
	FieldEmail          = "email"
	FieldPhone          = "phone"
	FieldTitle          = "title"
	FieldDepartment     = "department"
	FieldEmployeeNumber = "employeeNumber"
	FieldManager        = "manager"
	FieldGroupName      = "groupName"
	FieldMember         = "member"
	FieldOrgName        = "orgName"
)

// Fields lists the mapping keys.
func Fields() []string {
	return []string{FieldUserName, FieldDisplayName, FieldGivenName, FieldFamilyName, FieldEmail, FieldPhone, FieldTitle,
		FieldDepartment, FieldEmployeeNumber, FieldManager, FieldGroupName, FieldMember, FieldOrgName}
}

// profile holds a profile's defaults.
type profile struct {
	userFilter, groupFilter, ouFilter string
	idAttr, changeAttr                string
	attrs                             map[string]AttrList
	disabled                          DisabledRule
}

var profiles = map[string]profile{
	"ad": {
		// Computers are users too in AD (their class derives from user).
		userFilter:  "(&(objectClass=user)(!(objectClass=computer)))",
		groupFilter: "(objectClass=group)",
		ouFilter:    "(objectClass=organizationalUnit)",
		idAttr:      "objectGUID",
		changeAttr:  "uSNChanged",
		attrs: map[string]AttrList{
			FieldUserName:       {"userPrincipalName", "sAMAccountName"},
			FieldDisplayName:    {"displayName", "cn"},
			FieldGivenName:      {"givenName"},
			FieldFamilyName:     {"sn"},
			FieldEmail:          {"mail"},
			FieldPhone:          {"telephoneNumber"},
			FieldTitle:          {"title"},
			FieldDepartment:     {"department"},
			FieldEmployeeNumber: {"employeeID"},
			FieldManager:        {"manager"},
			FieldGroupName:      {"cn"},
			FieldMember:         {"member"},
			FieldOrgName:        {"ou"},
		},
		disabled: DisabledRule{Attribute: "userAccountControl", Bit: 0x2},
	},
	"openldap": {
		userFilter:  "(objectClass=inetOrgPerson)",
		groupFilter: "(objectClass=groupOfNames)",
		ouFilter:    "(objectClass=organizationalUnit)",
		idAttr:      "entryUUID",
		changeAttr:  "modifyTimestamp",
		attrs: map[string]AttrList{
			FieldUserName:       {"uid"},
			FieldDisplayName:    {"displayName", "cn"},
			FieldGivenName:      {"givenName"},
			FieldFamilyName:     {"sn"},
			FieldEmail:          {"mail"},
			FieldPhone:          {"telephoneNumber"},
			FieldTitle:          {"title"},
			FieldDepartment:     {"departmentNumber"},
			FieldEmployeeNumber: {"employeeNumber"},
			FieldManager:        {"manager"},
			FieldGroupName:      {"cn"},
			FieldMember:         {"member"},
			FieldOrgName:        {"ou"},
		},
		// ppolicy's administrative lock (a lockout after failed binds
		// carries the time instead, and must not disable the account).
		disabled: DisabledRule{Attribute: "pwdAccountLockedTime", Values: []string{"000001010000Z"}},
	},
}

// Profiles lists the profile names.
func Profiles() []string { return []string{"ad", "openldap"} }

// Defaults.
const (
	DefaultPageSize     = 500
	DefaultWorkers      = 8
	DefaultMaxDeletions = 500
	// DefaultMaxMembershipRemovals is max_membership_removals' default.
	DefaultMaxMembershipRemovals = 1000
	DefaultTimeout               = 2 * time.Minute
	DefaultFullInterval          = 24 * time.Hour
	DefaultOverlap               = 5 * time.Minute
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Resolve returns c with every default filled in. It does not validate:
// call Problems first.
func (c Config) Resolve() Config {
	p, ok := profiles[c.Profile]
	if !ok {
		p = profiles["openldap"]
	}
	def := func(s *string, v string) {
		if strings.TrimSpace(*s) == "" {
			*s = v
		}
	}
	def(&c.UserFilter, p.userFilter)
	def(&c.GroupFilter, p.groupFilter)
	def(&c.OUFilter, p.ouFilter)
	def(&c.IDAttribute, p.idAttr)
	def(&c.ChangeAttribute, p.changeAttr)
	def(&c.Organization, directory.RootOrgID)
	def(&c.OUs, "tree")
	def(&c.Groups, "flatten")
	def(&c.OnDelete, "disable")
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxDeletions == 0 {
		c.MaxDeletions = DefaultMaxDeletions
	}
	if c.MaxMembershipRemovals == 0 {
		c.MaxMembershipRemovals = DefaultMaxMembershipRemovals
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(DefaultTimeout)
	}
	if c.FullInterval == 0 {
		c.FullInterval = Duration(DefaultFullInterval)
	}
	if c.Overlap == nil {
		o := Duration(DefaultOverlap)
		c.Overlap = &o
	}
	attrs := make(map[string]AttrList, len(p.attrs))
	for k, v := range p.attrs {
		attrs[k] = v
	}
	for k, v := range c.Attributes {
		attrs[k] = v
	}
	c.Attributes = attrs
	if c.Disabled == nil {
		d := p.disabled
		c.Disabled = &d
	}
	return c
}

// Problems lists what is wrong with c, every problem at once; nil when it
// is valid. It reads no file and no environment variable: the password is
// read when a sync runs.
func (c Config) Problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if !nameRE.MatchString(c.Name) {
		add("name: %q must be 1 to 63 lower-case letters, digits, '-' or '_'", c.Name)
	}
	if _, ok := profiles[c.Profile]; !ok {
		add("profile: must be one of %s, not %q", strings.Join(Profiles(), ", "), c.Profile)
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		add("url: required (ldaps://host, or ldap://host with start_tls)")
	case err != nil:
		add("url: %q is not a URL", c.URL)
	case u.Scheme == "ldaps":
		if c.StartTLS {
			add("start_tls: not with an ldaps:// URL (it is TLS already)")
		}
	case u.Scheme == "ldap":
		if !c.StartTLS && !c.InsecurePlaintext {
			add("url: an ldap:// URL needs start_tls: true (or insecure_plaintext: true to send the password and the entries in clear)")
		}
	case u.Scheme == "ldapi":
		if c.StartTLS {
			add("start_tls: not with an ldapi:// URL")
		}
	default:
		add("url: the scheme must be ldaps, ldap or ldapi, not %q", u.Scheme)
	}
	if err == nil && (u.Scheme == "ldap" || u.Scheme == "ldaps") && u.Host == "" {
		add("url: %q names no host", c.URL)
	}
	if err == nil && u.User != nil {
		add("url: must not carry credentials (use bind_dn and bind_password_env or bind_password_file)")
	}
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			add("bind_dn: %q is not a DN", c.BindDN)
		}
		switch {
		case c.BindPasswordEnv == "" && c.BindPasswordFile == "":
			add("bind_dn: give bind_password_env or bind_password_file")
		case c.BindPasswordEnv != "" && c.BindPasswordFile != "":
			add("bind_password_env, bind_password_file: give one, not both")
		}
	} else if c.BindPasswordEnv != "" || c.BindPasswordFile != "" {
		add("bind_dn: required with a bind password")
	}
	if len(c.BaseDNs) == 0 {
		add("base_dns: give at least one")
	}
	var bases []*ldap.DN
	for _, b := range c.BaseDNs {
		d, err := ldap.ParseDN(b)
		if err != nil || len(d.RDNs) == 0 {
			add("base_dns: %q is not a DN", b)
			continue
		}
		for _, o := range bases {
			if o.EqualFold(d) || o.AncestorOfFold(d) || d.AncestorOfFold(o) {
				add("base_dns: %q and %q overlap (one is inside the other)", o.String(), b)
			}
		}
		bases = append(bases, d)
	}
	if len(bases) > 1 && !slices.ContainsFunc(bases, func(d *ldap.DN) bool { return len(d.RDNs) > 1 }) {
		add("base_dns: %s look like one DN split at its commas (in YAML, write DNs as a block list or quote them)", strings.Join(c.BaseDNs, ", "))
	}
	for _, f := range [][2]string{{"user_filter", c.UserFilter}, {"group_filter", c.GroupFilter}, {"ou_filter", c.OUFilter}} {
		if f[1] != "" {
			if _, err := ldap.CompileFilter(f[1]); err != nil {
				add("%s: %q is not an LDAP filter: %v", f[0], f[1], err)
			}
		}
	}
	if c.PageSize < 0 || c.PageSize > 10000 {
		add("page_size: must be between 1 and 10000")
	}
	if c.Workers < 0 || c.Workers > 64 {
		add("workers: must be between 1 and 64")
	}
	if c.MaxDeletions < -1 {
		add("max_deletions: must be -1 (no limit) or more")
	}
	if c.MaxMembershipRemovals < -1 {
		add("max_membership_removals: must be -1 (no limit) or more")
	}
	if c.Timeout < 0 {
		add("timeout: must not be negative")
	}
	if c.Interval != 0 && time.Duration(c.Interval) < time.Minute {
		add("interval: must be at least 1m")
	}
	if c.FullInterval < 0 {
		add("full_interval: must not be negative")
	}
	if c.Overlap != nil && *c.Overlap < 0 {
		add("overlap: must not be negative")
	}
	oneOf := func(field, v string, ok ...string) {
		if v != "" && !slices.Contains(ok, v) {
			add("%s: must be one of %s, not %q", field, strings.Join(ok, ", "), v)
		}
	}
	oneOf("ous", c.OUs, "tree", "ignore")
	oneOf("groups", c.Groups, "flatten", "direct", "off")
	oneOf("on_delete", c.OnDelete, "disable", "delete")
	for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
		v := c.Attributes[k]
		if !slices.Contains(Fields(), k) {
			add("attributes: unknown field %q (one of %s)", k, strings.Join(Fields(), ", "))
			continue
		}
		for _, a := range v {
			if !attrNameRE.MatchString(a) {
				add("attributes.%s: %q is not an attribute name", k, a)
			}
		}
		if (k == FieldUserName || k == FieldMember || k == FieldGroupName || k == FieldOrgName) && len(v) == 0 {
			add("attributes.%s: cannot be turned off", k)
		}
	}
	for _, a := range [][2]string{{"id_attribute", c.IDAttribute}, {"change_attribute", c.ChangeAttribute}} {
		if a[1] != "" && !attrNameRE.MatchString(a[1]) {
			add("%s: %q is not an attribute name", a[0], a[1])
		}
	}
	if c.Disabled != nil {
		if c.Disabled.Attribute != "" && !attrNameRE.MatchString(c.Disabled.Attribute) {
			add("disabled.attribute: %q is not an attribute name", c.Disabled.Attribute)
		}
		if c.Disabled.Bit < 0 || (c.Disabled.Bit != 0 && len(c.Disabled.Values) > 0) {
			add("disabled: give bit or values, not both (and bit must be positive)")
		}
	}
	return out
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$|^[0-9]+(\.[0-9]+)+$`)

// Scope is the provisioning scope of the links and the state of c.
func (c Config) Scope() string { return "ldap:" + c.Name }

// Actor is the audit identity of c's writes.
func (c Config) Actor() directory.Actor {
	return directory.Actor{Kind: "connector", AppName: c.Scope()}
}

// Package directory is Gatehouse's identity model: users, groups,
// organizations and the rules they obey (IDaaS's field rules, the password
// policy, organization placement, idempotent creation). It performs no I/O of
// its own: the Service reaches storage through the small Store interface
// declared here, and protocol packages (SCIM, the admin API, connectors)
// reach the model through the Service.
package directory

import (
	"encoding/json"
	"strings"
	"time"
)

// RootOrgID is the id of the organization every tree starts from. It exists
// in every database (the migrations create it) and cannot be deleted.
const RootOrgID = "root"

// Attrs holds a resource's SCIM attributes other than those the model keeps
// in typed fields, in canonical form: canonical attribute names, core
// attributes at the top level, extension attributes in an object under the
// extension's schema URN. Values are JSON values (string, bool, float64 or
// json.Number, []any, map[string]any).
type Attrs map[string]any

// Clone returns a deep copy.
func (a Attrs) Clone() Attrs {
	if a == nil {
		return nil
	}
	return cloneValue(map[string]any(a)).(map[string]any)
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = cloneValue(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = cloneValue(x)
		}
		return s
	}
	return v
}

// User is an account.
type User struct {
	ID string
	// ExternalID is the account's externalId in the provisioning domain of
	// the read or write (Profile.Domain, ReadOptions.Domain).
	ExternalID  string
	UserName    string
	DisplayName string
	Active      bool
	OrgID       string
	Attrs       Attrs

	// PasswordHash is the argon2id hash of the password, if one was set.
	PasswordHash string
	// Password is a new cleartext password carried from a request to the
	// Service, which checks and hashes it. It is never stored or returned.
	Password string `json:"-"`

	// Groups is read-only: the groups the user is a direct member of, filled
	// in on reads that ask for it.
	Groups []GroupRef

	// Dropped and Retyped are what the rules did to the values of a change
	// under Profile.DropExtraValues: the emails and phone numbers they
	// dropped, and the one they kept under the type "work" though it came
	// with another. Set by the rules, recorded in the change's audit
	// record; never stored with the user.
	Dropped []ValueNote
	Retyped []ValueNote

	Created  time.Time
	Modified time.Time
	Version  int64
	// AttrsVersion and AttrsModified are the version and time of the last
	// change of the user's own attributes: they move with every change
	// but one of its group memberships (which moves Version) or of its
	// manager alone (which moves Version and Modified). A reader with a
	// synchronization scope is shown a version and a time derived from
	// them (see scope.go), so that changes it cannot see do not move
	// what it sees.
	AttrsVersion  int64
	AttrsModified time.Time
}

// GroupRef names a group a user belongs to.
type GroupRef struct {
	ID          string
	DisplayName string
}

// Clone returns a deep copy of u.
func (u *User) Clone() *User {
	c := *u
	c.Attrs = u.Attrs.Clone()
	c.Groups = append([]GroupRef(nil), u.Groups...)
	c.Dropped = append([]ValueNote(nil), u.Dropped...)
	c.Retyped = append([]ValueNote(nil), u.Retyped...)
	return &c
}

// Email returns the user's work email (IDaaS keeps one), else the primary
// email, else the first, else "".
func (u *User) Email() string { return pickMulti(u.Attrs, "emails") }

// Phone returns the user's phone number, chosen as Email chooses.
func (u *User) Phone() string { return pickMulti(u.Attrs, "phoneNumbers") }

// PhoneRegionDerived reports whether the stored phoneRegion says nothing
// the phone number does not: the number carries its calling code, or the
// region is the default. Such a region is recomputed when the number
// changes, instead of contradicting the new number.
func (u *User) PhoneRegionDerived() bool {
	region, _ := u.Attrs["phoneRegion"].(string)
	phone := u.Phone()
	if phone == "" {
		return false
	}
	ph, err := ParsePhone(phone, "")
	return err == nil && (ph.International || region == DefaultPhoneRegion)
}

// Department returns the enterprise extension's department.
func (u *User) Department() string {
	return stringAt(u.Attrs, EnterpriseURN, "department")
}

// EnterpriseURN is the enterprise User extension's schema URN, under which
// enterprise attributes sit in Attrs.
const EnterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func stringAt(a Attrs, keys ...string) string {
	var v any = map[string]any(a)
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

// elements returns the objects of a multi-valued complex attribute.
func elements(a Attrs, name string) []map[string]any {
	list, _ := a[name].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, el := range list {
		if m, ok := el.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func pickMulti(a Attrs, name string) string {
	els := elements(a, name)
	pick := func(ok func(map[string]any) bool) string {
		for _, el := range els {
			if v, _ := el["value"].(string); v != "" && ok(el) {
				return v
			}
		}
		return ""
	}
	if v := pick(func(el map[string]any) bool { t, _ := el["type"].(string); return strings.EqualFold(t, "work") }); v != "" {
		return v
	}
	if v := pick(func(el map[string]any) bool { p, _ := el["primary"].(bool); return p }); v != "" {
		return v
	}
	return pick(func(map[string]any) bool { return true })
}

// Group is a set of users.
type Group struct {
	ID string
	// ExternalID is the group's externalId in the provisioning domain of
	// the read or write, as for users.
	ExternalID  string
	DisplayName string
	OrgID       string
	Attrs       Attrs
	// Members is filled in on reads that ask for it.
	Members []Member

	Created  time.Time
	Modified time.Time
	Version  int64
	// AttrsVersion and AttrsModified are the version and time of the last
	// change of the group's own attributes, not of its members: see
	// User.AttrsVersion.
	AttrsVersion  int64
	AttrsModified time.Time
}

// Clone returns a deep copy of g.
func (g *Group) Clone() *Group {
	c := *g
	c.Attrs = g.Attrs.Clone()
	c.Members = append([]Member(nil), g.Members...)
	return &c
}

// Member is a group member. Only users can be members: nested groups are not
// supported (as in IDaaS).
type Member struct {
	ID string
	// Display is the member's displayName, else userName (read-only).
	Display string
}

// Organization is a node of the organization tree.
type Organization struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	ParentID   string    `json:"parentId,omitempty"` // "" for the root
	ExternalID string    `json:"externalId,omitempty"`
	Created    time.Time `json:"created"`
	Modified   time.Time `json:"lastModified"`
	Version    int64     `json:"version"`
}

// Actor is who makes a change: the application and credential behind a
// request, or an operator using the CLI.
type Actor struct {
	Kind      string `json:"kind"` // "app", "cli", "system"
	AppID     string `json:"appId,omitempty"`
	AppName   string `json:"appName,omitempty"`
	TokenID   string `json:"tokenId,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// Domain is the provisioning domain of the actor's changes: an
// application's id, a connector's scope ("ldap:corp"); "" for the command
// line and Gatehouse itself, which set no externalId.
func (a Actor) Domain() string {
	switch a.Kind {
	case "app":
		return a.AppID
	case "connector":
		return a.AppName
	}
	return ""
}

// AuditEntry records one change, written in the same transaction as the
// change itself. Before and After are JSON snapshots with secrets removed.
type AuditEntry struct {
	Seq          int64           `json:"seq"`
	Time         time.Time       `json:"time"`
	Actor        Actor           `json:"actor"`
	Action       string          `json:"action"` // e.g. "user.create", "group.update"
	ResourceType string          `json:"resourceType"`
	ResourceID   string          `json:"resourceId"`
	Before       json.RawMessage `json:"before,omitempty"`
	After        json.RawMessage `json:"after,omitempty"`
	// PrevHash is the previous record's Hash ("" for the first); Hash
	// covers this record and PrevHash (AuditHash). Stores set both.
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

package ldapsync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// mapper turns entries into what Gatehouse should hold, by c's mapping.
type mapper struct {
	c Config // resolved
}

// remoteID returns the stable id of e: the canonical GUID string of AD's
// binary objectGUID, else the id attribute's value as it is.
func (m mapper) remoteID(e *ldap.Entry) (string, error) {
	if strings.EqualFold(m.c.IDAttribute, "objectGUID") {
		raw := e.GetEqualFoldRawAttributeValue(m.c.IDAttribute)
		if len(raw) == 0 {
			return "", fmt.Errorf("the entry has no %s", m.c.IDAttribute)
		}
		return FormatGUID(raw)
	}
	v := e.GetEqualFoldAttributeValue(m.c.IDAttribute)
	if v == "" {
		return "", fmt.Errorf("the entry has no %s", m.c.IDAttribute)
	}
	return v, nil
}

// idFilter is a filter assertion selecting the entry with remote id id.
func (m mapper) idFilter(id string) (string, error) {
	if strings.EqualFold(m.c.IDAttribute, "objectGUID") {
		b, err := ParseGUID(id)
		if err != nil {
			return "", err
		}
		return "(" + m.c.IDAttribute + "=" + escapeBytes(b) + ")", nil
	}
	return "(" + m.c.IDAttribute + "=" + ldap.EscapeFilter(id) + ")", nil
}

// first returns the value of field: from the first of its attributes
// that has a non-blank value, the value that names the entry if it is one
// of them (a modrdn that keeps the old RDN leaves the old name first:
// cn: [old, new]), else the first.
func (m mapper) first(e *ldap.Entry, field string) string {
	for _, a := range m.c.Attributes[field] {
		vals := e.GetEqualFoldAttributeValues(a)
		if len(vals) > 1 {
			if n := namingValue(e.DN, a); n != "" {
				for _, v := range vals {
					if v = strings.TrimSpace(v); strings.EqualFold(v, n) {
						return v
					}
				}
			}
		}
		for _, v := range vals {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
}

// namingValue returns the value of attribute attr in dn's RDN ("" when
// the RDN has none, or dn does not parse).
func namingValue(dn, attr string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		return ""
	}
	for _, a := range d.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, attr) {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// managed reports whether the mapping fills field.
func (m mapper) managed(field string) bool { return len(m.c.Attributes[field]) > 0 }

// disabled applies the disabled rule to e.
func (m mapper) disabled(e *ldap.Entry) bool {
	r := m.c.Disabled
	if r == nil || r.Attribute == "" {
		return false
	}
	vals := e.GetEqualFoldAttributeValues(r.Attribute)
	switch {
	case r.Bit != 0:
		for _, v := range vals {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil && n&r.Bit != 0 {
				return true
			}
		}
		return false
	case len(r.Values) > 0:
		for _, v := range vals {
			for _, w := range r.Values {
				if strings.EqualFold(strings.TrimSpace(v), w) {
					return true
				}
			}
		}
		return false
	}
	return len(vals) > 0
}

// userAttrs are the attributes to read for a user.
func (m mapper) userAttrs() []string {
	set := []string{m.c.IDAttribute, m.c.ChangeAttribute}
	for _, f := range []string{FieldUserName, FieldDisplayName, FieldGivenName, FieldFamilyName, FieldEmail, FieldPhone,
		FieldTitle, FieldDepartment, FieldEmployeeNumber, FieldManager} {
		set = append(set, m.c.Attributes[f]...)
	}
	if m.c.Disabled != nil && m.c.Disabled.Attribute != "" {
		set = append(set, m.c.Disabled.Attribute)
	}
	return dedupFold(set)
}

func dedupFold(in []string) []string {
	var out []string
	for _, a := range in {
		if a == "" || slices.ContainsFunc(out, func(b string) bool { return strings.EqualFold(a, b) }) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// wantUser is what Gatehouse should hold for one directory account: the
// mapped fields (empty when the entry has none) and the resolved
// organization and manager.
type wantUser struct {
	ExternalID     string `json:"externalId"`
	UserName       string `json:"userName"`
	DisplayName    string `json:"displayName,omitempty"`
	Active         bool   `json:"active"`
	OrgID          string `json:"org"`
	GivenName      string `json:"givenName,omitempty"`
	FamilyName     string `json:"familyName,omitempty"`
	Email          string `json:"email,omitempty"`
	Phone          string `json:"phone,omitempty"`
	Title          string `json:"title,omitempty"`
	Department     string `json:"department,omitempty"`
	EmployeeNumber string `json:"employeeNumber,omitempty"`
	ManagerID      string `json:"manager,omitempty"`
	// ManagerDN is the manager's normalised DN, resolved into ManagerID.
	ManagerDN string `json:"-"`
}

// user maps e (id is its remote id).
func (m mapper) user(e *ldap.Entry, id string) (*wantUser, error) {
	w := &wantUser{
		ExternalID:     id,
		UserName:       m.first(e, FieldUserName),
		DisplayName:    m.first(e, FieldDisplayName),
		Active:         !m.disabled(e),
		GivenName:      m.first(e, FieldGivenName),
		FamilyName:     m.first(e, FieldFamilyName),
		Email:          m.first(e, FieldEmail),
		Phone:          m.first(e, FieldPhone),
		Title:          m.first(e, FieldTitle),
		Department:     m.first(e, FieldDepartment),
		EmployeeNumber: m.first(e, FieldEmployeeNumber),
	}
	if w.UserName == "" {
		return nil, fmt.Errorf("no user name: the entry has none of %s", strings.Join(m.c.Attributes[FieldUserName], ", "))
	}
	if dn := m.first(e, FieldManager); dn != "" {
		if n, ok := normDN(dn); ok {
			w.ManagerDN = n
		}
	}
	return w, nil
}

// hash fingerprints w: equal hashes, nothing to write.
func (w *wantUser) hash() string {
	b, _ := json.Marshal(w) // strings and a bool: cannot fail
	return digest("user", b)
}

func digest(kind string, b []byte) string {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// apply writes w's managed fields onto u, leaving everything else (the
// password, attributes the mapping does not fill, other extension
// attributes) as it is.
func (m mapper) apply(w *wantUser, u *directory.User) {
	u.UserName = w.UserName
	u.ExternalID = w.ExternalID
	u.Active = w.Active
	u.OrgID = w.OrgID
	if m.managed(FieldDisplayName) {
		u.DisplayName = w.DisplayName
	}
	if u.Attrs == nil {
		u.Attrs = directory.Attrs{}
	}
	a := u.Attrs
	if m.managed(FieldGivenName) || m.managed(FieldFamilyName) {
		name, _ := a["name"].(map[string]any)
		name = cloneMap(name)
		if m.managed(FieldGivenName) {
			setOrDelete(name, "givenName", w.GivenName)
		}
		if m.managed(FieldFamilyName) {
			setOrDelete(name, "familyName", w.FamilyName)
		}
		setMap(a, "name", name)
	}
	if m.managed(FieldEmail) {
		setWork(a, "emails", w.Email)
	}
	if m.managed(FieldPhone) {
		// The region is derived again from the new number.
		delete(a, "phoneRegion")
		setWork(a, "phoneNumbers", w.Phone)
	}
	if m.managed(FieldTitle) {
		setOrDelete(a, "title", w.Title)
	}
	if m.managed(FieldDepartment) || m.managed(FieldEmployeeNumber) || m.managed(FieldManager) {
		ent, _ := a[directory.EnterpriseURN].(map[string]any)
		ent = cloneMap(ent)
		if m.managed(FieldDepartment) {
			setOrDelete(ent, "department", w.Department)
		}
		if m.managed(FieldEmployeeNumber) {
			setOrDelete(ent, "employeeNumber", w.EmployeeNumber)
		}
		if m.managed(FieldManager) {
			if w.ManagerID != "" {
				ent["manager"] = map[string]any{"value": w.ManagerID}
			} else {
				delete(ent, "manager")
			}
		}
		setMap(a, directory.EnterpriseURN, ent)
	}
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func setOrDelete(m map[string]any, k, v string) {
	if v == "" {
		delete(m, k)
	} else {
		m[k] = v
	}
}

func setMap(a directory.Attrs, k string, m map[string]any) {
	if len(m) == 0 {
		delete(a, k)
	} else {
		a[k] = m
	}
}

// setWork sets a multi-valued attribute to its one work value, as IDaaS
// keeps emails and phone numbers.
func setWork(a directory.Attrs, k, v string) {
	if v == "" {
		delete(a, k)
		return
	}
	a[k] = []any{map[string]any{"value": v, "type": "work", "primary": true}}
}

// changedFields names what differs between two states of a user, as the
// plan and the progress report show it.
func changedFields(a, b *directory.User) []string {
	var out []string
	add := func(cond bool, name string) {
		if cond {
			out = append(out, name)
		}
	}
	add(a.UserName != b.UserName, "userName")
	add(a.ExternalID != b.ExternalID, "externalId")
	add(a.DisplayName != b.DisplayName, "displayName")
	add(a.Active != b.Active, "active")
	add(a.OrgID != b.OrgID, "organizationId")
	keys := map[string]bool{}
	for k := range a.Attrs {
		keys[k] = true
	}
	for k := range b.Attrs {
		keys[k] = true
	}
	delete(keys, "phoneRegion") // derived
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if k == directory.EnterpriseURN {
			am, _ := a.Attrs[k].(map[string]any)
			bm, _ := b.Attrs[k].(map[string]any)
			sub := map[string]bool{}
			for s := range am {
				sub[s] = true
			}
			for s := range bm {
				sub[s] = true
			}
			for _, s := range slices.Sorted(maps.Keys(sub)) {
				add(!sameJSON(am[s], bm[s]), s)
			}
			continue
		}
		add(!sameJSON(a.Attrs[k], b.Attrs[k]), k)
	}
	return out
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// wantGroup is what Gatehouse should hold for one directory group.
type wantGroup struct {
	ExternalID  string   `json:"externalId"`
	DisplayName string   `json:"displayName"`
	OrgID       string   `json:"org"`
	Members     []string `json:"members"` // Gatehouse user ids, sorted
}

func (w *wantGroup) hash() string {
	b, _ := json.Marshal(w)
	return digest("group", b)
}

// wantOrg is what Gatehouse should hold for one organizational unit.
type wantOrg struct {
	ExternalID string `json:"externalId"`
	Name       string `json:"name"`
	ParentID   string `json:"parent"`
}

func (w *wantOrg) hash() string {
	b, _ := json.Marshal(w)
	return digest("org", b)
}

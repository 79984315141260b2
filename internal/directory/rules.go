package directory

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SyncScope is the part of the directory an application may see and change
// — IDaaS's provisioning scope: the users and groups of the organizations
// Orgs names and of all their sub-organizations, the groups Groups names, and
// those groups' members. Outside it, resources do not exist for the
// application. The zero SyncScope is everything.
type SyncScope struct {
	OrgIDs   []string `json:"organizations,omitempty"`
	GroupIDs []string `json:"groups,omitempty"`
}

// All reports whether the scope is the whole directory.
func (s SyncScope) All() bool {
	return len(s.GroupIDs) == 0 && (len(s.OrgIDs) == 0 || slices.Contains(s.OrgIDs, RootOrgID))
}

// restriction returns s as a query restriction: nil for the whole directory.
func (s SyncScope) restriction() *SyncScope {
	if s.All() {
		return nil
	}
	return &s
}

// Profile is the behaviour a client gets. IDaaS's is the default; a strict
// RFC 7644 client can switch both switches off.
type Profile struct {
	// IDaaSFields applies IDaaS's field table: at most one email and one
	// phone number, each of type "work", and phoneRegion.
	IDaaSFields bool
	// Idempotent treats a POST of an account that already exists (same
	// externalId, else same userName) as an update of it, as IDaaS does,
	// instead of answering 409.
	Idempotent bool
	// TargetOrgID is the organization accounts without an organizationId are
	// placed in: the client's synchronization target.
	TargetOrgID string
	// Scope is what the client may see and change.
	Scope SyncScope
	// Domain is the client's provisioning domain (RFC 7643 §3.1): the
	// namespace of the externalIds it reads, writes, filters and sorts on,
	// and that idempotent creates match. An application's domain is its
	// id, a connector's its scope (Actor.Domain); each sees only its own
	// values. With no domain, users and groups show no externalId and
	// setting one is refused.
	Domain string
}

// IDaaSProfile is the default profile.
func IDaaSProfile() Profile {
	return Profile{IDaaSFields: true, Idempotent: true, TargetOrgID: RootOrgID}
}

// Length limits on identifiers and names.
const (
	MaxNameLen  = 256 // userName, displayName, group displayName, org name
	MaxIDLen    = 256 // externalId
	MaxEmailLen = 320
)

func checkText(field, v string, max int, required bool) error {
	if v == "" {
		if required {
			return Errorf(ErrInvalid, field, "%s is required", field)
		}
		return nil
	}
	if !utf8.ValidString(v) {
		return Errorf(ErrInvalid, field, "%s is not valid UTF-8", field)
	}
	if utf8.RuneCountInString(v) > max {
		return Errorf(ErrInvalid, field, "%s is longer than %d characters", field, max)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return Errorf(ErrInvalid, field, "%s contains a control character", field)
		}
	}
	if strings.TrimSpace(v) == "" {
		return Errorf(ErrInvalid, field, "%s is blank", field)
	}
	return nil
}

// Names that identify — a user's userName, a group's displayName — must
// not pass for others: one that differs from another only by characters
// nobody sees, or by how a character is composed, would be a look-alike
// account ("ada" and "ada" followed by U+200B are two accounts). A new
// name therefore must not hold (besides what checkText refuses):
//
//   - format and other default-ignorable characters (Unicode category Cf
//     and Default_Ignorable_Code_Point: zero-width space, joiners, word
//     joiner, BOM, soft hyphen, bidirectional embeddings, overrides,
//     isolates and marks, variation selectors, Hangul fillers, tags), nor
//     noncharacters or private-use characters — RFC 8264 disallows all of
//     them in every PRECIS string class;
//   - white space at either end, nor, in a userName, white space other
//     than U+0020 (no-break, ideographic, line separator…);
//
// and it must be in Unicode Normalization Form C, as RFC 8265 requires of
// user names ("é" as U+00E9, not "e" followed by U+0301). Gatehouse
// refuses such a name rather than altering it. It does not apply the rest
// of RFC 8265 (case mapping: names keep their case and are compared
// case-insensitively; width mapping and the IdentifierClass, which would
// refuse spaces and non-ASCII punctuation that directories do hold), nor
// does it catch look-alikes across scripts (Latin "a", Cyrillic "а").
//
// The rules apply to names being given: a name stored before they existed
// keeps working until it is changed.

// checkNewName applies the look-alike rules to next, a name replacing cur
// ("" when there was none).
func checkNewName(field, cur, next string, innerSpaces bool) error {
	if next == cur {
		return nil
	}
	if next != strings.TrimSpace(next) {
		return Errorf(ErrInvalid, field, "%s begins or ends with white space", field)
	}
	for _, r := range next {
		switch {
		case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r):
			return Errorf(ErrInvalid, field, "%s contains the invisible character U+%04X (zero-width, joiner, bidirectional or other formatting characters are not allowed)", field, r)
		case unicode.Is(unicode.Noncharacter_Code_Point, r) || unicode.Is(unicode.Co, r):
			return Errorf(ErrInvalid, field, "%s contains U+%04X, a private-use character or noncharacter", field, r)
		case !innerSpaces && r != ' ' && unicode.IsSpace(r):
			return Errorf(ErrInvalid, field, "%s contains the white space U+%04X: only U+0020 is allowed", field, r)
		}
	}
	if !norm.NFC.IsNormalString(next) {
		return Errorf(ErrInvalid, field, "%s is not in Unicode Normalization Form C (NFC): compose its characters (\"é\" as U+00E9, not \"e\" and U+0301)", field)
	}
	return nil
}

// checkExternalID checks a user's or group's externalId: a value in p's
// provisioning domain, which it must have.
func checkExternalID(v string, p Profile) error {
	if err := checkText("externalId", v, MaxIDLen, false); err != nil {
		return err
	}
	if v != "" && p.Domain == "" {
		return Errorf(ErrInvalid, "externalId", "externalId is an application's or connector's identifier for the resource; this change is made by neither, so it cannot set one")
	}
	return nil
}

// checkUserName applies the look-alike rules to a user's new userName.
func checkUserName(cur *User, next *User) error {
	old := ""
	if cur != nil {
		old = cur.UserName
	}
	return checkNewName("userName", old, next.UserName, false)
}

// checkGroupName applies the look-alike rules to a group's new
// displayName. Group names may hold other white space inside (an
// ideographic space between two Chinese words).
func checkGroupName(cur *Group, next *Group) error {
	old := ""
	if cur != nil {
		old = cur.DisplayName
	}
	return checkNewName("displayName", old, next.DisplayName, true)
}

// checkUser applies the field rules to u, filling in what the rules derive
// (the "work" type IDaaS implies, phoneRegion). It does not touch the store.
func checkUser(u *User, p Profile) error {
	if err := checkText("userName", u.UserName, MaxNameLen, true); err != nil {
		return err
	}
	if err := checkExternalID(u.ExternalID, p); err != nil {
		return err
	}
	if err := checkText("displayName", u.DisplayName, MaxNameLen, false); err != nil {
		return err
	}
	if strings.Contains(u.ExternalID, "bulkId:") || strings.Contains(u.UserName, "bulkId:") {
		return Errorf(ErrInvalid, "externalId", "an unresolved bulkId reference cannot be stored")
	}
	if u.Attrs == nil {
		u.Attrs = Attrs{}
	}
	if err := checkEmails(u, p); err != nil {
		return err
	}
	if err := checkPhones(u, p); err != nil {
		return err
	}
	for _, name := range []string{"emails", "phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509Certificates"} {
		if err := checkPrimary(u.Attrs, name); err != nil {
			return err
		}
	}
	return nil
}

func checkEmails(u *User, p Profile) error {
	els := elements(u.Attrs, "emails")
	if len(els) == 0 {
		delete(u.Attrs, "emails")
		return nil
	}
	if p.IDaaSFields && len(els) > 1 {
		return Errorf(ErrInvalid, "emails", "only one email can be stored, of type \"work\" (got %d)", len(els))
	}
	for _, el := range els {
		v, _ := el["value"].(string)
		if v == "" {
			return Errorf(ErrInvalid, "emails", "emails.value is required")
		}
		if len(v) > MaxEmailLen {
			return Errorf(ErrInvalid, "emails", "email address is longer than %d characters", MaxEmailLen)
		}
		addr, err := mail.ParseAddress(v)
		if err != nil || addr.Address != v || addr.Name != "" {
			return Errorf(ErrInvalid, "emails", "%q is not an email address", v)
		}
		if p.IDaaSFields {
			if err := requireWork(el, "emails"); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkPhones(u *User, p Profile) error {
	els := elements(u.Attrs, "phoneNumbers")
	region, _ := u.Attrs["phoneRegion"].(string)
	if len(els) == 0 {
		delete(u.Attrs, "phoneNumbers")
		if p.IDaaSFields && region != "" {
			if _, err := ParsePhone("0000", region); err != nil {
				return Errorf(ErrInvalid, "phoneRegion", "%s", err.Error())
			}
		}
		return nil
	}
	if p.IDaaSFields && len(els) > 1 {
		return Errorf(ErrInvalid, "phoneNumbers", "only one phone number can be stored, of type \"work\" (got %d)", len(els))
	}
	for _, el := range els {
		v, _ := el["value"].(string)
		if v == "" {
			return Errorf(ErrInvalid, "phoneNumbers", "phoneNumbers.value is required")
		}
		if !p.IDaaSFields {
			if err := checkText("phoneNumbers.value", v, 64, true); err != nil {
				return err
			}
			continue
		}
		if err := requireWork(el, "phoneNumbers"); err != nil {
			return err
		}
		ph, err := ParsePhone(v, region)
		if err != nil {
			return Errorf(ErrInvalid, "phoneNumbers", "%s", err.Error())
		}
		u.Attrs["phoneRegion"] = ph.Region
	}
	return nil
}

// requireWork enforces IDaaS's "its type must be work", filling it in when
// the client sent no type.
func requireWork(el map[string]any, attr string) error {
	t, _ := el["type"].(string)
	switch {
	case t == "":
		el["type"] = "work"
	case strings.EqualFold(t, "work"):
		el["type"] = "work"
	default:
		return Errorf(ErrInvalid, attr, "%s must be of type \"work\" (got %q)", attr, t)
	}
	return nil
}

func checkPrimary(a Attrs, name string) error {
	n := 0
	for _, el := range elements(a, name) {
		if p, _ := el["primary"].(bool); p {
			n++
		}
	}
	if n > 1 {
		return Errorf(ErrInvalid, name, "at most one of %s may be primary", name)
	}
	return nil
}

func checkGroup(g *Group, p Profile) error {
	if err := checkText("displayName", g.DisplayName, MaxNameLen, true); err != nil {
		return err
	}
	if err := checkExternalID(g.ExternalID, p); err != nil {
		return err
	}
	seen := make(map[string]bool, len(g.Members))
	out := g.Members[:0]
	for _, m := range g.Members {
		if m.ID == "" {
			return Errorf(ErrInvalid, "members", "members.value is required")
		}
		if strings.HasPrefix(m.ID, "bulkId:") {
			return Errorf(ErrInvalid, "members", "unresolved bulkId reference %q", m.ID)
		}
		if !seen[m.ID] {
			seen[m.ID] = true
			out = append(out, m)
		}
	}
	g.Members = out
	return nil
}

func checkOrg(o *Organization) error {
	if err := checkText("name", o.Name, MaxNameLen, true); err != nil {
		return err
	}
	return checkText("externalId", o.ExternalID, MaxIDLen, false)
}

// errPassword wraps a password policy failure.
func errPassword(err error) error {
	return &Error{Kind: ErrInvalid, Field: "password", Msg: fmt.Sprintf("password does not meet the password policy: %s", err.Error())}
}

package directory

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"reflect"
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
	// DropExtraValues, with IDaaSFields, keeps one email and one phone
	// number of several instead of refusing the change: the first of type
	// "work", else the first without a type, else the primary one, else
	// the first, stored as "work"; the others are dropped unchecked, and
	// the user notes which (User.Dropped, User.Retyped) for the audit
	// record. For IdPs whose default mappings send mobile and fax numbers
	// (Entra ID, Okta).
	DropExtraValues bool
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
//     noncharacters, private-use characters or code points this build's
//     Unicode (unicode.Version) does not assign — RFC 8264 disallows all of
//     them in every PRECIS string class; an unassigned one may gain a
//     lower case in a later Unicode, and a stored userName's lower-cased
//     key would then no longer be what Gatehouse computes;
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
// A new userName, which is unique ignoring case, must moreover not hold a
// letter that Unicode case folding equates with letters it does not
// lower-case to (foldsApart): uniqueness compares names lower-cased
// (strings.ToLower, the stores' user_name_lower), and "ſam" (U+017F, long
// s) lower-cases to itself though it is "sam" ignoring case. Such letters
// are few — long s, final sigma, the micro sign, the Greek symbol forms
// (ϐ ϑ ϕ ϖ ϰ ϱ ϵ), the combining and spacing iota subscripts, the Cyrillic
// and Latin historic variants (ᲀ–ᲈ, ẛ) — and each has a plain form to
// write instead.
//
// The rules apply to names being given: a name stored before they existed
// keeps working until it is changed.

// Invisible reports whether r is a character nobody sees: a format
// character (Unicode category Cf: zero-width space, joiners, word joiner,
// BOM, soft hyphen, bidirectional controls, tags) or another
// default-ignorable code point (Other_Default_Ignorable_Code_Point and
// variation selectors: the combining grapheme joiner U+034F, the Hangul
// fillers U+115F, U+1160, U+3164, U+FFA0, the Khmer inherent vowels U+17B4
// and U+17B5, U+FE00–U+FE0F, U+E0100–U+E01EF…). It is the one test of the
// hub for such characters: names here, and the identifying attributes of
// received events (internal/events).
func Invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r)
}

// assigned reports whether Unicode (this build's tables) assigns r: a
// code point in none of the general categories but Cn is unassigned. (Go's
// unicode.C, "Other", holds Cn too, hence its four assigned parts.)
func assigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// CheckName applies the look-alike rules to the new name of an
// organization or application (next, replacing cur; "" when there was
// none). White space other than U+0020 may appear inside, as in group
// names.
func CheckName(field, cur, next string) error { return checkNewName(field, cur, next, true) }

// foldsApart reports whether r lower-cases to another rune than the
// upper-case letters Unicode simple case folding equates it with do (U+017F
// "ſ" lower-cases to itself, "S" to "s"), and returns what they
// lower-case to.
func foldsApart(r rune) (rune, bool) {
	if r < 0x80 {
		return 0, false
	}
	lr := unicode.ToLower(r)
	for c := unicode.SimpleFold(r); c != r; c = unicode.SimpleFold(c) {
		if unicode.IsUpper(c) && unicode.ToLower(c) != lr {
			return unicode.ToLower(c), true
		}
	}
	return 0, false
}

// checkNewName applies the look-alike rules to next, a name replacing cur
// ("" when there was none).
func checkNewName(field, cur, next string, innerSpaces bool) error {
	if next == cur {
		return nil
	}
	if !utf8.ValidString(next) {
		// Ranging over it would see U+FFFD, which passes every rule below.
		return Errorf(ErrInvalid, field, "%s is not valid UTF-8", field)
	}
	if next != strings.TrimSpace(next) {
		return Errorf(ErrInvalid, field, "%s begins or ends with white space", field)
	}
	for _, r := range next {
		switch {
		case Invisible(r):
			return Errorf(ErrInvalid, field, "%s contains the invisible character U+%04X (zero-width, joiner, bidirectional or other formatting characters are not allowed)", field, r)
		case unicode.Is(unicode.Noncharacter_Code_Point, r) || unicode.Is(unicode.Co, r):
			return Errorf(ErrInvalid, field, "%s contains U+%04X, a private-use character or noncharacter", field, r)
		case !assigned(r):
			return Errorf(ErrInvalid, field, "%s contains U+%04X, a code point Unicode %s does not assign", field, r, unicode.Version)
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
	if err := checkNewName("userName", old, next.UserName, false); err != nil {
		return err
	}
	if next.UserName == old {
		return nil
	}
	for _, r := range next.UserName {
		if plain, ok := foldsApart(r); ok {
			return Errorf(ErrInvalid, "userName", "userName contains %q (U+%04X), which is %q ignoring case but does not lower-case to it: "+
				"userNames are compared ignoring case, so write %q instead", r, r, plain, plain)
		}
	}
	return nil
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

// CheckUser applies to next, the account cur becomes (nil for a new
// one), the rules of a user's values that need no database: those
// CreateUser and the updates refuse a change by before they look at the
// store (lengths, externalId, emails and phone numbers, the look-alike
// rules of userName). It changes neither argument. A dry run uses it to
// report what the run would refuse (ldapsync); uniqueness, the
// organization and the manager, which need the store, are not checked.
func CheckUser(p Profile, cur, next *User) error {
	u := next.Clone()
	if err := checkUserChange(cur, u, p); err != nil {
		return err
	}
	return checkUserName(cur, u)
}

// CheckGroup is CheckUser for a group: its name, externalId and members'
// references, not whether the members exist.
func CheckGroup(p Profile, cur, next *Group) error {
	g := next.Clone()
	if err := checkGroup(g, p); err != nil {
		return err
	}
	return checkGroupName(cur, g)
}

// checkUser applies the field rules to u, filling in what the rules derive
// (the "work" type IDaaS implies, phoneRegion). It does not touch the store.
func checkUser(u *User, p Profile) error { return checkUserChange(nil, u, p) }

// checkUserChange is checkUser for u replacing cur (nil for a new
// account): a value cur already holds unchanged passes, though the rules
// — or p's, stricter than those of the client that stored it — would
// refuse it new. So a change of other fields is never refused for a value
// it does not touch: disabling a departed account that another client gave
// a second phone number, say, which an IDaaS-profile connector may not
// store (TestDisableKeepsHeldValues).
func checkUserChange(cur, u *User, p Profile) error {
	held := func(name string) bool {
		if cur == nil {
			return false
		}
		var a, b any
		if cur.Attrs != nil {
			a = cur.Attrs[name]
		}
		if u.Attrs != nil {
			b = u.Attrs[name]
		}
		return sameJSON(a, b)
	}
	if cur == nil || u.UserName != cur.UserName {
		if err := checkText("userName", u.UserName, MaxNameLen, true); err != nil {
			return err
		}
		if strings.Contains(u.UserName, "bulkId:") {
			return Errorf(ErrInvalid, "userName", "userName holds an unresolved bulkId reference, which cannot be stored")
		}
	}
	if cur == nil || u.ExternalID != cur.ExternalID {
		if err := checkExternalID(u.ExternalID, p); err != nil {
			return err
		}
		if strings.Contains(u.ExternalID, "bulkId:") {
			return Errorf(ErrInvalid, "externalId", "externalId holds an unresolved bulkId reference, which cannot be stored")
		}
	}
	if cur == nil || u.DisplayName != cur.DisplayName {
		if err := checkText("displayName", u.DisplayName, MaxNameLen, false); err != nil {
			return err
		}
	}
	if u.Attrs == nil {
		u.Attrs = Attrs{}
	}
	u.Dropped, u.Retyped = nil, nil
	if !held("emails") {
		if err := checkEmails(u, p); err != nil {
			return err
		}
	}
	if !held("phoneNumbers") || !held("phoneRegion") {
		if err := checkPhones(u, p); err != nil {
			return err
		}
	}
	for _, name := range []string{"emails", "phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509Certificates"} {
		if held(name) {
			continue
		}
		if err := checkPrimary(u.Attrs, name); err != nil {
			return err
		}
	}
	return nil
}

// sameJSON reports whether a and b encode to the same JSON (so that
// float64(1) and json.Number("1") agree); values that do not encode are
// compared as they are.
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(a, b)
	}
	return string(ja) == string(jb)
}

func checkEmails(u *User, p Profile) error {
	els := elements(u.Attrs, "emails")
	if len(els) == 0 {
		delete(u.Attrs, "emails")
		return nil
	}
	if p.IDaaSFields {
		var err error
		if els, err = oneValue(u, p, "emails", "email", els); err != nil {
			return err
		}
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
	if p.IDaaSFields {
		var err error
		if els, err = oneValue(u, p, "phoneNumbers", "phone number", els); err != nil {
			return err
		}
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
	if !isWork(t) {
		return Errorf(ErrInvalid, attr, "%s must be of type \"work\" (got %q). In the identity provider's attribute mappings for "+
			"this application, map this value to %s instead of %s; or set the application's extra-values option to drop, "+
			"which stores it as the work value", attr, t, mappingName(attr, "work"), mappingName(attr, t))
	}
	el["type"] = "work"
	return nil
}

// isWork reports whether a value's type is IDaaS's one type: "work", in
// any case, or none (which IDaaS reads as "work").
func isWork(typ string) bool { return typ == "" || strings.EqualFold(typ, "work") }

// ValueNote names a value of a multi-valued attribute that the
// DropExtraValues option dropped, or kept under another type: by its
// position among the values of the change (the request's, after a PATCH's
// operations) and the type it had — never by the value itself, which
// Gatehouse did not keep and the audit log therefore does not hold.
type ValueNote struct {
	Attribute string `json:"attribute"`
	Index     int    `json:"index"`
	Type      string `json:"type,omitempty"`
}

// oneValue applies IDaaS's "one value" rule to a user's emails or phone
// numbers (attr; what names one value in messages): with several, it
// refuses the change, or — under DropExtraValues — keeps the value
// keptValue picks as the one "work" value and notes what it did on u. It
// returns the values left.
func oneValue(u *User, p Profile, attr, what string, els []map[string]any) ([]map[string]any, error) {
	keep := keptValue(els)
	if !p.DropExtraValues {
		if len(els) > 1 {
			return nil, Errorf(ErrInvalid, attr, "only one %s can be stored, of type \"work\" (got %d, of types %s). %s", what, len(els),
				typeList(els), extraValuesHint(attr, els, keep))
		}
		return els, nil
	}
	for i, el := range els {
		t, _ := el["type"].(string)
		switch {
		case i != keep:
			u.Dropped = append(u.Dropped, ValueNote{Attribute: attr, Index: i, Type: t})
		case !isWork(t):
			u.Retyped = append(u.Retyped, ValueNote{Attribute: attr, Index: i, Type: t})
			el["type"] = "work"
		}
	}
	if len(els) > 1 {
		u.Attrs[attr] = []any{els[keep]}
	}
	return els[keep : keep+1], nil
}

// keptValue is the index of the value IDaaS's one value would be: the
// first of type "work", else the first without a type, else the first
// primary one, else the first.
func keptValue(els []map[string]any) int {
	for _, ok := range []func(map[string]any) bool{
		func(el map[string]any) bool { t, _ := el["type"].(string); return strings.EqualFold(t, "work") },
		func(el map[string]any) bool { t, _ := el["type"].(string); return t == "" },
		func(el map[string]any) bool { p, _ := el["primary"].(bool); return p },
	} {
		if i := slices.IndexFunc(els, ok); i >= 0 {
			return i
		}
	}
	return 0
}

// mappingName is how IdPs name the attribute mapping that sends values of
// type typ: Entra ID's target attribute (Okta writes the same filter as
// phoneNumbers^[type=='mobile'].value).
func mappingName(attr, typ string) string {
	return fmt.Sprintf("%s[type eq %q].value", attr, typ)
}

// maxNamed bounds how many types a message names: a request may carry
// thousands of values.
const maxNamed = 8

func typeList(els []map[string]any) string {
	var ts []string
	for _, el := range els[:min(len(els), maxNamed)] {
		t, _ := el["type"].(string)
		ts = append(ts, fmt.Sprintf("%q", t))
	}
	if len(els) > maxNamed {
		ts = append(ts, "…")
	}
	return strings.Join(ts, ", ")
}

// extraValuesHint tells what to change in the IdP so that one value, of
// type "work", remains — or which application option drops the others.
func extraValuesHint(attr string, els []map[string]any, keep int) string {
	kt, _ := els[keep]["type"].(string)
	if strings.EqualFold(kt, "work") {
		kt = "work"
	}
	var todo, remove []string
	typeless := false // a value without a type is to go
	if !isWork(kt) {
		todo = append(todo, "map the value to keep to "+mappingName(attr, "work")+" instead of "+mappingName(attr, kt))
	}
	same := false
	for i, el := range els {
		t, _ := el["type"].(string)
		switch {
		case i == keep:
		case strings.EqualFold(t, kt):
			same = true
		case t == "":
			typeless = true
		case len(remove) == maxNamed:
			remove[maxNamed-1] = "the other types' mappings"
		case !slices.Contains(remove, mappingName(attr, t)):
			remove = append(remove, mappingName(attr, t))
		}
	}
	switch {
	case same && kt == "":
		todo = append(todo, "send only one "+attr+" value without a type")
	case same:
		todo = append(todo, "map only one value to "+mappingName(attr, kt))
	}
	switch len(remove) {
	case 0:
	case 1:
		todo = append(todo, "remove the mapping to "+remove[0])
	default:
		todo = append(todo, "remove the mappings to "+strings.Join(remove[:len(remove)-1], ", ")+" and "+remove[len(remove)-1])
	}
	if typeless {
		todo = append(todo, "remove the mapping that sends "+attr+" without a type")
	}
	return "In the identity provider's attribute mappings for this application, keep only " + mappingName(attr, "work") + ": " +
		strings.Join(todo, ", and ") + "; or set the application's extra-values option to drop, which keeps one value and drops the others"
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

// CheckOrg is CheckUser for an organization: its name and externalId.
func CheckOrg(cur, next *Organization) error { return checkOrg(cur, next) }

// checkOrg checks o, replacing cur (nil for a new organization). It does
// not change either.
func checkOrg(cur, o *Organization) error {
	if err := checkText("name", o.Name, MaxNameLen, true); err != nil {
		return err
	}
	old := ""
	if cur != nil {
		old = cur.Name
	}
	if err := CheckName("name", old, o.Name); err != nil {
		return err
	}
	return checkText("externalId", o.ExternalID, MaxIDLen, false)
}

// errPassword wraps a password policy failure.
func errPassword(err error) error {
	return &Error{Kind: ErrInvalid, Field: "password", Msg: fmt.Sprintf("password does not meet the password policy: %s", err.Error())}
}

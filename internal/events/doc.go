package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mozillazg/go-pinyin"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Builder turns outbox records into the documents rules see:
//
//	{"specversion": "1.0", "id": …, "source": …, "type": "User.Created",
//	 "subject": "users/<id>", "time": …, "datacontenttype": "application/json",
//	 "detail-type": "User.Created", "detail": {…}}
//
// The CloudEvents attributes, plus EventBridge's "detail-type" and "detail".
// A user's detail holds the SCIM resource ("user") and flat fields for
// rules and templates: id, externalId (the one the application or
// connector that made the change knows the user by), userName, displayName, active,
// email, department, dept (the department as a lower-case slug,
// "Tour Operations" → "tour-operations"), title, employeeNumber,
// organization (the name), organizationId, groups (display names), locale,
// preferredLanguage, firstActivation (true on the event that makes the
// account active for the first time: its User.Created, or the User.Enabled
// of an account created disabled); an update adds "changed" and
// "previous" (the flat fields before). Group events carry the group's fields and, for
// membership events, "member" (the user's flat fields).
type Builder struct {
	Source  string // the CloudEvents source of Gatehouse's own events
	BaseURL string // of the SCIM endpoint, for resources' meta.location
	Schemas *schema.Registry
	Dir     directory.Store
}

// Document is the rule-facing form of an event.
type Document struct {
	SpecVersion     string         `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	Subject         string         `json:"subject,omitempty"`
	Time            time.Time      `json:"time"`
	DataContentType string         `json:"datacontenttype"`
	DetailType      string         `json:"detail-type"`
	Detail          map[string]any `json:"detail"`
}

// orgNames caches the organization tree for one batch: names and parents
// by id.
type orgNames struct{ names, parents map[string]string }

// batch is what the documents of a batch of events share: the organization
// tree and, when read ahead (withGroups), the current groups of the batch's
// users, read in one query rather than one read of each user.
type batch struct {
	orgs   orgNames
	groups map[string][]directory.GroupRef // by user id, for the ids in read
	read   map[string]bool                 // users whose groups were read ahead; others are read each
}

// withGroups reads the current groups of the users that recs are about.
func (b *Builder) withGroups(ctx context.Context, bt batch, recs []*directory.EventRecord) (batch, error) {
	var ids []string
	read := map[string]bool{}
	for _, rec := range recs {
		// An id that is not valid UTF-8 (Gatehouse makes none) would not
		// survive the query's encoding: such a user is read on its own.
		if rec.Source == "" && rec.ResourceType == "User" && rec.ResourceID != "" && utf8.ValidString(rec.ResourceID) {
			ids = append(ids, rec.ResourceID)
			read[rec.ResourceID] = true
		}
	}
	if len(ids) == 0 {
		return bt, nil
	}
	groups, err := b.Dir.UsersGroups(ctx, ids)
	if err != nil {
		return bt, err
	}
	bt.groups, bt.read = groups, read
	return bt, nil
}

func (b *Builder) orgs(ctx context.Context) (orgNames, error) {
	orgs, err := b.Dir.Orgs(ctx)
	if err != nil {
		return orgNames{}, err
	}
	m := orgNames{names: make(map[string]string, len(orgs)), parents: make(map[string]string, len(orgs))}
	for _, o := range orgs {
		m.names[o.ID], m.parents[o.ID] = o.Name, o.ParentID
	}
	return m, nil
}

// name is an organization's name ("" if unknown).
func (o orgNames) name(id string) string { return o.names[id] }

// path lists the ids and the names of the organizations from the root down
// to id, so that a pattern can match an organization's whole subtree.
func (o orgNames) path(id string) (ids, names []string) {
	for cur, n := id, 0; cur != "" && n < 64; cur, n = o.parents[cur], n+1 {
		ids = append(ids, cur)
		names = append(names, o.names[cur])
	}
	slices.Reverse(ids)
	slices.Reverse(names)
	return ids, names
}

// readError says that a document could not be built because the
// directory could not be read: the database's failure, not the record's,
// which another attempt may get past.
type readError struct{ Err error }

func (e readError) Error() string { return "read the directory: " + e.Err.Error() }
func (e readError) Unwrap() error { return e.Err }

// Build returns the document of rec. Received events keep the document
// they came with, marked as received (ReceivedField) by the application
// that posted them.
func (b *Builder) Build(ctx context.Context, rec *directory.EventRecord, bt batch) (json.RawMessage, error) {
	orgs := bt.orgs
	if rec.Source != "" {
		return receivedDocument(rec)
	}
	var data directory.EventData
	if err := json.Unmarshal(rec.Data, &data); err != nil {
		return nil, fmt.Errorf("event %s: %w", rec.ID, err)
	}
	detail := map[string]any{}
	var err error
	switch rec.ResourceType {
	case "User":
		if detail, err = b.userDetail(ctx, rec, &data, bt); err == nil {
			detail["firstActivation"] = data.FirstActivation
			if len(data.Login) > 0 {
				var login any
				if err = json.Unmarshal(data.Login, &login); err == nil {
					detail["login"] = login
				}
			}
		}
	case "Group":
		detail, err = b.groupDetail(ctx, rec, &data, orgs)
	case "Organization":
		detail, err = orgDetail(&data, orgs)
	case "Document":
		// Documentation search's events (search.DocumentEvent): what was
		// indexed, never its text.
		detail = map[string]any{}
		err = json.Unmarshal(rec.Data, &detail)
	default:
		err = fmt.Errorf("unknown resource type %q", rec.ResourceType)
	}
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", rec.ID, err)
	}
	if len(data.Changed) > 0 {
		detail["changed"] = data.Changed
	}
	doc := Document{
		SpecVersion: "1.0", ID: rec.ID, Source: b.Source, Type: rec.Type, Subject: rec.Subject, Time: rec.Time.UTC(),
		DataContentType: "application/json", DetailType: rec.Type, Detail: detail,
	}
	return json.Marshal(doc)
}

func snapshotUser(raw json.RawMessage) (*directory.User, error) {
	if raw == nil {
		return nil, nil
	}
	var s directory.UserSnapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return &directory.User{ID: s.ID, UserName: s.UserName, ExternalID: s.ExternalID, DisplayName: s.DisplayName, Active: s.Active,
		OrgID: s.OrgID, Attrs: s.Attrs, Version: s.Version, Created: s.Created, Modified: s.Modified}, nil
}

func (b *Builder) userDetail(ctx context.Context, rec *directory.EventRecord, data *directory.EventData, bt batch) (map[string]any, error) {
	orgs := bt.orgs
	before, err := snapshotUser(data.Before)
	if err != nil {
		return nil, err
	}
	after, err := snapshotUser(data.After)
	if err != nil {
		return nil, err
	}
	u := after
	if u == nil {
		u = before
	}
	if u == nil {
		return nil, errors.New("user event without a user")
	}
	if after != nil {
		// The user's groups now (the outbox records the user, not its
		// memberships); a deleted user has none.
		if bt.read[u.ID] && u.ID == rec.ResourceID {
			u.Groups = bt.groups[u.ID] // read ahead for the batch
		} else {
			cur, err := b.Dir.User(ctx, u.ID, directory.ReadOptions{Groups: true})
			switch {
			case err == nil:
				u.Groups = cur.Groups
			case !errors.Is(err, directory.ErrNotFound):
				return nil, readError{err}
			}
		}
	}
	d := flatUser(u, orgs)
	d["user"] = scim.UserResource(u, b.BaseURL, b.Schemas)
	if before != nil && after != nil {
		prev := flatUser(before, orgs)
		delete(prev, "groups")
		d["previous"] = prev
	}
	return d, nil
}

// FlatUser returns the flat fields of a user's detail.
func flatUser(u *directory.User, orgs orgNames) map[string]any {
	groups, groupIDs := make([]string, 0, len(u.Groups)), make([]string, 0, len(u.Groups))
	for _, g := range u.Groups {
		groups, groupIDs = append(groups, g.DisplayName), append(groupIDs, g.ID)
	}
	d := map[string]any{
		"id": u.ID, "userName": u.UserName, "active": u.Active, "organizationId": u.OrgID,
		"organization": orgs.name(u.OrgID), "groups": groups, "groupIds": groupIDs,
	}
	set := func(k string, v any) {
		if s, ok := v.(string); ok && s != "" {
			d[k] = s
		}
	}
	set("externalId", u.ExternalID)
	set("displayName", u.DisplayName)
	set("email", primaryEmail(u.Attrs["emails"]))
	set("locale", u.Attrs["locale"])
	set("preferredLanguage", u.Attrs["preferredLanguage"])
	set("title", u.Attrs["title"])
	if name, ok := u.Attrs["name"].(map[string]any); ok {
		set("givenName", name["givenName"])
		set("familyName", name["familyName"])
	}
	if ent, ok := u.Attrs[schema.EnterpriseURN].(map[string]any); ok {
		set("department", ent["department"])
		set("employeeNumber", ent["employeeNumber"])
		if dep, ok := ent["department"].(string); ok && dep != "" {
			d["dept"] = Slug(dep)
		}
	}
	if a := Account(u.UserName); a != "" {
		d["account"] = a
	}
	d["orgPath"], d["orgPathNames"] = orgs.path(u.OrgID)
	return d
}

// Account is a user name as a cloud account name, what a RAM user name may
// hold (1 to 64 letters, digits, '.', '-' and '_'): the part before "@",
// lower-cased, with
//
//   - Latin letters without their accents ("José" → "jose", "Łukasz" →
//     "lukasz", "Straße" → "strasse");
//   - Chinese characters in pinyin without tones, each in its most common
//     reading ("张伟" → "zhangwei", "李娜" → "lina"; a polyphonic character
//     may be read otherwise than in the person's name);
//   - other characters but '.', '-' and '_' (spaces, '+', apostrophes…)
//     as '-';
//
// and at most 64 characters ("Ada.Lovelace@example.com" → "ada.lovelace").
// A name with letters of another script (Cyrillic, Hangul, kana, Arabic…)
// has no account name: Account returns "", rather than a name that says
// nothing of the person (every such name would become "--…"). Different
// user names can give one account name ("Ada.Lovelace@a.example" and
// "ada.lovelace@b.example", two people called 张伟): whoever uses it must
// check for collisions (the push does).
func Account(userName string) string {
	local, _, _ := strings.Cut(userName, "@")
	var b strings.Builder
	add := func(s string) bool {
		if b.Len()+len(s) > 64 {
			b.WriteString(s[:64-b.Len()])
			return false
		}
		b.WriteString(s)
		return true
	}
	args := pinyin.NewArgs() // Normal style: no tones
	for _, r := range norm.NFKD.String(strings.ToLower(local)) {
		var s string
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			s = string(r)
		case unicode.Is(unicode.Mn, r):
			continue // an accent, decomposed from its letter
		case latinLetters[r] != "":
			s = latinLetters[r]
		case unicode.Is(unicode.Han, r):
			p := pinyin.SinglePinyin(r, args)
			if len(p) == 0 || p[0] == "" {
				return ""
			}
			s = p[0]
		case unicode.IsLetter(r):
			return "" // a script that is not transliterated
		default:
			s = "-"
		}
		if !add(s) {
			break
		}
	}
	return b.String()
}

// latinLetters are the Latin letters that do not decompose into a base
// letter and accents.
var latinLetters = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'đ': "d", 'ð': "d", 'ł': "l", 'þ': "th", 'ı': "i", 'ħ': "h", 'ŋ': "ng",
}

// primaryEmail is the primary email's value, else the first's.
func primaryEmail(v any) string {
	list, _ := v.([]any)
	first := ""
	for _, e := range list {
		m, _ := e.(map[string]any)
		val, _ := m["value"].(string)
		if val == "" {
			continue
		}
		if p, _ := m["primary"].(bool); p {
			return val
		}
		if first == "" {
			first = val
		}
	}
	return first
}

// Slug lower-cases s and turns runs of anything but letters and digits
// into single hyphens: "Tour Operations" → "tour-operations". Letters of
// any script are kept ("研发部" stays "研发部").
func Slug(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
		} else {
			hyphen = true
		}
	}
	return b.String()
}

func snapshotGroup(raw json.RawMessage) (*directory.Group, error) {
	if raw == nil {
		return nil, nil
	}
	var s directory.GroupSnapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return &directory.Group{ID: s.ID, DisplayName: s.DisplayName, ExternalID: s.ExternalID, OrgID: s.OrgID, Attrs: s.Attrs,
		Version: s.Version, Created: s.Created, Modified: s.Modified}, nil
}

func (b *Builder) groupDetail(ctx context.Context, rec *directory.EventRecord, data *directory.EventData, orgs orgNames) (map[string]any, error) {
	before, err := snapshotGroup(data.Before)
	if err != nil {
		return nil, err
	}
	after, err := snapshotGroup(data.After)
	if err != nil {
		return nil, err
	}
	g := after
	if g == nil {
		g = before
	}
	if g == nil {
		return nil, errors.New("group event without a group")
	}
	d := map[string]any{"id": g.ID, "displayName": g.DisplayName, "organizationId": g.OrgID, "organization": orgs.name(g.OrgID),
		"group": scim.GroupResource(g, b.BaseURL, b.Schemas)}
	if g.ExternalID != "" {
		d["externalId"] = g.ExternalID
	}
	if before != nil && after != nil && before.DisplayName != after.DisplayName {
		d["previous"] = map[string]any{"displayName": before.DisplayName}
	}
	if data.Member != "" {
		member := map[string]any{"id": data.Member}
		// The member's externalId is the one the change's actor knows
		// it by, as the group's is.
		u, err := b.Dir.User(ctx, data.Member, directory.ReadOptions{Domain: rec.Actor.Domain()})
		switch {
		case err == nil:
			member = flatUser(u, orgs)
			delete(member, "groups")
		case !errors.Is(err, directory.ErrNotFound):
			return nil, readError{err}
		}
		d["member"] = member
	}
	return d, nil
}

func orgDetail(data *directory.EventData, orgs orgNames) (map[string]any, error) {
	raw := data.After
	if raw == nil {
		raw = data.Before
	}
	var o directory.Organization
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	d := map[string]any{"id": o.ID, "name": o.Name, "organization": o.Name}
	if o.ParentID != "" {
		d["parentId"] = o.ParentID
		d["parent"] = orgs.name(o.ParentID)
	}
	if o.ExternalID != "" {
		d["externalId"] = o.ExternalID
	}
	return d, nil
}

package patch_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scim/patch"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

const (
	ent  = schema.EnterpriseURN
	acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
)

func registry(t testing.TB) *schema.Registry {
	t.Helper()
	reg, err := schema.NewRegistry([]schema.ExtensionDef{{URN: acme, Attributes: []schema.ExtensionAttr{
		{Name: "badgeNumber"},
		{Name: "skills", MultiValued: true},
		{Name: "remote", Type: schema.Boolean},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// render prints a parsed path in canonical form: the attribute (with its URN
// when it is an extension's), the filter in brackets, the sub-attribute.
func render(p patch.Path, rt *schema.ResourceType) string {
	if p.Ref.Attr == nil {
		return p.Schema.ID
	}
	if p.Filter == nil {
		return p.Ref.Short(rt)
	}
	s := schema.Ref{Schema: p.Ref.Schema, Attr: p.Ref.Attr}.Short(rt) + "[" + p.Filter.String() + "]"
	if p.Ref.Sub != nil {
		s += "." + p.Ref.Sub.Name
	}
	return s
}

var validPaths = []struct {
	rt, in, want string
}{
	{"User", "userName", "userName"},
	{"User", "USERNAME", "userName"},
	{"User", "name.givenName", "name.givenName"},
	{"User", "Name.GivenName", "name.givenName"},
	{"User", "emails", "emails"},
	{"User", "emails.value", "emails.value"},
	{"User", "id", "id"},
	{"User", "meta.version", "meta.version"},
	{"User", schema.UserURN + ":userName", "userName"},
	{"User", schema.UserURN + ":name.familyName", "name.familyName"},
	{"User", ent + ":department", ent + ":department"},
	{"User", strings.ToUpper(ent) + ":Department", ent + ":department"},
	{"User", ent + ":manager.value", ent + ":manager.value"},
	{"User", "department", ent + ":department"}, // unambiguous bare extension name
	{"User", ent, ent},
	{"User", acme, acme},
	{"User", acme + ":badgeNumber", acme + ":badgeNumber"},
	{"User", `emails[type eq "work"]`, `emails[type eq "work"]`},
	{"User", `emails[type eq "work"].value`, `emails[type eq "work"].value`},
	{"User", `emails[TYPE EQ "work" and value co "@example.com"].display`, `emails[type eq "work" and value co "@example.com"].display`},
	{"User", `emails[not (primary eq true)]`, `emails[not (primary eq true)]`},
	{"User", `emails[value eq "a]b"]`, `emails[value eq "a]b"]`},
	{"User", `addresses[type eq "work" or type eq "home"].streetAddress`, `addresses[type eq "work" or type eq "home"].streetAddress`},
	{"User", `phoneNumbers[primary eq true].value`, `phoneNumbers[primary eq true].value`},
	{"User", schema.UserURN + `:emails[type eq "work"].value`, `emails[type eq "work"].value`},
	{"User", acme + `:skills[value eq "go"]`, acme + `:skills[value eq "go"]`},
	{"Group", "displayName", "displayName"},
	{"Group", "members", "members"},
	{"Group", `members[value eq "2819c223"]`, `members[value eq "2819c223"]`},
	{"Group", `members[value eq "a" or value eq "b"]`, `members[value eq "a" or value eq "b"]`},
	{"Group", `members[display co "Bob"].value`, `members[display co "Bob"].value`},
}

var invalidPaths = []struct {
	rt, in, typ string
}{
	{"User", "", "invalidPath"},
	{"User", "shoeSize", "invalidPath"},
	{"User", "name.shoe", "invalidPath"},
	{"User", "name.givenName.first", "invalidPath"},
	{"User", "userName.value", "invalidPath"},
	{"User", "urn:example:unknown:1.0:User:x", "invalidPath"},
	{"User", schema.UserURN, "invalidPath"},
	{"User", schema.UserURN + ":", "invalidPath"},
	{"User", "members", "invalidPath"}, // a Group attribute
	{"User", `emails[type eq "work"`, "invalidPath"},
	{"User", `emails]`, "invalidPath"},
	{"User", `emails[`, "invalidPath"},
	{"User", `[type eq "work"]`, "invalidPath"},
	{"User", `emails[]`, "invalidFilter"},
	{"User", `emails[type eq]`, "invalidFilter"},
	{"User", `emails[shoe eq "x"]`, "invalidFilter"},
	{"User", `emails[type eq "work"]value`, "invalidPath"},
	{"User", `emails[type eq "work"].shoe`, "invalidPath"},
	{"User", `emails[type eq "work"].`, "invalidPath"},
	{"User", `emails[type eq "work"][value eq "x"]`, "invalidFilter"},
	{"User", `emails.value[type eq "work"]`, "invalidPath"},
	{"User", `userName[value eq "x"]`, "invalidPath"}, // not multi-valued
	{"User", `name[givenName eq "x"]`, "invalidPath"},
	{"User", `active[value eq true]`, "invalidPath"},
	{"User", `emails[primary gt true]`, "invalidFilter"},
	{"Group", `members[value eq "x"].shoe`, "invalidPath"},
	{"Group", "userName", "invalidPath"},
}

func TestParsePath(t *testing.T) {
	reg := registry(t)
	rts := map[string]*schema.ResourceType{"User": reg.User, "Group": reg.Group}
	for _, tc := range validPaths {
		t.Run(tc.in, func(t *testing.T) {
			rt := rts[tc.rt]
			p, err := patch.ParsePath(tc.in, rt)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tc.in, err)
			}
			if got := render(p, rt); got != tc.want {
				t.Errorf("ParsePath(%q) = %s, want %s", tc.in, got, tc.want)
			}
			// The canonical form parses to itself.
			p2, err := patch.ParsePath(tc.want, rt)
			if err != nil {
				t.Fatalf("ParsePath(%q) (canonical form): %v", tc.want, err)
			}
			if got := render(p2, rt); got != tc.want {
				t.Errorf("canonical form %q reparses as %q", tc.want, got)
			}
		})
	}
	for _, tc := range invalidPaths {
		t.Run("invalid "+tc.in, func(t *testing.T) {
			p, err := patch.ParsePath(tc.in, rts[tc.rt])
			if err == nil {
				t.Fatalf("ParsePath(%q) = %s, want an error", tc.in, render(p, rts[tc.rt]))
			}
			pe, ok := err.(*patch.Error)
			if !ok {
				t.Fatalf("error %T %v is not a *patch.Error", err, err)
			}
			if pe.Type != tc.typ {
				t.Errorf("error type %q (%v), want %q", pe.Type, err, tc.typ)
			}
		})
	}
}

// FuzzParsePath: ParsePath never panics, fails only with *patch.Error, and
// what it parses renders to a path that parses to the same thing.
func FuzzParsePath(f *testing.F) {
	for _, tc := range validPaths {
		f.Add(tc.in)
	}
	for _, tc := range invalidPaths {
		f.Add(tc.in)
	}
	reg := registry(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, rt := range []*schema.ResourceType{reg.User, reg.Group} {
			p, err := patch.ParsePath(s, rt)
			if err != nil {
				if _, ok := err.(*patch.Error); !ok {
					t.Fatalf("ParsePath(%q): error %T %v is not a *patch.Error", s, err, err)
				}
				continue
			}
			r := render(p, rt)
			p2, err := patch.ParsePath(r, rt)
			if err != nil {
				t.Fatalf("ParsePath(%q) rendered as %q, which does not parse: %v", s, r, err)
			}
			if r2 := render(p2, rt); r2 != r {
				t.Fatalf("ParsePath(%q) rendered as %q, which reparses as %q", s, r, r2)
			}
		}
	})
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return m
}

// baseUser is a User in canonical form, as the server hands it to Apply.
const baseUser = `{
	"id": "u1", "userName": "alice", "active": true, "displayName": "Alice",
	"name": {"givenName": "Alice", "familyName": "Smith"},
	"emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
	"roles": [{"value": "admin"}, {"value": "auditor"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"organizationId": "root", "department": "R&D"},
	"meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z", "version": "W/\"1\""}
}`

// userWith returns baseUser with top-level attributes replaced (null
// deletes).
func userWith(t testing.TB, changes string) map[string]any {
	t.Helper()
	doc := decode(t, baseUser)
	for k, v := range decode(t, changes) {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	return doc
}

func TestApplyUser(t *testing.T) {
	reg := registry(t)
	work := `{"value": "alice@example.com", "type": "work", "primary": true}`
	tests := []struct {
		name string
		base string // changes to baseUser, as for userWith; "" for none
		ops  string // the Operations array
		want string // changes to baseUser expected; "" means unchanged
		err  string // expected error type
	}{
		// add
		{name: "add single-valued replaces", ops: `[{"op":"add","path":"displayName","value":"Al"}]`, want: `{"displayName":"Al"}`},
		{name: "add new attribute", ops: `[{"op":"add","path":"nickName","value":"Ally"}]`, want: `{"nickName":"Ally"}`},
		{name: "add appends to multi-valued", ops: `[{"op":"add","path":"roles","value":[{"value":"owner"}]}]`,
			want: `{"roles":[{"value":"admin"},{"value":"auditor"},{"value":"owner"}]}`},
		{name: "add single element without list", ops: `[{"op":"add","path":"roles","value":{"value":"owner"}}]`,
			want: `{"roles":[{"value":"admin"},{"value":"auditor"},{"value":"owner"}]}`},
		{name: "add does not duplicate", ops: `[{"op":"add","path":"roles","value":[{"value":"admin"},{"value":"owner"},{"value":"owner"}]}]`,
			want: `{"roles":[{"value":"admin"},{"value":"auditor"},{"value":"owner"}]}`},
		{name: "add existing value changes nothing", ops: `[{"op":"add","path":"emails","value":[` + work + `]}]`},
		{name: "add to absent multi-valued", ops: `[{"op":"add","path":"phoneNumbers","value":[{"value":"+1 555 0100","type":"work"}]}]`,
			want: `{"phoneNumbers":[{"value":"+1 555 0100","type":"work"}]}`},
		{name: "add complex merges", ops: `[{"op":"add","path":"name","value":{"middleName":"Q"}}]`,
			want: `{"name":{"givenName":"Alice","familyName":"Smith","middleName":"Q"}}`},
		{name: "add sub-attribute", ops: `[{"op":"add","path":"name.honorificPrefix","value":"Dr"}]`,
			want: `{"name":{"givenName":"Alice","familyName":"Smith","honorificPrefix":"Dr"}}`},
		{name: "add primary email makes it the only primary", ops: `[{"op":"add","path":"emails","value":[{"value":"a2@example.com","type":"home","primary":true}]}]`,
			want: `{"emails":[{"value":"alice@example.com","type":"work"},{"value":"a2@example.com","type":"home","primary":true}]}`},
		{name: "add filtered sub-attribute creates the element", base: `{"emails":null}`, ops: `[{"op":"add","path":"emails[type eq \"work\"].value","value":"new@example.com"}]`,
			want: `{"emails":[{"type":"work","value":"new@example.com"}]}`},
		{name: "add filtered sub-attribute sets it on the match", ops: `[{"op":"add","path":"emails[type eq \"work\"].display","value":"Work"}]`,
			want: `{"emails":[{"value":"alice@example.com","type":"work","primary":true,"display":"Work"}]}`},
		{name: "add filtered element merges", ops: `[{"op":"add","path":"emails[type eq \"work\"]","value":{"display":"Work"}}]`,
			want: `{"emails":[{"value":"alice@example.com","type":"work","primary":true,"display":"Work"}]}`},
		{name: "add filtered element without match appends", ops: `[{"op":"add","path":"roles[value eq \"owner\"]","value":{"value":"owner"}}]`,
			want: `{"roles":[{"value":"admin"},{"value":"auditor"},{"value":"owner"}]}`},
		{name: "add filtered element with primary is exclusive", ops: `[{"op":"add","path":"emails[type eq \"home\"]","value":{"value":"h@example.com","primary":true}}]`,
			want: `{"emails":[{"value":"alice@example.com","type":"work"},{"value":"h@example.com","primary":true}]}`},
		{name: "add extension attribute by URN path", ops: `[{"op":"add","path":"` + ent + `:employeeNumber","value":"42"}]`,
			want: `{"` + ent + `":{"organizationId":"root","department":"R&D","employeeNumber":"42"}}`},
		{name: "add new extension", ops: `[{"op":"add","path":"` + acme + `","value":{"badgeNumber":"B-1","skills":["go"]}}]`,
			want: `{"` + acme + `":{"badgeNumber":"B-1","skills":["go"]}}`},
		{name: "add to simple multi-valued", base: `{"` + acme + `":{"skills":["go"]}}`, ops: `[{"op":"add","path":"` + acme + `:skills","value":["sql","go"]}]`,
			want: `{"` + acme + `":{"skills":["go","sql"]}}`},
		{name: "add number to string attribute", ops: `[{"op":"add","path":"` + ent + `:employeeNumber","value":701984}]`,
			want: `{"` + ent + `":{"organizationId":"root","department":"R&D","employeeNumber":"701984"}}`},
		{name: "add list to single-valued", ops: `[{"op":"add","path":"displayName","value":["a","b"]}]`, err: "invalidValue"},
		{name: "add object to string", ops: `[{"op":"add","path":"displayName","value":{"a":1}}]`, err: "invalidValue"},

		// replace
		{name: "replace single-valued", ops: `[{"op":"replace","path":"displayName","value":"Al"}]`, want: `{"displayName":"Al"}`},
		{name: "replace multi-valued replaces all", ops: `[{"op":"replace","path":"roles","value":[{"value":"owner"}]}]`, want: `{"roles":[{"value":"owner"}]}`},
		{name: "replace multi-valued with empty list unassigns", ops: `[{"op":"replace","path":"roles","value":[]}]`, want: `{"roles":null}`},
		{name: "replace complex merges", ops: `[{"op":"replace","path":"name","value":{"familyName":"Jones"}}]`,
			want: `{"name":{"givenName":"Alice","familyName":"Jones"}}`},
		{name: "replace sub-attribute", ops: `[{"op":"replace","path":"name.givenName","value":"Al"}]`,
			want: `{"name":{"givenName":"Al","familyName":"Smith"}}`},
		{name: "replace absent attribute adds it", ops: `[{"op":"replace","path":"title","value":"CTO"}]`, want: `{"title":"CTO"}`},
		{name: "replace filtered sub-attribute", ops: `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"al@example.com"}]`,
			want: `{"emails":[{"value":"al@example.com","type":"work","primary":true}]}`},
		{name: "replace filtered sub-attribute without match", ops: `[{"op":"replace","path":"emails[type eq \"home\"].value","value":"h@example.com"}]`, err: "noTarget"},
		{name: "replace filtered element without match", ops: `[{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"h@example.com"}}]`, err: "noTarget"},
		{name: "replace filtered element merges", ops: `[{"op":"replace","path":"roles[value eq \"admin\"]","value":{"display":"Administrator"}}]`,
			want: `{"roles":[{"value":"admin","display":"Administrator"},{"value":"auditor"}]}`},
		{name: "replace every filtered match", ops: `[{"op":"replace","path":"roles[value sw \"a\"].type","value":"app"}]`,
			want: `{"roles":[{"value":"admin","type":"app"},{"value":"auditor","type":"app"}]}`},
		{name: "replace primary through a filter is exclusive", base: `{"emails":[{"value":"a@example.com","type":"work"},{"value":"b@example.com","type":"home","primary":true}]}`,
			ops:  `[{"op":"replace","path":"emails[type eq \"work\"].primary","value":true}]`,
			want: `{"emails":[{"value":"a@example.com","type":"work","primary":true},{"value":"b@example.com","type":"home"}]}`},
		{name: "replace element with primary is exclusive", base: `{"emails":[{"value":"a@example.com","type":"work"},{"value":"b@example.com","type":"home","primary":true}]}`,
			ops:  `[{"op":"replace","path":"emails[type eq \"work\"]","value":{"primary":true}}]`,
			want: `{"emails":[{"value":"a@example.com","type":"work","primary":true},{"value":"b@example.com","type":"home"}]}`},
		{name: "replace list with two primaries keeps one", ops: `[{"op":"replace","path":"emails","value":[{"value":"a@example.com","primary":true},{"value":"b@example.com","primary":true}]}]`,
			want: `{"emails":[{"value":"a@example.com"},{"value":"b@example.com","primary":true}]}`},
		{name: "replace boolean as string", ops: `[{"op":"Replace","path":"active","value":"False"}]`, want: `{"active":false}`},
		{name: "replace boolean as upper-case string", ops: `[{"op":"replace","path":"active","value":"TRUE"}]`},
		{name: "replace boolean with junk", ops: `[{"op":"replace","path":"active","value":"no"}]`, err: "invalidValue"},
		{name: "replace with null unassigns", ops: `[{"op":"replace","path":"displayName","value":null}]`, want: `{"displayName":null}`},
		{name: "replace extension attribute", ops: `[{"op":"replace","path":"` + ent + `:department","value":"Ops"}]`,
			want: `{"` + ent + `":{"organizationId":"root","department":"Ops"}}`},
		{name: "replace extension object", ops: `[{"op":"replace","path":"` + ent + `","value":{"division":"East","organizationId":"o2"}}]`,
			want: `{"` + ent + `":{"organizationId":"o2","department":"R&D","division":"East"}}`},
		{name: "replace id with the same value is ignored", ops: `[{"op":"replace","path":"id","value":"u1"}]`},
		{name: "replace id with another value", ops: `[{"op":"replace","path":"id","value":"u2"}]`, err: "mutability"},
		{name: "replace meta", ops: `[{"op":"replace","path":"meta.version","value":"W/\"9\""}]`, err: "mutability"},
		{name: "add groups", ops: `[{"op":"add","path":"groups","value":[{"value":"g1"}]}]`, err: "mutability"},
		{name: "replace userName with null", ops: `[{"op":"replace","path":"userName","value":null}]`, err: "mutability"},
		{name: "replace userName with empty string", ops: `[{"op":"replace","path":"userName","value":""}]`, err: "mutability"},
		{name: "replace unknown path", ops: `[{"op":"replace","path":"shoeSize","value":"42"}]`, err: "invalidPath"},

		// remove
		{name: "remove single-valued", ops: `[{"op":"remove","path":"displayName"}]`, want: `{"displayName":null}`},
		{name: "remove absent attribute", ops: `[{"op":"remove","path":"title"}]`},
		{name: "remove multi-valued", ops: `[{"op":"remove","path":"roles"}]`, want: `{"roles":null}`},
		{name: "remove by filter", ops: `[{"op":"remove","path":"roles[value eq \"admin\"]"}]`, want: `{"roles":[{"value":"auditor"}]}`},
		{name: "remove last by filter unassigns", ops: `[{"op":"remove","path":"emails[type eq \"work\"]"}]`, want: `{"emails":null}`},
		{name: "remove by filter matching nothing", ops: `[{"op":"remove","path":"emails[type eq \"home\"]"}]`},
		{name: "remove from absent attribute by filter", ops: `[{"op":"remove","path":"phoneNumbers[type eq \"work\"]"}]`},
		{name: "remove by value list", ops: `[{"op":"Remove","path":"roles","value":[{"value":"auditor"}]}]`, want: `{"roles":[{"value":"admin"}]}`},
		{name: "remove filtered sub-attribute", ops: `[{"op":"remove","path":"emails[type eq \"work\"].primary"}]`,
			want: `{"emails":[{"value":"alice@example.com","type":"work"}]}`},
		{name: "remove sub-attribute", ops: `[{"op":"remove","path":"name.givenName"}]`, want: `{"name":{"familyName":"Smith"}}`},
		{name: "remove every sub-attribute unassigns", ops: `[{"op":"remove","path":"name.givenName"},{"op":"remove","path":"name.familyName"}]`, want: `{"name":null}`},
		{name: "remove extension attribute", ops: `[{"op":"remove","path":"` + ent + `:department"}]`, want: `{"` + ent + `":{"organizationId":"root"}}`},
		{name: "remove whole extension", ops: `[{"op":"remove","path":"` + ent + `"}]`, want: `{"` + ent + `":null}`},
		{name: "remove from absent extension", ops: `[{"op":"remove","path":"` + acme + `:badgeNumber"}]`},
		{name: "remove required userName", ops: `[{"op":"remove","path":"userName"}]`, err: "mutability"},
		{name: "remove read-only id", ops: `[{"op":"remove","path":"id"}]`, err: "mutability"},
		{name: "remove meta", ops: `[{"op":"remove","path":"meta"}]`, err: "mutability"},

		// without a path
		{name: "path-less replace", ops: `[{"op":"replace","value":{"displayName":"Al","nickName":"A"}}]`, want: `{"displayName":"Al","nickName":"A"}`},
		{name: "path-less replace ignores echoed id and meta", ops: `[{"op":"replace","value":{"id":"u1","meta":{"version":"x"},"schemas":["x"],"displayName":"Al"}}]`, want: `{"displayName":"Al"}`},
		{name: "path-less Okta deactivation", ops: `[{"op":"replace","value":{"active":false}}]`, want: `{"active":false}`},
		{name: "path-less boolean as string", ops: `[{"op":"replace","value":{"active":"False"}}]`, want: `{"active":false}`},
		{name: "path-less dotted and URN keys", ops: `[{"op":"replace","value":{"name.givenName":"Grace","` + ent + `:employeeNumber":"701984","` + ent + `:department":"Tour"}}]`,
			want: `{"name":{"givenName":"Grace","familyName":"Smith"},"` + ent + `":{"organizationId":"root","department":"Tour","employeeNumber":"701984"}}`},
		{name: "path-less extension object", ops: `[{"op":"add","value":{"` + ent + `":{"division":"East"}}}]`,
			want: `{"` + ent + `":{"organizationId":"root","department":"R&D","division":"East"}}`},
		{name: "path-less add appends", ops: `[{"op":"add","value":{"roles":[{"value":"owner"}]}}]`,
			want: `{"roles":[{"value":"admin"},{"value":"auditor"},{"value":"owner"}]}`},
		{name: "path-less replace replaces lists", ops: `[{"op":"replace","value":{"roles":[{"value":"owner"}]}}]`, want: `{"roles":[{"value":"owner"}]}`},
		{name: "path-less complex merges", ops: `[{"op":"replace","value":{"name":{"familyName":"Jones"}}}]`,
			want: `{"name":{"givenName":"Alice","familyName":"Jones"}}`},
		{name: "path-less unknown attributes ignored", ops: `[{"op":"replace","value":{"shoeSize":42,"urn:example:x:1.0:User:y":"z","displayName":"Al"}}]`, want: `{"displayName":"Al"}`},
		{name: "path-less filtered key", ops: `[{"op":"replace","value":{"emails[type eq \"work\"].value":"al@example.com"}}]`,
			want: `{"emails":[{"value":"al@example.com","type":"work","primary":true}]}`},
		{name: "path-less keys for different elements", base: `{"emails":[{"value":"a@example.com","type":"work"},{"value":"b@example.com","type":"home"}]}`,
			ops:  `[{"op":"replace","value":{"emails[type eq \"work\"].value":"w@example.com","emails[type eq \"home\"].value":"h@example.com"}}]`,
			want: `{"emails":[{"value":"w@example.com","type":"work"},{"value":"h@example.com","type":"home"}]}`},
		{name: "path-less keys for different sub-attributes", ops: `[{"op":"replace","value":{"name.givenName":"Grace","name.familyName":"Hopper","emails[type eq \"work\"].display":"W","emails[type eq \"work\"].value":"g@example.com"}}]`,
			want: `{"name":{"givenName":"Grace","familyName":"Hopper"},"emails":[{"value":"g@example.com","type":"work","primary":true,"display":"W"}]}`},
		// Two keys that set the same thing: which one won depended on map
		// order.
		{name: "path-less attribute and its sub-attribute", ops: `[{"op":"replace","value":{"name":{"givenName":"A"},"name.givenName":"B"}}]`, err: "invalidValue"},
		{name: "path-less name and URN name", ops: `[{"op":"replace","value":{"displayName":"A","` + schema.UserURN + `:displayName":"B"}}]`, err: "invalidValue"},
		{name: "path-less extension and its attribute", ops: `[{"op":"replace","value":{"` + ent + `":{"department":"A"},"` + ent + `:department":"B"}}]`, err: "invalidValue"},
		{name: "path-less extension and another of its attributes", ops: `[{"op":"replace","value":{"` + ent + `":{"department":"A"},"` + ent + `:division":"B"}}]`,
			want: `{"` + ent + `":{"organizationId":"root","department":"A","division":"B"}}`},
		{name: "path-less same filter twice", ops: `[{"op":"replace","value":{"emails[type eq \"work\"].value":"a@example.com","emails[TYPE eq \"work\"].value":"b@example.com"}}]`, err: "invalidValue"},
		{name: "path-less filtered and unfiltered", ops: `[{"op":"replace","value":{"emails":[{"value":"a@example.com"}],"emails[type eq \"work\"].value":"b@example.com"}}]`, err: "invalidValue"},
		{name: "path-less element and its sub-attribute", ops: `[{"op":"replace","value":{"emails[type eq \"work\"]":{"value":"a@example.com"},"emails[type eq \"work\"].value":"b@example.com"}}]`, err: "invalidValue"},
		{name: "path-less sub-attribute of every element and of one", ops: `[{"op":"replace","value":{"emails.display":"A","emails[type eq \"work\"].display":"B"}}]`, err: "invalidValue"},
		{name: "path-less not an object", ops: `[{"op":"replace","value":"x"}]`, err: "invalidValue"},
		{name: "path-less bad value", ops: `[{"op":"replace","value":{"active":"perhaps"}}]`, err: "invalidValue"},

		// sequences
		{name: "operations see earlier ones", ops: `[{"op":"add","path":"title","value":"CTO"},{"op":"replace","path":"title","value":"CEO"},{"op":"add","path":"roles","value":[{"value":"owner"}]},{"op":"remove","path":"roles[value eq \"owner\"]"}]`,
			want: `{"title":"CEO"}`},
		{name: "later failure fails all", ops: `[{"op":"replace","path":"displayName","value":"Al"},{"op":"remove","path":"userName"}]`, err: "mutability"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := "{}"
			if tc.base != "" {
				base = tc.base
			}
			doc := userWith(t, base)
			ops, err := patch.ParseRequest(decode(t, `{"schemas":["`+schema.PatchOpURN+`"],"Operations":`+tc.ops+`}`))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			err = patch.Apply(doc, reg.User, ops)
			if tc.err != "" {
				pe, ok := err.(*patch.Error)
				if !ok || pe.Type != tc.err {
					t.Fatalf("Apply: error %v, want type %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			changes := "{}"
			if tc.want != "" {
				changes = tc.want
			}
			want := userWith(t, base)
			for k, v := range decode(t, changes) {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = v
				}
			}
			if diff := cmp.Diff(want, doc); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyGroup(t *testing.T) {
	reg := registry(t)
	const base = `{"id":"g1","displayName":"Staff","members":[{"value":"u1"},{"value":"u2"}],"meta":{"resourceType":"Group"}}`
	tests := []struct {
		name, ops, want, err string
	}{
		{name: "rename", ops: `[{"op":"replace","path":"displayName","value":"Team"}]`, want: `{"id":"g1","displayName":"Team","members":[{"value":"u1"},{"value":"u2"}],"meta":{"resourceType":"Group"}}`},
		{name: "Okta rename with id", ops: `[{"op":"replace","value":{"id":"g1","displayName":"Team"}}]`, want: `{"id":"g1","displayName":"Team","members":[{"value":"u1"},{"value":"u2"}],"meta":{"resourceType":"Group"}}`},
		{name: "add members", ops: `[{"op":"Add","path":"members","value":[{"value":"u3","$ref":null},{"value":"u1"}]}]`, want: `{"id":"g1","displayName":"Staff","members":[{"value":"u1"},{"value":"u2"},{"value":"u3"}],"meta":{"resourceType":"Group"}}`},
		{name: "remove member by filter", ops: `[{"op":"remove","path":"members[value eq \"u1\"]"}]`, want: `{"id":"g1","displayName":"Staff","members":[{"value":"u2"}],"meta":{"resourceType":"Group"}}`},
		{name: "remove member by value list", ops: `[{"op":"remove","path":"members","value":[{"value":"u2"}]}]`, want: `{"id":"g1","displayName":"Staff","members":[{"value":"u1"}],"meta":{"resourceType":"Group"}}`},
		{name: "remove non-member", ops: `[{"op":"remove","path":"members[value eq \"u9\"]"}]`, want: base},
		{name: "replace members", ops: `[{"op":"replace","path":"members","value":[{"value":"u3"}]}]`, want: `{"id":"g1","displayName":"Staff","members":[{"value":"u3"}],"meta":{"resourceType":"Group"}}`},
		{name: "empty the group", ops: `[{"op":"replace","path":"members","value":[]}]`, want: `{"id":"g1","displayName":"Staff","meta":{"resourceType":"Group"}}`},
		{name: "remove displayName", ops: `[{"op":"remove","path":"displayName"}]`, err: "mutability"},
		{name: "change id", ops: `[{"op":"replace","path":"id","value":"g2"}]`, err: "mutability"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := decode(t, base)
			ops, err := patch.ParseRequest(decode(t, `{"Operations":`+tc.ops+`}`))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			err = patch.Apply(doc, reg.Group, ops)
			if tc.err != "" {
				if pe, ok := err.(*patch.Error); !ok || pe.Type != tc.err {
					t.Fatalf("Apply: error %v, want type %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if diff := cmp.Diff(decode(t, tc.want), doc); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, body string
		want       []patch.Op
		err        string
	}{
		{"capitalised ops", `{"Operations":[{"op":"Add","path":"a","value":1},{"OP":"REPLACE","Path":"b","Value":"x"},{"op":"Remove","path":" c "}]}`,
			[]patch.Op{{Op: "add", Path: "a", Value: json.Number("1"), HasValue: true}, {Op: "replace", Path: "b", Value: "x", HasValue: true}, {Op: "remove", Path: "c"}}, ""},
		{"operations key case", `{"operations":[{"op":"remove","path":"a"}]}`, []patch.Op{{Op: "remove", Path: "a"}}, ""},
		{"null value is a value", `{"Operations":[{"op":"replace","path":"a","value":null}]}`, []patch.Op{{Op: "replace", Path: "a", HasValue: true}}, ""},
		{"no operations", `{"schemas":["` + schema.PatchOpURN + `"]}`, nil, "invalidSyntax"},
		{"empty operations", `{"Operations":[]}`, nil, "invalidSyntax"},
		{"operations not a list", `{"Operations":{"op":"add"}}`, nil, "invalidSyntax"},
		{"operation not an object", `{"Operations":["add"]}`, nil, "invalidSyntax"},
		{"unknown op", `{"Operations":[{"op":"move","path":"a"}]}`, nil, "invalidSyntax"},
		{"missing op", `{"Operations":[{"path":"a","value":1}]}`, nil, "invalidSyntax"},
		{"add without value", `{"Operations":[{"op":"add","path":"a"}]}`, nil, "invalidValue"},
		{"remove without path", `{"Operations":[{"op":"remove"}]}`, nil, "noTarget"},
		{"path not a string", `{"Operations":[{"op":"remove","path":7}]}`, nil, "invalidPath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := patch.ParseRequest(decode(t, tc.body))
			if tc.err != "" {
				if pe, ok := err.(*patch.Error); !ok || pe.Type != tc.err {
					t.Fatalf("error %v, want type %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

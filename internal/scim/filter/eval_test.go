package filter_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

// sampleUsers are Users in canonical JSON form, keyed by id.
var sampleUsers = map[string]string{
	"alice": `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
		"id": "alice",
		"externalId": "Alice-Ext",
		"userName": "Alice@Example.com",
		"name": {"familyName": "Jensen", "givenName": "Alice"},
		"displayName": "Alice Jensen",
		"title": "",
		"active": true,
		"emails": [
			{"value": "alice@example.com", "type": "work", "primary": true},
			{"value": "alice@home.org", "type": "home"}
		],
		"phoneNumbers": [],
		"roles": [{"value": "admin"}],
		"meta": {"resourceType": "User", "created": "2011-05-13T04:42:34Z", "lastModified": "2020-01-02T10:00:00Z"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
			"employeeNumber": "701984",
			"department": "Tour Operations",
			"manager": {"value": "bob"}
		},
		"urn:ietf:params:scim:schemas:extension:customfield:2.0:User": {
			"costCenterCode": "CC-1",
			"level": 3,
			"score": 0.5,
			"startDate": "2020-01-01T00:00:00Z",
			"tags": ["Red", "blue"]
		}
	}`,
	"bob": `{
		"id": "bob",
		"externalId": "bob-ext",
		"userName": "bob",
		"name": {"familyName": "Smith"},
		"active": false,
		"emails": [
			{"value": "bob@other.org", "type": "work"},
			{"value": "bob@example.com", "type": "home", "primary": false}
		],
		"meta": {"resourceType": "User", "created": "2015-06-01T12:00:00+02:00", "lastModified": "2019-12-31T23:59:59.5Z"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
		"urn:ietf:params:scim:schemas:extension:customfield:2.0:User": {"level": 10, "tags": []}
	}`,
	"carol": `{
		"id": "carol",
		"userName": "carol",
		"name": {"givenName": ""},
		"emails": [{"type": "work"}],
		"meta": {"resourceType": "User", "created": "2021-03-04T05:06:07Z"},
		"urn:ietf:params:scim:schemas:extension:customfield:2.0:User": {"level": -2.5, "startDate": "2019-06-30T23:00:00-02:00"}
	}`,
	"dave": `{
		"id": "dave",
		"externalId": "alice-ext",
		"userName": "Dave",
		"title": "Boss",
		"active": true,
		"emails": [],
		"meta": {"resourceType": "User"}
	}`,
}

func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding sample: %v", err)
	}
	return v.(map[string]any)
}

var evalCases = []struct {
	name   string
	filter string
	want   []string // ids of the sampleUsers that match, sorted
}{
	// Strings: case-insensitive unless caseExact.
	{"userName eq any case", `userName eq "alice@example.com"`, []string{"alice"}},
	{"userName eq upper", `userName eq "DAVE"`, []string{"dave"}},
	{"userName ne", `userName ne "BOB"`, []string{"alice", "carol", "dave"}},
	{"userName sw", `userName sw "AL"`, []string{"alice"}},
	{"userName ew", `userName ew ".COM"`, []string{"alice"}},
	{"userName co", `userName co "A"`, []string{"alice", "carol", "dave"}},
	{"userName co empty", `userName co ""`, []string{"alice", "bob", "carol", "dave"}},
	{"userName gt", `userName gt "BOB"`, []string{"carol", "dave"}},
	{"userName ge", `userName ge "BOB"`, []string{"bob", "carol", "dave"}},
	{"userName lt", `userName lt "Bob"`, []string{"alice"}},
	{"userName le", `userName le "Bob"`, []string{"alice", "bob"}},
	{"id caseExact", `id eq "ALICE"`, nil},
	{"id exact", `id eq "alice"`, []string{"alice"}},
	{"id sw caseExact", `id sw "A"`, nil},
	{"externalId caseExact", `externalId eq "alice-ext"`, []string{"dave"}},
	{"externalId exact", `externalId eq "Alice-Ext"`, []string{"alice"}},
	{"externalId ne caseExact", `externalId ne "Alice-Ext"`, []string{"bob", "carol", "dave"}},
	{"meta.resourceType caseExact", `meta.resourceType eq "user"`, nil},
	{"meta.resourceType", `meta.resourceType eq "User"`, []string{"alice", "bob", "carol", "dave"}},
	{"sub-attribute", `name.familyName eq "jensen"`, []string{"alice"}},
	{"sub-attribute ne absent", `name.familyName ne "jensen"`, []string{"bob", "carol", "dave"}},

	// Multi-valued: any element.
	{"emails.value co", `emails.value co "EXAMPLE.COM"`, []string{"alice", "bob"}},
	{"emails implicit value", `emails co "@example.com"`, []string{"alice", "bob"}},
	{"emails.type eq", `emails.type eq "work"`, []string{"alice", "bob", "carol"}},
	{"emails.type ne is none equal", `emails.type ne "work"`, []string{"dave"}},
	{"emails.type ne home", `emails.type ne "home"`, []string{"carol", "dave"}},
	{"emails.value ew", `emails.value ew ".org"`, []string{"alice", "bob"}},
	{"emails.primary eq true", `emails.primary eq true`, []string{"alice"}},
	{"emails.primary eq false", `emails.primary eq false`, []string{"bob"}},
	{"roles implicit value", `roles eq "ADMIN"`, []string{"alice"}},
	{"simple multi-valued", `tags eq "red"`, []string{"alice"}},
	{"simple multi-valued co", `tags co "LU"`, []string{"alice"}},
	{"simple multi-valued ne", `tags ne "blue"`, []string{"bob", "carol", "dave"}},

	// Value paths: one element must satisfy the whole filter.
	{"value path", `emails[type eq "work" and value co "@example.com"]`, []string{"alice"}},
	{"value path other element", `emails[type eq "home" and value co "@example.com"]`, []string{"bob"}},
	{"sub-attribute conditions may match different elements", `emails.type eq "work" and emails.value co "@example.com"`, []string{"alice", "bob"}},
	{"value path or", `emails[type eq "home" or primary eq true]`, []string{"alice", "bob"}},
	{"value path not", `emails[not (type eq "work")]`, []string{"alice", "bob"}},
	{"value path ne", `emails[type ne "work"]`, []string{"alice", "bob"}},
	{"value path pr", `emails[value pr]`, []string{"alice", "bob"}},
	{"value path eq null", `emails[value eq null]`, []string{"carol"}},
	{"value path ne null", `emails[primary ne null]`, []string{"alice", "bob"}},
	{"value path primary", `emails[primary eq true and type eq "work"]`, []string{"alice"}},
	{"not value path", `not (emails[type eq "work"])`, []string{"dave"}},
	{"entra form", `emails[type eq "work"].value eq "ALICE@example.com"`, []string{"alice"}},
	{"entra form other element", `emails[type eq "work"].value eq "alice@home.org"`, nil},
	{"value path single complex", `name[givenName sw "a" and familyName pr]`, []string{"alice"}},
	{"value path simple multi-valued", `tags[value sw "BL"]`, []string{"alice"}},
	{"value path simple multi-valued ne", `tags[value ne "red"]`, []string{"alice"}},
	{"value path with URN", userURN + `:emails[type eq "home"]`, []string{"alice", "bob"}},

	// pr and null.
	{"pr string", `title pr`, []string{"dave"}},
	{"eq null empty string", `title eq null`, []string{"alice", "bob", "carol"}},
	{"ne null", `title ne null`, []string{"dave"}},
	{"pr multi-valued", `emails pr`, []string{"alice", "bob", "carol"}},
	{"pr empty array", `phoneNumbers pr`, nil},
	// A complex attribute compared without a sub-attribute means its
	// "value" sub-attribute, for null too: carol's email has no value.
	{"eq null multi-valued", `emails eq null`, []string{"carol", "dave"}},
	{"not pr multi-valued", `not (emails pr)`, []string{"dave"}},
	{"emails.value eq null", `emails.value eq null`, []string{"carol", "dave"}},
	{"emails.value ne null", `emails.value ne null`, []string{"alice", "bob"}},
	{"pr sub-attribute", `emails.primary pr`, []string{"alice", "bob"}},
	{"pr complex", `name pr`, []string{"alice", "bob"}},
	{"pr complex sub-attribute empty", `name.givenName pr`, []string{"alice"}},
	{"pr false is present", `active pr`, []string{"alice", "bob", "dave"}},
	{"pr zero length tags", `tags pr`, []string{"alice"}},
	{"not pr", `not (title pr)`, []string{"alice", "bob", "carol"}},
	{"pr absent sub-attribute", `meta.lastModified pr`, []string{"alice", "bob"}},

	// Booleans.
	{"active eq true", `active eq true`, []string{"alice", "dave"}},
	{"active eq false", `active eq false`, []string{"bob"}},
	{"active ne true", `active ne true`, []string{"bob", "carol"}},
	{"active eq string true", `active eq "TRUE"`, []string{"alice", "dave"}},
	{"active eq null", `active eq null`, []string{"carol"}},

	// DateTimes compare as instants.
	{"lastModified gt", `meta.lastModified gt "2020-01-01T00:00:00Z"`, []string{"alice"}},
	{"lastModified ge fraction", `meta.lastModified ge "2019-12-31T23:59:59.5Z"`, []string{"alice", "bob"}},
	{"lastModified gt fraction", `meta.lastModified gt "2019-12-31T23:59:59.5Z"`, []string{"alice"}},
	{"lastModified lt", `meta.lastModified lt "2020-01-01T00:00:00Z"`, []string{"bob"}},
	{"lastModified ne", `meta.lastModified ne "2020-01-02T10:00:00Z"`, []string{"bob", "carol", "dave"}},
	{"created eq other zone", `meta.created eq "2011-05-13T06:42:34+02:00"`, []string{"alice"}},
	{"created eq zone offset", `meta.created eq "2015-06-01T10:00:00Z"`, []string{"bob"}},
	{"created le", `meta.created le "2015-06-01T10:00:00Z"`, []string{"alice", "bob"}},
	{"created gt year boundary", `meta.created gt "2020-12-31T23:59:59Z"`, []string{"carol"}},
	{"custom dateTime zones", `startDate gt "2019-07-01T00:00:00Z"`, []string{"alice", "carol"}},
	{"custom dateTime lt", `startDate lt "2019-07-01T01:00:01Z"`, []string{"carol"}},

	// Numbers compare numerically.
	{"integer gt", `level gt 5`, []string{"bob"}},
	{"integer ge", `level ge 3`, []string{"alice", "bob"}},
	{"integer lt", `level lt 3`, []string{"carol"}},
	{"integer le decimal", `level le -2.5`, []string{"carol"}},
	{"integer eq exponent", `level eq 3e0`, []string{"alice"}},
	{"integer eq decimal form", `level eq 3.00`, []string{"alice"}},
	{"integer ne", `level ne 3`, []string{"bob", "carol", "dave"}},
	{"integer 10 after 3", `level gt 3`, []string{"bob"}},
	{"decimal", `score lt 1`, []string{"alice"}},
	{"integer with URN", customURN + `:level ge 10`, []string{"bob"}},

	// Extensions.
	{"enterprise URN", enterpriseURN + `:employeeNumber eq "701984"`, []string{"alice"}},
	{"enterprise loose", `department eq "tour operations"`, []string{"alice"}},
	{"enterprise loose sw", `department sw "S"`, []string{"bob"}},
	{"enterprise ne", `department ne "Sales"`, []string{"alice", "carol", "dave"}},
	{"enterprise complex caseExact", enterpriseURN + `:manager.value eq "bob"`, []string{"alice"}},
	{"enterprise complex caseExact upper", `manager.value eq "BOB"`, nil},
	{"enterprise implicit value", `manager eq "bob"`, []string{"alice"}},
	{"custom", `costCenterCode eq "cc-1"`, []string{"alice"}},

	// Logic.
	{"and", `active eq true and title pr`, []string{"dave"}},
	{"or", `userName eq "bob" or userName eq "carol"`, []string{"bob", "carol"}},
	{"precedence", `userName eq "bob" or userName eq "carol" and active eq true`, []string{"bob"}},
	{"parens", `(userName eq "bob" or userName eq "carol") and active pr`, []string{"bob"}},
	{"not", `not (active eq true)`, []string{"bob", "carol"}},
	{"not not", `not (not (active eq true))`, []string{"alice", "dave"}},
	{"rfc 14", `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, []string{"carol", "dave"}},
}

func TestMatch(t *testing.T) {
	reg := newRegistry(t, customExt)
	users := map[string]map[string]any{}
	var ids []string
	for id, js := range sampleUsers {
		users[id] = decodeJSON(t, js)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, tt := range evalCases {
		t.Run(tt.name, func(t *testing.T) {
			e, err := filter.Parse(tt.filter)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.filter, err)
			}
			if err := filter.Resolve(e, reg.User); err != nil {
				t.Fatalf("Resolve(%q): %v", tt.filter, err)
			}
			var got []string
			for _, id := range ids {
				if filter.Match(e, users[id]) {
					got = append(got, id)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: matching users mismatch (-want +got):\n%s", tt.filter, diff)
			}

			// "not" inverts the result exactly.
			ne := &filter.Not{X: e}
			var gotNot []string
			for _, id := range ids {
				if filter.Match(ne, users[id]) {
					gotNot = append(gotNot, id)
				}
			}
			var wantNot []string
			for _, id := range ids {
				if !slices.Contains(tt.want, id) {
					wantNot = append(wantNot, id)
				}
			}
			if diff := cmp.Diff(wantNot, gotNot); diff != "" {
				t.Errorf("not (%s): matching users mismatch (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

func TestMatchGroup(t *testing.T) {
	reg := newRegistry(t)
	group := decodeJSON(t, `{
		"id": "g1",
		"displayName": "Tour Guides",
		"members": [
			{"value": "alice", "$ref": "https://example.com/v2/Users/alice", "type": "User", "display": "Alice"},
			{"value": "bob", "type": "User"}
		],
		"meta": {"resourceType": "Group", "created": "2011-05-13T04:42:34Z"}
	}`)
	tests := []struct {
		filter string
		want   bool
	}{
		{`displayName eq "tour guides"`, true},
		{`displayName sw "Tour" and meta.created lt "2012-01-01T00:00:00Z"`, true},
		{`members[value eq "bob"]`, true},
		{`members[value eq "BOB"]`, false},
		{`members eq "alice"`, true},
		{`members[value eq "bob" and $ref pr]`, false},
		{`members[value eq "alice" and $ref pr]`, true},
		{`members.$ref sw "https://"`, true},
		{`members.display ne "alice"`, false},
		{`members.display ne "bob"`, true},
	}
	for _, tt := range tests {
		e, err := filter.Parse(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		if err := filter.Resolve(e, reg.Group); err != nil {
			t.Fatalf("Resolve(%q): %v", tt.filter, err)
		}
		if got := filter.Match(e, group); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

// TestMatchGoValues checks resources built in Go rather than decoded from
// JSON: ints and json.Numbers.
func TestMatchGoValues(t *testing.T) {
	reg := newRegistry(t, customExt)
	tests := []struct {
		filter string
		level  any
		want   bool
	}{
		{`level eq 3`, 3, true},
		{`level gt 2`, int64(3), true},
		{`level lt 3`, json.Number("2.5"), true},
		{`level eq 3`, json.Number("3"), true},
		{`level eq 3`, "3", false},
		{`level pr`, 0, true},
		{`level eq null`, nil, true},
		{`level ne 3`, nil, true},
	}
	for _, tt := range tests {
		e, err := filter.Parse(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		if err := filter.Resolve(e, reg.User); err != nil {
			t.Fatalf("Resolve(%q): %v", tt.filter, err)
		}
		res := map[string]any{customURN: map[string]any{"level": tt.level}}
		if got := filter.Match(e, res); got != tt.want {
			t.Errorf("Match(%s) with level %#v = %v, want %v", tt.filter, tt.level, got, tt.want)
		}
	}
}

func TestMatchElement(t *testing.T) {
	reg := newRegistry(t, customExt)
	rt := reg.User
	work := decodeJSON(t, `{"value": "Alice@Example.com", "type": "work", "primary": true}`)
	home := decodeJSON(t, `{"value": "alice@home.org", "type": "home", "primary": false}`)
	bare := decodeJSON(t, `{"type": "other", "value": ""}`)
	tests := []struct {
		outer  string
		filter string
		elem   any
		want   bool
	}{
		{"emails", `type eq "work"`, work, true},
		{"emails", `type eq "work"`, home, false},
		{"emails", `TYPE eq "WORK"`, work, true},
		{"emails", `type eq "work" and value co "@example.com"`, work, true},
		{"emails", `type eq "home" and value co "@example.com"`, home, false},
		{"emails", `type eq "home" or primary eq true`, work, true},
		{"emails", `not (type eq "work")`, home, true},
		{"emails", `primary eq true`, home, false},
		{"emails", `primary ne true`, home, true},
		{"emails", `primary ne true`, bare, true},
		{"emails", `primary eq "false"`, home, true},
		{"emails", `value pr`, work, true},
		{"emails", `value pr`, bare, false},
		{"emails", `value eq null`, bare, true},
		{"emails", `value ne null`, bare, false},
		{"emails", `display pr`, work, false},
		{"emails", `display ne "x"`, work, true},
		{"emails", `value gt "alice@f"`, home, true},
		{"tags", `value eq "RED"`, "Red", true},
		{"tags", `value sw "b"`, "Red", false},
		{"tags", `value ne "red"`, "blue", true},
		{"tags", `value pr`, "", false},
		{"tags", `value pr`, "x", true},
		{"level", `value gt 2`, 3.0, true},
		{"manager", `value eq "bob"`, map[string]any{"value": "bob"}, true},
		{"manager", `value eq "BOB"`, map[string]any{"value": "bob"}, false},
		{"members", `value eq "g1"`, map[string]any{"value": "g1"}, true},
	}
	for _, tt := range tests {
		rt := rt
		if tt.outer == "members" {
			rt = reg.Group
		}
		outer, err := rt.ResolveLoose(tt.outer)
		if err != nil {
			t.Fatalf("ResolveLoose(%q): %v", tt.outer, err)
		}
		if tt.outer == "level" {
			// A multi-valued number attribute, which no schema declares.
			a := *outer.Attr
			a.MultiValued = true
			outer.Attr = &a
		}
		e, err := filter.ParseValueFilter(tt.filter)
		if err != nil {
			t.Fatalf("ParseValueFilter(%q): %v", tt.filter, err)
		}
		if err := filter.ResolveValueFilter(e, rt, outer); err != nil {
			t.Fatalf("ResolveValueFilter(%s, %q): %v", tt.outer, tt.filter, err)
		}
		if got := filter.MatchElement(e, tt.elem); got != tt.want {
			t.Errorf("MatchElement(%s[%s], %v) = %v, want %v", tt.outer, tt.filter, tt.elem, got, tt.want)
		}
	}
}

// TestMatchUnresolved checks that evaluating a tree Resolve has not seen
// neither panics nor matches.
func TestMatchUnresolved(t *testing.T) {
	res := decodeJSON(t, sampleUsers["alice"])
	for _, f := range []string{`userName pr`, `userName eq "alice@example.com"`, `emails[type eq "work"]`, `title eq null`} {
		e, err := filter.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		if filter.Match(e, res) {
			t.Errorf("Match(unresolved %s) = true, want false", f)
		}
	}
	e, err := filter.ParseValueFilter(`value eq "x"`)
	if err != nil {
		t.Fatal(err)
	}
	if filter.MatchElement(e, "x") {
		t.Errorf("MatchElement(unresolved) = true, want false")
	}
}

// TestMatchEmpty checks odd resources: nil, empty, wrong JSON types.
func TestMatchEmpty(t *testing.T) {
	reg := newRegistry(t, customExt)
	tests := []struct {
		filter string
		res    map[string]any
		want   bool
	}{
		{`userName pr`, nil, false},
		{`userName ne "x"`, nil, true},
		{`userName eq null`, map[string]any{}, true},
		{`userName eq "1"`, map[string]any{"userName": 1.0}, false},
		{`active eq true`, map[string]any{"active": "true"}, false},
		{`level gt 1`, map[string]any{customURN: map[string]any{"level": "5"}}, false},
		{`level gt 1`, map[string]any{customURN: "not an object"}, false},
		{`meta.created gt "2011-05-13T04:42:34Z"`, map[string]any{"meta": map[string]any{"created": "yesterday"}}, false},
		{`meta.created gt "2011-05-13T04:42:34Z"`, map[string]any{"meta": "x"}, false},
		{`emails[type eq "work"]`, map[string]any{"emails": []any{"work", nil, 1.0}}, false},
		{`emails.type eq "work"`, map[string]any{"emails": map[string]any{"type": "work"}}, true},
		{`emails pr`, map[string]any{"emails": []any{map[string]any{}}}, false},
		{`emails pr`, map[string]any{"emails": []any{map[string]any{"value": ""}}}, false},
		{`name pr`, map[string]any{"name": map[string]any{"givenName": "", "familyName": nil}}, false},
	}
	for _, tt := range tests {
		e, err := filter.Parse(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		if err := filter.Resolve(e, reg.User); err != nil {
			t.Fatalf("Resolve(%q): %v", tt.filter, err)
		}
		if got := filter.Match(e, tt.res); got != tt.want {
			t.Errorf("Match(%s, %v) = %v, want %v", tt.filter, tt.res, got, tt.want)
		}
	}
}

package directory

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/unicode/rangetable"
)

func TestParsePhone(t *testing.T) {
	tests := []struct {
		value, region string
		want          Phone
		wantErr       string
	}{
		{value: "+86-13800138000", want: Phone{Region: "86", National: "13800138000", International: true}},
		{value: "+86 138 0013 8000", want: Phone{Region: "86", National: "13800138000", International: true}},
		{value: "+8613800138000", want: Phone{Region: "86", National: "13800138000", International: true}},
		{value: "+1 (425) 555-0100", want: Phone{Region: "1", National: "4255550100", International: true}},
		{value: "+14255550100", want: Phone{Region: "1", National: "4255550100", International: true}},
		{value: "+852 2345 6789", want: Phone{Region: "852", National: "23456789", International: true}},
		{value: "+85223456789", want: Phone{Region: "852", National: "23456789", International: true}},
		{value: "+44 20 7946 0958", want: Phone{Region: "44", National: "2079460958", International: true}},
		{value: "+7 495 123-45-67", want: Phone{Region: "7", National: "4951234567", International: true}},
		{value: "+886-2-1234-5678", want: Phone{Region: "886", National: "212345678", International: true}},
		// No calling code: phoneRegion, else 86.
		{value: "13800138000", want: Phone{Region: "86", National: "13800138000"}},
		{value: "13800138000", region: "852", want: Phone{Region: "852", National: "13800138000"}},
		{value: "138-0013-8000", region: "+86", want: Phone{Region: "86", National: "13800138000"}},
		// phoneRegion given and agreeing.
		{value: "+86-13800138000", region: "86", want: Phone{Region: "86", National: "13800138000", International: true}},
		// Errors.
		{value: "+86-13800138000", region: "1", wantErr: "does not match"},
		{value: "+8613800138000", region: "852", wantErr: "does not match"},
		{value: "", wantErr: "empty"},
		{value: "+86", wantErr: "no number"},
		{value: "138 0013 8000 ext 5", wantErr: "contains"},
		{value: "tel:+86-13800138000", wantErr: "contains"},
		{value: "+86-12", wantErr: "between 3"},
		{value: "+86-1234567890123456", wantErr: "between 3"},
		{value: "13800138000", region: "86a", wantErr: "not a calling code"},
		{value: "13800138000", region: "1234", wantErr: "not a calling code"},
	}
	for _, tc := range tests {
		t.Run(tc.value+"/"+tc.region, func(t *testing.T) {
			got, err := ParsePhone(tc.value, tc.region)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
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

func TestPasswordPolicy(t *testing.T) {
	p := DefaultPasswordPolicy()
	tests := []struct {
		pw, user string
		ok       bool
	}{
		{"1mz050nq", "test.user@okta.local", true}, // Okta's test password: two classes
		{"correct horse battery staple", "ada", true},
		{"Tr0ub4dor&3", "ada", true},
		{"密码Passw0rd", "ada", true},
		{"short1", "ada", false},
		{"alllowercase", "ada", false},
		{"12345678901", "ada", false},
		{"ada-Lovelace1", "ada@example.com", false},
		{"x-LOVELACE-1", "lovelace", false},
		{strings.Repeat("aB1", 43), "ada", false}, // 129 characters
		{"tab\tinside1A", "ada", false},
	}
	for _, tc := range tests {
		err := p.Check(tc.pw, tc.user)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q, %q) = %v, want ok=%v", tc.pw, tc.user, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), tc.pw) {
			t.Errorf("error message leaks the password: %v", err)
		}
	}
	if err := (PasswordPolicy{MinLength: 10, MaxLength: 5}).Validate(); err == nil {
		t.Error("inconsistent policy accepted")
	}
}

func TestCheckUserIDaaSFields(t *testing.T) {
	tests := []struct {
		name    string
		attrs   Attrs
		profile Profile
		wantErr string
		check   func(t *testing.T, u *User)
	}{
		{
			name:    "work type filled in",
			attrs:   Attrs{"emails": []any{map[string]any{"value": "a@b.co"}}},
			profile: IDaaSProfile(),
			check: func(t *testing.T, u *User) {
				if u.Email() != "a@b.co" || elements(u.Attrs, "emails")[0]["type"] != "work" {
					t.Errorf("attrs = %v", u.Attrs)
				}
			},
		},
		{name: "two emails", attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co"}, map[string]any{"value": "c@b.co"}}}, profile: IDaaSProfile(), wantErr: "only one email"},
		{name: "home email", attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "home"}}}, profile: IDaaSProfile(), wantErr: "of type \"work\""},
		{name: "two emails in RFC mode", attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "home"}, map[string]any{"value": "c@b.co"}}}, profile: Profile{}},
		{name: "bad email", attrs: Attrs{"emails": []any{map[string]any{"value": "Ada <a@b.co>"}}}, profile: Profile{}, wantErr: "not an email address"},
		{name: "two primaries", attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "primary": true}, map[string]any{"value": "c@b.co", "primary": true}}}, profile: Profile{}, wantErr: "primary"},
		{
			name: "phone region derived", attrs: Attrs{"phoneNumbers": []any{map[string]any{"value": "+852 2345 6789"}}}, profile: IDaaSProfile(),
			check: func(t *testing.T, u *User) {
				if u.Attrs["phoneRegion"] != "852" {
					t.Errorf("phoneRegion = %v", u.Attrs["phoneRegion"])
				}
			},
		},
		{
			name: "phone region defaulted", attrs: Attrs{"phoneNumbers": []any{map[string]any{"value": "13800138000", "type": "Work"}}}, profile: IDaaSProfile(),
			check: func(t *testing.T, u *User) {
				if u.Attrs["phoneRegion"] != "86" || u.Phone() != "13800138000" {
					t.Errorf("attrs = %v", u.Attrs)
				}
			},
		},
		{name: "phone region mismatch", attrs: Attrs{"phoneRegion": "1", "phoneNumbers": []any{map[string]any{"value": "+86-13800138000"}}}, profile: IDaaSProfile(), wantErr: "does not match"},
		{name: "mobile phone", attrs: Attrs{"phoneNumbers": []any{map[string]any{"value": "+86-13800138000", "type": "mobile"}}}, profile: IDaaSProfile(), wantErr: "of type \"work\""},
		{name: "mobile phone in RFC mode", attrs: Attrs{"phoneNumbers": []any{map[string]any{"value": "tel:+1-201-555-0123", "type": "mobile"}}}, profile: Profile{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &User{UserName: "ada", Attrs: tc.attrs}
			err := checkUser(u, tc.profile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v, want ErrInvalid containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, u)
			}
		})
	}
	for _, bad := range []string{"", " ", "a\x00b", strings.Repeat("x", 257)} {
		if err := checkUser(&User{UserName: bad}, Profile{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("userName %q accepted", bad)
		}
	}
}

func TestTotalFromPage(t *testing.T) {
	tests := []struct {
		q     Query
		items int
		more  bool
		want  int
		ok    bool
	}{
		{Query{Limit: 100}, 1, false, 1, true},
		{Query{Limit: 100}, 0, false, 0, true},
		{Query{Limit: 100}, 100, true, 0, false},
		{Query{Limit: 10, Offset: 95}, 6, false, 101, true},
		{Query{Limit: 10, Offset: 500}, 0, false, 0, false}, // past the end: unknown
		{Query{Limit: 10, After: &Key{Seq: 5}}, 3, false, 0, false},
		{Query{Limit: 0}, 0, false, 0, false},
	}
	for _, tc := range tests {
		got, ok := TotalFromPage(tc.q, tc.items, tc.more)
		if got != tc.want || ok != tc.ok {
			t.Errorf("TotalFromPage(%+v, %d, %v) = %d, %v; want %d, %v", tc.q, tc.items, tc.more, got, ok, tc.want, tc.ok)
		}
	}
}

// TestCheckNewName: names that identify refuse what would make a
// look-alike, and keep every name people really have.
func TestCheckNewName(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		userErr   string // "": accepted as a userName
		groupErr  string // "": accepted as a group's displayName
		sameAsOld bool   // the stored name is in, unchanged
	}{
		{name: "email", in: "ada.lovelace+scim@example.com"},
		{name: "Chinese", in: "张三"},
		{name: "Chinese email", in: "张三@例子.中国"},
		{name: "accented, composed", in: "José Müller"},
		{name: "apostrophe and hyphen", in: "o'brien-smith"},
		{name: "Japanese", in: "やまだ.たろう"},
		{name: "Arabic", in: "محمد"},
		{name: "Devanagari with a virama", in: "क्षत्रिय"},
		{name: "full-width letters (kept, distinct)", in: "ａｄａ"},
		{name: "emoji", in: "ada 🚀"},
		{name: "AD name with a space", in: "Ada Lovelace"},
		{name: "DOMAIN\\user", in: `CORP\ada`},

		{name: "zero-width space", in: "ada\u200b@example.com", userErr: "U+200B", groupErr: "U+200B"},
		{name: "zero-width non-joiner", in: "a\u200cda", userErr: "U+200C", groupErr: "U+200C"},
		{name: "zero-width joiner", in: "a\u200dda", userErr: "U+200D", groupErr: "U+200D"},
		{name: "word joiner", in: "a\u2060da", userErr: "U+2060", groupErr: "U+2060"},
		{name: "byte order mark", in: "\ufeffada", userErr: "U+FEFF", groupErr: "U+FEFF"},
		{name: "right-to-left override", in: "ada\u202egpj.exe", userErr: "U+202E", groupErr: "U+202E"},
		{name: "left-to-right embedding", in: "\u202aada", userErr: "U+202A", groupErr: "U+202A"},
		{name: "pop directional formatting", in: "ada\u202c", userErr: "U+202C", groupErr: "U+202C"},
		{name: "first strong isolate", in: "ada\u2068x\u2069", userErr: "U+2068", groupErr: "U+2068"},
		{name: "left-to-right mark", in: "ada\u200e", userErr: "U+200E", groupErr: "U+200E"},
		{name: "right-to-left mark", in: "ada\u200f", userErr: "U+200F", groupErr: "U+200F"},
		{name: "Arabic letter mark", in: "ada\u061c", userErr: "U+061C", groupErr: "U+061C"},
		{name: "soft hyphen", in: "ad\u00ada", userErr: "U+00AD", groupErr: "U+00AD"},
		{name: "combining grapheme joiner", in: "ad\u034fa", userErr: "U+034F", groupErr: "U+034F"},
		{name: "variation selector", in: "ada\ufe0f", userErr: "U+FE0F", groupErr: "U+FE0F"},
		{name: "Hangul filler", in: "ada\u3164", userErr: "U+3164", groupErr: "U+3164"},
		{name: "tag character", in: "ada\U000e0041", userErr: "U+E0041", groupErr: "U+E0041"},
		{name: "Mongolian vowel separator", in: "ada\u180e", userErr: "U+180E", groupErr: "U+180E"},
		{name: "private use", in: "ada\ue000", userErr: "private-use", groupErr: "private-use"},
		{name: "noncharacter", in: "ada\ufdd0", userErr: "noncharacter", groupErr: "noncharacter"},
		// Unassigned in Unicode 15 (Go 1.26's tables); Unicode 16 makes
		// U+A7DC the capital of U+019B, which these tables lower-case to
		// itself.
		{name: "unassigned code point", in: "\ua7dcambda", userErr: "U+A7DC, a code point Unicode", groupErr: "does not assign"},
		{name: "unassigned, in the Greek block", in: "ada\u0378x", userErr: "U+0378", groupErr: "U+0378"},
		{name: "unchanged old unassigned", in: "\ua7dcambda", sameAsOld: true},
		{name: "not UTF-8", in: "ada\xff", userErr: "not valid UTF-8", groupErr: "not valid UTF-8"},
		{name: "surrogate bytes", in: "ada\xed\xa0\x80", userErr: "not valid UTF-8", groupErr: "not valid UTF-8"},
		{name: "leading space", in: " ada", userErr: "begins or ends", groupErr: "begins or ends"},
		{name: "trailing space", in: "ada ", userErr: "begins or ends", groupErr: "begins or ends"},
		{name: "trailing ideographic space", in: "张三\u3000", userErr: "begins or ends", groupErr: "begins or ends"},
		{name: "no-break space", in: "Ada\u00a0Lovelace", userErr: "U+00A0"},
		{name: "ideographic space", in: "研发部\u3000北京", userErr: "U+3000"},
		{name: "line separator", in: "ada\u2028x", userErr: "U+2028"},
		{name: "decomposed (NFD)", in: "Jose\u0301", userErr: "Normalization Form C", groupErr: "Normalization Form C"},
		{name: "decomposed Hangul", in: "\u1100\u1161", userErr: "Normalization Form C", groupErr: "Normalization Form C"},

		// userNames compare ignoring case: no letter that is another
		// ignoring case without lower-casing to it (group names may).
		{name: "long s", in: "ſam-x@example.com", userErr: "U+017F"},
		{name: "final sigma", in: "Νίκος", userErr: "U+03C2"},
		{name: "micro sign", in: "µs@example.com", userErr: "U+00B5"},
		{name: "Greek theta symbol", in: "ϑeta", userErr: "U+03D1"},
		{name: "Cyrillic rounded ve", in: "\u1c80a", userErr: "U+1C80"},
		{name: "Greek, sigma in the middle", in: "σοφία"},
		{name: "Greek capitals", in: "ΝΊΚΟΣ"},
		{name: "Turkish dotless i", in: "yılmaz"},
		{name: "Turkish dotted capital I", in: "İstanbul"},
		{name: "German sharp s", in: "straße"},
		{name: "Cherokee", in: "ᏣᎳᎩ"},
		{name: "Kelvin sign (not NFC)", in: "\u212a", userErr: "Normalization Form C", groupErr: "Normalization Form C"},

		// A name stored before the rules existed keeps working.
		{name: "unchanged old name", in: "ada\u200b@example.com", sameAsOld: true},
		{name: "unchanged old long s", in: "ſam-x@example.com", sameAsOld: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var curUser *User
			var curGroup *Group
			if tc.sameAsOld {
				curUser, curGroup = &User{UserName: tc.in}, &Group{DisplayName: tc.in}
			}
			for _, c := range []struct {
				what, want string
				err        error
			}{
				{"userName", tc.userErr, checkUserName(curUser, &User{UserName: tc.in})},
				{"group displayName", tc.groupErr, checkGroupName(curGroup, &Group{DisplayName: tc.in})},
			} {
				switch {
				case c.want == "" && c.err != nil:
					t.Errorf("%s %q refused: %v", c.what, tc.in, c.err)
				case c.want != "" && (c.err == nil || !errors.Is(c.err, ErrInvalid) || !strings.Contains(c.err.Error(), c.want)):
					t.Errorf("%s %q: error %v, want ErrInvalid containing %q", c.what, tc.in, c.err, c.want)
				}
			}
		})
	}
}

// TestFoldsApart: once the letters foldsApart refuses are left out, two
// names that are equal ignoring case by Unicode simple case folding have
// the same lower-cased form (strings.ToLower), which is what uniqueness
// compares: for every rune, every other rune of its case-folding orbit
// that is allowed lower-cases as it does.
func TestFoldsApart(t *testing.T) {
	refused := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if _, bad := foldsApart(r); bad {
			refused++
			continue
		}
		for c := unicode.SimpleFold(r); c != r; c = unicode.SimpleFold(c) {
			if _, bad := foldsApart(c); !bad && unicode.ToLower(c) != unicode.ToLower(r) {
				t.Errorf("U+%04X and U+%04X are equal ignoring case, allowed, and lower-case to U+%04X and U+%04X",
					r, c, unicode.ToLower(r), unicode.ToLower(c))
			}
		}
	}
	// The few letters of the doc comment, not a script's worth.
	if refused == 0 || refused > 32 {
		t.Errorf("%d letters refused", refused)
	}
	for r, plain := range map[rune]rune{'ſ': 's', 'ς': 'σ', 'µ': 'μ', 'ϐ': 'β', 'ẛ': 'ṡ', '\u1fbe': 'ι'} {
		if got, bad := foldsApart(r); !bad || got != plain {
			t.Errorf("foldsApart(%q) = %q, %v; want %q", r, got, bad, plain)
		}
	}
}

// TestAssigned: assigned agrees, rune by rune, with x/text's table of the
// code points Unicode assigns in the version of Go's tables.
func TestAssigned(t *testing.T) {
	table := rangetable.Assigned(unicode.Version)
	if table == nil {
		t.Skipf("x/text has no table of assigned code points for Unicode %s", unicode.Version)
	}
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if assigned(r) != unicode.Is(table, r) {
			if n++; n <= 10 {
				t.Errorf("assigned(%U) = %v; Unicode %s says %v", r, assigned(r), unicode.Version, unicode.Is(table, r))
			}
		}
	}
	if n > 10 {
		t.Errorf("and %d more", n-10)
	}
}

// TestErrorWithoutOp: an Error that names no operation reads as its
// message alone.
func TestErrorWithoutOp(t *testing.T) {
	if got := Errorf(ErrInvalid, "userName", "userName is taken").Error(); got != "userName is taken" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Error{Kind: ErrInvalid, Op: "create user", Msg: "userName is taken"}).Error(); got != "create user: userName is taken" {
		t.Errorf("Error() = %q", got)
	}
}

// TestUnresolvedBulkID: a userName or externalId that still holds a bulkId
// reference is refused, and the error names the attribute that holds it.
func TestUnresolvedBulkID(t *testing.T) {
	for _, tc := range []struct {
		field string
		u     *User
	}{
		{"userName", &User{UserName: "a bulkId:x"}},
		{"externalId", &User{UserName: "ada", ExternalID: "bulkId:x"}},
	} {
		err := checkUser(tc.u, Profile{})
		if !errors.Is(err, ErrInvalid) || Field(err) != tc.field || !strings.Contains(Message(err), tc.field) {
			t.Errorf("%s with bulkId: %v (field %q), want invalid naming %s", tc.field, err, Field(err), tc.field)
		}
	}
}

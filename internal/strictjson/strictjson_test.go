package strictjson

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

type checkCase struct {
	name string
	in   string
	fold bool
	want *Error // nil: accepted
}

var checkCases = []checkCase{
	// Accepted: what encoding/json decodes exactly as written.
	{name: "object", in: `{"userName":"ada@example.com","active":true,"n":-1.5e+3,"x":null,"l":[1,false,{}],"o":{}}`},
	{name: "scalar", in: ` "a" `},
	{name: "empty array", in: `[]`},
	{name: "Chinese", in: `{"displayName":"张三","name":{"familyName":"张","givenName":"三"}}`},
	{name: "emoji, raw and as a surrogate pair", in: `["😀","\ud83d\ude00","\uD83D\uDE00"]`},
	{name: "escapes", in: `"\"\\\/\b\f\n\r\t\u00e9\u4e2d"`},
	{name: "U+FFFD written as such is not altered", in: `["\ufffd","` + "\uFFFD" + `"]`},
	{name: "same name in different objects", in: `{"a":{"a":1},"b":[{"a":1},{"a":2}]}`},
	{name: "names that differ in case, without folding", in: `{"userName":"a","USERNAME":"b"}`},
	{name: "escaped names that differ", in: `{"a\u0062":1,"ab\u0063":2}`},
	{name: "numbers", in: `[0,-0,1.0,1e5,1E-5,0.5e+10,123456789012345678901234567890]`},

	// Refused: what encoding/json alters.
	{name: "invalid UTF-8 byte", in: "{\"userName\":\"ada\xff\"}", want: &Error{Offset: 16, Msg: "a string is not valid UTF-8"}},
	{name: "truncated UTF-8 sequence", in: "\"\xe4\xb8\"", want: &Error{Offset: 1, Msg: "a string is not valid UTF-8"}},
	{name: "overlong encoding of /", in: "\"\xc0\xaf\"", want: &Error{Offset: 1, Msg: "a string is not valid UTF-8"}},
	{name: "UTF-8 of a surrogate (CESU-8)", in: "\"\xed\xa0\xbd\xed\xb8\x80\"", want: &Error{Offset: 1, Msg: "a string is not valid UTF-8"}},
	{name: "invalid UTF-8 in a name", in: "{\"a\xfe\":1}", want: &Error{Offset: 3, Msg: "a string is not valid UTF-8"}},
	{name: "lone high surrogate", in: `{"userName":"ada\ud800"}`, want: &Error{Offset: 16, Msg: `a string holds \ud800, an unpaired UTF-16 surrogate (not a character)`}},
	{name: "lone low surrogate", in: `"\udc00x"`, want: &Error{Offset: 1, Msg: `a string holds \udc00, an unpaired UTF-16 surrogate (not a character)`}},
	{name: "high surrogate then a character", in: `"\ud83d\u0041"`, want: &Error{Offset: 1, Msg: `a string holds \ud83d, an unpaired UTF-16 surrogate (not a character)`}},
	{name: "two high surrogates", in: `"\ud83d\ud83d"`, want: &Error{Offset: 1, Msg: `a string holds \ud83d, an unpaired UTF-16 surrogate (not a character)`}},
	{name: "high surrogate at the end", in: `"\ud83d"`, want: &Error{Offset: 1, Msg: `a string holds \ud83d, an unpaired UTF-16 surrogate (not a character)`}},
	{name: "surrogate in a name", in: `{"\udfff":1}`, want: &Error{Offset: 2, Msg: `a string holds \udfff, an unpaired UTF-16 surrogate (not a character)`}},
	{name: "NUL", in: `{"title":"a\u0000b"}`, want: &Error{Offset: 11, Msg: `a string holds \u0000 (NUL), which cannot be stored`}},
	{name: "duplicate name", in: `{"userName":"a","active":true,"userName":"b"}`, want: &Error{Offset: 30, Msg: `the name "userName" appears twice in one object`}},
	{name: "duplicate name, nested", in: `{"name":{"givenName":"A","givenName":"B"}}`, want: &Error{Offset: 25, Msg: `the name "givenName" appears twice in one object`}},
	{name: "duplicate name in an array element", in: `[{"a":1},{"b":1,"b":2}]`, want: &Error{Offset: 16, Msg: `the name "b" appears twice in one object`}},
	{name: "duplicate name hidden by an escape", in: `{"userName":"a","user\u004eame":"b"}`, want: &Error{Offset: 16, Msg: `the name "userName" appears twice in one object`}},
	{name: "duplicate empty name", in: `{"":1,"":2}`, want: &Error{Offset: 6, Msg: `the name "" appears twice in one object`}},
	{name: "names differing in case, folding", fold: true, in: `{"userName":"a","USERNAME":"b"}`, want: &Error{Offset: 16, Msg: `the names "userName" and "USERNAME" appear in one object: names are case-insensitive`}},
	{name: "Kelvin sign folds to k", fold: true, in: `{"kind":1,"\u212aind":2}`, want: &Error{Offset: 10, Msg: `the names "kind" and "` + "\u212a" + `ind" appear in one object: names are case-insensitive`}},
	{name: "long s folds to s", fold: true, in: `{"emails":1,"email` + "\u017f" + `":2}`, want: &Error{Offset: 12, Msg: `the names "emails" and "email` + "\u017f" + `" appear in one object: names are case-insensitive`}},

	// Refused: not JSON at all (encoding/json refuses these too).
	{name: "empty", in: ``, want: &Error{Offset: 0, Msg: "unexpected end of JSON input"}},
	{name: "unterminated object", in: `{"a":1`, want: &Error{Offset: 6, Msg: "unexpected end of JSON input"}},
	{name: "unterminated string", in: `{"a`, want: &Error{Offset: 1, Msg: "unterminated string"}},
	{name: "trailing data", in: `{} {}`, want: &Error{Offset: 3, Msg: "unexpected data after the JSON value"}},
	{name: "trailing comma", in: `[1,]`, want: &Error{Offset: 3, Msg: `invalid character ']'`}},
	{name: "raw control character", in: "\"a\tb\"", want: &Error{Offset: 2, Msg: "control character (byte 0x09) in a string: escape it"}},
	{name: "bad escape", in: `"\x"`, want: &Error{Offset: 1, Msg: "invalid escape sequence in a string"}},
	{name: "short \\u escape", in: `"\u12"`, want: &Error{Offset: 1, Msg: `invalid \u escape in a string`}},
	{name: "leading zero", in: `01`, want: &Error{Offset: 1, Msg: "unexpected data after the JSON value"}},
	{name: "bare minus", in: `-`, want: &Error{Offset: 1, Msg: "unexpected end of JSON input"}},
	{name: "fraction without digits", in: `1.`, want: &Error{Offset: 2, Msg: "unexpected end of JSON input"}},
	{name: "bad literal", in: `tru`, want: &Error{Offset: 0, Msg: `invalid character 't'`}},
	{name: "single quotes", in: `{'a':1}`, want: &Error{Offset: 1, Msg: `invalid character '\''`}},
	{name: "non-ASCII outside a string", in: "[\xe4\xb8\xad]", want: &Error{Offset: 1, Msg: "invalid character (byte 0xe4)"}},
	{name: "too deep", in: strings.Repeat("[", MaxDepth+1), want: &Error{Offset: MaxDepth, Msg: "arrays and objects nest deeper than 10000"}},
}

func TestCheck(t *testing.T) {
	for _, tc := range checkCases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in), Options{FoldNames: tc.fold})
			var got *Error
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check(%q) (-want +got):\n%s", tc.in, diff)
			}
			// Whatever is refused, encoding/json either refuses too or
			// would have decoded something else than was written.
			if tc.want == nil && !json.Valid([]byte(tc.in)) {
				t.Errorf("accepted, but encoding/json finds it invalid")
			}
		})
	}
}

// TestCheckLargeObjects: duplicates are found in objects large enough to be
// indexed, at any position, and a large object costs linear time (no
// timing here: the index is what makes it so).
func TestCheckLargeObjects(t *testing.T) {
	obj := func(names ...string) string {
		var b strings.Builder
		b.WriteByte('{')
		for i, n := range names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + n + `":` + `{"v":1}`)
		}
		b.WriteByte('}')
		return b.String()
	}
	var names []string
	for i := range 1000 {
		names = append(names, "a"+strings.Repeat("x", i%7)+string(rune('A'+i%26))+itoa(i))
	}
	if err := Check([]byte(obj(names...)), Options{FoldNames: true}); err != nil {
		t.Fatalf("distinct names: %v", err)
	}
	for _, at := range []int{1, indexAbove - 1, indexAbove, indexAbove + 1, 999} {
		dup := append(append([]string{}, names[:at]...), strings.ToUpper(names[at-1]))
		dup = append(dup, names[at:]...)
		for _, fold := range []bool{false, true} {
			err := Check([]byte(obj(dup...)), Options{FoldNames: fold})
			if fold != (err != nil) {
				t.Errorf("upper-cased copy after name %d, fold %v: %v", at, fold, err)
			}
		}
		exact := append(append([]string{}, names[:at]...), names[at/2])
		exact = append(exact, names[at:]...)
		if err := Check([]byte(obj(exact...)), Options{}); err == nil || !strings.Contains(err.Error(), "appears twice") {
			t.Errorf("exact copy of name %d after name %d: %v", at/2, at, err)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// FuzzCheck: Check never panics, agrees with encoding/json on what is
// JSON, and accepts only UTF-8.
func FuzzCheck(f *testing.F) {
	for _, tc := range checkCases {
		f.Add([]byte(tc.in), tc.fold)
	}
	f.Fuzz(func(t *testing.T, in []byte, fold bool) {
		err := Check(in, Options{FoldNames: fold})
		valid := json.Valid(in)
		if err == nil && !valid {
			t.Fatalf("Check accepts %q, which encoding/json refuses", in)
		}
		if err == nil && !utf8.Valid(in) {
			t.Fatalf("Check accepts %q, which is not UTF-8", in)
		}
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.Offset < 0 || e.Offset > len(in) || !utf8.ValidString(e.Msg)) {
			t.Fatalf("Check(%q): bad error %#v", in, err)
		}
		if err == nil && fold {
			// Folding only ever finds more duplicates.
			if err := Check(in, Options{}); err != nil {
				t.Fatalf("Check(%q) accepts with folding, refuses without: %v", in, err)
			}
		}
	})
}

// A typical SCIM body: Okta's create-user request.
func oktaCreateUser(b *testing.B) []byte {
	raw, err := os.ReadFile("../scim/testdata/idp-requests/okta/create_user.json")
	if err != nil {
		b.Fatal(err)
	}
	var fx struct{ Request json.RawMessage }
	if err := json.Unmarshal(raw, &fx); err != nil {
		b.Fatal(err)
	}
	return fx.Request
}

func BenchmarkCheck(b *testing.B) {
	body := oktaCreateUser(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(body, Options{FoldNames: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is what the SCIM endpoint did with the body before:
// decode it into a map (for comparison with BenchmarkCheck).
func BenchmarkDecode(b *testing.B) {
	body := oktaCreateUser(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			b.Fatal(err)
		}
	}
}

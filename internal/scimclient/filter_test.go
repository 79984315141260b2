package scimclient

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

var eqTests = []struct {
	attr, value, want string
}{
	{"userName", "ada@example.com", `userName eq "ada@example.com"`},
	{"userName", `o"brien`, `userName eq "o\"brien"`},
	{"userName", `back\slash`, `userName eq "back\\slash"`},
	{"userName", `\"`, `userName eq "\\\""`},
	{"displayName", "line\nbreak\ttab", `displayName eq "line\nbreak\ttab"`},
	{"displayName", "nul\x00bell\x07del\x7f", `displayName eq "nul\u0000bell\u0007del\u007f"`},
	{"displayName", "<b>&amp;</b>", `displayName eq "<b>&amp;</b>"`},
	{"externalId", "é😀", `externalId eq "é😀"`},
	{"externalId", "bad\xffutf8", "externalId eq \"bad\uFFFDutf8\""},
	{"members.value", `x" or userName pr or "`, `members.value eq "x\" or userName pr or \""`},
}

func TestEq(t *testing.T) {
	for _, tc := range eqTests {
		if got := Eq(tc.attr, tc.value); got != tc.want {
			t.Errorf("Eq(%q, %q) = %s, want %s", tc.attr, tc.value, got, tc.want)
		}
	}
}

func TestAnd(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{Eq("userName", "a"), Eq("externalId", "b")}, `userName eq "a" and externalId eq "b"`},
		{[]string{Eq("userName", "a or b"), ""}, `userName eq "a or b"`},
		{[]string{`title eq "x" or title eq "y"`, Eq("active", "z")}, `(title eq "x" or title eq "y") and active eq "z"`},
		{[]string{`emails[type eq "work" or type eq "home"]`, `x eq "1"`}, `emails[type eq "work" or type eq "home"] and x eq "1"`},
		{[]string{`(a eq "1" or b eq "2")`}, `(a eq "1" or b eq "2")`},
		{nil, ""},
	}
	for _, tc := range tests {
		if got := And(tc.in...); got != tc.want {
			t.Errorf("And(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// checkEq parses Eq's output with Gatehouse's own filter parser: one
// comparison, of the attribute, with exactly the value.
func checkEq(t *testing.T, value string) {
	f := Eq("userName", value)
	e, err := filter.Parse(f)
	if err != nil {
		t.Fatalf("Eq(%q) = %s does not parse: %v", value, f, err)
	}
	c, ok := e.(*filter.Compare)
	if !ok || c.Op != filter.Eq || c.Value.Kind != filter.KindString || !strings.EqualFold(c.Path.Name, "userName") {
		t.Fatalf("Eq(%q) = %s parses as %s", value, f, e)
	}
	want := strings.ToValidUTF8(value, "\uFFFD")
	if c.Value.Str != want {
		t.Fatalf("Eq(%q) = %s: value %q, want %q", value, f, c.Value.Str, want)
	}
	// And it is a JSON string.
	var s string
	if err := json.Unmarshal([]byte(f[len("userName eq "):]), &s); err != nil || s != want {
		t.Fatalf("Eq(%q): not the JSON string of the value: %q %v", value, s, err)
	}
	// Joined with another, it stays one comparison.
	e, err = filter.Parse(And(f, Eq("externalId", value)))
	if l, ok := e.(*filter.Logical); err != nil || !ok || l.Or {
		t.Fatalf("And of Eq(%q): %v %v", value, e, err)
	}
}

func TestEqParses(t *testing.T) {
	for _, tc := range eqTests {
		checkEq(t, tc.value)
	}
}

func FuzzEq(f *testing.F) {
	for _, tc := range eqTests {
		f.Add(tc.value)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if !utf8.ValidString(value) {
			value = strings.ToValidUTF8(value, "\uFFFD")
		}
		checkEq(t, value)
	})
}

package login

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

var resumeTests = []struct {
	in   string
	want bool
}{
	{"/", true},
	{"/saml/sso?r=abc", true},
	{"/oidc/authorize?handle=x&y=%2F%2Fevil", true},
	{"/password", true},
	{"", false},
	{"saml/sso", false},
	{"//evil.example/", false},
	{"/\\evil.example", false},
	{"\\\\evil.example", false},
	{"https://evil.example/", false},
	{"http:/evil.example", false},
	{"javascript:alert(1)", false},
	{"/a\\b", false},
	{"/a\nb", false},
	{"/a\tb", false},
	{"/a#frag", false},
	{"/\x7f", false},
	{" /", false},
	{"/" + strings.Repeat("a", 2048), false},
}

func TestSafeResume(t *testing.T) {
	for _, tt := range resumeTests {
		if got := SafeResume(tt.in); got != tt.want {
			t.Errorf("SafeResume(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzSafeResume: what SafeResume lets through is a path on this site for
// every URL parser a browser might use: no scheme, no host, no backslash.
func FuzzSafeResume(f *testing.F) {
	for _, tt := range resumeTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !SafeResume(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			return // a redirect to it fails; it never leaves the site
		}
		if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("SafeResume(%q) let through %+v", s, u)
		}
		if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\#") {
			t.Fatalf("SafeResume(%q): not a plain path", s)
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("SafeResume(%q): control character", s)
			}
		}
	})
}

func TestAccountDelay(t *testing.T) {
	max := 5 * time.Minute
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
		64 * time.Second, 128 * time.Second, 256 * time.Second, max, max}
	for i, w := range want {
		if got := accountDelay(i+1, max); got != w {
			t.Errorf("accountDelay(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := accountDelay(1000, max); got != max {
		t.Errorf("accountDelay(1000) = %s", got)
	}
}

func TestTemporaryPassword(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []directory.PasswordPolicy{directory.DefaultPasswordPolicy(), {MinLength: 24, MaxLength: 64, MinClasses: 3, DisallowUserName: true}} {
		for range 50 {
			pw, err := TemporaryPassword(p, "abcd")
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Check(pw, "abcd"); err != nil || seen[pw] || utf8.RuneCountInString(pw) < p.MinLength {
				t.Fatalf("%q: %v (seen %v)", pw, err, seen[pw])
			}
			if strings.ContainsAny(pw, "0O1lI") {
				t.Fatalf("%q has a look-alike character", pw)
			}
			seen[pw] = true
		}
	}
}

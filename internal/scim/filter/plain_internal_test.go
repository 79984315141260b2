package filter

import (
	"encoding/json"
	"testing"
)

// checkPlainString: a string plainString takes as it is is one
// json.Unmarshal decodes to itself.
func checkPlainString(t *testing.T, s string) {
	t.Helper()
	got, plain := plainString(s)
	if !plain {
		return
	}
	var want string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &want); err != nil || got != want {
		t.Fatalf("plainString(%q) = %q; json.Unmarshal: %q, %v", s, got, want, err)
	}
}

var plainCases = []string{"", `"`, `a"b`, "ada@example.com", "Zoë 王 🙂", `a\"b`, "tab\there", "\x7f", "a\xffb", "\u2028", `\u0041`, "<&>"}

func TestPlainString(t *testing.T) {
	for _, s := range plainCases {
		checkPlainString(t, s)
	}
	for _, s := range []string{`a\"b`, "tab\there", "a\xffb", `\u0041`} {
		if _, plain := plainString(s); plain {
			t.Errorf("plainString(%q) takes it as it is", s)
		}
	}
}

func FuzzPlainString(f *testing.F) {
	for _, s := range plainCases {
		f.Add(s)
	}
	f.Fuzz(checkPlainString)
}

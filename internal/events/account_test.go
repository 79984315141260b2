package events

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAccount: user names as RAM user names. Chinese names are
// transliterated (not all turned into "--", which merged people), Latin
// letters lose their accents, other scripts have no account name.
func TestAccount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Ada.Lovelace@corp.example.com", "ada.lovelace"},
		{"ada.lovelace@other.example.com", "ada.lovelace"}, // the same: the push reports the collision
		{"张伟", "zhangwei"},
		{"李娜@corp.example.com", "lina"},
		{"王芳.研发", "wangfang.yanfa"},
		{"José.García@example.com", "jose.garcia"},
		{"Łukasz.Straße", "lukasz.strasse"},
		{"Søren Kierkegaard", "soren-kierkegaard"},
		{"o'brien+test", "o-brien-test"},
		{"ｆｕｌｌ１", "full1"},
		{"Иван", ""},
		{"김민준", ""},
		{"ada.иван", ""},
		{strings.Repeat("张", 20), strings.Repeat("zhang", 12) + "zhan"},
	} {
		if got := Account(tc.in); got != tc.want {
			t.Errorf("Account(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Every account name is a RAM user name (or none).
	for _, in := range []string{"张伟", "Ada Lovelace", "x@y", "..", "é"} {
		got := Account(in)
		if diff := cmp.Diff("", strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789.-_")); diff != "" || len(got) > 64 {
			t.Errorf("Account(%q) = %q: not a RAM user name", in, got)
		}
	}
}

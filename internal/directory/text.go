package directory

import (
	"strings"
	"unicode"
)

// Names people read — an application's, a second factor's, a person's —
// must show what they are. Control characters (C0, C1) and the invisible
// bidirectional formatting characters can make one name look like
// another ("Payroll\u202Egpj.exe" reads as "Payrollexe.jpg"), so names
// Gatehouse is given refuse them (UnsafeText), and pages show them
// visibly in names that come from elsewhere (SCIM).

// UnsafeRune reports whether r is a control character, an invisible
// bidirectional mark or embedding/override/isolate (U+061C, U+200E,
// U+200F, U+202A–U+202E, U+2066–U+2069), or a line or paragraph
// separator (U+2028, U+2029).
func UnsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == 0x061C, r == 0x200E, r == 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// UnsafeText reports whether s holds an UnsafeRune.
func UnsafeText(s string) bool { return strings.ContainsFunc(s, UnsafeRune) }

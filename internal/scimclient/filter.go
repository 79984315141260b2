package scimclient

import (
	"strings"
	"unicode/utf8"
)

// Eq returns the filter `attr eq "value"` (RFC 7644 §3.4.2.2). The value is
// written as a JSON string, as the RFC's grammar requires: quotes,
// backslashes and control characters are escaped, so any value — a
// userName with quotes, a backslash, "and" or "or" in it — stays one value.
// attr is the caller's constant (userName, externalId, displayName,
// emails.value, members.value, a URN path) and is not escaped.
//
// eq and and are the only operators every SCIM server supports (RAM and
// Entra use nothing else).
func Eq(attr, value string) string {
	return attr + " eq " + quote(value)
}

// And joins filters with "and". An operand with an "or" outside quotes is
// parenthesised so that precedence stays as written; eq/and operands (all
// RAM understands) are left as they are.
func And(filters ...string) string {
	parts := make([]string, 0, len(filters))
	for _, f := range filters {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if hasTopLevelOr(f) {
			f = "(" + f + ")"
		}
		parts = append(parts, f)
	}
	return strings.Join(parts, " and ")
}

// quote writes s as a JSON string literal. HTML characters are left as they
// are (servers with simple parsers may not read \u escapes), and invalid
// UTF-8 becomes U+FFFD.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r == 0x7f:
			const hex = "0123456789abcdef"
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hasTopLevelOr reports whether f has the word "or" outside string literals
// and parentheses.
func hasTopLevelOr(f string) bool {
	depth := 0
	inStr := false
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case depth == 0 && (c == 'o' || c == 'O') && i > 0 && f[i-1] == ' ' &&
			i+2 < len(f) && (f[i+1] == 'r' || f[i+1] == 'R') && f[i+2] == ' ':
			return true
		}
	}
	return false
}

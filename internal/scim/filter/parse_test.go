package filter_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

// Tree constructors for expected parse results.

// path splits "[URI:]name[.sub]" the way the grammar does: the URI is
// everything before the last colon.
func path(s string) filter.Path {
	var p filter.Path
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		p.URI, s = s[:i], s[i+1:]
	}
	p.Name, p.Sub, _ = strings.Cut(s, ".")
	return p
}

func cmpx(attr string, op filter.Op, v filter.Value) filter.Expr {
	return &filter.Compare{Path: path(attr), Op: op, Value: v}
}

func prx(attr string) filter.Expr { return &filter.Compare{Path: path(attr), Op: filter.Pr} }

func and(l, r filter.Expr) filter.Expr { return &filter.Logical{Left: l, Right: r} }

func or(l, r filter.Expr) filter.Expr { return &filter.Logical{Or: true, Left: l, Right: r} }

func not(x filter.Expr) filter.Expr { return &filter.Not{X: x} }

func vp(attr string, f filter.Expr) filter.Expr {
	return &filter.ValuePath{Path: path(attr), Filter: f}
}

// ands folds xs into a left-associative chain, as the parser builds it.
func ands(xs ...filter.Expr) filter.Expr {
	e := xs[0]
	for _, x := range xs[1:] {
		e = and(e, x)
	}
	return e
}

func str(s string) filter.Value     { return filter.Value{Kind: filter.KindString, Str: s} }
func num(s string) filter.Value     { return filter.Value{Kind: filter.KindNumber, Str: s} }
func boolv(b bool) filter.Value     { return filter.Value{Kind: filter.KindBool, Bool: b} }
func nullv() filter.Value           { return filter.Value{Kind: filter.KindNull} }
func nested(n int, x string) string { return strings.Repeat("(", n) + x + strings.Repeat(")", n) }

// ignoreRef compares trees as written, whether or not Resolve has run.
var ignoreRef = cmpopts.IgnoreFields(filter.Path{}, "Ref")

const (
	userURN       = "urn:ietf:params:scim:schemas:core:2.0:User"
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	customURN     = "urn:ietf:params:scim:schemas:extension:customfield:2.0:User"
)

type validFilter struct {
	name  string
	in    string
	want  filter.Expr
	print string // want.String(); "" means the same as in
}

// validFilters is shared with the fuzz seeds.
var validFilters = []validFilter{
	// Every operator.
	{name: "eq", in: `userName eq "bjensen"`, want: cmpx("userName", filter.Eq, str("bjensen"))},
	{name: "ne", in: `userName ne "bjensen"`, want: cmpx("userName", filter.Ne, str("bjensen"))},
	{name: "co", in: `userName co "jen"`, want: cmpx("userName", filter.Co, str("jen"))},
	{name: "sw", in: `userName sw "J"`, want: cmpx("userName", filter.Sw, str("J"))},
	{name: "ew", in: `userName ew "sen"`, want: cmpx("userName", filter.Ew, str("sen"))},
	{name: "gt", in: `meta.lastModified gt "2011-05-13T04:42:34Z"`, want: cmpx("meta.lastModified", filter.Gt, str("2011-05-13T04:42:34Z"))},
	{name: "ge", in: `level ge 3`, want: cmpx("level", filter.Ge, num("3"))},
	{name: "lt", in: `level lt 3`, want: cmpx("level", filter.Lt, num("3"))},
	{name: "le", in: `level le 3`, want: cmpx("level", filter.Le, num("3"))},
	{name: "pr", in: `title pr`, want: prx("title")},

	// Case-insensitive keywords and operators; printing normalizes them.
	{name: "EQ", in: `userName EQ "x"`, want: cmpx("userName", filter.Eq, str("x")), print: `userName eq "x"`},
	{name: "mixed case operators", in: `a Ne "x" AND b cO "y" Or c PR`, want: or(and(cmpx("a", filter.Ne, str("x")), cmpx("b", filter.Co, str("y"))), prx("c")), print: `a ne "x" and b co "y" or c pr`},
	{name: "And", in: `title pr And userType eq "Employee"`, want: and(prx("title"), cmpx("userType", filter.Eq, str("Employee"))), print: `title pr and userType eq "Employee"`},
	{name: "NOT", in: `NOT (title pr)`, want: not(prx("title")), print: `not (title pr)`},
	{name: "attribute names keep their case", in: `NAME.FAMILYNAME eq "x"`, want: cmpx("NAME.FAMILYNAME", filter.Eq, str("x"))},
	{name: "TRUE FALSE NULL", in: `a eq TRUE or b eq False or c eq NULL`, want: or(or(cmpx("a", filter.Eq, boolv(true)), cmpx("b", filter.Eq, boolv(false))), cmpx("c", filter.Eq, nullv())), print: `a eq true or b eq false or c eq null`},

	// Precedence and grouping.
	{name: "and binds tighter than or (left)", in: `a pr and b pr or c pr`, want: or(and(prx("a"), prx("b")), prx("c"))},
	{name: "and binds tighter than or (right)", in: `a pr or b pr and c pr`, want: or(prx("a"), and(prx("b"), prx("c")))},
	{name: "and binds tighter than or (both)", in: `a pr and b pr or c pr and d pr`, want: or(and(prx("a"), prx("b")), and(prx("c"), prx("d")))},
	{name: "and is left-associative", in: `a pr and b pr and c pr`, want: and(and(prx("a"), prx("b")), prx("c"))},
	{name: "or is left-associative", in: `a pr or b pr or c pr`, want: or(or(prx("a"), prx("b")), prx("c"))},
	{name: "parens override precedence", in: `a pr and (b pr or c pr)`, want: and(prx("a"), or(prx("b"), prx("c")))},
	{name: "parens on the left", in: `(a pr or b pr) and c pr`, want: and(or(prx("a"), prx("b")), prx("c"))},
	{name: "right-nested and keeps parens", in: `a pr and (b pr and c pr)`, want: and(prx("a"), and(prx("b"), prx("c")))},
	{name: "right-nested or keeps parens", in: `a pr or (b pr or c pr)`, want: or(prx("a"), or(prx("b"), prx("c")))},
	{name: "redundant parens", in: `((a pr)) or ((b pr) and (c pr))`, want: or(prx("a"), and(prx("b"), prx("c"))), print: `a pr or b pr and c pr`},
	{name: "redundant parens around left chain", in: `(a pr and b pr) and c pr`, want: and(and(prx("a"), prx("b")), prx("c")), print: `a pr and b pr and c pr`},
	{name: "whitespace", in: " \t\r\n(a  pr\tand\nb eq\r\n1 ) ", want: and(prx("a"), cmpx("b", filter.Eq, num("1"))), print: `a pr and b eq 1`},
	{name: "no whitespace around punctuation", in: `(a eq"x")and(b pr)or(c pr)`, want: or(and(cmpx("a", filter.Eq, str("x")), prx("b")), prx("c")), print: `a eq "x" and b pr or c pr`},

	// not.
	{name: "not", in: `not (a pr)`, want: not(prx("a"))},
	{name: "not without space", in: `not(a pr)`, want: not(prx("a")), print: `not (a pr)`},
	{name: "not of or", in: `not (a pr or b pr)`, want: not(or(prx("a"), prx("b")))},
	{name: "not not", in: `not (not (a pr))`, want: not(not(prx("a")))},
	{name: "not binds to its group", in: `not (a pr) and b pr`, want: and(not(prx("a")), prx("b"))},
	{name: "and not", in: `a pr and not (b pr)`, want: and(prx("a"), not(prx("b")))},

	// Value paths.
	{name: "value path", in: `emails[type eq "work"]`, want: vp("emails", cmpx("type", filter.Eq, str("work")))},
	{name: "value path with and", in: `emails[type eq "work" and value co "@example.com"]`, want: vp("emails", and(cmpx("type", filter.Eq, str("work")), cmpx("value", filter.Co, str("@example.com"))))},
	{name: "value path with or and not", in: `emails[not (type eq "work") or primary eq true]`, want: vp("emails", or(not(cmpx("type", filter.Eq, str("work"))), cmpx("primary", filter.Eq, boolv(true))))},
	{name: "value path with parens", in: `emails[(type eq "work")]`, want: vp("emails", cmpx("type", filter.Eq, str("work"))), print: `emails[type eq "work"]`},
	{name: "value path with URN", in: userURN + `:emails[type eq "work"]`, want: vp(userURN+":emails", cmpx("type", filter.Eq, str("work")))},
	{name: "value path and value path", in: `emails[type eq "work"] and ims[type eq "xmpp"]`, want: and(vp("emails", cmpx("type", filter.Eq, str("work"))), vp("ims", cmpx("type", filter.Eq, str("xmpp"))))},
	{name: "not of value path", in: `not (emails[type eq "work"])`, want: not(vp("emails", cmpx("type", filter.Eq, str("work"))))},
	{name: "value path $ref", in: `members[$ref eq "https://example.com/v2/Users/1"]`, want: vp("members", cmpx("$ref", filter.Eq, str("https://example.com/v2/Users/1")))},

	// Entra's attr[filter].sub op value.
	{name: "entra", in: `emails[type eq "work"].value eq "a@b.c"`, want: vp("emails", and(cmpx("type", filter.Eq, str("work")), cmpx("value", filter.Eq, str("a@b.c")))), print: `emails[type eq "work" and value eq "a@b.c"]`},
	{name: "entra pr", in: `emails[type eq "work"].value pr`, want: vp("emails", and(cmpx("type", filter.Eq, str("work")), prx("value"))), print: `emails[type eq "work" and value pr]`},
	{name: "entra with or inside", in: `emails[type eq "work" or type eq "home"].value eq "a@b.c"`, want: vp("emails", and(or(cmpx("type", filter.Eq, str("work")), cmpx("type", filter.Eq, str("home"))), cmpx("value", filter.Eq, str("a@b.c")))), print: `emails[(type eq "work" or type eq "home") and value eq "a@b.c"]`},
	{name: "entra then and", in: `emails[type eq "work"].value eq "a@b.c" and active eq true`, want: and(vp("emails", and(cmpx("type", filter.Eq, str("work")), cmpx("value", filter.Eq, str("a@b.c")))), cmpx("active", filter.Eq, boolv(true))), print: `emails[type eq "work" and value eq "a@b.c"] and active eq true`},
	{name: "entra with URN", in: userURN + `:addresses[type eq "work"].postalCode EQ "12345"`, want: vp(userURN+":addresses", and(cmpx("type", filter.Eq, str("work")), cmpx("postalCode", filter.Eq, str("12345")))), print: userURN + `:addresses[type eq "work" and postalCode eq "12345"]`},

	// Sub-attributes and URNs.
	{name: "sub-attribute", in: `name.familyName eq "x"`, want: cmpx("name.familyName", filter.Eq, str("x"))},
	{name: "enterprise URN", in: enterpriseURN + `:employeeNumber eq "701984"`, want: cmpx(enterpriseURN+":employeeNumber", filter.Eq, str("701984"))},
	{name: "enterprise URN sub-attribute", in: enterpriseURN + `:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, want: cmpx(enterpriseURN+":manager.value", filter.Eq, str("26118915-6090-4610-87e4-49d8ca9f808d"))},
	{name: "core URN sub-attribute", in: userURN + `:name.familyName eq "x"`, want: cmpx(userURN+":name.familyName", filter.Eq, str("x"))},
	{name: "URN in upper case", in: strings.ToUpper(userURN) + `:userName pr`, want: prx(strings.ToUpper(userURN) + ":userName")},
	{name: "$ref", in: `groups.$ref pr`, want: prx("groups.$ref")},
	{name: "names with digits, dash and underscore", in: `x509Certificates.value pr and a-b_c pr`, want: and(prx("x509Certificates.value"), prx("a-b_c"))},
	{name: "keywords as attribute names", in: `and pr or or eq "x" and pr pr`, want: or(prx("and"), and(cmpx("or", filter.Eq, str("x")), prx("pr")))},

	// Strings.
	{name: "empty string", in: `title eq ""`, want: cmpx("title", filter.Eq, str(""))},
	{name: "escaped quote", in: `title eq "say \"hi\""`, want: cmpx("title", filter.Eq, str(`say "hi"`))},
	{name: "escaped backslash", in: `title eq "a\\b"`, want: cmpx("title", filter.Eq, str(`a\b`))},
	{name: "trailing escaped backslash", in: `title eq "a\\"`, want: cmpx("title", filter.Eq, str(`a\`))},
	{name: "unicode escape", in: `name.familyName eq "Ren\u00e9e"`, want: cmpx("name.familyName", filter.Eq, str("Renée")), print: `name.familyName eq "Renée"`},
	{name: "surrogate pair escape", in: `title eq "\ud83d\ude00"`, want: cmpx("title", filter.Eq, str("😀")), print: `title eq "😀"`},
	{name: "escaped backslash before u", in: `title eq "\\ud800"`, want: cmpx("title", filter.Eq, str(`\ud800`)), print: `title eq "\\ud800"`},
	{name: "replacement character escape", in: `title eq "\ufffd\ud83d\ude00x"`, want: cmpx("title", filter.Eq, str("\ufffd😀x")), print: "title eq \"\ufffd😀x\""},
	{name: "other escapes", in: `title eq "\/\b\f\n\r\t"`, want: cmpx("title", filter.Eq, str("/\b\f\n\r\t")), print: `title eq "/\u0008\u000c\n\r\t"`},
	{name: "control character escapes", in: `title eq "\u0000\u001f\u007f"`, want: cmpx("title", filter.Eq, str("\x00\x1f\x7f")), print: "title eq \"\\u0000\\u001f\x7f\""},
	{name: "raw UTF-8", in: `displayName eq "Zoë 李 😀"`, want: cmpx("displayName", filter.Eq, str("Zoë 李 😀"))},
	{name: "unprintable rune", in: `title eq "\u2028` + "\U000e0001" + `"`, want: cmpx("title", filter.Eq, str("\u2028\U000e0001")), print: "title eq \"\u2028\U000e0001\""},
	{name: "brackets and parens in strings", in: `title eq "a[b](c) and d"`, want: cmpx("title", filter.Eq, str("a[b](c) and d"))},
	{name: "apostrophe", in: `name.familyName co "O'Malley"`, want: cmpx("name.familyName", filter.Co, str("O'Malley"))},

	// Numbers.
	{name: "zero", in: `level eq 0`, want: cmpx("level", filter.Eq, num("0"))},
	{name: "int", in: `level eq 42`, want: cmpx("level", filter.Eq, num("42"))},
	{name: "negative", in: `level gt -17`, want: cmpx("level", filter.Gt, num("-17"))},
	{name: "negative zero", in: `level eq -0`, want: cmpx("level", filter.Eq, num("-0"))},
	{name: "decimal", in: `level lt 3.25`, want: cmpx("level", filter.Lt, num("3.25"))},
	{name: "negative decimal", in: `level lt -0.5`, want: cmpx("level", filter.Lt, num("-0.5"))},
	{name: "exponent", in: `level le 1e3`, want: cmpx("level", filter.Le, num("1e3"))},
	{name: "signed exponents", in: `a eq 1.5E+10 or b eq 2e-3`, want: or(cmpx("a", filter.Eq, num("1.5E+10")), cmpx("b", filter.Eq, num("2e-3")))},
	{name: "huge number parses", in: `level eq 1e400`, want: cmpx("level", filter.Eq, num("1e400"))},

	// Booleans and null.
	{name: "true", in: `active eq true`, want: cmpx("active", filter.Eq, boolv(true))},
	{name: "false", in: `active ne false`, want: cmpx("active", filter.Ne, boolv(false))},
	{name: "null", in: `title eq null`, want: cmpx("title", filter.Eq, nullv())},
	{name: "string true stays a string", in: `active eq "true"`, want: cmpx("active", filter.Eq, str("true"))},

	// RFC 7644 §3.4.2.2's example filters.
	{name: "rfc 1", in: `userName eq "bjensen"`, want: cmpx("userName", filter.Eq, str("bjensen"))},
	{name: "rfc 2", in: `name.familyName co "O'Malley"`, want: cmpx("name.familyName", filter.Co, str("O'Malley"))},
	{name: "rfc 3", in: `userName sw "J"`, want: cmpx("userName", filter.Sw, str("J"))},
	{name: "rfc 4", in: `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, want: cmpx(userURN+":userName", filter.Sw, str("J"))},
	{name: "rfc 5", in: `title pr`, want: prx("title")},
	{name: "rfc 6", in: `meta.lastModified gt "2011-05-13T04:42:34Z"`, want: cmpx("meta.lastModified", filter.Gt, str("2011-05-13T04:42:34Z"))},
	{name: "rfc 7", in: `meta.lastModified ge "2011-05-13T04:42:34Z"`, want: cmpx("meta.lastModified", filter.Ge, str("2011-05-13T04:42:34Z"))},
	{name: "rfc 8", in: `meta.lastModified lt "2011-05-13T04:42:34Z"`, want: cmpx("meta.lastModified", filter.Lt, str("2011-05-13T04:42:34Z"))},
	{name: "rfc 9", in: `meta.lastModified le "2011-05-13T04:42:34Z"`, want: cmpx("meta.lastModified", filter.Le, str("2011-05-13T04:42:34Z"))},
	{name: "rfc 10", in: `title pr and userType eq "Employee"`, want: and(prx("title"), cmpx("userType", filter.Eq, str("Employee")))},
	{name: "rfc 11", in: `title pr or userType eq "Intern"`, want: or(prx("title"), cmpx("userType", filter.Eq, str("Intern")))},
	{name: "rfc 12", in: `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, want: cmpx("schemas", filter.Eq, str(enterpriseURN))},
	{
		name: "rfc 13",
		in:   `userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
		want: and(cmpx("userType", filter.Eq, str("Employee")), or(cmpx("emails", filter.Co, str("example.com")), cmpx("emails.value", filter.Co, str("example.org")))),
	},
	{
		name: "rfc 14",
		in:   `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
		want: and(cmpx("userType", filter.Ne, str("Employee")), not(or(cmpx("emails", filter.Co, str("example.com")), cmpx("emails.value", filter.Co, str("example.org"))))),
	},
	{
		name:  "rfc 15",
		in:    `userType eq "Employee" and (emails.type eq "work")`,
		want:  and(cmpx("userType", filter.Eq, str("Employee")), cmpx("emails.type", filter.Eq, str("work"))),
		print: `userType eq "Employee" and emails.type eq "work"`,
	},
	{
		name: "rfc 16",
		in:   `userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
		want: and(cmpx("userType", filter.Eq, str("Employee")), vp("emails", and(cmpx("type", filter.Eq, str("work")), cmpx("value", filter.Co, str("@example.com"))))),
	},
	{
		name: "rfc 17",
		in:   `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
		want: or(vp("emails", and(cmpx("type", filter.Eq, str("work")), cmpx("value", filter.Co, str("@example.com")))), vp("ims", and(cmpx("type", filter.Eq, str("xmpp")), cmpx("value", filter.Co, str("@foo.com"))))),
	},

	// Limits, at the limit.
	{name: "MaxLength bytes", in: "title pr" + strings.Repeat(" ", filter.MaxLength-len("title pr")), want: prx("title"), print: "title pr"},
	{name: "MaxDepth parens", in: nested(filter.MaxDepth, "a pr"), want: prx("a"), print: "a pr"},
	{name: "MaxDepth nots", in: strings.Repeat("not (", filter.MaxDepth) + "a pr" + strings.Repeat(")", filter.MaxDepth), want: nots(filter.MaxDepth, prx("a"))},
	{name: "MaxDepth with brackets", in: nested(filter.MaxDepth-1, `emails[type pr]`), want: vp("emails", prx("type")), print: `emails[type pr]`},
	{name: "MaxDepth right-nested", in: rightNested(filter.MaxDepth), want: rightNestedTree(filter.MaxDepth)},
	{name: "MaxDepth with entra", in: nested(filter.MaxDepth-2, `emails[type pr or value pr].display pr`), want: vp("emails", and(or(prx("type"), prx("value")), prx("display"))), print: `emails[(type pr or value pr) and display pr]`},
	{name: "MaxTerms", in: strings.TrimSuffix(strings.Repeat("a pr and ", filter.MaxTerms), " and "), want: ands(repeat(filter.MaxTerms, prx("a"))...)},
	// A value path counts as a term, and so does Entra's trailing comparison.
	{name: "MaxTerms with entra", in: strings.Repeat(`e[a pr].b pr and `, filter.MaxTerms/3) + "c pr", want: ands(append(repeat(filter.MaxTerms/3, vp("e", and(prx("a"), prx("b")))), prx("c"))...), print: strings.Repeat(`e[a pr and b pr] and `, filter.MaxTerms/3) + "c pr"},
	{name: "long and chain prints flat", in: nested(1, strings.TrimSuffix(strings.Repeat("a pr and ", filter.MaxDepth+5), " and ")), want: ands(repeat(filter.MaxDepth+5, prx("a"))...), print: strings.TrimSuffix(strings.Repeat("a pr and ", filter.MaxDepth+5), " and ")},
}

func nots(n int, x filter.Expr) filter.Expr {
	for range n {
		x = not(x)
	}
	return x
}

func repeat(n int, x filter.Expr) []filter.Expr {
	xs := make([]filter.Expr, n)
	for i := range xs {
		xs[i] = x
	}
	return xs
}

// rightNested is "a0 pr and (a1 pr and (… (aN pr and aN+1 pr)))" with n
// levels of parentheses, all of them needed.
func rightNested(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "a%d pr and (", i)
	}
	fmt.Fprintf(&b, "a%d pr and a%d pr", n, n+1)
	b.WriteString(strings.Repeat(")", n))
	return b.String()
}

func rightNestedTree(n int) filter.Expr {
	e := and(prx(fmt.Sprintf("a%d", n)), prx(fmt.Sprintf("a%d", n+1)))
	for i := n - 1; i >= 0; i-- {
		e = and(prx(fmt.Sprintf("a%d", i)), e)
	}
	return e
}

type invalidFilter struct {
	name string
	in   string
}

// invalidFilters is shared with the fuzz seeds.
var invalidFilters = []invalidFilter{
	{"empty", ``},
	{"blank", " \t\n"},
	{"unknown operator", `userName eqq "x"`},
	{"unknown operator like", `userName like "x"`},
	{"operator as symbol", `userName = "x"`},
	{"missing operator", `userName`},
	{"missing value", `userName eq`},
	{"missing value before and", `userName eq and title pr`},
	{"missing value before paren", `(userName eq)`},
	{"pr with value", `title pr "x"`},
	{"unterminated string", `userName eq "bjensen`},
	{"unterminated string with escaped quote", `userName eq "bjensen\"`},
	{"unterminated string after complete expression", `title pr "abc`},
	{"malformed string after complete expression", `userName eq "x" "\x"`},
	{"bad escape", `userName eq "\x41"`},
	{"short unicode escape", `userName eq "\u12"`},
	// encoding/json would compare these as U+FFFD (red-team finding).
	{"lone high surrogate", `title eq "\ud800"`},
	{"lone low surrogate", `title eq "\udc00"`},
	{"high surrogate at the end", `title eq "a\ud83d"`},
	{"high surrogate before a character", `title eq "\ud83dA"`},
	{"high surrogate before another escape", `title eq "\ud83d\u0041"`},
	{"two high surrogates", `title eq "\ud83d\ud83d"`},
	{"low before high", `title eq "\ude00\ud83d"`},
	{"surrogate after a pair", `title eq "\ud83d\ude00\udc00"`},
	{"raw control character in string", "userName eq \"a\tb\""},
	{"single-quoted string", `userName eq 'x'`},
	{"unbalanced open paren", `(userName eq "x"`},
	{"unbalanced close paren", `userName eq "x")`},
	{"empty parens", `()`},
	{"unbalanced open bracket", `emails[type eq "work"`},
	{"unbalanced close bracket", `emails.type eq "work"]`},
	{"bracket closed by paren", `emails[type eq "work")`},
	{"paren closed by bracket", `(emails.type eq "work"]`},
	{"empty brackets", `emails[]`},
	{"nested value paths", `emails[type[value eq "x"]]`},
	{"nested value path after and", `groups[type eq "direct" and members[value pr]]`},
	{"value path on sub-attribute", `name.familyName[value eq "x"]`},
	{"URN inside value path", `emails[` + userURN + `:type eq "work"]`},
	{"sub-attribute inside value path", `emails[type.value eq "work"]`},
	{"value path without comparison", `emails[type]`},
	{"two value paths in a row", `emails[type pr][value pr]`},
	{"value path followed by space and sub-attribute", `emails[type eq "work"] .value eq "x"`},
	{"entra without operator", `emails[type eq "work"].value`},
	{"entra without sub-attribute", `emails[type eq "work"]. eq "x"`},
	{"entra with dotted sub-attribute", `emails[type eq "work"].value.x eq "x"`},
	{"entra with invalid sub-attribute", `emails[type eq "work"].1value eq "x"`},
	{"entra with not as sub-attribute", `emails[type eq "work"].not pr`},
	{"not without parens", `not userName eq "x"`},
	{"not at end", `not`},
	{"not with bracket", `not [a pr]`},
	{"bare value", `"bjensen"`},
	{"bare number", `42`},
	{"bare true", `true`},
	{"bare attribute and", `userName and title pr`},
	{"leading and", `and title pr`},
	{"trailing and", `title pr and`},
	{"trailing or", `title pr or`},
	{"double and", `title pr and and`},
	{"trailing garbage word", `title pr garbage`},
	{"trailing garbage string", `userName eq "x" "y"`},
	{"trailing garbage value", `userName eq "x" 1`},
	{"trailing paren group", `title pr (a pr)`},
	{"juxtaposed expressions", `title pr userName pr`},
	{"attribute starting with digit", `1abc eq "x"`},
	{"attribute with invalid character", `user*Name eq "x"`},
	{"attribute with non-ASCII letter", `ñame eq "x"`},
	{"attribute with empty sub", `name. eq "x"`},
	{"attribute with empty name", `.familyName eq "x"`},
	{"attribute with two dots", `name.familyName.x eq "x"`},
	{"dollar alone", `$ eq "x"`},
	{"dollar inside name", `a$ref eq "x"`},
	{"URN without name", `urn:ietf:params:scim:schemas:core:2.0:User: eq "x"`},
	{"URI that is not a URN", `http://example.com:userName eq "x"`},
	{"colon without URN", `user:name eq "x"`},
	{"leading colon", `:userName eq "x"`},
	{"number with leading zero", `level eq 01`},
	{"number with leading plus", `level eq +1`},
	{"number with trailing dot", `level eq 1.`},
	{"number with leading dot", `level eq .5`},
	{"number with empty exponent", `level eq 1e`},
	{"number with signed empty exponent", `level eq 1e+`},
	{"minus alone", `level eq -`},
	{"hex number", `level eq 0x10`},
	{"NaN", `level eq NaN`},
	{"bare word value", `userName eq bjensen`},
	{"number with comma", `level eq 1,5`},
	{"too long", "title pr" + strings.Repeat(" ", filter.MaxLength-len("title pr")+1)},
	{"too deep parens", nested(filter.MaxDepth+1, "a pr")},
	{"too deep nots", strings.Repeat("not (", filter.MaxDepth+1) + "a pr" + strings.Repeat(")", filter.MaxDepth+1)},
	{"too deep with brackets", nested(filter.MaxDepth, `emails[type pr]`)},
	{"too deep right-nested", rightNested(filter.MaxDepth + 1)},
	// Prints as emails[(type pr or value pr) and display pr], one level deeper.
	{"too deep with entra", nested(filter.MaxDepth-1, `emails[type pr or value pr].display pr`)},
	{"too many terms", strings.TrimSuffix(strings.Repeat("a pr and ", filter.MaxTerms+1), " and ")},
	{"too many terms with entra", strings.Repeat(`e[a pr].b pr and `, filter.MaxTerms/3) + "c pr and d pr"},
	{"invalid UTF-8 in string", "userName eq \"\xff\""},
	{"invalid UTF-8 in name", "user\xc3Name eq \"x\""},
	{"truncated UTF-8", "userName eq \"\xe6\x9d\""},
	{"NUL byte", "userName eq \"x\"\x00"},
}

func TestParse(t *testing.T) {
	for _, tt := range validFilters {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filter.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreRef); diff != "" {
				t.Errorf("Parse(%q) tree mismatch (-want +got):\n%s", tt.in, diff)
			}
			wantPrint := tt.print
			if wantPrint == "" {
				wantPrint = tt.in
			}
			printed := got.String()
			if printed != wantPrint {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, printed, wantPrint)
			}

			// Round trip: printing and parsing again gives the same tree.
			again, err := filter.Parse(printed)
			if err != nil {
				t.Fatalf("Parse(%q) (printed form): %v", printed, err)
			}
			if diff := cmp.Diff(got, again, ignoreRef); diff != "" {
				t.Errorf("Parse(String()) differs from Parse (-first +second):\n%s", diff)
			}
			if s := again.String(); s != printed {
				t.Errorf("second String() = %q, want %q", s, printed)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tt := range invalidFilters {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filter.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.in, got)
			}
			if !filter.IsError(err) {
				t.Errorf("Parse(%q) error %v (%T) is not a filter error", tt.in, err, err)
			}
			if got != nil {
				t.Errorf("Parse(%q) returned a tree %v with error %v", tt.in, got, err)
			}
		})
	}
}

func TestParseErrorPosition(t *testing.T) {
	tests := []struct {
		in      string
		wantPos int
	}{
		{`userName eqq "x"`, 9},
		{`userName eq "x`, 12},
		{`title pr "abc`, 9},
		{`title pr garbage`, 9},
		{`(title pr`, 9},
		{`not title pr`, 4},
		{`emails[type[value pr]]`, 11},
		{"title pr" + strings.Repeat(" ", filter.MaxLength), -1},
		{"title eq \"\xff\"", -1},
	}
	for _, tt := range tests {
		_, err := filter.Parse(tt.in)
		var fe *filter.Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%.40q) error = %v, want a *filter.Error", tt.in, err)
			continue
		}
		if fe.Pos != tt.wantPos {
			t.Errorf("Parse(%.40q) error at %d (%v), want at %d", tt.in, fe.Pos, err, tt.wantPos)
		}
	}
}

func TestIsError(t *testing.T) {
	_, perr := filter.Parse(`userName eq`)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"other error", errors.New("boom"), false},
		{"filter error", &filter.Error{Pos: -1, Msg: "x"}, true},
		{"parse error", perr, true},
		{"wrapped", fmt.Errorf("list users: %w", perr), true},
	}
	for _, tt := range tests {
		if got := filter.IsError(tt.err); got != tt.want {
			t.Errorf("IsError(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  *filter.Error
		want string
	}{
		{&filter.Error{Pos: 3, Msg: "bad"}, "invalid filter at offset 3: bad"},
		{&filter.Error{Pos: 0, Msg: "bad"}, "invalid filter at offset 0: bad"},
		{&filter.Error{Pos: -1, Msg: "bad"}, "invalid filter: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// validValueFilters are the insides of value paths, as PATCH paths carry them.
var validValueFilters = []validFilter{
	{name: "simple", in: `type eq "work"`, want: cmpx("type", filter.Eq, str("work"))},
	{name: "and", in: `type eq "work" AND value co "@example.com"`, want: and(cmpx("type", filter.Eq, str("work")), cmpx("value", filter.Co, str("@example.com"))), print: `type eq "work" and value co "@example.com"`},
	{name: "not", in: `not (primary eq true) or $ref pr`, want: or(not(cmpx("primary", filter.Eq, boolv(true))), prx("$ref"))},
	{name: "value", in: `value eq "2819c223-7f76-453a-919d-413861904646"`, want: cmpx("value", filter.Eq, str("2819c223-7f76-453a-919d-413861904646"))},
}

var invalidValueFilters = []invalidFilter{
	{"empty", ``},
	{"nested value path", `emails[type eq "work"]`},
	{"URN", userURN + `:type eq "work"`},
	{"sub-attribute", `name.givenName eq "x"`},
	{"trailing bracket", `type eq "work"]`},
	{"trailing garbage", `type eq "work" x`},
	{"unterminated string after complete expression", `type pr "x`},
	{"invalid UTF-8", "type eq \"\xff\""},
	{"too long", "type pr" + strings.Repeat(" ", filter.MaxLength)},
	{"too deep", nested(filter.MaxDepth+1, "type pr")},
	{"too many terms", strings.TrimSuffix(strings.Repeat("type pr or ", filter.MaxTerms+1), " or ")},
}

func TestParseValueFilter(t *testing.T) {
	for _, tt := range validValueFilters {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filter.ParseValueFilter(tt.in)
			if err != nil {
				t.Fatalf("ParseValueFilter(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreRef); diff != "" {
				t.Errorf("ParseValueFilter(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			wantPrint := tt.print
			if wantPrint == "" {
				wantPrint = tt.in
			}
			if s := got.String(); s != wantPrint {
				t.Errorf("String() = %q, want %q", s, wantPrint)
			}
			again, err := filter.ParseValueFilter(got.String())
			if err != nil {
				t.Fatalf("ParseValueFilter(String()): %v", err)
			}
			if diff := cmp.Diff(got, again, ignoreRef); diff != "" {
				t.Errorf("round trip mismatch (-first +second):\n%s", diff)
			}
		})
	}
	for _, tt := range invalidValueFilters {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			got, err := filter.ParseValueFilter(tt.in)
			if err == nil {
				t.Fatalf("ParseValueFilter(%q) = %v, want an error", tt.in, got)
			}
			if !filter.IsError(err) {
				t.Errorf("ParseValueFilter(%q) error %v is not a filter error", tt.in, err)
			}
		})
	}
}

func TestWalk(t *testing.T) {
	e, err := filter.Parse(`a pr and not (b pr or emails[type eq "work"])`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	filter.Walk(e, func(x filter.Expr) bool {
		got = append(got, fmt.Sprintf("%T", x))
		return true
	})
	want := []string{"*filter.Logical", "*filter.Compare", "*filter.Not", "*filter.Logical", "*filter.Compare", "*filter.ValuePath", "*filter.Compare"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Walk order mismatch (-want +got):\n%s", diff)
	}

	// Returning false skips the node's children.
	got = nil
	filter.Walk(e, func(x filter.Expr) bool {
		got = append(got, fmt.Sprintf("%T", x))
		_, isNot := x.(*filter.Not)
		return !isNot
	})
	want = []string{"*filter.Logical", "*filter.Compare", "*filter.Not"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Walk with pruning mismatch (-want +got):\n%s", diff)
	}
}

func TestValueString(t *testing.T) {
	tests := []struct {
		v    filter.Value
		want string
	}{
		{nullv(), "null"},
		{boolv(true), "true"},
		{boolv(false), "false"},
		{num("-1.5e3"), "-1.5e3"},
		{str(""), `""`},
		{str(`a"b\c`), `"a\"b\\c"`},
		{str("\n\r\t\b\x00\x1f"), `"\n\r\t\u0008\u0000\u001f"`},
		{str("\x7fé😀\u2028"), "\"\x7fé😀\u2028\""},
		{str("<&>"), `"<&>"`},
		{str("bad\xffutf8"), `"bad\ufffdutf8"`},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %s, want %s", tt.v, got, tt.want)
		}
	}
}

// Package filter parses SCIM filter expressions (RFC 7644 §3.4.2.2) into a
// typed tree, resolves the tree's attribute paths against a resource type's
// schemas, and evaluates resolved trees against a single JSON value (used by
// PATCH value filters). Turning a tree into SQL is the stores' business; no
// text from the filter ever reaches SQL except through the tree.
package filter

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Expr is a node of a filter tree: *Logical, *Not, *Compare or *ValuePath.
type Expr interface {
	String() string
	isExpr()
}

// Op is a comparison operator.
type Op string

// The comparison operators of RFC 7644 §3.4.2.2.
const (
	Eq Op = "eq"
	Ne Op = "ne"
	Co Op = "co"
	Sw Op = "sw"
	Ew Op = "ew"
	Gt Op = "gt"
	Ge Op = "ge"
	Lt Op = "lt"
	Le Op = "le"
	Pr Op = "pr"
)

func parseOp(s string) (Op, bool) {
	switch op := Op(strings.ToLower(s)); op {
	case Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le, Pr:
		return op, true
	}
	return "", false
}

// Logical is "and" or "or".
type Logical struct {
	Or          bool
	Left, Right Expr
}

// Not negates its operand.
type Not struct{ X Expr }

// Compare is an attribute expression: Path Op Value, or Path "pr".
type Compare struct {
	Path  Path
	Op    Op
	Value Value // zero for pr
}

// ValuePath filters the elements of a multi-valued (or complex) attribute:
// Path "[" Filter "]". Paths inside Filter are relative to Path: they name
// sub-attributes.
type ValuePath struct {
	Path   Path
	Filter Expr
}

func (*Logical) isExpr()   {}
func (*Not) isExpr()       {}
func (*Compare) isExpr()   {}
func (*ValuePath) isExpr() {}

// Path is an attribute path as written, [URI ":"] Name ["." Sub], and — once
// resolved — the schema attribute it names.
type Path struct {
	URI  string
	Name string
	Sub  string
	// Ref is set by Resolve.
	Ref schema.Ref
}

// Resolved reports whether Resolve has filled in Ref.
func (p Path) Resolved() bool { return p.Ref.Attr != nil }

// String renders the path as written (canonical names once resolved).
func (p Path) String() string {
	uri, name, sub := p.URI, p.Name, p.Sub
	if p.Resolved() {
		if uri != "" {
			uri = p.Ref.Schema.ID // the URN matched case-insensitively
		}
		switch {
		case p.Sub == "" && p.Ref.Sub != nil:
			// A path inside a value filter, relative to the filtered
			// attribute: Name names the sub-attribute Ref.Sub.
			name = p.Ref.Sub.Name
		case p.Sub == "" && p.URI == "" && !strings.EqualFold(p.Name, p.Ref.Attr.Name):
			// The "value" of an element of a simple multi-valued attribute
			// inside a value filter.
			name = "value"
		default:
			name = p.Ref.Attr.Name
			if p.Ref.Sub != nil {
				sub = p.Ref.Sub.Name
			}
		}
	}
	s := name
	if uri != "" {
		s = uri + ":" + s
	}
	if sub != "" {
		s += "." + sub
	}
	return s
}

// Kind is the JSON type of a comparison value.
type Kind int

// Value kinds.
const (
	KindNull Kind = iota
	KindString
	KindNumber
	KindBool
)

// Value is a comparison value: a JSON string, number, boolean or null.
type Value struct {
	Kind Kind
	Str  string // KindString: the decoded string; KindNumber: the literal
	Bool bool
}

// String renders the value as JSON.
func (v Value) String() string {
	switch v.Kind {
	case KindString:
		return quote(v.Str)
	case KindNumber:
		return v.Str
	case KindBool:
		return strconv.FormatBool(v.Bool)
	}
	return "null"
}

// quote renders s as a JSON string (strconv.Quote's Go escapes such as \x01
// or \U0001f600 are not JSON and would not parse back). Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func quote(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\ufffd`)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// Float returns a number value as float64.
func (v Value) Float() (float64, error) { return strconv.ParseFloat(v.Str, 64) }

// String writes only the parentheses that precedence ("and" binds
// tighter than "or") and left associativity require, so that printing and
// parsing round-trip to the same tree, and the printed filter is nested no
// deeper than the parsed one (MaxDepth).
func (e *Logical) String() string {
	op := " and "
	if e.Or {
		op = " or "
	}
	left, right := e.Left.String(), e.Right.String()
	if l, ok := e.Left.(*Logical); ok && l.Or && !e.Or {
		left = "(" + left + ")"
	}
	if r, ok := e.Right.(*Logical); ok && (r.Or || !e.Or) {
		right = "(" + right + ")"
	}
	return left + op + right
}

func (e *Not) String() string { return "not (" + e.X.String() + ")" }

func (e *Compare) String() string {
	if e.Op == Pr {
		return e.Path.String() + " pr"
	}
	return e.Path.String() + " " + string(e.Op) + " " + e.Value.String()
}

func (e *ValuePath) String() string { return e.Path.String() + "[" + e.Filter.String() + "]" }

// Walk calls fn for e and every node below it, depth first, stopping early
// when fn returns false.
func Walk(e Expr, fn func(Expr) bool) {
	if !fn(e) {
		return
	}
	switch n := e.(type) {
	case *Logical:
		Walk(n.Left, fn)
		Walk(n.Right, fn)
	case *Not:
		Walk(n.X, fn)
	case *ValuePath:
		Walk(n.Filter, fn)
	}
}

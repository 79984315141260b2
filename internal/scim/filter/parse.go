package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile filter from costing much to parse or to run.
const (
	MaxLength = 8192 // bytes
	MaxDepth  = 32   // nesting of parentheses, not and brackets
	MaxTerms  = 100  // attribute expressions
)

// Error is a filter that cannot be parsed or resolved. Protocol layers answer
// it with 400 invalidFilter.
type Error struct {
	Pos int // byte offset in the filter, or -1
	Msg string
}

func (e *Error) Error() string {
	if e.Pos >= 0 {
		return fmt.Sprintf("invalid filter at offset %d: %s", e.Pos, e.Msg)
	}
	return "invalid filter: " + e.Msg
}

// IsError reports whether err is (or wraps) a filter *Error.
func IsError(err error) bool {
	var fe *Error
	return errors.As(err, &fe)
}

// Parse parses a filter. Keywords and operators are case-insensitive.
// Besides RFC 7644's grammar it accepts, as Microsoft Entra sends it, a value
// path followed by a sub-attribute and a comparison:
//
//	emails[type eq "work"].value eq "a@b.c"
//
// which means emails[type eq "work" and value eq "a@b.c"].
func Parse(s string) (Expr, error) { return parse(s, false) }

// ParseValueFilter parses the inside of a value path ("type eq \"work\""), as
// found in PATCH paths.
func ParseValueFilter(s string) (Expr, error) { return parse(s, true) }

func parse(s string, inValue bool) (Expr, error) {
	if len(s) > MaxLength {
		return nil, &Error{Pos: -1, Msg: fmt.Sprintf("longer than %d bytes", MaxLength)}
	}
	if !utf8.ValidString(s) {
		return nil, &Error{Pos: -1, Msg: "not valid UTF-8"}
	}
	p := &parser{src: s}
	p.next()
	e, err := p.parseOr(inValue)
	if err != nil {
		return nil, err
	}
	if p.err != nil {
		// A lexical error right after a complete expression
		// ("a pr \"unterminated").
		return nil, p.err
	}
	if p.tok.kind != tEOF {
		return nil, p.errf("unexpected %s", p.tok)
	}
	return e, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tLParen
	tRParen
	tLBracket
	tRBracket
)

type token struct {
	kind tokKind
	text string // tWord: the word; tString: the decoded value
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tWord:
		return fmt.Sprintf("%q", t.text)
	case tString:
		return "string"
	case tLParen:
		return `"("`
	case tRParen:
		return `")"`
	case tLBracket:
		return `"["`
	case tRBracket:
		return `"]"`
	}
	return "?"
}

type parser struct {
	src   string
	off   int
	tok   token
	err   error
	depth int
	terms int
}

func (p *parser) errf(format string, args ...any) error {
	return &Error{Pos: p.tok.pos, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// next scans the next token into p.tok. A lexical error is kept in p.err and
// reported as a tEOF token, so the grammar code sees it at its next step.
func (p *parser) next() {
	for p.off < len(p.src) && isSpace(p.src[p.off]) {
		p.off++
	}
	start := p.off
	if p.off >= len(p.src) {
		p.tok = token{kind: tEOF, pos: start}
		return
	}
	switch c := p.src[p.off]; c {
	case '(':
		p.off++
		p.tok = token{kind: tLParen, pos: start}
	case ')':
		p.off++
		p.tok = token{kind: tRParen, pos: start}
	case '[':
		p.off++
		p.tok = token{kind: tLBracket, pos: start}
	case ']':
		p.off++
		p.tok = token{kind: tRBracket, pos: start}
	case '"':
		end, err := scanString(p.src, p.off)
		if err != nil {
			p.err = &Error{Pos: start, Msg: err.Error()}
			p.tok = token{kind: tEOF, pos: start}
			return
		}
		v, plain := plainString(p.src[p.off+1 : end-1])
		if !plain {
			if err := json.Unmarshal([]byte(p.src[p.off:end]), &v); err != nil {
				p.err = &Error{Pos: start, Msg: "malformed string: " + err.Error()}
				p.tok = token{kind: tEOF, pos: start}
				return
			}
			// encoding/json decodes the escape of an unpaired surrogate
			// as U+FFFD; such a value is refused, as in a body, not
			// compared repaired.
			if r, ok := unpairedSurrogate(p.src[p.off+1 : end-1]); ok {
				p.err = &Error{Pos: start, Msg: fmt.Sprintf("malformed string: \\u%04x is an unpaired UTF-16 surrogate (not a character)", r)}
				p.tok = token{kind: tEOF, pos: start}
				return
			}
		}
		p.off = end
		p.tok = token{kind: tString, text: v, pos: start}
	default:
		for p.off < len(p.src) {
			c := p.src[p.off]
			if isSpace(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '"' {
				break
			}
			p.off++
		}
		p.tok = token{kind: tWord, text: p.src[start:p.off], pos: start}
	}
}

// plainString returns s, the content of a JSON string, when it holds
// nothing for the JSON decoder to change or refuse: no escape, no
// quotation mark, no control character, no invalid UTF-8.
func plainString(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '\\' || c == '"' {
			return "", false
		}
	}
	if !utf8.ValidString(s) {
		return "", false
	}
	return s, true
}

// unpairedSurrogate finds, in the content of a JSON string that decodes
// (its escapes well formed), the escape of a UTF-16 surrogate that is not
// a high one followed by a low one.
func unpairedSurrogate(s string) (rune, bool) {
	hex := func(i int) rune {
		n, _ := strconv.ParseUint(s[i:i+4], 16, 32)
		return rune(n)
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' {
			i++ // a one-letter escape: \\, \" …
			continue
		}
		r := hex(i + 2)
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return r, true
		case r >= 0xD800 && r <= 0xDBFF:
			if i+12 > len(s) || s[i+6] != '\\' || s[i+7] != 'u' {
				return r, true
			}
			if lo := hex(i + 8); lo < 0xDC00 || lo > 0xDFFF {
				return r, true
			}
			i += 11
		default:
			i += 5
		}
	}
	return 0, false
}

// scanString returns the offset just past the JSON string starting at i.
func scanString(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

func (p *parser) keyword(k string) bool {
	return p.tok.kind == tWord && strings.EqualFold(p.tok.text, k)
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errf("nested more than %d levels deep", MaxDepth)
	}
	return nil
}

// parseOr: or-expression, the lowest precedence. inValue is true inside a
// value path's brackets, where value paths may not nest.
func (p *parser) parseOr(inValue bool) (Expr, error) {
	left, err := p.parseAnd(inValue)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		p.next()
		right, err := p.parseAnd(inValue)
		if err != nil {
			return nil, err
		}
		left = &Logical{Or: true, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseAnd(inValue bool) (Expr, error) {
	left, err := p.parseUnary(inValue)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		p.next()
		right, err := p.parseUnary(inValue)
		if err != nil {
			return nil, err
		}
		left = &Logical{Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseUnary(inValue bool) (Expr, error) {
	if p.err != nil {
		return nil, p.err
	}
	switch {
	case p.keyword("not"):
		p.next()
		if p.tok.kind != tLParen {
			if p.err != nil {
				return nil, p.err
			}
			return nil, p.errf(`expected "(" after "not", found %s`, p.tok)
		}
		x, err := p.parseGroup(inValue)
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	case p.tok.kind == tLParen:
		return p.parseGroup(inValue)
	case p.tok.kind == tWord:
		return p.parseAttrExp(inValue)
	}
	if p.err != nil {
		return nil, p.err
	}
	return nil, p.errf("expected an attribute, \"not\" or \"(\", found %s", p.tok)
}

func (p *parser) parseGroup(inValue bool) (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.next() // (
	x, err := p.parseOr(inValue)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tRParen {
		if p.err != nil {
			return nil, p.err
		}
		return nil, p.errf(`expected ")", found %s`, p.tok)
	}
	p.next()
	return x, nil
}

func (p *parser) parseAttrExp(inValue bool) (Expr, error) {
	p.terms++
	if p.terms > MaxTerms {
		return nil, p.errf("more than %d attribute expressions", MaxTerms)
	}
	path, err := p.parsePath(p.tok.text, inValue)
	if err != nil {
		return nil, err
	}
	p.next()
	if p.tok.kind == tLBracket {
		if inValue {
			return nil, p.errf("value paths cannot be nested")
		}
		return p.parseValuePath(path)
	}
	return p.parseComparison(path)
}

func (p *parser) parseValuePath(path Path) (Expr, error) {
	if path.Sub != "" {
		return nil, p.errf("a value path applies to an attribute, not to sub-attribute %q", path.Sub)
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.next() // [
	inner, err := p.parseOr(true)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tRBracket {
		if p.err != nil {
			return nil, p.err
		}
		return nil, p.errf(`expected "]", found %s`, p.tok)
	}
	end := p.off
	p.next()
	// Entra's form: attr[filter].sub op value (no space before the dot).
	if p.tok.kind == tWord && p.tok.pos == end && strings.HasPrefix(p.tok.text, ".") {
		subName := p.tok.text[1:]
		// "not" would print as the keyword inside the brackets.
		if !validName(subName) || strings.EqualFold(subName, "not") {
			return nil, p.errf("invalid sub-attribute %q", subName)
		}
		p.terms++
		if p.terms > MaxTerms {
			return nil, p.errf("more than %d attribute expressions", MaxTerms)
		}
		if l, ok := inner.(*Logical); ok && l.Or {
			// Printed as attr[(filter) and sub op value]: one level deeper.
			if err := p.enter(); err != nil {
				return nil, err
			}
			p.depth--
		}
		p.next()
		cmp, err := p.parseComparison(Path{Name: subName})
		if err != nil {
			return nil, err
		}
		inner = &Logical{Left: inner, Right: cmp}
	}
	return &ValuePath{Path: path, Filter: inner}, nil
}

func (p *parser) parseComparison(path Path) (Expr, error) {
	if p.tok.kind != tWord {
		if p.err != nil {
			return nil, p.err
		}
		return nil, p.errf("expected an operator after %q, found %s", path.String(), p.tok)
	}
	op, ok := parseOp(p.tok.text)
	if !ok {
		return nil, p.errf("unknown operator %q", p.tok.text)
	}
	p.next()
	if op == Pr {
		return &Compare{Path: path, Op: Pr}, nil
	}
	v, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	return &Compare{Path: path, Op: op, Value: v}, nil
}

func (p *parser) parseValue() (Value, error) {
	if p.err != nil {
		return Value{}, p.err
	}
	t := p.tok
	switch t.kind {
	case tString:
		p.next()
		return Value{Kind: KindString, Str: t.text}, nil
	case tWord:
		switch strings.ToLower(t.text) {
		case "true":
			p.next()
			return Value{Kind: KindBool, Bool: true}, nil
		case "false":
			p.next()
			return Value{Kind: KindBool}, nil
		case "null":
			p.next()
			return Value{Kind: KindNull}, nil
		}
		if isJSONNumber(t.text) {
			p.next()
			return Value{Kind: KindNumber, Str: t.text}, nil
		}
		return Value{}, p.errf("expected a value (string, number, true, false or null), found %s", t)
	}
	return Value{}, p.errf("expected a value, found %s", t)
}

// parsePath splits [URI ":"] name ["." sub]. The URI is everything before the
// last colon, so schema URNs with dots ("…:2.0:User") work.
func (p *parser) parsePath(word string, inValue bool) (Path, error) {
	var path Path
	rest := word
	if i := strings.LastIndexByte(word, ':'); i >= 0 {
		if inValue {
			return Path{}, p.errf("a schema URI is not allowed inside a value path: %q", word)
		}
		path.URI, rest = word[:i], word[i+1:]
		if !strings.HasPrefix(strings.ToLower(path.URI), "urn:") {
			return Path{}, p.errf("invalid attribute path %q", word)
		}
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	if !validName(name) || (hasSub && !validName(sub)) {
		return Path{}, p.errf("invalid attribute path %q", word)
	}
	if inValue && hasSub {
		return Path{}, p.errf("only sub-attribute names are allowed inside a value path: %q", word)
	}
	path.Name, path.Sub = name, sub
	return path, nil
}

// validName checks ATTRNAME = ALPHA *(nameChar), also allowing the "$ref"
// attribute names that RFC 7643 itself uses.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_'):
		case i == 0 && c == '$':
		default:
			return false
		}
	}
	return s != "$"
}

// isJSONNumber checks the JSON number grammar (RFC 8259 §6).
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(s)
}

package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile pattern from costing much to parse, compile or
// run.
const (
	MaxPatternBytes = 64 << 10 // source size
	MaxPatternDepth = 32       // nesting of objects and arrays
	// MaxAlternatives bounds what one pattern expands to once every "$or"
	// (and every leaf that mixes {"exists": false} with values) is
	// multiplied out.
	MaxAlternatives = 1024
)

// PatternError is a pattern that cannot be used. Path names the offending
// part (detail.email[0], detail.age.numeric, $or[1].source); Line and Column
// (1-based, the column counted in characters) locate its token in the source.
type PatternError struct {
	Path         string
	Line, Column int
	Msg          string
}

func (e *PatternError) Error() string {
	path := e.Path
	if path == "" {
		path = "(top level)"
	}
	return fmt.Sprintf("line %d, column %d: at %s: %s", e.Line, e.Column, path, e.Msg)
}

// The operators a leaf value object may hold.
const (
	kwPrefix      = "prefix"
	kwSuffix      = "suffix"
	kwEqualsFold  = "equals-ignore-case"
	kwWildcard    = "wildcard"
	kwAnythingBut = "anything-but"
	kwNumeric     = "numeric"
	kwCIDR        = "cidr"
	kwExists      = "exists"
	kwContains    = "contains"
	kwOr          = "$or"
)

var operatorNames = []string{kwPrefix, kwSuffix, kwEqualsFold, kwWildcard, kwAnythingBut, kwNumeric, kwCIDR, kwExists, kwContains}

func isOperatorName(s string) bool {
	for _, op := range operatorNames {
		if s == op {
			return true
		}
	}
	return false
}

// ParsePattern parses and validates an event pattern. Every error is a
// *PatternError.
func ParsePattern(src []byte) (*Pattern, error) {
	ps := &patternParser{src: src}
	if len(src) > MaxPatternBytes {
		return nil, ps.errAt(0, "", "the pattern is longer than %d bytes", MaxPatternBytes)
	}
	if !utf8.Valid(src) {
		off := 0
		for off < len(src) {
			r, size := utf8.DecodeRune(src[off:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			off += size
		}
		return nil, ps.errAt(off, "", "the pattern is not valid UTF-8")
	}
	jp := &jsonParser{ps: ps}
	v, err := jp.parseDocument()
	if err != nil {
		return nil, err
	}
	root, err := ps.object(v, "", 0)
	if err != nil {
		return nil, err
	}
	if n := root.alternatives(); n > MaxAlternatives {
		return nil, ps.errAt(v.off, "", "the pattern expands to more than %d alternatives once its $or (and leaves mixing {\"exists\": false} with values) are multiplied out; split it into several rules", MaxAlternatives)
	}
	return &Pattern{root: root}, nil
}

// MustParsePattern is ParsePattern for patterns known to be valid (tests,
// built-in rules); it panics on error.
func MustParsePattern(src string) *Pattern {
	p, err := ParsePattern([]byte(src))
	if err != nil {
		panic(err)
	}
	return p
}

type patternParser struct {
	src []byte
}

// errAt builds a PatternError at byte offset off.
func (ps *patternParser) errAt(off int, path, format string, args ...any) *PatternError {
	line, col := 1, 1
	if off > len(ps.src) {
		off = len(ps.src)
	}
	for i := 0; i < off; {
		r, size := utf8.DecodeRune(ps.src[i:])
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		i += size
	}
	return &PatternError{Path: path, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// joinKey extends a path with an object key. Keys that would read
// ambiguously are written in brackets: detail["a.b"].
func joinKey(path, key string) string {
	simple := key != ""
	for _, c := range key {
		if !(c == '-' || c == '_' || c == '$' || c == ':' || c == '@' || c == '/' ||
			('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			simple = false
			break
		}
	}
	if !simple {
		return path + "[" + string(appendJSONString(nil, key)) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// object validates a pattern object.
func (ps *patternParser) object(v *jval, path string, depth int) (*object, error) {
	if v.kind != jObject {
		if path == "" {
			return nil, ps.errAt(v.off, path, "a pattern must be a JSON object, not %s", v.kind)
		}
		return nil, ps.errAt(v.off, path, "must be an object, not %s", v.kind)
	}
	if len(v.members) == 0 {
		return nil, ps.errAt(v.off, path, "empty object: give at least one field to match")
	}
	o := &object{}
	seen := make(map[string]bool, len(v.members))
	for _, m := range v.members {
		fpath := joinKey(path, m.key)
		if seen[m.key] {
			return nil, ps.errAt(m.off, fpath, "duplicate field %q (EventBridge would silently keep only the last one)", m.key)
		}
		seen[m.key] = true
		f := &field{name: m.key}
		switch {
		case m.key == kwOr:
			alts, err := ps.or(m.val, fpath, depth)
			if err != nil {
				return nil, err
			}
			f.ors = alts
		case m.val.kind == jObject:
			sub, err := ps.object(m.val, fpath, depth+1)
			if err != nil {
				return nil, err
			}
			f.obj = sub
		case m.val.kind == jArray:
			leaf, err := ps.leaf(m.val, fpath)
			if err != nil {
				return nil, err
			}
			f.leaf = leaf
		case isOperatorName(m.key):
			field := "field"
			if k, ok := lastKey(path); ok {
				field = k
			}
			return nil, ps.errAt(m.val.off, fpath,
				"a field's value must be an array of values or an object of fields, not %s; operators go inside the value array of a leaf field: write {%s: [{%q: …}]}",
				m.val.kind, string(appendJSONString(nil, field)), m.key)
		default:
			return nil, ps.errAt(m.val.off, fpath,
				`a field's value must be an array of values to match (e.g. ["x"]) or an object of nested fields, not %s`, m.val.kind)
		}
		o.fields = append(o.fields, f)
	}
	return o, nil
}

// lastKey is the last field name of a path, for hints; false when the path
// is empty or ends in an index ($or[1]) or a bracketed key.
func lastKey(path string) (string, bool) {
	if path == "" || strings.HasSuffix(path, "]") {
		return "", false
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:], true
	}
	return path, true
}

func (ps *patternParser) or(v *jval, path string, depth int) ([]*object, error) {
	if v.kind != jArray {
		return nil, ps.errAt(v.off, path, "$or must be an array of at least two objects, not %s", v.kind)
	}
	if len(v.elems) < 2 {
		return nil, ps.errAt(v.off, path, "$or must be an array of at least two objects, this one has %d", len(v.elems))
	}
	alts := make([]*object, 0, len(v.elems))
	for i, e := range v.elems {
		epath := joinIndex(path, i)
		if e.kind != jObject {
			return nil, ps.errAt(e.off, epath, "each $or alternative must be an object, not %s", e.kind)
		}
		alt, err := ps.object(e, epath, depth+1)
		if err != nil {
			return nil, err
		}
		alts = append(alts, alt)
	}
	return alts, nil
}

// leaf validates the value array of a leaf field.
func (ps *patternParser) leaf(v *jval, path string) ([]*atom, error) {
	if len(v.elems) == 0 {
		return nil, ps.errAt(v.off, path, "empty array: list at least one value to match")
	}
	atoms := make([]*atom, 0, len(v.elems))
	for i, e := range v.elems {
		epath := joinIndex(path, i)
		var a *atom
		switch e.kind {
		case jString:
			a = &atom{kind: opString, str: e.str}
		case jNumber:
			a = &atom{kind: opNumber, num: e.num}
		case jTrue:
			a = &atom{kind: opTrue}
		case jFalse:
			a = &atom{kind: opFalse}
		case jNull:
			a = &atom{kind: opNull}
		case jArray:
			return nil, ps.errAt(e.off, epath, "a value list may not contain arrays")
		case jObject:
			var err error
			if a, err = ps.operator(e, epath); err != nil {
				return nil, err
			}
		}
		atoms = append(atoms, a)
	}
	return atoms, nil
}

// single returns the only member of an operator object.
func (ps *patternParser) single(v *jval, path, what string) (jmember, error) {
	if len(v.members) != 1 {
		hint := ""
		if len(v.members) > 1 && isOperatorName(v.members[0].key) && isOperatorName(v.members[1].key) {
			// Alibaba Cloud's documentation shows {"prefix": …, "suffix": …}.
			hint = fmt.Sprintf(`; give each operator its own object, [{%q: …}, {%q: …}], which match if either holds`, v.members[0].key, v.members[1].key)
			if v.members[0].key == kwPrefix && v.members[1].key == kwSuffix || v.members[0].key == kwSuffix && v.members[1].key == kwPrefix {
				hint += `; to require a prefix and a suffix together, use {"wildcard": "prefix*suffix"}`
			}
		}
		return jmember{}, ps.errAt(v.off, path, "%s must have exactly one key, this one has %d%s", what, len(v.members), hint)
	}
	return v.members[0], nil
}

func (ps *patternParser) operator(v *jval, path string) (*atom, error) {
	m, err := ps.single(v, path, `an operator object (such as {"prefix": "a"})`)
	if err != nil {
		return nil, err
	}
	opath := path + "." + m.key
	val := m.val
	str := func() (string, error) {
		if val.kind != jString {
			return "", ps.errAt(val.off, opath, "%s takes a string, not %s", m.key, val.kind)
		}
		return val.str, nil
	}
	switch m.key {
	case kwPrefix, kwSuffix:
		plain, folded := opPrefix, opPrefixFold
		if m.key == kwSuffix {
			plain, folded = opSuffix, opSuffixFold
		}
		if val.kind == jObject {
			inner, err := ps.single(val, opath, m.key+"'s object")
			if err != nil {
				return nil, err
			}
			ipath := opath + "." + inner.key
			if inner.key != kwEqualsFold {
				return nil, ps.errAt(inner.off, ipath, "%s takes a string or {\"equals-ignore-case\": string}; %q is not allowed here", m.key, inner.key)
			}
			if inner.val.kind != jString {
				return nil, ps.errAt(inner.val.off, ipath, "equals-ignore-case takes a string, not %s", inner.val.kind)
			}
			return &atom{kind: folded, str: inner.val.str, fold: foldString(inner.val.str)}, nil
		}
		if val.kind != jString {
			return nil, ps.errAt(val.off, opath, "%s takes a string or {\"equals-ignore-case\": string}, not %s", m.key, val.kind)
		}
		return &atom{kind: plain, str: val.str}, nil
	case kwEqualsFold:
		s, err := str()
		if err != nil {
			return nil, err
		}
		return &atom{kind: opEqualsFold, str: s, fold: foldString(s)}, nil
	case kwContains:
		s, err := str()
		if err != nil {
			return nil, err
		}
		return &atom{kind: opContains, str: s}, nil
	case kwWildcard:
		s, err := str()
		if err != nil {
			return nil, err
		}
		w, werr := parseWildcard(s)
		if werr != nil {
			return nil, ps.errAt(val.off, opath, "%v", werr)
		}
		return &atom{kind: opWildcard, wc: w}, nil
	case kwCIDR:
		s, err := str()
		if err != nil {
			return nil, err
		}
		p, perr := netip.ParsePrefix(s)
		if perr != nil {
			return nil, ps.errAt(val.off, opath, "%q is not a CIDR block such as 10.0.0.0/24 or 2001:db8::/32", s)
		}
		return &atom{kind: opCIDR, cidr: p.Masked()}, nil
	case kwExists:
		switch val.kind {
		case jTrue:
			return &atom{kind: opExists, exists: true}, nil
		case jFalse:
			return &atom{kind: opExists, exists: false}, nil
		}
		return nil, ps.errAt(val.off, opath, "exists takes true or false, not %s", val.kind)
	case kwNumeric:
		r, err := ps.numeric(val, opath)
		if err != nil {
			return nil, err
		}
		return &atom{kind: opNumeric, rng: r}, nil
	case kwAnythingBut:
		ab, err := ps.anythingBut(val, opath)
		if err != nil {
			return nil, err
		}
		return &atom{kind: opAnythingBut, but: ab}, nil
	}
	return nil, ps.errAt(m.off, opath, "unknown operator %q; the operators are %s", m.key, strings.Join(operatorNames, ", "))
}

func (ps *patternParser) numeric(v *jval, path string) (numRange, error) {
	var r numRange
	const form = `numeric takes an array such as [">", 0, "<=", 5] or ["=", 3]`
	if v.kind != jArray {
		return r, ps.errAt(v.off, path, "%s, not %s", form, v.kind)
	}
	if len(v.elems) != 2 && len(v.elems) != 4 {
		return r, ps.errAt(v.off, path, "%s; this one has %d elements", form, len(v.elems))
	}
	for i := 0; i < len(v.elems); i += 2 {
		opv, numv := v.elems[i], v.elems[i+1]
		if opv.kind != jString {
			return r, ps.errAt(opv.off, joinIndex(path, i), "expected an operator (=, >, >=, <, <=), not %s", opv.kind)
		}
		if numv.kind != jNumber {
			return r, ps.errAt(numv.off, joinIndex(path, i+1), "%q must be followed by a number, not %s", opv.str, numv.kind)
		}
		n := numv.num
		switch opv.str {
		case "=":
			if len(v.elems) != 2 {
				return r, ps.errAt(opv.off, joinIndex(path, i), `"=" cannot be combined with another bound`)
			}
			return numRange{hasLo: true, hasHi: true, lo: n, hi: n, eq: true}, nil
		case ">", ">=":
			if r.hasLo {
				return r, ps.errAt(opv.off, joinIndex(path, i), "numeric has two lower bounds; give at most one of > and >=, and at most one of < and <=")
			}
			r.hasLo, r.lo, r.loOpen = true, n, opv.str == ">"
		case "<", "<=":
			if r.hasHi {
				return r, ps.errAt(opv.off, joinIndex(path, i), "numeric has two upper bounds; give at most one of > and >=, and at most one of < and <=")
			}
			r.hasHi, r.hi, r.hiOpen = true, n, opv.str == "<"
		default:
			return r, ps.errAt(opv.off, joinIndex(path, i), "unknown numeric operator %q; use =, >, >=, < or <=", opv.str)
		}
	}
	if r.hasLo && r.hasHi && (r.lo > r.hi || (r.lo == r.hi && (r.loOpen || r.hiOpen))) {
		return r, ps.errAt(v.off, path, "the range %s is empty: no number can match it", r)
	}
	return r, nil
}

func (ps *patternParser) anythingBut(v *jval, path string) (*anythingBut, error) {
	switch v.kind {
	case jString:
		return &anythingBut{kind: butStrings, strs: []string{v.str}}, nil
	case jNumber:
		return &anythingBut{kind: butNumbers, nums: []float64{v.num}}, nil
	case jArray:
		if len(v.elems) == 0 {
			return nil, ps.errAt(v.off, path, "empty array: anything-but needs at least one value")
		}
		ab := &anythingBut{list: true}
		if v.elems[0].kind == jNumber {
			ab.kind = butNumbers
		}
		for i, e := range v.elems {
			switch {
			case e.kind == jString && ab.kind == butStrings:
				ab.strs = append(ab.strs, e.str)
			case e.kind == jNumber && ab.kind == butNumbers:
				ab.nums = append(ab.nums, e.num)
			case e.kind == jString || e.kind == jNumber:
				return nil, ps.errAt(e.off, joinIndex(path, i), "an anything-but list holds only strings or only numbers, not both")
			default:
				return nil, ps.errAt(e.off, joinIndex(path, i), "an anything-but list holds strings or numbers, not %s", e.kind)
			}
		}
		return ab, nil
	case jObject:
		m, err := ps.single(v, path, "anything-but's object")
		if err != nil {
			return nil, err
		}
		ipath := path + "." + m.key
		ab := &anythingBut{}
		switch m.key {
		case kwPrefix:
			ab.kind = butPrefix
		case kwSuffix:
			ab.kind = butSuffix
		case kwEqualsFold:
			ab.kind = butFold
		case kwWildcard:
			ab.kind = butWildcard
		default:
			return nil, ps.errAt(m.off, ipath, "anything-but takes a value, a list, or one of prefix, suffix, equals-ignore-case, wildcard; not %q", m.key)
		}
		var elems []*jval
		switch m.val.kind {
		case jString:
			elems = []*jval{m.val}
		case jArray:
			if len(m.val.elems) == 0 {
				return nil, ps.errAt(m.val.off, ipath, "empty array: %s needs at least one string", m.key)
			}
			ab.list = true
			elems = m.val.elems
		default:
			return nil, ps.errAt(m.val.off, ipath, "%s takes a string or an array of strings, not %s", m.key, m.val.kind)
		}
		for i, e := range elems {
			epath := ipath
			if ab.list {
				epath = joinIndex(ipath, i)
			}
			if e.kind != jString {
				return nil, ps.errAt(e.off, epath, "%s takes strings, not %s", m.key, e.kind)
			}
			switch ab.kind {
			case butPrefix, butSuffix:
				if e.str == "" {
					return nil, ps.errAt(e.off, epath, "an empty %s would exclude every string", m.key)
				}
			case butFold:
				ab.folded = append(ab.folded, foldString(e.str))
			case butWildcard:
				w, werr := parseWildcard(e.str)
				if werr != nil {
					return nil, ps.errAt(e.off, epath, "%v", werr)
				}
				ab.wcs = append(ab.wcs, w)
			}
			ab.strs = append(ab.strs, e.str)
		}
		return ab, nil
	}
	return nil, ps.errAt(v.off, path, "anything-but takes a string, a number, a list of either, or an object such as {\"prefix\": \"x\"}; not %s", v.kind)
}

// alternatives counts the branches o expands to, saturating above
// MaxAlternatives.
func (o *object) alternatives() int {
	n := 1
	for _, f := range o.fields {
		k := 1
		switch {
		case f.isOr():
			k = 0
			for _, alt := range f.ors {
				k += alt.alternatives()
			}
		case f.obj != nil:
			k = f.obj.alternatives()
		default:
			if mixesAbsence(f.leaf) {
				k = 2
			}
		}
		n = min(n*k, MaxAlternatives+1)
	}
	return n
}

// mixesAbsence reports whether a leaf holds {"exists": false} and also some
// other value, which makes it two alternatives: absent, or one of the values.
func mixesAbsence(leaf []*atom) bool {
	absent, other := false, false
	for _, a := range leaf {
		if a.isExistsFalse() {
			absent = true
		} else {
			other = true
		}
	}
	return absent && other
}

// ---- A JSON reader that remembers where each token is ----

type jkind uint8

const (
	jObject jkind = iota
	jArray
	jString
	jNumber
	jTrue
	jFalse
	jNull
)

func (k jkind) String() string {
	switch k {
	case jObject:
		return "an object"
	case jArray:
		return "an array"
	case jString:
		return "a string"
	case jNumber:
		return "a number"
	case jTrue:
		return "true"
	case jFalse:
		return "false"
	}
	return "null"
}

type jval struct {
	kind    jkind
	off     int // byte offset of the token
	str     string
	num     float64
	members []jmember
	elems   []*jval
}

type jmember struct {
	key string
	off int // offset of the key
	val *jval
}

type jsonParser struct {
	ps  *patternParser
	pos int
}

func (jp *jsonParser) errf(path, format string, args ...any) error {
	return jp.ps.errAt(jp.pos, path, format, args...)
}

func (jp *jsonParser) parseDocument() (*jval, error) {
	jp.skipSpace()
	if jp.pos == len(jp.ps.src) {
		return nil, jp.errf("", "the pattern is empty; it must be a JSON object")
	}
	v, err := jp.value("", 0)
	if err != nil {
		return nil, err
	}
	jp.skipSpace()
	if jp.pos != len(jp.ps.src) {
		return nil, jp.errf("", "unexpected %s after the end of the pattern", jp.describeHere())
	}
	return v, nil
}

func (jp *jsonParser) skipSpace() {
	src := jp.ps.src
	for jp.pos < len(src) {
		switch src[jp.pos] {
		case ' ', '\t', '\n', '\r':
			jp.pos++
		default:
			return
		}
	}
}

func (jp *jsonParser) describeHere() string {
	src := jp.ps.src
	if jp.pos >= len(src) {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(src[jp.pos:])
	return strconv.QuoteRune(r)
}

func (jp *jsonParser) value(path string, depth int) (*jval, error) {
	src := jp.ps.src
	jp.skipSpace()
	if jp.pos >= len(src) {
		return nil, jp.errf(path, "unexpected end of input: the JSON is incomplete")
	}
	start := jp.pos
	switch c := src[jp.pos]; {
	case c == '{':
		if depth >= MaxPatternDepth {
			return nil, jp.errf(path, "the pattern nests deeper than %d levels", MaxPatternDepth)
		}
		return jp.object(path, depth)
	case c == '[':
		if depth >= MaxPatternDepth {
			return nil, jp.errf(path, "the pattern nests deeper than %d levels", MaxPatternDepth)
		}
		return jp.array(path, depth)
	case c == '"':
		s, err := jp.string(path)
		if err != nil {
			return nil, err
		}
		return &jval{kind: jString, off: start, str: s}, nil
	case c == '-' || ('0' <= c && c <= '9'):
		return jp.number(path)
	case c == 't':
		return jp.literal(path, "true", jTrue)
	case c == 'f':
		return jp.literal(path, "false", jFalse)
	case c == 'n':
		return jp.literal(path, "null", jNull)
	}
	return nil, jp.errf(path, "invalid JSON: unexpected %s", jp.describeHere())
}

func (jp *jsonParser) literal(path, word string, kind jkind) (*jval, error) {
	start := jp.pos
	if !strings.HasPrefix(string(jp.ps.src[jp.pos:]), word) {
		return nil, jp.errf(path, "invalid JSON: unexpected %s", jp.describeHere())
	}
	jp.pos += len(word)
	return &jval{kind: kind, off: start}, nil
}

func (jp *jsonParser) object(path string, depth int) (*jval, error) {
	src := jp.ps.src
	v := &jval{kind: jObject, off: jp.pos}
	jp.pos++ // {
	jp.skipSpace()
	if jp.pos < len(src) && src[jp.pos] == '}' {
		jp.pos++
		return v, nil
	}
	for {
		jp.skipSpace()
		if jp.pos >= len(src) || src[jp.pos] != '"' {
			return nil, jp.errf(path, "invalid JSON: expected a field name in double quotes, found %s", jp.describeHere())
		}
		koff := jp.pos
		key, err := jp.string(path)
		if err != nil {
			return nil, err
		}
		kpath := joinKey(path, key)
		jp.skipSpace()
		if jp.pos >= len(src) || src[jp.pos] != ':' {
			return nil, jp.errf(kpath, "invalid JSON: expected ':' after the field name, found %s", jp.describeHere())
		}
		jp.pos++
		val, err := jp.value(kpath, depth+1)
		if err != nil {
			return nil, err
		}
		v.members = append(v.members, jmember{key: key, off: koff, val: val})
		jp.skipSpace()
		if jp.pos >= len(src) {
			return nil, jp.errf(path, "invalid JSON: unexpected end of input, expected ',' or '}'")
		}
		switch src[jp.pos] {
		case ',':
			jp.pos++
		case '}':
			jp.pos++
			return v, nil
		default:
			return nil, jp.errf(path, "invalid JSON: expected ',' or '}', found %s", jp.describeHere())
		}
	}
}

func (jp *jsonParser) array(path string, depth int) (*jval, error) {
	src := jp.ps.src
	v := &jval{kind: jArray, off: jp.pos}
	jp.pos++ // [
	jp.skipSpace()
	if jp.pos < len(src) && src[jp.pos] == ']' {
		jp.pos++
		return v, nil
	}
	for {
		e, err := jp.value(joinIndex(path, len(v.elems)), depth+1)
		if err != nil {
			return nil, err
		}
		v.elems = append(v.elems, e)
		jp.skipSpace()
		if jp.pos >= len(src) {
			return nil, jp.errf(path, "invalid JSON: unexpected end of input, expected ',' or ']'")
		}
		switch src[jp.pos] {
		case ',':
			jp.pos++
		case ']':
			jp.pos++
			return v, nil
		default:
			return nil, jp.errf(path, "invalid JSON: expected ',' or ']', found %s", jp.describeHere())
		}
	}
}

// string reads a JSON string at jp.pos (the opening quote).
func (jp *jsonParser) string(path string) (string, error) {
	src := jp.ps.src
	start := jp.pos
	jp.pos++
	escaped := false
	for {
		if jp.pos >= len(src) {
			return "", jp.ps.errAt(start, path, "invalid JSON: unterminated string")
		}
		c := src[jp.pos]
		switch {
		case c == '"':
			jp.pos++
			raw := src[start:jp.pos]
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", jp.ps.errAt(start, path, "invalid JSON string: %v", err)
			}
			return s, nil
		case c == '\\':
			escaped = true
			if jp.pos+1 >= len(src) {
				return "", jp.ps.errAt(start, path, "invalid JSON: unterminated string")
			}
			switch src[jp.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				jp.pos += 2
			case 'u':
				if jp.pos+6 > len(src) || !isHex4(src[jp.pos+2:jp.pos+6]) {
					return "", jp.errf(path, `invalid JSON: \u must be followed by four hexadecimal digits`)
				}
				jp.pos += 6
			default:
				jp.pos++
				return "", jp.errf(path, "invalid JSON: invalid escape \\%s in a string", jp.describeHere())
			}
		case c < 0x20:
			return "", jp.errf(path, "invalid JSON: control character %U in a string (escape it)", rune(c))
		default:
			jp.pos++
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (jp *jsonParser) number(path string) (*jval, error) {
	src := jp.ps.src
	start := jp.pos
	end := scanNumber(src, start)
	if end < 0 {
		return nil, jp.errf(path, "invalid JSON: malformed number")
	}
	jp.pos = end
	f, err := strconv.ParseFloat(string(src[start:end]), 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, jp.ps.errAt(start, path, "the number %s is out of range", src[start:end])
	}
	return &jval{kind: jNumber, off: start, num: f}, nil
}

// scanNumber returns the end of the JSON number starting at src[i], or -1
// when the bytes there are not a JSON number.
func scanNumber(src []byte, i int) int {
	n := len(src)
	if i < n && src[i] == '-' {
		i++
	}
	switch {
	case i < n && src[i] == '0':
		i++
	case i < n && '1' <= src[i] && src[i] <= '9':
		for i < n && '0' <= src[i] && src[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < n && src[i] == '.' {
		i++
		if i >= n || src[i] < '0' || src[i] > '9' {
			return -1
		}
		for i < n && '0' <= src[i] && src[i] <= '9' {
			i++
		}
	}
	if i < n && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < n && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if i >= n || src[i] < '0' || src[i] > '9' {
			return -1
		}
		for i < n && '0' <= src[i] && src[i] <= '9' {
			i++
		}
	}
	return i
}

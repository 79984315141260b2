package rules

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pattern is a parsed and validated event pattern. It is immutable.
type Pattern struct {
	root *object
}

// object is a level of the pattern: fields that must all match (AND).
type object struct {
	fields []*field // in source order
}

// field is one member of an object: a nested object, a leaf (a list of
// values, any of which may match), or "$or" (a list of alternatives).
type field struct {
	name string
	obj  *object   // nested fields
	leaf []*atom   // values; any may match
	ors  []*object // "$or" alternatives; any may match
}

func (f *field) isOr() bool { return f.ors != nil }

// opKind is the kind of one value in a leaf array.
type opKind uint8

const (
	opString      opKind = iota // "x": exact string
	opNumber                    // 300: numeric equality
	opTrue                      // true
	opFalse                     // false
	opNull                      // null
	opPrefix                    // {"prefix": "x"}
	opPrefixFold                // {"prefix": {"equals-ignore-case": "x"}}
	opSuffix                    // {"suffix": "x"}
	opSuffixFold                // {"suffix": {"equals-ignore-case": "x"}}
	opEqualsFold                // {"equals-ignore-case": "x"}
	opWildcard                  // {"wildcard": "a*b"}
	opContains                  // {"contains": "x"} (Alibaba Cloud)
	opNumeric                   // {"numeric": [">", 0, "<=", 5]}
	opCIDR                      // {"cidr": "10.0.0.0/24"}
	opExists                    // {"exists": true|false}
	opAnythingBut               // {"anything-but": …}
)

// atom is one value of a leaf array.
type atom struct {
	kind   opKind
	str    string       // exact, prefix, suffix, contains, equals-ignore-case text as written
	fold   string       // case-folded str for the *Fold kinds
	num    float64      // opNumber
	rng    numRange     // opNumeric
	wc     *wildcard    // opWildcard
	cidr   netip.Prefix // opCIDR (masked)
	exists bool         // opExists
	but    *anythingBut // opAnythingBut
}

// numRange is the interval of a numeric operator. "=" is lo == hi, both
// closed, with eq set.
type numRange struct {
	hasLo, hasHi   bool
	lo, hi         float64
	loOpen, hiOpen bool // ">" rather than ">=", "<" rather than "<="
	eq             bool
}

func (r numRange) contains(x float64) bool {
	if r.hasLo && (x < r.lo || (r.loOpen && x == r.lo)) {
		return false
	}
	if r.hasHi && (x > r.hi || (r.hiOpen && x == r.hi)) {
		return false
	}
	return !math.IsNaN(x)
}

// butKind is what an anything-but excludes.
type butKind uint8

const (
	butStrings  butKind = iota // "x" or ["x", "y"]
	butNumbers                 // 1 or [1, 2]
	butPrefix                  // {"prefix": …}
	butSuffix                  // {"suffix": …}
	butFold                    // {"equals-ignore-case": …}
	butWildcard                // {"wildcard": …}
)

// anythingBut matches every present value except those it excludes. String
// exclusions never exclude a number, true, false or null, and numeric ones
// never exclude a string.
type anythingBut struct {
	kind   butKind
	list   bool     // written as an array (canonical output keeps the form)
	strs   []string // as written
	folded []string // butFold: case-folded strs
	nums   []float64
	wcs    []*wildcard
}

// String renders the pattern as canonical JSON: no insignificant space,
// object keys sorted, operators in one spelling. Parsing the result gives a
// pattern that matches exactly the same events.
func (p *Pattern) String() string {
	if p == nil || p.root == nil {
		return "{}"
	}
	var b []byte
	b = p.root.appendJSON(b)
	return string(b)
}

func (o *object) appendJSON(b []byte) []byte {
	fields := slices.Clone(o.fields)
	slices.SortStableFunc(fields, func(x, y *field) int { return strings.Compare(x.name, y.name) })
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.name)
		b = append(b, ':')
		switch {
		case f.isOr():
			b = append(b, '[')
			for j, alt := range f.ors {
				if j > 0 {
					b = append(b, ',')
				}
				b = alt.appendJSON(b)
			}
			b = append(b, ']')
		case f.obj != nil:
			b = f.obj.appendJSON(b)
		default:
			b = append(b, '[')
			for j, a := range f.leaf {
				if j > 0 {
					b = append(b, ',')
				}
				b = a.appendJSON(b)
			}
			b = append(b, ']')
		}
	}
	return append(b, '}')
}

func (a *atom) appendJSON(b []byte) []byte {
	op := func(name string) []byte {
		b = append(b, `{"`...)
		b = append(b, name...)
		return append(b, `":`...)
	}
	switch a.kind {
	case opString:
		return appendJSONString(b, a.str)
	case opNumber:
		return appendJSONNumber(b, a.num)
	case opTrue:
		return append(b, "true"...)
	case opFalse:
		return append(b, "false"...)
	case opNull:
		return append(b, "null"...)
	case opPrefix:
		b = appendJSONString(op("prefix"), a.str)
	case opPrefixFold:
		b = append(appendJSONString(append(op("prefix"), `{"equals-ignore-case":`...), a.str), '}')
	case opSuffix:
		b = appendJSONString(op("suffix"), a.str)
	case opSuffixFold:
		b = append(appendJSONString(append(op("suffix"), `{"equals-ignore-case":`...), a.str), '}')
	case opEqualsFold:
		b = appendJSONString(op("equals-ignore-case"), a.str)
	case opWildcard:
		b = appendJSONString(op("wildcard"), a.wc.src)
	case opContains:
		b = appendJSONString(op("contains"), a.str)
	case opNumeric:
		b = a.rng.appendJSON(op("numeric"))
	case opCIDR:
		b = appendJSONString(op("cidr"), a.cidr.String())
	case opExists:
		b = strconv.AppendBool(op("exists"), a.exists)
	case opAnythingBut:
		b = a.but.appendJSON(op("anything-but"))
	}
	return append(b, '}')
}

func (r numRange) appendJSON(b []byte) []byte {
	b = append(b, '[')
	if r.eq {
		b = append(b, `"=",`...)
		b = appendJSONNumber(b, r.lo)
		return append(b, ']')
	}
	if r.hasLo {
		if r.loOpen {
			b = append(b, `">",`...)
		} else {
			b = append(b, `">=",`...)
		}
		b = appendJSONNumber(b, r.lo)
		if r.hasHi {
			b = append(b, ',')
		}
	}
	if r.hasHi {
		if r.hiOpen {
			b = append(b, `"<",`...)
		} else {
			b = append(b, `"<=",`...)
		}
		b = appendJSONNumber(b, r.hi)
	}
	return append(b, ']')
}

func (ab *anythingBut) appendJSON(b []byte) []byte {
	var inner string
	switch ab.kind {
	case butPrefix:
		inner = "prefix"
	case butSuffix:
		inner = "suffix"
	case butFold:
		inner = "equals-ignore-case"
	case butWildcard:
		inner = "wildcard"
	}
	if inner != "" {
		b = append(b, `{"`...)
		b = append(b, inner...)
		b = append(b, `":`...)
	}
	if ab.list {
		b = append(b, '[')
	}
	if ab.kind == butNumbers {
		for i, n := range ab.nums {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONNumber(b, n)
		}
	} else {
		for i, s := range ab.strs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
	}
	if ab.list {
		b = append(b, ']')
	}
	if inner != "" {
		b = append(b, '}')
	}
	return b
}

// appendJSONNumber writes f in the shortest form that parses back to f.
func appendJSONNumber(b []byte, f float64) []byte {
	if f == 0 {
		return append(b, '0') // also -0: numeric equality does not tell them apart
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendJSONString writes s as a JSON string. s is valid UTF-8 (patterns are
// checked); anything else is written as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// describe renders an atom for messages: the JSON it was written as.
func (a *atom) describe() string { return string(a.appendJSON(nil)) }

// isExistsFalse reports whether a is {"exists": false}.
func (a *atom) isExistsFalse() bool { return a.kind == opExists && !a.exists }

func (r numRange) String() string { return string(r.appendJSON(nil)) }

// formatNumber renders a number from a pattern for messages.
func formatNumber(f float64) string { return string(appendJSONNumber(nil, f)) }

var _ fmt.Stringer = (*Pattern)(nil)

// Names reports whether the pattern has a condition on the top-level
// field name: direct, as one of its own fields; inOr, inside an alternative
// of a top-level "$or" (at any depth of "$or" within "$or").
func (p *Pattern) Names(name string) (direct, inOr bool) {
	if p == nil || p.root == nil {
		return false, false
	}
	for _, f := range p.root.fields {
		switch {
		case f.isOr():
			inOr = inOr || orNames(f.ors, name)
		case f.name == name:
			direct = true
		}
	}
	return direct, inOr
}

func orNames(alts []*object, name string) bool {
	for _, o := range alts {
		for _, f := range o.fields {
			if f.isOr() && orNames(f.ors, name) || !f.isOr() && f.name == name {
				return true
			}
		}
	}
	return false
}

// And returns a pattern that matches the events both p and q match: the
// fields of both at the top level. They may not share a top-level field
// (a "$or" included).
func (p *Pattern) And(q *Pattern) (*Pattern, error) {
	if p == nil || p.root == nil || q == nil || q.root == nil {
		return nil, errors.New("rules: And of an empty pattern")
	}
	fields := slices.Clone(p.root.fields)
	for _, f := range q.root.fields {
		if slices.ContainsFunc(fields, func(g *field) bool { return g.name == f.name }) {
			return nil, fmt.Errorf("rules: both patterns have the top-level field %q", f.name)
		}
		fields = append(fields, f)
	}
	root := &object{fields: fields}
	if root.alternatives() > MaxAlternatives {
		return nil, fmt.Errorf("rules: the combined pattern expands to more than %d alternatives", MaxAlternatives)
	}
	return &Pattern{root: root}, nil
}

// Only returns the pattern restricted to its conditions on the top-level
// fields names: other fields are dropped, at the top level and in the
// alternatives of top-level "$or"s (an alternative left without a
// condition holds for every event, and so does its "$or"). The result
// matches every event p matches, and perhaps more. It is nil when no
// condition is left: it would match every event.
func (p *Pattern) Only(names ...string) *Pattern {
	if p == nil || p.root == nil {
		return nil
	}
	root := onlyObject(p.root, names)
	if root == nil {
		return nil
	}
	return &Pattern{root: root}
}

func onlyObject(o *object, names []string) *object {
	var fields []*field
	for _, f := range o.fields {
		if !f.isOr() {
			if slices.Contains(names, f.name) {
				fields = append(fields, f)
			}
			continue
		}
		var alts []*object
		always := false
		for _, a := range f.ors {
			oa := onlyObject(a, names)
			if oa == nil {
				always = true
				break
			}
			alts = append(alts, oa)
		}
		if !always {
			fields = append(fields, &field{name: f.name, ors: alts})
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &object{fields: fields}
}

// Strings returns the exact strings the condition on the top-level field
// name accepts, and whether they are all it accepts: the field is a leaf of
// exact strings only, and no "$or" names it.
func (p *Pattern) Strings(name string) ([]string, bool) {
	if p == nil || p.root == nil {
		return nil, false
	}
	if _, inOr := p.Names(name); inOr {
		return nil, false
	}
	var out []string
	only := false
	for _, f := range p.root.fields {
		if f.isOr() || f.name != name {
			continue
		}
		if f.obj != nil {
			return nil, false
		}
		only = true
		for _, a := range f.leaf {
			if a.kind != opString {
				only = false
				continue
			}
			out = append(out, a.str)
		}
	}
	return out, only
}

package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Explain reports whether the pattern matches the event, and why, in words:
// on a match, which value matched what, field by field; otherwise the first
// field (in the pattern's order) that fails and why, such as
//
//	detail-type: "User.Updated" is not one of ["User.Created"]
//	detail.email: field is absent
//	detail.age: 3 is not > 5
//
// The verdict is always the Matcher's.
func Explain(p *Pattern, event []byte) (bool, string) {
	m, err := Compile(map[string]*Pattern{"": p})
	if err != nil {
		return false, err.Error()
	}
	s := m.pool.Get().(*scratch)
	defer func() {
		s.release()
		m.pool.Put(s)
	}()
	s.reset()
	s.ev = event
	sc := eventScanner{data: event, s: s}
	if err := sc.run(m.root); err != nil {
		return false, "the event is not valid: " + err.Error()
	}
	if ids := s.evaluate(); len(ids) == 1 {
		for bi := range m.branches {
			if b := &m.branches[bi]; s.branchHolds(b) {
				return true, s.describeBranch(b)
			}
		}
		return true, "matches"
	}
	var decoded any
	d := json.NewDecoder(bytes.NewReader(event))
	d.UseNumber()
	if err := d.Decode(&decoded); err != nil {
		return false, "the event is not valid: " + err.Error()
	}
	obj, _ := decoded.(map[string]any)
	ok, why := explainObject(p.root, []map[string]any{obj}, "")
	if ok {
		return false, "each field matches on its own, but not within one element of an array: a pattern's fields under an array of objects must all match in the same element (" + why + ")"
	}
	return false, why
}

// describeBranch says which values satisfied a branch that holds.
func (s *scratch) describeBranch(b *branch) string {
	var parts []string
	for _, c := range b.pos {
		cd := &s.m.conds[c]
		for i := s.head(cd.node.id); i >= 0; i = s.next[i] {
			v := s.value(&s.vals[i])
			if a := firstMatch(cd.atoms, v, &s.fold); a != nil {
				parts = append(parts, fmt.Sprintf("%s: %s matches %s", cd.node.path(), describeValue(v), a.describe()))
				break
			}
		}
	}
	for _, n := range b.abs {
		parts = append(parts, fmt.Sprintf("%s: absent, as {\"exists\": false} requires", s.m.nodes[n].path()))
	}
	return strings.Join(parts, "; ")
}

func firstMatch(atoms []*atom, v value, fold *[]byte) *atom {
	for _, a := range atoms {
		if a.matches(v, fold) {
			return a
		}
	}
	return nil
}

// explainObject evaluates a pattern object against the event objects found
// at its path, ignoring array consistency. It returns whether every field
// matches and, if so, what matched, or else the first failure.
func explainObject(o *object, objs []map[string]any, path string) (bool, string) {
	var parts []string
	for _, f := range o.fields {
		var ok bool
		var why string
		switch {
		case f.isOr():
			var fails []string
			for i, alt := range f.ors {
				if ok, why = explainObject(alt, objs, path); ok {
					break
				}
				fails = append(fails, fmt.Sprintf("(%d) %s", i+1, why))
			}
			if !ok {
				at := ""
				if path != "" {
					at = " at " + path
				}
				why = "no alternative of $or" + at + " matches: " + strings.Join(fails, "; ")
			}
		case f.obj != nil:
			var sub []map[string]any
			for _, o := range objs {
				if v, found := o[f.name]; found {
					sub = objectsIn(v, sub)
				}
			}
			fpath := joinKey(path, f.name)
			if len(sub) == 0 {
				return false, explainMissingObject(objs, f.name, fpath)
			}
			ok, why = explainObject(f.obj, sub, fpath)
		default:
			ok, why = explainLeaf(f, objs, joinKey(path, f.name))
		}
		if !ok {
			return false, why
		}
		parts = append(parts, why)
	}
	return true, strings.Join(parts, "; ")
}

func explainMissingObject(objs []map[string]any, name, path string) string {
	for _, o := range objs {
		if v, found := o[name]; found {
			if _, isArr := v.([]any); !isArr {
				return path + ": is " + describeAny(v) + ", not an object with fields"
			}
		}
	}
	return path + ": field is absent"
}

// objectsIn collects the objects a value holds, looking through arrays.
func objectsIn(v any, out []map[string]any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		out = append(out, x)
	case []any:
		for _, e := range x {
			out = objectsIn(e, out)
		}
	}
	return out
}

// scalarsIn collects the leaf values a value holds, looking through arrays.
func scalarsIn(v any, out []any) []any {
	switch x := v.(type) {
	case map[string]any:
	case []any:
		for _, e := range x {
			out = scalarsIn(e, out)
		}
	default:
		out = append(out, x)
	}
	return out
}

func toValue(x any) (value, bool) {
	switch x := x.(type) {
	case string:
		return value{kind: vString, str: []byte(x)}, true
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		return value{kind: vNumber, num: f, str: []byte(x)}, true
	case bool:
		if x {
			return value{kind: vTrue}, true
		}
		return value{kind: vFalse}, true
	case nil:
		return value{kind: vNull}, true
	}
	return value{}, false
}

func explainLeaf(f *field, objs []map[string]any, path string) (bool, string) {
	var vals []value
	var raw any
	for _, o := range objs {
		if v, ok := o[f.name]; ok {
			raw = v
			for _, x := range scalarsIn(v, nil) {
				if v, ok := toValue(x); ok {
					vals = append(vals, v)
				}
			}
		}
	}
	var fold []byte
	wantAbsent := false
	var positive []*atom
	for _, a := range f.leaf {
		if a.isExistsFalse() {
			wantAbsent = true
		} else {
			positive = append(positive, a)
		}
	}
	for _, v := range vals {
		if a := firstMatch(positive, v, &fold); a != nil {
			return true, fmt.Sprintf("%s: %s matches %s", path, describeValue(v), a.describe())
		}
	}
	if len(vals) == 0 {
		if wantAbsent {
			return true, path + `: absent, as {"exists": false} requires`
		}
		switch x := raw.(type) {
		case map[string]any:
			return false, path + ": is an object, not a value (a pattern tests leaf values; exists applies to leaf fields only)"
		case []any:
			if len(x) == 0 {
				return false, path + ": field is an empty array"
			}
			return false, path + ": holds only objects, no values"
		}
		return false, path + ": field is absent"
	}
	if len(positive) == 0 {
		return false, fmt.Sprintf(`%s: field is present (%s) but {"exists": false} requires it absent`, path, describeValues(vals))
	}
	allExact := true
	for _, a := range positive {
		switch a.kind {
		case opString, opNumber, opTrue, opFalse, opNull:
		default:
			allExact = false
		}
	}
	var atoms []string
	for _, a := range positive {
		atoms = append(atoms, a.describe())
	}
	list := "[" + strings.Join(atoms, ", ") + "]"
	switch {
	case len(vals) == 1 && allExact:
		return false, fmt.Sprintf("%s: %s is not one of %s", path, describeValue(vals[0]), list)
	case len(vals) == 1 && len(positive) == 1:
		return false, fmt.Sprintf("%s: %s", path, atomFailure(positive[0], vals[0]))
	case len(vals) == 1:
		return false, fmt.Sprintf("%s: %s matches none of %s", path, describeValue(vals[0]), list)
	case allExact:
		return false, fmt.Sprintf("%s: none of %s is one of %s", path, describeValues(vals), list)
	}
	return false, fmt.Sprintf("%s: none of %s matches %s", path, describeValues(vals), list)
}

// atomFailure says why a value does not match an atom.
func atomFailure(a *atom, v value) string {
	dv := describeValue(v)
	q := func(s string) string { return string(appendJSONString(nil, s)) }
	switch a.kind {
	case opPrefix, opPrefixFold, opSuffix, opSuffixFold, opEqualsFold, opWildcard, opContains, opCIDR:
		if v.kind != vString {
			return fmt.Sprintf("%s is not a string, and %s matches only strings", dv, a.describe())
		}
	case opNumeric:
		if v.kind != vNumber {
			return fmt.Sprintf("%s is not a number, and numeric matches only numbers", dv)
		}
	}
	switch a.kind {
	case opPrefix:
		return fmt.Sprintf("%s does not start with %s", dv, q(a.str))
	case opPrefixFold:
		return fmt.Sprintf("%s does not start with %s, ignoring case", dv, q(a.str))
	case opSuffix:
		return fmt.Sprintf("%s does not end with %s", dv, q(a.str))
	case opSuffixFold:
		return fmt.Sprintf("%s does not end with %s, ignoring case", dv, q(a.str))
	case opEqualsFold:
		return fmt.Sprintf("%s is not %s, ignoring case", dv, q(a.str))
	case opWildcard:
		return fmt.Sprintf("%s does not match the wildcard %s", dv, q(a.wc.src))
	case opContains:
		return fmt.Sprintf("%s does not contain %s", dv, q(a.str))
	case opCIDR:
		if _, err := netip.ParseAddr(string(v.str)); err != nil {
			return fmt.Sprintf("%s is not an IP address", dv)
		}
		return fmt.Sprintf("%s is not in %s", dv, a.cidr)
	case opNumeric:
		r := a.rng
		switch {
		case r.eq:
			return fmt.Sprintf("%s is not = %s", dv, formatNumber(r.lo))
		case r.hasLo && r.loOpen && !(v.num > r.lo):
			return fmt.Sprintf("%s is not > %s", dv, formatNumber(r.lo))
		case r.hasLo && !r.loOpen && !(v.num >= r.lo):
			return fmt.Sprintf("%s is not >= %s", dv, formatNumber(r.lo))
		case r.hasHi && r.hiOpen:
			return fmt.Sprintf("%s is not < %s", dv, formatNumber(r.hi))
		default:
			return fmt.Sprintf("%s is not <= %s", dv, formatNumber(r.hi))
		}
	case opAnythingBut:
		return fmt.Sprintf("%s is excluded by %s", dv, a.describe())
	}
	return fmt.Sprintf("%s does not match %s", dv, a.describe())
}

// describeValue renders an event value for messages, long strings cut.
func describeValue(v value) string {
	switch v.kind {
	case vString:
		s := string(v.str)
		if utf8.RuneCountInString(s) > 80 {
			s = string([]rune(s)[:77]) + "…"
		}
		return string(appendJSONString(nil, s))
	case vNumber:
		if len(v.str) > 0 {
			return string(v.str)
		}
		return formatNumber(v.num)
	case vTrue:
		return "true"
	case vFalse:
		return "false"
	}
	return "null"
}

func describeValues(vals []value) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = describeValue(v)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func describeAny(x any) string {
	if v, ok := toValue(x); ok {
		return describeValue(v)
	}
	return "an array"
}

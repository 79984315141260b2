package rules

import (
	"encoding/json"
	"maps"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a reference evaluator, written apart from the compiled
// matcher and as plainly as possible: it walks the pattern tree against the
// decoded event (encoding/json, UseNumber) and computes, for every pattern
// node, the set of ways it can be satisfied. A way records which element of
// each array of objects it took values from (arrays are named by their path
// in the event) and the fields it needs absent; ways of two fields combine
// only if they agree on every array they share. At the top, a way counts if
// no value of its absent fields lies in the elements it chose.
//
// Values are compared by its own code (strings.EqualFold, regular
// expressions for wildcards), not by the matcher's.

type refWay struct {
	assign map[string]int
	absent [][]map[string]int // per absent field: the trails of its values
}

// refCtx is an event object reached at some pattern node, with the array
// elements passed on the way.
type refCtx struct {
	obj   map[string]any
	path  string
	trail map[string]int
}

func refMatch(p *Pattern, event any) bool {
	obj, ok := event.(map[string]any)
	if !ok {
		return false
	}
	for _, w := range refObject(p.root, []refCtx{{obj: obj, trail: map[string]int{}}}) {
		ok := true
		for _, occs := range w.absent {
			for _, occ := range occs {
				if refCompatible(occ, w.assign) {
					ok = false
				}
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func refCompatible(a, b map[string]int) bool {
	for k, v := range a {
		if w, ok := b[k]; ok && w != v {
			return false
		}
	}
	return true
}

func refObject(o *object, ctxs []refCtx) []refWay {
	ways := []refWay{{assign: map[string]int{}}}
	for _, f := range o.fields {
		var fw []refWay
		switch {
		case f.ors != nil:
			for _, alt := range f.ors {
				fw = append(fw, refObject(alt, ctxs)...)
			}
		case f.obj != nil:
			var sub []refCtx
			for _, c := range ctxs {
				if v, ok := c.obj[f.name]; ok {
					sub = refObjectsAt(v, c.path+"."+f.name, c.trail, sub)
				}
			}
			fw = refObject(f.obj, sub)
		default:
			fw = refLeaf(f, ctxs)
		}
		var next []refWay
		for _, a := range ways {
			for _, b := range fw {
				if !refCompatible(a.assign, b.assign) {
					continue
				}
				m := maps.Clone(a.assign)
				maps.Copy(m, b.assign)
				next = append(next, refWay{assign: m, absent: append(append([][]map[string]int{}, a.absent...), b.absent...)})
			}
		}
		ways = next
		if len(ways) > 100000 {
			panic("reference evaluator: too many ways; keep test events small")
		}
	}
	return ways
}

// refObjectsAt collects the objects that a value holds, looking through
// arrays and recording the element taken in each.
func refObjectsAt(v any, path string, trail map[string]int, out []refCtx) []refCtx {
	switch x := v.(type) {
	case map[string]any:
		out = append(out, refCtx{obj: x, path: path, trail: trail})
	case []any:
		for i, e := range x {
			t := maps.Clone(trail)
			t[path] = i
			out = refObjectsAt(e, path+"["+strconv.Itoa(i)+"]", t, out)
		}
	}
	return out
}

// refScalars collects the scalars a value holds, looking through arrays.
func refScalars(v any, out []any) []any {
	switch x := v.(type) {
	case map[string]any:
	case []any:
		for _, e := range x {
			out = refScalars(e, out)
		}
	default:
		out = append(out, x)
	}
	return out
}

func refLeaf(f *field, ctxs []refCtx) []refWay {
	var ways []refWay
	var occ []map[string]int
	wantAbsent := false
	for _, c := range ctxs {
		v, ok := c.obj[f.name]
		if !ok {
			continue
		}
		for _, s := range refScalars(v, nil) {
			occ = append(occ, c.trail)
			for _, a := range f.leaf {
				if refAtom(a, s) {
					ways = append(ways, refWay{assign: c.trail})
					break
				}
			}
		}
	}
	for _, a := range f.leaf {
		if a.kind == opExists && !a.exists {
			wantAbsent = true
		}
	}
	if wantAbsent {
		ways = append(ways, refWay{assign: map[string]int{}, absent: [][]map[string]int{occ}})
	}
	return ways
}

func refNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		return f, true
	case float64:
		return x, true
	}
	return 0, false
}

func refRuneLen(s string) int { return utf8.RuneCountInString(s) }

func refHasPrefixFold(s, p string) bool {
	r := []rune(s)
	n := refRuneLen(p)
	return len(r) >= n && strings.EqualFold(string(r[:n]), p)
}

func refHasSuffixFold(s, p string) bool {
	r := []rune(s)
	n := refRuneLen(p)
	return len(r) >= n && strings.EqualFold(string(r[len(r)-n:]), p)
}

func refWildcard(w, s string) bool {
	var re strings.Builder
	re.WriteString(`^(?s:`)
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '\\':
			i++
			re.WriteString(regexp.QuoteMeta(w[i : i+1]))
		case '*':
			re.WriteString(`.*`)
		default:
			re.WriteString(regexp.QuoteMeta(w[i : i+1]))
		}
	}
	re.WriteString(`)$`)
	return regexp.MustCompile(re.String()).MatchString(s)
}

func refInRange(r numRange, f float64) bool {
	if r.hasLo {
		if r.loOpen && !(f > r.lo) || !r.loOpen && !(f >= r.lo) {
			return false
		}
	}
	if r.hasHi {
		if r.hiOpen && !(f < r.hi) || !r.hiOpen && !(f <= r.hi) {
			return false
		}
	}
	return true
}

func refAtom(a *atom, v any) bool {
	s, isStr := v.(string)
	f, isNum := refNumber(v)
	switch a.kind {
	case opString:
		return isStr && s == a.str
	case opNumber:
		return isNum && f == a.num
	case opTrue:
		return v == true
	case opFalse:
		return v == false
	case opNull:
		return v == nil
	case opPrefix:
		return isStr && strings.HasPrefix(s, a.str)
	case opSuffix:
		return isStr && strings.HasSuffix(s, a.str)
	case opPrefixFold:
		return isStr && refHasPrefixFold(s, a.str)
	case opSuffixFold:
		return isStr && refHasSuffixFold(s, a.str)
	case opEqualsFold:
		return isStr && strings.EqualFold(s, a.str)
	case opWildcard:
		return isStr && refWildcard(a.wc.src, s)
	case opContains:
		return isStr && strings.Contains(s, a.str)
	case opNumeric:
		return isNum && refInRange(a.rng, f)
	case opCIDR:
		if !isStr {
			return false
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		ip = ip.WithZone("")
		return a.cidr.Contains(ip) || a.cidr.Contains(ip.Unmap())
	case opExists:
		return a.exists
	case opAnythingBut:
		b := a.but
		switch b.kind {
		case butNumbers:
			if !isNum {
				return true
			}
			for _, n := range b.nums {
				if n == f {
					return false
				}
			}
			return true
		}
		if !isStr {
			return true
		}
		for i, x := range b.strs {
			var hit bool
			switch b.kind {
			case butStrings:
				hit = s == x
			case butPrefix:
				hit = strings.HasPrefix(s, x)
			case butSuffix:
				hit = strings.HasSuffix(s, x)
			case butFold:
				hit = strings.EqualFold(s, x)
			case butWildcard:
				hit = refWildcard(b.strs[i], s)
			}
			if hit {
				return false
			}
		}
		return true
	}
	panic("unknown atom kind")
}

package rules

import (
	"bytes"
	"math"
	"net/netip"
	"slices"
)

// leafIndex finds, for one value at one field, the anchor conditions it
// satisfies without trying them one by one: hash maps for exact values,
// maps per length for prefixes and suffixes, an interval tree for numeric
// ranges. Only the few operators that cannot be indexed (contains, CIDR,
// anything-but, unanchored wildcards) are tried in turn.
type leafIndex struct {
	exact   map[string][]int32
	nums    map[float64][]int32
	lits    [3][]int32 // true, false, null
	any     []int32    // {"exists": true}
	prefix  lenIndex
	suffix  lenIndex
	hasFold bool
	foldEq  map[string][]int32
	foldPre lenIndex
	foldSuf lenIndex

	wcs    []condAtom // wildcards with at least one star
	wcPre  lenIndex   // → wcs index, by the literal text before the first star
	wcSuf  lenIndex   // → wcs index, by the text after the last star
	wcScan []int32    // wcs that start and end with a star

	ranges   []condRange // collected by add, indexed by finish into rtree
	rtree    rangeTree
	contains []condAtom
	cidrs    []condAtom
	buts     []condAtom

	seen map[string]int // canonical atom → its position in wcs, contains, cidrs or buts
}

// condAtom is an atom and the conditions it belongs to.
type condAtom struct {
	a     *atom
	conds []int32
}

type condRange struct {
	r    numRange
	cond int32
}

// lenIndex maps strings to ids, grouped by length so that the prefixes (or
// suffixes) of a value are found with one map lookup per distinct length.
type lenIndex struct {
	lens []int
	maps []map[string][]int32
}

func (li *lenIndex) add(key string, id int32) {
	i, found := slices.BinarySearch(li.lens, len(key))
	if !found {
		li.lens = slices.Insert(li.lens, i, len(key))
		li.maps = slices.Insert(li.maps, i, map[string][]int32{})
	}
	li.maps[i][key] = appendUnique(li.maps[i][key], id)
}

func (li *lenIndex) appendPrefixes(dst []int32, v []byte) []int32 {
	for i, n := range li.lens {
		if n > len(v) {
			break
		}
		dst = append(dst, li.maps[i][string(v[:n])]...)
	}
	return dst
}

func (li *lenIndex) appendSuffixes(dst []int32, v []byte) []int32 {
	for i, n := range li.lens {
		if n > len(v) {
			break
		}
		dst = append(dst, li.maps[i][string(v[len(v)-n:])]...)
	}
	return dst
}

func appendUnique(s []int32, id int32) []int32 {
	if len(s) > 0 && s[len(s)-1] == id {
		return s
	}
	return append(s, id)
}

func addTo[K comparable](m *map[K][]int32, k K, id int32) {
	if *m == nil {
		*m = map[K][]int32{}
	}
	(*m)[k] = appendUnique((*m)[k], id)
}

// addCondAtom adds condition id to the entry of a in list, creating it if
// needed.
func (ix *leafIndex) addCondAtom(list []condAtom, a *atom, id int32) []condAtom {
	key := a.describe()
	if i, ok := ix.seen[key]; ok {
		list[i].conds = appendUnique(list[i].conds, id)
		return list
	}
	if ix.seen == nil {
		ix.seen = map[string]int{}
	}
	ix.seen[key] = len(list)
	return append(list, condAtom{a: a, conds: []int32{id}})
}

// add indexes one atom of condition id.
func (ix *leafIndex) add(a *atom, id int32) {
	switch a.kind {
	case opString:
		addTo(&ix.exact, a.str, id)
	case opNumber:
		addTo(&ix.nums, a.num, id)
	case opTrue:
		ix.lits[0] = appendUnique(ix.lits[0], id)
	case opFalse:
		ix.lits[1] = appendUnique(ix.lits[1], id)
	case opNull:
		ix.lits[2] = appendUnique(ix.lits[2], id)
	case opExists:
		if a.exists {
			ix.any = appendUnique(ix.any, id)
		}
	case opPrefix:
		ix.prefix.add(a.str, id)
	case opSuffix:
		ix.suffix.add(a.str, id)
	case opPrefixFold:
		ix.hasFold = true
		ix.foldPre.add(a.fold, id)
	case opSuffixFold:
		ix.hasFold = true
		ix.foldSuf.add(a.fold, id)
	case opEqualsFold:
		ix.hasFold = true
		addTo(&ix.foldEq, a.fold, id)
	case opWildcard:
		w := a.wc
		if w.stars() == 0 {
			addTo(&ix.exact, w.segs[0], id)
			return
		}
		n := len(ix.wcs)
		ix.wcs = ix.addCondAtom(ix.wcs, a, id)
		if len(ix.wcs) == n {
			return // the same wildcard is already indexed
		}
		wi := int32(n)
		switch first, last := w.segs[0], w.segs[len(w.segs)-1]; {
		case first != "":
			ix.wcPre.add(first, wi)
		case last != "":
			ix.wcSuf.add(last, wi)
		default:
			ix.wcScan = append(ix.wcScan, wi)
		}
	case opNumeric:
		if a.rng.eq {
			addTo(&ix.nums, a.rng.lo, id)
			return
		}
		ix.ranges = append(ix.ranges, condRange{r: a.rng, cond: id})
	case opContains:
		ix.contains = ix.addCondAtom(ix.contains, a, id)
	case opCIDR:
		ix.cidrs = ix.addCondAtom(ix.cidrs, a, id)
	case opAnythingBut:
		ix.buts = ix.addCondAtom(ix.buts, a, id)
	}
}

// finish builds the structures that need every atom.
func (ix *leafIndex) finish() {
	ix.rtree = buildRangeTree(ix.ranges)
	ix.ranges = nil
}

// rangeTree is a centred interval tree of numeric ranges: a lookup costs
// O(log n + the ranges found), however many ranges there are.
type rangeTree struct {
	nodes []rangeNode
}

// rangeNode holds the ranges whose closure contains center; those wholly
// below it are under left, those wholly above under right.
type rangeNode struct {
	center      float64
	byLo        []condRange // lower bound ascending
	byHi        []condRange // upper bound descending
	left, right int32       // node index, or -1
}

func rangeLo(r numRange) float64 {
	if r.hasLo {
		return r.lo
	}
	return math.Inf(-1)
}

func rangeHi(r numRange) float64 {
	if r.hasHi {
		return r.hi
	}
	return math.Inf(1)
}

func buildRangeTree(ranges []condRange) rangeTree {
	var t rangeTree
	t.build(ranges)
	return t
}

// build adds the nodes for ranges and returns the index of their root. The
// centre is the median finite endpoint, which belongs to some range, so
// every level keeps at least one range and the recursion ends.
func (t *rangeTree) build(ranges []condRange) int32 {
	if len(ranges) == 0 {
		return -1
	}
	var ends []float64
	for _, cr := range ranges {
		if cr.r.hasLo {
			ends = append(ends, cr.r.lo)
		}
		if cr.r.hasHi {
			ends = append(ends, cr.r.hi)
		}
	}
	slices.Sort(ends)
	center := ends[len(ends)/2]
	var left, right, here []condRange
	for _, cr := range ranges {
		switch {
		case rangeHi(cr.r) < center:
			left = append(left, cr)
		case rangeLo(cr.r) > center:
			right = append(right, cr)
		default:
			here = append(here, cr)
		}
	}
	byLo := slices.Clone(here)
	slices.SortStableFunc(byLo, func(a, b condRange) int { return cmpFloat(rangeLo(a.r), rangeLo(b.r)) })
	byHi := here
	slices.SortStableFunc(byHi, func(a, b condRange) int { return cmpFloat(rangeHi(b.r), rangeHi(a.r)) })
	id := int32(len(t.nodes))
	t.nodes = append(t.nodes, rangeNode{center: center, byLo: byLo, byHi: byHi})
	l := t.build(left)
	r := t.build(right)
	t.nodes[id].left, t.nodes[id].right = l, r
	return id
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// appendHolding appends the conditions of the ranges that hold x.
func (t *rangeTree) appendHolding(dst []int32, x float64) []int32 {
	if len(t.nodes) == 0 || math.IsNaN(x) {
		return dst
	}
	for n := int32(0); n >= 0; {
		nd := &t.nodes[n]
		switch {
		case x < nd.center:
			// Every range here reaches up to the centre, above x: it
			// holds x if it starts low enough.
			for _, cr := range nd.byLo {
				if rangeLo(cr.r) > x {
					break
				}
				if cr.r.contains(x) {
					dst = append(dst, cr.cond)
				}
			}
			n = nd.left
		case x > nd.center:
			for _, cr := range nd.byHi {
				if rangeHi(cr.r) < x {
					break
				}
				if cr.r.contains(x) {
					dst = append(dst, cr.cond)
				}
			}
			n = nd.right
		default:
			for _, cr := range nd.byLo {
				if cr.r.contains(x) {
					dst = append(dst, cr.cond)
				}
			}
			n = -1
		}
	}
	return dst
}

// appendMatches appends the conditions the value satisfies (possibly with
// repeats) to dst.
func (ix *leafIndex) appendMatches(dst []int32, v value, fold *[]byte) []int32 {
	switch v.kind {
	case vString:
		s := v.str
		if ix.exact != nil {
			dst = append(dst, ix.exact[string(s)]...)
		}
		dst = ix.prefix.appendPrefixes(dst, s)
		dst = ix.suffix.appendSuffixes(dst, s)
		if ix.hasFold {
			f := folded(s, fold)
			if ix.foldEq != nil {
				dst = append(dst, ix.foldEq[string(f)]...)
			}
			dst = ix.foldPre.appendPrefixes(dst, f)
			dst = ix.foldSuf.appendSuffixes(dst, f)
		}
		if len(ix.wcs) > 0 {
			dst = ix.appendWildcards(dst, s)
		}
		for _, ca := range ix.contains {
			if bytes.Contains(s, []byte(ca.a.str)) {
				dst = append(dst, ca.conds...)
			}
		}
		if len(ix.cidrs) > 0 {
			if addr, err := netip.ParseAddr(string(s)); err == nil {
				addr = addr.WithZone("")
				for _, ca := range ix.cidrs {
					if ca.a.cidr.Contains(addr) || ca.a.cidr.Contains(addr.Unmap()) {
						dst = append(dst, ca.conds...)
					}
				}
			}
		}
	case vNumber:
		if ix.nums != nil {
			dst = append(dst, ix.nums[v.num]...)
		}
		dst = ix.rtree.appendHolding(dst, v.num)
	case vTrue:
		dst = append(dst, ix.lits[0]...)
	case vFalse:
		dst = append(dst, ix.lits[1]...)
	case vNull:
		dst = append(dst, ix.lits[2]...)
	}
	dst = append(dst, ix.any...)
	for _, ca := range ix.buts {
		if !ca.a.but.excludes(v, fold) {
			dst = append(dst, ca.conds...)
		}
	}
	return dst
}

func (ix *leafIndex) appendWildcards(dst []int32, s []byte) []int32 {
	try := func(dst []int32, wi int32) []int32 {
		if ca := ix.wcs[wi]; ca.a.wc.match(s) {
			dst = append(dst, ca.conds...)
		}
		return dst
	}
	for i, n := range ix.wcPre.lens {
		if n > len(s) {
			break
		}
		for _, wi := range ix.wcPre.maps[i][string(s[:n])] {
			dst = try(dst, wi)
		}
	}
	for i, n := range ix.wcSuf.lens {
		if n > len(s) {
			break
		}
		for _, wi := range ix.wcSuf.maps[i][string(s[len(s)-n:])] {
			dst = try(dst, wi)
		}
	}
	for _, wi := range ix.wcScan {
		dst = try(dst, wi)
	}
	return dst
}

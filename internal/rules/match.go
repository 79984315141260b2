package rules

import (
	"slices"
	"strconv"
)

// Match returns the ids of the rules that match the event, sorted. The error
// is an *EventError, for an event that is not a JSON object; encoding/json
// would accept exactly the same documents.
func (m *Matcher) Match(event []byte) ([]string, error) {
	s := m.pool.Get().(*scratch)
	s.reset()
	s.ev = event
	sc := eventScanner{data: event, s: s}
	var ids []string
	err := sc.run(m.root)
	if err == nil {
		ids = s.evaluate()
	}
	s.release()
	m.pool.Put(s)
	return ids, err
}

// MatchValue is Match for an event already decoded by encoding/json (with or
// without UseNumber). An event that is not a map[string]any matches nothing.
func (m *Matcher) MatchValue(event any) []string {
	obj, ok := event.(map[string]any)
	if !ok {
		return nil
	}
	s := m.pool.Get().(*scratch)
	s.reset()
	w := valueWalker{s: s}
	w.object(obj, m.root)
	ids := s.evaluate()
	s.release()
	m.pool.Put(s)
	return ids
}

// scratch is the working memory of one match. Marks are stamped with the
// epoch of the match that set them, so nothing needs clearing between
// events and the cost of a match does not grow with the number of rules.
type scratch struct {
	m       *Matcher
	ev      []byte
	vals    []evVal
	trails  []trailEnt
	stack   []trailEnt
	buf     []byte
	fold    []byte
	hits    []int32
	cands   []int32
	matched []int32
	next    []int32  // per value: the next value of the same node
	acArena []acCond // consistent's working memory
	acCands []int32

	epoch     uint32
	objSerial uint32
	arrays    int32
	hasTrail  bool // some value lies in an array of objects

	condMark   []uint32 // the condition was decided in this epoch…
	condOK     []bool   // …with this result
	branchMark []uint32 // the branch is already a candidate
	ruleMark   []uint32 // the rule already matched
	nodeMark   []uint32 // nodeHead is valid
	nodeHead   []int32  // the node's first value, or -1
	nodeObj    []uint32 // the object in which the node's key was last seen
	nodeStart  []int32  // the values recorded for that key
	nodeEnd    []int32
}

func (m *Matcher) newScratch() *scratch {
	nn := len(m.nodes)
	return &scratch{
		m:          m,
		condMark:   make([]uint32, len(m.conds)),
		condOK:     make([]bool, len(m.conds)),
		branchMark: make([]uint32, len(m.branches)),
		ruleMark:   make([]uint32, len(m.ids)),
		nodeMark:   make([]uint32, nn),
		nodeHead:   make([]int32, nn),
		nodeObj:    make([]uint32, nn),
		nodeStart:  make([]int32, nn),
		nodeEnd:    make([]int32, nn),
	}
}

func (s *scratch) reset() {
	s.vals, s.trails, s.stack, s.buf = s.vals[:0], s.trails[:0], s.stack[:0], s.buf[:0]
	s.cands, s.matched = s.cands[:0], s.matched[:0]
	s.arrays, s.hasTrail = 0, false
	s.epoch++
	if s.epoch == 0 {
		clear(s.condMark)
		clear(s.branchMark)
		clear(s.ruleMark)
		clear(s.nodeMark)
		s.epoch = 1
	}
	if s.objSerial > 1<<31 {
		clear(s.nodeObj)
		s.objSerial = 0
	}
}

// release drops references to the event and oversized buffers before the
// scratch goes back to the pool.
func (s *scratch) release() {
	s.ev = nil
	const keep = 1 << 16
	if cap(s.buf) > keep {
		s.buf = nil
	}
	if cap(s.vals) > keep {
		s.vals, s.next = nil, nil
	}
	if cap(s.trails) > keep {
		s.trails = nil
	}
	if cap(s.acCands) > keep || cap(s.acArena) > keep {
		s.acCands, s.acArena = nil, nil
	}
}

// value returns a recorded value, parsing its number on first use.
func (s *scratch) value(v *evVal) value {
	var b []byte
	if v.inBuf {
		b = s.buf[v.start:v.end]
	} else if v.kind == vString || (v.kind == vNumber && !v.numOK) {
		b = s.ev[v.start:v.end]
	}
	switch v.kind {
	case vString:
		return value{kind: vString, str: b}
	case vNumber:
		if !v.numOK {
			// Overflow gives ±Inf, as the same text would through json.Number.
			v.num, _ = strconv.ParseFloat(string(b), 64)
			v.numOK = true
		}
		return value{kind: vNumber, num: v.num}
	}
	return value{kind: v.kind}
}

// head returns the first value at node n, or -1.
func (s *scratch) head(n int32) int32 {
	if s.nodeMark[n] != s.epoch {
		return -1
	}
	return s.nodeHead[n]
}

// evaluate runs the recorded values through the indexes and checks the
// branches whose anchor held.
func (s *scratch) evaluate() []string {
	m := s.m
	s.next = slices.Grow(s.next[:0], len(s.vals))[:len(s.vals)]
	for i := range s.vals {
		v := &s.vals[i]
		if v.dead {
			continue
		}
		nid := v.node
		if s.nodeMark[nid] != s.epoch {
			s.nodeMark[nid] = s.epoch
			s.nodeHead[nid] = -1
		}
		s.next[i] = s.nodeHead[nid]
		s.nodeHead[nid] = int32(i)
		if v.trailLen > 0 {
			s.hasTrail = true
		}
		ix := m.nodes[nid].idx
		if ix == nil {
			continue
		}
		s.hits = ix.appendMatches(s.hits[:0], s.value(v), &s.fold)
		for _, c := range s.hits {
			if s.condMark[c] == s.epoch {
				continue
			}
			s.condMark[c] = s.epoch
			s.condOK[c] = true
			for _, b := range m.conds[c].anchored {
				if s.branchMark[b] != s.epoch {
					s.branchMark[b] = s.epoch
					s.cands = append(s.cands, b)
				}
			}
		}
	}
	s.cands = append(s.cands, m.always...)
	for _, bi := range s.cands {
		b := &m.branches[bi]
		if s.ruleMark[b.rule] == s.epoch {
			continue
		}
		if s.branchHolds(b) {
			s.ruleMark[b.rule] = s.epoch
			s.matched = append(s.matched, b.rule)
		}
	}
	if len(s.matched) == 0 {
		return nil
	}
	slices.Sort(s.matched)
	ids := make([]string, len(s.matched))
	for i, r := range s.matched {
		ids[i] = m.ids[r]
	}
	return ids
}

func (s *scratch) branchHolds(b *branch) bool {
	for _, c := range b.pos {
		if !s.condHolds(c) {
			return false
		}
	}
	if b.needAC && s.hasTrail {
		return s.consistent(b)
	}
	for _, n := range b.abs {
		if s.head(n) >= 0 {
			return false
		}
	}
	return true
}

// condHolds reports whether some value satisfies condition c. Anchors were
// decided by the indexes; other conditions are tried on the values of their
// field, once per event.
func (s *scratch) condHolds(c int32) bool {
	if s.condMark[c] == s.epoch {
		return s.condOK[c]
	}
	cd := &s.m.conds[c]
	ok := false
	if len(cd.anchored) == 0 {
		for i := s.head(cd.node.id); i >= 0; i = s.next[i] {
			if s.condMatches(cd, i) {
				ok = true
				break
			}
		}
	}
	s.condMark[c] = s.epoch
	s.condOK[c] = ok
	return ok
}

func (s *scratch) condMatches(cd *cond, vi int32) bool {
	v := s.value(&s.vals[vi])
	for _, a := range cd.atoms {
		if a.matches(v, &s.fold) {
			return true
		}
	}
	return false
}

// ---- Array consistency ----

// acCond is a condition of a branch being checked for array consistency,
// with its candidate values: the values that satisfy it, or, for a field
// that must be absent, the values that would contradict that. arr is the
// array its candidates pass through next (set by solve).
type acCond struct {
	absent bool
	arr    int32
	cands  []int32
}

func (s *scratch) trail(vi int32) []trailEnt {
	v := &s.vals[vi]
	return s.trails[v.trailStart : v.trailStart+v.trailLen]
}

// consistent reports whether the branch can be satisfied without taking two
// values from different elements of one array: one value per positive
// condition, all pairwise consistent, and for each absent field no value
// consistent with those chosen.
//
// Its working memory lives in the scratch (acArena, acCands) so that a
// match allocates nothing: slices handed down the recursion of solve stay
// valid when the arenas grow, since they keep pointing to the old arrays,
// which nothing writes any more.
func (s *scratch) consistent(b *branch) bool {
	s.acCands = s.acCands[:0]
	s.acArena = s.acArena[:0]
	for _, c := range b.pos {
		cd := &s.m.conds[c]
		start := len(s.acCands)
		for i := s.head(cd.node.id); i >= 0; i = s.next[i] {
			if s.condMatches(cd, i) {
				s.acCands = append(s.acCands, i)
			}
		}
		s.acArena = append(s.acArena, acCond{cands: s.acCands[start:len(s.acCands):len(s.acCands)]})
	}
	for _, n := range b.abs {
		start := len(s.acCands)
		for i := s.head(n); i >= 0; i = s.next[i] {
			s.acCands = append(s.acCands, i)
		}
		s.acArena = append(s.acArena, acCond{absent: true, cands: s.acCands[start:len(s.acCands):len(s.acCands)]})
	}
	return s.solve(0, s.acArena[:len(s.acArena):len(s.acArena)])
}

// solve decides a set of conditions whose candidates all lie in the same
// scope: the same elements of the first d arrays on their trails. A
// positive condition with a candidate that lies in no further array holds;
// an absent field with such a value fails. The others continue into arrays
// (for each condition, the one array its field passes through next): for
// each array, some element must satisfy all the conditions that go into it,
// unless they are only absent fields, which then must have no value there
// at all.
func (s *scratch) solve(d int, conds []acCond) bool {
	mark := len(s.acArena)
	ok := s.solveAt(d, conds)
	s.acArena = s.acArena[:mark]
	return ok
}

func (s *scratch) solveAt(d int, conds []acCond) bool {
	mark := len(s.acArena)
	for _, c := range conds {
		if len(c.cands) == 0 {
			if !c.absent {
				return false
			}
			continue
		}
		here := false
		for _, vi := range c.cands {
			if len(s.trail(vi)) == d {
				here = true
				break
			}
		}
		if here {
			if c.absent {
				return false
			}
			continue
		}
		c.arr = s.trail(c.cands[0])[d].arr
		s.acArena = append(s.acArena, c)
	}
	// The conditions that go deeper, grouped by the array they go into.
	deeper := s.acArena[mark:len(s.acArena):len(s.acArena)]
	slices.SortStableFunc(deeper, func(a, b acCond) int { return int(a.arr) - int(b.arr) })
	idxAt := func(vi int32) int32 { return s.trail(vi)[d].idx }
	for gs := 0; gs < len(deeper); {
		ge := gs + 1
		for ge < len(deeper) && deeper[ge].arr == deeper[gs].arr {
			ge++
		}
		g := deeper[gs:ge]
		gs = ge
		pivot := -1
		for j, c := range g {
			slices.SortFunc(c.cands, func(a, b int32) int { return int(idxAt(a)) - int(idxAt(b)) })
			if pivot < 0 && !c.absent {
				pivot = j
			}
		}
		if pivot < 0 {
			return false // only absent fields, and they have values in this array
		}
		found := false
		subMark := len(s.acArena)
		pc := g[pivot].cands
		for k := 0; k < len(pc) && !found; {
			idx := idxAt(pc[k])
			s.acArena = s.acArena[:subMark]
			for _, c := range g {
				lo, _ := slices.BinarySearchFunc(c.cands, idx, func(vi, t int32) int { return int(idxAt(vi)) - int(t) })
				hi := lo
				for hi < len(c.cands) && idxAt(c.cands[hi]) == idx {
					hi++
				}
				s.acArena = append(s.acArena, acCond{absent: c.absent, cands: c.cands[lo:hi:hi]})
			}
			found = s.solve(d+1, s.acArena[subMark:len(s.acArena):len(s.acArena)])
			for k < len(pc) && idxAt(pc[k]) == idx {
				k++
			}
		}
		if !found {
			return false
		}
	}
	return true
}

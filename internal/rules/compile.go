package rules

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Matcher holds any number of compiled rules and tells which of them match
// an event. It is immutable and safe for concurrent use.
//
// Every pattern is expanded into alternatives ("branches": a branch is a
// list of conditions that must all hold; a rule matches when one of its
// branches does). Conditions on the same field with the same values are
// shared between branches and rules. Each branch has one anchor: its
// positive condition that looks rarest (an exact value that few other
// branches use rather than an anything-but). Only anchors are indexed, per
// field, in a tree of field names that mirrors the events; matching an event
// walks its JSON once along that tree, skipping every field no rule names,
// looks each value up in the index of its field, and only the branches whose
// anchor held are then checked, condition by condition. The work per event
// therefore follows the event and the rules that nearly match it, not the
// number of rules.
type Matcher struct {
	ids      []string // sorted; a rule is known by its position here
	root     *tnode
	nodes    []*tnode
	conds    []cond
	branches []branch
	always   []int32 // branches with no positive condition (only {"exists": false})
	pool     sync.Pool
}

// tnode is a field path: the root is the event itself, its children the
// top-level fields.
type tnode struct {
	id       int32
	key      string
	parent   *tnode
	children map[string]*tnode
	leaf     bool       // some condition tests the values here
	idx      *leafIndex // the anchors on this field, if any
}

// path renders the field path (detail.email).
func (n *tnode) path() string {
	if n.parent == nil {
		return ""
	}
	return joinKey(n.parent.path(), n.key)
}

// cond is a positive condition: a value at node matching one of atoms.
type cond struct {
	node     *tnode
	atoms    []*atom
	anchored []int32 // branches whose anchor this is; non-empty makes the condition indexed
	weight   int
	uses     int // branches that use it
}

// branch is one alternative of a rule: all of pos hold, no value exists at
// any of abs.
type branch struct {
	rule   int32
	pos    []int32 // cond ids
	abs    []int32 // node ids
	anchor int32   // cond id, or -1
	// needAC: two of the conditions sit under the same object field, so that
	// an array of objects there could make them hold only in different
	// elements; such branches are checked for array consistency.
	needAC bool
}

// Compile compiles rules (rule id → pattern) into one Matcher.
func Compile(rules map[string]*Pattern) (*Matcher, error) {
	m := &Matcher{root: &tnode{id: 0}}
	m.nodes = []*tnode{m.root}
	for id := range rules {
		m.ids = append(m.ids, id)
	}
	slices.Sort(m.ids)
	condIDs := map[string]int32{}
	for ri, id := range m.ids {
		p := rules[id]
		if p == nil || p.root == nil {
			return nil, fmt.Errorf("rules: rule %q has no pattern", id)
		}
		for _, alt := range expand(p.root, nil) {
			b := branch{rule: int32(ri), anchor: -1}
			var paths [][]string
			for _, c := range alt {
				n := m.node(c.path)
				n.leaf = true
				paths = append(paths, c.path)
				if c.absent {
					if !slices.Contains(b.abs, n.id) {
						b.abs = append(b.abs, n.id)
					}
					continue
				}
				key := condKey(n, c.atoms)
				cid, ok := condIDs[key]
				if !ok {
					cid = int32(len(m.conds))
					condIDs[key] = cid
					m.conds = append(m.conds, cond{node: n, atoms: c.atoms, weight: condWeight(c.atoms)})
				}
				if !slices.Contains(b.pos, cid) {
					b.pos = append(b.pos, cid)
					m.conds[cid].uses++
				}
			}
			b.needAC = needsArrayConsistency(paths)
			m.branches = append(m.branches, b)
		}
	}
	for bi := range m.branches {
		b := &m.branches[bi]
		if len(b.pos) == 0 {
			m.always = append(m.always, int32(bi))
			continue
		}
		best := b.pos[0]
		for _, cid := range b.pos[1:] {
			c, bc := &m.conds[cid], &m.conds[best]
			if c.weight*c.uses < bc.weight*bc.uses {
				best = cid
			}
		}
		b.anchor = best
		m.conds[best].anchored = append(m.conds[best].anchored, int32(bi))
	}
	for cid := range m.conds {
		c := &m.conds[cid]
		if len(c.anchored) == 0 {
			continue
		}
		if c.node.idx == nil {
			c.node.idx = &leafIndex{}
		}
		for _, a := range c.atoms {
			c.node.idx.add(a, int32(cid))
		}
	}
	for _, n := range m.nodes {
		if n.idx != nil {
			n.idx.finish()
		}
	}
	m.pool.New = func() any { return m.newScratch() }
	return m, nil
}

// Rules returns the ids of the compiled rules, sorted.
func (m *Matcher) Rules() []string { return slices.Clone(m.ids) }

// node returns the node of a path, creating it.
func (m *Matcher) node(path []string) *tnode {
	n := m.root
	for _, k := range path {
		c := n.children[k]
		if c == nil {
			c = &tnode{id: int32(len(m.nodes)), key: k, parent: n}
			if n.children == nil {
				n.children = map[string]*tnode{}
			}
			n.children[k] = c
			m.nodes = append(m.nodes, c)
		}
		n = c
	}
	return n
}

func condKey(n *tnode, atoms []*atom) string {
	keys := make([]string, len(atoms))
	for i, a := range atoms {
		keys[i] = a.describe()
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return fmt.Sprintf("%d\x00%s", n.id, strings.Join(keys, "\x00"))
}

// condWeight guesses how many events a condition lets through: exact values
// few, anything-but and exists almost all. The anchor of a branch is the
// condition with the least weight × uses.
func condWeight(atoms []*atom) int {
	w := 0
	for _, a := range atoms {
		var aw int
		switch a.kind {
		case opString, opNumber, opEqualsFold, opTrue, opFalse, opNull:
			aw = 1
		case opCIDR:
			aw = 2
		case opPrefix, opSuffix, opPrefixFold, opSuffixFold, opWildcard:
			aw = 3
		case opContains, opNumeric:
			aw = 4
		case opAnythingBut:
			aw = 50
		default: // exists: true
			aw = 100
		}
		w = max(w, aw)
	}
	return w * (1 + len(atoms)/4)
}

// needsArrayConsistency reports whether two of the paths share a first key
// and both go deeper: only then can one array of objects hold values of both.
func needsArrayConsistency(paths [][]string) bool {
	for i := range paths {
		for j := i + 1; j < len(paths); j++ {
			if len(paths[i]) > 1 && len(paths[j]) > 1 && paths[i][0] == paths[j][0] {
				return true
			}
		}
	}
	return false
}

// rcond is a condition of an expanded alternative.
type rcond struct {
	path   []string
	atoms  []*atom // positive values; any may match
	absent bool    // the field must be absent
}

// expand multiplies a pattern out into alternatives: lists of conditions
// that must all hold.
func expand(o *object, prefix []string) [][]rcond {
	out := [][]rcond{nil}
	for _, f := range o.fields {
		var alts [][]rcond
		switch {
		case f.isOr():
			for _, alt := range f.ors {
				alts = append(alts, expand(alt, prefix)...)
			}
		case f.obj != nil:
			alts = expand(f.obj, appendPath(prefix, f.name))
		default:
			path := appendPath(prefix, f.name)
			var pos []*atom
			absent := false
			for _, a := range f.leaf {
				if a.isExistsFalse() {
					absent = true
				} else {
					pos = append(pos, a)
				}
			}
			if len(pos) > 0 {
				alts = append(alts, []rcond{{path: path, atoms: pos}})
			}
			if absent {
				alts = append(alts, []rcond{{path: path, absent: true}})
			}
		}
		next := make([][]rcond, 0, len(out)*len(alts))
		for _, a := range out {
			for _, b := range alts {
				next = append(next, append(slices.Clip(a), b...))
			}
		}
		out = next
	}
	return out
}

func appendPath(prefix []string, key string) []string {
	return append(slices.Clip(prefix), key)
}

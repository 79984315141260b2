package rules

import (
	"bytes"
	"net/netip"
	"slices"
)

// valKind is the JSON type of a leaf value of an event.
type valKind uint8

const (
	vString valKind = iota
	vNumber
	vTrue
	vFalse
	vNull
)

// value is one leaf value of an event: a string (its decoded bytes), a
// number, true, false or null.
type value struct {
	kind valKind
	str  []byte
	num  float64
}

// matches reports whether the value matches the atom. fold is scratch space
// for case folding. {"exists": false} matches no value: absence is decided
// elsewhere.
func (a *atom) matches(v value, fold *[]byte) bool {
	switch a.kind {
	case opString:
		return v.kind == vString && string(v.str) == a.str
	case opNumber:
		return v.kind == vNumber && v.num == a.num
	case opTrue:
		return v.kind == vTrue
	case opFalse:
		return v.kind == vFalse
	case opNull:
		return v.kind == vNull
	case opPrefix:
		return v.kind == vString && bytes.HasPrefix(v.str, []byte(a.str))
	case opSuffix:
		return v.kind == vString && bytes.HasSuffix(v.str, []byte(a.str))
	case opPrefixFold:
		return v.kind == vString && bytes.HasPrefix(folded(v.str, fold), []byte(a.fold))
	case opSuffixFold:
		return v.kind == vString && bytes.HasSuffix(folded(v.str, fold), []byte(a.fold))
	case opEqualsFold:
		return v.kind == vString && string(folded(v.str, fold)) == a.fold
	case opWildcard:
		return v.kind == vString && a.wc.match(v.str)
	case opContains:
		return v.kind == vString && bytes.Contains(v.str, []byte(a.str))
	case opNumeric:
		return v.kind == vNumber && a.rng.contains(v.num)
	case opCIDR:
		return v.kind == vString && cidrContains(a.cidr, v.str)
	case opExists:
		return a.exists
	case opAnythingBut:
		return !a.but.excludes(v, fold)
	}
	return false
}

// folded returns the case-folded form of s, in *buf.
func folded(s []byte, buf *[]byte) []byte {
	if !needsFold(s) {
		return s
	}
	*buf = appendFold((*buf)[:0], s)
	return *buf
}

// cidrContains reports whether s is an IP address inside p. IPv4-mapped
// IPv6 addresses count as their IPv4 address; zones are ignored.
func cidrContains(p netip.Prefix, s []byte) bool {
	addr, err := netip.ParseAddr(string(s))
	if err != nil {
		return false
	}
	addr = addr.WithZone("")
	return p.Contains(addr) || p.Contains(addr.Unmap())
}

// excludes reports whether an anything-but rejects the value.
func (ab *anythingBut) excludes(v value, fold *[]byte) bool {
	if ab.kind == butNumbers {
		return v.kind == vNumber && slices.Contains(ab.nums, v.num)
	}
	if v.kind != vString {
		return false
	}
	switch ab.kind {
	case butStrings:
		for _, s := range ab.strs {
			if string(v.str) == s {
				return true
			}
		}
	case butPrefix:
		for _, s := range ab.strs {
			if bytes.HasPrefix(v.str, []byte(s)) {
				return true
			}
		}
	case butSuffix:
		for _, s := range ab.strs {
			if bytes.HasSuffix(v.str, []byte(s)) {
				return true
			}
		}
	case butFold:
		f := folded(v.str, fold)
		for _, s := range ab.folded {
			if string(f) == s {
				return true
			}
		}
	case butWildcard:
		for _, w := range ab.wcs {
			if w.match(v.str) {
				return true
			}
		}
	}
	return false
}

package rules

import (
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxWildcards is the most "*" one wildcard value may hold. Each star after
// the first costs a substring search; event-ruler warns that wildcard rules
// are what makes matching slow, so Gatehouse keeps them simple.
const MaxWildcards = 5

// wildcard is a parsed {"wildcard": …} value: literal segments between
// stars, so that "a*b*c" is ["a", "b", "c"] and "*x" is ["", "x"].
type wildcard struct {
	src  string
	segs []string
}

// parseWildcard checks and splits a wildcard value. `\*` is a literal star,
// `\\` a literal backslash; any other backslash, two consecutive stars, and
// more than MaxWildcards stars are refused.
func parseWildcard(s string) (*wildcard, error) {
	w := &wildcard{src: s}
	var seg []byte
	prevStar := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return nil, fmt.Errorf(`a backslash in a wildcard must escape "*" or "\" (write \\* or \\\\)`)
			}
			i++
			seg = append(seg, s[i])
			prevStar = false
		case '*':
			if prevStar {
				return nil, fmt.Errorf(`consecutive wildcard characters ("**") are not allowed`)
			}
			w.segs = append(w.segs, string(seg))
			seg = seg[:0]
			prevStar = true
		default:
			seg = append(seg, c)
			prevStar = false
		}
	}
	w.segs = append(w.segs, string(seg))
	if n := len(w.segs) - 1; n > MaxWildcards {
		return nil, fmt.Errorf("a wildcard may hold at most %d \"*\", this one has %d", MaxWildcards, n)
	}
	return w, nil
}

func (w *wildcard) stars() int { return len(w.segs) - 1 }

// match reports whether v matches the whole wildcard. Matching the middle
// segments leftmost-first is exact for patterns whose only metacharacter is
// "*", and costs one substring search per segment.
func (w *wildcard) match(v []byte) bool {
	if len(w.segs) == 1 {
		return string(v) == w.segs[0]
	}
	first, last := w.segs[0], w.segs[len(w.segs)-1]
	if len(v) < len(first)+len(last) || string(v[:len(first)]) != first || string(v[len(v)-len(last):]) != last {
		return false
	}
	v = v[len(first) : len(v)-len(last)]
	for _, seg := range w.segs[1 : len(w.segs)-1] {
		i := bytes.Index(v, []byte(seg))
		if i < 0 {
			return false
		}
		v = v[i+len(seg):]
	}
	return true
}

// foldRune maps r to the smallest rune of its Unicode simple case-folding
// orbit, so that two strings are equal ignoring case (as strings.EqualFold
// decides) exactly when their folded forms are equal.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// appendFold appends the case-folded form of s to dst.
func appendFold(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		dst = utf8.AppendRune(dst, foldRune(r))
		i += size
	}
	return dst
}

func foldString(s string) string { return string(appendFold(nil, []byte(s))) }

// needsFold reports whether appendFold could change s.
func needsFold(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf || ('a' <= c && c <= 'z') {
			return true
		}
	}
	return false
}

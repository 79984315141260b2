package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// EventError is an event that is not a JSON object.
type EventError struct {
	Offset int // byte offset of the problem
	Msg    string
}

func (e *EventError) Error() string {
	return fmt.Sprintf("invalid event at offset %d: %s", e.Offset, e.Msg)
}

// maxEventDepth is encoding/json's nesting limit: Match accepts exactly the
// documents json.Valid accepts.
const maxEventDepth = 10000

// evVal is one leaf value found at a field some rule tests.
type evVal struct {
	node       int32
	kind       valKind
	dead       bool  // superseded by a later duplicate key
	inBuf      bool  // the bytes are in scratch.buf rather than in the event
	numOK      bool  // num holds the parsed number
	start, end int32 // the string's decoded bytes, or the number's text
	num        float64
	trailStart int32 // this value's trail in scratch.trails
	trailLen   int32
}

// trailEnt says that a value lies in element idx of array arr. A value's
// trail lists the arrays it lies in, outermost first, up to its own field:
// the arrays of scalars that hold it directly are left out, since a field
// matches if any of its values does.
type trailEnt struct {
	arr, idx int32
}

// strSafe marks the bytes a JSON string may hold without a second look.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// eventScanner walks the JSON of an event along the tree of fields the rules
// name, recording the leaf values of those fields and validating (without
// decoding) everything else.
type eventScanner struct {
	data  []byte
	pos   int
	depth int
	s     *scratch
}

func (sc *eventScanner) fail(format string, args ...any) error {
	return &EventError{Offset: sc.pos, Msg: fmt.Sprintf(format, args...)}
}

func (sc *eventScanner) unexpected(want string) error {
	if sc.pos >= len(sc.data) {
		return sc.fail("unexpected end of input, expected %s", want)
	}
	r, _ := utf8.DecodeRune(sc.data[sc.pos:])
	return sc.fail("unexpected %s, expected %s", strconv.QuoteRune(r), want)
}

func (sc *eventScanner) skipSpace() {
	for sc.pos < len(sc.data) {
		switch sc.data[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

// run scans a whole event.
func (sc *eventScanner) run(root *tnode) error {
	sc.skipSpace()
	if sc.pos >= len(sc.data) {
		return sc.unexpected("'{'")
	}
	if sc.data[sc.pos] != '{' {
		start := sc.pos
		if err := sc.skip(); err != nil {
			return err
		}
		sc.skipSpace()
		if sc.pos != len(sc.data) {
			return sc.unexpected("end of input")
		}
		sc.pos = start
		return sc.fail("an event must be a JSON object")
	}
	if err := sc.object(root); err != nil {
		return err
	}
	sc.skipSpace()
	if sc.pos != len(sc.data) {
		return sc.unexpected("end of input")
	}
	return nil
}

func (sc *eventScanner) enter() error {
	sc.depth++
	if sc.depth > maxEventDepth {
		return sc.fail("nested deeper than %d levels", maxEventDepth)
	}
	return nil
}

// object scans the object at sc.pos, whose fields are n's children.
func (sc *eventScanner) object(n *tnode) error {
	if err := sc.enter(); err != nil {
		return err
	}
	sc.pos++ // {
	s := sc.s
	s.objSerial++
	serial := s.objSerial
	sc.skipSpace()
	if sc.pos < len(sc.data) && sc.data[sc.pos] == '}' {
		sc.pos++
		sc.depth--
		return nil
	}
	for {
		sc.skipSpace()
		if sc.pos >= len(sc.data) || sc.data[sc.pos] != '"' {
			return sc.unexpected("a field name")
		}
		kstart, kend, plain, err := sc.str()
		if err != nil {
			return err
		}
		sc.skipSpace()
		if sc.pos >= len(sc.data) || sc.data[sc.pos] != ':' {
			return sc.unexpected("':'")
		}
		sc.pos++
		sc.skipSpace()
		var child *tnode
		if n.children != nil {
			key := sc.data[kstart:kend]
			if !plain {
				key = decodeString(sc.data[kstart-1 : kend+1])
			}
			child = n.children[string(key)]
		}
		if child == nil {
			err = sc.skip()
		} else {
			err = sc.field(child, serial)
		}
		if err != nil {
			return err
		}
		sc.skipSpace()
		if sc.pos >= len(sc.data) {
			return sc.unexpected("',' or '}'")
		}
		switch sc.data[sc.pos] {
		case ',':
			sc.pos++
		case '}':
			sc.pos++
			sc.depth--
			return nil
		default:
			return sc.unexpected("',' or '}'")
		}
	}
}

// field scans the value of a known field. When the same key appears twice
// in one object, the values of the earlier one are dropped: like
// encoding/json, the last one wins.
func (sc *eventScanner) field(n *tnode, serial uint32) error {
	s := sc.s
	if s.nodeObj[n.id] == serial {
		for i := s.nodeStart[n.id]; i < s.nodeEnd[n.id]; i++ {
			s.vals[i].dead = true
		}
	}
	s.nodeObj[n.id] = serial
	start := int32(len(s.vals))
	err := sc.value(n, len(s.stack))
	s.nodeStart[n.id], s.nodeEnd[n.id] = start, int32(len(s.vals))
	return err
}

// value scans any value at node n; keyTrail is the length of the trail at
// n's key.
func (sc *eventScanner) value(n *tnode, keyTrail int) error {
	if sc.pos >= len(sc.data) {
		return sc.unexpected("a value")
	}
	switch c := sc.data[sc.pos]; c {
	case '{':
		if n.children == nil {
			return sc.skip()
		}
		return sc.object(n)
	case '[':
		return sc.array(n, keyTrail)
	case '"':
		start, end, plain, err := sc.str()
		if err != nil {
			return err
		}
		if n.leaf {
			v := evVal{kind: vString, start: int32(start), end: int32(end)}
			if !plain {
				s := sc.s
				b := len(s.buf)
				s.buf = append(s.buf, decodeString(sc.data[start-1:end+1])...)
				v.inBuf, v.start, v.end = true, int32(b), int32(len(s.buf))
			}
			sc.record(n, v, keyTrail)
		}
		return nil
	case 't':
		return sc.literal(n, "true", vTrue, keyTrail)
	case 'f':
		return sc.literal(n, "false", vFalse, keyTrail)
	case 'n':
		return sc.literal(n, "null", vNull, keyTrail)
	default:
		end := scanNumber(sc.data, sc.pos)
		if end < 0 {
			return sc.unexpected("a value")
		}
		if n.leaf {
			sc.record(n, evVal{kind: vNumber, start: int32(sc.pos), end: int32(end)}, keyTrail)
		}
		sc.pos = end
		return nil
	}
}

func (sc *eventScanner) literal(n *tnode, word string, kind valKind, keyTrail int) error {
	if len(sc.data)-sc.pos < len(word) || string(sc.data[sc.pos:sc.pos+len(word)]) != word {
		return sc.unexpected("a value")
	}
	sc.pos += len(word)
	if n.leaf {
		sc.record(n, evVal{kind: kind}, keyTrail)
	}
	return nil
}

func (sc *eventScanner) record(n *tnode, v evVal, keyTrail int) {
	s := sc.s
	v.node = n.id
	if keyTrail > 0 {
		v.trailStart, v.trailLen = int32(len(s.trails)), int32(keyTrail)
		s.trails = append(s.trails, s.stack[:keyTrail]...)
	}
	s.vals = append(s.vals, v)
}

// array scans an array at node n: its scalars are values of n, its objects
// hold n's children, each with the element's position on the trail.
func (sc *eventScanner) array(n *tnode, keyTrail int) error {
	if err := sc.enter(); err != nil {
		return err
	}
	sc.pos++ // [
	sc.skipSpace()
	if sc.pos < len(sc.data) && sc.data[sc.pos] == ']' {
		sc.pos++
		sc.depth--
		return nil
	}
	s := sc.s
	s.arrays++
	arr := s.arrays
	for idx := int32(0); ; idx++ {
		sc.skipSpace()
		s.stack = append(s.stack, trailEnt{arr: arr, idx: idx})
		err := sc.value(n, keyTrail)
		s.stack = s.stack[:len(s.stack)-1]
		if err != nil {
			return err
		}
		sc.skipSpace()
		if sc.pos >= len(sc.data) {
			return sc.unexpected("',' or ']'")
		}
		switch sc.data[sc.pos] {
		case ',':
			sc.pos++
		case ']':
			sc.pos++
			sc.depth--
			return nil
		default:
			return sc.unexpected("',' or ']'")
		}
	}
}

// str scans the string at sc.pos (its opening quote) and returns the bounds
// of its content. plain is false when the content must be decoded: it has
// escapes, or bytes that are not valid UTF-8 (which decoding turns into
// U+FFFD, as encoding/json does).
func (sc *eventScanner) str() (start, end int, plain bool, err error) {
	data := sc.data
	i := sc.pos + 1
	start = i
	escaped, high := false, false
	for {
		for i < len(data) && strSafe[data[i]] {
			i++
		}
		if i >= len(data) {
			sc.pos = start - 1
			return 0, 0, false, sc.fail("unterminated string")
		}
		switch c := data[i]; {
		case c == '"':
			sc.pos = i + 1
			plain = !escaped && (!high || utf8.Valid(data[start:i]))
			return start, i, plain, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				sc.pos = i
				return 0, 0, false, sc.fail("unterminated string")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex4(data[i+2:i+6]) {
					sc.pos = i
					return 0, 0, false, sc.fail(`invalid \u escape`)
				}
				i += 6
			default:
				sc.pos = i
				return 0, 0, false, sc.fail("invalid escape in string")
			}
		case c < 0x20:
			sc.pos = i
			return 0, 0, false, sc.fail("control character in string")
		default:
			high = true
			i++
		}
	}
}

// decodeString decodes a JSON string token (quotes included) the way
// encoding/json does. The token has been validated.
func decodeString(tok []byte) []byte {
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return nil
	}
	return []byte(s)
}

// skip validates and steps over any value.
func (sc *eventScanner) skip() error {
	if sc.pos >= len(sc.data) {
		return sc.unexpected("a value")
	}
	switch sc.data[sc.pos] {
	case '{':
		if err := sc.enter(); err != nil {
			return err
		}
		sc.pos++
		sc.skipSpace()
		if sc.pos < len(sc.data) && sc.data[sc.pos] == '}' {
			sc.pos++
			sc.depth--
			return nil
		}
		for {
			sc.skipSpace()
			if sc.pos >= len(sc.data) || sc.data[sc.pos] != '"' {
				return sc.unexpected("a field name")
			}
			if _, _, _, err := sc.str(); err != nil {
				return err
			}
			sc.skipSpace()
			if sc.pos >= len(sc.data) || sc.data[sc.pos] != ':' {
				return sc.unexpected("':'")
			}
			sc.pos++
			sc.skipSpace()
			if err := sc.skip(); err != nil {
				return err
			}
			sc.skipSpace()
			if sc.pos >= len(sc.data) {
				return sc.unexpected("',' or '}'")
			}
			switch sc.data[sc.pos] {
			case ',':
				sc.pos++
			case '}':
				sc.pos++
				sc.depth--
				return nil
			default:
				return sc.unexpected("',' or '}'")
			}
		}
	case '[':
		if err := sc.enter(); err != nil {
			return err
		}
		sc.pos++
		sc.skipSpace()
		if sc.pos < len(sc.data) && sc.data[sc.pos] == ']' {
			sc.pos++
			sc.depth--
			return nil
		}
		for {
			sc.skipSpace()
			if err := sc.skip(); err != nil {
				return err
			}
			sc.skipSpace()
			if sc.pos >= len(sc.data) {
				return sc.unexpected("',' or ']'")
			}
			switch sc.data[sc.pos] {
			case ',':
				sc.pos++
			case ']':
				sc.pos++
				sc.depth--
				return nil
			default:
				return sc.unexpected("',' or ']'")
			}
		}
	case '"':
		_, _, _, err := sc.str()
		return err
	case 't':
		return sc.skipWord("true")
	case 'f':
		return sc.skipWord("false")
	case 'n':
		return sc.skipWord("null")
	default:
		end := scanNumber(sc.data, sc.pos)
		if end < 0 {
			return sc.unexpected("a value")
		}
		sc.pos = end
		return nil
	}
}

func (sc *eventScanner) skipWord(word string) error {
	if len(sc.data)-sc.pos < len(word) || string(sc.data[sc.pos:sc.pos+len(word)]) != word {
		return sc.unexpected("a value")
	}
	sc.pos += len(word)
	return nil
}

// ---- Events already decoded ----

// valueWalker records the values of a decoded event (what encoding/json
// produces: map[string]any, []any, string, json.Number or float64, bool,
// nil). Other numeric Go types are accepted as numbers; anything else counts
// as absent.
type valueWalker struct {
	s *scratch
}

func (w *valueWalker) object(obj map[string]any, n *tnode) {
	if len(n.children) <= len(obj) {
		for k, c := range n.children {
			if v, ok := obj[k]; ok {
				w.value(v, c, len(w.s.stack))
			}
		}
		return
	}
	for k, v := range obj {
		if c := n.children[k]; c != nil {
			w.value(v, c, len(w.s.stack))
		}
	}
}

func (w *valueWalker) value(v any, n *tnode, keyTrail int) {
	s := w.s
	rec := func(ev evVal) {
		if !n.leaf {
			return
		}
		ev.node = n.id
		if keyTrail > 0 {
			ev.trailStart, ev.trailLen = int32(len(s.trails)), int32(keyTrail)
			s.trails = append(s.trails, s.stack[:keyTrail]...)
		}
		s.vals = append(s.vals, ev)
	}
	text := func(kind valKind, b string) {
		if !n.leaf {
			return
		}
		start := len(s.buf)
		s.buf = append(s.buf, b...)
		rec(evVal{kind: kind, inBuf: true, start: int32(start), end: int32(len(s.buf))})
	}
	number := func(f float64) {
		if !math.IsNaN(f) {
			rec(evVal{kind: vNumber, num: f, numOK: true})
		}
	}
	switch x := v.(type) {
	case map[string]any:
		if n.children != nil {
			w.object(x, n)
		}
	case []any:
		s.arrays++
		arr := s.arrays
		for i, e := range x {
			s.stack = append(s.stack, trailEnt{arr: arr, idx: int32(i)})
			w.value(e, n, keyTrail)
			s.stack = s.stack[:len(s.stack)-1]
		}
	case string:
		text(vString, x)
	case json.Number:
		if scanNumber([]byte(x), 0) == len(x) {
			text(vNumber, string(x))
		}
	case float64:
		number(x)
	case float32:
		number(float64(x))
	case int:
		number(float64(x))
	case int64:
		number(float64(x))
	case int32:
		number(float64(x))
	case uint64:
		number(float64(x))
	case bool:
		if x {
			rec(evVal{kind: vTrue})
		} else {
			rec(evVal{kind: vFalse})
		}
	case nil:
		rec(evVal{kind: vNull})
	}
}

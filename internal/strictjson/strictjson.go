// Package strictjson finds what encoding/json would silently change in a
// JSON text, or resolve by position: bytes that are not UTF-8 and \u
// escapes of unpaired UTF-16 surrogates (both decode as U+FFFD), and an
// object that names a member twice (the last one wins). It also finds
// \u0000, which PostgreSQL cannot store in text or jsonb while SQLite can:
// refusing it keeps the two stores alike. RFC 8259 §8.1 requires UTF-8,
// and I-JSON (RFC 7493 §2.1, §2.3) forbids unpaired surrogates and
// duplicate names.
//
// Gatehouse checks every JSON body it accepts (SCIM, POST /events, the
// admin API) with Check and refuses a body with any of these problems,
// rather than storing something other than what the client sent.
package strictjson

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options say what else counts as a duplicate name.
type Options struct {
	// FoldNames treats names that are equal ignoring case (Unicode simple
	// case folding, as strings.EqualFold) as the same name. SCIM
	// attribute names are case-insensitive (RFC 7643 §2.1): "userName"
	// and "USERNAME" in one object name one attribute twice.
	FoldNames bool
}

// MaxDepth bounds the nesting of arrays and objects, as encoding/json does.
const MaxDepth = 10000

// Error is the first problem found, at Offset bytes from the start of the
// text. Msg never quotes bytes that are not valid UTF-8.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (at byte %d)", e.Msg, e.Offset) }

// Check reports the first problem in data, a JSON text (RFC 8259): a
// syntax error, a string that is not UTF-8, a \u escape of an unpaired
// surrogate or of U+0000, or an object with a name given twice (exactly,
// or also ignoring case with FoldNames). Names are compared after their
// escapes are decoded: "user\u004eame" is "userName". It returns nil for a
// text encoding/json decodes exactly as written.
func Check(data []byte, opt Options) error {
	var names [32][]byte // enough for most bodies, without allocating
	s := &scanner{data: data, fold: opt.FoldNames, names: names[:0]}
	s.space()
	if err := s.value(0); err != nil {
		return err
	}
	s.space()
	if s.pos < len(s.data) {
		return s.fail(s.pos, "unexpected data after the JSON value")
	}
	return nil
}

type scanner struct {
	data []byte
	pos  int
	fold bool
	// names holds the names of the objects being read, innermost last;
	// each object knows where its own start.
	names [][]byte
	buf   []byte // decoded escaped names
}

func (s *scanner) fail(at int, format string, args ...any) error {
	return &Error{Offset: at, Msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return s.fail(s.pos, "unexpected end of JSON input")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.unexpected()
}

func (s *scanner) unexpected() error {
	if s.pos >= len(s.data) {
		return s.fail(s.pos, "unexpected end of JSON input")
	}
	c := s.data[s.pos]
	if c < utf8.RuneSelf && unicode.IsPrint(rune(c)) {
		return s.fail(s.pos, "invalid character %q", c)
	}
	return s.fail(s.pos, "invalid character (byte 0x%02x)", c)
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return s.unexpected()
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) number() error {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		s.pos = i
		return s.unexpected()
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			s.pos = j
			return s.unexpected()
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			s.pos = j
			return s.unexpected()
		}
		i = j
	}
	s.pos = i
	return nil
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

func (s *scanner) array(depth int) error {
	if depth > MaxDepth {
		return s.fail(s.pos, "arrays and objects nest deeper than %d", MaxDepth)
	}
	s.pos++ // [
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		s.space()
		if err := s.value(depth); err != nil {
			return err
		}
		s.space()
		if s.pos >= len(s.data) {
			return s.unexpected()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.unexpected()
		}
	}
}

// indexAbove is the number of names from which an object's names are
// looked up in a map rather than compared one by one (which would make a
// large object cost quadratic time).
const indexAbove = 16

func (s *scanner) object(depth int) error {
	if depth > MaxDepth {
		return s.fail(s.pos, "arrays and objects nest deeper than %d", MaxDepth)
	}
	s.pos++ // {
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	first := len(s.names)
	defer func() { s.names = s.names[:first] }()
	var index map[string]int // key → position in s.names, once large
	for {
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.unexpected()
		}
		at := s.pos
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		name := raw
		if escaped {
			// Keep the decoded name beyond s.buf's next use.
			name = bytes.Clone(s.unescape(raw))
		}
		mine := s.names[first:]
		if index == nil && len(mine) >= indexAbove {
			index = make(map[string]int, 2*len(mine))
			for i, n := range mine {
				index[s.key(n)] = i
			}
		}
		if index != nil {
			k := s.key(name)
			if i, dup := index[k]; dup {
				return s.duplicate(at, mine[i], name)
			}
			index[k] = len(mine)
		} else {
			for _, n := range mine {
				if bytes.Equal(n, name) || s.fold && bytes.EqualFold(n, name) {
					return s.duplicate(at, n, name)
				}
			}
		}
		s.names = append(s.names, name)
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.unexpected()
		}
		s.pos++
		s.space()
		if err := s.value(depth); err != nil {
			return err
		}
		s.space()
		if s.pos >= len(s.data) {
			return s.unexpected()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.unexpected()
		}
	}
}

func (s *scanner) duplicate(at int, earlier, name []byte) error {
	if bytes.Equal(earlier, name) {
		return s.fail(at, "the name %q appears twice in one object", clip(name))
	}
	return s.fail(at, "the names %q and %q appear in one object: names are case-insensitive", clip(earlier), clip(name))
}

// clip shortens a name for a message.
func clip(name []byte) string {
	const max = 64
	if utf8.RuneCount(name) <= max {
		return string(name)
	}
	r := []rune(string(name))
	return string(r[:max]) + "…"
}

// key is the map key of a name: the name itself or, with folding, each
// rune replaced by the smallest rune of its case-folding orbit, so that
// two names have one key exactly when bytes.EqualFold says they are equal.
func (s *scanner) key(name []byte) string {
	if !s.fold {
		return string(name)
	}
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range string(name) {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
			continue
		}
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		b.WriteRune(low)
	}
	return b.String()
}

// str reads a string at s.pos (its opening quote) and returns its raw
// content, without the quotes, and whether it holds escapes.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	d := s.data
	start := s.pos + 1
	i := start
	for {
		// The common case: printable ASCII.
		for i < len(d) && d[i] >= 0x20 && d[i] < utf8.RuneSelf && d[i] != '"' && d[i] != '\\' {
			i++
		}
		if i >= len(d) {
			return nil, false, s.fail(s.pos, "unterminated string")
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return d[start:i], escaped, nil
		case c == '\\':
			escaped = true
			n, err := s.escape(i)
			if err != nil {
				return nil, false, err
			}
			i += n
		case c < 0x20:
			return nil, false, s.fail(i, "control character (byte 0x%02x) in a string: escape it", c)
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, s.fail(i, "a string is not valid UTF-8")
			}
			i += size
		}
	}
}

// escape checks the escape sequence at i and returns its length.
func (s *scanner) escape(i int) (int, error) {
	d := s.data
	if i+1 >= len(d) {
		return 0, s.fail(s.pos, "unterminated string")
	}
	switch d[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
	default:
		return 0, s.fail(i, "invalid escape sequence in a string")
	}
	r, ok := hex4(d, i+2)
	if !ok {
		return 0, s.fail(i, "invalid \\u escape in a string")
	}
	switch {
	case r == 0:
		return 0, s.fail(i, "a string holds \\u0000 (NUL), which cannot be stored")
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, s.fail(i, "a string holds \\u%04x, an unpaired UTF-16 surrogate (not a character)", r)
	case r >= 0xD800 && r <= 0xDBFF:
		lo, ok := rune(0), false
		if i+7 < len(d) && d[i+6] == '\\' && d[i+7] == 'u' {
			lo, ok = hex4(d, i+8)
		}
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, s.fail(i, "a string holds \\u%04x, an unpaired UTF-16 surrogate (not a character)", r)
		}
		return 12, nil
	}
	return 6, nil
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape decodes the content of a string that str has checked, into
// s.buf.
func (s *scanner) unescape(raw []byte) []byte {
	b := s.buf[:0]
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, _ := hex4(raw, i+2)
			if r >= 0xD800 && r <= 0xDBFF {
				lo, _ := hex4(raw, i+8)
				r = (r-0xD800)<<10 | (lo - 0xDC00) + 0x10000
				i += 6
			}
			b = utf8.AppendRune(b, r)
			i += 6
			continue
		default: // " \ /
			b = append(b, raw[i+1])
		}
		i += 2
	}
	s.buf = b
	return b
}

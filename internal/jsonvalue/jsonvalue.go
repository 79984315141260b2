// Package jsonvalue encodes and decodes the generic JSON values that SCIM
// documents and stored attributes are made of (map[string]any, []any,
// string, bool, json.Number, nil) without reflection, for the read path.
//
// Both directions give exactly what encoding/json gives, byte for byte and
// value for value: Append what an Encoder with SetEscapeHTML(false) writes
// (without the newline), DecodeObject what a Decoder with UseNumber
// decodes. Anything outside the fast path — another Go type, a float, a
// surrogate escape, invalid UTF-8, a syntax error, deep nesting — is handed
// to encoding/json itself, so that its results and errors stay the
// reference. The fuzz tests compare the two on every input.
package jsonvalue

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxDepth is the nesting below which the fast paths work; deeper values
// (encoding/json allows 10,000 levels when decoding and detects cycles
// when encoding) are left to encoding/json.
const maxDepth = 100

// Append appends the JSON encoding of v to dst: the bytes json.Encoder
// writes with SetEscapeHTML(false), without its trailing newline. On error
// (a value encoding/json refuses) dst is returned as it was.
func Append(dst []byte, v any) ([]byte, error) {
	out, ok := appendValue(dst, v, 0)
	if ok {
		return out, nil
	}
	return appendStd(dst, v)
}

// Raw is a value already encoded, compact, as Append writes values: Append
// copies it as it is. (It is a json.Marshaler, so that encoding/json, which
// compacts what a Marshaler returns, writes the same bytes.)
type Raw []byte

// MarshalJSON returns r.
func (r Raw) MarshalJSON() ([]byte, error) { return r, nil }

// appendStd encodes v with encoding/json.
func appendStd(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// appendValue is the fast path; ok is false when v (or a value inside it)
// is not one it knows, leaving dst's extra bytes to be discarded.
func appendValue(dst []byte, v any, depth int) ([]byte, bool) {
	if depth > maxDepth {
		return dst, false
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return AppendString(dst, x), true
	case bool:
		return strconv.AppendBool(dst, x), true
	case json.Number:
		s := string(x)
		if s == "" {
			s = "0" // as encoding/json writes the zero Number
		}
		if !validNumber(s) {
			return dst, false
		}
		return append(dst, s...), true
	case int:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int64:
		return strconv.AppendInt(dst, x, 10), true
	case map[string]any:
		if x == nil {
			return append(dst, "null"...), true
		}
		return appendObject(dst, x, depth)
	case []any:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, el := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendValue(dst, el, depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case Raw:
		return append(dst, x...), true
	case []string:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, s := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, s)
		}
		return append(dst, ']'), true
	}
	// Any other type: encoding/json, for this value only.
	out, err := appendStd(dst, v)
	return out, err == nil
}

// appendObject writes a map with its keys in sorted order, as
// encoding/json does.
func appendObject(dst []byte, m map[string]any, depth int) ([]byte, bool) {
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = appendValue(dst, m[k], depth+1); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json
// escapes it without HTML escaping: quotation mark, reverse solidus and
// control characters; invalid UTF-8 becomes U+FFFD; U+2028 and U+2029 are
// escaped.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// Runs of eight bytes that need nothing go in one step.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !plain8(s[i : i+8]) {
			break
		}
	}
	start := 0
	for i < len(s) {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plain8 reports whether the eight bytes of s are all ASCII that a JSON
// string holds as they are: none below 0x20, no quotation mark, no reverse
// solidus, none from 0x80.
func plain8(s string) bool {
	_ = s[7]
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// A byte below n shows as a high bit of (x - n·ones) &^ x, a zero
	// byte of x^(c·ones) as one of a byte equal to c.
	below := (x - 0x20*ones) &^ x
	quote := x ^ ('"' * ones)
	backslash := x ^ ('\\' * ones)
	return (below|(quote-ones)&^quote|(backslash-ones)&^backslash|x)&highs == 0
}

// validNumber reports whether s is a JSON number (RFC 8259 §6).
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

// DecodeObject decodes data, a JSON object, into *into: what a
// json.Decoder with UseNumber decodes from it (numbers as json.Number,
// objects as map[string]any, arrays as []any; the last of two members of
// one name wins), errors included.
func DecodeObject[M ~map[string]any](data []byte, into *M) error {
	d := decoder{data: data}
	d.space()
	// (encoding/json adds to a map that is there already: leave that to it.)
	if *into == nil && d.i < len(d.data) && d.data[d.i] == '{' {
		if m, ok := d.object(0); ok {
			if d.space(); d.i == len(d.data) {
				*into = M(m)
				return nil
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(into)
}

// decoder is the fast path of DecodeObject: a recursive descent over
// well-formed JSON; every method reports ok = false on anything it leaves
// to encoding/json.
type decoder struct {
	data []byte
	i    int
}

func (d *decoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, bool) {
	if depth > maxDepth || d.i >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.i]; {
	case c == '{':
		m, ok := d.object(depth)
		return m, ok
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.string()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return nil, false
}

func (d *decoder) literal(lit string) bool {
	if !bytes.HasPrefix(d.data[d.i:], []byte(lit)) {
		return false
	}
	d.i += len(lit)
	return true
}

func (d *decoder) object(depth int) (map[string]any, bool) {
	d.i++ // {
	m := map[string]any{}
	d.space()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, false
		}
		k, ok := d.string()
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.space()
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v
		d.space()
		if d.i >= len(d.data) {
			return nil, false
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			return m, true
		default:
			return nil, false
		}
	}
}

func (d *decoder) array(depth int) (any, bool) {
	d.i++ // [
	a := make([]any, 0, 1)
	d.space()
	if d.i < len(d.data) && d.data[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		d.space()
		if d.i >= len(d.data) {
			return nil, false
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			d.space()
		case ']':
			d.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// string reads a string. Escapes other than \uXXXX surrogates are decoded
// here; a surrogate escape, invalid UTF-8 or a control character is left
// to encoding/json.
func (d *decoder) string() (string, bool) {
	d.i++ // "
	start := d.i
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			s := d.data[start:d.i]
			d.i++
			return intern(s), true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			d.i++
		default:
			r, size := utf8.DecodeRune(d.data[d.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			d.i += size
		}
	}
	return "", false
}

// escaped finishes a string that has an escape, from its content's start.
func (d *decoder) escaped(start int) (string, bool) {
	buf := append(make([]byte, 0, d.i-start+16), d.data[start:d.i]...)
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return string(buf), true
		case c == '\\':
			if d.i+1 >= len(d.data) {
				return "", false
			}
			e := d.data[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(d.data[d.i:])
				if !ok || 0xD800 <= r && r < 0xE000 {
					return "", false
				}
				d.i += 4
				buf = utf8.AppendRune(buf, r)
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.data[d.i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			buf = append(buf, d.data[d.i:d.i+size]...)
			d.i += size
		}
	}
	return "", false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (d *decoder) number() (any, bool) {
	start := d.i
	for d.i < len(d.data) {
		switch c := d.data[d.i]; {
		case '0' <= c && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			d.i++
			continue
		}
		break
	}
	s := string(d.data[start:d.i])
	if !validNumber(s) {
		return nil, false
	}
	return json.Number(s), true
}

// intern returns the names SCIM documents repeat as constants, so that
// decoding them allocates nothing; any other string is copied.
func intern(b []byte) string {
	switch string(b) {
	case "value":
		return "value"
	case "type":
		return "type"
	case "primary":
		return "primary"
	case "display":
		return "display"
	case "work":
		return "work"
	case "home":
		return "home"
	case "givenName":
		return "givenName"
	case "familyName":
		return "familyName"
	case "formatted":
		return "formatted"
	case "middleName":
		return "middleName"
	case "emails":
		return "emails"
	case "phoneNumbers":
		return "phoneNumbers"
	case "addresses":
		return "addresses"
	case "name":
		return "name"
	case "title":
		return "title"
	case "department":
		return "department"
	case "employeeNumber":
		return "employeeNumber"
	case "manager":
		return "manager"
	case "nickName":
		return "nickName"
	case "locale":
		return "locale"
	case "timezone":
		return "timezone"
	case "preferredLanguage":
		return "preferredLanguage"
	case "userType":
		return "userType"
	case "mobile":
		return "mobile"
	case "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
		return "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	}
	return string(b)
}

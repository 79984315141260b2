package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of transformers, after Alibaba Cloud EventBridge (each part at most
// 10,240 characters) and AWS EventBridge (at most 100 variables).
const (
	MaxTransformChars = 10240
	MaxTransformVars  = 100
)

// TransformSpec describes a transformer, in Alibaba Cloud EventBridge's
// terms.
type TransformSpec struct {
	// Kind is "path" (one JSONPath: the value at it), "constant" (Value,
	// whatever the event) or "template" (Template with its placeholders
	// filled in).
	Kind string
	// Path is a JSONPath such as "$.detail" or "$.detail.emails[0].value".
	Path string
	// Value is the constant: JSON, or text, which is sent as a JSON string.
	Value string
	// Template is JSON with placeholders, or text (sent as a JSON string).
	// Placeholders:
	//   ${name}  a variable of Vars, or else a path from the event's root
	//            ("${detail.email}", "${$.detail.email}");
	//   {{name}} a field of the event's detail ("{{email}}", "{{dept}}"),
	//            or a path from the root ("{{$.source}}").
	// Inside a JSON string a placeholder puts in its value's text, escaped;
	// outside strings, its value's JSON. docs/rules.md has the details.
	Template string
	// Vars maps a variable name to a JSONPath ("$.detail.email"), or to a
	// constant: a value that does not start with "$" is itself the value
	// (outside quotes, as JSON when it is JSON, like Value).
	Vars map[string]string
}

// MissingError is returned by Apply when a placeholder names something the
// event does not have.
type MissingError struct {
	Placeholder string // as written in the template, such as "${detail.email}"
	Path        string // the JSONPath that found nothing
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s: the event has nothing at %s", e.Placeholder, e.Path)
}

// Transformer builds a target's payload from an event. It is safe for
// concurrent use.
type Transformer struct {
	kind     string
	path     jsonPath
	constant []byte
	json     bool // the template is JSON (else text, sent as a JSON string)
	parts    []tplPart
}

// tplPart is a piece of a template: literal text, or a placeholder.
type tplPart struct {
	lit      string
	src      string   // the placeholder as written; "" for literal text
	off      int      // its byte offset in the template
	name     string   // the variable it names, if it names one
	path     jsonPath // where its value is, when it is not a constant
	constant *string  // a variable bound to a constant
	def      *string  // the default after ":-", used when the field is missing
	inString bool     // inside a JSON string literal of a JSON template
}

// NewTransformer checks spec and builds its transformer.
func NewTransformer(spec TransformSpec) (*Transformer, error) {
	switch spec.Kind {
	case "path":
		p, err := parseJSONPath(spec.Path)
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", spec.Path, err)
		}
		return &Transformer{kind: "path", path: p}, nil
	case "constant":
		if utf8.RuneCountInString(spec.Value) > MaxTransformChars {
			return nil, fmt.Errorf("the constant is longer than %d characters", MaxTransformChars)
		}
		if !utf8.ValidString(spec.Value) {
			return nil, errors.New("the constant is not valid UTF-8")
		}
		v := []byte(spec.Value)
		if !json.Valid(v) {
			v, _ = marshalJSON(spec.Value)
		} else {
			var buf bytes.Buffer
			_ = json.Compact(&buf, v)
			v = buf.Bytes()
		}
		return &Transformer{kind: "constant", constant: v}, nil
	case "template":
		return newTemplate(spec.Template, spec.Vars)
	}
	return nil, fmt.Errorf("unknown transformer kind %q (want path, constant or template)", spec.Kind)
}

func newTemplate(tpl string, vars map[string]string) (*Transformer, error) {
	if utf8.RuneCountInString(tpl) > MaxTransformChars {
		return nil, fmt.Errorf("the template is longer than %d characters", MaxTransformChars)
	}
	if !utf8.ValidString(tpl) {
		return nil, errors.New("the template is not valid UTF-8")
	}
	if len(vars) > MaxTransformVars {
		return nil, fmt.Errorf("a template may have at most %d variables, this one has %d", MaxTransformVars, len(vars))
	}
	bound := map[string]tplPart{}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		def := vars[name]
		if !validVarName(name) {
			return nil, fmt.Errorf("variable name %q: use letters, digits, '_' and '-'", name)
		}
		if utf8.RuneCountInString(def) > MaxTransformChars {
			return nil, fmt.Errorf("variable %q is longer than %d characters", name, MaxTransformChars)
		}
		if !utf8.ValidString(def) {
			return nil, fmt.Errorf("variable %q is not valid UTF-8", name)
		}
		if strings.HasPrefix(def, "$") {
			p, err := parseJSONPath(def)
			if err != nil {
				return nil, fmt.Errorf("variable %q: path %q: %w", name, def, err)
			}
			bound[name] = tplPart{name: name, path: p}
		} else {
			c := def
			bound[name] = tplPart{name: name, constant: &c}
		}
	}

	parts, err := splitTemplate(tpl, bound)
	if err != nil {
		return nil, err
	}
	t := &Transformer{kind: "template", parts: parts}
	trimmed := strings.TrimSpace(tpl)
	looksJSON := strings.HasPrefix(trimmed, "{")
	probe, starts := t.probe()
	t.json = trimmed != "" && json.Valid(probe)
	if t.json || looksJSON {
		for i, p := range t.parts {
			if p.src != "" && !p.inString && isKeyPosition(t.parts, i) {
				return nil, fmt.Errorf("%s: a placeholder outside quotes cannot be an object key (write \"%s\" to use its text as the key)", p.src, p.src)
			}
		}
	}
	if !t.json && looksJSON {
		return nil, t.notJSON(tpl, probe, starts)
	}
	if !t.json {
		// Text: no placeholder is inside a JSON string.
		for i := range t.parts {
			t.parts[i].inString = false
		}
	}
	used := map[string]bool{}
	for _, p := range t.parts {
		if p.name != "" {
			used[p.name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if !used[name] {
			return nil, fmt.Errorf("variable %q is not used in the template (write ${%s})", name, name)
		}
	}
	return t, nil
}

// notJSON explains why a template that starts with '{' is not JSON, at the
// place in the template where the JSON breaks.
func (t *Transformer) notJSON(tpl string, probe []byte, starts []int) error {
	var v any
	err := json.Unmarshal(probe, &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("the template starts with '{' but is not JSON: %v", err)
	}
	if se.Error() == "unexpected end of JSON input" {
		return fmt.Errorf("the template starts with '{' but is not JSON: it ends early (%v)", err)
	}
	off := max(int(se.Offset)-1, 0)
	// The part of the template whose stand-in holds the offset.
	i := max(sort.SearchInts(starts, off+1)-1, 0)
	p := t.parts[i]
	if p.src != "" && p.inString {
		return fmt.Errorf("the template starts with '{' but is not JSON: %s (line %d, column %d) breaks the string it is in: a backslash before it starts an escape",
			p.src, lineOf(tpl, p.off), columnOf(tpl, p.off))
	}
	if p.src != "" {
		return fmt.Errorf("the template starts with '{' but is not JSON: %s (line %d, column %d) cannot stand there: a placeholder outside quotes is a whole JSON value, between ':', ',', '[' and the like",
			p.src, lineOf(tpl, p.off), columnOf(tpl, p.off))
	}
	toff := p.off + off - starts[i]
	return fmt.Errorf("the template starts with '{' but is not JSON: line %d, column %d: %v", lineOf(tpl, toff), columnOf(tpl, toff), err)
}

func lineOf(s string, off int) int { return 1 + strings.Count(s[:off], "\n") }

func columnOf(s string, off int) int {
	return 1 + utf8.RuneCountInString(s[strings.LastIndexByte(s[:off], '\n')+1:off])
}

// isKeyPosition reports whether parts[i], a placeholder outside quotes, is
// followed by a colon: JSON's object key position.
func isKeyPosition(parts []tplPart, i int) bool {
	for _, next := range parts[i+1:] {
		if next.src != "" {
			return false
		}
		if rest := strings.TrimLeft(next.lit, " \t\r\n"); rest != "" {
			return rest[0] == ':'
		}
	}
	return false
}

func validVarName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// splitTemplate cuts tpl into literal text and placeholders, noting which
// placeholders stand inside a JSON string literal.
func splitTemplate(tpl string, vars map[string]tplPart) ([]tplPart, error) {
	var parts []tplPart
	var lit strings.Builder
	litStart := 0
	inString, escaped := false, false
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, tplPart{lit: lit.String(), off: litStart})
			lit.Reset()
		}
	}
	for i := 0; i < len(tpl); {
		c := tpl[i]
		var open, close string
		switch {
		case strings.HasPrefix(tpl[i:], "${"):
			open, close = "${", "}"
		case strings.HasPrefix(tpl[i:], "{{"):
			open, close = "{{", "}}"
		}
		if open != "" && !escaped {
			end := strings.Index(tpl[i+len(open):], close)
			if end < 0 {
				return nil, fmt.Errorf("%q at offset %d is not closed by %q", open, i, close)
			}
			src := tpl[i : i+len(open)+end+len(close)]
			name := strings.TrimSpace(tpl[i+len(open) : i+len(open)+end])
			part, err := placeholder(open, name, src, vars)
			if err != nil {
				return nil, err
			}
			part.inString = inString
			part.off = i
			flush()
			parts = append(parts, part)
			i += len(src)
			litStart = i
			continue
		}
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		}
		lit.WriteByte(c)
		i++
	}
	flush()
	return parts, nil
}

func placeholder(open, name, src string, vars map[string]tplPart) (tplPart, error) {
	// ${detail.title:-none}: a default for a missing field, as in a shell.
	var def *string
	if k, d, ok := strings.Cut(name, ":-"); ok {
		name, def = strings.TrimSpace(k), &d
	}
	part, err := placeholderAt(open, name, src, vars)
	part.def = def
	return part, err
}

func placeholderAt(open, name, src string, vars map[string]tplPart) (tplPart, error) {
	if name == "" {
		return tplPart{}, fmt.Errorf("%s: an empty placeholder", src)
	}
	var pathSrc string
	if open == "${" {
		if v, ok := vars[name]; ok {
			v.src = src
			return v, nil
		}
		pathSrc = name
		if !strings.HasPrefix(name, "$") {
			pathSrc = "$." + name
		}
	} else {
		pathSrc = name
		if !strings.HasPrefix(name, "$") {
			pathSrc = "$.detail." + name
		}
	}
	p, err := parseJSONPath(pathSrc)
	if err != nil {
		return tplPart{}, fmt.Errorf("%s: %w", src, err)
	}
	return tplPart{src: src, path: p}, nil
}

// probe renders the template with stand-in values, to tell JSON from text:
// "x" inside strings, and outside them the string "x", which is valid JSON
// only where any JSON value would be (a number would also fit after a '-' or
// before an 'e'). starts[i] is where part i begins in the result.
func (t *Transformer) probe() (b []byte, starts []int) {
	for _, p := range t.parts {
		starts = append(starts, len(b))
		switch {
		case p.src == "":
			b = append(b, p.lit...)
		case p.inString:
			b = append(b, 'x')
		default:
			b = append(b, `"x"`...)
		}
	}
	return b, starts
}

// Apply builds the payload for the event doc (a JSON document). The result
// is always valid JSON; the error, when there is one, is a *MissingError
// (the event lacks a field a placeholder names) or says that doc is not
// JSON.
func (t *Transformer) Apply(doc []byte) ([]byte, error) {
	if t.kind == "constant" {
		return t.constant, nil
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var ev any
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("the event is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the event is not JSON: data after the document")
	}
	if t.kind == "path" {
		v, ok := t.path.lookup(ev)
		if !ok {
			return nil, &MissingError{Placeholder: t.path.src, Path: t.path.src}
		}
		return marshalJSON(v)
	}
	if !t.json {
		var text strings.Builder
		for _, p := range t.parts {
			if p.src == "" {
				text.WriteString(p.lit)
				continue
			}
			v, err := p.value(ev)
			if err != nil {
				return nil, err
			}
			text.WriteString(textOf(v))
		}
		return marshalJSON(text.String())
	}
	var b []byte
	for _, p := range t.parts {
		if p.src == "" {
			b = append(b, p.lit...)
			continue
		}
		v, err := p.value(ev)
		if err != nil {
			return nil, err
		}
		if p.inString {
			q, _ := marshalJSON(textOf(v))
			b = append(b, q[1:len(q)-1]...)
			continue
		}
		if p.constant != nil {
			// A constant outside quotes is JSON when it is JSON (true, 42,
			// {"a": 1}), else text, as for the "constant" kind.
			if c := []byte(*p.constant); json.Valid(c) {
				b = append(b, c...)
				continue
			}
		}
		enc, err := marshalJSON(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.src, err)
		}
		b = append(b, enc...)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		// Not reachable for a template that passed NewTransformer: every
		// substitution is a JSON value where a JSON value may stand, or an
		// escaped string's inside.
		return nil, fmt.Errorf("the payload is not JSON: %w", err)
	}
	return out.Bytes(), nil
}

// marshalJSON is json.Marshal without HTML escaping: "R&D <team>" stays as
// it is rather than becoming "R\u0026D \u003cteam\u003e" (both are valid
// JSON for the same text, but the first is what people expect to read).
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (p *tplPart) value(ev any) (any, error) {
	if p.constant != nil {
		return *p.constant, nil
	}
	v, ok := p.path.lookup(ev)
	if !ok && p.def != nil {
		return defaultValue(*p.def, p.inString), nil
	}
	if !ok {
		return nil, &MissingError{Placeholder: p.src, Path: p.path.src}
	}
	return v, nil
}

// defaultValue is a placeholder's default: text inside a string; outside
// one, the JSON it spells ("true", "0", "[]", "null"), else that text as a
// string.
func defaultValue(def string, inString bool) any {
	if inString {
		return def
	}
	dec := json.NewDecoder(strings.NewReader(def))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() && strings.TrimSpace(def) != "" {
		return v
	}
	return def
}

// textOf is a value's text inside a string: strings as they are, numbers
// and booleans as written in JSON, null as nothing, objects and arrays as
// compact JSON.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	b, _ := marshalJSON(v)
	return string(b)
}

// jsonPath is a parsed JSONPath of names and indexes: $, $.a.b, $.a[0],
// $['a-b'], $.a["x.y"].
type jsonPath struct {
	src  string
	segs []pathSeg
}

type pathSeg struct {
	name  string
	index int // when name is ""
	isIdx bool
}

var errPathSyntax = errors.New(`a path is "$" followed by .name, ['name'] or [index] parts`)

func parseJSONPath(s string) (jsonPath, error) {
	p := jsonPath{src: s}
	if !strings.HasPrefix(s, "$") {
		return p, errPathSyntax
	}
	rest := s[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			if name == "" || strings.ContainsAny(name, "*]'\" ") {
				return p, fmt.Errorf("%w; %q is not a name (wildcards and filters are not supported)", errPathSyntax, name)
			}
			p.segs = append(p.segs, pathSeg{name: name})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("%w; '[' is not closed", errPathSyntax)
			}
			inner := rest[1:end]
			switch {
			case len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0]:
				p.segs = append(p.segs, pathSeg{name: inner[1 : len(inner)-1]})
			default:
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return p, fmt.Errorf("%w; [%s] is not an index or a quoted name", errPathSyntax, inner)
				}
				p.segs = append(p.segs, pathSeg{index: n, isIdx: true})
			}
			rest = rest[end+1:]
		default:
			return p, errPathSyntax
		}
	}
	return p, nil
}

// lookup finds the value at the path. As a convenience for Alibaba Cloud
// EventBridge's transformers, which address CloudEvents' "data", a first
// segment "data" means "detail" in a document that has no "data".
func (p jsonPath) lookup(v any) (any, bool) {
	for i, s := range p.segs {
		if s.isIdx {
			arr, ok := v.([]any)
			if !ok || s.index >= len(arr) {
				return nil, false
			}
			v = arr[s.index]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		next, ok := obj[s.name]
		if !ok && i == 0 && s.name == "data" {
			next, ok = obj["detail"]
		}
		if !ok {
			return nil, false
		}
		v = next
	}
	return v, true
}

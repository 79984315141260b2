package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	// Template is JSON with placeholders, or text. Placeholders:
	//   ${name}  a variable of Vars, or else a path from the event's root
	//            ("${detail.email}", "${$.detail.email}");
	//   {{name}} a field of the event's detail ("{{email}}", "{{dept}}").
	Template string
	// Vars maps a variable name to a JSONPath ("$.detail.email"), or to a
	// constant: a value that does not start with "$" is itself the value.
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
	path     jsonPath // where its value is, when it is not a constant
	constant *string  // a variable bound to a constant
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
		v := []byte(spec.Value)
		if !json.Valid(v) {
			v, _ = json.Marshal(spec.Value)
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
	if len(vars) > MaxTransformVars {
		return nil, fmt.Errorf("a template may have at most %d variables, this one has %d", MaxTransformVars, len(vars))
	}
	bound := map[string]tplPart{}
	for name, def := range vars {
		if !validVarName(name) {
			return nil, fmt.Errorf("variable name %q: use letters, digits, '_' and '-'", name)
		}
		if utf8.RuneCountInString(def) > MaxTransformChars {
			return nil, fmt.Errorf("variable %q is longer than %d characters", name, MaxTransformChars)
		}
		if strings.HasPrefix(def, "$") {
			p, err := parseJSONPath(def)
			if err != nil {
				return nil, fmt.Errorf("variable %q: path %q: %w", name, def, err)
			}
			bound[name] = tplPart{path: p}
		} else {
			c := def
			bound[name] = tplPart{constant: &c}
		}
	}

	parts, err := splitTemplate(tpl, bound)
	if err != nil {
		return nil, err
	}
	t := &Transformer{kind: "template", parts: parts}
	trimmed := strings.TrimSpace(tpl)
	if probe := t.probe(); json.Valid(probe) && trimmed != "" {
		t.json = true
	} else if strings.HasPrefix(trimmed, "{") {
		var v any
		err := json.Unmarshal(probe, &v)
		return nil, fmt.Errorf("the template starts with '{' but is not JSON: %v", err)
	}
	if !t.json {
		// Text: no placeholder is inside a JSON string.
		for i := range t.parts {
			t.parts[i].inString = false
		}
	} else {
		for i, p := range t.parts {
			if p.src != "" && !p.inString && isKeyPosition(t.parts, i) {
				return nil, fmt.Errorf("%s: a placeholder outside quotes cannot be an object key", p.src)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if !strings.Contains(tpl, "${"+name+"}") {
			return nil, fmt.Errorf("variable %q is not used in the template", name)
		}
	}
	return t, nil
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
	inString, escaped := false, false
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, tplPart{lit: lit.String()})
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
			flush()
			parts = append(parts, part)
			i += len(src)
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

// probe renders the template with stand-in values, to tell JSON from text.
func (t *Transformer) probe() []byte {
	var b []byte
	for _, p := range t.parts {
		switch {
		case p.src == "":
			b = append(b, p.lit...)
		case p.inString:
			b = append(b, 'x')
		default:
			b = append(b, '0')
		}
	}
	return b
}

// Apply builds the payload for the event doc (a JSON document). The result
// is always valid JSON.
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
	if t.kind == "path" {
		v, ok := t.path.lookup(ev)
		if !ok {
			return nil, &MissingError{Placeholder: t.path.src, Path: t.path.src}
		}
		return json.Marshal(v)
	}
	var b []byte
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
		return json.Marshal(text.String())
	}
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
			q, _ := json.Marshal(textOf(v))
			b = append(b, q[1:len(q)-1]...)
			continue
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.src, err)
		}
		b = append(b, enc...)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		// Not reachable for a template that passed NewTransformer: every
		// substitution is a JSON value or an escaped string's inside.
		return nil, fmt.Errorf("the payload is not JSON: %w", err)
	}
	return out.Bytes(), nil
}

func (p *tplPart) value(ev any) (any, error) {
	if p.constant != nil {
		return *p.constant, nil
	}
	v, ok := p.path.lookup(ev)
	if !ok {
		return nil, &MissingError{Placeholder: p.src, Path: p.path.src}
	}
	return v, nil
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
	b, _ := json.Marshal(v)
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

package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ValueError is a value that does not fit its attribute. Protocol layers
// answer it with 400 invalidValue.
type ValueError struct {
	Path string
	Msg  string
}

func (e *ValueError) Error() string { return fmt.Sprintf("attribute %q: %s", e.Path, e.Msg) }

// NormalizeOptions controls Normalize.
type NormalizeOptions struct {
	// DropReadOnly removes read-only attributes and sub-attributes, as a
	// server must ignore them in requests.
	DropReadOnly bool
}

// Normalize checks v against attribute a and returns it in canonical form:
// canonical sub-attribute names, booleans written as strings ("True",
// "false") turned into booleans, numbers as json.Number, single values given
// for multi-valued attributes wrapped in a list. Unknown sub-attributes, null
// values and empty strings, lists and objects are dropped: they mean
// "unassigned" (RFC 7643 §2.5). A nil result means unassigned.
func Normalize(a *Attribute, v any, path string, opt NormalizeOptions) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.MultiValued {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		out := make([]any, 0, len(list))
		for i, el := range list {
			n, err := normalizeSingle(a, el, fmt.Sprintf("%s[%d]", path, i), opt)
			if err != nil {
				return nil, err
			}
			if n != nil {
				out = append(out, n)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if _, ok := v.([]any); ok {
		return nil, &ValueError{Path: path, Msg: "is single-valued but a list was given"}
	}
	return normalizeSingle(a, v, path, opt)
}

func normalizeSingle(a *Attribute, v any, path string, opt NormalizeOptions) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case Complex:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, &ValueError{Path: path, Msg: "expected an object of sub-attributes"}
		}
		out := map[string]any{}
		for k, x := range m {
			sub := a.Sub(k)
			if sub == nil {
				continue // unknown sub-attributes are ignored
			}
			if opt.DropReadOnly && sub.Mutability == ReadOnly {
				continue
			}
			n, err := Normalize(sub, x, path+"."+sub.Name, opt)
			if err != nil {
				return nil, err
			}
			if n != nil {
				out[sub.Name] = n
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case Boolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			// Entra sends "True" and "False": the words, in any case of
			// their ASCII letters, and nothing else — not " true", not
			// "true" with a no-break space, not "falſe" (which Unicode
			// case folding would take for "false").
			switch {
			case asciiEqualFold(x, "true"):
				return true, nil
			case asciiEqualFold(x, "false"):
				return false, nil
			}
		}
		return nil, &ValueError{Path: path, Msg: `expected a boolean: true or false (or the string "true" or "false", in any case, without spaces)`}
	case Integer, Decimal:
		var n json.Number
		switch x := v.(type) {
		case json.Number:
			n = x
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, &ValueError{Path: path, Msg: "expected a finite number"}
			}
			n = json.Number(strconv.FormatFloat(x, 'g', -1, 64))
		case int:
			n = json.Number(strconv.Itoa(x))
		default:
			return nil, &ValueError{Path: path, Msg: "expected a number"}
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, &ValueError{Path: path, Msg: "expected a number"}
		}
		if a.Type == Integer {
			i, err := n.Int64()
			if err != nil {
				if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
					return nil, &ValueError{Path: path, Msg: "expected an integer"}
				}
				i = int64(f)
			}
			return json.Number(strconv.FormatInt(i, 10)), nil
		}
		return n, nil
	case DateTime:
		s, ok := v.(string)
		if !ok {
			return nil, &ValueError{Path: path, Msg: "expected a dateTime string such as \"2025-01-02T15:04:05Z\""}
		}
		if s == "" {
			return nil, nil
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, &ValueError{Path: path, Msg: fmt.Sprintf("%q is not an RFC 3339 dateTime", s)}
		}
		return s, nil
	}
	// string, reference, binary
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil, nil
		}
		return x, nil
	case json.Number:
		return x.String(), nil // e.g. an employeeNumber sent as a number
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return nil, &ValueError{Path: path, Msg: "expected a string"}
}

// asciiEqualFold reports whether s is word (lower-case ASCII) but for the
// case of its ASCII letters.
func asciiEqualFold(s, word string) bool {
	if len(s) != len(word) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}

// NormalizeResource normalizes a resource body: attribute names are matched
// case-insensitively and canonicalized, fully qualified names
// ("urn:…:User:employeeNumber") are moved under their schema, extension
// objects are matched by URN, and unknown attributes and schema URIs are
// ignored. The result holds core attributes at the top level and extension
// attributes in an object under the extension URN. "schemas" is dropped: the
// server computes it. An attribute given twice under different names
// ("userName" and "urn:…:User:userName", or "department" in the extension
// object and as "urn:…:User:department") is refused: which one won would
// depend on map order.
func (rt *ResourceType) NormalizeResource(raw map[string]any, opt NormalizeOptions) (map[string]any, error) {
	out := map[string]any{}
	given := map[*Attribute]string{} // attribute → the name it was given as
	once := func(a *Attribute, name string) error {
		if prev, ok := given[a]; ok {
			first, second := min(prev, name), max(prev, name) // stable message
			return &ValueError{Path: a.Name, Msg: "is given twice: as " + first + " and as " + second}
		}
		given[a] = name
		return nil
	}
	for k, v := range raw {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		if ext := rt.SchemaByURN(k); ext != nil && !ext.IsCore() {
			m, ok := v.(map[string]any)
			if v == nil {
				continue
			}
			if !ok {
				return nil, &ValueError{Path: k, Msg: "expected an object of extension attributes"}
			}
			for ek, ev := range m {
				a := ext.Attr(ek)
				if a == nil {
					continue
				}
				if err := once(a, strconv.Quote(ek)+" in the "+k+" object"); err != nil {
					return nil, err
				}
				if err := rt.put(out, ext, a, ev, k+":"+a.Name, opt); err != nil {
					return nil, err
				}
			}
			continue
		}
		if ext := rt.SchemaByURN(k); ext != nil {
			continue // the core schema URN as a key: meaningless, ignore
		}
		ref, err := rt.Resolve(k)
		if err != nil || ref.Sub != nil {
			continue // unknown attribute or schema: ignored
		}
		if err := once(ref.Attr, strconv.Quote(k)); err != nil {
			return nil, err
		}
		if err := rt.put(out, ref.Schema, ref.Attr, v, ref.Short(rt), opt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (rt *ResourceType) put(out map[string]any, s *Schema, a *Attribute, v any, path string, opt NormalizeOptions) error {
	if opt.DropReadOnly && a.Mutability == ReadOnly {
		return nil
	}
	n, err := Normalize(a, v, path, opt)
	if err != nil {
		return err
	}
	if n == nil {
		return nil
	}
	if s.IsCore() {
		out[a.Name] = n
		return nil
	}
	m, _ := out[s.ID].(map[string]any)
	if m == nil {
		m = map[string]any{}
		out[s.ID] = m
	}
	m[a.Name] = n
	return nil
}

package mlps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The parts of `terraform show -json PLAN` the check reads
// (https://developer.hashicorp.com/terraform/internals/json-format):
// planned_values (the resources as they will be after the apply),
// resource_changes (after_unknown: what is known only after the apply)
// and configuration (the references between resources).

type planDoc struct {
	FormatVersion   string          `json:"format_version"`
	PlannedValues   *planValues     `json:"planned_values"`
	ResourceChanges []*planChange   `json:"resource_changes"`
	Configuration   *planConfigRoot `json:"configuration"`
}

type planValues struct {
	RootModule *planModule `json:"root_module"`
}

type planModule struct {
	Address      string          `json:"address"`
	Resources    []*planResource `json:"resources"`
	ChildModules []*planModule   `json:"child_modules"`
}

type planResource struct {
	Address string         `json:"address"`
	Mode    string         `json:"mode"`
	Type    string         `json:"type"`
	Name    string         `json:"name"`
	Index   any            `json:"index"`
	Values  map[string]any `json:"values"`
}

type planChange struct {
	Address string `json:"address"`
	Change  struct {
		Actions      []string `json:"actions"`
		AfterUnknown any      `json:"after_unknown"`
	} `json:"change"`
}

type planConfigRoot struct {
	RootModule *planConfigModule `json:"root_module"`
}

type planConfigModule struct {
	Resources   []*planConfigResource      `json:"resources"`
	ModuleCalls map[string]*planModuleCall `json:"module_calls"`
}

type planModuleCall struct {
	Source      string                     `json:"source"`
	Expressions map[string]json.RawMessage `json:"expressions"`
	Module      *planConfigModule          `json:"module"`
}

type planConfigResource struct {
	Address     string                     `json:"address"`
	Expressions map[string]json.RawMessage `json:"expressions"`
}

// maxPlanBytes bounds the plan file read (a plan of 100,000 resources is
// well under it).
const maxPlanBytes = 1 << 30

// LoadPlan reads a plan in the JSON form of `terraform show -json`.
func LoadPlan(name string, r io.Reader) (*Stack, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPlanBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPlanBytes {
		return nil, &ParseError{Pos: Pos{File: name, Line: 1}, Msg: fmt.Sprintf("plan larger than %d bytes", maxPlanBytes)}
	}
	return parsePlan(name, data)
}

func parsePlan(name string, data []byte) (*Stack, error) {
	lines := newLineIndex(data)
	// encoding/json stops at 10,000 levels; the walks over the values
	// below are recursive too: refuse deep nesting first, where it is.
	if off := checkJSONNesting(data); off >= 0 {
		return nil, &ParseError{Pos: lines.pos(name, off), Msg: fmt.Sprintf("arrays and objects nested more than %d deep (byte %d): not read", maxNesting, off)}
	}
	var doc planDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(name, lines, len(data), err)
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, &ParseError{Pos: lines.pos(name, int64(len(data)-len(rest))), Msg: "data after the plan's JSON object"}
	}
	if doc.FormatVersion == "" {
		return nil, &ParseError{Pos: Pos{File: name, Line: 1}, Msg: "not a plan in `terraform show -json` form: no format_version"}
	}
	if !strings.HasPrefix(doc.FormatVersion, "1.") {
		return nil, &ParseError{Pos: Pos{File: name, Line: 1}, Msg: fmt.Sprintf("format_version %q: this check reads format 1.x", doc.FormatVersion)}
	}
	if doc.PlannedValues == nil || doc.PlannedValues.RootModule == nil {
		return nil, &ParseError{Pos: Pos{File: name, Line: 1}, Msg: "no planned_values.root_module: is this the JSON of a plan (terraform show -json PLANFILE)?"}
	}
	st := &Stack{Path: name, Kind: "plan"}
	addrLines := addressOffsets(data)
	unknowns := map[string]any{}
	for _, c := range doc.ResourceChanges {
		if c != nil {
			unknowns[c.Address] = c.Change.AfterUnknown
		}
	}
	refs := map[string]map[string][]string{} // config address → attribute → referenced config addresses
	if doc.Configuration != nil && doc.Configuration.RootModule != nil {
		collectRefs(doc.Configuration.RootModule, "", nil, refs, 0)
	}
	var walk func(m *planModule, depth int) error
	walk = func(m *planModule, depth int) error {
		if m == nil {
			return nil
		}
		if depth > maxModuleDepth {
			return &ParseError{Pos: Pos{File: name, Line: 1}, Msg: fmt.Sprintf("modules nested deeper than %d", maxModuleDepth)}
		}
		for _, pr := range m.Resources {
			if pr == nil {
				continue
			}
			if pr.Type == "" || pr.Name == "" || pr.Address == "" {
				return &ParseError{Pos: lines.pos(name, addrLines[pr.Address]), Msg: "a resource without address, type or name"}
			}
			mode := pr.Mode
			if mode == "" {
				mode = "managed"
			}
			module := m.Address
			cfgModule := stripKeys(module)
			key := pr.Type + "." + pr.Name
			if mode == "data" {
				key = "data." + key
			}
			config := key
			if cfgModule != "" {
				config = cfgModule + "." + key
			}
			vals := pr.Values
			if vals == nil {
				vals = map[string]any{}
			}
			vals = mergeUnknown(vals, unknowns[pr.Address], refs[config]).(map[string]any)
			r := &Resource{Address: pr.Address, Config: config, Module: module, Mode: mode, Type: pr.Type,
				Name: pr.Name, Values: vals, Pos: lines.pos(name, addrLines[pr.Address])}
			r.Pos.Col = 0
			if len(st.Resources) >= maxResources {
				return &ParseError{Pos: r.Pos, Msg: fmt.Sprintf("more than %d resource instances", maxResources)}
			}
			st.Resources = append(st.Resources, r)
		}
		for _, c := range m.ChildModules {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(doc.PlannedValues.RootModule, 0); err != nil {
		return nil, err
	}
	st.index()
	return st, nil
}

// collectRefs records, for each resource of the configuration, the
// resources each of its attributes refers to (config addresses). A
// reference to a module's variable stands for what the module call passes
// in it (varRefs), so that references are followed into modules.
func collectRefs(m *planConfigModule, path string, varRefs map[string][]string, out map[string]map[string][]string, depth int) {
	if m == nil || depth > maxModuleDepth {
		return
	}
	for _, r := range m.Resources {
		if r == nil {
			continue
		}
		addr := r.Address
		if path != "" {
			addr = path + "." + addr
		}
		attrs := map[string][]string{}
		for attr, raw := range r.Expressions {
			var expr any
			if json.Unmarshal(raw, &expr) != nil {
				continue
			}
			attrs[attr] = resourceRefs(expr, path, varRefs)
		}
		out[addr] = attrs
	}
	names := make([]string, 0, len(m.ModuleCalls))
	for n := range m.ModuleCalls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := m.ModuleCalls[n]
		if c == nil || c.Module == nil {
			continue
		}
		p := "module." + n
		if path != "" {
			p = path + "." + p
		}
		childVars := map[string][]string{}
		for v, raw := range c.Expressions {
			var expr any
			if json.Unmarshal(raw, &expr) == nil {
				childVars[v] = resourceRefs(expr, path, varRefs)
			}
		}
		collectRefs(c.Module, p, childVars, out, depth+1)
	}
}

// resourceRefs returns the resources an expression (or the expressions of
// a nested block) refers to.
func resourceRefs(expr any, path string, varRefs map[string][]string) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if rs, ok := x["references"].([]any); ok {
				for _, r := range rs {
					s, _ := r.(string)
					if v, ok := strings.CutPrefix(s, "var."); ok {
						v, _, _ = strings.Cut(stripKeys(v), ".")
						for _, a := range varRefs[v] {
							if !seen[a] {
								seen[a] = true
								out = append(out, a)
							}
						}
						continue
					}
					if a := refResource(s); a != "" {
						if path != "" {
							a = path + "." + a
						}
						if !seen[a] {
							seen[a] = true
							out = append(out, a)
						}
					}
				}
			}
			for k, e := range x {
				if k != "references" {
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(expr)
	sort.Strings(out)
	return out
}

// refResource turns a reference ("alicloud_vpc.main.id",
// "alicloud_vpc.main[0]", "data.alicloud_images.al3.images") into the
// resource's config address, or "" for var., local., module. and the like.
func refResource(s string) string {
	parts := strings.Split(stripKeys(s), ".")
	switch parts[0] {
	case "var", "local", "module", "count", "each", "path", "terraform", "self":
		return ""
	case "data":
		if len(parts) >= 3 {
			return strings.Join(parts[:3], ".")
		}
		return ""
	}
	if len(parts) >= 2 {
		return parts[0] + "." + parts[1]
	}
	return ""
}

// stripKeys removes instance keys: module.a["x"].b[0] → module.a.b.
func stripKeys(s string) string {
	if !strings.Contains(s, "[") {
		return s
	}
	var b strings.Builder
	depth := 0
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == '"' && depth > 0:
			inStr = true
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mergeUnknown puts Unknown where after_unknown says a value is known only
// after the apply, with the references of its attribute's expression.
func mergeUnknown(v, unknown any, refs map[string][]string) any {
	var merge func(v, u any, top string) any
	merge = func(v, u any, top string) any {
		switch x := u.(type) {
		case bool:
			if x {
				return Unknown{Refs: refs[top]}
			}
			return v
		case map[string]any:
			m, _ := v.(map[string]any)
			out := map[string]any{}
			for k, e := range m {
				out[k] = e
			}
			for k, e := range x {
				t := top
				if t == "" {
					t = k
				}
				out[k] = merge(out[k], e, t)
			}
			return out
		case []any:
			l, _ := v.([]any)
			out := make([]any, max(len(l), len(x)))
			copy(out, l)
			for i, e := range x {
				out[i] = merge(out[i], e, top)
			}
			return out
		}
		return v
	}
	if unknown == nil {
		return v
	}
	return merge(v, unknown, "")
}

// addressOffsets returns the offset of the first `"address": "…"` of each
// address in a plan (its entry in planned_values, which comes first).
func addressOffsets(data []byte) map[string]int64 {
	out := map[string]int64{}
	key := []byte(`"address"`)
	for i := 0; ; {
		j := bytes.Index(data[i:], key)
		if j < 0 {
			return out
		}
		at := i + j
		k := at + len(key)
		for k < len(data) && (data[k] == ' ' || data[k] == '\t' || data[k] == '\n' || data[k] == '\r') {
			k++
		}
		if k < len(data) && data[k] == ':' {
			k++
			for k < len(data) && (data[k] == ' ' || data[k] == '\t' || data[k] == '\n' || data[k] == '\r') {
				k++
			}
			if k < len(data) && data[k] == '"' {
				end := k + 1
				for end < len(data) && data[end] != '"' {
					if data[end] == '\\' {
						end++
					}
					end++
				}
				if end < len(data) {
					var s string
					if json.Unmarshal(data[k:end+1], &s) == nil {
						if _, ok := out[s]; !ok {
							out[s] = int64(at)
						}
					}
				}
			}
		}
		i = at + len(key)
	}
}

// lineIndex maps byte offsets to lines and columns.
type lineIndex []int64

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, c := range data {
		if c == '\n' {
			idx = append(idx, int64(i+1))
		}
	}
	return idx
}

func (l lineIndex) pos(file string, off int64) Pos {
	i := sort.Search(len(l), func(i int) bool { return l[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return Pos{File: file, Line: i + 1, Col: int(off-l[i]) + 1}
}

// jsonError turns a decoding error into a ParseError with its position:
// line, column and byte offset.
func jsonError(name string, lines lineIndex, size int, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off := max(se.Offset-1, 0)
		return &ParseError{Pos: lines.pos(name, off), Msg: fmt.Sprintf("malformed JSON at byte %d: %s", off, se.Error())}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the document"
		}
		return &ParseError{Pos: lines.pos(name, te.Offset), Msg: fmt.Sprintf("%s (byte %d): want %s, found a JSON %s", field, te.Offset, te.Type, te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ParseError{Pos: lines.pos(name, int64(size)), Msg: fmt.Sprintf("malformed JSON: the file ends at byte %d inside a value (truncated?)", size)}
	case errors.Is(err, io.EOF):
		return &ParseError{Pos: lines.pos(name, int64(size)), Msg: "empty: no JSON value"}
	}
	return &ParseError{Pos: Pos{File: name, Line: 1}, Msg: err.Error()}
}

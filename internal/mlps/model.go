// Package mlps checks Terraform configurations and plans for Alibaba Cloud
// against the MLPS 2.0 (GB/T 22239-2019) level-3 baseline: the rules of
// Alibaba Cloud Config's ClassifiedProtectionPreCheck package that can be
// decided from code, Gatehouse's own rules for what the standard asks of a
// deployment, and the provider schema (unknown resource types and
// attributes). It also assembles the evidence report that joins the check
// with the identity controls Gatehouse attests.
//
// Loaders (hcl.go, plan.go) turn a directory of .tf files or a
// `terraform show -json` plan into a Stack of resources whose values are
// plain Go values: nil, string, bool, float64, []any, map[string]any, or
// Unknown for what cannot be decided from the code. Rules (rules.go) read
// the stack; Check (check.go) runs them and applies suppressions; the
// outputs (output.go, sarif.go) render the report.
package mlps

import (
	"fmt"
	"sort"
	"strings"
)

// Unknown is a value the code does not decide: a computed attribute, a
// variable without a value, a function Gatehouse does not evaluate. Refs
// are the resources it was computed from (config addresses, without
// instance keys), so that rules can still follow references
// (security_group_id = alicloud_security_group.web.id).
type Unknown struct {
	Refs []string
	// PartialJSON is, for the jsonencode of a value only partly known, the
	// document with null where a value is not known. What holds of it
	// whatever those values are holds of the document.
	PartialJSON string
}

// Pos is a place in a file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"column,omitempty"`
}

func (p Pos) String() string {
	if p.Col > 0 {
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Resource is one resource instance of a stack.
type Resource struct {
	// Address is the instance address: module.net.alicloud_vpc.main[0].
	Address string
	// Config is the address in the configuration: module paths and
	// instance keys removed from the resource part
	// (module.net.alicloud_vpc.main). References name these.
	Config string
	Module string // module path ("module.net"), "" at the root
	Mode   string // "managed" or "data"
	Type   string
	Name   string
	Values map[string]any
	Pos    Pos
	// attrPos holds the lines of top-level attributes and blocks (HCL).
	attrPos map[string]Pos
	// Repeat is set when count or for_each could not be decided: the
	// resource is checked once, as if it existed.
	Repeat string
	// suppressions written on or above the resource (HCL).
	suppressions []*Suppression
}

// AttrPos returns where an attribute is set, or the resource's position.
func (r *Resource) AttrPos(attr string) Pos {
	if top, _, _ := strings.Cut(attr, "."); top != "" {
		if p, ok := r.attrPos[top]; ok {
			return p
		}
	}
	return r.Pos
}

// Get returns the value at a dotted path (blocks and lists are entered by
// index: "data_disks.0.encrypted"; a list of one block may be entered
// without index: "versioning.status").
func (r *Resource) Get(path string) any {
	var v any = r.Values
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscanf(k, "%d", &i); err == nil && i >= 0 && i < len(x) {
				v = x[i]
				continue
			}
			if len(x) == 1 {
				if m, ok := x[0].(map[string]any); ok {
					v = m[k]
					continue
				}
			}
			return nil
		case Unknown:
			return x
		default:
			return nil
		}
	}
	return v
}

// Note is something the loader could not do that the reader should know
// (a module whose source is not local, a count that could not be
// decided).
type Note struct {
	Pos     Pos    `json:"position"`
	Message string `json:"message"`
}

// Stack is what one PATH holds: the resources of a configuration
// (a root module and its local modules) or of a plan.
type Stack struct {
	Path      string
	Kind      string // "hcl" or "plan"
	Resources []*Resource
	Notes     []Note
	// Suppressions are all the suppression comments of the files read.
	Suppressions []*Suppression
	byConfig     map[string][]*Resource
	byType       map[string][]*Resource
	links        map[[2]string]*linkIndex
}

// linkIndex finds the resources of a type by what their attribute names:
// the resources it refers to, or its known string value.
type linkIndex struct {
	byRef   map[string][]*Resource
	byValue map[string][]*Resource
}

func (s *Stack) index() {
	s.byConfig = map[string][]*Resource{}
	s.byType = map[string][]*Resource{}
	s.links = map[[2]string]*linkIndex{}
	for _, r := range s.Resources {
		s.byConfig[r.Config] = append(s.byConfig[r.Config], r)
	}
	sort.SliceStable(s.Resources, func(i, j int) bool {
		a, b := s.Resources[i], s.Resources[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		return a.Pos.Line < b.Pos.Line
	})
	for _, r := range s.Resources {
		if r.Mode == "managed" {
			s.byType[r.Type] = append(s.byType[r.Type], r)
		}
	}
}

// OfType returns the managed resources of a type.
func (s *Stack) OfType(typ string) []*Resource {
	if s.byType == nil {
		s.index()
	}
	return s.byType[typ]
}

// refersTo reports whether v, a value of resource from, names target:
// an unknown computed from it, or (with matchAttr) a known string equal
// to target's attribute matchAttr (a bucket named by its name rather than
// by reference). A reference between resources of the same module names
// the instance of the same module instance.
func (s *Stack) refersTo(from *Resource, v any, target *Resource, matchAttr string) bool {
	switch x := v.(type) {
	case Unknown:
		for _, ref := range x.Refs {
			if ref != target.Config {
				continue
			}
			if from.Module == target.Module || stripKeys(from.Module) != stripKeys(target.Module) {
				return true
			}
		}
	case string:
		if matchAttr != "" {
			if tv, ok := target.Get(matchAttr).(string); ok && tv == x && x != "" {
				return true
			}
		}
	}
	return false
}

// linked returns the resources of type typ whose attribute attr names
// target (by reference, or by target's matchAttr value).
func (s *Stack) linked(target *Resource, typ, attr, matchAttr string) []*Resource {
	key := [2]string{typ, attr}
	idx := s.links[key]
	if idx == nil {
		idx = &linkIndex{byRef: map[string][]*Resource{}, byValue: map[string][]*Resource{}}
		for _, r := range s.OfType(typ) {
			switch v := r.Get(attr).(type) {
			case Unknown:
				for _, ref := range v.Refs {
					idx.byRef[ref] = append(idx.byRef[ref], r)
				}
			case string:
				idx.byValue[v] = append(idx.byValue[v], r)
			}
		}
		s.links[key] = idx
	}
	var out []*Resource
	seen := map[*Resource]bool{}
	cands := idx.byRef[target.Config]
	if matchAttr != "" {
		if tv, ok := target.Get(matchAttr).(string); ok && tv != "" {
			cands = append(cands[:len(cands):len(cands)], idx.byValue[tv]...)
		}
	}
	for _, r := range cands {
		if !seen[r] && s.refersTo(r, r.Get(attr), target, matchAttr) {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Value helpers. Each returns the value and whether it is known.

func isUnknown(v any) bool { _, ok := v.(Unknown); return ok }

func asString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

func asBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(x) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func asNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		var f float64
		if _, err := fmt.Sscanf(x, "%g", &f); err == nil {
			return f, true
		}
	}
	return 0, false
}

// asList returns the elements of a list or set; ok is false when the
// value, or any element, is unknown.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case []any:
		for _, e := range x {
			if isUnknown(e) {
				return x, false
			}
		}
		return x, true
	case string:
		// RDS security_ips may be written as one comma-separated string.
		var out []any
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, true
	}
	return nil, false
}

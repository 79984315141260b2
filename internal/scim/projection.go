package scim

import (
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// projection is the "attributes" / "excludedAttributes" selection of RFC
// 7644 §3.4.2.5. An extension URN alone selects the whole extension.
type projection struct {
	include []selector
	exclude []selector
}

type selector struct {
	schema *schema.Schema
	ref    schema.Ref // Attr nil: the whole extension
}

// parseProjection reads the two comma-separated lists. Names that match no
// attribute are ignored, as RFC 7644 asks of unknown query parameters.
func parseProjection(rt *schema.ResourceType, attributes, excluded []string) projection {
	var p projection
	for _, a := range splitList(attributes) {
		if sel, ok := parseSelector(rt, a); ok {
			p.include = append(p.include, sel)
		}
	}
	for _, a := range splitList(excluded) {
		if sel, ok := parseSelector(rt, a); ok {
			p.exclude = append(p.exclude, sel)
		}
	}
	return p
}

func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func parseSelector(rt *schema.ResourceType, s string) (selector, bool) {
	if urn, rest := rt.SplitURN(s); urn != "" && rest == "" {
		return selector{schema: rt.SchemaByURN(urn)}, true
	}
	ref, err := rt.ResolveLoose(s)
	if err != nil {
		return selector{}, false
	}
	return selector{schema: ref.Schema, ref: ref}, true
}

func (p projection) empty() bool { return len(p.include) == 0 && len(p.exclude) == 0 }

// wants reports whether the projection keeps top-level attribute name of
// the core schema (used to skip loading groups and members).
func (p projection) wants(name string, returnedByDefault bool) bool {
	if len(p.include) > 0 {
		for _, s := range p.include {
			if s.ref.Attr != nil && s.schema.IsCore() && s.ref.Attr.Name == name {
				return true
			}
		}
		return false
	}
	for _, s := range p.exclude {
		if s.ref.Attr != nil && s.schema.IsCore() && s.ref.Attr.Name == name && s.ref.Sub == nil {
			return false
		}
	}
	return returnedByDefault
}

// apply returns the projected document. "id" and "schemas" are always
// returned (returned: always); "password" never is (it is never rendered).
func (p projection) apply(doc map[string]any) map[string]any {
	if p.empty() {
		return doc
	}
	if len(p.include) > 0 {
		out := map[string]any{"id": doc["id"], "schemas": doc["schemas"]}
		for _, s := range p.include {
			copySelected(out, doc, s)
		}
		return pruneSchemas(out)
	}
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		out[k] = v
	}
	for _, s := range p.exclude {
		removeSelected(out, s)
	}
	return pruneSchemas(out)
}

// pruneSchemas drops from "schemas" the extensions the projection left out:
// it lists the core schema and the extensions the document shows.
func pruneSchemas(out map[string]any) map[string]any {
	urns, ok := out["schemas"].([]string)
	if !ok {
		return out
	}
	keep := make([]string, 0, len(urns))
	for i, urn := range urns {
		if _, present := out[urn]; i == 0 || present {
			keep = append(keep, urn)
		}
	}
	out["schemas"] = keep
	return out
}

func containerOf(doc map[string]any, s *schema.Schema) map[string]any {
	if s.IsCore() {
		return doc
	}
	m, _ := doc[s.ID].(map[string]any)
	return m
}

func copySelected(out, doc map[string]any, s selector) {
	if s.ref.Attr == nil {
		if v, ok := doc[s.schema.ID]; ok {
			out[s.schema.ID] = v
		}
		return
	}
	src := containerOf(doc, s.schema)
	if src == nil {
		return
	}
	v, ok := src[s.ref.Attr.Name]
	if !ok {
		return
	}
	dst := out
	if !s.schema.IsCore() {
		m, _ := out[s.schema.ID].(map[string]any)
		if m == nil {
			m = map[string]any{}
			out[s.schema.ID] = m
		}
		dst = m
	}
	name := s.ref.Attr.Name
	if s.ref.Sub == nil {
		dst[name] = v
		return
	}
	sub := s.ref.Sub.Name
	switch x := v.(type) {
	case map[string]any:
		if sv, ok := x[sub]; ok {
			m, _ := dst[name].(map[string]any)
			if m == nil {
				m = map[string]any{}
				dst[name] = m
			}
			m[sub] = sv
		}
	case []any:
		// Several sub-attributes of one multi-valued attribute
		// ("emails.value,emails.type") build up the same elements.
		prev, _ := dst[name].([]any)
		if len(prev) != len(x) {
			prev = make([]any, len(x))
			for i := range prev {
				prev[i] = map[string]any{}
			}
		}
		for i, el := range x {
			if m, ok := el.(map[string]any); ok {
				if sv, ok := m[sub]; ok {
					prev[i].(map[string]any)[sub] = sv
				}
			}
		}
		var keep []any
		for _, el := range prev {
			if len(el.(map[string]any)) > 0 {
				keep = append(keep, el)
			}
		}
		if len(keep) > 0 {
			dst[name] = keep
		}
	}
}

func removeSelected(out map[string]any, s selector) {
	if s.ref.Attr == nil {
		delete(out, s.schema.ID)
		return
	}
	if s.ref.Attr.Returned == schema.ReturnAlways && s.ref.Sub == nil {
		return
	}
	if !s.schema.IsCore() {
		m, _ := out[s.schema.ID].(map[string]any)
		if m == nil {
			return
		}
		cp := make(map[string]any, len(m))
		for k, v := range m {
			cp[k] = v
		}
		out[s.schema.ID] = cp
		removeFrom(cp, s.ref)
		if len(cp) == 0 {
			delete(out, s.schema.ID)
		}
		return
	}
	removeFrom(out, s.ref)
}

// removeFrom deletes an attribute or sub-attribute, copying what it changes
// so that the source document is left alone.
func removeFrom(c map[string]any, ref schema.Ref) {
	name := ref.Attr.Name
	if ref.Sub == nil {
		delete(c, name)
		return
	}
	sub := ref.Sub.Name
	switch x := c[name].(type) {
	case map[string]any:
		cp := make(map[string]any, len(x))
		for k, v := range x {
			if k != sub {
				cp[k] = v
			}
		}
		c[name] = cp
	case []any:
		list := make([]any, 0, len(x))
		for _, el := range x {
			if m, ok := el.(map[string]any); ok {
				cp := make(map[string]any, len(m))
				for k, v := range m {
					if k != sub {
						cp[k] = v
					}
				}
				el = cp
			}
			list = append(list, el)
		}
		c[name] = list
	}
}

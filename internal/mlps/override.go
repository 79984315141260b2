package mlps

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// isOverride reports whether a file is an override file: override.tf,
// *_override.tf, and the same in JSON.
func isOverride(name string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".json"), ".tf")
	return base == "override" || strings.HasSuffix(base, "_override")
}

// overrideModule merges the blocks of an override file into what the
// module's other files declare, as Terraform does
// (https://developer.hashicorp.com/terraform/language/files/override):
// an argument replaces the argument of the same name; nested blocks of a
// type replace every nested block of that type; a local or an output's
// value replaces the one of the same name. What it overrides must be
// declared.
func overrideModule(m *module, body *hclsyntax.Body) error {
	for _, b := range body.Blocks {
		p := rangePos(b.TypeRange)
		missing := func(what string) error {
			return &ParseError{Pos: p, Msg: fmt.Sprintf("an override of %s, which no other file of the module declares", what)}
		}
		switch b.Type {
		case "resource", "data":
			if len(b.Labels) != 2 {
				return &ParseError{Pos: p, Msg: fmt.Sprintf("a %s block needs two labels (type and name)", b.Type)}
			}
			d := &resourceDecl{mode: "managed", typ: b.Labels[0], name: b.Labels[1]}
			if b.Type == "data" {
				d.mode = "data"
			}
			found := false
			for _, r := range m.resources {
				if r.key() == d.key() {
					r.block = mergeBlock(r.block, b)
					found = true
				}
			}
			if !found {
				return missing(d.key())
			}
		case "variable":
			if len(b.Labels) != 1 || m.variables[b.Labels[0]] == nil {
				return missing("a variable")
			}
			m.variables[b.Labels[0]] = mergeBlock(m.variables[b.Labels[0]], b)
		case "locals":
			for n, a := range b.Body.Attributes {
				if m.locals[n] == nil {
					return missing("local." + n)
				}
				m.locals[n] = a
			}
		case "module":
			found := false
			for i, c := range m.calls {
				if len(b.Labels) == 1 && c.Labels[0] == b.Labels[0] {
					m.calls[i] = mergeBlock(c, b)
					found = true
				}
			}
			if !found {
				return missing("a module call")
			}
		case "output":
			if len(b.Labels) != 1 {
				return missing("an output")
			}
			if a, ok := b.Body.Attributes["value"]; ok {
				m.outputs[b.Labels[0]] = a
			}
		}
	}
	return nil
}

// mergeBlock returns base with over's arguments and nested block types in
// place of its own (base itself is not changed: a module read once is
// evaluated for each of its calls).
func mergeBlock(base, over *hclsyntax.Block) *hclsyntax.Block {
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: base.Body.SrcRange, EndRange: base.Body.EndRange}
	for n, a := range base.Body.Attributes {
		body.Attributes[n] = a
	}
	for n, a := range over.Body.Attributes {
		body.Attributes[n] = a
	}
	// count and for_each exclude each other: setting one drops the other.
	if over.Body.Attributes["count"] != nil && over.Body.Attributes["for_each"] == nil {
		delete(body.Attributes, "for_each")
	}
	if over.Body.Attributes["for_each"] != nil && over.Body.Attributes["count"] == nil {
		delete(body.Attributes, "count")
	}
	kind := func(b *hclsyntax.Block) string {
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			return b.Labels[0]
		}
		return b.Type
	}
	replaced := map[string]bool{}
	for _, b := range over.Body.Blocks {
		replaced[kind(b)] = true
	}
	for _, b := range base.Body.Blocks {
		if !replaced[kind(b)] {
			body.Blocks = append(body.Blocks, b)
		}
	}
	body.Blocks = append(body.Blocks, over.Body.Blocks...)
	merged := *base
	merged.Body = body
	return &merged
}

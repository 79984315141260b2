package mlps

import (
	"fmt"
	"sort"
	"strings"
)

// Finding is one rule's verdict on one resource that is not a pass: a
// failure, an undecidable check (unknown), or a note.
type Finding struct {
	Rule       string       `json:"rule"`
	Status     Status       `json:"status"`
	Severity   string       `json:"severity"`
	Clauses    []string     `json:"clauses,omitempty"`
	Resource   string       `json:"resource,omitempty"`
	Type       string       `json:"type,omitempty"`
	Pos        Pos          `json:"position"`
	Message    string       `json:"message"`
	Suppressed *Suppression `json:"suppressed,omitempty"`
}

// Summary counts a report.
type Summary struct {
	Stacks     int `json:"stacks"`
	Resources  int `json:"resources"`
	Checks     int `json:"checks"`
	Passed     int `json:"passed"`
	Failed     int `json:"failed"`
	Unknown    int `json:"unknown"`
	Suppressed int `json:"suppressed"`
	// Outside counts the resources whose type is not in the embedded
	// schema subset.
	Outside int `json:"outsideSchema"`
}

// Report is the result of checking stacks.
type Report struct {
	Schema   string    `json:"schema"`
	Paths    []string  `json:"paths"`
	Findings []Finding `json:"findings"`
	Notes    []Note    `json:"notes"`
	Summary  Summary   `json:"summary"`
	rules    []*Rule
}

// Findings that count against the stack: failures not suppressed (and,
// with strict, unknowns).
func (r *Report) Blocking(strict bool) int {
	n := 0
	for _, f := range r.Findings {
		if f.Suppressed != nil {
			continue
		}
		if f.Status == StatusFail || strict && f.Status == StatusUnknown {
			n++
		}
	}
	return n
}

// Check runs every rule on every stack.
func Check(stacks []*Stack, schema *Schema) *Report {
	rules := Rules()
	rep := &Report{Schema: SchemaVersion, Findings: []Finding{}, Notes: []Note{}, rules: rules}
	known := map[string]*Rule{}
	byType := map[string][]*Rule{}
	for _, r := range rules {
		known[r.ID] = r
		for _, t := range r.Types {
			byType[t] = append(byType[t], r)
		}
	}
	for _, st := range stacks {
		if st.byConfig == nil {
			st.index()
		}
		rep.Paths = append(rep.Paths, st.Path)
		rep.Summary.Stacks++
		rep.Notes = append(rep.Notes, st.Notes...)
		for _, s := range st.Suppressions {
			if s.Problem != "" {
				continue
			}
			for _, id := range s.Rules {
				if known[id] == nil {
					s.Problem = fmt.Sprintf("names no rule %q (gatehouse mlps check --list-rules)", id)
				}
			}
		}
		var found []Finding
		var found2 []*Resource // the resource whose suppressions apply, per finding
		var found3 []*Resource
		add := func(f Finding, r, at *Resource) {
			found = append(found, f)
			found2 = append(found2, r)
			found3 = append(found3, at)
		}
		outside := map[string][]*Resource{}
		for _, r := range st.Resources {
			rep.Summary.Resources++
			for _, f := range schemaFindings(schema, st, r) {
				if f.Rule == RuleOutsideSchema {
					outside[r.Mode+" "+r.Type] = append(outside[r.Mode+" "+r.Type], r)
					continue
				}
				add(f, r, nil)
			}
			if r.Mode != "managed" {
				continue
			}
			for _, rule := range byType[r.Type] {
				rep.Summary.Checks++
				outs := rule.check(st, r)
				if len(outs) == 0 {
					rep.Summary.Passed++
				}
				for _, o := range outs {
					pos := r.AttrPos(o.Attr)
					if o.At != nil {
						pos = o.At.AttrPos(o.Attr)
					}
					add(Finding{Rule: rule.ID, Status: o.Status, Severity: rule.Severity, Clauses: rule.Clauses,
						Resource: r.Address, Type: r.Type, Pos: pos, Message: o.Message}, r, o.At)
				}
			}
		}
		keys := make([]string, 0, len(outside))
		for k := range outside {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rs := outside[k]
			rep.Summary.Outside += len(rs)
			mode, typ, _ := strings.Cut(k, " ")
			what := "resource type"
			if mode == "data" {
				what = "data source"
			}
			msg := fmt.Sprintf("%s %s is not in the embedded schema subset (%s); cannot be checked", what, typ, SchemaVersion)
			if len(rs) > 1 {
				msg += fmt.Sprintf(" (%d instances)", len(rs))
			}
			found = append(found, Finding{Rule: RuleOutsideSchema, Status: StatusNote, Severity: "note",
				Resource: rs[0].Address, Type: typ, Pos: rs[0].Pos, Message: msg})
			found2 = append(found2, nil)
			found3 = append(found3, nil)
		}
		// Suppressions.
		for i := range found {
			f := &found[i]
			if f.Status == StatusNote {
				continue
			}
			for _, res := range []*Resource{found2[i], found3[i]} {
				if res == nil || f.Suppressed != nil {
					continue
				}
				for _, s := range res.suppressions {
					if s.Problem == "" && contains(s.Rules, f.Rule) {
						f.Suppressed = s
						s.used = true
						break
					}
				}
			}
		}
		for _, s := range st.Suppressions {
			switch {
			case s.Problem != "":
				found = append(found, Finding{Rule: RuleSuppression, Status: StatusFail, Severity: known[RuleSuppression].Severity,
					Pos: s.Pos, Message: "the suppression " + s.Problem})
			case !s.used:
				rep.Notes = append(rep.Notes, Note{Pos: s.Pos, Message: fmt.Sprintf("the suppression of %s matches no finding", strings.Join(s.Rules, ", "))})
			}
		}
		rep.Findings = append(rep.Findings, found...)
	}
	for _, f := range rep.Findings {
		switch {
		case f.Suppressed != nil:
			rep.Summary.Suppressed++
		case f.Status == StatusFail:
			rep.Summary.Failed++
		case f.Status == StatusUnknown:
			rep.Summary.Unknown++
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Rule < b.Rule
	})
	return rep
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// schemaFindings checks a resource's type and arguments against the
// schema.
func schemaFindings(schema *Schema, st *Stack, r *Resource) []Finding {
	verdict, suggestion := schema.ClassifyType(r.Mode, r.Type)
	what := "resource type"
	if r.Mode == "data" {
		what = "data source"
	}
	switch verdict {
	case TypeMisspelt:
		return []Finding{{Rule: RuleUnknownType, Status: StatusFail, Severity: "high", Clauses: []string{"provider 1.275"},
			Resource: r.Address, Type: r.Type, Pos: r.Pos,
			Message: fmt.Sprintf("unknown %s %s: did you mean %s?", what, r.Type, suggestion)}}
	case TypeOutside:
		return []Finding{{Rule: RuleOutsideSchema}}
	}
	block := schema.block(r.Mode, r.Type)
	var out []Finding
	var walk func(b *SchemaBlock, vals map[string]any, path string, top string)
	walk = func(b *SchemaBlock, vals map[string]any, path, top string) {
		names := make([]string, 0, len(vals))
		for k := range vals {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			t := top
			if t == "" {
				t = k
			}
			full := k
			if path != "" {
				full = path + "." + k
			}
			if a, ok := b.Attributes[k]; ok {
				if st.Kind == "hcl" && a.Computed && !a.Optional && !a.Required {
					out = append(out, Finding{Rule: RuleUnknownAttribute, Status: StatusFail, Severity: "high",
						Clauses: []string{"provider 1.275"}, Resource: r.Address, Type: r.Type, Pos: r.AttrPos(t),
						Message: fmt.Sprintf("%s of %s is computed by the provider and cannot be set", full, r.Type)})
				}
				continue
			}
			if nb, ok := b.BlockTypes[k]; ok {
				if l, ok := vals[k].([]any); ok {
					for _, e := range l {
						if m, ok := e.(map[string]any); ok && nb.Block != nil {
							walk(nb.Block, m, full, t)
						}
					}
				} else if m, ok := vals[k].(map[string]any); ok && nb.Block != nil {
					walk(nb.Block, m, full, t)
				}
				continue
			}
			msg := fmt.Sprintf("%s is not an argument of %s in %s", full, r.Type, SchemaVersion)
			if s := b.suggestAttribute(k); s != "" {
				msg += fmt.Sprintf(": did you mean %s?", s)
				if a := b.Attributes[s]; a != nil && a.Deprecated {
					msg += " (deprecated)"
				}
			}
			out = append(out, Finding{Rule: RuleUnknownAttribute, Status: StatusFail, Severity: "high",
				Clauses: []string{"provider 1.275"}, Resource: r.Address, Type: r.Type, Pos: r.AttrPos(t), Message: msg})
		}
	}
	walk(block, r.Values, "", "")
	return out
}

package mlps

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Suppression is an inline comment that accepts a rule's finding on one
// resource, with the reason it is accepted:
//
//	# mlps:ignore sg-public-access-check reason="the WAF's back-to-origin range"
//	resource "alicloud_security_group_rule" "waf" { … }
//
// It is written on the line of the resource's header or in the comment
// lines right above it. Several rule ids may be separated by commas. A
// suppression without a reason, or naming a rule that does not exist, is
// itself a finding (gh-suppression-invalid) and suppresses nothing.
type Suppression struct {
	Pos    Pos      `json:"position"`
	Rules  []string `json:"rules"`
	Reason string   `json:"reason"`
	// Problem says why the suppression is invalid ("" when valid).
	Problem string `json:"problem,omitempty"`
	used    bool
}

const directive = "mlps:ignore"

// readSuppressions finds the suppression comments of a file. The file is
// lexed, so that "#" inside strings and heredocs is not taken for a
// comment.
func readSuppressions(name string, src []byte) (sups []*Suppression, commentOnly map[int]bool) {
	toks, _ := hclsyntax.LexConfig(src, name, hcl.InitialPos)
	var out []*Suppression
	// firstOnLine marks lines on which a comment is the first token.
	firstOnLine := map[int]bool{}
	lastLine := 0
	for _, t := range toks {
		line := t.Range.Start.Line
		if line != lastLine {
			if t.Type == hclsyntax.TokenComment {
				firstOnLine[line] = true
			}
			lastLine = line
		}
		if t.Type != hclsyntax.TokenComment {
			continue
		}
		text := string(t.Bytes)
		text = strings.TrimPrefix(text, "#")
		text = strings.TrimPrefix(text, "//")
		text = strings.TrimSuffix(strings.TrimPrefix(text, "/*"), "*/")
		text = strings.TrimSpace(text)
		if !strings.HasPrefix(text, directive) {
			continue
		}
		s := parseDirective(strings.TrimSpace(strings.TrimPrefix(text, directive)))
		s.Pos = Pos{File: name, Line: line, Col: t.Range.Start.Column}
		out = append(out, s)
	}
	return out, firstOnLine
}

// parseDirective reads `RULE[,RULE…] reason="…"`.
func parseDirective(rest string) *Suppression {
	s := &Suppression{}
	ids, after, _ := strings.Cut(rest, " ")
	for _, id := range strings.Split(ids, ",") {
		if id = strings.TrimSpace(id); id != "" && !strings.HasPrefix(id, "reason=") {
			s.Rules = append(s.Rules, id)
		}
	}
	if strings.HasPrefix(ids, "reason=") {
		after = ids + " " + after
	}
	after = strings.TrimSpace(after)
	if r, ok := strings.CutPrefix(after, "reason="); ok {
		r = strings.TrimSpace(r)
		if len(r) >= 2 && r[0] == '"' {
			if end := strings.LastIndexByte(r, '"'); end > 0 {
				s.Reason = strings.TrimSpace(r[1:end])
			}
		}
	}
	switch {
	case len(s.Rules) == 0:
		s.Problem = `names no rule: write "mlps:ignore RULE-ID reason=\"…\""`
	case s.Reason == "":
		s.Problem = `has no reason: write reason="why this finding is accepted"`
	}
	return s
}

// byLine indexes suppressions by their line, once per file (not once per
// resource: a file of many resources and suppressions stays linear).
func byLine(all []*Suppression) map[int][]*Suppression {
	m := map[int][]*Suppression{}
	for _, s := range all {
		m[s.Pos.Line] = append(m[s.Pos.Line], s)
	}
	return m
}

// suppressionsFor returns the suppressions that apply to a block whose
// header is on line: on that line, or in the run of comment-only lines
// right above it.
func suppressionsFor(byLine map[int][]*Suppression, commentLines map[int]bool, line int) []*Suppression {
	var out []*Suppression
	out = append(out, byLine[line]...)
	for l := line - 1; l > 0 && commentLines[l]; l-- {
		out = append(out, byLine[l]...)
	}
	return out
}

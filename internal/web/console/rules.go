package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Rules: the rules in force (admin.Ops.ListRules), one rule's YAML, the
// editor of the rules made through the API and the CLI (admin.Ops.PutRule:
// the server's check of the rule with the rules file's targets and the
// other rules, every problem listed), and "test against an event"
// (admin.TestPattern, the verdict and the explanation `gatehouse rules
// test` prints). The rules file's own rules are shown, not edited: the
// file is configuration as code.

// maxRuleText bounds a rule or an event typed into the editor.
const maxRuleText = 32 << 10

// rulesView is the rules page.
type rulesView struct {
	Rules []ruleRow
	// Err says why there are none (no event pipeline here).
	Err string
}

type ruleRow struct {
	admin.RuleView
	Targets string
	Pattern string
}

func (c *Console) rulesPage(q *Request) error {
	rs, err := c.opt.Ops.ListRules()
	v := rulesView{}
	var de *directory.Error
	switch {
	case err == nil:
	case errors.As(err, &de) && de.Kind == directory.ErrInvalid:
		v.Err = de.Msg
	default:
		return err
	}
	for _, r := range rs {
		var ts []string
		for _, t := range r.Targets {
			ts = append(ts, t.Target)
		}
		pat, _ := json.Marshal(r.Pattern)
		v.Rules = append(v.Rules, ruleRow{RuleView: r, Targets: strings.Join(ts, ", "), Pattern: string(pat)})
	}
	return q.Render("rules.title", v)
}

// ruleView is a rule's page, the editor and the tester.
type ruleView struct {
	Name   string
	Origin string // file, api, or "" for a new rule
	// Text is the rule as YAML (what the editor edits).
	Text string
	// Pattern and Event are the tester's input; Result its verdict.
	Pattern string
	Event   string
	Result  *admin.TestResult
	// Problems are the editor's or the tester's refusal.
	Problems []string
}

// Editable: a new rule, or one made through the API.
func (v ruleView) Editable() bool { return v.Origin != "file" }

// newRuleText is the editor's start for a new rule.
const newRuleText = `name: ""
description: ""
pattern:
  detail-type: ["User.Created"]
targets:
  - target: ""
`

// sampleEvent is the tester's start: an event document as rules see it.
const sampleEvent = `{
  "specversion": "1.0",
  "type": "User.Created",
  "detail-type": "User.Created",
  "source": "gatehouse",
  "detail": {"userName": "ada@example.com", "active": true, "department": "Engineering"}
}`

func (c *Console) newRulePage(q *Request) error {
	return q.Render("rules.new", ruleView{Text: newRuleText, Pattern: `{"detail-type": ["User.Created"]}`, Event: sampleEvent})
}

func (c *Console) rulePage(q *Request) error {
	r, err := c.opt.Ops.Rule(q.PathValue("name"))
	if err != nil {
		return err
	}
	notice := ""
	if q.URL.Query().Get("saved") != "" {
		notice = q.L.T("rules.saved")
	}
	return q.RenderStatus(http.StatusOK, "rule.title", notice, c.ruleView(r, sampleEvent))
}

func (c *Console) ruleView(r *admin.RuleView, event string) ruleView {
	text, _ := yaml.Marshal(r.RuleSpec)
	pat, _ := json.Marshal(r.Pattern)
	return ruleView{Name: r.Name, Origin: r.Origin, Text: string(text), Pattern: string(pat), Event: event}
}

// saveRule is POST /rules: the editor's rule, created or replaced by
// admin.Ops.PutRule. A refused rule comes back in the editor with every
// problem (400).
func (c *Console) saveRule(q *Request) error {
	text := q.PostFormValue("rule")
	v := ruleView{Text: text, Pattern: q.PostFormValue("pattern"), Event: q.PostFormValue("event")}
	if v.Event == "" {
		v.Event = sampleEvent
	}
	if len(text) > maxRuleText {
		return Errorf(http.StatusRequestEntityTooLarge, "rules.err.size")
	}
	r, err := admin.DecodeRule([]byte(text))
	if err == nil && r.Pattern != nil {
		if pat, jerr := json.Marshal(r.Pattern); jerr == nil {
			v.Pattern = string(pat)
		}
	}
	if err == nil && r.Name == "" {
		err = directory.Errorf(directory.ErrInvalid, "name", "the rule needs a name")
	}
	if err == nil {
		_, err = c.opt.Ops.PutRule(q.Context(), q.Admin.Actor, r)
	}
	var de *directory.Error
	if errors.As(err, &de) && (de.Kind == directory.ErrInvalid || de.Kind == directory.ErrConflict) {
		v.Name, v.Problems = r.Name, problems(de.Msg)
		if cur, err := c.opt.Ops.Rule(r.Name); err == nil {
			v.Origin = cur.Origin
		}
		title := "rules.new"
		if v.Origin != "" {
			title = "rule.title"
		}
		return q.RenderStatus(http.StatusBadRequest, title, "", v)
	}
	if err != nil {
		return err
	}
	q.Redirect("/rules/" + pathEscape(r.Name) + "?saved=1")
	return nil
}

// problems splits PutRule's message ("the rule is refused:\n  - a\n  - b")
// into its lines.
func problems(msg string) []string {
	var out []string
	if head, rest, ok := strings.Cut(msg, ":\n"); ok && !strings.Contains(head, "\n") {
		msg = rest // "the rule is refused": the page says so
	}
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- ")); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// testRule is POST /rules/test: whether the pattern matches the event,
// and why (admin.TestPattern, as `gatehouse rules test`). The page the
// test was made from comes back with the verdict.
func (c *Console) testRule(q *Request) error {
	v := ruleView{Pattern: q.PostFormValue("pattern"), Event: q.PostFormValue("event"), Text: q.PostFormValue("rule")}
	title := "rules.new"
	if name := q.PostFormValue("name"); name != "" {
		r, err := c.opt.Ops.Rule(name)
		if err != nil {
			return err
		}
		cur := c.ruleView(r, v.Event)
		cur.Pattern = v.Pattern
		v, title = cur, "rule.title"
	}
	if v.Text == "" {
		v.Text = newRuleText
	}
	if len(v.Pattern) > maxRuleText || len(v.Event) > maxRuleText {
		return Errorf(http.StatusRequestEntityTooLarge, "rules.err.size")
	}
	res, err := admin.TestPattern([]byte(v.Pattern), []byte(v.Event))
	var de *directory.Error
	if errors.As(err, &de) && de.Kind == directory.ErrInvalid {
		v.Problems = []string{de.Msg}
		return q.RenderStatus(http.StatusBadRequest, title, "", v)
	}
	if err != nil {
		return err
	}
	v.Result = res
	return q.Render(title, v)
}

func pathEscape(s string) string { return url.PathEscape(s) }

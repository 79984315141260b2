package mlps

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func loadSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := LoadSchema()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkDir(t *testing.T, dir string) *Report {
	t.Helper()
	st, err := LoadDir(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Check([]*Stack{st}, loadSchema(t))
}

func checkPlanFile(t *testing.T, name string) *Report {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := LoadPlan(name, f)
	if err != nil {
		t.Fatal(err)
	}
	return Check([]*Stack{st}, loadSchema(t))
}

// statuses returns the statuses a rule's findings have, suppressed ones
// apart.
func statuses(rep *Report, rule string) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.Rule != rule {
			continue
		}
		s := string(f.Status)
		if f.Suppressed != nil {
			s = "suppressed"
		}
		out = append(out, s)
	}
	return out
}

// Every rule has a compliant and a violating fixture, as HCL and as a
// plan: testdata/rules/RULE/{pass,fail}/main.tf and {pass,fail}.plan.json
// (written by hand in the form of terraform show -json; a plan has no
// comments, so the suppression rule has HCL fixtures only). The compliant
// fixtures are also valid against the schema.
func TestRuleFixtures(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		seen[r.ID] = false
	}
	dirs, err := filepath.Glob("testdata/rules/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		id := filepath.Base(dir)
		if _, ok := seen[id]; !ok {
			t.Errorf("fixtures for %s, which is not a rule", id)
			continue
		}
		seen[id] = true
		want := "fail"
		if id == RuleOutsideSchema {
			want = "note"
		}
		t.Run(id, func(t *testing.T) {
			type tc struct {
				name string
				rep  func() *Report
				want []string
			}
			cases := []tc{
				{"pass/main.tf", func() *Report { return checkDir(t, filepath.Join(dir, "pass")) }, nil},
				{"fail/main.tf", func() *Report { return checkDir(t, filepath.Join(dir, "fail")) }, []string{want}},
			}
			if _, err := os.Stat(filepath.Join(dir, "pass.plan.json")); err == nil || id != RuleSuppression {
				cases = append(cases,
					tc{"pass.plan.json", func() *Report { return checkPlanFile(t, filepath.Join(dir, "pass.plan.json")) }, nil},
					tc{"fail.plan.json", func() *Report { return checkPlanFile(t, filepath.Join(dir, "fail.plan.json")) }, []string{want}})
			}
			for _, c := range cases {
				rep := c.rep()
				got := statuses(rep, id)
				if len(got) > 0 && c.want != nil {
					got = got[:1] // at least one
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("%s: %s findings (-want +got):\n%s\nall findings: %+v", c.name, id, diff, rep.Findings)
				}
				if c.want == nil {
					for _, f := range rep.Findings {
						if f.Rule == RuleUnknownType || f.Rule == RuleUnknownAttribute || f.Rule == RuleOutsideSchema || f.Rule == RuleSuppression {
							t.Errorf("%s: a compliant fixture must be valid: %s %s", c.name, f.Rule, f.Message)
						}
					}
				}
			}
		})
	}
	for id, ok := range seen {
		if !ok {
			t.Errorf("rule %s has no fixtures", id)
		}
	}
}

package rules

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// The benchmarks match Gatehouse event documents (docs/events.md: the
// CloudEvents attributes, detail-type, and detail with the flat fields and
// the SCIM user) of about 1 KB against rule sets of 10 to 10,000 distinct
// rules that name the same fields, as a real deployment's would.

var (
	benchSources = []string{"com.alibabacloud.idaas", "gatehouse", "com.example.hr"}
	benchTypes   = []string{
		"User.Created", "User.Updated", "User.Deleted", "User.Disabled", "User.Enabled",
		"Group.Created", "Group.Updated", "Group.Deleted", "Group.MemberAdded", "Group.MemberRemoved",
		"Organization.Created", "Organization.Updated", "Organization.Deleted",
	}
)

const (
	benchDepts   = 200
	benchDomains = 500
	benchGroups  = 300
)

// benchEvent builds the i-th event document.
func benchEvent(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	dept := r.IntN(benchDepts)
	domain := r.IntN(benchDomains)
	user := fmt.Sprintf("u%d.name%d", r.IntN(1000), i)
	email := fmt.Sprintf("%s@dom%d.example", user, domain)
	groups := []string{fmt.Sprintf("group-%d", r.IntN(benchGroups)), fmt.Sprintf("group-%d", r.IntN(benchGroups)), fmt.Sprintf("team%d-readers", r.IntN(benchGroups))}
	typ := benchTypes[r.IntN(5)] // mostly user events
	if r.IntN(4) == 0 {
		typ = benchTypes[r.IntN(len(benchTypes))]
	}
	id := fmt.Sprintf("01936f8e-%04x-7000-8000-%012x", i%65536, r.Uint64()&0xffffffffffff)
	manager := ""
	if r.IntN(2) == 0 {
		manager = fmt.Sprintf(`"manager": "m%d@dom%d.example", `, r.IntN(1000), domain)
	}
	ev := fmt.Sprintf(`{
  "specversion": "1.0",
  "id": %q,
  "source": %q,
  "type": %q,
  "subject": "users/%s",
  "time": "2026-11-23T08:00:%02d.123456Z",
  "datacontenttype": "application/json",
  "detail-type": %q,
  "detail": {
    "id": %q, "externalId": "E%d", "userName": %q,
    "displayName": "User %d Name", "active": %v, "email": %q,
    "givenName": "User", "familyName": "Name%d",
    "department": "Dept %d", "dept": "dept-%d",
    "organization": "Org%d", "organizationId": "o-%d", %s
    "employeeNumber": %d,
    "groups": [%q, %q, %q],
    "user": {
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
      "id": %q, "userName": %q, "active": %v,
      "name": {"givenName": "User", "familyName": "Name%d"},
      "emails": [{"value": %q, "type": "work", "primary": true}, {"value": "%s@home.example", "type": "home"}],
      "meta": {"resourceType": "User", "version": "W/\"%d\""}
    }
  }
}`, id, benchSources[r.IntN(len(benchSources))], typ, id, i%60, typ,
		id, i, email, i, r.IntN(8) != 0, email, i,
		dept, dept, r.IntN(1000), r.IntN(1000), manager,
		r.IntN(10000),
		groups[0], groups[1], groups[2],
		id, email, r.IntN(8) != 0, i, email, user, r.IntN(50))
	return []byte(ev)
}

// benchRule builds the i-th rule: ten families in turn, each with its own
// values, all on the same few fields.
func benchRule(i int) string {
	k := i / 10
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	src, typ := q(benchSources[k%len(benchSources)]), q(benchTypes[k%len(benchTypes)])
	switch i % 10 {
	case 0: // exact source, detail-type and department
		return fmt.Sprintf(`{"source": [%s], "detail-type": [%s], "detail": {"department": [%s]}}`, src, typ, q(fmt.Sprintf("Dept %d", k%(benchDepts*5))))
	case 1: // an e-mail domain on user events
		return fmt.Sprintf(`{"detail-type": ["User.Created", "User.Updated"], "detail": {"email": [{"suffix": %s}]}}`, q(fmt.Sprintf("@dom%d.example", k)))
	case 2: // a user name prefix
		return fmt.Sprintf(`{"source": [%s], "detail": {"userName": [{"prefix": %s}]}}`, src, q(fmt.Sprintf("u%d.", k)))
	case 3: // a display name, ignoring case
		return fmt.Sprintf(`{"detail-type": [%s], "detail": {"displayName": [{"equals-ignore-case": %s}]}}`, typ, q(fmt.Sprintf("user %d name", k)))
	case 4: // anything-but on detail-type for one organization
		return fmt.Sprintf(`{"source": [%s], "detail-type": [{"anything-but": [%s, "User.Deleted"]}], "detail": {"organization": [%s]}}`, src, typ, q(fmt.Sprintf("Org%d", k)))
	case 5: // a numeric range of employee numbers
		return fmt.Sprintf(`{"detail-type": [%s], "detail": {"employeeNumber": [{"numeric": [">=", %d, "<", %d]}]}}`, q(benchTypes[k%5]), k*100, k*100+100)
	case 6: // updates of users with a manager, per department
		return fmt.Sprintf(`{"detail-type": ["User.Updated"], "detail": {"manager": [{"exists": true}], "dept": [%s]}}`, q(fmt.Sprintf("dept-%d", k%(benchDepts*5))))
	case 7: // a wildcard on the e-mail
		return fmt.Sprintf(`{"detail": {"email": [{"wildcard": %s}]}}`, q(fmt.Sprintf("u%d.*@dom*.example", k)))
	case 8: // $or: a department or a group
		return fmt.Sprintf(`{"source": [%s], "$or": [{"detail": {"department": [%s]}}, {"detail": {"groups": [%s]}}]}`, src, q(fmt.Sprintf("Dept %d", k%(benchDepts*5))), q(fmt.Sprintf("group-%d", k)))
	default: // an array of objects: the work e-mail's domain
		return fmt.Sprintf(`{"detail": {"user": {"emails": {"type": ["work"], "value": [{"suffix": %s}]}}}}`, q(fmt.Sprintf("@dom%d.example", k)))
	}
}

func benchMatcher(tb testing.TB, n int) *Matcher {
	patterns := make(map[string]*Pattern, n)
	seen := map[string]bool{}
	for i := range n {
		src := benchRule(i)
		p, err := ParsePattern([]byte(src))
		if err != nil {
			tb.Fatalf("rule %d %s: %v", i, src, err)
		}
		if seen[p.String()] {
			tb.Fatalf("rule %d is not distinct: %s", i, src)
		}
		seen[p.String()] = true
		patterns[fmt.Sprintf("rule-%05d", i)] = p
	}
	m, err := Compile(patterns)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func benchEvents(n int) [][]byte {
	evs := make([][]byte, n)
	for i := range evs {
		evs[i] = benchEvent(i)
	}
	return evs
}

func BenchmarkMatch(b *testing.B) {
	events := benchEvents(256)
	size := 0
	for _, ev := range events {
		size += len(ev)
	}
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			m := benchMatcher(b, n)
			b.SetBytes(int64(size / len(events)))
			b.ReportAllocs()
			matches, i := 0, 0
			for b.Loop() {
				ids, err := m.Match(events[i%len(events)])
				if err != nil {
					b.Fatal(err)
				}
				matches += len(ids)
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(matches)/float64(i), "matches/event")
		})
	}
}

// TestBenchRulesMatch keeps the benchmark honest: its events match some of
// its rules, of every family, and the matcher agrees with the reference.
func TestBenchRulesMatch(t *testing.T) {
	const n = 1000
	m := benchMatcher(t, n)
	events := benchEvents(64)
	families := map[int]int{}
	for _, ev := range events {
		if len(ev) < 900 || len(ev) > 1400 {
			t.Errorf("event of %d bytes, want about 1 KB", len(ev))
		}
		ids, err := m.Match(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			var i int
			fmt.Sscanf(id, "rule-%d", &i)
			families[i%10]++
		}
		decoded := decodeUseNumber(t, ev)
		want := 0
		for i := range n {
			if refMatch(MustParsePattern(benchRule(i)), decoded) {
				want++
			}
		}
		if want != len(ids) {
			t.Errorf("event matches %d rules, the reference says %d", len(ids), want)
		}
	}
	for f := range 10 {
		if families[f] == 0 {
			t.Errorf("no event matches a rule of family %d (%s)", f, benchRule(f))
		}
	}
}

var benchTemplates = []struct {
	name string
	spec TransformSpec
}{
	{"welcome", TransformSpec{Kind: "template", Template: `{"to": "${detail.email}", "template": "welcome_new_hire"}`}},
	{"gitbook", TransformSpec{Kind: "template", Template: `{"userName": "{{email}}", "active": true, "groups": ["{{dept}}-readers"]}`}},
	{"resend", TransformSpec{Kind: "template", Template: `{"from": "onboarding@example.com", "to": ["{{email}}"], "subject": "Welcome"}`}},
	{"path", TransformSpec{Kind: "path", Path: "$.detail"}},
}

func BenchmarkTransform(b *testing.B) {
	events := benchEvents(64)
	for _, c := range benchTemplates {
		b.Run(c.name, func(b *testing.B) {
			tr, err := NewTransformer(c.spec)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := tr.Apply(events[i%len(events)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

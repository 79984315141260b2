package events

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/rules"
)

func TestSameSource(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"gatehouse", "gatehouse", true},
		{"GateHouse", "gatehouse", true},
		{" gatehouse\t", "gatehouse", true},
		{"gatehouse/", "gatehouse", true},
		{"https://gatehouse.example/", "https://GATEHOUSE.example", true},
		{"com%2Ealibabacloud.idaas", "com.alibabacloud.idaas", true},
		{"com%252Ealibabacloud.idaas", "com.alibabacloud.idaas", true},
		{"ｃｏｍ.alibabacloud.idaas", "com.alibabacloud.idaas", true},       // full-width
		{"com.alibaba\u200bcloud.idaas", "com.alibabacloud.idaas", true}, // zero-width space
		{"com.alibabacloud.idaas\u0000", "com.alibabacloud.idaas", true}, // control character
		{"com.alibabacloud.idaas.", "com.alibabacloud.idaas", true},      // the fully qualified name
		{"com.alibabacloud.idaas./", "com.alibabacloud.idaas", true},
		{"com.alibabacloud.idaas%2E", "com.alibabacloud.idaas", true},
		{"com。alibabacloud｡idaas", "com.alibabacloud.idaas", true},           // ideographic full stops
		{"com．alibabacloud.idaas", "com.alibabacloud.idaas", true},           // full-width full stop
		{"com.alibabacloud.idaas%CD%8F", "com.alibabacloud.idaas", true},     // U+034F, percent-encoded
		{"com.alibabacloud.idaas.callback", "com.alibabacloud.idaas", false}, // another source
		{"com.alibabacloud.idaas%", "com.alibabacloud.idaas", false},         // a visible "%"
		{"com.alibabacloud", "com.alibabacloud.idaas", false},                // a prefix
		{"urn:partner", "gatehouse", false},
		{"", "", false},  // no hub source: nothing is the hub's
		{"/", "", false}, // nor does a source of nothing but slashes match it
	}
	// Every invisible character (directory.Invisible), anywhere.
	for _, r := range invisibles {
		tests = append(tests, struct {
			a, b string
			want bool
		}{"com.alibabacloud.idaas" + string(r), "com.alibabacloud.idaas", true}, struct {
			a, b string
			want bool
		}{"com.alibaba" + string(r) + "cloud.idaas", "com.alibabacloud.idaas", true})
	}
	for _, tt := range tests {
		if got := SameSource(tt.a, tt.b); got != tt.want {
			t.Errorf("SameSource(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestRulesMatchOwnEventsOnly: a rule's pattern that does not name
// "received" — the rules file's, the admin API's, a push's implicit rule —
// matches Gatehouse's own events and not received ones, whatever their
// source and type; a rule that names "received" matches received events
// only as it says. ExplainRule agrees with the matcher.
func TestRulesMatchOwnEventsOnly(t *testing.T) {
	src := `
targets:
  hook:
    webhook: {url: "https://hooks.example.com/x", secrets: ["` + testSecret + `"]}
  ram:
    scim:
      base_url: https://scim.example.com
      token: t
      push: {}
rules:
  - name: seeds
    pattern: {"source": ["com.alibabacloud.idaas"], "detail-type": ["User.Created"]}
    targets: [{target: hook}]
  - name: everything
    pattern: {"detail-type": [{"prefix": ""}]}
    targets: [{target: hook}]
  - name: from-idaas-app
    pattern: {"received": {"app": ["idaas-callbacks"]}, "detail-type": ["User.Created"]}
    targets: [{target: hook}]
  - name: own-only
    pattern: {"received": {"app": [{"exists": false}]}, "detail-type": ["User.Created"]}
    targets: [{target: hook}]
  - name: any-received
    pattern: {"received": {"app": [{"exists": true}]}}
    targets: [{target: hook}]
`
	cfg, f, err := Parse("rules.yaml", []byte(src), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	own := `{"specversion": "1.0", "id": "1", "source": "com.alibabacloud.idaas", "type": "User.Created", "detail-type": "User.Created",
		"detail": {"userName": "ada@example.com", "orgPath": ["root"]}}`
	received := func(app, stored string) string {
		t.Helper()
		doc, err := receivedDocument(&directory.EventRecord{ID: "x", Source: "urn:partner", Data: json.RawMessage(stored),
			Actor: directory.Actor{Kind: "app", AppID: "id-" + app, AppName: app}})
		if err != nil {
			t.Fatal(err)
		}
		return string(doc)
	}
	lifecycle := `{"specversion": "1.0", "id": "x", "source": "com.alibabacloud.idaas", "type": "User.Created", "detail-type": "User.Created",
		"detail": {"userName": "backdoor@evil.example", "orgPath": ["root"]}}`
	// Stored before receipts were marked, with a forged mark of its own.
	forged := `{"specversion": "1.0", "id": "x", "source": "com.alibabacloud.idaas", "type": "User.Created", "detail-type": "User.Created",
		"received": {"appId": "x"}, "detail": {}}`
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"the hub's own", own, []string{"everything", "own-only", "push:ram", "seeds"}},
		{"received from another application", received("partner", lifecycle), []string{"any-received"}},
		{"received from the named application", received("idaas-callbacks", lifecycle), []string{"any-received", "from-idaas-app"}},
		{"received, a forged mark replaced", received("partner", forged), []string{"any-received"}},
		{"received, null document", received("idaas-callbacks", `null`), []string{"any-received"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cfg.Matcher.Match([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rules matched (-want +got):\n%s", diff)
			}
			for _, r := range f.Rules {
				src, _ := json.Marshal(jsonable(r.Pattern))
				match, why := ExplainRule(rules.MustParsePattern(string(src)), []byte(tt.doc))
				if match != slices.Contains(got, r.Name) {
					t.Errorf("rule %s: ExplainRule says %v (%s), the matcher %v", r.Name, match, why, got)
				}
				if r.Name == "seeds" && strings.HasPrefix(tt.name, "received") && !strings.Contains(why, "received on POST /events") {
					t.Errorf("rule %s: why %q does not say the event was received", r.Name, why)
				}
			}
		})
	}
	// The mark names the application from the record.
	var d map[string]any
	if err := json.Unmarshal([]byte(received("partner", forged)), &d); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"app": "partner", "appId": "id-partner"}, d[ReceivedField]); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}

// TestReceivedInOr: a rule cannot name received events in some $or
// alternatives only.
func TestReceivedInOr(t *testing.T) {
	src := `
targets:
  hook:
    webhook: {url: "https://hooks.example.com/x", secrets: ["` + testSecret + `"]}
rules:
  - name: mixed
    pattern: {"$or": [{"received": {"app": ["a"]}}, {"detail-type": ["User.Created"]}]}
    targets: [{target: hook}]
`
	want := []string{`line 7: rules[0].pattern: "received" may only be named at the top level of a pattern, not inside $or: write one rule for Gatehouse's own events and one for received events`}
	if diff := cmp.Diff(want, problemsOf(t, src, envOf(nil))); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

package events

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPatternWarnings: a rule whose pattern can match no event Gatehouse
// emits (an unknown detail-type, a source other than events.source) or
// receives (only the hub's own source) is accepted with a warning that
// names its line and field and suggests the right value; the rest pass in
// silence.
func TestPatternWarnings(t *testing.T) {
	const hub = "com.alibabacloud.idaas"
	types := "they are User.Created, User.Updated, User.Disabled, User.Enabled, User.Deleted, Group.Created, Group.Updated, Group.Deleted, " +
		"Group.MemberAdded, Group.MemberRemoved, Organization.Created, Organization.Updated, Organization.Deleted, User.LoggedIn, User.LoginFailed, User.Locked, User.Unlocked, User.LoggedOut, User.PasswordChanged, User.FactorAdded, User.FactorRemoved, User.RecoveryCodeUsed, User.SSORefused, Document.Indexed, Document.Removed"
	tests := []struct {
		name    string
		source  string // events.source
		pattern string
		want    []string
	}{
		{
			name:    "the ml-search scenario's rule",
			pattern: `{"source": ["com.aliyun.idaas"], "detail-type": ["SCIM.UserCreated"]}`,
			want: []string{
				`line 7: rules[0].pattern.source: matches none of Gatehouse's own events, whose source is "com.alibabacloud.idaas" (events.source): ` +
					`write "source": ["com.alibabacloud.idaas"], or set events.source to the source the rule expects (events from outside need "received" in the pattern)`,
				`line 7: rules[0].pattern.detail-type: matches no event type Gatehouse emits ("SCIM.UserCreated": did you mean "User.Created"?); ` + types,
			},
		},
		{
			name:    "the seeds' rule with the default events.source",
			source:  "gatehouse",
			pattern: `{"source": ["com.alibabacloud.idaas"], "detail-type": ["User.Created"]}`,
			want: []string{`line 7: rules[0].pattern.source: matches none of Gatehouse's own events, whose source is "gatehouse" (events.source): ` +
				`write "source": ["gatehouse"], or set events.source to the source the rule expects (events from outside need "received" in the pattern)`},
		},
		{
			name:    "an IDaaS callback's type",
			pattern: `{"detail-type": ["urn:alibaba:idaas:app:event:ud:user:create"]}`,
			want: []string{`line 7: rules[0].pattern.detail-type: matches no event type Gatehouse emits ` +
				`("urn:alibaba:idaas:app:event:ud:user:create": did you mean "User.Created"?); ` + types},
		},
		{
			name:    "lower case",
			pattern: `{"type": ["user.created"]}`,
			want:    []string{`line 7: rules[0].pattern.type: matches no event type Gatehouse emits ("user.created": did you mean "User.Created"?); ` + types},
		},
		{
			name:    "conditions that exclude each other",
			pattern: `{"type": ["User.Created"], "detail-type": ["User.Updated"]}`,
			want: []string{`line 7: rules[0].pattern: matches none of Gatehouse's own events (source "com.alibabacloud.idaas"; ` +
				strings.TrimPrefix(types, "they are ") + `): its conditions on source, type and detail-type exclude each other`},
		},
		{
			name:    "received events with the hub's own source",
			pattern: `{"received": {"app": ["idaas"]}, "source": ["com.alibabacloud.idaas"]}`,
			want: []string{`line 7: rules[0].pattern.source: received events never have Gatehouse's own source "com.alibabacloud.idaas" (events.source): ` +
				`POST /events refuses them, so this rule matches nothing`},
		},
		{name: "received events: their sources and types are the senders'", source: "gatehouse",
			pattern: `{"received": {"app": ["idaas"]}, "source": ["com.alibabacloud.idaas"], "detail-type": ["SCIM.UserCreated"]}`},
		{name: "a known type", pattern: `{"source": ["com.alibabacloud.idaas"], "detail-type": ["User.Created", "SCIM.UserCreated"]}`},
		{name: "operators", pattern: `{"source": [{"prefix": "com.alibabacloud"}], "detail-type": [{"prefix": "Group."}]}`},
		{name: "one alternative can match", pattern: `{"$or": [{"detail-type": ["Nope"]}, {"detail-type": ["User.Deleted"], "detail": {"a": ["b"]}}]}`},
		{name: "no condition on source or type", pattern: `{"detail": {"email": [{"suffix": "@example.com"}]}}`},
		{name: "anything but", pattern: `{"detail-type": [{"anything-but": ["User.Created"]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := `targets:
  hook:
    webhook: {url: "https://hooks.example.com", secrets: ["` + testSecret + `"]}
rules:
  - name: r
    targets: [{target: hook}]
    pattern: ` + tt.pattern + `
  - name: off
    disabled: true
    targets: [{target: hook}]
    pattern: {"detail-type": ["Nope"]}
`
			env := envOf(nil)
			env.Source = hub
			if tt.source != "" {
				env.Source = tt.source
			}
			cfg, _, err := Parse("rules.yaml", []byte(src), env)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if diff := cmp.Diff(tt.want, cfg.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAPIRuleWarnings: rules made through the admin API are checked too.
func TestAPIRuleWarnings(t *testing.T) {
	env := envOf(nil)
	env.Source = "gatehouse"
	f := &File{
		Targets: map[string]TargetSpec{"hook": {Webhook: &WebhookSpec{URL: "https://hooks.example.com", Secrets: []string{testSecret}}}},
		API:     []RuleSpec{{Name: "api", Pattern: map[string]any{"detail-type": []any{"UserCreated"}}, Targets: []RouteSpec{{Target: "hook"}}}},
	}
	c, problems := Build(f, env)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	want := []string{`api_rules.api.pattern.detail-type: matches no event type Gatehouse emits ("UserCreated": did you mean "User.Created"?); they are User.Created, User.Updated, User.Disabled, User.Enabled, User.Deleted, Group.Created, Group.Updated, Group.Deleted, Group.MemberAdded, Group.MemberRemoved, Organization.Created, Organization.Updated, Organization.Deleted, User.LoggedIn, User.LoginFailed, User.Locked, User.Unlocked, User.LoggedOut, User.PasswordChanged, User.FactorAdded, User.FactorRemoved, User.RecoveryCodeUsed, User.SSORefused, Document.Indexed, Document.Removed`}
	if diff := cmp.Diff(want, c.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

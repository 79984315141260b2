package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/targets"
)

// testSecret is Standard Webhooks' test-vector secret (24 bytes).
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func envOf(vars map[string]string) Env {
	return Env{Getenv: func(k string) string { return vars[k] }}
}

// problemsOf parses src and returns the problems it is refused with (nil
// when it is taken).
func problemsOf(t *testing.T, src string, env Env) []string {
	t.Helper()
	cfg, f, err := Parse("rules.yaml", []byte(src), env)
	if err == nil {
		if cfg == nil || f == nil {
			t.Fatalf("no error, but config %v, file %v", cfg, f)
		}
		return nil
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v, want a *ConfigError", err, err)
	}
	if cfg != nil || f != nil {
		t.Errorf("refused, but returned a config")
	}
	if ce.File != "rules.yaml" || !strings.HasPrefix(err.Error(), "invalid rules file rules.yaml:\n  - ") {
		t.Errorf("error text %q", err.Error())
	}
	return ce.Problems
}

var configTests = []struct {
	name string
	src  string
	env  map[string]string
	want []string // nil: the file is valid
}{
	{
		name: "valid",
		src: `
targets:
  hook:
    webhook: {url: https://hooks.example.com/x, secrets: ["` + testSecret + `"]}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`,
	},
	{
		name: "empty file",
		src:  "# nothing yet\n",
	},
	{
		name: "YAML syntax",
		src:  "targets:\n  hook: [1\n",
		want: []string{"line 1: not valid YAML at or after this line: did not find expected ',' or ']'"},
	},
	{
		// "Billion laughs": a billion x through nine levels of aliases.
		name: "an alias bomb",
		src:  aliasBomb(),
		want: []string{"document contains excessive aliasing"},
	},
	{
		name: "not a mapping",
		src:  "- name: a\n",
		want: []string{"line 1: want a mapping (of targets, rules), not a list"},
	},
	{
		// Blank lines and comments must not shift the lines reported, and
		// every unknown key is reported, with the other problems.
		name: "unknown keys everywhere, with the other problems",
		src: `# the rules

targets:

  hook:
    webhok: {url: https://x.example}
    policy: {jiter: 0.1}

  mail:
    smtp: {host: mail.example.com, from: a@example.com, tls_mode: none}
version: 2
rules:
  - name: a
    patern: {"source": ["x"]}
    targets: [{target: nope, payload: "x", extra: 1}]
`,
		want: []string{
			`line 6: targets.hook.webhok: unknown key "webhok" (did you mean "webhook"?); targets.hook takes webhook, resend, smtp, scim, eventbridge, policy`,
			`line 7: targets.hook.policy.jiter: unknown key "jiter" (did you mean "jitter"?); targets.hook.policy takes schedule, jitter, concurrency, rate, ordered, timeout, breaker_failures, breaker_cooldown`,
			`line 10: targets.mail.smtp.tls_mode: unknown key "tls_mode"; targets.mail.smtp takes host, port, tls, ca_file, username, password, from, helo, locale`,
			`line 11: version: unknown key "version"; the file takes targets, rules`,
			`line 13: rules[0].pattern: a rule needs a pattern, such as {"detail-type": ["User.Created"]}`,
			`line 14: rules[0].patern: unknown key "patern" (did you mean "pattern"?); rules[0] takes name, description, pattern, targets, disabled`,
			`line 15: rules[0].targets[0].extra: unknown key "extra"; rules[0].targets[0] takes target, payload, transform`,
			`line 15: rules[0].targets[0].target: no target named "nope"; the file defines hook, mail`,
		},
	},
	{
		name: "values of the wrong kind, without their values",
		src: `targets:
  hook:
    webhook: {url: [https://x.example], secrets: "` + testSecret + `"}
    policy: {concurrency: four, ordered: sometimes, jitter: {a: 1}}
rules: {name: a}
`,
		want: []string{
			"line 3: targets.hook.webhook.url: want text, not a list",
			"line 3: targets.hook.webhook.secrets: want a list, not a single value",
			"line 4: targets.hook.policy.concurrency: want a whole number",
			"line 4: targets.hook.policy.ordered: want true or false",
			"line 4: targets.hook.policy.jitter: want a number, not a mapping",
			"line 5: rules: want a list, not a mapping",
		},
	},
	{
		name: "a key given twice",
		src: `targets:
  hook:
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
  hook:
    webhook: {url: https://y.example, secrets: ["` + testSecret + `"]}
rules:
  - name: a
    pattern: {"source": ["x"], "source": ["y"]}
    targets: [{target: hook}]
`,
		want: []string{
			`line 4: targets.hook: "hook" is given twice (first on line 2)`,
			`line 8: rules[0].pattern.source: "source" is given twice (first on line 8)`,
		},
	},
	{
		name: "unknown and missing targets in routes",
		src: `targets:
  audit-hook:
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
rules:
  - name: a
    pattern: {"source": ["x"]}
    targets:
      - target: audit-hok
      - payload: {"a": 1}
  - name: b
    pattern: {"source": ["x"]}
    targets: []
`,
		want: []string{
			`line 8: rules[0].targets[0].target: no target named "audit-hok" (did you mean "audit-hook"?); the file defines audit-hook`,
			`line 9: rules[0].targets[1].target: a route needs a target: the name of one of the file's targets`,
			`line 12: rules[1].targets: a rule needs at least one target`,
		},
	},
	{
		name: "no targets at all",
		src: `rules:
  - name: a
    pattern: {"source": ["x"]}
    targets: [{target: hook}]
`,
		want: []string{`line 4: rules[0].targets[0].target: no target named "hook" (the file defines no targets)`},
	},
	{
		// The first "a" is disabled: its name is taken all the same.
		name: "duplicate and bad rule names",
		src: `targets:
  hook:
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
rules:
  - name: a
    disabled: true
    pattern: {"source": ["x"]}
    targets: [{target: hook}]
  - name: a
    pattern: {"source": ["y"]}
    targets: [{target: hook}]
  - name: "no spaces"
    pattern: {"source": ["y"]}
    targets: [{target: hook}]
  - pattern: {"source": ["y"]}
    targets: [{target: hook}]
`,
		want: []string{
			`line 9: rules[1].name: rule "a" is defined twice (first as rules[0], line 5); rule names are unique`,
			`line 12: rules[2].name: a rule needs a name of 1 to 64 letters, digits, '-', '_' or '.'`,
			`line 15: rules[3].name: a rule needs a name of 1 to 64 letters, digits, '-', '_' or '.'`,
		},
	},
	{
		// The line is the pattern field's own; the path goes inside the
		// pattern. A pattern written as JSON text counts its lines from
		// the text's first.
		name: "bad patterns",
		src: `targets:
  hook:
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
rules:
  - name: yaml-pattern
    pattern:
      source: ["x"]
      detail:
        email:
          - prefix: 1
    targets: [{target: hook}]
  - name: json-text
    pattern: |
      {"source": ["x"],
       "detail": {"n": [{"numeric": [">"]}]}}
    targets: [{target: hook}]
  - name: or
    pattern: {"$or": [{"a": ["1"]}, {"b": [{"wildcard": "x**"}]}]}
    targets: [{target: hook}]
  - name: "dotted"
    pattern: {"detail": {"a.b": "x"}}
    targets: [{target: hook}]
  - name: scalar
    pattern: "[1]"
    targets: [{target: hook}]
`,
		want: []string{
			`line 10: rules[0].pattern.detail.email[0].prefix: prefix takes a string or {"equals-ignore-case": string}, not a number`,
			`line 15: rules[1].pattern: at detail.n[0].numeric: numeric takes an array such as [">", 0, "<=", 5] or ["=", 3]; this one has 1 elements`,
			`line 18: rules[2].pattern.$or[1].b[0].wildcard: ` + patternMsg(`{"b": [{"wildcard": "x**"}]}`),
			`line 21: rules[3].pattern.detail["a.b"]: ` + patternMsg(`{"detail": {"a.b": "x"}}`),
			`line 24: rules[4].pattern: at (top level): a pattern must be a JSON object, not an array`,
		},
	},
	{
		name: "bad payloads and transforms",
		src: `targets:
  hook:
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
rules:
  - name: a
    pattern: {"source": ["x"]}
    targets:
      - {target: hook, payload: "${detail.email", transform: {path: $.detail}}
      - {target: hook, payload: "${detail.email"}
      - {target: hook, transform: {path: detail}}
      - {target: hook, transform: {path: $.detail, constant: 1}}
      - {target: hook, transform: {}}
      - {target: hook, transform: {path: $.detail, vars: {a: $.b}}}
      - {target: hook, transform: {template: "${a}", vars: {"a b": $.b}}}
`,
		want: []string{
			`line 8: rules[0].targets[0]: give payload or transform, not both`,
			`line 9: rules[0].targets[1].payload: ` + transformMsg("template", "${detail.email", nil),
			`line 10: rules[0].targets[2].transform.path: ` + transformMsg("path", "detail", nil),
			`line 11: rules[0].targets[3].transform: a transform is one of path, constant or template, not path and constant`,
			`line 12: rules[0].targets[4].transform: a transform is one of path, constant or template (with vars)`,
			`line 13: rules[0].targets[5].transform.vars: vars go with a template`,
			`line 14: rules[0].targets[6].transform.template: ` + transformMsg("template", "${a}", map[string]string{"a b": "$.b"}),
		},
	},
	{
		name: "kinds of target",
		src: `targets:
  two:
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
    smtp: {host: mail.example.com, from: a@example.com}
  none:
    policy: {ordered: true}
  "bad name!":
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
`,
		want: []string{
			`line 2: targets.two: a target has exactly one kind; this one has webhook and smtp`,
			`line 5: targets.none: a target needs a kind: webhook, resend, smtp, scim or eventbridge`,
			`line 7: targets["bad name!"]: a target name has 1 to 64 letters, digits, '-', '_' or '.'`,
		},
	},
	{
		name: "required settings of each kind",
		src: `targets:
  hook:
    webhook: {headers: {X-Team: a}}
  resend:
    resend: {locale: en}
  smtp:
    smtp: {port: 25}
  scim:
    scim: {profile: gitbook}
  scim-oauth:
    scim: {base_url: https://scim.example.com, client_id: abc}
  scim-both:
    scim: {base_url: https://scim.example.com, token: t, token_url: https://oauth.example.com/token, client_id: a, client_secret: b}
  eb:
    eventbridge: {source: gatehouse}
`,
		want: []string{
			`line 3: targets.hook.webhook.url: the webhook needs a url (http:// or https://)`,
			`line 3: targets.hook.webhook.secrets: the webhook needs secrets: one Standard Webhooks secret (whsec_…), or two while rotating`,
			`line 5: targets.resend.resend.api_key: Resend needs an api_key; keep it out of the file with "${env:RESEND_API_KEY}"`,
			`line 5: targets.resend.resend.from: Resend needs a from address, such as "Onboarding <onboarding@example.com>"`,
			`line 7: targets.smtp.smtp.host: SMTP needs a host`,
			`line 7: targets.smtp.smtp.from: SMTP needs a from address, such as "Onboarding <onboarding@example.com>"`,
			`line 9: targets.scim.scim.base_url: the SCIM target needs a base_url (http:// or https://)`,
			`line 9: targets.scim.scim: the SCIM target needs credentials: token, or token_url with client_id and client_secret`,
			`line 11: targets.scim-oauth.scim.token_url: client_id and client_secret need a token_url`,
			`line 11: targets.scim-oauth.scim.client_secret: token_url needs a client_secret`,
			`line 13: targets.scim-both.scim.token: give token, or token_url with client_id and client_secret, not both`,
			`line 15: targets.eb.eventbridge.endpoint: EventBridge needs an endpoint, https://<AccountID>.eventbridge.<region>.aliyuncs.com`,
			`line 15: targets.eb.eventbridge.access_key_id: EventBridge needs an access_key_id`,
			`line 15: targets.eb.eventbridge.access_key_secret: EventBridge needs an access_key_secret; keep it out of the file with "${env:NAME}"`,
			`line 15: targets.eb.eventbridge.event_bus: EventBridge needs an event_bus: the bus events are put on`,
		},
	},
	{
		name: "bad settings",
		src: `targets:
  hook:
    webhook:
      url: ftp://hooks.example.com/?token=s3cr3t
      secrets: [whsec_short, "` + testSecret + `", "` + testSecret + `"]
  creds:
    webhook: {url: "https://user:pw@hooks.example.com", secrets: ["` + testSecret + `"]}
  mail:
    smtp: {host: mail.example.com, from: a@example.com, tls: ssl, port: 70000, password: pw}
  scim:
    scim: {base_url: "scim.example.com", token: t, on_delete: remove, on_disable: suspend, managed_groups: "[", rate_limit: -1}
  resend:
    resend: {api_key: re_x, from: a@example.com, base_url: "api.resend.com", rate_limit: -2}
  svix:
    webhook: {url: "https://hooks.example.com", secrets: ["` + testSecret + `"], signature_headers: Svix}
`,
		want: []string{
			`line 4: targets.hook.webhook.url: want an absolute http:// or https:// URL`,
			`line 5: targets.hook.webhook.secrets: at most two secrets (the current one and the next, while rotating)`,
			`line 5: targets.hook.webhook.secrets[0]: not a Standard Webhooks secret: want whsec_ and the base64 of a 24- to 64-byte key`,
			`line 7: targets.creds.webhook.url: credentials in the URL are not allowed`,
			`line 9: targets.mail.smtp.port: want a port number from 1 to 65535`,
			`line 9: targets.mail.smtp.tls: want starttls, tls, starttls-optional, none, not "ssl"`,
			`line 9: targets.mail.smtp.username: a password needs a username`,
			`line 11: targets.scim.scim.base_url: want an absolute http:// or https:// URL`,
			`line 11: targets.scim.scim.on_delete: want delete, deactivate, not "remove"`,
			`line 11: targets.scim.scim.on_disable: want deactivate, delete, ignore, not "suspend"`,
			`line 11: targets.scim.scim.managed_groups: not a group name pattern (* and ? match, [a-z] a range): syntax error in pattern`,
			`line 11: targets.scim.scim.rate_limit: want requests per second, a positive number (leave it out for the default)`,
			`line 13: targets.resend.resend.base_url: want an absolute http:// or https:// URL`,
			`line 13: targets.resend.resend.rate_limit: want requests per second, a positive number (leave it out for the default)`,
			`line 15: targets.svix.webhook.signature_headers: want standard, svix, both, not "Svix"`,
		},
	},
	{
		name: "what the constructors refuse",
		src: `targets:
  mail:
    smtp: {host: mail.example.com, from: "not an address", tls: none, username: u}
  scim:
    scim: {base_url: https://scim.example.com, token: t, profile: okta}
  eb:
    eventbridge: {endpoint: "https://1.eventbridge.cn-hangzhou.aliyuncs.com/path", access_key_id: a, access_key_secret: b, event_bus: x}
`,
		want: []string{
			`line 3: targets.mail.smtp: smtp: TLS "none" with a Username: credentials are only sent over TLS; use "starttls" or "tls"`,
			`line 3: targets.mail.smtp: ` + smtpFromMsg(),
			`line 5: targets.scim.scim: scimclient: unknown profile "okta" (generic, ram, idaas, gitbook)`,
			`line 7: targets.eb.eventbridge: eventbridge: endpoint "https://1.eventbridge.cn-hangzhou.aliyuncs.com/path": want https://<AccountID>.eventbridge.<region>.aliyuncs.com`,
		},
	},
	{
		name: "bad policy values, all of them",
		src: `targets:
  hook:
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
    policy:
      schedule: [5s, soon, -1m, 0s]
      jitter: 1.5
      concurrency: 1000
      rate: -1
      timeout: 10m
      breaker_failures: -3
      breaker_cooldown: later
  nan:
    webhook: {url: https://x.example, secrets: ["` + testSecret + `"]}
    policy: {jitter: .nan, rate: .inf, timeout: 5}
`,
		want: []string{
			`line 5: targets.hook.policy.schedule[1]: want a positive duration, such as 5s, 5m or 2h`,
			`line 5: targets.hook.policy.schedule[2]: want a positive duration, such as 5s, 5m or 2h`,
			`line 5: targets.hook.policy.schedule[3]: want a positive duration, such as 5s, 5m or 2h`,
			`line 6: targets.hook.policy.jitter: want a number from 0 to 1 (each wait is multiplied by a random factor in 1 ± jitter)`,
			`line 7: targets.hook.policy.concurrency: want 1 to 256 attempts in flight at once`,
			`line 8: targets.hook.policy.rate: want attempts per second, a positive number (leave it out for no limit)`,
			`line 9: targets.hook.policy.timeout: want a duration up to 5m, such as 10s`,
			`line 10: targets.hook.policy.breaker_failures: want a positive whole number of consecutive failed attempts`,
			`line 11: targets.hook.policy.breaker_cooldown: want a positive duration, such as 30s`,
			`line 14: targets.nan.policy.jitter: want a number from 0 to 1 (each wait is multiplied by a random factor in 1 ± jitter)`,
			`line 14: targets.nan.policy.rate: want attempts per second, a positive number (leave it out for no limit)`,
			`line 14: targets.nan.policy.timeout: want a duration up to 5m, such as 10s`,
		},
	},
	{
		name: "environment variables",
		src: `targets:
  hook:
    webhook:
      url: "${env:HOOK_URL}"
      secrets: ["${env:HOOK_SECRET}", "${env:NEXT_SECRET}"]
      headers: {Authorization: "Bearer ${env:HOOK_TOKEN}"}
  mail:
    resend: {api_key: "${env:RESEND_API_KEY}", from: "${env:lower-case}"}
`,
		env: map[string]string{"HOOK_URL": "https://hooks.example.com/x", "HOOK_SECRET": testSecret},
		want: []string{
			`line 5: targets.hook.webhook.secrets[1]: the environment variable NEXT_SECRET is not set`,
			`line 6: targets.hook.webhook.headers.Authorization: the environment variable HOOK_TOKEN is not set`,
			`line 8: targets.mail.resend.api_key: the environment variable RESEND_API_KEY is not set`,
			`line 8: targets.mail.resend.from: a ${env:NAME} reference needs a NAME of letters, digits and '_' and a closing '}'`,
		},
	},
	{
		// The values come from the environment; a message about them
		// must not print them.
		name: "bad values from the environment are not printed",
		src: `targets:
  hook:
    webhook: {url: "${env:HOOK_URL}", secrets: ["${env:HOOK_SECRET}"]}
  eb:
    eventbridge: {endpoint: "${env:EB_ENDPOINT}", access_key_id: "${env:EB_ID}", access_key_secret: "${env:EB_SECRET}", event_bus: "  "}
`,
		env: map[string]string{"HOOK_URL": "gopher://s3cr3t-url", "HOOK_SECRET": "whsec_s3cr3t", "EB_ENDPOINT": "https://1.eventbridge.cn-hangzhou.aliyuncs.com",
			"EB_ID": "LTAIs3cr3t", "EB_SECRET": "s3cr3t-key"},
		want: []string{
			`line 3: targets.hook.webhook.url: want an absolute http:// or https:// URL`,
			`line 3: targets.hook.webhook.secrets[0]: not a Standard Webhooks secret: want whsec_ and the base64 of a 24- to 64-byte key`,
			`line 5: targets.eb.eventbridge.event_bus: EventBridge needs an event_bus: the bus events are put on`,
		},
	},
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("targets:\n  x:\n    webhook: {url: https://x.example, secrets: [\"" + testSecret + "\"]}\n")
	b.WriteString("rules:\n  - name: r\n    targets: [{target: x}]\n    pattern:\n      a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "      a%d: &a%d [%s]\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	return b.String()
}

// The messages of other packages' parsers, as they are: these tests
// check where the loader puts them, not their words.

func patternMsg(src string) string {
	_, err := rules.ParsePattern([]byte(src))
	var pe *rules.PatternError
	if !errors.As(err, &pe) {
		return "(pattern accepted: " + src + ")"
	}
	return pe.Msg
}

func transformMsg(kind, src string, vars map[string]string) string {
	spec := rules.TransformSpec{Kind: kind, Path: src}
	if kind == "template" {
		spec = rules.TransformSpec{Kind: kind, Template: src, Vars: vars}
	}
	if _, err := rules.NewTransformer(spec); err != nil {
		return err.Error()
	}
	return "(transform accepted)"
}

func smtpFromMsg() string {
	_, err := targets.NewSMTP(targets.SMTPConfig{Host: "mail.example.com", From: "not an address"})
	if err == nil {
		return "(from accepted)"
	}
	return err.Error()
}

func TestParseProblems(t *testing.T) {
	for _, tt := range configTests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src, envOf(tt.env))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			for _, p := range got {
				if strings.Contains(p, "s3cr3t") {
					t.Errorf("problem %q prints a secret value", p)
				}
			}
		})
	}
}

// TestParseConfig: a valid file becomes targets with their policies and
// routes; ${env:NAME} is replaced by the variable's value.
func TestParseConfig(t *testing.T) {
	var got []string // requests the webhook received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := targets.VerifyWebhook(testSecret, r.Header, mustRead(r.Body), time.Minute, time.Now()); err != nil {
			t.Errorf("webhook: %v", err)
		}
		got = append(got, r.URL.Path+" "+r.Header.Get("Authorization")+" svix-id="+r.Header.Get("svix-id"))
	}))
	defer srv.Close()
	src := `targets:
  hook:
    webhook:
      url: "${env:HOOK_URL}/in"
      secrets: ["${env:HOOK_SECRET}"]
      headers: {Authorization: "Bearer ${env:HOOK_TOKEN}"}
      signature_headers: both
    policy: {schedule: [1s, 1m], jitter: 0, concurrency: 2, rate: 5, ordered: true, timeout: 3s, breaker_failures: 4, breaker_cooldown: 1m}
  mail:
    resend: {api_key: "${env:RESEND_API_KEY}", from: "Onboarding <onboarding@example.com>"}
  smtp:
    smtp: {host: mail.example.com, from: "a@example.com", username: u, password: "${env:SMTP_PASSWORD}"}
  scim:
    scim: {base_url: https://scim.example.com/scim/v2, token_url: https://oauth.example.com/token, client_id: c, client_secret: "${env:CS}", profile: ram, on_disable: delete, managed_groups: "*-readers"}
  eb:
    eventbridge: {endpoint: https://1.eventbridge.cn-hangzhou.aliyuncs.com, access_key_id: id, access_key_secret: "${env:EB}", event_bus: gatehouse}
defaults: &base
  name: base
rules:
  - name: welcome
    description: greet new hires
    pattern: {"detail-type": ["User.Created"]}
    targets:
      - {target: mail, payload: {"to": "${detail.email}", "template": "welcome_new_hire"}}
      - {target: hook}
  - name: off
    disabled: true
    pattern: '{"source": ["x"]}'
    targets: [{target: smtp, transform: {template: "${who}", vars: {who: $.detail.email}}}]
  - name: all
    pattern: {"source": [{"prefix": ""}]}
    targets: [{target: scim, transform: {path: $.detail}}, {target: eb, transform: {constant: {"a": 1}}}]
`
	env := envOf(map[string]string{"HOOK_URL": srv.URL, "HOOK_SECRET": testSecret, "HOOK_TOKEN": "tok", "RESEND_API_KEY": "re_x",
		"SMTP_PASSWORD": "pw", "CS": "secret", "EB": "secret"})
	env.Egress = egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	// "defaults" is not a key of the file.
	if probs := problemsOf(t, src, env); len(probs) != 1 || !strings.Contains(probs[0], `unknown key "defaults"`) {
		t.Fatalf("problems %q", probs)
	}
	src = strings.Replace(src, "defaults: &base\n  name: base\n", "", 1)
	cfg, f, err := Parse("rules.yaml", []byte(src), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Rules) != 3 || f.Rules[0].Description != "greet new hires" || f.Targets["hook"].Webhook.URL != "${env:HOOK_URL}/in" {
		t.Errorf("file as written: %+v", f)
	}
	kinds := map[string]string{}
	for name, tg := range cfg.Targets {
		kinds[name] = tg.Sender.Kind()
	}
	if diff := cmp.Diff(map[string]string{"hook": "webhook", "mail": "resend", "smtp": "smtp", "scim": "scim", "eb": "eventbridge"}, kinds); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	wantPolicy := Policy{Schedule: []time.Duration{time.Second, time.Minute}, Jitter: 0, Concurrency: 2, Rate: 5, Ordered: true,
		Timeout: 3 * time.Second, BreakerFailures: 4, BreakerCooldown: time.Minute}
	if diff := cmp.Diff(wantPolicy, cfg.Targets["hook"].Policy); diff != "" {
		t.Errorf("hook policy (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DefaultPolicy(), cfg.Targets["mail"].Policy); diff != "" {
		t.Errorf("default policy (-want +got):\n%s", diff)
	}
	routes := map[string][]string{}
	for rule, rs := range cfg.Routes {
		for _, r := range rs {
			routes[rule] = append(routes[rule], r.Target)
		}
	}
	if diff := cmp.Diff(map[string][]string{"welcome": {"mail", "hook"}, "all": {"scim", "eb"}}, routes); diff != "" {
		t.Errorf("routes (-want +got), the disabled rule left out:\n%s", diff)
	}
	if cfg.Routes["welcome"][1].Transform != nil {
		t.Errorf("a route without payload sends the whole event")
	}
	matched, err := cfg.Matcher.Match([]byte(`{"source": "gatehouse", "detail-type": "User.Created"}`))
	if err != nil || !cmp.Equal([]string{"all", "welcome"}, slices.Sorted(slices.Values(matched))) {
		t.Errorf("matched %v %v", matched, err)
	}
	// The webhook got its URL, secret and header from the environment.
	r := cfg.Targets["hook"].Sender.Send(context.Background(), &Delivery{ID: "d1", EventID: "msg_1", EventType: "User.Created",
		Payload: json.RawMessage(`{"a":1}`), Attempts: 1})
	if r.Outcome != OutcomeDelivered {
		t.Fatalf("send: %+v", r)
	}
	if diff := cmp.Diff([]string{"/in Bearer tok svix-id=msg_1"}, got); diff != "" {
		t.Errorf("webhook requests (-want +got):\n%s", diff)
	}
}

func mustRead(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}

// TestBuildWithoutSource: Build checks a file given as a value, without
// lines.
func TestBuildWithoutSource(t *testing.T) {
	f := &File{
		Targets: map[string]TargetSpec{"hook": {Webhook: &WebhookSpec{URL: "https://x.example"}}},
		Rules:   []RuleSpec{{Name: "a", Pattern: map[string]any{"source": []any{"x"}}, Targets: []RouteSpec{{Target: "hook"}, {Target: "nope"}}}},
	}
	cfg, got := Build(f, Env{})
	want := []string{
		"targets.hook.webhook.secrets: the webhook needs secrets: one Standard Webhooks secret (whsec_…), or two while rotating",
		`rules[0].targets[1].target: no target named "nope"; the file defines hook`,
	}
	if diff := cmp.Diff(want, got); diff != "" || cfg != nil {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	f.Targets["hook"].Webhook.Secrets = []string{testSecret}
	f.Rules[0].Targets = f.Rules[0].Targets[:1]
	if cfg, got := Build(f, Env{}); len(got) != 0 || cfg.Targets["hook"] == nil || len(cfg.Routes["a"]) != 1 {
		t.Errorf("valid file: %v %+v", got, cfg)
	}
}

func TestSplitPatternPath(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want fieldPath
	}{
		{"", nil},
		{"source", fieldPath{"source"}},
		{"detail.email[0].prefix", fieldPath{"detail", "email", 0, "prefix"}},
		{`$or[1].b`, fieldPath{"$or", 1, "b"}},
		{`detail["a.b"][2]`, fieldPath{"detail", "a.b", 2}},
		{`detail["q\"]"].x`, fieldPath{"detail", `q"]`, "x"}},
	} {
		if diff := cmp.Diff(tt.want, splitPatternPath(tt.in)); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.in, diff)
		}
		if tt.want != nil {
			if got := splitPatternPath(tt.want.String()); !cmp.Equal(tt.want, got) {
				t.Errorf("%v: String %q reads back as %v", tt.want, tt.want.String(), got)
			}
		}
	}
}

// FuzzParse: the loader never panics; it takes a file or refuses it with
// at least one problem, none of which prints a variable's value.
func FuzzParse(f *testing.F) {
	for _, tt := range configTests {
		f.Add(tt.src)
	}
	env := envOf(map[string]string{"HOOK_URL": "https://hooks.example.com/x", "HOOK_SECRET": testSecret, "S": "zz-s3cr3t-zz"})
	f.Fuzz(func(t *testing.T, src string) {
		cfg, file, err := Parse("f.yaml", []byte(src), env)
		if err == nil {
			if cfg == nil || file == nil || cfg.Routes == nil || cfg.Targets == nil {
				t.Fatalf("taken, but config %+v", cfg)
			}
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("refused without problems: %v", err)
		}
		for _, p := range ce.Problems {
			if strings.Contains(p, "zz-s3cr3t-zz") {
				t.Fatalf("problem prints a variable's value: %q", p)
			}
		}
	})
}

// TestWithoutSecrets: built for what delivers nothing, a file whose
// variables are unset is taken: its targets are listed (kind, policy, push
// scope) but refuse to deliver, saying which variables are missing. Other
// problems are still problems; with every variable set, nothing is
// missing.
func TestWithoutSecrets(t *testing.T) {
	src := `targets:
  hook:
    webhook: {url: "${env:HOOK_URL}/in", secrets: ["${env:HOOK_SECRET}"], headers: {Authorization: "Bearer ${env:HOOK_TOKEN}"}}
  mail:
    resend: {api_key: "${env:RESEND_API_KEY}", from: "Onboarding <onboarding@example.com>"}
  smtp:
    smtp: {host: mail.example.com, from: "a@example.com", username: "${env:SMTP_USER}", password: "${env:SMTP_PASSWORD}"}
  eb:
    eventbridge: {endpoint: https://1.eventbridge.cn-hangzhou.aliyuncs.com, access_key_id: id, access_key_secret: "${env:EB}", event_bus: gatehouse}
  ram:
    scim:
      base_url: https://ram.example.com/scim/v2
      token_url: https://ram.example.com/v1/token
      client_id: c
      client_secret: "${env:CS}"
      profile: ram
      push: {organizations: [Engineering]}
    policy: {concurrency: 3}
  plain:
    webhook: {url: "https://hooks.example.com/in", secrets: ["` + testSecret + `"]}
rules:
  - name: welcome
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: mail}, {target: hook}, {target: plain}]
`
	offline := Env{Getenv: func(string) string { return "" }, WithoutSecrets: true}
	cfg, _, err := Parse("rules.yaml", []byte(src), offline)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, tg := range cfg.Targets {
		why := ""
		if err := tg.Unavailable(); err != nil {
			why = err.Error()
			if r := tg.Sender.Send(context.Background(), &Delivery{ID: "d1"}); r.Outcome != OutcomeRetry || r.Err == nil || r.Err.Error() != why {
				t.Errorf("%s: Send = %+v, want a retry saying %q", name, r, why)
			}
		}
		got[name] = tg.Sender.Kind() + ": " + why
	}
	want := map[string]string{
		"hook":  "webhook: the environment variables HOOK_URL, HOOK_SECRET, HOOK_TOKEN are not set",
		"mail":  "resend: the environment variable RESEND_API_KEY is not set",
		"smtp":  "smtp: the environment variables SMTP_USER, SMTP_PASSWORD are not set",
		"eb":    "eventbridge: the environment variable EB is not set",
		"ram":   "scim: the environment variable CS is not set",
		"plain": "webhook: ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	ram := cfg.Targets["ram"]
	if ram.Push == nil || !cmp.Equal(ram.Push.Spec.Organizations, []string{"Engineering"}) || ram.Policy.Concurrency != 3 {
		t.Errorf("ram: push %+v, policy %+v", ram.Push, ram.Policy)
	}
	if len(cfg.Routes["welcome"]) != 3 {
		t.Errorf("routes: %+v", cfg.Routes)
	}

	// Other problems are still reported, and only they.
	bad := strings.Replace(src, `from: "Onboarding <onboarding@example.com>"`, `from: ""`, 1)
	if diff := cmp.Diff([]string{`line 5: targets.mail.resend.from: Resend needs a from address, such as "Onboarding <onboarding@example.com>"`},
		problemsOf(t, bad, offline)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	// Without WithoutSecrets, the variables are required.
	strict := problemsOf(t, src, Env{Getenv: func(string) string { return "" }})
	for _, p := range strict {
		if !strings.HasSuffix(p, " is not set") {
			t.Errorf("problem %q", p)
		}
	}
	if len(strict) != 8 {
		t.Errorf("%d problems, want one per unset variable (8): %q", len(strict), strict)
	}
	// All set: nothing is missing.
	all := Env{Getenv: func(k string) string {
		switch k {
		case "HOOK_URL":
			return "https://hooks.example.com"
		case "HOOK_SECRET":
			return testSecret
		}
		return "v"
	}, WithoutSecrets: true}
	cfg, _, err = Parse("rules.yaml", []byte(src), all)
	if err != nil {
		t.Fatal(err)
	}
	for name, tg := range cfg.Targets {
		if tg.Unavailable() != nil || (name == "ram" && tg.Push.Client == nil) {
			t.Errorf("%s: %v, push %+v", name, tg.Unavailable(), tg.Push)
		}
	}
}

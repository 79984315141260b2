package events

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRedactTargets: what a server records of its targets keeps their
// kinds, endpoints, policies and push scopes, and none of their secrets;
// the targets in force are not touched.
func TestRedactTargets(t *testing.T) {
	yes := true
	in := map[string]TargetSpec{
		"hook": {Webhook: &WebhookSpec{URL: "https://hooks.example.com/x?token=abc", Secrets: []string{"whsec_a", "${env:NEXT}"},
			Headers: map[string]string{"Authorization": "Bearer abc"}}, Policy: PolicySpec{Concurrency: 4}},
		"mail": {Resend: &ResendSpec{BaseURL: "https://api.resend.com/?key=re_in_url", APIKey: "re_123", From: "Onboarding <hello@example.com>"}},
		"smtp": {SMTP: &SMTPSpec{Host: "mail.example.com", Port: 587, Username: "bot", Password: "hunter2", From: "hello@example.com"}},
		"open": {SMTP: &SMTPSpec{Host: "mail.example.com", From: "hello@example.com"}},
		"ram": {SCIM: &SCIMSpec{BaseURL: "https://scim.aliyun.com", TokenURL: "https://oauth.aliyun.com/v1/token?client_secret=cs_in_url&a=%7B&a", ClientID: "123",
			ClientSecret: "${env:RAM_SECRET}", CreateGroups: &yes, Push: &PushSpec{Groups: []string{"eng"}}}},
		"gitbook": {SCIM: &SCIMSpec{BaseURL: "https://api.gitbook.com/scim?access_token=at_in_url&aadOptscim062020#frag", Token: "gb_abc"}},
		"bus": {EventBridge: &EventBridgeSpec{Endpoint: "https://1.eventbridge.cn-hangzhou.aliyuncs.com?sig=${env:SIG}", AccessKeyID: "LTAI",
			AccessKeySecret: "s3cret", SecurityToken: "sts", EventBus: "default"}},
	}
	before := cmp.Diff(map[string]TargetSpec{}, in)
	want := map[string]TargetSpec{
		"hook": {Webhook: &WebhookSpec{URL: NotRecorded, Secrets: []string{NotRecorded, NotRecorded},
			Headers: map[string]string{"Authorization": NotRecorded}}, Policy: PolicySpec{Concurrency: 4}},
		"mail": {Resend: &ResendSpec{BaseURL: "https://api.resend.com/?key=" + NotRecorded, APIKey: NotRecorded, From: "Onboarding <hello@example.com>"}},
		"smtp": {SMTP: &SMTPSpec{Host: "mail.example.com", Port: 587, Username: "bot", Password: NotRecorded, From: "hello@example.com"}},
		"open": {SMTP: &SMTPSpec{Host: "mail.example.com", From: "hello@example.com"}},
		"ram": {SCIM: &SCIMSpec{BaseURL: "https://scim.aliyun.com", TokenURL: "https://oauth.aliyun.com/v1/token?client_secret=" + NotRecorded + "&a=" + NotRecorded + "&" + NotRecorded,
			ClientID: "123", ClientSecret: NotRecorded, CreateGroups: &yes, Push: &PushSpec{Groups: []string{"eng"}}}},
		"gitbook": {SCIM: &SCIMSpec{BaseURL: "https://api.gitbook.com/scim?access_token=" + NotRecorded + "&" + NotRecorded + "#" + NotRecorded, Token: NotRecorded}},
		"bus": {EventBridge: &EventBridgeSpec{Endpoint: "https://1.eventbridge.cn-hangzhou.aliyuncs.com?sig=" + NotRecorded, AccessKeyID: NotRecorded,
			AccessKeySecret: NotRecorded, SecurityToken: NotRecorded, EventBus: "default"}},
	}
	if diff := cmp.Diff(want, RedactTargets(in)); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
	if after := cmp.Diff(map[string]TargetSpec{}, in); after != before {
		t.Error("RedactTargets changed the targets in force")
	}

	// Built to be shown, each keeps its kind and cannot deliver.
	cfg, problems := Build(&File{Targets: want}, Env{Getenv: func(string) string { return "" }, WithoutSecrets: true, Describe: true})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	kinds := map[string]string{}
	for name, tg := range cfg.Targets {
		kinds[name] = tg.Sender.Kind()
		if res := tg.Sender.Send(t.Context(), &Delivery{}); res.Err == nil || res.Outcome != OutcomeRetry {
			t.Errorf("%s delivers when described: %+v", name, res)
		}
	}
	wantKinds := map[string]string{"hook": "webhook", "mail": "resend", "smtp": "smtp", "open": "smtp", "ram": "scim", "gitbook": "scim", "bus": "eventbridge"}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	if cfg.Targets["ram"].Push == nil {
		t.Error("the push scope is not shown")
	}
}

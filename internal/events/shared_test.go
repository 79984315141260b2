package events

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/targets"
	"github.com/gatehouse-id/gatehouse/internal/targets/fake"
)

// TestResendTargetsShareTheirKey: the rules file's Resend targets that use
// one API key share it: a used-up quota answered to one pauses the other,
// in this configuration and in the next (a reload), not a target with
// another key.
func TestResendTargetsShareTheirKey(t *testing.T) {
	f := fake.NewResend("re_shared_1")
	f.DailyQuota = 1
	srv := httptest.NewServer(f)
	defer srv.Close()
	env := Env{Getenv: func(string) string { return "" }, Resend: targets.NewResendAccounts(),
		Egress: egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	file := &File{Targets: map[string]TargetSpec{
		"welcome": {Resend: &ResendSpec{BaseURL: srv.URL, APIKey: "re_shared_1", From: "hr@acme.example"}},
		"notice":  {Resend: &ResendSpec{BaseURL: srv.URL, APIKey: "re_shared_1", From: "it@acme.example", RateLimit: 2}},
		"other":   {Resend: &ResendSpec{BaseURL: srv.URL, APIKey: "re_other_2", From: "it@acme.example"}},
	}}
	build := func() *Config {
		t.Helper()
		cfg, problems := Build(file, env)
		if len(problems) > 0 {
			t.Fatalf("problems: %q", problems)
		}
		return cfg
	}
	cfg := build()
	send := func(target, id string) Result {
		doc := `{"id":"` + id + `","type":"User.Created","detail":{"email":"ada@example.com"}}`
		return cfg.Targets[target].Sender.Send(context.Background(), &Delivery{ID: "d-" + id, EventID: id, EventType: "User.Created",
			Subject: "users/1", EventTime: time.Now(), Payload: json.RawMessage(`{"to":"ada@example.com","template":"welcome_new_hire"}`),
			Event: json.RawMessage(doc), Attempts: 1})
	}
	if r := send("welcome", "e1"); r.Outcome != OutcomeDelivered {
		t.Fatalf("first email: %+v", r)
	}
	if r := send("welcome", "e2"); r.Status != 429 {
		t.Fatalf("over the quota: %+v", r)
	}
	paused := func(target string) bool {
		until, _ := cfg.Targets[target].Sender.(Pauser).PausedUntil()
		return until.After(time.Now())
	}
	for target, want := range map[string]bool{"welcome": true, "notice": true, "other": false} {
		if got := paused(target); got != want {
			t.Errorf("%s paused: %v, want %v", target, got, want)
		}
	}
	n := f.Requests()
	if r := send("notice", "e3"); r.Outcome != OutcomeRetry || f.Requests() != n {
		t.Errorf("the other target of the key: %+v after %d requests, want Retry without a request", r, f.Requests()-n)
	}
	// A reload builds new targets; the key's pause stays.
	cfg = build()
	if !paused("welcome") || !paused("notice") || paused("other") {
		t.Errorf("after a reload: welcome %v, notice %v, other %v", paused("welcome"), paused("notice"), paused("other"))
	}
}

// TestCompanySetting: events.company (Env.Company) is the company the
// welcome email names, whatever organization the person is placed in.
func TestCompanySetting(t *testing.T) {
	f := fake.NewResend("re_company_1")
	srv := httptest.NewServer(f)
	defer srv.Close()
	env := Env{Getenv: func(string) string { return "" }, Company: "Acme Corp",
		Egress: egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	cfg, problems := Build(&File{Targets: map[string]TargetSpec{
		"welcome": {Resend: &ResendSpec{BaseURL: srv.URL, APIKey: "re_company_1", From: "hr@acme.example"}},
	}}, env)
	if len(problems) > 0 {
		t.Fatalf("problems: %q", problems)
	}
	doc := `{"id":"e1","type":"User.Created","detail":{"givenName":"Ada","displayName":"Ada Lovelace","organization":"Engineering","orgPathNames":["Root","Engineering"]}}`
	r := cfg.Targets["welcome"].Sender.Send(context.Background(), &Delivery{ID: "d-e1", EventID: "e1", EventType: "User.Created", Subject: "users/1",
		EventTime: time.Now(), Payload: json.RawMessage(`{"to":"ada@example.com","template":"welcome_new_hire"}`), Event: json.RawMessage(doc), Attempts: 1})
	if r.Outcome != OutcomeDelivered {
		t.Fatalf("send: %+v", r)
	}
	if e := f.Emails()[0]; e.Subject != "Welcome to Acme Corp, Ada Lovelace" || !strings.HasPrefix(e.Text, "Hi Ada,\n\nWelcome to Acme Corp!") {
		t.Errorf("subject %q, text %q", e.Subject, e.Text)
	}
}

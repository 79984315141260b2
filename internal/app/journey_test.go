package app_test

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/admin"
)

// TestJourney: a user created and updated over SCIM, with a rule whose
// webhook always fails, a welcome email through a real SMTP server and a
// downstream SCIM service (another Gatehouse): the journey, through the
// admin API, holds the origin application, the changes, the events, each
// delivery with its rule and why it matched, the attempts with their
// statuses, the downstream account's id and the email's recipient; then,
// the user deleted, it is still found by id and by userName.
func TestJourney(t *testing.T) {
	mb := newMailbox(t)
	h := newHook(t)
	h.status = func(int) int { return 500 }
	downstream := start(t, nil)
	host, port, _ := net.SplitHostPort(mb.addr)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
    policy: {schedule: [20ms]}
  welcome-email:
    smtp: {host: %q, port: %s, tls: none, from: "Onboarding <onboarding@example.com>"}
  gitbook:
    scim: {base_url: %q, token: %q}
    policy: {ordered: true}
rules:
  - name: new-hires
    pattern: {"detail-type": ["User.Created"], "detail": {"email": [{"suffix": "@example.com"}]}}
    targets:
      - target: hook
      - target: welcome-email
        payload: {"to": "${detail.email}", "template": "welcome_new_hire"}
  - name: accounts
    pattern: {"detail-type": ["User.Created", "User.Updated"]}
    targets:
      - target: gitbook
        payload: {"userName": "{{email}}", "displayName": "${detail.displayName:-}", "active": true}
`, h.srv.URL, h.secret, host, port, downstream.url+"/scim/v2", downstream.token), nil)

	u := createUser(t, r, `{"userName":"ada@example.com","externalId":"E-ADA","emails":[{"value":"ada@example.com","type":"work"}]}`)
	id := u["id"].(string)
	res := call(t, "PATCH", r.url+"/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"displayName","value":"Ada Lovelace"}]}`, append(bearer(r.token), "Content-Type", "application/scim+json")...)
	if res.status != 200 {
		t.Fatalf("patch: %d %s", res.status, res.raw)
	}

	journey := func(ref string) *admin.Journey {
		t.Helper()
		res := adminCall(t, r, "GET", "/users/"+ref+"/journey", "")
		if res.status != 200 {
			t.Fatalf("journey of %s: %d %s", ref, res.status, res.raw)
		}
		var j admin.Journey
		if err := json.Unmarshal(res.raw, &j); err != nil {
			t.Fatalf("journey: %v\n%s", err, res.raw)
		}
		return &j
	}
	// Until every delivery is finished: the webhook's dead after two
	// attempts, the others delivered.
	var j *admin.Journey
	waitFor(t, "every delivery finished", func() bool {
		j = journey(id)
		n := 0
		for _, s := range j.Steps {
			if s.Event == nil {
				continue
			}
			for _, d := range s.Event.Deliveries {
				if d.State != "delivered" && d.State != "dead" {
					return false
				}
				n++
			}
		}
		return n == 4
	})

	og := j.Origin
	if og == nil || og.Action != "user.create" || og.Actor.Kind != "app" || og.Actor.AppName != "e2e" ||
		og.Via != "application e2e (scim-client)" || og.From != "audit" || og.Pruned {
		t.Fatalf("origin: %+v", og)
	}
	// The externalId is the one the application that set it knows her by.
	extIDs := []admin.JourneyExternalID{{Domain: og.Actor.AppID, Application: "e2e", Value: "E-ADA"}}
	if diff := cmp.Diff(admin.JourneyUser{ID: id, UserName: "ada@example.com", DisplayName: "Ada Lovelace", ExternalIDs: extIDs, OrgID: "root", State: "active"}, j.User); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}

	// The steps, in order.
	type step struct {
		Kind, What string
		Changed    []string
	}
	var steps []step
	for _, s := range j.Steps {
		switch {
		case s.Audit != nil:
			steps = append(steps, step{s.Kind, s.Audit.Action, s.Audit.Changed})
		case s.Event != nil:
			steps = append(steps, step{s.Kind, s.Event.Type, s.Event.Changed})
		}
	}
	wantSteps := []step{
		{"audit", "user.create", nil},
		{"event", "User.Created", nil},
		{"audit", "user.update", []string{"displayName"}},
		{"event", "User.Updated", []string{"displayName"}},
	}
	if diff := cmp.Diff(wantSteps, steps); diff != "" {
		t.Fatalf("steps (-want +got):\n%s", diff)
	}

	// The deliveries: rule, why, target, state, attempts.
	type attempt struct {
		Outcome string
		Status  int
	}
	type delivery struct {
		Rule, Target, Kind, State string
		Origin                    string
		Matches                   bool
		Attempts                  []attempt
		Downstream                bool
		To                        []string
	}
	deliveries := func(e *admin.JourneyEvent) []delivery {
		var out []delivery
		for _, d := range e.Deliveries {
			x := delivery{Rule: d.Rule, Target: d.Target, Kind: d.TargetKind, State: d.State, Origin: d.Why.Origin,
				Matches: d.Why.Matches != nil && *d.Why.Matches, Downstream: d.DownstreamID != ""}
			for _, a := range d.Attempts {
				x.Attempts = append(x.Attempts, attempt{a.Outcome, a.Status})
				if a.LatencyMs <= 0 {
					t.Errorf("%s attempt %d: latency %v ms", d.Target, a.N, a.LatencyMs)
				}
			}
			if d.Email != nil {
				x.To = d.Email.To
				if d.Email.Outcome != "sent" || d.Email.Template != "welcome_new_hire" {
					t.Errorf("email: %+v", d.Email)
				}
			}
			out = append(out, x)
		}
		return out
	}
	created, updated := j.Steps[1].Event, j.Steps[3].Event
	got := deliveries(created)
	want := []delivery{
		{Rule: "accounts", Target: "gitbook", Kind: "scim", State: "delivered", Origin: "file", Matches: true,
			Attempts: []attempt{{"delivered", 201}}, Downstream: true},
		{Rule: "new-hires", Target: "hook", Kind: "webhook", State: "dead", Origin: "file", Matches: true,
			Attempts: []attempt{{"retry", 500}, {"retry", 500}}},
		{Rule: "new-hires", Target: "welcome-email", Kind: "smtp", State: "delivered", Origin: "file", Matches: true,
			Attempts: []attempt{{"delivered", 250}}, To: []string{"ada@example.com"}},
	}
	sort.Slice(got, func(a, b int) bool { return got[a].Target < got[b].Target })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries of User.Created (-want +got):\n%s", diff)
	}
	wantUpdated := []delivery{{Rule: "accounts", Target: "gitbook", Kind: "scim", State: "delivered", Origin: "file", Matches: true,
		Attempts: []attempt{{"delivered", 200}}, Downstream: true}}
	if diff := cmp.Diff(wantUpdated, deliveries(updated)); diff != "" {
		t.Errorf("deliveries of User.Updated (-want +got):\n%s", diff)
	}
	// Why the rule matched, in words; the downstream account's id is the
	// one the downstream service has; the failures say why.
	down := call(t, "GET", downstream.url+"/scim/v2/Users?filter="+urlQuery(`userName eq "ada@example.com"`), "", bearer(downstream.token)...)
	items, _ := down.body["Resources"].([]any)
	if len(items) != 1 {
		t.Fatalf("downstream: %s", down.raw)
	}
	downID := items[0].(map[string]any)["id"].(string)
	for _, d := range created.Deliveries {
		switch d.Target {
		case "hook":
			if !strings.Contains(d.Why.Reason, `detail.email: "ada@example.com" matches {"suffix":"@example.com"}`) ||
				!strings.Contains(d.Why.Reason, `detail-type: "User.Created"`) {
				t.Errorf("why new-hires matched: %q", d.Why.Reason)
			}
			if d.Attempts[0].Error == "" {
				t.Errorf("a failed attempt without its error: %+v", d.Attempts[0])
			}
		case "gitbook":
			if d.DownstreamID != downID || d.Attempts[0].DownstreamID != downID {
				t.Errorf("downstream id %q (attempt %q), want %q; response %q", d.DownstreamID, d.Attempts[0].DownstreamID, downID, d.Attempts[0].Response)
			}
		}
	}
	if updated.Deliveries[0].DownstreamID != downID {
		t.Errorf("downstream id of the update: %q, want %q", updated.Deliveries[0].DownstreamID, downID)
	}

	// By userName, in any case: the same journey.
	if byName := journey("ADA@example.COM"); byName.User.ID != id || len(byName.Steps) != len(j.Steps) {
		t.Errorf("by userName: %+v, %d steps", byName.User, len(byName.Steps))
	}
	// Unknown: a problem document.
	res = adminCall(t, r, "GET", "/users/nobody@example.com/journey", "")
	if res.status != 404 || !strings.HasPrefix(res.header.Get("Content-Type"), "application/problem+json") || res.body["status"] != float64(404) {
		t.Errorf("unknown user: %d %s %s", res.status, res.header.Get("Content-Type"), res.raw)
	}

	// Deleted: found by id and by the userName it had; the deletion is
	// the last step, its event matched no rule.
	res = call(t, "DELETE", r.url+"/scim/v2/Users/"+id, "", bearer(r.token)...)
	if res.status != 204 {
		t.Fatalf("delete: %d %s", res.status, res.raw)
	}
	for _, ref := range []string{id, "ada@example.com"} {
		var d *admin.Journey
		waitFor(t, "the deletion dispatched", func() bool {
			d = journey(ref)
			last := d.Steps[len(d.Steps)-1]
			return last.Event != nil && last.Event.Document != "pending"
		})
		if d.User.ID != id || d.User.State != "deleted" || d.User.UserName != "ada@example.com" || d.Origin == nil || d.Origin.Action != "user.create" ||
			!cmp.Equal(d.User.ExternalIDs, extIDs) {
			t.Errorf("deleted, by %s: %+v origin %+v", ref, d.User, d.Origin)
		}
		last := d.Steps[len(d.Steps)-1]
		if prev := d.Steps[len(d.Steps)-2]; prev.Audit == nil || prev.Audit.Action != "user.delete" ||
			last.Event.Type != "User.Deleted" || len(last.Event.Deliveries) != 0 || !strings.Contains(last.Summary, "no rule matched") {
			t.Errorf("deleted, by %s: last steps %+v %+v", ref, prev, last)
		}
	}
}

// TestJourneyRuleLater: an event written before a rule came into force is
// not "no rule matched" in the journey when that rule matches it: the
// summary says it was written before the rule came into force; an event
// the later rule does not match either still says no rule matched.
func TestJourneyRuleLater(t *testing.T) {
	h := newHook(t)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: groups
    pattern: {"detail-type": ["Group.Created"]}
    targets: [{target: hook}]
`, h.srv.URL, h.secret), nil)
	id := createUser(t, r, `{"userName":"early@example.com"}`)["id"].(string)
	res := call(t, "PATCH", r.url+"/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"displayName","value":"Early"}]}`, append(bearer(r.token), "Content-Type", "application/scim+json")...)
	if res.status != 200 {
		t.Fatalf("patch: %d %s", res.status, res.raw)
	}
	journey := func() *admin.Journey {
		t.Helper()
		res := adminCall(t, r, "GET", "/users/"+id+"/journey", "")
		var j admin.Journey
		if res.status != 200 || json.Unmarshal(res.raw, &j) != nil {
			t.Fatalf("journey: %d %s", res.status, res.raw)
		}
		return &j
	}
	dispatched := func() bool {
		n := 0
		for _, s := range journey().Steps {
			if s.Event != nil && s.Event.Document != "pending" {
				n++
			}
		}
		return n == 2
	}
	waitFor(t, "both events dispatched", dispatched)
	if res := adminCall(t, r, "PUT", "/rules/welcome", `{"pattern":{"detail-type":["User.Created"]},"targets":[{"target":"hook"}]}`); res.status != 201 {
		t.Fatalf("put rule: %d %s", res.status, res.raw)
	}
	var got []string
	var before []string
	for _, s := range journey().Steps {
		if s.Event != nil {
			got = append(got, s.Summary)
			if s.Event.Type == "User.Created" {
				before = s.Event.Earlier
			}
		}
	}
	want := []string{"User.Created (written before rule welcome came into force)", "User.Updated: displayName (no rule matched)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event summaries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"welcome"}, before); diff != "" {
		t.Errorf("writtenBeforeRules (-want +got):\n%s", diff)
	}
}

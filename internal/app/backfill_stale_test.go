package app_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// staleRules: GitBook (another Gatehouse) given each account's real state
// by gitbook-access, pushed with the same mapping; a welcome email on the
// first activation; the hook gets every User.Created as it happened.
// %[1]s and %[2]s are the hook's URL and secret, %[3]s… the others.
const staleRules = `
targets:
  hook:
    webhook: {url: %[1]q, secrets: [%[2]q]}
  welcome-email:
    smtp: {host: %[3]q, port: %[4]s, tls: none, from: "Onboarding <onboarding@example.com>"}
  gitbook:
    scim:
      base_url: %[5]q
      token: %[6]q
      push:
        follow: false
        mapping: '{"userName": "{{email}}", "active": {{active}}}'
rules:
  - name: gitbook-access
    pattern: {"detail-type": ["User.Created", "User.Updated", "User.Enabled", "User.Disabled"]}
    targets: [{target: gitbook, payload: '{"userName": "{{email}}", "active": {{active}}}'}]
  - name: welcome
    pattern: {"detail-type": ["User.Created", "User.Enabled"], "detail": {"firstActivation": [true]}}
    targets: [{target: welcome-email, payload: {"to": "${detail.email}", "template": "welcome_new_hire"}}]
  - name: history
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`

// TestBackfillStaleEvents (issue 11 red team, finding 2): a backfill (or
// a replay) never sends a target a state the account has left. Accounts
// imported before the first start: 张伟 (active), lee.ver (created
// disabled), alice. After a push, 张伟 is disabled and lee.ver enabled,
// and both reach GitBook. Backfilling gitbook-access then queues their
// old User.Created re-based on their state now — the dry run says so for
// each — so GitBook keeps 张伟 inactive and lee.ver active; backfilling
// welcome does not email 张伟, who is disabled now; the hook gets the
// events as they happened. A replay of 张伟's User.Disabled after 张伟 is
// enabled again applies nothing.
func TestBackfillStaleEvents(t *testing.T) {
	mb := newMailbox(t)
	gitbook := start(t, nil)
	host, port, _ := net.SplitHostPort(mb.addr)
	e := newLifecycleEnv(t, strings.NewReplacer("%[3]q", fmt.Sprintf("%q", host), "%[4]s", port,
		"%[5]q", fmt.Sprintf("%q", gitbook.url+"/scim/v2"), "%[6]q", fmt.Sprintf("%q", gitbook.token)).Replace(staleRules))
	ctx := context.Background()
	account := func(name string, active bool) *directory.User {
		return &directory.User{UserName: name, Active: active,
			Attrs: directory.Attrs{"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}}}}
	}
	ids := map[string]string{}
	e.offline(func(a *app.App) {
		for _, u := range []*directory.User{account("张伟@corp.example.com", true), account("lee.ver@corp.example.com", false),
			account("alice@corp.example.com", true)} {
			out, _, err := a.Directory.CreateUser(ctx, cliActor, directory.IDaaSProfile(), u)
			if err != nil {
				t.Fatal(err)
			}
			ids[u.UserName] = out.ID
		}
	})
	zhang, lee, alice := ids["张伟@corp.example.com"], ids["lee.ver@corp.example.com"], ids["alice@corp.example.com"]
	r, _ := e.serve()
	// Answered once the server serves: its rules are in force by then.
	call(t, "GET", r.url+"/healthz", "")
	p, err := r.app.Pusher(ctx, "gitbook")
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := p.Run(ctx, provision.PushOptions{}); err != nil || sum.Errors > 0 || sum.Actions["create"] != 2 {
		t.Fatalf("push: %+v %v", sum, err)
	}
	setActive := func(id string, active bool) {
		t.Helper()
		if _, err := r.app.Directory.UpdateUser(ctx, cliActor, directory.IDaaSProfile(), id, nil, func(u *directory.User) error {
			u.Active = active
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setActive(zhang, false)
	setActive(lee, true)
	waitDelivered(t, r.app, "gitbook-access", "users/"+zhang)
	waitDelivered(t, r.app, "gitbook-access", "users/"+lee)
	waitDelivered(t, r.app, "welcome", "users/"+lee)
	downstream := func(name string) any {
		t.Helper()
		res := call(t, "GET", gitbook.url+"/scim/v2/Users?filter="+urlQuery(`userName eq "`+name+`"`), "", bearer(gitbook.token)...)
		list, _ := res.body["Resources"].([]any)
		if len(list) != 1 {
			t.Fatalf("GitBook has %d accounts named %s", len(list), name)
		}
		return list[0].(map[string]any)["active"]
	}
	levels := func(when string) {
		t.Helper()
		got := map[string]any{"zhang": downstream("张伟@corp.example.com"), "lee": downstream("lee.ver@corp.example.com"),
			"alice": downstream("alice@corp.example.com")}
		if diff := cmp.Diff(map[string]any{"zhang": false, "lee": true, "alice": true}, got); diff != "" {
			t.Errorf("%s: active in GitBook (-want +got):\n%s", when, diff)
		}
	}
	levels("before the backfill")

	backfill := func(body string) *reply {
		t.Helper()
		res := adminCall(t, r, "POST", "/events/backfill", body)
		if res.status != 200 {
			t.Fatalf("backfill %s: %d %s", body, res.status, res.raw)
		}
		return res
	}
	stale := func(res *reply) map[string]string {
		out := map[string]string{}
		list, _ := res.body["stale"].([]any)
		for _, x := range list {
			it := x.(map[string]any)
			out[fmt.Sprint(it["subject"], " ", it["eventType"])] = fmt.Sprint(it["action"], ": ", it["note"])
		}
		return out
	}
	counts := func(res *reply) map[string]any {
		return map[string]any{"matched": res.body["matched"], "existing": res.body["existing"], "queued": res.body["queued"],
			"rebased": res.body["rebased"], "skipped": res.body["skipped"]}
	}

	// GitBook: the old User.Created of 张伟 and lee.ver are re-based on
	// their state now; alice's is as it was.
	for _, dry := range []bool{true, false} {
		res := backfill(fmt.Sprintf(`{"rule":"gitbook-access","dryRun":%t}`, dry))
		if diff := cmp.Diff(map[string]any{"matched": 5.0, "existing": 2.0, "queued": 3.0, "rebased": 2.0, "skipped": 0.0}, counts(res)); diff != "" {
			t.Errorf("gitbook-access (dry run %v) (-want +got):\n%s", dry, diff)
		}
		got := stale(res)
		for subject, want := range map[string]string{"users/" + zhang: "active now: false", "users/" + lee: "active now: true"} {
			if s := got[subject+" User.Created"]; !strings.HasPrefix(s, "rebase: re-based on the account's state now") || !strings.Contains(s, want) {
				t.Errorf("gitbook-access (dry run %v): %s: %q", dry, subject, s)
			}
		}
		if len(got) != 2 {
			t.Errorf("gitbook-access (dry run %v): stale %v", dry, got)
		}
	}
	for _, id := range []string{zhang, lee, alice} {
		waitFor(t, "the backfilled deliveries", func() bool {
			ds, err := r.app.EventStore.Deliveries(ctx, events.DeliveryQuery{Rule: "gitbook-access", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.Subject == "users/"+id && d.EventType == directory.UserCreated {
					return d.State == events.StateDelivered
				}
			}
			return false
		})
	}
	levels("after the backfill")

	// Welcome: 张伟 is disabled now: no email. lee.ver was welcomed on her
	// activation; alice is welcomed now.
	for _, dry := range []bool{true, false} {
		res := backfill(fmt.Sprintf(`{"rule":"welcome","dryRun":%t}`, dry))
		if diff := cmp.Diff(map[string]any{"matched": 3.0, "existing": 1.0, "queued": 1.0, "rebased": 0.0, "skipped": 1.0}, counts(res)); diff != "" {
			t.Errorf("welcome (dry run %v) (-want +got):\n%s", dry, diff)
		}
		if s := stale(res)["users/"+zhang+" User.Created"]; s != "skip: not sent: the account is not active now (disabled since this event)" {
			t.Errorf("welcome (dry run %v): 张伟: %q", dry, s)
		}
	}
	waitDelivered(t, r.app, "welcome", "users/"+alice)
	var to []string
	for _, m := range mb.messages() {
		to = append(to, m.to...)
	}
	if diff := cmp.Diff([]string{"lee.ver@corp.example.com", "alice@corp.example.com"}, to); diff != "" {
		t.Errorf("welcome emails (-want +got):\n%s", diff)
	}

	// The hook gets the history as it was: every User.Created.
	if res := backfill(`{"rule":"history","dryRun":true}`); res.body["queued"] != 3.0 || res.body["skipped"] != 0.0 || res.body["rebased"] != 0.0 {
		t.Errorf("history: %s", res.raw)
	}

	// A replay of 张伟's User.Disabled once 张伟 is enabled again applies
	// nothing.
	setActive(zhang, true)
	waitFor(t, "张伟 active in GitBook", func() bool { return downstream("张伟@corp.example.com") == true })
	ds, err := r.app.EventStore.Deliveries(ctx, events.DeliveryQuery{Rule: "gitbook-access", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var disabled string
	for _, d := range ds {
		if d.Subject == "users/"+zhang && d.EventType == directory.UserDisabled {
			disabled = d.ID
		}
	}
	if res := adminCall(t, r, "POST", "/deliveries/replay", `{"ids":["`+disabled+`"],"state":"delivered"}`); res.status != 200 {
		t.Fatalf("replay: %d %s", res.status, res.raw)
	}
	waitFor(t, "the replay", func() bool {
		as, err := r.app.EventStore.Attempts(ctx, disabled)
		if err != nil {
			t.Fatal(err)
		}
		return len(as) == 2
	})
	as, _ := r.app.EventStore.Attempts(ctx, disabled)
	if got := as[1].Response; got != "not applied: the account has been enabled again since this event" {
		t.Errorf("the replay's attempt: %q", got)
	}
	if got := downstream("张伟@corp.example.com"); got != true {
		t.Errorf("after the replay, 张伟 is active=%v in GitBook", got)
	}
}

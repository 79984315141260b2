package demo_test

import (
	"context"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/demo"
)

// TestOnboarding is issue 6's end-to-end test: a new hire sent to the hub
// over SCIM ends up, without a human step, with the welcome email received
// by the SMTP server (right recipient, rendered template), an account in
// the RAM stand-in and one in the GitBook stand-in in the right group;
// moving department moves the group; disabling deactivates downstream.
// Three Gatehouse servers and an SMTP server, talking HTTP and SMTP on
// loopback, with the rules of examples/onboarding/rules.yaml.
func TestOnboarding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := demo.Start(ctx, demo.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()

	h := demo.Hire{GivenName: "Ada", FamilyName: "Lovelace", Email: "Ada.Lovelace@example.com", Department: "Tour Operations"}
	id, created, err := env.Create(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	fx, err := env.WaitEffects(ctx, h, created)
	if err != nil {
		t.Fatalf("the new hire's effects: %v", err)
	}
	t.Logf("email +%s, RAM +%s, GitBook +%s", fx.Email.Sub(created), fx.RAM.Sub(created), fx.GitBook.Sub(created))

	// The welcome email: to the hire, the welcome_new_hire template
	// rendered with the hire's name, HTML and text.
	if len(fx.Mail.To) != 1 || !strings.EqualFold(fx.Mail.To[0], h.Email) {
		t.Errorf("email to %v", fx.Mail.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(fx.Mail.Data))
	if err != nil {
		t.Fatalf("the email does not parse: %v", err)
	}
	if subj := msg.Header.Get("Subject"); !strings.Contains(subj, "Ada Lovelace") {
		t.Errorf("subject %q does not name the hire", subj)
	}
	for _, want := range []string{"text/plain", "text/html", "Ada Lovelace"} {
		if !strings.Contains(fx.Mail.Data, want) {
			t.Errorf("the email lacks %q", want)
		}
	}
	if strings.Contains(fx.Mail.Data, "{{") || strings.Contains(fx.Mail.Data, "<no value>") {
		t.Errorf("the template was not fully rendered:\n%s", fx.Mail.Data)
	}

	// RAM: the account under its RAM user name, four attributes.
	ram, err := env.RAMUser(ctx, "ada.lovelace")
	if err != nil || ram == nil {
		t.Fatalf("RAM user: %v %v", ram, err)
	}
	if ram["externalId"] != id || ram["displayName"] != "Ada Lovelace" {
		t.Errorf("RAM user %v", ram)
	}
	// GitBook: the account, active, in tour-operations-readers.
	gb, err := env.GitBookUser(ctx, "ada.lovelace@example.com")
	if err != nil || gb == nil {
		t.Fatalf("GitBook user: %v %v", gb, err)
	}
	if gb["active"] != true || !slices.Equal(demo.GroupsOf(gb), []string{"tour-operations-readers"}) {
		t.Errorf("GitBook user %v", gb)
	}

	// A department move moves the GitBook group.
	if err := env.Move(ctx, id, "Platform"); err != nil {
		t.Fatal(err)
	}
	if err := demo.Wait(ctx, func() (bool, error) {
		u, err := env.GitBookUser(ctx, "ada.lovelace@example.com")
		return u != nil && slices.Equal(demo.GroupsOf(u), []string{"platform-readers"}), err
	}); err != nil {
		gb, _ = env.GitBookUser(ctx, "ada.lovelace@example.com")
		t.Fatalf("after the move: %v (GitBook user %v)", err, gb)
	}

	// Disabling deactivates in GitBook and removes the RAM user (RAM has no
	// inactive state).
	if err := env.Disable(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := demo.Wait(ctx, func() (bool, error) {
		u, err := env.GitBookUser(ctx, "ada.lovelace@example.com")
		return u != nil && u["active"] == false, err
	}); err != nil {
		t.Fatalf("GitBook after the disable: %v", err)
	}
	if err := demo.Wait(ctx, func() (bool, error) {
		u, err := env.RAMUser(ctx, "ada.lovelace")
		return u == nil, err
	}); err != nil {
		t.Fatalf("RAM after the disable: %v", err)
	}
	// One welcome email, not one per change.
	if n := len(env.Mail.Messages()); n != 1 {
		t.Errorf("%d emails, want 1", n)
	}

	// The journey shows all of it: where the account came from, each event,
	// each rule and target, each attempt, the ids the targets gave, the
	// email sent.
	var j *admin.Journey
	if err := demo.Wait(ctx, func() (bool, error) {
		var err error
		if j, err = env.Hub.App.Admin.Journey(ctx, id); err != nil {
			return false, err
		}
		done := 0
		for _, s := range j.Steps {
			if s.Event == nil || s.Event.Type != "User.Disabled" {
				continue
			}
			for _, d := range s.Event.Deliveries {
				if d.State == "delivered" {
					done++
				}
			}
		}
		return done == 2, nil
	}); err != nil {
		t.Fatalf("the journey never showed the disable delivered: %v", err)
	}
	if j.Origin == nil || !strings.Contains(j.Origin.Via, "application hr") {
		t.Errorf("origin %+v", j.Origin)
	}
	type seen struct{ event, rule, target, state, downstream, emailTo string }
	var got []seen
	for _, s := range j.Steps {
		if s.Event == nil {
			continue
		}
		for _, d := range s.Event.Deliveries {
			g := seen{event: s.Event.Type, rule: d.Rule, target: d.Target, state: d.State, downstream: d.DownstreamID}
			if d.Email != nil {
				g.emailTo = strings.Join(d.Email.To, ",")
			}
			if len(d.Attempts) == 0 || d.Why.Reason == "" {
				t.Errorf("%s → %s: no attempts or no reason: %+v", s.Event.Type, d.Target, d)
			}
			got = append(got, g)
		}
	}
	for _, want := range []seen{
		{"User.Created", "welcome", "welcome-email", "delivered", "", strings.ToLower(h.Email)},
		{"User.Created", "gitbook-access", "gitbook", "delivered", fx.GitBookID, ""},
		{"User.Created", "push:ram", "ram", "delivered", fx.RAMID, ""},
		{"User.Updated", "gitbook-access", "gitbook", "delivered", fx.GitBookID, ""},
		{"User.Disabled", "gitbook-access", "gitbook", "delivered", fx.GitBookID, ""},
		{"User.Disabled", "push:ram", "ram", "delivered", fx.RAMID, ""},
	} {
		if !slices.ContainsFunc(got, func(g seen) bool {
			return g.event == want.event && g.rule == want.rule && g.target == want.target && g.state == want.state &&
				g.downstream == want.downstream && strings.EqualFold(g.emailTo, want.emailTo)
		}) {
			t.Errorf("the journey lacks %+v; it has %+v", want, got)
		}
	}
}

// TestStartDate is issue 11's item 2 end to end: a hire created disabled
// (Active Directory's "create disabled, enable on the start date") gets
// nothing downstream — no RAM user (RAM has no inactive state), no GitBook
// account, no welcome email — until the account is enabled; then all
// three. A change to a disabled account does not bring it back downstream,
// and enabling it again does not send a second welcome email.
func TestStartDate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := demo.Start(ctx, demo.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	h := demo.Hire{GivenName: "Grace", FamilyName: "Hopper", Email: "grace.hopper@example.com", Department: "Engineering", StartsLater: true}
	gitbook := func() map[string]any {
		t.Helper()
		u, err := env.GitBookUser(ctx, h.Email)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	ram := func() map[string]any {
		t.Helper()
		u, err := env.RAMUser(ctx, h.Account())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	settled := func(typ string) {
		t.Helper()
		if _, err := env.Settled(ctx, id(t, env, h), typ); err != nil {
			t.Fatalf("%s never settled: %v", typ, err)
		}
	}
	uid, _, err := env.Create(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	settled("User.Created")
	if u := ram(); u != nil {
		t.Errorf("a disabled account was provisioned to RAM: %v", u)
	}
	if u := gitbook(); u != nil {
		t.Errorf("a disabled account was provisioned to GitBook: %v", u)
	}
	if n := len(env.Mail.Messages()); n != 0 {
		t.Errorf("%d welcome emails to an account that has not started", n)
	}

	// The start date.
	if err := env.Enable(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := env.WaitEffects(ctx, h, time.Now()); err != nil {
		t.Fatalf("the effects of the start date: %v", err)
	}
	if u := gitbook(); u["active"] != true {
		t.Errorf("GitBook account after the start date: %v", u)
	}

	// She leaves; a change to her account while she is away changes
	// nothing downstream.
	if err := env.Disable(ctx, uid); err != nil {
		t.Fatal(err)
	}
	settled("User.Disabled")
	if err := env.Move(ctx, uid, "Platform"); err != nil {
		t.Fatal(err)
	}
	settled("User.Updated")
	if u := ram(); u != nil {
		t.Errorf("a change to a disabled account brought it back to RAM: %v", u)
	}
	if u := gitbook(); u == nil || u["active"] != false {
		t.Errorf("a change to a disabled account made it active in GitBook: %v", u)
	}

	// She comes back: RAM and GitBook again, no second welcome email.
	if err := env.Enable(ctx, uid); err != nil {
		t.Fatal(err)
	}
	settled("User.Enabled")
	if u := ram(); u == nil {
		t.Errorf("no RAM user after the return")
	}
	if u := gitbook(); u == nil || u["active"] != true || !slices.Equal(demo.GroupsOf(u), []string{"platform-readers"}) {
		t.Errorf("GitBook account after the return: %v", u)
	}
	if n := len(env.Mail.Messages()); n != 1 {
		t.Errorf("%d welcome emails, want 1 (the first activation only)", n)
	}
}

// id is the hub's id of a hire's account.
func id(t *testing.T, env *demo.Env, h demo.Hire) string {
	t.Helper()
	j, err := env.Hub.App.Admin.Journey(context.Background(), h.Email)
	if err != nil {
		t.Fatal(err)
	}
	return j.User.ID
}

package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// lifecycleEnv is one data directory used in turn by command-line
// processes (offline) and by servers started and stopped (serve).
type lifecycleEnv struct {
	t     *testing.T
	cfg   config.Config
	rules string // the rules file's path
	hook  *hook
}

func newLifecycleEnv(t *testing.T, rules string) *lifecycleEnv {
	e := &lifecycleEnv{t: t, hook: newHook(t)}
	dir := t.TempDir()
	e.rules = filepath.Join(dir, "rules.yaml")
	e.writeRules(rules)
	e.cfg = config.Default()
	e.cfg.DataDir = filepath.Join(dir, "data")
	e.cfg.SQLiteSynchronous = "NORMAL"
	e.cfg.ShutdownTimeout = config.Duration(10 * time.Second)
	e.cfg.Events.RulesFile = e.rules
	e.cfg.Events.EgressAllow = []string{"127.0.0.0/8"}
	e.cfg.Events.PollInterval = config.Duration(50 * time.Millisecond)
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

// writeRules writes the rules file; %[1]s is the hook's URL, %[2]s its
// secret.
func (e *lifecycleEnv) writeRules(rules string) {
	e.t.Helper()
	if err := os.WriteFile(e.rules, []byte(fmt.Sprintf(rules, e.hook.srv.URL, e.hook.secret)), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *lifecycleEnv) open() *app.App {
	e.t.Helper()
	log, _ := logging.New(io.Discard, logging.Options{Format: "json"})
	a, err := app.New(context.Background(), e.cfg, log)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// offline runs fn as a command-line process does: the database open, no
// server.
func (e *lifecycleEnv) offline(fn func(a *app.App)) {
	e.t.Helper()
	a := e.open()
	defer a.Close()
	fn(a)
}

// serve starts a server; stop (also at the end of the test) stops it.
func (e *lifecycleEnv) serve() (r *running, stop func()) {
	e.t.Helper()
	a := e.open()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r = &running{app: a, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1), admin: adminToken}
	go func() { r.done <- a.Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-r.done
			a.Close()
		})
	}
	e.t.Cleanup(stop)
	op := directory.Actor{Kind: "cli"}
	if _, _, err := a.Auth.Bootstrap(ctx, adminToken); err != nil {
		e.t.Fatal(err)
	}
	appl, err := a.Auth.CreateApp(ctx, op, auth.AppSpec{Name: fmt.Sprintf("e2e-%d", time.Now().UnixNano()), Profile: directory.IDaaSProfile()})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, r.token, err = a.Auth.CreateToken(ctx, op, appl.ID, 0); err != nil {
		e.t.Fatal(err)
	}
	return r, stop
}

var cliActor = directory.Actor{Kind: "cli"}

func importUsers(t *testing.T, a *app.App, names ...string) []string {
	t.Helper()
	var ids []string
	for _, n := range names {
		u, _, err := a.Directory.CreateUser(context.Background(), cliActor, directory.IDaaSProfile(),
			&directory.User{UserName: n, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	return ids
}

// routed is each delivery as "rule subject", sorted.
func routed(t *testing.T, a *app.App) []string {
	t.Helper()
	ds, err := a.EventStore.Deliveries(context.Background(), events.DeliveryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.Rule+" "+d.Subject)
	}
	sort.Strings(out)
	return out
}

// waitDelivered waits until the deliveries of subject by rule are
// delivered. The dispatcher takes events in order: by then every event
// before it has been routed too.
func waitDelivered(t *testing.T, a *app.App, rule, subject string) {
	t.Helper()
	waitFor(t, rule+" "+subject, func() bool {
		ds, err := a.EventStore.Deliveries(context.Background(), events.DeliveryQuery{Rule: rule, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Subject == subject && d.State == events.StateDelivered {
				return true
			}
		}
		return false
	})
}

const createdRule = `
targets:
  hook:
    webhook: {url: %[1]q, secrets: [%[2]q]}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`

// TestHistoryNotReplayed is issue 11's item 3: accounts imported from the
// command line before the server's first start (gatehouse sync ldap, any
// import) are not routed by that start — a rule applies to the events
// written after it came into force. Events written while a server that
// has run is stopped still reach the rules that were in force; a rule
// added while it was stopped starts when the server starts.
func TestHistoryNotReplayed(t *testing.T) {
	e := newLifecycleEnv(t, createdRule)
	var imported []string
	e.offline(func(a *app.App) {
		imported = importUsers(t, a, "imported0@example.com", "imported1@example.com", "imported2@example.com")
	})

	r, stop := e.serve()
	u := createUser(t, r, `{"userName":"new@example.com"}`)
	newID := u["id"].(string)
	waitDelivered(t, r.app, "created", "users/"+newID)
	if diff := cmp.Diff([]string{"created users/" + newID}, routed(t, r.app)); diff != "" {
		t.Errorf("the first start routed history (-want +got):\n%s", diff)
	}
	stop()

	// Stopped: an import the rule in force still gets, an update, and a
	// new rule that only sees what comes after the restart.
	var offline string
	e.offline(func(a *app.App) {
		offline = importUsers(t, a, "offline@example.com")[0]
		if _, err := a.Directory.UpdateUser(context.Background(), cliActor, directory.IDaaSProfile(), imported[0], nil,
			func(u *directory.User) error { u.DisplayName = "Changed"; return nil }); err != nil {
			t.Fatal(err)
		}
	})
	e.writeRules(createdRule + `
  - name: updates
    pattern: {"detail-type": ["User.Updated"]}
    targets: [{target: hook}]
`)
	r, _ = e.serve()
	call(t, "PATCH", r.url+"/scim/v2/Users/"+newID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"New"}]}`,
		append(bearer(r.token), "Content-Type", "application/scim+json")...)
	waitDelivered(t, r.app, "updates", "users/"+newID)
	want := []string{"created users/" + newID, "created users/" + offline, "updates users/" + newID}
	sort.Strings(want)
	if diff := cmp.Diff(want, routed(t, r.app)); diff != "" {
		t.Errorf("after the restart (-want +got):\n%s", diff)
	}
}

// TestBackfill: past events are routed by a rule only when asked, with a
// dry run first; what the rule routed already is not routed again.
func TestBackfill(t *testing.T) {
	e := newLifecycleEnv(t, createdRule)
	var imported []string
	e.offline(func(a *app.App) {
		imported = importUsers(t, a, "imported0@example.com", "imported1@example.com", "imported2@example.com")
	})
	r, _ := e.serve()
	u := createUser(t, r, `{"userName":"new@example.com"}`)
	waitDelivered(t, r.app, "created", "users/"+u["id"].(string))

	backfill := func(body string) *reply {
		t.Helper()
		return adminCall(t, r, "POST", "/events/backfill", body)
	}
	res := backfill(`{"rule":"created","dryRun":true}`)
	if res.status != 200 || res.body["queued"] != float64(3) || res.body["existing"] != float64(1) || res.body["matched"] != float64(4) {
		t.Fatalf("dry run: %d %s", res.status, res.raw)
	}
	if sample, _ := res.body["sample"].([]any); len(sample) != 3 || sample[0].(map[string]any)["subject"] != "users/"+imported[0] {
		t.Errorf("dry run's sample: %s", res.raw)
	}
	if n := len(routed(t, r.app)); n != 1 {
		t.Fatalf("the dry run queued: %d deliveries", n)
	}
	for _, bad := range []struct {
		body   string
		status int
	}{
		{`{"rule":"nowhere"}`, 404},
		{`{"rule":""}`, 400},
		{`{"rule":"created","since":"2026-03-02T00:00:00Z","until":"2026-03-01T00:00:00Z"}`, 400},
		{`{"rule":"created","extra":1}`, 400},
	} {
		if res := backfill(bad.body); res.status != bad.status {
			t.Errorf("%s: %d %s", bad.body, res.status, res.raw)
		}
	}
	if res := backfill(`{"rule":"created","since":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`); res.body["events"] != float64(0) {
		t.Errorf("a window with no event: %s", res.raw)
	}
	// since and until take the command line's forms: a date, an RFC 3339
	// time, a duration back from now; anything else is a 400 in the API's
	// terms, naming the field and the forms, not Go's types.
	tomorrow := time.Now().Add(24 * time.Hour).UTC().Format(time.DateOnly)
	for _, body := range []string{`{"rule":"created","dryRun":true,"since":"` + tomorrow + `"}`,
		`{"rule":"created","dryRun":true,"until":"2000-01-01"}`, `{"rule":"created","dryRun":true,"since":"1ms"}`} {
		if res := backfill(body); res.status != 200 || res.body["events"] != float64(0) {
			t.Errorf("%s: %d %s, want 200 and no event", body, res.status, res.raw)
		}
	}
	if res := backfill(`{"rule":"created","dryRun":true,"since":"720h"}`); res.status != 200 || res.body["matched"] != float64(4) {
		t.Errorf("since 720h: %d %s", res.status, res.raw)
	}
	for _, tt := range []struct{ body, field, detail string }{
		{`{"rule":"created","since":"yesterday"}`, "since",
			`since: "yesterday" is not a date (2026-03-01), an RFC 3339 time (2026-03-01T09:00:00Z) or a duration back from now (72h)`},
		{`{"rule":"created","until":5}`, "until", "until must be a string, not a number"},
		{`{"rule":"created","dryRun":"yes"}`, "dryRun", "dryRun must be true or false, not a string"},
	} {
		res := backfill(tt.body)
		if res.status != 400 || res.str("field") != tt.field || res.str("detail") != tt.detail {
			t.Errorf("%s: %d %s, want 400 on %s: %s", tt.body, res.status, res.raw, tt.field, tt.detail)
		}
	}

	res = backfill(`{"rule":"created"}`)
	if res.status != 200 || res.body["queued"] != float64(3) || res.body["targets"].(map[string]any)["hook"] != float64(3) {
		t.Fatalf("backfill: %d %s", res.status, res.raw)
	}
	for _, id := range imported {
		waitDelivered(t, r.app, "created", "users/"+id)
	}
	if n := len(e.hook.received()); n != 4 {
		t.Errorf("the hook got %d events, want 4", n)
	}
	if res := backfill(`{"rule":"created"}`); res.body["queued"] != float64(0) || res.body["existing"] != float64(4) {
		t.Errorf("a second backfill: %s", res.raw)
	}
	audit := adminCall(t, r, "GET", "/audit?action=events.backfill", "")
	if items, _ := audit.body["items"].([]any); len(items) != 1 {
		t.Errorf("audit: %s", audit.raw)
	}
}

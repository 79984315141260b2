package provision_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/scimclient"
)

func (s *server) createNamed(t *testing.T, userName, displayName string, active bool) *directory.User {
	t.Helper()
	u, _, err := s.app.Directory.CreateUser(context.Background(), hubActor, directory.Profile{TargetOrgID: directory.RootOrgID}, &directory.User{
		UserName: userName, DisplayName: displayName, Active: active, OrgID: directory.RootOrgID,
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// counter is a proxy in front of a target that counts the SCIM requests
// (not the token requests) by method, and can refuse some.
type counter struct {
	*httptest.Server
	mu     sync.Mutex
	counts map[string]int
	// refuse, when set, answers a request instead of the target.
	refuse func(w http.ResponseWriter, r *http.Request) bool
}

func newCounter(t *testing.T, target string) *counter {
	t.Helper()
	up, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(up)
	c := &counter{counts: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/token") {
			c.mu.Lock()
			c.counts[r.Method]++
			refuse := c.refuse
			c.mu.Unlock()
			if refuse != nil && refuse(w, r) {
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(c.Close)
	return c
}

// take returns the counts since the last call.
func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

// ramPusher pushes the hub's whole directory to the RAM stand-in, through
// a counting proxy, with the RAM profile's default mapping (the user name
// without its domain: {{account}}).
func ramPusher(t *testing.T, hub, ram *server) (*pushEnv, *counter) {
	t.Helper()
	cnt := newCounter(t, ram.url)
	pe := newPusher(t, hub, "ram", scimclient.Config{BaseURL: cnt.URL, Profile: "ram", MaxRetryWait: 2 * time.Second,
		Auth: scimclient.Auth{TokenURL: ram.url + "/v1/token", ClientID: ram.clientID, ClientSecret: ram.secret, TokenStyle: "ram"}},
		events.DefaultPushMapping("ram"), directory.SyncScope{}, scimclient.TargetOptions{OnDisable: "delete"})
	return pe, cnt
}

// ramUsers lists the RAM stand-in's users: userName → externalId.
func ramUsers(t *testing.T, c *scimclient.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, u := range downstream(t, c) {
		out[u["userName"].(string)], _ = u["externalId"].(string)
	}
	return out
}

// errorsOf runs a push and returns its errors by user name.
func pushErrors(t *testing.T, p *provision.Pusher, opt provision.PushOptions) (*provision.Summary, map[string]string) {
	t.Helper()
	errs := map[string]string{}
	var mu sync.Mutex
	opt.Progress = func(it provision.Item) {
		if it.Action == "error" {
			mu.Lock()
			errs[it.UserName] = it.Error
			mu.Unlock()
		}
	}
	return run(t, p, opt), errs
}

// TestPushNeverMerges (issue 11, item 1): with RAM's default mapping
// ({{account}}: the user name without its domain), two people whose names
// meet in one RAM user name — Ada.Lovelace@corp and ada.lovelace@other,
// two people called 张伟 — never share one RAM user: the first keeps it,
// the second is an error naming both, push after push, and the event
// pipeline's deliveries refuse it too. Chinese names are transliterated
// (张伟 and 李娜 no longer both become "--"); a name that cannot be is a
// clear error. A RAM user that belongs to someone else is never taken over.
func TestPushNeverMerges(t *testing.T) {
	hub := startServer(t, "")
	ram := startServer(t, "ram")
	// A disabled account walked first claims no name and takes nobody's.
	hub.createNamed(t, "Lina@old.example.com", "Lina (left)", false)
	ada := hub.createNamed(t, "Ada.Lovelace@corp.example.com", "Ada Lovelace", true)
	ada2 := hub.createNamed(t, "ada.lovelace@other.example.com", "Ada Lovelace (Other)", true)
	zhang := hub.createNamed(t, "张伟@corp.example.com", "张伟", true)
	li := hub.createNamed(t, "李娜@corp.example.com", "李娜", true)
	zhang2 := hub.createNamed(t, "张伟@other.example.com", "张伟", true)
	ivan := hub.createNamed(t, "Иван@corp.example.com", "Иван", true)
	pe, _ := ramPusher(t, hub, ram)
	// A RAM user made for someone else (another system's externalId).
	if _, err := pe.client.CreateUser(context.Background(), map[string]any{"userName": "grace", "externalId": "hr-4711"}); err != nil {
		t.Fatal(err)
	}
	grace := hub.createNamed(t, "grace@corp.example.com", "Grace", true)

	want := map[string]string{"ada.lovelace": ada.ID, "zhangwei": zhang.ID, "lina": li.ID, "grace": "hr-4711"}
	for i := range 3 {
		sum, errs := pushErrors(t, pe.pusher, provision.PushOptions{})
		if diff := cmp.Diff(want, ramUsers(t, pe.client)); diff != "" {
			t.Fatalf("push %d: RAM users (userName → externalId) (-want +got):\n%s", i+1, diff)
		}
		if sum.Errors != 4 {
			t.Errorf("push %d: %d errors, want 4: %v", i+1, sum.Errors, errs)
		}
		for who, wantErr := range map[string][]string{
			ada2.UserName:   {ada2.UserName, ada.UserName, `"ada.lovelace"`, "never share"},
			zhang2.UserName: {zhang2.UserName, zhang.UserName, `"zhangwei"`, "never share"},
			ivan.UserName:   {"has no account name", "Иван@corp.example.com"},
			grace.UserName:  {`"grace"`, "hr-4711", "never share"},
		} {
			for _, w := range wantErr {
				if !strings.Contains(errs[who], w) {
					t.Errorf("push %d: error of %s: %q, want it to say %q", i+1, who, errs[who], w)
				}
			}
		}
	}

	// 李娜, pushed, renamed onto the name of the RAM user made for someone
	// else: refused before anything is sent, naming that account.
	if _, err := hub.app.Directory.UpdateUser(context.Background(), hubActor, directory.Profile{TargetOrgID: directory.RootOrgID}, li.ID, nil,
		func(u *directory.User) error {
			u.UserName = "Grace@other.example.com"
			return nil
		}); err != nil {
		t.Fatal(err)
	}
	_, errs := pushErrors(t, pe.pusher, provision.PushOptions{})
	if e := errs["Grace@other.example.com"]; !strings.Contains(e, `"grace"`) || !strings.Contains(e, "hr-4711") {
		t.Errorf("the rename onto another's RAM user: %q", e)
	}
	if diff := cmp.Diff(want, ramUsers(t, pe.client)); diff != "" {
		t.Errorf("after the rename: RAM users (-want +got):\n%s", diff)
	}

	// The event pipeline's delivery of the second Ada (no hints: it looks
	// the account up by externalId, then by userName) refuses too.
	b := &events.Builder{Source: "gatehouse", Schemas: hub.app.Schemas, Dir: hub.app.Store}
	docs, err := b.UserDocuments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := docs.UserDocument(context.Background(), ada2)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rules.NewTransformer(rules.TransformSpec{Kind: "template", Template: events.DefaultPushMapping("ram")})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := tr.Apply(doc)
	if err != nil {
		t.Fatal(err)
	}
	res := pe.pusher.Target.Deliver(context.Background(), &scimclient.Delivery{EventType: scimclient.EventUserUpdated, Subject: "users/" + ada2.ID, Payload: payload, Event: doc})
	if res.Outcome != scimclient.Permanent || !strings.Contains(res.Response, "never taken over") {
		t.Errorf("delivery of the second Ada: %v %s", res.Outcome, res.Response)
	}
	if diff := cmp.Diff(want, ramUsers(t, pe.client)); diff != "" {
		t.Errorf("after the delivery: RAM users (-want +got):\n%s", diff)
	}
}

// TestPushSeesDrift (issue 11, items 5 and 10): the push compares every
// account with the target's listing, so that accounts deleted or changed
// downstream are seen and repaired by a plain push — and its dry run says
// so — at one request per missing account and two per changed one (read,
// update), plus the listing; a push with nothing to do sends only the
// listing, --full one read per account; the dry run of each agrees with
// the real run.
func TestPushSeesDrift(t *testing.T) {
	hub := startServer(t, "")
	ram := startServer(t, "ram")
	var users []*directory.User
	for i := range 20 {
		users = append(users, hub.createNamed(t, "dev"+string(rune('a'+i))+"@example.com", "Dev "+string(rune('A'+i)), true))
	}
	// In scope but disabled, never pushed: unlinked for good.
	hub.createNamed(t, "gone@example.com", "Gone", false)
	pe, cnt := ramPusher(t, hub, ram)
	ctx := context.Background()

	type step struct {
		name     string
		opt      provision.PushOptions
		actions  map[string]int
		requests map[string]int
	}
	check := func(s step) {
		t.Helper()
		dry := s.opt
		dry.DryRun = true
		sum := run(t, pe.pusher, dry)
		cnt.take()
		wantActions(t, s.name+" (dry run)", sum, s.actions)
		sum = run(t, pe.pusher, s.opt)
		wantActions(t, s.name, sum, s.actions)
		if !sum.Compared {
			t.Errorf("%s: not compared with the target", s.name)
		}
		if diff := cmp.Diff(s.requests, cnt.take()); diff != "" {
			t.Errorf("%s: requests to RAM (-want +got):\n%s", s.name, diff)
		}
	}
	check(step{"first push", provision.PushOptions{}, map[string]int{"create": 20, "skip": 1}, map[string]int{"GET": 1, "POST": 20}})
	check(step{"no change", provision.PushOptions{}, map[string]int{"unchanged": 20, "skip": 1}, map[string]int{"GET": 1}})

	// Drift: five RAM users deleted, three renamed, behind the push's back.
	byExt := map[string]map[string]any{}
	for ext, u := range downstream(t, pe.client) {
		byExt[ext] = u
	}
	for _, u := range users[:5] {
		if err := pe.client.DeleteUser(ctx, byExt[u.ID]["id"].(string)); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range users[5:8] {
		d := byExt[u.ID]
		if _, err := pe.client.ReplaceUser(ctx, d["id"].(string), map[string]any{"userName": d["userName"], "externalId": u.ID, "displayName": "changed in RAM"}); err != nil {
			t.Fatal(err)
		}
	}
	cnt.take()
	// The listing, a read of each account changed downstream (to compare),
	// a create of each missing one and an update of each changed one.
	check(step{"drift repaired", provision.PushOptions{}, map[string]int{"create": 5, "update": 3, "unchanged": 12, "skip": 1},
		map[string]int{"GET": 1 + 3, "POST": 5, "PUT": 3}})
	got := downstream(t, pe.client)
	for _, u := range users {
		if d := got[u.ID]; d == nil || d["displayName"] != u.DisplayName {
			t.Errorf("after the repair, %s is %v downstream", u.UserName, d)
		}
	}
	check(step{"no change after the repair", provision.PushOptions{}, map[string]int{"unchanged": 20, "skip": 1}, map[string]int{"GET": 1}})
	// --full reads every account (one request each) and writes nothing.
	check(step{"full, nothing to do", provision.PushOptions{Full: true}, map[string]int{"unchanged": 20, "skip": 1}, map[string]int{"GET": 1 + 20}})
}

// TestPushPausesForRetryAfter (issue 11, item 6): RAM answers the push's
// creates with 429 and a Retry-After longer than the client waits for one
// request (2 s for rules-file targets; 3 s here): the whole target pauses
// and the push goes on after, instead of failing the accounts at once.
func TestPushPausesForRetryAfter(t *testing.T) {
	hub := startServer(t, "")
	ram := startServer(t, "ram")
	for i := range 10 {
		hub.createNamed(t, "hire"+string(rune('a'+i))+"@example.com", "Hire", true)
	}
	pe, cnt := ramPusher(t, hub, ram)
	var mu sync.Mutex
	var until time.Time
	during := 0
	cnt.refuse = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if until.IsZero() {
			until = now.Add(3 * time.Second)
		} else if now.Before(until.Add(-100 * time.Millisecond)) {
			during++ // a request the pause should have held back
		}
		if now.Before(until) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	}
	sum, errs := pushErrors(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "push", sum, map[string]int{"create": 10})
	if len(errs) > 0 {
		t.Errorf("errors: %v", errs)
	}
	if during > 3 { // at most the other requests in flight (concurrency 4) when the first 429 came
		t.Errorf("%d creates were sent while the target asked to wait", during)
	}
}

// TestPushSmallScopeLargeTarget: when listing the target would take more
// requests than reading each account in scope (two accounts pushed to a
// RAM of 950 users: ten pages), the push reads each linked account instead — and
// still sees drift.
func TestPushSmallScopeLargeTarget(t *testing.T) {
	hub := startServer(t, "")
	ram := startServer(t, "ram")
	ctx := context.Background()
	for i := range 950 {
		if _, _, err := ram.app.Directory.CreateUser(ctx, hubActor, directory.Profile{TargetOrgID: directory.RootOrgID},
			&directory.User{UserName: fmt.Sprintf("own%03d", i), Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	a := hub.createNamed(t, "ada@example.com", "Ada", true)
	hub.createNamed(t, "alan@example.com", "Alan", true)
	pe, cnt := ramPusher(t, hub, ram)
	cnt.take()
	sum := run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "first push", sum, map[string]int{"create": 2})
	// The first page of the listing; for each account, lookups by
	// externalId and by userName, and the create.
	if diff := cmp.Diff(map[string]int{"GET": 1 + 2*2, "POST": 2}, cnt.take()); diff != "" {
		t.Errorf("first push: requests (-want +got):\n%s", diff)
	}
	sum = run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "no change", sum, map[string]int{"unchanged": 2})
	if diff := cmp.Diff(map[string]int{"GET": 1 + 2}, cnt.take()); diff != "" {
		t.Errorf("no change: requests (-want +got):\n%s", diff)
	}
	if !sum.Compared {
		t.Error("the accounts were not compared")
	}
	// Ada's RAM user is deleted behind the push's back: seen, and made again.
	var adaRAM string
	for ext, u := range downstream(t, pe.client) {
		if ext == a.ID {
			adaRAM = u["id"].(string)
		}
	}
	if err := pe.client.DeleteUser(ctx, adaRAM); err != nil {
		t.Fatal(err)
	}
	sum = run(t, pe.pusher, provision.PushOptions{DryRun: true})
	wantActions(t, "drift (dry run)", sum, map[string]int{"create": 1, "unchanged": 1})
	sum = run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "drift", sum, map[string]int{"create": 1, "unchanged": 1})
	if got := ramUsers(t, pe.client)["ada"]; got != a.ID {
		t.Errorf("Ada's RAM user: externalId %q", got)
	}
}

// ramRules is a hub's rules file with the RAM stand-in as the push target
// ram, following the whole directory (the implicit push:ram rule).
func ramRules(ram *server) string {
	return fmt.Sprintf(`targets:
  ram:
    scim:
      profile: ram
      base_url: %[1]s
      token_url: %[1]s/v1/token
      token_style: ram
      client_id: %[2]s
      client_secret: %[3]s
      push: {}
`, ram.url, ram.clientID, ram.secret)
}

// ramClient is a SCIM client of the RAM stand-in, to look at it and change
// it behind the hub's back.
func ramClient(t *testing.T, ram *server) *scimclient.Client {
	t.Helper()
	c, err := scimclient.New(scimclient.Config{BaseURL: ram.url, Profile: "ram",
		Auth:       scimclient.Auth{TokenURL: ram.url + "/v1/token", ClientID: ram.clientID, ClientSecret: ram.secret, TokenStyle: "ram"},
		HTTPClient: egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client(0)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// finished waits until the delivery of rule for subject has finished
// (delivered or dead) and returns it with the errors of its attempts.
func finished(t *testing.T, hub *server, rule, subject string) (*events.Delivery, string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := hub.app.EventStore.Deliveries(ctx, events.DeliveryQuery{Rule: rule, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Subject != subject || (d.State != events.StateDelivered && d.State != events.StateDead) {
				continue
			}
			as, err := hub.app.EventStore.Attempts(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			var errs []string
			for _, a := range as {
				errs = append(errs, a.Error+a.Response)
			}
			return d, strings.Join(errs, "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished delivery of %s for %s", rule, subject)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEventsNeverTakeOverLinked (issue 11 red team, finding 1): the event
// pipeline's SCIM target and the push share the push's links. A RAM user
// linked to Ada whose externalId was removed downstream (a console edit)
// is not given to another person by a delivery — the delivery fails
// permanently naming both accounts, and RAM keeps the user as it was —
// and the next push finds it Ada's again. What a delivery creates is
// linked, so that the push knows it too.
func TestEventsNeverTakeOverLinked(t *testing.T) {
	ram := startServer(t, "ram")
	hub := startHub(t, ramRules(ram))
	rc := ramClient(t, ram)
	ctx := context.Background()
	prof := directory.Profile{TargetOrgID: directory.RootOrgID}

	// Ada arrives: the follow rule creates her RAM user, and the push
	// finds it level.
	ada := hub.createNamed(t, "ada.lovelace@other.example.com", "Ada Lovelace", true)
	if d, errs := finished(t, hub, "push:ram", "users/"+ada.ID); d.State != events.StateDelivered {
		t.Fatalf("Ada's delivery: %s: %s", d.State, errs)
	}
	p, err := hub.app.Pusher(ctx, "ram")
	if err != nil {
		t.Fatal(err)
	}
	sum, errs := pushErrors(t, p, provision.PushOptions{})
	if sum.Errors > 0 {
		t.Fatalf("first push: %v", errs)
	}
	var adaRAM string
	for _, u := range downstream(t, rc) {
		if u["externalId"] == ada.ID {
			adaRAM = u["id"].(string)
		}
	}
	if adaRAM == "" {
		t.Fatal("Ada has no RAM user")
	}
	// The delivery linked it: the push's link and the delivery's are one.
	if l, ok, err := hub.app.Store.(provision.LinkIndex).LinkOf(ctx, "push:ram", "User", ada.ID); err != nil || !ok || l.RemoteID != adaRAM {
		t.Fatalf("Ada's link: %+v %v %v, want RAM user %s", l, ok, err, adaRAM)
	}

	// Someone edits the RAM user in the console: its externalId is gone.
	if _, err := rc.ReplaceUser(ctx, adaRAM, map[string]any{"userName": "ada.lovelace", "displayName": "Ada Lovelace"}); err != nil {
		t.Fatal(err)
	}
	// Mallory's account arrives from an IdP, with a user name that becomes
	// the same RAM user name.
	mallory, _, err := hub.app.Directory.CreateUser(ctx, hubActor, prof, &directory.User{UserName: "ADA.LOVELACE@fourth.example.com",
		DisplayName: "Mallory", Active: true, OrgID: directory.RootOrgID})
	if err != nil {
		t.Fatal(err)
	}
	d, why := finished(t, hub, "push:ram", "users/"+mallory.ID)
	if d.State != events.StateDead {
		t.Errorf("Mallory's delivery is %s, want dead: %s", d.State, why)
	}
	for _, w := range []string{adaRAM, ada.ID, mallory.ID, "never taken over"} {
		if !strings.Contains(why, w) {
			t.Errorf("Mallory's delivery says %q, want it to name %s", why, w)
		}
	}
	got, err := rc.GetUser(ctx, adaRAM)
	if err != nil {
		t.Fatal(err)
	}
	if ext, _ := got["externalId"].(string); ext != "" {
		t.Errorf("Ada's RAM user now has externalId %q (Mallory is %s)", ext, mallory.ID)
	}

	// The next push gives Ada her RAM user back and refuses Mallory,
	// naming both.
	sum, errs = pushErrors(t, p, provision.PushOptions{})
	if sum.Errors != 1 || !strings.Contains(errs[mallory.UserName], ada.UserName) || errs[ada.UserName] != "" {
		t.Errorf("push after the delivery: %+v, errors %v", sum.Actions, errs)
	}
	if want := map[string]string{"ada.lovelace": ada.ID}; !cmp.Equal(want, ramUsers(t, rc)) {
		t.Errorf("RAM users: %v, want %v", ramUsers(t, rc), want)
	}

	// A delivery finds the user its links give, even renamed and without
	// its externalId downstream: no second RAM user.
	if _, err := rc.ReplaceUser(ctx, adaRAM, map[string]any{"userName": "ada.lovelace", "displayName": "Ada Lovelace"}); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.app.Directory.UpdateUser(ctx, hubActor, prof, ada.ID, nil, func(u *directory.User) error {
		u.UserName, u.DisplayName = "ada.king@other.example.com", "Ada King"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Ada's rename downstream", func() bool {
		u, err := rc.GetUser(ctx, adaRAM)
		return err == nil && u["userName"] == "ada.king"
	})
	if want := map[string]string{"ada.king": ada.ID}; !cmp.Equal(want, ramUsers(t, rc)) {
		t.Errorf("RAM users after the rename: %v, want %v", ramUsers(t, rc), want)
	}
}

// waitFor polls cond for up to 20 s (a bound on liveness, not a timing
// assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPushLeavesOtherRulesAccounts: a rule other than the push's own that
// routes accounts outside the push's scope to the push target links what
// it creates (so that nobody else takes it over), but the push does not
// retire those accounts as if they had left its scope: they are that
// rule's.
func TestPushLeavesOtherRulesAccounts(t *testing.T) {
	ram := startServer(t, "ram")
	hub := startHub(t, strings.Replace(ramRules(ram), "push: {}", "push: {organizations: [Engineering]}", 1)+`rules:
  - name: everyone
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: ram, payload: '{"userName": "{{account}}", "displayName": "${detail.displayName:-}"}'}]
`)
	eng := hub.createOrg(t, "Engineering")
	ctx := context.Background()
	rc := ramClient(t, ram)
	sam, _, err := hub.app.Directory.CreateUser(ctx, hubActor, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: "sam@example.com", DisplayName: "Sam", Active: true, OrgID: directory.RootOrgID})
	if err != nil {
		t.Fatal(err)
	}
	if d, why := finished(t, hub, "everyone", "users/"+sam.ID); d.State != events.StateDelivered {
		t.Fatalf("Sam's delivery: %s: %s", d.State, why)
	}
	hub.createUser(t, "ada", eng, "Engineering")
	p, err := hub.app.Pusher(ctx, "ram")
	if err != nil {
		t.Fatal(err)
	}
	sum, errs := pushErrors(t, p, provision.PushOptions{})
	if len(errs) > 0 {
		t.Fatalf("push: %v", errs)
	}
	if sum.Actions["delete"] > 0 || ramUsers(t, rc)["sam"] != sam.ID {
		t.Errorf("the push retired the account the rule made: %+v; RAM users %v", sum.Actions, ramUsers(t, rc))
	}
}

// TestPushStopsWhenAskedToWait (issue 11 red team, finding 7): a target
// that answers 429 with a Retry-After beyond max_pause (an hour; 30 s
// here) stops the push — and its dry run — at once, with an error that
// says until when: nothing more is sent to it. The first listing refused
// so, or a create refused so in the middle of the push. A dry run whose
// listing failed for another reason looks each account up before it
// plans it: an account that exists downstream is never planned as a
// create.
func TestPushStopsWhenAskedToWait(t *testing.T) {
	hub := startServer(t, "")
	ram := startServer(t, "ram")
	ctx := context.Background()
	for i := range 15 {
		hub.createNamed(t, fmt.Sprintf("dev%02d@example.com", i), "Dev", true)
	}
	// Fourteen of them have a RAM user already, made by hand (no
	// externalId): the push adopts them.
	for i := range 14 {
		if _, _, err := ram.app.Directory.CreateUser(ctx, hubActor, directory.Profile{TargetOrgID: directory.RootOrgID},
			&directory.User{UserName: fmt.Sprintf("dev%02d", i), Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(w http.ResponseWriter) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	pusher := func(refuse func(w http.ResponseWriter, r *http.Request) bool) (*provision.Pusher, *counter) {
		pe, cnt := ramPusher(t, hub, ram)
		c, err := scimclient.New(scimclient.Config{BaseURL: cnt.URL, Profile: "ram", MaxRetryWait: 2 * time.Second, MaxPause: 30 * time.Second,
			Auth:       scimclient.Auth{TokenURL: ram.url + "/v1/token", ClientID: ram.clientID, ClientSecret: ram.secret, TokenStyle: "ram"},
			HTTPClient: egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client(0)})
		if err != nil {
			t.Fatal(err)
		}
		pe.pusher.Client, pe.pusher.Target = c, scimclient.NewTarget(c, scimclient.TargetOptions{OnDisable: "delete"})
		cnt.take()
		cnt.refuse = refuse
		return pe.pusher, cnt
	}
	for _, dry := range []bool{true, false} {
		// Every request is told to wait an hour.
		p, cnt := pusher(func(w http.ResponseWriter, r *http.Request) bool { return wait(w) })
		var items []provision.Item
		var mu sync.Mutex
		_, err := p.Run(ctx, provision.PushOptions{DryRun: dry, Progress: func(it provision.Item) {
			mu.Lock()
			items = append(items, it)
			mu.Unlock()
		}})
		if !errors.Is(err, scimclient.ErrWaitTooLong) || !strings.Contains(err.Error(), "stopped") || !strings.Contains(err.Error(), "until ") {
			t.Errorf("dry run %v: %v, want the push stopped, saying until when", dry, err)
		}
		if diff := cmp.Diff(map[string]int{"GET": 1}, cnt.take()); diff != "" {
			t.Errorf("dry run %v: requests after the listing was refused (-want +got):\n%s", dry, diff)
		}
		if len(items) > 0 {
			t.Errorf("dry run %v: planned %v", dry, items)
		}
	}

	// The listing fails otherwise (403): the dry run looks each account up
	// and plans what the real run does — 14 adopted, one created.
	p, cnt := pusher(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && r.URL.Path == "/Users" && r.URL.Query().Get("filter") == "" {
			w.WriteHeader(http.StatusForbidden)
			return true
		}
		return false
	})
	sum, errs := pushErrors(t, p, provision.PushOptions{DryRun: true})
	wantActions(t, "dry run without a listing", sum, map[string]int{"update": 14, "create": 1})
	if len(errs) > 0 {
		t.Errorf("dry run without a listing: %v", errs)
	}
	cnt.take()
	sum, errs = pushErrors(t, p, provision.PushOptions{})
	wantActions(t, "push without a listing", sum, map[string]int{"update": 14, "create": 1})
	if len(errs) > 0 {
		t.Errorf("push without a listing: %v", errs)
	}

	// A create told to wait an hour in the middle of a push stops it.
	hub.createNamed(t, "new1@example.com", "New", true)
	hub.createNamed(t, "new2@example.com", "New", true)
	hub.createNamed(t, "new3@example.com", "New", true)
	hub.createNamed(t, "new4@example.com", "New", true)
	hub.createNamed(t, "new5@example.com", "New", true)
	hub.createNamed(t, "new6@example.com", "New", true)
	p, cnt = pusher(func(w http.ResponseWriter, r *http.Request) bool { return r.Method == http.MethodPost && wait(w) })
	p.Concurrency = 1
	_, err := p.Run(ctx, provision.PushOptions{})
	if !errors.Is(err, scimclient.ErrWaitTooLong) {
		t.Errorf("push whose create was told to wait: %v", err)
	}
	if got := cnt.take(); got["POST"] != 1 || got["PUT"]+got["DELETE"] > 0 {
		t.Errorf("requests after a create was told to wait an hour: %v, want the one POST", got)
	}
}

package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// The login service over the store: sessions and their end when an account
// is disabled or deleted, the lockout rules, the factor policy, resets.
// Time is a settable clock; hashing is the suite's fake (no argon2id).

// loginHasher checks what fakeHasher makes.
type loginHasher struct{ fakeHasher }

func (loginHasher) Verify(_ context.Context, pw, phc string) (bool, error) {
	return phc == "hashed:"+pw, nil
}

// busyHasher is a hasher with no slot free: every check times out.
type busyHasher struct{ fakeHasher }

func (busyHasher) Verify(context.Context, string, string) (bool, error) {
	return false, context.DeadlineExceeded
}

// stopClock is a clock that moves only when told.
type stopClock struct{ t time.Time }

func (c *stopClock) Now() time.Time               { return c.t }
func (c *stopClock) Advance(d time.Duration)      { c.t = c.t.Add(d) }
func (c *stopClock) At(d time.Duration) time.Time { return c.t.Add(d) }

type loginEnv struct {
	*env
	svc   *login.Service
	clock *stopClock
	steps []login.Step
}

func newLoginEnv(t *testing.T, ns NewStore, opt login.Options) *loginEnv {
	e := setup(t, ns)
	c := &stopClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	opt.Now, opt.NewID, opt.Hasher = c.Now, newID, loginHasher{}
	return &loginEnv{env: e, clock: c, svc: login.New(e.store, e.store, opt)}
}

func (le *loginEnv) person(name, password string, active bool) *directory.User {
	return le.createUser(strict, &directory.User{UserName: name, Active: active, Password: password})
}

// client is a browser at addr with its own binding cookie.
func client(t *testing.T, addr string) login.Client {
	b, err := login.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	return login.Client{Addr: addr, Browser: b, RequestID: "req"}
}

// try runs a whole first-factor login; it returns the outcome or the
// failure's reason.
func (le *loginEnv) try(c login.Client, req login.Requirement, user, password string) (*login.Outcome, string) {
	le.t.Helper()
	p, err := le.svc.Begin(le.ctx, c, req, "/")
	if err != nil {
		le.t.Fatal(err)
	}
	out, err := le.svc.Password(le.ctx, p, c, user, password)
	if err != nil {
		var f *login.Failure
		if !errors.As(err, &f) {
			le.t.Fatalf("login %s: %v", user, err)
		}
		return nil, f.Reason
	}
	return out, ""
}

func (le *loginEnv) eventTypes(userID string) []string {
	le.t.Helper()
	es, ok := le.store.(events.Store)
	if !ok {
		le.t.Skip("the store has no outbox")
	}
	recs, err := es.EventsAfter(le.ctx, 0, 10000)
	if err != nil {
		le.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.ResourceID == userID && strings.HasPrefix(r.Type, "User.") && r.Type != directory.UserCreated {
			out = append(out, r.Type)
		}
	}
	return out
}

func (le *loginEnv) actions(userID string) []string {
	le.t.Helper()
	es, err := le.store.Audit(le.ctx, directory.AuditQuery{ResourceID: userID, Limit: 1000})
	if err != nil {
		le.t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Action != "user.create" {
			out = append(out, es[i].Action)
		}
	}
	return out
}

// testLoginSessions: a login makes a session whose token finds it; it
// idles out and expires; disabling the account ends it in the directory's
// transaction (enabling does not bring it back); deleting the account
// deletes it; logout ends it.
func testLoginSessions(t *testing.T, ns NewStore) {
	le := newLoginEnv(t, ns, login.Options{SessionIdle: 10 * time.Minute, SessionLifetime: time.Hour})
	u := le.person("ada", "Secret-Pass-1", true)
	c := client(t, "192.0.2.10")
	out, reason := le.try(c, login.Requirement{}, "ADA", "Secret-Pass-1")
	if reason != "" || !out.Done() {
		t.Fatalf("login: %q", reason)
	}
	s := out.Session
	// Where a login ends is kept with it (login.Requirement.EndsElsewhere).
	for _, elsewhere := range []bool{true, false} {
		begun, err := le.svc.Begin(le.ctx, c, login.Requirement{EndsElsewhere: elsewhere}, "/")
		if err != nil {
			t.Fatal(err)
		}
		if p, err := le.svc.PendingFor(le.ctx, begun.ID, c); err != nil || p.EndsElsewhere != elsewhere {
			t.Errorf("pending login ends elsewhere: %+v %v, want %v", p, err, elsewhere)
		}
	}
	want := &login.Session{ID: s.ID, UserID: u.ID, AuthTime: le.clock.t, AMR: []string{"pwd"}, Factors: 1, Created: le.clock.t,
		LastSeen: le.clock.t, Expires: le.clock.At(time.Hour)}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Fatalf("session (-want +got):\n%s", diff)
	}
	got, err := le.svc.Session(le.ctx, out.Token)
	if err != nil || got == nil {
		t.Fatalf("session by token: %v %v", got, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored session (-want +got):\n%s", diff)
	}
	if s.ACR() != login.ACR1FA {
		t.Errorf("ACR %s", s.ACR())
	}
	// A sensitive action needs a login within login.reauth (5 min).
	if !le.svc.Recent(s) {
		t.Error("a new session is not recent")
	}
	le.clock.Advance(5*time.Minute + time.Second)
	if le.svc.Recent(s) {
		t.Error("a session 5 minutes old is recent")
	}
	le.clock.t = s.LastSeen
	// Used every 9 minutes it lives on, until its absolute end.
	for i := 0; i < 6; i++ {
		le.clock.Advance(9 * time.Minute)
		if got, _ := le.svc.Session(le.ctx, out.Token); got == nil {
			t.Fatalf("session idled out after %d uses 9 minutes apart", i)
		}
	}
	le.clock.Advance(7 * time.Minute) // 61 minutes after the login
	if got, _ := le.svc.Session(le.ctx, out.Token); got != nil {
		t.Error("a session outlived its lifetime")
	}

	// Idle: 10 minutes unused.
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	le.clock.Advance(10 * time.Minute)
	if got, _ := le.svc.Session(le.ctx, out.Token); got != nil {
		t.Error("a session survived its idle timeout")
	}

	// Disabled, then enabled again: the session stays ended.
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	setActive := func(active bool) {
		if _, err := le.env.svc.UpdateUser(le.ctx, le.actor, strict, u.ID, nil, func(x *directory.User) error { x.Active = active; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setActive(false)
	if got, _ := le.svc.Session(le.ctx, out.Token); got != nil {
		t.Error("a disabled account's session lives")
	}
	setActive(true)
	if got, _ := le.svc.Session(le.ctx, out.Token); got != nil {
		t.Error("enabling the account revived its session")
	}

	// Logout.
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	if ended, err := le.svc.Logout(le.ctx, out.Token, c); err != nil || ended == nil || ended.ID != out.Session.ID {
		t.Fatalf("logout: %v %v", ended, err)
	}
	if got, _ := le.svc.Session(le.ctx, out.Token); got != nil {
		t.Error("a session lives after logout")
	}

	// A new login replaces the browser's session (the id changes).
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	c.Session = out.Token
	again, _ := le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	if again.Session.ID == out.Session.ID || again.Token == out.Token {
		t.Error("the session id did not change at login")
	}
	if got, _ := le.svc.Session(le.ctx, out.Token); got != nil {
		t.Error("the browser's previous session survived its new login")
	}

	// Deleted: the session goes with the account.
	if err := le.env.svc.DeleteUser(le.ctx, le.actor, strict, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := le.svc.Session(le.ctx, again.Token); got != nil || err != nil {
		t.Errorf("a deleted account's session: %v %v", got, err)
	}
	if diff := cmp.Diff([]string{"User.LoggedIn", "User.LoggedIn", "User.LoggedIn", "User.Disabled", "User.Enabled", "User.LoggedIn", "User.LoggedOut",
		"User.LoggedIn", "User.LoggedIn", "User.Deleted"}, le.eventTypes(u.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// testLoginLockout: the three limits, and that none lets an attacker
// elsewhere keep the person out.
func testLoginLockout(t *testing.T, ns NewStore) {
	le := newLoginEnv(t, ns, login.Options{Lockout: login.Lockout{Failures: 5, Window: 15 * time.Minute, Duration: 15 * time.Minute,
		AccountFailures: 10, AccountMaxDelay: 5 * time.Minute, AddressFailures: 1000, AddressWindow: time.Minute}})
	u := le.person("bo", "Secret-Pass-1", true)
	home := client(t, "198.51.100.7")
	out, _ := le.try(home, login.Requirement{}, "bo", "Secret-Pass-1")
	home.Device = out.DeviceToken // her browser is now a trusted device
	if home.Device == "" {
		t.Fatal("no device token after the first login")
	}
	second, _ := le.try(home, login.Requirement{}, "bo", "Secret-Pass-1")
	if second.DeviceToken != "" {
		t.Error("a known device got a new device token")
	}

	// 2. Five failures from one network lock that network out, the right
	// password included, for 15 minutes; other networks and her device
	// are not affected.
	attacker := client(t, "203.0.113.7")
	for i := range 5 {
		if _, reason := le.try(attacker, login.Requirement{}, "bo", "guess"); reason != "invalid" {
			t.Fatalf("failure %d: %q", i+1, reason)
		}
	}
	neighbour := client(t, "203.0.113.99") // the same /24
	if _, reason := le.try(neighbour, login.Requirement{}, "bo", "Secret-Pass-1"); reason != "locked" {
		t.Errorf("the locked network with the right password: %q", reason)
	}
	if _, reason := le.try(client(t, "192.0.2.1"), login.Requirement{}, "bo", "Secret-Pass-1"); reason != "" {
		t.Errorf("another network: %q", reason)
	}
	sameNet := home
	sameNet.Addr = "203.0.113.8"
	if _, reason := le.try(sameNet, login.Requirement{}, "bo", "Secret-Pass-1"); reason != "" {
		t.Errorf("her trusted device on the locked network: %q", reason)
	}
	le.clock.Advance(15 * time.Minute)
	if _, reason := le.try(neighbour, login.Requirement{}, "bo", "Secret-Pass-1"); reason != "" {
		t.Errorf("after the lock: %q", reason)
	}
	if diff := cmp.Diff([]string{"User.LoggedIn", "User.LoggedIn", "User.LoginFailed", "User.LoginFailed", "User.LoginFailed", "User.LoginFailed",
		"User.LoginFailed", "User.Locked", "User.LoggedIn", "User.LoggedIn", "User.LoggedIn"}, le.eventTypes(u.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// 3. Failures from many networks: past 10, the account slows down
	// untrusted clients — 1 s, 2 s, 4 s … never more than 5 minutes —
	// while her device goes on.
	for i := range 10 {
		if _, reason := le.try(client(t, "10."+itoa(i)+".0.1"), login.Requirement{}, "bo", "guess"); reason != "invalid" {
			t.Fatalf("distributed failure %d: %q", i+1, reason)
		}
	}
	wait := time.Second
	for i := range 12 {
		elsewhere := client(t, "172.16."+itoa(i)+".1")
		if _, reason := le.try(elsewhere, login.Requirement{}, "bo", "guess"); reason != "invalid" {
			t.Fatalf("failure past the allowance %d: %q", i+1, reason)
		}
		if _, reason := le.try(elsewhere, login.Requirement{}, "bo", "Secret-Pass-1"); reason != "slowed" {
			t.Fatalf("at once after failure %d: %q", i+1, reason)
		}
		if _, reason := le.try(home, login.Requirement{}, "bo", "Secret-Pass-1"); reason != "" {
			t.Fatalf("her device while slowed: %q", reason)
		}
		if wait > 5*time.Minute {
			t.Fatalf("wait %s past the cap", wait)
		}
		le.clock.Advance(wait)
		wait = min(2*wait, 5*time.Minute)
	}
	st, _ := le.svc.State(le.ctx, u.ID)
	if st.Slowed.Sub(le.clock.t) > 5*time.Minute || st.Failures != 22 {
		t.Errorf("state after the attack: %+v", st)
	}
	le.clock.Advance(5 * time.Minute)
	if _, reason := le.try(client(t, "192.0.2.200"), login.Requirement{}, "bo", "Secret-Pass-1"); reason != "" {
		t.Errorf("after the longest wait: %q", reason)
	}
	if st, _ := le.svc.State(le.ctx, u.ID); st.Failures != 0 || !st.Slowed.IsZero() {
		t.Errorf("a success did not forget the account's failures: %+v", st)
	}

	// An administrator's unlock ends a network lock at once.
	for range 5 {
		le.try(attacker, login.Requirement{}, "bo", "guess")
	}
	if _, reason := le.try(attacker, login.Requirement{}, "bo", "Secret-Pass-1"); reason != "locked" {
		t.Fatalf("locked again: %q", reason)
	}
	if err := le.svc.Unlock(le.ctx, cli, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, reason := le.try(attacker, login.Requirement{}, "bo", "Secret-Pass-1"); reason != "" {
		t.Errorf("after unlock: %q", reason)
	}
	acts := le.actions(u.ID)
	if n := count(acts, login.ActionLocked); n != 3 { // the network twice, the account once
		t.Errorf("%d lock records: %v", n, acts)
	}
	if n := count(acts, login.ActionUnlocked); n != 1 {
		t.Errorf("%d unlock records", n)
	}

	// Unknown and disabled accounts answer as wrong passwords do, and a
	// name that is no account locks like one.
	le.person("gone", "Secret-Pass-1", false)
	if _, reason := le.try(client(t, "192.0.2.50"), login.Requirement{}, "gone", "Secret-Pass-1"); reason != "invalid" {
		t.Errorf("a disabled account with its password: %q", reason)
	}
	var reasons []string
	for range 6 {
		_, reason := le.try(client(t, "192.0.2.60"), login.Requirement{}, "nobody", "guess")
		reasons = append(reasons, reason)
	}
	if diff := cmp.Diff([]string{"invalid", "invalid", "invalid", "invalid", "invalid", "locked"}, reasons); diff != "" {
		t.Errorf("a name that is no account (-want +got):\n%s", diff)
	}
	// Two servers on one database (replicas): the name's failures count
	// together, as an account's do, and it locks after as many.
	other := &loginEnv{env: le.env, clock: le.clock, svc: login.New(le.store, le.store, login.Options{Now: le.clock.Now, NewID: newID, Hasher: loginHasher{}})}
	reasons = nil
	for i := range 6 {
		srv := le
		if i%2 == 1 {
			srv = other
		}
		_, reason := srv.try(client(t, "192.0.2.70"), login.Requirement{}, "nobody-else", "guess")
		reasons = append(reasons, reason)
	}
	if diff := cmp.Diff([]string{"invalid", "invalid", "invalid", "invalid", "invalid", "locked"}, reasons); diff != "" {
		t.Errorf("a name that is no account, tried on two servers in turn (-want +got):\n%s", diff)
	}
	// With no hashing slot free, an account's check cannot be made: busy,
	// the attempt given back. A disabled account and a name that is no
	// account answer the same (after the first such name, whose dummy
	// hash is made, not checked), and are not counted either.
	busy := &loginEnv{env: le.env, clock: le.clock, svc: login.New(le.store, le.store, login.Options{Now: le.clock.Now, NewID: newID, Hasher: busyHasher{}})}
	le.person("bea", "Secret-Pass-1", true)
	busy.try(client(t, "192.0.2.80"), login.Requirement{}, "nobody-first", "guess")
	for _, name := range []string{"bea", "gone", "nobody-busy"} {
		for i := range 7 {
			if _, reason := busy.try(client(t, "192.0.2.80"), login.Requirement{}, name, "guess"); reason != "busy" {
				t.Errorf("%s, attempt %d, with no hashing slot: %q, want busy", name, i+1, reason)
				break
			}
		}
	}

	// Audit records hold the client address; events do not.
	recs, _ := le.store.(events.Store).EventsAfter(le.ctx, 0, 10000)
	for _, r := range recs {
		if strings.Contains(string(r.Data), "203.0.113") || strings.Contains(string(r.Data), "Secret-Pass") {
			t.Fatalf("event %s carries an address or a password: %s", r.Type, r.Data)
		}
	}
	es, _ := le.store.Audit(le.ctx, directory.AuditQuery{ResourceID: u.ID, Action: "login.failure", Limit: 1})
	if len(es) == 0 || !strings.Contains(string(es[0].After), `"client":"`) || strings.Contains(string(es[0].After), "guess") {
		t.Errorf("failure audit record: %v", es)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// testLoginPolicy: the factors a session needs (groups, administrators,
// applications, the relying party), the step that adds one, Satisfies,
// Allowed.
func testLoginPolicy(t *testing.T, ns NewStore) {
	policy := login.Policy{AdminGroups: []string{"Admins"}, GroupFactors: map[string]int{"finance": 2}}
	// No factor can be set up on this server (no factor key, no base_url).
	le := newLoginEnv(t, ns, login.Options{Policy: policy})
	ada := le.person("ada", "Secret-Pass-1", true)
	root := le.person("root", "Secret-Pass-1", true)
	fin := le.person("fin", "Secret-Pass-1", true)
	le.createGroup("admins", root.ID)
	le.createGroup("finance", fin.ID)
	readers := le.createGroup("readers", ada.ID)
	asvc := le.auth(auth.Options{})
	book := mustApp(t, asvc, le.env, auth.AppSpec{Name: "gitbook", Kind: auth.KindSAMLSP, Access: auth.Access{AllowedGroups: []string{readers.ID}}})
	vault := mustApp(t, asvc, le.env, auth.AppSpec{Name: "vault", Kind: auth.KindOIDCClient, Access: auth.Access{Everyone: true, MinFactors: 2}})
	closed := mustApp(t, asvc, le.env, auth.AppSpec{Name: "closed", Kind: auth.KindOIDCClient})
	scimApp := mustApp(t, asvc, le.env, auth.AppSpec{Name: "okta"})

	for _, tc := range []struct {
		user *directory.User
		app  string
		min  int
		want int
	}{
		{ada, "", 0, 1}, {ada, book.ID, 0, 1}, {ada, vault.ID, 0, 2}, {ada, "", 2, 2},
		{root, "", 0, 2}, {fin, book.ID, 0, 2},
	} {
		got, err := le.svc.RequiredFactors(le.ctx, tc.user.ID, tc.app, tc.min)
		if err != nil || got != tc.want {
			t.Errorf("RequiredFactors(%s, %q, %d) = %d, %v; want %d", tc.user.UserName, tc.app, tc.min, got, err, tc.want)
		}
	}

	// An administrator without a second factor cannot finish a login
	// where none can be set up.
	c := client(t, "192.0.2.1")
	if _, reason := le.try(c, login.Requirement{}, "root", "Secret-Pass-1"); reason != "no-factor" {
		t.Errorf("administrator without a second factor: %q", reason)
	}
	// Where one can: she sets it up after her password, and its first
	// code makes the session's second factor.
	le.withFactors(login.Options{Policy: policy})
	out, reason := le.try(c, login.Requirement{}, "root", "Secret-Pass-1")
	if reason != "" || out.Done() || out.Pending.Stage != login.StageEnrol {
		t.Fatalf("administrator after the password: %q %+v", reason, out)
	}
	secret := le.enrolTOTP(out.Pending, c)
	// Later, the login asks for it; a wrong code fails, the right one
	// gives a two-factor session.
	le.clock.Advance(login.TOTPPeriod)
	out, reason = le.try(c, login.Requirement{}, "root", "Secret-Pass-1")
	if reason != "" || out.Done() || out.Pending.Stage != login.StageStep {
		t.Fatalf("administrator after the password: %q %+v", reason, out)
	}
	if _, err := le.svc.Step(le.ctx, out.Pending, c, "totp", map[string][]string{"code": {wrongCode(secret, le.clock.t)}}); err == nil {
		t.Error("a wrong code passed")
	}
	p, err := le.svc.PendingFor(le.ctx, out.Pending.ID, c)
	if err != nil {
		t.Fatal(err)
	}
	done, err := le.svc.Step(le.ctx, p, c, "totp", map[string][]string{"code": {login.TOTPCode(secret, le.clock.t)}})
	if err != nil || !done.Done() {
		t.Fatalf("the right code: %v", err)
	}
	if diff := cmp.Diff([]string{"pwd", "otp", "mfa"}, done.Session.AMR); diff != "" || done.Session.Factors != 2 || done.Session.ACR() != login.ACR2FA {
		t.Errorf("two-factor session: %+v %s", done.Session, diff)
	}
	// Another browser cannot use this browser's login.
	if _, err := le.svc.PendingFor(le.ctx, out.Pending.ID, client(t, "192.0.2.1")); err == nil {
		t.Error("a pending login was found from another browser")
	}

	// Satisfies.
	one, _ := le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	s := one.Session
	for _, tc := range []struct {
		name string
		req  login.Requirement
		want bool
	}{
		{"nothing", login.Requirement{}, true},
		{"its app", login.Requirement{AppID: book.ID}, true},
		{"an app needing two", login.Requirement{AppID: vault.ID}, false},
		{"two asked", login.Requirement{MinFactors: 2}, false},
		{"forced", login.Requirement{Force: true}, false},
		{"forced, since before the login", login.Requirement{Force: true, Since: s.AuthTime.Add(-time.Second)}, true},
		{"since after the login", login.Requirement{Since: s.AuthTime.Add(time.Second)}, false},
		{"max age", login.Requirement{MaxAge: time.Minute}, true},
	} {
		got, err := le.svc.Satisfies(le.ctx, s, tc.req)
		if err != nil || got != tc.want {
			t.Errorf("Satisfies(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	le.clock.Advance(2 * time.Minute)
	if ok, _ := le.svc.Satisfies(le.ctx, s, login.Requirement{MaxAge: time.Minute}); ok {
		t.Error("Satisfies ignores MaxAge")
	}

	// Allowed.
	disabled := mustApp(t, asvc, le.env, auth.AppSpec{Name: "off", Kind: auth.KindSAMLSP, Access: auth.Access{Everyone: true}})
	if _, err := asvc.UpdateApp(le.ctx, cli, disabled.ID, func(a *auth.App) error { a.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user *directory.User
		app  string
		ok   bool
		why  string
	}{
		{ada, book.ID, true, ""},
		{fin, book.ID, false, "You are not a member of a group allowed to use gitbook (readers)."},
		{fin, vault.ID, true, ""},
		{ada, closed.ID, false, "Nobody has been given access to closed yet"},
		{ada, disabled.ID, false, "off is disabled in Gatehouse."},
		{ada, scimApp.ID, false, "okta is not an application people sign in to."},
		{ada, "no-such-app", false, "This application is not known to Gatehouse."},
	} {
		ok, why, err := le.svc.Allowed(le.ctx, tc.user.ID, tc.app)
		if err != nil || ok != tc.ok || !strings.HasPrefix(why, tc.why) {
			t.Errorf("Allowed(%s, %s) = %v %q %v; want %v %q", tc.user.UserName, tc.app, ok, why, err, tc.ok, tc.why)
		}
	}
	apps, err := le.svc.AppsFor(le.ctx, ada.ID)
	if err != nil || len(apps) != 2 || apps[0].Name != "gitbook" || apps[1].Name != "vault" {
		t.Errorf("AppsFor(ada) = %v %v", apps, err)
	}
}

// testLoginPasswords: change with the current password, an
// administrator's reset (temporary password, forced change, sessions
// ended, expiry).
func testLoginPasswords(t *testing.T, ns NewStore) {
	le := newLoginEnv(t, ns, login.Options{PasswordPolicy: directory.DefaultPasswordPolicy(), TempPasswordLifetime: time.Hour})
	u := le.person("cy", "Secret-Pass-1", true)
	c := client(t, "192.0.2.1")
	other, _ := le.try(client(t, "192.0.2.2"), login.Requirement{}, "cy", "Secret-Pass-1")
	mine, _ := le.try(c, login.Requirement{}, "cy", "Secret-Pass-1")
	reason := func(err error) string {
		var f *login.Failure
		if errors.As(err, &f) {
			return f.Reason
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}
	for _, tc := range []struct{ current, next, confirm, want string }{
		{"wrong", "Other-Pass-2", "Other-Pass-2", "invalid"},
		{"Secret-Pass-1", "Other-Pass-2", "Other-Pass-3", "mismatch"},
		{"Secret-Pass-1", "short", "short", "password-policy"},
		{"Secret-Pass-1", "Secret-Pass-1", "Secret-Pass-1", "same-password"},
		{"Secret-Pass-1", "Other-Pass-2", "Other-Pass-2", ""},
	} {
		if got := reason(le.svc.ChangePassword(le.ctx, mine.Session, c, tc.current, tc.next, tc.confirm)); got != tc.want {
			t.Errorf("change %+v: %q", tc, got)
		}
	}
	if s, _ := le.svc.Session(le.ctx, mine.Token); s == nil {
		t.Error("the change ended the session that made it")
	}
	if s, _ := le.svc.Session(le.ctx, other.Token); s != nil {
		t.Error("the change left another session")
	}
	if _, r := le.try(c, login.Requirement{}, "cy", "Other-Pass-2"); r != "" {
		t.Errorf("the new password: %q", r)
	}

	temp, err := le.svc.ResetPassword(le.ctx, cli, u.ID)
	if err != nil || directory.DefaultPasswordPolicy().Check(temp, "cy") != nil {
		t.Fatalf("reset: %q %v", temp, err)
	}
	if s, _ := le.svc.Session(le.ctx, mine.Token); s != nil {
		t.Error("the reset left a session")
	}
	out, r := le.try(c, login.Requirement{}, "cy", temp)
	if r != "" || out.Done() || out.Pending.Stage != login.StageChange {
		t.Fatalf("login with the temporary password: %q %+v", r, out)
	}
	if _, err := le.svc.ForcedChange(le.ctx, out.Pending, c, temp, temp); reason(err) != "same-password" {
		t.Errorf("keeping the temporary password: %q", reason(err))
	}
	done, err := le.svc.ForcedChange(le.ctx, out.Pending, c, "Third-Pass-3", "Third-Pass-3")
	if err != nil || !done.Done() {
		t.Fatalf("forced change: %v", err)
	}
	// A reset's temporary password expires.
	temp, _ = le.svc.ResetPassword(le.ctx, cli, u.ID)
	le.clock.Advance(time.Hour)
	if _, r := le.try(c, login.Requirement{}, "cy", temp); r != "temp-expired" {
		t.Errorf("an expired temporary password: %q", r)
	}
	if diff := cmp.Diff([]string{"User.LoggedIn", "User.LoggedIn", "User.LoginFailed", "User.PasswordChanged", "User.LoggedIn",
		"User.PasswordChanged", "User.PasswordChanged", "User.LoggedIn", "User.PasswordChanged", "User.LoginFailed"}, le.eventTypes(u.ID)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// The change's event: who, forced, how many sessions ended; no hash.
	recs, _ := le.store.(events.Store).EventsAfter(le.ctx, 0, 10000)
	var changed []string
	for _, r := range recs {
		if r.Type == directory.UserPasswordChanged {
			var d directory.EventData
			_ = json.Unmarshal(r.Data, &d)
			changed = append(changed, string(d.Login))
			if strings.Contains(string(r.Data), "hashed:") {
				t.Errorf("an event carries the password hash: %s", r.Data)
			}
		}
	}
	want := []string{`{"sessionId":"` + mine.Session.ID + `","sessionsEnded":1,"by":"self"}`, `{"sessionsEnded":2,"by":"administrator"}`,
		`{"by":"self","forced":true}`, `{"sessionsEnded":1,"by":"administrator"}`}
	if diff := cmp.Diff(want, changed); diff != "" {
		t.Errorf("password change details (-want +got):\n%s", diff)
	}
}

// testLoginPolicyBinding: the policy's groups are bound to ids when first
// resolved, and recorded. A rename (SCIM PATCH displayName) keeps the
// policy on the group; a group created later with the old name does not
// gain it, in this process or after a restart; a name that matches no
// group, or a bound group that was deleted, is a warning. (Before the
// fix, groups were matched by display name at request time: the rename
// dropped the administrators' second factor, and the new group took it.)
func testLoginPolicyBinding(t *testing.T, ns NewStore) {
	policy := login.Policy{AdminGroups: []string{"Admins", "ghosts"}, GroupFactors: map[string]int{"finance": 2}}
	le := newLoginEnv(t, ns, login.Options{Policy: policy})
	root := le.person("root", "Secret-Pass-1", true)
	fin := le.person("fin", "Secret-Pass-1", true)
	mallory := le.person("mallory", "Secret-Pass-1", true)
	admins := le.createGroup("admins", root.ID)
	finance := le.createGroup("finance", fin.ID)
	need := func(svc *login.Service, u *directory.User, want int, what string) {
		t.Helper()
		got, err := svc.RequiredFactors(le.ctx, u.ID, "", 0)
		if err != nil || got != want {
			t.Errorf("%s: %s needs %d factors (%v), want %d", what, u.UserName, got, err, want)
		}
	}
	bindings, err := le.svc.BindPolicy(le.ctx)
	if err != nil {
		t.Fatal(err)
	}
	warned := map[string]string{}
	for _, b := range bindings {
		warned[b.Ref] = b.Warning
	}
	if warned["Admins"] != "" || warned["finance"] != "" || !strings.Contains(warned["ghosts"], "matches no group") {
		t.Errorf("warnings %q", warned)
	}
	need(le.svc, root, 2, "bound")
	need(le.svc, fin, 2, "bound")

	rename := func(g *directory.Group, name string) {
		t.Helper()
		if _, err := le.env.svc.UpdateGroup(le.ctx, le.actor, strict, g.ID, nil, func(g *directory.Group) error { g.DisplayName = name; return nil }, nil); err != nil {
			t.Fatal(err)
		}
	}
	rename(admins, "former-admins")
	rename(finance, "Finance & Accounting")
	le.createGroup("Admins", mallory.ID)
	le.createGroup("finance", mallory.ID)
	need(le.svc, root, 2, "renamed")
	need(le.svc, fin, 2, "renamed")
	need(le.svc, mallory, 1, "a new group with the old name")

	// After a restart: the recorded bindings hold.
	restarted := login.New(le.store, le.store, login.Options{Policy: policy, Now: le.clock.Now, NewID: newID, Hasher: loginHasher{}})
	need(restarted, root, 2, "renamed, restarted")
	need(restarted, fin, 2, "renamed, restarted")
	need(restarted, mallory, 1, "a new group with the old name, restarted")

	// A bound group deleted: a warning, and the new group still not bound.
	if err := le.env.svc.DeleteGroup(le.ctx, le.actor, strict, admins.ID, nil); err != nil {
		t.Fatal(err)
	}
	restarted = login.New(le.store, le.store, login.Options{Policy: policy, Now: le.clock.Now, NewID: newID, Hasher: loginHasher{}})
	bindings, err = restarted.BindPolicy(le.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bindings {
		if b.Ref == "Admins" && !strings.Contains(b.Warning, "no longer exists") {
			t.Errorf("a deleted bound group: warning %q", b.Warning)
		}
	}
	need(restarted, mallory, 1, "the bound group deleted")
}

// binderStore is a store that binds the policy's group names.
type binderStore interface {
	Store
	login.BindingStore
}

// pausingBinder is one replica's view of the store: after its first
// read of a binding it runs paused (which waits while the other replica
// binds), so two replicas bind at the same moment.
type pausingBinder struct {
	binderStore
	once   sync.Once
	paused func()
}

func (p *pausingBinder) SyncState(ctx context.Context, scope string) (string, error) {
	s, err := p.binderStore.SyncState(ctx, scope)
	p.once.Do(p.paused)
	return s, err
}

// testLoginPolicyBindingRace: two replicas binding at the same moment.
// Different names: neither binding is lost (a lost binding would bind
// again, to whichever group has the name then: a group created with the
// old name after a rename takes the policy). The same name, to different
// groups (renamed and recreated between the two lookups): the first
// binding wins and both replicas use it. (Before the fix the bindings
// were one record that each replica rewrote whole: the second writer
// dropped the first's name, and bound the same name to its own group.)
func testLoginPolicyBindingRace(t *testing.T, ns NewStore) {
	le := newLoginEnv(t, ns, login.Options{})
	bs, ok := le.store.(binderStore)
	if !ok {
		t.Skip("the store binds no names")
	}
	root := le.person("root", "Secret-Pass-1", true)
	fin := le.person("fin", "Secret-Pass-1", true)
	mallory := le.person("mallory", "Secret-Pass-1", true)
	rename := func(g *directory.Group, name string) {
		t.Helper()
		if _, err := le.env.svc.UpdateGroup(le.ctx, le.actor, strict, g.ID, nil, func(g *directory.Group) error { g.DisplayName = name; return nil }, nil); err != nil {
			t.Fatal(err)
		}
	}
	replica := func(policy login.Policy, paused func()) *login.Service {
		var st Store = bs
		if paused != nil {
			st = &pausingBinder{binderStore: bs, paused: paused}
		}
		return login.New(st, le.store, login.Options{Policy: policy, Now: le.clock.Now, NewID: newID, Hasher: loginHasher{}})
	}
	ids := func(bindings []login.Binding) map[string][]string {
		out := map[string][]string{}
		for _, b := range bindings {
			out[b.Ref] = b.IDs
		}
		return out
	}
	// race binds with b paused after its read while a binds and then
	// between runs; it returns both replicas' bindings.
	race := func(a, b login.Policy, between func()) (ba, bb []login.Binding) {
		t.Helper()
		read, resume := make(chan struct{}), make(chan struct{})
		rb := replica(b, func() { close(read); <-resume })
		done := make(chan error, 1)
		go func() {
			var err error
			bb, err = rb.BindPolicy(le.ctx)
			done <- err
		}()
		<-read
		ba, err := replica(a, nil).BindPolicy(le.ctx)
		if err != nil {
			t.Error(err)
		}
		between()
		close(resume)
		if err := <-done; err != nil {
			t.Error(err)
		}
		return ba, bb
	}

	// Different names.
	admins := le.createGroup("admins", root.ID)
	finance := le.createGroup("finance", fin.ID)
	race(login.Policy{AdminGroups: []string{"admins"}}, login.Policy{GroupFactors: map[string]int{"finance": 2}}, func() {})
	rename(admins, "former-admins")
	rename(finance, "former-finance")
	le.createGroup("admins", mallory.ID)
	le.createGroup("finance", mallory.ID)
	both := login.Policy{AdminGroups: []string{"admins"}, GroupFactors: map[string]int{"finance": 2}}
	got, err := replica(both, nil).BindPolicy(le.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"admins": {admins.ID}, "finance": {finance.ID}}, ids(got)); diff != "" {
		t.Errorf("bindings of different names made at once (-want +got):\n%s", diff)
	}

	// The same name, to different groups.
	ops := le.createGroup("ops", root.ID)
	var newOps *directory.Group
	policy := login.Policy{AdminGroups: []string{"ops"}}
	ba, bb := race(policy, policy, func() {
		rename(ops, "former-ops")
		newOps = le.createGroup("ops", mallory.ID)
	})
	want := map[string][]string{"ops": {ops.ID}}
	if diff := cmp.Diff(want, ids(ba)); diff != "" {
		t.Errorf("the first replica's binding (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, ids(bb)); diff != "" {
		t.Errorf("the second replica's binding (-want +got; %s is the new group):\n%s", newOps.ID, diff)
	}
	if got, err := replica(policy, nil).BindPolicy(le.ctx); err != nil || !cmp.Equal(want, ids(got)) {
		t.Errorf("the binding recorded: %v (%v), want %v", ids(got), err, want)
	}
	for _, u := range []*directory.User{root, mallory} {
		n, err := replica(policy, nil).RequiredFactors(le.ctx, u.ID, "", 0)
		if want := map[string]int{"root": 2, "mallory": 1}[u.UserName]; err != nil || n != want {
			t.Errorf("%s needs %d factors (%v), want %d", u.UserName, n, err, want)
		}
	}

	// Many replicas at once, each its own name: every binding kept.
	var names []string
	groups := map[string][]string{}
	for i := range 8 {
		name := "team-" + strconv.Itoa(i)
		names = append(names, name)
		groups[name] = []string{le.createGroup(name).ID}
	}
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			if _, err := replica(login.Policy{AdminGroups: []string{name}}, nil).BindPolicy(le.ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, name := range names {
		rename(&directory.Group{ID: groups[name][0]}, "former-"+name)
		le.createGroup(name)
	}
	got, err = replica(login.Policy{AdminGroups: names}, nil).BindPolicy(le.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(groups, ids(got)); diff != "" {
		t.Errorf("bindings made at once by many replicas (-want +got):\n%s", diff)
	}
}

// The policy bindings migration (0020) splits the one sync_state record
// of every binding (scope login:policy-groups) into a row per reference.
// Each store's test writes the record (LegacyPolicyBindings) with the
// schema before that migration, opens the database (which migrates it) and
// checks the bindings (CheckMigratedPolicyBindings).

// LegacyPolicyBindings records bindings the way Gatehouse did before the
// migration (the same SQL in both dialects).
func LegacyPolicyBindings() []string {
	return []string{`INSERT INTO sync_state (scope, state, updated) VALUES ('login:policy-groups',
		'{"Admins":{"ids":["g-admins"],"bound":"2026-01-02T03:04:05Z"},"it''s both":{"ids":["g-id","g-name"],"bound":"2026-01-02T03:04:06Z"}}',
		'2026-01-02T03:04:06Z')`}
}

// CheckMigratedPolicyBindings: the migrated bindings hold, and a name
// bound since binds as any other.
func CheckMigratedPolicyBindings(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	bs, ok := s.(login.BindingStore)
	if !ok {
		t.Fatal("the store binds no names")
	}
	if raw, err := bs.SyncState(ctx, "login:policy-groups"); err != nil || raw != "" {
		t.Errorf("the old record after the migration: %q (%v)", raw, err)
	}
	policy := login.Policy{AdminGroups: []string{"Admins", "it's both"}}
	svc := login.New(s, s, login.Options{Policy: policy, Now: time.Now, NewID: newID, Hasher: loginHasher{}})
	bindings, err := svc.BindPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	bound := map[string]time.Time{}
	for _, b := range bindings {
		got[b.Ref], bound[b.Ref] = b.IDs, b.Bound
	}
	if diff := cmp.Diff(map[string][]string{"Admins": {"g-admins"}, "it's both": {"g-id", "g-name"}}, got); diff != "" {
		t.Errorf("migrated bindings (-want +got):\n%s", diff)
	}
	if want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC); !bound["Admins"].Equal(want) {
		t.Errorf("Admins bound at %v, want %v", bound["Admins"], want)
	}
}

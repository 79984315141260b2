package storetest

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/login/webauthntest"
)

// Second factors over the store: TOTP set up during a login and from a
// session, codes used once, recovery codes, WebAuthn with a software
// authenticator (its signature counter, its challenge used once, another
// origin refused), removal, an administrator's reset, step-up, and the
// second-factor lockout.

const testOrigin = "https://sso.example.com"

// withFactors replaces the env's service with one that offers both kinds
// of factor (a factor key, a WebAuthn relying party for testOrigin).
func (le *loginEnv) withFactors(opt login.Options) {
	le.t.Helper()
	sealer, err := login.NewSealer(bytes.Repeat([]byte{42}, login.FactorKeySize))
	if err != nil {
		le.t.Fatal(err)
	}
	rp, err := login.NewRelyingParty(testOrigin, "Gatehouse")
	if err != nil {
		le.t.Fatal(err)
	}
	opt.Now, opt.NewID, opt.Hasher, opt.Sealer, opt.RelyingParty = le.clock.Now, newID, loginHasher{}, sealer, rp
	le.svc = login.New(le.store, le.store, opt)
}

// secretOf reads the secret an enrolment shows for manual entry.
func secretOf(t testing.TB, e *login.TOTPEnrolment) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(e.Secret, " ", ""))
	if err != nil {
		t.Fatalf("secret %q: %v", e.Secret, err)
	}
	return b
}

// enrolTOTP sets up an authenticator app in login p (at StageEnrol) and
// returns its secret.
func (le *loginEnv) enrolTOTP(p *login.Pending, c login.Client) []byte {
	le.t.Helper()
	e, err := le.svc.EnrolTOTP(le.ctx, p)
	if err != nil {
		le.t.Fatal(err)
	}
	secret := secretOf(le.t, e)
	out, err := le.svc.ConfirmEnrolTOTP(le.ctx, p, c, e.FactorID, "phone", login.TOTPCode(secret, le.clock.t))
	if err != nil || !out.Done() || len(out.RecoveryCodes) != login.RecoveryCodeCount {
		le.t.Fatalf("set up during the login: %v %+v", err, out)
	}
	return secret
}

// wrongCode is a code that is not the secret's around t.
func wrongCode(secret []byte, t time.Time) string {
	near := map[string]bool{}
	for _, d := range []time.Duration{-login.TOTPPeriod, 0, login.TOTPPeriod} {
		near[login.TOTPCode(secret, t.Add(d))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !near[c] {
			return c
		}
	}
	return "444444"
}

func reasonOf(err error) string {
	var f *login.Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// session logs in with the password (and code, when one is asked) and
// returns the outcome.
func (le *loginEnv) session(c login.Client, req login.Requirement, user string, secret []byte) *login.Outcome {
	le.t.Helper()
	out, reason := le.try(c, req, user, "Secret-Pass-1")
	if reason != "" {
		le.t.Fatalf("login %s: %s", user, reason)
	}
	if out.Done() {
		return out
	}
	if out.Pending.Stage != login.StageStep || secret == nil {
		le.t.Fatalf("login %s stopped at %s", user, out.Pending.Stage)
	}
	done, err := le.svc.Step(le.ctx, out.Pending, c, "totp", map[string][]string{"code": {login.TOTPCode(secret, le.clock.t)}})
	if err != nil || !done.Done() {
		le.t.Fatalf("login %s, its code: %v", user, err)
	}
	return done
}

func testLoginFactors(t *testing.T, ns NewStore) {
	le := newLoginEnv(t, ns, login.Options{})
	policy := login.Policy{AdminGroups: []string{"admins"}}
	le.withFactors(login.Options{Policy: policy, Lockout: login.Lockout{Failures: 100, AccountFailures: 1000, AddressFailures: 100000, FactorFailures: 10}})
	ada := le.person("ada", "Secret-Pass-1", true)
	c := client(t, "192.0.2.1")

	// Nobody asks her for a second factor: one is enough.
	first := le.session(c, login.Requirement{}, "ada", nil)
	if first.Session.Factors != 1 {
		t.Fatalf("a first login: %+v", first.Session)
	}
	sess := first.Session

	// She adds an authenticator app from her session: a wrong first code
	// is refused, the right one confirms it, and her first factor comes
	// with ten recovery codes.
	stale, err := le.svc.AddTOTP(le.ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	e, err := le.svc.AddTOTP(le.ctx, sess) // a newer set-up (another page) replaces it
	if err != nil {
		t.Fatal(err)
	}
	if _, err := le.svc.ConfirmTOTP(le.ctx, sess, c, stale.FactorID, "", login.TOTPCode(secretOf(t, stale), le.clock.t)); reasonOf(err) != "setup-expired" {
		t.Errorf("a replaced set-up confirmed: %v", err)
	}
	secret := secretOf(t, e)
	if !strings.HasPrefix(e.URI, "otpauth://totp/Gatehouse:ada?") {
		t.Errorf("URI %s", e.URI)
	}
	if _, err := le.svc.ConfirmTOTP(le.ctx, sess, c, e.FactorID, "phone", wrongCode(secret, le.clock.t)); reasonOf(err) != "invalid" {
		t.Errorf("a wrong first code: %v", err)
	}
	again, err := le.svc.TOTPEnrolment(le.ctx, ada.ID, e.FactorID)
	if err != nil || again.Secret != e.Secret {
		t.Errorf("the set-up shown again: %v", err)
	}
	codes, err := le.svc.ConfirmTOTP(le.ctx, sess, c, e.FactorID, "phone", login.TOTPCode(secret, le.clock.t))
	if err != nil || len(codes) != login.RecoveryCodeCount {
		t.Fatalf("confirm: %d codes, %v", len(codes), err)
	}
	if _, err := le.svc.TOTPEnrolment(le.ctx, ada.ID, e.FactorID); err == nil {
		t.Error("a confirmed secret is shown again")
	}
	// The secret is sealed in the database.
	stored, err := le.store.Factors(le.ctx, ada.ID)
	if err != nil || len(stored) != 1 || bytes.Contains(stored[0].Secret, secret) || len(stored[0].Secret) < len(secret)+16 {
		t.Fatalf("stored factor: %+v %v", stored, err)
	}
	list, err := le.svc.Factors(le.ctx, ada.ID)
	if err != nil || len(list.Factors) != 1 || list.Factors[0].Name != "phone" || list.Factors[0].Kind != "totp" || list.RecoveryCodes != 10 {
		t.Errorf("factors: %+v %v", list, err)
	}

	// From now on her login asks for it, even though the policy does not.
	// The code that confirmed the app is not accepted again (its step is
	// used); the next one is.
	out, reason := le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	if reason != "" || out.Pending == nil || out.Pending.Stage != login.StageStep {
		t.Fatalf("a login after the set-up: %q %+v", reason, out)
	}
	steps, err := le.svc.StepsFor(le.ctx, out.Pending)
	if err != nil || len(steps) != 2 || steps[0].Method() != "totp" || steps[1].Method() != "recovery" {
		t.Fatalf("steps: %v %v", steps, err)
	}
	if _, err := le.svc.Step(le.ctx, out.Pending, c, "totp", map[string][]string{"code": {login.TOTPCode(secret, le.clock.t)}}); reasonOf(err) != "code-used" {
		t.Errorf("the confirming code again: %v", err)
	}
	le.clock.Advance(login.TOTPPeriod)
	code := login.TOTPCode(secret, le.clock.t)
	done, err := le.svc.Step(le.ctx, out.Pending, c, "totp", map[string][]string{"code": {code}})
	if err != nil || !done.Done() || !cmp.Equal(done.Session.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("the next code: %v %+v", err, done)
	}
	// The same code in another login, on this replica or another: refused.
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	if _, err := le.svc.Step(le.ctx, out.Pending, c, "totp", map[string][]string{"code": {code}}); reasonOf(err) != "code-used" {
		t.Errorf("a code used twice: %v", err)
	}

	// A recovery code stands in for the app, once.
	p, _ := le.svc.PendingFor(le.ctx, out.Pending.ID, c)
	// Its AMR is "pwd", not "otp" (login.AMRRecoveryCode): two factors
	// all the same (mfa, the 2FA ACR).
	done, err = le.svc.Step(le.ctx, p, c, "recovery", map[string][]string{"code": {strings.ToUpper(codes[0])}})
	if err != nil || !done.Done() || !cmp.Equal(done.Session.AMR, []string{"pwd", "mfa"}) || done.Session.Factors != 2 ||
		done.Session.ACR() != login.ACR2FA {
		t.Fatalf("a recovery code: %v %+v", err, done)
	}
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	if _, err := le.svc.Step(le.ctx, out.Pending, c, "recovery", map[string][]string{"code": {codes[0]}}); reasonOf(err) != "invalid" {
		t.Errorf("a recovery code used twice: %v", err)
	}
	if list, _ := le.svc.Factors(le.ctx, ada.ID); list.RecoveryCodes != 9 {
		t.Errorf("recovery codes left: %d", list.RecoveryCodes)
	}

	// A security key, added from a recent session (no new codes: not her
	// first factor).
	sess = done.Session
	opts, err := le.svc.AddWebAuthn(le.ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	key := &webauthntest.Authenticator{Origin: testOrigin}
	resp, err := key.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if codes, err := le.svc.ConfirmWebAuthn(le.ctx, sess, c, "YubiKey", resp); err != nil || codes != nil {
		t.Fatalf("register a key: %v %v", codes, err)
	}
	// Another person cannot register a credential id that is ada's.
	bea := le.person("bea", "Secret-Pass-1", true)
	beaSess := le.session(client(t, "192.0.2.9"), login.Requirement{}, "bea", nil).Session
	beaOpts, err := le.svc.AddWebAuthn(le.ctx, beaSess)
	if err != nil {
		t.Fatal(err)
	}
	copycat := &webauthntest.Authenticator{Origin: testOrigin, ID: key.CredentialID()}
	beaResp, _ := copycat.Create(beaOpts)
	if _, err := le.svc.ConfirmWebAuthn(le.ctx, beaSess, c, "", beaResp); reasonOf(err) != "invalid" {
		t.Errorf("a credential id registered twice: %v", err)
	}
	if list, _ := le.svc.Factors(le.ctx, bea.ID); len(list.Factors) != 0 {
		t.Errorf("bea's factors: %+v", list.Factors)
	}
	// The same answer again: its ceremony is over.
	if _, err := le.svc.ConfirmWebAuthn(le.ctx, sess, c, "YubiKey", resp); reasonOf(err) != "invalid" {
		t.Errorf("a registration replayed: %v", err)
	}
	// The login offers the key first; the assertion signs in: hwk, user.
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	steps, _ = le.svc.StepsFor(le.ctx, out.Pending)
	if len(steps) != 3 || steps[0].Method() != "webauthn" {
		t.Fatalf("steps with a key: %v", steps)
	}
	assert := func(p *login.Pending, a *webauthntest.Authenticator) (string, *login.Outcome, error) {
		t.Helper()
		o, err := steps[0].Challenge(le.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := a.Get(o)
		if err != nil {
			t.Fatal(err)
		}
		done, err := le.svc.Step(le.ctx, p, c, "webauthn", map[string][]string{"credential": {r}})
		return r, done, err
	}
	clone := *key // a copy of the key as it is now: its counter will lag
	r, done, err := assert(out.Pending, key)
	if err != nil || !cmp.Equal(done.Session.AMR, []string{"pwd", "hwk", "user", "mfa"}) {
		t.Fatalf("a key's assertion: %v %+v", err, done)
	}
	// Replayed: no ceremony is waiting for it.
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	if _, err := le.svc.Step(le.ctx, out.Pending, c, "webauthn", map[string][]string{"credential": {r}}); reasonOf(err) != "invalid" {
		t.Errorf("an assertion replayed: %v", err)
	}
	// The cloned key's counter does not move past the stored one.
	p, _ = le.svc.PendingFor(le.ctx, out.Pending.ID, c)
	if _, _, err := assert(p, &clone); reasonOf(err) != "invalid" {
		t.Errorf("a cloned key: %v", err)
	}
	// An assertion made for another origin (a phishing site's page).
	p, _ = le.svc.PendingFor(le.ctx, out.Pending.ID, c)
	o, _ := steps[0].Challenge(le.ctx, p)
	ch, _ := webauthntest.Challenge(o)
	key.Counter++
	forged, _ := key.Sign(webauthntest.ClientData("webauthn.get", ch, "https://sso.example.com.evil.test"))
	if _, err := le.svc.Step(le.ctx, p, c, "webauthn", map[string][]string{"credential": {forged}}); reasonOf(err) != "invalid" {
		t.Errorf("another origin: %v", err)
	}
	// Nothing that is not an assertion gets through, nor crashes.
	for _, junk := range []string{"", "{}", "null", `{"id":"x","type":"public-key","response":{}}`, strings.Repeat("[", 10000)} {
		p, _ = le.svc.PendingFor(le.ctx, out.Pending.ID, c)
		if _, err := steps[0].Challenge(le.ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := le.svc.Step(le.ctx, p, c, "webauthn", map[string][]string{"credential": {junk}}); reasonOf(err) != "invalid" {
			t.Errorf("credential %.20q: %v", junk, err)
		}
	}
	if list, _ := le.svc.Factors(le.ctx, ada.ID); len(list.Factors) != 2 || list.Factors[1].Name != "YubiKey" ||
		!cmp.Equal(list.Factors[1].AMR, []string{"hwk", "user"}) || list.Factors[1].LastUsed == nil {
		t.Errorf("factors with a key: %+v", list)
	}

	// Factor changes need a recent login.
	le.clock.Advance(6 * time.Minute)
	if err := le.svc.RemoveFactor(le.ctx, sess, c, stored[0].ID); reasonOf(err) != "reauth" {
		t.Errorf("removal without a recent login: %v", err)
	}
	if _, err := le.svc.NewRecoveryCodes(le.ctx, sess, c); reasonOf(err) != "reauth" {
		t.Errorf("new codes without a recent login: %v", err)
	}
	if _, err := le.svc.AddTOTP(le.ctx, sess); reasonOf(err) != "reauth" {
		t.Errorf("a set-up without a recent login: %v", err)
	}
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	p, _ = le.svc.PendingFor(le.ctx, out.Pending.ID, c)
	_, done, err = assert(p, key)
	if err != nil {
		t.Fatal(err)
	}
	sess = done.Session
	newCodes, err := le.svc.NewRecoveryCodes(le.ctx, sess, c)
	if err != nil || len(newCodes) != 10 {
		t.Fatalf("new codes: %v", err)
	}
	if err := le.svc.RemoveFactor(le.ctx, sess, c, stored[0].ID); err != nil {
		t.Fatalf("remove the app: %v", err)
	}
	// The old codes no longer work; the new ones do.
	out, _ = le.try(c, login.Requirement{}, "ada", "Secret-Pass-1")
	if _, err := le.svc.Step(le.ctx, out.Pending, c, "recovery", map[string][]string{"code": {codes[1]}}); reasonOf(err) != "invalid" {
		t.Errorf("an old code after new ones were made: %v", err)
	}
	p, _ = le.svc.PendingFor(le.ctx, out.Pending.ID, c)
	if _, err := le.svc.Step(le.ctx, p, c, "totp", map[string][]string{"code": {login.TOTPCode(secret, le.clock.t)}}); reasonOf(err) != "expired" {
		t.Errorf("a removed app's code: %v", err)
	}
	p, _ = le.svc.PendingFor(le.ctx, out.Pending.ID, c)
	if done, err := le.svc.Step(le.ctx, p, c, "recovery", map[string][]string{"code": {newCodes[0]}}); err != nil || !done.Done() {
		t.Errorf("a new code: %v", err)
	}

	want := []string{"login.success",
		"user.factor.add", "user.recovery.generate", // the app
		"login.failure", "login.success", "login.failure", "user.recovery.use", "login.success", "login.failure",
		"user.factor.add", "login.success", // the key
		"login.failure", "login.failure", "login.failure", "login.failure", "login.failure", "login.failure", "login.failure", "login.failure",
		"login.success", "user.recovery.generate", "user.factor.remove", "login.failure", "user.recovery.use", "login.success"}
	if diff := cmp.Diff(want, le.actions(ada.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	types := le.eventTypes(ada.ID)
	for typ, n := range map[string]int{"User.FactorAdded": 4, "User.FactorRemoved": 1, "User.RecoveryCodeUsed": 2} {
		if got := count(types, typ); got != n {
			t.Errorf("%d %s events, want %d", got, typ, n)
		}
	}
	if !eventDetail(le, ada.ID, "User.RecoveryCodeUsed", `"recoveryCodesLeft":9`) || !eventDetail(le, ada.ID, "User.FactorAdded", `"name":"YubiKey"`) {
		t.Error("the events' detail.login lacks the factor or the codes left")
	}
	if eventDetail(le, ada.ID, "", "192.0.2.1") || eventDetail(le, ada.ID, "", string(secret)) {
		t.Error("an event carries the address or a secret")
	}
}

// eventDetail reports whether an event of typ ("" any) about userID has
// want in its data.
func eventDetail(le *loginEnv, userID, typ, want string) bool {
	le.t.Helper()
	es, ok := le.store.(interface {
		EventsAfter(ctx context.Context, after int64, limit int) ([]*directory.EventRecord, error)
	})
	if !ok {
		le.t.Skip("the store has no outbox")
	}
	recs, err := es.EventsAfter(le.ctx, 0, 10000)
	if err != nil {
		le.t.Fatal(err)
	}
	for _, r := range recs {
		if r.ResourceID == userID && (typ == "" || r.Type == typ) && strings.Contains(string(r.Data), want) {
			return true
		}
	}
	return false
}

// testLoginFactorPolicy: a person the policy asks two factors of sets one
// up during her login, cannot remove her last one, and an administrator's
// reset takes them all (and her sessions); step-up asks an existing
// session only for the missing factor; the second-factor lockout stops
// untrusted clients only.
func testLoginFactorPolicy(t *testing.T, ns NewStore) {
	le := newLoginEnv(t, ns, login.Options{})
	policy := login.Policy{AdminGroups: []string{"admins"}}
	le.withFactors(login.Options{Policy: policy, Lockout: login.Lockout{Failures: 100, AccountFailures: 1000, AddressFailures: 100000, FactorFailures: 3}})
	root := le.person("root", "Secret-Pass-1", true)
	cy := le.person("cy", "Secret-Pass-1", true)
	le.createGroup("admins", root.ID)
	asvc := le.auth(auth.Options{})
	vault := mustApp(t, asvc, le.env, auth.AppSpec{Name: "vault", Kind: auth.KindOIDCClient, Access: auth.Access{Everyone: true, MinFactors: 2}})
	c := client(t, "192.0.2.1")

	// After her password, she sets up a key; the key is her second factor.
	out, reason := le.try(c, login.Requirement{}, "root", "Secret-Pass-1")
	if reason != "" || out.Pending.Stage != login.StageEnrol {
		t.Fatalf("an administrator without a factor: %q %+v", reason, out)
	}
	// Nothing else can be done at this stage.
	if _, err := le.svc.Step(le.ctx, out.Pending, c, "totp", map[string][]string{"code": {"123456"}}); reasonOf(err) != "expired" {
		t.Errorf("a step during the set-up: %v", err)
	}
	opts, err := le.svc.EnrolWebAuthn(le.ctx, out.Pending)
	if err != nil {
		t.Fatal(err)
	}
	key := &webauthntest.Authenticator{Origin: testOrigin, BackupEligible: true} // a synced passkey
	resp, _ := key.Create(opts)
	done, err := le.svc.ConfirmEnrolWebAuthn(le.ctx, out.Pending, c, "", resp)
	if err != nil || !done.Done() || len(done.RecoveryCodes) != 10 || !cmp.Equal(done.Session.AMR, []string{"pwd", "swk", "user", "mfa"}) {
		t.Fatalf("set up during the login: %v %+v", err, done)
	}
	if list, _ := le.svc.Factors(le.ctx, root.ID); len(list.Factors) != 1 || list.Factors[0].Name != "Security key" {
		t.Errorf("factors: %+v", list)
	}
	// Only a first factor is set up on the strength of a password.
	if _, err := le.svc.EnrolTOTP(le.ctx, out.Pending); reasonOf(err) != "expired" {
		t.Errorf("a second set-up in the same login: %v", err)
	}
	// Her only factor cannot be removed: the policy needs it.
	rootFactors, _ := le.store.Factors(le.ctx, root.ID)
	if err := le.svc.RemoveFactor(le.ctx, done.Session, c, rootFactors[0].ID); reasonOf(err) != "last-factor" {
		t.Errorf("removing an administrator's last factor: %v", err)
	}
	// An administrator's reset: factors, codes and sessions go.
	removed, ended, err := le.svc.ResetFactors(le.ctx, cli, root.ID)
	if err != nil || removed != 1 || ended != 1 {
		t.Fatalf("reset: %d %d %v", removed, ended, err)
	}
	if got, _ := le.svc.Session(le.ctx, done.Token); got != nil {
		t.Error("a session survived the reset")
	}
	if list, _ := le.svc.Factors(le.ctx, root.ID); len(list.Factors) != 0 || list.RecoveryCodes != 0 {
		t.Errorf("after the reset: %+v", list)
	}
	if out, _ := le.try(c, login.Requirement{}, "root", "Secret-Pass-1"); out.Pending.Stage != login.StageEnrol {
		t.Errorf("after the reset the login does not lead to a set-up: %+v", out.Pending)
	}
	if !eventDetail(le, root.ID, "User.FactorRemoved", `"sessionsEnded":1,"by":"administrator","factorsRemoved":1`) {
		t.Error("the reset's event")
	}

	// Step-up: cy's one-factor session, an application that needs two.
	one := le.session(c, login.Requirement{}, "cy", nil)
	c.Session = one.Token
	if ok, _ := le.svc.Satisfies(le.ctx, one.Session, login.Requirement{AppID: vault.ID}); ok {
		t.Fatal("a one-factor session satisfies an application that needs two")
	}
	p, err := le.svc.Begin(le.ctx, c, login.Requirement{AppID: vault.ID}, "/oidc/resume?h=x")
	if err != nil || p.Stage != login.StageEnrol || p.UserID != cy.ID || p.Factors != 1 {
		t.Fatalf("step-up without a factor: %v %+v", err, p)
	}
	secret := le.enrolTOTP(p, c)
	// Later, with an old session (past login.reauth) and her app: the
	// step-up asks only for the code; a forced login asks everything.
	le.clock.Advance(time.Minute)
	one = le.session(c, login.Requirement{}, "cy", secret)
	le.clock.Advance(10 * time.Minute)
	// (A one-factor session of hers, as if from before she had the app.)
	oneFactor := &login.Session{ID: "old-" + one.Session.ID, UserID: cy.ID, AuthTime: le.clock.t.Add(-10 * time.Minute), AMR: []string{"pwd"}, Factors: 1,
		Created: le.clock.t.Add(-10 * time.Minute), LastSeen: le.clock.t, Expires: le.clock.t.Add(time.Hour)}
	tok, _ := login.NewToken()
	if err := le.store.WriteLogin(le.ctx, func(tx login.Tx) error { return tx.InsertSession(le.ctx, oneFactor, login.HashToken(tok)) }); err != nil {
		t.Fatal(err)
	}
	c.Session = tok
	p, err = le.svc.Begin(le.ctx, c, login.Requirement{AppID: vault.ID}, "/")
	if err != nil || p.Stage != login.StageStep || p.UserID != cy.ID {
		t.Fatalf("step-up with a factor: %v %+v", err, p)
	}
	up, err := le.svc.Step(le.ctx, p, c, "totp", map[string][]string{"code": {login.TOTPCode(secret, le.clock.t)}})
	if err != nil || !up.Done() || up.Session.Factors != 2 || !up.Session.AuthTime.Equal(oneFactor.AuthTime) {
		t.Fatalf("the step-up's code: %v %+v", err, up)
	}
	if got, _ := le.svc.Session(le.ctx, tok); got != nil {
		t.Error("the stepped-up session was not replaced")
	}
	if p, _ := le.svc.Begin(le.ctx, c, login.Requirement{AppID: vault.ID, Force: true}, "/"); p.Stage != login.StageFirst {
		t.Errorf("a forced login stepped up: %+v", p)
	}

	// The second-factor lockout: 3 wrong codes from an untrusted browser
	// stop such browsers, not her own.
	le.clock.Advance(time.Minute)
	stranger := client(t, "203.0.113.9")
	for i := range 4 {
		out, reason := le.try(stranger, login.Requirement{}, "cy", "Secret-Pass-1")
		if reason != "" {
			t.Fatal(reason)
		}
		_, err := le.svc.Step(le.ctx, out.Pending, stranger, "totp", map[string][]string{"code": {wrongCode(secret, le.clock.t)}})
		want := "invalid"
		if i == 3 {
			want = "factor-locked"
		}
		if reasonOf(err) != want {
			t.Errorf("wrong code %d: %v, want %s", i+1, err, want)
		}
	}
	out, _ = le.try(stranger, login.Requirement{}, "cy", "Secret-Pass-1")
	if _, err := le.svc.Step(le.ctx, out.Pending, stranger, "totp", map[string][]string{"code": {login.TOTPCode(secret, le.clock.t)}}); reasonOf(err) != "factor-locked" {
		t.Errorf("the right code from a locked-out browser: %v", err)
	}
	st, _ := le.svc.State(le.ctx, cy.ID)
	if !st.FactorLocked || st.FactorFailures != 3 {
		t.Errorf("state: %+v", st)
	}
	// Her trusted browser (c has the device cookie of her logins).
	c.Device = up.DeviceToken
	if c.Device == "" {
		c.Device = one.DeviceToken
	}
	le.clock.Advance(login.TOTPPeriod)
	le.session(c, login.Requirement{}, "cy", secret)
	if !eventDetail(le, cy.ID, "User.Locked", `"scope":"factor"`) {
		t.Error("no User.Locked with scope factor")
	}
	// An administrator's unlock lets untrusted browsers try again.
	if err := le.svc.Unlock(le.ctx, cli, cy.ID); err != nil {
		t.Fatal(err)
	}
	le.clock.Advance(login.TOTPPeriod)
	le.session(stranger, login.Requirement{}, "cy", secret)
}

// testLoginFactorStore: the conditional updates replicas rely on.
func testLoginFactorStore(t *testing.T, ns NewStore) {
	le := newLoginEnv(t, ns, login.Options{})
	u := le.person("dee", "Secret-Pass-1", true)
	now := le.clock.t
	f := &login.Factor{ID: "f1", UserID: u.ID, Kind: login.FactorTOTP, Name: "phone", Confirmed: true, Secret: []byte{1, 2, 3}, Created: now}
	w := &login.Factor{ID: "f2", UserID: u.ID, Kind: login.FactorWebAuthn, Name: "key", Confirmed: true, CredentialID: []byte("cred"),
		Credential: []byte(`{"id":"Y3JlZA"}`), SignCount: 5, Created: now}
	write := func(fn func(tx login.Tx) error) {
		t.Helper()
		if err := le.store.WriteLogin(le.ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	write(func(tx login.Tx) error {
		if err := tx.InsertFactor(le.ctx, f); err != nil {
			return err
		}
		return tx.InsertFactor(le.ctx, w)
	})
	// The same WebAuthn credential twice: a conflict.
	err := le.store.WriteLogin(le.ctx, func(tx login.Tx) error {
		dup := *w
		dup.ID = "f3"
		return tx.InsertFactor(le.ctx, &dup)
	})
	if !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a credential registered twice: %v", err)
	}
	var got []bool
	write(func(tx login.Tx) error {
		for _, step := range []int64{5, 5, 4, 6} {
			ok, err := tx.UseTOTPStep(le.ctx, f.ID, step, now)
			if err != nil {
				return err
			}
			got = append(got, ok)
		}
		for _, n := range []uint32{5, 6, 6, 9} {
			ok, err := tx.UseSignCount(le.ctx, w.ID, n, w.Credential, now)
			if err != nil {
				return err
			}
			got = append(got, ok)
		}
		return nil
	})
	if diff := cmp.Diff([]bool{true, false, false, true, false, true, false, true}, got); diff != "" {
		t.Errorf("conditional uses (-want +got):\n%s", diff)
	}
	fs, err := le.store.Factors(le.ctx, u.ID)
	if err != nil || len(fs) != 2 || fs[0].LastStep != 6 || fs[1].SignCount != 9 || !bytes.Equal(fs[0].Secret, []byte{1, 2, 3}) ||
		!fs[1].LastUsed.Equal(now) || !bytes.Equal(fs[1].CredentialID, []byte("cred")) {
		t.Errorf("factors: %+v %v", fs, err)
	}
	// A counter-less authenticator (always 0) is accepted each time.
	z := &login.Factor{ID: "f4", UserID: u.ID, Kind: login.FactorWebAuthn, Confirmed: true, CredentialID: []byte("zero"), Created: now}
	write(func(tx login.Tx) error {
		if err := tx.InsertFactor(le.ctx, z); err != nil {
			return err
		}
		for range 2 {
			if ok, err := tx.UseSignCount(le.ctx, z.ID, 0, nil, now); err != nil || !ok {
				return errors.Join(err, errors.New("a zero counter refused"))
			}
		}
		return nil
	})
	// Recovery codes: used once; replaced wholesale.
	write(func(tx login.Tx) error {
		return tx.PutRecoveryCodes(le.ctx, u.ID, [][]byte{[]byte("h1"), []byte("h2")}, now)
	})
	var used []bool
	write(func(tx login.Tx) error {
		for _, h := range []string{"h1", "h1", "nope"} {
			ok, err := tx.UseRecoveryCode(le.ctx, u.ID, []byte(h))
			if err != nil {
				return err
			}
			used = append(used, ok)
		}
		return nil
	})
	if n, _ := le.store.RecoveryCodes(le.ctx, u.ID); !cmp.Equal(used, []bool{true, false, false}) || n != 1 {
		t.Errorf("recovery codes: %v, %d left", used, n)
	}
	// A challenge is taken once.
	write(func(tx login.Tx) error {
		return tx.PutChallenge(le.ctx, &login.Challenge{Binding: "login:x", UserID: u.ID, Purpose: "webauthn.get", Data: []byte(`{"c":1}`), Expires: now.Add(time.Minute)})
	})
	var first, second error
	var ch *login.Challenge
	_ = le.store.WriteLogin(le.ctx, func(tx login.Tx) error {
		ch, first = tx.TakeChallenge(le.ctx, "login:x")
		_, second = tx.TakeChallenge(le.ctx, "login:x")
		return nil
	})
	if first != nil || !errors.Is(second, directory.ErrNotFound) || string(ch.Data) != `{"c":1}` || !ch.Expires.Equal(now.Add(time.Minute)) {
		t.Errorf("take a challenge: %v %v %+v", first, second, ch)
	}
	// Unconfirmed set-ups are pruned after the window; confirmed ones stay.
	write(func(tx login.Tx) error {
		return tx.InsertFactor(le.ctx, &login.Factor{ID: "f5", UserID: u.ID, Kind: login.FactorTOTP, Secret: []byte{9}, Created: now})
	})
	le.clock.Advance(time.Hour)
	if _, err := le.svc.Prune(le.ctx); err != nil {
		t.Fatal(err)
	}
	fs, _ = le.store.Factors(le.ctx, u.ID)
	if len(fs) != 3 {
		t.Errorf("after pruning: %d factors", len(fs))
	}
	// Deleting the account takes everything with it.
	if err := le.env.svc.DeleteUser(le.ctx, le.actor, strict, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	if fs, _ := le.store.Factors(le.ctx, u.ID); len(fs) != 0 {
		t.Errorf("a deleted user's factors: %d", len(fs))
	}
}

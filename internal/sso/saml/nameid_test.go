package saml_test

import (
	"bytes"
	"encoding/base64"
	"html"
	"net/http"
	"strings"
	"testing"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

const (
	ramEntity = "https://signin.aliyun.com/1234567890123456/saml/SpEntityId"
	ramACS    = "https://signin.aliyun.com/saml/SSO"
)

// signInTo runs an SP-initiated sign-on of u (one factor) and returns the
// answer.
func signInTo(t *testing.T, e *env, sp *testSP, u *directory.User) *answer {
	a, _ := signInWithID(t, e, sp, u)
	return a
}

func signInWithID(t *testing.T, e *env, sp *testSP, u *directory.User) (*answer, string) {
	t.Helper()
	b := e.browser()
	b.signIn(u, 1, e.now())
	url, id := sp.redirectRequest(t, "", nil)
	return b.get(url), id
}

// signedInAs signs u in to sp and returns the assertion the service
// provider accepts.
func signedInAs(t *testing.T, e *env, sp *testSP, u *directory.User) *crewsaml.Assertion {
	t.Helper()
	a, id := signInWithID(t, e, sp, u)
	as, err := sp.parse(a.form(t), id)
	if err != nil {
		t.Fatalf("the service provider refuses the response: %v", err)
	}
	return as
}

// refusedWith checks a refusal page that says why and carries the
// service provider's Responder/RequestDenied response, without an
// assertion.
func refusedWith(t *testing.T, a *answer, why string) {
	t.Helper()
	if a.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(a.body), why) {
		t.Fatalf("want the refusal page saying %q, got %d %s", why, a.status, a.body)
	}
	r := responseRE.FindStringSubmatch(a.body)
	if r == nil {
		t.Fatalf("the refusal page carries no response for the service provider: %s", a.body)
	}
	xml, err := base64.StdEncoding.DecodeString(html.UnescapeString(r[1]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(xml, []byte(crewsaml.StatusResponder)) || !bytes.Contains(xml, []byte(crewsaml.StatusRequestDenied)) ||
		bytes.Contains(xml, []byte("Assertion")) {
		t.Errorf("want Responder/RequestDenied and no assertion, got %s", xml)
	}
	if strings.Contains(a.body, "<script") {
		t.Error("the refusal page submits itself: the person must read it first")
	}
}

// TestNameIDCollisionGitBook: the GitBook preset's NameID is the
// lower-cased email, and emails are not unique: another active account
// with the same email in any case would be signed in to the same GitBook
// account. Both are refused, with a page, the SP told RequestDenied, an
// audit record and an event. (Before the fix both were signed in as
// alice@example.com.)
func TestNameIDCollisionGitBook(t *testing.T) {
	e := newEnv(t)
	s := settingsFor(spEntity, spACS)
	if err := s.ApplyPreset("gitbook"); err != nil {
		t.Fatal(err)
	}
	e.app("GitBook", s)
	sp := e.newSP(spEntity, spACS, false)
	alice := e.user("alice", "alice@example.com", "Alice", "Liddell")

	// Alone, she signs in.
	signedInAs(t, e, sp, alice)
	// A disabled account with her email does not stand in her way.
	if _, _, err := e.dir.CreateUser(e.ctx, directory.Actor{Kind: "cli"}, directory.Profile{}, &directory.User{
		UserName: "alice-old", Active: false,
		Attrs: directory.Attrs{"emails": []any{map[string]any{"value": "ALICE@example.com", "primary": true}}},
	}); err != nil {
		t.Fatal(err)
	}
	signedInAs(t, e, sp, alice)

	mallory := e.user("mallory", "Alice@EXAMPLE.com", "Mal", "Lory")
	for _, u := range []*directory.User{alice, mallory} {
		refusedWith(t, signInTo(t, e, sp, u), "another account at Gatehouse would be known to GitBook by the same name")
	}
	audit, err := e.store.Audit(e.ctx, directory.AuditQuery{Action: "sso.saml.refuse", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || !strings.Contains(string(audit[0].After), "nameid-collision") {
		t.Errorf("audit records: %d, want 2 saying nameid-collision", len(audit))
	}
	evs, err := e.store.EventsAfter(e.ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Type == directory.UserSSORefused {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d User.SSORefused events, want 2", n)
	}

	// IsPassive: no page; the response goes to the service provider.
	passive := true
	b := e.browser()
	b.signIn(mallory, 1, e.now())
	u, _ := sp.redirectRequest(t, "", func(r *crewsaml.AuthnRequest) { r.IsPassive = &passive })
	f := b.get(u).form(t)
	if !bytes.Contains(f.XML, []byte(crewsaml.StatusRequestDenied)) || bytes.Contains(f.XML, []byte("Assertion")) {
		t.Errorf("passive, collision: %s", f.XML)
	}
}

// TestNameIDCollisionAliyunUser: the aliyun-user NameID drops the
// domain of the user name; alice@example.com and alice@contractor.example
// would be one RAM user. (Before the fix both were signed in as
// alice@example.onaliyun.com.) A push's link names the account as the push
// named it downstream: the linked account keeps her RAM user, the other is
// refused.
func TestNameIDCollisionAliyunUser(t *testing.T) {
	e := newEnv(t)
	s := settingsFor(ramEntity, ramACS)
	if err := s.ApplyPreset("aliyun-user"); err != nil {
		t.Fatal(err)
	}
	s.AliyunUser.Domain = "example.onaliyun.com"
	app := e.app("RAM", s)
	sp := e.newSP(ramEntity, ramACS, false)
	alice := e.user("alice@example.com", "alice@example.com", "Alice", "Liddell")
	other := e.user("Alice@contractor.example", "a@contractor.example", "Alice", "Other")
	for _, u := range []*directory.User{alice, other} {
		refusedWith(t, signInTo(t, e, sp, u), "the same name as yours")
	}

	// Linked by the push of "ram": alice is the RAM user the push made
	// for her; the other derives the same name and is refused.
	s.NameID.PushTarget = "ram"
	raw, _ := jsonMarshal(s)
	if _, err := e.auth.SetSSOConfig(e.ctx, directory.Actor{Kind: "cli"}, app.ID, raw); err != nil {
		t.Fatal(err)
	}
	e.downstream["ram "+alice.ID] = "alice"
	as := signedInAs(t, e, sp, alice)
	if got := as.Subject.NameID.Value; got != "alice@example.onaliyun.com" {
		t.Errorf("linked NameID %q", got)
	}
	if a := signInTo(t, e, sp, other); a.status != http.StatusForbidden || !strings.Contains(a.body, "no account was made for you there") ||
		strings.Contains(a.body, "SAMLResponse") {
		t.Errorf("not linked, the push making the accounts: %d %s", a.status, a.body)
	}

	// A push that named 张伟 "zhangwei" downstream: his NameID is that
	// name, not the derived one (which his user name cannot give).
	zw := e.user("张伟@example.com", "zw@example.com", "伟", "张")
	e.downstream["ram "+zw.ID] = "zhangwei"
	as = signedInAs(t, e, sp, zw)
	if got := as.Subject.NameID.Value; got != "zhangwei@example.onaliyun.com" {
		t.Errorf("linked NameID %q", got)
	}
	// An account whose user name derives 张伟's RAM name, not linked: no
	// lookup by user name finds 张伟, so it is refused for want of a link.
	zw2 := e.user("zhangwei@contractor.example", "zw2@contractor.example", "Wei", "Zhang")
	if a := signInTo(t, e, sp, zw2); a.status != http.StatusForbidden || strings.Contains(a.body, "SAMLResponse") {
		t.Errorf("zhangwei@contractor.example signed in: %d %s", a.status, a.body)
	}
}

// TestPushTargetValidated: a push target only where it means something.
func TestPushTargetValidated(t *testing.T) {
	s := settingsFor(spEntity, spACS)
	s.NameID = saml.NameIDRule{Format: "transient", PushTarget: "ram"}
	if err := s.Validate(); err == nil {
		t.Error("a transient NameID from a push target was accepted")
	}
	s.NameID = saml.NameIDRule{Format: "email", Source: "email", PushTarget: "gitbook"}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

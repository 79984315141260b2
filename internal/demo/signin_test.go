package demo_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/demo"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// TestFirstSignIn is the scenario's last step: the new hire, given a
// temporary password, opens GitBook's documentation in a browser (over
// HTTP); GitBook sends her to the hub (SAML, SP-initiated), where she signs
// in: her own password, then — her department needing two factors — her
// authenticator app, set up on the way; the session states two factors;
// GitBook's SAML library accepted a signed assertion for her — her
// lower-case email as NameID, GitBook's audience and ACS, in response to
// GitBook's request, two factors in its AuthnContext — and refused none.
func TestFirstSignIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := demo.Start(ctx, demo.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	h := demo.Hire{GivenName: "Grace", FamilyName: "Hopper", Email: "grace.hopper@example.com", Department: "Engineering"}
	id, _, err := env.Create(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	report, sess, err := env.FirstSignIn(ctx, id, "Her-Own-Pass-42")
	if err != nil {
		t.Fatal(err)
	}
	if !report.ChangedPassword || !report.SetUp || report.RecoveryCodes != login.RecoveryCodeCount || len(report.Code) != 6 {
		t.Errorf("report: %+v", report)
	}
	if sess.Factors != 2 || sess.ACR() != login.ACR2FA || !slices.Equal(sess.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("session: %+v", sess)
	}
	g := env.GitBookSAML
	a := report.Assertion
	if report.GitBookAs != h.Email || a == nil {
		t.Fatalf("GitBook shows %q; assertion %+v", report.GitBookAs, a)
	}
	if !a.AssertionSigned || a.NameID != h.Email || a.NameIDFormat != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" ||
		!slices.Equal(a.Audiences, []string{g.URL + "/saml/metadata"}) || a.Recipient != g.URL+"/saml/acs" || !strings.HasPrefix(a.InResponseTo, "id") ||
		!slices.Equal(a.Attributes["first_name"], []string{"Grace"}) || !slices.Equal(a.Attributes["last_name"], []string{"Hopper"}) {
		t.Errorf("accepted assertion: %+v", a)
	}
	if a.AuthnContext == "" || a.AuthnContext == "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport" {
		t.Errorf("AuthnContextClassRef %q does not reflect two factors", a.AuthnContext)
	}
	if got := g.Refused(); len(got) != 0 {
		t.Errorf("GitBook refused: %v", got)
	}
	if report.SignedIn <= 0 || report.GitBook < report.SignedIn {
		t.Errorf("latencies: signed in %v, GitBook %v", report.SignedIn, report.GitBook)
	}
	actions := []string{}
	es, _ := env.Hub.App.Admin.Journey(ctx, id)
	for _, s := range es.Steps {
		if s.Audit != nil {
			actions = append(actions, s.Audit.Action)
		}
	}
	for _, want := range []string{"user.password.reset", "user.password.change", "user.factor.add", "user.recovery.generate", "login.success", "sso.saml.response"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the journey lacks %s: %v", want, actions)
		}
	}
}

package demo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/demo"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// TestFirstSignIn is the scenario's last step: the new hire, given a
// temporary password, signs in at the hub in a browser (over HTTP): her
// own password, then — her department needing two factors — her
// authenticator app, set up on the way; the session states two factors.
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
	actions := []string{}
	es, _ := env.Hub.App.Admin.Journey(ctx, id)
	for _, s := range es.Steps {
		if s.Audit != nil {
			actions = append(actions, s.Audit.Action)
		}
	}
	for _, want := range []string{"user.password.reset", "user.password.change", "user.factor.add", "user.recovery.generate", "login.success"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the journey lacks %s: %v", want, actions)
		}
	}
}

package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

func testApps(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	svc := auth.NewService(e.store, auth.Options{NewID: newID, Now: e.clock.Now})
	app, err := svc.CreateApp(e.ctx, "okta", directory.IDaaSProfile())
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.CreateApp(e.ctx, "okta", directory.IDaaSProfile())
	wantKind(t, err, directory.ErrConflict)
	_, err = svc.CreateApp(e.ctx, "bad-org", directory.Profile{TargetOrgID: "missing"})
	wantKind(t, err, directory.ErrInvalid)

	got, err := svc.FindApp(e.ctx, "okta")
	if err != nil || got.ID != app.ID || !got.Profile.IDaaSFields || !got.Profile.Idempotent || got.Profile.TargetOrgID != directory.RootOrgID {
		t.Fatalf("find by name: %v %+v", err, got)
	}
	if got, err := svc.FindApp(e.ctx, app.ID); err != nil || got.Name != "okta" {
		t.Fatalf("find by id: %v %+v", err, got)
	}

	tok, secret, err := svc.CreateToken(e.ctx, app.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !auth.WellFormed(secret, auth.TokenPrefix) || tok.Hint != secret[:len(auth.TokenPrefix)+4]+"…" {
		t.Errorf("secret %q / hint %q", secret, tok.Hint)
	}
	p, err := svc.Authenticate(e.ctx, "Bearer "+secret)
	if err != nil || p.App.ID != app.ID || p.Token.ID != tok.ID {
		t.Fatalf("authenticate: %v %+v", err, p)
	}
	if _, err := svc.Authenticate(e.ctx, "bearer "+secret); err != nil {
		t.Errorf("scheme is case-insensitive: %v", err)
	}
	for _, bad := range []string{"", "Bearer", "Basic " + secret, "Bearer " + secret + "x", "Bearer " + secret[:len(secret)-1] + "0"} {
		if _, err := svc.Authenticate(e.ctx, bad); err == nil {
			t.Errorf("authenticated %q", bad)
		}
	}
	// A well-formed secret that was never issued.
	other, _ := auth.NewSecret(auth.TokenPrefix)
	if _, err := svc.Authenticate(e.ctx, "Bearer "+other); err == nil {
		t.Error("authenticated an unknown token")
	}
	if err := svc.FlushUsage(e.ctx); err != nil {
		t.Fatal(err)
	}
	toks, err := svc.Tokens(e.ctx, app.ID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %v %d", err, len(toks))
	}
	if toks[0].UseCount != 2 || toks[0].LastUsed.IsZero() {
		t.Errorf("use count %d, last used %v", toks[0].UseCount, toks[0].LastUsed)
	}
	// Disabled and expired tokens are refused.
	toks[0].Enabled = false
	if err := e.store.UpdateToken(e.ctx, toks[0]); err != nil {
		t.Fatal(err)
	}
	svc.Forget()
	if _, err := svc.Authenticate(e.ctx, "Bearer "+secret); err == nil {
		t.Error("disabled token accepted")
	}
	toks[0].Enabled, toks[0].Expires = true, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := e.store.UpdateToken(e.ctx, toks[0]); err != nil {
		t.Fatal(err)
	}
	svc.Forget()
	if _, err := svc.Authenticate(e.ctx, "Bearer "+secret); err == nil {
		t.Error("expired token accepted")
	}
	// Deleting the application deletes its tokens.
	if err := e.store.DeleteApp(e.ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if toks, _ := e.store.Tokens(e.ctx, app.ID); len(toks) != 0 {
		t.Errorf("tokens survived their application: %d", len(toks))
	}
	_, err = e.store.App(e.ctx, app.ID)
	wantKind(t, err, directory.ErrNotFound)
	_, _, err = svc.CreateToken(e.ctx, app.ID, 0)
	wantKind(t, err, directory.ErrNotFound)
}

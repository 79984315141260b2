package web

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// TestReauthKeepsAbsoluteLifetime: signing in again over a live session
// of the same person (a step-up, a forced re-authentication) does not
// restart the session's absolute lifetime: it counts from the first
// sign-in (red team finding 3). Once that session has ended, a sign-in
// starts a new lifetime.
func TestReauthKeepsAbsoluteLifetime(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := directory.NewService(st, directory.Options{Hasher: plainHasher{}, Policy: directory.DefaultPasswordPolicy(),
		NewID: func() string { v, _ := login.NewToken(); return v }})
	if _, _, err := dir.CreateUser(ctx, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: "ada", Active: true, Password: "Secret-Pass-1"}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	svc := login.New(st, st, login.Options{Now: func() time.Time { return now }, Hasher: plainHasher{},
		SessionIdle: 24 * time.Hour, SessionLifetime: 12 * time.Hour})
	signIn := func(session string) (*login.Session, string) {
		t.Helper()
		c := login.Client{Addr: "192.0.2.1", Browser: testBrowser, Session: session}
		p, err := svc.Begin(ctx, c, login.Requirement{Force: true}, "/")
		if err != nil {
			t.Fatal(err)
		}
		out, err := svc.Password(ctx, p, c, "ada", "Secret-Pass-1")
		if err != nil || !out.Done() {
			t.Fatalf("sign-in: %+v %v", out, err)
		}
		return out.Session, out.Token
	}
	first, tok := signIn("")
	if want := now.Add(12 * time.Hour); !first.Expires.Equal(want) {
		t.Fatalf("first session expires %s, want %s", first.Expires, want)
	}
	now = now.Add(11 * time.Hour)
	again, tok := signIn(tok)
	if !again.Expires.Equal(first.Expires) {
		t.Errorf("re-authentication 11 h on: the session expires %s, want %s (the first sign-in's)", again.Expires, first.Expires)
	}
	now = now.Add(90 * time.Minute)
	if s, err := svc.Session(ctx, tok); err != nil || s != nil {
		t.Fatalf("12 h 30 after the first sign-in the session is %+v, %v", s, err)
	}
	fresh, _ := signIn(tok)
	if want := now.Add(12 * time.Hour); !fresh.Expires.Equal(want) {
		t.Errorf("a sign-in after the session ended expires %s, want %s", fresh.Expires, want)
	}
}

package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// consoleSessions is what the console keeps of admin tokens' sessions
// (internal/web/console.TokenSessions).
type consoleSessions interface {
	PutConsoleSession(ctx context.Context, s *login.TokenSession, hash []byte, audit *directory.AuditEntry) error
	ConsoleSession(ctx context.Context, hash []byte) (*login.TokenSession, error)
	TouchConsoleSession(ctx context.Context, id string, at time.Time) error
	DeleteConsoleSession(ctx context.Context, id string, audit *directory.AuditEntry) error
	AppendConsoleAudit(ctx context.Context, audit *directory.AuditEntry) error
	UseConsoleForm(ctx context.Context, hash []byte, at time.Time) (bool, error)
}

// testConsoleSessions: a console session is found by its token's hash
// only, its use moves LastSeen forward (never back), it ends when deleted,
// and the login prune deletes expired ones. A sign-in's and a sign-out's
// audit record is written with the session's change, in the hash chain,
// or not at all.
func testConsoleSessions(t *testing.T, ns NewStore) {
	st := ns(t)
	cs, ok := st.(consoleSessions)
	if !ok {
		t.Fatal("the store does not keep console sessions")
	}
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 123000, time.UTC)
	a := &login.TokenSession{ID: "cs-1", AppID: "app-1", TokenID: "tok-1", Created: t0, LastSeen: t0, Expires: t0.Add(8 * time.Hour)}
	b := &login.TokenSession{ID: "cs-2", AppID: "app-1", TokenID: "tok-2", Created: t0, LastSeen: t0, Expires: t0.Add(time.Minute)}
	actor := directory.Actor{Kind: "app", AppID: "app-1", TokenID: "tok-1"}
	rec := func(action string) *directory.AuditEntry {
		return &directory.AuditEntry{Time: t0, Actor: actor, Action: action, ResourceType: "Application", ResourceID: "app-1",
			After: []byte(`{"console":{"sessionId":"cs-1"}}`)}
	}
	if err := cs.PutConsoleSession(ctx, a, login.HashToken("token-a"), rec("console.login.success")); err != nil {
		t.Fatal(err)
	}
	if err := cs.PutConsoleSession(ctx, b, login.HashToken("token-b"), nil); err != nil {
		t.Fatal(err)
	}
	// A session that cannot be stored (its id is taken) leaves no record.
	if err := cs.PutConsoleSession(ctx, a, login.HashToken("token-x"), rec("console.login.again")); err == nil {
		t.Error("a session id stored twice")
	}
	if err := cs.AppendConsoleAudit(ctx, rec("console.login.failure")); err != nil {
		t.Fatal(err)
	}
	got, err := cs.ConsoleSession(ctx, login.HashToken("token-a"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("session (-want +got):\n%s", diff)
	}
	if _, err := cs.ConsoleSession(ctx, login.HashToken("token-c")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
	if err := cs.TouchConsoleSession(ctx, "cs-1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := cs.TouchConsoleSession(ctx, "cs-1", t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.ConsoleSession(ctx, login.HashToken("token-a")); got == nil || !got.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("touched: %+v", got)
	}
	if err := st.WriteLogin(ctx, func(tx login.Tx) error {
		_, err := tx.PruneLogin(ctx, t0.Add(time.Hour), t0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ConsoleSession(ctx, login.HashToken("token-b")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("expired session after the prune: %v", err)
	}
	if err := cs.DeleteConsoleSession(ctx, "cs-1", rec("console.logout")); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ConsoleSession(ctx, login.HashToken("token-a")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("deleted session: %v", err)
	}
	es, err := st.Audit(ctx, directory.AuditQuery{Action: "console.", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
		if e.Actor != actor || e.ResourceID != "app-1" || e.Hash == "" {
			t.Errorf("audit record: %+v", e)
		}
	}
	if diff := cmp.Diff([]string{"console.logout", "console.login.failure", "console.login.success"}, actions); diff != "" {
		t.Errorf("audit records, newest first (-want +got):\n%s", diff)
	}
	rep, err := directory.VerifyAudit(ctx, st, directory.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Errorf("chain: %+v %v", rep, err)
	}

	// Single-use form values: the first use only, whichever server asks
	// (they share the database); forgotten by a prune whose time is a day
	// after their use.
	f1, f2 := login.HashToken("once-1"), login.HashToken("once-2")
	for i, want := range []bool{true, false, false} {
		if first, err := cs.UseConsoleForm(ctx, f1, t0.Add(time.Duration(i)*time.Second)); err != nil || first != want {
			t.Errorf("use %d of a form value: %v %v, want %v", i+1, first, err, want)
		}
	}
	if first, err := cs.UseConsoleForm(ctx, f2, t0.Add(25*time.Hour)); err != nil || !first {
		t.Errorf("another form value: %v %v", first, err)
	}
	prune := func(at time.Time) {
		t.Helper()
		if err := st.WriteLogin(ctx, func(tx login.Tx) error {
			_, err := tx.PruneLogin(ctx, at, t0)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	prune(t0.Add(23 * time.Hour))
	if first, _ := cs.UseConsoleForm(ctx, f1, t0.Add(23*time.Hour)); first {
		t.Error("a form value used 23 hours ago was forgotten")
	}
	prune(t0.Add(24*time.Hour + time.Minute))
	if first, _ := cs.UseConsoleForm(ctx, f1, t0.Add(25*time.Hour)); !first {
		t.Error("a form value used a day before the prune's time is still remembered")
	}
	if first, _ := cs.UseConsoleForm(ctx, f2, t0.Add(25*time.Hour)); first {
		t.Error("the prune forgot a recent form value")
	}
}

package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// poll waits until cond holds, for at most 10 seconds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func credVersion(t *testing.T, s *Store) int64 {
	t.Helper()
	v, err := s.CredentialsVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// bump makes an auth write through s and returns the version it committed,
// which s itself must report at once.
func bump(t *testing.T, s *Store) int64 {
	t.Helper()
	if err := s.WriteAuth(context.Background(), func(auth.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	v, err := readCredVersion(context.Background(), s.pool)
	if err != nil {
		t.Fatal(err)
	}
	if got := credVersion(t, s); got != v {
		t.Fatalf("the writing process sees version %d after its write, want %d", got, v)
	}
	return v
}

// TestCredentialsVersionAcrossProcesses: two stores on one schema, as two
// processes. An auth write through one reaches the other through the
// notification; after the listener's connection is lost, through the table
// until the listener is back; and with the listener stopped, through the
// table at once.
func TestCredentialsVersionAcrossProcesses(t *testing.T) {
	url := testURL(t)
	name := freshSchema(t, url)
	a, b := openIn(t, url, name), openIn(t, url, name)
	ctx := context.Background()

	poll(t, "listener of a is up", a.creds.live.Load)
	v := bump(t, b)
	poll(t, "a sees b's write", func() bool { return credVersion(t, a) == v })

	// Lose a's listening connection.
	pid := a.creds.pid.Load()
	if _, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	v = bump(t, b)
	poll(t, "a sees b's write after losing its listener", func() bool { return credVersion(t, a) == v })
	poll(t, "listener of a is back", func() bool { return a.creds.live.Load() && a.creds.pid.Load() != pid })
	v = bump(t, b)
	poll(t, "a sees b's write after reconnecting", func() bool { return credVersion(t, a) == v })

	// Without a listener, a reads the table: b's write is there at once.
	a.creds.stop()
	if a.creds.live.Load() {
		t.Fatal("stopped listener is live")
	}
	v = bump(t, b)
	if got := credVersion(t, a); got != v {
		t.Errorf("a without listener sees version %d, want %d", got, v)
	}
	if err := a.Ping(ctx); err != nil {
		t.Error(err)
	}
}

// TestRecordUseKeepsVersion: counting uses is not a credential change.
func TestRecordUseKeepsVersion(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	app := &auth.App{ID: "app1", Name: "okta", Kind: auth.KindSCIMClient, Scopes: auth.DefaultScopes(auth.KindSCIMClient),
		Profile: directory.Profile{TargetOrgID: directory.RootOrgID}, Enabled: true, Created: now, Modified: now}
	tok := &auth.Token{ID: "tok1", AppID: app.ID, Hint: "gh_…", Enabled: true, Created: now, Expires: now.Add(time.Hour)}
	err := s.WriteAuth(ctx, func(tx auth.Tx) error {
		if err := tx.InsertApp(ctx, app); err != nil {
			return err
		}
		return tx.InsertToken(ctx, tok, []byte("hash"))
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := readCredVersion(ctx, s.pool)
	if err != nil {
		t.Fatal(err)
	}
	use := &auth.Usage{
		Tokens: map[string]auth.Use{tok.ID: {N: 3, Last: now}, "deleted": {N: 1, Last: now}},
		Apps: map[string]*auth.Stats{
			app.ID:    {Requests: 5, Failures: 2, ByReason: map[string]int64{"401 token_expired": 2}, LastError: "401 token_expired", LastAt: now},
			"deleted": {Requests: 1},
		},
	}
	for range 2 {
		if err := s.RecordUse(ctx, use); err != nil {
			t.Fatal(err)
		}
	}
	after, err := readCredVersion(ctx, s.pool)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("RecordUse moved the credentials version from %d to %d", before, after)
	}
	toks, err := s.Tokens(ctx, app.ID)
	if err != nil || len(toks) != 1 || toks[0].UseCount != 6 || !toks[0].LastUsed.Equal(now) {
		t.Errorf("tokens after use: %v %+v", err, toks)
	}
	st, err := s.AppStats(ctx, app.ID)
	if err != nil || st.Requests != 10 || st.Failures != 4 || st.ByReason["401 token_expired"] != 4 || !st.LastAt.Equal(now) {
		t.Errorf("statistics: %v %+v", err, st)
	}
}

// TestConcurrentCreateToken: transactions that count an application's
// tokens and add one if it has fewer than two take turns on the
// application's lock, even without AppForUpdate, and each sees the token
// the previous one added: two tokens in the end, never more.
func TestConcurrentCreateToken(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	app := &auth.App{ID: "app1", Name: "okta", Kind: auth.KindSCIMClient, Scopes: auth.DefaultScopes(auth.KindSCIMClient),
		Profile: directory.Profile{TargetOrgID: directory.RootOrgID}, Enabled: true, Created: now, Modified: now}
	if err := s.WriteAuth(ctx, func(tx auth.Tx) error { return tx.InsertApp(ctx, app) }); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.WriteAuth(ctx, func(tx auth.Tx) error {
				toks, err := tx.TokensForUpdate(ctx, app.ID)
				if err != nil || len(toks) >= 2 {
					return err
				}
				tok := &auth.Token{ID: fmt.Sprintf("tok%d", i), AppID: app.ID, Hint: "gh_…", Enabled: true, Created: now, Expires: now.Add(time.Hour)}
				return tx.InsertToken(ctx, tok, []byte(tok.ID))
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if toks, err := s.Tokens(ctx, app.ID); err != nil || len(toks) != 2 {
		t.Errorf("tokens: %v, %d, want 2", err, len(toks))
	}
}

package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// testOIDC: pending requests round-trip and are replaced; a grant and its
// code round-trip; a code is redeemed once, concurrently too (the others
// get ErrTokenUsed and change nothing); a refresh token rotates once;
// revocation, session revocation (online grants only), pruning, and a
// deleted application takes its grants with it.
func testOIDC(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	st, ok := e.store.(oidc.Store)
	if !ok {
		t.Skip("the store keeps no OpenID Connect state")
	}
	svc := e.auth(auth.Options{})
	app := mustApp(t, svc, e, auth.AppSpec{Name: "wiki", Kind: auth.KindServerApp})
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	approx := cmpopts.EquateApproxTime(time.Microsecond)

	// Pending requests.
	req := &oidc.AuthRequest{ID: "req-1", ClientID: app.ID, Request: json.RawMessage(`{"state":"s"}`), Created: at, Expires: at.Add(10 * time.Minute)}
	if err := st.PutAuthRequest(e.ctx, req); err != nil {
		t.Fatal(err)
	}
	req.LoginSent = at.Add(time.Second)
	if err := st.PutAuthRequest(e.ctx, req); err != nil {
		t.Fatal(err)
	}
	got, err := st.AuthRequest(e.ctx, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(req, got, approx, cmp.Comparer(func(a, b json.RawMessage) bool { return jsonEqual(a, string(b)) })); diff != "" {
		t.Errorf("authorization request (-put +read):\n%s", diff)
	}
	if _, err := st.AuthRequest(e.ctx, "nope"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown request: %v, want ErrNotFound", err)
	}

	// A grant with its code; the pending request goes in the same
	// transaction.
	g := &oidc.Grant{ID: "g-1", ClientID: app.ID, UserID: "u-1", SessionID: "s-1", Scopes: []string{"openid", "email"}, Nonce: "n",
		AuthTime: at, AMR: []string{"pwd"}, ACR: "urn:gatehouse:acr:1fa", Created: at, Expires: at.Add(time.Hour)}
	code := &oidc.Token{Hash: hashOf("code-1"), GrantID: "g-1", Kind: oidc.KindCode, RedirectURI: "https://wiki.example/cb", Challenge: "ch",
		Created: at, Expires: at.Add(time.Minute)}
	if err := st.CreateGrant(e.ctx, g, code, "req-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuthRequest(e.ctx, "req-1"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the answered request is still there: %v", err)
	}
	k, gg, err := st.TokenGrant(e.ctx, oidc.KindCode, hashOf("code-1"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(code, k, approx); diff != "" {
		t.Errorf("code (-put +read):\n%s", diff)
	}
	if diff := cmp.Diff(g, gg, approx); diff != "" {
		t.Errorf("grant (-put +read):\n%s", diff)
	}
	if _, _, err := st.TokenGrant(e.ctx, oidc.KindRefresh, hashOf("code-1")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a code read as a refresh token: %v, want ErrNotFound", err)
	}

	// Redeemed once, by one of several at the same time; the winner's
	// refresh token and audit entry are recorded, the losers' are not.
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := &oidc.Token{Hash: hashOf("refresh-" + string(rune('a'+i))), GrantID: "g-1", Kind: oidc.KindRefresh, Created: at, Expires: at.Add(time.Hour)}
			results[i] = st.UseToken(e.ctx, oidc.KindCode, hashOf("code-1"), at.Add(time.Second), next,
				&directory.AuditEntry{Time: at, Actor: directory.Actor{Kind: "system"}, Action: "sso.oidc.token", ResourceType: "Grant", ResourceID: "g-1"})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("the code was redeemed twice (%d and %d)", winner, i)
		case !errors.Is(err, oidc.ErrTokenUsed):
			t.Errorf("redeem %d: %v, want ErrTokenUsed", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody redeemed the code")
	}
	refreshes := 0
	for i := range results {
		if _, _, err := st.TokenGrant(e.ctx, oidc.KindRefresh, hashOf("refresh-"+string(rune('a'+i)))); err == nil {
			refreshes++
		}
	}
	if refreshes != 1 {
		t.Errorf("%d refresh tokens recorded, want the winner's alone", refreshes)
	}
	audits, err := e.store.Audit(e.ctx, directory.AuditQuery{Action: "sso.oidc.token"})
	if err != nil {
		t.Fatal(err)
	}
	if len(audits) != 1 {
		t.Errorf("%d sso.oidc.token audit records, want 1", len(audits))
	}
	k, _, _ = st.TokenGrant(e.ctx, oidc.KindCode, hashOf("code-1"))
	if k.Used.IsZero() {
		t.Error("the redeemed code is not marked used")
	}

	// Rotation.
	cur := hashOf("refresh-" + string(rune('a'+winner)))
	next := &oidc.Token{Hash: hashOf("refresh-2"), GrantID: "g-1", Kind: oidc.KindRefresh, Created: at, Expires: at.Add(time.Hour)}
	if err := st.UseToken(e.ctx, oidc.KindRefresh, cur, at.Add(2*time.Second), next, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.UseToken(e.ctx, oidc.KindRefresh, cur, at.Add(3*time.Second), &oidc.Token{Hash: hashOf("refresh-3"), GrantID: "g-1",
		Kind: oidc.KindRefresh, Created: at, Expires: at.Add(time.Hour)}, nil); !errors.Is(err, oidc.ErrTokenUsed) {
		t.Errorf("second rotation: %v, want ErrTokenUsed", err)
	}
	if _, _, err := st.TokenGrant(e.ctx, oidc.KindRefresh, hashOf("refresh-3")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the refused rotation left its token: %v", err)
	}

	// Revocation.
	if err := st.RevokeGrant(e.ctx, "g-1", at.Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeGrant(e.ctx, "g-1", at.Add(2*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if gg, err := st.Grant(e.ctx, "g-1"); err != nil || !gg.Revoked.Equal(at.Add(time.Minute)) {
		t.Errorf("revoked grant: %+v %v, want revoked at the first revocation", gg, err)
	}

	// Session revocation takes online grants, not offline ones.
	for _, x := range []*oidc.Grant{
		{ID: "g-on", ClientID: app.ID, UserID: "u-1", SessionID: "s-2", AuthTime: at, Created: at, Expires: at.Add(time.Hour)},
		{ID: "g-off", ClientID: app.ID, UserID: "u-1", SessionID: "s-2", AuthTime: at, Offline: true, Created: at, Expires: at.Add(48 * time.Hour)},
	} {
		if err := st.CreateGrant(e.ctx, x, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.RevokeSessionGrants(e.ctx, "s-2", at); err != nil || n != 1 {
		t.Errorf("session revocation: %d %v, want 1", n, err)
	}
	if gg, _ := st.Grant(e.ctx, "g-off"); !gg.Revoked.IsZero() {
		t.Error("an offline grant ended with the session")
	}

	// A person's revocation (a password change, sign out everywhere)
	// takes her offline grants too, keeping the time of one revoked before.
	if ls, ok := e.store.(login.Store); ok {
		var n int64
		err := ls.WriteLogin(e.ctx, func(tx login.Tx) error {
			var err error
			n, err = tx.RevokeUserGrants(e.ctx, "u-1", at.Add(3*time.Minute))
			return err
		})
		if err != nil || n != 1 {
			t.Errorf("RevokeUserGrants: %d %v, want 1 (g-off)", n, err)
		}
		if gg, _ := st.Grant(e.ctx, "g-off"); !gg.Revoked.Equal(at.Add(3 * time.Minute)) {
			t.Errorf("g-off after the person's revocation: %+v", gg)
		}
		if gg, _ := st.Grant(e.ctx, "g-1"); !gg.Revoked.Equal(at.Add(time.Minute)) {
			t.Errorf("g-1 after the person's revocation: %+v, want its first revocation kept", gg)
		}
	}

	// Pruning: g-1 and g-on expired, g-off not.
	if err := st.PutAuthRequest(e.ctx, &oidc.AuthRequest{ID: "req-old", ClientID: app.ID, Request: json.RawMessage(`{}`), Created: at, Expires: at}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.PruneOIDC(e.ctx, at.Add(2*time.Hour)); err != nil || n != 3 {
		t.Errorf("prune: %d %v, want 3 rows", n, err)
	}
	if _, _, err := st.TokenGrant(e.ctx, oidc.KindRefresh, hashOf("refresh-2")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a pruned grant's token is still there: %v", err)
	}

	// Deleting the application deletes its grants.
	if err := svc.DeleteApp(e.ctx, cli, app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Grant(e.ctx, "g-off"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("grant of a deleted application: %v", err)
	}
}

package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// Authentication benchmarks: what a request pays before the SCIM handler
// runs. docs/benchmarks.md compares them with a GET.

func authSetup(b *testing.B) (*auth.Service, string, string, string) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "auth.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc := auth.NewService(st, auth.Options{NewID: uuid.NewString})
	op := directory.Actor{Kind: "cli"}
	app, err := svc.CreateApp(ctx, op, auth.AppSpec{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	_, tok, err := svc.CreateToken(ctx, op, app.ID, 0)
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := svc.CreateSecret(ctx, op, app.ID)
	if err != nil {
		b.Fatal(err)
	}
	return svc, app.ID, tok, secret
}

// BenchmarkAuthenticateBearer: a bearer token seen before (the steady
// state of a SCIM client): one read of the credentials version, a map
// lookup.
func BenchmarkAuthenticateBearer(b *testing.B) {
	svc, _, tok, _ := authSetup(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, "Bearer "+tok, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateBearerCold: the first use of a token (or the first
// after a credential change): a lookup by hash.
func BenchmarkAuthenticateBearerCold(b *testing.B) {
	svc, _, tok, _ := authSetup(b)
	ctx := context.Background()
	for b.Loop() {
		svc.Forget()
		if _, err := svc.Authenticate(ctx, "Bearer "+tok, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateJWTCold: an access token's first use: signature
// verification, the application and the secret.
func BenchmarkAuthenticateJWTCold(b *testing.B) {
	svc, id, _, secret := authSetup(b)
	ctx := context.Background()
	iss, err := svc.Issue(ctx, id, secret, "127.0.0.1", nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		svc.Forget()
		if _, err := svc.Authenticate(ctx, "Bearer "+iss.AccessToken, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssue: the client-credentials grant, below HTTP: the
// application and its secrets, a constant-time comparison, an ES256
// signature.
func BenchmarkIssue(b *testing.B) {
	svc, id, _, secret := authSetup(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := svc.Issue(ctx, id, secret, "127.0.0.1", nil); err != nil {
			b.Fatal(err)
		}
	}
}

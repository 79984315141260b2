package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// testSSOApps: an SSO application's access (allowed groups, everyone,
// requireSSO, minFactors) and protocol settings round-trip through the
// store; settings go through the kind's validator; other kinds have none.
func testSSOApps(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	svc := e.auth(auth.Options{})
	eng := e.createGroup("engineering")
	validated := 0
	svc.RegisterSSOKind(auth.KindSAMLSP, func(ctx context.Context, a *auth.App, raw json.RawMessage) (json.RawMessage, error) {
		validated++
		var v struct {
			EntityID string `json:"entityId"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || v.EntityID == "" {
			return nil, directory.Errorf(directory.ErrInvalid, "sso", "entityId is required")
		}
		return json.RawMessage(`{"entityId":"` + v.EntityID + `"}`), nil
	})

	app := mustApp(t, svc, e, auth.AppSpec{Name: "gitbook", Kind: auth.KindSAMLSP,
		Access: auth.Access{AllowedGroups: []string{eng.ID, eng.ID}, RequireSSO: true, MinFactors: 2},
		SSO:    json.RawMessage(`{"entityId": "https://gitbook.example", "extra": 1}`)})
	if validated != 1 || len(app.Scopes) != 0 {
		t.Fatalf("validated %d times, scopes %v", validated, app.Scopes)
	}
	got, err := e.store.App(e.ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Access{AllowedGroups: []string{eng.ID}, RequireSSO: true, MinFactors: 2}
	if diff := cmp.Diff(want, got.Access); diff != "" {
		t.Errorf("access (-want +got):\n%s", diff)
	}
	if !jsonEqual(got.SSO, `{"entityId":"https://gitbook.example"}`) {
		t.Errorf("sso = %s, want the validator's output", got.SSO)
	}

	// Access changes without the settings do not run the validator again.
	if _, err := svc.SetAccess(e.ctx, cli, app.ID, auth.Access{Everyone: true}); err != nil {
		t.Fatal(err)
	}
	got, _ = e.store.App(e.ctx, app.ID)
	if diff := cmp.Diff(auth.Access{Everyone: true}, got.Access); diff != "" || validated != 1 {
		t.Errorf("after SetAccess (validated %d) (-want +got):\n%s", validated, diff)
	}
	if _, err := svc.SetSSOConfig(e.ctx, cli, app.ID, json.RawMessage(`{"entityId":"https://other.example"}`)); err != nil {
		t.Fatal(err)
	}
	got, _ = e.store.App(e.ctx, app.ID)
	if !jsonEqual(got.SSO, `{"entityId":"https://other.example"}`) || validated != 2 {
		t.Errorf("after SetSSOConfig: %s (validated %d)", got.SSO, validated)
	}

	// Refused, and nothing changes.
	for name, fn := range map[string]func() error{
		"settings the validator refuses": func() error {
			_, err := svc.SetSSOConfig(e.ctx, cli, app.ID, json.RawMessage(`{"nothing":true}`))
			return err
		},
		"settings that are not an object": func() error {
			_, err := svc.SetSSOConfig(e.ctx, cli, app.ID, json.RawMessage(`[1]`))
			return err
		},
		"an unknown allowed group": func() error {
			_, err := svc.SetAccess(e.ctx, cli, app.ID, auth.Access{AllowedGroups: []string{"no-such-group"}})
			return err
		},
		"three factors": func() error {
			_, err := svc.SetAccess(e.ctx, cli, app.ID, auth.Access{MinFactors: 3})
			return err
		},
		"a kind without a validator": func() error {
			_, err := svc.CreateApp(e.ctx, cli, auth.AppSpec{Name: "rp", Kind: auth.KindOIDCClient, SSO: json.RawMessage(`{}`)})
			return err
		},
		"access on a SCIM client": func() error {
			_, err := svc.CreateApp(e.ctx, cli, auth.AppSpec{Name: "okta", Access: auth.Access{Everyone: true}})
			return err
		},
		"settings on a SCIM client": func() error {
			_, err := svc.CreateApp(e.ctx, cli, auth.AppSpec{Name: "okta", SSO: json.RawMessage(`{}`)})
			return err
		},
	} {
		wantKind(t, fn(), directory.ErrInvalid)
		_ = name
	}
	after, _ := e.store.App(e.ctx, app.ID)
	if diff := cmp.Diff(got, after); diff != "" {
		t.Errorf("a refused change changed the application (-before +after):\n%s", diff)
	}
	if _, err := e.store.AppByName(e.ctx, "okta"); err == nil {
		t.Error("a refused create left an application")
	}

	// An OIDC client without settings yet is closed to everybody.
	rp := mustApp(t, svc, e, auth.AppSpec{Name: "rp", Kind: auth.KindOIDCClient})
	if rp.Access.Everyone || len(rp.Access.AllowedGroups) != 0 || rp.SSO != nil {
		t.Errorf("new OIDC client: %+v", rp)
	}
	// Other kinds read back without access or settings.
	okta := mustApp(t, svc, e, auth.AppSpec{Name: "okta2"})
	o, _ := e.store.App(e.ctx, okta.ID)
	if diff := cmp.Diff(auth.Access{}, o.Access); diff != "" || o.SSO != nil {
		t.Errorf("SCIM client read back with access %s / sso %s", diff, o.SSO)
	}
}

func jsonEqual(got json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return cmp.Equal(a, b)
}

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// TestDownstreamName: the SAML NameID of an account a push linked is the
// userName that push's mapping sends (docs/sso-saml.md, "A NameID names
// one account"); an account without a link, or another target, has none.
func TestDownstreamName(t *testing.T) {
	e := newLifecycleEnv(t, `
targets:
  ram:
    scim:
      base_url: "http://127.0.0.1:9/scim/v2"
      token: "t0ken-not-used"
      push:
        follow: false
        mapping: '{"userName": "{{account}}"}'
  hook:
    webhook: {url: %[1]q, secrets: [%[2]q]}
rules: []
`)
	ctx := context.Background()
	e.offline(func(a *app.App) {
		u, _, err := a.Directory.CreateUser(ctx, cliActor, directory.IDaaSProfile(), &directory.User{UserName: "张伟@corp.example.com", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if name, ok, err := a.DownstreamName(ctx, "ram", u); err != nil || ok {
			t.Errorf("not linked: %q %v %v", name, ok, err)
		}
		links := a.Store.(provision.LinkStore)
		if err := links.PutLinks(ctx, "push:ram", []provision.Link{{Kind: "User", LocalID: u.ID, RemoteID: "ram-1", Hash: "h", Updated: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if name, ok, err := a.DownstreamName(ctx, "ram", u); err != nil || !ok || name != "zhangwei" {
			t.Errorf("linked: %q %v %v, want zhangwei", name, ok, err)
		}
		if _, ok, _ := a.DownstreamName(ctx, "hook", u); ok {
			t.Error("a target without a push names nobody")
		}
		if _, ok, _ := a.DownstreamName(ctx, "nope", u); ok {
			t.Error("an unknown target names nobody")
		}
	})
}

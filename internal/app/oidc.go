package app

import (
	"context"
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

// setupOIDC builds the OpenID Connect provider on the sessions of the
// login service and the keys of the OAuth server, adds its grants to the
// token endpoint and its endpoints to the metadata, and registers the
// settings of oidc-client applications. A store without OpenID Connect
// state (none today) leaves the provider out.
func (a *App) setupOIDC() {
	st, ok := a.Store.(oidc.Store)
	if !ok {
		return
	}
	a.Auth.RegisterSSOKind(auth.KindOIDCClient, oidc.Validator)
	a.OIDC = oidc.New(oidc.Options{
		Keys: a.Auth, Apps: a.Store, Users: a.Store, Sessions: a.Sessions, Store: st, Log: a.Log, ClientAddr: scim.RemoteHost,
	})
	a.OAuth.AddGrants(a.OIDC.Grants(), a.OIDC.Metadata)
	a.Web.RegisterLauncher(auth.KindOIDCClient, oidc.Launcher)
}

// pruneOIDC deletes expired pending requests and grants with their
// tokens.
func (a *App) pruneOIDC(ctx context.Context) {
	if a.OIDC == nil {
		return
	}
	if n, err := a.OIDC.Prune(ctx); err != nil {
		if ctx.Err() == nil {
			a.Log.Error("prune OpenID Connect grants", "err", err)
		}
	} else if n > 0 {
		a.Log.Info("pruned OpenID Connect grants", "rows", n)
	}
}

// mountOIDC adds the provider's routes to mux.
func (a *App) mountOIDC(mux *http.ServeMux) {
	if a.OIDC != nil {
		a.OIDC.Mount(mux)
	}
}

package app

import (
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
}

// mountOIDC adds the provider's routes to mux.
func (a *App) mountOIDC(mux *http.ServeMux) {
	if a.OIDC != nil {
		a.OIDC.Mount(mux)
	}
}

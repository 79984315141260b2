package app

import (
	"context"
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// Sign-in (issue 13): the login service, the browser pages and the
// Sessions the SSO protocols are built on. The SAML and OIDC packages are
// wired here too, each on its own lines: they take a.Sessions (and
// a.Recorder for their audit records), register their kind's settings
// validator with a.Auth.RegisterSSOKind, and mount their routes in
// mountSSO.

// setupLogin builds the login service and the browser site.
func (a *App) setupLogin(ctx context.Context) error {
	a.Login = login.New(login.Options{NewID: NewID, Log: a.Log})
	a.Web = web.New(a.Login)
	a.Sessions, a.Recorder = a.Web, a.Web
	if err := a.setupSAML(ctx); err != nil {
		return err
	}
	return nil
}

// mountSSO adds the browser routes (and, from their packages, the SAML and
// OIDC routes) to mux.
func (a *App) mountSSO(mux *http.ServeMux) {
	a.Web.Mount(mux)
	a.mountSAML(mux)
}

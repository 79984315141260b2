package app

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

// setupSAML builds the SAML 2.0 identity provider (internal/sso/saml) over
// the sessions of a.Sessions: the saml-sp kind's settings validator, the
// identity provider, and its administration (metadata URLs are fetched
// through the egress policy of events.egress_allow).
func (a *App) setupSAML(_ context.Context) error {
	st, ok := a.Store.(saml.Store)
	if !ok {
		return nil
	}
	a.Auth.RegisterSSOKind(auth.KindSAMLSP, saml.Validate)
	a.SAML = saml.New(saml.Options{
		Store:    st,
		Apps:     &saml.AuthApps{Apps: a.Auth, Version: a.Store.CredentialsVersion},
		Users:    saml.DirectoryUsers{Directory: a.Directory},
		Sessions: a.Sessions,
		BaseURL:  func() string { return strings.TrimSuffix(a.Auth.Issuer(), "/") },
		Logger:   a.Log,
	})
	var policy egress.Policy
	for _, s := range a.Config.Events.EgressAllow {
		p, err := config.ParseCIDR(s)
		if err != nil {
			return err
		}
		policy.Allow = append(policy.Allow, p)
	}
	a.Admin.SAML = &admin.SAMLOps{IdP: a.SAML, Fetch: policy.Client(10 * time.Second)}
	// The user page opens a service provider by IdP-initiated sign-on.
	a.Web.RegisterLauncher(auth.KindSAMLSP, func(app *auth.App) string { return saml.IdPInitPath + app.ID })
	return nil
}

// mountSAML adds /saml/metadata, /saml/sso, /saml/resume, /saml/slo and
// /saml/idp-init/{app}: browser routes.
func (a *App) mountSAML(mux *http.ServeMux) {
	if a.SAML != nil {
		a.SAML.Mount(mux)
	}
}

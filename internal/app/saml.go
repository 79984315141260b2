package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/provision"
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
		Store:      st,
		Apps:       &saml.AuthApps{Apps: a.Auth, Version: a.Store.CredentialsVersion},
		Users:      saml.DirectoryUsers{Directory: a.Directory, Schemas: a.Schemas},
		Downstream: a,
		Sessions:   a.Sessions,
		BaseURL:    func() string { return strings.TrimSuffix(a.Auth.Issuer(), "/") },
		Logger:     a.Log,
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

// DownstreamName tells the SAML identity provider the userName the push of
// target gives u downstream (saml.Downstream): the target's mapping applied
// to the account's event document, as the push sends it, when the push (or
// the event pipeline's delivery) linked u to a downstream account.
func (a *App) DownstreamName(ctx context.Context, target string, u *directory.User) (string, bool, error) {
	if a.Events == nil {
		return "", false, nil
	}
	t := a.Events.Config().Targets[target]
	links, ok := a.Store.(provision.LinkIndex)
	if t == nil || t.Push == nil || !ok {
		return "", false, nil
	}
	l, ok, err := links.LinkOf(ctx, "push:"+target, "User", u.ID)
	if err != nil || !ok || l.RemoteID == "" {
		return "", false, err
	}
	docs, err := a.Events.Builder().UserDocuments(ctx)
	if err != nil {
		return "", false, err
	}
	doc, err := docs.UserDocument(ctx, u)
	if err != nil {
		return "", false, err
	}
	payload, err := t.Push.Mapping.Apply(doc)
	if err != nil {
		return "", false, nil // no name from the mapping: derived instead
	}
	var m struct {
		UserName string `json:"userName"`
	}
	if err := json.Unmarshal(payload, &m); err != nil || m.UserName == "" {
		return "", false, nil
	}
	return t.Push.Client.UserName(m.UserName), true, nil
}

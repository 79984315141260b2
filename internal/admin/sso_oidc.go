package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

// OIDCClient is an OpenID Connect client (an application of kind
// oidc-client) as an administrator registers it with the relying party:
// its client_id, the provider's issuer and endpoints, and its settings.
type OIDCClient struct {
	AppID    string `json:"appId"`
	Name     string `json:"name"`
	ClientID string `json:"clientId"`
	// Configured is false until settings (at least a redirect URI) are
	// set: until then the client cannot sign anybody in.
	Configured bool `json:"configured"`
	// Confidential clients need an enabled client secret (POST
	// /apps/{app}/secrets); HasSecret says whether one exists.
	HasSecret bool           `json:"hasSecret"`
	Issuer    string         `json:"issuer"`
	Discovery string         `json:"discovery"`
	Settings  *oidc.Settings `json:"settings,omitempty"`
}

// GetOIDCClient returns an oidc-client application's registration.
func (o *Ops) GetOIDCClient(ctx context.Context, ref string) (*OIDCClient, error) {
	a, err := o.Auth.FindApp(ctx, ref)
	if err != nil {
		return nil, err
	}
	return o.oidcView(ctx, a)
}

// PutOIDCClient replaces an oidc-client application's settings (checked,
// with defaults filled in, by oidc.Validator).
func (o *Ops) PutOIDCClient(ctx context.Context, actor directory.Actor, ref string, s *oidc.Settings) (*OIDCClient, error) {
	a, err := o.Auth.FindApp(ctx, ref)
	if err != nil {
		return nil, err
	}
	if a.Kind != auth.KindOIDCClient {
		return nil, invalid("kind", "application %q is a %s, not an %s", a.Name, a.Kind, auth.KindOIDCClient)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	a, err = o.Auth.SetSSOConfig(ctx, actor, a.ID, raw)
	if err != nil {
		return nil, err
	}
	return o.oidcView(ctx, a)
}

func (o *Ops) oidcView(ctx context.Context, a *auth.App) (*OIDCClient, error) {
	if a.Kind != auth.KindOIDCClient {
		return nil, invalid("kind", "application %q is a %s, not an %s", a.Name, a.Kind, auth.KindOIDCClient)
	}
	iss := o.Auth.Issuer()
	v := &OIDCClient{AppID: a.ID, Name: a.Name, ClientID: a.ClientID(), Issuer: iss,
		Discovery: strings.TrimSuffix(iss, "/") + oidc.DiscoveryPath}
	if len(a.SSO) > 0 {
		s, err := oidc.ParseSettings(a.SSO)
		if err != nil {
			return nil, err
		}
		v.Settings, v.Configured = s, true
	}
	secs, err := o.Auth.Secrets(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.Enabled {
			v.HasSecret = true
		}
	}
	return v, nil
}

// oidcRoutes adds the OpenID Connect client registration routes.
func (a *API) oidcRoutes() {
	a.handle("GET /apps/{app}/oidc", func(r *http.Request, _ directory.Actor) (int, any, error) {
		v, err := a.ops.GetOIDCClient(r.Context(), r.PathValue("app"))
		return http.StatusOK, v, err
	})
	a.handle("PUT /apps/{app}/oidc", func(r *http.Request, actor directory.Actor) (int, any, error) {
		var s oidc.Settings
		if err := decode(r, &s); err != nil {
			return 0, nil, err
		}
		v, err := a.ops.PutOIDCClient(r.Context(), actor, r.PathValue("app"), &s)
		return http.StatusOK, v, err
	})
}

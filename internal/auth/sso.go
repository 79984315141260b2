package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Single sign-on applications: the kinds people sign in to through
// Gatehouse, each with the groups allowed to use it, its factor policy and
// its protocol settings.

// SSO application kinds.
const (
	// KindSAMLSP is a SAML 2.0 service provider (GitBook, Alibaba Cloud
	// role or user SSO): internal/sso/saml owns its settings.
	KindSAMLSP Kind = "saml-sp"
	// KindOIDCClient is an OpenID Connect relying party: internal/sso/oidc
	// owns its settings.
	KindOIDCClient Kind = "oidc-client"
)

// Kinds lists every application kind, in a stable order.
func Kinds() []Kind {
	return []Kind{KindSCIMClient, KindServerApp, KindAdmin, KindSAMLSP, KindOIDCClient}
}

// SSO reports whether people sign in to applications of kind k through
// Gatehouse.
func (k Kind) SSO() bool { return k == KindSAMLSP || k == KindOIDCClient }

// MaxFactors is the most factors a policy may require.
const MaxFactors = 2

// Access is who may use an SSO application and how strongly she must have
// signed in. For other kinds it is empty.
type Access struct {
	// AllowedGroups are the ids of the groups whose direct members may use
	// the application. Empty with Everyone false: nobody may (an SSO
	// application is closed until an administrator opens it).
	AllowedGroups []string `json:"allowedGroups"`
	// Everyone lets every active person use the application, whatever
	// her groups.
	Everyone bool `json:"everyone"`
	// RequireSSO records that the application accepts only Gatehouse
	// sessions: its own sign-in (passwords kept by the application) is
	// turned off on its side (docs/sso.md, "require_sso"). Gatehouse
	// states it in the application's view and on the user page; it cannot
	// enforce it inside the application.
	RequireSSO bool `json:"requireSSO"`
	// MinFactors is the least number of factors a session needs to use
	// the application (0: the policy of the person's groups; 1; 2).
	MinFactors int `json:"minFactors"`
}

// SSOValidator checks the protocol settings of an SSO kind's application
// and returns them normalised (or an error of kind directory.ErrInvalid
// saying what is wrong). It runs inside the write transaction of the
// change: it must not do I/O (fetch metadata before, in the CLI or admin
// handler). app is the application as it will be stored, settings
// excepted.
type SSOValidator func(ctx context.Context, app *App, settings json.RawMessage) (json.RawMessage, error)

// RegisterSSOKind sets the validator of kind's protocol settings. The app
// wiring calls it once per SSO kind, before serving; settings of a kind
// without a validator are refused.
func (s *Service) RegisterSSOKind(kind Kind, v SSOValidator) {
	if !kind.SSO() {
		panic(fmt.Sprintf("auth: %q is not an SSO kind", kind))
	}
	s.ssoMu.Lock()
	defer s.ssoMu.Unlock()
	if s.sso == nil {
		s.sso = map[Kind]SSOValidator{}
	}
	s.sso[kind] = v
}

func (s *Service) ssoValidator(kind Kind) SSOValidator {
	s.ssoMu.RLock()
	defer s.ssoMu.RUnlock()
	return s.sso[kind]
}

// checkSSO checks an application's access and protocol settings against
// its kind: only SSO kinds have them; allowed groups must exist; settings
// go through the kind's validator when they changed (prev: the stored
// settings, nil on create).
func (s *Service) checkSSO(ctx context.Context, tx Tx, a *App, prev json.RawMessage) error {
	if !a.Kind.SSO() {
		if len(a.Access.AllowedGroups) > 0 || a.Access.Everyone || a.Access.RequireSSO || a.Access.MinFactors != 0 {
			return directory.Errorf(directory.ErrInvalid, "allowedGroups", "only single sign-on applications (%s, %s) have allowed groups, requireSSO and minFactors", KindSAMLSP, KindOIDCClient)
		}
		if len(a.SSO) > 0 {
			return directory.Errorf(directory.ErrInvalid, "sso", "only single sign-on applications (%s, %s) have sso settings", KindSAMLSP, KindOIDCClient)
		}
		return nil
	}
	if a.Access.MinFactors < 0 || a.Access.MinFactors > MaxFactors {
		return directory.Errorf(directory.ErrInvalid, "minFactors", "minFactors must be 0 (the groups' policy), 1 or 2")
	}
	a.Access.AllowedGroups = dedupe(a.Access.AllowedGroups)
	for _, id := range a.Access.AllowedGroups {
		ok, err := tx.GroupExists(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return directory.Errorf(directory.ErrInvalid, "allowedGroups", "group %q does not exist", id)
		}
	}
	if len(a.SSO) == 0 || bytes.Equal(a.SSO, prev) {
		return nil
	}
	v := s.ssoValidator(a.Kind)
	if v == nil {
		return directory.Errorf(directory.ErrInvalid, "sso", "this server cannot check %s settings", a.Kind)
	}
	if !json.Valid(a.SSO) || bytes.TrimSpace(a.SSO)[0] != '{' {
		return directory.Errorf(directory.ErrInvalid, "sso", "sso settings must be a JSON object")
	}
	out, err := v(ctx, a, a.SSO)
	if err != nil {
		return err
	}
	a.SSO = slices.Clone(out)
	return nil
}

// SetSSOConfig replaces the protocol settings of SSO application appID
// (its kind's validator checks them) and records the change in the audit
// log.
func (s *Service) SetSSOConfig(ctx context.Context, actor directory.Actor, appID string, settings json.RawMessage) (*App, error) {
	return s.UpdateApp(ctx, actor, appID, func(a *App) error {
		if !a.Kind.SSO() {
			return directory.Errorf(directory.ErrInvalid, "sso", "application %q is a %s, not a single sign-on application", a.Name, a.Kind)
		}
		a.SSO = slices.Clone(settings)
		return nil
	})
}

// SetAccess replaces who may use SSO application appID and the factors it
// requires.
func (s *Service) SetAccess(ctx context.Context, actor directory.Actor, appID string, acc Access) (*App, error) {
	return s.UpdateApp(ctx, actor, appID, func(a *App) error {
		if !a.Kind.SSO() {
			return directory.Errorf(directory.ErrInvalid, "allowedGroups", "application %q is a %s, not a single sign-on application", a.Name, a.Kind)
		}
		acc.AllowedGroups = slices.Clone(acc.AllowedGroups)
		a.Access = acc
		return nil
	})
}

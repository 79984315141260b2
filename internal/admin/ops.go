// Package admin is Gatehouse's administration: the operations on
// applications, credentials, organizations, signing keys and the audit log
// that both the command line and the admin REST API (/admin/v1) offer, with
// one JSON shape for each resource, so that `gatehouse … --json` prints
// exactly what the API returns.
package admin

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/checkpoint"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Ops performs administration operations.
type Ops struct {
	Auth *auth.Service
	Dir  *directory.Service
	// Retention is the audit retention PruneAudit applies by default.
	Retention time.Duration
	// Checkpoints are where VerifyAudit finds checkpoints and its keys.
	Checkpoints Checkpoints
	// Events administers the event pipeline (nil: none).
	Events *EventOps
	// Schemas resolve the filters of user and group listings.
	Schemas *schema.Registry
	// SAML administers the SAML identity provider (nil: none).
	SAML *SAMLOps
	// Login resets passwords, unlocks accounts and ends sessions (nil:
	// not offered).
	Login *login.Service
	// Docs administers documentation search (nil: not enabled).
	Docs DocOps
	// QueryTimeout is the time budget of a user or group listing, as
	// scim.query_timeout is the SCIM endpoint's (0: none).
	QueryTimeout time.Duration
	// Admit, when set, admits a user or group listing with filter e to
	// the SCIM endpoint's slots for expensive queries (scim.Server.Admit),
	// all administrators' listings as one caller, "admin".
	Admit func(ctx context.Context, caller string, rt *schema.ResourceType, e filter.Expr) (func(), error)
}

// ---- views

// App is an application as administrators see it.
type App struct {
	ID           string              `json:"id"`
	Name         string              `json:"name"`
	Kind         auth.Kind           `json:"kind"`
	Scopes       []string            `json:"scopes"`
	Mode         string              `json:"mode"`
	ExtraValues  string              `json:"extraValues,omitempty"`
	TargetOrgID  string              `json:"targetOrganizationId"`
	SyncScope    directory.SyncScope `json:"syncScope"`
	ExtensionURN string              `json:"extension,omitempty"`
	// AllowedGroups, Everyone, RequireSSO, MinFactors and SSO are a
	// single sign-on application's (kinds saml-sp and oidc-client):
	// absent for other kinds.
	AllowedGroups []string        `json:"allowedGroups,omitempty"`
	Everyone      *bool           `json:"everyone,omitempty"`
	RequireSSO    *bool           `json:"requireSSO,omitempty"`
	MinFactors    *int            `json:"minFactors,omitempty"`
	SSO           json.RawMessage `json:"sso,omitempty"`
	Enabled       bool            `json:"enabled"`
	Created       time.Time       `json:"created"`
	Modified      time.Time       `json:"lastModified"`
	// Set by Get only.
	Tokens  []Token  `json:"tokens,omitempty"`
	Secrets []Secret `json:"secrets,omitempty"`
	Stats   *Stats   `json:"stats,omitempty"`
}

// Token is a bearer token's record; Value is set once, when it is created.
type Token struct {
	ID       string     `json:"id"`
	AppID    string     `json:"appId"`
	Hint     string     `json:"hint"`
	Enabled  bool       `json:"enabled"`
	Created  time.Time  `json:"created"`
	Expires  time.Time  `json:"expires"`
	Expired  bool       `json:"expired"`
	LastUsed *time.Time `json:"lastUsed,omitempty"`
	UseCount int64      `json:"useCount"`
	Value    string     `json:"token,omitempty"`
}

// Secret is a client secret's record; Value is set once, when it is
// created.
type Secret struct {
	ID       string     `json:"id"`
	AppID    string     `json:"appId"`
	Hint     string     `json:"hint"`
	Enabled  bool       `json:"enabled"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"lastUsed,omitempty"`
	UseCount int64      `json:"useCount"`
	Value    string     `json:"secret,omitempty"`
}

// Stats are an application's request counts.
type Stats struct {
	Requests  int64            `json:"requests"`
	Failures  int64            `json:"failures"`
	ByReason  map[string]int64 `json:"failuresByReason"`
	LastError string           `json:"lastError,omitempty"`
	LastAt    *time.Time       `json:"lastErrorAt,omitempty"`
}

// Key is a signing key, without its private part.
type Key struct {
	ID        string     `json:"kid"`
	Algorithm string     `json:"alg"`
	Created   time.Time  `json:"created"`
	Retired   *time.Time `json:"retired,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func appView(a *auth.App) *App {
	scopes := []string(a.Scopes)
	if scopes == nil {
		scopes = []string{}
	}
	v := &App{
		ID: a.ID, Name: a.Name, Kind: a.Kind, Scopes: scopes, Mode: auth.Mode(a.Profile), ExtraValues: auth.ExtraValues(a.Profile),
		TargetOrgID: a.Profile.TargetOrgID,
		SyncScope:   a.Profile.Scope, ExtensionURN: a.ExtensionURN, Enabled: a.Enabled, Created: a.Created, Modified: a.Modified,
	}
	if a.Kind.SSO() {
		acc := a.Access
		v.AllowedGroups = acc.AllowedGroups
		if v.AllowedGroups == nil {
			v.AllowedGroups = []string{}
		}
		v.Everyone, v.RequireSSO, v.MinFactors, v.SSO = &acc.Everyone, &acc.RequireSSO, &acc.MinFactors, a.SSO
	}
	return v
}

func (o *Ops) tokenView(t *auth.Token) Token {
	return Token{ID: t.ID, AppID: t.AppID, Hint: t.Hint, Enabled: t.Enabled, Created: t.Created, Expires: t.Expires,
		Expired: !time.Now().Before(t.Expires), LastUsed: optTime(t.LastUsed), UseCount: t.UseCount}
}

func secretView(s *auth.Secret) Secret {
	return Secret{ID: s.ID, AppID: s.AppID, Hint: s.Hint, Enabled: s.Enabled, Created: s.Created, LastUsed: optTime(s.LastUsed), UseCount: s.UseCount}
}

func statsView(s *auth.Stats) *Stats {
	by := s.ByReason
	if by == nil {
		by = map[string]int64{}
	}
	return &Stats{Requests: s.Requests, Failures: s.Failures, ByReason: by, LastError: s.LastError, LastAt: optTime(s.LastAt)}
}

// ---- inputs

// AppInput creates an application. Empty fields take their defaults: kind
// scim-client, the kind's scopes, mode idaas, extra values refused, the
// root organization.
type AppInput struct {
	Name         string               `json:"name"`
	Kind         auth.Kind            `json:"kind,omitempty"`
	Scopes       []string             `json:"scopes,omitempty"`
	Mode         string               `json:"mode,omitempty"`
	ExtraValues  string               `json:"extraValues,omitempty"`
	TargetOrgID  string               `json:"targetOrganizationId,omitempty"`
	SyncScope    *directory.SyncScope `json:"syncScope,omitempty"`
	ExtensionURN string               `json:"extension,omitempty"`
	// AllowedGroups (group ids or display names), Everyone, RequireSSO,
	// MinFactors and SSO (the kind's settings) are for single sign-on
	// applications only.
	AllowedGroups []string        `json:"allowedGroups,omitempty"`
	Everyone      bool            `json:"everyone,omitempty"`
	RequireSSO    bool            `json:"requireSSO,omitempty"`
	MinFactors    int             `json:"minFactors,omitempty"`
	SSO           json.RawMessage `json:"sso,omitempty"`
}

// AppPatch changes an application; absent fields stay as they are.
type AppPatch struct {
	Name         *string              `json:"name,omitempty"`
	Scopes       *[]string            `json:"scopes,omitempty"`
	Mode         *string              `json:"mode,omitempty"`
	ExtraValues  *string              `json:"extraValues,omitempty"`
	TargetOrgID  *string              `json:"targetOrganizationId,omitempty"`
	SyncScope    *directory.SyncScope `json:"syncScope,omitempty"`
	ExtensionURN *string              `json:"extension,omitempty"`
	Enabled      *bool                `json:"enabled,omitempty"`
	// A single sign-on application's access and settings.
	AllowedGroups *[]string        `json:"allowedGroups,omitempty"`
	Everyone      *bool            `json:"everyone,omitempty"`
	RequireSSO    *bool            `json:"requireSSO,omitempty"`
	MinFactors    *int             `json:"minFactors,omitempty"`
	SSO           *json.RawMessage `json:"sso,omitempty"`
}

func invalid(field, format string, args ...any) error {
	return directory.Errorf(directory.ErrInvalid, field, format, args...)
}

func applyMode(p *directory.Profile, mode string) error {
	switch mode {
	case "", "idaas":
		p.IDaaSFields, p.Idempotent = true, true
	case "rfc":
		p.IDaaSFields, p.Idempotent = false, false
	default:
		return invalid("mode", "mode must be idaas or rfc, not %q", mode)
	}
	return nil
}

// applyExtraValues sets what an idaas-mode application does with extra
// emails and phone numbers: "refuse" ("" too) or "drop".
func applyExtraValues(p *directory.Profile, v string) error {
	switch v {
	case "", "refuse":
		p.DropExtraValues = false
	case "drop":
		p.DropExtraValues = true
	default:
		return invalid("extraValues", "extraValues must be refuse or drop, not %q", v)
	}
	return nil
}

func parseScopes(list []string) (auth.Scopes, error) {
	sc, err := auth.ParseScopes(strings.Join(list, " "))
	if err != nil {
		return nil, err
	}
	if sc == nil {
		sc = auth.Scopes{}
	}
	return sc, nil
}

// ParseValidity reads a validity: "90d", "1y", "36h" or a Go duration;
// "" is the default (one year).
func ParseValidity(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	unit := s[len(s)-1]
	if n, err := strconv.Atoi(s[:len(s)-1]); err == nil && n > 0 {
		switch unit {
		case 'd':
			return time.Duration(n) * 24 * time.Hour, nil
		case 'y':
			return time.Duration(n) * 365 * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, invalid("validity", "validity %q is not a duration such as 90d, 1y or 36h", s)
	}
	return d, nil
}

// ---- applications

// CreateApp creates an application.
func (o *Ops) CreateApp(ctx context.Context, actor directory.Actor, in AppInput) (*App, error) {
	spec := auth.AppSpec{Name: in.Name, Kind: in.Kind, ExtensionURN: in.ExtensionURN}
	if in.Scopes != nil {
		sc, err := parseScopes(in.Scopes)
		if err != nil {
			return nil, err
		}
		spec.Scopes = sc
	}
	if err := applyMode(&spec.Profile, in.Mode); err != nil {
		return nil, err
	}
	if err := applyExtraValues(&spec.Profile, in.ExtraValues); err != nil {
		return nil, err
	}
	spec.Profile.TargetOrgID = in.TargetOrgID
	if in.SyncScope != nil {
		spec.Profile.Scope = *in.SyncScope
	}
	groups, err := o.groupIDs(ctx, in.AllowedGroups)
	if err != nil {
		return nil, err
	}
	spec.Access = auth.Access{AllowedGroups: groups, Everyone: in.Everyone, RequireSSO: in.RequireSSO, MinFactors: in.MinFactors}
	spec.SSO = in.SSO
	a, err := o.Auth.CreateApp(ctx, actor, spec)
	if err != nil {
		return nil, err
	}
	return appView(a), nil
}

// ListApps lists applications by name.
func (o *Ops) ListApps(ctx context.Context) ([]*App, error) {
	apps, err := o.Auth.Apps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*App, 0, len(apps))
	for _, a := range apps {
		out = append(out, appView(a))
	}
	return out, nil
}

// GetApp returns an application, by id or name, with its tokens, secrets
// and request statistics.
func (o *Ops) GetApp(ctx context.Context, ref string) (*App, error) {
	a, err := o.Auth.FindApp(ctx, ref)
	if err != nil {
		return nil, err
	}
	v := appView(a)
	toks, err := o.ListTokens(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	secs, err := o.ListSecrets(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	st, err := o.Auth.Stats(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	v.Tokens, v.Secrets, v.Stats = toks, secs, statsView(st)
	return v, nil
}

// UpdateApp changes an application.
func (o *Ops) UpdateApp(ctx context.Context, actor directory.Actor, ref string, p AppPatch) (*App, error) {
	a, err := o.Auth.FindApp(ctx, ref)
	if err != nil {
		return nil, err
	}
	var scopes auth.Scopes
	if p.Scopes != nil {
		if scopes, err = parseScopes(*p.Scopes); err != nil {
			return nil, err
		}
	}
	if (p.Enabled != nil && !*p.Enabled) || (p.Scopes != nil && !scopes.Has(auth.ScopeAdmin)) {
		if err := o.keepAdminAccess(ctx, actor, a, "disable it or take its admin scope away"); err != nil {
			return nil, err
		}
	}
	var groups []string
	if p.AllowedGroups != nil {
		if groups, err = o.groupIDs(ctx, *p.AllowedGroups); err != nil {
			return nil, err
		}
	}
	up, err := o.Auth.UpdateApp(ctx, actor, a.ID, func(a *auth.App) error {
		if p.Name != nil {
			a.Name = *p.Name
		}
		if p.Scopes != nil {
			a.Scopes = scopes
		}
		if p.Mode != nil {
			if err := applyMode(&a.Profile, *p.Mode); err != nil {
				return err
			}
		}
		if p.ExtraValues != nil {
			if err := applyExtraValues(&a.Profile, *p.ExtraValues); err != nil {
				return err
			}
		}
		if p.TargetOrgID != nil {
			a.Profile.TargetOrgID = *p.TargetOrgID
		}
		if p.SyncScope != nil {
			a.Profile.Scope = *p.SyncScope
		}
		if p.ExtensionURN != nil {
			a.ExtensionURN = *p.ExtensionURN
		}
		if p.Enabled != nil {
			a.Enabled = *p.Enabled
		}
		if p.AllowedGroups != nil {
			a.Access.AllowedGroups = groups
		}
		if p.Everyone != nil {
			a.Access.Everyone = *p.Everyone
		}
		if p.RequireSSO != nil {
			a.Access.RequireSSO = *p.RequireSSO
		}
		if p.MinFactors != nil {
			a.Access.MinFactors = *p.MinFactors
		}
		if p.SSO != nil {
			a.SSO = *p.SSO
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return appView(up), nil
}

// DeleteApp deletes an application with its credentials. An enabled
// application with credentials its clients can still use (enabled tokens
// that have not expired, enabled client secrets) is only deleted with
// force: otherwise the answer is a conflict on the field "force", which
// changes nothing. Disabling the application first (which cuts its
// clients off, and can be undone) makes force unnecessary. The
// application making the request, and the last enabled application with
// the admin scope, are never deleted (keepAdminAccess).
func (o *Ops) DeleteApp(ctx context.Context, actor directory.Actor, ref string, force bool) (*App, error) {
	a, err := o.Auth.FindApp(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := o.keepAdminAccess(ctx, actor, a, "delete it"); err != nil {
		return nil, err
	}
	if !force {
		if err := o.credentialsInUse(ctx, a); err != nil {
			return nil, err
		}
	}
	if err := o.Auth.DeleteApp(ctx, actor, a.ID); err != nil {
		return nil, err
	}
	return appView(a), nil
}

// keepAdminAccess refuses a change (what) to application a that would
// lock the administrators out, force or not: a change of the application
// whose credential makes the request (its next request would be refused),
// and of the last enabled application with the admin scope (nothing could
// use the admin API any more, and serve creates an admin application only
// on an empty database). The answer is a conflict on the field "app".
func (o *Ops) keepAdminAccess(ctx context.Context, actor directory.Actor, a *auth.App, what string) error {
	if actor.AppID != "" && actor.AppID == a.ID {
		return directory.Errorf(directory.ErrConflict, "app",
			"application %s makes this request: it cannot %s, which would refuse its own next request; use another admin application, or the command line", a.Name, what)
	}
	if !a.Enabled || !a.Scopes.Has(auth.ScopeAdmin) {
		return nil
	}
	apps, err := o.Auth.Apps(ctx)
	if err != nil {
		return err
	}
	for _, b := range apps {
		if b.ID != a.ID && b.Enabled && b.Scopes.Has(auth.ScopeAdmin) {
			return nil
		}
	}
	return directory.Errorf(directory.ErrConflict, "app",
		"application %s is the last enabled application with the admin scope: to %s would leave no way into the admin API; create another admin application first (gatehouse app create NAME --kind admin)", a.Name, what)
}

// credentialsInUse refuses to delete an application whose clients still
// hold working credentials.
func (o *Ops) credentialsInUse(ctx context.Context, a *auth.App) error {
	if !a.Enabled {
		return nil
	}
	toks, err := o.ListTokens(ctx, a.ID)
	if err != nil {
		return err
	}
	secs, err := o.ListSecrets(ctx, a.ID)
	if err != nil {
		return err
	}
	var nt, ns int
	for _, t := range toks {
		if t.Enabled && !t.Expired {
			nt++
		}
	}
	for _, s := range secs {
		if s.Enabled {
			ns++
		}
	}
	if nt+ns == 0 {
		return nil
	}
	var parts []string
	if nt > 0 {
		parts = append(parts, plural(nt, "enabled bearer token", "enabled bearer tokens"))
	}
	if ns > 0 {
		parts = append(parts, plural(ns, "enabled client secret", "enabled client secrets"))
	}
	return directory.Errorf(directory.ErrConflict, "force", "application %q has %s: deleting it cuts off the clients that use them",
		a.Name, strings.Join(parts, " and "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// ---- bearer tokens

// CreateToken creates a bearer token; the result holds its value, which is
// never shown again.
func (o *Ops) CreateToken(ctx context.Context, actor directory.Actor, appRef, validity string) (*Token, error) {
	d, err := ParseValidity(validity)
	if err != nil {
		return nil, err
	}
	a, err := o.Auth.FindApp(ctx, appRef)
	if err != nil {
		return nil, err
	}
	t, value, err := o.Auth.CreateToken(ctx, actor, a.ID, d)
	if err != nil {
		return nil, err
	}
	v := o.tokenView(t)
	v.Value = value
	return &v, nil
}

// ListTokens lists an application's tokens, oldest first.
func (o *Ops) ListTokens(ctx context.Context, appRef string) ([]Token, error) {
	a, err := o.Auth.FindApp(ctx, appRef)
	if err != nil {
		return nil, err
	}
	toks, err := o.Auth.Tokens(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Token, 0, len(toks))
	for _, t := range toks {
		out = append(out, o.tokenView(t))
	}
	return out, nil
}

// GetToken returns one of an application's tokens.
func (o *Ops) GetToken(ctx context.Context, appRef, id string) (*Token, error) {
	toks, err := o.ListTokens(ctx, appRef)
	if err != nil {
		return nil, err
	}
	for i := range toks {
		if toks[i].ID == id {
			return &toks[i], nil
		}
	}
	return nil, directory.Errorf(directory.ErrNotFound, "token", "application has no token %q", id)
}

// SetTokenEnabled enables or disables a token.
func (o *Ops) SetTokenEnabled(ctx context.Context, actor directory.Actor, appRef, id string, enabled bool) (*Token, error) {
	a, err := o.Auth.FindApp(ctx, appRef)
	if err != nil {
		return nil, err
	}
	t, err := o.Auth.SetTokenEnabled(ctx, actor, a.ID, id, enabled)
	if err != nil {
		return nil, err
	}
	v := o.tokenView(t)
	return &v, nil
}

// DeleteToken deletes a disabled token.
func (o *Ops) DeleteToken(ctx context.Context, actor directory.Actor, appRef, id string) error {
	a, err := o.Auth.FindApp(ctx, appRef)
	if err != nil {
		return err
	}
	return o.Auth.DeleteToken(ctx, actor, a.ID, id)
}

// ---- client secrets

// CreateSecret creates a client secret; the result holds its value, which
// is never shown again.
func (o *Ops) CreateSecret(ctx context.Context, actor directory.Actor, appRef string) (*Secret, error) {
	a, err := o.Auth.FindApp(ctx, appRef)
	if err != nil {
		return nil, err
	}
	s, value, err := o.Auth.CreateSecret(ctx, actor, a.ID)
	if err != nil {
		return nil, err
	}
	v := secretView(s)
	v.Value = value
	return &v, nil
}

// ListSecrets lists an application's client secrets.
func (o *Ops) ListSecrets(ctx context.Context, appRef string) ([]Secret, error) {
	a, err := o.Auth.FindApp(ctx, appRef)
	if err != nil {
		return nil, err
	}
	secs, err := o.Auth.Secrets(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Secret, 0, len(secs))
	for _, s := range secs {
		out = append(out, secretView(s))
	}
	return out, nil
}

// SetSecretEnabled enables or disables a client secret.
func (o *Ops) SetSecretEnabled(ctx context.Context, actor directory.Actor, appRef, id string, enabled bool) (*Secret, error) {
	a, err := o.Auth.FindApp(ctx, appRef)
	if err != nil {
		return nil, err
	}
	s, err := o.Auth.SetSecretEnabled(ctx, actor, a.ID, id, enabled)
	if err != nil {
		return nil, err
	}
	v := secretView(s)
	return &v, nil
}

// DeleteSecret deletes a disabled client secret.
func (o *Ops) DeleteSecret(ctx context.Context, actor directory.Actor, appRef, id string) error {
	a, err := o.Auth.FindApp(ctx, appRef)
	if err != nil {
		return err
	}
	return o.Auth.DeleteSecret(ctx, actor, a.ID, id)
}

// ---- organizations

// OrgInput creates an organization.
type OrgInput struct {
	Name       string `json:"name"`
	ParentID   string `json:"parentId,omitempty"`
	ExternalID string `json:"externalId,omitempty"`
}

// OrgPatch changes an organization.
type OrgPatch struct {
	Name       *string `json:"name,omitempty"`
	ParentID   *string `json:"parentId,omitempty"`
	ExternalID *string `json:"externalId,omitempty"`
}

// CreateOrg creates an organization.
func (o *Ops) CreateOrg(ctx context.Context, actor directory.Actor, in OrgInput) (*directory.Organization, error) {
	return o.Dir.CreateOrg(ctx, actor, &directory.Organization{Name: in.Name, ParentID: in.ParentID, ExternalID: in.ExternalID})
}

// UpdateOrg changes an organization.
func (o *Ops) UpdateOrg(ctx context.Context, actor directory.Actor, id string, p OrgPatch) (*directory.Organization, error) {
	if p.Name == nil && p.ParentID == nil && p.ExternalID == nil {
		return nil, invalid("", "give name, parentId or externalId")
	}
	return o.Dir.UpdateOrg(ctx, actor, id, func(org *directory.Organization) error {
		if p.Name != nil {
			org.Name = *p.Name
		}
		if p.ParentID != nil {
			org.ParentID = *p.ParentID
		}
		if p.ExternalID != nil {
			org.ExternalID = *p.ExternalID
		}
		return nil
	})
}

// ---- audit

// AuditFilter selects audit records.
type AuditFilter struct {
	Actor, Resource, Action string
	Since, Until            string // RFC 3339 times or dates (2026-11-23)
	Before                  int64  // records before this seq
	Limit                   int
}

// ParseTime reads an RFC 3339 time or a date (midnight UTC).
func ParseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, invalid(field, "%s must be an RFC 3339 time (2026-11-23T08:00:00Z) or a date (2026-11-23), not %q", field, s)
}

// Audit returns audit records, newest first, and the seq to continue
// before (0 when there are no more).
func (o *Ops) Audit(ctx context.Context, f AuditFilter) ([]*directory.AuditEntry, int64, error) {
	since, err := ParseTime("since", f.Since)
	if err != nil {
		return nil, 0, err
	}
	until, err := ParseTime("until", f.Until)
	if err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 1000 {
		return nil, 0, invalid("limit", "limit must be at most 1000")
	}
	entries, err := o.Dir.Audit(ctx, directory.AuditQuery{
		Actor: f.Actor, ResourceID: f.Resource, Action: f.Action, Since: since, Until: until, BeforeSeq: f.Before, Limit: f.Limit,
	})
	if err != nil {
		return nil, 0, err
	}
	if entries == nil {
		entries = []*directory.AuditEntry{}
	}
	var next int64
	if len(entries) == f.Limit {
		next = entries[len(entries)-1].Seq
	}
	return entries, next, nil
}

// Checkpoints says where verification finds audit checkpoints and the keys
// it trusts by default.
type Checkpoints struct {
	// File is the checkpoint file serve appends to; read when it exists.
	File string
	// KeyFile is the signing key; its public half is trusted when it
	// exists.
	KeyFile string
	// PublicKeys are further trusted keys ("ed25519:…").
	PublicKeys []string
}

// VerifyInput says what to compare the audit chain with, besides the
// configured checkpoint file.
type VerifyInput struct {
	// Checkpoints are texts holding checkpoints (lines of a checkpoint
	// file or of a server log).
	Checkpoints []string `json:"checkpoints,omitempty"`
	// Files are more files to read checkpoints from (command line only).
	Files []string `json:"-"`
	// PublicKeys, when given, are the only keys trusted, instead of the
	// configured ones (command line only: pins the key).
	PublicKeys []string `json:"-"`
}

// maxInputCheckpoints bounds the texts one verification request carries.
const maxInputCheckpoints = 10000

// VerifyAudit verifies the audit chain and compares it with the
// checkpoints of the configured file and of in, checking their signatures
// with the trusted keys.
func (o *Ops) VerifyAudit(ctx context.Context, in VerifyInput) (*directory.AuditReport, error) {
	if len(in.Checkpoints) > maxInputCheckpoints {
		return nil, invalid("checkpoints", "at most %d checkpoints per request", maxInputCheckpoints)
	}
	keys, err := o.checkpointKeys(in.PublicKeys)
	if err != nil {
		return nil, err
	}
	r := checkpoint.NewReader(keys...)
	if f := o.Checkpoints.File; f != "" {
		if err := r.ReadFile(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	for _, f := range in.Files {
		if err := r.ReadFile(f); err != nil {
			return nil, err
		}
	}
	for i, text := range in.Checkpoints {
		if err := r.Read(strings.NewReader(text), fmt.Sprintf("request checkpoints[%d]", i)); err != nil {
			return nil, invalid("checkpoints", "checkpoints[%d]: %v", i, err)
		}
	}
	rep, err := o.Dir.VerifyAudit(ctx, r.Checkpoints...)
	if err != nil {
		return nil, err
	}
	if rep.Checkpoints == nil {
		rep.Checkpoints = &directory.CheckpointSummary{}
	}
	rep.Checkpoints.Sources = append([]string{}, r.Sources...)
	rep.Checkpoints.Rejected = r.Bad
	if r.Bad > 0 {
		rep.OK = false
		rep.Problems = append(r.Problems, rep.Problems...)
	}
	return rep, nil
}

// checkpointKeys returns the keys verification trusts: pinned when given,
// else the configured ones.
func (o *Ops) checkpointKeys(pinned []string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	if len(pinned) > 0 {
		for _, s := range pinned {
			k, err := checkpoint.ParsePublicKey(s)
			if err != nil {
				return nil, invalid("publicKey", "%v", err)
			}
			keys = append(keys, k)
		}
		return keys, nil
	}
	if o.Checkpoints.KeyFile != "" {
		k, err := checkpoint.LoadKey(o.Checkpoints.KeyFile)
		switch {
		case err == nil:
			keys = append(keys, k.Public().(ed25519.PublicKey))
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	for _, s := range o.Checkpoints.PublicKeys {
		k, err := checkpoint.ParsePublicKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// PruneAudit deletes records older than retention (the configured one
// when 0).
func (o *Ops) PruneAudit(ctx context.Context, actor directory.Actor, retention time.Duration) (int64, error) {
	if retention == 0 {
		retention = o.Retention
	}
	if retention == 0 {
		retention = directory.AuditRetention
	}
	return o.Dir.PruneAudit(ctx, actor, retention)
}

// ---- signing keys

// Keys lists the signing keys, newest first.
func (o *Ops) Keys(ctx context.Context) ([]Key, error) {
	keys, err := o.Auth.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, Key{ID: k.ID, Algorithm: k.Algorithm, Created: k.Created, Retired: optTime(k.Retired)})
	}
	return out, nil
}

// RotateKey makes a new signing key of each algorithm (ES256, RS256); the
// previous ones keep verifying the tokens they signed until those expire.
func (o *Ops) RotateKey(ctx context.Context, actor directory.Actor) ([]Key, error) {
	keys, err := o.Auth.RotateKeys(ctx, actor)
	if err != nil {
		return nil, err
	}
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, Key{ID: k.ID, Algorithm: k.Algorithm, Created: k.Created})
	}
	return out, nil
}

package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Service manages applications and their credentials and authenticates
// callers.
type Service struct {
	store Store
	now   func() time.Time
	newID func() string
	log   *slog.Logger
	opt   Options

	keys     *keyring
	throttle *throttle

	mu    sync.RWMutex
	cache map[[32]byte]cached

	iss atomic.Pointer[string] // the issuer of access tokens

	usageMu sync.Mutex
	usage   *Usage

	ssoMu sync.RWMutex
	sso   map[Kind]SSOValidator // the validators of SSO kinds' settings (RegisterSSOKind)
}

// Options configures a Service.
type Options struct {
	Now   func() time.Time
	NewID func() string
	Log   *slog.Logger
	// Extensions lists the custom extension URNs configured, which an
	// application's ExtensionURN must be one of.
	Extensions []string
	// Issuer is the "iss" of access tokens and the issuer of the RFC 8414
	// metadata: the server's external URL (default "urn:gatehouse";
	// SetIssuer changes it).
	Issuer string
	// AccessTokenLifetime is how long OAuth access tokens live (default
	// 3600 s; 5 min to 24 h).
	AccessTokenLifetime time.Duration
	// KeyRotation is how long a signing key signs before a new one takes
	// over (default 30 days).
	KeyRotation time.Duration
	// FailureLimit failed authentications per client address (and per
	// application) in FailureWindow are allowed before further failures are
	// answered 429 (defaults 20 in 1 minute).
	FailureLimit  int
	FailureWindow time.Duration
	// OnFailure, if set, is told the reason of every failed
	// authentication; OnIssue of every access token issued (metrics).
	OnFailure func(reason string)
	OnIssue   func()
}

type cached struct {
	p       *Principal
	version int64
}

// Principal is an authenticated caller.
type Principal struct {
	App *App
	// Scopes are what this credential may do: the application's scopes, or
	// the subset an access token was issued for.
	Scopes Scopes
	// Token is the bearer token used, if one was; SecretID the client
	// secret an access token was obtained with, if one was.
	Token    *Token
	SecretID string
	// Expires is when the credential expires.
	Expires time.Time
}

// Profile is the directory profile of the principal's calls: the
// application's, in the application's provisioning domain (its id), where
// the externalIds it sets live.
func (p *Principal) Profile() directory.Profile {
	pr := p.App.Profile
	pr.Domain = p.App.ID
	return pr
}

// CredentialID names the credential for audit records.
func (p *Principal) CredentialID() string {
	if p.Token != nil {
		return p.Token.ID
	}
	return "oauth:" + p.SecretID
}

// Actor describes the principal for audit records.
func (p *Principal) Actor(requestID string) directory.Actor {
	return directory.Actor{Kind: "app", AppID: p.App.ID, AppName: p.App.Name, TokenID: p.CredentialID(), RequestID: requestID}
}

// NewService returns a Service.
func NewService(store Store, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.AccessTokenLifetime == 0 {
		opt.AccessTokenLifetime = time.Hour
	}
	if opt.KeyRotation == 0 {
		opt.KeyRotation = 30 * 24 * time.Hour
	}
	if opt.FailureLimit == 0 {
		opt.FailureLimit = 20
	}
	if opt.FailureWindow == 0 {
		opt.FailureWindow = time.Minute
	}
	s := &Service{
		store: store, now: opt.Now, newID: opt.NewID, log: opt.Log, opt: opt,
		cache: map[[32]byte]cached{}, usage: newUsage(),
	}
	s.keys = newKeyring(s)
	s.throttle = newThrottle(opt.FailureLimit, opt.FailureWindow, opt.Now)
	if opt.Issuer != "" {
		s.SetIssuer(opt.Issuer)
	}
	return s
}

// Token lifetimes allowed (as IDaaS: one day to three years).
const (
	MinTokenValidity     = 24 * time.Hour
	MaxTokenValidity     = 3 * 365 * 24 * time.Hour
	DefaultTokenValidity = 365 * 24 * time.Hour
	// MaxTokens and MaxSecrets bound an application's credentials: two, so
	// that one can be rotated while the other works.
	MaxTokens  = 2
	MaxSecrets = 2
)

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Service) audit(actor directory.Actor, action, kind, id string, before, after any) *directory.AuditEntry {
	return &directory.AuditEntry{
		Time: s.stamp(), Actor: actor, Action: action, ResourceType: kind, ResourceID: id,
		Before: snapshot(before), After: snapshot(after),
	}
}

// ---- applications

// AppSpec is what an application is created with; zero fields take their
// defaults.
type AppSpec struct {
	Name         string
	Kind         Kind
	Scopes       Scopes
	Profile      directory.Profile
	ExtensionURN string
	// Access and SSO are a single sign-on application's allowed groups,
	// factor policy and protocol settings.
	Access Access
	SSO    json.RawMessage
}

func (s *Service) checkApp(ctx context.Context, tx Tx, a *App, prevSSO json.RawMessage) error {
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" || utf8.RuneCountInString(a.Name) > 128 || directory.UnsafeText(a.Name) {
		return directory.Errorf(directory.ErrInvalid, "name",
			"an application name must have 1 to 128 characters, without control characters or invisible bidirectional marks (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)")
	}
	if !slices.Contains(Kinds(), a.Kind) {
		return directory.Errorf(directory.ErrInvalid, "kind", "kind must be %s, %s, %s, %s or %s", KindSCIMClient, KindServerApp, KindAdmin, KindSAMLSP, KindOIDCClient)
	}
	if err := s.checkSSO(ctx, tx, a, prevSSO); err != nil {
		return err
	}
	for _, sc := range a.Scopes {
		if !slices.Contains(KnownScopes(), sc) {
			return directory.Errorf(directory.ErrInvalid, "scopes", "unknown scope %q", sc)
		}
	}
	if a.ExtensionURN != "" && !slices.ContainsFunc(s.opt.Extensions, func(u string) bool { return strings.EqualFold(u, a.ExtensionURN) }) {
		return directory.Errorf(directory.ErrInvalid, "extension", "extension namespace %q is not configured (scim.extensions)", a.ExtensionURN)
	}
	p := &a.Profile
	if p.DropExtraValues && !p.IDaaSFields {
		return directory.Errorf(directory.ErrInvalid, "extraValues", "extra values can be dropped only in idaas mode "+
			"(rfc mode stores every email and phone number): set extraValues to refuse, or the mode to idaas")
	}
	if p.TargetOrgID == "" {
		p.TargetOrgID = directory.RootOrgID
	}
	ok, err := tx.OrgExists(ctx, p.TargetOrgID)
	if err != nil {
		return err
	}
	if !ok {
		return directory.Errorf(directory.ErrInvalid, "targetOrg", "organization %q does not exist", p.TargetOrgID)
	}
	p.Scope.OrgIDs = dedupe(p.Scope.OrgIDs)
	p.Scope.GroupIDs = dedupe(p.Scope.GroupIDs)
	for _, id := range p.Scope.OrgIDs {
		ok, err := tx.OrgExists(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return directory.Errorf(directory.ErrInvalid, "scope", "organization %q does not exist", id)
		}
	}
	for _, id := range p.Scope.GroupIDs {
		ok, err := tx.GroupExists(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return directory.Errorf(directory.ErrInvalid, "scope", "group %q does not exist", id)
		}
	}
	// As in IDaaS, the target organization must lie inside the
	// synchronization scope's organizations: accounts created without an
	// organization land there, and must stay visible to the application
	// that created them. (A scope of groups alone places no accounts.)
	if !p.Scope.All() && len(p.Scope.OrgIDs) > 0 {
		sc := p.Scope
		ok, err := tx.OrgInScope(ctx, p.TargetOrgID, &sc)
		if err != nil {
			return err
		}
		if !ok {
			return directory.Errorf(directory.ErrInvalid, "targetOrg", "the target organization %q is outside the application's synchronization scope", p.TargetOrgID)
		}
	}
	return nil
}

func dedupe(ids []string) []string {
	var out []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// CreateApp creates an application.
func (s *Service) CreateApp(ctx context.Context, actor directory.Actor, spec AppSpec) (*App, error) {
	if spec.Kind == "" {
		spec.Kind = KindSCIMClient
	}
	if spec.Scopes == nil {
		spec.Scopes = DefaultScopes(spec.Kind)
	}
	now := s.stamp()
	a := &App{
		ID: s.newID(), Name: spec.Name, Kind: spec.Kind, Scopes: spec.Scopes, Profile: spec.Profile,
		ExtensionURN: spec.ExtensionURN, Access: spec.Access, SSO: slices.Clone(spec.SSO), Enabled: true, Created: now, Modified: now,
	}
	a.Access.AllowedGroups = slices.Clone(spec.Access.AllowedGroups)
	err := s.store.WriteAuth(ctx, func(tx Tx) error {
		if err := s.checkApp(ctx, tx, a, nil); err != nil {
			return err
		}
		if err := directory.CheckName("name", "", a.Name); err != nil {
			return err
		}
		if err := tx.InsertApp(ctx, a); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, s.audit(actor, "app.create", "Application", a.ID, nil, appView(a)))
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// UpdateApp applies mutate to application id.
func (s *Service) UpdateApp(ctx context.Context, actor directory.Actor, id string, mutate func(*App) error) (*App, error) {
	var out *App
	err := s.store.WriteAuth(ctx, func(tx Tx) error {
		cur, err := tx.AppForUpdate(ctx, id)
		if err != nil {
			return err
		}
		next := *cur
		next.Scopes = slices.Clone(cur.Scopes)
		next.Profile.Scope.OrgIDs = slices.Clone(cur.Profile.Scope.OrgIDs)
		next.Profile.Scope.GroupIDs = slices.Clone(cur.Profile.Scope.GroupIDs)
		next.Access.AllowedGroups = slices.Clone(cur.Access.AllowedGroups)
		next.SSO = slices.Clone(cur.SSO)
		if err := mutate(&next); err != nil {
			return err
		}
		next.ID, next.Kind, next.Created, next.Modified = cur.ID, cur.Kind, cur.Created, s.stamp()
		if err := s.checkApp(ctx, tx, &next, cur.SSO); err != nil {
			return err
		}
		if err := directory.CheckName("name", cur.Name, next.Name); err != nil {
			return err
		}
		if err := tx.UpdateApp(ctx, &next); err != nil {
			return err
		}
		out = &next
		action := "app.update"
		if cur.Enabled != next.Enabled {
			action = map[bool]string{true: "app.enable", false: "app.disable"}[next.Enabled]
		}
		return tx.AppendAudit(ctx, s.audit(actor, action, "Application", id, appView(cur), appView(&next)))
	})
	s.forget()
	return out, err
}

// DeleteApp deletes an application with its tokens and secrets.
func (s *Service) DeleteApp(ctx context.Context, actor directory.Actor, id string) error {
	err := s.store.WriteAuth(ctx, func(tx Tx) error {
		cur, err := tx.AppForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteApp(ctx, id); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, s.audit(actor, "app.delete", "Application", id, appView(cur), nil))
	})
	s.forget()
	return err
}

// FindApp finds an application by id or name.
func (s *Service) FindApp(ctx context.Context, idOrName string) (*App, error) {
	a, err := s.store.AppByName(ctx, idOrName)
	if errors.Is(err, directory.ErrNotFound) {
		return s.store.App(ctx, idOrName)
	}
	return a, err
}

// Apps lists applications.
func (s *Service) Apps(ctx context.Context) ([]*App, error) { return s.store.Apps(ctx) }

// Stats returns an application's request statistics, including what has
// not been flushed yet.
func (s *Service) Stats(ctx context.Context, appID string) (*Stats, error) {
	st, err := s.store.AppStats(ctx, appID)
	if err != nil {
		return nil, err
	}
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	if pending := s.usage.Apps[appID]; pending != nil {
		MergeStats(st, pending)
	}
	return st, nil
}

// ---- bearer tokens

// CreateToken creates a bearer token for an application, valid for
// validity (1 day to 3 years; 0 for one year), and returns it with its
// value. The value is not stored and cannot be shown again.
func (s *Service) CreateToken(ctx context.Context, actor directory.Actor, appID string, validity time.Duration) (*Token, string, error) {
	if validity == 0 {
		validity = DefaultTokenValidity
	}
	if validity < MinTokenValidity || validity > MaxTokenValidity {
		return nil, "", directory.Errorf(directory.ErrInvalid, "validity", "a token must be valid for between 1 day and 3 years")
	}
	app, err := s.store.App(ctx, appID)
	if err != nil {
		return nil, "", err
	}
	prefix := TokenPrefix
	if app.Kind == KindAdmin {
		prefix = AdminTokenPrefix
	}
	value, err := NewSecret(prefix)
	if err != nil {
		return nil, "", err
	}
	now := s.stamp()
	t := &Token{ID: s.newID(), AppID: appID, Hint: Hint(value), Enabled: true, Created: now, Expires: now.Add(validity)}
	if err := s.insertToken(ctx, actor, t, value); err != nil {
		return nil, "", err
	}
	return t, value, nil
}

func (s *Service) insertToken(ctx context.Context, actor directory.Actor, t *Token, value string) error {
	return s.store.WriteAuth(ctx, func(tx Tx) error {
		if _, err := tx.AppForUpdate(ctx, t.AppID); err != nil {
			return err
		}
		toks, err := tx.TokensForUpdate(ctx, t.AppID)
		if err != nil {
			return err
		}
		if len(toks) >= MaxTokens {
			return directory.Errorf(directory.ErrConflict, "tokens", "an application has at most %d bearer tokens: disable and delete one before adding another", MaxTokens)
		}
		if err := tx.InsertToken(ctx, t, HashSecret(value)); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, s.audit(actor, "token.create", "Token", t.ID, nil, tokenView(t)))
	})
}

// Tokens lists an application's tokens.
func (s *Service) Tokens(ctx context.Context, appID string) ([]*Token, error) {
	return s.store.Tokens(ctx, appID)
}

// findToken returns token id of application appID.
func findToken(toks []*Token, id string) *Token {
	for _, t := range toks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// SetTokenEnabled enables or disables a token. The last enabled token of
// an application cannot be disabled: the client would be cut off. Rotate
// instead: add a second token, switch the client, then disable the first.
func (s *Service) SetTokenEnabled(ctx context.Context, actor directory.Actor, appID, tokenID string, enabled bool) (*Token, error) {
	var out *Token
	err := s.store.WriteAuth(ctx, func(tx Tx) error {
		toks, err := tx.TokensForUpdate(ctx, appID)
		if err != nil {
			return err
		}
		t := findToken(toks, tokenID)
		if t == nil {
			return directory.Errorf(directory.ErrNotFound, "token", "application has no token %q", tokenID)
		}
		if t.Enabled == enabled {
			out = t
			return nil
		}
		if !enabled {
			others := 0
			for _, o := range toks {
				if o.ID != t.ID && o.Enabled {
					others++
				}
			}
			if others == 0 {
				return directory.Errorf(directory.ErrConflict, "token", "cannot disable the application's last enabled token: create a second token, switch the client to it, then disable this one")
			}
		}
		before := *t
		t.Enabled = enabled
		if err := tx.UpdateToken(ctx, t); err != nil {
			return err
		}
		out = t
		action := map[bool]string{true: "token.enable", false: "token.disable"}[enabled]
		return tx.AppendAudit(ctx, s.audit(actor, action, "Token", t.ID, tokenView(&before), tokenView(t)))
	})
	s.forget()
	return out, err
}

// DeleteToken deletes a disabled token.
func (s *Service) DeleteToken(ctx context.Context, actor directory.Actor, appID, tokenID string) error {
	err := s.store.WriteAuth(ctx, func(tx Tx) error {
		toks, err := tx.TokensForUpdate(ctx, appID)
		if err != nil {
			return err
		}
		t := findToken(toks, tokenID)
		if t == nil {
			return directory.Errorf(directory.ErrNotFound, "token", "application has no token %q", tokenID)
		}
		if t.Enabled {
			return directory.Errorf(directory.ErrConflict, "token", "disable the token before deleting it")
		}
		if err := tx.DeleteToken(ctx, t.ID); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, s.audit(actor, "token.delete", "Token", t.ID, tokenView(t), nil))
	})
	s.forget()
	return err
}

// ---- client secrets

// CreateSecret creates a client secret for the OAuth 2.0 client-credentials
// grant and returns it with its value, shown once.
func (s *Service) CreateSecret(ctx context.Context, actor directory.Actor, appID string) (*Secret, string, error) {
	value, err := NewSecret(SecretPrefix)
	if err != nil {
		return nil, "", err
	}
	now := s.stamp()
	sec := &Secret{ID: s.newID(), AppID: appID, Hint: Hint(value), Enabled: true, Created: now}
	err = s.store.WriteAuth(ctx, func(tx Tx) error {
		if _, err := tx.AppForUpdate(ctx, appID); err != nil {
			return err
		}
		secs, err := tx.SecretsForUpdate(ctx, appID)
		if err != nil {
			return err
		}
		if len(secs) >= MaxSecrets {
			return directory.Errorf(directory.ErrConflict, "secrets", "an application has at most %d secrets: disable and delete one before adding another", MaxSecrets)
		}
		if err := tx.InsertSecret(ctx, sec, HashSecret(value)); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, s.audit(actor, "secret.create", "Secret", sec.ID, nil, secretView(sec)))
	})
	if err != nil {
		return nil, "", err
	}
	return sec, value, nil
}

// Secrets lists an application's secrets.
func (s *Service) Secrets(ctx context.Context, appID string) ([]*Secret, error) {
	return s.store.Secrets(ctx, appID)
}

func findSecret(secs []*Secret, id string) *Secret {
	for _, x := range secs {
		if x.ID == id {
			return x
		}
	}
	return nil
}

// SetSecretEnabled enables or disables a client secret. Disabling it also
// invalidates the access tokens obtained with it.
func (s *Service) SetSecretEnabled(ctx context.Context, actor directory.Actor, appID, secretID string, enabled bool) (*Secret, error) {
	var out *Secret
	err := s.store.WriteAuth(ctx, func(tx Tx) error {
		secs, err := tx.SecretsForUpdate(ctx, appID)
		if err != nil {
			return err
		}
		sec := findSecret(secs, secretID)
		if sec == nil {
			return directory.Errorf(directory.ErrNotFound, "secret", "application has no secret %q", secretID)
		}
		if sec.Enabled == enabled {
			out = sec
			return nil
		}
		before := *sec
		sec.Enabled = enabled
		if err := tx.UpdateSecret(ctx, sec); err != nil {
			return err
		}
		out = sec
		action := map[bool]string{true: "secret.enable", false: "secret.disable"}[enabled]
		return tx.AppendAudit(ctx, s.audit(actor, action, "Secret", sec.ID, secretView(&before), secretView(sec)))
	})
	s.forget()
	return out, err
}

// DeleteSecret deletes a disabled client secret.
func (s *Service) DeleteSecret(ctx context.Context, actor directory.Actor, appID, secretID string) error {
	err := s.store.WriteAuth(ctx, func(tx Tx) error {
		secs, err := tx.SecretsForUpdate(ctx, appID)
		if err != nil {
			return err
		}
		sec := findSecret(secs, secretID)
		if sec == nil {
			return directory.Errorf(directory.ErrNotFound, "secret", "application has no secret %q", secretID)
		}
		if sec.Enabled {
			return directory.Errorf(directory.ErrConflict, "secret", "disable the secret before deleting it")
		}
		if err := tx.DeleteSecret(ctx, sec.ID); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, s.audit(actor, "secret.delete", "Secret", sec.ID, secretView(sec), nil))
	})
	s.forget()
	return err
}

// ---- bootstrap

// Bootstrap makes sure an administrator can get in: when no application
// exists at all (a new database), it creates the "admin" application and
// its token, from value if given (GATEHOUSE_ADMIN_TOKEN) or generated. It
// returns the token value when it generated one (to be shown once), and
// whether it created anything.
func (s *Service) Bootstrap(ctx context.Context, value string) (generated string, created bool, err error) {
	apps, err := s.store.Apps(ctx)
	if err != nil || len(apps) > 0 {
		return "", false, err
	}
	if value != "" {
		if err := CheckAdminToken(value); err != nil {
			return "", false, err
		}
	}
	actor := directory.Actor{Kind: "system", RequestID: "bootstrap"}
	app, err := s.CreateApp(ctx, actor, AppSpec{Name: "admin", Kind: KindAdmin})
	if err != nil {
		if errors.Is(err, directory.ErrConflict) {
			return "", false, nil // another replica bootstrapped first
		}
		return "", false, err
	}
	if value == "" {
		if value, err = NewSecret(AdminTokenPrefix); err != nil {
			return "", false, err
		}
		generated = value
	}
	now := s.stamp()
	t := &Token{ID: s.newID(), AppID: app.ID, Hint: Hint(value), Enabled: true, Created: now, Expires: now.Add(MaxTokenValidity)}
	if err := s.insertToken(ctx, actor, t, value); err != nil {
		return "", false, err
	}
	return generated, true, nil
}

// ---- views for audit snapshots (never a secret or a hash)

type appSnapshot struct {
	Name         string              `json:"name"`
	Kind         Kind                `json:"kind"`
	Scopes       Scopes              `json:"scopes"`
	Mode         string              `json:"mode"`
	ExtraValues  string              `json:"extraValues,omitempty"`
	TargetOrgID  string              `json:"targetOrganizationId"`
	SyncScope    directory.SyncScope `json:"syncScope"`
	ExtensionURN string              `json:"extension,omitempty"`
	Access       *Access             `json:"access,omitempty"`
	SSO          json.RawMessage     `json:"sso,omitempty"`
	Enabled      bool                `json:"enabled"`
}

func appView(a *App) any {
	v := appSnapshot{
		Name: a.Name, Kind: a.Kind, Scopes: a.Scopes, Mode: Mode(a.Profile), ExtraValues: ExtraValues(a.Profile),
		TargetOrgID: a.Profile.TargetOrgID, SyncScope: a.Profile.Scope, ExtensionURN: a.ExtensionURN, SSO: a.SSO, Enabled: a.Enabled,
	}
	if a.Kind.SSO() {
		acc := a.Access
		v.Access = &acc
	}
	return v
}

type credentialSnapshot struct {
	AppID   string     `json:"appId"`
	Hint    string     `json:"hint"`
	Enabled bool       `json:"enabled"`
	Expires *time.Time `json:"expires,omitempty"`
}

func tokenView(t *Token) any {
	exp := t.Expires
	return credentialSnapshot{AppID: t.AppID, Hint: t.Hint, Enabled: t.Enabled, Expires: &exp}
}

func secretView(x *Secret) any {
	return credentialSnapshot{AppID: x.AppID, Hint: x.Hint, Enabled: x.Enabled}
}

// Mode names a profile: "idaas" (IDaaS semantics) or "rfc" (strict).
func Mode(p directory.Profile) string {
	if p.IDaaSFields && p.Idempotent {
		return "idaas"
	}
	return "rfc"
}

// ExtraValues names what an application in idaas mode does with a second
// email or phone number, or one not of type "work": "refuse" (IDaaS's
// rule) or "drop" (keep one, drop the rest). "" in rfc mode, which keeps
// them all.
func ExtraValues(p directory.Profile) string {
	switch {
	case !p.IDaaSFields:
		return ""
	case p.DropExtraValues:
		return "drop"
	}
	return "refuse"
}

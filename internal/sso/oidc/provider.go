// Package oidc is Gatehouse as an OpenID Connect provider (OIDC Core 1.0,
// Discovery 1.0, RP-Initiated Logout 1.0): the authorization code flow
// with PKCE, refresh-token rotation with reuse detection, the UserInfo
// endpoint, RP-initiated logout and token revocation (RFC 7009), for the
// applications of kind oidc-client.
//
// It is built on Gatehouse's own parts rather than on a provider library:
// people sign in through login.Sessions (the login page, its sessions and
// policy); tokens are signed with auth's rotating keys (access tokens
// ES256, ID tokens RS256 unless the client chose ES256) and published in
// the same JWKS as the client-credentials access tokens, under the same
// issuer; the token endpoint is /oauth2/token, which serves the
// client-credentials grant too; grants, codes and refresh tokens live in
// the database (Store), so that replicas share them. docs/sso-oidc.md says
// why zitadel/oidc's op package was not used.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
)

// Paths served. The token endpoint is oauth.TokenPath and the keys
// oauth.JWKSPath.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	AuthorizePath = "/oidc/authorize"
	ResumePath    = "/oidc/authorize/resume"
	UserInfoPath  = "/oidc/userinfo"
	LogoutPath    = "/oidc/logout"
	RevokePath    = "/oidc/revoke"
)

// Keys is what the provider needs of auth.Service: the issuer, the signing
// keys and the check of client secrets.
type Keys interface {
	Issuer() string
	// SignJWT signs with the current key of alg (auth.AlgES256 or
	// auth.AlgRS256).
	SignJWT(ctx context.Context, alg, typ string, claims any) (string, error)
	VerifyJWT(ctx context.Context, raw, typ string, out any) error
	CheckSecret(ctx context.Context, clientID, secret, client string) (*auth.App, *auth.Secret, error)
}

// Apps reads applications (the store).
type Apps interface {
	App(ctx context.Context, id string) (*auth.App, error)
}

// Users reads the people tokens are about (the store).
type Users interface {
	User(ctx context.Context, id string, opt directory.ReadOptions) (*directory.User, error)
}

// Options configures a Provider.
type Options struct {
	Keys     Keys
	Apps     Apps
	Users    Users
	Sessions login.Sessions
	Store    Store
	Log      *slog.Logger
	Now      func() time.Time
	// ClientAddr returns the address a request comes from (throttling of
	// client authentication).
	ClientAddr func(*http.Request) string
	// CodeLifetime is how long an authorization code may be redeemed
	// (default 60 s); RequestLifetime how long a pending authorization
	// request waits for its person to sign in (default 15 min).
	CodeLifetime    time.Duration
	RequestLifetime time.Duration
}

// Provider is the OpenID Connect provider.
type Provider struct {
	opt Options
	log *slog.Logger
}

// New returns a Provider.
func New(opt Options) *Provider {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.ClientAddr == nil {
		opt.ClientAddr = func(r *http.Request) string { return r.RemoteAddr }
	}
	if opt.CodeLifetime == 0 {
		opt.CodeLifetime = time.Minute
	}
	if opt.RequestLifetime == 0 {
		opt.RequestLifetime = 15 * time.Minute
	}
	return &Provider{opt: opt, log: opt.Log}
}

// Mount adds the provider's routes to mux. The browser routes (authorize,
// resume, logout) and the API routes (userinfo, revocation, discovery) are
// apart: only the first read the session cookie.
func (p *Provider) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+DiscoveryPath, p.discovery)
	mux.HandleFunc(AuthorizePath, p.authorize)
	mux.HandleFunc("GET "+ResumePath, p.resume)
	mux.HandleFunc(UserInfoPath, p.userinfo)
	mux.HandleFunc(LogoutPath, p.logout)
	mux.HandleFunc(RevokePath, p.serveRevoke)
}

// Prune deletes pending requests and grants that have expired, with their
// codes and refresh tokens.
func (p *Provider) Prune(ctx context.Context) (int64, error) {
	return p.opt.Store.PruneOIDC(ctx, p.now())
}

// Launcher is where the user page opens an oidc-client application: its
// initiateLoginUri, which starts the application's own sign-in ("" when it
// has none).
func Launcher(app *auth.App) string {
	if app.Kind != auth.KindOIDCClient || len(app.SSO) == 0 {
		return ""
	}
	s, err := ParseSettings(app.SSO)
	if err != nil {
		return ""
	}
	return s.InitiateLoginURI
}

// Grants returns the grant types the provider serves at the token
// endpoint (oauth.Config.Grants).
func (p *Provider) Grants() map[string]oauth.Grant {
	return map[string]oauth.Grant{"authorization_code": p.exchangeCode, "refresh_token": p.refresh}
}

func (p *Provider) now() time.Time { return p.opt.Now().UTC().Truncate(time.Microsecond) }

func (p *Provider) issuer() string { return p.opt.Keys.Issuer() }

func (p *Provider) endpoint(path string) string { return strings.TrimSuffix(p.issuer(), "/") + path }

// Metadata is the provider's part of the issuer's metadata: OpenID Connect
// Discovery 1.0 §3 and the RFC 8414 members it adds to the
// client-credentials server's (the same issuer, token endpoint and keys).
func (p *Provider) Metadata() map[string]any {
	return map[string]any{
		"authorization_endpoint":                         p.endpoint(AuthorizePath),
		"userinfo_endpoint":                              p.endpoint(UserInfoPath),
		"end_session_endpoint":                           p.endpoint(LogoutPath),
		"revocation_endpoint":                            p.endpoint(RevokePath),
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
		"scopes_supported":                               append(KnownScopes(), auth.KnownScopes()...),
	}
}

// discovery serves the OpenID Provider Configuration (Discovery 1.0 §4).
// The issuer is the one the tokens name, never taken from the request.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	md := p.Metadata()
	base := strings.TrimSuffix(p.issuer(), "/")
	md["issuer"] = p.issuer()
	md["token_endpoint"] = base + oauth.TokenPath
	md["jwks_uri"] = base + oauth.JWKSPath
	md["scopes_supported"] = KnownScopes()
	md["subject_types_supported"] = []string{"public"}
	md["id_token_signing_alg_values_supported"] = IDTokenAlgs()
	md["claims_supported"] = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash",
		"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "locale", "zoneinfo", "updated_at",
		"email", "email_verified", "groups"}
	md["acr_values_supported"] = []string{login.ACR1FA, login.ACR2FA}
	md["prompt_values_supported"] = []string{"none", "login", "consent", "select_account"}
	md["claims_parameter_supported"] = false
	md["request_parameter_supported"] = false
	md["request_uri_parameter_supported"] = false
	md["frontchannel_logout_supported"] = false
	md["backchannel_logout_supported"] = false
	md["ui_locales_supported"] = []string{"en", "zh-CN"}
	writeJSON(w, http.StatusOK, md, false)
}

// client is an oidc-client application with its settings.
type client struct {
	app *auth.App
	set *Settings
}

// client returns the enabled oidc-client application id, or nil when
// there is none (unknown, another kind, disabled, no settings).
func (p *Provider) client(ctx context.Context, id string) (*client, error) {
	if id == "" || len(id) > 256 {
		return nil, nil
	}
	app, err := p.opt.Apps.App(ctx, id)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if app.Kind != auth.KindOIDCClient || !app.Enabled || len(app.SSO) == 0 {
		return nil, nil
	}
	set, err := ParseSettings(app.SSO)
	if err != nil {
		p.log.ErrorContext(ctx, "stored oidc settings do not parse", "app_id", app.ID, "err", err)
		return nil, nil
	}
	return &client{app: app, set: set}, nil
}

func isNotFound(err error) bool { return errors.Is(err, directory.ErrNotFound) }

// newSecret returns a random 256-bit value, base64url without padding:
// codes, refresh tokens, pending request handles.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashValue(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

func writeJSON(w http.ResponseWriter, status int, v any, noStore bool) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if noStore {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// grantedScopes keeps the requested scopes the client may have, in
// request order; unknown ones are dropped (OIDC Core §3.1.2.1).
func grantedScopes(requested []string, set *Settings) []string {
	var out []string
	for _, s := range requested {
		if set.Allows(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

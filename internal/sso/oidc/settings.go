package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/strictjson"
)

// Scopes the provider knows. A client may be allowed any of them; openid
// is always allowed and always required.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeGroups        = "groups"
	ScopeOfflineAccess = "offline_access"
)

// KnownScopes lists the scopes, in a stable order.
func KnownScopes() []string {
	return []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeGroups, ScopeOfflineAccess}
}

// What the groups claim lists.
const (
	// GroupsAllowed: the person's groups among the application's allowed
	// groups (all of hers when the application allows everyone).
	GroupsAllowed = "allowed"
	// GroupsAll: all of the person's groups.
	GroupsAll = "all"
	// GroupsNone: never a groups claim.
	GroupsNone = "none"
)

// IDTokenAlgs lists the algorithms an ID token may be signed with, the
// default first: RS256, which OIDC Core §15.1 requires every provider to
// offer and Registration §2 makes the default, then ES256.
func IDTokenAlgs() []string { return []string{auth.AlgRS256, auth.AlgES256} }

// Bounds and defaults of the token lifetimes (seconds in the settings).
const (
	DefaultAccessTokenLifetime  = 10 * time.Minute
	DefaultIDTokenLifetime      = 10 * time.Minute
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
	MinTokenLifetime            = time.Minute
	// MaxTokenLifetime bounds access and ID tokens: the signing keys stay
	// published an hour longer than Gatehouse's access tokens live after
	// they stop signing, so a token living longer could outlive its key.
	MaxTokenLifetime        = time.Hour
	MaxRefreshTokenLifetime = 365 * 24 * time.Hour
	MinRefreshTokenLifetime = time.Hour
	maxURIs                 = 20
	maxURILength            = 2000
)

// Settings are an OpenID Connect client's protocol settings: the "sso"
// JSON of an application of kind oidc-client.
type Settings struct {
	// RedirectURIs are the only places authorization responses go; a
	// request's redirect_uri must equal one of them exactly (RFC 9700
	// §4.1.3: no patterns, no prefixes, no loopback port wildcards).
	RedirectURIs []string `json:"redirectUris"`
	// PostLogoutRedirectURIs are the only places RP-initiated logout sends
	// the browser back to; exact match too.
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris"`
	// Public clients (single-page and native applications) have no
	// secret; they must use PKCE. Confidential clients authenticate with
	// one of the application's client secrets.
	Public bool `json:"public"`
	// RequirePKCE makes a confidential client use PKCE too (a public
	// client always must).
	RequirePKCE bool `json:"requirePkce"`
	// Scopes are what the client may ask for (openid always).
	Scopes []string `json:"scopes"`
	// GroupsClaim says which of the person's groups the groups claim
	// lists: "allowed" (default), "all" or "none".
	GroupsClaim string `json:"groupsClaim"`
	// EmailVerified states email_verified true: the directory the
	// addresses come from vouches for them (an HR system, AD). Otherwise
	// email_verified is false.
	EmailVerified bool `json:"emailVerified"`
	// InitiateLoginURI is the application's URL that starts its sign-in
	// through Gatehouse (OIDC Registration's initiate_login_uri): the user
	// page's link to the application. https only; "" for none.
	InitiateLoginURI string `json:"initiateLoginUri,omitempty"`
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens
	// (OIDC Registration's id_token_signed_response_alg): RS256 (default)
	// or ES256.
	IDTokenSignedResponseAlg string `json:"idTokenSignedResponseAlg"`
	// Lifetimes, in seconds.
	AccessTokenLifetime  int64 `json:"accessTokenLifetime"`
	IDTokenLifetime      int64 `json:"idTokenLifetime"`
	RefreshTokenLifetime int64 `json:"refreshTokenLifetime"`
}

// AccessTTL, IDTTL and RefreshTTL are the lifetimes as durations.
func (s *Settings) AccessTTL() time.Duration {
	return time.Duration(s.AccessTokenLifetime) * time.Second
}
func (s *Settings) IDTTL() time.Duration { return time.Duration(s.IDTokenLifetime) * time.Second }
func (s *Settings) RefreshTTL() time.Duration {
	return time.Duration(s.RefreshTokenLifetime) * time.Second
}

// Allows reports whether the client may be granted scope.
func (s *Settings) Allows(scope string) bool {
	return scope == ScopeOpenID || slices.Contains(s.Scopes, scope)
}

// PKCERequired reports whether the client must send a code_challenge.
func (s *Settings) PKCERequired() bool { return s.Public || s.RequirePKCE }

// invalid is a settings error.
func invalid(format string, args ...any) error {
	return directory.Errorf(directory.ErrInvalid, "sso", format, args...)
}

// ParseSettings reads settings strictly (unknown members, duplicate
// names, bad UTF-8 are errors), fills in defaults and checks them.
func ParseSettings(raw json.RawMessage) (*Settings, error) {
	if err := strictjson.Check(raw, strictjson.Options{}); err != nil {
		return nil, invalid("oidc settings: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s Settings
	if err := dec.Decode(&s); err != nil {
		return nil, invalid("oidc settings: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, invalid("oidc settings: one JSON object expected")
	}
	if err := s.normalize(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Settings) normalize() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(s.RedirectURIs) == 0 {
		add("at least one redirect URI is required (redirectUris)")
	}
	check := func(field string, uris []string) []string {
		if len(uris) > maxURIs {
			add("%s: at most %d URIs", field, maxURIs)
		}
		var out []string
		for _, u := range uris {
			if err := checkRedirectURI(u, s.Public); err != nil {
				add("%s: %q: %v", field, truncate(u, 100), err)
				continue
			}
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
		return out
	}
	s.RedirectURIs = check("redirectUris", s.RedirectURIs)
	s.PostLogoutRedirectURIs = check("postLogoutRedirectUris", s.PostLogoutRedirectURIs)
	if s.PostLogoutRedirectURIs == nil {
		s.PostLogoutRedirectURIs = []string{}
	}
	if s.InitiateLoginURI != "" {
		if err := checkRedirectURI(s.InitiateLoginURI, false); err != nil || !strings.HasPrefix(s.InitiateLoginURI, "https://") {
			add("initiateLoginUri must be an https URL")
		}
	}
	if s.Scopes == nil {
		s.Scopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail}
	}
	var scopes []string
	for _, sc := range append([]string{ScopeOpenID}, s.Scopes...) {
		if !slices.Contains(KnownScopes(), sc) {
			add("scopes: unknown scope %q (known: %s)", sc, strings.Join(KnownScopes(), ", "))
			continue
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	s.Scopes = scopes
	switch s.GroupsClaim {
	case "":
		s.GroupsClaim = GroupsAllowed
	case GroupsAllowed, GroupsAll, GroupsNone:
	default:
		add("groupsClaim must be %s, %s or %s", GroupsAllowed, GroupsAll, GroupsNone)
	}
	switch s.IDTokenSignedResponseAlg {
	case "":
		s.IDTokenSignedResponseAlg = IDTokenAlgs()[0]
	case auth.AlgRS256, auth.AlgES256:
	default:
		add("idTokenSignedResponseAlg must be %s", strings.Join(IDTokenAlgs(), " or "))
	}
	lifetime := func(field string, v *int64, def, lo, hi time.Duration) {
		if *v == 0 {
			*v = int64(def / time.Second)
			return
		}
		if d := time.Duration(*v) * time.Second; *v < 0 || d < lo || d > hi {
			add("%s must be between %d and %d seconds", field, int64(lo/time.Second), int64(hi/time.Second))
		}
	}
	lifetime("accessTokenLifetime", &s.AccessTokenLifetime, DefaultAccessTokenLifetime, MinTokenLifetime, MaxTokenLifetime)
	lifetime("idTokenLifetime", &s.IDTokenLifetime, DefaultIDTokenLifetime, MinTokenLifetime, MaxTokenLifetime)
	lifetime("refreshTokenLifetime", &s.RefreshTokenLifetime, DefaultRefreshTokenLifetime, MinRefreshTokenLifetime, MaxRefreshTokenLifetime)
	if len(problems) > 0 {
		return invalid("%s", strings.Join(problems, "; "))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// checkRedirectURI checks a URI an administrator registers: absolute,
// without fragment or user information; https, or http to a loopback
// address (a developer's machine, RFC 8252 §7.3), or — for a public
// (native) client only — a private-use scheme in reverse-domain form
// (RFC 8252 §7.1, "com.example.app:/callback").
func checkRedirectURI(raw string, public bool) error {
	if raw == "" || len(raw) > maxURILength {
		return fmt.Errorf("must have 1 to %d characters", maxURILength)
	}
	for i := 0; i < len(raw); i++ {
		if !uriChar(raw[i]) {
			return fmt.Errorf("must use only the characters of RFC 3986 (percent-encode the rest)")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	switch {
	case !u.IsAbs():
		return fmt.Errorf("must be an absolute URL")
	case strings.Contains(raw, "#"):
		return fmt.Errorf("must not have a fragment")
	case u.User != nil:
		return fmt.Errorf("must not carry user information")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" || u.Hostname() == "" {
			return fmt.Errorf("must name a host")
		}
		return nil
	case "http":
		if !loopback(u.Hostname()) {
			return fmt.Errorf("http is allowed only to a loopback address (127.0.0.1, [::1], localhost); use https")
		}
		return nil
	case "javascript", "data", "vbscript", "file", "blob", "about":
		return fmt.Errorf("scheme %s is not allowed", u.Scheme)
	}
	if !public {
		return fmt.Errorf("a confidential client's redirect URI must be https (or http to a loopback address)")
	}
	if !strings.Contains(u.Scheme, ".") {
		return fmt.Errorf("a native application's scheme must be in reverse-domain form (com.example.app:/callback)")
	}
	return nil
}

// uriChar reports whether c may appear in a URI (RFC 3986 §2: unreserved,
// reserved and '%').
func uriChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// matchURI reports whether uri is one of registered, exactly: the same
// string, byte for byte (RFC 9700 §4.1.3). Nothing is normalised: a
// trailing slash, a port, a case difference or an added query makes
// another URI.
func matchURI(registered []string, uri string) bool {
	return uri != "" && slices.Contains(registered, uri)
}

// Validator is the auth.SSOValidator of oidc-client applications.
func Validator(_ context.Context, _ *auth.App, raw json.RawMessage) (json.RawMessage, error) {
	s, err := ParseSettings(raw)
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

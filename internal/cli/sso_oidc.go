package cli

import (
	"flag"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

// OpenID Connect clients: gatehouse app oidc APP [flags] shows an
// oidc-client application's registration, or changes its settings.

// listFlag is a flag that may be given several times.
type listFlag struct{ vals *[]string }

func (l listFlag) String() string {
	if l.vals == nil {
		return ""
	}
	return strings.Join(*l.vals, " ")
}

func (l listFlag) Set(v string) error {
	*l.vals = append(*l.vals, v)
	return nil
}

// oidcFlags are app oidc's settings flags.
type oidcFlags struct {
	redirects, postLogout              []string
	public, requirePKCE, emailVerified *bool
	scopes, groupsClaim, idAlg         *string
	access, id, refresh                *time.Duration
	initiate                           *string
}

func (f *oidcFlags) register(fs *flag.FlagSet) {
	fs.Var(listFlag{&f.redirects}, "redirect-uri", "a redirect URI (repeat for more; replaces the list): https, http to a loopback address, or a native app's com.example.app:/path")
	fs.Var(listFlag{&f.postLogout}, "post-logout-uri", "a post-logout redirect URI (repeat for more; replaces the list; \"\" for none)")
	f.public = fs.Bool("public", false, "a public client (single-page or native application): no secret, PKCE required")
	f.requirePKCE = fs.Bool("require-pkce", false, "make a confidential client use PKCE too")
	f.scopes = fs.String("scopes", "", "scopes the client may be granted, comma- or space-separated: profile, email, groups, offline_access (openid always)")
	f.groupsClaim = fs.String("groups-claim", "allowed", "which of the person's groups the groups claim lists: allowed (those among the application's allowed groups), all or none")
	f.emailVerified = fs.Bool("email-verified", false, "state email_verified true: the directory vouches for the addresses")
	f.initiate = fs.String("initiate-login-uri", "", "the application's https URL that starts its sign-in: the user page links to it (\"\" for none)")
	f.idAlg = fs.String("id-token-signed-response-alg", oidc.IDTokenAlgs()[0], "the algorithm of the client's ID tokens: "+strings.Join(oidc.IDTokenAlgs(), " (default) or "))
	f.access = fs.Duration("access-token-lifetime", oidc.DefaultAccessTokenLifetime, "access token lifetime (1m to 1h)")
	f.id = fs.Duration("id-token-lifetime", oidc.DefaultIDTokenLifetime, "ID token lifetime (1m to 1h)")
	f.refresh = fs.Duration("refresh-token-lifetime", oidc.DefaultRefreshTokenLifetime, "how long an offline_access grant's refresh tokens live, from the authorization (1h to 8760h)")
}

// apply changes s by the flags given.
func (f *oidcFlags) apply(c *cmd, s *oidc.Settings) {
	if c.set["redirect-uri"] {
		s.RedirectURIs = f.redirects
	}
	if c.set["post-logout-uri"] {
		s.PostLogoutRedirectURIs = nil
		for _, u := range f.postLogout {
			if u != "" {
				s.PostLogoutRedirectURIs = append(s.PostLogoutRedirectURIs, u)
			}
		}
	}
	if c.set["public"] {
		s.Public = *f.public
	}
	if c.set["require-pkce"] {
		s.RequirePKCE = *f.requirePKCE
	}
	if c.set["scopes"] {
		s.Scopes = splitList(*f.scopes)
		if s.Scopes == nil {
			s.Scopes = []string{}
		}
	}
	if c.set["groups-claim"] {
		s.GroupsClaim = *f.groupsClaim
	}
	if c.set["initiate-login-uri"] {
		s.InitiateLoginURI = *f.initiate
	}
	if c.set["email-verified"] {
		s.EmailVerified = *f.emailVerified
	}
	if c.set["id-token-signed-response-alg"] {
		s.IDTokenSignedResponseAlg = *f.idAlg
	}
	secs := func(d time.Duration) int64 { return int64(d / time.Second) }
	if c.set["access-token-lifetime"] {
		s.AccessTokenLifetime = secs(*f.access)
	}
	if c.set["id-token-lifetime"] {
		s.IDTokenLifetime = secs(*f.id)
	}
	if c.set["refresh-token-lifetime"] {
		s.RefreshTokenLifetime = secs(*f.refresh)
	}
}

func (e *env) appOIDC() *sub {
	var f oidcFlags
	return &sub{
		about: "show or change an OpenID Connect client's registration (kind oidc-client): redirect URIs, public or confidential, scopes, claims, lifetimes",
		args:  []arg{{"APP", "the application's name or id"}},
		flags: func(fs *flag.FlagSet) func() error {
			f.register(fs)
			return nil
		},
		run: func(c *cmd) error {
			v, err := c.a.Admin.GetOIDCClient(c.e.ctx, c.pos[0])
			if err != nil {
				return err
			}
			changed := false
			for _, name := range []string{"redirect-uri", "post-logout-uri", "public", "require-pkce", "scopes", "groups-claim",
				"email-verified", "initiate-login-uri", "id-token-signed-response-alg", "access-token-lifetime", "id-token-lifetime", "refresh-token-lifetime"} {
				changed = changed || c.set[name]
			}
			if changed {
				s := v.Settings
				if s == nil {
					s = &oidc.Settings{}
				}
				f.apply(c, s)
				if v, err = c.a.Admin.PutOIDCClient(c.e.ctx, cliActor(), c.pos[0], s); err != nil {
					return err
				}
			}
			return c.print(v, func() { c.showOIDC(v) })
		},
	}
}

func (c *cmd) showOIDC(v *admin.OIDCClient) {
	c.printf("Application:   %s\n", v.Name)
	c.printf("client_id:     %s\n", v.ClientID)
	c.printf("Issuer:        %s\n", v.Issuer)
	c.printf("Discovery:     %s\n", v.Discovery)
	if !v.Configured {
		c.printf("\nNot configured: nobody can sign in to it yet.\nNext: gatehouse app oidc %s --redirect-uri https://app.example/callback\n", v.Name)
		return
	}
	s := v.Settings
	kind := "confidential (client secret: HTTP Basic or client_secret_post)"
	if s.Public {
		kind = "public (no secret; PKCE S256 required)"
	} else if s.RequirePKCE {
		kind += "; PKCE required"
	}
	c.printf("Client type:   %s\n", kind)
	for i, u := range s.RedirectURIs {
		c.printf("%-15s%s\n", map[bool]string{true: "Redirect URIs:", false: ""}[i == 0], u)
	}
	if len(s.PostLogoutRedirectURIs) == 0 {
		c.printf("Post-logout:   none\n")
	}
	for i, u := range s.PostLogoutRedirectURIs {
		c.printf("%-15s%s\n", map[bool]string{true: "Post-logout:", false: ""}[i == 0], u)
	}
	c.printf("Scopes:        %s\n", strings.Join(s.Scopes, " "))
	c.printf("Groups claim:  %s\n", s.GroupsClaim)
	c.printf("ID tokens:     %s\n", s.IDTokenSignedResponseAlg)
	if s.InitiateLoginURI != "" {
		c.printf("Sign-in URL:   %s (the user page's link)\n", s.InitiateLoginURI)
	}
	c.printf("Lifetimes:     access token %s, ID token %s, refresh token %s\n", time.Duration(s.AccessTokenLifetime)*time.Second,
		time.Duration(s.IDTokenLifetime)*time.Second, time.Duration(s.RefreshTokenLifetime)*time.Second)
	if !s.Public && !v.HasSecret {
		c.printf("\nNo enabled client secret: the client cannot redeem codes.\nNext: gatehouse secret create --app %s\n", v.Name)
	}
}

package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// Sign-in (issue 13): the login service, the browser pages and the
// Sessions the SSO protocols are built on. The SAML and OIDC packages are
// wired here too, each on its own lines: they take a.Sessions (and
// a.Recorder for their audit records), register their kind's settings
// validator with a.Auth.RegisterSSOKind and their launcher with
// a.Web.RegisterLauncher, and mount their routes in mountSSO.

// setupLogin builds the login service and the browser site. Without
// secrets (administration commands), the factor key is not read: nothing
// they do opens a TOTP secret.
func (a *App) setupLogin(ctx context.Context, hasher *auth.Argon2id, withoutSecrets bool) error {
	cfg := a.Config
	var sealer *login.Sealer
	if !withoutSecrets {
		var err error
		if sealer, err = a.factorSealer(); err != nil {
			return err
		}
	}
	// Security keys need base_url: its host is the WebAuthn RP ID (a
	// domain name: browsers refuse IP addresses), its origin the only one
	// accepted.
	var rp *login.RelyingParty
	if cfg.BaseURL != "" {
		var err error
		if rp, err = login.NewRelyingParty(cfg.BaseURL, "Gatehouse"); err != nil {
			a.Log.Warn("security keys (WebAuthn) are off: base_url's host cannot be a relying party id", "err", err)
			rp = nil
		}
	}
	var dirs []login.Directory
	for _, l := range cfg.LDAP {
		if l.DelegatedAuth {
			dirs = append(dirs, ldapsync.NewDelegate(l, os.Getenv))
		}
	}
	lo := cfg.Login.Lockout
	a.Login = login.New(a.Store, a.Store, login.Options{
		NewID: NewID, Log: a.Log, Hasher: hasher, PasswordPolicy: cfg.Policy(),
		SessionIdle: time.Duration(cfg.Login.SessionIdle), SessionLifetime: time.Duration(cfg.Login.SessionLifetime),
		Reauth: time.Duration(cfg.Login.Reauth), TempPasswordLifetime: time.Duration(cfg.Login.TemporaryPasswordLifetime),
		Lockout: login.Lockout{
			Failures: lo.Failures, Window: time.Duration(lo.Window), Duration: time.Duration(lo.Duration),
			AccountFailures: lo.AccountFailures, AccountMaxDelay: time.Duration(lo.AccountMaxDelay),
			AddressFailures: lo.AddressFailures, AddressWindow: time.Duration(lo.AddressWindow),
			FactorFailures: lo.FactorFailures,
		},
		Sealer: sealer, RelyingParty: rp,
		Policy:      login.Policy{AdminGroups: cfg.Login.AdminGroups, GroupFactors: cfg.Login.GroupFactors},
		Directories: dirs,
		OnCommit:    a.pokeEvents,
	})
	enabled, secure := cfg.SignIn()
	var origins []string
	if u, err := url.Parse(cfg.BaseURL); err == nil && cfg.BaseURL != "" {
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	site, err := web.New(a.Login, web.Options{Enabled: enabled, Secure: secure, TrustedOrigins: origins,
		ClientAddr: scim.RemoteHost, PolicyText: cfg.Policy().Describe(), Log: a.Log})
	if err != nil {
		return err
	}
	a.Web = site
	a.Sessions, a.Recorder = a.Web, a.Web
	if cfg.Search.Enabled {
		site.SetSearch(portalSearch{a})
	}
	a.Admin.Login = a.Login
	if err := a.setupConsole(); err != nil {
		return err
	}
	a.setupOIDC()
	if err := a.setupSAML(ctx); err != nil {
		return err
	}
	return nil
}

// factorSealer returns what seals TOTP secrets, with the key of
// login.factor_key_file, creating the key on first start (like the audit
// checkpoint key). A default location that cannot be used only turns
// authenticator apps off, with a warning; a configured or existing file
// that cannot be read stops the server.
func (a *App) factorSealer() (*login.Sealer, error) {
	path := a.Config.FactorKeyFile()
	key, created, err := login.LoadOrCreateFactorKey(path)
	if err != nil {
		if _, statErr := os.Stat(path); a.Config.Login.FactorKeyFile != "" || statErr == nil {
			return nil, fmt.Errorf("login.factor_key_file: %w", err)
		}
		a.Log.Warn("authenticator apps (TOTP) are off: the default factor key cannot be used (set login.factor_key_file)", "path", path, "err", err)
		return nil, nil
	}
	s, err := login.NewSealer(key)
	if err != nil {
		return nil, err
	}
	if created {
		a.Log.Warn("created the factor key that seals TOTP secrets: keep it apart from the database (and its backups), and give every replica the same file",
			"path", path, "key_id", s.KeyID())
	}
	return s, nil
}

// mountSSO adds the browser routes (and, from their packages, the SAML and
// OIDC routes) to mux.
func (a *App) mountSSO(mux *http.ServeMux) {
	a.Web.Mount(mux)
	a.Console.Mount(mux)
	a.mountOIDC(mux)
	a.mountSAML(mux)
}

// pruneLogin deletes ended sessions, logins, locks and devices.
func (a *App) pruneLogin(ctx context.Context) {
	if n, err := a.Login.Prune(ctx); err != nil {
		if ctx.Err() == nil {
			a.Log.Error("prune sign-in state", "err", err)
		}
	} else if n > 0 {
		a.Log.Info("pruned sign-in state", "rows", n)
	}
}

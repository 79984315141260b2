package app

import (
	"context"
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

// setupLogin builds the login service and the browser site.
func (a *App) setupLogin(ctx context.Context, hasher *auth.Argon2id) error {
	cfg := a.Config
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
		},
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
	a.Admin.Login = a.Login
	a.setupOIDC()
	if err := a.setupSAML(ctx); err != nil {
		return err
	}
	return nil
}

// mountSSO adds the browser routes (and, from their packages, the SAML and
// OIDC routes) to mux.
func (a *App) mountSSO(mux *http.ServeMux) {
	a.Web.Mount(mux)
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

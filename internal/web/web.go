// Package web serves Gatehouse's browser pages: the login page (with its
// second-factor and set-up stages), and the self-service portal — the
// user's page listing the applications she may open, her profile, the
// password change (and the forced change), her second factors, the
// documentation search — logout, the error page, and their embedded
// assets. Pages are server-rendered html/template and need no JavaScript
// except for WebAuthn (one embedded script, static/webauthn.js, on the
// pages that use a security key); they are sent with a strict
// Content-Security-Policy, and every form is protected against cross-site
// requests twice: http.CrossOriginProtection (Fetch metadata and Origin)
// and a token derived from the browser's own HttpOnly cookie. Site
// implements login.Sessions for the SSO protocols.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

//go:embed templates/*.html static/*
var assets embed.FS

// CSP is the Content-Security-Policy of every page: nothing but the
// site's own style sheet and images, forms that post to the site itself,
// never framed.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// CSPScript is the policy of the pages that use a security key: CSP and
// the site's own script file (no inline script).
const CSPScript = CSP + "; script-src 'self'"

// maxForm bounds a form's body.
const maxForm = 64 << 10

// Options configures a Site.
type Options struct {
	// Enabled: sign-in is served (https, or the development setting);
	// otherwise every page says why not.
	Enabled bool
	// Secure: cookies are Secure, with the __Host- prefix (https).
	// Without it (login.insecure_dev_cookies) they are neither.
	Secure bool
	// TrustedOrigins are origins besides the request's own whose forms
	// are accepted (base_url's, behind a proxy that rewrites Host).
	TrustedOrigins []string
	// ClientAddr returns the client address of a request.
	ClientAddr func(*http.Request) string
	// PolicyText describes the password policy, for the forms.
	PolicyText string
	Log        *slog.Logger
	Now        func() time.Time
}

// Site is the browser interface.
type Site struct {
	login   *login.Service
	opt     Options
	pages   map[string]*template.Template
	langs   []*Lang
	matcher language.Matcher
	cop     *http.CrossOriginProtection
	static  http.Handler

	mu        sync.RWMutex
	launchers map[auth.Kind]func(*auth.App) string
	searcher  Searcher
}

var (
	_ login.Sessions = (*Site)(nil)
	_ login.Recorder = (*Site)(nil)
)

// New returns the site over svc.
func New(svc *login.Service, opt Options) (*Site, error) {
	if opt.ClientAddr == nil {
		opt.ClientAddr = func(r *http.Request) string { return r.RemoteAddr }
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Site{login: svc, opt: opt, pages: map[string]*template.Template{}, langs: newLangs(), matcher: newMatcher(),
		launchers: map[auth.Kind]func(*auth.App) string{}}
	for _, name := range []string{"login", "password", "home", "logout", "error", "codes", "continue", "factors", "factor", "search", "profile"} {
		t, err := template.ParseFS(assets, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		s.pages[name] = t
	}
	s.cop = http.NewCrossOriginProtection()
	for _, o := range opt.TrustedOrigins {
		if err := s.cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusForbidden, "error", &page{Title: s.lang(r).T("error.title"), Message: s.lang(r).T("err.csrf")})
	}))
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	s.static = http.FileServerFS(static)
	return s, nil
}

// RegisterLauncher sets how the user page opens applications of kind:
// fn returns the URL (a path on Gatehouse, such as SAML's IdP-initiated
// /saml/idp-init/{app}, or the application's own https URL; "" for none).
func (s *Site) RegisterLauncher(kind auth.Kind, fn func(*auth.App) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.launchers[kind] = fn
}

func (s *Site) launcher(kind auth.Kind) func(*auth.App) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.launchers[kind]
}

// Mount adds the browser routes to mux: /login, /logout, /password,
// /factors (and below), /profile and /static/. The user's page is Home
// (the app serves it at /), the search page SearchPage (the app serves it
// at /search, beside the JSON API).
func (s *Site) Mount(mux *http.ServeMux) {
	mux.Handle("GET /login", s.wrap(s.loginPage))
	mux.Handle("POST /login", s.wrap(s.loginPost))
	mux.Handle("GET /logout", s.wrap(s.logoutPage))
	mux.Handle("POST /logout", s.wrap(s.logoutPost))
	mux.Handle("GET /password", s.wrap(s.passwordPage))
	mux.Handle("POST /password", s.wrap(s.passwordPost))
	mux.Handle("GET /factors", s.wrap(s.factorsPage))
	mux.Handle("GET /factors/totp", s.wrap(s.totpPage))
	mux.Handle("POST /factors/totp", s.wrap(s.totpPost))
	mux.Handle("GET /factors/webauthn", s.wrap(s.keyPage))
	mux.Handle("POST /factors/webauthn", s.wrap(s.keyPost))
	mux.Handle("POST /factors/remove", s.wrap(s.removePost))
	mux.Handle("POST /factors/recovery", s.wrap(s.recoveryPost))
	mux.Handle("GET /profile", s.wrap(s.profilePage))
	mux.Handle("GET /static/", http.StripPrefix("/static/", s.assets()))
}

// Wants reports whether r is a browser's request for a page (Accept names
// text/html) that the site serves: the app's / serves Home for it when
// sign-in is on.
func (s *Site) Wants(r *http.Request) bool {
	return s.opt.Enabled && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// Home serves the user's page.
func (s *Site) Home(w http.ResponseWriter, r *http.Request) { s.wrap(s.homePage).ServeHTTP(w, r) }

// headers sets the security headers of every page.
func headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// Headers sets the security headers of Gatehouse's pages on w, for pages
// served outside the Site (the console).
func Headers(w http.ResponseWriter) { headers(w) }

func (s *Site) assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		s.static.ServeHTTP(w, r)
	})
}

// wrap sets the security headers, refuses cross-origin unsafe requests,
// and answers that sign-in is off when it cannot be served securely.
func (s *Site) wrap(h func(http.ResponseWriter, *http.Request)) http.Handler {
	inner := s.cop.Handler(http.HandlerFunc(h))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers(w)
		if !s.opt.Enabled {
			l := s.lang(r)
			s.render(w, r, http.StatusServiceUnavailable, "error", &page{Title: l.T("error.title"), Message: l.T("err.https")})
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// ---- cookies

func (s *Site) cookieName(base string) string {
	if s.opt.Secure {
		return "__Host-gatehouse_" + base
	}
	return "gatehouse_" + base
}

func (s *Site) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(s.cookieName(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// setCookie sets an HttpOnly, SameSite=Lax cookie on the whole site
// (Secure with the __Host- prefix on https). maxAge 0 makes it last the
// browser's session; -1 deletes it.
func (s *Site) setCookie(w http.ResponseWriter, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(base), Value: value, Path: "/", MaxAge: maxAge,
		Secure: s.opt.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// browser returns the browser's login binding cookie, setting one when
// it has none.
func (s *Site) browser(w http.ResponseWriter, r *http.Request) string {
	if v := s.cookie(r, "browser"); len(v) == 43 {
		return v
	}
	v, err := login.NewToken()
	if err != nil {
		return ""
	}
	s.setCookie(w, "browser", v, 0)
	// Later reads in this request see it.
	r.AddCookie(&http.Cookie{Name: s.cookieName("browser"), Value: v})
	return v
}

// csrf is the form token of a browser: derived from its HttpOnly binding
// cookie, which another site can neither read nor set.
func csrf(browser string) string {
	if browser == "" {
		return ""
	}
	h := sha256.Sum256([]byte("gatehouse csrf\x00" + browser))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// checkCSRF reports whether r's form carries its browser's token.
func (s *Site) checkCSRF(r *http.Request) bool {
	want := csrf(s.cookie(r, "browser"))
	got := r.PostFormValue("csrf")
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func (s *Site) client(r *http.Request) login.Client {
	return login.Client{Addr: s.opt.ClientAddr(r), Browser: s.cookie(r, "browser"), Device: s.cookie(r, "device"),
		Session: s.cookie(r, "session"), RequestID: logging.RequestID(r.Context())}
}

// ---- rendering

// page is what a template shows.
type page struct {
	L        *Lang
	Title    string
	CSRF     string
	UserName string
	Error    string
	Notice   string
	Message  string
	// The login page.
	Login, Stage, Prefill, AppName, StepMethod string
	Policy                                     string
	// The password page: the directory that keeps the password.
	Delegated string
	// The user page.
	Apps []appLink
	// SearchOn: documentation search is on (the search box and link).
	SearchOn bool
	// The search page: the query, whether it ran, what it says and found.
	Query    string
	Searched bool
	Notices  []string
	Results  []searchView
	// The answer mode: offered (a chat endpoint is configured), asked
	// for, and the answer, cut into text and citations.
	Answers   bool
	AskAnswer bool
	Answer    []answerPart
	// The profile page.
	Profile []profileRow
	// Wide: the page's card takes a wider column (results, tables).
	Wide bool
	// The logout page.
	Done bool
	// Second factors: the other ways to pass this stage (Methods), the
	// WebAuthn options for the script (JSON), an authenticator app being
	// set up, where its form posts (Action), the label typed, the
	// recovery codes to show once and where to go after them, the
	// person's factors and codes left, what this server offers. Script
	// loads webauthn.js (and allows it in the CSP).
	Methods         []methodLink
	WebAuthnOptions string
	TOTP            *totpView
	Action          string
	FactorName      string
	Codes           []string
	Continue        string
	Factors         []factorView
	CodesLeft       int
	OffersTOTP      bool
	OffersWebAuthn  bool
	Script          bool
}

type methodLink struct {
	Label string
	URL   string
}

// totpView is an authenticator app being set up.
type totpView struct {
	FactorID string
	Secret   string
	QR       template.HTML
}

// factorView is one of the person's factors on her page.
type factorView struct {
	ID, Name, KindText, Used string
}

type appLink struct {
	Name       string
	URL        string
	RequireSSO bool
}

func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	if p.L == nil {
		p.L = s.lang(r)
	}
	if p.CSRF == "" {
		p.CSRF = csrf(s.cookie(r, "browser"))
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.opt.Log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	headers(w)
	if p.Script {
		w.Header().Set("Content-Security-Policy", CSPScript)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.L.Tag)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// internal answers a failure the person cannot fix, logging it.
func (s *Site) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.opt.Log.ErrorContext(r.Context(), "sign-in", "err", err)
	l := s.lang(r)
	s.render(w, r, http.StatusInternalServerError, "error", &page{Title: l.T("error.title"), Message: l.T("err.internal")})
}

// ---- login.Sessions

// Current returns the request's valid session, or nil, nil.
func (s *Site) Current(r *http.Request) (*login.Session, error) {
	if !s.opt.Enabled {
		return nil, nil
	}
	return s.login.Session(r.Context(), s.cookie(r, "session"))
}

// Satisfies implements login.Sessions.
func (s *Site) Satisfies(ctx context.Context, sess *login.Session, req login.Requirement) (bool, error) {
	return s.login.Satisfies(ctx, sess, req)
}

// Authenticate sends the browser to the login page, to come back to
// resume.
func (s *Site) Authenticate(w http.ResponseWriter, r *http.Request, req login.Requirement, resume string) {
	headers(w)
	l := s.lang(r)
	if !s.opt.Enabled {
		s.render(w, r, http.StatusServiceUnavailable, "error", &page{Title: l.T("error.title"), Message: l.T("err.https")})
		return
	}
	if !login.SafeResume(resume) || req.Passive {
		s.opt.Log.ErrorContext(r.Context(), "sign-in: Authenticate called with an unsafe resume path or a passive requirement")
		s.render(w, r, http.StatusBadRequest, "error", &page{Title: l.T("error.title"), Message: l.T("err.internal")})
		return
	}
	b := s.browser(w, r)
	p, err := s.login.Begin(r.Context(), s.client(r), req, resume)
	if err != nil || b == "" {
		s.internal(w, r, errors.Join(err, errors.New("no browser cookie")))
		return
	}
	http.Redirect(w, r, "/login?l="+url.QueryEscape(p.ID), http.StatusSeeOther)
}

// Allowed implements login.Sessions.
func (s *Site) Allowed(ctx context.Context, userID, appID string) (bool, string, error) {
	return s.login.Allowed(ctx, userID, appID)
}

// Refuse renders the error page.
func (s *Site) Refuse(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	// The message may name an application (login.Service.Allowed).
	s.render(w, r, status, "error", &page{Title: title, Message: visible(message)})
}

// EndSession ends the request's session and clears its cookie.
func (s *Site) EndSession(w http.ResponseWriter, r *http.Request) (*login.Session, error) {
	sess, err := s.login.Logout(r.Context(), s.cookie(r, "session"), s.client(r))
	s.setCookie(w, "session", "", -1)
	return sess, err
}

// RecordIssued implements login.Recorder.
func (s *Site) RecordIssued(ctx context.Context, r *http.Request, is login.Issued) error {
	return s.login.RecordIssued(ctx, r, is)
}

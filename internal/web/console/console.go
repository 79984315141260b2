// Package console serves the administrators' console under /console:
// server-rendered pages (html/template, embedded assets, no JavaScript)
// behind Gatehouse's own sign-in, each calling the same audited
// operations as the CLI and the admin API (internal/admin.Ops): the
// console has no SQL of its own.
//
// Who may open it: an administrator, which is either
//   - a person signed in to Gatehouse (an SSO session, internal/login)
//     who is a member of one of login.admin_groups and whose session has
//     two factors (a session with one is sent to the step-up), or
//   - whoever typed an admin token (a bearer token of an application
//     with the admin scope) into /console/login, which exchanges it for a
//     console session: a random cookie token whose SHA-256 the server
//     keeps (TokenSessions), with the application and token id. Each
//     request checks again that the token is enabled, unexpired and its
//     application enabled with the admin scope, so that disabling the
//     token ends its console sessions at once.
//
// Everyone else gets 403 on every route (a person without a session is
// sent to /console/login on a GET). Every page is sent with the sign-in
// pages' strict Content-Security-Policy (no inline script or style; the
// console needs no script at all), and every unsafe request passes
// http.CrossOriginProtection and the CSRF token of the sign-in pages
// (internal/web).
//
// # Adding a page
//
// See README.md in this directory: a page is one entry in the route
// table (routes.go), one handler, one template under templates/, its
// strings in both languages (i18n.go). The route test in internal/app
// walks the table, so a new route is proven admin-only without writing
// anything.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Prefix is where the console is served.
const Prefix = "/console"

// maxForm bounds a form's body.
const maxForm = 64 << 10

// Credentials is what the console needs of internal/auth: checking an
// admin token typed into the sign-in form, and, on every request of a
// token session, that its token still may administer.
type Credentials interface {
	Authenticate(ctx context.Context, header, client string) (*auth.Principal, error)
	FindApp(ctx context.Context, idOrName string) (*auth.App, error)
	Tokens(ctx context.Context, appID string) ([]*auth.Token, error)
}

// Admins is what the console needs of internal/login: whether a person is
// an administrator (login.admin_groups).
type Admins interface {
	IsAdmin(ctx context.Context, userID string) (bool, error)
	User(ctx context.Context, id string) (*directory.User, error)
}

// Options configures a Console.
type Options struct {
	// Site is the sign-in site: its sessions, language, cookies and CSRF.
	Site *web.Site
	// Admins says who is an administrator (the login service).
	Admins Admins
	// Credentials checks admin tokens (the auth service).
	Credentials Credentials
	// Sessions keeps the console sessions of admin tokens.
	Sessions TokenSessions
	// Ops are the administration operations (the CLI's and the API's).
	Ops *admin.Ops
	// Data are the read-only sources of the pages (dashboard, charts);
	// any may be nil.
	Data Data
	// SessionLifetime bounds a token session (default 8 hours); idle
	// ones end after SessionIdle (default 30 minutes).
	SessionLifetime time.Duration
	SessionIdle     time.Duration
	// ClientAddr returns a request's client address.
	ClientAddr func(*http.Request) string
	Log        *slog.Logger
	Now        func() time.Time
}

// Console serves /console.
type Console struct {
	opt    Options
	pages  map[string]*template.Template
	routes []Route
	static http.Handler
}

// New returns the console.
func New(opt Options) (*Console, error) {
	if opt.Site == nil || opt.Admins == nil || opt.Credentials == nil || opt.Sessions == nil || opt.Ops == nil {
		return nil, errors.New("console: Site, Admins, Credentials, Sessions and Ops are required")
	}
	if opt.ClientAddr == nil {
		opt.ClientAddr = func(r *http.Request) string { return r.RemoteAddr }
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SessionLifetime <= 0 {
		opt.SessionLifetime = 8 * time.Hour
	}
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = 30 * time.Minute
	}
	c := &Console{opt: opt, pages: map[string]*template.Template{}}
	c.routes = c.table()
	names := []string{"login", "error"}
	for _, r := range c.routes {
		if r.Template != "" {
			names = append(names, r.Template)
		}
	}
	for _, name := range names {
		if c.pages[name] != nil {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	c.static = http.FileServerFS(static)
	return c, nil
}

// Route is one page or form of the console: Pattern is a ServeMux pattern
// under Prefix ("GET /users/{id}"), Nav the message key of its entry in
// the navigation ("" when it has none), Template the page it renders
// (parsed at start), Handle the handler. Every Route is behind the
// administrator check.
type Route struct {
	Pattern  string
	Nav      string
	Template string
	Handle   func(*Request) error
}

// Routes lists the administrator-only routes ("GET /console/users"), for
// the test that proves each refuses everyone else.
func (c *Console) Routes() []string {
	out := make([]string, 0, len(c.routes))
	for _, r := range c.routes {
		m, p, _ := strings.Cut(r.Pattern, " ")
		out = append(out, m+" "+Prefix+p)
	}
	return out
}

// PublicRoutes lists the routes anyone may reach: the sign-in form, the
// link to Gatehouse's login and the style sheet.
func PublicRoutes() []string {
	return []string{"GET " + Prefix + "/login", "POST " + Prefix + "/login", "GET " + Prefix + "/sso", "GET " + Prefix + "/static/"}
}

// Mount adds the console's routes to mux.
func (c *Console) Mount(mux *http.ServeMux) {
	mux.Handle("GET "+Prefix+"/login", c.protect(c.loginPage))
	mux.Handle("POST "+Prefix+"/login", c.protect(c.loginPost))
	mux.Handle("GET "+Prefix+"/sso", c.protect(c.ssoPage))
	mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", c.assets()))
	for _, r := range c.routes {
		m, p, _ := strings.Cut(r.Pattern, " ")
		mux.Handle(m+" "+Prefix+p, c.protect(c.admin(r)))
	}
	// Anything else under /console: the console's own 404 (behind the
	// administrator check, so that it reveals nothing either).
	mux.Handle(Prefix+"/", c.protect(c.admin(Route{Handle: func(*Request) error { return errNotFound }})))
}

// assets serves the console's static files, never a listing of their
// directory (404).
func (c *Console) assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		c.static.ServeHTTP(w, r)
	})
}

// protect applies the sign-in pages' headers and cross-origin refusal,
// and refuses everything when sign-in cannot be served securely.
func (c *Console) protect(h func(http.ResponseWriter, *http.Request)) http.Handler {
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, &Error{Status: http.StatusForbidden, Key: "err.csrf"})
	})
	inner := c.opt.Site.Protect(http.HandlerFunc(h), deny)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.opt.Site.Enabled() {
			web.Headers(w)
			c.fail(w, r, nil, &Error{Status: http.StatusServiceUnavailable, Key: "err.https"})
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// Request is a console request by an administrator.
type Request struct {
	*http.Request
	W     http.ResponseWriter
	Admin *Admin
	L     *Lang
	c     *Console
	route Route
}

// Admin is who is using the console.
type Admin struct {
	// Name is what the page shows: the person's name, or the
	// application whose admin token was typed.
	Name string
	// Via is "sso" (a person's session) or "token" (an admin token).
	Via string
	// Actor is who the audit records of the console's changes name: a
	// token's application, as in the admin API; a person as Kind "user"
	// with AppID her user id and AppName her userName.
	Actor directory.Actor
}

// Error is a failure a page shows: its status and the message key
// (formatted with Args).
type Error struct {
	Status int
	Key    string
	Args   []any
	Err    error // logged when the status is a server fault
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Key + ": " + e.Err.Error()
	}
	return e.Key
}

func (e *Error) Unwrap() error { return e.Err }

var errNotFound = &Error{Status: http.StatusNotFound, Key: "err.notfound"}

// Errorf returns a page error with message key.
func Errorf(status int, key string, args ...any) error {
	return &Error{Status: status, Key: key, Args: args}
}

// admin wraps route r: only an administrator gets past it.
func (c *Console) admin(rt Route) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		c.opt.Site.Browser(w, r)
		a, err := c.who(w, r)
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if a == nil {
			// who answered (a redirect to sign in, the step-up).
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, a, &Error{Status: http.StatusBadRequest, Key: "err.form"})
				return
			}
			if !c.opt.Site.CheckCSRF(r) {
				c.fail(w, r, a, &Error{Status: http.StatusForbidden, Key: "err.csrf"})
				return
			}
		}
		logging.SetCaller(r.Context(), a.Actor.AppID)
		req := &Request{Request: r, W: w, Admin: a, L: c.lang(r), c: c, route: rt}
		if err := rt.Handle(req); err != nil {
			c.fail(w, r, a, err)
		}
	}
}

// who returns the administrator of r; nil, nil when it has answered
// (sent a person to sign in or to the step-up); an *Error (403) for
// anyone else.
func (c *Console) who(w http.ResponseWriter, r *http.Request) (*Admin, error) {
	ctx := r.Context()
	forbidden := &Error{Status: http.StatusForbidden, Key: "err.forbidden"}
	if tok := c.opt.Site.Cookie(r, cookieName); tok != "" {
		a, err := c.tokenAdmin(ctx, tok, logging.RequestID(ctx))
		if err != nil {
			return nil, err
		}
		if a != nil {
			return a, nil
		}
		// An ended console session: forget the cookie, and go on as if
		// there were none.
		c.opt.Site.SetCookie(w, cookieName, "", -1)
	}
	sess, err := c.opt.Site.Current(r)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err}
	}
	if sess == nil {
		if r.Method != http.MethodGet {
			return nil, forbidden
		}
		http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil, nil
	}
	ok, err := c.opt.Admins.IsAdmin(ctx, sess.UserID)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err}
	}
	if !ok {
		return nil, forbidden
	}
	// An administrator needs two factors (the policy asks them of
	// login.admin_groups anyway; asked here too so that the console never
	// depends on the configuration for it).
	enough, err := c.opt.Site.Satisfies(ctx, sess, login.Requirement{MinFactors: 2})
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err}
	}
	if !enough {
		if r.Method != http.MethodGet {
			return nil, forbidden
		}
		c.opt.Site.Authenticate(w, r, login.Requirement{MinFactors: 2}, r.URL.RequestURI())
		return nil, nil
	}
	u, err := c.opt.Admins.User(ctx, sess.UserID)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err}
	}
	name := u.UserName
	if u.DisplayName != "" {
		name = u.DisplayName
	}
	return &Admin{Name: name, Via: "sso", Actor: directory.Actor{Kind: "user", AppID: u.ID, AppName: u.UserName,
		RequestID: logging.RequestID(ctx)}}, nil
}

// ---- rendering

// view is what the layout shows around a page's Data.
type view struct {
	L      *Lang
	Title  string
	Admin  *Admin
	Nav    []navItem
	CSRF   string
	Error  string
	Notice string
	Next   string
	Data   any
}

type navItem struct {
	Label, URL string
	Current    bool
}

func (c *Console) nav(l *Lang, current string) []navItem {
	var out []navItem
	for _, r := range c.routes {
		if r.Nav == "" {
			continue
		}
		_, p, _ := strings.Cut(r.Pattern, " ")
		p = strings.TrimSuffix(p, "{$}")
		out = append(out, navItem{Label: l.T(r.Nav), URL: Prefix + p, Current: r.Nav == current})
	}
	return out
}

// Render renders page template name with title (a message key) and data,
// status 200.
func (q *Request) Render(titleKey string, data any) error {
	return q.RenderStatus(http.StatusOK, titleKey, "", data)
}

// RenderStatus renders the route's template with a status and a notice
// (a message already in the page's language, "" for none).
func (q *Request) RenderStatus(status int, titleKey, notice string, data any) error {
	v := &view{L: q.L, Title: q.L.T(titleKey), Admin: q.Admin, Nav: q.c.nav(q.L, q.route.Nav), CSRF: q.c.opt.Site.CSRF(q.Request),
		Notice: notice, Data: data}
	return q.c.render(q.W, q.Request, status, q.route.Template, v)
}

// Redirect answers 303 to a console path (after a form).
func (q *Request) Redirect(path string) {
	http.Redirect(q.W, q.Request, Prefix+path, http.StatusSeeOther)
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) error {
	t := c.pages[name]
	if t == nil {
		return &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: fmt.Errorf("no template %q", name)}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: fmt.Errorf("render %s: %w", name, err)}
	}
	web.Headers(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.L.Tag)
	w.WriteHeader(status)
	_, _ = w.Write(visible(buf.Bytes()))
	return nil
}

// visible shows the control characters and invisible direction marks
// (directory.UnsafeRune) of a rendered page as their code points
// ("[U+202E]"), as the portal shows names: the console shows values from
// elsewhere — attributes from SCIM clients, downstream systems' errors,
// filters in links, names stored before Gatehouse refused them — and such
// a character makes one text read as another. Done on the whole page, so
// that no template can forget it; the templates hold none.
func visible(page []byte) []byte {
	if !bytes.ContainsFunc(page, unsafeInPage) {
		return page
	}
	out := make([]byte, 0, len(page)+64)
	for len(page) > 0 {
		r, n := utf8.DecodeRune(page)
		if unsafeInPage(r) {
			out = fmt.Appendf(out, "[U+%04X]", r)
		} else {
			out = append(out, page[:n]...)
		}
		page = page[n:]
	}
	return out
}

// unsafeInPage: an UnsafeRune other than the white space of the markup.
func unsafeInPage(r rune) bool {
	return r != '\n' && r != '\r' && r != '\t' && directory.UnsafeRune(r)
}

// fail renders err on the error page: an *Error as it says, an admin
// operation's error by its kind (its message is meant for
// administrators), anything else as an internal error (logged).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, a *Admin, err error) {
	l := c.lang(r)
	status, msg := http.StatusInternalServerError, l.T("err.internal")
	var pe *Error
	var de *directory.Error
	switch {
	case errors.As(err, &pe):
		status, msg = pe.Status, l.F(pe.Key, pe.Args...)
	case errors.As(err, &de):
		msg = de.Msg
		switch de.Kind {
		case directory.ErrNotFound:
			status = http.StatusNotFound
		case directory.ErrInvalid:
			status = http.StatusBadRequest
		case directory.ErrConflict:
			status = http.StatusConflict
		case directory.ErrUnavailable:
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "5")
		default:
			status, msg = http.StatusInternalServerError, l.T("err.internal")
		}
	}
	if logging.ServerFault(status) {
		c.opt.Log.ErrorContext(r.Context(), "console request failed", "err", err)
	}
	v := &view{L: l, Title: l.T("error.title"), Admin: a, Error: msg}
	if a != nil {
		v.Nav = c.nav(l, "")
		v.CSRF = c.opt.Site.CSRF(r)
	}
	if rerr := c.render(w, r, status, "error", v); rerr != nil {
		c.opt.Log.ErrorContext(r.Context(), "console error page", "err", rerr)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// indent shows a tree's depth in text (no inline style).
	"indent": func(depth int) string { return strings.Repeat("— ", depth) },
	// failedStep: a journey step with a dead delivery.
	"failedStep": func(s admin.JourneyStep) bool {
		if s.Event == nil {
			return false
		}
		for _, d := range s.Event.Deliveries {
			if d.State == "dead" {
				return true
			}
		}
		return false
	},
}

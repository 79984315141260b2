package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// cookieName is the console session cookie's base name (the site makes it
// __Host-gatehouse_console on https).
const cookieName = "console"

// TokenSessions keeps the console sessions of admin tokens: by the
// SHA-256 of their cookie token, never the token itself.
type TokenSessions interface {
	// PutConsoleSession stores a new session under hash, and audit (when
	// not nil) in the same transaction.
	PutConsoleSession(ctx context.Context, s *login.TokenSession, hash []byte, audit *directory.AuditEntry) error
	// ConsoleSession returns the session stored under hash
	// (directory.ErrNotFound when there is none). Expiry is the caller's
	// to check.
	ConsoleSession(ctx context.Context, hash []byte) (*login.TokenSession, error)
	// TouchConsoleSession moves a session's LastSeen.
	TouchConsoleSession(ctx context.Context, id string, at time.Time) error
	// DeleteConsoleSession ends a session, with audit (when not nil) in
	// the same transaction.
	DeleteConsoleSession(ctx context.Context, id string, audit *directory.AuditEntry) error
	// AppendConsoleAudit appends the audit record of a refused sign-in.
	AppendConsoleAudit(ctx context.Context, audit *directory.AuditEntry) error
	// UseConsoleForm records the use of a single-use form value, by its
	// hash: true the first time, false ever after (for at least a day).
	UseConsoleForm(ctx context.Context, hash []byte, at time.Time) (bool, error)
}

// Audit actions of admin token sign-ins (MLPS 2.0 level 3 wants every
// administrator sign-in and sign-out audited). A person's sign-in to the
// console is Gatehouse's login, audited as login.success and login.logout.
const (
	ActionSignIn       = "console.login.success"
	ActionSignInFailed = "console.login.failure"
	ActionSignOut      = "console.logout"
)

// Why a token sign-in was refused (the audit record's reason).
const (
	reasonInvalid = "invalid-token"
	reasonScope   = "not-admin"
)

// signInDetail is the console part of a sign-in or sign-out audit
// record: never the token, nor the session's cookie.
type signInDetail struct {
	SessionID string `json:"sessionId,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Client    string `json:"client,omitempty"`
}

// auditEntry makes the audit record of action for the token tokenID of
// application appID ("" when the token was not recognised).
func (c *Console) auditEntry(r *http.Request, action string, app *auth.App, appID, tokenID string, d signInDetail) *directory.AuditEntry {
	d.Client = c.opt.ClientAddr(r)
	body, _ := json.Marshal(map[string]any{"console": d})
	actor := directory.Actor{Kind: "app", AppID: appID, TokenID: tokenID, RequestID: logging.RequestID(r.Context())}
	if appID == "" {
		actor.Kind = "anonymous"
	}
	if app != nil {
		actor.AppName = app.Name
	}
	return &directory.AuditEntry{Time: c.opt.Now().UTC().Truncate(time.Microsecond), Actor: actor, Action: action, ResourceType: "Application", ResourceID: appID, After: body}
}

// refused audits a refused token sign-in; the sign-in is refused whether
// the record could be written or not (logged then).
func (c *Console) refused(r *http.Request, p *auth.Principal, reason string) {
	var app *auth.App
	var appID, tokenID string
	if p != nil && p.App != nil {
		app, appID = p.App, p.App.ID
		if p.Token != nil {
			tokenID = p.Token.ID
		}
	}
	if err := c.opt.Sessions.AppendConsoleAudit(r.Context(), c.auditEntry(r, ActionSignInFailed, app, appID, tokenID, signInDetail{Reason: reason})); err != nil {
		c.opt.Log.ErrorContext(r.Context(), "console: could not audit a refused sign-in", "err", err)
	}
}

// touchEvery is how stale a session's LastSeen may be before a use
// writes it again.
const touchEvery = time.Minute

// tokenAdmin returns the administrator of console session token tok; nil,
// nil when it has ended (expired, idle, unknown, or its admin token no
// longer administers).
func (c *Console) tokenAdmin(ctx context.Context, tok, requestID string) (*Admin, error) {
	if len(tok) != 43 {
		return nil, nil
	}
	s, err := c.opt.Sessions.ConsoleSession(ctx, login.HashToken(tok))
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err}
	}
	now := c.opt.Now().UTC()
	if !now.Before(s.Expires) || now.Sub(s.LastSeen) >= c.opt.SessionIdle {
		_ = c.opt.Sessions.DeleteConsoleSession(ctx, s.ID, nil)
		return nil, nil
	}
	app, tokenOK, err := c.stillAdmin(ctx, s.AppID, s.TokenID, now)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err}
	}
	if !tokenOK {
		_ = c.opt.Sessions.DeleteConsoleSession(ctx, s.ID, nil)
		return nil, nil
	}
	if now.Sub(s.LastSeen) >= touchEvery {
		if err := c.opt.Sessions.TouchConsoleSession(ctx, s.ID, now); err != nil {
			c.opt.Log.WarnContext(ctx, "console: could not record a session's use", "err", err)
		}
	}
	return &Admin{Name: app.Name, Via: "token",
		Actor: directory.Actor{Kind: "app", AppID: app.ID, AppName: app.Name, TokenID: s.TokenID, RequestID: requestID}}, nil
}

// stillAdmin reports whether token tokenID of application appID may still
// administer: enabled, unexpired, of an enabled application with the
// admin scope.
func (c *Console) stillAdmin(ctx context.Context, appID, tokenID string, now time.Time) (*auth.App, bool, error) {
	app, err := c.opt.Credentials.FindApp(ctx, appID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if app.ID != appID || !app.Enabled || !app.Scopes.Has(auth.ScopeAdmin) {
		return nil, false, nil
	}
	toks, err := c.opt.Credentials.Tokens(ctx, appID)
	if err != nil {
		return nil, false, err
	}
	for _, t := range toks {
		if t.ID == tokenID {
			return app, t.Enabled && (t.Expires.IsZero() || now.Before(t.Expires)), nil
		}
	}
	return nil, false, nil
}

// loginView is the sign-in page's data.
type loginView struct {
	// SSO: people may sign in with Gatehouse's login (the link).
	SSOLink string
}

// safeNext keeps a console path to come back to (Prefix otherwise).
func safeNext(v string) string {
	if login.SafeResume(v) && (v == Prefix || strings.HasPrefix(v, Prefix+"/") || strings.HasPrefix(v, Prefix+"?")) &&
		!strings.HasPrefix(v, Prefix+"/login") && !strings.Contains(v, "/..") && !strings.Contains(strings.ToLower(v), "%2e") && !strings.Contains(v, "\\") {
		return v
	}
	return Prefix + "/"
}

// loginPage offers both ways in: Gatehouse's sign-in (for an
// administrator's own account) and the admin token form.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.opt.Site.Browser(w, r)
	c.showLogin(w, r, http.StatusOK, "", safeNext(r.URL.Query().Get("next")))
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	l := c.lang(r)
	// Gatehouse's login comes back to the console, where the
	// administrator check is made.
	v := &view{L: l, Title: l.T("signin.title"), CSRF: c.opt.Site.CSRF(r), Error: msg, Next: next,
		Data: loginView{SSOLink: Prefix + "/sso?next=" + url.QueryEscape(next)}}
	if err := c.render(w, r, status, "login", v); err != nil {
		c.fail(w, r, nil, err)
	}
}

// loginPost exchanges an admin token for a console session.
func (c *Console) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	l := c.lang(r)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, &Error{Status: http.StatusBadRequest, Key: "err.form"})
		return
	}
	if !c.opt.Site.CheckCSRF(r) {
		c.fail(w, r, nil, &Error{Status: http.StatusForbidden, Key: "err.csrf"})
		return
	}
	next := safeNext(r.PostFormValue("next"))
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" || len(token) > 4096 {
		c.showLogin(w, r, http.StatusBadRequest, l.T("signin.token.missing"), next)
		return
	}
	ctx := r.Context()
	p, err := c.opt.Credentials.Authenticate(ctx, "Bearer "+token, c.opt.ClientAddr(r))
	switch {
	case errors.Is(err, auth.ErrThrottled):
		// Not an audit record each: a blocked address is answered
		// without a check, and a record per answer would let anyone
		// grow the chained log at request rate. The failures that
		// blocked it are recorded (at most the throttle's limit per
		// address and window).
		c.showLogin(w, r, http.StatusTooManyRequests, l.T("signin.token.throttled"), next)
		return
	case errors.Is(err, auth.ErrUnauthenticated):
		c.refused(r, nil, reasonInvalid)
		c.showLogin(w, r, http.StatusUnauthorized, l.T("signin.token.invalid"), next)
		return
	case err != nil:
		c.fail(w, r, nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err})
		return
	}
	if p.Token == nil || !p.Scopes.Has(auth.ScopeAdmin) {
		// An access token (OAuth) or a credential without the admin
		// scope: the console takes admin tokens only.
		c.refused(r, p, reasonScope)
		c.showLogin(w, r, http.StatusForbidden, l.T("signin.token.scope"), next)
		return
	}
	v, err := login.NewToken()
	if err != nil {
		c.fail(w, r, nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err})
		return
	}
	id, err := login.NewToken()
	if err != nil {
		c.fail(w, r, nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err})
		return
	}
	now := c.opt.Now().UTC().Truncate(time.Microsecond)
	exp := now.Add(c.opt.SessionLifetime)
	if !p.Token.Expires.IsZero() && p.Token.Expires.Before(exp) {
		exp = p.Token.Expires
	}
	// A console session this browser already has ends: the sign-in
	// replaces it (a cookie planted or copied before is worth nothing
	// after).
	if old := c.opt.Site.Cookie(r, cookieName); len(old) == 43 {
		if prev, err := c.opt.Sessions.ConsoleSession(ctx, login.HashToken(old)); err == nil {
			if err := c.opt.Sessions.DeleteConsoleSession(ctx, prev.ID, nil); err != nil {
				c.fail(w, r, nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err})
				return
			}
		}
	}
	s := &login.TokenSession{ID: id[:22], AppID: p.App.ID, TokenID: p.Token.ID, Created: now, LastSeen: now, Expires: exp}
	audit := c.auditEntry(r, ActionSignIn, p.App, p.App.ID, p.Token.ID, signInDetail{SessionID: s.ID})
	if err := c.opt.Sessions.PutConsoleSession(ctx, s, login.HashToken(v), audit); err != nil {
		c.fail(w, r, nil, &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err})
		return
	}
	c.opt.Log.InfoContext(ctx, "console: admin token signed in", "app", p.App.ID, "token", p.Token.ID)
	c.opt.Site.SetCookie(w, cookieName, v, 0)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// ssoPage sends a person to Gatehouse's login (two factors), to come back
// to the console, where the administrator check is made.
func (c *Console) ssoPage(w http.ResponseWriter, r *http.Request) {
	c.opt.Site.Authenticate(w, r, login.Requirement{MinFactors: 2}, safeNext(r.URL.Query().Get("next")))
}

// logoutPost ends the console session: the token session and the
// browser's Gatehouse session, if it has one — else the console would
// open again on whichever is left.
func (c *Console) logoutPost(q *Request) error {
	ctx := q.Context()
	if tok := q.c.opt.Site.Cookie(q.Request, cookieName); len(tok) == 43 {
		s, err := c.opt.Sessions.ConsoleSession(ctx, login.HashToken(tok))
		if err == nil {
			var app *auth.App
			if a, err := c.opt.Credentials.FindApp(ctx, s.AppID); err == nil && a.ID == s.AppID {
				app = a
			}
			audit := c.auditEntry(q.Request, ActionSignOut, app, s.AppID, s.TokenID, signInDetail{SessionID: s.ID, Reason: "logout"})
			if err := c.opt.Sessions.DeleteConsoleSession(ctx, s.ID, audit); err != nil {
				return &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err}
			}
		}
		c.opt.Site.SetCookie(q.W, cookieName, "", -1)
	}
	if sess, err := c.opt.Site.Current(q.Request); err != nil || sess != nil {
		if _, err := c.opt.Site.EndSession(q.W, q.Request); err != nil {
			return &Error{Status: http.StatusInternalServerError, Key: "err.internal", Err: err}
		}
	}
	http.Redirect(q.W, q.Request, Prefix+"/login", http.StatusSeeOther)
	return nil
}

// MemorySessions keeps console sessions in memory (one process; the
// tests').
type MemorySessions struct {
	mu     sync.Mutex
	byHash map[string]*login.TokenSession
	audit  []*directory.AuditEntry
	forms  map[string]time.Time
}

// Audit returns the audit records given to m (unchained: m keeps no
// hash chain).
func (m *MemorySessions) Audit() []*directory.AuditEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*directory.AuditEntry(nil), m.audit...)
}

func (m *MemorySessions) AppendConsoleAudit(_ context.Context, audit *directory.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.audit = append(m.audit, audit)
	return nil
}

// NewMemorySessions returns an empty MemorySessions.
func NewMemorySessions() *MemorySessions {
	return &MemorySessions{byHash: map[string]*login.TokenSession{}, forms: map[string]time.Time{}}
}

// UseConsoleForm implements TokenSessions, in this process only: it
// remembers a day of uses, at most memoryFormsMax (when full, the oldest
// day's first, then any).
func (m *MemorySessions) UseConsoleForm(_ context.Context, hash []byte, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.forms[string(hash)]; ok {
		return false, nil
	}
	if len(m.forms) >= memoryFormsMax {
		for k, t := range m.forms {
			if at.Sub(t) > 24*time.Hour {
				delete(m.forms, k)
			}
		}
		for k := range m.forms {
			if len(m.forms) < memoryFormsMax {
				break
			}
			delete(m.forms, k)
		}
	}
	m.forms[string(hash)] = at
	return true, nil
}

const memoryFormsMax = 100000

func (m *MemorySessions) PutConsoleSession(_ context.Context, s *login.TokenSession, hash []byte, audit *directory.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *s
	m.byHash[string(hash)] = &cp
	if audit != nil {
		m.audit = append(m.audit, audit)
	}
	return nil
}

func (m *MemorySessions) ConsoleSession(_ context.Context, hash []byte) (*login.TokenSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, s := range m.byHash {
		if subtle.ConstantTimeCompare([]byte(h), hash) == 1 {
			cp := *s
			return &cp, nil
		}
	}
	return nil, &directory.Error{Kind: directory.ErrNotFound, Op: "console session", Msg: "no such session"}
}

func (m *MemorySessions) TouchConsoleSession(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.byHash {
		if s.ID == id {
			s.LastSeen = at
		}
	}
	return nil
}

func (m *MemorySessions) DeleteConsoleSession(_ context.Context, id string, audit *directory.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if audit != nil {
		m.audit = append(m.audit, audit)
	}
	for h, s := range m.byHash {
		if s.ID == id {
			delete(m.byHash, h)
		}
	}
	return nil
}

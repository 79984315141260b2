package oidc

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

// freshness is how much earlier than the moment the browser was sent to
// the login page a session's authentication may be and still count as the
// answer to it: the clocks of two replicas may differ a little.
const freshness = 2 * time.Second

// authorize serves the authorization endpoint (OIDC Core §3.1.2), by GET
// or by POST of a form.
//
// Errors found before the client and its redirect_uri check out are shown
// on Gatehouse's error page and never sent anywhere (RFC 6749 §4.1.2.1: no
// redirect to an unverified URI); errors after are sent to the redirect
// URI with the state and the issuer (RFC 9207).
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q, ok := p.readParams(w, r)
	if !ok {
		return
	}
	a, perr := ParseAuthorize(q)
	if perr != nil && a.ClientID == "" && a.RedirectURI == "" && (len(q["client_id"]) > 1 || len(q["redirect_uri"]) > 1) {
		// client_id or redirect_uri given twice: the request names no one
		// application and no one address, and is shown as what it is.
		p.refuse(w, r, http.StatusBadRequest, "Bad sign-in request",
			"The application's sign-in request gives its client_id or redirect_uri more than once. Tell its administrator.")
		return
	}
	ctx := r.Context()
	c, err := p.client(ctx, a.ClientID)
	if err != nil {
		p.internal(w, r, "look up client", err)
		return
	}
	switch {
	case c == nil:
		p.refuse(w, r, http.StatusBadRequest, "Unknown application",
			"The application that sent you here is not registered with Gatehouse, or is disabled. Go back to it and tell its administrator.")
		return
	case a.RedirectURI == "":
		p.refuse(w, r, http.StatusBadRequest, "Bad sign-in request", "The application did not say where to send you back (redirect_uri). Tell its administrator.")
		return
	case !matchURI(c.set.RedirectURIs, a.RedirectURI):
		p.refuse(w, r, http.StatusBadRequest, "Bad sign-in request",
			"The application asked to send you back to an address that is not registered for it. Tell its administrator: the redirect_uri must be one of its registered redirect URIs, exactly.")
		return
	}
	if perr != nil {
		p.redirectError(w, r, a, perr)
		return
	}
	if c.set.PKCERequired() && a.CodeChallenge == "" {
		p.redirectError(w, r, a, errorf(errInvalidRequest, "this client must use PKCE: code_challenge with code_challenge_method=S256"))
		return
	}
	a.Scopes = grantedScopes(a.Scopes, c.set)
	body, err := json.Marshal(a)
	if err != nil {
		p.internal(w, r, "record authorization request", err)
		return
	}
	now := p.now()
	pending := &AuthRequest{ID: newSecret(), ClientID: c.app.ID, Request: body, Created: now, Expires: now.Add(p.opt.RequestLifetime)}
	p.proceed(w, r, c, a, pending)
}

// resume continues a pending authorization request after the login page
// (or after a login that another tab finished).
func (p *Provider) resume(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	expired := func() {
		p.refuse(w, r, http.StatusBadRequest, "Sign-in request expired",
			"This sign-in request has expired or was already answered. Go back to the application and sign in again.")
	}
	if id == "" || len(id) > 64 || !pkceValue(id) {
		expired()
		return
	}
	pending, err := p.opt.Store.AuthRequest(ctx, id)
	if isNotFound(err) {
		expired()
		return
	}
	if err != nil {
		p.internal(w, r, "read authorization request", err)
		return
	}
	if !p.now().Before(pending.Expires) {
		_ = p.opt.Store.DeleteAuthRequest(ctx, id)
		expired()
		return
	}
	var a Authorize
	if err := json.Unmarshal(pending.Request, &a); err != nil {
		p.internal(w, r, "read authorization request", err)
		return
	}
	// The registration may have changed while she signed in.
	c, err := p.client(ctx, pending.ClientID)
	if err != nil {
		p.internal(w, r, "look up client", err)
		return
	}
	if c == nil || !matchURI(c.set.RedirectURIs, a.RedirectURI) {
		_ = p.opt.Store.DeleteAuthRequest(ctx, id)
		p.refuse(w, r, http.StatusBadRequest, "Unknown application",
			"The application you were signing in to is no longer registered with Gatehouse, or is disabled.")
		return
	}
	a.Scopes = grantedScopes(a.Scopes, c.set)
	p.proceed(w, r, c, &a, pending)
}

// proceed answers a valid authorization request: with a code if the
// browser's session satisfies it, by the login page if not (the request
// waits in the store), or with an error.
func (p *Provider) proceed(w http.ResponseWriter, r *http.Request, c *client, a *Authorize, pending *AuthRequest) {
	ctx := r.Context()
	sess, err := p.opt.Sessions.Current(r)
	if err != nil {
		p.internal(w, r, "read session", err)
		return
	}
	// fresh: she signed in after this request sent her to the login
	// page. That login answers prompt=login and max_age=0.
	fresh := sess != nil && !pending.LoginSent.IsZero() && !sess.AuthTime.Before(pending.LoginSent.Add(-freshness))
	req := login.Requirement{AppID: c.app.ID, Passive: a.HasPrompt("none"), MinFactors: minFactors(a.ACRValues),
		EndsElsewhere: true}
	if a.MaxAge > 0 {
		req.MaxAge = time.Duration(a.MaxAge) * time.Second
	}
	if (a.HasPrompt("login") || a.MaxAge == 0) && !fresh {
		req.Force = true
	}
	// id_token_hint names whom the client expects (OIDC Core §3.1.2.1):
	// one that is not an ID token of ours for this client (forged, its
	// signature broken, another client's) is refused, never ignored; and
	// another person's session does not do (with prompt=none:
	// login_required, below).
	if a.IDTokenHint != "" {
		sub, ok := p.hintSubject(ctx, a.IDTokenHint, c.app.ID)
		if !ok {
			if !pending.LoginSent.IsZero() {
				_ = p.opt.Store.DeleteAuthRequest(ctx, pending.ID)
			}
			p.redirectError(w, r, a, errorf(errInvalidRequest, "id_token_hint is not an ID token Gatehouse issued to this client"))
			return
		}
		if sess != nil && sub != sess.UserID && !fresh {
			req.Force = true
		}
	}
	satisfied := false
	if sess != nil && !req.Force {
		if satisfied, err = p.opt.Sessions.Satisfies(ctx, sess, req); err != nil {
			p.internal(w, r, "check session", err)
			return
		}
		if !satisfied && fresh && req.MinFactors > 0 {
			// acr_values are voluntary (OIDC Core §3.1.2.1): after the
			// login they asked for, the tokens state what was done.
			r2 := req
			r2.MinFactors = 0
			if satisfied, err = p.opt.Sessions.Satisfies(ctx, sess, r2); err != nil {
				p.internal(w, r, "check session", err)
				return
			}
		}
	}
	if !satisfied {
		switch {
		case req.Passive && sess == nil:
			p.redirectError(w, r, a, errorf(errLoginRequired, "nobody is signed in at Gatehouse"))
		case req.Passive:
			p.redirectError(w, r, a, errorf(errLoginRequired, "the session at Gatehouse does not meet the request (max_age, prompt, acr_values or the application's policy): sign in again"))
		case fresh:
			// The login page let her through, yet the session falls
			// short: sending her back would loop.
			_ = p.opt.Store.DeleteAuthRequest(ctx, pending.ID)
			p.refuse(w, r, http.StatusForbidden, "Sign-in not strong enough",
				"Your sign-in does not meet this application's requirements (for example a second factor). Ask your administrator.")
		default:
			pending.LoginSent = p.now()
			if err := p.opt.Store.PutAuthRequest(ctx, pending); err != nil {
				p.internal(w, r, "record authorization request", err)
				return
			}
			p.opt.Sessions.Authenticate(w, r, req, ResumePath+"?id="+pending.ID)
		}
		return
	}
	ok, why, err := p.opt.Sessions.Allowed(ctx, sess.UserID, c.app.ID)
	if err != nil {
		p.internal(w, r, "check access", err)
		return
	}
	if !ok {
		if !pending.LoginSent.IsZero() {
			_ = p.opt.Store.DeleteAuthRequest(ctx, pending.ID)
		}
		if req.Passive {
			p.redirectError(w, r, a, errorf(errAccessDenied, "the signed-in person may not use this application"))
			return
		}
		p.refuse(w, r, http.StatusForbidden, "You cannot use this application", why)
		return
	}
	code, err := p.issueCode(ctx, c, a, sess, pending)
	if err != nil {
		p.internal(w, r, "issue code", err)
		return
	}
	p.redirect(w, r, a, url.Values{"code": {code}})
}

// minFactors is what acr_values ask for: two factors if they name only
// ACR2FA, else the policy decides.
func minFactors(acr []string) int {
	if len(acr) > 0 && slices.Contains(acr, login.ACR2FA) && !slices.Contains(acr, login.ACR1FA) {
		return 2
	}
	return 0
}

// issueCode records the grant and its code, and removes the pending
// request (if it was stored).
func (p *Provider) issueCode(ctx context.Context, c *client, a *Authorize, sess *login.Session, pending *AuthRequest) (string, error) {
	now := p.now()
	offline := slices.Contains(a.Scopes, ScopeOfflineAccess)
	g := &Grant{
		ID: newSecret()[:22], ClientID: c.app.ID, UserID: sess.UserID, SessionID: sess.ID, Scopes: a.Scopes, Nonce: a.Nonce,
		AuthTime: sess.AuthTime.UTC(), AMR: slices.Clone(sess.AMR), ACR: sess.ACR(), Offline: offline, Created: now,
	}
	if g.AMR == nil {
		g.AMR = []string{}
	}
	// The family ends when the last of its tokens can: the code's access
	// token, or the refresh tokens' lifetime.
	g.Expires = now.Add(p.opt.CodeLifetime + c.set.AccessTTL())
	if offline {
		g.Expires = now.Add(c.set.RefreshTTL())
	}
	value := newSecret()
	code := &Token{Hash: hashValue(value), GrantID: g.ID, Kind: KindCode, RedirectURI: a.RedirectURI, Challenge: a.CodeChallenge,
		Created: now, Expires: now.Add(p.opt.CodeLifetime)}
	pendingID := ""
	if !pending.LoginSent.IsZero() {
		pendingID = pending.ID
	}
	if err := p.opt.Store.CreateGrant(ctx, g, code, pendingID); err != nil {
		return "", err
	}
	return value, nil
}

// redirect sends the browser to the request's redirect URI with params,
// the state and the issuer (RFC 9207). The URI's own query is kept.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, a *Authorize, params url.Values) {
	u, err := url.Parse(a.RedirectURI)
	if err != nil {
		p.internal(w, r, "redirect", err)
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if a.State != "" {
		q.Set("state", a.State)
	}
	q.Set("iss", p.issuer())
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// redirectError sends an error to the (verified) redirect URI.
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, a *Authorize, e *Error) {
	p.log.InfoContext(r.Context(), "authorization request refused", "client_id", a.ClientID, "error", e.Code, "reason", e.Description)
	p.redirect(w, r, a, url.Values{"error": {e.Code}, "error_description": {e.Description}})
}

// readParams reads the authorization request's parameters: the query of a
// GET, or the form of a POST (application/x-www-form-urlencoded, at most
// 16 KiB; OIDC Core §3.1.2.1).
func (p *Provider) readParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	switch r.Method {
	case http.MethodGet:
		if len(r.URL.RawQuery) > maxQueryLength {
			p.refuse(w, r, http.StatusRequestURITooLong, "Bad sign-in request", "The sign-in request is too long.")
			return nil, false
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			p.refuse(w, r, http.StatusBadRequest, "Bad sign-in request", "The sign-in request is malformed.")
			return nil, false
		}
		return q, true
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			p.refuse(w, r, http.StatusUnsupportedMediaType, "Bad sign-in request", "A sign-in request by POST must be a form.")
			return nil, false
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxQueryLength)
		if err := r.ParseForm(); err != nil {
			p.refuse(w, r, http.StatusBadRequest, "Bad sign-in request", "The sign-in request is malformed or too long.")
			return nil, false
		}
		return r.PostForm, true
	default:
		w.Header().Set("Allow", "GET, POST")
		p.refuse(w, r, http.StatusMethodNotAllowed, "Bad sign-in request", "The authorization endpoint takes GET or POST.")
		return nil, false
	}
}

// refuse shows Gatehouse's error page.
func (p *Provider) refuse(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	p.opt.Sessions.Refuse(w, r, status, title, msg)
}

// internal logs an internal error and shows the error page.
func (p *Provider) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	p.log.ErrorContext(r.Context(), "oidc: "+op, "err", err)
	p.refuse(w, r, http.StatusInternalServerError, "Something went wrong", "Gatehouse could not complete the sign-in. Try again later.")
}

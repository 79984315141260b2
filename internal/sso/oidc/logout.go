package oidc

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
)

// LoginLogoutPath is the login page's own logout page, where a person
// confirms signing out.
const LoginLogoutPath = "/logout"

// idClaims are the ID token claims logout reads from id_token_hint.
type idClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
}

// audience reads "aud" as a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := jsonUnmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := jsonUnmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// hint verifies an id_token_hint: an ID token this provider signed (its
// expiry does not matter: OIDC Core §3.1.2.1, RP-Initiated Logout §2),
// for clientID when it is not "".
func (p *Provider) hint(ctx context.Context, raw, clientID string) (*idClaims, bool) {
	var c idClaims
	if err := p.opt.Keys.VerifyJWT(ctx, raw, "JWT", &c); err != nil {
		return nil, false
	}
	if c.Issuer != p.issuer() || c.Subject == "" || len(c.Audience) == 0 || clientID != "" && !slices.Contains(c.Audience, clientID) {
		return nil, false
	}
	return &c, true
}

// hintSubject returns the subject of a valid id_token_hint for clientID.
func (p *Provider) hintSubject(ctx context.Context, raw, clientID string) (string, bool) {
	c, ok := p.hint(ctx, raw, clientID)
	if !ok {
		return "", false
	}
	return c.Subject, true
}

// logout serves RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0), by GET or POST of a form.
//
// The browser is sent back only to one of the client's registered
// post-logout redirect URIs, exactly; the client is named by client_id or
// by the id_token_hint's audience. The session ends only when an
// id_token_hint names its person: without one, anybody could sign people
// out with a link, so the browser goes to Gatehouse's logout page, where
// the person confirms.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q, ok := p.logoutParams(w, r)
	if !ok {
		return
	}
	bad := func(msg string) { p.refuse(w, r, http.StatusBadRequest, "Bad sign-out request", msg) }
	clientID := q.Get("client_id")
	var hinted *idClaims
	if raw := q.Get("id_token_hint"); raw != "" {
		c, ok := p.hint(ctx, raw, clientID)
		if !ok {
			bad("The application's id_token_hint is not an ID token Gatehouse issued to it.")
			return
		}
		hinted = c
		if clientID == "" {
			clientID = c.Audience[0]
		}
	}
	target := q.Get("post_logout_redirect_uri")
	if target != "" {
		c, err := p.client(ctx, clientID)
		if err != nil {
			p.internal(w, r, "look up client", err)
			return
		}
		if c == nil || !matchURI(c.set.PostLogoutRedirectURIs, target) {
			bad("The application asked to send you to an address that is not registered for it after signing out. You may close this page.")
			return
		}
		if s := q.Get("state"); s != "" {
			u, _ := url.Parse(target)
			v := u.Query()
			v.Set("state", s)
			u.RawQuery = v.Encode()
			target = u.String()
		}
	}
	sess, err := p.opt.Sessions.Current(r)
	if err != nil {
		p.internal(w, r, "read session", err)
		return
	}
	if sess != nil {
		if hinted == nil {
			http.Redirect(w, r, LoginLogoutPath, http.StatusSeeOther)
			return
		}
		if hinted.Subject != sess.UserID {
			p.refuse(w, r, http.StatusBadRequest, "Not signed out",
				"The application asked to sign out someone else than the person signed in here. You are still signed in to Gatehouse.")
			return
		}
		ended, err := p.opt.Sessions.EndSession(w, r)
		if err != nil {
			p.internal(w, r, "end session", err)
			return
		}
		if ended != nil {
			if _, err := p.opt.Store.RevokeSessionGrants(ctx, ended.ID, p.now()); err != nil {
				p.log.ErrorContext(ctx, "oidc: revoke the session's grants", "err", err)
			}
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	if target != "" {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	p.opt.Sessions.Refuse(w, r, http.StatusOK, "Signed out", "You have signed out of Gatehouse. You may close this page.")
}

// logoutParams reads the logout request's parameters (query or form),
// each at most once and clean.
func (p *Provider) logoutParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	q, ok := p.readParams(w, r)
	if !ok {
		return nil, false
	}
	for _, vs := range q {
		if len(vs) > 1 || !clean(vs[0]) {
			p.refuse(w, r, http.StatusBadRequest, "Bad sign-out request", "A parameter is repeated or malformed.")
			return nil, false
		}
	}
	return q, true
}

// serveRevoke serves token revocation (RFC 7009) for the provider's refresh
// and access tokens: revoking either revokes its grant, with every token
// of the family. The answer is 200 whether or not the token was known.
func (p *Provider) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": errInvalidRequest, "error_description": "the revocation endpoint takes POST"}, true)
		return
	}
	ctx := r.Context()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": errInvalidRequest, "error_description": "the body must be a form"}, true)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": errInvalidRequest, "error_description": "the body is not a valid form"}, true)
		return
	}
	params := map[string]string{}
	for k, vs := range r.PostForm {
		if len(vs) > 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": errInvalidRequest, "error_description": "parameter " + k + " is repeated"}, true)
			return
		}
		params[k] = vs[0]
	}
	req := &oauth.GrantRequest{Params: params, ClientID: params["client_id"], Secret: params["client_secret"], ClientAddr: p.opt.ClientAddr(r)}
	if id, secret, ok := r.BasicAuth(); ok {
		uid, err1 := url.QueryUnescape(id)
		usec, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || req.Secret != "" || req.ClientID != "" && req.ClientID != uid {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": errInvalidRequest, "error_description": "conflicting or malformed client credentials"}, true)
			return
		}
		req.ClientID, req.Secret, req.Basic = uid, usec, true
	}
	c, err := p.authenticateClient(ctx, req)
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			if oe.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
			}
			writeJSON(w, oe.Status, map[string]string{"error": oe.Code, "error_description": oe.Description}, true)
			return
		}
		p.log.ErrorContext(ctx, "oidc: revoke", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": errServerError}, true)
		return
	}
	token := params["token"]
	if token == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": errInvalidRequest, "error_description": "token is required"}, true)
		return
	}
	if err := p.revokeToken(ctx, c, token); err != nil {
		p.log.ErrorContext(ctx, "oidc: revoke", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": errServerError}, true)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// revokeToken revokes the grant of a refresh or access token of client c;
// another client's token, or an unknown one, is left alone.
func (p *Provider) revokeToken(ctx context.Context, c *client, token string) error {
	var g *Grant
	if len(token) <= 256 {
		_, gg, err := p.opt.Store.TokenGrant(ctx, KindRefresh, hashValue(token))
		switch {
		case err == nil:
			g = gg
		case !errors.Is(err, directory.ErrNotFound):
			return err
		}
	}
	if g == nil && strings.Count(token, ".") == 2 {
		var at accessClaims
		if err := p.opt.Keys.VerifyJWT(ctx, token, "at+jwt", &at); err == nil && at.GrantID != "" && at.Issuer == p.issuer() {
			gg, err := p.opt.Store.Grant(ctx, at.GrantID)
			switch {
			case err == nil:
				g = gg
			case !errors.Is(err, directory.ErrNotFound):
				return err
			}
		}
	}
	if g == nil || g.ClientID != c.app.ID || !g.Revoked.IsZero() {
		return nil
	}
	p.revoke(ctx, g, c, "sso.oidc.revoke")
	return nil
}

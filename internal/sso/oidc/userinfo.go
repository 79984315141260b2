package oidc

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
)

// userinfo serves the UserInfo endpoint (OIDC Core §5.3): the claims of
// the access token's scopes about its person, to a bearer of an access
// token Gatehouse issued to an OpenID Connect client (RFC 6750: the
// Authorization header, or access_token in a POSTed form).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": errInvalidRequest, "error_description": "the UserInfo endpoint takes GET or POST"}, true)
		return
	}
	raw, ok := bearer(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	at, c, err := p.verifyAccess(ctx, raw)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			p.log.InfoContext(ctx, "userinfo refused", "reason", e.Description)
			challenge(w, errInvalidToken, "the access token is invalid, expired or revoked")
			return
		}
		p.log.ErrorContext(ctx, "oidc: userinfo", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": errServerError}, true)
		return
	}
	claims, err := p.userClaims(ctx, c, at.Subject, strings.Fields(at.Scope))
	if err != nil {
		p.log.ErrorContext(ctx, "oidc: userinfo claims", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": errServerError}, true)
		return
	}
	claims["sub"] = at.Subject
	writeJSON(w, http.StatusOK, claims, true)
}

// bearer reads the access token of a request: "Authorization: Bearer" or
// access_token in an application/x-www-form-urlencoded POST body, not
// both (RFC 6750 §2).
func bearer(w http.ResponseWriter, r *http.Request) (string, bool) {
	var token string
	if len(r.Header.Values("Authorization")) > 1 {
		challenge(w, errInvalidRequest, "send the Authorization header once")
		return "", false
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, v, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(v) == "" {
			challenge(w, errInvalidRequest, "use the Bearer scheme")
			return "", false
		}
		token = strings.TrimSpace(v)
	}
	if r.Method == http.MethodPost {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
			if err := r.ParseForm(); err != nil {
				challenge(w, errInvalidRequest, "the request body is not a valid form")
				return "", false
			}
			if vs := r.PostForm["access_token"]; len(vs) > 0 {
				if token != "" || len(vs) > 1 {
					challenge(w, errInvalidRequest, "send the access token once")
					return "", false
				}
				token = vs[0]
			}
		}
	}
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": errInvalidToken, "error_description": "an access token is required"}, true)
		return "", false
	}
	return token, true
}

// challenge answers 401 (400 for invalid_request) with RFC 6750's
// WWW-Authenticate.
func challenge(w http.ResponseWriter, code, desc string) {
	status := http.StatusUnauthorized
	if code == errInvalidRequest {
		status = http.StatusBadRequest
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="`+code+`", error_description=`+strconv.Quote(desc))
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc}, true)
}

// verifyAccess checks an access token the provider issued: its type and
// signature, issuer, times, client, and that its grant is in force, its
// client enabled and its person still active and allowed. Client-
// credentials access tokens (audience "gatehouse", no grant) are refused.
func (p *Provider) verifyAccess(ctx context.Context, raw string) (*accessClaims, *client, error) {
	var at accessClaims
	if err := p.opt.Keys.VerifyJWT(ctx, raw, "at+jwt", &at); err != nil {
		if errors.Is(err, auth.ErrBadJWT) {
			return nil, nil, errorf(errInvalidToken, "malformed or wrongly signed")
		}
		return nil, nil, err
	}
	now := p.opt.Now()
	switch {
	case at.Issuer != p.issuer():
		return nil, nil, errorf(errInvalidToken, "another issuer")
	case at.Expiry == 0 || at.IssuedAt == 0:
		return nil, nil, errorf(errInvalidToken, "no exp or iat")
	case !now.Before(time.Unix(at.Expiry, 0)):
		return nil, nil, errorf(errInvalidToken, "expired")
	case time.Unix(at.IssuedAt, 0).After(now.Add(time.Minute)):
		return nil, nil, errorf(errInvalidToken, "issued in the future")
	case time.Duration(at.Expiry-at.IssuedAt)*time.Second > MaxTokenLifetime:
		return nil, nil, errorf(errInvalidToken, "lives longer than any access token the provider issues")
	case at.GrantID == "" || at.ClientID == "" || at.Subject == "" || !slices.Contains(at.Audience, at.ClientID):
		return nil, nil, errorf(errInvalidToken, "not an OpenID Connect access token")
	}
	g, err := p.opt.Store.Grant(ctx, at.GrantID)
	if isNotFound(err) {
		return nil, nil, errorf(errInvalidToken, "grant gone")
	}
	if err != nil {
		return nil, nil, err
	}
	if !g.Revoked.IsZero() || g.ClientID != at.ClientID || g.UserID != at.Subject {
		return nil, nil, errorf(errInvalidToken, "grant revoked")
	}
	c, err := p.client(ctx, at.ClientID)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, errorf(errInvalidToken, "client gone or disabled")
	}
	if err := p.checkPerson(ctx, g); err != nil {
		if errors.Is(err, errPersonGone) {
			return nil, nil, errorf(errInvalidToken, "person gone, inactive or not allowed")
		}
		return nil, nil, err
	}
	// The token's scopes, as far as the grant has them.
	var scopes []string
	for _, s := range strings.Fields(at.Scope) {
		if slices.Contains(g.Scopes, s) {
			scopes = append(scopes, s)
		}
	}
	at.Scope = strings.Join(scopes, " ")
	return &at, c, nil
}

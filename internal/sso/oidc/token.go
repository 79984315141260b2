package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
)

// Token endpoint (OIDC Core §3.1.3, RFC 6749 §4.1.3, §6): the
// authorization_code and refresh_token grants, served at oauth.TokenPath.

func tokenErr(status int, code, desc string) *oauth.Error {
	return &oauth.Error{Status: status, Code: code, Description: desc}
}

func badGrant(desc string) *oauth.Error {
	return tokenErr(http.StatusBadRequest, errInvalidGrant, desc)
}

// authenticateClient checks the token request's client: a confidential
// client by one of its application's client secrets (HTTP Basic or the
// form), a public client by its client_id alone.
func (p *Provider) authenticateClient(ctx context.Context, req *oauth.GrantRequest) (*client, error) {
	unknown := tokenErr(http.StatusUnauthorized, errInvalidClient, "client authentication failed")
	if req.ClientID == "" {
		return nil, tokenErr(http.StatusUnauthorized, errInvalidClient, "client_id is required (HTTP Basic for a confidential client, the client_id parameter for a public one)")
	}
	c, err := p.client(ctx, req.ClientID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		if req.Secret != "" {
			// Count the failure against the address like any other
			// wrong secret.
			if _, _, err := p.opt.Keys.CheckSecret(ctx, req.ClientID, req.Secret, req.ClientAddr); err != nil && !errors.Is(err, auth.ErrInvalidClient) {
				return nil, err
			}
		}
		return nil, unknown
	}
	if c.set.Public {
		if req.Secret != "" {
			return nil, tokenErr(http.StatusUnauthorized, errInvalidClient, "a public client has no secret: send client_id alone")
		}
		return c, nil
	}
	if req.Secret == "" {
		return nil, tokenErr(http.StatusUnauthorized, errInvalidClient, "a confidential client authenticates with its client secret (HTTP Basic or client_secret)")
	}
	if _, _, err := p.opt.Keys.CheckSecret(ctx, req.ClientID, req.Secret, req.ClientAddr); err != nil {
		if errors.Is(err, auth.ErrInvalidClient) {
			return nil, unknown
		}
		return nil, err // throttled, or the store's
	}
	return c, nil
}

// exchangeCode serves grant_type=authorization_code.
func (p *Provider) exchangeCode(ctx context.Context, req *oauth.GrantRequest) (map[string]any, error) {
	c, err := p.authenticateClient(ctx, req)
	if err != nil {
		return nil, err
	}
	value := req.Params["code"]
	if value == "" {
		return nil, tokenErr(http.StatusBadRequest, errInvalidRequest, "code is required")
	}
	invalid := badGrant("the code is invalid, expired or was already used")
	if len(value) > 256 {
		return nil, invalid
	}
	hash := hashValue(value)
	tok, g, err := p.opt.Store.TokenGrant(ctx, KindCode, hash)
	if isNotFound(err) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	now := p.now()
	switch {
	case g.ClientID != c.app.ID:
		return nil, invalid
	case !tok.Used.IsZero():
		// A code presented twice: whoever has it, the grant's tokens
		// may be in the wrong hands (RFC 6749 §4.1.2).
		p.revoke(ctx, g, c, "sso.oidc.code_reused")
		return nil, invalid
	case !now.Before(tok.Expires) || !g.Revoked.IsZero():
		return nil, invalid
	case req.Params["redirect_uri"] != tok.RedirectURI:
		return nil, badGrant("redirect_uri differs from the authorization request's")
	}
	if err := checkVerifier(tok.Challenge, req.Params["code_verifier"]); err != nil {
		return nil, err
	}
	if err := p.checkPerson(ctx, g); err != nil {
		return nil, err
	}
	var next *Token
	var refresh string
	if g.Offline {
		refresh = newSecret()
		next = &Token{Hash: hashValue(refresh), GrantID: g.ID, Kind: KindRefresh, Created: now, Expires: g.Expires}
	}
	audit := p.audit(req, c, g, "sso.oidc.token", g.Scopes)
	if err := p.opt.Store.UseToken(ctx, KindCode, hash, now, next, audit); err != nil {
		if errors.Is(err, ErrTokenUsed) {
			p.revoke(ctx, g, c, "sso.oidc.code_reused")
			return nil, invalid
		}
		return nil, err
	}
	return p.tokenResponse(ctx, c, g, g.Scopes, refresh, g.Nonce, now)
}

// checkVerifier checks the PKCE code_verifier against the code's
// challenge (RFC 7636 §4.6).
func checkVerifier(challenge, verifier string) error {
	if challenge == "" {
		if verifier != "" {
			return badGrant("code_verifier sent, but the authorization request had no code_challenge")
		}
		return nil
	}
	if verifier == "" {
		return badGrant("code_verifier is required: the authorization request had a code_challenge")
	}
	if len(verifier) < 43 || len(verifier) > 128 || !pkceValue(verifier) {
		return badGrant("code_verifier must have 43 to 128 unreserved characters")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return badGrant("code_verifier does not match the code_challenge")
	}
	return nil
}

// refresh serves grant_type=refresh_token: the refresh token is rotated
// (the next one is in the answer); presenting a rotated one again revokes
// the whole grant, so that of a thief and the client, whoever comes second
// ends both (RFC 9700 §4.14.2).
func (p *Provider) refresh(ctx context.Context, req *oauth.GrantRequest) (map[string]any, error) {
	c, err := p.authenticateClient(ctx, req)
	if err != nil {
		return nil, err
	}
	value := req.Params["refresh_token"]
	if value == "" {
		return nil, tokenErr(http.StatusBadRequest, errInvalidRequest, "refresh_token is required")
	}
	invalid := badGrant("the refresh token is invalid, expired, revoked or was already used")
	if len(value) > 256 {
		return nil, invalid
	}
	hash := hashValue(value)
	tok, g, err := p.opt.Store.TokenGrant(ctx, KindRefresh, hash)
	if isNotFound(err) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	now := p.now()
	switch {
	case g.ClientID != c.app.ID:
		return nil, invalid
	case !tok.Used.IsZero():
		p.revoke(ctx, g, c, "sso.oidc.refresh_reused")
		return nil, invalid
	case !g.Revoked.IsZero() || !now.Before(tok.Expires) || !now.Before(g.Expires):
		return nil, invalid
	}
	scopes := g.Scopes
	if s := req.Params["scope"]; s != "" {
		scopes = dedupeFields(s)
		for _, sc := range scopes {
			if !slices.Contains(g.Scopes, sc) {
				return nil, tokenErr(http.StatusBadRequest, errInvalidScope, "scope "+sc+" was not granted")
			}
		}
		if !slices.Contains(scopes, ScopeOpenID) {
			return nil, tokenErr(http.StatusBadRequest, errInvalidScope, "the openid scope is required")
		}
	}
	if err := p.checkPerson(ctx, g); err != nil {
		if errors.Is(err, errPersonGone) {
			p.revoke(ctx, g, c, "sso.oidc.revoke")
		}
		return nil, err
	}
	next := newSecret()
	nextTok := &Token{Hash: hashValue(next), GrantID: g.ID, Kind: KindRefresh, Created: now, Expires: g.Expires}
	audit := p.audit(req, c, g, "sso.oidc.refresh", scopes)
	if err := p.opt.Store.UseToken(ctx, KindRefresh, hash, now, nextTok, audit); err != nil {
		if errors.Is(err, ErrTokenUsed) {
			p.revoke(ctx, g, c, "sso.oidc.refresh_reused")
			return nil, invalid
		}
		return nil, err
	}
	return p.tokenResponse(ctx, c, g, scopes, next, "", now)
}

// errPersonGone marks checkPerson's refusal of a person who may no longer
// have tokens.
var errPersonGone = &oauth.Error{Status: http.StatusBadRequest, Code: errInvalidGrant,
	Description: "the person may no longer use this application"}

// checkPerson checks that the grant's person still exists, is active and
// may use the application.
func (p *Provider) checkPerson(ctx context.Context, g *Grant) error {
	u, err := p.opt.Users.User(ctx, g.UserID, directory.ReadOptions{})
	if isNotFound(err) {
		return errPersonGone
	}
	if err != nil {
		return err
	}
	if !u.Active {
		return errPersonGone
	}
	ok, _, err := p.opt.Sessions.Allowed(ctx, g.UserID, g.ClientID)
	if err != nil {
		return err
	}
	if !ok {
		return errPersonGone
	}
	return nil
}

// revoke revokes a grant's family, with its audit record; failures are
// logged (the request is refused anyway).
func (p *Provider) revoke(ctx context.Context, g *Grant, c *client, action string) {
	e := &directory.AuditEntry{
		Time: p.now(), Actor: directory.Actor{Kind: "app", AppID: c.app.ID, AppName: c.app.Name},
		Action: action, ResourceType: "User", ResourceID: g.UserID,
		After: mustJSON(map[string]any{"client": c.app.ID, "grant": g.ID}),
	}
	if err := p.opt.Store.RevokeGrant(ctx, g.ID, p.now(), e); err != nil {
		p.log.ErrorContext(ctx, "oidc: revoke grant", "grant", g.ID, "err", err)
		return
	}
	p.log.WarnContext(ctx, "oidc grant revoked", "reason", action, "client_id", c.app.ID, "grant", g.ID)
}

func (p *Provider) audit(req *oauth.GrantRequest, c *client, g *Grant, action string, scopes []string) *directory.AuditEntry {
	return &directory.AuditEntry{
		Time: p.now(), Actor: directory.Actor{Kind: "app", AppID: c.app.ID, AppName: c.app.Name},
		Action: action, ResourceType: "User", ResourceID: g.UserID,
		After: mustJSON(map[string]any{"client": c.app.ID, "grant": g.ID, "scopes": scopes, "acr": g.ACR, "amr": g.AMR, "offline": g.Offline}),
	}
}

// accessClaims are an access token's claims (RFC 9068 §2.2).
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	ID       string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	AuthTime int64    `json:"auth_time"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	// GrantID names the grant, so that a revoked grant's access tokens
	// stop working at the UserInfo endpoint.
	GrantID string `json:"gid"`
}

// tokenResponse mints the access token and the ID token.
func (p *Provider) tokenResponse(ctx context.Context, c *client, g *Grant, scopes []string, refresh, nonce string, now time.Time) (map[string]any, error) {
	ttl := c.set.AccessTTL()
	at := accessClaims{
		Issuer: p.issuer(), Subject: g.UserID, Audience: []string{c.app.ID}, IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(),
		ID: newSecret()[:22], ClientID: c.app.ID, Scope: strings.Join(scopes, " "), AuthTime: g.AuthTime.Unix(), ACR: g.ACR, AMR: g.AMR,
		GrantID: g.ID,
	}
	access, err := p.opt.Keys.SignJWT(ctx, auth.AlgES256, "at+jwt", at)
	if err != nil {
		return nil, err
	}
	idt, err := p.idToken(ctx, c, g, scopes, nonce, access, now)
	if err != nil {
		return nil, err
	}
	body := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int64(ttl / time.Second),
		"id_token":     idt,
		"scope":        strings.Join(scopes, " "),
	}
	if refresh != "" {
		body["refresh_token"] = refresh
	}
	return body, nil
}

// idToken mints an ID token (OIDC Core §2), with the person's claims of
// the granted scopes.
func (p *Provider) idToken(ctx context.Context, c *client, g *Grant, scopes []string, nonce, access string, now time.Time) (string, error) {
	claims, err := p.userClaims(ctx, c, g.UserID, scopes)
	if err != nil {
		return "", err
	}
	claims["iss"] = p.issuer()
	claims["sub"] = g.UserID
	claims["aud"] = []string{c.app.ID}
	claims["azp"] = c.app.ID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(c.set.IDTTL()).Unix()
	claims["auth_time"] = g.AuthTime.Unix()
	claims["acr"] = g.ACR
	claims["amr"] = g.AMR
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if access != "" {
		// at_hash (OIDC Core §3.1.3.6): the left half of the SHA-256 of
		// the access token (SHA-256 is the hash of both RS256 and ES256).
		sum := sha256.Sum256([]byte(access))
		claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
	}
	return p.opt.Keys.SignJWT(ctx, c.set.IDTokenSignedResponseAlg, "JWT", claims)
}

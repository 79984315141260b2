// Package oauth serves the OAuth 2.0 client-credentials grant (RFC 6749
// §4.4): the token endpoint in two shapes — RAM's (POST /v1/token, the
// parameters in the query string, expires_in as a string and a request_id)
// and the RFC's (POST /oauth2/token, a form body) — the signing keys as a
// JWK Set (RFC 7517) and the authorization server metadata (RFC 8414).
package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// Issuer issues access tokens and publishes their keys.
type Issuer interface {
	Issue(ctx context.Context, clientID, secret, client string, requested auth.Scopes) (*auth.Issued, error)
	JWKS(ctx context.Context) (*jose.JSONWebKeySet, error)
	// Issuer is the "iss" of the access tokens: the metadata's issuer,
	// and the base of its endpoints' URLs.
	Issuer() string
}

// Config configures the endpoints.
type Config struct {
	// ClientAddr returns the address a request comes from.
	ClientAddr func(*http.Request) string
	// StrictRAM makes /v1/token as strict as RAM's (the RAM stand-in,
	// serve --profile ram): grant_type and client_id must be in the query
	// string, and nothing may come in a body. Otherwise the endpoint also
	// takes a request whose shell cut the URL at '&' (the client named by
	// its Basic credentials) and form parameters.
	StrictRAM bool
	// Grants serves grant types other than client_credentials at
	// /oauth2/token (the OpenID Connect provider's authorization_code and
	// refresh_token), by grant_type. RAM's /v1/token serves none of them.
	Grants map[string]Grant
	// Metadata, if set, adds members to the RFC 8414 metadata (the OpenID
	// Connect provider's endpoints), replacing those of the same name.
	Metadata func() map[string]any
	// Unavailable reports whether an error means that the database cannot
	// be used for now: answered 503 with Retry-After (RetryAfter), in the
	// endpoint's format, rather than 500.
	Unavailable func(error) bool
}

// RetryAfter is the Retry-After of a 503 for an unavailable database
// (seconds).
const RetryAfter = "5"

// unavailable reports whether err means that the database cannot be used
// for now (Config.Unavailable).
func (h *Handler) unavailable(err error) bool {
	return h.cfg.Unavailable != nil && h.cfg.Unavailable(err)
}

// errUnavailable is the answer while the database cannot be used: the
// error code RFC 6749 (section 4.1.2.1) gives a server that is
// temporarily unable to handle the request.
func errUnavailable() *tokenError {
	return &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		desc: "the database is unavailable; retry later", header: http.Header{"Retry-After": {RetryAfter}}}
}

// Grant serves one grant type at the token endpoint: it authenticates the
// client (the credentials are in req, not yet checked) and returns the
// token response's members, or an error — an *Error for the client, an
// *auth.ThrottledError, or any other error for a 500.
type Grant func(ctx context.Context, req *GrantRequest) (map[string]any, error)

// GrantRequest is a token request, its parameters read (each once) and its
// client credentials taken from HTTP Basic or the form.
type GrantRequest struct {
	GrantType string
	Params    map[string]string
	// ClientID and Secret are the client's credentials ("" when absent);
	// Basic tells whether they came in the Authorization header.
	ClientID, Secret string
	Basic            bool
	// ClientAddr is the caller's address, for throttling.
	ClientAddr string
}

// Error is an error response of the token endpoint (RFC 6749 §5.2).
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// Handler serves the OAuth endpoints.
type Handler struct {
	iss Issuer
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// Paths served.
const (
	RAMTokenPath = "/v1/token"
	TokenPath    = "/oauth2/token"
	JWKSPath     = "/oauth2/jwks"
	WellKnownJWK = "/.well-known/jwks.json"
	MetadataPath = "/.well-known/oauth-authorization-server"
)

// New returns the handler.
func New(iss Issuer, cfg Config, log *slog.Logger) *Handler {
	h := &Handler{iss: iss, cfg: cfg, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc(RAMTokenPath, func(w http.ResponseWriter, r *http.Request) { h.token(w, r, true) })
	h.mux.HandleFunc(TokenPath, func(w http.ResponseWriter, r *http.Request) { h.token(w, r, false) })
	h.mux.HandleFunc("GET "+JWKSPath, h.jwks)
	h.mux.HandleFunc("GET "+WellKnownJWK, h.jwks)
	h.mux.HandleFunc("GET "+MetadataPath, h.metadata)
	return h
}

// AddGrants makes /oauth2/token serve more grant types and adds members
// to the metadata (Config.Grants, Config.Metadata). Call it before
// serving.
func (h *Handler) AddGrants(grants map[string]Grant, metadata func() map[string]any) {
	if h.cfg.Grants == nil {
		h.cfg.Grants = map[string]Grant{}
	}
	for k, g := range grants {
		h.cfg.Grants[k] = g
	}
	if metadata != nil {
		h.cfg.Metadata = metadata
	}
}

// Patterns lists the paths to route to the handler.
func Patterns() []string {
	return []string{RAMTokenPath, TokenPath, JWKSPath, WellKnownJWK, MetadataPath}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// tokenError is an error response of the token endpoint (RFC 6749 §5.2).
type tokenError struct {
	status int
	code   string
	desc   string
	header http.Header
}

func errRequest(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

func errClient(desc string) *tokenError {
	// RFC 6749 §5.2: 401 with a challenge for the scheme the client used.
	return &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc,
		header: http.Header{"Www-Authenticate": {`Basic realm="gatehouse", charset="UTF-8"`}}}
}

// params are the token request's parameters, each at most once.
type params map[string]string

// collect adds vals to p, refusing repeated parameters (RFC 6749 §3.2).
// Parameters sent without a value count as absent.
func (p params) collect(vals url.Values) *tokenError {
	for k, vs := range vals {
		if len(vs) > 1 {
			return errRequest("parameter " + k + " is repeated")
		}
		if vs[0] == "" {
			continue
		}
		if _, dup := p[k]; dup {
			return errRequest("parameter " + k + " is repeated")
		}
		p[k] = vs[0]
	}
	return nil
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request, ram bool) {
	requestID := logging.RequestID(r.Context())
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.writeError(w, r, &tokenError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "the token endpoint takes POST"}, requestID)
		return
	}
	p := params{}
	if ram {
		// RAM's clients put the parameters in the query string.
		if te := p.collect(r.URL.Query()); te != nil {
			h.writeError(w, r, te, requestID)
			return
		}
		if _, ok := p["client_secret"]; ok {
			h.writeError(w, r, errRequest("client_secret must not be sent in the URL; use HTTP Basic authentication"), requestID)
			return
		}
		if h.cfg.StrictRAM {
			if te := strictRAM(r, p); te != nil {
				h.writeError(w, r, te, requestID)
				return
			}
		}
	} else if len(r.URL.RawQuery) > 0 && r.URL.Query().Has("client_secret") {
		h.writeError(w, r, errRequest("client_secret must not be sent in the URL"), requestID)
		return
	}
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		form, te := readForm(w, r)
		if te != nil {
			h.writeError(w, r, te, requestID)
			return
		}
		if te := p.collect(form); te != nil {
			h.writeError(w, r, te, requestID)
			return
		}
	}
	// Client authentication: HTTP Basic (client_secret_basic) or the
	// client_secret parameter (client_secret_post), not both.
	clientID, secret := p["client_id"], p["client_secret"]
	if len(r.Header.Values("Authorization")) > 1 {
		h.writeError(w, r, errRequest("send the Authorization header once"), requestID)
		return
	}
	if hdr := r.Header.Get("Authorization"); hdr != "" {
		id, sec, te := basic(hdr)
		if te != nil {
			h.writeError(w, r, te, requestID)
			return
		}
		if secret != "" {
			h.writeError(w, r, errRequest("use one client authentication method: HTTP Basic or client_secret, not both"), requestID)
			return
		}
		if clientID != "" && clientID != id {
			h.writeError(w, r, errClient("client_id does not match the authenticated client"), requestID)
			return
		}
		clientID, secret = id, sec
	}
	switch gt := p["grant_type"]; {
	case gt == "":
		h.writeError(w, r, errRequest("grant_type is required"), requestID)
		return
	case !ram && h.cfg.Grants[gt] != nil:
		h.grant(w, r, h.cfg.Grants[gt], &GrantRequest{GrantType: gt, Params: p, ClientID: clientID, Secret: secret,
			Basic: r.Header.Get("Authorization") != "", ClientAddr: h.clientAddr(r)}, requestID)
		return
	case gt != "client_credentials":
		desc := "only the client_credentials grant is supported here"
		if !ram && len(h.cfg.Grants) > 0 {
			desc = "supported grants: " + strings.Join(append([]string{"client_credentials"}, slices.Sorted(maps.Keys(h.cfg.Grants))...), ", ")
		}
		h.writeError(w, r, &tokenError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: desc}, requestID)
		return
	}
	if clientID == "" || secret == "" {
		h.writeError(w, r, errClient("client authentication is required (HTTP Basic with client_id and secret)"), requestID)
		return
	}
	var requested auth.Scopes
	if sc := p["scope"]; sc != "" {
		parsed, err := auth.ParseScopes(sc)
		if err != nil {
			h.writeError(w, r, &tokenError{status: http.StatusBadRequest, code: "invalid_scope", desc: "unknown scope in " + strconv.Quote(sc)}, requestID)
			return
		}
		requested = parsed
	}
	client := h.clientAddr(r)
	iss, err := h.iss.Issue(r.Context(), clientID, secret, client, requested)
	if err != nil {
		var te *auth.ThrottledError
		switch {
		case errors.As(err, &te):
			secs := int(math.Ceil(te.RetryAfter.Seconds()))
			h.writeError(w, r, &tokenError{status: http.StatusTooManyRequests, code: "slow_down",
				desc:   "too many failed attempts; retry later",
				header: http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}}}, requestID)
		case errors.Is(err, auth.ErrInvalidClient):
			h.writeError(w, r, errClient("client authentication failed"), requestID)
		case errors.Is(err, auth.ErrUnauthorizedClient):
			h.writeError(w, r, &tokenError{status: http.StatusBadRequest, code: "unauthorized_client",
				desc: "this application signs people in (authorization_code); it may not use the client_credentials grant"}, requestID)
		case errors.Is(err, auth.ErrInvalidScope):
			h.writeError(w, r, &tokenError{status: http.StatusBadRequest, code: "invalid_scope",
				desc: "the requested scope exceeds the application's scopes"}, requestID)
		case h.unavailable(err):
			h.log.ErrorContext(r.Context(), "issue access token", "err", err)
			h.writeError(w, r, errUnavailable(), requestID)
		default:
			h.log.ErrorContext(r.Context(), "issue access token", "err", err)
			h.writeError(w, r, &tokenError{status: http.StatusInternalServerError, code: "server_error",
				desc: "internal error (request id " + requestID + ")"}, requestID)
		}
		return
	}
	logging.SetCaller(r.Context(), clientID)
	secs := int64(iss.ExpiresIn.Seconds())
	body := map[string]any{
		"access_token": iss.AccessToken,
		"token_type":   "Bearer",
		"scope":        iss.Scopes.String(),
	}
	if ram {
		// RAM's shape: expires_in as a string, and the request id. RAM
		// answers "3599" for its hour: the whole seconds the token is sure
		// to last (its exp claim is in whole seconds, so it lives between
		// lifetime-1 s and lifetime).
		body["expires_in"] = strconv.FormatInt(max(secs-1, 1), 10)
		body["request_id"] = requestID
	} else {
		body["expires_in"] = secs
	}
	writeJSON(w, http.StatusOK, body, true)
}

// grant runs a grant type served by another package and writes its
// answer.
func (h *Handler) grant(w http.ResponseWriter, r *http.Request, g Grant, req *GrantRequest, requestID string) {
	body, err := g(r.Context(), req)
	if err != nil {
		var oe *Error
		var te *auth.ThrottledError
		switch {
		case errors.As(err, &oe):
			tErr := &tokenError{status: oe.Status, code: oe.Code, desc: oe.Description}
			if oe.Status == http.StatusUnauthorized {
				tErr.header = http.Header{"Www-Authenticate": {`Basic realm="gatehouse", charset="UTF-8"`}}
			}
			h.writeError(w, r, tErr, requestID)
		case errors.As(err, &te):
			secs := int(math.Ceil(te.RetryAfter.Seconds()))
			h.writeError(w, r, &tokenError{status: http.StatusTooManyRequests, code: "slow_down",
				desc:   "too many failed attempts; retry later",
				header: http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}}}, requestID)
		default:
			h.log.ErrorContext(r.Context(), "token request", "grant_type", req.GrantType, "err", err)
			h.writeError(w, r, &tokenError{status: http.StatusInternalServerError, code: "server_error",
				desc: "internal error (request id " + requestID + ")"}, requestID)
		}
		return
	}
	logging.SetCaller(r.Context(), req.ClientID)
	writeJSON(w, http.StatusOK, body, true)
}

// strictRAM checks a request to RAM's token endpoint as RAM does: the
// grant type and the client id in the query string (ram-scim-oauth.txt),
// no body.
func strictRAM(r *http.Request, p params) *tokenError {
	if r.ContentLength != 0 {
		return errRequest("RAM's token endpoint takes its parameters in the query string, not in a body")
	}
	for _, k := range []string{"grant_type", "client_id"} {
		if p[k] == "" {
			return errRequest(k + " is required in the query string (POST /v1/token?grant_type=client_credentials&client_id=…)")
		}
	}
	return nil
}

// readForm reads an application/x-www-form-urlencoded body (at most 64
// KiB).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *tokenError) {
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		if r.ContentLength == 0 && ct != "" {
			return nil, nil // an empty body labelled anything: nothing to read
		}
		return nil, errRequest("the request body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, errRequest("the request body is not a valid form")
	}
	return r.PostForm, nil
}

// basic reads HTTP Basic credentials; client_id and secret are
// form-urlencoded first (RFC 6749 §2.3.1).
func basic(hdr string) (id, secret string, te *tokenError) {
	scheme, rest, ok := strings.Cut(hdr, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", errClient("the token endpoint authenticates clients with HTTP Basic")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", errClient("malformed Basic credentials")
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errClient("malformed Basic credentials")
	}
	if id, err = url.QueryUnescape(u); err != nil {
		return "", "", errClient("malformed Basic credentials")
	}
	if secret, err = url.QueryUnescape(p); err != nil {
		return "", "", errClient("malformed Basic credentials")
	}
	return id, secret, nil
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, te *tokenError, requestID string) {
	for k, v := range te.header {
		w.Header()[k] = v
	}
	logging.SetFailure(r.Context(), strconv.Itoa(te.status)+" "+te.code)
	body := map[string]any{"error": te.code, "error_description": te.desc}
	if strings.HasPrefix(r.URL.Path, RAMTokenPath) {
		body["request_id"] = requestID
	}
	writeJSON(w, te.status, body, true)
}

func writeJSON(w http.ResponseWriter, status int, v any, noStore bool) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if noStore {
		// RFC 6749 §5.1: responses with tokens must not be cached.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *Handler) clientAddr(r *http.Request) string {
	if h.cfg.ClientAddr != nil {
		return h.cfg.ClientAddr(r)
	}
	return r.RemoteAddr
}

func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := h.iss.JWKS(r.Context())
	if err != nil {
		h.log.ErrorContext(r.Context(), "publish signing keys", "err", err)
		if h.unavailable(err) {
			h.writeError(w, r, errUnavailable(), logging.RequestID(r.Context()))
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	b, err := json.Marshal(set)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// A new key signs as soon as it is made: verifiers that cache the set
	// must fetch it again when they meet an unknown kid, and the cache is
	// kept short for those that do not.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

// metadata serves RFC 8414 authorization server metadata. The issuer is
// the one the access tokens name, never taken from the request (a Host
// header cannot change it); the endpoints are under it.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	issuer := h.iss.Issuer()
	base := strings.TrimSuffix(issuer, "/")
	scopes := auth.KnownScopes()
	md := map[string]any{
		"issuer":                                issuer,
		"token_endpoint":                        base + TokenPath,
		"jwks_uri":                              base + JWKSPath,
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      scopes,
		"response_types_supported":              []string{},
	}
	if h.cfg.Metadata != nil {
		for k, v := range h.cfg.Metadata() {
			md[k] = v
		}
	}
	writeJSON(w, http.StatusOK, md, false)
}

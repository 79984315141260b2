package oidc

import (
	"errors"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is an OAuth 2.0 / OpenID Connect error: its code (RFC 6749 §4.1.2.1,
// §5.2; OIDC Core §3.1.2.6) and a description for the developer.
type Error struct {
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func errorf(code, desc string) *Error { return &Error{Code: code, Description: desc} }

// Error codes.
const (
	errInvalidRequest          = "invalid_request"
	errUnauthorizedClient      = "unauthorized_client"
	errAccessDenied            = "access_denied"
	errUnsupportedResponseType = "unsupported_response_type"
	errInvalidScope            = "invalid_scope"
	errServerError             = "server_error"
	errLoginRequired           = "login_required"
	errInteractionRequired     = "interaction_required"
	errRequestNotSupported     = "request_not_supported"
	errRequestURINotSupported  = "request_uri_not_supported"
	errRegistrationUnsupported = "registration_not_supported"
	errInvalidClient           = "invalid_client"
	errInvalidGrant            = "invalid_grant"
	errUnsupportedGrantType    = "unsupported_grant_type"
	errInvalidToken            = "invalid_token"
)

// Limits of the authorization request.
const (
	maxParamLength = 2048 // any one parameter
	maxStateLength = 1024
	maxNonceLength = 512
	maxQueryLength = 16 << 10
)

// Authorize is a parsed authorization request (OIDC Core §3.1.2.1, RFC
// 7636). Parse checks its form; the provider checks it against the client.
type Authorize struct {
	ClientID            string   `json:"client_id"`
	RedirectURI         string   `json:"redirect_uri"`
	ResponseType        string   `json:"response_type"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	Scopes              []string `json:"scope"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	// Prompt holds none, login, consent and select_account, each at most
	// once; none alone.
	Prompt []string `json:"prompt,omitempty"`
	// MaxAge is max_age in seconds; -1 when absent.
	MaxAge    int64    `json:"max_age"`
	ACRValues []string `json:"acr_values,omitempty"`
	LoginHint string   `json:"login_hint,omitempty"`
	// IDTokenHint is kept only to be checked; UILocales are kept for the
	// login page.
	IDTokenHint string   `json:"id_token_hint,omitempty"`
	UILocales   []string `json:"ui_locales,omitempty"`
}

// HasPrompt reports whether the request's prompt includes p.
func (a *Authorize) HasPrompt(p string) bool { return slices.Contains(a.Prompt, p) }

// HasScope reports whether the request asks for scope.
func (a *Authorize) HasScope(s string) bool { return slices.Contains(a.Scopes, s) }

// ParseAuthorize reads an authorization request's parameters. It returns
// the request as far as it could read it and, when the request is
// malformed, an error. The error reaches the client's redirect_uri only
// if client_id and redirect_uri (both read here when they are
// well-formed) check out against the registration: the caller decides.
//
// Every parameter may appear once (RFC 6749 §3.1); an empty value counts
// as absent. Values are UTF-8 without control characters and at most 2
// KiB; state at most 1 KiB, nonce 512 bytes.
func ParseAuthorize(q url.Values) (*Authorize, *Error) {
	a := &Authorize{MaxAge: -1}
	get := func(name string) string {
		if vs := q[name]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	// client_id and redirect_uri first, so that the caller can tell
	// where an error may be sent.
	for _, name := range []string{"client_id", "redirect_uri"} {
		if len(q[name]) > 1 {
			return a, errorf(errInvalidRequest, name+" is repeated")
		}
		if v := get(name); !clean(v) {
			return a, errorf(errInvalidRequest, name+" is malformed")
		}
	}
	a.ClientID, a.RedirectURI = get("client_id"), get("redirect_uri")
	// The state too, so that errors sent to the client carry it.
	if vs := q["state"]; len(vs) == 1 && clean(vs[0]) && len(vs[0]) <= maxStateLength {
		a.State = vs[0]
	}
	for name, vs := range q {
		if len(vs) > 1 {
			return a, errorf(errInvalidRequest, "parameter "+name+" is repeated")
		}
		if !clean(vs[0]) {
			return a, errorf(errInvalidRequest, "parameter "+name+" is malformed (control characters, invalid UTF-8 or longer than 2048 bytes)")
		}
	}
	if a.ClientID == "" {
		return a, errorf(errInvalidRequest, "client_id is required")
	}
	if get("request") != "" {
		return a, errorf(errRequestNotSupported, "request objects are not supported")
	}
	if get("request_uri") != "" {
		return a, errorf(errRequestURINotSupported, "request_uri is not supported")
	}
	if get("registration") != "" {
		return a, errorf(errRegistrationUnsupported, "the registration parameter is not supported")
	}
	a.ResponseType = get("response_type")
	a.ResponseMode = get("response_mode")
	a.State = get("state")
	a.Nonce = get("nonce")
	a.CodeChallenge = get("code_challenge")
	a.CodeChallengeMethod = get("code_challenge_method")
	a.LoginHint = get("login_hint")
	a.IDTokenHint = get("id_token_hint")
	a.Scopes = dedupeFields(get("scope"))
	a.Prompt = strings.Fields(get("prompt"))
	a.ACRValues = dedupeFields(get("acr_values"))
	a.UILocales = dedupeFields(get("ui_locales"))
	switch {
	case len(a.State) > maxStateLength:
		return a, errorf(errInvalidRequest, "state is longer than 1024 bytes")
	case len(a.Nonce) > maxNonceLength:
		return a, errorf(errInvalidRequest, "nonce is longer than 512 bytes")
	case a.ResponseType == "":
		return a, errorf(errInvalidRequest, "response_type is required")
	case a.ResponseType != "code":
		return a, errorf(errUnsupportedResponseType, "only the authorization code flow (response_type=code) is supported")
	case a.ResponseMode != "" && a.ResponseMode != "query":
		return a, errorf(errInvalidRequest, "only response_mode=query is supported")
	case !a.HasScope(ScopeOpenID):
		return a, errorf(errInvalidScope, "the openid scope is required: this is an OpenID Connect provider")
	}
	if a.CodeChallenge != "" || a.CodeChallengeMethod != "" {
		switch a.CodeChallengeMethod {
		case "S256":
		case "", "plain":
			// RFC 7636 §4.3 defaults to plain; plain protects nothing a
			// network observer of the request cannot read.
			return a, errorf(errInvalidRequest, "code_challenge_method must be S256 (plain is not allowed)")
		default:
			return a, errorf(errInvalidRequest, "code_challenge_method must be S256")
		}
		if !pkceValue(a.CodeChallenge) || len(a.CodeChallenge) != 43 {
			return a, errorf(errInvalidRequest, "code_challenge must be the 43-character base64url SHA-256 of the code verifier")
		}
	}
	for _, p := range a.Prompt {
		switch p {
		case "none", "login", "consent", "select_account":
		default:
			return a, errorf(errInvalidRequest, "unknown prompt value "+strconv.Quote(p))
		}
	}
	if len(a.Prompt) != len(dedupe(a.Prompt)) {
		return a, errorf(errInvalidRequest, "a prompt value is repeated")
	}
	if a.HasPrompt("none") && len(a.Prompt) > 1 {
		return a, errorf(errInvalidRequest, "prompt=none cannot be combined with other values")
	}
	if v := get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if errors.Is(err, strconv.ErrRange) && v[0] != '-' && v[0] != '+' {
			// A non-negative integer too large for 64 bits is still one
			// (OIDC Core §3.1.2.1): no practical limit, as the cap below.
			n, err = math.MaxInt64, nil
		}
		if err != nil || n < 0 || v[0] == '+' {
			return a, errorf(errInvalidRequest, "max_age must be a non-negative number of seconds")
		}
		a.MaxAge = min(n, 10*365*24*3600)
	}
	return a, nil
}

// clean reports whether a parameter value is UTF-8 without control
// characters and at most maxParamLength bytes.
func clean(v string) bool {
	if len(v) > maxParamLength || !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// pkceValue reports whether v uses only RFC 7636's unreserved characters.
func pkceValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func dedupeFields(s string) []string { return dedupe(strings.Fields(s)) }

func dedupe(in []string) []string {
	var out []string
	for _, x := range in {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Query renders the request back into parameters (for tests and the
// fuzz round trip).
func (a *Authorize) Query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("client_id", a.ClientID)
	set("redirect_uri", a.RedirectURI)
	set("response_type", a.ResponseType)
	set("response_mode", a.ResponseMode)
	set("scope", strings.Join(a.Scopes, " "))
	set("state", a.State)
	set("nonce", a.Nonce)
	set("code_challenge", a.CodeChallenge)
	set("code_challenge_method", a.CodeChallengeMethod)
	set("prompt", strings.Join(a.Prompt, " "))
	if a.MaxAge >= 0 {
		q.Set("max_age", strconv.FormatInt(a.MaxAge, 10))
	}
	set("acr_values", strings.Join(a.ACRValues, " "))
	set("login_hint", a.LoginHint)
	set("id_token_hint", a.IDTokenHint)
	set("ui_locales", strings.Join(a.UILocales, " "))
	return q
}

package scimclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

// Token request styles.
const (
	// TokenStyleRAM is Alibaba Cloud RAM's token request
	// (ram-scim-oauth.txt): POST {TokenURL}?grant_type=client_credentials&client_id=<id>
	// with no body and Authorization: Basic base64(client_id:secret), the
	// id and secret as they are.
	TokenStyleRAM = "ram"
	// TokenStyleRFC6749 is RFC 6749 §4.4: the parameters in a form body and
	// HTTP Basic with the form-urlencoded id and secret (§2.3.1).
	TokenStyleRFC6749 = "rfc6749"
)

// Auth is how the client authenticates to the SCIM server: a static bearer
// token (IDaaS, CloudSSO, GitBook), or an OAuth 2.0 client-credentials grant
// (RAM) whose access tokens the client obtains, caches and renews.
type Auth struct {
	// BearerToken is a static token.
	BearerToken string

	// TokenURL, ClientID and ClientSecret configure the client-credentials
	// grant (RAM: https://oauth.aliyun.com/v1/token).
	TokenURL     string
	ClientID     string
	ClientSecret string
	// TokenStyle is TokenStyleRAM (the default) or TokenStyleRFC6749.
	TokenStyle string
	// Scope is asked for when not empty (RAM: "/acs/scim").
	Scope string
}

func (a Auth) oauth() bool { return a.TokenURL != "" }

func (a Auth) validate() error {
	switch {
	case a.BearerToken != "" && a.oauth():
		return errors.New("scimclient: Auth: set BearerToken or TokenURL, not both")
	case a.BearerToken == "" && !a.oauth():
		return errors.New("scimclient: Auth: a BearerToken or a TokenURL with client credentials is required")
	case a.oauth() && (a.ClientID == "" || a.ClientSecret == ""):
		return errors.New("scimclient: Auth: ClientID and ClientSecret are required with TokenURL")
	}
	if a.oauth() {
		u, err := url.Parse(a.TokenURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("scimclient: Auth: TokenURL must be an absolute http(s) URL")
		}
	}
	switch a.TokenStyle {
	case "", TokenStyleRAM, TokenStyleRFC6749:
	default:
		return fmt.Errorf("scimclient: Auth: TokenStyle must be %q or %q", TokenStyleRAM, TokenStyleRFC6749)
	}
	return nil
}

// tokenSource hands out the bearer token for requests. For the OAuth grant
// it caches the access token, renews it once 80 % of its life has passed,
// and makes concurrent callers share one token request.
type tokenSource struct {
	auth    Auth
	httpc   *http.Client
	timeout time.Duration
	now     func() time.Time
	ua      string

	mu      sync.Mutex
	token   string
	renewAt time.Time // zero: no known expiry, keep until a 401
	flight  *tokenFlight
}

// tokenFlight is one token request that several callers wait for.
type tokenFlight struct {
	done  chan struct{}
	token string
	err   error
}

// get returns a valid token, fetching one when there is none or it is due
// for renewal.
func (ts *tokenSource) get(ctx context.Context) (string, error) {
	if !ts.auth.oauth() {
		return ts.auth.BearerToken, nil
	}
	ts.mu.Lock()
	if ts.token != "" && (ts.renewAt.IsZero() || ts.now().Before(ts.renewAt)) {
		tok := ts.token
		ts.mu.Unlock()
		return tok, nil
	}
	f := ts.flight
	if f == nil {
		f = &tokenFlight{done: make(chan struct{})}
		ts.flight = f
		// The request runs detached from this caller's context so that
		// one caller giving up does not fail the others waiting for it;
		// it is bounded by the timeout instead.
		go ts.fetch(context.WithoutCancel(ctx), f)
	}
	ts.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// invalidate forgets tok after the server refused it (401), unless another
// caller has already replaced it.
func (ts *tokenSource) invalidate(tok string) bool {
	if !ts.auth.oauth() {
		return false
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == tok {
		ts.token = ""
	}
	return true
}

func (ts *tokenSource) fetch(ctx context.Context, f *tokenFlight) {
	ctx, cancel := context.WithTimeout(ctx, ts.timeout)
	defer cancel()
	start := ts.now()
	tok, life, err := ts.request(ctx)
	ts.mu.Lock()
	if err == nil {
		ts.token = tok
		ts.renewAt = time.Time{}
		if life > 0 {
			ts.renewAt = start.Add(life * 4 / 5)
		}
	}
	ts.flight = nil
	ts.mu.Unlock()
	f.token, f.err = tok, err
	close(f.done)
}

// tokenResponse is the token endpoint's answer. expires_in is a number in
// RFC 6749 and a string ("3599") at RAM: both are read.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// request asks the token endpoint for an access token.
func (ts *tokenSource) request(ctx context.Context) (string, time.Duration, error) {
	a := ts.auth
	u, err := url.Parse(a.TokenURL)
	if err != nil {
		return "", 0, errors.New("scimclient: invalid TokenURL")
	}
	var body io.Reader
	var user, pass string
	req := url.Values{"grant_type": {"client_credentials"}}
	if a.Scope != "" {
		req.Set("scope", a.Scope)
	}
	if a.TokenStyle == TokenStyleRFC6749 {
		body = strings.NewReader(req.Encode())
		user, pass = url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret)
	} else {
		q := u.Query()
		for k, v := range req {
			q[k] = v
		}
		q.Set("client_id", a.ClientID)
		u.RawQuery = q.Encode()
		user, pass = a.ClientID, a.ClientSecret
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return "", 0, errors.New("scimclient: invalid TokenURL")
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	hr.Header.Set("Authorization", "Basic "+basic)
	hr.Header.Set("Accept", "application/json")
	if ts.ua != "" {
		hr.Header.Set("User-Agent", ts.ua)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	path := u.Path
	resp, err := ts.httpc.Do(hr)
	if err != nil {
		e := transportError(err)
		e.Method, e.Path = http.MethodPost, path
		return "", 0, e
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, &Error{Method: http.MethodPost, Path: path, Retryable: true, Err: transportCause(err)}
	}
	if resp.StatusCode/100 != 2 {
		e := errorFromResponse(http.MethodPost, path, resp.StatusCode, resp.Header, raw, ts.now())
		e.token = true
		// Only the OAuth error fields are kept: the body of a token
		// endpoint is not shown as it is.
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &oe)
		e.ScimType, e.Detail = oe.Error, excerpt([]byte(oe.Description), 300)
		// Only a refusal of the client credentials (RFC 6749 §5.2: 400
		// or 401; 403 from servers that say so) means the target cannot
		// work until someone fixes them. Any other answer fails the
		// request as it would at the SCIM base URL: a redirect (not
		// followed, like every redirect of the client), a 404 … are
		// permanent failures of the delivery, 429 and 5xx are retried.
		switch {
		case resp.StatusCode/100 == 3:
			e.ScimType, e.Detail = "", fmt.Sprintf("the answer is a redirect (HTTP %d), which is not followed: set the token URL to the endpoint itself", resp.StatusCode)
		case credentialsRefused(resp.StatusCode):
			e.auth = true
			if e.Detail == "" {
				e.Detail = "the token endpoint refused the client credentials request"
			}
		case e.Detail == "":
			e.Detail = fmt.Sprintf("the token endpoint answered HTTP %d", resp.StatusCode)
		}
		e.Detail = "token endpoint: " + redact(e.Detail, a.ClientSecret, pass, basic)
		return "", 0, e
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil || tr.AccessToken == "" {
		return "", 0, &Error{Method: http.MethodPost, Path: path, Status: resp.StatusCode,
			Detail: "token endpoint: the answer has no access_token"}
	}
	if tt := tr.TokenType; tt != "" && !strings.EqualFold(tt, "bearer") {
		return "", 0, &Error{Method: http.MethodPost, Path: path, Status: resp.StatusCode,
			Detail: "token endpoint: unsupported token_type " + strconv.Quote(excerpt([]byte(tt), 40))}
	}
	return tr.AccessToken, parseExpiresIn(tr.ExpiresIn), nil
}

// credentialsRefused reports whether a token endpoint's status refuses
// the client's credentials (or its grant or scope): 400 and 401 are RFC
// 6749 §5.2's error statuses, 403 what some servers answer instead.
func credentialsRefused(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden
}

// parseExpiresIn reads expires_in as a number or a numeric string; 0 when
// absent or unreadable.
func parseExpiresIn(raw json.RawMessage) time.Duration {
	s := strings.TrimSpace(string(raw))
	s = strings.Trim(s, `"`)
	if s == "" || s == "null" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 10*365*24*3600 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// transportError is the Error of a request that got no answer: Retryable,
// unless the egress policy refused the connection (that fails the same way
// until the configuration changes).
func transportError(err error) *Error {
	return &Error{Retryable: !egress.IsRefusal(err), Err: transportCause(err)}
}

// transportCause strips the URL from a transport error: it may carry a
// filter with personal data or, at RAM's token endpoint, the client id.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact removes secrets from text a server sent.
func redact(s string, secrets ...string) string {
	for _, x := range secrets {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}

package app_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
)

// TestOAuthRFC9068: with no configuration (no base_url), the access
// tokens the running server issues pass a conforming resource server's
// validation (golang-jwt as RFC 9068 §4 has it: typ at+jwt, the issuer of
// the RFC 8414 metadata, the audience, the signature by a key of the
// metadata's jwks_uri, exp required). The issuer is the address the
// server listens on, whatever Host header a request carries. Gatehouse's
// own check of its tokens, on its SCIM API, refuses a token without exp
// and one whose typ is not at+jwt, even signed with its own key.
func TestOAuthRFC9068(t *testing.T) {
	r := start(t, nil)
	id, secret := newServerApp(t, r, "rs-test", "scim:users:read")

	// Metadata, also asked for under another Host.
	md := call(t, "GET", r.url+"/.well-known/oauth-authorization-server", "")
	issuer := md.str("issuer")
	if md.status != 200 || issuer != r.url || md.str("token_endpoint") != r.url+"/oauth2/token" || md.str("jwks_uri") != r.url+"/oauth2/jwks" {
		t.Fatalf("metadata: %d %s (listening on %s)", md.status, md.raw, r.url)
	}
	if res := callHost(t, "GET", r.url+"/.well-known/oauth-authorization-server", "evil.example", ""); res.str("issuer") != issuer || strings.Contains(string(res.raw), "evil") {
		t.Errorf("metadata under Host evil.example: %s", res.raw)
	}

	// A token, asked for under another Host.
	tok := callHost(t, "POST", r.url+"/oauth2/token", "evil.example", "grant_type=client_credentials",
		"Authorization", basicAuth(id, secret), "Content-Type", "application/x-www-form-urlencoded")
	access := tok.str("access_token")
	if tok.status != 200 || access == "" {
		t.Fatalf("token: %d %s", tok.status, tok.raw)
	}

	// The resource server: keys from jwks_uri, validation by golang-jwt.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(call(t, "GET", md.str("jwks_uri"), "").raw, &set); err != nil {
		t.Fatal(err)
	}
	validate := func(raw string) (*jwt.Token, error) {
		return jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(issuer), jwt.WithAudience("gatehouse"),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt()).
			Parse(raw, func(tk *jwt.Token) (any, error) {
				if typ, _ := tk.Header["typ"].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
					return nil, jwt.ErrTokenInvalidClaims
				}
				kid, _ := tk.Header["kid"].(string)
				keys := set.Key(kid)
				if len(keys) != 1 {
					return nil, jwt.ErrTokenUnverifiable
				}
				return keys[0].Key, nil
			})
	}
	if _, err := validate(access); err != nil {
		t.Errorf("a conforming resource server refuses the token: %v (claims %s)", err, jwtPart(t, access, 1))
	}
	var claims jwt.MapClaims
	if err := json.Unmarshal([]byte(jwtPart(t, access, 1)), &claims); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"} { // RFC 9068 §2.2
		if claims[k] == nil {
			t.Errorf("claim %s missing: %v", k, claims)
		}
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", bearer(access)...); res.status != 200 {
		t.Fatalf("the token on the SCIM API: %d %s", res.status, res.raw)
	}

	// Tokens signed with the server's own key, as Gatehouse issues them
	// but for one thing.
	// (The JWKS fetch above made the RS256 key of ID tokens too: take the
	// ES256 one, which signs access tokens.)
	keys, err := r.app.Auth.SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	keys = slices.DeleteFunc(keys, func(k *auth.SigningKey) bool { return k.Algorithm != auth.AlgES256 })
	if len(keys) == 0 {
		t.Fatal("no ES256 key")
	}
	block, _ := pem.Decode(keys[0].PrivatePEM)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(typ any, change func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		change(c)
		tk := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tk.Header["kid"] = keys[0].ID
		if typ == nil {
			delete(tk.Header, "typ")
		} else {
			tk.Header["typ"] = typ
		}
		s, err := tk.SignedString(k.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	keep := func(jwt.MapClaims) {}
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"as issued (the forging is sound)", sign("at+jwt", keep), 200},
		{"typ application/at+jwt", sign("application/at+jwt", keep), 200},
		{"no exp", sign("at+jwt", func(c jwt.MapClaims) { delete(c, "exp") }), 401},
		{"exp null", sign("at+jwt", func(c jwt.MapClaims) { c["exp"] = nil }), 401},
		{"typ JWT", sign("JWT", keep), 401},
		{"no typ", sign(nil, keep), 401},
		{"typ of an ID token", sign("id_token+jwt", keep), 401},
		{"typ not a string", sign(1, keep), 401},
		{"expired", sign("at+jwt", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 401},
		{"another issuer", sign("at+jwt", func(c jwt.MapClaims) { c["iss"] = "http://evil.example" }), 401},
		// Longer than the lifetime Gatehouse issues (an hour), or without
		// the iat it always sets.
		{"exp ten years ahead", sign("at+jwt", func(c jwt.MapClaims) { c["exp"] = time.Now().AddDate(10, 0, 0).Unix() }), 401},
		{"no iat", sign("at+jwt", func(c jwt.MapClaims) { delete(c, "iat") }), 401},
	} {
		res := call(t, "GET", r.url+"/scim/v2/Users", "", bearer(tc.token)...)
		if res.status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, res.status, res.raw, tc.want)
		}
		if tc.want == 401 && !strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, res.header.Get("WWW-Authenticate"))
		}
	}
}

// callHost is call with another Host header.
func callHost(t *testing.T, method, u, host, body string, hdr ...string) *reply {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// jwtPart decodes part i of a JWT (0: header, 1: claims).
func jwtPart(t *testing.T, tok string, i int) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "(not a JWT)"
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIssuer(t *testing.T) {
	tests := []struct {
		name, baseURL, listen string
		tls                   bool
		want                  string
	}{
		{"base_url", "https://gatehouse.example.com/", "127.0.0.1:8080", false, "https://gatehouse.example.com"},
		{"loopback", "", "127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"TLS", "", "127.0.0.1:8443", true, "https://127.0.0.1:8443"},
		{"a name", "", "gatehouse.internal:8080", false, "http://gatehouse.internal:8080"},
		{"IPv6", "", "[::1]:8080", false, "http://[::1]:8080"},
		{"no host", "", ":8080", false, "http://localhost:8080"},
		{"every IPv4 address", "", "0.0.0.0:8080", false, "http://localhost:8080"},
		{"every IPv6 address", "", "[::]:8080", false, "http://localhost:8080"},
	}
	for _, tt := range tests {
		cfg := config.Default()
		cfg.BaseURL = tt.baseURL
		if tt.tls {
			cfg.TLS.CertFile, cfg.TLS.KeyFile = "cert.pem", "key.pem"
		}
		if got := app.Issuer(cfg, tt.listen); got != tt.want {
			t.Errorf("%s: Issuer = %q, want %q", tt.name, got, tt.want)
		}
	}
}

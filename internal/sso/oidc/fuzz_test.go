package oidc

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseAuthorize: the authorization request parser never panics; what
// it accepts renders back (Query) to parameters it reads the same way;
// what it accepts holds only clean values within the limits.
func FuzzParseAuthorize(f *testing.F) {
	for _, seed := range []string{
		"client_id=c&redirect_uri=https%3A%2F%2Fa.example%2Fcb&response_type=code&scope=openid+profile&state=s&nonce=n",
		"client_id=c&redirect_uri=x&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
		"client_id=c&response_type=code&scope=openid&prompt=none&max_age=0&acr_values=urn%3Agatehouse%3Aacr%3A2fa",
		"client_id=c&response_type=token&scope=openid",
		"client_id=c&client_id=d",
		"client_id=c&response_type=code&scope=openid&code_challenge_method=plain&code_challenge=abc",
		"client_id=c&response_type=code&scope=openid&max_age=%2B5",
		"client_id=c&response_type=code&scope=openid&state=%00",
		"client_id=c&response_type=code&scope=openid&prompt=login+consent+login",
		"request=eyJ&client_id=c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		a, perr := ParseAuthorize(q)
		if a == nil {
			t.Fatal("nil request")
		}
		if perr != nil {
			if perr.Code == "" || perr.Description == "" {
				t.Fatalf("empty error %+v", perr)
			}
			return
		}
		for _, v := range []string{a.ClientID, a.RedirectURI, a.State, a.Nonce, a.LoginHint, a.IDTokenHint} {
			if !clean(v) {
				t.Fatalf("accepted an unclean value %q", v)
			}
		}
		if len(a.State) > maxStateLength || len(a.Nonce) > maxNonceLength || a.ResponseType != "code" || !a.HasScope(ScopeOpenID) {
			t.Fatalf("accepted %+v", a)
		}
		if a.CodeChallenge != "" && (a.CodeChallengeMethod != "S256" || len(a.CodeChallenge) != 43) {
			t.Fatalf("accepted challenge %q %q", a.CodeChallenge, a.CodeChallengeMethod)
		}
		b, perr := ParseAuthorize(a.Query())
		if perr != nil {
			t.Fatalf("re-parse of %v: %v", a.Query(), perr)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzRedirectURI: registration never accepts a URI with a fragment,
// user information, whitespace or a dangerous scheme, nor http to a host
// that is not loopback; matching is exact (a match is the same string).
func FuzzRedirectURI(f *testing.F) {
	for _, seed := range []string{
		"https://a.example/cb", "http://127.0.0.1:8080/cb", "http://localhost/cb", "http://[::1]/cb", "com.example.app:/cb",
		"https://a.example/cb#frag", "https://u:p@a.example/", "javascript:alert(1)", "http://evil.example/", "/relative",
		"https://a.example/cb?x=1", "HTTPS://A.EXAMPLE/cb", "https://a.example\\@evil.example/", "http://127.0.0.1.evil.example/",
		"https:///cb", "data:text/html,x",
	} {
		f.Add(seed, "https://a.example/cb")
	}
	f.Fuzz(func(t *testing.T, raw, presented string) {
		for _, public := range []bool{false, true} {
			if checkRedirectURI(raw, public) != nil {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil || !u.IsAbs() || strings.ContainsAny(raw, "# \t\r\n\\") || u.User != nil {
				t.Fatalf("accepted %q (public %v)", raw, public)
			}
			switch s := strings.ToLower(u.Scheme); s {
			case "https":
			case "http":
				if !loopback(u.Hostname()) {
					t.Fatalf("accepted http to %q", u.Hostname())
				}
			case "javascript", "data", "vbscript", "file", "blob", "about":
				t.Fatalf("accepted scheme %s", s)
			default:
				if !public {
					t.Fatalf("accepted %q for a confidential client", raw)
				}
			}
			if matchURI([]string{raw}, presented) != (raw == presented) {
				t.Fatalf("match(%q, %q) is not string equality", raw, presented)
			}
		}
	})
}

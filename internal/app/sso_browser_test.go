package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/demo"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

// TestBrowserSAMLRoundTrip: in Chromium, a person opens a SAML service
// provider's page (the GitBook stand-in, crewjam/saml's SP side); it sends
// her to Gatehouse with a signed AuthnRequest; she signs in with the
// keyboard; Gatehouse's auto-posting form (its one script allowed by hash
// under the CSP) takes the signed response to the SP's ACS, which checks
// it and shows her as signed in. Nothing is refused by the CSP.
func TestBrowserSAMLRoundTrip(t *testing.T) {
	r := start(t, devLogin)
	ctx0 := context.Background()
	r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering")
	g, err := demo.StartGitBookSP(ctx0, r.url+"/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	if _, err := g.Register(ctx0, r.app.Admin, "GitBook", []string{"engineering"}); err != nil {
		t.Fatal(err)
	}
	// The SP's ACS sends the browser to another origin, which sends it
	// back to the documentation (a custom domain in front of GitBook):
	// a form's redirects that leave the auto-posting page's form-action
	// are blocked by Chromium.
	var bounced atomic.Int32
	bounce := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		bounced.Add(1)
		http.Redirect(w, req, g.URL+"/docs", http.StatusFound)
	}))
	t.Cleanup(bounce.Close)
	g.Landing = bounce.URL + "/landing"
	ctx, messages := newChrome(t)
	b := tab{t, ctx}

	b.do(chromedp.Navigate(g.URL+"/docs"), visible("#username"))
	if !strings.HasPrefix(eval[string](b, `location.href`), r.url+"/login") {
		t.Fatalf("the SP did not send the browser to Gatehouse: %s", eval[string](b, `location.href`))
	}
	b.do(typeIn("#username", "ada@example.com"), typeIn("#password", "Correct-Horse-9\r"), visible("#who"))
	if got := b.text("#who"); got != "ada@example.com" {
		t.Errorf("the SP shows %q", got)
	}
	if bounced.Load() != 1 {
		t.Errorf("the ACS's redirect to another origin was followed %d times", bounced.Load())
	}
	if a := g.Accepted(); len(a) != 1 {
		t.Errorf("the SP accepted %d assertions: %+v", len(a), a)
	}
	if refused := g.Refused(); len(refused) > 0 {
		t.Errorf("the SP refused: %v", refused)
	}
	for _, m := range messages() {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("browser: %s", m)
		}
	}
}

// TestBrowserOIDCRoundTrip: in Chromium, a relying party (a plain HTTP
// server of the test's, on another loopback port) sends the browser to
// /oidc/authorize with code + PKCE; she signs in with the keyboard; the
// browser comes back to the RP's callback with a code and the RP's state,
// and the RP redeems the code (with its secret and the verifier) for an
// ID token naming her.
func TestBrowserOIDCRoundTrip(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		t.Run(host, func(t *testing.T) {
			ln, err := net.Listen("tcp", net.JoinHostPort(strings.Trim(host, "[]"), "0"))
			if err != nil {
				t.Skipf("no loopback %s: %v", host, err)
			}
			browserOIDCRoundTrip(t, ln)
		})
	}
}

func browserOIDCRoundTrip(t *testing.T, ln net.Listener) {
	r := start(t, devLogin)
	ctx0 := context.Background()
	op := directory.Actor{Kind: "cli"}
	r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering")
	groups, err := r.app.Directory.Groups(ctx0, directory.Profile{}, directory.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}

	verifier := "v-" + strings.Repeat("abcdefghij", 5)
	sum := sha256.Sum256([]byte(verifier))
	type result struct {
		status int
		body   string
	}
	results := make(chan result, 1)
	var clientID, secret string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>RP</title><p id="rp">%s</p>`, html.EscapeString(req.URL.Query().Get("status")))
	}))
	t.Cleanup(app.Close)
	rp := httptest.NewUnstartedServer(nil)
	rp.Listener.Close()
	rp.Listener = ln
	rp.Start()
	t.Cleanup(rp.Close)
	redirect := rp.URL + "/cb"
	rp.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/start":
			q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
				"scope": {"openid email"}, "state": {"st-42"}, "nonce": {"nn-42"},
				"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
			http.Redirect(w, req, r.url+oidc.AuthorizePath+"?"+q.Encode(), http.StatusFound)
		case "/cb":
			q := req.URL.Query()
			if q.Get("state") != "st-42" || q.Get("code") == "" {
				http.Error(w, "bad callback: "+req.URL.RawQuery, http.StatusBadRequest)
				return
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
			treq, _ := http.NewRequest("POST", r.url+"/oauth2/token", strings.NewReader(form.Encode()))
			treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			treq.SetBasicAuth(clientID, secret)
			res, err := http.DefaultClient.Do(treq)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			select {
			case results <- result{res.StatusCode, string(b)}:
			default:
			}
			// The client's own redirect after its callback, to another
			// origin (its application behind a separate sign-in host).
			http.Redirect(w, req, app.URL+"/home?status="+strconv.Itoa(res.StatusCode), http.StatusFound)
		default:
			http.NotFound(w, req)
		}
	})
	client, err := r.app.Auth.CreateApp(ctx0, op, auth.AppSpec{Name: "wiki", Kind: auth.KindOIDCClient,
		Access: auth.Access{AllowedGroups: []string{groups.Items[0].ID}},
		SSO:    json.RawMessage(`{"redirectUris":["` + redirect + `"],"scopes":["email"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	clientID = client.ID
	if _, secret, err = r.app.Auth.CreateSecret(ctx0, op, client.ID); err != nil {
		t.Fatal(err)
	}

	ctx, messages := newChrome(t)
	b := tab{t, ctx}
	b.do(chromedp.Navigate(rp.URL+"/start"), visible("#username"))
	if !strings.HasPrefix(eval[string](b, `location.href`), r.url+"/login") {
		t.Fatalf("the RP did not send the browser to Gatehouse's login: %s", eval[string](b, `location.href`))
	}
	b.do(typeIn("#username", "ada@example.com"), typeIn("#password", "Correct-Horse-9\r"), visible("#rp"))
	if got := b.text("#rp"); got != "200" {
		t.Errorf("the RP's token request answered %s", got)
	}
	select {
	case res := <-results:
		var tok struct {
			IDToken string `json:"id_token"`
		}
		if err := json.Unmarshal([]byte(res.body), &tok); err != nil || tok.IDToken == "" {
			t.Fatalf("token: %d %s", res.status, res.body)
		}
		parts := strings.Split(tok.IDToken, ".")
		if len(parts) != 3 {
			t.Fatalf("id_token: %q", tok.IDToken)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		if claims["email"] != "ada@example.com" || claims["nonce"] != "nn-42" || !audience(claims["aud"], clientID) || claims["iss"] != r.url {
			t.Errorf("ID token claims: %v", claims)
		}
	default:
		t.Fatal("the RP never redeemed a code")
	}
	for _, m := range messages() {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("browser: %s", m)
		}
	}
}

// audience reports whether an ID token's aud (a string or an array)
// names client.
func audience(aud any, client string) bool {
	switch a := aud.(type) {
	case string:
		return a == client
	case []any:
		return len(a) == 1 && a[0] == client
	}
	return false
}

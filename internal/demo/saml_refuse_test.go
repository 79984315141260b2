package demo

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
)

// TestGitBookRefuses: the GitBook stand-in believes only what its SAML
// library checked. The response the hub sent the new hire, posted again or
// altered, is refused: replayed (its RelayState's request is answered), a
// name changed (the signature), answering another request (InResponseTo),
// at a service provider of another entity id (Audience) or ACS URL
// (Destination, Recipient). Nobody is signed in by any of them.
func TestGitBookRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := Start(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	h := Hire{GivenName: "Grace", FamilyName: "Hopper", Email: "grace.hopper@example.com", Department: "Engineering"}
	id, _, err := env.Create(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	report, _, err := env.FirstSignIn(ctx, id, "Her-Own-Pass-42")
	if err != nil {
		t.Fatal(err)
	}
	g := env.GitBookSAML
	g.mu.Lock()
	original := g.lastPost
	g.mu.Unlock()
	raw, err := base64.StdEncoding.DecodeString(original)
	if err != nil || !strings.Contains(string(raw), h.Email) {
		t.Fatalf("the response posted: %v %.200s", err, raw)
	}
	altered := base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(string(raw), h.Email, "eve@example.com")))
	post := func(response, requestID string) int {
		t.Helper()
		state := ""
		if requestID != "" {
			state = randomHex()
			g.mu.Lock()
			g.pending[state] = requestID
			g.mu.Unlock()
		}
		form := url.Values{"SAMLResponse": {response}, "RelayState": {state}}
		resp, err := http.PostForm(g.URL+"/saml/acs", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	reqID := report.Assertion.InResponseTo
	// A service provider configured otherwise, in place of the stand-in's.
	sp := g.sp
	other := func(change func(cp *crewsaml.ServiceProvider)) func() {
		return func() {
			cp := *sp
			change(&cp)
			g.mu.Lock()
			g.sp = &cp
			g.mu.Unlock()
		}
	}
	for _, tc := range []struct {
		name, response, requestID string
		change                    func()
		want                      int
		why                       string
	}{
		{"replayed", original, "", nil, http.StatusBadRequest, "no sign-in was started"},
		{"name changed", altered, reqID, nil, http.StatusForbidden, "signature"},
		{"another request", original, "id-of-another-request", nil, http.StatusForbidden, "request ID"},
		{"another audience", original, reqID, other(func(cp *crewsaml.ServiceProvider) { cp.EntityID = "https://other.gitbook.example/saml/metadata" }), http.StatusForbidden, "Audience"},
		{"another ACS URL", original, reqID, other(func(cp *crewsaml.ServiceProvider) { cp.AcsURL = *cp.AcsURL.JoinPath("elsewhere") }), http.StatusForbidden, "Destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.change != nil {
				tc.change()
				defer func() { g.mu.Lock(); g.sp = sp; g.mu.Unlock() }()
			}
			before := len(g.Accepted())
			if got := post(tc.response, tc.requestID); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
			refused := g.Refused()
			if len(refused) == 0 || !strings.Contains(strings.ToLower(refused[len(refused)-1]), strings.ToLower(tc.why)) {
				t.Errorf("refused for %q, want it to mention %q", refused, tc.why)
			}
			if len(g.Accepted()) != before {
				t.Error("an assertion was accepted")
			}
		})
	}
}

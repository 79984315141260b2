package saml_test

import (
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

const (
	spEntity = "https://gitbook.example/saml/metadata"
	spACS    = "https://gitbook.example/saml/acs"
)

func attrs(a *crewsaml.Assertion) map[string][]string {
	out := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				out[at.Name] = append(out[at.Name], v.Value)
			}
		}
	}
	return out
}

// TestSPInitiatedRedirect: the GitBook preset over HTTP-Redirect; the
// response is checked by crewjam/saml's service provider.
func TestSPInitiatedRedirect(t *testing.T) {
	e := newEnv(t)
	s := settingsFor(spEntity, spACS)
	if err := s.ApplyPreset("gitbook"); err != nil {
		t.Fatal(err)
	}
	e.app("GitBook", s)
	alice := e.user("alice", "Alice.Liddell@Example.com", "Alice", "Liddell")
	sp := e.newSP(spEntity, spACS, false)
	b := e.browser()

	u, reqID := sp.redirectRequest(t, "docs/engineering", nil)
	a := b.get(u)
	sess := b.signIn(alice, 1, e.now())
	f := b.resume(a).form(t)
	if f.Action != spACS || f.RelayState != "docs/engineering" {
		t.Errorf("form posts to %q with RelayState %q, want %q and the RelayState sent", f.Action, f.RelayState, spACS)
	}
	as, err := sp.parse(f, reqID)
	if err != nil {
		t.Fatalf("the service provider refuses the response: %v", err)
	}
	if got := as.Subject.NameID; got.Value != "alice.liddell@example.com" || got.Format != string(crewsaml.EmailAddressNameIDFormat) {
		t.Errorf("NameID %q (%s), want the lower-case email in emailAddress format", got.Value, got.Format)
	}
	if diff := cmp.Diff(map[string][]string{"first_name": {"Alice"}, "last_name": {"Liddell"}}, attrs(as)); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	st := as.AuthnStatements[0]
	if st.AuthnContext.AuthnContextClassRef.Value != saml.ContextPassword || st.SessionIndex == "" ||
		!st.AuthnInstant.Equal(sess.AuthTime.Truncate(time.Millisecond)) && st.AuthnInstant.Sub(sess.AuthTime).Abs() > time.Millisecond {
		t.Errorf("AuthnStatement %+v", st)
	}
	sc := as.Subject.SubjectConfirmations[0].SubjectConfirmationData
	if sc.InResponseTo != reqID || sc.Recipient != spACS {
		t.Errorf("SubjectConfirmationData %+v", sc)
	}
	if as.Conditions.AudienceRestrictions[0].Audience.Value != spEntity {
		t.Errorf("audience %q", as.Conditions.AudienceRestrictions[0].Audience.Value)
	}
	// The page carries its CSP: its one script by hash, nothing else; no
	// form-action, which Chromium would apply to the ACS's own redirects
	// (TestBrowserSAMLRoundTrip).
	a2 := b.get(mustRedirect(t, sp, ""))
	if csp := a2.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; script-src 'sha256-") ||
		strings.Contains(csp, "form-action") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	// And X-Frame-Options, for browsers without frame-ancestors (outside
	// review: only the CSP said it).
	if xfo := a2.header.Get("X-Frame-Options"); xfo != "DENY" {
		t.Errorf("X-Frame-Options %q", xfo)
	}
}

func mustRedirect(t *testing.T, sp *testSP, relay string) string {
	u, _ := sp.redirectRequest(t, relay, nil)
	return u
}

// TestSPInitiatedPost: HTTP-POST binding, a session already there.
func TestSPInitiatedPost(t *testing.T) {
	e := newEnv(t)
	e.app("GitBook", settingsFor(spEntity, spACS))
	bob := e.user("bob", "bob@example.com", "Bob", "Builder")
	sp := e.newSP(spEntity, spACS, true)
	b := e.browser()
	b.signIn(bob, 2, e.now())
	req, err := sp.sp.MakeAuthenticationRequest(sp.sp.GetSSOBindingLocation(crewsaml.HTTPPostBinding), crewsaml.HTTPPostBinding, crewsaml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	// The POST binding is a cross-site POST: no SameSite=Lax cookie comes
	// with it, so Gatehouse keeps the request and sends the browser back to
	// itself with GET before it reads the session.
	a := b.post(e.srv.URL+"/saml/sso", formOf(t, req, "r1"))
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/saml/resume?h=") {
		t.Fatalf("POST binding: %d %s, want a redirect to /saml/resume", a.status, a.location)
	}
	f := b.get(e.srv.URL + a.location).form(t)
	as, err := sp.parse(f, req.ID)
	if err != nil {
		t.Fatalf("the service provider refuses the response: %v", err)
	}
	if got := as.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value; got != "https://refeds.org/profile/mfa" {
		t.Errorf("two factors: AuthnContextClassRef %q", got)
	}
	if f.RelayState != "r1" {
		t.Errorf("RelayState %q", f.RelayState)
	}
}

// TestRefusals: what must be refused with the error page, sending nothing
// to the service provider.
func TestRefusals(t *testing.T) {
	e := newEnv(t)
	signed := settingsFor(spEntity, spACS)
	signed.SignedRequests = true
	e.app("GitBook", signed)
	alice := e.user("alice", "alice@example.com", "Alice", "L")
	good := e.newSP(spEntity, spACS, true)
	b := e.browser()
	b.signIn(alice, 1, e.now())

	// A signed request is answered.
	u, _ := good.redirectRequest(t, "", nil)
	b.get(u).form(t)

	unsigned := e.newSP(spEntity, spACS, false)
	wrongKey := e.newSP(spEntity, spACS, true)
	wrongKey.sp.Key, wrongKey.sp.Certificate, _ = loadKeyPair(t, "other")
	unknown := e.newSP("https://unknown.example/sp", spACS, true)

	tests := []struct {
		name string
		url  string
		want int
		text string
	}{
		{"unsigned", mustRedirect(t, unsigned, ""), 400, "not signed correctly"},
		{"wrong key", mustRedirect(t, wrongKey, ""), 400, "not signed correctly"},
		{"unknown SP", mustRedirect(t, unknown, ""), 400, "not registered"},
		{"ACS not registered", func() string {
			u, _ := good.redirectRequest(t, "", func(r *crewsaml.AuthnRequest) { r.AssertionConsumerServiceURL = "https://evil.example/acs" })
			return u
		}(), 400, "not registered for it"},
		{"ACS index unknown", func() string {
			u, _ := good.redirectRequest(t, "", func(r *crewsaml.AuthnRequest) {
				r.AssertionConsumerServiceURL, r.AssertionConsumerServiceIndex = "", "7"
			})
			return u
		}(), 400, "not registered for it"},
		{"RelayState of 81 bytes", mustRedirect(t, good, strings.Repeat("r", 81)), 400, "80 bytes"},
		{"expired", func() string {
			u, _ := good.redirectRequest(t, "", func(r *crewsaml.AuthnRequest) { r.IssueInstant = time.Now().Add(-10 * time.Minute) })
			return u
		}(), 400, "too old"},
		{"not SAML", e.srv.URL + "/saml/sso?SAMLRequest=bm90IGRlZmxhdGU%3D", 400, "cannot read"},
		{"oversized", e.srv.URL + "/saml/sso?SAMLRequest=" + strings.Repeat("A", 20000), 413, "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := b.get(tc.url)
			if a.status != tc.want || !strings.Contains(a.body, tc.text) || strings.Contains(a.body, "SAMLResponse") {
				t.Errorf("got %d %s, want %d with %q and no response", a.status, a.body, tc.want, tc.text)
			}
		})
	}
}

// TestReplay: an AuthnRequest is answered once.
func TestReplay(t *testing.T) {
	e := newEnv(t)
	e.app("GitBook", settingsFor(spEntity, spACS))
	alice := e.user("alice", "alice@example.com", "Alice", "L")
	sp := e.newSP(spEntity, spACS, true)
	b := e.browser()
	b.signIn(alice, 1, e.now())
	u, _ := sp.redirectRequest(t, "", nil)
	b.get(u).form(t)
	if a := b.get(u); a.status != http.StatusBadRequest || !strings.Contains(a.body, "already used") {
		t.Errorf("replayed request: %d %s", a.status, a.body)
	}
}

func formOf(t *testing.T, req *crewsaml.AuthnRequest, relay string) map[string][]string {
	t.Helper()
	page := string(req.Post(relay))
	v := map[string][]string{}
	for _, name := range []string{"SAMLRequest", "RelayState"} {
		i := strings.Index(page, `name="`+name+`" value="`)
		if i < 0 {
			continue
		}
		rest := page[i+len(`name="`+name+`" value="`):]
		v[name] = []string{html.UnescapeString(rest[:strings.Index(rest, `"`)])}
	}
	return v
}

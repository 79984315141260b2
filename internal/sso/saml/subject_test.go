package saml_test

import (
	"bytes"
	"encoding/base64"
	"html"
	"net/http"
	"strings"
	"testing"

	crewsaml "github.com/crewjam/saml"
)

// TestRequestedSubject: an AuthnRequest that names a Subject gets an
// assertion about that principal or none (SAML core §3.4.1.4): signed in
// as someone else, the service provider hears Responder/UnknownPrincipal.
// (Before the fix the request's Subject was ignored and an assertion about
// the session's person went out.)
func TestRequestedSubject(t *testing.T) {
	e := newEnv(t)
	e.app("GitBook", settingsFor(spEntity, spACS))
	alice := e.user("alice", "Alice@example.com", "Alice", "L")
	sp := e.newSP(spEntity, spACS, true)
	b := e.browser()
	b.signIn(alice, 1, e.now())
	naming := func(value, format string, passive bool) func(*crewsaml.AuthnRequest) {
		return func(r *crewsaml.AuthnRequest) {
			r.Subject = &crewsaml.Subject{NameID: &crewsaml.NameID{Value: value, Format: format}}
			if passive {
				r.IsPassive = &passive
			}
		}
	}

	// Her own NameID (an email without regard to case; unspecified
	// format matches any): an assertion about her.
	for _, format := range []string{"", string(crewsaml.UnspecifiedNameIDFormat), string(crewsaml.EmailAddressNameIDFormat)} {
		u, id := sp.redirectRequest(t, "", naming("ALICE@example.com", format, false))
		as, err := sp.parse(b.get(u).form(t), id)
		if err != nil {
			t.Fatalf("format %q: %v", format, err)
		}
		if as.Subject.NameID.Value != "alice@example.com" {
			t.Errorf("NameID %q", as.Subject.NameID.Value)
		}
	}

	unknown := func(name string, xml []byte) {
		t.Helper()
		if !bytes.Contains(xml, []byte(crewsaml.StatusResponder)) || !bytes.Contains(xml, []byte(crewsaml.StatusUnknownPrincipal)) ||
			bytes.Contains(xml, []byte("Assertion")) {
			t.Errorf("%s: want Responder/UnknownPrincipal and no assertion, got %s", name, xml)
		}
	}
	for name, edit := range map[string]func(*crewsaml.AuthnRequest){
		"another person": naming("bob@example.com", "", false),
		"another format": naming("alice@example.com", string(crewsaml.PersistentNameIDFormat), false),
		"a qualifier": func(r *crewsaml.AuthnRequest) {
			r.Subject = &crewsaml.Subject{NameID: &crewsaml.NameID{Value: "alice@example.com", NameQualifier: "x"}}
		},
		"no identifier": func(r *crewsaml.AuthnRequest) { r.Subject = &crewsaml.Subject{} },
	} {
		u, _ := sp.redirectRequest(t, "", edit)
		a := b.get(u)
		if a.status != http.StatusForbidden || !strings.Contains(a.body, "signed in to Gatehouse as someone else") {
			t.Errorf("%s: want the page saying why, got %d %s", name, a.status, a.body)
			continue
		}
		r := responseRE.FindStringSubmatch(a.body)
		if r == nil {
			t.Errorf("%s: no response for the service provider", name)
			continue
		}
		xml, _ := base64.StdEncoding.DecodeString(html.UnescapeString(r[1]))
		unknown(name, xml)
	}
	// IsPassive: the status goes at once.
	u, _ := sp.redirectRequest(t, "", naming("bob@example.com", "", true))
	unknown("passive", b.get(u).form(t).XML)
}

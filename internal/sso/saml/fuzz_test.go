package saml_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

// The parsers that take outside input: AuthnRequests and LogoutRequests
// (both bindings), RelayState, and service provider metadata. Whatever
// comes in, nothing panics, the answer is an error page or a response
// posted to a registered assertion consumer service, never anything else.

const seedRequest = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="id-1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" AssertionConsumerServiceURL="https://gitbook.example/saml/acs"><saml:Issuer>https://gitbook.example/saml/metadata</saml:Issuer></samlp:AuthnRequest>`

func FuzzSSO(f *testing.F) {
	fe := newEnv(f)
	fe.app("GitBook", settingsFor(spEntity, spACS))
	alice := fe.user("alice", "alice@example.com", "A", "L")
	f.Add(seedRequest, "relay", true)
	f.Add(seedRequest, strings.Repeat("r", 81), false)
	f.Add(`<!DOCTYPE x [<!ENTITY a "b">]>`+seedRequest, "", true)
	f.Add(strings.Replace(seedRequest, "https://gitbook.example/saml/acs", "https://evil.example/", 1), "", false)
	f.Add("not xml", "", true)
	f.Fuzz(func(t *testing.T, doc, relay string, post bool) {
		b := fe.browserFor(t)
		b.signIn(alice, 1, fe.now())
		var a *answer
		if post {
			a = b.post(fe.srv.URL+"/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(doc))}, "RelayState": {relay}})
		} else {
			a = b.get(fe.srv.URL + "/saml/sso?SAMLRequest=" + url.QueryEscape(deflate(t, doc)) + "&RelayState=" + url.QueryEscape(relay))
		}
		checkAnswer(t, a)
		for _, path := range []string{"/saml/slo"} {
			checkAnswer(t, b.post(fe.srv.URL+path, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(doc))}, "RelayState": {relay}}))
			checkAnswer(t, b.get(fe.srv.URL+path+"?SAMLRequest="+url.QueryEscape(deflate(t, doc))+"&RelayState="+url.QueryEscape(relay)))
		}
		checkAnswer(t, b.get(fe.srv.URL+"/saml/idp-init/GitBook?RelayState="+url.QueryEscape(relay)))
	})
}

func checkAnswer(t *testing.T, a *answer) {
	t.Helper()
	switch a.status {
	case http.StatusOK:
		f := a.form(t)
		if f.Action != spACS {
			t.Fatalf("a response posted to %q", f.Action)
		}
		if len(f.RelayState) > 80 {
			t.Fatalf("RelayState of %d bytes passed on", len(f.RelayState))
		}
	case http.StatusFound:
		if !strings.HasPrefix(a.location, "https://gitbook.example/") {
			t.Fatalf("redirected to %q", a.location)
		}
	case http.StatusSeeOther:
		if !strings.HasPrefix(a.location, "/login?") {
			t.Fatalf("redirected to %q", a.location)
		}
	case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusForbidden:
	default:
		t.Fatalf("status %d: %s", a.status, a.body)
	}
}

func FuzzMetadata(f *testing.F) {
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="` + crewsaml.HTTPPostBinding + `" Location="https://sp/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`))
	f.Add([]byte(`<!DOCTYPE x><x/>`))
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := saml.SettingsFromMetadata(doc)
		if err != nil {
			return
		}
		// What metadata gives is only endpoints and certificates: with a
		// preset it must validate, or be refused by Validate, never panic.
		_ = s.ApplyPreset("gitbook")
		_ = s.Validate()
		for _, e := range s.ACS {
			if e.Binding != crewsaml.HTTPPostBinding {
				t.Fatalf("ACS with binding %s kept", e.Binding)
			}
		}
	})
}

package saml

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	crewsaml "github.com/crewjam/saml"
)

// Fuzz tests of the parsing alone (no store, so that the fuzzer runs fast):
// an AuthnRequest or LogoutRequest in either binding with a RelayState
// goes through Gatehouse's checks and the library's parsing and
// validation against settings. Nothing panics; a request that passes names
// only a registered assertion consumer service; a RelayState that passes
// is at most 80 bytes.

type fixedSP struct{ s *Settings }

func (f fixedSP) GetServiceProvider(_ *http.Request, id string) (*crewsaml.EntityDescriptor, error) {
	if id != f.s.EntityID {
		return nil, os.ErrNotExist
	}
	return f.s.entityDescriptor(), nil
}

func fuzzIdP() *crewsaml.IdentityProvider {
	s := &Settings{EntityID: "https://sp.example/md", ACS: []Endpoint{{URL: "https://sp.example/acs", Binding: crewsaml.HTTPPostBinding}},
		SLO: []Endpoint{{URL: "https://sp.example/slo", Binding: crewsaml.HTTPRedirectBinding}}}
	sso, _ := url.Parse("https://idp.example/saml/sso")
	slo, _ := url.Parse("https://idp.example/saml/slo")
	md, _ := url.Parse("https://idp.example/saml/metadata")
	return &crewsaml.IdentityProvider{SSOURL: *sso, LogoutURL: *slo, MetadataURL: *md, ServiceProviderProvider: fixedSP{s}, LimitRelayStateLength: true}
}

const seedAuthn = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="id-1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" AssertionConsumerServiceURL="https://sp.example/acs"><saml:Issuer>https://sp.example/md</saml:Issuer></samlp:AuthnRequest>`

func FuzzParseRequests(f *testing.F) {
	f.Add(seedAuthn, "state", false)
	f.Add(strings.Replace(seedAuthn, "https://sp.example/acs", "https://evil.example/acs", 1), "", true)
	f.Add(`<!DOCTYPE a [<!ENTITY b "c">]>`+seedAuthn, strings.Repeat("x", 81), true)
	f.Add(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="l" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://sp.example/md</saml:Issuer></samlp:LogoutRequest>`, "", false)
	f.Fuzz(func(t *testing.T, doc, relay string, post bool) {
		idp := fuzzIdP()
		var r *http.Request
		if post {
			r = httptest.NewRequest(http.MethodPost, "https://idp.example/saml/sso", strings.NewReader(url.Values{
				"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(doc))}, "RelayState": {relay}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(http.MethodGet, "https://idp.example/saml/sso?"+url.Values{
				"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(doc))}, "RelayState": {relay}}.Encode(), nil)
		}
		w := httptest.NewRecorder()
		if !limit(w, r) {
			return
		}
		if req, err := crewsaml.NewIdpAuthnRequest(idp, r); err == nil && checkXML(req.RequestBuffer) == nil && len(req.RelayState) <= maxRelayState {
			if req.Validate() == nil {
				if req.ACSEndpoint == nil || req.ACSEndpoint.Location != "https://sp.example/acs" {
					t.Fatalf("validated with ACS %+v", req.ACSEndpoint)
				}
			}
		}
		if lr, err := crewsaml.NewIdpLogoutRequest(idp, r); err == nil && checkXML(lr.RequestBuffer) == nil {
			// Unsigned: the service provider has no certificate, so no
			// LogoutRequest can validate.
			if lr.Validate() == nil {
				t.Fatal("an unsigned LogoutRequest validated")
			}
		}
	})
}

func FuzzCheckXML(f *testing.F) {
	f.Add([]byte(seedAuthn))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>`))
	f.Add([]byte(`<?php echo 1; ?><x/>`))
	f.Add([]byte(`<a>&unknown;</a>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if checkXML(doc) != nil {
			return
		}
		s := string(doc)
		if strings.Contains(s, "<!DOCTYPE") || strings.Contains(s, "<!ENTITY") {
			// Inside a comment or CDATA section it is text, not a DTD.
			if !strings.Contains(s, "<!--") && !strings.Contains(s, "<![CDATA[") {
				t.Fatalf("accepted %q", doc)
			}
		}
	})
}

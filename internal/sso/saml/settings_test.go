package saml_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	crewsaml "github.com/crewjam/saml"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

func person() *directory.User {
	return &directory.User{ID: "u-1", UserName: "Alice.Liddell@corp.example", DisplayName: "Alice Liddell", Active: true,
		Attrs: directory.Attrs{
			"emails": []any{map[string]any{"value": "Alice.Liddell@Corp.Example", "type": "work"}},
			"name":   map[string]any{"givenName": "Alice", "familyName": "Liddell"},
		},
		Groups: []directory.GroupRef{{ID: "g-eng", DisplayName: "engineering"}, {ID: "g-ops", DisplayName: "ops"}},
	}
}

func TestPresets(t *testing.T) {
	const pem = "" // certificates are not needed to map
	tests := []struct {
		name     string
		settings saml.Settings
		preset   string
		user     func(*directory.User)
		want     *saml.Subject
		refusal  string
	}{
		{name: "gitbook", preset: "gitbook", want: &saml.Subject{
			NameID: "alice.liddell@corp.example", NameIDFormat: string(crewsaml.EmailAddressNameIDFormat),
			Attributes: []crewsaml.Attribute{attr("first_name", "basic", "Alice"), attr("last_name", "basic", "Liddell")},
		}},
		{name: "gitbook without an email", preset: "gitbook", user: func(u *directory.User) { delete(u.Attrs, "emails") },
			refusal: "no email address"},
		{name: "aliyun role", preset: "aliyun-role", settings: saml.Settings{AliyunRole: &saml.AliyunRole{
			Account: "1234567890", Provider: "gatehouse", SessionDuration: 3600,
			Roles: map[string][]string{"g-eng": {"dev", "reader"}, "g-ops": {"ops"}, "g-fin": {"payer"}},
		}}, want: &saml.Subject{
			NameID: "Alice.Liddell@corp.example", NameIDFormat: string(crewsaml.PersistentNameIDFormat),
			Attributes: []crewsaml.Attribute{
				attr("https://www.aliyun.com/SAML-Role/Attributes/Role", "uri",
					"acs:ram::1234567890:role/dev,acs:ram::1234567890:saml-provider/gatehouse",
					"acs:ram::1234567890:role/ops,acs:ram::1234567890:saml-provider/gatehouse",
					"acs:ram::1234567890:role/reader,acs:ram::1234567890:saml-provider/gatehouse"),
				attr("https://www.aliyun.com/SAML-Role/Attributes/RoleSessionName", "uri", "Alice.Liddell@corp.example"),
				attr("https://www.aliyun.com/SAML-Role/Attributes/SessionDuration", "uri", "3600"),
			},
		}},
		{name: "aliyun role, no group grants one", preset: "aliyun-role", settings: saml.Settings{AliyunRole: &saml.AliyunRole{
			Account: "1234567890", Provider: "gatehouse", Roles: map[string][]string{"g-fin": {"payer"}},
		}}, refusal: "none of your groups grants a role"},
		// Keys are group ids, bound when the settings were applied: a group
		// whose display name is a key (created after a rename, say) gains
		// nothing. (Before the fix, display names matched at request time.)
		{name: "aliyun role, a display name grants nothing", preset: "aliyun-role", settings: saml.Settings{AliyunRole: &saml.AliyunRole{
			Account: "1234567890", Provider: "gatehouse", Roles: map[string][]string{"engineering": {"dev"}, "ops": {"ops"}},
		}}, refusal: "none of your groups grants a role"},
		{name: "aliyun role, session name cleaned", preset: "aliyun-role", settings: saml.Settings{AliyunRole: &saml.AliyunRole{
			Account: "1", Provider: "p", Roles: map[string][]string{"g-ops": {"ops"}},
		}}, user: func(u *directory.User) { u.UserName = "张 三/admin" }, want: &saml.Subject{
			NameID: "张 三/admin", NameIDFormat: string(crewsaml.PersistentNameIDFormat),
			Attributes: []crewsaml.Attribute{
				attr("https://www.aliyun.com/SAML-Role/Attributes/Role", "uri", "acs:ram::1:role/ops,acs:ram::1:saml-provider/p"),
				attr("https://www.aliyun.com/SAML-Role/Attributes/RoleSessionName", "uri", "----admin"),
			},
		}},
		{name: "aliyun user", preset: "aliyun-user", settings: saml.Settings{AliyunUser: &saml.AliyunUser{Domain: "example.onaliyun.com"}},
			want: &saml.Subject{NameID: "alice.liddell@example.onaliyun.com", NameIDFormat: string(crewsaml.PersistentNameIDFormat)}},
		{name: "transient", settings: saml.Settings{NameID: saml.NameIDRule{Format: "transient"}, Attributes: []saml.AttributeRule{{Name: "groups", Source: "groups"}}},
			want: &saml.Subject{NameID: "tr-x", NameIDFormat: string(crewsaml.TransientNameIDFormat),
				Attributes: []crewsaml.Attribute{attr("groups", "basic", "engineering", "ops")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.settings
			s.EntityID = "https://sp.example"
			s.ACS = []saml.Endpoint{{URL: "https://sp.example/acs", Binding: crewsaml.HTTPPostBinding}}
			if err := s.ApplyPreset(tc.preset); err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			u := person()
			if tc.user != nil {
				tc.user(u)
			}
			got, err := s.Map(u, "tr-x")
			if tc.refusal != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refusal) {
					t.Fatalf("got %v, %v; want a refusal saying %q", got, err, tc.refusal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	_ = pem
}

func attr(name, format string, values ...string) crewsaml.Attribute {
	a := crewsaml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:" + format}
	for _, v := range values {
		a.Values = append(a.Values, crewsaml.AttributeValue{Type: "xs:string", Value: v})
	}
	return a
}

func TestValidateSettings(t *testing.T) {
	ok := func() saml.Settings {
		return saml.Settings{EntityID: "https://sp.example", ACS: []saml.Endpoint{{URL: "https://sp.example/acs", Binding: crewsaml.HTTPPostBinding}},
			NameID: saml.NameIDRule{Format: "email", Source: "email"}}
	}
	tests := []struct {
		name string
		edit func(*saml.Settings)
		want []string // parts of the message; nil: valid
	}{
		{"valid", func(*saml.Settings) {}, nil},
		{"everything wrong", func(s *saml.Settings) {
			s.EntityID = ""
			s.ACS = []saml.Endpoint{{URL: "javascript:alert(1)", Binding: crewsaml.HTTPPostBinding}, {URL: "https://u:p@sp.example/", Binding: crewsaml.HTTPRedirectBinding}}
			s.SignedRequests = true
			s.NameID = saml.NameIDRule{Format: "x500", Source: "phone"}
			s.Attributes = []saml.AttributeRule{{Name: "a", Source: "email"}, {Name: "a", Source: "salary"}}
		}, []string{"entity ID is missing", "not an http or https URL", "user information", "only HTTP-POST", "no signing certificate",
			"unknown NameID format", "unknown NameID source", `"a" is listed twice`, "unknown source \"salary\""}},
		{"aliyun role incomplete", func(s *saml.Settings) {
			_ = s.ApplyPreset("aliyun-role")
			s.AliyunRole = &saml.AliyunRole{Account: "12a", Provider: "p/q", SessionDuration: 60, Roles: map[string][]string{"g": {"bad role"}}}
		}, []string{"is not a number", "identity provider name", `"bad role" is not valid`, "between 900 and 43200"}},
		{"aliyun user without domain", func(s *saml.Settings) { _ = s.ApplyPreset("aliyun-user") }, []string{"logon suffix"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			tc.edit(&s)
			err := s.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("valid")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
	s := ok()
	if err := s.ApplyPreset("okta"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestSettingsFromMetadata(t *testing.T) {
	_, _, certPEM := loadKeyPairNoT("sp")
	certB64 := strings.Join(strings.Split(strings.TrimSpace(certPEM), "\n")[1:len(strings.Split(strings.TrimSpace(certPEM), "\n"))-1], "")
	md := `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://app.gitbook.com/saml/acme">
 <md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` + certB64 + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://app.gitbook.com/saml/acme/slo"/>
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://app.gitbook.com/saml/acme/art" index="0"/>
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://app.gitbook.com/saml/acme/acs" index="1" isDefault="true"/>
 </md:SPSSODescriptor>
</md:EntityDescriptor>`
	got, err := saml.SettingsFromMetadata([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := &saml.Settings{
		EntityID:       "https://app.gitbook.com/saml/acme",
		ACS:            []saml.Endpoint{{URL: "https://app.gitbook.com/saml/acme/acs", Binding: crewsaml.HTTPPostBinding, Index: 1, Default: true}},
		SLO:            []saml.Endpoint{{URL: "https://app.gitbook.com/saml/acme/slo", Binding: crewsaml.HTTPRedirectBinding}},
		Certificates:   []string{certPEM},
		SignedRequests: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for name, bad := range map[string]string{
		"DTD":       `<!DOCTYPE x [<!ENTITY a "b">]>` + md[strings.Index(md, "<md:Entity"):],
		"an IdP":    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>`,
		"not XML":   `{"entityID": "x"}`,
		"two roots": `<a/><b/>`,
	} {
		if _, err := saml.SettingsFromMetadata([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "metadata.golden.xml")); err == nil {
		if _, err := saml.SettingsFromMetadata(b); err == nil {
			t.Error("an identity provider's metadata was taken for a service provider's")
		}
	}
}

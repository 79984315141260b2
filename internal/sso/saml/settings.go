package saml

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Settings are a SAML service provider's settings: what the sso column of a
// saml-sp application holds. They come from the service provider's
// metadata (a file, or a URL fetched through the egress policy) or from
// explicit flags, and a preset.
type Settings struct {
	// EntityID is the service provider's entity ID: the Issuer of its
	// requests and the Audience of the assertions it is sent.
	EntityID string `json:"entityId"`
	// ACS are its assertion consumer services. A response only ever goes
	// to one of them.
	ACS []Endpoint `json:"acs"`
	// SLO are its single logout services.
	SLO []Endpoint `json:"slo,omitempty"`
	// Certificates are its signing certificates (PEM), which verify its
	// AuthnRequests and LogoutRequests.
	Certificates []string `json:"certificates,omitempty"`
	// SignedRequests requires its AuthnRequests to be signed (its
	// metadata's AuthnRequestsSigned, or the administrator's choice).
	SignedRequests bool `json:"signedRequests,omitempty"`
	// Preset names the attribute mapping preset: "gitbook",
	// "aliyun-role", "aliyun-user", or "" (generic).
	Preset string `json:"preset,omitempty"`
	// NameID says what the Subject's NameID is.
	NameID NameIDRule `json:"nameId"`
	// Attributes are the attributes asserted.
	Attributes []AttributeRule `json:"attributes,omitempty"`
	// AliyunRole configures Alibaba Cloud role SSO (preset aliyun-role).
	AliyunRole *AliyunRole `json:"aliyunRole,omitempty"`
	// AliyunUser configures Alibaba Cloud user SSO (preset aliyun-user).
	AliyunUser *AliyunUser `json:"aliyunUser,omitempty"`
	// MetadataURL is where the metadata was fetched from, if it was.
	MetadataURL string `json:"metadataUrl,omitempty"`
}

// Endpoint is a service provider's endpoint.
type Endpoint struct {
	URL     string `json:"url"`
	Binding string `json:"binding"`
	Index   int    `json:"index,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// NameIDRule says what the NameID is.
type NameIDRule struct {
	// Format: "email", "persistent", "unspecified" or "transient".
	Format string `json:"format"`
	// Source: "email" (lower-cased), "userName", "id", "aliyunUser"
	// (<user>@<alias>.onaliyun.com). Ignored for transient.
	Source string `json:"source,omitempty"`
	// PushTarget names the push target (docs/provisioning.md) that creates
	// this service provider's accounts: a person the push linked to a
	// downstream account is named by the userName the push sent it (for
	// aliyunUser, that name's part before "@", then the logon suffix).
	// Others are refused. Either way a NameID names one account
	// (nameid.go).
	PushTarget string `json:"pushTarget,omitempty"`
}

// AttributeRule is one asserted attribute.
type AttributeRule struct {
	Name         string `json:"name"`
	FriendlyName string `json:"friendlyName,omitempty"`
	// Source: "email", "userName", "displayName", "givenName",
	// "familyName", "id", "groups" (one value per group), "aliyunRoles",
	// "aliyunSessionDuration".
	Source string `json:"source"`
}

// AliyunRole configures Alibaba Cloud role SSO.
type AliyunRole struct {
	// Account is the Alibaba Cloud account id (digits).
	Account string `json:"account"`
	// Provider is the RAM identity provider's name (the saml-provider).
	Provider string `json:"provider"`
	// Roles maps a Gatehouse group id to the RAM roles its members may
	// assume. The administration (CLI, admin API) takes names and stores
	// the ids they name then; a key that is no group id grants nothing.
	Roles map[string][]string `json:"roles"`
	// SessionDuration is the console session's length in seconds
	// (900–43200); 0 leaves it to RAM.
	SessionDuration int `json:"sessionDuration,omitempty"`
}

// AliyunUser configures Alibaba Cloud user SSO.
type AliyunUser struct {
	// Domain is the logon suffix: "<alias>.onaliyun.com", or a custom or
	// auxiliary domain.
	Domain string `json:"domain"`
}

// NameID formats.
var nameIDFormats = map[string]crewsaml.NameIDFormat{
	"email":       crewsaml.EmailAddressNameIDFormat,
	"persistent":  crewsaml.PersistentNameIDFormat,
	"unspecified": crewsaml.UnspecifiedNameIDFormat,
	"transient":   crewsaml.TransientNameIDFormat,
}

// The Alibaba Cloud attribute names.
const (
	aliyunRoleAttr            = "https://www.aliyun.com/SAML-Role/Attributes/Role"
	aliyunRoleSessionNameAttr = "https://www.aliyun.com/SAML-Role/Attributes/RoleSessionName"
	aliyunSessionDurationAttr = "https://www.aliyun.com/SAML-Role/Attributes/SessionDuration"
)

// Presets lists the attribute mapping presets.
func Presets() []string { return []string{"gitbook", "aliyun-role", "aliyun-user"} }

// ApplyPreset sets the NameID rule and attributes of a preset (an empty
// preset changes nothing).
func (s *Settings) ApplyPreset(preset string) error {
	switch preset {
	case "":
		if s.NameID.Format == "" {
			s.NameID = NameIDRule{Format: "email", Source: "email"}
		}
		return nil
	case "gitbook":
		// GitBook: NameID = the lower-case email, emailAddress format;
		// first_name and last_name.
		s.NameID = NameIDRule{Format: "email", Source: "email"}
		s.Attributes = []AttributeRule{{Name: "first_name", Source: "givenName"}, {Name: "last_name", Source: "familyName"}}
	case "aliyun-role":
		// Alibaba Cloud role SSO: RAM reads the roles and the session
		// name from attributes; the NameID only names the person.
		s.NameID = NameIDRule{Format: "persistent", Source: "userName"}
		s.Attributes = []AttributeRule{
			{Name: aliyunRoleAttr, Source: "aliyunRoles"},
			{Name: aliyunRoleSessionNameAttr, Source: "userName"},
			{Name: aliyunSessionDurationAttr, Source: "aliyunSessionDuration"},
		}
		if s.AliyunRole == nil {
			s.AliyunRole = &AliyunRole{}
		}
	case "aliyun-user":
		// Alibaba Cloud user SSO: the NameID is the RAM user's logon name.
		s.NameID = NameIDRule{Format: "persistent", Source: "aliyunUser"}
		s.Attributes = nil
		if s.AliyunUser == nil {
			s.AliyunUser = &AliyunUser{}
		}
	default:
		return directory.Errorf(directory.ErrInvalid, "preset", "unknown SAML preset %q (known: %s)", preset, strings.Join(Presets(), ", "))
	}
	s.Preset = preset
	return nil
}

var (
	aliyunAccountRE = regexp.MustCompile(`^[0-9]{1,32}$`)
	aliyunNameRE    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	domainRE        = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// Validate checks the settings and reports every problem at once.
func (s *Settings) Validate() error {
	var probs []string
	bad := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	if s.EntityID == "" {
		bad("the service provider's entity ID is missing")
	} else if len(s.EntityID) > 1024 {
		bad("the entity ID is longer than 1024 characters (SAML core §8.3.6)")
	}
	if len(s.ACS) == 0 {
		bad("the service provider has no assertion consumer service URL")
	}
	for _, e := range s.ACS {
		if err := checkEndpointURL(e.URL); err != nil {
			bad("assertion consumer service %q: %v", e.URL, err)
		}
		if e.Binding != crewsaml.HTTPPostBinding {
			bad("assertion consumer service %q: binding %s is not supported (only HTTP-POST)", e.URL, e.Binding)
		}
	}
	for _, e := range s.SLO {
		if err := checkEndpointURL(e.URL); err != nil {
			bad("single logout service %q: %v", e.URL, err)
		}
		if e.Binding != crewsaml.HTTPRedirectBinding && e.Binding != crewsaml.HTTPPostBinding {
			bad("single logout service %q: binding %s is not supported", e.URL, e.Binding)
		}
	}
	for i, c := range s.Certificates {
		if _, err := parseCertPEM([]byte(c)); err != nil {
			bad("certificate %d: %v", i+1, err)
		}
	}
	if s.SignedRequests && len(s.Certificates) == 0 {
		bad("signed requests are required but the service provider has no signing certificate")
	}
	if _, ok := nameIDFormats[s.NameID.Format]; !ok {
		bad("unknown NameID format %q (email, persistent, unspecified, transient)", s.NameID.Format)
	}
	if s.NameID.Format != "transient" && !slices.Contains([]string{"email", "userName", "id", "aliyunUser"}, s.NameID.Source) {
		bad("unknown NameID source %q (email, userName, id, aliyunUser)", s.NameID.Source)
	}
	if t := s.NameID.PushTarget; t != "" && (s.NameID.Format == "transient" || s.NameID.Source == "id" || !aliyunNameRE.MatchString(t)) {
		bad("NameID push target %q: a target name, for a NameID from email, userName or aliyunUser", t)
	}
	seen := map[string]bool{}
	for _, a := range s.Attributes {
		if a.Name == "" || len(a.Name) > 1024 {
			bad("an attribute has no name, or one longer than 1024 characters")
		}
		if seen[a.Name] {
			bad("attribute %q is listed twice", a.Name)
		}
		seen[a.Name] = true
		if !slices.Contains([]string{"email", "userName", "displayName", "givenName", "familyName", "id", "groups", "aliyunRoles", "aliyunSessionDuration"}, a.Source) {
			bad("attribute %q: unknown source %q", a.Name, a.Source)
		}
	}
	needRole := s.NameID.Source == "aliyunRoles" || slices.ContainsFunc(s.Attributes, func(a AttributeRule) bool {
		return a.Source == "aliyunRoles" || a.Source == "aliyunSessionDuration"
	})
	if needRole {
		r := s.AliyunRole
		switch {
		case r == nil:
			bad("Alibaba Cloud role SSO needs an account, a provider and a group-to-role map")
		default:
			if !aliyunAccountRE.MatchString(r.Account) {
				bad("the Alibaba Cloud account id %q is not a number", r.Account)
			}
			if !aliyunNameRE.MatchString(r.Provider) {
				bad("the RAM identity provider name %q is not valid", r.Provider)
			}
			if len(r.Roles) == 0 {
				bad("no group grants a RAM role (map groups to roles)")
			}
			for g, roles := range r.Roles {
				for _, role := range roles {
					if !aliyunNameRE.MatchString(role) {
						bad("group %q: the RAM role name %q is not valid", g, role)
					}
				}
			}
			if r.SessionDuration != 0 && (r.SessionDuration < 900 || r.SessionDuration > 43200) {
				bad("the session duration must be between 900 and 43200 seconds")
			}
		}
	}
	if s.NameID.Source == "aliyunUser" {
		if s.AliyunUser == nil || !domainRE.MatchString(s.AliyunUser.Domain) {
			bad("Alibaba Cloud user SSO needs the logon suffix (such as example.onaliyun.com)")
		}
	}
	if len(probs) > 0 {
		return directory.Errorf(directory.ErrInvalid, "sso", "%s", strings.Join(probs, "; "))
	}
	return nil
}

// checkEndpointURL accepts absolute http and https URLs without user
// information or fragments.
func checkEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("not an http or https URL")
	case u.Host == "":
		return fmt.Errorf("no host")
	case u.User != nil:
		return fmt.Errorf("user information is not allowed")
	case u.Fragment != "":
		return fmt.Errorf("fragments are not allowed")
	}
	return nil
}

// DecodeSettings reads stored settings.
func DecodeSettings(raw []byte) (*Settings, error) {
	var s Settings
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "sso", "the SAML settings are not valid JSON: %v", err)
	}
	return &s, nil
}

// maxMetadataSize bounds a service provider's metadata document.
const maxMetadataSize = 1 << 20

// SettingsFromMetadata reads a service provider's metadata: its entity ID,
// assertion consumer services, single logout services, signing
// certificates and whether it signs its requests. Documents with DTDs or
// entities are refused.
func SettingsFromMetadata(doc []byte) (*Settings, error) {
	if len(doc) > maxMetadataSize {
		return nil, directory.Errorf(directory.ErrInvalid, "metadata", "the metadata is larger than %d bytes", maxMetadataSize)
	}
	if err := checkXML(doc); err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "metadata", "the metadata is not acceptable XML: %v", err)
	}
	ed, err := parseEntityDescriptor(doc)
	if err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "metadata", "%v", err)
	}
	if len(ed.SPSSODescriptors) == 0 {
		return nil, directory.Errorf(directory.ErrInvalid, "metadata", "the metadata has no SPSSODescriptor: it does not describe a service provider")
	}
	s := &Settings{EntityID: ed.EntityID}
	for _, d := range ed.SPSSODescriptors {
		if d.AuthnRequestsSigned != nil && *d.AuthnRequestsSigned {
			s.SignedRequests = true
		}
		for _, e := range d.AssertionConsumerServices {
			if e.Binding != crewsaml.HTTPPostBinding {
				continue // Gatehouse answers with HTTP-POST only
			}
			s.ACS = append(s.ACS, Endpoint{URL: e.Location, Binding: e.Binding, Index: e.Index, Default: e.IsDefault != nil && *e.IsDefault})
		}
		for _, e := range d.SingleLogoutServices {
			if e.Binding == crewsaml.HTTPRedirectBinding || e.Binding == crewsaml.HTTPPostBinding {
				s.SLO = append(s.SLO, Endpoint{URL: e.Location, Binding: e.Binding})
			}
		}
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
				if err != nil {
					return nil, directory.Errorf(directory.ErrInvalid, "metadata", "a signing certificate is not base64")
				}
				if _, err := x509.ParseCertificate(der); err != nil {
					return nil, directory.Errorf(directory.ErrInvalid, "metadata", "a signing certificate cannot be read: %v", err)
				}
				p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
				if !slices.Contains(s.Certificates, p) {
					s.Certificates = append(s.Certificates, p)
				}
			}
		}
	}
	if len(s.ACS) == 0 {
		return nil, directory.Errorf(directory.ErrInvalid, "metadata", "the metadata has no HTTP-POST assertion consumer service")
	}
	return s, nil
}

// entityDescriptor is the metadata the library checks requests against:
// built from the settings, never from anything the request says.
func (s *Settings) entityDescriptor() *crewsaml.EntityDescriptor {
	d := crewsaml.SPSSODescriptor{
		SSODescriptor: crewsaml.SSODescriptor{
			RoleDescriptor: crewsaml.RoleDescriptor{ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol"},
		},
	}
	signed := s.SignedRequests
	d.AuthnRequestsSigned = &signed
	for _, c := range s.Certificates {
		block, _ := pem.Decode([]byte(c))
		if block == nil {
			continue
		}
		d.KeyDescriptors = append(d.KeyDescriptors, crewsaml.KeyDescriptor{Use: "signing", KeyInfo: crewsaml.KeyInfo{
			X509Data: crewsaml.X509Data{X509Certificates: []crewsaml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(block.Bytes)}}},
		}})
	}
	for _, e := range s.ACS {
		isDefault := e.Default
		d.AssertionConsumerServices = append(d.AssertionConsumerServices, crewsaml.IndexedEndpoint{
			Binding: e.Binding, Location: e.URL, Index: e.Index, IsDefault: &isDefault,
		})
	}
	for _, e := range s.SLO {
		d.SingleLogoutServices = append(d.SingleLogoutServices, crewsaml.Endpoint{Binding: e.Binding, Location: e.URL})
	}
	return &crewsaml.EntityDescriptor{EntityID: s.EntityID, SPSSODescriptors: []crewsaml.SPSSODescriptor{d}}
}

// FetchMetadata fetches a service provider's metadata from an https URL
// with client (the egress policy's: no redirects, no private or metadata
// addresses unless allowed) and reads it.
func FetchMetadata(ctx context.Context, client *http.Client, raw string) (*Settings, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "metadataUrl", "the metadata URL must be an https URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "metadataUrl", "the metadata URL cannot be fetched: %v", err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := client.Do(req)
	if err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "metadataUrl", "the metadata cannot be fetched: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, directory.Errorf(directory.ErrInvalid, "metadataUrl", "fetching the metadata: the server answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "metadataUrl", "reading the metadata: %v", err)
	}
	s, err := SettingsFromMetadata(body)
	if err != nil {
		return nil, err
	}
	s.MetadataURL = u.String()
	return s, nil
}

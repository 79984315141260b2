package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

// SAML service providers (applications of kind saml-sp) and the identity
// provider's signing keys, for the CLI (gatehouse saml …) and
// /admin/v1/saml/….

// SAMLOps administers Gatehouse as a SAML identity provider.
type SAMLOps struct {
	IdP *saml.IdP
	// Fetch fetches service providers' metadata URLs (the egress
	// policy's client).
	Fetch *http.Client
}

// SAMLAppInput creates or changes a SAML service provider. On create, the
// service provider is described by its metadata (Metadata or MetadataURL)
// or by EntityID and ACS; the explicit fields override the metadata's. On
// update, only the fields given change (Metadata or MetadataURL replace
// the endpoints and certificates).
type SAMLAppInput struct {
	Name string `json:"name,omitempty"`
	// Metadata is the service provider's metadata document (XML).
	Metadata string `json:"metadata,omitempty"`
	// MetadataURL is fetched (https, through the egress policy).
	MetadataURL string `json:"metadataUrl,omitempty"`
	EntityID    string `json:"entityId,omitempty"`
	// ACS are the assertion consumer service URLs (HTTP-POST), the first
	// the default.
	ACS []string `json:"acs,omitempty"`
	// SLO are single logout service URLs (HTTP-Redirect).
	SLO []string `json:"slo,omitempty"`
	// Certificates are the service provider's signing certificates (PEM).
	Certificates   []string `json:"certificates,omitempty"`
	SignedRequests *bool    `json:"signedRequests,omitempty"`
	// Preset is gitbook, aliyun-role, aliyun-user, or "" (generic: the
	// email as NameID).
	Preset *string `json:"preset,omitempty"`
	// NameIDFormat and NameIDSource override the preset's NameID.
	NameIDFormat string `json:"nameIdFormat,omitempty"`
	NameIDSource string `json:"nameIdSource,omitempty"`
	// PushTarget is the push target whose links name accounts (the NameID
	// is the userName the push sent; accounts it did not link are refused;
	// "" to stop).
	PushTarget *string `json:"pushTarget,omitempty"`
	// Attributes replace the preset's attributes.
	Attributes *[]saml.AttributeRule `json:"attributes,omitempty"`
	// Alibaba Cloud role SSO: the account id, the RAM identity provider's
	// name, the roles each group (name or id) grants, the console session
	// length in seconds.
	AliyunAccount   string              `json:"aliyunAccount,omitempty"`
	AliyunProvider  string              `json:"aliyunProvider,omitempty"`
	AliyunRoles     map[string][]string `json:"aliyunRoles,omitempty"`
	SessionDuration *int                `json:"sessionDuration,omitempty"`
	// AliyunDomain is the RAM users' logon suffix (Alibaba Cloud user SSO).
	AliyunDomain string `json:"aliyunDomain,omitempty"`
	// AllowedGroups (names or ids) may use the application; Everyone
	// opens it to every active person.
	AllowedGroups *[]string `json:"allowedGroups,omitempty"`
	Everyone      *bool     `json:"everyone,omitempty"`
	MinFactors    *int      `json:"minFactors,omitempty"`
	Enabled       *bool     `json:"enabled,omitempty"`
}

// SAMLApp is a SAML service provider as administrators see it, with what
// its administrator needs to configure the service provider side.
type SAMLApp struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	Enabled  bool          `json:"enabled"`
	Access   auth.Access   `json:"access"`
	Settings saml.Settings `json:"settings"`
	// IdP is what to give the service provider.
	IdP SAMLIdPInfo `json:"idp"`
}

// SAMLIdPInfo is Gatehouse as the service provider sees it.
type SAMLIdPInfo struct {
	EntityID    string `json:"entityId"`
	MetadataURL string `json:"metadataUrl"`
	SSOURL      string `json:"ssoUrl"`
	SLOURL      string `json:"sloUrl"`
	// IdPInitiatedURL signs the person in to the application from
	// Gatehouse (a link on the user page).
	IdPInitiatedURL string `json:"idpInitiatedUrl"`
	// Certificate is the certificate that signs now (PEM) and its SHA-256
	// fingerprint.
	Certificate string `json:"certificate"`
	Fingerprint string `json:"sha256"`
}

func (o *Ops) samlOps() (*SAMLOps, error) {
	if o.SAML == nil || o.SAML.IdP == nil {
		return nil, directory.Errorf(directory.ErrInvalid, "saml", "this server has no SAML identity provider")
	}
	return o.SAML, nil
}

// settingsFrom builds a service provider's settings from in over cur
// (nil on create).
func (o *Ops) samlSettings(ctx context.Context, cur *saml.Settings, in SAMLAppInput) (*saml.Settings, error) {
	s := &saml.Settings{}
	if cur != nil {
		c := *cur
		s = &c
	}
	switch {
	case in.Metadata != "" && in.MetadataURL != "":
		return nil, directory.Errorf(directory.ErrInvalid, "metadata", "give the metadata or its URL, not both")
	case in.Metadata != "" || in.MetadataURL != "":
		var md *saml.Settings
		var err error
		if in.Metadata != "" {
			md, err = saml.SettingsFromMetadata([]byte(in.Metadata))
		} else {
			sops, e := o.samlOps()
			if e != nil {
				return nil, e
			}
			md, err = saml.FetchMetadata(ctx, sops.Fetch, in.MetadataURL)
		}
		if err != nil {
			return nil, err
		}
		s.EntityID, s.ACS, s.SLO, s.Certificates, s.SignedRequests, s.MetadataURL = md.EntityID, md.ACS, md.SLO, md.Certificates, md.SignedRequests, md.MetadataURL
	case cur == nil && (in.EntityID == "" || len(in.ACS) == 0):
		return nil, directory.Errorf(directory.ErrInvalid, "metadata", "describe the service provider by its metadata (file or URL), or by its entity ID and assertion consumer service URL")
	}
	if in.EntityID != "" {
		s.EntityID = in.EntityID
	}
	if len(in.ACS) > 0 {
		s.ACS = nil
		for i, u := range in.ACS {
			s.ACS = append(s.ACS, saml.Endpoint{URL: u, Binding: crewsaml.HTTPPostBinding, Index: i, Default: i == 0})
		}
	}
	if len(in.SLO) > 0 {
		s.SLO = nil
		for _, u := range in.SLO {
			s.SLO = append(s.SLO, saml.Endpoint{URL: u, Binding: crewsaml.HTTPRedirectBinding})
		}
	}
	if len(in.Certificates) > 0 {
		s.Certificates = slices.Clone(in.Certificates)
	}
	if in.SignedRequests != nil {
		s.SignedRequests = *in.SignedRequests
	}
	pushTarget := s.NameID.PushTarget
	if in.Preset != nil || cur == nil {
		preset := ""
		if in.Preset != nil {
			preset = *in.Preset
		}
		if err := s.ApplyPreset(preset); err != nil {
			return nil, err
		}
	}
	if in.NameIDFormat != "" {
		s.NameID.Format = in.NameIDFormat
	}
	if in.NameIDSource != "" {
		s.NameID.Source = in.NameIDSource
	}
	s.NameID.PushTarget = pushTarget
	if in.PushTarget != nil {
		s.NameID.PushTarget = *in.PushTarget
	}
	if in.Attributes != nil {
		s.Attributes = slices.Clone(*in.Attributes)
	}
	if in.AliyunAccount != "" || in.AliyunProvider != "" || in.AliyunRoles != nil || in.SessionDuration != nil {
		if s.AliyunRole == nil {
			s.AliyunRole = &saml.AliyunRole{}
		}
		r := *s.AliyunRole
		if in.AliyunAccount != "" {
			r.Account = in.AliyunAccount
		}
		if in.AliyunProvider != "" {
			r.Provider = in.AliyunProvider
		}
		if in.AliyunRoles != nil {
			// Bound to group ids now: a group renamed keeps its roles, and a
			// group created later with the old name gets none.
			roles := make(map[string][]string, len(in.AliyunRoles))
			for ref, rs := range in.AliyunRoles {
				ids, err := o.groupIDsFor(ctx, "aliyunRoles", []string{ref})
				if err != nil {
					return nil, err
				}
				roles[ids[0]] = append(roles[ids[0]], rs...)
			}
			r.Roles = roles
		}
		if in.SessionDuration != nil {
			r.SessionDuration = *in.SessionDuration
		}
		s.AliyunRole = &r
	}
	if in.AliyunDomain != "" {
		s.AliyunUser = &saml.AliyunUser{Domain: strings.ToLower(in.AliyunDomain)}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (o *Ops) samlAccess(ctx context.Context, acc auth.Access, in SAMLAppInput) (auth.Access, error) {
	if in.AllowedGroups != nil {
		ids, err := o.groupIDs(ctx, *in.AllowedGroups)
		if err != nil {
			return acc, err
		}
		acc.AllowedGroups = ids
	}
	if in.Everyone != nil {
		acc.Everyone = *in.Everyone
	}
	if in.MinFactors != nil {
		acc.MinFactors = *in.MinFactors
	}
	return acc, nil
}

// CreateSAMLApp creates a SAML service provider application.
func (o *Ops) CreateSAMLApp(ctx context.Context, actor directory.Actor, in SAMLAppInput) (*SAMLApp, error) {
	s, err := o.samlSettings(ctx, nil, in)
	if err != nil {
		return nil, err
	}
	acc, err := o.samlAccess(ctx, auth.Access{}, in)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	a, err := o.Auth.CreateApp(ctx, actor, auth.AppSpec{Name: in.Name, Kind: auth.KindSAMLSP, Access: acc, SSO: raw})
	if err != nil {
		return nil, err
	}
	if in.Enabled != nil && !*in.Enabled {
		if a, err = o.Auth.UpdateApp(ctx, actor, a.ID, func(x *auth.App) error { x.Enabled = false; return nil }); err != nil {
			return nil, err
		}
	}
	return o.samlView(ctx, a)
}

// UpdateSAMLApp changes a SAML service provider application.
func (o *Ops) UpdateSAMLApp(ctx context.Context, actor directory.Actor, ref string, in SAMLAppInput) (*SAMLApp, error) {
	a, err := o.samlApp(ctx, ref)
	if err != nil {
		return nil, err
	}
	cur, err := saml.DecodeSettings(a.SSO)
	if err != nil {
		cur = nil
	}
	s, err := o.samlSettings(ctx, cur, in)
	if err != nil {
		return nil, err
	}
	acc, err := o.samlAccess(ctx, a.Access, in)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	a, err = o.Auth.UpdateApp(ctx, actor, a.ID, func(x *auth.App) error {
		if in.Name != "" {
			x.Name = in.Name
		}
		if in.Enabled != nil {
			x.Enabled = *in.Enabled
		}
		x.SSO, x.Access = raw, acc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o.samlView(ctx, a)
}

// GetSAMLApp shows a SAML service provider application.
func (o *Ops) GetSAMLApp(ctx context.Context, ref string) (*SAMLApp, error) {
	a, err := o.samlApp(ctx, ref)
	if err != nil {
		return nil, err
	}
	return o.samlView(ctx, a)
}

func (o *Ops) samlApp(ctx context.Context, ref string) (*auth.App, error) {
	a, err := o.Auth.FindApp(ctx, ref)
	if err != nil {
		return nil, err
	}
	if a.Kind != auth.KindSAMLSP {
		return nil, directory.Errorf(directory.ErrInvalid, "app", "application %q is a %s, not a SAML service provider", a.Name, a.Kind)
	}
	return a, nil
}

func (o *Ops) samlView(ctx context.Context, a *auth.App) (*SAMLApp, error) {
	out := &SAMLApp{ID: a.ID, Name: a.Name, Enabled: a.Enabled, Access: a.Access}
	if s, err := saml.DecodeSettings(a.SSO); err == nil {
		out.Settings = *s
	}
	if out.Access.AllowedGroups == nil {
		out.Access.AllowedGroups = []string{}
	}
	if sops, err := o.samlOps(); err == nil {
		info, err := sops.IdP.Info(ctx)
		if err != nil {
			return nil, err
		}
		out.IdP = SAMLIdPInfo{EntityID: info.EntityID, MetadataURL: info.MetadataURL, SSOURL: info.SSOURL, SLOURL: info.SLOURL,
			IdPInitiatedURL: info.IdPInitiatedURL(a.ID), Certificate: info.Certificate, Fingerprint: info.Fingerprint}
	}
	return out, nil
}

// SAMLKeys lists the identity provider's signing keys (certificates only).
func (o *Ops) SAMLKeys(ctx context.Context) ([]saml.KeyInfo, error) {
	sops, err := o.samlOps()
	if err != nil {
		return nil, err
	}
	return sops.IdP.Keys(ctx)
}

// RotateSAMLKey makes a new signing key of bits bits (0: 2048) that signs
// after in; the key that signs now stays in the metadata beside it.
func (o *Ops) RotateSAMLKey(ctx context.Context, actor directory.Actor, in time.Duration, bits int) (*saml.KeyInfo, error) {
	sops, err := o.samlOps()
	if err != nil {
		return nil, err
	}
	return sops.IdP.RotateKey(ctx, actor, in, bits)
}

// ---- /admin/v1/saml

func (a *API) samlRoutes() {
	a.handle("POST /saml/apps", a.createSAMLApp)
	a.handle("GET /saml/apps/{app}", a.getSAMLApp)
	a.handle("PATCH /saml/apps/{app}", a.updateSAMLApp)
	a.handle("GET /saml/keys", a.listSAMLKeys)
	a.handle("POST /saml/keys/rotate", a.rotateSAMLKey)
}

func (a *API) createSAMLApp(r *http.Request, actor directory.Actor) (int, any, error) {
	var in SAMLAppInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	x, err := a.ops.CreateSAMLApp(r.Context(), actor, in)
	return http.StatusCreated, x, err
}

func (a *API) getSAMLApp(r *http.Request, _ directory.Actor) (int, any, error) {
	x, err := a.ops.GetSAMLApp(r.Context(), r.PathValue("app"))
	return http.StatusOK, x, err
}

func (a *API) updateSAMLApp(r *http.Request, actor directory.Actor) (int, any, error) {
	var in SAMLAppInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	x, err := a.ops.UpdateSAMLApp(r.Context(), actor, r.PathValue("app"), in)
	return http.StatusOK, x, err
}

func (a *API) listSAMLKeys(r *http.Request, _ directory.Actor) (int, any, error) {
	keys, err := a.ops.SAMLKeys(r.Context())
	return http.StatusOK, Items(keys), err
}

// SAMLRotateInput is the body of POST /saml/keys/rotate.
type SAMLRotateInput struct {
	// In is how long the new key waits before it signs ("336h"; "" or
	// "0s": at once).
	In string `json:"in,omitempty"`
	// Bits is the RSA key size: 2048 (the default), 3072 or 4096.
	Bits int `json:"bits,omitempty"`
}

func (a *API) rotateSAMLKey(r *http.Request, actor directory.Actor) (int, any, error) {
	var in SAMLRotateInput
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
	}
	var d time.Duration
	if in.In != "" {
		var err error
		if d, err = time.ParseDuration(in.In); err != nil || d < 0 {
			return 0, nil, directory.Errorf(directory.ErrInvalid, "in", "in must be a duration such as 336h")
		}
	}
	k, err := a.ops.RotateSAMLKey(r.Context(), actor, d, in.Bits)
	return http.StatusCreated, k, err
}

// Package saml is Gatehouse as a SAML 2.0 identity provider: signed
// metadata, SP-initiated single sign-on over the HTTP-Redirect and HTTP-POST
// bindings, IdP-initiated sign-on, single logout, per-service-provider
// attribute mapping with presets (GitBook, Alibaba Cloud role and user SSO)
// and the rotation of its RSA signing keys.
//
// XML signatures and the protocol's messages are github.com/crewjam/saml's
// (over goxmldsig and etree); none of its HTTP handlers is served. Every
// request goes through Gatehouse's own checks first: size limits, XML
// without DTDs or entities, a known and enabled service provider whose
// settings (never the request) give the assertion consumer services and
// signing certificates, a RelayState of at most 80 bytes passed back
// untouched, a request ID answered once. Who the person is comes from
// Gatehouse's sessions (Sessions), never from the request.
package saml

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// Paths of the identity provider's routes.
const (
	MetadataPath = "/saml/metadata"
	SSOPath      = "/saml/sso"
	ResumePath   = "/saml/resume"
	SLOPath      = "/saml/slo"
	IdPInitPath  = "/saml/idp-init/"
)

// Limits.
const (
	// maxQuery bounds the query of an HTTP-Redirect message.
	maxQuery = 16 << 10
	// maxForm bounds the body of an HTTP-POST message.
	maxForm = 128 << 10
	// maxRelayState is the SAML bindings' limit (§3.4.3, §3.5.3).
	maxRelayState = 80
	// requestLifetime is how long a received request waits for the person
	// to sign in, and how long its ID is remembered after.
	requestLifetime = 15 * time.Minute
	// assertionLifetime is how long an assertion may be presented.
	assertionLifetime = 5 * time.Minute
	// clockSkew is how far before now an assertion's NotBefore is, for
	// service providers whose clocks run behind.
	clockSkew = time.Minute
)

// Authentication context classes Gatehouse asserts.
const (
	// ContextPassword: one factor (a password, or a delegated directory
	// bind) over TLS.
	ContextPassword = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	// ContextMFA: two or more factors (the REFEDS MFA profile).
	ContextMFA = "https://refeds.org/profile/mfa"
)

// ServiceProvider is a saml-sp application and its settings.
type ServiceProvider struct {
	AppID    string
	Name     string
	Enabled  bool
	Settings *Settings
}

// Apps finds the service providers.
type Apps interface {
	// SAMLServiceProviders returns the saml-sp applications.
	SAMLServiceProviders(ctx context.Context) ([]*ServiceProvider, error)
}

// Users reads a person's account.
type Users interface {
	// User returns a user with her groups.
	User(ctx context.Context, id string) (*directory.User, error)
}

// Options configure an identity provider.
type Options struct {
	Store Store
	Apps  Apps
	Users Users
	// Namesakes finds the accounts that could share a NameID (nil: Users,
	// if it implements Namesakes; without one, NameIDs that could be
	// shared are refused).
	Namesakes Namesakes
	// Downstream gives the names pushes gave accounts downstream (nil: no
	// NameID comes from a push).
	Downstream Downstream
	Sessions   login.Sessions
	// BaseURL is Gatehouse's external URL (scheme and host, no trailing
	// slash): the entity ID is BaseURL + MetadataPath.
	BaseURL func() string
	Logger  *slog.Logger
	Now     func() time.Time
}

// IdP is the identity provider.
type IdP struct {
	opt  Options
	keys *keyring
	log  *slog.Logger
}

// New returns an identity provider.
func New(opt Options) *IdP {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if n, ok := opt.Users.(Namesakes); ok && opt.Namesakes == nil {
		opt.Namesakes = n
	}
	return &IdP{opt: opt, keys: &keyring{store: opt.Store, now: opt.Now}, log: opt.Logger}
}

// EntityID is the identity provider's entity ID: its metadata's URL.
func (p *IdP) EntityID() string { return p.opt.BaseURL() + MetadataPath }

// Mount adds the identity provider's routes to mux. They are browser
// routes: no bearer token, no cookie but Gatehouse's session.
func (p *IdP) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+MetadataPath, p.serveMetadata)
	mux.HandleFunc("GET "+SSOPath, p.serveSSO)
	mux.HandleFunc("POST "+SSOPath, p.serveSSO)
	mux.HandleFunc("GET "+ResumePath, p.serveResume)
	mux.HandleFunc("GET "+IdPInitPath+"{app}", p.serveIdPInit)
	mux.HandleFunc("GET "+SLOPath, p.serveSLO)
	mux.HandleFunc("POST "+SLOPath, p.serveSLO)
}

// provider builds the library's identity provider for one request, with
// the current keys. ServiceProviderProvider answers only from the stored
// settings of enabled saml-sp applications.
func (p *IdP) provider(ctx context.Context) (*crewsaml.IdentityProvider, *loadedKey, error) {
	cur, others, err := p.keys.current(ctx)
	if err != nil {
		return nil, nil, err
	}
	base := p.opt.BaseURL()
	must := func(path string) url.URL {
		u, err := url.Parse(base + path)
		if err != nil {
			return url.URL{}
		}
		return *u
	}
	idp := &crewsaml.IdentityProvider{
		Key:                     cur.priv,
		Certificate:             cur.cert,
		MetadataURL:             must(MetadataPath),
		SSOURL:                  must(SSOPath),
		LogoutURL:               must(SLOPath),
		LogoutBindings:          []string{crewsaml.HTTPRedirectBinding, crewsaml.HTTPPostBinding},
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
		ServiceProviderProvider: spLookup{p: p},
		RejectSHA1Signatures:    true,
		LimitRelayStateLength:   true,
		Clock:                   dsig.NewFakeClockAt(p.opt.Now()),
		ResponseFormTemplate:    postForm,
		NameIDFormats: []crewsaml.NameIDFormat{crewsaml.EmailAddressNameIDFormat, crewsaml.PersistentNameIDFormat,
			crewsaml.UnspecifiedNameIDFormat, crewsaml.TransientNameIDFormat},
	}
	for _, o := range others {
		idp.ExtraCertificates = append(idp.ExtraCertificates, o.cert)
	}
	return idp, cur, nil
}

// spLookup is the library's ServiceProviderProvider over the stored
// settings.
type spLookup struct{ p *IdP }

func (l spLookup) GetServiceProvider(r *http.Request, entityID string) (*crewsaml.EntityDescriptor, error) {
	sp, err := l.p.byEntityID(r.Context(), entityID)
	if err != nil {
		return nil, err
	}
	return sp.Settings.entityDescriptor(), nil
}

// byEntityID finds an enabled service provider (os.ErrNotExist if none).
func (p *IdP) byEntityID(ctx context.Context, entityID string) (*ServiceProvider, error) {
	sps, err := p.opt.Apps.SAMLServiceProviders(ctx)
	if err != nil {
		return nil, err
	}
	for _, sp := range sps {
		if sp.Enabled && sp.Settings != nil && sp.Settings.EntityID == entityID {
			return sp, nil
		}
	}
	return nil, os.ErrNotExist
}

// byApp finds an enabled service provider by application id or name.
func (p *IdP) byApp(ctx context.Context, app string) (*ServiceProvider, error) {
	sps, err := p.opt.Apps.SAMLServiceProviders(ctx)
	if err != nil {
		return nil, err
	}
	for _, sp := range sps {
		if sp.Enabled && sp.Settings != nil && (sp.AppID == app || sp.Name == app) {
			return sp, nil
		}
	}
	return nil, os.ErrNotExist
}

// signingContext signs with key as the library does (RSA-SHA256,
// exclusive canonicalisation without prefixes).
func signingContext(key *loadedKey) (*dsig.SigningContext, error) {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{
		Certificate: [][]byte{key.cert.Raw}, PrivateKey: key.priv, Leaf: key.cert,
	}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	return ctx, nil
}

// Keys lists the signing keys (never their private parts).
func (p *IdP) Keys(ctx context.Context) ([]KeyInfo, error) {
	cur, others, err := p.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	return keyInfos(cur, others, p.opt.Now()), nil
}

// RotateKey makes a new signing key of bits bits (0: DefaultKeyBits) that
// signs after delay (at once for 0); the key that signs now stays
// published beside it.
func (p *IdP) RotateKey(ctx context.Context, actor directory.Actor, delay time.Duration, bits int) (*KeyInfo, error) {
	if bits == 0 {
		bits = DefaultKeyBits
	}
	if _, _, err := p.keys.current(ctx); err != nil {
		return nil, err
	}
	p.keys.mu.Lock()
	rec, err := p.keys.rotate(ctx, actor, delay, bits)
	p.keys.mu.Unlock()
	if err != nil {
		return nil, err
	}
	infos, err := p.Keys(ctx)
	if err != nil {
		return nil, err
	}
	for _, i := range infos {
		if i.ID == rec.ID {
			return &i, nil
		}
	}
	return nil, fmt.Errorf("the new key %s is not stored", rec.ID)
}

func newHandle() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Info is what a service provider's administrator needs to know of the
// identity provider.
type Info struct {
	EntityID, MetadataURL, SSOURL, SLOURL string
	// Certificate is the certificate that signs now (PEM), Fingerprint its
	// SHA-256.
	Certificate, Fingerprint string
	base                     string
}

// IdPInitiatedURL is the link that signs a person in to application app
// from Gatehouse.
func (i *Info) IdPInitiatedURL(app string) string { return i.base + IdPInitPath + app }

// Info describes the identity provider.
func (p *IdP) Info(ctx context.Context) (*Info, error) {
	cur, _, err := p.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	base := p.opt.BaseURL()
	return &Info{EntityID: base + MetadataPath, MetadataURL: base + MetadataPath, SSOURL: base + SSOPath, SLOURL: base + SLOPath,
		Certificate: string(cur.rec.CertPEM), Fingerprint: Fingerprint(cur.rec.CertPEM), base: base}, nil
}

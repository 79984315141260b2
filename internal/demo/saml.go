package demo

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// The scenario's last step (issue 13): the new hire signs in at Gatehouse
// and reaches the GitBook stand-in through SAML. GitBookSP plays GitBook's
// SAML side, written with crewjam/saml's service provider (the library
// the SAML tests use as a service provider): its documentation page asks
// Gatehouse for an assertion (SP-initiated, HTTP-Redirect, signed), and
// its ACS believes nothing the browser posts until the library has
// checked it — the XML signature against the certificate in Gatehouse's
// metadata (the Response's or every Assertion's), the Destination and the
// SubjectConfirmation's Recipient against its own ACS URL, InResponseTo
// against the one AuthnRequest this RelayState started, the Audience
// against its own entity id, the Issuer, NotBefore/NotOnOrAfter. Only then
// is she signed in, and the assertion recorded (Accepted). SAMLLogin
// drives a browser (a cookie-jar client) through it.

// GitBookSP is a GitBook-like SAML service provider on loopback.
type GitBookSP struct {
	// URL is its base URL; the documentation is at URL+"/docs".
	URL string
	// Landing is where its ACS sends the browser after a sign-in: by
	// default URL+"/docs"; a test sets another site's page (GitBook's
	// ACS and the documentation may be on different origins: a custom
	// domain). Set it before the first sign-in.
	Landing string
	sp      *crewsaml.ServiceProvider
	srv     *http.Server

	mu       sync.Mutex
	pending  map[string]string // RelayState → AuthnRequest ID
	sessions map[string]string // cookie → NameID
	accepted []Accepted
	refused  []string
	lastPost string // the last SAMLResponse posted (tests replay and alter it)
}

// Accepted is an assertion the stand-in accepted, as its SAML library
// read it after checking it.
type Accepted struct {
	NameID, NameIDFormat string
	AssertionID          string
	// InResponseTo is the AuthnRequest's ID the assertion answers (its
	// SubjectConfirmationData), Recipient where it may be delivered.
	InResponseTo, Recipient string
	Audiences               []string
	// AssertionSigned: the assertion carries its own XML signature (the
	// library also checked the Response's when there was one).
	AssertionSigned bool
	AuthnContext    string
	Attributes      map[string][]string
	At              time.Time
}

// Accepted lists the assertions the stand-in accepted, oldest first.
func (g *GitBookSP) Accepted() []Accepted {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Accepted(nil), g.accepted...)
}

// Refused lists why the stand-in refused responses, oldest first.
func (g *GitBookSP) Refused() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.refused...)
}

// accepted is what a checked assertion says.
func accepted(a *crewsaml.Assertion) Accepted {
	out := Accepted{AssertionID: a.ID, AssertionSigned: a.Signature != nil, Attributes: map[string][]string{}, At: time.Now()}
	if a.Subject != nil {
		if a.Subject.NameID != nil {
			out.NameID, out.NameIDFormat = a.Subject.NameID.Value, a.Subject.NameID.Format
		}
		for _, sc := range a.Subject.SubjectConfirmations {
			if d := sc.SubjectConfirmationData; d != nil {
				out.InResponseTo, out.Recipient = d.InResponseTo, d.Recipient
			}
		}
	}
	if a.Conditions != nil {
		for _, r := range a.Conditions.AudienceRestrictions {
			out.Audiences = append(out.Audiences, r.Audience.Value)
		}
	}
	for _, st := range a.AuthnStatements {
		if st.AuthnContext.AuthnContextClassRef != nil {
			out.AuthnContext = st.AuthnContext.AuthnContextClassRef.Value
		}
	}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				out.Attributes[at.Name] = append(out.Attributes[at.Name], v.Value)
			}
		}
	}
	return out
}

// StartGitBookSP starts the stand-in, trusting the identity provider
// whose metadata is at idpMetadataURL (fetched now).
func StartGitBookSP(ctx context.Context, idpMetadataURL string) (*GitBookSP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &GitBookSP{URL: "http://" + ln.Addr().String(), pending: map[string]string{}, sessions: map[string]string{}}
	md, err := fetch(ctx, idpMetadataURL)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("the identity provider's metadata: %w", err)
	}
	var ed crewsaml.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		ln.Close()
		return nil, fmt.Errorf("the identity provider's metadata: %w", err)
	}
	key, cert, err := selfSigned("GitBook stand-in")
	if err != nil {
		ln.Close()
		return nil, err
	}
	base, _ := url.Parse(g.URL)
	g.sp = &crewsaml.ServiceProvider{
		EntityID: g.URL + "/saml/metadata", Key: key, Certificate: cert,
		MetadataURL: *base.JoinPath("saml", "metadata"), AcsURL: *base.JoinPath("saml", "acs"),
		IDPMetadata: &ed, SignatureMethod: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
		AuthnNameIDFormat: crewsaml.EmailAddressNameIDFormat,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /saml/metadata", func(w http.ResponseWriter, _ *http.Request) {
		b, _ := xml.MarshalIndent(g.sp.Metadata(), "", "  ")
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /docs", g.serveDocs)
	mux.HandleFunc("POST /saml/acs", g.serveACS)
	g.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// Close stops the stand-in.
func (g *GitBookSP) Close() { _ = g.srv.Close() }

// Metadata is the stand-in's SAML metadata (to register it at Gatehouse).
func (g *GitBookSP) Metadata() []byte {
	b, _ := xml.Marshal(g.sp.Metadata())
	return b
}

// Register creates the stand-in at Gatehouse as a saml-sp application with
// the GitBook preset, open to the members of allowedGroups.
func (g *GitBookSP) Register(ctx context.Context, ops *admin.Ops, name string, allowedGroups []string) (*admin.SAMLApp, error) {
	preset := "gitbook"
	return ops.CreateSAMLApp(ctx, directory.Actor{Kind: "cli", RequestID: "demo"}, admin.SAMLAppInput{
		Name: name, Metadata: string(g.Metadata()), Preset: &preset, AllowedGroups: &allowedGroups})
}

const spCookie = "gitbook_session"

func (g *GitBookSP) serveDocs(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(spCookie); err == nil {
		g.mu.Lock()
		who, ok := g.sessions[c.Value]
		g.mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<h1>Engineering documentation</h1><p>Signed in as <b id=\"who\">%s</b> through SAML.</p>", html.EscapeString(who))
			return
		}
	}
	req, err := g.sp.MakeAuthenticationRequest(g.sp.GetSSOBindingLocation(crewsaml.HTTPRedirectBinding), crewsaml.HTTPRedirectBinding, crewsaml.HTTPPostBinding)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	state := randomHex()
	u, err := req.Redirect(state, g.sp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	g.mu.Lock()
	g.pending[state] = req.ID
	g.mu.Unlock()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (g *GitBookSP) serveACS(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.lastPost = r.PostForm.Get("SAMLResponse")
	id, ok := g.pending[r.PostForm.Get("RelayState")]
	delete(g.pending, r.PostForm.Get("RelayState"))
	sp := g.sp
	g.mu.Unlock()
	if !ok {
		g.refuse("no sign-in was started here")
		http.Error(w, "no sign-in was started here", http.StatusBadRequest)
		return
	}
	// Only what the library checked is believed: ParseResponse verifies
	// the signature, Destination, Recipient, InResponseTo (the ID of the
	// request this RelayState started, and no other), Audience, Issuer
	// and the validity window, and returns the assertion it verified.
	a, err := sp.ParseResponse(r, []string{id})
	if err == nil && (a.Subject == nil || a.Subject.NameID == nil || a.Subject.NameID.Value == "") {
		err = errors.New("the assertion names nobody")
	}
	if err != nil {
		var ire *crewsaml.InvalidResponseError
		if errors.As(err, &ire) {
			err = ire.PrivateErr
		}
		g.refuse(err.Error())
		http.Error(w, "the SAML response is refused: "+err.Error(), http.StatusForbidden)
		return
	}
	cookie := randomHex()
	g.mu.Lock()
	g.sessions[cookie] = a.Subject.NameID.Value
	g.accepted = append(g.accepted, accepted(a))
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: spCookie, Value: cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	landing := g.URL + "/docs"
	if g.Landing != "" {
		landing = g.Landing
	}
	http.Redirect(w, r, landing, http.StatusFound)
}

func (g *GitBookSP) refuse(why string) {
	g.mu.Lock()
	g.refused = append(g.refused, why)
	g.mu.Unlock()
}

// SignIn signs a browser in at Gatehouse when the SAML flow sends it to the
// login page (resp is that page's response); it returns the response that
// follows the login (the browser back at resume).
type SignIn func(ctx context.Context, client *http.Client, resp *http.Response) (*http.Response, error)

var (
	formAction   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	formResponse = regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)
	formRelay    = regexp.MustCompile(`name="RelayState" value="([^"]*)"`)
	whoRE        = regexp.MustCompile(`<b id="who">([^<]*)</b>`)
)

// SAMLLogin opens the stand-in's documentation with client (a cookie jar,
// redirects not followed: http.ErrUseLastResponse) as a browser would:
// GitBook sends it to Gatehouse with an AuthnRequest; if Gatehouse shows
// its login page, signIn signs in; the response form is posted to
// GitBook's ACS, which checks it. It returns the NameID GitBook shows.
func SAMLLogin(ctx context.Context, client *http.Client, g *GitBookSP, signIn SignIn) (string, error) {
	resp, err := get(ctx, client, g.URL+"/docs")
	for hops := 0; err == nil && hops < 10; hops++ {
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, lerr := resp.Location()
			resp.Body.Close()
			if lerr != nil {
				return "", lerr
			}
			resp, err = get(ctx, client, loc.String())
			if err == nil && strings.HasPrefix(loc.Path, "/login") {
				if signIn == nil {
					resp.Body.Close()
					return "", errors.New("Gatehouse asks the person to sign in")
				}
				resp, err = signIn(ctx, client, resp)
			}
		case resp.StatusCode == http.StatusOK:
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if rerr != nil {
				return "", rerr
			}
			if m := whoRE.FindSubmatch(body); m != nil {
				return html.UnescapeString(string(m[1])), nil
			}
			a, r := formAction.FindSubmatch(body), formResponse.FindSubmatch(body)
			if a == nil || r == nil {
				return "", fmt.Errorf("unexpected page from %s: %.300s", resp.Request.URL, body)
			}
			form := url.Values{"SAMLResponse": {html.UnescapeString(string(r[1]))}}
			if rs := formRelay.FindSubmatch(body); rs != nil {
				form.Set("RelayState", html.UnescapeString(string(rs[1])))
			}
			req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, html.UnescapeString(string(a[1])), strings.NewReader(form.Encode()))
			if rerr != nil {
				return "", rerr
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err = client.Do(req)
		default:
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return "", fmt.Errorf("%s answered %s: %s", resp.Request.URL, resp.Status, body)
		}
	}
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return "", errors.New("too many redirects")
}

func get(ctx context.Context, client *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

func fetch(ctx context.Context, u string) ([]byte, error) {
	resp, err := get(ctx, http.DefaultClient, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

func selfSigned(cn string) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

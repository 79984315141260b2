package saml_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// The tests run the identity provider on 127.0.0.1 over a real SQLite
// store and directory, with a test double of login.Sessions (the login
// pages are not the subject here: the double signs people in when the test
// says so), and talk to it with a cookie-jar client as a browser would.

type env struct {
	t        testing.TB
	ctx      context.Context
	store    *sqlite.Store
	dir      *directory.Service
	auth     *auth.Service
	idp      *saml.IdP
	srv      *httptest.Server
	sessions *fakeSessions
	// downstream are the names pushes gave accounts (target+" "+user id).
	downstream fakeDownstream
	offset     atomic.Int64 // added to the clock (ns)
	fixed      time.Time    // the clock, if set
}

func (e *env) now() time.Time {
	if !e.fixed.IsZero() {
		return e.fixed
	}
	return time.Now().Add(time.Duration(e.offset.Load()))
}

// The identity provider's test keys (made once: making one per test is
// slow): 3072 bits for the tests, 2048 (the default size) for the
// benchmarks.
var (
	testIDPKey     = readTestKey("idp")
	testIDPKey2048 = readTestKey("idp2048")
)

func readTestKey(name string) *saml.Key {
	priv, _ := os.ReadFile(filepath.Join("testdata", name+"-key.pem"))
	cert, _ := os.ReadFile(filepath.Join("testdata", name+"-cert.pem"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &saml.Key{ID: "s20260101-" + name, PrivatePEM: priv, CertPEM: cert, Created: t0, Activates: t0}
}

// testSchemas resolve the filters of the namesake lookups.
var testSchemas = func() *schema.Registry {
	r, err := schema.NewRegistry(nil)
	if err != nil {
		panic(err)
	}
	return r
}()

func newEnv(t testing.TB) *env { return newEnvAt(t, time.Time{}) }

// newBenchEnv is an environment with a key of the default size.
func newBenchEnv(t testing.TB) *env { return newEnvWith(t, time.Time{}, testIDPKey2048) }

// newEnvAt runs the identity provider with its clock stopped at fixed (if
// not zero).
func newEnvAt(t testing.TB, fixed time.Time) *env { return newEnvWith(t, fixed, testIDPKey) }

func newEnvWith(t testing.TB, fixed time.Time, key *saml.Key) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, ctx: ctx, store: st, fixed: fixed}
	e.dir = directory.NewService(st, directory.Options{Hasher: nopHasher{}, Policy: directory.DefaultPasswordPolicy(), Now: e.now, NewID: newID})
	e.auth = auth.NewService(st, auth.Options{Now: e.now, NewID: newID})
	e.auth.RegisterSSOKind(auth.KindSAMLSP, saml.Validate)
	if err := st.WriteSAML(ctx, func(tx saml.Tx) error { return tx.InsertSAMLKey(ctx, key) }); err != nil {
		t.Fatal(err)
	}
	e.sessions = newFakeSessions()
	e.downstream = fakeDownstream{}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.idp = saml.New(saml.Options{
		Store:      st,
		Apps:       &saml.AuthApps{Apps: e.auth, Version: st.CredentialsVersion},
		Users:      saml.DirectoryUsers{Directory: e.dir, Schemas: testSchemas},
		Downstream: e.downstream,
		Sessions:   e.sessions,
		BaseURL:    func() string { return e.srv.URL },
		Now:        e.now,
	})
	e.idp.Mount(mux)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "login page; resume="+r.URL.Query().Get("resume"))
	})
	return e
}

type nopHasher struct{}

func (nopHasher) Hash(_ context.Context, pw string) (string, error) { return "x:" + pw, nil }

var idSeq atomic.Int64

func newID() string { return "id" + time.Now().Format("150405") + "-" + itoa(idSeq.Add(1)) }

func itoa(n int64) string {
	return strings.TrimLeft(strings.Replace(time.Duration(n).String(), "ns", "", 1), " ")
}

// user creates a person with an email and a name, in groups.
func (e *env) user(userName, email, given, family string, groups ...string) *directory.User {
	e.t.Helper()
	actor := directory.Actor{Kind: "cli"}
	u, _, err := e.dir.CreateUser(e.ctx, actor, directory.Profile{}, &directory.User{
		UserName: userName, Active: true, DisplayName: given + " " + family,
		Attrs: directory.Attrs{
			"emails": []any{map[string]any{"value": email, "type": "work", "primary": true}},
			"name":   map[string]any{"givenName": given, "familyName": family},
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range groups {
		page, err := e.dir.Groups(e.ctx, directory.Profile{}, directory.Query{})
		if err != nil {
			e.t.Fatal(err)
		}
		var gid string
		for _, x := range page.Items {
			if x.DisplayName == g {
				gid = x.ID
			}
		}
		if gid == "" {
			grp, _, err := e.dir.CreateGroup(e.ctx, actor, directory.Profile{}, &directory.Group{DisplayName: g})
			if err != nil {
				e.t.Fatal(err)
			}
			gid = grp.ID
		}
		if _, err := e.dir.UpdateGroup(e.ctx, actor, directory.Profile{}, gid, nil, nil, []directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{u.ID}}}); err != nil {
			e.t.Fatal(err)
		}
	}
	return u
}

// app creates a saml-sp application with settings (everyone allowed).
func (e *env) app(name string, s *saml.Settings) *auth.App {
	e.t.Helper()
	actor := directory.Actor{Kind: "cli"}
	a, err := e.auth.CreateApp(e.ctx, actor, auth.AppSpec{Name: name, Kind: auth.KindSAMLSP})
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := jsonMarshal(s)
	if err != nil {
		e.t.Fatal(err)
	}
	if a, err = e.auth.SetSSOConfig(e.ctx, actor, a.ID, raw); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// fakeDownstream is saml.Downstream: the links of pushes, by target and
// user id.
type fakeDownstream map[string]string

func (f fakeDownstream) DownstreamName(_ context.Context, target string, u *directory.User) (string, bool, error) {
	n, ok := f[target+" "+u.ID]
	return n, ok, nil
}

// ---- the test double of login.Sessions

type fakeSessions struct {
	mu       sync.Mutex
	sessions map[string]*login.Session // by cookie value
	denied   map[string]string         // userID+" "+appID → why
	authn    []login.Requirement       // Authenticate calls
	ended    []string
}

const testCookie = "gh_test_session"

func newFakeSessions() *fakeSessions {
	return &fakeSessions{sessions: map[string]*login.Session{}, denied: map[string]string{}}
}

func (f *fakeSessions) Current(r *http.Request) (*login.Session, error) {
	c, err := r.Cookie(testCookie)
	if err != nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[c.Value], nil
}

func (f *fakeSessions) Satisfies(_ context.Context, s *login.Session, req login.Requirement) (bool, error) {
	// As login.Sessions: Force alone is never satisfied; with Since, a
	// login at or after it is.
	if req.Force && (req.Since.IsZero() || s.AuthTime.Before(req.Since)) {
		return false, nil
	}
	if req.MaxAge > 0 && time.Since(s.AuthTime) > req.MaxAge {
		return false, nil
	}
	return s.Factors >= req.MinFactors, nil
}

func (f *fakeSessions) Authenticate(w http.ResponseWriter, r *http.Request, req login.Requirement, resume string) {
	f.mu.Lock()
	f.authn = append(f.authn, req)
	f.mu.Unlock()
	if !login.SafeResume(resume) {
		http.Error(w, "unsafe resume", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, "/login?resume="+url.QueryEscape(resume), http.StatusSeeOther)
}

func (f *fakeSessions) Allowed(_ context.Context, userID, appID string) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if why, ok := f.denied[userID+" "+appID]; ok {
		return false, why, nil
	}
	return true, "", nil
}

func (f *fakeSessions) Refuse(w http.ResponseWriter, _ *http.Request, status int, title, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "<h1>"+html.EscapeString(title)+"</h1><p>"+html.EscapeString(message)+"</p>")
}

func (f *fakeSessions) EndSession(w http.ResponseWriter, r *http.Request) (*login.Session, error) {
	c, err := r.Cookie(testCookie)
	if err != nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[c.Value]
	delete(f.sessions, c.Value)
	if s != nil {
		f.ended = append(f.ended, s.ID)
	}
	http.SetCookie(w, &http.Cookie{Name: testCookie, Value: "", Path: "/", MaxAge: -1})
	return s, nil
}

// ---- a browser

type browser struct {
	e *env
	t testing.TB
	c *http.Client
}

func (e *env) browser() *browser { return e.browserFor(e.t) }

// browserFor is a browser whose failures are t's.
func (e *env) browserFor(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{e: e, t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return b
}

// signIn gives the browser a Gatehouse session of u with n factors,
// authenticated at authTime.
func (b *browser) signIn(u *directory.User, factors int, authTime time.Time) *login.Session {
	f := b.e.sessions
	tok := "tok-" + newID()
	s := &login.Session{ID: "sess-" + newID(), UserID: u.ID, AuthTime: authTime, Factors: factors, AMR: []string{"pwd"},
		Created: authTime, Expires: authTime.Add(8 * time.Hour)}
	if factors > 1 {
		s.AMR = append(s.AMR, "otp", "mfa")
	}
	f.mu.Lock()
	f.sessions[tok] = s
	f.mu.Unlock()
	u0, _ := url.Parse(b.e.srv.URL)
	b.c.Jar.SetCookies(u0, []*http.Cookie{{Name: testCookie, Value: tok, Path: "/"}})
	return s
}

type answer struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) *answer {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &answer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(u string) *answer {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *answer {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// resume follows a redirect to the login page back to where it resumes.
func (b *browser) resume(a *answer) *answer {
	b.t.Helper()
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/login?") {
		b.t.Fatalf("want a redirect to the login page, got %d %s %s", a.status, a.location, a.body)
	}
	u, _ := url.Parse(a.location)
	return b.get(b.e.srv.URL + u.Query().Get("resume"))
}

// postForm is the HTTP-POST binding page's content.
type postForm struct {
	Action, SAMLResponse, RelayState string
	XML                              []byte
}

var (
	actionRE   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	responseRE = regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)
	relayRE    = regexp.MustCompile(`name="RelayState" value="([^"]*)"`)
)

func (a *answer) form(t testing.TB) *postForm {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("want the form that posts the response, got %d: %s", a.status, a.body)
	}
	m := actionRE.FindStringSubmatch(a.body)
	r := responseRE.FindStringSubmatch(a.body)
	if m == nil || r == nil {
		t.Fatalf("no SAML form in %s", a.body)
	}
	f := &postForm{Action: html.UnescapeString(m[1]), SAMLResponse: html.UnescapeString(r[1])}
	if rs := relayRE.FindStringSubmatch(a.body); rs != nil {
		f.RelayState = html.UnescapeString(rs[1])
	}
	var err error
	if f.XML, err = base64.StdEncoding.DecodeString(f.SAMLResponse); err != nil {
		t.Fatal(err)
	}
	return f
}

// ---- service providers (crewjam/saml's SP side)

type testSP struct {
	sp   *crewsaml.ServiceProvider
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func loadKeyPair(t testing.TB, name string) (*rsa.PrivateKey, *x509.Certificate, string) {
	t.Helper()
	kb, err := os.ReadFile(filepath.Join("testdata", name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile(filepath.Join("testdata", name+"-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(kb)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cblock, _ := pem.Decode(cb)
	c, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey), c, string(cb)
}

// newSP is a service provider at entityID whose ACS is acs, trusting the
// identity provider's metadata as served.
func (e *env) newSP(entityID, acs string, sign bool) *testSP {
	e.t.Helper()
	key, cert, _ := loadKeyPair(e.t, "sp")
	md := e.metadata()
	ed := &crewsaml.EntityDescriptor{}
	if err := xml.Unmarshal(md, ed); err != nil {
		e.t.Fatal(err)
	}
	acsURL, _ := url.Parse(acs)
	entity, _ := url.Parse(entityID)
	sp := &crewsaml.ServiceProvider{
		EntityID: entityID, Key: key, Certificate: cert, AcsURL: *acsURL, MetadataURL: *entity,
		IDPMetadata: ed, AuthnNameIDFormat: crewsaml.UnspecifiedNameIDFormat, AllowIDPInitiated: true,
	}
	if sign {
		sp.SignatureMethod = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	}
	return &testSP{sp: sp, key: key, cert: cert}
}

func (e *env) metadata() []byte {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + saml.MetadataPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("metadata: %d %s", resp.StatusCode, b)
	}
	return b
}

// settingsFor are generic settings for a test SP.
func settingsFor(entityID, acs string) *saml.Settings {
	_, _, certPEM := loadKeyPairNoT("sp")
	return &saml.Settings{EntityID: entityID, ACS: []saml.Endpoint{{URL: acs, Binding: crewsaml.HTTPPostBinding}},
		SLO:          []saml.Endpoint{{URL: strings.TrimSuffix(acs, "/acs") + "/slo", Binding: crewsaml.HTTPRedirectBinding}},
		Certificates: []string{certPEM}, NameID: saml.NameIDRule{Format: "email", Source: "email"}}
}

func loadKeyPairNoT(name string) (string, string, string) {
	cb, _ := os.ReadFile(filepath.Join("testdata", name+"-cert.pem"))
	return "", "", string(cb)
}

// parse checks a response as the SP would.
func (s *testSP) parse(f *postForm, requestIDs ...string) (*crewsaml.Assertion, error) {
	return s.sp.ParseXMLResponse(f.XML, requestIDs, s.sp.AcsURL)
}

// redirectRequest makes an AuthnRequest URL with the HTTP-Redirect binding.
func (s *testSP) redirectRequest(t testing.TB, relay string, edit func(*crewsaml.AuthnRequest)) (string, string) {
	t.Helper()
	req, err := s.sp.MakeAuthenticationRequest(s.sp.GetSSOBindingLocation(crewsaml.HTTPRedirectBinding), crewsaml.HTTPRedirectBinding, crewsaml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	u, err := req.Redirect(relay, s.sp)
	if err != nil {
		t.Fatal(err)
	}
	return u.String(), req.ID
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// harness is a real Gatehouse SCIM endpoint on a loopback HTTP server,
// backed by SQLite in a temporary directory.
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	store  *sqlite.Store
	dir    *directory.Service
	auth   *auth.Service
	token  string
	appID  string
	base   string
	client *http.Client
}

type fastHasher struct{}

func (fastHasher) Hash(_ context.Context, pw string) (string, error) { return "test-hash:" + pw, nil }

type options struct {
	profile    *directory.Profile
	scopes     auth.Scopes
	extensions []schema.ExtensionDef
	cfg        scim.Config
	authOpt    auth.Options
	storeOpt   sqlite.Options
	logTo      io.Writer // the server's log (text); nil: discarded
}

func newHarness(t *testing.T, opts ...func(*options)) *harness {
	t.Helper()
	o := &options{}
	for _, f := range opts {
		f(o)
	}
	ctx := context.Background()
	o.storeOpt.Synchronous = "NORMAL"
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), o.storeOpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := schema.NewRegistry(o.extensions)
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.NewService(st, directory.Options{Hasher: fastHasher{}, Policy: directory.DefaultPasswordPolicy(), NewID: uuid.NewString})
	ao := o.authOpt
	ao.NewID = uuid.NewString
	if ao.FailureLimit == 0 {
		ao.FailureLimit = 1000 // tests fail on purpose, often
	}
	for _, e := range o.extensions {
		ao.Extensions = append(ao.Extensions, e.URN)
	}
	au := auth.NewService(st, ao)
	logTo := o.logTo
	if logTo == nil {
		logTo = io.Discard
	}
	log, _ := logging.New(logTo, logging.Options{Format: "text"})
	o.cfg.Prefix = "/scim/v2"
	if o.cfg.Unavailable == nil {
		o.cfg.Unavailable = st.Unavailable
	}
	s := scim.New(dir, au, reg, o.cfg, log)
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", s)
	mux.Handle("/scim/v2", s)
	srv := httptest.NewServer(logging.Middleware(log, mux))
	t.Cleanup(srv.Close)
	p := directory.IDaaSProfile()
	if o.profile != nil {
		p = *o.profile
	}
	app, err := au.CreateApp(ctx, operator, auth.AppSpec{Name: "test-client", Profile: p, Scopes: o.scopes})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := au.CreateToken(ctx, operator, app.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, store: st, dir: dir, auth: au, token: secret, appID: app.ID, base: srv.URL + "/scim/v2", client: srv.Client()}
}

func withProfile(p directory.Profile) func(*options) { return func(o *options) { o.profile = &p } }

// withScopes gives the harness's application these scopes.
func withScopes(sc ...string) func(*options) { return func(o *options) { o.scopes = sc } }

// withAuth sets the authentication service's options.
func withAuth(opt auth.Options) func(*options) { return func(o *options) { o.authOpt = opt } }

// operator is the audit identity of the test's own administration.
var operator = directory.Actor{Kind: "cli"}

// newClient creates another application with spec and returns its id and
// bearer token.
func (h *harness) newClient(spec auth.AppSpec) (string, string) {
	h.t.Helper()
	ctx := context.Background()
	app, err := h.auth.CreateApp(ctx, operator, spec)
	if err != nil {
		h.t.Fatal(err)
	}
	_, tok, err := h.auth.CreateToken(ctx, operator, app.ID, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return app.ID, tok
}

// withExtensions declares custom User extensions.
func withExtensions(defs ...schema.ExtensionDef) func(*options) {
	return func(o *options) { o.extensions = append(o.extensions, defs...) }
}

// withStore sets the SQLite store's options (Synchronous is always NORMAL).
func withStore(opt sqlite.Options) func(*options) { return func(o *options) { o.storeOpt = opt } }

// withConfig sets the SCIM endpoint's configuration (its Prefix is always
// /scim/v2).
func withConfig(cfg scim.Config) func(*options) { return func(o *options) { o.cfg = cfg } }

func rfcProfile() directory.Profile { return directory.Profile{TargetOrgID: directory.RootOrgID} }

// dropProfile is idaas mode with the extra-values option on.
func dropProfile() directory.Profile {
	p := directory.IDaaSProfile()
	p.DropExtraValues = true
	return p
}

// response is a decoded HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func (r *response) str(path ...string) string {
	v := dig(r.Body, path...)
	s, _ := v.(string)
	return s
}

func dig(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// do sends a request with the harness token (unless headers override
// Authorization) and decodes the response.
func (h *harness) do(method, path string, body any, headers ...string) *response {
	h.t.Helper()
	out, err := h.request(method, path, body, headers...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// request is do without the testing.T: it returns what goes wrong, so that
// goroutines can use it.
func (h *harness) request(method, path string, body any, headers ...string) (*response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = h.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&out.Body); err != nil {
			return nil, fmt.Errorf("%s %s: response is not JSON (%v): %s", method, path, err, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != scim.ContentType {
			return nil, fmt.Errorf("%s %s: Content-Type %q, want %q", method, path, ct, scim.ContentType)
		}
	}
	return out, nil
}

// must checks the status of a response.
func (h *harness) must(r *response, status int) *response {
	h.t.Helper()
	if r.Status != status {
		h.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// wantError checks a SCIM error response.
func (h *harness) wantError(r *response, status int, scimType string) {
	h.t.Helper()
	if r.Status != status {
		h.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if got := r.str("status"); got != itoa(status) {
		h.t.Errorf("error body status %q, want %q: %s", got, itoa(status), r.Raw)
	}
	if got := r.str("scimType"); got != scimType {
		h.t.Errorf("scimType %q, want %q: %s", got, scimType, r.Raw)
	}
	schemas, _ := r.Body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != schema.ErrorURN {
		h.t.Errorf("error schemas = %v", r.Body["schemas"])
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func (h *harness) createUser(body map[string]any) string {
	h.t.Helper()
	if body["schemas"] == nil {
		body["schemas"] = []string{schema.UserURN}
	}
	r := h.must(h.do("POST", "/Users", body), http.StatusCreated)
	return r.str("id")
}

func (h *harness) createGroup(name string, members ...string) string {
	h.t.Helper()
	var ms []map[string]any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	r := h.must(h.do("POST", "/Groups", map[string]any{"schemas": []string{schema.GroupURN}, "displayName": name, "members": ms}), http.StatusCreated)
	return r.str("id")
}

// snapshot returns every user and group as the API shows them, to check that
// a failed request changed nothing.
func (h *harness) snapshot() string {
	h.t.Helper()
	u := h.must(h.do("GET", "/Users?count=1000&sortBy=userName", nil), http.StatusOK)
	g := h.must(h.do("GET", "/Groups?count=1000&sortBy=displayName", nil), http.StatusOK)
	return string(u.Raw) + string(g.Raw)
}

// with returns a copy of the harness that reports to t (a subtest's).
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// checkError checks that r is an RFC 7644 §3.12 error document with the
// given status and scimType, served as application/scim+json. It reports
// through t, so it can be used in subtests.
func checkError(t *testing.T, r *response, status int, scimType string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %d, want %d: %s", r.Status, status, r.Raw)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != scim.ContentType {
		t.Errorf("Content-Type %q, want %q", ct, scim.ContentType)
	}
	if got := r.str("status"); got != itoa(status) {
		t.Errorf("error body status %q, want %q: %s", got, itoa(status), r.Raw)
	}
	if got := r.str("scimType"); got != scimType {
		t.Errorf("scimType %q, want %q: %s", got, scimType, r.Raw)
	}
	schemas, _ := r.Body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != schema.ErrorURN {
		t.Errorf("error schemas = %v", r.Body["schemas"])
	}
	if r.str("detail") == "" {
		t.Errorf("error without detail: %s", r.Raw)
	}
}

// snapshotDiff compares two snapshots as JSON values; "" when equal.
func snapshotDiff(before, after string) string {
	decode := func(s string) []any {
		var out []any
		dec := json.NewDecoder(strings.NewReader(s))
		for {
			var v any
			if err := dec.Decode(&v); err != nil {
				if err != io.EOF {
					out = append(out, "undecodable: "+err.Error())
				}
				return out
			}
			out = append(out, v)
		}
	}
	return cmp.Diff(decode(before), decode(after))
}

package scimclient_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scimclient"
)

// loopback is the egress policy of the tests, whose servers listen on
// 127.0.0.1 (which the default policy refuses).
var loopback = egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// gatehouse is a real Gatehouse, serving on 127.0.0.1, as the downstream.
type gatehouse struct {
	app *app.App
	url string // the server's root
	// token is the bearer token of a SCIM client application with IDaaS
	// semantics (idempotent creates); rfcToken one with strict RFC
	// semantics (409 on duplicates).
	token, rfcToken string
	// clientID and secret are a server application's client credentials,
	// with the /acs/scim scope (all of SCIM).
	clientID, secret string
}

func (g *gatehouse) scimURL() string { return g.url + "/scim/v2" }

func startGatehouse(t *testing.T) *gatehouse {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SQLiteSynchronous = "NORMAL"
	cfg.ShutdownTimeout = config.Duration(10 * time.Second)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log, _ := logging.New(io.Discard, logging.Options{Format: "json"})
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	g := &gatehouse{app: a, url: "http://" + ln.Addr().String()}
	op := directory.Actor{Kind: "cli"}
	bg := context.Background()
	idaas, err := a.Auth.CreateApp(bg, op, auth.AppSpec{Name: "downstream-idaas", Profile: directory.IDaaSProfile()})
	if err != nil {
		t.Fatal(err)
	}
	if _, g.token, err = a.Auth.CreateToken(bg, op, idaas.ID, 0); err != nil {
		t.Fatal(err)
	}
	rfc, err := a.Auth.CreateApp(bg, op, auth.AppSpec{Name: "downstream-rfc", Profile: directory.Profile{TargetOrgID: directory.RootOrgID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, g.rfcToken, err = a.Auth.CreateToken(bg, op, rfc.ID, 0); err != nil {
		t.Fatal(err)
	}
	srv, err := a.Auth.CreateApp(bg, op, auth.AppSpec{Name: "downstream-oauth", Kind: auth.KindServerApp,
		Scopes: auth.Scopes{auth.ScopeSCIM}, Profile: directory.IDaaSProfile()})
	if err != nil {
		t.Fatal(err)
	}
	g.clientID = srv.ClientID()
	if _, g.secret, err = a.Auth.CreateSecret(bg, op, srv.ID); err != nil {
		t.Fatal(err)
	}
	return g
}

// client returns a client of g's SCIM endpoint with its bearer token.
func (g *gatehouse) client(t *testing.T, mutate func(*scimclient.Config)) *scimclient.Client {
	t.Helper()
	cfg := scimclient.Config{BaseURL: g.scimURL(), Auth: scimclient.Auth{BearerToken: g.token}, HTTPClient: loopback.Client(0)}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := scimclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// proxy stands in front of a server: it records the requests it passes
// and lets a test answer some of them itself.
type proxy struct {
	URL string

	mu       sync.Mutex
	requests []string // "METHOD /path"
	// intercept, when it returns true, has answered the request.
	intercept func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = nil
	p := &proxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, r.Method+" "+r.URL.Path)
		n := len(p.requests)
		icpt := p.intercept
		p.mu.Unlock()
		if icpt != nil && icpt(w, r, n) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *proxy) setIntercept(f func(w http.ResponseWriter, r *http.Request, n int) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intercept = f
}

// count returns how many requests started with prefix ("POST /v1/token")
// and resets nothing.
func (p *proxy) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}

func (p *proxy) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

type running struct {
	app    *app.App
	url    string
	cancel context.CancelFunc
	done   chan error
	token  string // a SCIM client's bearer token
	admin  string // the admin token
	log    *logBuffer
}

// logBuffer keeps the server's log (JSON lines).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines so far, decoded.
func (b *logBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(b.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

const adminToken = "5f1c0e6a7b2d4c8e9f3a1b6d0c7e2f4a8b9c3d5e6f7a1b2c"

func start(t testing.TB, mutate func(*config.Config)) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startOn(t, ln, mutate)
}

// startOn is start on a listener of the test's (whose address the
// configuration may name: base_url).
func startOn(t testing.TB, ln net.Listener, mutate func(*config.Config)) *running {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SQLiteSynchronous = "NORMAL"
	cfg.ShutdownTimeout = config.Duration(10 * time.Second)
	if mutate != nil {
		mutate(&cfg)
	}
	r := serveOn(t, ln, cfg)
	a := r.app
	if _, created, err := a.Auth.Bootstrap(context.Background(), adminToken); err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	r.admin = adminToken
	op := directory.Actor{Kind: "cli"}
	appl, err := a.Auth.CreateApp(context.Background(), op, auth.AppSpec{Name: "e2e", Profile: directory.IDaaSProfile()})
	if err != nil {
		t.Fatal(err)
	}
	_, r.token, err = a.Auth.CreateToken(context.Background(), op, appl.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// serveOn runs a server with cfg on ln until the test ends, its log kept
// (JSON lines); the database is what cfg names, as it is.
func serveOn(t testing.TB, ln net.Listener, cfg config.Config) *running {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log, _ := logging.New(logs, logging.Options{Format: "json"})
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &running{app: a, cancel: cancel, done: make(chan error, 1), log: logs}
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	r.url = scheme + "://" + ln.Addr().String()
	go func() { r.done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
		a.Close()
	})
	return r
}

func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthAndDocs(t *testing.T) {
	r := start(t, nil)
	c := http.DefaultClient
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/docs/scim": "# Gatehouse SCIM 2.0", "/": "SCIM 2.0: /scim/v2"} {
		code, body := get(t, c, r.url+path, "")
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	// The documentationUri the server advertises resolves.
	code, body := get(t, c, r.url+"/scim/v2/ServiceProviderConfig", "")
	if code != 200 || !strings.Contains(body, `"documentationUri":"`+r.url+`/docs/scim"`) {
		t.Errorf("ServiceProviderConfig: %d %s", code, body)
	}
	code, _ = get(t, c, r.url+"/scim/v2/Users", r.token)
	if code != 200 {
		t.Errorf("authenticated list: %d", code)
	}
}

// TestGracefulShutdown: a request in flight when shutdown starts still
// completes, and the server then stops.
func TestGracefulShutdown(t *testing.T) {
	r := start(t, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", r.url+"/scim/v2/Users", pr)
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/scim+json")
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{code: resp.StatusCode}
	}()
	body := `{"userName":"inflight@example.com","active":true}`
	fmt.Fprint(pw, body[:10])
	time.Sleep(200 * time.Millisecond) // the request is now being read
	r.cancel()                         // SIGTERM
	time.Sleep(200 * time.Millisecond)
	fmt.Fprint(pw, body[10:])
	pw.Close()
	got := <-res
	if got.err != nil || got.code != http.StatusCreated {
		t.Fatalf("in-flight request: %d %v", got.code, got.err)
	}
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
	// The acknowledged user is durable.
	if _, err := r.app.Store.Users(context.Background(), directory.Query{Limit: 1, Count: true}); err != nil {
		t.Fatal(err)
	}
}

func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestNoHSTSOverPlainHTTP: a server without TLS sends no
// Strict-Transport-Security (RFC 6797 §7.2: a host must not send it over
// an insecure transport; a TLS-terminating proxy sends its own).
func TestNoHSTSOverPlainHTTP(t *testing.T) {
	r := start(t, nil)
	resp, err := http.Get(r.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("plain HTTP: Strict-Transport-Security %q", got)
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t, t.TempDir())
	r := start(t, func(c *config.Config) { c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile })
	if !strings.HasPrefix(r.url, "https://") {
		t.Fatal(r.url)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	code, body := get(t, c, r.url+"/scim/v2/Users", r.token)
	if code != 200 || !strings.Contains(body, "ListResponse") {
		t.Errorf("over TLS: %d %s", code, body)
	}
	// Served over TLS, every answer tells browsers to keep to HTTPS
	// (RFC 6797), the API's and the pages', errors included.
	for _, path := range []string{"/healthz", "/scim/v2/Users", "/login", "/no-such-page"} {
		resp, err := c.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("%s (%d): Strict-Transport-Security %q", path, resp.StatusCode, got)
		}
	}
	// Plain HTTP to the TLS port does not get an answer from the API.
	plain := strings.Replace(r.url, "https://", "http://", 1)
	if code, _ := get(t, http.DefaultClient, plain+"/scim/v2/Users", r.token); code == 200 {
		t.Error("plain HTTP served on the TLS port")
	}
	// TLS below 1.2 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(r.url + "/healthz"); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}

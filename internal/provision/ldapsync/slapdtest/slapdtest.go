// Package slapdtest starts OpenLDAP servers for tests: Debian's slapd
// (apt-get install slapd ldap-utils) with a configuration, an mdb database
// and a self-signed certificate of the test's own, listening for ldap://
// (with StartTLS) and ldaps:// on free loopback ports. It is imported by
// tests only.
package slapdtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// ADSchema holds Active Directory's attributes and classes with AD's
// OIDs and syntaxes (see the file's comments).
//
//go:embed ad.schema
var ADSchema string

// ErrNotInstalled reports that slapd is not installed.
var ErrNotInstalled = errors.New("slapd is not installed (apt-get install slapd ldap-utils)")

// A missing slapd fails the tests that need it, saying what to install:
// `go test ./...` must not pass quietly without the LDAP tests (go test
// shows nothing of a passing package, skips included). SkipEnv set to 1
// lets them skip instead, for a developer who knowingly runs without
// slapd; RequireEnv set to 1 (CI) makes them fail even then.
const (
	SkipEnv    = "GATEHOUSE_TEST_SKIP_SLAPD"
	RequireEnv = "GATEHOUSE_TEST_REQUIRE_SLAPD"
)

// Missing says why the tests that need slapd cannot run ("" when slapd is
// installed), and whether they should skip rather than fail.
func Missing() (why string, skip bool) {
	_, _, err := Find()
	return missing(err, os.Getenv)
}

func missing(findErr error, getenv func(string) string) (why string, skip bool) {
	if findErr == nil {
		return "", false
	}
	if getenv(SkipEnv) == "1" && getenv(RequireEnv) != "1" {
		return fmt.Sprintf("SKIPPED: the LDAP tests need OpenLDAP's slapd, which is not installed (%s=1)", SkipEnv), true
	}
	return fmt.Sprintf("the LDAP tests need OpenLDAP's slapd, which is not installed: apt-get install slapd ldap-utils "+
		"(or set %s=1 to skip them knowingly)", SkipEnv), false
}

// Find returns the slapd and slapadd binaries (Debian keeps them in
// /usr/sbin, which is not on every user's PATH).
func Find() (slapd, slapadd string, err error) {
	for _, dir := range []string{"", "/usr/sbin/", "/usr/local/sbin/", "/usr/local/libexec/"} {
		if p, err := exec.LookPath(dir + "slapd"); err == nil {
			if q, err := exec.LookPath(dir + "slapadd"); err == nil {
				return p, q, nil
			}
		}
	}
	return "", "", ErrNotInstalled
}

// Options describe a server.
type Options struct {
	// Suffix is the naming context (default dc=example,dc=com). Its entry,
	// ou=system and the service account are created.
	Suffix string
	// AD loads ADSchema.
	AD bool
	// LDIF holds the entries to load below the suffix (with slapadd).
	LDIF string
	// Limits, when set, are the service account's limits ("size=unlimited").
	// slapd's default for everyone but the rootdn is a size limit of 500.
	Limits string
}

// Server is a running slapd.
type Server struct {
	Dir      string
	Suffix   string
	LDAPURL  string // ldap://127.0.0.1:port (StartTLS offered)
	LDAPSURL string
	CAFile   string // the self-signed certificate, for 127.0.0.1 and localhost
	// AdminDN and AdminPW are the rootdn's, for the test's changes; SvcDN
	// and SvcPW a read-only account for the code under test.
	AdminDN, AdminPW string
	SvcDN, SvcPW     string

	cmd    *exec.Cmd
	exited chan error
	log    *bytes.Buffer
}

// Start writes a configuration in dir, loads opt.LDIF and starts slapd.
func Start(dir string, opt Options) (*Server, error) {
	slapdBin, slapaddBin, err := Find()
	if err != nil {
		return nil, err
	}
	if opt.Suffix == "" {
		opt.Suffix = "dc=example,dc=com"
	}
	s := &Server{Dir: dir, Suffix: opt.Suffix, AdminDN: "cn=admin," + opt.Suffix, AdminPW: "admin-secret",
		SvcDN: "cn=gatehouse,ou=system," + opt.Suffix, SvcPW: "svc-Secret-1", log: &bytes.Buffer{}, exited: make(chan error, 1)}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if s.CAFile, err = writeCert(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	var conf strings.Builder
	for _, sc := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&conf, "include /etc/ldap/schema/%s.schema\n", sc)
	}
	if opt.AD {
		p := filepath.Join(dir, "ad.schema")
		if err := os.WriteFile(p, []byte(ADSchema), 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "include %s\n", p)
	}
	limits := ""
	if opt.Limits != "" {
		limits = fmt.Sprintf("limits dn.exact=%q %s\n", s.SvcDN, opt.Limits)
	}
	fmt.Fprintf(&conf, `modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile %[1]s/slapd.pid
TLSCertificateFile %[2]s
TLSCertificateKeyFile %[1]s/key.pem
database mdb
suffix %[3]q
rootdn %[4]q
rootpw %[5]s
directory %[1]s/db
maxsize 4294967296
index objectClass eq
index entryUUID eq
index uid eq
%[6]saccess to attrs=userPassword by anonymous auth by * none
access to * by dn.exact=%[7]q read by * none
overlay ppolicy
`, dir, s.CAFile, opt.Suffix, s.AdminDN, s.AdminPW, limits, s.SvcDN)
	if opt.AD {
		conf.WriteString("index objectGUID eq\n")
	}
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o600); err != nil {
		return nil, err
	}
	rdn := strings.SplitN(opt.Suffix, ",", 2)[0]
	head := fmt.Sprintf(`dn: %[1]s
objectClass: dcObject
objectClass: organization
o: Test
dc: %[2]s

dn: ou=system,%[1]s
objectClass: organizationalUnit
ou: system

dn: %[3]s
objectClass: person
objectClass: simpleSecurityObject
cn: gatehouse
sn: service
userPassword: %[4]s

`, opt.Suffix, rdn[strings.Index(rdn, "=")+1:], s.SvcDN, s.SvcPW)
	ldifFile := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(ldifFile, []byte(head+opt.LDIF), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command(slapaddBin, "-q", "-f", confFile, "-l", ldifFile).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slapadd: %v\n%s", err, out)
	}
	// The free ports may be taken by another process before slapd binds
	// them (tests run in parallel): slapd then exits at once, and is
	// started again on other ports.
	for attempt := 1; ; attempt++ {
		err := s.listen(slapdBin, confFile)
		if err == nil || !errors.Is(err, errExited) || attempt == 3 {
			return s, err
		}
		s.log.Reset()
	}
}

var errExited = errors.New("slapd exited")

// listen starts slapd on two free ports and waits until it listens.
func (s *Server) listen(slapdBin, confFile string) error {
	plain, err := freePort()
	if err != nil {
		return err
	}
	secure, err := freePort()
	if err != nil {
		return err
	}
	s.LDAPURL, s.LDAPSURL = "ldap://"+plain, "ldaps://"+secure
	// -d 0 keeps slapd in the foreground, a child that ends with the test.
	s.cmd = exec.Command(slapdBin, "-f", confFile, "-h", s.LDAPURL+"/ "+s.LDAPSURL+"/", "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", plain, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("%w: %v\n%s", errExited, err, s.log)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("slapd did not start listening: %v\n%s", err, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartT starts a server for t, stopped when t ends. When slapd is not
// installed it fails t, or skips it if SkipEnv is 1 (see Missing).
func StartT(t testing.TB, opt Options) *Server {
	t.Helper()
	if why, skip := Missing(); why != "" {
		if skip {
			t.Skip(why)
		}
		t.Fatal(why)
	}
	s, err := Start(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop stops slapd and waits for it to exit.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		err := <-s.exited
		s.exited <- err
	}
}

// Admin returns a connection bound as the rootdn.
func (s *Server) Admin() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.LDAPURL)
	if err != nil {
		return nil, err
	}
	if err := c.Bind(s.AdminDN, s.AdminPW); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// AdminT is Admin for t, closed when t ends.
func (s *Server) AdminT(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := s.Admin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// writeCert writes a self-signed certificate for 127.0.0.1 and localhost
// (cert.pem, key.pem) and returns the certificate's path.
func writeCert(dir string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "slapd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", err
	}
	return certFile, nil
}

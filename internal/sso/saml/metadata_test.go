package saml_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestMetadataGolden: the signed metadata, byte for byte (RSA PKCS #1 v1.5
// signatures are deterministic: same key, same clock, same document).
func TestMetadataGolden(t *testing.T) {
	e := newEnvAt(t, time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	got := e.metadata()
	// The server's port changes from run to run.
	port := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
	norm := port.ReplaceAll(got, []byte("http://127.0.0.1:PORT"))
	golden := filepath.Join("testdata", "metadata.golden.xml")
	if *update {
		if err := os.WriteFile(golden, norm, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	// The signature covers the URLs, so only the unsigned parts compare
	// exactly across ports; the signature is checked below.
	sig := regexp.MustCompile(`(?s)<ds:SignatureValue>.*</ds:SignatureValue>|<ds:DigestValue>.*?</ds:DigestValue>`)
	if !bytes.Equal(sig.ReplaceAll(norm, nil), sig.ReplaceAll(want, nil)) {
		t.Errorf("metadata differs from %s (run with -update to accept):\n%s", golden, norm)
	}
	verifyMetadata(t, got)
}

// verifyMetadata checks the metadata's signature with crewjam/saml and,
// when it is installed, with xmlsec1.
func verifyMetadata(t *testing.T, md []byte) {
	t.Helper()
	_, certs := metadataCerts(t, md)
	if _, err := crewsaml.VerifyMetadataSignature(md, certs[:1]); err != nil {
		t.Errorf("crewjam/saml: the metadata's signature does not verify: %v", err)
	}
	xmlsecVerify(t, md, certs[0], "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor")
}

func metadataCerts(t *testing.T, md []byte) (*crewsaml.EntityDescriptor, []*x509.Certificate) {
	t.Helper()
	var ed crewsaml.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for _, kd := range ed.IDPSSODescriptors[0].KeyDescriptors {
		der, err := base64.StdEncoding.DecodeString(kd.KeyInfo.X509Data.X509Certificates[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return &ed, certs
}

// requireTool returns the path of an interop tool; without it the test
// fails in CI (which installs it) and is skipped, loudly, elsewhere.
func requireTool(t *testing.T, path string) bool {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return true
	}
	if os.Getenv("CI") != "" || os.Getenv("GATEHOUSE_TEST_REQUIRE_SAML_INTEROP") != "" {
		t.Fatalf("%s is missing (.ci/run installs it)", path)
	}
	t.Logf("SKIPPING the interop check: %s is not installed (apt-get install xmlsec1 python3-pysaml2 python3-onelogin-saml2 python3-lasso)", path)
	return false
}

// xmlsecVerify verifies a signature of doc with xmlsec1, trusting cert
// only; args say which element IDs are and which signature to check.
func xmlsecVerify(t *testing.T, doc []byte, cert *x509.Certificate, args ...string) {
	t.Helper()
	if !requireTool(t, "/usr/bin/xmlsec1") {
		return
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "doc.xml")
	c := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c, pemCert(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(append([]string{"--verify", "--pubkey-cert-pem", c, "--enabled-reference-uris", "same-doc"}, args...), f)
	out, err := exec.Command("/usr/bin/xmlsec1", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("xmlsec1 --verify: %v\n%s", err, out)
	}
}

func pemCert(c *x509.Certificate) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(c.Raw) + "\n-----END CERTIFICATE-----\n")
}

// TestKeyRotation: a rotation with a delay publishes the new certificate
// beside the one that signs; once it activates it signs, and the old one
// stays published until the next rotation. A second pending rotation is a
// conflict.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	actor := directory.Actor{Kind: "cli"}
	next, err := e.idp.RotateKey(e.ctx, actor, 24*time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if next.State != "next" {
		t.Errorf("new key state %q, want next", next.State)
	}
	if _, err := e.idp.RotateKey(e.ctx, actor, 0, 0); err == nil || !strings.Contains(err.Error(), "already waiting") {
		t.Errorf("second rotation: %v, want a conflict", err)
	}
	md := e.metadata()
	_, certs := metadataCerts(t, md)
	if len(certs) != 2 || certs[0].Subject.CommonName != "test idp" {
		t.Fatalf("metadata during rotation: %d certificates, first %q; want the signing one then the next", len(certs), certs[0].Subject.CommonName)
	}
	verifyMetadata(t, md)

	e.offset.Store(int64(25 * time.Hour))
	md = e.metadata()
	_, certs = metadataCerts(t, md)
	if len(certs) != 2 || !strings.Contains(certs[0].Subject.CommonName, next.ID) || certs[1].Subject.CommonName != "test idp" {
		t.Fatalf("after activation: %v", certs)
	}
	if _, err := crewsaml.VerifyMetadataSignature(md, certs[:1]); err != nil {
		t.Errorf("the new key does not sign: %v", err)
	}
	if certs[0].PublicKey.(interface{ Size() int }).Size()*8 != saml.DefaultKeyBits {
		t.Errorf("key size %d", certs[0].PublicKey.(interface{ Size() int }).Size()*8)
	}
	keys, err := e.idp.Keys(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, k := range keys {
		states = append(states, k.State)
		if strings.Contains(k.CertPEM, "PRIVATE") {
			t.Error("a private key is shown")
		}
	}
	if strings.Join(states, ",") != "signing,previous" {
		t.Errorf("states %v", states)
	}
	// The next rotation drops the previous key.
	if _, err := e.idp.RotateKey(e.ctx, actor, 0, 3072); err != nil {
		t.Fatal(err)
	}
	_, certs = metadataCerts(t, e.metadata())
	if len(certs) != 2 || strings.Contains(certs[1].Subject.CommonName, "test idp") || certs[0].PublicKey.(interface{ Size() int }).Size()*8 != 3072 {
		t.Errorf("after a second rotation (3072 bits): %d certificates", len(certs))
	}
	if _, err := e.idp.RotateKey(e.ctx, actor, 0, 1024); err == nil {
		t.Error("a 1024-bit key was made")
	}
}

package saml_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Interop: service providers from libraries nobody here wrote (Debian's
// python3-pysaml2, python3-onelogin-saml2 and python3-lasso, run with
// /usr/bin/python3) accept Gatehouse's responses, and reject tampered,
// replayed, expired and wrong-audience ones; xmlsec1 verifies the
// signatures of the response and of the assertion.

const otherEntity = "https://other.example/saml/metadata"

type interopFixture struct {
	md                                  string // the IdP metadata file
	reqID                               string
	good, tampered, reqID2, good2       string // response files
	unsolicited, expired, wrongAudience string
	goodXML                             []byte
}

func writeResponse(t *testing.T, dir, name string, xmlDoc []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(xmlDoc)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func makeInterop(t *testing.T) *interopFixture {
	t.Helper()
	e := newEnv(t)
	s := settingsFor(spEntity, spACS)
	if err := s.ApplyPreset("gitbook"); err != nil {
		t.Fatal(err)
	}
	e.app("GitBook", s)
	other := settingsFor(otherEntity, spACS)
	if err := other.ApplyPreset("gitbook"); err != nil {
		t.Fatal(err)
	}
	e.app("Other", other)
	alice := e.user("alice", "alice@example.com", "Alice", "Liddell")
	sp := e.newSP(spEntity, spACS, true)
	b := e.browser()
	b.signIn(alice, 1, e.now())
	dir := t.TempDir()
	f := &interopFixture{}
	f.md = filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(f.md, e.metadata(), 0o600); err != nil {
		t.Fatal(err)
	}
	u, id := sp.redirectRequest(t, "", nil)
	good := b.get(u).form(t).XML
	f.reqID, f.goodXML = id, good
	f.good = writeResponse(t, dir, "good", good)
	u, id = sp.redirectRequest(t, "", nil)
	good2 := b.get(u).form(t).XML
	f.reqID2 = id
	f.good2 = writeResponse(t, dir, "good2", good2)
	tampered := bytes.Replace(good2, []byte(">alice@example.com<"), []byte(">mallory@example.com<"), 1)
	if bytes.Equal(tampered, good2) {
		t.Fatal("nothing to tamper with")
	}
	f.tampered = writeResponse(t, dir, "tampered", tampered)
	f.unsolicited = writeResponse(t, dir, "unsolicited", b.get(e.srv.URL+"/saml/idp-init/GitBook").form(t).XML)
	f.wrongAudience = writeResponse(t, dir, "wrong-audience", b.get(e.srv.URL+"/saml/idp-init/Other").form(t).XML)
	e.offset.Store(int64(-time.Hour))
	f.expired = writeResponse(t, dir, "expired", b.get(e.srv.URL+"/saml/idp-init/GitBook").form(t).XML)
	return f
}

func runSP(t *testing.T, lib, md, reqID string, files ...string) []string {
	t.Helper()
	args := append([]string{filepath.Join("testdata", "interop", "sp.py"), lib, md, spEntity, spACS, reqID}, files...)
	cmd := exec.Command("/usr/bin/python3", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", lib, err, stderr.String())
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func TestInteropPythonSPs(t *testing.T) {
	if !requireTool(t, "/usr/bin/python3") || !requireTool(t, "/usr/bin/xmlsec1") {
		return
	}
	for _, mod := range []string{"saml2", "onelogin.saml2", "lasso"} {
		if err := exec.Command("/usr/bin/python3", "-c", "import "+mod).Run(); err != nil {
			requireTool(t, "/nonexistent/python3-module-"+mod)
			return
		}
	}
	f := makeInterop(t)
	for _, lib := range []string{"pysaml2", "onelogin", "lasso"} {
		t.Run(lib, func(t *testing.T) {
			verdicts := func(reqID string, files ...string) []string {
				lines := runSP(t, lib, f.md, reqID, files...)
				for _, l := range lines {
					t.Log(l)
				}
				if len(lines) != len(files) {
					t.Fatalf("%d verdicts for %d responses: %q", len(lines), len(files), lines)
				}
				return lines
			}
			want := func(name, line, verdict string) {
				t.Helper()
				if !strings.HasPrefix(line, verdict) {
					t.Errorf("%s: got %q, want %s", name, line, verdict)
				}
			}
			v := verdicts(f.reqID, f.good, f.good)
			want("good", v[0], "ACCEPT alice@example.com")
			if !strings.Contains(v[0], `"first_name": ["Alice"]`) || !strings.Contains(v[0], `"last_name": ["Liddell"]`) {
				t.Errorf("attributes: %s", v[0])
			}
			want("replayed", v[1], "REJECT")
			v = verdicts(f.reqID2, f.tampered, f.good2)
			want("tampered", v[0], "REJECT")
			want("the same response untampered", v[1], "ACCEPT alice@example.com")
			v = verdicts("-", f.unsolicited, f.expired, f.wrongAudience)
			want("unsolicited", v[0], "ACCEPT alice@example.com")
			want("expired", v[1], "REJECT")
			want("wrong audience", v[2], "REJECT")
		})
	}
	t.Run("xmlsec1", func(t *testing.T) {
		_, certs := metadataCerts(t, mustRead(t, f.md))
		xmlsecVerify(t, f.goodXML, certs[0], "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
			"--node-xpath", "/*[local-name()='Response']/*[local-name()='Signature']")
		xmlsecVerify(t, f.goodXML, certs[0], "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
			"--node-xpath", "//*[local-name()='Assertion']/*[local-name()='Signature']")
	})
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

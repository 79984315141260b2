package oidc_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestDiscovery: the OpenID Provider Configuration, against its golden
// file (the issuer written as ISSUER); the issuer comes from the
// configuration, never from the Host header.
func TestDiscovery(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest(http.MethodGet, h.url+oidc.DiscoveryPath, nil)
	req.Host = "evil.example"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || bytes.Contains(raw, []byte("evil")) {
		t.Fatalf("discovery: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	var doc any
	if err := json.Unmarshal(bytes.ReplaceAll(raw, []byte(h.url), []byte("ISSUER")), &doc); err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(doc, "", "  ")
	got = append(got, '\n')
	const golden = "testdata/discovery.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("discovery (-golden +got; go test -update to accept):\n%s", diff)
	}
}

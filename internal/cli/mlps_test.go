package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/cli"
)

// mlps check exits 0 with no findings, 1 with findings, 2 on a usage or
// parse error.
func TestMLPSExitCodes(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"good/main.tf":   "resource \"alicloud_kms_key\" \"k\" {\n  description = \"x\"\n}\n",
		"bad/main.tf":    "resource \"alicloud_oss_bucket\" \"b\" {\n  bucket = \"b\"\n}\n",
		"broken/main.tf": "resource \"alicloud_vpc\" {\n",
		"plan.json":      "{\"format_version\": \"1.2\", \"planned_values\": {\"root_module\": {}}}",
		"bad.json":       "{\"format_version\": \"1.2\",",
		"tfplan":         "PK\x03\x04 binary plan",
		"unknown/main.tf": "variable \"p\" {}\nresource \"alicloud_slb_listener\" \"l\" {\n  load_balancer_id = \"lb\"\n  frontend_port = 443\n" +
			"  protocol = \"https\"\n  tls_cipher_policy = var.p\n}\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	at := func(n string) string { return filepath.Join(dir, n) }
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"mlps", "check", at("good")}, 0},
		{[]string{"mlps", "check", at("plan.json")}, 0},
		{[]string{"mlps", "check", at("bad")}, 1},
		{[]string{"mlps", "check", at("good"), at("bad")}, 1},
		{[]string{"mlps", "check", "--sarif", at("bad")}, 1},
		{[]string{"mlps", "check", at("unknown")}, 0},
		{[]string{"mlps", "check", "--strict", at("unknown")}, 1},
		{[]string{"mlps", "check", "--var", "p=tls_cipher_policy_1_2_strict", "--strict", at("unknown")}, 0},
		{[]string{"mlps", "check", "--var", "p=tls_cipher_policy_1_0", at("unknown")}, 1},
		{[]string{"mlps", "check", at("broken")}, 2},
		{[]string{"mlps", "check", at("bad.json")}, 2},
		{[]string{"mlps", "check", at("tfplan")}, 2},
		{[]string{"mlps", "check", at("missing")}, 2},
		{[]string{"mlps", "check"}, 2},
		{[]string{"mlps", "check", "--no-such-flag", at("good")}, 2},
		{[]string{"mlps", "check", "--json", "--sarif", at("good")}, 2},
		{[]string{"mlps", "check", "--list-rules"}, 0},
		{[]string{"mlps"}, 2},
		{[]string{"mlps", "nope"}, 2},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		got := cli.Main(context.Background(), tt.args, nil, &stdout, &stderr, func(string) string { return "" })
		if got != tt.want {
			t.Errorf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", tt.args[1:], got, tt.want, stdout.String(), stderr.String())
		}
	}
}

// Hostile input ends with exit 2 and a message naming the file and the
// position, from the CLI too. Before: the nesting overflowed the stack (a
// fatal error), and a device was read as an empty plan.
func TestMLPSHostileInput(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "deep", "main.tf")
	if err := os.MkdirAll(filepath.Dir(deep), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deep, []byte("locals {\n  x = "+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{filepath.Dir(deep), deep + ":2:506: nested more than 500 deep"},
		{os.DevNull, os.DevNull + ":1: not a regular file (a character device): not read"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		got := cli.Main(context.Background(), []string{"mlps", "check", tt.path}, nil, &stdout, &stderr, func(string) string { return "" })
		if got != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%s: exit %d, stderr %q: want 2 and %q", tt.path, got, stderr.String(), tt.want)
		}
	}
}

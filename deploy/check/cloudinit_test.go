package check

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"gopkg.in/yaml.v3"
)

var computeDir = filepath.Join(terraformDir, "compute")

// computeLocal returns the expression of one of the compute module's
// locals.
func computeLocal(t *testing.T, name string) hclsyntax.Expression {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(computeDir, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, "main.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "locals" {
			if a, ok := b.Body.Attributes[name]; ok {
				return a.Expr
			}
		}
	}
	t.Fatalf("compute/main.tf has no local %q", name)
	return nil
}

// The compute module installs the unit of packaging/systemd as it is, the
// secrets readable by root only, and only the binary whose SHA-256 it was
// given, fetched over HTTPS.
func TestCloudInit(t *testing.T) {
	// The unit the module reads is packaging/systemd/gatehouse.service.
	unitExpr := computeLocal(t, "unit")
	call, ok := unitExpr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "file" || len(call.Args) != 1 {
		t.Fatalf("local.unit is not file(…)")
	}
	path, diags := call.Args[0].Value(&hcl.EvalContext{Variables: map[string]cty.Value{
		"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(computeDir)}),
	}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	unit, err := os.ReadFile(path.AsString())
	if err != nil {
		t.Fatalf("the compute module's unit: %v", err)
	}
	want, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(unit) != string(want) {
		t.Fatalf("the compute module reads %s, not %s", path.AsString(), unitFile)
	}

	// Render the template as templatefile does.
	tpl, err := os.ReadFile(filepath.Join(computeDir, "cloud-init.yaml.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	expr, diags := hclsyntax.ParseTemplate(tpl, "cloud-init.yaml.tftpl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b64 := func(s string) cty.Value { return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(s))) }
	for _, ca := range []string{"", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"} {
		vars := map[string]cty.Value{
			"unit_b64":      b64(string(unit)),
			"config_b64":    b64("listen: 0.0.0.0:8080\n"),
			"env_b64":       b64("GATEHOUSE_DATABASE_URL=postgres://gatehouse:pw@pg:5432/gatehouse?sslmode=require\n"),
			"ca_b64":        cty.StringVal(""),
			"binary_url":    cty.StringVal("https://downloads.example.com/gatehouse"),
			"binary_sha256": cty.StringVal(strings.Repeat("ab", 32)),
		}
		if ca != "" {
			vars["ca_b64"] = b64(ca)
		}
		out, diags := expr.Value(&hcl.EvalContext{Variables: vars})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		rendered := out.AsString()
		if !strings.HasPrefix(rendered, "#cloud-config\n") {
			t.Fatalf("rendered cloud-init does not start with #cloud-config")
		}
		var doc struct {
			WriteFiles []struct {
				Path, Owner, Permissions, Encoding, Content string
			} `yaml:"write_files"`
			Runcmd []any `yaml:"runcmd"`
		}
		if err := yaml.Unmarshal([]byte(rendered), &doc); err != nil {
			t.Fatalf("rendered cloud-init is not YAML: %v\n%s", err, rendered)
		}
		files := map[string]string{}
		for _, f := range doc.WriteFiles {
			if f.Encoding != "b64" || f.Owner != "root:root" {
				t.Errorf("%s: encoding %q owner %q", f.Path, f.Encoding, f.Owner)
			}
			c, err := base64.StdEncoding.DecodeString(f.Content)
			if err != nil {
				t.Errorf("%s: %v", f.Path, err)
			}
			files[f.Path] = string(c)
			if f.Path == "/etc/gatehouse/gatehouse.env" && f.Permissions != "0600" {
				t.Errorf("the secrets file is mode %s, want 0600", f.Permissions)
			}
		}
		if files["/etc/systemd/system/gatehouse.service"] != string(want) {
			t.Errorf("the installed unit is not packaging/systemd/gatehouse.service")
		}
		if _, ok := files["/etc/gatehouse/rds-ca.pem"]; ok != (ca != "") {
			t.Errorf("rds-ca.pem written: %v, with a CA given: %v", ok, ca != "")
		}
		if len(doc.Runcmd) != 3 {
			t.Fatalf("runcmd: %v", doc.Runcmd)
		}
		install, _ := doc.Runcmd[0].([]any)
		script, _ := install[len(install)-1].(string)
		for _, want := range []string{"--proto '=https'", "echo '" + strings.Repeat("ab", 32) + "  /root/gatehouse.download' | sha256sum -c -", "set -eu"} {
			if !strings.Contains(script, want) {
				t.Errorf("the install step lacks %q: %s", want, script)
			}
		}
		if i := strings.Index(script, "sha256sum -c"); i < 0 || strings.Index(script, "install ") < i {
			t.Errorf("the binary is installed before its SHA-256 is checked: %s", script)
		}
	}
}

// The configuration the compute module writes is one Gatehouse accepts
// (checked by gatehouse itself), behind the load balancer, with the 180-day
// audit retention.
func TestCloudInitGatehouseConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gatehouse")
	}
	expr := computeLocal(t, "config")
	val, diags := expr.Value(&hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{
			"app_port":               cty.NumberIntVal(8080),
			"base_url":               cty.StringVal("https://gatehouse.example.com"),
			"trusted_proxies":        cty.TupleVal([]cty.Value{cty.StringVal("100.64.0.0/10")}),
			"audit_retention":        cty.StringVal("180d"),
			"checkpoint_public_keys": cty.TupleVal([]cty.Value{cty.StringVal("ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")}),
			"events_source":          cty.StringVal("com.alibabacloud.idaas"),
		}),
	}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	js, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(cfg, js, 0o644); err != nil { // JSON is YAML
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(cfg)
	cmd := exec.Command("go", "run", "./cmd/gatehouse", "rules", "check", "--config", abs, "--file", "packaging/compose/rules.yaml")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GATEHOUSE_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse refuses the compute module's configuration %s: %v\n%s", js, err, out)
	}
	for _, want := range []string{`"listen":"0.0.0.0:8080"`, `"trusted_proxies":["100.64.0.0/10"]`, `"retention":"180d"`, `"format":"json"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("configuration %s lacks %s", js, want)
		}
	}
}

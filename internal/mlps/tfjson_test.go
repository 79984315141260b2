package mlps

import (
	"bytes"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// findings returns "rule resource file:line" for each unsuppressed failure.
func findings(t *testing.T, dir string) []string {
	t.Helper()
	st, err := LoadDir(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := Check([]*Stack{st}, loadSchema(t))
	var out []string
	for _, f := range rep.Findings {
		if f.Status == StatusFail && f.Suppressed == nil {
			out = append(out, f.Rule+" "+f.Resource+" "+strings.TrimPrefix(f.Pos.String(), dir+string(filepath.Separator)))
		}
	}
	sort.Strings(out)
	return out
}

// A .tf.json file is read as Terraform reads it: a rule that opens 22 to
// the Internet there is a finding, at its line (TestTFJSON failed before:
// the file was only noted, no finding).
func TestTFJSON(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf.json"), `{
  "resource": {
    "alicloud_security_group": {"app": {"vpc_id": "vpc-1"}},
    "alicloud_security_group_rule": {
      "ssh": {
        "type": "ingress",
        "ip_protocol": "tcp",
        "port_range": "22/22",
        "cidr_ip": "0.0.0.0/0",
        "security_group_id": "${alicloud_security_group.app.id}"
      }
    }
  }
}`)
	want := []string{
		"ecs-security-group-risky-ports-check-with-protocol alicloud_security_group_rule.ssh main.tf.json:8:9",
		"gh-sg-public-ingress-443-only alicloud_security_group_rule.ssh main.tf.json:8:9",
	}
	if diff := cmp.Diff(want, findings(t, dir)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// A module of .tf and .tf.json files is one module: references cross
// between them, locals and variables included, and nested blocks in JSON
// are blocks where the provider schema says so.
func TestTFJSONMixed(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), `variable "ports" {
  default = "1/65535"
}

resource "alicloud_security_group" "app" {
  vpc_id = "vpc-1"
}
`)
	write(t, filepath.Join(dir, "rules.tf.json"), `{
  "locals": {"world": "0.0.0.0/0"},
  "variable": {"proto": {"type": "string", "default": "tcp"}},
  "resource": [{
    "alicloud_security_group_rule": {
      "all": [{
        "count": 2,
        "type": "ingress",
        "ip_protocol": "${var.proto}",
        "port_range": "${var.ports}",
        "cidr_ip": "${local.world}",
        "security_group_id": "${alicloud_security_group.app.id}"
      }]
    }
  }]
}`)
	want := []string{
		"ecs-security-group-risky-ports-check-with-protocol alicloud_security_group_rule.all[0] rules.tf.json:10:9",
		"ecs-security-group-risky-ports-check-with-protocol alicloud_security_group_rule.all[1] rules.tf.json:10:9",
		"gh-sg-public-ingress-443-only alicloud_security_group_rule.all[0] rules.tf.json:10:9",
		"gh-sg-public-ingress-443-only alicloud_security_group_rule.all[1] rules.tf.json:10:9",
		"sg-public-access-check alicloud_security_group_rule.all[0] rules.tf.json:10:9",
		"sg-public-access-check alicloud_security_group_rule.all[1] rules.tf.json:10:9",
	}
	if diff := cmp.Diff(want, findings(t, dir)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// Malformed and hostile .tf.json files are refused with a position, before
// a recursive parser or evaluator sees them.
func TestTFJSONMalformed(t *testing.T) {
	deep := strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1)
	deepTemplate := "${" + strings.Repeat("(", maxNesting+1) + "1" + strings.Repeat(")", maxNesting+1) + "}"
	tests := []struct {
		name, text, want string
	}{
		{"syntax", "{\n  \"resource\": {,}\n}", "main.tf.json:2:16: malformed JSON"},
		{"truncated", "{\"resource\": {\"alicloud_vpc\": {", "main.tf.json:1:32: malformed JSON: the file ends inside a value"},
		{"not an object", "[]", "main.tf.json:1:1: a .tf.json file must hold one JSON object"},
		{"trailing", "{}\n{}", "main.tf.json:2:1: malformed JSON: data after"},
		{"body not an object", "{\"resource\": {\"alicloud_vpc\": {\"v\": 7}}}", "main.tf.json:1:37: want a JSON object"},
		{"deep arrays", "{\"locals\": {\"x\": " + deep + "}}", "main.tf.json:1:516: arrays and objects nested more than 500 deep"},
		{"deep template", "{\"locals\": {\n\"x\": \"" + deepTemplate + "\"}}", "main.tf.json:2:"},
		{"huge number", "{\"locals\": {\"x\": 1e999999}}", "main.tf.json:1:18: a number literal"},
		{"template syntax", "{\"locals\": {\"x\": \"${1 +}\"}}", "main.tf.json:1:"},
		{"duplicate", "{\"resource\": {\"alicloud_vpc\": {\"v\": {\"cidr_block\": \"10.0.0.0/8\",\n \"cidr_block\": \"0.0.0.0/0\"}}}}", "main.tf.json:2:2: duplicate argument \"cidr_block\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "main.tf.json"), tt.text)
			_, err := LoadDir(dir, LoadOptions{})
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v: want a ParseError", err)
			}
			got := strings.TrimPrefix(pe.Error(), dir+string(filepath.Separator))
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("error %q: want it to start with %q", got, tt.want)
			}
		})
	}
}

// Override files (override.tf, *_override.tf, and in JSON) merge into the
// module's other files as Terraform merges them: an override that opens
// SSH to the Internet is a finding at its own line, on the resource it
// overrides (TestOverride failed before: override.tf was read as one more
// declaration of the same resource, without port_range, and passed).
func TestOverride(t *testing.T) {
	main := `resource "alicloud_security_group" "app" {
  vpc_id = "vpc-1"
}

resource "alicloud_security_group_rule" "ssh" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = "192.0.2.0/24"
  security_group_id = alicloud_security_group.app.id
}
`
	tests := []struct {
		name, file, text string
		want             []string
	}{
		{"hcl", "override.tf", "resource \"alicloud_security_group_rule\" \"ssh\" {\n  cidr_ip = \"0.0.0.0/0\"\n}\n", []string{
			"ecs-security-group-risky-ports-check-with-protocol alicloud_security_group_rule.ssh main.tf:8:3",
			"gh-sg-public-ingress-443-only alicloud_security_group_rule.ssh main.tf:8:3",
		}},
		{"json", "ssh_override.tf.json", "{\"resource\": {\"alicloud_security_group_rule\": {\"ssh\": {\n  \"cidr_ip\": \"0.0.0.0/0\",\n  \"port_range\": \"1/65535\"}}}}", []string{
			"ecs-security-group-risky-ports-check-with-protocol alicloud_security_group_rule.ssh ssh_override.tf.json:3:3",
			"gh-sg-public-ingress-443-only alicloud_security_group_rule.ssh ssh_override.tf.json:3:3",
			"sg-public-access-check alicloud_security_group_rule.ssh ssh_override.tf.json:3:3",
		}},
		{"not an override", "override_ssh.tf", "resource \"alicloud_security_group\" \"other\" {\n  vpc_id = \"vpc-2\"\n}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "main.tf"), main)
			write(t, filepath.Join(dir, tt.file), tt.text)
			if diff := cmp.Diff(tt.want, findings(t, dir)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}

	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), main)
	write(t, filepath.Join(dir, "override.tf"), "\nresource \"alicloud_security_group_rule\" \"http\" {\n  cidr_ip = \"0.0.0.0/0\"\n}\n")
	_, err := LoadDir(dir, LoadOptions{})
	if err == nil || !strings.HasSuffix(err.Error(), "override.tf:2:1: an override of alicloud_security_group_rule.http, which no other file of the module declares") {
		t.Errorf("error %v: want the override of an undeclared resource refused", err)
	}
}

// The .tf.json reader never panics: any input is a stack or a ParseError
// with a position.
func FuzzLoadTFJSON(f *testing.F) {
	f.Add([]byte(`{"resource": {"alicloud_security_group_rule": {"ssh": {"type": "ingress", "ip_protocol": "tcp", "port_range": "22/22", "cidr_ip": "0.0.0.0/0"}}}}`))
	f.Add([]byte(`{"locals": {"world": "0.0.0.0/0"}, "variable": {"p": {"type": "list(string)", "default": ["a"]}}, "output": {"o": {"value": "${local.world}"}}}`))
	f.Add([]byte(`{"resource": [{"alicloud_instance": {"i": [{"count": 2, "data_disks": [{"encrypted": true}], "dynamic": {"data_disks": {"for_each": "${[1, 2]}", "iterator": "d", "content": {"size": "${d.value}"}}}}]}}]}`))
	f.Add([]byte(`{"module": {"m": {"source": "./m", "x": {"${1}": [null, 1e3, false]}}}, "//": "comment"}`))
	f.Add([]byte("{\"locals\": {\"x\": \"${for x in [1] : x}%{ if true }y%{ endif }\"}}"))
	schema := loadSchema(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		st, err := loadSourceAs("fuzz.tf.json", src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if pe.Pos.Line < 1 {
				t.Fatalf("position %v", pe.Pos)
			}
			return
		}
		rep := Check([]*Stack{st}, schema)
		var buf bytes.Buffer
		if err := rep.WriteSARIF(&buf, "test"); err != nil {
			t.Fatal(err)
		}
	})
}

// A module called from a .tf.json file is read and evaluated, its
// variables given by the call, and its own .tf.json files checked.
func TestTFJSONModule(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf.json"), `{"module": {"fw": {"source": "./fw", "cidr": "0.0.0.0/0"}}}`)
	write(t, filepath.Join(dir, "fw", "variables.tf"), "variable \"cidr\" {}\n")
	write(t, filepath.Join(dir, "fw", "main.tf.json"), `{"resource": {"alicloud_security_group_rule": {"rdp": {
  "type": "ingress", "ip_protocol": "tcp", "port_range": "3389/3389",
  "cidr_ip": "${var.cidr}", "security_group_id": "sg-1"}}}}`)
	want := []string{
		"ecs-security-group-risky-ports-check-with-protocol module.fw.alicloud_security_group_rule.rdp fw/main.tf.json:2:44",
		"gh-sg-public-ingress-443-only module.fw.alicloud_security_group_rule.rdp fw/main.tf.json:2:44",
	}
	if diff := cmp.Diff(want, findings(t, dir)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// The same configuration in HCL and in JSON gives the same findings:
// nested blocks (as the schema names them) and dynamic blocks included.
func TestTFJSONSameAsHCL(t *testing.T) {
	hclDir, jsonDir := t.TempDir(), t.TempDir()
	write(t, filepath.Join(hclDir, "main.tf"), `locals {
  enc = [true, false]
}

resource "alicloud_instance" "app" {
  instance_type              = "ecs.g7.large"
  image_id                   = "img"
  system_disk_encrypted      = true
  internet_max_bandwidth_out = 10
  data_disks {
    encrypted = false
  }
  dynamic "data_disks" {
    for_each = local.enc
    content {
      encrypted = data_disks.value
    }
  }
}
`)
	write(t, filepath.Join(jsonDir, "main.tf.json"), `{
  "locals": {"enc": [true, false]},
  "resource": {"alicloud_instance": {"app": {
    "instance_type": "ecs.g7.large",
    "image_id": "img",
    "system_disk_encrypted": true,
    "internet_max_bandwidth_out": 10,
    "data_disks": {"encrypted": false},
    "dynamic": {"data_disks": {"for_each": "${local.enc}", "content": {"encrypted": "${data_disks.value}"}}}
  }}}
}`)
	load := func(dir string) *Report {
		st, err := LoadDir(dir, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return Check([]*Stack{st}, loadSchema(t))
	}
	hclRep, jsonRep := load(hclDir), load(jsonDir)
	if len(failing(hclRep)) == 0 {
		t.Fatal("the HCL configuration has no finding: the test checks nothing")
	}
	if diff := cmp.Diff(failing(hclRep), failing(jsonRep)); diff != "" {
		t.Errorf("findings HCL (-) and JSON (+):\n%s", diff)
	}
	msgs := func(rep *Report) []string {
		var out []string
		for _, f := range rep.Findings {
			out = append(out, f.Rule+" "+string(f.Status)+" "+f.Message)
		}
		sort.Strings(out)
		return out
	}
	if diff := cmp.Diff(msgs(hclRep), msgs(jsonRep)); diff != "" {
		t.Errorf("checks HCL (-) and JSON (+):\n%s", diff)
	}
}

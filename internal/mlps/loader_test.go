package mlps

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// failing returns "rule resource" for each unsuppressed failure.
func failing(rep *Report) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.Status == StatusFail && f.Suppressed == nil {
			out = append(out, f.Rule+" "+f.Resource)
		}
	}
	sort.Strings(out)
	return out
}

func TestStack(t *testing.T) {
	schema := loadSchema(t)
	tests := []struct {
		name string
		opt  LoadOptions
		want []string
	}{
		{"as written", LoadOptions{}, nil},
		// -var overrides the default; a list variable is read as HCL.
		{"open whitelist", LoadOptions{Vars: []string{"app_cidr=0.0.0.0/0"}}, []string{"gh-rds-whitelist-restricted alicloud_db_instance.pg"}},
		{"one zone", LoadOptions{Vars: []string{`zones=["cn-hangzhou-h", "cn-hangzhou-h"]`}},
			[]string{"rds-multi-az-support alicloud_db_instance.pg"}},
		// -var-file comes after terraform.tfvars.
		{"var file", LoadOptions{VarFiles: []string{"testdata/open.tfvars"}}, []string{"gh-rds-whitelist-restricted alicloud_db_instance.pg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := LoadDir("testdata/stack", tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			rep := Check([]*Stack{st}, schema)
			if diff := cmp.Diff(tt.want, failing(rep)); diff != "" {
				t.Errorf("failures (-want +got):\n%s", diff)
			}
			if rep.Summary.Unknown != 0 {
				t.Errorf("unknown checks: %+v", rep.Findings)
			}
		})
	}
	st, err := LoadDir("testdata/stack", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, r := range st.Resources {
		if strings.HasPrefix(r.Address, "module.") && r.Type == "alicloud_oss_bucket" || r.Type == "alicloud_instance" {
			v, _ := r.Get("bucket").(string)
			w, _ := r.Get("instance_type").(string)
			addrs = append(addrs, r.Address+" "+v+w)
		}
	}
	sort.Strings(addrs)
	want := []string{
		"alicloud_instance.app[0] ecs.g7.large",
		"alicloud_instance.app[1] ecs.g7.large",
		`module.bucket["archive"].alicloud_oss_bucket.this gatehouse-archive`,
		`module.bucket["backup"].alicloud_oss_bucket.this gatehouse-backup`,
	}
	if diff := cmp.Diff(want, addrs); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
}

// What the code does not decide is reported as unknown, never as a pass.
func TestUnknown(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), `
variable "cidr" {}
variable "policy" {}
resource "alicloud_security_group_rule" "r" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = var.cidr
  security_group_id = "sg-1"
}
resource "alicloud_slb_listener" "l" {
  load_balancer_id  = "lb"
  frontend_port     = 443
  protocol          = "https"
  tls_cipher_policy = var.policy
}
resource "alicloud_log_store" "s" {
  count            = length(var.policy)
  project_name     = "p"
  logstore_name    = "s"
  retention_period = 180
  encrypt_conf {
    enable = true
  }
}
`)
	st, err := LoadDir(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := Check([]*Stack{st}, loadSchema(t))
	var got []string
	for _, f := range rep.Findings {
		got = append(got, string(f.Status)+" "+f.Rule+" "+f.Resource)
	}
	want := []string{
		"unknown ecs-security-group-risky-ports-check-with-protocol alicloud_security_group_rule.r",
		"unknown gh-sg-public-ingress-443-only alicloud_security_group_rule.r",
		"unknown sg-public-access-check alicloud_security_group_rule.r",
		"unknown slb-all-listenter-tls-policy-check alicloud_slb_listener.l",
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if len(st.Notes) != 1 || !strings.Contains(st.Notes[0].Message, "count could not be decided") {
		t.Errorf("notes: %+v", st.Notes)
	}
	if rep.Blocking(false) != 0 || rep.Blocking(true) != 4 {
		t.Errorf("blocking: %d, strict %d", rep.Blocking(false), rep.Blocking(true))
	}
}

func write(t testing.TB, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSuppressions(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), `
# The WAF's back-to-origin addresses are listed in the WAF module.
# mlps:ignore gh-sg-public-ingress-443-only,ecs-security-group-risky-ports-check-with-protocol reason="SSH for the break-glass bastion, closed by the on-call runbook"
resource "alicloud_security_group_rule" "ssh" {
  type        = "ingress"
  ip_protocol = "tcp"
  port_range  = "22/22"
  cidr_ip     = "0.0.0.0/0"
  security_group_id = "sg-1" # a "#" in a string: "# mlps:ignore x"
}

resource "alicloud_oss_bucket" "b" { # mlps:ignore oss-zrs-enabled reason="a cache, rebuilt from the source"
  bucket = "cache"
  redundancy_type = "LRS"
  versioning {
    status = "Enabled"
  }
}

# mlps:ignore vpc-flow-logs-enabled
resource "alicloud_vpc" "v" {
}

# mlps:ignore no-such-rule reason="typo"
resource "alicloud_vswitch" "s" {
  vpc_id = "vpc-1"
}

# mlps:ignore oss-zrs-enabled reason="not on a bucket"

resource "alicloud_vpc" "w" {
  vpc_name = "x"
}
`)
	st, err := LoadDir(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := Check([]*Stack{st}, loadSchema(t))
	type row struct{ Rule, Status, Resource, Reason string }
	var got []row
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Rule, "oss-") && f.Rule != "oss-zrs-enabled" || f.Rule == "gh-oss-bucket-logging" {
			continue
		}
		r := row{f.Rule, string(f.Status), f.Resource, ""}
		if f.Suppressed != nil {
			r.Status, r.Reason = "suppressed", f.Suppressed.Reason
		}
		got = append(got, r)
	}
	want := []row{
		{"ecs-security-group-risky-ports-check-with-protocol", "suppressed", "alicloud_security_group_rule.ssh", "SSH for the break-glass bastion, closed by the on-call runbook"},
		{"gh-sg-public-ingress-443-only", "suppressed", "alicloud_security_group_rule.ssh", "SSH for the break-glass bastion, closed by the on-call runbook"},
		{"oss-zrs-enabled", "suppressed", "alicloud_oss_bucket.b", "a cache, rebuilt from the source"},
		{"gh-suppression-invalid", "fail", "", ""},
		{"vpc-flow-logs-enabled", "fail", "alicloud_vpc.v", ""},
		{"gh-suppression-invalid", "fail", "", ""},
		{"vpc-flow-logs-enabled", "fail", "alicloud_vpc.w", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	var notes []string
	for _, n := range rep.Notes {
		notes = append(notes, n.Message)
	}
	// The one separated from the resource by a blank line applies to none.
	if diff := cmp.Diff([]string{"the suppression of oss-zrs-enabled matches no finding"}, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

// Plans with modules: addresses, references relative to the module.
func TestPlanModules(t *testing.T) {
	rep := checkPlanFile(t, "testdata/plan/modules.plan.json")
	want := []string{
		`oss-bucket-public-read-prohibited module.store["logs"].alicloud_oss_bucket.this`,
	}
	if diff := cmp.Diff(want, failing(rep)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	for _, f := range rep.Findings {
		if f.Rule == "oss-bucket-public-read-prohibited" && f.Pos.Line < 2 {
			t.Errorf("position %s: want the line of the ACL resource", f.Pos)
		}
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name, file, text string
		want             string // position and start of the message
	}{
		{"hcl syntax", "main.tf", "resource \"alicloud_vpc\" \"x\" {\n  cidr_block = \n}\n", "main.tf:2:"},
		{"hcl unclosed", "main.tf", "resource \"alicloud_vpc\" \"x\" {\n", "main.tf:1:"},
		{"hcl labels", "main.tf", "\n\nresource \"alicloud_vpc\" {\n}\n", "main.tf:3:"},
		{"tfvars", "terraform.tfvars", "name = [\n", "terraform.tfvars:"},
		{"json syntax", "plan.json", "{\n  \"format_version\": \"1.2\",\n  \"planned_values\": {,}\n}", "plan.json:3:22: malformed JSON"},
		{"json truncated", "plan.json", "{\"format_version\": \"1.2\", \"planned_values\": {", "plan.json:1:"},
		{"json type", "plan.json", "{\"format_version\": \"1.2\",\n\"planned_values\": {\"root_module\": {\"resources\": 7}}}", "plan.json:2:"},
		{"no format", "plan.json", "{}", "plan.json:1: not a plan"},
		{"format 2", "plan.json", `{"format_version": "2.0"}`, "plan.json:1: format_version"},
		{"module fan-out", "main.tf", "module \"m\" {\n  source = \"./\"\n  count  = 10000\n}\n", "main.tf:1:1: module \"m\": modules nested deeper than 16"},
		{"state not plan", "plan.json", `{"format_version": "1.0", "values": {}}`, "plan.json:1: no planned_values"},
		// Where a truncated plan ends, not the start of its last line.
		{"json cut", "plan.json", "{\n  \"format_version\": \"1.2\",\n  \"planned_values\": {\"root_module\": {\"resources\": [{\"address\": \"alicloud_v",
			"plan.json:3:75: malformed JSON: the file ends at byte 103 inside a value (truncated?)"},
		{"json byte", "plan.json", "{\n  \"format_version\": \"1.2\",\n  \"planned_values\" {}}", "plan.json:3:20: malformed JSON at byte 48: invalid character '{' after object key"},
		{"json empty", "plan.json", "", "plan.json:1:1: empty: no JSON value"},
		{"trailing", "plan.json", "{\"format_version\": \"1.2\", \"planned_values\": {\"root_module\": {}}}\n{}", "plan.json:2:1: data after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, tt.file)
			var err error
			if strings.HasSuffix(tt.file, ".json") {
				_, err = LoadPlan(name, strings.NewReader(tt.text))
			} else {
				write(t, name, tt.text)
				if tt.file != "main.tf" {
					write(t, filepath.Join(dir, "main.tf"), "variable \"name\" {}\n")
				}
				_, err = LoadDir(dir, LoadOptions{})
			}
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

// Modules with count inside modules with count are bounded too.
func TestFanOut(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), "module \"a\" {\n  source = \"./a\"\n  count  = 10000\n}\n")
	write(t, filepath.Join(dir, "a", "main.tf"), "module \"b\" {\n  source = \"../b\"\n  count  = 10000\n}\n")
	write(t, filepath.Join(dir, "b", "main.tf"), "resource \"alicloud_vpc\" \"v\" {\n}\n")
	_, err := LoadDir(dir, LoadOptions{})
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "more than 200000 resource and module instances") {
		t.Fatalf("error %v", err)
	}
}

// loadSource loads one file's text as a module, for the fuzz test.
func loadSource(src []byte) (*Stack, error) { return loadSourceAs("fuzz.tf", src) }

// loadSourceAs loads one file's text as a module, under a name (.tf or
// .tf.json).
func loadSourceAs(name string, src []byte) (*Stack, error) {
	l := newLoader("fuzz")
	m := &module{dir: "fuzz", variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{}, outputs: map[string]*hclsyntax.Attribute{}}
	if err := l.readFile(m, name, src); err != nil {
		return nil, err
	}
	vars, err := l.moduleVars(m, nil, Pos{})
	if err != nil {
		return nil, err
	}
	if err := l.evalModule(m, &modInst{dir: "fuzz", vars: vars}); err != nil {
		return nil, err
	}
	if err := l.failed(Pos{File: "fuzz.tf", Line: 1}); err != nil {
		return nil, err
	}
	l.stack.index()
	return l.stack, nil
}

func seedCorpus(f *testing.F, pattern string) {
	names, _ := filepath.Glob(pattern)
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// The loaders never panic: any input is a stack or a ParseError.
func FuzzLoadHCL(f *testing.F) {
	seedCorpus(f, "testdata/rules/*/*/main.tf")
	seedCorpus(f, "testdata/seeds/*/main.tf")
	seedCorpus(f, "testdata/stack/main.tf")
	f.Add([]byte("resource \"a\" \"b\" {\n  count = 3\n  x = count.index\n  dynamic \"d\" {\n    for_each = [1, 2]\n    content { v = d.value }\n  }\n}\n"))
	f.Add([]byte("locals {\n  a = local.b\n  b = local.a\n}\n"))
	schema := loadSchema(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		st, err := loadSource(src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
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

func FuzzLoadPlan(f *testing.F) {
	seedCorpus(f, "testdata/rules/*/*.plan.json")
	seedCorpus(f, "testdata/plan/*.json")
	schema := loadSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := LoadPlan("fuzz.json", bytes.NewReader(data))
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

// TestUnknownNames: resources named by values known only at apply time
// (the account id) are still checked as Terraform plans them: a for_each
// over a map with known keys makes one instance per key, a standalone
// setting that names such a resource by reference is linked to it, and a
// policy written out with jsonencode is judged by its structure. Nothing is
// left unknown, nothing fails.
func TestUnknownNames(t *testing.T) {
	st, err := LoadDir("testdata/unknownnames", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buckets []string
	for _, r := range st.OfType("alicloud_oss_bucket") {
		buckets = append(buckets, r.Address)
	}
	if diff := cmp.Diff([]string{`alicloud_oss_bucket.this["archive"]`, `alicloud_oss_bucket.this["logs"]`}, buckets); diff != "" {
		t.Errorf("bucket instances (-want +got):\n%s", diff)
	}
	rep := Check([]*Stack{st}, loadSchema(t))
	var got []string
	for _, f := range rep.Findings {
		if f.Rule == "oss-bucket-only-https-enabled" || f.Rule == "gh-oss-bucket-logging" {
			got = append(got, string(f.Status)+" "+f.Rule+" "+f.Resource)
		}
	}
	if len(got) != 0 {
		t.Errorf("findings about the policy or logging: %q", got)
	}
	if rep.Summary.Unknown != 0 {
		t.Errorf("unknown checks: %+v", rep.Findings)
	}
}

// TestProductionExample: the deployment's own example stack
// (deploy/terraform/alicloud/examples/production) meets the baseline, with
// nothing left undecided.
func TestProductionExample(t *testing.T) {
	st, err := LoadDir("../../deploy/terraform/alicloud/examples/production", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := Check([]*Stack{st}, loadSchema(t))
	if rep.Summary.Failed != 0 || rep.Summary.Unknown != 0 {
		for _, f := range rep.Findings {
			t.Errorf("%s %s %s: %s", f.Status, f.Rule, f.Resource, f.Message)
		}
	}
	if rep.Summary.Passed == 0 {
		t.Error("nothing was checked")
	}
}

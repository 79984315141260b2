package check

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// root is the repository's top directory, from deploy/check.
const root = "../.."

var terraformDir = filepath.Join(root, "deploy", "terraform", "alicloud")

// outsideSubset lists the resource and data source types the modules use
// that the provider schema subset (testdata) does not describe, each with
// why the module needs it. Their attributes cannot be checked here; they
// follow the provider's documentation for 1.275.0. A type in the subset
// must not be listed; a type used and neither in the subset nor here fails.
var outsideSubset = map[string]string{
	"resource alicloud_nat_gateway":                        "network: outbound access for instances without public IPs (event deliveries, the binary download)",
	"resource alicloud_eip_address":                        "network: the NAT gateway's public address",
	"resource alicloud_eip_association":                    "network: binds the EIP to the NAT gateway",
	"resource alicloud_snat_entry":                         "network: SNAT of the application vSwitches",
	"resource alicloud_db_database":                        "database: Gatehouse's database on the RDS instance",
	"resource alicloud_rds_account":                        "database: Gatehouse's database account",
	"resource alicloud_db_account_privilege":               "database: makes the account the database's owner (migrations)",
	"resource alicloud_slb_server_group":                   "edge: the CLB backend group of the Gatehouse instances",
	"resource alicloud_slb_server_group_server_attachment": "edge: attaches each instance to the backend group",
	"resource alicloud_ram_policy":                         "ci: the CI role's least-privilege custom policies",
	"data alicloud_account":                                "audit, storage, ci: the account id in ARNs and unique bucket and project names",
	"data alicloud_regions":                                "audit, ci: the current region in ARNs",
}

// Meta-arguments and blocks Terraform itself handles in a resource.
var metaAttrs = map[string]bool{"count": true, "for_each": true, "depends_on": true, "provider": true}
var metaBlocks = map[string]bool{"lifecycle": true, "provisioner": true, "connection": true}

type schemaBlock struct {
	Attributes map[string]struct {
		Required   bool `json:"required"`
		Optional   bool `json:"optional"`
		Computed   bool `json:"computed"`
		Deprecated bool `json:"deprecated"`
	} `json:"attributes"`
	BlockTypes map[string]struct {
		NestingMode string      `json:"nesting_mode"`
		MinItems    int         `json:"min_items"`
		MaxItems    int         `json:"max_items"`
		Block       schemaBlock `json:"block"`
	} `json:"block_types"`
}

type providerSchema struct {
	Resources   map[string]struct{ Block schemaBlock } `json:"resource_schemas"`
	DataSources map[string]struct{ Block schemaBlock } `json:"data_source_schemas"`
}

func loadSchema(t *testing.T) providerSchema {
	t.Helper()
	b, err := os.ReadFile("testdata/alicloud-provider-schema-v1.275.0-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	var s providerSchema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s providerSchema) block(kind, typ string) (schemaBlock, bool) {
	m := s.Resources
	if kind == "data" {
		m = s.DataSources
	}
	r, ok := m[typ]
	return r.Block, ok
}

// problem is one thing wrong, at file:line.
type problem struct {
	file string
	pos  hcl.Pos
	msg  string
}

func (p problem) String() string { return fmt.Sprintf("%s:%d: %s", p.file, p.pos.Line, p.msg) }

// checkFile checks every resource and data block of one .tf file against
// the schema: its type, each attribute and nested block name, required
// attributes and blocks, deprecated attributes. Types outside the subset
// are returned in used.
func checkFile(s providerSchema, name string, src []byte, used map[string]bool) []problem {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return []problem{{name, diags[0].Subject.Start, diags.Error()}}
	}
	var out []problem
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if (b.Type != "resource" && b.Type != "data") || len(b.Labels) != 2 {
			continue
		}
		typ := b.Labels[0]
		if !strings.HasPrefix(typ, "alicloud_") {
			out = append(out, problem{name, b.TypeRange.Start, fmt.Sprintf("%s %q: not an aliyun/alicloud type", b.Type, typ)})
			continue
		}
		sb, ok := s.block(b.Type, typ)
		if !ok {
			key := b.Type + " " + typ
			used[key] = true
			if _, listed := outsideSubset[key]; !listed {
				out = append(out, problem{name, b.LabelRanges[0].Start, fmt.Sprintf("%s: not in the provider schema subset, and not listed as outside it (a wrong name, or list it with a reason)", key)})
			}
			continue
		}
		out = append(out, checkBody(name, fmt.Sprintf("%s.%s", typ, b.Labels[1]), b.Body, sb, true)...)
	}
	return out
}

func checkBody(file, where string, body *hclsyntax.Body, sb schemaBlock, top bool) []problem {
	var out []problem
	for n, a := range body.Attributes {
		if top && metaAttrs[n] {
			continue
		}
		sa, ok := sb.Attributes[n]
		switch {
		case !ok:
			if _, isBlock := sb.BlockTypes[n]; isBlock {
				out = append(out, problem{file, a.NameRange.Start, fmt.Sprintf("%s: %q is a block, not an attribute", where, n)})
			} else {
				out = append(out, problem{file, a.NameRange.Start, fmt.Sprintf("%s: unknown attribute %q%s", where, n, suggest(n, sb))})
			}
		case !sa.Optional && !sa.Required:
			out = append(out, problem{file, a.NameRange.Start, fmt.Sprintf("%s: %q is computed only: it cannot be set", where, n)})
		case sa.Deprecated:
			out = append(out, problem{file, a.NameRange.Start, fmt.Sprintf("%s: %q is deprecated in 1.275.0", where, n)})
		}
	}
	count := map[string]int{}
	for _, b := range body.Blocks {
		if top && metaBlocks[b.Type] {
			continue
		}
		name := b.Type
		inner := b.Body
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			name = b.Labels[0]
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					inner = c.Body
				}
			}
		}
		bt, ok := sb.BlockTypes[name]
		if !ok {
			if _, isAttr := sb.Attributes[name]; isAttr {
				out = append(out, problem{file, b.TypeRange.Start, fmt.Sprintf("%s: %q is an attribute, not a block (write %s = …)", where, name, name)})
			} else {
				out = append(out, problem{file, b.TypeRange.Start, fmt.Sprintf("%s: unknown block %q%s", where, name, suggest(name, sb))})
			}
			continue
		}
		count[name]++
		out = append(out, checkBody(file, where+"."+name, inner, bt.Block, false)...)
	}
	for n, sa := range sb.Attributes {
		if _, set := body.Attributes[n]; sa.Required && !set {
			out = append(out, problem{file, body.SrcRange.Start, fmt.Sprintf("%s: required attribute %q is missing", where, n)})
		}
	}
	for n, bt := range sb.BlockTypes {
		if count[n] < bt.MinItems {
			out = append(out, problem{file, body.SrcRange.Start, fmt.Sprintf("%s: needs at least %d %q block(s)", where, bt.MinItems, n)})
		}
		if bt.MaxItems > 0 && count[n] > bt.MaxItems {
			out = append(out, problem{file, body.SrcRange.Start, fmt.Sprintf("%s: at most %d %q block(s)", where, bt.MaxItems, n)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos.Line < out[j].pos.Line })
	return out
}

// suggest names the longest attribute or block (not deprecated, at least
// four characters) that contains the unknown name or is contained in it.
func suggest(n string, sb schemaBlock) string {
	best := ""
	consider := func(k string) {
		if len(k) >= 4 && len(k) > len(best) && (strings.Contains(n, k) || strings.Contains(k, n)) {
			best = k
		}
	}
	for k, a := range sb.Attributes {
		if !a.Deprecated {
			consider(k)
		}
	}
	for k := range sb.BlockTypes {
		consider(k)
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func tfFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(terraformDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tf") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d .tf files under %s", len(files), terraformDir)
	}
	return files
}

// Every resource and data source of the modules and the example exists in
// aliyun/alicloud 1.275.0 with the attributes and blocks they set.
func TestTerraformAgainstProviderSchema(t *testing.T) {
	s := loadSchema(t)
	used := map[string]bool{}
	var problems []problem
	for _, f := range tfFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		problems = append(problems, checkFile(s, rel, src, used)...)
	}
	for _, p := range problems {
		t.Error(p)
	}
	for key := range outsideSubset {
		kind, typ, _ := strings.Cut(key, " ")
		if _, ok := s.block(kind, typ); ok {
			t.Errorf("%s is listed as outside the schema subset but is in it: check it instead", key)
		}
		if !used[key] {
			t.Errorf("%s is listed as outside the schema subset but no module uses it: remove it from the list", key)
		}
	}
}

// The check finds the seeds' wrong names (platform-scenario.txt,
// ml-search-scenario.txt), each at its line: it is not a check that
// cannot fail.
func TestTerraformSchemaCheckCatchesSeedNames(t *testing.T) {
	s := loadSchema(t)
	src := `resource "alicloud_ecs_instance" "app" {
  image_id = "aliyun_3_x64"
}

resource "alicloud_ssl_certificate" "main" {
  cert = "…"
}

resource "alicloud_slb_listener" "https" {
  load_balancer_id            = "lb-1"
  frontend_port               = 443
  protocol                    = "https"
  listener_ssl_certificate_id = alicloud_ssl_certificate.main.id
}

resource "alicloud_elasticsearch_instance" "rag" {
  version         = "7.10_with_X-Pack"
  vswitch_id      = "vsw-1"
  mlps_compliance = true
}

resource "alicloud_instance" "app" {
  allocate_public_ip = true
  versioning {
    status = "Enabled"
  }
}

resource "alicloud_oss_bucket" "b" {
  versioning = { status = "Enabled" }
}

resource "alicloud_vpc_flow_log" "f" {
  resource_id = "vpc-1"
}
`
	var got []string
	for _, p := range checkFile(s, "seed.tf", []byte(src), map[string]bool{}) {
		got = append(got, p.String())
	}
	want := []string{
		`seed.tf:1: resource alicloud_ecs_instance: not in the provider schema subset, and not listed as outside it (a wrong name, or list it with a reason)`,
		`seed.tf:5: resource alicloud_ssl_certificate: not in the provider schema subset, and not listed as outside it (a wrong name, or list it with a reason)`,
		`seed.tf:13: alicloud_slb_listener.https: unknown attribute "listener_ssl_certificate_id"`,
		`seed.tf:19: alicloud_elasticsearch_instance.rag: unknown attribute "mlps_compliance"`,
		`seed.tf:23: alicloud_instance.app: "allocate_public_ip" is deprecated in 1.275.0`,
		`seed.tf:24: alicloud_instance.app: unknown block "versioning"`,
		`seed.tf:30: alicloud_oss_bucket.b: "versioning" is a block, not an attribute`,
		`seed.tf:33: alicloud_vpc_flow_log.f: required attribute "log_store_name" is missing`,
		`seed.tf:33: alicloud_vpc_flow_log.f: required attribute "project_name" is missing`,
		`seed.tf:33: alicloud_vpc_flow_log.f: required attribute "resource_type" is missing`,
		`seed.tf:33: alicloud_vpc_flow_log.f: required attribute "traffic_type" is missing`,
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// terraform fmt -check -recursive needs no provider. Where terraform is
// not installed, hclwrite's canonical layout (which terraform fmt
// applies, among a few rewrites) is checked instead.
func TestTerraformFormatted(t *testing.T) {
	if tf, err := exec.LookPath("terraform"); err == nil {
		cmd := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", ".")
		cmd.Dir = terraformDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("terraform fmt -check -recursive: %v\n%s", err, out)
		}
		return
	}
	t.Log("terraform is not on PATH: checking hclwrite's layout only")
	for _, f := range tfFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := hclwrite.Format(src); string(got) != string(src) {
			t.Errorf("%s is not formatted (terraform fmt)", f)
		}
	}
}

// Each module pins the provider version the schema check used and
// Terraform >= 1.5, and has its variables and outputs described.
func TestTerraformModulesPinned(t *testing.T) {
	modules := []string{"network", "compute", "database", "storage", "edge", "search", "audit", "ci", "identity", "examples/production"}
	for _, m := range modules {
		src, err := os.ReadFile(filepath.Join(terraformDir, m, "versions.tf"))
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		for _, want := range []string{`required_version = ">= 1.5"`, `source  = "aliyun/alicloud"`, `version = "1.275.0"`} {
			if !strings.Contains(string(src), want) {
				t.Errorf("%s/versions.tf lacks %s", m, want)
			}
		}
		for _, file := range []string{"variables.tf", "outputs.tf"} {
			src, err := os.ReadFile(filepath.Join(terraformDir, m, file))
			if err != nil {
				if m != "identity" || file != "variables.tf" {
					t.Errorf("%s: %v", m, err)
				}
				continue
			}
			f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			for _, b := range f.Body.(*hclsyntax.Body).Blocks {
				if (b.Type == "variable" || b.Type == "output") && b.Body.Attributes["description"] == nil {
					t.Errorf("%s/%s:%d: %s %q has no description", m, file, b.TypeRange.Start.Line, b.Type, b.Labels[0])
				}
			}
		}
	}
	entries, err := os.ReadDir(terraformDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != "examples" && !slices.Contains(modules, e.Name()) {
			t.Errorf("module %s is not checked here: add it to the list", e.Name())
		}
	}
}

// The modules' README says, for each name of the seeds that the provider
// does not have, what the modules use instead.
func TestTerraformReadmeExplainsSeedNames(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(terraformDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for seed, real := range map[string]string{
		"alicloud_ecs_instance":       "alicloud_instance",
		"alicloud_ssl_certificate`":   "alicloud_ssl_certificates_service_certificate",
		"listener_ssl_certificate_id": "server_certificate_id",
		"mlps_compliance":             "gatehouse mlps check",
		"POST /_index/rag-docs":       "PUT /rag-docs",
	} {
		found := false
		for _, l := range strings.Split(string(src), "\n") {
			if strings.HasPrefix(l, "| `"+strings.TrimSuffix(seed, "`")) || strings.HasPrefix(l, "| "+seed) {
				found = true
				if !strings.Contains(l, real) {
					t.Errorf("README's row for %s does not name %s", seed, real)
				}
				break
			}
		}
		if !found {
			t.Errorf("README.md has no row for the seed's %s", seed)
		}
	}
}

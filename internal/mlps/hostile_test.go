package mlps

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// loadErr loads a directory holding main.tf and returns its error, which
// must be a ParseError.
func loadErr(t *testing.T, files map[string]string) (string, *ParseError) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		write(t, filepath.Join(dir, name), text)
	}
	_, err := LoadDir(dir, LoadOptions{})
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v: want a ParseError", err)
	}
	return dir, pe
}

// Deep nesting is refused before the recursive parser sees it, with the
// file and position. Before: the Go stack overflowed (a fatal error, not a
// panic) for HCL, and JSON got encoding/json's message at 10,000 levels.
func TestNesting(t *testing.T) {
	const n = 100000
	deep := func(open, mid, close string) string {
		return strings.Repeat(open, n) + mid + strings.Repeat(close, n)
	}
	tests := []struct {
		name, file, text, want string
	}{
		{"lists", "main.tf", "locals {\n  x = " + deep("[", "", "]") + "\n}\n", "main.tf:2:506: nested more than 500 deep"},
		{"objects", "main.tf", "locals {\n  x = " + deep("{a = ", "1", "}") + "\n}\n", "main.tf:2:"},
		{"blocks", "main.tf", "resource \"alicloud_vpc\" \"v\" " + deep("{\na ", "{}", "}\n") + "\n", "main.tf:"},
		{"parentheses", "main.tf", "locals {\n  x = " + deep("(", "1", ")") + "\n}\n", "main.tf:2:506:"},
		{"templates", "main.tf", "locals {\n  x = " + deep(`"${`, "1", `}"`) + "\n}\n", "main.tf:2:"},
		{"not", "main.tf", "locals {\n  x = " + strings.Repeat("!", n) + "true\n}\n", "main.tf:2:"},
		{"sum", "main.tf", "locals {\n  x = 1" + strings.Repeat(" + 1", n) + "\n}\n", "main.tf:2:"},
		{"conditional", "main.tf", "locals {\n  x = " + strings.Repeat("true ? 1 : ", n) + "2\n}\n", "main.tf:2:"},
		{"directives", "main.tf", "locals {\n  x = \"" + deep("%{ if true }", "x", "%{ endif }") + "\"\n}\n", "main.tf:2:"},
		{"tfvars", "terraform.tfvars", "x = " + deep("[", "", "]") + "\n", "terraform.tfvars:1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{tt.file: tt.text}
			if tt.file != "main.tf" {
				files["main.tf"] = "variable \"x\" {}\n"
			}
			dir, pe := loadErr(t, files)
			got := strings.TrimPrefix(pe.Error(), dir+string(filepath.Separator))
			if !strings.HasPrefix(got, tt.want) || !strings.Contains(got, "nested more than 500 deep") {
				t.Errorf("error %.200q: want it to start with %q and say how deep", got, tt.want)
			}
		})
	}
	// JSON plans, under and over encoding/json's own bound.
	for _, depth := range []int{1000, n} {
		plan := `{"format_version": "1.2", "planned_values": {"root_module": {"resources": [` +
			`{"address": "a.b", "type": "a", "name": "b", "values": {"x": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}]}}}`
		_, err := LoadPlan("plan.json", strings.NewReader(plan))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.HasPrefix(pe.Error(), "plan.json:1:") || !strings.Contains(pe.Msg, "nested more than 500 deep (byte ") {
			t.Errorf("plan %d deep: error %v", depth, err)
		}
	}
	// What the stack and the examples hold is well within the bound, and
	// so are long flat things: a template of many interpolations, a long
	// list, many blocks, many directives one after the other.
	for _, dir := range []string{"testdata/stack", "../../deploy/terraform/alicloud/examples/production"} {
		if _, err := LoadDir(dir, LoadOptions{}); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	flat := "locals {\n  a = \"" + strings.Repeat("x${1}", 2000) + "\"\n  b = [" + strings.Repeat("1 + 1,\n", 20000) + "]\n" +
		"  c = <<EOT\n" + strings.Repeat("%{ if true }x${1 + 1}%{ endif }\n", 2000) + "EOT\n}\n" +
		strings.Repeat("resource \"alicloud_vpc\" \"v\" {\n  tags = { a = 1 + 1 }\n}\n", 1000)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), flat)
	if _, err := LoadDir(dir, LoadOptions{}); err != nil {
		t.Errorf("flat: %v", err)
	}
}

// The evaluation budget: values that would be built far larger than the
// source stop loading with an error at the expression. Before: each was
// built (and the larger ones exhausted the memory), or was left unknown
// without a word.
func TestBudget(t *testing.T) {
	doubling := "locals {\n  a0 = \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n"
	for i := range 20 { // 64 MiB at the end: harmless to the code before the budget
		doubling += "  a" + strconv.Itoa(i+1) + " = \"${local.a" + strconv.Itoa(i) + "}${local.a" + strconv.Itoa(i) + "}\"\n"
	}
	doubling += "}\n"
	tests := []struct {
		name, text, want string
	}{
		{"doubling template", doubling, "main.tf:20:9: a string template longer than 16777216 bytes"},
		{"format width", "locals {\n  x = format(\"%20000000d\", 1)\n}\n", "main.tf:2:7: format would build a value of more than 16777216 bytes"},
		{"format width beyond int", "locals {\n  x = format(\"%99999999999999999999d\", 1)\n}\n", "main.tf:2:7: format would build"},
		{"formatlist", "locals {\n  x = formatlist(\"%20000s\", range(1000))\n}\n", "main.tf:2:7: formatlist would build"},
		{"range", "locals {\n  x = range(1e9)\n}\n", "main.tf:2:7: range would make 1000000000 numbers: at most 1024"},
		{"setproduct", "locals {\n  x = setproduct(range(1000), range(1000))\n}\n", "main.tf:2:7: setproduct would build"},
		{"replace", "locals {\n  a = format(\"%5000s\", \"\")\n  b = replace(local.a, \" \", local.a)\n}\n", "main.tf:3:7: replace would build"},
		{"join", "locals {\n  a = format(\"%100000s\", \"\")\n  b = join(\"\", [for i in range(1000) : local.a])\n}\n", "main.tf:3:"},
		{"template for", "locals {\n  a = format(\"%100000s\", \"\")\n  b = \"%{for i in range(1000)}${local.a}%{endfor}\"\n}\n", "main.tf:3:"},
		{"nested for", "locals {\n  a = format(\"%1000s\", \"\")\n  b = [for i in range(1000) : [for j in range(1000) : local.a]]\n}\n",
			"main.tf:3:31: evaluating this configuration builds more than 268435456 bytes of values"},
		{"many instances", "locals {\n  a = format(\"%1000000s\", \"\")\n}\nresource \"alicloud_vpc\" \"v\" {\n  count = 300\n  description = \"${local.a}${count.index}\"\n}\n",
			"evaluating this configuration builds more than 268435456 bytes of values"},
		{"digits", "locals {\n  x = format(\"%02000d\", 1)\n}\n", "main.tf:2:7: a string of 2000 digits"},
		{"number literal", "locals {\n  x = 1e999999\n}\n", "main.tf:2:7: a number literal"},
		{"number product", "locals {\n  x = 1e999 * 1e999\n}\n", "main.tf:2:7: a number beyond"},
		{"jsondecode", "locals {\n  x = jsondecode(\"" + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "\")\n}\n", "main.tf:2:7: jsondecode of JSON nested more than 500 deep"},
		{"jsonencode", "locals {\n  a = format(\"%100000s\", \"\")\n  b = jsonencode([for i in range(1000) : local.a])\n}\n", "main.tf:3:"},
		{"dynamic blocks", "resource \"alicloud_instance\" \"i\" {\n  dynamic \"data_disks\" {\n    for_each = setproduct(range(200), range(100))\n    content {\n      encrypted = true\n    }\n  }\n}\n",
			"main.tf:2:3: dynamic \"data_disks\": for_each has 20000 elements: at most 10000"},
		{"try does not hide it", "locals {\n  x = try(format(\"%20000000d\", 1), \"small\")\n}\n", "main.tf:2:11: format would build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, pe := loadErr(t, map[string]string{"main.tf": tt.text})
			got := strings.TrimPrefix(pe.Error(), dir+string(filepath.Separator))
			if !strings.Contains(got, tt.want) || !strings.HasPrefix(got, "main.tf:") {
				t.Errorf("error %q: want %q", got, tt.want)
			}
		})
	}
}

// Only regular files are read; links are followed only inside the checked
// directory; a directory named like a .tf file is skipped with a note.
func TestFiles(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "evil.tf"), "resource \"alicloud_vpc\" \"hidden\" {}\n")
	write(t, filepath.Join(outside, "mod", "main.tf"), "resource \"alicloud_vpc\" \"hidden\" {}\n")

	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), "resource \"alicloud_vpc\" \"v\" {}\n")
	write(t, filepath.Join(dir, "shared", "versions.tf"), "resource \"alicloud_vpc\" \"shared\" {}\n")
	if err := os.Mkdir(filepath.Join(dir, "x.tf"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "extra.tf.json"), `{"resource": {"alicloud_vpc": {"j": {}}}}`)
	symlink(t, filepath.Join("shared", "versions.tf"), filepath.Join(dir, "versions.tf"))
	st, err := LoadDir(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range st.Resources {
		names = append(names, r.Name)
	}
	if strings.Join(names, " ") != "j v shared" {
		t.Errorf("resources %q: want j (the .tf.json file), v and shared (the link inside the directory is followed)", names)
	}
	if len(st.Notes) != 1 || !strings.Contains(st.Notes[0].Message, "a directory named like a .tf file: skipped") {
		t.Errorf("notes %+v", st.Notes)
	}

	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"link out", func(t *testing.T, dir string) {
			symlink(t, filepath.Join(outside, "evil.tf"), filepath.Join(dir, "evil.tf"))
		},
			"evil.tf:1: a symbolic link to " + filepath.Join(outside, "evil.tf") + ", outside the checked directory: not followed"},
		{"json link out", func(t *testing.T, dir string) {
			symlink(t, filepath.Join(outside, "evil.tf"), filepath.Join(dir, "evil.tf.json"))
		}, "evil.tf.json:1: a symbolic link to " + filepath.Join(outside, "evil.tf") + ", outside the checked directory: not followed"},
		{"dev zero", func(t *testing.T, dir string) { symlink(t, os.DevNull, filepath.Join(dir, "main.tf")) },
			"main.tf:1: a symbolic link to " + os.DevNull + ", outside the checked directory: not followed"},
		{"tfvars link out", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "main.tf"), "variable \"x\" {}\n")
			symlink(t, filepath.Join(outside, "evil.tf"), filepath.Join(dir, "terraform.tfvars"))
		}, "terraform.tfvars:1: a symbolic link to"},
		{"module through a link", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "main.tf"), "module \"m\" {\n  source = \"./m\"\n}\n")
			symlink(t, filepath.Join(outside, "mod"), filepath.Join(dir, "m"))
		}, "main.tf:1:1: module \"m\": source \"./m\" is a symbolic link to " + filepath.Join(outside, "mod") + ", outside the checked directory: not followed"},
		{"dangling", func(t *testing.T, dir string) {
			symlink(t, filepath.Join(dir, "nothing"), filepath.Join(dir, "main.tf"))
		},
			"main.tf:1: a symbolic link that leads nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := LoadDir(dir, LoadOptions{})
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v: want a ParseError", err)
			}
			got := strings.TrimPrefix(pe.Error(), dir+string(filepath.Separator))
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("error %q: want %q", got, tt.want)
			}
		})
	}
	// A device given as a plan.
	if _, err := ReadInput(os.DevNull); err == nil || !strings.Contains(err.Error(), "not a regular file (a character device)") {
		t.Errorf("ReadInput(%s): %v", os.DevNull, err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Skipf("symbolic links: %v", err)
	}
}

// rfc3986 is an URI-reference of RFC 3986 (scheme, path, query and
// fragment characters; percent-encodings of two hex digits).
var rfc3986 = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*:)?([A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$`)

// SARIF artifact URIs are RFC 3986 references: relative ones against
// %SRCROOT%, an absolute file URI ending in a slash; both percent-encoded.
// Before: "a b/ü#x/main.tf" as is, and a base of "./".
func TestSARIFURIs(t *testing.T) {
	cwd := t.TempDir()
	outside := t.TempDir()
	rep := &Report{Schema: SchemaVersion, rules: Rules(), Findings: []Finding{
		{Rule: "oss-zrs-enabled", Status: StatusFail, Severity: "medium", Pos: Pos{File: filepath.Join("a b", "ü#x", "main.tf"), Line: 3, Col: 1}, Message: "m"},
		{Rule: "oss-zrs-enabled", Status: StatusFail, Severity: "medium", Pos: Pos{File: filepath.Join(cwd, "c%d", "x?.tf"), Line: 1}, Message: "m"},
		{Rule: "oss-zrs-enabled", Status: StatusFail, Severity: "medium", Pos: Pos{File: filepath.Join(outside, "d e", "main.tf"), Line: 1}, Message: "m"},
		{Rule: "oss-zrs-enabled", Status: StatusFail, Severity: "medium", Pos: Pos{File: "a:b.tf", Line: 1}, Message: "m"},
	}}
	var buf strings.Builder
	if err := rep.writeSARIF(&buf, "test", cwd); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []struct {
			OriginalURIBaseIDs map[string]sarifArtifactLoc `json:"originalUriBaseIds"`
			Results            []sarifResult               `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &doc); err != nil {
		t.Fatal(err)
	}
	run := doc.Runs[0]
	root := run.OriginalURIBaseIDs["%SRCROOT%"].URI
	base, err := url.Parse(root)
	if err != nil || base.Scheme != "file" || !strings.HasSuffix(root, "/") || !rfc3986.MatchString(root) {
		t.Fatalf("%%SRCROOT%% %q: want an absolute file URI ending in a slash", root)
	}
	want := []struct{ uri, base, file string }{
		{"a%20b/%C3%BC%23x/main.tf", "%SRCROOT%", filepath.Join(cwd, "a b", "ü#x", "main.tf")},
		{"c%25d/x%3F.tf", "%SRCROOT%", filepath.Join(cwd, "c%d", "x?.tf")},
		{"", "", filepath.Join(outside, "d e", "main.tf")},
		{"./a:b.tf", "%SRCROOT%", filepath.Join(cwd, "a:b.tf")},
	}
	for i, res := range run.Results {
		loc := res.Locations[0].PhysicalLocation.ArtifactLocation
		if w := want[i]; w.uri != "" && (loc.URI != w.uri || loc.URIBaseID != w.base) {
			t.Errorf("result %d: uri %q base %q: want %q %q", i, loc.URI, loc.URIBaseID, w.uri, w.base)
		}
		if !rfc3986.MatchString(loc.URI) {
			t.Errorf("result %d: %q is not an RFC 3986 URI reference", i, loc.URI)
		}
		ref, err := url.Parse(loc.URI)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		if loc.URIBaseID == "" && !ref.IsAbs() {
			t.Errorf("result %d: a relative %q without a base", i, loc.URI)
		}
		if got := filepath.FromSlash(base.ResolveReference(ref).Path); got != want[i].file {
			t.Errorf("result %d: %q resolves to %q: want %q", i, loc.URI, got, want[i].file)
		}
	}
}

// The guards change no value: expressions evaluate the same wrapped and
// unwrapped.
func TestGuardsKeepValues(t *testing.T) {
	src := `locals {
  l      = [{ a = 1, b = "x" }, { a = 2, b = "y" }]
  m      = { k1 = "v1", "k2" = "v2", (local.key) = "v3" }
  key    = "k3"
  splat  = local.l[*].a
  splat2 = [for o in local.l : o.b if o.a > 1]
  obj    = { for k, v in local.m : v => k... }
  tmpl   = "a-${local.key}-%{ for i, v in local.l }${i}:${v.b}%{ if i == 0 },%{ endif }%{ endfor }"
  strip  = <<-EOT
    %{~ for v in local.splat ~}
    ${v}
    %{~ endfor ~}
  EOT
  cond   = local.key == "k3" && !false ? -1 * 2 + 3 % 2 : 0
  fn     = max(local.splat...)
  tr     = try(tonumber("x"), can(regex("^k", local.key)))
  idx    = local.l[1]["b"]
  js     = jsonencode({ a = [1, "two", true, null] })
  fmt    = formatlist("%s=%d", ["a", "b"], [1, 2])
  rng    = range(3)
}
`
	eval := func(guard bool) map[string]string {
		l := newLoader("x")
		f, diags := l.parser.ParseHCL([]byte(src), "x.tf")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		body := f.Body.(*hclsyntax.Body)
		if guard {
			l.guardBody(body)
		}
		m := &module{dir: "x", variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{}, outputs: map[string]*hclsyntax.Attribute{}}
		for n, a := range body.Blocks[0].Body.Attributes {
			m.locals[n] = a
		}
		mi := &modInst{dir: "x"}
		if err := l.evalModule(m, mi); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for n, v := range mi.locals {
			out[n] = v.GoString()
		}
		return out
	}
	raw, guarded := eval(false), eval(true)
	if diff := cmp.Diff(raw, guarded); diff != "" {
		t.Errorf("values (-unguarded +guarded):\n%s", diff)
	}
	for _, n := range []string{"splat", "obj", "tmpl", "strip", "cond", "fn", "tr", "idx", "fmt"} {
		if strings.Contains(raw[n], "Unknown") || strings.Contains(raw[n], "DynamicVal") {
			t.Errorf("%s = %s: want a known value", n, raw[n])
		}
	}
}

// Reading a file of many resources, each with a suppression, takes work
// in proportion to the file. Before: the suppressions were indexed again
// for every resource (n² map insertions: some 16 million allocations here).
func TestSuppressionsLinear(t *testing.T) {
	const n = 2000
	var b strings.Builder
	for i := range n {
		b.WriteString("# mlps:ignore oss-zrs-enabled reason=\"cache\"\nresource \"alicloud_vpc\" \"v" + strconv.Itoa(i) + "\" {\n}\n")
	}
	src := []byte(b.String())
	allocs := testing.AllocsPerRun(2, func() {
		l := newLoader("x")
		m := &module{dir: "x", variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{}, outputs: map[string]*hclsyntax.Attribute{}}
		if err := l.readFile(m, "x.tf", src); err != nil {
			t.Fatal(err)
		}
		if len(m.resources) != n || len(m.resources[n-1].supp) != 1 {
			t.Fatalf("%d resources", len(m.resources))
		}
	})
	t.Logf("%.0f allocations", allocs)
	if allocs > 200*n {
		t.Errorf("%.0f allocations for %d resources: want fewer than %d", allocs, n, 200*n)
	}
}

package mlps

import (
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// ParseError is input the check cannot read: a syntax error in a .tf or
// .tfvars file, malformed plan JSON. It carries the position.
type ParseError struct {
	Pos Pos
	Msg string
}

func (e *ParseError) Error() string { return e.Pos.String() + ": " + e.Msg }

// LoadOptions are the inputs of a configuration's root module, as
// Terraform takes them: -var NAME=VALUE and -var-file FILE (after
// terraform.tfvars and *.auto.tfvars in the directory, which are read as
// Terraform reads them).
type LoadOptions struct {
	Vars     []string
	VarFiles []string
}

// Bounds of what the loader expands, so that a hostile configuration
// cannot make it run away.
const (
	maxModuleDepth = 16
	maxInstances   = 10000  // count or for_each of one resource or module
	maxResources   = 200000 // resource instances of one stack
)

// refMark marks an unknown value computed from a resource: its config
// address.
type refMark string

// LoadDir reads the Terraform configuration in dir (its .tf files, its
// local modules) and evaluates what it can.
func LoadDir(dir string, opt LoadOptions) (*Stack, error) {
	l := newLoader(dir)
	var err error
	if l.root, err = resolve(dir); err != nil {
		return nil, err
	}
	root, err := l.readModule(dir)
	if err != nil {
		return nil, err
	}
	vars, err := l.rootVars(dir, root, opt)
	if err != nil {
		return nil, err
	}
	if err := l.evalModule(root, &modInst{path: "", addr: "", dir: dir, vars: vars}); err != nil {
		return nil, err
	}
	if err := l.failed(Pos{File: dir, Line: 1}); err != nil {
		return nil, err
	}
	l.stack.index()
	return l.stack, nil
}

func newLoader(path string) *loader {
	l := &loader{parser: hclparse.NewParser(), stack: &Stack{Path: path, Kind: "hcl"}}
	l.funcs = l.guardFuncs(functions())
	return l
}

type loader struct {
	parser *hclparse.Parser
	funcs  map[string]function.Function
	stack  *Stack
	mods   map[string]*module // by directory
	// evaluated counts module and resource instances, bounded by
	// maxResources (modules with count inside modules with count).
	evaluated int

	// root is the checked directory, absolute and without symbolic links:
	// links that lead out of it are not followed.
	root string
	// sourceBytes counts the bytes of the files read, spent the values
	// built (budget.go); err is the first bound exceeded.
	sourceBytes, spent int64
	err                *ParseError
	// schema tells which keys of a resource in a .tf.json file are nested
	// blocks; loaded with the first such file.
	schema    *Schema
	schemaErr error
}

func (l *loader) spend(at Pos) error {
	if l.evaluated++; l.evaluated > maxResources {
		return &ParseError{Pos: at, Msg: fmt.Sprintf("more than %d resource and module instances", maxResources)}
	}
	return nil
}

// module is a parsed module directory.
type module struct {
	dir       string
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources []*resourceDecl
	calls     []*hclsyntax.Block
	outputs   map[string]*hclsyntax.Attribute
}

type resourceDecl struct {
	mode, typ, name string
	block           *hclsyntax.Block
	supp            []*Suppression
}

func (d *resourceDecl) key() string {
	if d.mode == "data" {
		return "data." + d.typ + "." + d.name
	}
	return d.typ + "." + d.name
}

// modInst is one instance of a module being evaluated.
type modInst struct {
	path  string // config path: "module.a.module.b" ("" at the root)
	addr  string // instance address: `module.a["x"].module.b`
	dir   string
	vars  map[string]cty.Value
	depth int

	locals    map[string]cty.Value
	resources map[string]cty.Value // "type.name" or "data.type.name" → value for references
	modules   map[string]cty.Value // call name → outputs
	accessed  map[string]map[string]bool
}

func diagError(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		p := Pos{File: "?", Line: 1}
		if d.Subject != nil {
			p = Pos{File: d.Subject.Filename, Line: d.Subject.Start.Line, Col: d.Subject.Start.Column}
		}
		return &ParseError{Pos: p, Msg: msg}
	}
	return nil
}

func (l *loader) readModule(dir string) (*module, error) {
	if l.mods == nil {
		l.mods = map[string]*module{}
	}
	if m, ok := l.mods[dir]; ok {
		return m, nil
	}
	resolved, err := resolve(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := &module{dir: dir, variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{},
		outputs: map[string]*hclsyntax.Attribute{}}
	var files []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".tf") && !strings.HasSuffix(e.Name(), ".tf.json") {
			continue
		}
		read, err := l.sourceFile(dir, resolved, e)
		if err != nil {
			return nil, err
		}
		if read {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	// Override files come after the others, in lexical order, and merge
	// into what those declare, as Terraform merges them.
	sort.Slice(files, func(i, j int) bool {
		oi, oj := isOverride(files[i]), isOverride(files[j])
		if oi != oj {
			return oj
		}
		return files[i] < files[j]
	})
	for _, name := range files {
		src, err := l.readSource(name)
		if err != nil {
			return nil, err
		}
		if err := l.readFile(m, name, src); err != nil {
			return nil, err
		}
	}
	l.mods[dir] = m
	return m, nil
}

// readFile parses one .tf file into m.
func (l *loader) readFile(m *module, name string, src []byte) error {
	var body *hclsyntax.Body
	var supps []*Suppression
	var commentLines map[int]bool
	if strings.HasSuffix(name, ".tf.json") {
		b, err := l.parseTFJSON(src, name)
		if err != nil {
			return err
		}
		body = b
	} else {
		f, err := l.parseHCL(src, name)
		if err != nil {
			return err
		}
		b, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			return &ParseError{Pos: Pos{File: name, Line: 1}, Msg: "not HCL native syntax"}
		}
		body = b
		supps, commentLines = readSuppressions(name, src)
	}
	l.stack.Suppressions = append(l.stack.Suppressions, supps...)
	if isOverride(name) {
		// its suppressions are noted as matching nothing: those of the
		// declaration it overrides apply
		return overrideModule(m, body)
	}
	suppsByLine := byLine(supps)
	for _, b := range body.Blocks {
		p := Pos{File: name, Line: b.TypeRange.Start.Line, Col: b.TypeRange.Start.Column}
		switch b.Type {
		case "resource", "data":
			if len(b.Labels) != 2 {
				return &ParseError{Pos: p, Msg: fmt.Sprintf("a %s block needs two labels (type and name)", b.Type)}
			}
			mode := "managed"
			if b.Type == "data" {
				mode = "data"
			}
			d := &resourceDecl{mode: mode, typ: b.Labels[0], name: b.Labels[1], block: b}
			d.supp = suppressionsFor(suppsByLine, commentLines, b.TypeRange.Start.Line)
			m.resources = append(m.resources, d)
		case "variable":
			if len(b.Labels) != 1 {
				return &ParseError{Pos: p, Msg: "a variable block needs one label"}
			}
			m.variables[b.Labels[0]] = b
		case "locals":
			for n, a := range b.Body.Attributes {
				m.locals[n] = a
			}
		case "module":
			if len(b.Labels) != 1 {
				return &ParseError{Pos: p, Msg: "a module block needs one label"}
			}
			m.calls = append(m.calls, b)
		case "output":
			if len(b.Labels) != 1 {
				return &ParseError{Pos: p, Msg: "an output block needs one label"}
			}
			if a, ok := b.Body.Attributes["value"]; ok {
				m.outputs[b.Labels[0]] = a
			}
		}
	}
	return nil
}

// rootVars gives the root module's variables their values: -var and
// -var-file over *.auto.tfvars over terraform.tfvars over defaults.
// Variables left without one are unknown.
func (l *loader) rootVars(dir string, m *module, opt LoadOptions) (map[string]cty.Value, error) {
	set := map[string]cty.Value{}
	var files []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	resolved, err := resolve(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Name() != "terraform.tfvars" && !strings.HasSuffix(e.Name(), ".auto.tfvars") {
			continue
		}
		read, err := l.sourceFile(dir, resolved, e)
		if err != nil {
			return nil, err
		}
		if read {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	// terraform.tfvars first, then *.auto.tfvars in lexical order.
	sort.Slice(files, func(i, j int) bool {
		ti, tj := filepath.Base(files[i]) == "terraform.tfvars", filepath.Base(files[j]) == "terraform.tfvars"
		if ti != tj {
			return ti
		}
		return files[i] < files[j]
	})
	files = append(files, opt.VarFiles...)
	for _, name := range files {
		src, err := l.readSource(name)
		if err != nil {
			return nil, err
		}
		f, err := l.parseHCL(src, name)
		if err != nil {
			return nil, err
		}
		attrs, diags := f.Body.JustAttributes()
		if err := diagError(diags); err != nil {
			return nil, err
		}
		for n, a := range attrs {
			v, diags := a.Expr.Value(nil)
			if err := l.failed(rangePos(a.Range)); err != nil {
				return nil, err
			}
			if err := diagError(diags); err != nil {
				return nil, err
			}
			set[n] = v
		}
	}
	for _, kv := range opt.Vars {
		n, raw, ok := strings.Cut(kv, "=")
		if !ok || n == "" {
			return nil, &ParseError{Pos: Pos{File: "-var", Line: 1}, Msg: fmt.Sprintf("%q: want NAME=VALUE", kv)}
		}
		set[n] = parseVarFlag(m.variables[n], raw)
	}
	return l.moduleVars(m, set, Pos{File: dir, Line: 1})
}

// parseVarFlag reads a -var value the way Terraform does: as a string for
// a variable of type string (or of no type), else as an HCL expression.
func parseVarFlag(decl *hclsyntax.Block, raw string) cty.Value {
	if decl != nil {
		if a, ok := decl.Body.Attributes["type"]; ok {
			if hcl.ExprAsKeyword(a.Expr) != "string" {
				expr, diags := hclsyntax.ParseExpression([]byte(raw), "-var", hcl.InitialPos)
				if !diags.HasErrors() {
					if v, diags := expr.Value(nil); !diags.HasErrors() {
						return v
					}
				}
			}
		}
	}
	return cty.StringVal(raw)
}

// moduleVars gives a module's declared variables their values: set ones,
// else defaults, else unknown.
func (l *loader) moduleVars(m *module, set map[string]cty.Value, at Pos) (map[string]cty.Value, error) {
	vars := map[string]cty.Value{}
	for n, b := range m.variables {
		if v, ok := set[n]; ok {
			vars[n] = v
			continue
		}
		if a, ok := b.Body.Attributes["default"]; ok {
			v, diags := a.Expr.Value(nil)
			if err := l.failed(rangePos(a.SrcRange)); err != nil {
				return nil, err
			}
			if err := diagError(diags); err != nil {
				return nil, err
			}
			vars[n] = v
			continue
		}
		vars[n] = cty.DynamicVal
	}
	_ = at
	return vars, nil
}

// node is one thing to evaluate in a module: a local, a resource, a
// module call.
type node struct {
	key   string // "local.x", "type.name", "data.type.name", "module.x"
	local *hclsyntax.Attribute
	res   *resourceDecl
	call  *hclsyntax.Block
	deps  []string
}

// evalModule evaluates a module instance: locals, resources and module
// calls in dependency order, then appends its resources to the stack.
func (l *loader) evalModule(m *module, mi *modInst) error {
	if mi.depth > maxModuleDepth {
		return &ParseError{Pos: Pos{File: m.dir, Line: 1}, Msg: fmt.Sprintf("modules nested deeper than %d", maxModuleDepth)}
	}
	mi.locals = map[string]cty.Value{}
	mi.resources = map[string]cty.Value{}
	mi.modules = map[string]cty.Value{}
	mi.accessed = map[string]map[string]bool{}

	nodes := map[string]*node{}
	var order []string
	add := func(n *node, traversals []hcl.Traversal) {
		for _, t := range traversals {
			k, attr := refKey(t)
			if k != "" {
				n.deps = append(n.deps, k)
			}
			if attr != "" && k != "" {
				if mi.accessed[k] == nil {
					mi.accessed[k] = map[string]bool{}
				}
				mi.accessed[k][attr] = true
			}
		}
		nodes[n.key] = n
		order = append(order, n.key)
	}
	names := make([]string, 0, len(m.locals))
	for n := range m.locals {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := m.locals[n]
		add(&node{key: "local." + n, local: a}, a.Expr.Variables())
	}
	for _, d := range m.resources {
		add(&node{key: d.key(), res: d}, bodyTraversals(d.block.Body))
	}
	for _, c := range m.calls {
		add(&node{key: "module." + c.Labels[0], call: c}, bodyTraversals(c.Body))
	}
	for _, a := range m.outputs {
		for _, t := range a.Expr.Variables() {
			if k, attr := refKey(t); k != "" && attr != "" {
				if mi.accessed[k] == nil {
					mi.accessed[k] = map[string]bool{}
				}
				mi.accessed[k][attr] = true
			}
		}
	}

	// Kahn's algorithm; what is left in a cycle is evaluated last, its
	// references to one another unknown.
	indeg := map[string]int{}
	users := map[string][]string{}
	for _, k := range order {
		seen := map[string]bool{}
		for _, d := range nodes[k].deps {
			if _, ok := nodes[d]; ok && !seen[d] && d != k {
				seen[d] = true
				indeg[k]++
				users[d] = append(users[d], k)
			}
		}
	}
	var queue, sorted []string
	for _, k := range order {
		if indeg[k] == 0 {
			queue = append(queue, k)
		}
	}
	done := map[string]bool{}
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		sorted = append(sorted, k)
		done[k] = true
		for _, u := range users[k] {
			if indeg[u]--; indeg[u] == 0 {
				queue = append(queue, u)
			}
		}
	}
	for _, k := range order {
		if !done[k] {
			sorted = append(sorted, k)
		}
	}
	for _, k := range sorted {
		n := nodes[k]
		var err error
		switch {
		case n.local != nil:
			mi.locals[strings.TrimPrefix(k, "local.")] = l.eval(mi, n.local.Expr, nil)
		case n.res != nil:
			err = l.evalResource(mi, n.res)
		case n.call != nil:
			err = l.evalCall(mi, n.call)
		}
		if err != nil {
			return err
		}
		if err := l.failed(Pos{File: m.dir, Line: 1}); err != nil {
			return err
		}
	}
	return nil
}

// refKey returns the node a traversal refers to and the attribute it
// reads of it ("" when none).
func refKey(t hcl.Traversal) (key, attr string) {
	step := func(i int) string {
		if i < len(t) {
			if a, ok := t[i].(hcl.TraverseAttr); ok {
				return a.Name
			}
		}
		return ""
	}
	// attribute after an optional index step
	attrAt := func(i int) string {
		if i < len(t) {
			if _, ok := t[i].(hcl.TraverseIndex); ok {
				return step(i + 1)
			}
			if _, ok := t[i].(hcl.TraverseSplat); ok {
				return step(i + 1)
			}
		}
		return step(i)
	}
	root := t.RootName()
	switch root {
	case "var", "count", "each", "path", "terraform", "self":
		return "", ""
	case "local":
		if n := step(1); n != "" {
			return "local." + n, ""
		}
	case "module":
		if n := step(1); n != "" {
			return "module." + n, ""
		}
	case "data":
		if ty, n := step(1), step(2); ty != "" && n != "" {
			return "data." + ty + "." + n, attrAt(3)
		}
	default:
		if n := step(1); n != "" {
			return root + "." + n, attrAt(2)
		}
	}
	return "", ""
}

// bodyTraversals returns the references of every expression in a body,
// nested blocks included.
func bodyTraversals(b *hclsyntax.Body) []hcl.Traversal {
	var out []hcl.Traversal
	for _, a := range b.Attributes {
		out = append(out, a.Expr.Variables()...)
	}
	for _, blk := range b.Blocks {
		out = append(out, bodyTraversals(blk.Body)...)
	}
	return out
}

// ctx builds the evaluation context an expression needs: only the names
// it refers to (a stack of thousands of resources is not copied for every
// expression).
func (l *loader) ctx(mi *modInst, traversals []hcl.Traversal, extra map[string]cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	type nested map[string]map[string]cty.Value
	objs := nested{}
	put := func(root, name string, v cty.Value) {
		if objs[root] == nil {
			objs[root] = map[string]cty.Value{}
		}
		objs[root][name] = v
	}
	dataObjs := map[string]map[string]cty.Value{}
	for _, t := range traversals {
		root := t.RootName()
		if v, ok := extra[root]; ok {
			vars[root] = v
			continue
		}
		name := ""
		if len(t) > 1 {
			if a, ok := t[1].(hcl.TraverseAttr); ok {
				name = a.Name
			}
		}
		switch root {
		case "var":
			if v, ok := mi.vars[name]; ok {
				put(root, name, v)
			}
		case "local":
			if v, ok := mi.locals[name]; ok {
				put(root, name, v)
			} else {
				put(root, name, cty.DynamicVal)
			}
		case "module":
			if v, ok := mi.modules[name]; ok {
				put(root, name, v)
			} else {
				put(root, name, cty.DynamicVal)
			}
		case "path":
			put(root, "module", cty.StringVal(mi.dir))
			put(root, "root", cty.StringVal(l.stack.Path))
			put(root, "cwd", cty.StringVal("."))
		case "terraform":
			put(root, "workspace", cty.StringVal("default"))
		case "count", "each", "self":
			vars[root] = cty.DynamicVal
		case "data":
			if len(t) > 2 {
				if a, ok := t[2].(hcl.TraverseAttr); ok {
					if dataObjs[name] == nil {
						dataObjs[name] = map[string]cty.Value{}
					}
					if v, ok := mi.resources["data."+name+"."+a.Name]; ok {
						dataObjs[name][a.Name] = v
					} else {
						dataObjs[name][a.Name] = cty.DynamicVal
					}
				}
			}
		default:
			if v, ok := mi.resources[root+"."+name]; ok {
				put(root, name, v)
			} else if name != "" {
				put(root, name, cty.DynamicVal)
			}
		}
	}
	for root, m := range objs {
		vars[root] = cty.ObjectVal(m)
	}
	if len(dataObjs) > 0 {
		d := map[string]cty.Value{}
		for ty, m := range dataObjs {
			d[ty] = cty.ObjectVal(m)
		}
		vars["data"] = cty.ObjectVal(d)
	}
	return &hcl.EvalContext{Variables: vars, Functions: l.funcs}
}

// eval evaluates an expression; what cannot be evaluated is unknown.
func (l *loader) eval(mi *modInst, expr hcl.Expression, extra map[string]cty.Value) cty.Value {
	v, diags := expr.Value(l.ctx(mi, expr.Variables(), extra))
	if diags.HasErrors() {
		return cty.DynamicVal
	}
	return v
}

// instances returns the instance keys of a block with count or for_each:
// nil keys and ok for a single instance; repeat is set when they cannot be
// decided.
type instance struct {
	suffix string
	extra  map[string]cty.Value
}

func (l *loader) instances(mi *modInst, body *hclsyntax.Body, at Pos) (insts []instance, repeat string, err error) {
	if a, ok := body.Attributes["count"]; ok {
		v := l.eval(mi, a.Expr, nil)
		v, _ = v.Unmark()
		if !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.Number) {
			return []instance{{suffix: "[*]", extra: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.UnknownVal(cty.Number)})}}},
				"count could not be decided", nil
		}
		bf := v.AsBigFloat()
		n, _ := bf.Int64()
		if n < 0 || n > maxInstances {
			return nil, "", &ParseError{Pos: at, Msg: fmt.Sprintf("count = %d: want 0 to %d", n, maxInstances)}
		}
		for i := range n {
			insts = append(insts, instance{suffix: "[" + strconv.FormatInt(i, 10) + "]",
				extra: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)})}})
		}
		return insts, "", nil
	}
	if a, ok := body.Attributes["for_each"]; ok {
		v := l.eval(mi, a.Expr, nil)
		v, _ = v.UnmarkDeep()
		// As Terraform: a map's (or object's) keys must be known, its values
		// need not be; a set's elements are its keys, so all must be known.
		decided := v.IsKnown() && !v.IsNull() && (v.Type().IsMapType() || v.Type().IsObjectType() || v.Type().IsSetType())
		if decided && v.Type().IsSetType() {
			decided = v.IsWhollyKnown()
		}
		if !decided {
			return []instance{{suffix: "[*]", extra: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.UnknownVal(cty.String), "value": cty.DynamicVal})}}},
				"for_each could not be decided", nil
		}
		if v.LengthInt() > maxInstances {
			return nil, "", &ParseError{Pos: at, Msg: fmt.Sprintf("for_each has %d elements: at most %d", v.LengthInt(), maxInstances)}
		}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if v.Type().IsSetType() {
				k = e
			}
			ks := ""
			if k.Type() == cty.String {
				ks = k.AsString()
			} else {
				ks = fmt.Sprint(goValue(k))
			}
			insts = append(insts, instance{suffix: "[" + strconv.Quote(ks) + "]",
				extra: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(ks), "value": e})}})
		}
		return insts, "", nil
	}
	return []instance{{}}, "", nil
}

// metaArgs are the arguments of a resource block that are not the
// resource's own.
var metaArgs = map[string]bool{"count": true, "for_each": true, "provider": true, "depends_on": true}
var metaBlocks = map[string]bool{"lifecycle": true, "provisioner": true, "connection": true}

func (l *loader) evalResource(mi *modInst, d *resourceDecl) error {
	at := Pos{File: d.block.TypeRange.Filename, Line: d.block.TypeRange.Start.Line, Col: d.block.TypeRange.Start.Column}
	insts, repeat, err := l.instances(mi, d.block.Body, at)
	if err != nil {
		return err
	}
	config := d.key()
	if mi.path != "" {
		config = mi.path + "." + config
	}
	prefix := ""
	if mi.addr != "" {
		prefix = mi.addr + "."
	}
	var refVals []cty.Value
	keyed := map[string]cty.Value{}
	_, hasForEach := d.block.Body.Attributes["for_each"]
	for _, in := range insts {
		if err := l.spend(at); err != nil {
			return err
		}
		obj, vals := l.evalBody(mi, d.block.Body, in.extra, true)
		if err := l.failed(at); err != nil {
			return err
		}
		r := &Resource{
			Address: prefix + d.key() + in.suffix, Config: config, Module: mi.addr,
			Mode: d.mode, Type: d.typ, Name: d.name, Values: vals, Pos: at,
			attrPos: map[string]Pos{}, Repeat: repeat, suppressions: d.supp,
		}
		for n, a := range d.block.Body.Attributes {
			r.attrPos[n] = Pos{File: a.SrcRange.Filename, Line: a.SrcRange.Start.Line, Col: a.SrcRange.Start.Column}
		}
		for _, b := range d.block.Body.Blocks {
			if _, ok := r.attrPos[b.Type]; !ok {
				r.attrPos[b.Type] = Pos{File: b.TypeRange.Filename, Line: b.TypeRange.Start.Line, Col: b.TypeRange.Start.Column}
			}
		}
		if len(l.stack.Resources) >= maxResources {
			return &ParseError{Pos: at, Msg: fmt.Sprintf("more than %d resource instances", maxResources)}
		}
		l.stack.Resources = append(l.stack.Resources, r)
		ref := l.refObject(obj, config, mi.accessed[d.key()])
		refVals = append(refVals, ref)
		if strings.HasPrefix(in.suffix, "[\"") {
			k, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(in.suffix, "["), "]"))
			keyed[k] = ref
		}
	}
	if repeat != "" {
		mi.resources[d.key()] = cty.DynamicVal.Mark(refMark(config))
		l.stack.Notes = append(l.stack.Notes, Note{Pos: at, Message: fmt.Sprintf("%s: %s; it is checked once, as if it existed", config, repeat)})
		return nil
	}
	switch {
	case hasForEach:
		mi.resources[d.key()] = cty.ObjectVal(keyed)
	case d.block.Body.Attributes["count"] != nil:
		mi.resources[d.key()] = cty.TupleVal(refVals)
	case len(refVals) == 1:
		mi.resources[d.key()] = refVals[0]
	}
	return nil
}

// refObject is what other resources see of one: its configured attributes,
// and every attribute read of it elsewhere that it does not set as an
// unknown marked with its address (id, arn, …).
func (l *loader) refObject(obj map[string]cty.Value, config string, accessed map[string]bool) cty.Value {
	mark := refMark(config)
	out := map[string]cty.Value{}
	for k, v := range obj {
		// An attribute that is not known yet (a bucket name built from
		// the account id) is, to whoever reads it, a value of this
		// resource: it carries the resource's mark as well as its own.
		if !v.IsWhollyKnown() {
			v = v.Mark(mark)
		}
		out[k] = v
	}
	out["id"] = cty.DynamicVal.Mark(mark)
	for a := range accessed {
		if v, ok := out[a]; !ok || v.IsNull() {
			out[a] = cty.DynamicVal.Mark(mark)
		}
	}
	return cty.ObjectVal(out)
}

// evalBody evaluates a block body: as cty values (for references) and as
// plain values (for rules). Nested blocks become lists of objects;
// dynamic blocks are expanded where their for_each is known.
func (l *loader) evalBody(mi *modInst, b *hclsyntax.Body, extra map[string]cty.Value, top bool) (map[string]cty.Value, map[string]any) {
	obj := map[string]cty.Value{}
	vals := map[string]any{}
	for n, a := range b.Attributes {
		if top && metaArgs[n] {
			continue
		}
		v := l.eval(mi, a.Expr, extra)
		obj[n] = v
		vals[n] = goValue(v)
	}
	blocks := map[string][]cty.Value{}
	blockVals := map[string][]any{}
	addBlock := func(typ string, body *hclsyntax.Body, ex map[string]cty.Value) {
		o, v := l.evalBody(mi, body, ex, false)
		blocks[typ] = append(blocks[typ], cty.ObjectVal(o))
		blockVals[typ] = append(blockVals[typ], v)
	}
	for _, blk := range b.Blocks {
		if top && metaBlocks[blk.Type] {
			continue
		}
		if blk.Type != "dynamic" || len(blk.Labels) != 1 {
			addBlock(blk.Type, blk.Body, extra)
			continue
		}
		name := blk.Labels[0]
		iter := name
		if a, ok := blk.Body.Attributes["iterator"]; ok {
			if kw := hcl.ExprAsKeyword(a.Expr); kw != "" {
				iter = kw
			}
		}
		var content *hclsyntax.Body
		for _, c := range blk.Body.Blocks {
			if c.Type == "content" {
				content = c.Body
			}
		}
		if content == nil {
			continue
		}
		withIter := func(k, v cty.Value) map[string]cty.Value {
			ex := map[string]cty.Value{}
			for kk, vv := range extra {
				ex[kk] = vv
			}
			ex[iter] = cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})
			return ex
		}
		fe, ok := blk.Body.Attributes["for_each"]
		if !ok {
			continue
		}
		v := l.eval(mi, fe.Expr, extra)
		v, _ = v.UnmarkDeep()
		if v.IsWhollyKnown() && !v.IsNull() && v.CanIterateElements() && v.LengthInt() > maxInstances {
			l.fail(fmt.Sprintf("dynamic %q: for_each has %d elements: at most %d", name, v.LengthInt(), maxInstances)) //nolint:errcheck // recorded
			l.failed(rangePos(blk.TypeRange))                                                                          //nolint:errcheck // sets the position
			continue
		}
		if !v.IsWhollyKnown() || v.IsNull() || !v.CanIterateElements() {
			addBlock(name, content, withIter(cty.DynamicVal, cty.DynamicVal))
			continue
		}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			addBlock(name, content, withIter(k, e))
		}
	}
	for typ, bs := range blocks {
		obj[typ] = cty.TupleVal(bs)
		list := make([]any, len(blockVals[typ]))
		for i, v := range blockVals[typ] {
			list[i] = v
		}
		vals[typ] = list
	}
	return obj, vals
}

func (l *loader) evalCall(mi *modInst, c *hclsyntax.Block) error {
	name := c.Labels[0]
	at := Pos{File: c.TypeRange.Filename, Line: c.TypeRange.Start.Line, Col: c.TypeRange.Start.Column}
	src := ""
	if a, ok := c.Body.Attributes["source"]; ok {
		if v, diags := a.Expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			src = v.AsString()
		}
	}
	if !strings.HasPrefix(src, "./") && !strings.HasPrefix(src, "../") {
		l.stack.Notes = append(l.stack.Notes, Note{Pos: at, Message: fmt.Sprintf("module %q: source %q is not a local directory; its resources are not checked", name, src)})
		mi.modules[name] = cty.DynamicVal
		return nil
	}
	if mi.depth+1 > maxModuleDepth {
		return &ParseError{Pos: at, Msg: fmt.Sprintf("module %q: modules nested deeper than %d", name, maxModuleDepth)}
	}
	dir := filepath.Join(mi.dir, filepath.FromSlash(src))
	if err := l.checkModuleDir(mi.dir, src); err != nil {
		return &ParseError{Pos: at, Msg: fmt.Sprintf("module %q: %v", name, err)}
	}
	child, err := l.readModule(dir)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return err
		}
		if errors.Is(err, fs.ErrNotExist) {
			return &ParseError{Pos: at, Msg: fmt.Sprintf("module %q: source %q: no such directory", name, src)}
		}
		return &ParseError{Pos: at, Msg: fmt.Sprintf("module %q: %v", name, err)}
	}
	insts, repeat, err := l.instances(mi, c.Body, at)
	if err != nil {
		return err
	}
	if repeat != "" {
		l.stack.Notes = append(l.stack.Notes, Note{Pos: at, Message: fmt.Sprintf("module %q: %s; it is checked once, as if it existed", name, repeat)})
	}
	path := "module." + name
	if mi.path != "" {
		path = mi.path + "." + path
	}
	var outs []cty.Value
	keyed := map[string]cty.Value{}
	for _, in := range insts {
		if err := l.spend(at); err != nil {
			return err
		}
		set := map[string]cty.Value{}
		for n, a := range c.Body.Attributes {
			switch n {
			case "source", "version", "count", "for_each", "providers", "depends_on":
				continue
			}
			set[n] = l.eval(mi, a.Expr, in.extra)
		}
		vars, err := l.moduleVars(child, set, at)
		if err != nil {
			return err
		}
		addr := "module." + name + in.suffix
		if mi.addr != "" {
			addr = mi.addr + "." + addr
		}
		ci := &modInst{path: path, addr: addr, dir: dir, vars: vars, depth: mi.depth + 1}
		if err := l.evalModule(child, ci); err != nil {
			return err
		}
		o := map[string]cty.Value{}
		for n, a := range child.outputs {
			o[n] = l.eval(ci, a.Expr, nil)
		}
		ov := cty.ObjectVal(o)
		outs = append(outs, ov)
		if strings.HasPrefix(in.suffix, "[\"") {
			k, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(in.suffix, "["), "]"))
			keyed[k] = ov
		}
	}
	switch {
	case repeat != "":
		mi.modules[name] = cty.DynamicVal
	case c.Body.Attributes["for_each"] != nil:
		mi.modules[name] = cty.ObjectVal(keyed)
	case c.Body.Attributes["count"] != nil:
		mi.modules[name] = cty.TupleVal(outs)
	case len(outs) == 1:
		mi.modules[name] = outs[0]
	}
	return nil
}

// checkModuleDir refuses a local module source that leads, through a
// symbolic link, out of the checked directory. (A source that climbs out
// with ../ is Terraform's own way to share modules and is read.)
func (l *loader) checkModuleDir(parent, src string) error {
	base, err := resolve(parent)
	if err != nil {
		return nil // reported when the module is read
	}
	lexical := filepath.Join(base, filepath.FromSlash(src))
	resolved, err := filepath.EvalSymlinks(lexical)
	if err != nil {
		return nil
	}
	if resolved != lexical && !within(resolved, l.root) {
		return fmt.Errorf("source %q is a symbolic link to %s, outside the checked directory: not followed", src, resolved)
	}
	return nil
}

// goValue converts a cty value to the plain values rules read; unknowns
// become Unknown with the addresses of the resources they come from.
func goValue(v cty.Value) any {
	v, marks := v.Unmark()
	if !v.IsKnown() {
		u := Unknown{}
		for m := range marks {
			switch m := m.(type) {
			case refMark:
				u.Refs = append(u.Refs, string(m))
			case partialJSON:
				u.PartialJSON = string(m)
			}
		}
		sort.Strings(u.Refs)
		return u
	}
	if v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		if v.AsBigFloat().IsInt() {
			i, _ := v.AsBigFloat().Int(new(big.Int))
			if i.IsInt64() {
				return float64(i.Int64())
			}
		}
		return f
	case t.IsListType() || t.IsSetType() || t.IsTupleType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, goValue(e))
		}
		return out
	case t.IsMapType() || t.IsObjectType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = goValue(e)
		}
		return out
	}
	return Unknown{}
}

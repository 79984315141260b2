package mlps

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// The evaluation budget. A configuration is a program: string templates,
// for expressions and functions can build values far larger than their
// source (format("%1000000000d", 1), a template that doubles a local
// thirty times, nested for expressions over large lists). Every expression
// that builds a value is guarded: the value it builds is measured, and
// what it would build is estimated before the functions that can blow up
// run. Past a bound, loading stops with an error naming the expression.
const (
	// maxValueBytes bounds one value: the bytes of its strings and 16 per
	// element, shared parts counted each time they appear.
	maxValueBytes = 16 << 20
	// maxEvalBytes bounds the sum of the values built while evaluating one
	// PATH, and of evalCost for each expression evaluated.
	maxEvalBytes = 256 << 20
	// evalCost is what evaluating one guarded expression costs besides
	// the value it builds: the budget bounds time as well as memory (about
	// a million evaluations).
	evalCost = 256
	// maxNumericString bounds a string that reads as a number: converting
	// one to a number costs time quadratic in its length.
	maxNumericString = 1024
	// maxBinaryExponent bounds numbers to about ±1e1000 (printing one
	// writes every digit).
	maxBinaryExponent = 3400
)

// fail records the first bound exceeded; loading stops with it. Its
// position is filled in by the innermost guarded expression.
func (l *loader) fail(msg string) error {
	if l.err == nil {
		l.err = &ParseError{Msg: msg}
	}
	return l.err
}

// failed returns the bound exceeded, placed at at when the expression
// that exceeded it did not say where.
func (l *loader) failed(at Pos) error {
	if l.err != nil && l.err.Pos.File == "" {
		l.err.Pos = at
	}
	if l.err == nil {
		return nil
	}
	return l.err
}

func rangePos(r hcl.Range) Pos {
	return Pos{File: r.Filename, Line: r.Start.Line, Col: r.Start.Column}
}

// measure walks v and returns its size, stopping once it passes limit,
// and what in it is refused ("" when nothing).
func measure(v cty.Value, limit int64) (int64, string) {
	var size int64
	var walk func(v cty.Value, depth int) string
	walk = func(v cty.Value, depth int) string {
		if size += 16; size > limit {
			return fmt.Sprintf("a value larger than %d bytes", limit)
		}
		if depth > maxNesting {
			return fmt.Sprintf("a value nested more than %d deep", maxNesting)
		}
		v, _ = v.Unmark()
		if !v.IsKnown() || v.IsNull() {
			return ""
		}
		ty := v.Type()
		switch {
		case ty == cty.String:
			s := v.AsString()
			if size += int64(len(s)); size > limit {
				return fmt.Sprintf("a value larger than %d bytes", limit)
			}
			if len(s) > maxNumericString && numeric(s) {
				return fmt.Sprintf("a string of %d digits (at most %d in a string that reads as a number)", len(s), maxNumericString)
			}
		case ty == cty.Number:
			bf := v.AsBigFloat()
			if bf.IsInf() {
				return ""
			}
			if exp := bf.MantExp(nil); exp > maxBinaryExponent || exp < -maxBinaryExponent {
				return "a number beyond ±1e1000"
			}
		case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
			keyed := ty.IsMapType() || ty.IsObjectType()
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				if keyed {
					size += int64(len(k.AsString()))
				}
				if p := walk(e, depth+1); p != "" {
					return p
				}
			}
		}
		return ""
	}
	p := walk(v, 0)
	return size, p
}

// numeric reports whether s reads as a decimal number to cty.
func numeric(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == 'e', c == 'E', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}

// check measures a value built by an expression and charges it to the
// stack's budget.
func (l *loader) check(v cty.Value) error {
	size, problem := measure(v, maxValueBytes)
	if problem != "" {
		return l.fail(problem)
	}
	if l.spent += size + evalCost; l.spent > maxEvalBytes {
		return l.fail(fmt.Sprintf("evaluating this configuration builds more than %d bytes of values", maxEvalBytes))
	}
	return nil
}

// guarded is an expression whose value is checked and charged.
type guarded struct {
	hclsyntax.Expression
	l *loader
	// sum, when set, is the running size of a template's parts, set each
	// time the template is evaluated to the size of the parts that are
	// plain references (refs: they cannot be wrapped, or the references
	// would no longer be found in the expression).
	sum  *int64
	refs []hclsyntax.Expression
}

func (g *guarded) budgetDiags() hcl.Diagnostics {
	r := g.Range()
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Evaluation budget exceeded", Detail: g.l.err.Msg, Subject: &r}}
}

func (g *guarded) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if g.l.err != nil {
		return cty.DynamicVal, g.budgetDiags()
	}
	if g.sum != nil {
		*g.sum = 0
		for _, r := range g.refs {
			v, _ := r.Value(ctx)
			size, _ := measure(v, maxValueBytes+1)
			if *g.sum += size; *g.sum > maxValueBytes {
				g.l.fail(fmt.Sprintf("a string template longer than %d bytes", maxValueBytes)) //nolint:errcheck // recorded
				g.l.failed(rangePos(g.Range()))                                                //nolint:errcheck // sets the position
				return cty.DynamicVal, g.budgetDiags()
			}
		}
	}
	v, diags := g.Expression.Value(ctx)
	if g.l.err == nil {
		g.l.check(v) //nolint:errcheck // recorded in g.l.err
	}
	if g.l.err != nil {
		g.l.failed(rangePos(g.Range())) //nolint:errcheck // sets the position
		return cty.DynamicVal, append(diags, g.budgetDiags()...)
	}
	return v, diags
}

// templatePart is one part of a string template: the parts' sizes are
// added up as the template writes them, so that a template of many
// interpolations of a large value stops before it is built.
type templatePart struct {
	hclsyntax.Expression
	l   *loader
	sum *int64
}

func (p *templatePart) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	v, diags := p.Expression.Value(ctx)
	size, _ := measure(v, maxValueBytes)
	if *p.sum += size; *p.sum > maxValueBytes && p.l.err == nil {
		p.l.fail(fmt.Sprintf("a string template longer than %d bytes", maxValueBytes)) //nolint:errcheck // recorded
		p.l.failed(rangePos(p.Range()))                                                //nolint:errcheck // sets the position
	}
	if p.l.err != nil {
		r := p.Range()
		return cty.DynamicVal, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Evaluation budget exceeded", Detail: p.l.err.Msg, Subject: &r})
	}
	return v, diags
}

// guardBody wraps the expressions of a body, its nested blocks' included.
func (l *loader) guardBody(b *hclsyntax.Body) {
	for _, a := range b.Attributes {
		a.Expr = l.guard(a.Expr)
	}
	for _, blk := range b.Blocks {
		l.guardBody(blk.Body)
	}
}

// guard wraps, in e and below, the expressions that build values. The
// parse has bounded how deeply this recurses.
func (l *loader) guard(e hclsyntax.Expression) hclsyntax.Expression {
	switch x := e.(type) {
	case *hclsyntax.BinaryOpExpr:
		x.LHS, x.RHS = l.guard(x.LHS), l.guard(x.RHS)
		return &guarded{Expression: x, l: l}
	case *hclsyntax.UnaryOpExpr:
		x.Val = l.guard(x.Val)
		return &guarded{Expression: x, l: l}
	case *hclsyntax.FunctionCallExpr:
		for i := range x.Args {
			x.Args[i] = l.guard(x.Args[i])
		}
		return &guarded{Expression: x, l: l}
	case *hclsyntax.TemplateExpr:
		g := &guarded{Expression: x, l: l, sum: new(int64)}
		for i, p := range x.Parts {
			switch p.(type) {
			case *hclsyntax.ScopeTraversalExpr:
				g.refs = append(g.refs, p)
			case *hclsyntax.LiteralValueExpr:
			default:
				x.Parts[i] = &templatePart{Expression: l.guard(p), l: l, sum: g.sum}
			}
		}
		return g
	case *hclsyntax.TemplateJoinExpr:
		x.Tuple = &guarded{Expression: l.guard(x.Tuple), l: l}
		return &guarded{Expression: x, l: l}
	case *hclsyntax.TemplateWrapExpr:
		x.Wrapped = l.guard(x.Wrapped)
	case *hclsyntax.ForExpr:
		x.CollExpr = l.guard(x.CollExpr)
		if x.KeyExpr != nil {
			x.KeyExpr = l.guard(x.KeyExpr)
		}
		x.ValExpr = l.guard(x.ValExpr)
		if x.CondExpr != nil {
			x.CondExpr = l.guard(x.CondExpr)
		}
		return &guarded{Expression: x, l: l}
	case *hclsyntax.SplatExpr:
		x.Source, x.Each = l.guard(x.Source), l.guard(x.Each)
		return &guarded{Expression: x, l: l}
	case *hclsyntax.ConditionalExpr:
		x.Condition, x.TrueResult, x.FalseResult = l.guard(x.Condition), l.guard(x.TrueResult), l.guard(x.FalseResult)
	case *hclsyntax.TupleConsExpr:
		for i := range x.Exprs {
			x.Exprs[i] = l.guard(x.Exprs[i])
		}
	case *hclsyntax.ObjectConsExpr:
		for i := range x.Items {
			x.Items[i].KeyExpr = l.guard(x.Items[i].KeyExpr)
			x.Items[i].ValueExpr = l.guard(x.Items[i].ValueExpr)
		}
	case *hclsyntax.ObjectConsKeyExpr:
		// A bare name is a literal key: leave it for
		// hcl.AbsTraversalForExpr to find.
		if _, ok := x.Wrapped.(*hclsyntax.ScopeTraversalExpr); !ok {
			x.Wrapped = l.guard(x.Wrapped)
		}
	case *hclsyntax.IndexExpr:
		x.Collection, x.Key = l.guard(x.Collection), l.guard(x.Key)
	case *hclsyntax.RelativeTraversalExpr:
		x.Source = l.guard(x.Source)
	case *hclsyntax.ParenthesesExpr:
		x.Expression = l.guard(x.Expression)
	}
	return e
}

// guardFuncs wraps the functions whose result can be far larger than
// their arguments: what they would build is estimated before they run.
func (l *loader) guardFuncs(funcs map[string]function.Function) map[string]function.Function {
	for name, f := range funcs {
		if estimate := estimates[name]; estimate != nil {
			funcs[name] = l.guardFunc(name, f, estimate)
		}
	}
	return funcs
}

func (l *loader) guardFunc(name string, f function.Function, estimate func(args []cty.Value) float64) function.Function {
	return function.New(&function.Spec{
		Params:   f.Params(),
		VarParam: f.VarParam(),
		Type:     f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if name == "range" {
				if n := rangeLength(args); n > maxRange {
					return cty.NilVal, l.fail(fmt.Sprintf("range would make %.0f numbers: at most %d", n, maxRange))
				}
			}
			if name == "jsondecode" && checkJSONNesting([]byte(knownString(args[0]))) >= 0 {
				return cty.NilVal, l.fail(fmt.Sprintf("jsondecode of JSON nested more than %d deep", maxNesting))
			}
			if name == "parseint" && len(knownString(args[0])) > maxNumericString {
				return cty.NilVal, l.fail(fmt.Sprintf("parseint of a string longer than %d", maxNumericString))
			}
			if n := estimate(args); n > maxValueBytes {
				return cty.NilVal, l.fail(fmt.Sprintf("%s would build a value of more than %d bytes", name, maxValueBytes))
			}
			return f.Call(args)
		},
	})
}

// The estimates of what a function would build, in the units of measure.
var estimates = map[string]func(args []cty.Value) float64{
	"format":     func(args []cty.Value) float64 { return formatEstimate(args, 1) },
	"formatlist": formatListEstimate,
	"join": func(args []cty.Value) float64 {
		sep := float64(len(knownString(args[0])))
		n := 0.0
		for _, a := range args[1:] {
			elems, size := shape(a)
			n += size + elems*(sep+16)
		}
		return n
	},
	"replace": func(args []cty.Value) float64 {
		s, sub, rep := float64(len(knownString(args[0]))), knownString(args[1]), float64(len(knownString(args[2])))
		matches := s + 1
		if len(sub) > 0 && !strings.HasPrefix(sub, "/") {
			matches = s/float64(len(sub)) + 1
		}
		return s + matches*rep
	},
	"indent": func(args []cty.Value) float64 {
		s := knownString(args[1])
		return float64(len(s)) + float64(strings.Count(s, "\n")+1)*knownNumber(args[0])
	},
	"setproduct": func(args []cty.Value) float64 {
		n := 1.0
		for _, a := range args {
			elems, _ := shape(a)
			n *= elems
		}
		return n * 16 * float64(len(args)+1)
	},
	"split": func(args []cty.Value) float64 {
		s := float64(len(knownString(args[1])))
		return s + (s+1)*16
	},
	"regexall": regexEstimate,
	"regex":    regexEstimate,
	"jsonencode": func(args []cty.Value) float64 {
		size, _ := measure(args[0], maxValueBytes+1)
		return float64(size)*6 + 16
	},
	"jsondecode": func(args []cty.Value) float64 { return float64(len(knownString(args[0]))) * 4 },
	"parseint":   func([]cty.Value) float64 { return 16 },
	"range":      func(args []cty.Value) float64 { return rangeLength(args) * 16 },
}

// maxRange is cty's own bound on range, checked here so that it is an
// error rather than a value left unknown.
const maxRange = 1024

// rangeLength is how many numbers range(args) makes.
func rangeLength(args []cty.Value) float64 {
	start, end, step := 0.0, 0.0, 1.0
	switch len(args) {
	case 1:
		end = signed(args[0])
	case 2:
		start, end = signed(args[0]), signed(args[1])
	case 3:
		start, end, step = signed(args[0]), signed(args[1]), signed(args[2])
	default:
		return 0
	}
	if step == 0 || (end-start)*step < 0 {
		return 0
	}
	return math.Ceil(math.Abs((end - start) / step))
}

func signed(v cty.Value) float64 {
	v, _ = v.Unmark()
	if v.IsKnown() && !v.IsNull() && v.Type() == cty.Number {
		f, _ := v.AsBigFloat().Float64()
		return f
	}
	return 0
}

func knownString(v cty.Value) string {
	v, _ = v.Unmark()
	if v.IsKnown() && !v.IsNull() && v.Type() == cty.String {
		return v.AsString()
	}
	return ""
}

func knownNumber(v cty.Value) float64 {
	v, _ = v.Unmark()
	if v.IsKnown() && !v.IsNull() && v.Type() == cty.Number {
		f, _ := v.AsBigFloat().Float64()
		return math.Abs(f)
	}
	return 0
}

// shape returns the number of elements of a collection (1 for anything
// else) and its size.
func shape(v cty.Value) (elems, size float64) {
	s, _ := measure(v, maxValueBytes+1)
	v, _ = v.Unmark()
	if v.IsKnown() && !v.IsNull() && (v.Type().IsListType() || v.Type().IsSetType() || v.Type().IsTupleType() || v.Type().IsMapType() || v.Type().IsObjectType()) {
		return float64(v.LengthInt()), float64(s)
	}
	return 1, float64(s)
}

// verbWidths matches the widths and precisions of format verbs.
var verbWidths = regexp.MustCompile(`%[-+# 0]*(\d*)(?:\.(\d*))?`)

// formatEstimate estimates format's result, and formatlist's with times
// rows: the spec and its widths, and the scalar arguments, written once a
// row; the elements of list arguments once in all.
func formatEstimate(args []cty.Value, times float64) float64 {
	spec := knownString(args[0])
	row := float64(len(spec))
	for _, m := range verbWidths.FindAllStringSubmatch(spec, -1) {
		for _, d := range m[1:] {
			if len(d) > 9 {
				return math.Inf(1)
			}
			var w float64
			fmt.Sscan(d, &w) //nolint:errcheck // empty is 0
			row += w
		}
	}
	lists := 0.0
	for _, a := range args[1:] {
		_, size := shape(a)
		if isList(a) {
			lists += size
		} else {
			row += size
		}
	}
	return row*times + lists
}

func isList(v cty.Value) bool {
	v, _ = v.Unmark()
	t := v.Type()
	return t.IsListType() || t.IsTupleType() || t.IsSetType()
}

func formatListEstimate(args []cty.Value) float64 {
	rows := 1.0
	for _, a := range args[1:] {
		a, _ = a.Unmark()
		if a.IsKnown() && !a.IsNull() && isList(a) {
			rows = max(rows, float64(a.LengthInt()))
		}
	}
	return formatEstimate(args, rows)
}

func regexEstimate(args []cty.Value) float64 {
	re, err := regexp.Compile(knownString(args[0]))
	if err != nil {
		return 16
	}
	s := float64(len(knownString(args[1])))
	return float64(re.NumSubexp()+1) * (s + 1) * 24
}

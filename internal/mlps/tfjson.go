package mlps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// A .tf.json file is Terraform's JSON syntax for the same configuration
// (https://developer.hashicorp.com/terraform/language/syntax/json). It is
// read into the native syntax's tree (hclsyntax), so that it goes through
// the same evaluation and its budget guards as a .tf file: strings are
// templates, parsed as HCL templates; which keys of a resource are nested
// blocks comes from the embedded provider schema, as Terraform takes it
// from the provider's.

// jnode is a JSON value with the position where it starts.
type jnode struct {
	pos   hcl.Pos
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys  []string
	kpos  []hcl.Pos
	vals  []*jnode // object values, or array elements
	str   string   // a string, or a number's literal
	truth bool
}

// jsonReader decodes JSON with positions; its input is bounded in size and
// nesting before it is read.
type jsonReader struct {
	name  string
	src   []byte
	dec   *json.Decoder
	lines []int // offset of each line's start
}

func (r *jsonReader) posAt(off int64) hcl.Pos { return r.skipTo(off, " \t\r\n:,") }

// skipTo returns the position of the first byte from off not in skip: the
// next token starts after blanks, a colon or a comma; an error is where
// the blanks end.
func (r *jsonReader) skipTo(off int64, skip string) hcl.Pos {
	for off < int64(len(r.src)) && strings.IndexByte(skip, r.src[off]) >= 0 {
		off++
	}
	line := sort.Search(len(r.lines), func(i int) bool { return int64(r.lines[i]) > off })
	return hcl.Pos{Line: line, Column: int(off) - r.lines[line-1] + 1, Byte: int(off)}
}

func (r *jsonReader) errAt(p hcl.Pos, msg string) error {
	return &ParseError{Pos: Pos{File: r.name, Line: p.Line, Col: p.Column}, Msg: msg}
}

// token reads the next token; an error is placed where the input goes
// wrong.
func (r *jsonReader) token() (json.Token, error) {
	off := r.dec.InputOffset()
	tok, err := r.dec.Token()
	if err == nil {
		return tok, nil
	}
	p := r.skipTo(off, " \t\r\n")
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, r.errAt(r.skipTo(int64(len(r.src)), ""), "malformed JSON: the file ends inside a value (truncated?)")
	case errors.As(err, &se):
		p = r.skipTo(se.Offset, "")
	}
	return nil, r.errAt(p, "malformed JSON: "+err.Error())
}

func (r *jsonReader) value() (*jnode, error) {
	p := r.posAt(r.dec.InputOffset())
	tok, err := r.token()
	if err != nil {
		return nil, err
	}
	n := &jnode{pos: p}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.kind = 'o'
			for r.dec.More() {
				kp := r.posAt(r.dec.InputOffset())
				kt, err := r.token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := r.value()
				if err != nil {
					return nil, err
				}
				n.keys, n.kpos, n.vals = append(n.keys, k), append(n.kpos, kp), append(n.vals, v)
			}
		case '[':
			n.kind = 'a'
			for r.dec.More() {
				v, err := r.value()
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
		default:
			return nil, r.errAt(p, fmt.Sprintf("malformed JSON: unexpected %q", t))
		}
		if _, err := r.token(); err != nil {
			return nil, err
		}
	case string:
		n.kind, n.str = 's', t
	case json.Number:
		if !saneNumber(string(t)) {
			return nil, r.errAt(p, fmt.Sprintf("a number literal of more than %d digits or with an exponent beyond ±%d: not evaluated", maxNumberExponent, maxNumberExponent))
		}
		n.kind, n.str = 'n', string(t)
	case bool:
		n.kind, n.truth = 'b', t
	case nil:
		n.kind = 'z'
	}
	return n, nil
}

// parseTFJSON reads a .tf.json file into a native syntax body: the
// top-level blocks the loader reads (resource, data, variable, locals,
// module, output); the others are left out, as they are of a .tf file.
func (l *loader) parseTFJSON(src []byte, name string) (*hclsyntax.Body, error) {
	if off := checkJSONNesting(src); off >= 0 {
		r := &jsonReader{name: name, src: src, lines: lineStarts(src)}
		return nil, r.errAt(r.posAt(off), fmt.Sprintf("arrays and objects nested more than %d deep: not parsed", maxNesting))
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	r := &jsonReader{name: name, src: src, dec: dec, lines: lineStarts(src)}
	root, err := r.value()
	if err != nil {
		return nil, err
	}
	if p := r.posAt(dec.InputOffset()); p.Byte < len(src) {
		return nil, r.errAt(p, "malformed JSON: data after the top-level object")
	}
	if root.kind != 'o' {
		return nil, r.errAt(root.pos, "a .tf.json file must hold one JSON object")
	}
	c := &jsonConv{l: l, r: r}
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: c.rng(root.pos)}
	for i, k := range root.keys {
		v := root.vals[i]
		switch k {
		case "resource", "data":
			// {"TYPE": {"NAME": {...}}}
			for _, types := range c.objects(v) {
				for j, typ := range types.keys {
					for _, names := range c.objects(types.vals[j]) {
						for m, nm := range names.keys {
							for _, b := range c.objects(names.vals[m]) {
								blk, err := c.block(k, []string{typ, nm}, names.kpos[m], b, c.resourceKinds(k, typ))
								if err != nil {
									return nil, err
								}
								body.Blocks = append(body.Blocks, blk)
							}
						}
					}
				}
			}
		case "variable", "output", "module":
			for _, names := range c.objects(v) {
				for m, nm := range names.keys {
					for _, b := range c.objects(names.vals[m]) {
						blk, err := c.block(k, []string{nm}, names.kpos[m], b, nil)
						if err != nil {
							return nil, err
						}
						body.Blocks = append(body.Blocks, blk)
					}
				}
			}
		case "locals":
			for _, b := range c.objects(v) {
				blk, err := c.block(k, nil, root.kpos[i], b, nil)
				if err != nil {
					return nil, err
				}
				body.Blocks = append(body.Blocks, blk)
			}
		}
		if c.err != nil {
			return nil, c.err
		}
	}
	l.guardBody(body)
	return body, nil
}

func lineStarts(src []byte) []int {
	lines := []int{0}
	for i, c := range src {
		if c == '\n' {
			lines = append(lines, i+1)
		}
	}
	return lines
}

type jsonConv struct {
	l   *loader
	r   *jsonReader
	err error
}

func (c *jsonConv) rng(p hcl.Pos) hcl.Range {
	return hcl.Range{Filename: c.r.name, Start: p, End: p}
}

// objects returns the objects an object or an array of objects stands
// for (Terraform's JSON syntax allows both where blocks are declared).
func (c *jsonConv) objects(n *jnode) []*jnode {
	switch n.kind {
	case 'o':
		return []*jnode{n}
	case 'a':
		var out []*jnode
		for _, e := range n.vals {
			if e.kind != 'o' {
				c.fail(e.pos, "want a JSON object here")
				return nil
			}
			out = append(out, e)
		}
		return out
	}
	c.fail(n.pos, "want a JSON object here")
	return nil
}

func (c *jsonConv) fail(p hcl.Pos, msg string) {
	if c.err == nil {
		c.err = c.r.errAt(p, msg)
	}
}

// blockKinds tells, for a key of a block's body, whether it is a nested
// block and, if so, the kinds of the keys of its body (nil: all arguments).
type blockKinds func(key string) (block bool, inner blockKinds)

// resourceKinds is the nesting of a resource's body: the meta-blocks, and
// the nested blocks of its type in the provider schema.
func (c *jsonConv) resourceKinds(mode, typ string) blockKinds {
	if c.l.schema == nil && c.l.schemaErr == nil {
		c.l.schema, c.l.schemaErr = LoadSchema()
	}
	var sb *SchemaBlock
	if c.l.schema != nil {
		sb = c.l.schema.block(map[string]string{"resource": "managed", "data": "data"}[mode], typ)
	}
	inner := schemaKinds(sb)
	return func(key string) (bool, blockKinds) {
		switch key {
		case "lifecycle", "connection", "provisioner", "dynamic":
			return true, nil
		}
		return inner(key)
	}
}

func schemaKinds(sb *SchemaBlock) blockKinds {
	return func(key string) (bool, blockKinds) {
		if sb == nil {
			return false, nil
		}
		if nb, ok := sb.BlockTypes[key]; ok {
			var b *SchemaBlock
			if nb != nil {
				b = nb.Block
			}
			return true, schemaKinds(b)
		}
		return false, nil
	}
}

// block converts the body of one JSON block.
func (c *jsonConv) block(typ string, labels []string, at hcl.Pos, n *jnode, kinds blockKinds) (*hclsyntax.Block, error) {
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: c.rng(n.pos)}
	blk := &hclsyntax.Block{Type: typ, Labels: labels, Body: body, TypeRange: c.rng(at), OpenBraceRange: c.rng(n.pos), CloseBraceRange: c.rng(n.pos)}
	for range labels {
		blk.LabelRanges = append(blk.LabelRanges, c.rng(at))
	}
	for i, k := range n.keys {
		v, kp := n.vals[i], n.kpos[i]
		if k == "//" {
			continue // a comment
		}
		if kinds != nil {
			if isBlock, inner := kinds(k); isBlock {
				if err := c.nested(body, k, kp, v, inner); err != nil {
					return nil, err
				}
				continue
			}
		}
		if _, dup := body.Attributes[k]; dup {
			return nil, c.r.errAt(kp, fmt.Sprintf("duplicate argument %q", k))
		}
		var expr hclsyntax.Expression
		var err error
		if (typ == "variable" && k == "type") || (typ == "dynamic" && k == "iterator") {
			expr, err = c.bareExpr(v)
		} else {
			expr, err = c.expr(v)
		}
		if err != nil {
			return nil, err
		}
		body.Attributes[k] = &hclsyntax.Attribute{Name: k, Expr: expr, SrcRange: c.rng(kp), NameRange: c.rng(kp), EqualsRange: c.rng(kp)}
	}
	if c.err != nil {
		return nil, c.err
	}
	return blk, nil
}

// nested converts the nested blocks a key of a body stands for.
func (c *jsonConv) nested(body *hclsyntax.Body, k string, kp hcl.Pos, v *jnode, inner blockKinds) error {
	switch k {
	case "dynamic":
		// {"dynamic": {"NAME": {"for_each": …, "iterator": …, "content": {…}}}}
		for _, names := range c.objects(v) {
			for j, nm := range names.keys {
				_, contentKinds := inner, blockKinds(nil)
				if inner != nil {
					_, contentKinds = inner(nm)
				}
				for _, d := range c.objects(names.vals[j]) {
					dyn := &jnode{pos: d.pos, kind: 'o'}
					var content []*jnode
					for m, dk := range d.keys {
						if dk == "content" {
							content = append(content, c.objects(d.vals[m])...)
							continue
						}
						dyn.keys, dyn.kpos, dyn.vals = append(dyn.keys, dk), append(dyn.kpos, d.kpos[m]), append(dyn.vals, d.vals[m])
					}
					blk, err := c.block("dynamic", []string{nm}, names.kpos[j], dyn, nil)
					if err != nil {
						return err
					}
					for _, cn := range content {
						cb, err := c.block("content", nil, cn.pos, cn, contentKinds)
						if err != nil {
							return err
						}
						blk.Body.Blocks = append(blk.Body.Blocks, cb)
					}
					body.Blocks = append(body.Blocks, blk)
				}
			}
		}
		return c.err
	case "provisioner":
		// meta: what a provisioner runs is not checked
		body.Blocks = append(body.Blocks, &hclsyntax.Block{Type: k, Body: &hclsyntax.Body{Attributes: hclsyntax.Attributes{}}, TypeRange: c.rng(kp)})
		return nil
	}
	for _, o := range c.objects(v) {
		blk, err := c.block(k, nil, kp, o, inner)
		if err != nil {
			return err
		}
		body.Blocks = append(body.Blocks, blk)
	}
	return c.err
}

// expr converts a JSON value into an expression: a string is a template.
func (c *jsonConv) expr(n *jnode) (hclsyntax.Expression, error) {
	rng := c.rng(n.pos)
	switch n.kind {
	case 's':
		return c.template(n)
	case 'n':
		v, err := cty.ParseNumberVal(n.str)
		if err != nil {
			return nil, c.r.errAt(n.pos, "a malformed number")
		}
		return &hclsyntax.LiteralValueExpr{Val: v, SrcRange: rng}, nil
	case 'b':
		return &hclsyntax.LiteralValueExpr{Val: cty.BoolVal(n.truth), SrcRange: rng}, nil
	case 'z':
		return &hclsyntax.LiteralValueExpr{Val: cty.NullVal(cty.DynamicPseudoType), SrcRange: rng}, nil
	case 'a':
		t := &hclsyntax.TupleConsExpr{SrcRange: rng, OpenRange: rng}
		for _, e := range n.vals {
			x, err := c.expr(e)
			if err != nil {
				return nil, err
			}
			t.Exprs = append(t.Exprs, x)
		}
		return t, nil
	}
	o := &hclsyntax.ObjectConsExpr{SrcRange: rng, OpenRange: rng}
	for i, k := range n.keys {
		kx, err := c.template(&jnode{pos: n.kpos[i], kind: 's', str: k})
		if err != nil {
			return nil, err
		}
		vx, err := c.expr(n.vals[i])
		if err != nil {
			return nil, err
		}
		o.Items = append(o.Items, hclsyntax.ObjectConsItem{KeyExpr: kx, ValueExpr: vx})
	}
	return o, nil
}

// template parses a JSON string as Terraform does: an HCL template, its
// nesting bounded first.
func (c *jsonConv) template(n *jnode) (hclsyntax.Expression, error) {
	src := []byte(n.str)
	toks, _ := hclsyntax.LexTemplate(src, c.r.name, n.pos)
	if err := checkTokenNesting(toks, c.r.name); err != nil {
		return nil, err
	}
	x, diags := hclsyntax.ParseTemplate(src, c.r.name, n.pos)
	if err := diagError(diags); err != nil {
		return nil, err
	}
	return x, nil
}

// bareExpr reads a string as an expression, not a template (a variable's
// type, a dynamic block's iterator).
func (c *jsonConv) bareExpr(n *jnode) (hclsyntax.Expression, error) {
	if n.kind != 's' {
		return c.expr(n)
	}
	src := []byte(n.str)
	toks, _ := hclsyntax.LexExpression(src, c.r.name, n.pos)
	if err := checkTokenNesting(toks, c.r.name); err != nil {
		return nil, err
	}
	x, diags := hclsyntax.ParseExpression(src, c.r.name, n.pos)
	if err := diagError(diags); err != nil {
		return nil, err
	}
	return x, nil
}

// Package sqlfilter compiles resolved SCIM filter trees, sort orders and
// keyset positions into parameterised SQL. The traversal is shared; every
// piece of SQL text that differs between databases comes from a Dialect,
// which the SQLite and PostgreSQL stores each implement. Values from the
// filter only ever become arguments; identifiers come from the Layout, which
// the stores declare, and from schema attribute names, which are checked
// against a strict pattern before they are written into a JSON path.
package sqlfilter

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Kind is how a column or JSON value compares.
type Kind int

// Value kinds.
const (
	Text Kind = iota
	Bool
	Number
	Time
)

// Column is an attribute stored in a column of its own.
type Column struct {
	Expr string // e.g. "t.user_name_lower"
	Kind Kind
	// Lowered: the column holds the value lower-cased (by Go's
	// strings.ToLower), for an attribute that is not caseExact.
	Lowered bool
	// Scoped, if set, is the column a reader with a synchronization scope
	// is shown the attribute from, which its filters and sorts therefore
	// use instead of Expr (meta.lastModified: see directory/scope.go).
	Scoped string
}

// expr is the column's expression for b's reader.
func (c Column) expr(b *Builder) string {
	if c.Scoped != "" && b.Scope != nil {
		return c.Scoped
	}
	return c.Expr
}

// SideTable is a multi-valued attribute indexed in a table of its own, one
// row per element.
type SideTable struct {
	// From is the table and alias, e.g. "user_emails e".
	From string
	// Link ties a row to the resource row, e.g. "e.user_seq = t.seq".
	Link string
	// LinkColumn and Key express the same link as "Key IN (SELECT LinkColumn
	// FROM …)", which lets the database start from the side table's index.
	LinkColumn, Key string
	// Subs maps sub-attribute names (canonical) to columns.
	Subs map[string]Column
	// Constants are sub-attributes with one fixed value (e.g. type "direct").
	Constants map[string]string
	// Visible, if set, returns the condition on a side row that the reader
	// may see it (the groups or members inside its synchronization scope),
	// or "" for every row. Every condition on the side table includes it.
	Visible func(b *Builder) string
	// SortExpr returns the expression sorting by the attribute uses (its
	// primary or first element's value, as a correlated subquery), or nil
	// when the attribute cannot be sorted on.
	SortExpr func(b *Builder) string
}

// Layout describes where a resource type's attributes live.
type Layout struct {
	// Doc is the JSON column holding every attribute that is not in a column
	// or side table, e.g. "t.attrs".
	Doc string
	// Seq is the creation-order column, e.g. "t.seq".
	Seq string
	// Columns maps canonical attribute paths (schema.Ref.String()) to columns.
	Columns map[string]Column
	// Sides maps canonical top-level attribute paths to side tables.
	Sides map[string]SideTable
	// Constants maps canonical paths to their single value
	// (meta.resourceType).
	Constants map[string]string
	// Unsupported lists paths that cannot be filtered or sorted on, with
	// the reason.
	Unsupported map[string]string
	// Guards maps canonical top-level attribute paths of the JSON document
	// to the condition that the value is visible to the reader (a
	// reference to a resource inside its synchronization scope), or "" when
	// every value is. Comparisons and sorts treat a value that fails its
	// guard as absent.
	Guards map[string]func(b *Builder) string
}

// Dialect supplies the SQL that differs between databases.
type Dialect interface {
	// Param is the placeholder of the n-th argument (1-based). A
	// placeholder may appear more than once in a statement.
	Param(n int) string
	// Lower lower-cases a text expression.
	Lower(x string) string
	// Contains, HasPrefix and HasSuffix test text x against text parameter p.
	Contains(x, p string) string
	HasPrefix(x, p string) string
	HasSuffix(x, p string) string
	// Collate makes text expression x order by code point (bytes of
	// UTF-8), e.g. by adding COLLATE "C".
	Collate(x string) string
	// BoolLit is the literal for b.
	BoolLit(b bool) string
	// TimeArg converts a time argument for comparison with a Time column.
	TimeArg(t time.Time) any
	// JSONText, JSONNumber and JSONBool extract the scalar at path (keys)
	// below the JSON expression doc as text, a number and a boolean; with no
	// keys, doc itself is the element of a JSONEach.
	JSONText(doc string, keys []string) string
	JSONNumber(doc string, keys []string) string
	JSONBool(doc string, keys []string) string
	// JSONTimeCompare compares the dateTime at path with the argument
	// placeholder p.
	JSONTimeCompare(doc string, keys []string, op, p string) string
	// JSONPresent tests that a value exists at path.
	JSONPresent(doc string, keys []string) string
	// JSONEach returns a FROM item iterating the elements of the array at
	// path under the given alias, and the expression for one element.
	JSONEach(doc string, keys []string, alias string) (from, elem string)
}

// keyRE is what a JSON path key from the schema may look like.
var keyRE = regexp.MustCompile(`^[A-Za-z0-9_$:.\-]+$`)

// CheckKeys verifies that keys can be written into a JSON path literal.
// Dialects call it; keys come from schema attribute names and URNs.
func CheckKeys(keys []string) {
	for _, k := range keys {
		if !keyRE.MatchString(k) {
			// Attribute names are validated when schemas are built, so
			// this is a programming error, not bad input.
			panic(fmt.Sprintf("sqlfilter: unsafe JSON key %q", k))
		}
	}
}

// Builder accumulates SQL arguments.
type Builder struct {
	D    Dialect
	Args []any
	// Scope is the reader's synchronization scope (nil: everything). What
	// lies outside it — groups, members, managers — matches no comparison
	// and sorts as absent, as it is absent from what the reader sees.
	Scope *directory.SyncScope
	// Domain is the reader's provisioning domain: externalId is its value
	// there ("" has none).
	Domain string
	// aliasN numbers the aliases of nested subqueries.
	aliasN int
}

// Arg appends an argument and returns its placeholder.
func (b *Builder) Arg(v any) string {
	b.Args = append(b.Args, v)
	return b.D.Param(len(b.Args))
}

func (b *Builder) alias() string {
	b.aliasN++
	return fmt.Sprintf("j%d", b.aliasN)
}

// Error is a filter or sort the layout cannot answer; SCIM answers it with
// 400 invalidFilter.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Where compiles a resolved filter into a boolean SQL expression. A string
// value holding NUL is refused, on both databases alike: PostgreSQL cannot
// take it as a parameter, and no stored value holds it (bodies may not).
func (b *Builder) Where(l *Layout, e filter.Expr) (string, error) {
	var nul bool
	filter.Walk(e, func(x filter.Expr) bool {
		if c, ok := x.(*filter.Compare); ok && c.Value.Kind == filter.KindString && strings.IndexByte(c.Value.Str, 0) >= 0 {
			nul = true
		}
		return !nul
	})
	if nul {
		return "", &Error{Msg: "filter values must be valid UTF-8 without NUL characters"}
	}
	return b.expr(l, e)
}

func (b *Builder) expr(l *Layout, e filter.Expr) (string, error) {
	switch n := e.(type) {
	case *filter.Logical:
		left, err := b.expr(l, n.Left)
		if err != nil {
			return "", err
		}
		right, err := b.expr(l, n.Right)
		if err != nil {
			return "", err
		}
		op := " AND "
		if n.Or {
			op = " OR "
		}
		return "(" + left + op + right + ")", nil
	case *filter.Not:
		x, err := b.expr(l, n.X)
		if err != nil {
			return "", err
		}
		return "(NOT COALESCE(" + x + ", " + b.D.BoolLit(false) + "))", nil
	case *filter.Compare:
		if n.Op == filter.Ne {
			eq := *n
			eq.Op = filter.Eq
			x, err := b.expr(l, &eq)
			if err != nil {
				return "", err
			}
			return "(NOT COALESCE(" + x + ", " + b.D.BoolLit(false) + "))", nil
		}
		if n.Op != filter.Pr && n.Value.Kind == filter.KindNull {
			pr := *n
			pr.Op, pr.Value = filter.Pr, filter.Value{}
			x, err := b.expr(l, &pr)
			if err != nil {
				return "", err
			}
			return "(NOT COALESCE(" + x + ", " + b.D.BoolLit(false) + "))", nil
		}
		return b.compare(l, n)
	case *filter.ValuePath:
		return b.valuePath(l, n)
	}
	return "", &Error{Msg: "unsupported filter node"}
}

func refKey(r schema.Ref) string { return r.String() }

func topKey(r schema.Ref) string { return r.Schema.ID + ":" + r.Attr.Name }

// jsonKeys is the path of a top-level attribute inside the JSON document.
func jsonKeys(r schema.Ref) []string {
	if r.Schema.IsCore() {
		return []string{r.Attr.Name}
	}
	return []string{r.Schema.ID, r.Attr.Name}
}

func (b *Builder) unsupported(l *Layout, r schema.Ref) error { return unsupportedAt(l, refKey(r), r) }

// unsupportedAt is unsupported with r's key, k, worked out already.
func unsupportedAt(l *Layout, k string, r schema.Ref) error {
	if why, ok := l.Unsupported[k]; ok {
		return &Error{Msg: fmt.Sprintf("cannot filter or sort on %s: %s", r.String(), why)}
	}
	return nil
}

// guarded adds the guard of r's attribute, if any, to cond.
func (b *Builder) guarded(l *Layout, r schema.Ref, cond string) string {
	if g, ok := l.Guards[topKey(r)]; ok {
		if x := g(b); x != "" {
			return "(" + cond + " AND " + x + ")"
		}
	}
	return cond
}

func (b *Builder) compare(l *Layout, n *filter.Compare) (string, error) {
	cond, err := b.compareRaw(l, n)
	if err != nil {
		return "", err
	}
	return b.guarded(l, n.Path.Ref, cond), nil
}

func (b *Builder) compareRaw(l *Layout, n *filter.Compare) (string, error) {
	r := n.Path.Ref
	k, tk := refKey(r), topKey(r)
	if err := unsupportedAt(l, k, r); err != nil {
		return "", err
	}
	if v, ok := l.Constants[k]; ok {
		return b.constCompare(n, v), nil
	}
	if c, ok := l.Columns[k]; ok {
		return b.columnCompare(n, c), nil
	}
	if side, ok := l.Sides[tk]; ok {
		if n.Op == filter.Pr && r.Sub == nil {
			cond := side.Link
			if v := b.visible(side); v != "" {
				cond += " AND " + v
			}
			return "EXISTS (SELECT 1 FROM " + side.From + " WHERE " + cond + ")", nil
		}
		cond, err := b.sideCompare(side, n)
		if err != nil {
			return "", err
		}
		return b.sideExists(side, cond), nil
	}
	if c, ok := l.Columns[tk]; ok && r.Sub == nil {
		return b.columnCompare(n, c), nil
	}
	// In the JSON document.
	keys := jsonKeys(r)
	if r.Attr.MultiValued {
		if n.Op == filter.Pr && r.Sub == nil {
			return b.D.JSONPresent(l.Doc, keys), nil
		}
		alias := b.alias()
		from, elem := b.D.JSONEach(l.Doc, keys, alias)
		var sub []string
		if r.Sub != nil {
			sub = []string{r.Sub.Name}
		}
		cond := b.jsonCompare(elem, sub, n.Op, r.Leaf(), n.Value)
		return "EXISTS (SELECT 1 FROM " + from + " WHERE " + cond + ")", nil
	}
	if r.Sub != nil {
		keys = append(keys, r.Sub.Name)
	}
	return b.jsonCompare(l.Doc, keys, n.Op, r.Leaf(), n.Value), nil
}

// visible is the condition that a side row is visible to the reader, or "".
func (b *Builder) visible(side SideTable) string {
	if side.Visible == nil {
		return ""
	}
	return side.Visible(b)
}

// sideExists wraps a condition on a side table's rows (those the reader may
// see).
func (b *Builder) sideExists(side SideTable, cond string) string {
	if v := b.visible(side); v != "" {
		cond = "(" + cond + " AND " + v + ")"
	}
	if side.Key != "" {
		return side.Key + " IN (SELECT " + side.LinkColumn + " FROM " + side.From + " WHERE " + cond + ")"
	}
	return "EXISTS (SELECT 1 FROM " + side.From + " WHERE " + side.Link + " AND " + cond + ")"
}

// sideCompare compiles a comparison on one element row of a side table.
func (b *Builder) sideCompare(side SideTable, n *filter.Compare) (string, error) {
	r := n.Path.Ref
	name := "value"
	if r.Sub != nil {
		name = r.Sub.Name
	}
	if v, ok := side.Constants[name]; ok {
		return b.constCompare(n, v), nil
	}
	c, ok := side.Subs[name]
	if !ok {
		return "", &Error{Msg: fmt.Sprintf("cannot filter on %s.%s", r.Attr.Name, name)}
	}
	return b.columnCompare(n, c), nil
}

// valuePath compiles attr[filter]: some element satisfies the whole inner
// filter.
func (b *Builder) valuePath(l *Layout, n *filter.ValuePath) (string, error) {
	cond, err := b.valuePathRaw(l, n)
	if err != nil {
		return "", err
	}
	return b.guarded(l, n.Path.Ref, cond), nil
}

func (b *Builder) valuePathRaw(l *Layout, n *filter.ValuePath) (string, error) {
	r := n.Path.Ref
	if err := b.unsupported(l, r); err != nil {
		return "", err
	}
	if side, ok := l.Sides[topKey(r)]; ok {
		cond, err := b.elemExpr(n.Filter, func(c *filter.Compare) (string, error) { return b.sideCompare(side, c) })
		if err != nil {
			return "", err
		}
		return b.sideExists(side, cond), nil
	}
	keys := jsonKeys(r)
	if !r.Attr.MultiValued {
		// A single complex attribute: the filter applies to it directly.
		return b.elemExpr(n.Filter, func(c *filter.Compare) (string, error) {
			k := append(append([]string(nil), keys...), c.Path.Ref.Sub.Name)
			return b.jsonCompare(l.Doc, k, c.Op, c.Path.Ref.Leaf(), c.Value), nil
		})
	}
	alias := b.alias()
	from, elem := b.D.JSONEach(l.Doc, keys, alias)
	cond, err := b.elemExpr(n.Filter, func(c *filter.Compare) (string, error) {
		var sub []string
		if c.Path.Ref.Sub != nil {
			sub = []string{c.Path.Ref.Sub.Name}
		}
		return b.jsonCompare(elem, sub, c.Op, c.Path.Ref.Leaf(), c.Value), nil
	})
	if err != nil {
		return "", err
	}
	return "EXISTS (SELECT 1 FROM " + from + " WHERE " + cond + ")", nil
}

// elemExpr compiles the logic of a value filter, with leaf comparisons
// compiled by leaf.
func (b *Builder) elemExpr(e filter.Expr, leaf func(*filter.Compare) (string, error)) (string, error) {
	switch n := e.(type) {
	case *filter.Logical:
		left, err := b.elemExpr(n.Left, leaf)
		if err != nil {
			return "", err
		}
		right, err := b.elemExpr(n.Right, leaf)
		if err != nil {
			return "", err
		}
		op := " AND "
		if n.Or {
			op = " OR "
		}
		return "(" + left + op + right + ")", nil
	case *filter.Not:
		x, err := b.elemExpr(n.X, leaf)
		if err != nil {
			return "", err
		}
		return "(NOT COALESCE(" + x + ", " + b.D.BoolLit(false) + "))", nil
	case *filter.Compare:
		if n.Op == filter.Ne {
			eq := *n
			eq.Op = filter.Eq
			x, err := leaf(&eq)
			if err != nil {
				return "", err
			}
			return "(NOT COALESCE(" + x + ", " + b.D.BoolLit(false) + "))", nil
		}
		if n.Op != filter.Pr && n.Value.Kind == filter.KindNull {
			pr := *n
			pr.Op, pr.Value = filter.Pr, filter.Value{}
			x, err := leaf(&pr)
			if err != nil {
				return "", err
			}
			return "(NOT COALESCE(" + x + ", " + b.D.BoolLit(false) + "))", nil
		}
		return leaf(n)
	}
	return "", &Error{Msg: "value paths cannot be nested"}
}

// constCompare decides a comparison against a constant at compile time.
func (b *Builder) constCompare(n *filter.Compare, v string) string {
	want := n.Value.Str
	ok := false
	switch n.Op {
	case filter.Pr:
		ok = v != ""
	case filter.Eq:
		ok = strings.EqualFold(v, want)
	case filter.Co:
		ok = strings.Contains(strings.ToLower(v), strings.ToLower(want))
	case filter.Sw:
		ok = strings.HasPrefix(strings.ToLower(v), strings.ToLower(want))
	case filter.Ew:
		ok = strings.HasSuffix(strings.ToLower(v), strings.ToLower(want))
	case filter.Gt:
		ok = strings.ToLower(v) > strings.ToLower(want)
	case filter.Ge:
		ok = strings.ToLower(v) >= strings.ToLower(want)
	case filter.Lt:
		ok = strings.ToLower(v) < strings.ToLower(want)
	case filter.Le:
		ok = strings.ToLower(v) <= strings.ToLower(want)
	}
	if n.Value.Kind != filter.KindString && n.Op != filter.Pr {
		ok = false
	}
	if ok {
		return "(1 = 1)"
	}
	return "(1 = 0)"
}

var sqlOps = map[filter.Op]string{filter.Eq: "=", filter.Gt: ">", filter.Ge: ">=", filter.Lt: "<", filter.Le: "<="}

// columnCompare compiles a comparison on a column.
func (b *Builder) columnCompare(n *filter.Compare, c Column) string {
	x := c.expr(b)
	if n.Op == filter.Pr {
		if c.Kind == Text {
			return "(" + x + " IS NOT NULL AND " + x + " <> '')"
		}
		return "(" + x + " IS NOT NULL)"
	}
	caseExact := n.Path.Ref.Leaf().CaseExact
	switch c.Kind {
	case Bool:
		return "(" + x + " = " + b.D.BoolLit(n.Value.Bool) + ")"
	case Number:
		f, _ := n.Value.Float()
		return "(" + x + " " + sqlOps[n.Op] + " " + b.Arg(f) + ")"
	case Time:
		t, _ := filter.ParseTime(n.Value.Str)
		return "(" + x + " " + sqlOps[n.Op] + " " + b.Arg(b.D.TimeArg(t)) + ")"
	}
	v := n.Value.Str
	if !caseExact {
		v = strings.ToLower(v)
		if !c.Lowered {
			x = b.D.Lower(x)
		}
	}
	return b.textCompare(x, n.Op, v)
}

func (b *Builder) textCompare(x string, op filter.Op, v string) string {
	switch op {
	case filter.Eq:
		return "(" + x + " = " + b.Arg(v) + ")"
	case filter.Co:
		return "(" + b.D.Contains(x, b.Arg(v)) + ")"
	case filter.Sw:
		return "(" + b.D.HasPrefix(x, b.Arg(v)) + ")"
	case filter.Ew:
		return "(" + b.D.HasSuffix(x, b.Arg(v)) + ")"
	}
	return "(" + b.D.Collate(x) + " " + sqlOps[op] + " " + b.Arg(v) + ")"
}

// jsonCompare compiles a comparison on the JSON value at keys below doc.
func (b *Builder) jsonCompare(doc string, keys []string, op filter.Op, attr *schema.Attribute, v filter.Value) string {
	CheckKeys(keys)
	if op == filter.Pr {
		return b.D.JSONPresent(doc, keys)
	}
	switch attr.Type {
	case schema.Boolean:
		return "(" + b.D.JSONBool(doc, keys) + " = " + b.D.BoolLit(v.Bool) + ")"
	case schema.Integer, schema.Decimal:
		f, _ := v.Float()
		return "(" + b.D.JSONNumber(doc, keys) + " " + sqlOps[op] + " " + b.Arg(f) + ")"
	case schema.DateTime:
		t, _ := filter.ParseTime(v.Str)
		return "(" + b.D.JSONTimeCompare(doc, keys, sqlOps[op], b.Arg(t.UTC().Format(time.RFC3339Nano))) + ")"
	}
	x := b.D.JSONText(doc, keys)
	s := v.Str
	if !attr.CaseExact {
		x, s = b.D.Lower(x), strings.ToLower(s)
	}
	return b.textCompare(x, op, s)
}

// ---- sorting and keyset positions

// SortExpr returns the expression a sort on ref orders by, and its kind. Its
// arguments, if any, are b's numbered placeholders, so it may be written
// more than once in b's statement. An empty expression means the default
// order.
func (b *Builder) SortExpr(l *Layout, ref schema.Ref) (string, Kind, error) {
	if err := b.unsupported(l, ref); err != nil {
		return "", Text, err
	}
	if _, ok := l.Constants[refKey(ref)]; ok {
		return "", Text, nil // every row has the same value: the default order
	}
	leaf := ref.Leaf()
	if c, ok := l.Columns[refKey(ref)]; ok {
		x := c.expr(b)
		if c.Kind == Text && !leaf.CaseExact && !c.Lowered {
			x = b.D.Lower(x)
		}
		return x, c.Kind, nil
	}
	if side, ok := l.Sides[topKey(ref)]; ok {
		if side.SortExpr == nil || (ref.Sub != nil && ref.Sub.Name != "value") {
			return "", Text, &Error{Msg: fmt.Sprintf("cannot sort on %s", ref.String())}
		}
		return side.SortExpr(b), Text, nil
	}
	if leaf.Type == schema.Complex {
		if v := leaf.Sub("value"); v != nil {
			ref.Sub, leaf = v, v
		} else {
			return "", Text, &Error{Msg: fmt.Sprintf("cannot sort on complex attribute %s", ref.Attr.Name)}
		}
	}
	keys := jsonKeys(ref)
	if ref.Attr.MultiValued {
		// The first element's value (elements are stored primary first).
		keys = append(keys, "0")
	}
	if ref.Sub != nil {
		keys = append(keys, ref.Sub.Name)
	}
	CheckKeys(keys)
	switch leaf.Type {
	case schema.Boolean:
		return b.sortGuarded(l, ref, b.D.JSONBool(l.Doc, keys)), Bool, nil
	case schema.Integer, schema.Decimal:
		return b.sortGuarded(l, ref, b.D.JSONNumber(l.Doc, keys)), Number, nil
	}
	x := b.D.JSONText(l.Doc, keys)
	if !leaf.CaseExact && leaf.Type == schema.String {
		x = b.D.Lower(x)
	}
	return b.sortGuarded(l, ref, x), Text, nil
}

// sortGuarded makes a sort expression absent (NULL) where the value fails
// its guard.
func (b *Builder) sortGuarded(l *Layout, ref schema.Ref, x string) string {
	if g, ok := l.Guards[topKey(ref)]; ok {
		if cond := g(b); cond != "" {
			return "(CASE WHEN " + cond + " THEN " + x + " END)"
		}
	}
	return x
}

// OrderBy returns the ORDER BY list for sorting by expr (empty for the
// default order), ascending with absent values last, or descending: the exact
// reverse.
func (b *Builder) OrderBy(l *Layout, expr string, kind Kind, desc bool) string {
	if expr == "" {
		if desc {
			return l.Seq + " DESC"
		}
		return l.Seq
	}
	if kind == Text {
		expr = b.D.Collate(expr)
	}
	if desc {
		return "(" + expr + ") IS NULL DESC, " + expr + " DESC, " + l.Seq + " DESC"
	}
	return "(" + expr + ") IS NULL, " + expr + ", " + l.Seq
}

// After returns the condition selecting the rows after key in the order
// OrderBy describes.
func (b *Builder) After(l *Layout, expr string, kind Kind, desc bool, key *directory.Key) string {
	seqCmp := ">"
	if desc {
		seqCmp = "<"
	}
	if expr == "" {
		return l.Seq + " " + seqCmp + " " + b.Arg(key.Seq)
	}
	cmp := func(op string) string {
		v := key.Value
		if t, ok := v.(time.Time); ok {
			v = b.D.TimeArg(t)
		}
		p := b.Arg(v)
		if kind == Text {
			return b.D.Collate(expr) + " " + op + " " + p
		}
		return expr + " " + op + " " + p
	}
	if !desc {
		if key.Null {
			return "((" + expr + ") IS NULL AND " + l.Seq + " > " + b.Arg(key.Seq) + ")"
		}
		gt := cmp(">")
		eq := cmp("=")
		return "((" + expr + ") IS NULL OR " + gt + " OR (" + eq + " AND " + l.Seq + " > " + b.Arg(key.Seq) + "))"
	}
	if key.Null {
		return "(((" + expr + ") IS NULL AND " + l.Seq + " < " + b.Arg(key.Seq) + ") OR (" + expr + ") IS NOT NULL)"
	}
	lt := cmp("<")
	eq := cmp("=")
	return "(" + lt + " OR (" + eq + " AND " + l.Seq + " < " + b.Arg(key.Seq) + "))"
}

package filter

import (
	"encoding/json"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Match evaluates a resolved filter against a resource in its canonical JSON
// form (canonical attribute names; extension attributes under their schema
// URN). It exists for PATCH value filters and as the reference the SQL
// compilers are tested against; listing never filters in Go.
//
// Semantics, shared with the SQL compilers:
//   - a comparison on a multi-valued attribute matches when any element does;
//   - "ne" is the negation of "eq" (so it matches resources without the
//     attribute, and multi-valued attributes none of whose elements equal);
//   - strings compare case-insensitively unless the attribute is caseExact
//     (by lower-casing both sides), and order by UTF-8 bytes;
//   - "eq null" means "not present", "ne null" means "present";
//   - a comparison whose path Resolve has not filled in is false.
func Match(e Expr, resource map[string]any) bool {
	return match(e, resource, nil)
}

// MatchElement evaluates the inside of a value path against one element of
// the attribute it filters.
func MatchElement(e Expr, elem any) bool {
	return match(e, nil, elem)
}

func match(e Expr, res map[string]any, elem any) bool {
	switch n := e.(type) {
	case *Logical:
		if n.Or {
			return match(n.Left, res, elem) || match(n.Right, res, elem)
		}
		return match(n.Left, res, elem) && match(n.Right, res, elem)
	case *Not:
		return !match(n.X, res, elem)
	case *ValuePath:
		for _, el := range elements(attrValue(res, n.Path.Ref)) {
			if match(n.Filter, nil, el) {
				return true
			}
		}
		return false
	case *Compare:
		if !n.Path.Resolved() {
			return false
		}
		if n.Op == Pr {
			return compareAny(n, res, elem)
		}
		if n.Op != Pr && n.Value.Kind == KindNull {
			present := compareAny(&Compare{Path: n.Path, Op: Pr}, res, elem)
			switch n.Op {
			case Eq:
				return !present
			case Ne:
				return present
			}
			return false // Resolve rejects other operators with null
		}
		if n.Op == Ne {
			return !compareAny(&Compare{Path: n.Path, Op: Eq, Value: n.Value}, res, elem)
		}
		return compareAny(n, res, elem)
	}
	return false
}

// compareAny reports whether any value the path reaches satisfies the
// comparison.
func compareAny(n *Compare, res map[string]any, elem any) bool {
	var vals []any
	ref := n.Path.Ref
	if elem != nil {
		if m, ok := elem.(map[string]any); ok {
			if ref.Sub != nil {
				vals = elements(m[ref.Sub.Name])
			}
		} else if ref.Sub == nil {
			vals = []any{elem} // simple multi-valued: the element is the value
		}
	} else {
		v := attrValue(res, ref)
		if ref.Sub == nil {
			vals = elements(v)
			if n.Op == Pr && ref.Attr.MultiValued {
				return present(v)
			}
		} else {
			for _, el := range elements(v) {
				if m, ok := el.(map[string]any); ok {
					vals = append(vals, elements(m[ref.Sub.Name])...)
				}
			}
		}
	}
	leaf := ref.Leaf()
	for _, v := range vals {
		if compareOne(n.Op, leaf, v, n.Value) {
			return true
		}
	}
	return false
}

func attrValue(res map[string]any, ref schema.Ref) any {
	if res == nil || ref.Attr == nil {
		return nil
	}
	if ref.Schema.IsCore() {
		return res[ref.Attr.Name]
	}
	if ext, ok := res[ref.Schema.ID].(map[string]any); ok {
		return ext[ref.Attr.Name]
	}
	return nil
}

func elements(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	}
	return []any{v}
}

func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		for _, el := range v {
			if present(el) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, el := range v {
			if present(el) {
				return true
			}
		}
		return false
	}
	return true
}

func compareOne(op Op, attr *schema.Attribute, v any, want Value) bool {
	if op == Pr {
		return present(v)
	}
	if v == nil {
		return false
	}
	switch attr.Type {
	case schema.Boolean:
		b, ok := v.(bool)
		return ok && want.Kind == KindBool && op == Eq && b == want.Bool
	case schema.Integer, schema.Decimal:
		f, ok := toFloat(v)
		w, err := want.Float()
		if !ok || err != nil {
			return false
		}
		return ordered(op, cmpFloat(f, w))
	case schema.DateTime:
		s, ok := v.(string)
		if !ok {
			return false
		}
		t, err1 := ParseTime(s)
		w, err2 := ParseTime(want.Str)
		if err1 != nil || err2 != nil {
			return false
		}
		return ordered(op, t.Compare(w))
	}
	s, ok := v.(string)
	if !ok || want.Kind != KindString {
		return false
	}
	w := want.Str
	if !attr.CaseExact {
		s, w = strings.ToLower(s), strings.ToLower(w)
	}
	switch op {
	case Co:
		return strings.Contains(s, w)
	case Sw:
		return strings.HasPrefix(s, w)
	case Ew:
		return strings.HasSuffix(s, w)
	}
	return ordered(op, strings.Compare(s, w))
}

func ordered(op Op, c int) bool {
	switch op {
	case Eq:
		return c == 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	case Lt:
		return c < 0
	case Le:
		return c <= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

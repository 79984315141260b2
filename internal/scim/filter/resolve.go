package filter

import (
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Resolve checks a parsed filter against a resource type and fills in each
// path's schema reference, in place. Attribute names are matched
// case-insensitively; names without a URN are looked up in the core schema,
// then the extensions. It rejects what RFC 7644 does not allow or Gatehouse
// cannot answer (ordering booleans, substring operators on numbers, filters on
// write-only attributes…) with an *Error.
func Resolve(e Expr, rt *schema.ResourceType) error {
	return resolve(e, rt, nil)
}

// ResolveValueFilter resolves the inside of a value path against the complex
// attribute ref it filters.
func ResolveValueFilter(e Expr, rt *schema.ResourceType, outer schema.Ref) error {
	if outer.Attr.Type != schema.Complex && !outer.Attr.MultiValued {
		return &Error{Pos: -1, Msg: fmt.Sprintf("attribute %q is neither complex nor multi-valued", outer.Attr.Name)}
	}
	return resolve(e, rt, &outer)
}

func resolve(e Expr, rt *schema.ResourceType, outer *schema.Ref) error {
	switch n := e.(type) {
	case *Logical:
		if err := resolve(n.Left, rt, outer); err != nil {
			return err
		}
		return resolve(n.Right, rt, outer)
	case *Not:
		return resolve(n.X, rt, outer)
	case *ValuePath:
		ref, err := resolvePath(&n.Path, rt, nil)
		if err != nil {
			return err
		}
		if ref.Attr.Type != schema.Complex && !ref.Attr.MultiValued {
			return &Error{Pos: -1, Msg: fmt.Sprintf("attribute %q is neither complex nor multi-valued: it cannot take a [filter]", ref.Attr.Name)}
		}
		return resolve(n.Filter, rt, &ref)
	case *Compare:
		ref, err := resolvePath(&n.Path, rt, outer)
		if err != nil {
			return err
		}
		return checkCompare(n, ref)
	}
	return &Error{Pos: -1, Msg: "unknown node"}
}

func resolvePath(p *Path, rt *schema.ResourceType, outer *schema.Ref) (schema.Ref, error) {
	var ref schema.Ref
	if outer != nil {
		ref = schema.Ref{Schema: outer.Schema, Attr: outer.Attr}
		if outer.Attr.Type == schema.Complex {
			ref.Sub = outer.Attr.Sub(p.Name)
			if ref.Sub == nil {
				return ref, &Error{Pos: -1, Msg: fmt.Sprintf("%q has no sub-attribute %q", outer.Attr.Name, p.Name)}
			}
		} else if !strings.EqualFold(p.Name, "value") {
			// A multi-valued simple attribute's elements are addressed as "value".
			return ref, &Error{Pos: -1, Msg: fmt.Sprintf("elements of %q are addressed as \"value\", not %q", outer.Attr.Name, p.Name)}
		}
	} else {
		var err error
		ref, err = rt.ResolveParts(p.URI, p.Name, p.Sub, true)
		if err != nil {
			return ref, &Error{Pos: -1, Msg: err.Error()}
		}
	}
	p.Ref = ref
	if ref.Leaf().Returned == schema.ReturnNever {
		return ref, &Error{Pos: -1, Msg: fmt.Sprintf("attribute %q cannot be used in a filter", ref.Leaf().Name)}
	}
	return ref, nil
}

func checkCompare(n *Compare, ref schema.Ref) error {
	leaf := ref.Leaf()
	// A complex attribute without a sub-attribute: "pr" tests the whole
	// attribute; other operators apply to its "value" sub-attribute, as RFC
	// 7644 §3.4.2.2 describes for multi-valued attributes ("emails co …").
	if leaf.Type == schema.Complex {
		if n.Op == Pr {
			return nil
		}
		v := leaf.Sub("value")
		if v == nil || ref.Sub != nil {
			return &Error{Pos: -1, Msg: fmt.Sprintf("complex attribute %q can only be tested with \"pr\"; name a sub-attribute", leaf.Name)}
		}
		ref.Sub = v
		n.Path.Ref = ref
		n.Path.Sub = v.Name
		leaf = v
	}
	if n.Op == Pr {
		return nil
	}
	if n.Value.Kind == KindNull {
		if n.Op != Eq && n.Op != Ne {
			return &Error{Pos: -1, Msg: fmt.Sprintf("null can only be compared with eq or ne, not %s", n.Op)}
		}
		return nil
	}
	switch leaf.Type {
	case schema.Boolean:
		if n.Op != Eq && n.Op != Ne {
			return &Error{Pos: -1, Msg: fmt.Sprintf("boolean attribute %q only supports eq, ne and pr", leaf.Name)}
		}
		if n.Value.Kind == KindString {
			// Tolerate "true"/"false" written as strings, as some clients do.
			switch strings.ToLower(n.Value.Str) {
			case "true":
				n.Value = Value{Kind: KindBool, Bool: true}
			case "false":
				n.Value = Value{Kind: KindBool}
			}
		}
		if n.Value.Kind != KindBool {
			return &Error{Pos: -1, Msg: fmt.Sprintf("boolean attribute %q must be compared with true or false", leaf.Name)}
		}
	case schema.Binary:
		if n.Op != Eq && n.Op != Ne {
			return &Error{Pos: -1, Msg: fmt.Sprintf("binary attribute %q only supports eq, ne and pr", leaf.Name)}
		}
		if n.Value.Kind != KindString {
			return &Error{Pos: -1, Msg: fmt.Sprintf("binary attribute %q must be compared with a string", leaf.Name)}
		}
	case schema.Integer, schema.Decimal:
		if n.Op == Co || n.Op == Sw || n.Op == Ew {
			return &Error{Pos: -1, Msg: fmt.Sprintf("operator %s does not apply to number attribute %q", n.Op, leaf.Name)}
		}
		if n.Value.Kind != KindNumber {
			return &Error{Pos: -1, Msg: fmt.Sprintf("number attribute %q must be compared with a number", leaf.Name)}
		}
		if _, err := n.Value.Float(); err != nil {
			return &Error{Pos: -1, Msg: fmt.Sprintf("number %s out of range", n.Value.Str)}
		}
	case schema.DateTime:
		if n.Op == Co || n.Op == Sw || n.Op == Ew {
			return &Error{Pos: -1, Msg: fmt.Sprintf("operator %s does not apply to dateTime attribute %q", n.Op, leaf.Name)}
		}
		if n.Value.Kind != KindString {
			return &Error{Pos: -1, Msg: fmt.Sprintf("dateTime attribute %q must be compared with a string such as \"2025-01-02T15:04:05Z\"", leaf.Name)}
		}
		if _, err := ParseTime(n.Value.Str); err != nil {
			return &Error{Pos: -1, Msg: fmt.Sprintf("%q is not an RFC 3339 dateTime", n.Value.Str)}
		}
	default: // string, reference
		if n.Value.Kind != KindString {
			return &Error{Pos: -1, Msg: fmt.Sprintf("attribute %q must be compared with a string", leaf.Name)}
		}
	}
	return nil
}

// ParseTime parses an xsd:dateTime as RFC 7643 §2.3.5 uses it (RFC 3339).
func ParseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}

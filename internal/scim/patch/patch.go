// Package patch implements SCIM PATCH (RFC 7644 §3.5.2): it parses PatchOp
// bodies and paths, and applies operations to a resource in canonical JSON
// form (the form schema.NormalizeResource produces), tolerating the quirks of
// real clients: capitalised op names (Entra), booleans as strings, path-less
// replaces with dotted or URN keys, read-only "id" in values (Okta), member
// removal by a value list (Entra).
package patch

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Error is a PATCH that cannot be applied. Type is the SCIM error type
// (invalidPath, noTarget, invalidValue, mutability, invalidSyntax,
// invalidFilter).
type Error struct {
	Type string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errf(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Msg: fmt.Sprintf(format, args...)}
}

// Op is one operation.
type Op struct {
	Op       string // "add", "replace" or "remove"
	Path     string
	Value    any
	HasValue bool
}

// MaxOperations bounds the operations of one request.
const MaxOperations = 1000

// ParseRequest reads a PatchOp body (decoded with json.Decoder.UseNumber).
func ParseRequest(body map[string]any) ([]Op, error) {
	var rawOps any
	for k, v := range body {
		if strings.EqualFold(k, "Operations") {
			rawOps = v
		}
	}
	list, ok := rawOps.([]any)
	if !ok || len(list) == 0 {
		return nil, errf("invalidSyntax", "a PatchOp body needs a non-empty \"Operations\" array")
	}
	if len(list) > MaxOperations {
		return nil, errf("invalidSyntax", "at most %d operations per PATCH", MaxOperations)
	}
	ops := make([]Op, 0, len(list))
	for i, raw := range list {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, errf("invalidSyntax", "Operations[%d] is not an object", i)
		}
		var op Op
		for k, v := range m {
			switch strings.ToLower(k) {
			case "op":
				s, _ := v.(string)
				op.Op = strings.ToLower(s)
			case "path":
				s, ok := v.(string)
				if !ok && v != nil {
					return nil, errf("invalidPath", "Operations[%d].path must be a string", i)
				}
				op.Path = strings.TrimSpace(s)
			case "value":
				op.Value, op.HasValue = v, true
			}
		}
		switch op.Op {
		case "add", "replace":
			if !op.HasValue {
				return nil, errf("invalidValue", "Operations[%d]: %q needs a value", i, op.Op)
			}
		case "remove":
			if op.Path == "" {
				return nil, errf("noTarget", "Operations[%d]: remove needs a path", i)
			}
		default:
			return nil, errf("invalidSyntax", "Operations[%d]: op must be add, replace or remove", i)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Path is a parsed PATCH path: PATH = attrPath / valuePath [subAttr].
type Path struct {
	// Schema alone (Ref.Attr nil) targets a whole extension.
	Schema *schema.Schema
	// Ref is the attribute; Ref.Sub the sub-attribute, if any (after the
	// filter for a value path).
	Ref schema.Ref
	// Filter selects elements of a multi-valued attribute.
	Filter filter.Expr
}

// ParsePath parses and resolves a PATCH path.
func ParsePath(s string, rt *schema.ResourceType) (Path, error) {
	if s == "" {
		return Path{}, errf("invalidPath", "empty path")
	}
	if i := strings.IndexByte(s, '['); i >= 0 {
		j := strings.LastIndexByte(s, ']')
		if j < i {
			return Path{}, errf("invalidPath", "path %q: unbalanced brackets", s)
		}
		ref, err := rt.ResolveLoose(s[:i])
		if err != nil {
			return Path{}, errf("invalidPath", "path %q: %v", s, err)
		}
		if ref.Sub != nil {
			return Path{}, errf("invalidPath", "path %q: a filter applies to an attribute, not a sub-attribute", s)
		}
		if !ref.Attr.MultiValued {
			return Path{}, errf("invalidPath", "path %q: %s is not multi-valued", s, ref.Attr.Name)
		}
		f, err := filter.ParseValueFilter(s[i+1 : j])
		if err != nil {
			return Path{}, errf("invalidFilter", "path %q: %v", s, err)
		}
		if err := filter.ResolveValueFilter(f, rt, ref); err != nil {
			return Path{}, errf("invalidFilter", "path %q: %v", s, err)
		}
		rest := s[j+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ".") || ref.Attr.Type != schema.Complex {
				return Path{}, errf("invalidPath", "path %q: unexpected %q after the filter", s, rest)
			}
			ref.Sub = ref.Attr.Sub(rest[1:])
			if ref.Sub == nil {
				return Path{}, errf("invalidPath", "path %q: %s has no sub-attribute %q", s, ref.Attr.Name, rest[1:])
			}
		}
		return Path{Ref: ref, Filter: f}, nil
	}
	if urn, rest := rt.SplitURN(s); urn != "" && rest == "" {
		sc := rt.SchemaByURN(urn)
		if sc.IsCore() {
			return Path{}, errf("invalidPath", "path %q names no attribute", s)
		}
		return Path{Schema: sc}, nil
	}
	ref, err := rt.ResolveLoose(s)
	if err != nil {
		return Path{}, errf("invalidPath", "path %q: %v", s, err)
	}
	return Path{Ref: ref}, nil
}

// Apply applies ops, in order, to doc, which it changes in place. On error
// doc is left in an unspecified state: apply to a copy and keep the original
// on failure (RFC 7644 §3.5.2: PATCH is atomic).
func Apply(doc map[string]any, rt *schema.ResourceType, ops []Op) error {
	for i, op := range ops {
		if err := applyOne(doc, rt, op); err != nil {
			if pe, ok := err.(*Error); ok {
				return &Error{Type: pe.Type, Msg: fmt.Sprintf("Operations[%d] (%s %s): %s", i, op.Op, op.Path, pe.Msg)}
			}
			return err
		}
	}
	return nil
}

var norm = schema.NormalizeOptions{}

func applyOne(doc map[string]any, rt *schema.ResourceType, op Op) error {
	if op.Path == "" {
		// The value is an object of attributes, keyed by name, dotted
		// name ("name.givenName") or fully qualified name.
		m, ok := op.Value.(map[string]any)
		if !ok {
			return errf("invalidValue", "without a path, the value must be an object of attributes")
		}
		var given pathSet
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if strings.EqualFold(k, "schemas") {
				continue
			}
			p, err := ParsePath(k, rt)
			if err != nil {
				// Unknown attributes are ignored, as in POST and PUT; a
				// value filter on a known one that does not parse is
				// refused, as it is in a path: ignoring it would answer
				// 200 for a change not made.
				if i := strings.IndexByte(k, '['); i >= 0 {
					if _, rerr := rt.ResolveLoose(k[:i]); rerr == nil {
						return err
					}
				}
				continue
			}
			if p.Ref.Attr != nil && p.Ref.Attr.Mutability == schema.ReadOnly {
				continue // read-only attributes in values (Okta's "id") are ignored
			}
			if p.Ref.Sub != nil && p.Ref.Sub.Mutability == schema.ReadOnly {
				continue
			}
			if prev := given.add(k, p, m[k]); prev != "" {
				return errf("invalidValue", "%q and %q set the same attribute: which one would win is undefined", prev, k)
			}
			if err := applyPath(doc, rt, op.Op, p, m[k], true); err != nil {
				return err
			}
		}
		return nil
	}
	p, err := ParsePath(op.Path, rt)
	if err != nil {
		return err
	}
	return applyPath(doc, rt, op.Op, p, op.Value, op.HasValue)
}

// pathSet holds the paths of one path-less value, to find two keys that
// set the same thing ("name" and "name.givenName", "displayName" and
// "urn:…:User:displayName", "urn:…:enterprise:2.0:User" with a
// "department" and "urn:…:enterprise:2.0:User:department"). Filtered paths
// overlap when they have the same filter or one has none: Entra's
// {"emails[type eq \"work\"].value": …, "emails[type eq \"home\"].value": …}
// sets two different elements.
type pathSet map[*schema.Attribute]*attrPaths

// attrPaths holds the keys given for one attribute, by filter and
// sub-attribute ("" for none).
type attrPaths struct {
	plain    map[string]string            // sub → key, without a filter
	filtered map[string]map[string]string // filter → sub → key
	anyF     map[string]string            // sub → key, with any filter
}

// add records the path p, given as key k with value v, and returns an
// earlier key that overlaps it, or "".
func (ps *pathSet) add(k string, p Path, v any) string {
	if *ps == nil {
		*ps = pathSet{}
	}
	if p.Ref.Attr == nil {
		// A whole extension: it sets the attributes its value names.
		m, _ := v.(map[string]any)
		for ek := range m {
			if a := p.Schema.Attr(ek); a != nil && a.Mutability != schema.ReadOnly {
				if prev := ps.add(k, Path{Ref: schema.Ref{Schema: p.Schema, Attr: a}}, nil); prev != "" {
					return prev
				}
			}
		}
		return ""
	}
	a := (*ps)[p.Ref.Attr]
	if a == nil {
		a = &attrPaths{plain: map[string]string{}, filtered: map[string]map[string]string{}, anyF: map[string]string{}}
		(*ps)[p.Ref.Attr] = a
	}
	sub := ""
	if p.Ref.Sub != nil {
		sub = p.Ref.Sub.Name
	}
	if prev := overlap(a.plain, sub); prev != "" {
		return prev
	}
	if p.Filter == nil {
		if prev := overlap(a.anyF, sub); prev != "" {
			return prev
		}
		a.plain[sub] = k
		return ""
	}
	f := p.Filter.String()
	if prev := overlap(a.filtered[f], sub); prev != "" {
		return prev
	}
	if a.filtered[f] == nil {
		a.filtered[f] = map[string]string{}
	}
	a.filtered[f][sub] = k
	a.anyF[sub] = k
	return ""
}

// overlap returns a key of set that sets sub, the whole attribute or (for
// sub "") anything.
func overlap(set map[string]string, sub string) string {
	if sub == "" {
		for _, k := range set {
			return k
		}
		return ""
	}
	if k, ok := set[""]; ok {
		return k
	}
	return set[sub]
}

// container returns the object holding the attributes of schema s: doc for
// the core schema, doc[URN] for an extension (created when create is set).
func container(doc map[string]any, s *schema.Schema, create bool) map[string]any {
	if s.IsCore() {
		return doc
	}
	m, _ := doc[s.ID].(map[string]any)
	if m == nil && create {
		m = map[string]any{}
		doc[s.ID] = m
	}
	return m
}

func applyPath(doc map[string]any, rt *schema.ResourceType, op string, p Path, value any, hasValue bool) error {
	if p.Ref.Attr == nil {
		return applyExtension(doc, rt, op, p.Schema, value)
	}
	attr, sub := p.Ref.Attr, p.Ref.Sub
	leaf := p.Ref.Leaf()
	if err := checkMutability(doc, p, op, value); err != nil {
		if err == errIgnore {
			return nil
		}
		return err
	}
	c := container(doc, p.Ref.Schema, op != "remove")
	if c == nil {
		return nil // removing from an extension the resource does not have
	}
	name := attr.Name
	defer cleanup(doc, p.Ref.Schema)

	if p.Filter != nil {
		return applyFiltered(c, p, op, value)
	}

	if op == "remove" {
		switch {
		case sub == nil && attr.MultiValued && hasValue && value != nil:
			removeValues(c, attr, value)
		case sub == nil:
			delete(c, name)
		case attr.MultiValued:
			for _, el := range elementsOf(c[name]) {
				delete(el, sub.Name)
			}
			compactList(c, name)
		default:
			if m, ok := c[name].(map[string]any); ok {
				delete(m, sub.Name)
				if len(m) == 0 {
					delete(c, name)
				}
			}
		}
		return nil
	}

	if sub != nil {
		v, err := schema.Normalize(sub, value, p.Ref.Short(rt), norm)
		if err != nil {
			return errf("invalidValue", "%v", err)
		}
		if attr.MultiValued {
			// name.sub on a multi-valued attribute sets it on every element.
			els := elementsOf(c[name])
			if len(els) == 0 {
				return errf("noTarget", "%s has no values", name)
			}
			for _, el := range els {
				setOrDelete(el, sub.Name, v)
			}
			compactList(c, name)
			return nil
		}
		m, _ := c[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			c[name] = m
		}
		setOrDelete(m, sub.Name, v)
		if len(m) == 0 {
			delete(c, name)
		}
		return nil
	}

	v, err := schema.Normalize(leaf, value, p.Ref.Short(rt), norm)
	if err != nil {
		return errf("invalidValue", "%v", err)
	}
	if v == nil && attr.Required {
		// null, "" and [] unassign (RFC 7643 §2.5): for a required
		// attribute that is a removal, refused as remove is.
		return errf("mutability", "%s is required and cannot be unassigned", p.Ref.String())
	}
	switch {
	case attr.MultiValued && op == "add":
		cur, _ := c[name].([]any)
		added := 0
		for _, nv := range asList(v) {
			if !containsEqual(cur, nv) {
				cur = append(cur, nv)
				added++
			}
		}
		if len(cur) > 0 {
			c[name] = cur
		}
		if added > 0 {
			exclusivePrimary(cur, cur[len(cur)-added:])
		}
	case attr.MultiValued: // replace
		setOrDelete(c, name, v)
		exclusivePrimary(asList(v), nil)
	case attr.Type == schema.Complex:
		// add and replace of a complex attribute merge the given
		// sub-attributes (RFC 7644 §3.5.2.1, §3.5.2.3).
		nm, _ := v.(map[string]any)
		m, _ := c[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		for k, x := range nm {
			m[k] = x
		}
		setOrDelete(c, name, listOrMap(m))
	default:
		setOrDelete(c, name, v)
	}
	return nil
}

// applyFiltered handles value paths: attr[filter] and attr[filter].sub.
func applyFiltered(c map[string]any, p Path, op string, value any) error {
	attr, sub := p.Ref.Attr, p.Ref.Sub
	name := attr.Name
	list, _ := c[name].([]any)
	var matched []int
	for i, el := range list {
		if filter.MatchElement(p.Filter, el) {
			matched = append(matched, i)
		}
	}
	if op == "remove" {
		// Removing what is not there succeeds and changes nothing (RFC
		// 7644 §3.5.2.2's member removal example; clients rely on it).
		if sub != nil {
			for _, i := range matched {
				if m, ok := list[i].(map[string]any); ok {
					delete(m, sub.Name)
				}
			}
			compactList(c, name)
			return nil
		}
		var keep []any
		for i, el := range list {
			if !containsInt(matched, i) {
				keep = append(keep, el)
			}
		}
		setOrDelete(c, name, listOrNil(keep))
		return nil
	}
	if sub != nil {
		v, err := schema.Normalize(sub, value, name+"."+sub.Name, norm)
		if err != nil {
			return errf("invalidValue", "%v", err)
		}
		if len(matched) == 0 {
			// Entra adds emails[type eq "work"].value to a user without a
			// work email: create the element the filter describes. A
			// replace must find its target (RFC 7644 §3.5.2.3).
			el, ok := elementFromFilter(p.Filter)
			if op == "replace" || !ok {
				return errf("noTarget", "no value of %s matches the filter", name)
			}
			if v == nil {
				return nil
			}
			el[sub.Name] = v
			list = append(list, el)
			c[name] = list
			if sub.Name == "primary" && v == true {
				exclusivePrimary(list, []any{el})
			}
			return nil
		}
		var chosen []any
		for _, i := range matched {
			if m, ok := list[i].(map[string]any); ok {
				setOrDelete(m, sub.Name, v)
				chosen = append(chosen, m)
			}
		}
		if sub.Name == "primary" && v == true {
			exclusivePrimary(list, chosen)
		}
		compactList(c, name)
		return nil
	}
	// attr[filter] with an element (or some of its sub-attributes) as the
	// value.
	single := *attr
	single.MultiValued = false
	v, err := schema.Normalize(&single, value, name, norm)
	if err != nil {
		return errf("invalidValue", "%v", err)
	}
	if len(matched) == 0 {
		if op == "replace" {
			return errf("noTarget", "no value of %s matches the filter", name)
		}
		if v != nil && !containsEqual(list, v) {
			list = append(list, v)
			exclusivePrimary(list, []any{v})
		}
		setOrDelete(c, name, listOrNil(list))
		return nil
	}
	var chosen []any
	for _, i := range matched {
		nm, ok1 := v.(map[string]any)
		old, ok2 := list[i].(map[string]any)
		if ok1 && ok2 {
			for k, x := range nm {
				old[k] = x
			}
			chosen = append(chosen, old)
			continue
		}
		list[i] = v
		chosen = append(chosen, v)
	}
	// Making a value primary unsets primary on the others (RFC 7644
	// §3.5.2).
	exclusivePrimary(list, chosen)
	compactList(c, name)
	return nil
}

// elementFromFilter builds the element a filter of "eq" comparisons joined
// by "and" describes ({type eq "work"} → {"type": "work"}).
func elementFromFilter(e filter.Expr) (map[string]any, bool) {
	out := map[string]any{}
	var walk func(filter.Expr) bool
	walk = func(e filter.Expr) bool {
		switch n := e.(type) {
		case *filter.Logical:
			return !n.Or && walk(n.Left) && walk(n.Right)
		case *filter.Compare:
			if n.Op != filter.Eq || n.Path.Ref.Sub == nil {
				return false
			}
			switch n.Value.Kind {
			case filter.KindString:
				out[n.Path.Ref.Sub.Name] = n.Value.Str
			case filter.KindBool:
				out[n.Path.Ref.Sub.Name] = n.Value.Bool
			default:
				return false
			}
			return true
		}
		return false
	}
	if !walk(e) {
		return nil, false
	}
	return out, true
}

// applyExtension handles a path that is an extension URN: the value is an
// object of that extension's attributes.
func applyExtension(doc map[string]any, rt *schema.ResourceType, op string, s *schema.Schema, value any) error {
	if op == "remove" {
		delete(doc, s.ID)
		return nil
	}
	m, ok := value.(map[string]any)
	if !ok {
		return errf("invalidValue", "the value for %s must be an object of its attributes", s.ID)
	}
	for k, v := range m {
		a := s.Attr(k)
		if a == nil || a.Mutability == schema.ReadOnly {
			continue
		}
		if err := applyPath(doc, rt, op, Path{Ref: schema.Ref{Schema: s, Attr: a}}, v, true); err != nil {
			return err
		}
	}
	return nil
}

var errIgnore = &Error{Type: "ignore"}

// checkMutability enforces read-only and required attributes.
func checkMutability(doc map[string]any, p Path, op string, value any) error {
	leaf := p.Ref.Leaf()
	top := p.Ref.Attr
	if top.Mutability == schema.ReadOnly || leaf.Mutability == schema.ReadOnly {
		// Setting a read-only attribute to the value it has is harmless
		// (clients echo "id"); anything else is refused.
		if op != "remove" && p.Filter == nil {
			if cur := currentValue(doc, p); cur != nil && equalJSON(cur, value) {
				return errIgnore
			}
		}
		return errf("mutability", "%s is read-only", p.Ref.String())
	}
	if op == "remove" && p.Filter == nil && (top.Required && p.Ref.Sub == nil || p.Ref.Sub != nil && p.Ref.Sub.Required) {
		return errf("mutability", "%s is required and cannot be removed", p.Ref.String())
	}
	return nil
}

func currentValue(doc map[string]any, p Path) any {
	c := container(doc, p.Ref.Schema, false)
	if c == nil {
		return nil
	}
	v := c[p.Ref.Attr.Name]
	if p.Ref.Sub != nil {
		m, _ := v.(map[string]any)
		return m[p.Ref.Sub.Name]
	}
	return v
}

func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// removeValues removes the given values from a multi-valued attribute:
// Entra's {"op":"Remove","path":"members","value":[{"value":"id"}]} removes
// only those members. Complex values match on their "value" sub-attribute.
func removeValues(c map[string]any, attr *schema.Attribute, value any) {
	list, _ := c[attr.Name].([]any)
	var drop []any
	for _, v := range asList(value) {
		if m, ok := v.(map[string]any); ok && attr.Type == schema.Complex {
			if id, ok := lookupCI(m, "value"); ok {
				drop = append(drop, id)
				continue
			}
		}
		drop = append(drop, v)
	}
	var keep []any
	for _, el := range list {
		key := el
		if m, ok := el.(map[string]any); ok {
			key = m["value"]
		}
		if !containsEqual(drop, key) {
			keep = append(keep, el)
		}
	}
	setOrDelete(c, attr.Name, listOrNil(keep))
}

func lookupCI(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// exclusivePrimary makes the elements of chosen that are primary the only
// primary ones (RFC 7644 §3.5.2: setting primary on one value unsets it on
// the others). With chosen nil, the last primary element wins.
func exclusivePrimary(list []any, chosen []any) {
	var keep any
	for _, el := range list {
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			if chosen == nil || containsSame(chosen, el) {
				keep = el
			}
		}
	}
	if keep == nil {
		return
	}
	for _, el := range list {
		if m, ok := el.(map[string]any); ok && m["primary"] == true && !sameMap(el, keep) {
			delete(m, "primary")
		}
	}
}

func sameMap(a, b any) bool {
	ma, ok1 := a.(map[string]any)
	mb, ok2 := b.(map[string]any)
	return ok1 && ok2 && reflect.ValueOf(ma).UnsafePointer() == reflect.ValueOf(mb).UnsafePointer()
}

func containsSame(list []any, el any) bool {
	for _, x := range list {
		if sameMap(x, el) {
			return true
		}
	}
	return false
}

func setOrDelete(m map[string]any, k string, v any) {
	if v == nil {
		delete(m, k)
		return
	}
	m[k] = v
}

func elementsOf(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, el := range list {
		if m, ok := el.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// compactList drops elements left empty and the attribute if none remain.
func compactList(c map[string]any, name string) {
	list, _ := c[name].([]any)
	var keep []any
	for _, el := range list {
		if m, ok := el.(map[string]any); ok && len(m) == 0 {
			continue
		}
		keep = append(keep, el)
	}
	setOrDelete(c, name, listOrNil(keep))
}

func listOrNil(l []any) any {
	if len(l) == 0 {
		return nil
	}
	return l
}

func listOrMap(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func asList(v any) []any {
	if v == nil {
		return nil
	}
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func containsEqual(list []any, v any) bool {
	for _, x := range list {
		if equalJSON(x, v) {
			return true
		}
	}
	return false
}

func containsInt(list []int, i int) bool {
	for _, x := range list {
		if x == i {
			return true
		}
	}
	return false
}

// cleanup drops an extension object left empty.
func cleanup(doc map[string]any, s *schema.Schema) {
	if s.IsCore() {
		return
	}
	if m, ok := doc[s.ID].(map[string]any); ok && len(m) == 0 {
		delete(doc, s.ID)
	}
}

package scimclient

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// PatchOp is one PATCH operation (RFC 7644 §3.5.2).
type PatchOp struct {
	Op    string `json:"op"` // "add", "replace" or "remove"
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

// readOnlyUserAttrs are never sent in a create, replace or update.
var readOnlyUserAttrs = []string{"id", "meta", "groups"}

// notCompared are left out of updates: schemas is not an attribute, and a
// password cannot be read back to compare (it is set when the user is
// created).
var notCompared = []string{"schemas", "password"}

func isAttr(name string, list []string) bool {
	return slices.ContainsFunc(list, func(a string) bool { return strings.EqualFold(a, name) })
}

// lookup finds an attribute case-insensitively (RFC 7643 §2.1).
func lookup(m map[string]any, name string) (string, any, bool) {
	if v, ok := m[name]; ok {
		return name, v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return k, v, true
		}
	}
	return "", nil, false
}

// diffOps returns the PATCH operations that give current the values desired
// names. Attributes desired does not mention are left alone; a null in
// desired removes the attribute. Complex attributes and extensions are
// compared sub-attribute by sub-attribute; multi-valued attributes as a
// whole (replacing all their values when they differ).
func diffOps(current, desired map[string]any) []PatchOp {
	current, desired = normalize(current), normalize(desired)
	var ops []PatchOp
	for _, k := range slices.Sorted(maps.Keys(desired)) {
		if isAttr(k, readOnlyUserAttrs) || isAttr(k, notCompared) {
			continue
		}
		dv := desired[k]
		_, cv, has := lookup(current, k)
		sep := "."
		if strings.HasPrefix(strings.ToLower(k), "urn:") {
			sep = ":"
		}
		dm, dIsMap := dv.(map[string]any)
		cm, cIsMap := cv.(map[string]any)
		switch {
		case dv == nil:
			if has && cv != nil {
				ops = append(ops, PatchOp{Op: "remove", Path: k})
			}
		case dIsMap && cIsMap:
			for _, sk := range slices.Sorted(maps.Keys(dm)) {
				sdv := dm[sk]
				_, scv, shas := lookup(cm, sk)
				switch {
				case sdv == nil:
					if shas && scv != nil {
						ops = append(ops, PatchOp{Op: "remove", Path: k + sep + sk})
					}
				case !shas || !equalValue(scv, sdv):
					ops = append(ops, PatchOp{Op: "replace", Path: k + sep + sk, Value: sdv})
				}
			}
		case !has || !equalValue(cv, dv):
			ops = append(ops, PatchOp{Op: "replace", Path: k, Value: dv})
		}
	}
	return ops
}

// merged returns current overlaid with desired, the document a PUT sends so
// that it changes what a PATCH of diffOps would: attributes desired does
// not name keep their values, nulls remove, complex attributes merge their
// sub-attributes. Read-only attributes are dropped.
func merged(current, desired map[string]any) map[string]any {
	current, desired = normalize(current), normalize(desired)
	out := map[string]any{}
	for k, v := range current {
		if !isAttr(k, readOnlyUserAttrs) {
			out[k] = v
		}
	}
	for k, dv := range desired {
		if isAttr(k, readOnlyUserAttrs) {
			continue
		}
		ck, cv, has := lookup(out, k)
		if has {
			delete(out, ck)
		}
		dm, dIsMap := dv.(map[string]any)
		cm, cIsMap := cv.(map[string]any)
		switch {
		case dv == nil:
		case dIsMap && cIsMap && !isAttr(k, []string{"schemas"}):
			m := maps.Clone(cm)
			for sk, sv := range dm {
				if sck, _, ok := lookup(m, sk); ok {
					delete(m, sck)
				}
				if sv != nil {
					m[sk] = sv
				}
			}
			out[k] = m
		default:
			out[k] = dv
		}
	}
	return out
}

// normalize gives a document one representation: a JSON round trip with
// numbers as json.Number.
func normalize(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	out, err := decodeDoc(b)
	if err != nil || out == nil {
		return m
	}
	return out
}

// equalValue reports whether the server's value cur already is what des
// asks for. Objects match when every sub-attribute des names is equal (the
// server may add others: primary, display, $ref); lists when they have the
// same length and each desired element matches a different current one, in
// any order; booleans may come as strings ("True"); numbers compare by
// value.
func equalValue(cur, des any) bool {
	switch d := des.(type) {
	case nil:
		return cur == nil
	case map[string]any:
		c, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		for k, dv := range d {
			_, cv, has := lookup(c, k)
			if dv == nil {
				if has && cv != nil {
					return false
				}
				continue
			}
			if !has || !equalValue(cv, dv) {
				return false
			}
		}
		return true
	case []any:
		c, ok := cur.([]any)
		if !ok || len(c) != len(d) {
			return false
		}
		used := make([]bool, len(c))
	next:
		for _, dv := range d {
			for i, cv := range c {
				if !used[i] && equalValue(cv, dv) {
					used[i] = true
					continue next
				}
			}
			return false
		}
		return true
	case bool:
		switch c := cur.(type) {
		case bool:
			return c == d
		case string:
			return strings.EqualFold(c, map[bool]string{true: "true", false: "false"}[d])
		}
		return false
	case string:
		switch c := cur.(type) {
		case string:
			return c == d
		case bool:
			return equalValue(d, c)
		}
		return false
	case json.Number:
		c, ok := cur.(json.Number)
		if !ok {
			return false
		}
		if c == d {
			return true
		}
		cf, err1 := c.Float64()
		df, err2 := d.Float64()
		return err1 == nil && err2 == nil && cf == df
	}
	cb, err1 := json.Marshal(cur)
	db, err2 := json.Marshal(des)
	return err1 == nil && err2 == nil && bytes.Equal(cb, db)
}

package schema

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Two data types constrain the text of their values (RFC 7643 §2.3):
//
//   - a reference whose referenceTypes include "external" (§2.3.7: "a
//     resource external to the service provider", such as profileUrl or a
//     photo) must be an absolute http or https URL with a host — not a
//     relative reference, nor a javascript:, data: or other URI that a
//     client rendering it as a link would run;
//   - a binary value (§2.3.6: x509Certificates.value) must be base64, as
//     RFC 4648 §4 defines it, with padding (line breaks are ignored).
//
// References to SCIM resources ($ref of members, groups and manager) are
// derived from ids by the server and not checked here.

// CheckValues checks the reference and binary values of doc, a resource
// in canonical form (as NormalizeResource returns it). Values that prev (the
// resource before the change, in canonical form; nil for a new one) holds
// under the same attribute pass unchecked: a value stored before these
// checks keeps working until it changes.
func (rt *ResourceType) CheckValues(doc, prev map[string]any) error {
	for _, s := range rt.Schemas() {
		cur, old := doc, prev
		if !s.IsCore() {
			cur, _ = doc[s.ID].(map[string]any)
			old, _ = prev[s.ID].(map[string]any)
		}
		for _, a := range s.Attributes {
			path := a.Name
			if !s.IsCore() {
				path = s.ID + ":" + a.Name
			}
			if err := checkAttr(a, nil, cur[a.Name], old[a.Name], path); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkAttr checks the values of attribute a (sub, one of its
// sub-attributes, when v holds a's elements) against their type.
func checkAttr(a, sub *Attribute, v, prev any, path string) error {
	if v == nil {
		return nil
	}
	if a.Type == Complex && sub == nil {
		for _, s := range a.SubAttributes {
			var vs, ps []any
			for _, el := range list(v) {
				if m, ok := el.(map[string]any); ok && m[s.Name] != nil {
					vs = append(vs, m[s.Name])
				}
			}
			for _, el := range list(prev) {
				if m, ok := el.(map[string]any); ok && m[s.Name] != nil {
					ps = append(ps, m[s.Name])
				}
			}
			if err := checkAttr(a, s, vs, ps, path+"."+s.Name); err != nil {
				return err
			}
		}
		return nil
	}
	leaf := a
	if sub != nil {
		leaf = sub
	}
	check := valueCheck(leaf)
	if check == nil {
		return nil
	}
	old := list(prev)
	for _, x := range list(v) {
		s, ok := x.(string)
		if !ok || slices.Contains(old, x) {
			continue
		}
		if msg := check(s); msg != "" {
			return &ValueError{Path: path, Msg: msg}
		}
	}
	return nil
}

// list returns v's elements: v itself when it is a list, else v alone.
func list(v any) []any {
	if v == nil {
		return nil
	}
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// valueCheck returns the check of a's values, or nil when they have none:
// it returns what is wrong with a value, or "".
func valueCheck(a *Attribute) func(string) string {
	switch {
	case a.Type == Reference && slices.Contains(a.ReferenceTypes, "external"):
		return checkExternalURL
	case a.Type == Binary:
		return checkBase64
	}
	return nil
}

func checkExternalURL(s string) string {
	const want = "must be an absolute http or https URL (an external reference, RFC 7643 §2.3.7)"
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return want
	}
	if scheme := strings.ToLower(u.Scheme); scheme != "http" && scheme != "https" {
		return fmt.Sprintf("%s, not a %s: URI", want, scheme)
	}
	if u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return want
	}
	return ""
}

func checkBase64(s string) string {
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		return "must be base64 (RFC 4648 §4, with padding; RFC 7643 §2.3.6 binary)"
	}
	return ""
}

// Package schema holds the SCIM 2.0 attribute definitions (RFC 7643) that
// Gatehouse serves: the core User and Group schemas, the enterprise User
// extension with IDaaS's additions, and custom extension namespaces declared
// in configuration. Everything that needs to know what an attribute is — the
// request decoder, the filter resolver, PATCH, attribute projection and the
// /Schemas endpoint — asks this package.
package schema

import (
	"fmt"
	"strings"
)

// Schema URNs.
const (
	UserURN         = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupURN        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseURN   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ListResponseURN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpURN      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SearchURN       = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	BulkRequestURN  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	BulkResponseURN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	ErrorURN        = "urn:ietf:params:scim:api:messages:2.0:Error"
	SPConfigURN     = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ResourceTypeURN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaURN       = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Type is a SCIM attribute data type (RFC 7643 §2.3).
type Type string

// The SCIM data types.
const (
	String    Type = "string"
	Boolean   Type = "boolean"
	Decimal   Type = "decimal"
	Integer   Type = "integer"
	DateTime  Type = "dateTime"
	Binary    Type = "binary"
	Reference Type = "reference"
	Complex   Type = "complex"
)

// ValidType reports whether t is one of the SCIM data types.
func ValidType(t Type) bool {
	switch t {
	case String, Boolean, Decimal, Integer, DateTime, Binary, Reference, Complex:
		return true
	}
	return false
}

// Mutability values (RFC 7643 §7).
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"
)

// Returned values (RFC 7643 §7).
const (
	ReturnAlways  = "always"
	ReturnNever   = "never"
	ReturnDefault = "default"
	ReturnRequest = "request"
)

// Attribute describes one attribute or sub-attribute.
type Attribute struct {
	Name            string
	Type            Type
	MultiValued     bool
	Description     string
	Required        bool
	CaseExact       bool
	Mutability      string
	Returned        string
	Uniqueness      string
	CanonicalValues []string
	ReferenceTypes  []string
	SubAttributes   []*Attribute
}

// Sub returns the sub-attribute called name (case-insensitively), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	for _, s := range a.SubAttributes {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// Schema is one schema: a URN and its attributes.
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
}

// IsCore reports whether s is one of the core resource schemas (User, Group)
// rather than an extension.
func (s *Schema) IsCore() bool { return s.ID == UserURN || s.ID == GroupURN }

// Attr returns the top-level attribute called name (case-insensitively), or nil.
func (s *Schema) Attr(name string) *Attribute {
	for _, a := range s.Attributes {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// Extension ties an extension schema to a resource type.
type Extension struct {
	Schema   *Schema
	Required bool
}

// ResourceType is a SCIM resource type (RFC 7643 §6): its core schema and
// extensions.
type ResourceType struct {
	ID          string
	Name        string
	Endpoint    string
	Description string
	Schema      *Schema
	Extensions  []Extension
	// Common holds the attributes every resource has (id, externalId, meta;
	// RFC 7643 §3.1). They belong to no schema in /Schemas but can be
	// filtered, sorted and projected like the core schema's.
	Common []*Attribute
}

// Schemas returns the core schema followed by the extension schemas.
func (rt *ResourceType) Schemas() []*Schema {
	out := []*Schema{rt.Schema}
	for _, e := range rt.Extensions {
		out = append(out, e.Schema)
	}
	return out
}

// SchemaByURN returns the resource type's schema (core or extension) whose id
// equals urn case-insensitively, or nil.
func (rt *ResourceType) SchemaByURN(urn string) *Schema {
	for _, s := range rt.Schemas() {
		if strings.EqualFold(s.ID, urn) {
			return s
		}
	}
	return nil
}

// IsExtension reports whether urn names one of the resource type's extension
// schemas.
func (rt *ResourceType) IsExtension(urn string) bool {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.Schema.ID, urn) {
			return true
		}
	}
	return false
}

// Ref is a resolved attribute reference: the schema it belongs to, the
// top-level attribute and, optionally, one of its sub-attributes.
type Ref struct {
	Schema *Schema
	Attr   *Attribute
	Sub    *Attribute
}

// Extension reports whether the reference points into an extension schema.
func (r Ref) Extension(rt *ResourceType) bool { return rt.IsExtension(r.Schema.ID) }

// Leaf returns the attribute the reference ends at.
func (r Ref) Leaf() *Attribute {
	if r.Sub != nil {
		return r.Sub
	}
	return r.Attr
}

// String renders the canonical, fully qualified path of the reference.
func (r Ref) String() string {
	if r.Sub != nil {
		return r.Schema.ID + ":" + r.Attr.Name + "." + r.Sub.Name
	}
	return r.Schema.ID + ":" + r.Attr.Name
}

// Short renders the path without the core schema URN (extension paths keep
// theirs).
func (r Ref) Short(rt *ResourceType) string {
	s := r.Attr.Name
	if r.Sub != nil {
		s += "." + r.Sub.Name
	}
	if rt.IsExtension(r.Schema.ID) {
		return r.Schema.ID + ":" + s
	}
	return s
}

func (rt *ResourceType) lookup(urn, name string, loose bool) (*Schema, *Attribute) {
	if urn == "" || strings.EqualFold(urn, rt.Schema.ID) {
		for _, c := range rt.Common {
			if strings.EqualFold(c.Name, name) {
				return rt.Schema, c
			}
		}
	}
	if urn != "" {
		s := rt.SchemaByURN(urn)
		if s == nil {
			return nil, nil
		}
		return s, s.Attr(name)
	}
	if a := rt.Schema.Attr(name); a != nil || !loose {
		return rt.Schema, a
	}
	for _, e := range rt.Extensions {
		if a := e.Schema.Attr(name); a != nil {
			return e.Schema, a
		}
	}
	return rt.Schema, nil
}

// SplitURN splits an attribute path written with an optional schema URN prefix
// ("urn:…:User:name.givenName") into the URN and the rest. The URN is matched
// against the resource type's schemas, so URNs containing dots ("2.0") work.
// When the path has no known URN prefix, urn is empty.
func (rt *ResourceType) SplitURN(path string) (urn, rest string) {
	lower := strings.ToLower(path)
	rest = path
	for _, s := range rt.Schemas() {
		id := strings.ToLower(s.ID)
		if len(s.ID) <= len(urn) {
			continue // keep the longest matching URN
		}
		if strings.HasPrefix(lower, id+":") {
			urn, rest = s.ID, path[len(id)+1:]
		} else if lower == id {
			urn, rest = s.ID, ""
		}
	}
	return urn, rest
}

// Resolve resolves an attribute path of the form
//
//	[URN ":"] name ["." sub]
//
// against the resource type. Names are matched case-insensitively (RFC 7643
// §2.1). Without a URN, the name is looked up in the core schema only, as RFC
// 7644 requires for request bodies and PATCH paths.
func (rt *ResourceType) Resolve(path string) (Ref, error) { return rt.resolve(path, false) }

// ResolveLoose is Resolve, except that a name without a URN that is not in
// the core schema is also looked up in the extensions, in order. Filters and
// sortBy use it so that "department eq \"x\"" works as people expect.
func (rt *ResourceType) ResolveLoose(path string) (Ref, error) { return rt.resolve(path, true) }

func (rt *ResourceType) resolve(path string, loose bool) (Ref, error) {
	urn, rest := rt.SplitURN(path)
	if urn == "" && strings.HasPrefix(strings.ToLower(path), "urn:") {
		return Ref{}, fmt.Errorf("unknown schema in attribute path %q", path)
	}
	if rest == "" {
		return Ref{}, fmt.Errorf("attribute path %q names no attribute", path)
	}
	name, sub, _ := strings.Cut(rest, ".")
	return rt.ResolveParts(urn, name, sub, loose)
}

// ResolveParts resolves an attribute given as its parts; urn and sub may be
// empty. loose is as for ResolveLoose.
func (rt *ResourceType) ResolveParts(urn, name, sub string, loose bool) (Ref, error) {
	s, a := rt.lookup(urn, name, loose)
	if s == nil {
		return Ref{}, fmt.Errorf("unknown schema %q", urn)
	}
	if a == nil {
		return Ref{}, fmt.Errorf("unknown attribute %q", name)
	}
	ref := Ref{Schema: s, Attr: a}
	if sub != "" {
		if a.Type != Complex {
			return Ref{}, fmt.Errorf("attribute %q has no sub-attributes", a.Name)
		}
		ref.Sub = a.Sub(sub)
		if ref.Sub == nil {
			return Ref{}, fmt.Errorf("unknown sub-attribute %q of %q", sub, a.Name)
		}
	}
	return ref, nil
}

package scim

import (
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Discovery endpoints (RFC 7644 §4) need no authentication, as in IDaaS:
// clients read them to learn what the server supports.

func (s *Server) docsURL(r *http.Request) string {
	if s.cfg.DocumentationURL != "" {
		return s.cfg.DocumentationURL
	}
	// Gatehouse serves its SCIM documentation itself, next to the API.
	return strings.TrimSuffix(s.base(r), s.cfg.Prefix) + "/docs/scim"
}

// ServiceProviderConfig describes exactly what this server supports.
func (s *Server) serviceProviderConfigDoc(r *http.Request) map[string]any {
	base := s.base(r)
	return map[string]any{
		"schemas":          []string{schema.SPConfigURN},
		"documentationUri": s.docsURL(r),
		"patch":            map[string]any{"supported": true},
		"bulk": map[string]any{
			"supported":      true,
			"maxOperations":  s.cfg.MaxBulkOperations,
			"maxPayloadSize": s.cfg.MaxPayloadSize,
		},
		"filter": map[string]any{
			"supported":  true,
			"maxResults": s.cfg.MaxPageSize,
		},
		"changePassword": map[string]any{"supported": true},
		"sort":           map[string]any{"supported": true},
		"etag":           map[string]any{"supported": true},
		"pagination": map[string]any{
			"cursor":                  true,
			"index":                   true,
			"defaultPaginationMethod": "index",
			"defaultPageSize":         s.cfg.DefaultPageSize,
			"maxPageSize":             s.cfg.MaxPageSize,
			"cursorTimeout":           int(s.cfg.CursorTimeout.Seconds()),
		},
		"authenticationSchemes": []any{
			map[string]any{
				"type":             "oauthbearertoken",
				"name":             "OAuth Bearer Token",
				"description":      "Authentication with a bearer token issued to the application (Authorization: Bearer <token>).",
				"specUri":          "https://www.rfc-editor.org/info/rfc6750",
				"documentationUri": s.docsURL(r),
				"primary":          true,
			},
		},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     base + "/ServiceProviderConfig",
		},
	}
}

func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.serviceProviderConfigDoc(r))
}

func (s *Server) resourceTypeDoc(rt *schema.ResourceType, base string) map[string]any {
	exts := make([]any, 0, len(rt.Extensions))
	for _, e := range rt.Extensions {
		exts = append(exts, map[string]any{"schema": e.Schema.ID, "required": e.Required})
	}
	doc := map[string]any{
		"schemas":     []string{schema.ResourceTypeURN},
		"id":          rt.ID,
		"name":        rt.Name,
		"endpoint":    rt.Endpoint,
		"description": rt.Description,
		"schema":      rt.Schema.ID,
		"meta": map[string]any{
			"resourceType": "ResourceType",
			"location":     base + "/ResourceTypes/" + rt.ID,
		},
	}
	if len(exts) > 0 {
		doc["schemaExtensions"] = exts
	}
	return doc
}

func listOf(items []any) map[string]any {
	return map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"totalResults": len(items),
		"itemsPerPage": len(items),
		"startIndex":   1,
		"Resources":    items,
	}
}

func (s *Server) resourceTypes(w http.ResponseWriter, r *http.Request) {
	base := s.base(r)
	var items []any
	for _, rt := range s.reg.ResourceTypes() {
		items = append(items, s.resourceTypeDoc(rt, base))
	}
	writeJSON(w, http.StatusOK, listOf(items))
}

func (s *Server) resourceType(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, rt := range s.reg.ResourceTypes() {
		if strings.EqualFold(rt.ID, id) {
			writeJSON(w, http.StatusOK, s.resourceTypeDoc(rt, s.base(r)))
			return
		}
	}
	s.writeError(w, r, errorf(http.StatusNotFound, "", "no resource type "+id))
}

func attributeDoc(a *schema.Attribute) map[string]any {
	d := map[string]any{
		"name":        a.Name,
		"type":        string(a.Type),
		"multiValued": a.MultiValued,
		"description": a.Description,
		"required":    a.Required,
		"mutability":  a.Mutability,
		"returned":    a.Returned,
	}
	switch a.Type {
	case schema.String, schema.Reference, schema.Binary:
		// Case sensitivity only means something for text (RFC 7643 §2.3).
		d["caseExact"] = a.CaseExact
	}
	if a.Type != schema.Complex && a.Type != schema.Boolean && a.Type != schema.DateTime {
		u := a.Uniqueness
		if u == "" {
			u = "none"
		}
		d["uniqueness"] = u
	}
	if len(a.CanonicalValues) > 0 {
		d["canonicalValues"] = a.CanonicalValues
	}
	if len(a.ReferenceTypes) > 0 {
		d["referenceTypes"] = a.ReferenceTypes
	}
	if len(a.SubAttributes) > 0 {
		subs := make([]any, len(a.SubAttributes))
		for i, sub := range a.SubAttributes {
			subs[i] = attributeDoc(sub)
		}
		d["subAttributes"] = subs
	}
	return d
}

func schemaDoc(sc *schema.Schema, base string) map[string]any {
	attrs := make([]any, len(sc.Attributes))
	for i, a := range sc.Attributes {
		attrs[i] = attributeDoc(a)
	}
	return map[string]any{
		"schemas":     []string{schema.SchemaURN},
		"id":          sc.ID,
		"name":        sc.Name,
		"description": sc.Description,
		"attributes":  attrs,
		"meta": map[string]any{
			"resourceType": "Schema",
			"location":     base + "/Schemas/" + sc.ID,
		},
	}
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request) {
	base := s.base(r)
	var items []any
	for _, sc := range s.reg.Schemas() {
		items = append(items, schemaDoc(sc, base))
	}
	writeJSON(w, http.StatusOK, listOf(items))
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, sc := range s.reg.Schemas() {
		if strings.EqualFold(sc.ID, id) {
			writeJSON(w, http.StatusOK, schemaDoc(sc, s.base(r)))
			return
		}
	}
	s.writeError(w, r, errorf(http.StatusNotFound, "", "no schema "+id))
}

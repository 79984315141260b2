package scim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Discovery endpoints (RFC 7644 §4) need no authentication, as in IDaaS:
// clients read them to learn what the server supports. /Schemas states what
// each attribute must satisfy, which depends on the application's mode: it
// describes the caller's mode when a bearer token comes with the request,
// else the default (idaas) mode.

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

// constraint is what Gatehouse enforces on an attribute beyond its RFC
// 7643 characteristics, for one application mode: a note appended to the
// attribute's description, the canonical values that are the only ones
// accepted, when they are, and whether it is required where the RFC's
// schema leaves it optional.
type constraint struct {
	note     string
	only     []string
	required bool
}

// anyType is the note of a type whose canonical values are the RFC's
// suggestions, not a rule.
const anyType = "Gatehouse: the canonicalValues are RFC 7643's suggestions; any other type is accepted and stored as given."

// constraints lists, by attribute path ("urn:…:User:emails.type"), what the
// directory's rules (internal/directory/rules.go, phone.go, password.go)
// enforce for profile p. Keep it in step with them: /Schemas is where
// clients learn the rules.
func (s *Server) constraints(p directory.Profile) map[string]constraint {
	u, e, g := schema.UserURN+":", schema.EnterpriseURN+":", schema.GroupURN+":"
	text := fmt.Sprintf("at most %d characters, without control characters, not blank", directory.MaxNameLen)
	lookAlike := "must not hold invisible characters (Unicode format and other default-ignorable characters: zero-width space and joiners, " +
		"word joiner, BOM, soft hyphen, bidirectional embeddings, overrides, isolates and marks, variation selectors…), " +
		"noncharacters, private-use characters or code points Unicode " + unicode.Version + " does not assign, nor white space at either end"
	nfc := "and must be in Unicode Normalization Form C (NFC). Names stored before these rules keep working until they change."
	c := map[string]constraint{
		u + "userName": {note: "Gatehouse: " + text + "; unique ignoring case: a taken one is 409 uniqueness. A new userName " + lookAlike +
			" or other than U+0020, may not hold a letter that is another ignoring case without lower-casing to it " +
			"(long s, final sigma, the micro sign, the Greek symbol forms…: the error names the letter to write instead) " + nfc +
			" It may not contain \"bulkId:\" (an unresolved bulk reference)."},
		u + "displayName": {note: "Gatehouse: " + text + "."},
		u + "active": {note: "Gatehouse: true or false (the strings \"true\" and \"false\" are accepted in any case, without white space). " +
			"A POST or PUT without it means true. A PATCH cannot remove it or set it to null (400 mutability)."},
		u + "password": {note: "Gatehouse's password policy: " + s.cfg.PasswordPolicy.Describe() + "."},
		u + "emails":   {note: "Gatehouse: at most one primary."},
		u + "emails.value": {note: fmt.Sprintf("Gatehouse: required in each email; an email address (an RFC 5322 addr-spec such as ada@example.com, "+
			"without a display name or angle brackets), at most %d bytes.", directory.MaxEmailLen), required: true},
		u + "emails.type":        {note: anyType},
		u + "phoneNumbers":       {note: "Gatehouse: at most one primary."},
		u + "phoneNumbers.value": {note: "Gatehouse: required in each phone number; at most 64 characters, without control characters, not blank.", required: true},
		u + "phoneNumbers.type":  {note: anyType},
		u + "ims.type":           {note: anyType},
		u + "photos.type":        {note: anyType},
		u + "addresses.type":     {note: anyType},
		e + "manager.value": {note: "Gatehouse: the id of a user the application can see (for an application with a synchronization scope, " +
			"one inside it); another is 400 invalidValue. A manager the application cannot see is not shown, and a PUT or PATCH that sets " +
			"no manager keeps it."},
		u + "phoneRegion": {note: "Gatehouse (rfc mode): not checked, kept as given."},
		e + "organizationId": {note: "Gatehouse: the id of an existing organization inside the application's synchronization scope " +
			"(400 invalidValue otherwise). Without it, a POST places the account in the application's synchronization target organization " +
			"and a PUT keeps the current one. A PATCH cannot remove it (400 mutability)."},
		g + "displayName": {note: "Gatehouse: " + text + "; a taken name is 409 uniqueness. A new name " + lookAlike + ", " + nfc},
		g + "members": {note: "Gatehouse: each value is the id of an existing user the application can see: " +
			"nested groups are not supported (400 invalidValue)."},
	}
	for _, name := range []string{"ims", "photos", "addresses", "entitlements", "roles", "x509Certificates"} {
		c[u+name] = constraint{note: "Gatehouse: at most one primary."}
	}
	if p.IDaaSFields {
		c[u+"emails"] = constraint{note: "Gatehouse (idaas mode): at most one email, of type \"work\" (a missing type becomes \"work\"; " +
			"another type or a second email is 400 invalidValue)."}
		c[u+"emails.type"] = constraint{note: "Gatehouse (idaas mode): only \"work\".", only: []string{"work"}}
		c[u+"phoneNumbers"] = constraint{note: "Gatehouse (idaas mode): at most one phone number, of type \"work\" (a missing type becomes \"work\"; " +
			"another type or a second number is 400 invalidValue)."}
		c[u+"phoneNumbers.type"] = constraint{note: "Gatehouse (idaas mode): only \"work\".", only: []string{"work"}}
		c[u+"phoneNumbers.value"] = constraint{note: "Gatehouse (idaas mode): required in each phone number; digits, which spaces, hyphens, dots and parentheses may separate; " +
			"a number that includes its calling code starts with \"+\" (+86-13800138000, +86 138 0013 8000, +8613800138000), " +
			"one without \"+\" carries none. At least 3 digits after the calling code, at most 15 with it.", required: true}
		if p.DropExtraValues {
			for _, a := range []struct{ name, what string }{{"emails", "email"}, {"phoneNumbers", "phone number"}} {
				c[u+a.name] = constraint{note: fmt.Sprintf("Gatehouse (idaas mode, extra values dropped): one %s is stored, of type \"work\". "+
					"Of several, the first of type \"work\" is kept, else the first without a type, else the primary one, else the first; "+
					"its type becomes \"work\" and the others are dropped unchecked, which the audit record notes (by position and type).", a.what)}
				c[u+a.name+".type"] = constraint{note: "Gatehouse (idaas mode, extra values dropped): any type is accepted; " +
					"the one value stored is of type \"work\"."}
			}
		}
		c[u+"phoneRegion"] = constraint{note: fmt.Sprintf("Gatehouse (idaas mode): 1 to 3 digits (a leading \"+\" is dropped). "+
			"If absent, the calling code the number carries, else %q. If present and different from the number's calling code: 400 invalidValue. "+
			"A region that follows from the number (or is the default) is recomputed when a PATCH changes the number.", directory.DefaultPhoneRegion)}
	}
	if p.Idempotent {
		c[u+"userName"] = constraint{note: c[u+"userName"].note + " In idaas mode a POST whose externalId, else userName, " +
			"names an existing account updates that account (200) instead of answering 409."}
		c[g+"displayName"] = constraint{note: c[g+"displayName"].note + " In idaas mode a POST whose externalId, else displayName, " +
			"names an existing group replaces that group, members included (200), instead of answering 409."}
	}
	return c
}

func attributeDoc(a *schema.Attribute, path string, cons map[string]constraint) map[string]any {
	desc, canonical, required := a.Description, a.CanonicalValues, a.Required
	if c, ok := cons[path]; ok {
		desc += " " + c.note
		if c.only != nil {
			canonical = c.only
		}
		required = required || c.required
	}
	if a.Mutability != schema.ReadOnly {
		// What schema.CheckValues enforces, whatever the mode.
		switch {
		case a.Type == schema.Reference && slices.Contains(a.ReferenceTypes, "external"):
			desc += " Gatehouse: an absolute http or https URL (400 invalidValue otherwise; a value stored before this rule keeps working until it changes)."
		case a.Type == schema.Binary:
			desc += " Gatehouse: base64 (RFC 4648, with padding; 400 invalidValue otherwise; a value stored before this rule keeps working until it changes)."
		}
	}
	d := map[string]any{
		"name":        a.Name,
		"type":        string(a.Type),
		"multiValued": a.MultiValued,
		"description": desc,
		"required":    required,
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
	if len(canonical) > 0 {
		d["canonicalValues"] = canonical
	}
	if len(a.ReferenceTypes) > 0 {
		d["referenceTypes"] = a.ReferenceTypes
	}
	if len(a.SubAttributes) > 0 {
		subs := make([]any, len(a.SubAttributes))
		for i, sub := range a.SubAttributes {
			subs[i] = attributeDoc(sub, path+"."+sub.Name, cons)
		}
		d["subAttributes"] = subs
	}
	return d
}

func schemaDoc(sc *schema.Schema, base string, p directory.Profile, cons map[string]constraint) map[string]any {
	attrs := make([]any, len(sc.Attributes))
	for i, a := range sc.Attributes {
		attrs[i] = attributeDoc(a, sc.ID+":"+a.Name, cons)
	}
	return map[string]any{
		"schemas":     []string{schema.SchemaURN},
		"id":          sc.ID,
		"name":        sc.Name,
		"description": sc.Description + " (as Gatehouse enforces it for applications in " + modeName(p) + ")",
		"attributes":  attrs,
		"meta": map[string]any{
			"resourceType": "Schema",
			"location":     base + "/Schemas/" + sc.ID,
		},
	}
}

// modeName names the rules an application follows, for /Schemas.
func modeName(p directory.Profile) string {
	if auth.ExtraValues(p) == "drop" {
		return auth.Mode(p) + " mode, with extra emails and phone numbers dropped"
	}
	return auth.Mode(p) + " mode"
}

// schemaProfile returns the profile /Schemas describes: the calling
// application's when the request carries a credential, else the default
// mode's (idaas). A credential that does not authenticate is refused (401):
// a client must not take another mode's rules for its own.
func (s *Server) schemaProfile(w http.ResponseWriter, r *http.Request) (directory.Profile, bool) {
	// The answer depends on the credential: caches must keep them apart.
	w.Header().Add("Vary", "Authorization")
	header := auth.Authorization(r)
	if header == "" {
		return directory.IDaaSProfile(), true
	}
	p, err := s.auth.Authenticate(r.Context(), header, s.cfg.ClientAddr(r))
	if err != nil {
		s.writeError(w, r, authError(s.classify(err), true))
		return directory.Profile{}, false
	}
	logging.SetCaller(r.Context(), p.App.ID)
	return p.App.Profile, true
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request) {
	p, ok := s.schemaProfile(w, r)
	if !ok {
		return
	}
	base, cons := s.base(r), s.constraints(p)
	var items []any
	for _, sc := range s.reg.Schemas() {
		items = append(items, schemaDoc(sc, base, p, cons))
	}
	writeJSON(w, http.StatusOK, listOf(items))
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, sc := range s.reg.Schemas() {
		if strings.EqualFold(sc.ID, id) {
			p, ok := s.schemaProfile(w, r)
			if !ok {
				return
			}
			writeJSON(w, http.StatusOK, schemaDoc(sc, s.base(r), p, s.constraints(p)))
			return
		}
	}
	s.writeError(w, r, errorf(http.StatusNotFound, "", "no schema "+id))
}

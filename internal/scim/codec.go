package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/httpbody"
	"github.com/gatehouse-id/gatehouse/internal/jsonvalue"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/strictjson"
)

// ContentType is the SCIM media type (RFC 7644 §8.1).
const ContentType = "application/scim+json"

// writeJSON sends v as the body: what encoding/json writes (without HTML
// escaping, with a final newline), encoded by jsonvalue.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, err := jsonvalue.Append(make([]byte, 0, 2048), v)
	writeBody(w, status, buf, err)
}

// writeBody sends buf, a JSON document, and a final newline; or, when err
// says the document could not be encoded, a 500.
func writeBody(w http.ResponseWriter, status int, buf []byte, err error) {
	if err != nil {
		status = http.StatusInternalServerError
		buf = append(buf[:0], `{"schemas":["`+schema.ErrorURN+`"],"status":"500","detail":"could not encode the response"}`...)
	}
	buf = append(buf, '\n')
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(status)
	_, _ = w.Write(buf)
}

// readBody decodes a JSON object body of at most limit bytes. Numbers stay
// json.Number so that nothing is lost to float64.
//
// On /Users/{id} and /Groups/{id}, the router also sends PUT and PATCH of
// "/Users/.search" here: those are refused (405) before the body is read.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (map[string]any, error) {
	if err := rejectSearchID(r.PathValue("id")); err != nil {
		return nil, err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt := strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
		// application/json, application/scim+json and other +json types
		// are JSON; clients that send nothing or text/plain are tolerated.
		if !strings.HasSuffix(mt, "json") && mt != "text/plain" && mt != "application/octet-stream" {
			return nil, errorf(http.StatusUnsupportedMediaType, "", "the request body must be JSON (application/scim+json or application/json), not "+mt)
		}
	}
	body, err := httpbody.Read(w, r, limit)
	if err != nil {
		var tl *httpbody.TooLargeError
		if errors.As(err, &tl) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request body exceeds the maxPayloadSize (%d bytes)", limit))
		}
		if serr := logging.Stopping(r); serr != nil {
			return nil, serr // the server stopped the request: 503
		}
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "could not read the request body")
	}
	return decodeObject(body)
}

func decodeObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the request body is not a JSON object: "+err.Error())
	}
	if m == nil {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the request body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "unexpected data after the JSON object")
	}
	// encoding/json has turned invalid UTF-8 and unpaired surrogates into
	// U+FFFD and kept the last of two members of one name: refuse such a
	// body instead. Attribute names are case-insensitive (RFC 7643 §2.1):
	// "userName" and "USERNAME" in one object name one attribute twice,
	// and which value won would depend on map order.
	if err := strictjson.Check(body, strictjson.Options{FoldNames: true}); err != nil {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the request body is refused: "+err.Error())
	}
	return m, nil
}

var dropReadOnly = schema.NormalizeOptions{DropReadOnly: true}

// userFromDoc turns a normalized User document into the domain user.
func userFromDoc(doc map[string]any) *directory.User {
	u := &directory.User{Active: true, Attrs: directory.Attrs{}}
	for k, v := range doc {
		switch k {
		case "userName":
			u.UserName, _ = v.(string)
		case "externalId":
			u.ExternalID, _ = v.(string)
		case "displayName":
			u.DisplayName, _ = v.(string)
		case "active":
			u.Active, _ = v.(bool)
		case "password":
			u.Password, _ = v.(string)
		case "id", "meta", "groups":
		case schema.EnterpriseURN:
			m, _ := v.(map[string]any)
			ent := map[string]any{}
			for ek, ev := range m {
				if ek == "organizationId" {
					u.OrgID, _ = ev.(string)
					continue
				}
				ent[ek] = ev
			}
			if len(ent) > 0 {
				u.Attrs[k] = ent
			}
		default:
			u.Attrs[k] = v
		}
	}
	return u
}

// groupFromDoc turns a normalized Group document into the domain group.
// hasMembers reports whether the document carried a "members" attribute.
func groupFromDoc(doc map[string]any) (g *directory.Group, hasMembers bool, err error) {
	g = &directory.Group{Attrs: directory.Attrs{}}
	for k, v := range doc {
		switch k {
		case "displayName":
			g.DisplayName, _ = v.(string)
		case "externalId":
			g.ExternalID, _ = v.(string)
		case "id", "meta":
		case "members":
			hasMembers = true
			ids, err := memberIDs(v)
			if err != nil {
				return nil, false, err
			}
			for _, id := range ids {
				g.Members = append(g.Members, directory.Member{ID: id})
			}
		default:
			g.Attrs[k] = v
		}
	}
	return g, hasMembers, nil
}

// memberIDs reads member values ([{"value": id, "type": "User"}]).
func memberIDs(v any) ([]string, error) {
	list, _ := v.([]any)
	if v != nil && list == nil {
		list = []any{v}
	}
	ids := make([]string, 0, len(list))
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, errorf(http.StatusBadRequest, "invalidValue", "members must be objects with a \"value\"")
		}
		var id, typ string
		for k, x := range m {
			switch strings.ToLower(k) {
			case "value":
				id, _ = x.(string)
			case "type":
				typ, _ = x.(string)
			}
		}
		if id == "" {
			return nil, errorf(http.StatusBadRequest, "invalidValue", "members.value is required")
		}
		if typ != "" && !strings.EqualFold(typ, "User") {
			return nil, errorf(http.StatusBadRequest, "invalidValue", fmt.Sprintf("member %q has type %q: only users can be members (nested groups are not supported)", id, typ))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ETag renders a version as a weak entity tag.
func ETag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// etagMatcher turns an If-Match or If-None-Match header into a version
// test; nil when the header is absent. Weak and strong forms compare equal.
func etagMatcher(header string) func(int64) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil
	}
	if header == "*" {
		return func(int64) bool { return true }
	}
	var versions []int64
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		t = strings.Trim(t, `"`)
		if v, err := strconv.ParseInt(t, 10, 64); err == nil {
			versions = append(versions, v)
		}
	}
	return func(v int64) bool {
		for _, x := range versions {
			if x == v {
				return true
			}
		}
		return false
	}
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// userDoc renders a user as its SCIM representation. With an empty base,
// derived values (manager.$ref, a phoneRegion that follows from the number)
// are left out: that form is what PATCH edits. appendUserDoc writes the
// same document without building it: change both together.
func userDoc(u *directory.User, base string, withGroups bool) map[string]any {
	doc := make(map[string]any, len(u.Attrs)+8)
	for k, v := range u.Attrs {
		doc[k] = v
	}
	if base == "" && u.PhoneRegionDerived() {
		// The form PATCH edits holds what the client said: a region that
		// follows from the number is recomputed from the new number.
		delete(doc, "phoneRegion")
	}
	doc["id"] = u.ID
	doc["userName"] = u.UserName
	doc["active"] = u.Active
	if u.ExternalID != "" {
		doc["externalId"] = u.ExternalID
	}
	if u.DisplayName != "" {
		doc["displayName"] = u.DisplayName
	}
	ent := map[string]any{"organizationId": u.OrgID}
	if m, ok := u.Attrs[schema.EnterpriseURN].(map[string]any); ok {
		for k, v := range m {
			ent[k] = v
		}
		if mgr, ok := m["manager"].(map[string]any); ok {
			if id, ok := mgr["value"].(string); ok && id != "" && mgr["$ref"] == nil && base != "" {
				withRef := map[string]any{"$ref": base + "/Users/" + id}
				for k, v := range mgr {
					withRef[k] = v
				}
				ent["manager"] = withRef
			}
		}
	}
	doc[schema.EnterpriseURN] = ent
	if withGroups && len(u.Groups) > 0 {
		groups := make([]any, len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = map[string]any{"value": g.ID, "$ref": base + "/Groups/" + g.ID, "display": g.DisplayName, "type": "direct"}
		}
		doc["groups"] = groups
	}
	doc["meta"] = map[string]any{
		"resourceType": "User",
		"created":      fmtTime(u.Created),
		"lastModified": fmtTime(u.Modified),
		"location":     base + "/Users/" + u.ID,
		"version":      ETag(u.Version),
	}
	return doc
}

// appendUserDoc appends to dst the bytes jsonvalue.Append writes for
// withSchemas(userDoc(u, base, withGroups), rt), without building that
// document: GET /Users/{id} and user lists without attributes or
// excludedAttributes render users this way. base is not empty (the form
// PATCH edits is never rendered here). TestAppendUserDoc and
// FuzzAppendUserDoc hold the two renderings equal; a change to userDoc
// must be made here too.
func appendUserDoc(dst []byte, u *directory.User, base string, withGroups bool, rt *schema.ResourceType) ([]byte, error) {
	withGroups = withGroups && len(u.Groups) > 0
	// The document's names: the attributes' and those userDoc sets, which
	// replace attributes of the same name.
	var small [24]string
	keys := small[:0]
	for k := range u.Attrs {
		switch k {
		case "id", "userName", "active", "meta", "schemas", schema.EnterpriseURN:
			continue
		case "externalId":
			if u.ExternalID != "" {
				continue
			}
		case "displayName":
			if u.DisplayName != "" {
				continue
			}
		case "groups":
			if withGroups {
				continue
			}
		}
		keys = append(keys, k)
	}
	keys = append(keys, "id", "userName", "active", "meta", "schemas", schema.EnterpriseURN)
	if u.ExternalID != "" {
		keys = append(keys, "externalId")
	}
	if u.DisplayName != "" {
		keys = append(keys, "displayName")
	}
	if withGroups {
		keys = append(keys, "groups")
	}
	slices.Sort(keys)
	var err error
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonvalue.AppendString(dst, k)
		dst = append(dst, ':')
		switch {
		case k == "id":
			dst = jsonvalue.AppendString(dst, u.ID)
		case k == "userName":
			dst = jsonvalue.AppendString(dst, u.UserName)
		case k == "active":
			dst = strconv.AppendBool(dst, u.Active)
		case k == "externalId" && u.ExternalID != "":
			dst = jsonvalue.AppendString(dst, u.ExternalID)
		case k == "displayName" && u.DisplayName != "":
			dst = jsonvalue.AppendString(dst, u.DisplayName)
		case k == schema.EnterpriseURN:
			dst, err = appendEnterprise(dst, u, base)
		case k == "groups" && withGroups:
			dst = append(dst, '[')
			for j, g := range u.Groups {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, `{"$ref":`...)
				dst = jsonvalue.AppendString(dst, base+"/Groups/"+g.ID)
				dst = append(dst, `,"display":`...)
				dst = jsonvalue.AppendString(dst, g.DisplayName)
				dst = append(dst, `,"type":"direct","value":`...)
				dst = jsonvalue.AppendString(dst, g.ID)
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		case k == "meta":
			dst = append(dst, `{"created":`...)
			dst = jsonvalue.AppendString(dst, fmtTime(u.Created))
			dst = append(dst, `,"lastModified":`...)
			dst = jsonvalue.AppendString(dst, fmtTime(u.Modified))
			dst = append(dst, `,"location":`...)
			dst = jsonvalue.AppendString(dst, base+"/Users/"+u.ID)
			dst = append(dst, `,"resourceType":"User","version":`...)
			dst = jsonvalue.AppendString(dst, ETag(u.Version))
			dst = append(dst, '}')
		case k == "schemas":
			dst = append(dst, '[')
			dst = jsonvalue.AppendString(dst, rt.Schema.ID)
			for _, e := range rt.Extensions {
				if _, ok := slices.BinarySearch(keys, e.Schema.ID); ok {
					dst = append(dst, ',')
					dst = jsonvalue.AppendString(dst, e.Schema.ID)
				}
			}
			dst = append(dst, ']')
		default:
			dst, err = jsonvalue.Append(dst, u.Attrs[k])
		}
		if err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendEnterprise writes the enterprise extension as userDoc builds it:
// organizationId, the stored extension's attributes over it, and the
// manager with its $ref.
func appendEnterprise(dst []byte, u *directory.User, base string) ([]byte, error) {
	m, _ := u.Attrs[schema.EnterpriseURN].(map[string]any)
	var small [16]string
	keys := small[:0]
	for k := range m {
		if k != "organizationId" {
			keys = append(keys, k)
		}
	}
	keys = append(keys, "organizationId")
	slices.Sort(keys)
	var err error
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonvalue.AppendString(dst, k)
		dst = append(dst, ':')
		v, stored := m[k]
		switch {
		case k == "organizationId" && !stored:
			dst = jsonvalue.AppendString(dst, u.OrgID)
		case k == "manager":
			dst, err = appendManager(dst, v, base)
		default:
			dst, err = jsonvalue.Append(dst, v)
		}
		if err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendManager writes the enterprise manager: with a $ref to the manager
// when it names one by id and has none.
func appendManager(dst []byte, v any, base string) ([]byte, error) {
	mgr, ok := v.(map[string]any)
	if !ok {
		return jsonvalue.Append(dst, v)
	}
	id, ok := mgr["value"].(string)
	if !ok || id == "" || mgr["$ref"] != nil {
		return jsonvalue.Append(dst, v)
	}
	var small [8]string
	keys := small[:0]
	for k := range mgr {
		if k != "$ref" {
			keys = append(keys, k)
		}
	}
	keys = append(keys, "$ref")
	slices.Sort(keys)
	var err error
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonvalue.AppendString(dst, k)
		dst = append(dst, ':')
		if x, stored := mgr[k]; k != "$ref" || stored {
			// (a stored "$ref": null stays null, as userDoc copies it
			// over the reference)
			if dst, err = jsonvalue.Append(dst, x); err != nil {
				return dst, err
			}
		} else {
			dst = jsonvalue.AppendString(dst, base+"/Users/"+id)
		}
	}
	return append(dst, '}'), nil
}

// groupDoc renders a group.
func groupDoc(g *directory.Group, base string, withMembers bool) map[string]any {
	doc := make(map[string]any, len(g.Attrs)+6)
	for k, v := range g.Attrs {
		doc[k] = v
	}
	doc["id"] = g.ID
	doc["displayName"] = g.DisplayName
	if g.ExternalID != "" {
		doc["externalId"] = g.ExternalID
	}
	if withMembers && len(g.Members) > 0 {
		members := make([]any, len(g.Members))
		for i, m := range g.Members {
			members[i] = map[string]any{"value": m.ID, "$ref": base + "/Users/" + m.ID, "display": m.Display, "type": "User"}
		}
		doc["members"] = members
	}
	doc["meta"] = map[string]any{
		"resourceType": "Group",
		"created":      fmtTime(g.Created),
		"lastModified": fmtTime(g.Modified),
		"location":     base + "/Groups/" + g.ID,
		"version":      ETag(g.Version),
	}
	return doc
}

// withSchemas sets "schemas": the core schema and every extension the
// document has data for.
func withSchemas(doc map[string]any, rt *schema.ResourceType) map[string]any {
	s := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if _, ok := doc[e.Schema.ID]; ok {
			s = append(s, e.Schema.ID)
		}
	}
	doc["schemas"] = s
	return doc
}

// UserResource renders u as the SCIM document clients get, with its
// groups, for uses outside HTTP (event documents).
func UserResource(u *directory.User, base string, reg *schema.Registry) map[string]any {
	return withSchemas(userDoc(u, base, true), reg.User)
}

// GroupResource renders g (without members) as a SCIM document.
func GroupResource(g *directory.Group, base string, reg *schema.Registry) map[string]any {
	return withSchemas(groupDoc(g, base, false), reg.Group)
}

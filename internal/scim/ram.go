package scim

import (
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// The RAM profile: a strict stand-in for Alibaba Cloud RAM's SCIM endpoint
// (https://scim.aliyun.com, seed ram-scim-oauth.txt), so that a pipeline
// that pushes to RAM can be tested without an Alibaba Cloud account. What
// it does, and refuses, as RAM documents:
//
//   - paths at the root: /Users, /Users/{id}, /Schemas, /ResourceTypes; no
//     /Groups, /Bulk, /.search, /Me or /ServiceProviderConfig (404);
//   - users have only id, externalId, userName and displayName: other
//     attributes are ignored on input and never returned; there is no
//     active state;
//   - userName is a RAM user name: 1 to 64 letters, digits, '.', '-', '_';
//   - filters: eq on id, userName and externalId, joined by and; any other
//     filter is 400 invalidFilter;
//   - lists answer 30 per page by default (100 at most) and, as RAM's
//     example does, give the page size as itemsPerPage;
//   - PUT replaces; PATCH is not offered (501, as RFC 7644 §3.2 has a server
//     answer an operation it does not support);
//   - DELETE removes the user (204), and is refused (409,
//     DeleteConflict.User.AccessKey, RAM's API error code) while the user
//     has access keys, which the stand-in's admin API adds and removes;
//   - a create that collides with an existing userName, or with an
//     externalId the calling application has given another user, is 409
//     uniqueness: the stand-in never treats a POST as an update.
//
// Tokens come from the RAM-style token endpoint (/v1/token) for
// applications with the /acs/scim scope, as on RAM.

// RAMAccessKeysAttr is where the stand-in keeps a user's access key ids
// (never returned over SCIM).
const RAMAccessKeysAttr = "urn:gatehouse:params:ram:accessKeys"

// RAM page sizes.
const (
	RAMDefaultPageSize = 30
	RAMMaxPageSize     = 100
)

var ramUserName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// NewRAM returns a SCIM server with RAM's behaviour (the RAM profile).
func NewRAM(dir Directory, authn Authenticator, reg *schema.Registry, cfg Config, log *slog.Logger) *Server {
	cfg.Prefix = "/"
	cfg.DefaultPageSize, cfg.MaxPageSize = RAMDefaultPageSize, RAMMaxPageSize
	s := New(dir, authn, reg, cfg, log)
	s.cfg.Prefix = ""
	s.ramRoutes()
	return s
}

func (s *Server) ramRoutes() {
	m := http.NewServeMux()
	authed := func(pattern, scope string, h func(http.ResponseWriter, *http.Request, *auth.Principal)) {
		m.Handle(pattern, s.authenticate(scope, h))
	}
	m.HandleFunc("GET /Schemas", s.ramSchemas)
	m.HandleFunc("GET /Schemas/{id}", s.ramSchemas)
	m.HandleFunc("GET /ResourceTypes", s.ramResourceTypes)
	m.HandleFunc("GET /ResourceTypes/{id}", s.ramResourceTypes)
	ur, uw := auth.ScopeUsersRead, auth.ScopeUsersWrite
	authed("GET /Users", ur, s.ramList)
	authed("POST /Users", uw, s.ramCreate)
	authed("GET /Users/{id}", ur, s.ramGet)
	authed("PUT /Users/{id}", uw, s.ramReplace)
	authed("DELETE /Users/{id}", uw, s.ramDelete)
	authed("PATCH /Users/{id}", uw, func(w http.ResponseWriter, r *http.Request, _ *auth.Principal) {
		s.writeError(w, r, errorf(http.StatusNotImplemented, "", "RAM's SCIM endpoint does not offer PATCH; replace the user with PUT"))
	})
	s.mux = m
}

// ramProfile is the caller's profile without IDaaS's idempotent creation.
func ramProfile(p *auth.Principal) directory.Profile {
	pr := p.Profile()
	pr.Idempotent = false
	pr.IDaaSFields = false
	return pr
}

// ramUser reads the four attributes RAM keeps from a request body.
func ramUser(body map[string]any) (*directory.User, error) {
	get := func(name string) (string, bool, error) {
		for k, v := range body {
			if strings.EqualFold(k, name) {
				if v == nil {
					return "", false, nil
				}
				s, ok := v.(string)
				if !ok {
					return "", false, errorf(http.StatusBadRequest, "invalidValue", name+" must be a string")
				}
				return s, true, nil
			}
		}
		return "", false, nil
	}
	userName, ok, err := get("userName")
	if err != nil {
		return nil, err
	}
	if !ok || userName == "" {
		return nil, errorf(http.StatusBadRequest, "invalidValue", "userName is required")
	}
	if !ramUserName.MatchString(userName) {
		return nil, errorf(http.StatusBadRequest, "invalidValue",
			"userName: a RAM user name has 1 to 64 characters: letters, digits, '.', '-' and '_'")
	}
	displayName, _, err := get("displayName")
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(displayName) > 128 {
		return nil, errorf(http.StatusBadRequest, "invalidValue", "displayName: at most 128 characters")
	}
	externalID, _, err := get("externalId")
	if err != nil {
		return nil, err
	}
	return &directory.User{UserName: userName, DisplayName: displayName, ExternalID: externalID, Active: true}, nil
}

// ramDoc is a user as RAM shows it.
func ramDoc(u *directory.User, base string) map[string]any {
	doc := map[string]any{
		"schemas":  []string{schema.UserURN},
		"id":       u.ID,
		"userName": u.UserName,
		"meta": map[string]any{
			"resourceType": "User",
			"created":      fmtTime(u.Created),
			"lastModified": fmtTime(u.Modified),
			"location":     base + "/Users/" + u.ID,
		},
	}
	if u.DisplayName != "" {
		doc["displayName"] = u.DisplayName
	}
	if u.ExternalID != "" {
		doc["externalId"] = u.ExternalID
	}
	return doc
}

func (s *Server) ramWrite(w http.ResponseWriter, r *http.Request, status int, u *directory.User) {
	base := s.base(r)
	if status == http.StatusCreated {
		w.Header().Set("Location", base+"/Users/"+u.ID)
	}
	writeJSON(w, status, ramDoc(u, base))
}

func (s *Server) ramCreate(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := ramUser(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, _, err := s.dir.CreateUser(r.Context(), actor(r, p), ramProfile(p), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.ramWrite(w, r, http.StatusCreated, out)
}

func (s *Server) ramGet(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	u, err := s.dir.User(r.Context(), ramProfile(p), r.PathValue("id"), directory.ReadOptions{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.ramWrite(w, r, http.StatusOK, u)
}

func (s *Server) ramReplace(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := ramUser(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Only the four attributes change; whatever else the stand-in keeps
	// (access keys) stays.
	out, err := s.dir.UpdateUser(r.Context(), actor(r, p), ramProfile(p), r.PathValue("id"), nil, func(u *directory.User) error {
		u.UserName, u.DisplayName, u.ExternalID = in.UserName, in.DisplayName, in.ExternalID
		return nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.ramWrite(w, r, http.StatusOK, out)
}

func (s *Server) ramDelete(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id := r.PathValue("id")
	u, err := s.dir.User(r.Context(), ramProfile(p), id, directory.ReadOptions{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if keys := RAMAccessKeys(u); len(keys) > 0 {
		s.writeError(w, r, errorf(http.StatusConflict, "",
			"DeleteConflict.User.AccessKey: the RAM user still has "+strconv.Itoa(len(keys))+" access key(s); delete them before the user"))
		return
	}
	// The check and the delete are one step for the user's version: an
	// access key added in between makes the delete fail with 412.
	if err := s.dir.DeleteUser(r.Context(), actor(r, p), ramProfile(p), id, func(v int64) bool { return v == u.Version }); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RAMAccessKeys returns the access key ids the stand-in holds for u.
func RAMAccessKeys(u *directory.User) []string {
	raw, _ := u.Attrs[RAMAccessKeysAttr].([]any)
	var out []string
	for _, v := range raw {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// ramFilterAttrs are the attributes RAM filters on.
var ramFilterAttrs = []string{"id", "username", "externalid"}

// checkRAMFilter refuses what RAM does not support: anything but eq on id,
// userName and externalId, and and.
func checkRAMFilter(e filter.Expr) error {
	switch x := e.(type) {
	case *filter.Logical:
		if x.Or {
			return errorf(http.StatusBadRequest, "invalidFilter", "RAM supports only the and operator between comparisons")
		}
		if err := checkRAMFilter(x.Left); err != nil {
			return err
		}
		return checkRAMFilter(x.Right)
	case *filter.Compare:
		if x.Op != filter.Eq {
			return errorf(http.StatusBadRequest, "invalidFilter", "RAM supports only the eq comparison, not "+string(x.Op))
		}
		if x.Path.URI != "" || x.Path.Sub != "" || !slices.Contains(ramFilterAttrs, strings.ToLower(x.Path.Name)) {
			return errorf(http.StatusBadRequest, "invalidFilter", "RAM filters only on id, userName and externalId")
		}
		if x.Value.Kind != filter.KindString {
			return errorf(http.StatusBadRequest, "invalidFilter", "RAM compares only strings")
		}
		return nil
	}
	return errorf(http.StatusBadRequest, "invalidFilter", "RAM supports only eq comparisons joined by and")
}

func (s *Server) ramList(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	lr, err := listRequestFromQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(lr.filter) != "" {
		e, err := filter.Parse(lr.filter)
		if err != nil {
			s.writeError(w, r, errorf(http.StatusBadRequest, "invalidFilter", err.Error()))
			return
		}
		if err := checkRAMFilter(e); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	lr.sortBy, lr.sortOrder, lr.cursor, lr.attributes, lr.excluded = "", "", nil, nil, nil
	pl, err := s.plan(s.reg.User, lr, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lc, err := s.startList(r, p.App.ID, pl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.dir.Users(lc.ctx, ramProfile(p), pl.query)
	lc.done()
	if err != nil {
		s.writeError(w, r, s.check(r, lc, err))
		return
	}
	base := s.base(r)
	res := make([]any, len(page.Items))
	for i, u := range page.Items {
		res[i] = ramDoc(u, base)
	}
	pl.pageSizeAsItemsPerPage = true
	s.respondList(w, pl, res, page.Total, page.Next)
}

// ramUserSchema is the User schema as RAM has it: four attributes.
func ramUserSchema(base string) map[string]any {
	attr := func(name, desc, mutability, uniqueness string, required, caseExact bool) map[string]any {
		return map[string]any{
			"name": name, "type": "string", "multiValued": false, "description": desc, "required": required,
			"caseExact": caseExact, "mutability": mutability, "returned": "default", "uniqueness": uniqueness,
		}
	}
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":          schema.UserURN,
		"name":        "User",
		"description": "RAM user",
		"attributes": []any{
			attr("id", "The RAM user's id.", "readOnly", "server", false, true),
			attr("userName", "The RAM user's logon name.", "readWrite", "server", true, false),
			attr("displayName", "The RAM user's display name.", "readWrite", "none", false, false),
			attr("externalId", "The id of the user in the source system.", "readWrite", "none", false, true),
		},
		"meta": map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + schema.UserURN},
	}
}

func (s *Server) ramSchemas(w http.ResponseWriter, r *http.Request) {
	doc := ramUserSchema(s.base(r))
	if id := r.PathValue("id"); id != "" {
		if id != schema.UserURN {
			s.writeError(w, r, errorf(http.StatusNotFound, "", "no schema "+id))
			return
		}
		writeJSON(w, http.StatusOK, doc)
		return
	}
	writeJSON(w, http.StatusOK, listOf([]any{doc}))
}

func (s *Server) ramResourceTypes(w http.ResponseWriter, r *http.Request) {
	base := s.base(r)
	doc := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":       "User",
		"name":     "User",
		"endpoint": "/Users",
		"schema":   schema.UserURN,
		"meta":     map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/User"},
	}
	if id := r.PathValue("id"); id != "" {
		if id != "User" {
			s.writeError(w, r, errorf(http.StatusNotFound, "", "no resource type "+id))
			return
		}
		writeJSON(w, http.StatusOK, doc)
		return
	}
	writeJSON(w, http.StatusOK, listOf([]any{doc}))
}

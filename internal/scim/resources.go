package scim

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/jsonvalue"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/patch"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// call is the context of one operation, from an HTTP request or a Bulk
// operation.
type call struct {
	ctx     context.Context
	base    string
	actor   directory.Actor
	profile directory.Profile
	proj    projection
	ifMatch func(int64) bool
}

// result is an operation's outcome.
type result struct {
	status   int
	id       string         // the resource's id
	doc      map[string]any // the document to send, or
	user     *directory.User
	userDoc  userDocArgs // … the user to render as appendUserDoc does
	location string
	version  int64
}

// userDocArgs are the arguments of appendUserDoc beside the user.
type userDocArgs struct {
	base       string
	withGroups bool
	rt         *schema.ResourceType
}

func (s *Server) newCall(r *http.Request, p *auth.Principal, rt *schema.ResourceType) call {
	var q url.Values
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	var attrs, excl []string
	for k, v := range q {
		switch strings.ToLower(k) {
		case "attributes":
			attrs = append(attrs, v...)
		case "excludedattributes":
			excl = append(excl, v...)
		}
	}
	return call{
		ctx:     r.Context(),
		base:    s.base(r),
		actor:   actor(r, p),
		profile: p.Profile(),
		proj:    parseProjection(rt, attrs, excl),
		ifMatch: etagMatcher(r.Header.Get("If-Match")),
	}
}

// write sends a result: its status, ETag and Location headers and the
// projected document.
func (s *Server) write(w http.ResponseWriter, r *http.Request, res *result, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	if res.version > 0 {
		h.Set("ETag", ETag(res.version))
	}
	if res.location != "" && (res.status == http.StatusCreated || res.status == http.StatusOK) {
		h.Set("Location", res.location)
	}
	if res.status == http.StatusNoContent || res.status == http.StatusNotModified {
		w.WriteHeader(res.status)
		return
	}
	if res.user != nil {
		a := res.userDoc
		body, err := appendUserDoc(make([]byte, 0, 2048), res.user, a.base, a.withGroups, a.rt)
		writeBody(w, res.status, body, err)
		return
	}
	writeJSON(w, res.status, res.doc)
}

// rejectSearchID answers GET/PUT/PATCH/DELETE on /Users/.search, which the
// router sends to the {id} handlers.
func rejectSearchID(id string) error {
	if id == ".search" {
		return &Error{Status: http.StatusMethodNotAllowed, Detail: ".search only accepts POST", Header: http.Header{"Allow": {"POST"}}}
	}
	return nil
}

// ---- users

// decodeUser decodes a POST or PUT body. cur, if not nil, is called when
// a reference or binary value of it is not well formed: it returns the
// account the body replaces (as the caller sees it), whose values pass
// unchecked, or nil.
func (s *Server) decodeUser(body map[string]any, cur func() *directory.User) (*directory.User, error) {
	doc, err := s.reg.User.NormalizeResource(body, dropReadOnly)
	if err != nil {
		return nil, err
	}
	if err := s.reg.User.CheckValues(doc, nil); err != nil {
		// A value stored before the check existed keeps working.
		var u *directory.User
		if cur != nil {
			u = cur()
		}
		if u == nil || s.reg.User.CheckValues(doc, userDoc(u, "", false)) != nil {
			return nil, err
		}
	}
	return userFromDoc(doc), nil
}

func (s *Server) userResult(c call, u *directory.User, status int) *result {
	withGroups := c.proj.wants("groups", true)
	res := &result{status: status, id: u.ID, location: c.base + "/Users/" + u.ID, version: u.Version}
	if c.proj.empty() && c.base != "" {
		// The whole document: written straight from the user.
		res.user, res.userDoc = u, userDocArgs{base: c.base, withGroups: withGroups, rt: s.reg.User}
		return res
	}
	res.doc = c.proj.apply(withSchemas(userDoc(u, c.base, withGroups), s.reg.User))
	return res
}

// reloadUser reads a user back with its groups when the response shows them.
func (s *Server) reloadUser(c call, u *directory.User) (*directory.User, error) {
	if !c.proj.wants("groups", true) {
		return u, nil
	}
	return s.dir.User(c.ctx, c.profile, u.ID, directory.ReadOptions{Groups: true})
}

func (s *Server) doCreateUser(c call, body map[string]any) (*result, error) {
	u, err := s.decodeUser(body, nil)
	if err != nil {
		return nil, err
	}
	out, created, err := s.dir.CreateUser(c.ctx, c.actor, c.profile, u)
	if err != nil {
		return nil, err
	}
	status := http.StatusCreated
	if !created {
		// IDaaS semantics: a repeated submission updated the account.
		status = http.StatusOK
		if out, err = s.reloadUser(c, out); err != nil {
			return nil, err
		}
	}
	return s.userResult(c, out, status), nil
}

func (s *Server) doGetUser(c call, id, ifNoneMatch string) (*result, error) {
	if err := rejectSearchID(id); err != nil {
		return nil, err
	}
	u, err := s.dir.User(c.ctx, c.profile, id, directory.ReadOptions{Groups: c.proj.wants("groups", true)})
	if err != nil {
		return nil, err
	}
	if m := etagMatcher(ifNoneMatch); m != nil && m(u.Version) {
		return &result{status: http.StatusNotModified, version: u.Version}, nil
	}
	return s.userResult(c, u, http.StatusOK), nil
}

func (s *Server) doReplaceUser(c call, id string, body map[string]any) (*result, error) {
	if err := rejectSearchID(id); err != nil {
		return nil, err
	}
	u, err := s.decodeUser(body, func() *directory.User {
		cur, err := s.dir.User(c.ctx, c.profile, id, directory.ReadOptions{})
		if err != nil {
			return nil
		}
		return cur
	})
	if err != nil {
		return nil, err
	}
	replace := s.dir.ReplaceUser
	if c.proj.wants("groups", true) {
		replace = s.dir.ReplaceUserWithGroups
	}
	out, err := replace(c.ctx, c.actor, c.profile, id, u, c.ifMatch)
	if err != nil {
		return nil, err
	}
	return s.userResult(c, out, http.StatusOK), nil
}

func (s *Server) doPatchUser(c call, id string, body map[string]any) (*result, error) {
	if err := rejectSearchID(id); err != nil {
		return nil, err
	}
	ops, err := patch.ParseRequest(body)
	if err != nil {
		return nil, err
	}
	rt := s.reg.User
	update := s.dir.UpdateUser
	if c.proj.wants("groups", true) {
		update = s.dir.UpdateUserWithGroups // what the response shows, read in the change's transaction
	}
	out, err := update(c.ctx, c.actor, c.profile, id, c.ifMatch, func(u *directory.User) error {
		prev, doc := userDoc(u, "", false), userDoc(u, "", false)
		if err := patch.Apply(doc, rt, ops); err != nil {
			return err
		}
		if _, ok := doc["active"]; !ok {
			// userDoc always holds "active". Without it the account would
			// read as active (what a POST or PUT without "active" means):
			// a PATCH that removes it or sets it to null must not enable
			// anyone.
			return &patch.Error{Type: "mutability", Msg: "active cannot be removed or set to null: replace it with true or false"}
		}
		norm, err := rt.NormalizeResource(doc, dropReadOnly)
		if err != nil {
			return err
		}
		// Values the account holds already pass: one stored before the
		// check existed keeps working until it changes.
		if err := rt.CheckValues(norm, prev); err != nil {
			return err
		}
		next := userFromDoc(norm)
		u.UserName, u.ExternalID, u.DisplayName, u.Active = next.UserName, next.ExternalID, next.DisplayName, next.Active
		u.OrgID, u.Attrs, u.Password = next.OrgID, next.Attrs, next.Password
		if u.OrgID == "" {
			return directory.Errorf(directory.ErrMutability, "organizationId", "organizationId cannot be removed: every account belongs to an organization")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.userResult(c, out, http.StatusOK), nil
}

func (s *Server) doDeleteUser(c call, id string) (*result, error) {
	if err := rejectSearchID(id); err != nil {
		return nil, err
	}
	if err := s.dir.DeleteUser(c.ctx, c.actor, c.profile, id, c.ifMatch); err != nil {
		return nil, err
	}
	return &result{status: http.StatusNoContent}, nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.doCreateUser(s.newCall(r, p, s.reg.User), body)
	s.write(w, r, res, err)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	res, err := s.doGetUser(s.newCall(r, p, s.reg.User), r.PathValue("id"), r.Header.Get("If-None-Match"))
	s.write(w, r, res, err)
}

func (s *Server) replaceUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.doReplaceUser(s.newCall(r, p, s.reg.User), r.PathValue("id"), body)
	s.write(w, r, res, err)
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.doPatchUser(s.newCall(r, p, s.reg.User), r.PathValue("id"), body)
	s.write(w, r, res, err)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	res, err := s.doDeleteUser(s.newCall(r, p, s.reg.User), r.PathValue("id"))
	s.write(w, r, res, err)
}

// ---- groups

func (s *Server) decodeGroup(body map[string]any) (*directory.Group, bool, error) {
	doc, err := s.reg.Group.NormalizeResource(body, dropReadOnly)
	if err != nil {
		return nil, false, err
	}
	return groupFromDoc(doc)
}

func (s *Server) groupResult(c call, g *directory.Group, status int) *result {
	doc := withSchemas(groupDoc(g, c.base, c.proj.wants("members", true)), s.reg.Group)
	return &result{status: status, id: g.ID, doc: c.proj.apply(doc), location: c.base + "/Groups/" + g.ID, version: g.Version}
}

func (s *Server) reloadGroup(c call, g *directory.Group) (*directory.Group, error) {
	if !c.proj.wants("members", true) {
		return g, nil
	}
	return s.dir.Group(c.ctx, c.profile, g.ID, directory.ReadOptions{Members: true})
}

func (s *Server) doCreateGroup(c call, body map[string]any) (*result, error) {
	g, _, err := s.decodeGroup(body)
	if err != nil {
		return nil, err
	}
	out, created, err := s.dir.CreateGroup(c.ctx, c.actor, c.profile, g)
	if err != nil {
		return nil, err
	}
	if out, err = s.reloadGroup(c, out); err != nil {
		return nil, err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	return s.groupResult(c, out, status), nil
}

func (s *Server) doGetGroup(c call, id, ifNoneMatch string) (*result, error) {
	if err := rejectSearchID(id); err != nil {
		return nil, err
	}
	g, err := s.dir.Group(c.ctx, c.profile, id, directory.ReadOptions{Members: c.proj.wants("members", true)})
	if err != nil {
		return nil, err
	}
	if m := etagMatcher(ifNoneMatch); m != nil && m(g.Version) {
		return &result{status: http.StatusNotModified, version: g.Version}, nil
	}
	return s.groupResult(c, g, http.StatusOK), nil
}

func (s *Server) doReplaceGroup(c call, id string, body map[string]any) (*result, error) {
	if err := rejectSearchID(id); err != nil {
		return nil, err
	}
	g, hasMembers, err := s.decodeGroup(body)
	if err != nil {
		return nil, err
	}
	out, err := s.dir.ReplaceGroup(c.ctx, c.actor, c.profile, id, g, hasMembers, c.ifMatch)
	if err != nil {
		return nil, err
	}
	if out, err = s.reloadGroup(c, out); err != nil {
		return nil, err
	}
	return s.groupResult(c, out, http.StatusOK), nil
}

// splitMemberOps separates operations on "members", which the directory
// applies as deltas, from those on the group's other attributes, which are
// applied to its document.
func (s *Server) splitMemberOps(ops []patch.Op) (attrOps []patch.Op, memberOps []directory.MemberOp, err error) {
	rt := s.reg.Group
	for _, op := range ops {
		if op.Path == "" {
			m, ok := op.Value.(map[string]any)
			if !ok {
				return nil, nil, &patch.Error{Type: "invalidValue", Msg: "without a path, the value must be an object of attributes"}
			}
			rest := map[string]any{}
			for k, v := range m {
				if !strings.EqualFold(k, "members") {
					rest[k] = v
					continue
				}
				ids, err := memberIDs(v)
				if err != nil {
					return nil, nil, err
				}
				kind := directory.AddMembers
				if op.Op == "replace" {
					kind = directory.ReplaceMembers
				}
				memberOps = append(memberOps, directory.MemberOp{Kind: kind, IDs: ids})
			}
			if len(rest) > 0 {
				attrOps = append(attrOps, patch.Op{Op: op.Op, Value: rest, HasValue: true})
			}
			continue
		}
		p, err := patch.ParsePath(op.Path, rt)
		if err != nil {
			return nil, nil, err
		}
		if p.Ref.Attr == nil || p.Ref.Attr.Name != "members" {
			attrOps = append(attrOps, op)
			continue
		}
		mo, err := memberOp(op, p)
		if err != nil {
			return nil, nil, err
		}
		memberOps = append(memberOps, mo)
	}
	return attrOps, memberOps, nil
}

func memberOp(op patch.Op, p patch.Path) (directory.MemberOp, error) {
	if p.Ref.Sub != nil {
		return directory.MemberOp{}, &patch.Error{Type: "mutability", Msg: "members' sub-attributes are immutable: add or remove members instead"}
	}
	if p.Filter != nil {
		if op.Op != "remove" {
			return directory.MemberOp{}, &patch.Error{Type: "mutability", Msg: "members are immutable: remove the member and add another instead of replacing it"}
		}
		if ids, ok := valueEqualities(p.Filter); ok {
			return directory.MemberOp{Kind: directory.RemoveMembers, IDs: ids}, nil
		}
		f := p.Filter
		return directory.MemberOp{Kind: directory.RemoveMatching, Match: func(m directory.Member) bool {
			return filter.MatchElement(f, map[string]any{"value": m.ID, "display": m.Display, "type": "User"})
		}}, nil
	}
	switch op.Op {
	case "add":
		ids, err := memberIDs(op.Value)
		return directory.MemberOp{Kind: directory.AddMembers, IDs: ids}, err
	case "replace":
		ids, err := memberIDs(op.Value)
		return directory.MemberOp{Kind: directory.ReplaceMembers, IDs: ids}, err
	}
	// remove: with a value list (Entra) only those members, else all.
	if op.HasValue && op.Value != nil {
		ids, err := memberIDs(op.Value)
		return directory.MemberOp{Kind: directory.RemoveMembers, IDs: ids}, err
	}
	return directory.MemberOp{Kind: directory.ReplaceMembers}, nil
}

// valueEqualities recognises value eq "a" [or value eq "b" …], the filter
// clients use to remove members, so it can run as a direct delete.
func valueEqualities(e filter.Expr) ([]string, bool) {
	switch n := e.(type) {
	case *filter.Logical:
		if !n.Or {
			return nil, false
		}
		a, ok1 := valueEqualities(n.Left)
		b, ok2 := valueEqualities(n.Right)
		return append(a, b...), ok1 && ok2
	case *filter.Compare:
		if n.Op == filter.Eq && n.Path.Ref.Sub != nil && n.Path.Ref.Sub.Name == "value" && n.Value.Kind == filter.KindString {
			return []string{n.Value.Str}, true
		}
	}
	return nil, false
}

func (s *Server) doPatchGroup(c call, id string, body map[string]any) (*result, error) {
	if err := rejectSearchID(id); err != nil {
		return nil, err
	}
	ops, err := patch.ParseRequest(body)
	if err != nil {
		return nil, err
	}
	attrOps, memberOps, err := s.splitMemberOps(ops)
	if err != nil {
		return nil, err
	}
	rt := s.reg.Group
	var mutate func(*directory.Group) error
	if len(attrOps) > 0 {
		mutate = func(g *directory.Group) error {
			doc := groupDoc(g, "", false)
			if err := patch.Apply(doc, rt, attrOps); err != nil {
				return err
			}
			norm, err := rt.NormalizeResource(doc, dropReadOnly)
			if err != nil {
				return err
			}
			next, _, err := groupFromDoc(norm)
			if err != nil {
				return err
			}
			g.DisplayName, g.ExternalID, g.Attrs = next.DisplayName, next.ExternalID, next.Attrs
			return nil
		}
	}
	out, err := s.dir.UpdateGroup(c.ctx, c.actor, c.profile, id, c.ifMatch, mutate, memberOps)
	if err != nil {
		return nil, err
	}
	if out, err = s.reloadGroup(c, out); err != nil {
		return nil, err
	}
	return s.groupResult(c, out, http.StatusOK), nil
}

func (s *Server) doDeleteGroup(c call, id string) (*result, error) {
	if err := rejectSearchID(id); err != nil {
		return nil, err
	}
	if err := s.dir.DeleteGroup(c.ctx, c.actor, c.profile, id, c.ifMatch); err != nil {
		return nil, err
	}
	return &result{status: http.StatusNoContent}, nil
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.doCreateGroup(s.newCall(r, p, s.reg.Group), body)
	s.write(w, r, res, err)
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	res, err := s.doGetGroup(s.newCall(r, p, s.reg.Group), r.PathValue("id"), r.Header.Get("If-None-Match"))
	s.write(w, r, res, err)
}

func (s *Server) replaceGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.doReplaceGroup(s.newCall(r, p, s.reg.Group), r.PathValue("id"), body)
	s.write(w, r, res, err)
}

func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.doPatchGroup(s.newCall(r, p, s.reg.Group), r.PathValue("id"), body)
	s.write(w, r, res, err)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	res, err := s.doDeleteGroup(s.newCall(r, p, s.reg.Group), r.PathValue("id"))
	s.write(w, r, res, err)
}

// ---- lists and searches

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	lr, err := listRequestFromQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.runUsers(w, r, p, lr)
}

func (s *Server) searchUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lr, err := listRequestFromBody(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.runUsers(w, r, p, lr)
}

func (s *Server) runUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal, lr listRequest) {
	pl, err := s.plan(s.reg.User, lr, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	withGroups := pl.proj.wants("groups", true)
	pl.query.Read.Groups = withGroups
	lc, err := s.startList(r, p.App.ID, pl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.dir.Users(lc.ctx, p.Profile(), pl.query)
	lc.done()
	if err != nil {
		s.writeError(w, r, s.check(r, lc, err))
		return
	}
	base := s.base(r)
	res := make([]any, len(page.Items))
	for i, u := range page.Items {
		if pl.proj.empty() && base != "" {
			// The whole document: written straight from the user.
			if raw, err := appendUserDoc(make([]byte, 0, 1024), u, base, withGroups, s.reg.User); err == nil {
				res[i] = jsonvalue.Raw(raw)
				continue
			}
		}
		res[i] = pl.proj.apply(withSchemas(userDoc(u, base, withGroups), s.reg.User))
	}
	s.respondList(w, pl, res, page.Total, page.Next)
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	lr, err := listRequestFromQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.runGroups(w, r, p, lr)
}

func (s *Server) searchGroups(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lr, err := listRequestFromBody(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.runGroups(w, r, p, lr)
}

func (s *Server) runGroups(w http.ResponseWriter, r *http.Request, p *auth.Principal, lr listRequest) {
	pl, err := s.plan(s.reg.Group, lr, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	withMembers := pl.proj.wants("members", true)
	pl.query.Read.Members = withMembers
	lc, err := s.startList(r, p.App.ID, pl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.dir.Groups(lc.ctx, p.Profile(), pl.query)
	lc.done()
	if err != nil {
		s.writeError(w, r, s.check(r, lc, err))
		return
	}
	base := s.base(r)
	res := make([]any, len(page.Items))
	for i, g := range page.Items {
		res[i] = pl.proj.apply(withSchemas(groupDoc(g, base, withMembers), s.reg.Group))
	}
	s.respondList(w, pl, res, page.Total, page.Next)
}

package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Bulk (RFC 7644 §3.7). Operations run in order, each in its own
// transaction (Bulk is not atomic). An operation that refers to a resource
// another operation creates ("bulkId:qwerty") waits until that operation has
// run; references that cannot be resolved — to a failed or missing
// operation, or circular — fail with 409.

type bulkOp struct {
	index   int
	method  string
	bulkID  string
	path    string
	version string
	data    any
}

type bulkEntry struct {
	Method   string         `json:"method"`
	BulkID   string         `json:"bulkId,omitempty"`
	Version  string         `json:"version,omitempty"`
	Location string         `json:"location,omitempty"`
	Status   string         `json:"status"`
	Response map[string]any `json:"response,omitempty"`
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	body, err := readBody(w, r, s.cfg.MaxPayloadSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ops, failOnErrors, err := s.parseBulk(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	base := s.base(r)
	entries := make([]*bulkEntry, len(ops))
	created := map[string]string{} // bulkId → id
	failed := map[string]bool{}    // bulkIds whose operation failed
	owner := map[string]int{}      // bulkId → operation index
	dup := map[int]bool{}          // operations reusing another's bulkId
	for _, op := range ops {
		if op.bulkID != "" {
			if _, taken := owner[op.bulkID]; taken {
				dup[op.index] = true
				failed[op.bulkID] = true
				continue
			}
			owner[op.bulkID] = op.index
		}
	}
	errorsSeen := 0
	pending := ops
	stop := false
	for len(pending) > 0 && !stop {
		var next []bulkOp
		progress := false
		for _, op := range pending {
			if entries[op.index] != nil {
				continue
			}
			var refs []string
			if !dup[op.index] {
				refs = bulkRefs(op.path, op.data)
			}
			ready, broken := true, ""
			for _, ref := range refs {
				if _, ok := created[ref]; ok {
					continue
				}
				if i, ok := owner[ref]; !ok || failed[ref] || i == op.index {
					broken = ref
					break
				}
				ready = false
			}
			if dup[op.index] {
				// Failed where it stands, so that it counts towards
				// failOnErrors in order.
				entries[op.index] = errEntry(op, "", errorf(http.StatusBadRequest, "invalidValue", "bulkId "+op.bulkID+" is used by more than one operation"))
			} else if broken != "" {
				entries[op.index] = errEntry(op, base, errorf(http.StatusConflict, "", "bulkId:"+broken+" cannot be resolved: no successful operation in this request creates it"))
			} else if !ready {
				next = append(next, op)
				continue
			} else {
				entries[op.index] = s.runBulkOp(r, p, base, op, created)
			}
			progress = true
			e := entries[op.index]
			if code, _ := strconv.Atoi(e.Status); code >= 400 {
				if op.bulkID != "" {
					failed[op.bulkID] = true
				}
				errorsSeen++
				if failOnErrors > 0 && errorsSeen >= failOnErrors {
					stop = true
					break
				}
			}
		}
		if !progress && !stop {
			// What is left waits on itself: circular references.
			for _, op := range next {
				entries[op.index] = errEntry(op, base, errorf(http.StatusConflict, "", "circular bulkId references cannot be resolved"))
				errorsSeen++
				if failOnErrors > 0 && errorsSeen >= failOnErrors {
					break
				}
			}
			break
		}
		pending = next
	}
	out := make([]*bulkEntry, 0, len(entries))
	for _, e := range entries {
		if e != nil {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{schema.BulkResponseURN}, "Operations": out})
}

func (s *Server) parseBulk(body map[string]any) ([]bulkOp, int, error) {
	var rawOps any
	failOnErrors := 0
	for k, v := range body {
		switch strings.ToLower(k) {
		case "operations":
			rawOps = v
		case "failonerrors":
			n, ok := v.(json.Number)
			if !ok {
				return nil, 0, errorf(http.StatusBadRequest, "invalidSyntax", "failOnErrors must be an integer")
			}
			i, err := strconv.Atoi(n.String())
			if err != nil || i < 0 {
				return nil, 0, errorf(http.StatusBadRequest, "invalidSyntax", "failOnErrors must be a non-negative integer")
			}
			failOnErrors = i
		}
	}
	list, ok := rawOps.([]any)
	if !ok {
		return nil, 0, errorf(http.StatusBadRequest, "invalidSyntax", "a BulkRequest needs an \"Operations\" array")
	}
	if len(list) > s.cfg.MaxBulkOperations {
		return nil, 0, errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the number of operations exceeds the maxOperations (%d)", s.cfg.MaxBulkOperations))
	}
	ops := make([]bulkOp, 0, len(list))
	for i, raw := range list {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, 0, errorf(http.StatusBadRequest, "invalidSyntax", fmt.Sprintf("Operations[%d] is not an object", i))
		}
		op := bulkOp{index: i}
		for k, v := range m {
			switch strings.ToLower(k) {
			case "method":
				sv, _ := v.(string)
				op.method = strings.ToUpper(sv)
			case "bulkid":
				op.bulkID, _ = v.(string)
			case "path":
				op.path, _ = v.(string)
			case "version":
				op.version, _ = v.(string)
			case "data":
				op.data = v
			}
		}
		ops = append(ops, op)
	}
	return ops, failOnErrors, nil
}

// bulkRefs lists the bulkIds a path and body refer to.
func bulkRefs(path string, data any) []string {
	var refs []string
	add := func(s string) {
		if id, ok := strings.CutPrefix(s, "bulkId:"); ok && id != "" {
			refs = append(refs, id)
		}
	}
	for _, seg := range strings.Split(path, "/") {
		add(seg)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			add(x)
		case []any:
			for _, el := range x {
				walk(el)
			}
		case map[string]any:
			for _, el := range x {
				walk(el)
			}
		}
	}
	walk(data)
	return refs
}

// substitute replaces "bulkId:x" references with the ids created.
func substitute(v any, created map[string]string) any {
	switch x := v.(type) {
	case string:
		if id, ok := strings.CutPrefix(x, "bulkId:"); ok {
			if real, ok := created[id]; ok {
				return real
			}
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = substitute(el, created)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = substitute(el, created)
		}
		return out
	}
	return v
}

func errEntry(op bulkOp, base string, err error) *bulkEntry {
	se := asError(err)
	e := &bulkEntry{Method: op.method, BulkID: op.bulkID, Status: strconv.Itoa(se.Status), Response: se.body()}
	if op.method != "POST" && base != "" && op.path != "" && !strings.Contains(op.path, "bulkId:") {
		e.Location = base + "/" + strings.TrimPrefix(op.path, "/")
	}
	return e
}

func (s *Server) runBulkOp(r *http.Request, p *auth.Principal, base string, op bulkOp, created map[string]string) *bulkEntry {
	// "/Users/bulkId:qwerty": the reference is one segment of the path.
	segs := strings.Split(op.path, "/")
	for i, seg := range segs {
		segs[i] = substitute(seg, created).(string)
	}
	path := strings.Join(segs, "/")
	data := substitute(op.data, created)
	op.path = path
	segs = strings.Split(strings.Trim(path, "/"), "/")
	var rt *schema.ResourceType
	if len(segs) > 0 {
		switch segs[0] {
		case "Users":
			rt = s.reg.User
		case "Groups":
			rt = s.reg.Group
		}
	}
	if rt == nil || len(segs) > 2 {
		return errEntry(op, "", errorf(http.StatusNotFound, "", "bulk path must be /Users, /Groups, /Users/{id} or /Groups/{id}, not "+path))
	}
	c := call{ctx: r.Context(), base: base, actor: actor(r, p), profile: p.Profile(), ifMatch: etagMatcher(op.version)}
	body, _ := data.(map[string]any)
	needBody := op.method == "POST" || op.method == "PUT" || op.method == "PATCH"
	if needBody && body == nil {
		return errEntry(op, base, errorf(http.StatusBadRequest, "invalidSyntax", "operation needs a \"data\" object"))
	}
	var res *result
	var err error
	id := ""
	if len(segs) == 2 {
		id = segs[1]
	}
	isUser := rt == s.reg.User
	if scope := opScope(isUser, op.method); !p.Scopes.Has(scope) {
		return errEntry(op, base, scopeError(scope))
	}
	switch {
	case op.method == "POST" && id == "":
		if isUser {
			res, err = s.doCreateUser(c, body)
		} else {
			res, err = s.doCreateGroup(c, body)
		}
	case op.method == "PUT" && id != "":
		if isUser {
			res, err = s.doReplaceUser(c, id, body)
		} else {
			res, err = s.doReplaceGroup(c, id, body)
		}
	case op.method == "PATCH" && id != "":
		if isUser {
			res, err = s.doPatchUser(c, id, body)
		} else {
			res, err = s.doPatchGroup(c, id, body)
		}
	case op.method == "DELETE" && id != "":
		if isUser {
			res, err = s.doDeleteUser(c, id)
		} else {
			res, err = s.doDeleteGroup(c, id)
		}
	default:
		return errEntry(op, base, errorf(http.StatusBadRequest, "invalidSyntax", "method "+op.method+" is not valid for path "+path))
	}
	if err != nil {
		if logging.ClientGone(r, err) {
			return &bulkEntry{Method: op.method, BulkID: op.bulkID, Status: strconv.Itoa(logging.StatusClientClosed)}
		}
		err = s.classify(logging.Stopped(r, err))
		// A server fault in one operation is logged as a request's would
		// be: the Bulk request itself is answered 200.
		if se := asError(err); logged(se) {
			s.log.ErrorContext(r.Context(), "scim bulk operation failed", "method", op.method, "status", se.Status, "err", err)
		}
		return errEntry(op, base, err)
	}
	e := &bulkEntry{Method: op.method, BulkID: op.bulkID, Status: strconv.Itoa(res.status), Location: res.location}
	if res.version > 0 {
		e.Version = ETag(res.version)
	}
	if e.Location == "" {
		e.Location = base + "/" + strings.Trim(path, "/")
	}
	if op.method == "POST" && op.bulkID != "" {
		if newID := res.id; newID != "" {
			created[op.bulkID] = newID
		}
	}
	return e
}

// searchRoot serves POST /.search across Users and Groups (RFC 7644
// §3.4.3). Results list users, then groups; a filter naming an attribute one
// resource type lacks simply matches none of that type.
func (s *Server) searchRoot(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
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
	if lr.cursor != nil {
		s.writeError(w, r, badValue("cursor paging is offered on /Users/.search and /Groups/.search, not across resource types"))
		return
	}
	// The search covers the resource types the credential may read.
	canUsers, canGroups := p.Scopes.Has(auth.ScopeUsersRead), p.Scopes.Has(auth.ScopeGroupsRead)
	if !canUsers && !canGroups {
		s.writeError(w, r, scopeError(auth.ScopeUsersRead))
		return
	}
	up, uerr := s.plan(s.reg.User, lr, p)
	gp, gerr := s.plan(s.reg.Group, lr, p)
	if !canUsers {
		uerr = errNotSearched
	}
	if !canGroups {
		gerr = errNotSearched
	}
	if uerr != nil && gerr != nil {
		if uerr == errNotSearched {
			uerr = gerr
		}
		s.writeError(w, r, uerr)
		return
	}
	var plans []*listPlan
	if uerr == nil {
		plans = append(plans, up)
	}
	if gerr == nil {
		plans = append(plans, gp)
	}
	lc, err := s.startList(r, p.App.ID, plans...)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer lc.done()
	ctx := lc.ctx
	uTotal, gTotal := 0, 0
	if uerr == nil {
		q := up.query
		q.Limit, q.Count, q.Offset, q.After = 0, true, 0, nil
		page, err := s.dir.Users(ctx, p.Profile(), q)
		if err != nil {
			s.writeError(w, r, s.check(r, lc, err))
			return
		}
		uTotal = page.Total
	}
	if gerr == nil {
		q := gp.query
		q.Limit, q.Count, q.Offset, q.After = 0, true, 0, nil
		page, err := s.dir.Groups(ctx, p.Profile(), q)
		if err != nil {
			s.writeError(w, r, s.check(r, lc, err))
			return
		}
		gTotal = page.Total
	}
	start := max(lr.startIndex, 1)
	count := lr.count
	if count < 0 {
		count = s.cfg.DefaultPageSize
	}
	count = min(count, s.cfg.MaxPageSize)
	offset := start - 1
	base := s.base(r)
	var res []any
	if uerr == nil && offset < uTotal && count > 0 {
		q := up.query
		q.Offset, q.Limit, q.Count, q.After = offset, min(count, uTotal-offset), false, nil
		withGroups := up.proj.wants("groups", true)
		q.Read.Groups = withGroups
		page, err := s.dir.Users(ctx, p.Profile(), q)
		if err != nil {
			s.writeError(w, r, s.check(r, lc, err))
			return
		}
		for _, u := range page.Items {
			res = append(res, up.proj.apply(withSchemas(userDoc(u, base, withGroups), s.reg.User)))
		}
	}
	if gerr == nil && len(res) < count {
		q := gp.query
		q.Offset, q.Limit, q.Count, q.After = max(offset-uTotal, 0), count-len(res), false, nil
		withMembers := gp.proj.wants("members", true)
		q.Read.Members = withMembers
		page, err := s.dir.Groups(ctx, p.Profile(), q)
		if err != nil {
			s.writeError(w, r, s.check(r, lc, err))
			return
		}
		for _, g := range page.Items {
			res = append(res, gp.proj.apply(withSchemas(groupDoc(g, base, withMembers), s.reg.Group)))
		}
	}
	if res == nil {
		res = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"totalResults": uTotal + gTotal,
		"startIndex":   start,
		"itemsPerPage": len(res),
		"Resources":    res,
	})
}

// errNotSearched marks a resource type a root search leaves out.
var errNotSearched = errors.New("resource type not searched")

// opScope is the scope a Bulk operation needs.
func opScope(isUser bool, method string) string {
	switch {
	case isUser && method == http.MethodGet:
		return auth.ScopeUsersRead
	case isUser:
		return auth.ScopeUsersWrite
	case method == http.MethodGet:
		return auth.ScopeGroupsRead
	}
	return auth.ScopeGroupsWrite
}

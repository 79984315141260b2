package scim

import (
	"container/list"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// listRequest is a query, from GET parameters or a SearchRequest body.
type listRequest struct {
	filter     string
	sortBy     string
	sortOrder  string
	startIndex int // 0: absent
	count      int // -1: absent
	cursor     *string
	attributes []string
	excluded   []string
}

func badValue(msg string) *Error { return errorf(http.StatusBadRequest, "invalidValue", msg) }

// canonicalParam spells the list parameters that take one value as RFC
// 7644 and RFC 9865 do, by their lower-cased names.
var canonicalParam = map[string]string{"filter": "filter", "sortby": "sortBy", "sortorder": "sortOrder",
	"startindex": "startIndex", "count": "count", "cursor": "cursor"}

// listRequestFromQuery reads GET parameters. Names are matched
// case-insensitively; unknown parameters are ignored (RFC 7644 §3.4.2).
// A parameter that takes one value (all but attributes and
// excludedAttributes, whose lists are joined) given more than once, in
// any spellings, is refused: which one counts would be left to chance
// (Go's map order, for "filter" and "Filter"), and a proxy that checked
// one may not see the one Gatehouse reads.
func listRequestFromQuery(q url.Values) (listRequest, error) {
	lr := listRequest{count: -1}
	var seen []string
	for k, vs := range q {
		name := strings.ToLower(k)
		if canon, one := canonicalParam[name]; one {
			if len(vs) > 1 || slices.Contains(seen, name) {
				e := badValue(canon + " is given more than once")
				if name == "filter" {
					e.ScimType = "invalidFilter"
				}
				return lr, e
			}
			seen = append(seen, name)
		}
		v := ""
		if len(vs) > 0 {
			v = vs[len(vs)-1]
		}
		switch name {
		case "filter":
			lr.filter = v
		case "sortby":
			lr.sortBy = v
		case "sortorder":
			lr.sortOrder = v
		case "startindex":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return lr, badValue("startIndex must be an integer")
			}
			lr.startIndex = max(n, 1)
		case "count":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return lr, badValue("count must be an integer")
			}
			lr.count = max(n, 0)
		case "cursor":
			c := v
			lr.cursor = &c
		case "attributes":
			lr.attributes = append(lr.attributes, vs...)
		case "excludedattributes":
			lr.excluded = append(lr.excluded, vs...)
		}
	}
	return lr, nil
}

// listRequestFromBody reads a SearchRequest (RFC 7644 §3.4.3).
func listRequestFromBody(body map[string]any) (listRequest, error) {
	lr := listRequest{count: -1}
	str := func(v any, name string) (string, error) {
		if v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", errorf(http.StatusBadRequest, "invalidSyntax", name+" must be a string")
		}
		return s, nil
	}
	num := func(v any, name string) (int, error) {
		switch n := v.(type) {
		case json.Number:
			i, err := strconv.Atoi(n.String())
			if err != nil {
				return 0, errorf(http.StatusBadRequest, "invalidSyntax", name+" must be an integer")
			}
			return i, nil
		case string:
			i, err := strconv.Atoi(n)
			if err != nil {
				return 0, errorf(http.StatusBadRequest, "invalidSyntax", name+" must be an integer")
			}
			return i, nil
		}
		return 0, errorf(http.StatusBadRequest, "invalidSyntax", name+" must be an integer")
	}
	strs := func(v any, name string) ([]string, error) {
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			return []string{x}, nil
		case []any:
			out := make([]string, 0, len(x))
			for _, el := range x {
				s, ok := el.(string)
				if !ok {
					return nil, errorf(http.StatusBadRequest, "invalidSyntax", name+" must be a list of strings")
				}
				out = append(out, s)
			}
			return out, nil
		}
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", name+" must be a list of strings")
	}
	var err error
	for k, v := range body {
		switch strings.ToLower(k) {
		case "filter":
			lr.filter, err = str(v, "filter")
		case "sortby":
			lr.sortBy, err = str(v, "sortBy")
		case "sortorder":
			lr.sortOrder, err = str(v, "sortOrder")
		case "startindex":
			var n int
			n, err = num(v, "startIndex")
			lr.startIndex = max(n, 1)
		case "count":
			var n int
			n, err = num(v, "count")
			lr.count = max(n, 0)
		case "cursor":
			var c string
			c, err = str(v, "cursor")
			lr.cursor = &c
		case "attributes":
			lr.attributes, err = strs(v, "attributes")
		case "excludedattributes":
			lr.excluded, err = strs(v, "excludedAttributes")
		}
		if err != nil {
			return lr, err
		}
	}
	return lr, nil
}

// listPlan is a validated query ready to run.
type listPlan struct {
	query      directory.Query
	proj       projection
	startIndex int
	count      int
	cursorMode bool
	// rtID and appID, with the query's filter, sort and order, make the
	// query's fingerprint, for positions and cursors (fingerprint).
	rtID, appID string
	fp          string
	// knownTotal is the total carried by a cursor or remembered with a
	// position, used when the query does not count.
	knownTotal int
	// pageSizeAsItemsPerPage reports the page size as itemsPerPage, as
	// RAM's example does, instead of the resources returned (the RAM
	// profile).
	pageSizeAsItemsPerPage bool
	// expensive: the query may read many rows (limits.go).
	expensive bool
}

// fingerprint identifies the query — resource type, application, filter,
// sort and order, not the page — for positions and cursors. It is worked
// out when first needed: most lists do not need it.
func (pl *listPlan) fingerprint() string {
	if pl.fp != "" {
		return pl.fp
	}
	var canon strings.Builder
	canon.WriteString(pl.rtID)
	canon.WriteByte(0)
	canon.WriteString(pl.appID)
	canon.WriteByte(0)
	if pl.query.Filter != nil {
		canon.WriteString(pl.query.Filter.String())
	}
	canon.WriteByte(0)
	if pl.query.Sort != nil {
		canon.WriteString(pl.query.Sort.Ref.String())
	}
	canon.WriteByte(0)
	canon.WriteString(strconv.FormatBool(pl.query.Descending))
	sum := sha256.Sum256([]byte(canon.String()))
	pl.fp = hex.EncodeToString(sum[:16])
	return pl.fp
}

// plan validates a list request against the resource type.
func (s *Server) plan(rt *schema.ResourceType, lr listRequest, p *auth.Principal) (*listPlan, error) {
	pl := &listPlan{startIndex: max(lr.startIndex, 1), count: lr.count}
	if pl.count < 0 {
		pl.count = s.cfg.DefaultPageSize
	}
	pl.count = min(pl.count, s.cfg.MaxPageSize)
	pl.rtID = rt.ID
	if p != nil {
		pl.appID = p.App.ID
	}
	if strings.TrimSpace(lr.filter) != "" {
		e, err := filter.Parse(lr.filter)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "invalidFilter", err.Error())
		}
		if err := filter.Resolve(e, rt); err != nil {
			return nil, errorf(http.StatusBadRequest, "invalidFilter", err.Error())
		}
		pl.query.Filter = e
	}
	if lr.sortBy != "" {
		ref, err := rt.ResolveLoose(lr.sortBy)
		if err != nil {
			return nil, badValue("sortBy: " + err.Error())
		}
		if ref.Leaf().Returned == schema.ReturnNever {
			// As in filters: the order would tell what is never shown.
			return nil, badValue("sortBy: " + ref.Leaf().Name + " cannot be sorted on")
		}
		pl.query.Sort = &filter.Path{Name: ref.Attr.Name, Ref: ref}
	}
	switch strings.ToLower(lr.sortOrder) {
	case "", "ascending":
	case "descending":
		pl.query.Descending = lr.sortBy != ""
	default:
		return nil, badValue(`sortOrder must be "ascending" or "descending"`)
	}
	pl.proj = parseProjection(rt, lr.attributes, lr.excluded)
	pl.query.Limit = pl.count
	pl.expensive = expensive(rt, pl.query.Filter)
	pl.query.Indexed = !pl.expensive
	pl.query.Pinned = bounded(rt, pl.query.Filter)

	if lr.cursor != nil {
		if lr.startIndex > 0 {
			return nil, badValue("use either startIndex (index paging) or cursor (cursor paging, RFC 9865), not both")
		}
		pl.cursorMode = true
		if *lr.cursor == "" {
			pl.query.Count = true
		} else {
			cs, err := s.decodeCursor(*lr.cursor)
			if err != nil {
				return nil, err
			}
			if cs.FP != pl.fingerprint() {
				return nil, errorf(http.StatusBadRequest, "invalidCursor", "the cursor belongs to a different query: repeat the first query's parameters, changing only cursor")
			}
			if cs.Count != pl.count {
				return nil, errorf(http.StatusBadRequest, "invalidCount", fmt.Sprintf("count must stay %d while following a cursor", cs.Count))
			}
			pl.knownTotal = cs.Total
			k := cs.Key.key()
			pl.query.After = &k
		}
		return pl, nil
	}
	// Index paging. A walk that continues where an earlier page ended
	// resumes from that row's key instead of skipping startIndex-1 rows:
	// pages stay stable while others write, and a full walk is linear.
	// (A walk's first page is never remembered: it starts at the start.)
	if pl.startIndex > 1 {
		if pos, ok := s.positions.get(pl.fingerprint(), pl.startIndex); ok {
			k := pos.key
			pl.query.After = &k
			pl.knownTotal = pos.total
			return pl, nil
		}
	}
	pl.query.Offset = pl.startIndex - 1
	pl.query.Count = true
	return pl, nil
}

// respond writes the ListResponse for a page, remembering the position it
// ends at.
func (s *Server) respondList(w http.ResponseWriter, pl *listPlan, resources []any, total int, next *directory.Key) {
	if !pl.query.Count {
		total = pl.knownTotal
	}
	resp := map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"totalResults": total,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}
	if pl.pageSizeAsItemsPerPage {
		resp["itemsPerPage"] = pl.count
	}
	if pl.cursorMode {
		if next != nil {
			resp["nextCursor"] = s.encodeCursor(&cursorState{FP: pl.fingerprint(), Key: keyOf(*next), Count: pl.count, Total: total, Issued: s.now().Unix()})
		}
	} else {
		resp["startIndex"] = pl.startIndex
		if next != nil {
			s.positions.put(pl.fingerprint(), pl.startIndex+len(resources), position{key: *next, total: total})
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// ---- positions

type position struct {
	key     directory.Key
	total   int
	expires time.Time
}

// positionCache remembers, for recent walks, the key of the row each page
// ended at, keyed by query fingerprint and the next startIndex. Bounded in
// size (least recently used entries go first) and in age.
type positionCache struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	m   map[string]*list.Element
	lru *list.List
}

type posEntry struct {
	k string
	p position
}

func newPositionCache(max int, ttl time.Duration) *positionCache {
	return &positionCache{max: max, ttl: ttl, m: map[string]*list.Element{}, lru: list.New()}
}

func posKey(fp string, startIndex int) string { return fp + "#" + strconv.Itoa(startIndex) }

func (c *positionCache) get(fp string, startIndex int) (position, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[posKey(fp, startIndex)]
	if !ok {
		return position{}, false
	}
	e := el.Value.(*posEntry)
	if time.Now().After(e.p.expires) {
		c.lru.Remove(el)
		delete(c.m, e.k)
		return position{}, false
	}
	c.lru.MoveToFront(el)
	return e.p, true
}

func (c *positionCache) put(fp string, startIndex int, p position) {
	p.expires = time.Now().Add(c.ttl)
	k := posKey(fp, startIndex)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		el.Value.(*posEntry).p = p
		c.lru.MoveToFront(el)
		return
	}
	c.m[k] = c.lru.PushFront(&posEntry{k: k, p: p})
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.m, last.Value.(*posEntry).k)
	}
}

// ---- cursors (RFC 9865)

// cursorState is what a cursor carries: the query's fingerprint, the key of
// the last row served, the page size, the total counted on the first page
// and when it was issued. It is signed, so it cannot be forged.
type cursorState struct {
	FP     string    `json:"f"`
	Key    cursorKey `json:"k"`
	Count  int       `json:"c"`
	Total  int       `json:"t"`
	Issued int64     `json:"i"`
}

type cursorKey struct {
	Null bool     `json:"n,omitempty"`
	S    *string  `json:"s,omitempty"`
	F    *float64 `json:"f,omitempty"`
	B    *bool    `json:"b,omitempty"`
	T    *string  `json:"t,omitempty"`
	Seq  int64    `json:"q"`
}

func keyOf(k directory.Key) cursorKey {
	ck := cursorKey{Null: k.Null, Seq: k.Seq}
	switch v := k.Value.(type) {
	case string:
		ck.S = &v
	case float64:
		ck.F = &v
	case bool:
		ck.B = &v
	case time.Time:
		t := v.UTC().Format(time.RFC3339Nano)
		ck.T = &t
	}
	return ck
}

func (ck cursorKey) key() directory.Key {
	k := directory.Key{Null: ck.Null, Seq: ck.Seq}
	switch {
	case ck.S != nil:
		k.Value = *ck.S
	case ck.F != nil:
		k.Value = *ck.F
	case ck.B != nil:
		k.Value = *ck.B
	case ck.T != nil:
		t, _ := time.Parse(time.RFC3339Nano, *ck.T)
		k.Value = t
	}
	return k
}

var b64 = base64.RawURLEncoding

func (s *Server) mac(payload string) string {
	m := hmac.New(sha256.New, s.cfg.CursorKey)
	m.Write([]byte(payload))
	return b64.EncodeToString(m.Sum(nil)[:16])
}

func (s *Server) encodeCursor(cs *cursorState) string {
	b, _ := json.Marshal(cs)
	p := b64.EncodeToString(b)
	return p + "." + s.mac(p)
}

func (s *Server) decodeCursor(c string) (*cursorState, error) {
	bad := errorf(http.StatusBadRequest, "invalidCursor", "the cursor is not valid: send an empty cursor for the first page, then the nextCursor values returned")
	p, sig, ok := strings.Cut(c, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.mac(p))) {
		return nil, bad
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return nil, bad
	}
	var cs cursorState
	if err := json.Unmarshal(raw, &cs); err != nil {
		return nil, bad
	}
	if s.now().After(time.Unix(cs.Issued, 0).Add(s.cfg.CursorTimeout)) {
		return nil, errorf(http.StatusBadRequest, "expiredCursor", "the cursor has expired; start again with an empty cursor")
	}
	return &cs, nil
}

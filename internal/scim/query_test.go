package scim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// queryFixture is a small directory to query: five users and two groups.
type queryFixture struct {
	h                             *harness
	alice, bob, carol, dave, erin string
	carolModified                 string
	staff, sales                  string
}

func newQueryFixture(t *testing.T, opts ...func(*options)) *queryFixture {
	h := newHarness(t, append([]func(*options){withExtensions(customExtension())}, opts...)...)
	ent := schema.EnterpriseURN
	f := &queryFixture{h: h}
	f.alice = h.createUser(map[string]any{"userName": "Alice@Example.com", "externalId": "ext-alice",
		"name":     map[string]any{"givenName": "Alice", "familyName": "Smith"},
		"emails":   []map[string]any{{"value": "alice@example.com", "type": "work"}},
		ent:        map[string]any{"department": "Engineering"},
		customURN:  map[string]any{"badgeNumber": "B-1", "clearance": 3, "remote": true, "skills": []string{"go", "sql"}},
		"password": "Secret-Passw0rd"})
	f.bob = h.createUser(map[string]any{"userName": "bob@example.com", "active": false,
		"name":    map[string]any{"givenName": "Bob", "familyName": "Smithers"},
		"emails":  []map[string]any{{"value": "bob@corp.example.org"}},
		ent:       map[string]any{"department": "Sales"},
		customURN: map[string]any{"clearance": 1}})
	r := h.must(h.do("POST", "/Users", map[string]any{"userName": "carol@example.com",
		"name":    map[string]any{"givenName": "Carol", "familyName": "Jones"},
		ent:       map[string]any{"department": "engineering"},
		customURN: map[string]any{"remote": false, "skills": []string{"rust"}}}), http.StatusCreated)
	f.carol, f.carolModified = r.str("id"), r.str("meta", "lastModified")
	f.dave = h.createUser(map[string]any{"userName": "dave@example.com", "active": false, "title": "CTO",
		"name":   map[string]any{"familyName": "Smyth"},
		"emails": []map[string]any{{"value": "dave@example.com"}}})
	f.erin = h.createUser(map[string]any{"userName": "erin@example.com"})
	f.staff = h.createGroup("Staff", f.alice, f.carol, f.erin)
	f.sales = h.createGroup("Sales", f.bob)
	return f
}

func (f *queryFixture) names(ids ...string) []string {
	byID := map[string]string{f.alice: "alice", f.bob: "bob", f.carol: "carol", f.dave: "dave", f.erin: "erin", f.staff: "Staff", f.sales: "Sales"}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if n, ok := byID[id]; ok {
			out = append(out, n)
		} else {
			out = append(out, id)
		}
	}
	return out
}

// listIDs returns the ids of a ListResponse's resources, in order.
func listIDs(r *response) []string {
	res, _ := r.Body["Resources"].([]any)
	out := make([]string, 0, len(res))
	for _, x := range res {
		id, _ := dig(x, "id").(string)
		out = append(out, id)
	}
	return out
}

func TestQueryFilters(t *testing.T) {
	f := newQueryFixture(t)
	h := f.h
	ent, acme := schema.EnterpriseURN, customURN
	tests := []struct {
		filter string
		want   []string // user names, in creation order
	}{
		{`userName eq "ALICE@example.COM"`, []string{"alice"}},
		{`USERNAME Eq "bob@example.com"`, []string{"bob"}},
		{`userName eq "nobody@example.com"`, nil},
		{`emails[type eq "work" and value co "example.com"]`, []string{"alice", "dave"}},
		{`emails[type eq "work"].value eq "dave@example.com"`, []string{"dave"}},
		{`emails co "corp"`, []string{"bob"}},
		{`emails.Value co "BOB"`, []string{"bob"}},
		{`name.familyName sw "Smi"`, []string{"alice", "bob"}},
		{`name.FamilyName eq "jones"`, []string{"carol"}},
		{`name.familyName ew "th"`, []string{"alice", "dave"}},
		{`meta.lastModified gt "` + f.carolModified + `"`, []string{"dave", "erin"}},
		{`meta.lastModified ge "` + f.carolModified + `"`, []string{"carol", "dave", "erin"}},
		{`meta.Created gt "2000-01-01T00:00:00Z"`, []string{"alice", "bob", "carol", "dave", "erin"}},
		{`meta.created lt "2000-01-01T00:00:00Z"`, nil},
		{`active eq false`, []string{"bob", "dave"}},
		{`active eq true`, []string{"alice", "carol", "erin"}},
		{`active ne false`, []string{"alice", "carol", "erin"}},
		{ent + `:department eq "engineering"`, []string{"alice", "carol"}},
		{`department eq "Sales"`, []string{"bob"}},
		{ent + `:department pr`, []string{"alice", "bob", "carol"}},
		{acme + `:badgeNumber eq "B-1"`, []string{"alice"}},
		{acme + `:badgeNumber eq "b-1"`, nil}, // caseExact
		{acme + `:clearance ge 2`, []string{"alice"}},
		{acme + `:clearance lt 3`, []string{"bob"}},
		{acme + `:remote eq true`, []string{"alice"}},
		{acme + `:remote eq false`, []string{"carol"}},
		{`skills eq "rust"`, []string{"carol"}},
		{acme + `:skills co "q"`, []string{"alice"}},
		{`not (active eq false)`, []string{"alice", "carol", "erin"}},
		{`not(userName sw "a" or userName sw "b")`, []string{"carol", "dave", "erin"}},
		{`userName eq "alice@example.com" or title pr`, []string{"alice", "dave"}},
		{`title pr`, []string{"dave"}},
		{`not (title pr)`, []string{"alice", "bob", "carol", "erin"}},
		{`emails eq null`, []string{"carol", "erin"}},
		{`userName ne "bob@example.com" and active eq false`, []string{"dave"}},
		{`(userName sw "a" or userName sw "c") and name.givenName pr`, []string{"alice", "carol"}},
		{`id eq "` + f.carol + `"`, []string{"carol"}},
		{`externalId eq "ext-alice"`, []string{"alice"}},
		{`groups.value eq "` + f.staff + `"`, []string{"alice", "carol", "erin"}},
		{`groups[display eq "Sales"]`, []string{"bob"}},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			h := h.with(t)
			r := h.must(h.do("GET", "/Users?filter="+url.QueryEscape(tc.filter), nil), http.StatusOK)
			got := f.names(listIDs(r)...)
			if diff := cmp.Diff(tc.want, got, cmpNilEmpty); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if r.Body["totalResults"] != jsonInt(len(tc.want)) {
				t.Errorf("totalResults %v, want %d", r.Body["totalResults"], len(tc.want))
			}
			if res, ok := r.Body["Resources"].([]any); !ok || res == nil {
				t.Errorf("Resources = %v, want a list", r.Body["Resources"])
			}
			// The same filter through POST /Users/.search.
			s := h.must(h.do("POST", "/Users/.search", map[string]any{"schemas": []string{schema.SearchURN}, "filter": tc.filter}), http.StatusOK)
			if diff := cmp.Diff(tc.want, f.names(listIDs(s)...), cmpNilEmpty); diff != "" {
				t.Errorf(".search (-want +got):\n%s", diff)
			}
		})
	}

	groupTests := []struct {
		filter string
		want   []string
	}{
		{`displayName eq "staff"`, []string{"Staff"}},
		{`members[value eq "` + f.bob + `"]`, []string{"Sales"}},
		{`members.value eq "` + f.carol + `"`, []string{"Staff"}},
		{`members pr`, []string{"Staff", "Sales"}},
		{`displayName sw "S" and not (displayName eq "Sales")`, []string{"Staff"}},
	}
	for _, tc := range groupTests {
		t.Run("Groups "+tc.filter, func(t *testing.T) {
			r := h.with(t).must(h.with(t).do("GET", "/Groups?filter="+url.QueryEscape(tc.filter), nil), http.StatusOK)
			if diff := cmp.Diff(tc.want, f.names(listIDs(r)...), cmpNilEmpty); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestQueryNullFilters: "attr eq null" means not present, "attr ne null"
// present (docs/scim.md, Filters), for attributes kept in the JSON document
// as for columns.
func TestQueryNullFilters(t *testing.T) {
	f := newQueryFixture(t)
	tests := []struct {
		filter string
		want   []string
	}{
		{`title eq null`, []string{"alice", "bob", "carol", "erin"}},
		{`title ne null`, []string{"dave"}},
		{`name.givenName eq null`, []string{"dave", "erin"}},
		{customURN + `:remote eq null`, []string{"bob", "dave", "erin"}},
		{customURN + `:remote ne null`, []string{"alice", "carol"}},
		{`externalId eq null`, []string{"bob", "carol", "dave", "erin"}},
		{`externalId ne null`, []string{"alice"}},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			r := f.h.with(t).must(f.h.with(t).do("GET", "/Users?filter="+url.QueryEscape(tc.filter), nil), http.StatusOK)
			if diff := cmp.Diff(tc.want, f.names(listIDs(r)...), cmpNilEmpty); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

var cmpNilEmpty = cmp.Transformer("nilEmpty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

func TestQueryInvalidFilters(t *testing.T) {
	f := newQueryFixture(t)
	h := f.h
	for _, filter := range []string{
		`userName eq`,
		`userName eq "x" and`,
		`(userName eq "x"`,
		`userName eq "x")`,
		`userName regex "x"`,
		`userName eq 'x'`,
		`userName eq x`,
		`not userName eq "x"`,
		`emails[type eq "work"`,
		`emails[type eq "work"]]`,
		`emails[]`,
		`shoeSize eq 3`,
		`name.shoe eq "x"`,
		`urn:example:unknown:1.0:User:x eq "y"`,
		`members eq "x"`, // a Group attribute, not a User one
		`active gt true`, // ordering on a boolean
		`meta.created gt "yesterday"`,
		`meta.location eq "x"`,
		`"userName" eq "x"`,
		`userName eq "x" or or userName eq "y"`,
		`userName eq "unterminated`,
		// No stored value holds NUL: refused on SQLite as PostgreSQL
		// refuses it (red-team finding: SQLite answered 200).
		`title eq "\u0000"`,
		`title ne "a\u0000"`,
		`emails[value eq "\u0000"]`,
		`not (userName sw "\u0000")`,
	} {
		t.Run(filter, func(t *testing.T) {
			h := h.with(t)
			checkError(t, h.do("GET", "/Users?filter="+url.QueryEscape(filter), nil), http.StatusBadRequest, "invalidFilter")
			checkError(t, h.do("POST", "/Users/.search", map[string]any{"filter": filter}), http.StatusBadRequest, "invalidFilter")
		})
	}
	checkError(t, h.do("GET", "/Groups?filter="+url.QueryEscape(`userName eq "x"`), nil), http.StatusBadRequest, "invalidFilter")
}

func TestQuerySort(t *testing.T) {
	f := newQueryFixture(t)
	h := f.h
	tests := []struct {
		query string
		want  []string
	}{
		{"sortBy=userName", []string{"alice", "bob", "carol", "dave", "erin"}},
		{"sortBy=userName&sortOrder=descending", []string{"erin", "dave", "carol", "bob", "alice"}},
		{"sortBy=USERNAME&sortOrder=Descending", []string{"erin", "dave", "carol", "bob", "alice"}},
		// Missing values last when ascending, first when descending; ties
		// keep creation order.
		{"sortBy=name.familyName", []string{"carol", "alice", "bob", "dave", "erin"}},
		{"sortBy=name.familyName&sortOrder=descending", []string{"erin", "dave", "bob", "alice", "carol"}},
		{"sortBy=title", []string{"dave", "alice", "bob", "carol", "erin"}},
		{"sortBy=emails", []string{"alice", "bob", "dave", "carol", "erin"}},
		{"sortBy=meta.created&sortOrder=descending", []string{"erin", "dave", "carol", "bob", "alice"}},
		{"sortBy=" + url.QueryEscape(schema.EnterpriseURN+":department"), []string{"alice", "carol", "bob", "dave", "erin"}},
		{"sortBy=" + url.QueryEscape(customURN+":clearance") + "&sortOrder=descending&filter=" + url.QueryEscape(`not (userName sw "c" or userName sw "d")`), []string{"erin", "alice", "bob"}},
		{"sortBy=active", []string{"bob", "dave", "alice", "carol", "erin"}},
		{"", []string{"alice", "bob", "carol", "dave", "erin"}},
		{"sortOrder=descending", []string{"alice", "bob", "carol", "dave", "erin"}}, // no sortBy: creation order
		{"sortBy=userName&filter=" + url.QueryEscape(`active eq false`) + "&sortOrder=descending", []string{"dave", "bob"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := h.with(t).must(h.with(t).do("GET", "/Users?"+tc.query, nil), http.StatusOK)
			if diff := cmp.Diff(tc.want, f.names(listIDs(r)...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	checkError(t, h.do("GET", "/Users?sortBy=shoeSize", nil), http.StatusBadRequest, "invalidValue")
	r := h.must(h.do("GET", "/Groups?sortBy=displayName&sortOrder=descending", nil), http.StatusOK)
	if diff := cmp.Diff([]string{"Staff", "Sales"}, f.names(listIDs(r)...)); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

func TestQueryPaging(t *testing.T) {
	f := newQueryFixture(t, withConfig(scim.Config{MaxPageSize: 3, DefaultPageSize: 2}))
	h := f.h
	all := []string{"alice", "bob", "carol", "dave", "erin"}
	tests := []struct {
		query       string
		want        []string
		startIndex  int
		noResources bool // count=0: only totalResults matters
	}{
		{"", all[:2], 1, false},         // default page size
		{"count=10", all[:3], 1, false}, // capped at MaxPageSize, not refused
		{"count=3", all[:3], 1, false},
		{"count=2&startIndex=2", all[1:3], 2, false},
		{"count=3&startIndex=4", all[3:], 4, false},
		{"count=3&startIndex=5", all[4:], 5, false},
		{"count=3&startIndex=6", nil, 6, false}, // beyond the end
		{"count=3&startIndex=600", nil, 600, false},
		{"startIndex=0&count=1", all[:1], 1, false}, // < 1 is 1
		{"startIndex=-4&count=1", all[:1], 1, false},
		{"count=0", nil, 1, true},
		{"count=-3", nil, 1, true},                   // negative is 0
		{"COUNT=1&StartIndex=3", all[2:3], 3, false}, // names are case-insensitive
		{"count=2&startIndex=2&unknownParam=1&aadOptscim062020", all[1:3], 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := h.with(t).must(h.with(t).do("GET", "/Users?"+tc.query, nil), http.StatusOK)
			if diff := cmp.Diff(tc.want, f.names(listIDs(r)...), cmpNilEmpty); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if r.Body["totalResults"] != jsonInt(5) {
				t.Errorf("totalResults %v, want 5", r.Body["totalResults"])
			}
			if r.Body["itemsPerPage"] != jsonInt(len(tc.want)) {
				t.Errorf("itemsPerPage %v, want %d", r.Body["itemsPerPage"], len(tc.want))
			}
			if r.Body["startIndex"] != jsonInt(tc.startIndex) {
				t.Errorf("startIndex %v, want %d", r.Body["startIndex"], tc.startIndex)
			}
			if res, ok := r.Body["Resources"]; ok && !tc.noResources {
				if _, isList := res.([]any); !isList {
					t.Errorf("Resources = %v", res)
				}
			}
		})
	}
	// .search bodies page the same way, with numbers as numbers.
	r := h.must(h.do("POST", "/Users/.search", map[string]any{"schemas": []string{schema.SearchURN}, "startIndex": 2, "count": 10, "sortBy": "userName", "sortOrder": "descending"}), http.StatusOK)
	if diff := cmp.Diff([]string{"dave", "carol", "bob"}, f.names(listIDs(r)...)); diff != "" {
		t.Errorf(".search paging (-want +got):\n%s", diff)
	}
}

// TestQueryPagingWalkUnderWrites walks ~250 users by startIndex while other
// clients delete users the walk has already seen and create new ones: every
// user that existed throughout the walk is seen exactly once, and no user
// twice.
func TestQueryPagingWalkUnderWrites(t *testing.T) {
	h := newHarness(t)
	const n, count = 250, 25
	ops := make([]any, 0, n)
	for i := range n {
		ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": "u" + strconv.Itoa(i),
			"data": map[string]any{"userName": "walk" + strconv.Itoa(i) + "@example.com"}})
	}
	r := h.must(h.do("POST", "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}), http.StatusOK)
	for i, op := range r.Body["Operations"].([]any) {
		if st := dig(op, "status"); st != "201" {
			t.Fatalf("bulk create %d: %v", i, op)
		}
	}

	for _, mode := range []string{"unsorted", "sorted"} {
		t.Run(mode, func(t *testing.T) {
			h := h.with(t)
			extra := ""
			if mode == "sorted" {
				extra = "&sortBy=userName"
			}
			// Users alive at the start.
			alive := map[string]bool{}
			r := h.must(h.do("GET", "/Users?count=1000", nil), http.StatusOK)
			for _, id := range listIDs(r) {
				alive[id] = true
			}
			deleted := map[string]bool{}
			var mu sync.Mutex // guards deleted
			seen := map[string]int{}
			toDelete := make(chan []string)
			done := make(chan struct{})
			var wg sync.WaitGroup
			// A client deleting users the walk has seen, after each page.
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ids := range toDelete {
					for _, id := range ids[:min(len(ids), 10)] {
						if r := h.doConcurrent(t, "DELETE", "/Users/"+id, nil); r.Status != http.StatusNoContent {
							t.Errorf("delete: %d %s", r.Status, r.Raw)
						}
						mu.Lock()
						deleted[id] = true
						mu.Unlock()
					}
					done <- struct{}{}
				}
			}()
			// A client creating users throughout.
			stop := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if i >= 60 {
						<-stop
						return
					}
					body := map[string]any{"userName": mode + "-new" + strconv.Itoa(i) + "@example.com"}
					if r := h.doConcurrent(t, "POST", "/Users", body); r.Status != http.StatusCreated {
						t.Errorf("create: %d %s", r.Status, r.Raw)
					}
				}
			}()
			start := 1
			for page := 0; page < 100; page++ {
				r := h.must(h.do("GET", "/Users?startIndex="+strconv.Itoa(start)+"&count="+strconv.Itoa(count)+extra, nil), http.StatusOK)
				ids := listIDs(r)
				for _, id := range ids {
					seen[id]++
				}
				if len(ids) < count {
					break
				}
				start += len(ids)
				toDelete <- ids
				<-done
			}
			close(stop)
			close(toDelete)
			wg.Wait()
			for id, c := range seen {
				if c > 1 {
					t.Errorf("user %s seen %d times", id, c)
				}
			}
			missed := 0
			for id := range alive {
				if !deleted[id] && seen[id] != 1 {
					missed++
				}
			}
			if missed > 0 {
				t.Errorf("%d users that existed throughout the walk were not seen", missed)
			}
			if len(deleted) < 50 {
				t.Errorf("the walk saw %d users while %d were deleted: too little happened to test anything", len(seen), len(deleted))
			}
		})
	}
}

// TestQueryCursor: RFC 9865 cursor paging.
func TestQueryCursor(t *testing.T) {
	f := newQueryFixture(t, withConfig(scim.Config{MaxPageSize: 4}))
	h := f.h
	walk := func(t *testing.T, query string, viaSearch bool) []string {
		t.Helper()
		var got []string
		cursor := ""
		for page := 0; page < 10; page++ {
			var r *response
			if viaSearch {
				body := map[string]any{"schemas": []string{schema.SearchURN}, "count": 2, "cursor": cursor, "sortBy": "userName"}
				r = h.with(t).must(h.with(t).do("POST", "/Users/.search", body), http.StatusOK)
			} else {
				r = h.with(t).must(h.with(t).do("GET", "/Users?"+query+"&cursor="+url.QueryEscape(cursor), nil), http.StatusOK)
			}
			if _, ok := r.Body["previousCursor"]; ok && page == 0 {
				t.Errorf("first page has a previousCursor")
			}
			if r.Body["totalResults"] != jsonInt(5) {
				t.Errorf("page %d: totalResults %v", page, r.Body["totalResults"])
			}
			got = append(got, f.names(listIDs(r)...)...)
			next, _ := r.Body["nextCursor"].(string)
			if next == "" {
				return got
			}
			if strings.Trim(next, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != "" {
				t.Errorf("nextCursor %q has characters outside the unreserved set", next)
			}
			cursor = next
		}
		t.Fatal("no end after 10 pages")
		return nil
	}
	t.Run("get", func(t *testing.T) {
		got := walk(t, "count=2", false)
		if diff := cmp.Diff([]string{"alice", "bob", "carol", "dave", "erin"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("get sorted filtered", func(t *testing.T) {
		got := walk(t, "count=1&sortBy=userName&sortOrder=descending&filter="+url.QueryEscape(`userName ne "x"`), false)
		if diff := cmp.Diff([]string{"erin", "dave", "carol", "bob", "alice"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("bare cursor parameter", func(t *testing.T) {
		r := h.with(t).must(h.with(t).do("GET", "/Users?count=2&cursor", nil), http.StatusOK)
		if _, ok := r.Body["nextCursor"].(string); !ok || len(listIDs(r)) != 2 {
			t.Errorf("?cursor (no value) is a first cursor page: %s", r.Raw)
		}
		if _, ok := r.Body["startIndex"]; ok {
			t.Errorf("cursor page with startIndex: %s", r.Raw)
		}
	})
	t.Run("search", func(t *testing.T) {
		got := walk(t, "", true)
		if diff := cmp.Diff([]string{"alice", "bob", "carol", "dave", "erin"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("count above the maximum", func(t *testing.T) {
		r := h.with(t).must(h.with(t).do("GET", "/Users?count=50&cursor=", nil), http.StatusOK)
		if len(listIDs(r)) != 4 {
			t.Errorf("%d resources, want 4 (maxPageSize)", len(listIDs(r)))
		}
		next := r.str("nextCursor")
		// The continuation repeats count=50: it is the same query.
		r = h.with(t).must(h.with(t).do("GET", "/Users?count=50&cursor="+url.QueryEscape(next), nil), http.StatusOK)
		if diff := cmp.Diff([]string{"erin"}, f.names(listIDs(r)...)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	first := h.must(h.do("GET", "/Users?count=2&cursor=", nil), http.StatusOK)
	next := first.str("nextCursor")
	if next == "" {
		t.Fatalf("no nextCursor: %s", first.Raw)
	}
	tampered := []byte(next)
	tampered[len(tampered)/3] ^= 1
	if tampered[len(tampered)/3] == '.' || tampered[len(tampered)/3] == '/' {
		tampered[len(tampered)/3] = 'x'
	}
	errs := []struct {
		name, query, scimType string
	}{
		{"tampered", "count=2&cursor=" + url.QueryEscape(string(tampered)), "invalidCursor"},
		{"garbage", "count=2&cursor=abc", "invalidCursor"},
		{"signature only", "count=2&cursor=." + url.QueryEscape(next[strings.Index(next, ".")+1:]), "invalidCursor"},
		{"other query", "count=2&filter=" + url.QueryEscape(`active eq true`) + "&cursor=" + url.QueryEscape(next), "invalidCursor"},
		{"other sort", "count=2&sortBy=userName&cursor=" + url.QueryEscape(next), "invalidCursor"},
		{"changed count", "count=3&cursor=" + url.QueryEscape(next), "invalidCount"},
		{"count omitted", "cursor=" + url.QueryEscape(next), "invalidCount"},
		{"with startIndex", "count=2&startIndex=1&cursor=" + url.QueryEscape(next), "invalidValue"},
		{"first page with startIndex", "count=2&startIndex=3&cursor=", "invalidValue"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			checkError(t, h.with(t).do("GET", "/Users?"+tc.query, nil), http.StatusBadRequest, tc.scimType)
		})
	}
	// A cursor is bound to its resource type and caller.
	checkError(t, h.do("GET", "/Groups?count=2&cursor="+url.QueryEscape(next), nil), http.StatusBadRequest, "invalidCursor")
	checkError(t, h.do("POST", "/Users/.search", map[string]any{"count": 2, "cursor": string(tampered)}), http.StatusBadRequest, "invalidCursor")
	checkError(t, h.do("POST", "/Users/.search", map[string]any{"count": 2, "cursor": "", "startIndex": 1}), http.StatusBadRequest, "invalidValue")

	// Cursor walks see every user that exists throughout, under deletes.
	r := h.must(h.do("GET", "/Users?count=2&cursor=", nil), http.StatusOK)
	got := listIDs(r)
	h.must(h.do("DELETE", "/Users/"+got[0], nil), http.StatusNoContent)
	h.must(h.do("DELETE", "/Users/"+got[1], nil), http.StatusNoContent)
	for c := r.str("nextCursor"); c != ""; {
		r = h.must(h.do("GET", "/Users?count=2&cursor="+url.QueryEscape(c), nil), http.StatusOK)
		got = append(got, listIDs(r)...)
		c = r.str("nextCursor")
	}
	if diff := cmp.Diff([]string{"alice", "bob", "carol", "dave", "erin"}, f.names(got...)); diff != "" {
		t.Errorf("cursor walk under deletes (-want +got):\n%s", diff)
	}
}

// TestQuerySearch: POST /Users/.search, /Groups/.search and /.search.
func TestQuerySearch(t *testing.T) {
	f := newQueryFixture(t)
	h := f.h
	r := h.must(h.do("POST", "/Users/.search", map[string]any{
		"schemas":    []string{schema.SearchURN},
		"attributes": []string{"userName", "emails.value"},
		"filter":     `userName sw "a" or userName sw "d"`,
		"sortBy":     "userName",
		"sortOrder":  "descending",
		"startIndex": 1,
		"count":      10,
	}), http.StatusOK)
	want := []any{
		map[string]any{"id": f.dave, "userName": "dave@example.com", "emails": []any{map[string]any{"value": "dave@example.com"}}},
		map[string]any{"id": f.alice, "userName": "Alice@Example.com", "emails": []any{map[string]any{"value": "alice@example.com"}}},
	}
	if diff := cmp.Diff(want, stripSchemas(r.Body["Resources"])); diff != "" {
		t.Errorf("/Users/.search (-want +got):\n%s", diff)
	}
	if s, _ := r.Body["schemas"].([]any); len(s) != 1 || s[0] != schema.ListResponseURN {
		t.Errorf("schemas = %v", r.Body["schemas"])
	}
	// attributes as a comma-separated string is accepted too.
	r = h.must(h.do("POST", "/Users/.search", map[string]any{"attributes": "userName,active", "filter": `active eq false`}), http.StatusOK)
	want = []any{
		map[string]any{"id": f.bob, "userName": "bob@example.com", "active": false},
		map[string]any{"id": f.dave, "userName": "dave@example.com", "active": false},
	}
	if diff := cmp.Diff(want, stripSchemas(r.Body["Resources"])); diff != "" {
		t.Errorf("/Users/.search with a string (-want +got):\n%s", diff)
	}
	r = h.must(h.do("POST", "/Groups/.search", map[string]any{"schemas": []string{schema.SearchURN}, "filter": `displayName eq "staff"`, "excludedAttributes": []string{"members"}}), http.StatusOK)
	if ids := listIDs(r); len(ids) != 1 || ids[0] != f.staff {
		t.Errorf("/Groups/.search: %s", r.Raw)
	}
	if _, ok := dig(r.Body, "Resources", "0").(map[string]any)["members"]; ok {
		t.Errorf("/Groups/.search excludedAttributes=members returned members")
	}
	for _, body := range []map[string]any{
		{"attributes": []any{1, 2}},
		{"filter": 42},
		{"count": "many"},
		{"startIndex": true},
	} {
		checkError(t, h.do("POST", "/Users/.search", body), http.StatusBadRequest, "invalidSyntax")
	}

	// Root search: users, then groups.
	all := []string{"alice", "bob", "carol", "dave", "erin", "Staff", "Sales"}
	rootTests := []struct {
		body map[string]any
		want []string
		tot  int
	}{
		{map[string]any{}, all, 7},
		{map[string]any{"count": 3}, all[:3], 7},
		{map[string]any{"startIndex": 4, "count": 3}, all[3:6], 7},
		{map[string]any{"startIndex": 6, "count": 3}, all[5:], 7},
		{map[string]any{"startIndex": 9}, nil, 7},
		{map[string]any{"count": 0}, nil, 7},
		{map[string]any{"filter": `meta.created pr`}, all, 7},
		{map[string]any{"filter": `userName sw "b"`}, []string{"bob"}, 1},
		{map[string]any{"filter": `displayName eq "Sales"`}, []string{"Sales"}, 1},
		{map[string]any{"filter": `id eq "` + f.staff + `" or id eq "` + f.erin + `"`}, []string{"erin", "Staff"}, 2},
	}
	for _, tc := range rootTests {
		b, _ := json.Marshal(tc.body)
		t.Run("root "+string(b), func(t *testing.T) {
			r := h.with(t).must(h.with(t).do("POST", "/.search", tc.body), http.StatusOK)
			if diff := cmp.Diff(tc.want, f.names(listIDs(r)...), cmpNilEmpty); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if r.Body["totalResults"] != jsonInt(tc.tot) {
				t.Errorf("totalResults %v, want %d", r.Body["totalResults"], tc.tot)
			}
		})
	}
	checkError(t, h.do("POST", "/.search", map[string]any{"filter": `shoeSize eq 1`}), http.StatusBadRequest, "invalidFilter")
}

// stripSchemas drops "schemas" from listed resources.
func stripSchemas(v any) any {
	list, _ := v.([]any)
	out := make([]any, len(list))
	for i, x := range list {
		m := map[string]any{}
		for k, v := range x.(map[string]any) {
			if k != "schemas" {
				m[k] = v
			}
		}
		out[i] = m
	}
	return out
}

// TestQueryProjection: attributes and excludedAttributes on every read and
// write.
func TestQueryProjection(t *testing.T) {
	f := newQueryFixture(t)
	h := f.h
	ent := schema.EnterpriseURN
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		wantKeys           []string // top-level keys of the (first) resource
		check              func(t *testing.T, doc map[string]any)
	}{
		{"list attributes=userName", "GET", "/Users?filter=" + url.QueryEscape(`userName eq "alice@example.com"`) + "&attributes=userName", nil, 200,
			[]string{"id", "schemas", "userName"}, nil},
		{"list sub-attributes", "GET", "/Users?filter=" + url.QueryEscape(`userName eq "alice@example.com"`) + "&attributes=name.givenName,emails.value", nil, 200,
			[]string{"emails", "id", "name", "schemas"}, func(t *testing.T, doc map[string]any) {
				want := map[string]any{"givenName": "Alice"}
				if diff := cmp.Diff(want, doc["name"]); diff != "" {
					t.Errorf("name (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]any{map[string]any{"value": "alice@example.com"}}, doc["emails"]); diff != "" {
					t.Errorf("emails (-want +got):\n%s", diff)
				}
			}},
		{"list attributes repeated", "GET", "/Users?filter=" + url.QueryEscape(`userName eq "alice@example.com"`) + "&attributes=userName&attributes=title,EMAILS", nil, 200,
			[]string{"emails", "id", "schemas", "userName"}, nil},
		{"list excluded", "GET", "/Users?filter=" + url.QueryEscape(`userName eq "alice@example.com"`) + "&excludedAttributes=emails,meta,groups,name.familyName," + url.QueryEscape(customURN), nil, 200,
			[]string{"active", "externalId", "id", "name", "schemas", "userName", ent}, func(t *testing.T, doc map[string]any) {
				if diff := cmp.Diff(map[string]any{"givenName": "Alice"}, doc["name"]); diff != "" {
					t.Errorf("name (-want +got):\n%s", diff)
				}
			}},
		{"excluded id is still returned", "GET", "/Users/" + f.alice + "?excludedAttributes=id,userName,schemas", nil, 200,
			nil, func(t *testing.T, doc map[string]any) {
				if doc["id"] != f.alice {
					t.Errorf("id = %v", doc["id"])
				}
				if _, ok := doc["userName"]; ok {
					t.Error("userName not excluded")
				}
			}},
		{"password is never returned", "GET", "/Users/" + f.alice + "?attributes=password,userName", nil, 200,
			[]string{"id", "schemas", "userName"}, nil},
		{"extension attribute", "GET", "/Users/" + f.alice + "?attributes=" + url.QueryEscape(ent+":department"), nil, 200,
			[]string{"id", "schemas", ent}, func(t *testing.T, doc map[string]any) {
				if diff := cmp.Diff(map[string]any{"department": "Engineering"}, doc[ent]); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
		{"whole extension", "GET", "/Users/" + f.alice + "?attributes=" + url.QueryEscape(customURN), nil, 200,
			[]string{"id", "schemas", customURN}, nil},
		{"meta sub-attribute", "GET", "/Users/" + f.alice + "?attributes=meta.version", nil, 200,
			[]string{"id", "meta", "schemas"}, func(t *testing.T, doc map[string]any) {
				if m := doc["meta"].(map[string]any); len(m) != 1 || m["version"] == nil {
					t.Errorf("meta = %v", m)
				}
			}},
		{"groups of a user", "GET", "/Users/" + f.alice + "?attributes=groups.display", nil, 200,
			[]string{"groups", "id", "schemas"}, func(t *testing.T, doc map[string]any) {
				if diff := cmp.Diff([]any{map[string]any{"display": "Staff"}}, doc["groups"]); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
		{"POST", "POST", "/Users?attributes=userName,name.familyName", map[string]any{"userName": "frank@example.com", "name": map[string]any{"givenName": "Frank", "familyName": "Ford"}, "password": "Zebra-Passw0rd"}, 201,
			[]string{"id", "name", "schemas", "userName"}, nil},
		{"PUT", "PUT", "/Users/" + f.erin + "?excludedAttributes=meta,active,groups," + url.QueryEscape(ent), map[string]any{"userName": "erin@example.com", "nickName": "E", "password": "Zebra-Passw0rd"}, 200,
			[]string{"id", "nickName", "schemas", "userName"}, nil},
		{"PATCH", "PATCH", "/Users/" + f.dave + "?attributes=title", patchBody(`{"op":"replace","path":"title","value":"CEO"}`), 200,
			[]string{"id", "schemas", "title"}, nil},
		{"group without members", "GET", "/Groups/" + f.staff + "?excludedAttributes=members", nil, 200,
			[]string{"displayName", "id", "meta", "schemas"}, nil},
		{"group members only", "GET", "/Groups/" + f.sales + "?attributes=members.value", nil, 200,
			[]string{"id", "members", "schemas"}, func(t *testing.T, doc map[string]any) {
				if diff := cmp.Diff([]any{map[string]any{"value": f.bob}}, doc["members"]); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
		{"group list attributes", "GET", "/Groups?attributes=displayName&filter=" + url.QueryEscape(`displayName eq "Staff"`), nil, 200,
			[]string{"displayName", "id", "schemas"}, nil},
		{"group PATCH excluded members", "PATCH", "/Groups/" + f.sales + "?excludedAttributes=members", patchBody(`{"op":"add","path":"members","value":[{"value":"` + f.dave + `"}]}`), 200,
			[]string{"displayName", "id", "meta", "schemas"}, nil},
		{"group POST", "POST", "/Groups?attributes=displayName", map[string]any{"displayName": "New", "members": []map[string]any{{"value": f.bob}}}, 201,
			[]string{"displayName", "id", "schemas"}, nil},
		{"unknown attribute names are ignored", "GET", "/Users/" + f.bob + "?attributes=userName,shoeSize", nil, 200,
			[]string{"id", "schemas", "userName"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.with(t).must(h.with(t).do(tc.method, tc.path, tc.body), tc.status)
			doc := r.Body
			if res, ok := r.Body["Resources"].([]any); ok {
				if len(res) == 0 {
					t.Fatalf("no resources: %s", r.Raw)
				}
				doc = res[0].(map[string]any)
			}
			if _, ok := doc["password"]; ok {
				t.Errorf("password returned: %s", r.Raw)
			}
			if doc["id"] == nil {
				t.Errorf("id not returned: %s", r.Raw)
			}
			if tc.wantKeys != nil {
				want := slices.Clone(tc.wantKeys)
				sort.Strings(want)
				if diff := cmp.Diff(want, keys(doc)); diff != "" {
					t.Errorf("keys (-want +got):\n%s", diff)
				}
			}
			// schemas lists only the extensions present.
			for _, s := range doc["schemas"].([]any) {
				if s != schema.UserURN && s != schema.GroupURN && doc[s.(string)] == nil {
					t.Errorf("schemas lists %s, which the document does not contain", s)
				}
			}
			if tc.check != nil {
				tc.check(t, doc)
			}
		})
	}
	// The password set above works as a stored hash only: never listed.
	r := h.must(h.do("GET", "/Users?count=100", nil), http.StatusOK)
	if strings.Contains(string(r.Raw), "Passw0rd") || strings.Contains(string(r.Raw), "password") {
		t.Errorf("a listing shows a password: %s", r.Raw)
	}
	if !slices.Contains(listIDs(r), f.alice) {
		t.Errorf("listing lacks alice")
	}
}

// TestQueryRepeatedParameters: a list parameter that takes one value,
// given twice (as is, or in two spellings, which Go's map order used to
// pick between), is refused rather than resolved by position; attributes
// and excludedAttributes lists are joined (red-team finding).
func TestQueryRepeatedParameters(t *testing.T) {
	f := newQueryFixture(t)
	h := f.h
	alice, dave := url.QueryEscape(`userName eq "alice@example.com"`), url.QueryEscape(`userName eq "dave@example.com"`)
	for _, q := range []struct{ query, scimType string }{
		{"filter=" + alice + "&filter=" + dave, "invalidFilter"},
		{"filter=" + alice + "&Filter=" + dave, "invalidFilter"},
		{"filter=" + alice + "&FILTER=" + alice, "invalidFilter"},
		{"count=1&count=3", "invalidValue"},
		{"count=1&Count=1", "invalidValue"},
		{"startIndex=1&startindex=2", "invalidValue"},
		{"sortBy=userName&sortBy=title", "invalidValue"},
		{"sortOrder=ascending&SortOrder=descending", "invalidValue"},
		{"cursor=&cursor=", "invalidValue"},
	} {
		t.Run(q.query, func(t *testing.T) {
			h := h.with(t)
			r := h.do("GET", "/Users?"+q.query, nil)
			checkError(t, r, http.StatusBadRequest, q.scimType)
			if !strings.Contains(r.str("detail"), "more than once") {
				t.Errorf("detail: %q", r.str("detail"))
			}
			checkError(t, h.do("GET", "/Groups?"+q.query, nil), http.StatusBadRequest, q.scimType)
		})
	}
	// One of each, and repeated attribute lists, are taken.
	r := h.must(h.do("GET", "/Users?filter="+alice+"&count=5&startIndex=1&attributes=userName&attributes=title&excludedAttributes=emails", nil), http.StatusOK)
	if r.Body["totalResults"] != jsonInt(1) {
		t.Errorf("one of each: %s", r.Raw)
	}
}

package scim_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parallel runs n requests at once (they start together) and returns the
// responses in order.
func parallel(h *harness, n int, req func(i int) *response) []*response {
	out := make([]*response, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			out[i] = req(i)
		}()
	}
	start.Done()
	wg.Wait()
	return out
}

func statusCounts(rs []*response) map[int]int {
	out := map[int]int{}
	for _, r := range rs {
		out[r.Status]++
	}
	return out
}

// doConcurrent is h.do for goroutines: a failure is reported, not fatal,
// and comes back as status 0.
func (h *harness) doConcurrent(t *testing.T, method, path string, body any) *response {
	r, err := h.request(method, path, body)
	if err != nil {
		t.Error(err)
		return &response{}
	}
	return r
}

func TestConcurrentCreates(t *testing.T) {
	const n = 100
	tests := []struct {
		name   string
		opts   []func(*options)
		want   map[int]int
		groups bool
	}{
		{"strict users", []func(*options){withProfile(rfcProfile())}, map[int]int{201: 1, 409: n - 1}, false},
		{"idaas users", nil, map[int]int{201: 1, 200: n - 1}, false},
		{"strict groups", []func(*options){withProfile(rfcProfile())}, map[int]int{201: 1, 409: n - 1}, true},
		{"idaas groups", nil, map[int]int{201: 1, 200: n - 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts...)
			rs := parallel(h, n, func(i int) *response {
				if tc.groups {
					return h.doConcurrent(t, "POST", "/Groups", map[string]any{"displayName": "Same Group", "externalId": "ext-g"})
				}
				// Case differs between requests: userName is unique
				// case-insensitively.
				name := "same@example.com"
				if i%2 == 1 {
					name = "SAME@example.com"
				}
				return h.doConcurrent(t, "POST", "/Users", map[string]any{"userName": name, "externalId": "ext-same", "displayName": "Same " + strconv.Itoa(i)})
			})
			if diff := cmp.Diff(tc.want, statusCounts(rs)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			ids := map[string]bool{}
			for _, r := range rs {
				switch r.Status {
				case http.StatusCreated, http.StatusOK:
					ids[r.str("id")] = true
				case http.StatusConflict:
					if r.str("scimType") != "uniqueness" || r.str("status") != "409" {
						t.Errorf("409 body: %s", r.Raw)
					}
				}
			}
			if len(ids) != 1 {
				t.Errorf("responses name %d resources, want 1", len(ids))
			}
			path := "/Users"
			if tc.groups {
				path = "/Groups"
			}
			r := h.must(h.do("GET", path, nil), http.StatusOK)
			if r.Body["totalResults"] != jsonInt(1) {
				t.Errorf("%s holds %v resources, want 1", path, r.Body["totalResults"])
			}
		})
	}
}

func TestConcurrentMembership(t *testing.T) {
	const n = 50
	h := newHarness(t)
	users := make([]string, n)
	ops := make([]map[string]any, n)
	for i := range n {
		ops[i] = postUser("u"+strconv.Itoa(i), "member"+strconv.Itoa(i)+"@example.com")
	}
	r := h.must(h.do("POST", "/Bulk", bulkBody(0, ops...)), http.StatusOK)
	ids := bulkLocations(r)
	for i := range n {
		users[i] = ids["u"+strconv.Itoa(i)]
	}
	gid := h.createGroup("Crowded")

	// Each request adds a different member; Entra and Okta shapes mixed.
	rs := parallel(h, n, func(i int) *response {
		op := `{"op":"add","path":"members","value":[{"value":"` + users[i] + `"}]}`
		if i%2 == 1 {
			op = `{"op":"Add","path":"members","value":[{"$ref":null,"value":"` + users[i] + `"}]}`
		}
		return h.doConcurrent(t, "PATCH", "/Groups/"+gid, patchBody(op))
	})
	if diff := cmp.Diff(map[int]int{200: n}, statusCounts(rs)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	g := h.must(h.do("GET", "/Groups/"+gid, nil), http.StatusOK)
	got := memberValues(g)
	for i, u := range users {
		if !got[u] {
			t.Errorf("member %d (%s) was lost", i, u)
		}
	}
	if len(got) != n {
		t.Errorf("%d members, want %d", len(got), n)
	}

	// Removing them in parallel, half by filter, half by value list, while
	// the group is renamed: everyone goes, the rename stays.
	rs = parallel(h, n+1, func(i int) *response {
		if i == n {
			return h.doConcurrent(t, "PATCH", "/Groups/"+gid, patchBody(`{"op":"replace","path":"displayName","value":"Empty"}`))
		}
		op := `{"op":"remove","path":"members[value eq \"` + users[i] + `\"]"}`
		if i%2 == 1 {
			op = `{"op":"Remove","path":"members","value":[{"value":"` + users[i] + `"}]}`
		}
		return h.doConcurrent(t, "PATCH", "/Groups/"+gid, patchBody(op))
	})
	if diff := cmp.Diff(map[int]int{200: n + 1}, statusCounts(rs)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	g = h.must(h.do("GET", "/Groups/"+gid, nil), http.StatusOK)
	if len(memberValues(g)) != 0 || g.str("displayName") != "Empty" {
		t.Errorf("after parallel removals: %s", g.Raw)
	}
	// Every user's version moved with its membership.
	for _, u := range users[:3] {
		r := h.must(h.do("GET", "/Users/"+u, nil), http.StatusOK)
		if r.str("meta", "version") == `W/"1"` {
			t.Errorf("user %s keeps version 1 after joining and leaving a group", u)
		}
	}
}

// TestConcurrentUserPatches: parallel PATCHes of different attributes of one
// user all take effect.
func TestConcurrentUserPatches(t *testing.T) {
	const n = 30
	h := newHarness(t, withProfile(rfcProfile()))
	uid := h.createUser(map[string]any{"userName": "busy@example.com"})
	rs := parallel(h, n, func(i int) *response {
		return h.doConcurrent(t, "PATCH", "/Users/"+uid, patchBody(`{"op":"add","path":"roles","value":[{"value":"role`+strconv.Itoa(i)+`"}]}`))
	})
	if diff := cmp.Diff(map[int]int{200: n}, statusCounts(rs)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	r := h.must(h.do("GET", "/Users/"+uid, nil), http.StatusOK)
	roles, _ := r.Body["roles"].([]any)
	if len(roles) != n {
		t.Errorf("%d roles, want %d: %s", len(roles), n, r.Raw)
	}
	if r.str("meta", "version") != `W/"`+strconv.Itoa(n+1)+`"` {
		t.Errorf("version %s after %d changes", r.str("meta", "version"), n)
	}
}

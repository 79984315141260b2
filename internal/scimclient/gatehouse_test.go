package scimclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scimclient"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func mustCreate(t *testing.T, c *scimclient.Client, doc map[string]any) map[string]any {
	t.Helper()
	u, err := c.CreateUser(t.Context(), doc)
	if err != nil {
		t.Fatalf("create %v: %v", doc["userName"], err)
	}
	if scimclient.ID(u) == "" {
		t.Fatalf("created user has no id: %v", u)
	}
	return u
}

// TestPaging walks more than one page, with and without a filter, and
// sees every user exactly once.
func TestPaging(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	c := g.client(t, func(cfg *scimclient.Config) { cfg.BaseURL = p.URL + "/scim/v2"; cfg.PageSize = 10 })
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("pager%02d@example.com", i)
		mustCreate(t, c, map[string]any{"userName": name, "title": map[bool]string{true: "even", false: "odd"}[i%2 == 0]})
		want = append(want, name)
	}
	p.reset()
	var got []string
	var pages []int
	err := c.ListUsers(t.Context(), "", func(pg *scimclient.Page) error {
		pages = append(pages, pg.StartIndex)
		if pg.TotalResults != 25 {
			t.Errorf("totalResults %d", pg.TotalResults)
		}
		for _, u := range pg.Resources {
			got = append(got, u["userName"].(string))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 11, 21}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	if n := p.count("GET /scim/v2/Users"); n != 3 {
		t.Errorf("%d list requests, want 3", n)
	}
	// A filter that matches 13 of them: two pages.
	var even []string
	err = c.ListUsers(t.Context(), scimclient.Eq("title", "even"), func(pg *scimclient.Page) error {
		for _, u := range pg.Resources {
			even = append(even, u["userName"].(string))
		}
		return nil
	})
	if err != nil || len(even) != 13 {
		t.Errorf("filtered walk: %d users, %v", len(even), err)
	}
	// The callback's error stops the walk.
	stop := errors.New("stop")
	if err := c.ListUsers(t.Context(), "", func(*scimclient.Page) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}
}

// TestFilterEscaping: values with quotes, backslashes and filter syntax
// stay one value.
func TestFilterEscaping(t *testing.T) {
	g := startGatehouse(t)
	c := g.client(t, nil)
	names := []string{
		`o"brien\x@example.com`,
		`back\\slash"" and "quote`,
		`x" or userName pr or userName eq "y`,
		`space and unicode é😀 \u0041`,
	}
	ids := map[string]string{}
	for _, n := range names {
		ids[n] = scimclient.ID(mustCreate(t, c, map[string]any{"userName": n}))
	}
	mustCreate(t, c, map[string]any{"userName": "bystander@example.com"})
	for _, n := range names {
		u, err := c.FindUser(t.Context(), scimclient.Eq("userName", n))
		if err != nil {
			t.Errorf("find %q: %v", n, err)
			continue
		}
		if u["userName"] != n || scimclient.ID(u) != ids[n] {
			t.Errorf("find %q: got %v", n, u["userName"])
		}
		// And with And.
		u, err = c.FindUser(t.Context(), scimclient.And(scimclient.Eq("userName", n), scimclient.Eq("id", ids[n])))
		if err != nil || scimclient.ID(u) != ids[n] {
			t.Errorf("find %q with and: %v %v", n, u, err)
		}
	}
	if _, err := c.FindUser(t.Context(), scimclient.Eq("userName", `nobody"`)); !errors.Is(err, scimclient.ErrNotFound) {
		t.Errorf("no match: %v", err)
	}
	// A filter that matches several is ambiguous, not the first one.
	if _, err := c.FindUser(t.Context(), `userName pr`); !errors.Is(err, scimclient.ErrAmbiguous) {
		t.Errorf("several matches: %v", err)
	}
	// A filter the server refuses is a permanent SCIM error.
	_, err := c.FindUser(t.Context(), `userName eq`)
	var se *scimclient.Error
	if !errors.As(err, &se) || se.Status != 400 || se.ScimType != "invalidFilter" || se.Retryable {
		t.Errorf("bad filter: %#v", err)
	}
}

// TestUpdatePatchAndPut updates a user through PATCH (the server says it
// supports it) and through PUT (a ServiceProviderConfig override says
// not): only what differs is sent, attributes not named keep their
// values, and an update that changes nothing sends nothing.
func TestUpdatePatchAndPut(t *testing.T) {
	for _, mode := range []string{"PATCH", "PUT"} {
		t.Run(mode, func(t *testing.T) {
			g := startGatehouse(t)
			p := newProxy(t, g.url)
			c := g.client(t, func(cfg *scimclient.Config) {
				cfg.BaseURL = p.URL + "/scim/v2"
				if mode == "PUT" {
					cfg.ServiceProviderConfig = &scimclient.ServiceProviderConfig{Patch: false, Filter: true}
				}
			})
			ctx := t.Context()
			u := mustCreate(t, c, map[string]any{
				"userName": "ada@example.com", "externalId": "E1", "displayName": "Ada", "title": "Engineer",
				"name":     map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
				"emails":   []any{map[string]any{"value": "ada@example.com", "type": "work"}},
				enterprise: map[string]any{"department": "Engineering", "employeeNumber": "1001"},
			})
			id := scimclient.ID(u)
			p.reset()
			desired := map[string]any{
				"userName": "ada@example.com", "displayName": "Ada L.",
				"name":     map[string]any{"givenName": "Augusta"},
				"emails":   []any{map[string]any{"value": "ada@example.com", "type": "work"}},
				enterprise: map[string]any{"department": "Research"},
				"nickName": nil, // absent, stays absent
			}
			got, err := c.UpdateUser(ctx, id, u, desired)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{mode + " /scim/v2/Users/" + id}
			if mode == "PATCH" {
				want = append([]string{"GET /scim/v2/ServiceProviderConfig"}, want...)
			}
			if diff := cmp.Diff(want, p.log()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			cur, err := c.GetUser(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			check := func(doc map[string]any) {
				t.Helper()
				name, _ := doc["name"].(map[string]any)
				ent, _ := doc[enterprise].(map[string]any)
				if doc["displayName"] != "Ada L." || doc["title"] != "Engineer" || doc["externalId"] != "E1" ||
					name["givenName"] != "Augusta" || name["familyName"] != "Lovelace" ||
					ent["department"] != "Research" || ent["employeeNumber"] != "1001" || doc["active"] != true {
					t.Errorf("after update: %v", doc)
				}
			}
			check(got)
			check(cur)
			// Nothing differs: nothing is sent.
			p.reset()
			if _, err := c.UpdateUser(ctx, id, cur, desired); err != nil {
				t.Fatal(err)
			}
			if n := len(p.log()); n != 0 {
				t.Errorf("an update that changes nothing sent %v", p.log())
			}
			// A null removes.
			if _, err := c.UpdateUser(ctx, id, cur, map[string]any{"title": nil}); err != nil {
				t.Fatal(err)
			}
			cur, _ = c.GetUser(ctx, id)
			if _, ok := cur["title"]; ok || cur["displayName"] != "Ada L." {
				t.Errorf("after removing title: %v", cur)
			}
			// PatchUser and ReplaceUser directly.
			if _, err := c.PatchUser(ctx, id, []scimclient.PatchOp{{Op: "replace", Path: "title", Value: "Countess"}}); err != nil {
				t.Fatal(err)
			}
			r, err := c.ReplaceUser(ctx, id, map[string]any{"userName": "ada@example.com", "id": "ignored", "meta": map[string]any{}})
			if err != nil || r["title"] != nil || r["userName"] != "ada@example.com" {
				t.Errorf("replace: %v %v", r, err)
			}
		})
	}
}

// TestDeactivateAndDelete: deactivation keeps the user readable; delete is
// idempotent.
func TestDeactivateAndDelete(t *testing.T) {
	for _, mode := range []string{"PATCH", "PUT"} {
		t.Run(mode, func(t *testing.T) {
			g := startGatehouse(t)
			c := g.client(t, func(cfg *scimclient.Config) {
				if mode == "PUT" {
					cfg.ServiceProviderConfig = &scimclient.ServiceProviderConfig{Filter: true}
				}
			})
			ctx := t.Context()
			id := scimclient.ID(mustCreate(t, c, map[string]any{"userName": "leaver@example.com", "title": "Clerk"}))
			if err := c.DeactivateUser(ctx, id); err != nil {
				t.Fatal(err)
			}
			u, err := c.GetUser(ctx, id)
			if err != nil || u["active"] != false || u["title"] != "Clerk" {
				t.Fatalf("after deactivate: %v %v", u, err)
			}
			if err := c.DeactivateUser(ctx, id); err != nil {
				t.Errorf("deactivate twice: %v", err)
			}
			if err := c.ActivateUser(ctx, id); err != nil {
				t.Fatal(err)
			}
			if u, _ := c.GetUser(ctx, id); u["active"] != true {
				t.Errorf("after activate: %v", u)
			}
			if err := c.DeleteUser(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteUser(ctx, id); err != nil {
				t.Errorf("delete twice: %v", err)
			}
			_, err = c.GetUser(ctx, id)
			if !scimclient.IsNotFound(err) {
				t.Errorf("get after delete: %v", err)
			}
			if err := c.DeactivateUser(ctx, id); !scimclient.IsNotFound(err) {
				t.Errorf("deactivate a deleted user: %v", err)
			}
		})
	}
}

// groupsOf returns the display names of the groups user id is in.
func groupsOf(t *testing.T, c *scimclient.Client, id string) []string {
	t.Helper()
	u, err := c.GetUser(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	list, _ := u["groups"].([]any)
	for _, el := range list {
		out = append(out, el.(map[string]any)["display"].(string))
	}
	slices.Sort(out)
	return out
}

// TestGroups: create, find, membership (with PATCH and with read and
// replace), delete.
func TestGroups(t *testing.T) {
	for _, mode := range []string{"PATCH", "PUT"} {
		t.Run(mode, func(t *testing.T) {
			g := startGatehouse(t)
			p := newProxy(t, g.url)
			c := g.client(t, func(cfg *scimclient.Config) {
				cfg.BaseURL = p.URL + "/scim/v2"
				if mode == "PUT" {
					cfg.ServiceProviderConfig = &scimclient.ServiceProviderConfig{Filter: true}
				}
			})
			ctx := t.Context()
			ada := scimclient.ID(mustCreate(t, c, map[string]any{"userName": "ada@example.com"}))
			bob := scimclient.ID(mustCreate(t, c, map[string]any{"userName": "bob@example.com"}))
			grp, err := c.CreateGroup(ctx, map[string]any{"displayName": "engineering-readers", "members": []any{map[string]any{"value": bob}}})
			if err != nil {
				t.Fatal(err)
			}
			gid := scimclient.ID(grp)
			found, err := c.FindGroup(ctx, scimclient.Eq("displayName", "Engineering-Readers"))
			if err != nil || scimclient.ID(found) != gid {
				t.Fatalf("find group: %v %v", found, err)
			}
			if _, ok := found["members"]; ok {
				t.Errorf("FindGroup returned the members: %v", found)
			}
			if _, err := c.FindGroup(ctx, scimclient.Eq("displayName", "nobody")); !scimclient.IsNotFound(err) {
				t.Errorf("missing group: %v", err)
			}
			for range 2 { // twice: adding a member again is harmless
				if err := c.AddMember(ctx, gid, ada); err != nil {
					t.Fatal(err)
				}
			}
			full, err := c.GetGroup(ctx, gid)
			if err != nil || len(full["members"].([]any)) != 2 {
				t.Fatalf("members: %v %v", full["members"], err)
			}
			if diff := cmp.Diff([]string{"engineering-readers"}, groupsOf(t, c, ada)); diff != "" {
				t.Errorf("ada's groups: %s", diff)
			}
			for range 2 {
				if err := c.RemoveMember(ctx, gid, ada); err != nil {
					t.Fatal(err)
				}
			}
			if got := groupsOf(t, c, ada); len(got) != 0 {
				t.Errorf("ada's groups after removal: %v", got)
			}
			if got := groupsOf(t, c, bob); len(got) != 1 {
				t.Errorf("bob lost his membership: %v", got)
			}
			if mode == "PATCH" && p.count("PUT ") != 0 || mode == "PUT" && p.count("PATCH ") != 0 {
				t.Errorf("%s mode sent %v", mode, p.log())
			}
			var listed []string
			if err := c.ListGroups(ctx, "", func(pg *scimclient.Page) error {
				for _, r := range pg.Resources {
					listed = append(listed, r["displayName"].(string))
				}
				return nil
			}); err != nil || len(listed) != 1 {
				t.Errorf("list groups: %v %v", listed, err)
			}
			if err := c.DeleteGroup(ctx, gid); err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteGroup(ctx, gid); err != nil {
				t.Errorf("delete group twice: %v", err)
			}
		})
	}
}

// TestConflict: a duplicate create is a typed conflict on a strict
// server; an IDaaS-style server updates instead.
func TestConflict(t *testing.T) {
	g := startGatehouse(t)
	strict := g.client(t, func(cfg *scimclient.Config) { cfg.Auth.BearerToken = g.rfcToken })
	ctx := t.Context()
	mustCreate(t, strict, map[string]any{"userName": "dup@example.com", "externalId": "X1"})
	_, err := strict.CreateUser(ctx, map[string]any{"userName": "DUP@example.com"})
	if !scimclient.IsConflict(err) {
		t.Fatalf("duplicate on a strict server: %v", err)
	}
	var se *scimclient.Error
	if !errors.As(err, &se) || se.Status != 409 || se.ScimType != "uniqueness" || se.Retryable || se.Detail == "" {
		t.Errorf("conflict error: %#v", err)
	}
	if _, err := strict.CreateGroup(ctx, map[string]any{"displayName": "g"}); err != nil {
		t.Fatal(err)
	}
	if _, err := strict.CreateGroup(ctx, map[string]any{"displayName": "G"}); !scimclient.IsConflict(err) {
		t.Errorf("duplicate group: %v", err)
	}
	// IDaaS semantics: the repeated submission updates (200).
	idaas := g.client(t, nil)
	mustCreate(t, idaas, map[string]any{"userName": "again@example.com", "title": "a"})
	u, err := idaas.CreateUser(ctx, map[string]any{"userName": "again@example.com", "title": "b"})
	if err != nil || u["title"] != "b" {
		t.Errorf("idempotent create: %v %v", u, err)
	}
}

// TestOAuthTokenCaching: many calls, concurrent ones included, share one
// access token from Gatehouse's RAM-style token endpoint (expires_in as a
// string); the RFC 6749 style works too.
func TestOAuthTokenCaching(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	for _, style := range []struct{ name, path string }{{scimclient.TokenStyleRAM, "/v1/token"}, {scimclient.TokenStyleRFC6749, "/oauth2/token"}} {
		t.Run(style.name, func(t *testing.T) {
			p.reset()
			c := g.client(t, func(cfg *scimclient.Config) {
				cfg.BaseURL = p.URL + "/scim/v2"
				cfg.Auth = scimclient.Auth{TokenURL: p.URL + style.path, ClientID: g.clientID, ClientSecret: g.secret,
					TokenStyle: style.name, Scope: "/acs/scim"}
			})
			ctx := t.Context()
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Go(func() {
					_, err := c.CreateUser(ctx, map[string]any{"userName": fmt.Sprintf("%s-%d@example.com", style.name, i)})
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for range 10 {
				if _, err := c.FindUser(ctx, scimclient.Eq("userName", style.name+"-3@example.com")); err != nil {
					t.Fatal(err)
				}
			}
			if n := p.count("POST " + style.path); n != 1 {
				t.Errorf("%d token requests for 30 calls, want 1", n)
			}
		})
	}
}

// TestTokenRenewal: a token is renewed once 80 % of its life (Gatehouse:
// 3600 s) has passed, and at once when the server refuses it — once: a
// second refusal is an error.
func TestTokenRenewal(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	c := g.client(t, func(cfg *scimclient.Config) {
		cfg.BaseURL = p.URL + "/scim/v2"
		cfg.Auth = scimclient.Auth{TokenURL: p.URL + "/v1/token", ClientID: g.clientID, ClientSecret: g.secret}
		cfg.Now = clock
	})
	ctx := t.Context()
	call := func() error { _, err := c.GetUser(ctx, "nobody"); return ignoreNotFound(err) }
	if err := call(); err != nil {
		t.Fatal(err)
	}
	advance(2879 * time.Second) // just under 80 % of 3600 s
	if err := call(); err != nil || p.count("POST /v1/token") != 1 {
		t.Fatalf("before 80 %%: %d token requests, %v", p.count("POST /v1/token"), err)
	}
	advance(2 * time.Second)
	if err := call(); err != nil || p.count("POST /v1/token") != 2 {
		t.Fatalf("after 80 %%: %d token requests, %v", p.count("POST /v1/token"), err)
	}
	// One 401 from the SCIM server: a new token, the request again.
	p.reset()
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			w.Header().Set("Content-Type", "application/scim+json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"token revoked"}`)
			return true
		}
		return false
	})
	if err := call(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"GET /scim/v2/Users/nobody", "POST /v1/token", "GET /scim/v2/Users/nobody"}, p.log()); diff != "" {
		t.Errorf("401 then renewal (-want +got):\n%s", diff)
	}
	// Always 401: renewed once, then the error.
	p.reset()
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if strings.HasPrefix(r.URL.Path, "/scim/") {
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	})
	err := call()
	var se *scimclient.Error
	if !errors.As(err, &se) || se.Status != 401 || se.Retryable {
		t.Errorf("persistent 401: %v", err)
	}
	if diff := cmp.Diff([]string{"GET /scim/v2/Users/nobody", "POST /v1/token", "GET /scim/v2/Users/nobody"}, p.log()); diff != "" {
		t.Errorf("persistent 401 (-want +got):\n%s", diff)
	}
	if strings.Contains(err.Error(), g.secret) {
		t.Error("the error shows the secret")
	}
	// A wrong secret: the token endpoint's refusal, without the secret.
	p.setIntercept(nil)
	bad := g.client(t, func(cfg *scimclient.Config) {
		cfg.Auth = scimclient.Auth{TokenURL: g.url + "/v1/token", ClientID: g.clientID, ClientSecret: "gate_cs_wrong-secret-value"}
	})
	_, err = bad.GetUser(ctx, "x")
	if !errors.As(err, &se) || se.Status != 401 || se.ScimType != "invalid_client" || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("wrong secret: %v", err)
	}
}

func ignoreNotFound(err error) error {
	if scimclient.IsNotFound(err) {
		return nil
	}
	return err
}

// TestRetries: 429 and 503 with Retry-After are retried through a flaky
// proxy in front of Gatehouse; 4xx are not; retries are bounded.
func TestRetries(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	c := g.client(t, func(cfg *scimclient.Config) {
		cfg.BaseURL = p.URL + "/scim/v2"
		cfg.Backoff = time.Millisecond
	})
	ctx := t.Context()
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		case 2:
			w.Header().Set("Retry-After", time.Now().Add(-time.Second).UTC().Format(http.TimeFormat))
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "<html><body><h1>503 Service Unavailable</h1></body></html>")
			return true
		}
		return false
	})
	start := time.Now()
	u, err := c.CreateUser(ctx, map[string]any{"userName": "patient@example.com"})
	if err != nil || scimclient.ID(u) == "" {
		t.Fatalf("create through the flaky proxy: %v", err)
	}
	if n := p.count("POST /scim/v2/Users"); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if time.Since(start) < time.Second {
		t.Errorf("Retry-After: 1 not honoured")
	}
	// 4xx: one attempt.
	p.reset()
	p.setIntercept(nil)
	_, err = c.CreateUser(ctx, map[string]any{"userName": ""})
	var se *scimclient.Error
	if !errors.As(err, &se) || se.Status != 400 || se.Retryable || p.count("POST") != 1 {
		t.Errorf("400: %v after %d attempts", err, p.count("POST"))
	}
	// Always 503: 1 + MaxRetries attempts, then the retryable error.
	p.reset()
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "upstream\nconnect error")
		return true
	})
	_, err = c.GetUser(ctx, "x")
	if !errors.As(err, &se) || se.Status != 502 || !se.Retryable || se.Detail != "upstream connect error" {
		t.Errorf("persistent 502: %#v", err)
	}
	if n := p.count("GET"); n != 1+scimclient.DefaultMaxRetries {
		t.Errorf("%d attempts, want %d", n, 1+scimclient.DefaultMaxRetries)
	}
	// A Retry-After beyond MaxRetryWait comes back at once, for the caller
	// to schedule.
	p.reset()
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	_, err = c.GetUser(ctx, "x")
	if ok, after := scimclient.IsRetryable(err); !ok || after != time.Hour || p.count("GET") != 1 {
		t.Errorf("long Retry-After: %v %v after %d attempts", ok, after, p.count("GET"))
	}
	// A network failure is retryable, and says nothing of the URL.
	dead := g.client(t, func(cfg *scimclient.Config) {
		cfg.BaseURL = "http://127.0.0.1:1/scim/v2"
		cfg.MaxRetries = -1
	})
	_, err = dead.FindUser(ctx, scimclient.Eq("userName", "secret-person@example.com"))
	if ok, _ := scimclient.IsRetryable(err); !ok || strings.Contains(err.Error(), "secret-person") {
		t.Errorf("network failure: %v", err)
	}
	// The context bounds the retries.
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	slow := g.client(t, func(cfg *scimclient.Config) {
		cfg.BaseURL = p.URL + "/scim/v2"
		cfg.Backoff = 10 * time.Second
		cfg.MaxRetries = 10
	})
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	p.reset()
	_, err = slow.GetUser(cctx, "x")
	if !errors.As(err, &se) || se.Status != 503 || p.count("GET") != 1 {
		t.Errorf("retry beyond the deadline: %v after %d attempts", err, p.count("GET"))
	}
}

// TestServiceProviderConfig reads Gatehouse's, once.
func TestServiceProviderConfig(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	c := g.client(t, func(cfg *scimclient.Config) { cfg.BaseURL = p.URL + "/scim/v2" })
	for range 3 {
		spc, err := c.ServiceProviderConfig(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !spc.Patch || !spc.Filter || !spc.Bulk || !spc.ETag || spc.FilterMaxResults != 1000 || spc.BulkMaxOperations != 1000 {
			t.Errorf("spc: %+v", spc)
		}
	}
	if n := p.count("GET /scim/v2/ServiceProviderConfig"); n != 1 {
		t.Errorf("%d discovery requests", n)
	}
	// A server without one: the profile's assumptions (no PATCH).
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig") {
			http.NotFound(w, r)
			return true
		}
		return false
	})
	c2 := g.client(t, func(cfg *scimclient.Config) { cfg.BaseURL = p.URL + "/scim/v2" })
	spc, err := c2.ServiceProviderConfig(t.Context())
	if err != nil || spc.Patch || !spc.Filter {
		t.Errorf("no SPC: %+v %v", spc, err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []scimclient.Config{
		{BaseURL: "scim.example.com", Auth: scimclient.Auth{BearerToken: "t"}},
		{BaseURL: "https://x"},
		{BaseURL: "https://x", Auth: scimclient.Auth{BearerToken: "t", TokenURL: "https://o/v1/token"}},
		{BaseURL: "https://x", Auth: scimclient.Auth{TokenURL: "https://o/v1/token", ClientID: "id"}},
		{BaseURL: "https://x", Auth: scimclient.Auth{TokenURL: "https://o/v1/token", ClientID: "id", ClientSecret: "s", TokenStyle: "other"}},
		{BaseURL: "https://x", Auth: scimclient.Auth{BearerToken: "t"}, Profile: "okta"},
		{BaseURL: "https://x", Auth: scimclient.Auth{BearerToken: "t"}, RateLimit: -1},
	} {
		if _, err := scimclient.New(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		} else if strings.Contains(err.Error(), cfg.Auth.ClientSecret+"x") {
			t.Errorf("error shows the secret")
		}
	}
	if _, err := scimclient.New(scimclient.Config{BaseURL: "https://scim.aliyun.com", Profile: "RAM",
		Auth: scimclient.Auth{TokenURL: "https://oauth.aliyun.com/v1/token", ClientID: "id", ClientSecret: "s"}}); err != nil {
		t.Error(err)
	}
}

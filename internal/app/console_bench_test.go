package app_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Server time of the console's pages at 100,000 users: the handler alone
// (the whole HTTP stack of the app: routing, the administrator check with
// its console-session and token reads, the operations, the template),
// without the network. docs/benchmarks.md has the figures.
//
//	go test ./internal/app -run '^$' -bench 'Console' -benchtime 2s
func BenchmarkConsole(b *testing.B) {
	const users = 100000
	r := start(b, devLogin)
	ctx := context.Background()
	now := time.Now().UTC()
	var someID string
	for lo := 0; lo < users; lo += 2000 {
		err := r.app.Store.Write(ctx, func(tx directory.Tx) error {
			for i := lo; i < min(lo+2000, users); i++ {
				u := &directory.User{ID: uuid.NewString(), UserName: fmt.Sprintf("user%07d@example.com", i), DisplayName: fmt.Sprintf("User %d", i),
					Active: i%10 != 0, OrgID: directory.RootOrgID,
					Attrs:   directory.Attrs{"emails": []any{map[string]any{"value": fmt.Sprintf("user%07d@example.com", i), "type": "work"}}},
					Created: now, Modified: now, Version: 1}
				if i == users/2 {
					someID = u.ID
				}
				if err := tx.InsertUser(ctx, u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	r.createPerson(b, "ada@example.com", "Correct-Horse-9", "engineering")
	// A console session, as a browser has it.
	br := newBrowser(&testing.T{}, r.url)
	page := br.do("GET", "/console/login", nil)
	f := fields(page.body)
	f.Set("token", r.admin)
	if got := br.do("POST", "/console/login", f); got.status != http.StatusSeeOther {
		b.Fatalf("console sign-in: %d", got.status)
	}
	u, _ := url.Parse(r.url)
	cookies := br.c.Jar.Cookies(u)
	h := r.app.Handler()
	for _, bc := range []struct{ name, path string }{
		{"dashboard", "/console/"},
		{"users", "/console/users"},
		{"users-page-1000", ""},
		{"users-filter", "/console/users?filter=" + url.QueryEscape(`userName sw "user00500"`)},
		{"users-filter-email", "/console/users?filter=" + url.QueryEscape(`emails.value eq "user0050000@example.com"`)},
		{"user", "/console/users/" + someID},
		{"users-inactive", "/console/users?filter=" + url.QueryEscape(`active eq false`)},
	} {
		path := bc.path
		if bc.name == "users-page-1000" {
			// The 21st page: continued with after, as the Next link does.
			path = nthUsersPage(b, h, cookies, 20)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set("Accept", "text/html")
				for _, c := range cookies {
					req.AddCookie(c)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%s: %d %s", path, w.Code, w.Body.String())
				}
			}
		})
	}
}

// nthUsersPage follows the users listing's Next link n times.
func nthUsersPage(b *testing.B, h http.Handler, cookies []*http.Cookie, n int) string {
	path := "/console/users"
	for range n {
		req := httptest.NewRequest("GET", path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		m := nextRE.FindStringSubmatch(w.Body.String())
		if m == nil {
			b.Fatalf("no next page at %s", path)
		}
		path = htmlUnescape(m[1])
	}
	return path
}

var nextRE = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

func htmlUnescape(s string) string { return html.UnescapeString(s) }

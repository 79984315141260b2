package app_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// BenchmarkSearchHTTP: GET /search through the whole server — the asker
// resolved (a session cookie looked up, or an application's token checked
// and its Gatehouse-User found), the rate limiter, the person's groups
// read, the query analysed, the backend, the JSON — on the two-document
// corpus of the portal tests, keyword mode: what a request costs beyond
// the index's own work (BenchmarkSearch100k in internal/search/embedded).
//
//	go test ./internal/app -run '^$' -bench SearchHTTP -benchtime 300x -count 3
func BenchmarkSearchHTTP(b *testing.B) {
	r := startPortal(b, func(c *config.Config) { c.Search.RateLimit = config.SearchRateLimit{} })
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	appl, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "portal", Scopes: auth.Scopes{auth.ScopeDocsSearch}, Profile: directory.IDaaSProfile()})
	if err != nil {
		b.Fatal(err)
	}
	_, token, err := r.app.Auth.CreateToken(ctx, op, appl.ID, 0)
	if err != nil {
		b.Fatal(err)
	}
	session := benchLogin(b, r.url, "ada@example.com")
	target := r.url + "/search?mode=keyword&q=" + url.QueryEscape("怎么连接VPN")
	for _, c := range []struct {
		name   string
		client *http.Client
		header http.Header
	}{
		{"session", session, http.Header{"Accept": {"application/json"}}},
		{"app-token", http.DefaultClient, http.Header{"Authorization": {"Bearer " + token}, "Gatehouse-User": {"ada@example.com"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			cpu0 := cpuTime()
			for b.Loop() {
				req, _ := http.NewRequest("GET", target, nil)
				req.Header = c.header.Clone()
				start := time.Now()
				resp, err := c.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				readAll(resp)
				lat = append(lat, time.Since(start))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET /search: %d", resp.StatusCode)
				}
			}
			cpu := cpuTime() - cpu0
			slices.Sort(lat)
			// CPU of the whole process: server and client.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(lat)), "cpu-ms/op")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}

// BenchmarkPortalPages: the portal's pages for a signed-in person — her
// page (/), her profile, the search page with a query — on a server with
// 10,000 other accounts and 20 SSO applications (half open to her group),
// through HTTP. Each page is point reads by id (her session, her record,
// her groups) plus, for /, every application checked against her groups:
// nothing in them reads all users.
//
//	go test ./internal/app -run '^$' -bench PortalPages -benchtime 300x -count 3
func BenchmarkPortalPages(b *testing.B) {
	r := startPortal(b, func(c *config.Config) { c.Search.RateLimit = config.SearchRateLimit{} })
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	for i := range 10_000 {
		if _, _, err := r.app.Directory.CreateUser(ctx, op, directory.Profile{TargetOrgID: directory.RootOrgID},
			&directory.User{UserName: "user" + strconv.Itoa(i) + "@example.com", Active: true}); err != nil {
			b.Fatal(err)
		}
	}
	groups, err := r.app.Directory.Groups(ctx, directory.Profile{}, directory.Query{Limit: 10})
	if err != nil {
		b.Fatal(err)
	}
	var eng string
	for _, g := range groups.Items {
		if g.DisplayName == "engineering-readers" {
			eng = g.ID
		}
	}
	sales, _, err := r.app.Directory.CreateGroup(ctx, op, directory.Profile{TargetOrgID: directory.RootOrgID}, &directory.Group{DisplayName: "sales"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 20 {
		access := auth.Access{AllowedGroups: []string{sales.ID}}
		if i%2 == 0 {
			access = auth.Access{AllowedGroups: []string{eng}}
		}
		if _, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "app" + strconv.Itoa(i), Kind: auth.KindSAMLSP, Access: access}); err != nil {
			b.Fatal(err)
		}
	}
	client := benchLogin(b, r.url, "ada@example.com")
	for _, p := range []string{"/", "/profile", "/search?q=" + url.QueryEscape("怎么连接VPN")} {
		name := strings.TrimPrefix(strings.SplitN(p, "?", 2)[0], "/")
		if name == "" {
			name = "home"
		}
		b.Run(name, func(b *testing.B) {
			var lat []time.Duration
			cpu0 := cpuTime()
			for b.Loop() {
				req, _ := http.NewRequest("GET", r.url+p, nil)
				req.Header.Set("Accept", "text/html")
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				readAll(resp)
				lat = append(lat, time.Since(start))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d", p, resp.StatusCode)
				}
			}
			cpu := cpuTime() - cpu0
			slices.Sort(lat)
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(lat)), "cpu-ms/op")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}

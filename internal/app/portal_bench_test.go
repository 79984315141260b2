package app_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
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

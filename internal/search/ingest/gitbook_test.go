package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// gitbookReplay serves the recorded answers of testdata/gitbook, and
// answers the first request 429 with Retry-After, as GitBook's rate limit
// does.
func gitbookReplay(t *testing.T, token string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":{"code":429,"message":"Rate limit exceeded"}}`))
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"code":401,"message":"Invalid token"}}`))
			return
		}
		var file string
		switch {
		case r.URL.Path == "/v1/spaces/handbook-space/content/pages":
			file = "pages.json"
		case strings.HasPrefix(r.URL.Path, "/v1/spaces/handbook-space/content/page/") && r.URL.Query().Get("format") == "markdown":
			file = "page-" + strings.TrimPrefix(r.URL.Path, "/v1/spaces/handbook-space/content/page/") + ".json"
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":404,"message":"Not found"}}`))
			return
		}
		b, err := os.ReadFile(filepath.Join("testdata", "gitbook", file))
		if err != nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestGitBook(t *testing.T) {
	srv, n := gitbookReplay(t, "gb_api_test")
	var slept []time.Duration
	g := GitBook{Space: "handbook-space", BaseURL: srv.URL, Token: "gb_api_test", Client: srv.Client(),
		Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
	if g.Collection() != "gitbook:handbook-space" {
		t.Errorf("Collection = %q", g.Collection())
	}
	docs, err := g.Documents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type doc struct{ Source, URL, Title, First string }
	var got []doc
	for _, d := range docs {
		first, _, _ := strings.Cut(string(d.Body), "\n")
		got = append(got, doc{d.Source, d.URL, d.Title, first})
	}
	want := []doc{
		{"engineering/vpn.md", "https://app.gitbook.com/o/acme/s/handbook-space/engineering/vpn", "VPN", "# VPN"},
		{"welcome.md", "https://docs.example.com/handbook/welcome", "Welcome", "# Welcome"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{2 * time.Second}, slept); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if n.Load() != 4 { // 429, the list, two pages; the link is not read
		t.Errorf("%d requests", n.Load())
	}
	cs, err := Chunks(g.Collection(), docs[1], []string{"g"})
	if err != nil || len(cs) != 2 || cs[0].URL != docs[1].URL || !strings.Contains(cs[0].Text, "工牌") {
		t.Errorf("chunks of the welcome page: %+v, %v", cs, err)
	}
}

func TestGitBookErrors(t *testing.T) {
	srv, _ := gitbookReplay(t, "gb_api_test")
	noSleep := func(context.Context, time.Duration) error { return nil }
	for _, tt := range []struct {
		g    GitBook
		want string
	}{
		{GitBook{Space: "handbook-space", BaseURL: srv.URL, Token: "wrong", Client: srv.Client(), Sleep: noSleep}, "401 Invalid token"},
		{GitBook{Space: "other", BaseURL: srv.URL, Token: "gb_api_test", Client: srv.Client(), Sleep: noSleep}, "404"},
		{GitBook{Space: "../admin", BaseURL: srv.URL, Token: "gb_api_test"}, "not a space id"},
		{GitBook{Space: "handbook-space", BaseURL: srv.URL}, "no API token"},
	} {
		_, err := tt.g.Documents(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("space %q: err = %v, want %q", tt.g.Space, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "gb_api_test") {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

package eval

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/analysis"
	"github.com/gatehouse-id/gatehouse/internal/search/chat"
	"github.com/gatehouse-id/gatehouse/internal/search/ingest"
)

var shared struct {
	once sync.Once
	a    *analysis.Analyzer
	err  error
}

func analyzer(t *testing.T) *analysis.Analyzer {
	t.Helper()
	shared.once.Do(func() { shared.a, shared.err = analysis.New(nil) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.a
}

func setup(t *testing.T, set *Set) *Env {
	t.Helper()
	if set == nil {
		var err error
		if set, err = LoadSet(); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Setup(context.Background(), set, Options{Analyzer: analyzer(t), Dims: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

var modes = []search.Mode{search.ModeKeyword, search.ModeVector, search.ModeHybrid}

// TestNoLeaks: no query of the evaluation set, in any mode, shows a
// document its asker may not read, traps included; and every judged
// question finds its answer.
func TestNoLeaks(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	for _, q := range e.Set.Queries {
		for _, mode := range modes {
			docs, leaks, err := e.Ask(ctx, q, mode, 10)
			if err != nil {
				t.Fatalf("%s (%s): %v", q.ID, mode, err)
			}
			if len(leaks) > 0 {
				t.Errorf("%s (%s): LEAK %v", q.ID, mode, leaks)
			}
			for _, trap := range q.Traps {
				for _, d := range docs {
					if d == trap {
						t.Errorf("%s (%s): the trap %s is shown", q.ID, mode, trap)
					}
				}
			}
			if len(q.Relevant) > 0 && Recall(docs, q.Relevant, 10) == 0 {
				t.Errorf("%s (%s): no relevant document in %v", q.ID, mode, docs)
			}
		}
	}
}

// TestACLIndependence is the strongest form of "no leakage": what a person
// is shown — results, their order, scores, snippets, highlights and the
// count of matches — is exactly what she would be shown if the documents
// she may not read had never been indexed. Nothing she cannot read
// influences anything she sees.
func TestACLIndependence(t *testing.T) {
	full := setup(t, nil)
	ctx := context.Background()
	for asker, groups := range full.Set.Askers {
		// The same set, with only the collections asker may read.
		set := *full.Set
		set.Collections = map[string][]string{}
		for name, gs := range full.Set.Collections {
			for _, g := range gs {
				for _, ag := range groups {
					if g == ag {
						set.Collections[name] = gs
					}
				}
			}
		}
		only := setup(t, &set)
		for _, q := range full.Set.Queries {
			for _, mode := range modes {
				req := search.Request{Query: q.Q, Mode: mode, K: 10}
				req.UserID = full.Users[asker]
				a, err := full.Service.Search(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				req.UserID = only.Users[asker]
				b, err := only.Service.Search(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(b, a); diff != "" {
					t.Errorf("%s asking %q (%s): the unreadable documents change what she sees (-alone +with them):\n%s", asker, q.Q, mode, diff)
				}
			}
		}
	}
}

// TestMembershipTakesEffect: removing a person from a group hides its
// documents at her next query, adding her back shows them, with no
// re-indexing; a disabled person reads nothing.
func TestMembershipTakesEffect(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	actor := directory.Actor{Kind: "cli"}
	q := Query{Asker: "eng", Q: "how do I connect to the VPN"}
	gen := func() int64 { g, _ := e.Store.SearchGeneration(ctx); return g }
	before := gen()
	has := func(docs []string, d string) bool {
		for _, x := range docs {
			if x == d {
				return true
			}
		}
		return false
	}
	docs, _, err := e.Ask(ctx, q, search.ModeKeyword, 10)
	if err != nil || !has(docs, "engineering/vpn.md") {
		t.Fatalf("before: %v %v", docs, err)
	}
	member := func(add bool) {
		t.Helper()
		op := directory.MemberOp{Kind: directory.RemoveMembers, IDs: []string{e.Users["eng"]}}
		if add {
			op.Kind = directory.AddMembers
		}
		if _, err := e.Dir.UpdateGroup(ctx, actor, directory.IDaaSProfile(), e.Groups["engineering-readers"], nil, nil, []directory.MemberOp{op}); err != nil {
			t.Fatal(err)
		}
	}
	member(false)
	docs, _, err = e.Ask(ctx, q, search.ModeKeyword, 10)
	if err != nil || has(docs, "engineering/vpn.md") {
		t.Errorf("after leaving engineering-readers: %v %v", docs, err)
	}
	member(true)
	docs, _, err = e.Ask(ctx, q, search.ModeKeyword, 10)
	if err != nil || !has(docs, "engineering/vpn.md") {
		t.Errorf("after joining again: %v %v", docs, err)
	}
	if _, err := e.Dir.UpdateUser(ctx, actor, directory.IDaaSProfile(), e.Users["eng"], nil, func(u *directory.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	docs, _, err = e.Ask(ctx, q, search.ModeHybrid, 10)
	if err != nil || len(docs) != 0 {
		t.Errorf("a disabled user: %v %v", docs, err)
	}
	if gen() != before {
		t.Errorf("the index changed (generation %d → %d): membership must not need re-indexing", before, gen())
	}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type eventLine struct {
	Type, Source string
	Chunks       int
}

func newEvents(t *testing.T, e *Env, after *int64) []eventLine {
	t.Helper()
	recs, err := e.Store.EventsAfter(context.Background(), *after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := []eventLine{}
	for _, r := range recs {
		*after = r.Seq
		if r.ResourceType != "Document" {
			continue
		}
		var d search.DocumentEvent
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, eventLine{r.Type, d.Source, d.Chunks})
	}
	return out
}

// TestIncrementalIndex: a second run touches nothing; a changed file
// re-indexes its chunks only; a removed file's chunks go, each with its
// Document event; a change of groups re-indexes.
func TestIncrementalIndex(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	var seq int64
	newEvents(t, e, &seq)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.md":      "# A\n\nAlpha text about badges.\n",
		"sub/b.md":  "# B\n\n## One\n\nBeta one.\n\n## Two\n\nBeta two.\n",
		"c.html":    "<h1>C</h1><p>Gamma.</p>",
		".git/x.md": "# hidden\n",
		"notes.txt": "not a document",
	})
	src := ingest.Dir{Root: dir}
	run := func(groups ...string) *ingest.Report {
		t.Helper()
		rep, err := e.Indexer.Index(ctx, src, ingest.Options{Groups: groups})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	type counts struct{ Docs, Chunks, Added, Changed, Unchanged, Removed int }
	c := func(r *ingest.Report) counts {
		return counts{r.Documents, r.Chunks, r.Added, r.Changed, r.Unchanged, r.Removed}
	}
	if diff := cmp.Diff(counts{3, 4, 4, 0, 0, 0}, c(run("everyone"))); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]eventLine{{search.DocumentIndexed, "a.md", 1}, {search.DocumentIndexed, "c.html", 1}, {search.DocumentIndexed, "sub/b.md", 2}}, newEvents(t, e, &seq)); diff != "" {
		t.Errorf("events of the first run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(counts{3, 4, 0, 0, 4, 0}, c(run("everyone"))); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]eventLine{}, newEvents(t, e, &seq)); diff != "" {
		t.Errorf("events of a run that changed nothing (-want +got):\n%s", diff)
	}
	writeTree(t, dir, map[string]string{"sub/b.md": "# B\n\n## One\n\nBeta one, changed.\n\n## Two\n\nBeta two.\n"})
	os.Remove(filepath.Join(dir, "c.html"))
	if diff := cmp.Diff(counts{2, 3, 0, 1, 2, 1}, c(run("everyone"))); diff != "" {
		t.Errorf("after a change and a removal (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]eventLine{{search.DocumentIndexed, "sub/b.md", 2}, {search.DocumentRemoved, "c.html", 0}}, newEvents(t, e, &seq)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(counts{2, 3, 0, 3, 0, 0}, c(run("engineering-readers"))); diff != "" {
		t.Errorf("after a change of groups (-want +got):\n%s", diff)
	}
	// The new groups are in force: a new hire no longer finds them.
	docs, _, err := e.Ask(ctx, Query{Asker: "new", Q: "Beta"}, search.ModeKeyword, 10)
	if err != nil || len(docs) != 0 {
		t.Errorf("new hire after the documents moved to engineering: %v %v", docs, err)
	}
}

// failingEmbedder fails as an endpoint that times out or answers with the
// wrong number of dimensions does.
type failingEmbedder struct {
	search.Embedder
	dims int
	err  error
}

func (f failingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = make([]float32, f.dims)
	}
	return out, nil
}

// TestBadInputLeavesIndex: a broken document, an unknown group, an
// embedder that times out or answers the wrong dimensions, and bad
// queries all fail with a clear error, and the index stays as it was.
func TestBadInputLeavesIndex(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.md": "# A\n\nAlpha.\n"})
	if _, err := e.Indexer.Index(ctx, ingest.Dir{Root: dir}, ingest.Options{Groups: []string{"everyone"}}); err != nil {
		t.Fatal(err)
	}
	gen0, _ := e.Store.SearchGeneration(ctx)
	st0, _ := e.Backend.Stats(ctx)
	unchanged := func(what string) {
		t.Helper()
		if gen, _ := e.Store.SearchGeneration(ctx); gen != gen0 {
			t.Errorf("%s: the index changed (generation %d → %d)", what, gen0, gen)
		}
		if st, _ := e.Backend.Stats(ctx); !cmp.Equal(st, st0) {
			t.Errorf("%s: stats %+v, want %+v", what, st, st0)
		}
	}
	writeTree(t, dir, map[string]string{"a.md": "# A\n\nAlpha changed.\n", "b.md": "# B\n\nBeta.\n", "broken.md": "# x\n\xff\xfe"})
	_, err := e.Indexer.Index(ctx, ingest.Dir{Root: dir}, ingest.Options{Groups: []string{"everyone"}})
	if !errors.Is(err, search.ErrInvalid) || !strings.Contains(err.Error(), "broken.md: not UTF-8") {
		t.Errorf("broken document: %v", err)
	}
	unchanged("broken document")
	os.Remove(filepath.Join(dir, "broken.md"))

	_, err = e.Indexer.Index(ctx, ingest.Dir{Root: dir}, ingest.Options{Groups: []string{"everyone", "no-such-group"}})
	if !errors.Is(err, search.ErrInvalid) || !strings.Contains(err.Error(), `"no-such-group"`) {
		t.Errorf("unknown group: %v", err)
	}
	unchanged("unknown group")

	for name, emb := range map[string]failingEmbedder{
		"timeout":         {Embedder: e.Embedder, err: context.DeadlineExceeded},
		"wrong dimension": {Embedder: e.Embedder, dims: 768},
	} {
		ix := &ingest.Indexer{Backend: e.Backend, Analyzer: e.Analyzer, Embedder: emb, Groups: e.Indexer.Groups}
		_, err := ix.Index(ctx, ingest.Dir{Root: dir}, ingest.Options{Groups: []string{"everyone"}})
		if !errors.Is(err, search.ErrUnavailable) || !strings.Contains(err.Error(), "the index is unchanged") {
			t.Errorf("%s: %v", name, err)
		}
		unchanged(name)
	}

	for _, r := range []search.Request{
		{Query: ""}, {Query: "   "}, {Query: strings.Repeat("长", 400)}, {Query: "a\xffb"}, {Query: "a\x00b"},
		{Query: "vpn", Mode: "fuzzy"}, {Query: "vpn", K: 51}, {Query: "vpn", K: -1},
	} {
		r.UserID = e.Users["eng"]
		if _, err := e.Service.Search(ctx, r); !errors.Is(err, search.ErrInvalid) {
			t.Errorf("query %+v: err = %v, want ErrInvalid", r, err)
		}
	}
	if _, err := e.Service.Search(ctx, search.Request{UserID: "no-such-user", Query: "vpn"}); !errors.Is(err, search.ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
	// A query whose embedding fails falls back to keywords, saying so.
	svc := *e.Service
	svc.Embedder = failingEmbedder{Embedder: e.Embedder, err: context.DeadlineExceeded}
	resp, err := svc.Search(ctx, search.Request{UserID: e.Users["eng"], Query: "VPN"})
	if err != nil || resp.Mode != search.ModeKeyword || len(resp.Notices) != 1 || len(resp.Results) == 0 {
		t.Errorf("failing embedder: %+v, %v", resp, err)
	}
	if _, err := svc.Search(ctx, search.Request{UserID: e.Users["eng"], Query: "VPN", Mode: search.ModeVector}); !errors.Is(err, search.ErrUnavailable) {
		t.Errorf("failing embedder, vector mode: %v", err)
	}
	unchanged("queries")
}

// TestAnswerCitesOnlyReadable: the chat endpoint is sent only chunks the
// asker may read, and a citation of a source it was not given is dropped.
func TestAnswerCitesOnlyReadable(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	var prompt string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		prompt = string(b)
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"choices":[{"message":{"role":"assistant","content":"Use WireGuard [1]. The budget is in [7]."}}]}`))
	}))
	defer srv.Close()
	svc := *e.Service
	svc.Chat = &chat.Client{URL: srv.URL + "/v1", Model: "qwen-test", APIKey: "sk-test", HTTP: srv.Client()}
	resp, err := svc.Search(ctx, search.Request{UserID: e.Users["eng"], Query: "VPN laptop budget", Answer: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Answer == nil || !cmp.Equal(resp.Answer.Citations, []int{1}) || strings.Contains(resp.Answer.Text, "[7]") {
		t.Errorf("answer = %+v", resp.Answer)
	}
	if prompt == "" || strings.Contains(prompt, "12,000 CNY") || strings.Contains(prompt, "薪资") {
		t.Errorf("the chat endpoint was sent a document the asker may not read:\n%s", prompt)
	}
	if !strings.Contains(prompt, "WireGuard") {
		t.Errorf("the prompt lacks the readable sources:\n%s", prompt)
	}
	// Without a chat endpoint, an answer is refused plainly.
	if _, err := e.Service.Search(ctx, search.Request{UserID: e.Users["eng"], Query: "VPN", Answer: true}); !errors.Is(err, search.ErrInvalid) {
		t.Errorf("answer without chat: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	rel := map[string]int{"a": 2, "b": 1}
	tests := []struct {
		ranked       []string
		ndcg, recall float64
	}{
		{[]string{"a", "b"}, 1, 1},
		{[]string{"x", "a"}, (3 / 1.5849625007211563) / (3 + 1/1.5849625007211563), 0.5},
		{nil, 0, 0},
	}
	for _, tt := range tests {
		if got := NDCG(tt.ranked, rel, 10); got-tt.ndcg > 1e-12 || tt.ndcg-got > 1e-12 {
			t.Errorf("NDCG(%v) = %v, want %v", tt.ranked, got, tt.ndcg)
		}
		if got := Recall(tt.ranked, rel, 10); got != tt.recall {
			t.Errorf("Recall(%v) = %v, want %v", tt.ranked, got, tt.recall)
		}
	}
}

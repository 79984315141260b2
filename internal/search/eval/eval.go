// Package eval is documentation search's evaluation set and its runner
// (`gatehouse docs eval`): a small onboarding corpus in Chinese and
// English (corpus/), questions with graded relevance judgements and ACL
// traps (queries.json), run through the real stack — a fresh SQLite
// database, the directory with its groups and users, the indexer, the
// embedded backend and the search service — in keyword, vector and hybrid
// modes. It reports nDCG@10 and Recall@10 and counts ACL leaks: results
// from documents the asker may not read.
//
// The vectors come from the hash embedder, which is NOT semantic: the
// vector and hybrid figures show the machinery, not what a real embedding
// model would score.
package eval

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/acl"
	"github.com/gatehouse-id/gatehouse/internal/search/analysis"
	"github.com/gatehouse-id/gatehouse/internal/search/embedded"
	"github.com/gatehouse-id/gatehouse/internal/search/hashembed"
	"github.com/gatehouse-id/gatehouse/internal/search/ingest"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

//go:embed corpus queries.json
var files embed.FS

// Set is the evaluation set.
type Set struct {
	// Collections maps each top directory of the corpus to the groups
	// whose members may read it.
	Collections map[string][]string `json:"collections"`
	// Askers maps each asker to her groups.
	Askers  map[string][]string `json:"askers"`
	Queries []Query             `json:"queries"`
}

// Query is one question.
type Query struct {
	ID    string `json:"id"`
	Lang  string `json:"lang"`
	Asker string `json:"asker"`
	Q     string `json:"q"`
	// Relevant grades documents ("engineering/vpn.md": 2 for the answer,
	// 1 for a partial one). Empty: the asker may read no answer (a query
	// that checks leakage only).
	Relevant map[string]int `json:"relevant"`
	// Traps are documents that look relevant but that the asker may not
	// read: they must never be shown.
	Traps []string `json:"traps"`
}

// LoadSet reads the embedded evaluation set.
func LoadSet() (*Set, error) {
	b, err := files.ReadFile("queries.json")
	if err != nil {
		return nil, err
	}
	var s Set
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("queries.json: %w", err)
	}
	return &s, nil
}

// Options change a run.
type Options struct {
	// Analyzer, when set, is used instead of loading one.
	Analyzer *analysis.Analyzer
	// Dims of the hash embedder (768).
	Dims int
}

// Report is what a run measured.
type Report struct {
	Queries int `json:"queries"`
	// Judged is how many queries have an answer the asker may read (the
	// others check leakage only).
	Judged   int          `json:"judged"`
	Modes    []ModeScores `json:"modes"`
	Leaks    int          `json:"leaks"`
	LeakList []string     `json:"leakList,omitempty"`
	Embedder string       `json:"embedder"`
	Analyzer string       `json:"analyzer"`
	Chunks   int          `json:"chunks"`
	PerQuery []QueryScore `json:"perQuery"`
}

// ModeScores are a mode's averages over the judged queries.
type ModeScores struct {
	Mode     search.Mode `json:"mode"`
	NDCG10   float64     `json:"ndcg10"`
	Recall10 float64     `json:"recall10"`
	// ByLang splits them by the question's language.
	ByLang map[string][2]float64 `json:"byLang"`
}

// QueryScore is one query's scores in one mode.
type QueryScore struct {
	ID       string      `json:"id"`
	Mode     search.Mode `json:"mode"`
	NDCG10   float64     `json:"ndcg10"`
	Recall10 float64     `json:"recall10"`
	Top      []string    `json:"top"`
}

// Run builds the index in a temporary database and runs every query in
// every mode.
func Run(ctx context.Context, opt Options) (*Report, error) {
	set, err := LoadSet()
	if err != nil {
		return nil, err
	}
	env, err := Setup(ctx, set, opt)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	rep := &Report{Queries: len(set.Queries), Embedder: hashembed.Model, Analyzer: env.Analyzer.Name()}
	st, err := env.Backend.Stats(ctx)
	if err != nil {
		return nil, err
	}
	rep.Chunks = st.Chunks
	for _, q := range set.Queries {
		if len(q.Relevant) > 0 {
			rep.Judged++
		}
	}
	for _, mode := range []search.Mode{search.ModeKeyword, search.ModeVector, search.ModeHybrid} {
		ms := ModeScores{Mode: mode, ByLang: map[string][2]float64{}}
		n := map[string]int{}
		for _, q := range set.Queries {
			docs, leaks, err := env.Ask(ctx, q, mode, 10)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", q.ID, mode, err)
			}
			for _, l := range leaks {
				rep.Leaks++
				rep.LeakList = append(rep.LeakList, fmt.Sprintf("%s (%s): %s", q.ID, mode, l))
			}
			if len(q.Relevant) == 0 {
				continue
			}
			nd, rc := NDCG(docs, q.Relevant, 10), Recall(docs, q.Relevant, 10)
			rep.PerQuery = append(rep.PerQuery, QueryScore{ID: q.ID, Mode: mode, NDCG10: nd, Recall10: rc, Top: docs[:min(3, len(docs))]})
			ms.NDCG10 += nd
			ms.Recall10 += rc
			l := ms.ByLang[q.Lang]
			ms.ByLang[q.Lang] = [2]float64{l[0] + nd, l[1] + rc}
			n[q.Lang]++
		}
		if rep.Judged > 0 {
			ms.NDCG10 /= float64(rep.Judged)
			ms.Recall10 /= float64(rep.Judged)
		}
		for lang, l := range ms.ByLang {
			ms.ByLang[lang] = [2]float64{l[0] / float64(n[lang]), l[1] / float64(n[lang])}
		}
		rep.Modes = append(rep.Modes, ms)
	}
	return rep, nil
}

// Env is the evaluation set indexed in a temporary database.
type Env struct {
	Set      *Set
	Store    *sqlite.Store
	Dir      *directory.Service
	Analyzer *analysis.Analyzer
	Embedder search.Embedder
	Backend  *embedded.Backend
	Indexer  *ingest.Indexer
	Service  *search.Service
	// Users maps each asker to her user id; Groups each group name to its
	// id.
	Users  map[string]string
	Groups map[string]string
	tmp    string
}

// Close removes the temporary database.
func (e *Env) Close() {
	e.Store.Close()
	os.RemoveAll(e.tmp)
}

// Setup creates the groups and askers of set in a fresh database and
// indexes the corpus, one collection per top directory.
func Setup(ctx context.Context, set *Set, opt Options) (*Env, error) {
	tmp, err := os.MkdirTemp("", "gatehouse-eval-")
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(tmp, "eval.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	e := &Env{Set: set, Store: st, tmp: tmp, Users: map[string]string{}, Groups: map[string]string{}}
	if err := e.setup(ctx, opt); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Env) setup(ctx context.Context, opt Options) error {
	seq := 0
	next := func() string {
		seq++
		return fmt.Sprintf("00000000-0000-7000-8000-%012d", seq)
	}
	e.Dir = directory.NewService(e.Store, directory.Options{Policy: directory.DefaultPasswordPolicy(), NewID: next})
	actor := directory.Actor{Kind: "cli"}
	askers := sortedKeys(e.Set.Askers)
	for _, a := range askers {
		u, _, err := e.Dir.CreateUser(ctx, actor, directory.IDaaSProfile(), &directory.User{UserName: a + "@example.com", Active: true})
		if err != nil {
			return err
		}
		e.Users[a] = u.ID
	}
	groupNames := map[string]bool{}
	for _, gs := range e.Set.Askers {
		for _, g := range gs {
			groupNames[g] = true
		}
	}
	for _, g := range sortedKeys(groupNames) {
		var members []directory.Member
		for _, a := range askers {
			for _, ag := range e.Set.Askers[a] {
				if ag == g {
					members = append(members, directory.Member{ID: e.Users[a]})
				}
			}
		}
		grp, _, err := e.Dir.CreateGroup(ctx, actor, directory.IDaaSProfile(), &directory.Group{DisplayName: g, Members: members})
		if err != nil {
			return err
		}
		e.Groups[g] = grp.ID
	}
	e.Analyzer = opt.Analyzer
	if e.Analyzer == nil {
		var err error
		if e.Analyzer, err = analysis.New(nil); err != nil {
			return err
		}
	}
	dims := opt.Dims
	if dims == 0 {
		dims = 768
	}
	e.Embedder = hashembed.New(e.Analyzer, dims)
	e.Backend = embedded.New(e.Store, embedded.Options{Terms: e.Analyzer.Terms, NewID: next})
	members := acl.Directory{Dir: e.Dir}
	e.Indexer = &ingest.Indexer{Backend: e.Backend, Analyzer: e.Analyzer, Embedder: e.Embedder, Groups: members}
	e.Service = &search.Service{Backend: e.Backend, Analyzer: e.Analyzer, Embedder: e.Embedder, Members: members}
	for _, name := range sortedKeys(e.Set.Collections) {
		if _, err := e.Indexer.Index(ctx, Corpus(name), ingest.Options{Groups: e.Set.Collections[name]}); err != nil {
			return fmt.Errorf("index %s: %w", name, err)
		}
	}
	return nil
}

// Ask runs q in mode as its asker and returns the documents of the
// results ("engineering/vpn.md"), first occurrence only, and the leaks:
// results from documents the asker may not read.
func (e *Env) Ask(ctx context.Context, q Query, mode search.Mode, k int) ([]string, []string, error) {
	resp, err := e.Service.Search(ctx, search.Request{UserID: e.Users[q.Asker], Query: q.Q, Mode: mode, K: k})
	if err != nil {
		return nil, nil, err
	}
	readable := map[string]bool{}
	for name, gs := range e.Set.Collections {
		for _, g := range gs {
			for _, ag := range e.Set.Askers[q.Asker] {
				if g == ag {
					readable[name] = true
				}
			}
		}
	}
	var docs, leaks []string
	seen := map[string]bool{}
	for _, r := range resp.Results {
		coll := strings.TrimPrefix(r.Collection, "eval:")
		doc := coll + "/" + r.Source
		if !readable[coll] {
			leaks = append(leaks, doc)
		}
		if !seen[doc] {
			seen[doc] = true
			docs = append(docs, doc)
		}
	}
	return docs, leaks, nil
}

// Corpus is a top directory of the embedded corpus as a source
// (collection "eval:NAME").
type Corpus string

// Collection implements ingest.Source.
func (c Corpus) Collection() string { return "eval:" + string(c) }

// Documents implements ingest.Source.
func (c Corpus) Documents(context.Context) ([]ingest.Document, error) {
	root := path.Join("corpus", string(c))
	var docs []ingest.Document
	err := fs.WalkDir(files, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		docs = append(docs, ingest.Document{Source: strings.TrimPrefix(p, root+"/"), Format: ingest.FormatOf(p), Body: b})
		return nil
	})
	return docs, err
}

// NDCG is nDCG@k of a ranking of documents with graded judgements (gain
// 2^rel − 1, log2 discount).
func NDCG(ranked []string, rel map[string]int, k int) float64 {
	dcg := 0.0
	for i, d := range ranked[:min(k, len(ranked))] {
		dcg += (math.Pow(2, float64(rel[d])) - 1) / math.Log2(float64(i)+2)
	}
	var grades []int
	for _, g := range rel {
		grades = append(grades, g)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(grades)))
	idcg := 0.0
	for i, g := range grades[:min(k, len(grades))] {
		idcg += (math.Pow(2, float64(g)) - 1) / math.Log2(float64(i)+2)
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// Recall is the share of the judged documents found in the first k.
func Recall(ranked []string, rel map[string]int, k int) float64 {
	if len(rel) == 0 {
		return 0
	}
	found := 0
	for _, d := range ranked[:min(k, len(ranked))] {
		if rel[d] > 0 {
			found++
		}
	}
	return float64(found) / float64(len(rel))
}

// Print writes the report as a table.
func Print(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "Evaluation set: %d queries (%d judged, %d leakage-only), %d chunks; analyzer %s; embedder %s (NOT semantic).\n\n",
		rep.Queries, rep.Judged, rep.Queries-rep.Judged, rep.Chunks, rep.Analyzer, rep.Embedder)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODE\tnDCG@10\tRecall@10\tnDCG@10 zh\tnDCG@10 en\tRecall@10 zh\tRecall@10 en")
	for _, m := range rep.Modes {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", m.Mode, m.NDCG10, m.Recall10,
			m.ByLang["zh"][0], m.ByLang["en"][0], m.ByLang["zh"][1], m.ByLang["en"][1])
	}
	tw.Flush()
	fmt.Fprintf(w, "\nACL leaks: %d\n", rep.Leaks)
	for _, l := range rep.LeakList {
		fmt.Fprintf(w, "  LEAK %s\n", l)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

//go:build unix

package embedded

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
)

// fixedStore serves a prepared index once and never changes: the
// benchmark measures the query path (its generation check is a map read
// here, one point SELECT on a real database).
type fixedStore struct {
	meta   search.Meta
	chunks []search.Chunk
}

func (f *fixedStore) SearchGeneration(context.Context) (int64, error) { return 1, nil }
func (f *fixedStore) SearchChanges(_ context.Context, _ int64, fn func(search.Chunk) error) (Changes, error) {
	for _, c := range f.chunks {
		if err := fn(c); err != nil {
			return Changes{}, err
		}
	}
	return Changes{Meta: f.meta, Generation: 1, Full: true}, nil
}
func (f *fixedStore) SearchRefs(context.Context, string) ([]search.ChunkRef, error) { return nil, nil }
func (f *fixedStore) ResetSearch(context.Context, search.Meta) error                { return nil }
func (f *fixedStore) ApplySearch(context.Context, search.Batch, []*directory.EventRecord) error {
	return nil
}

// synthetic builds n chunks of about 150 terms drawn from a Zipf
// vocabulary of 30,000 words, each readable by one or two of 10 groups,
// with random unit vectors of dims dimensions.
func synthetic(n, dims int) ([]search.Chunk, []string) {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 2, 29_999)
	vocab := make([]string, 30_000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%d", i)
	}
	chunks := make([]search.Chunk, n)
	var sb strings.Builder
	for i := range chunks {
		sb.Reset()
		for range 150 {
			sb.WriteString(vocab[z.Uint64()])
			sb.WriteByte(' ')
		}
		v := make([]float32, dims)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		groups := []string{fmt.Sprintf("g%d", r.IntN(10))}
		if r.IntN(3) == 0 {
			groups = append(groups, fmt.Sprintf("g%d", r.IntN(10)))
		}
		chunks[i] = search.Chunk{ID: fmt.Sprintf("c%07d", i), Collection: "bench", Source: fmt.Sprintf("doc%d.md", i/8),
			Title: "T", Text: sb.String(), Groups: groups, Vector: v}
	}
	return chunks, vocab
}

// BenchmarkSearch100k: a hybrid query (BM25 + exact cosine kNN over 768
// dimensions + RRF) on 100,000 chunks, by a person in 3 of 10 groups;
// the query's embedding is given (the embedding call is excluded). It
// reports the median and the 95th percentile of the latencies.
func BenchmarkSearch100k(b *testing.B) {
	for _, mode := range []search.Mode{search.ModeHybrid, search.ModeKeyword, search.ModeVector} {
		b.Run(string(mode), func(b *testing.B) { benchSearch(b, 100_000, 768, mode) })
	}
}

var benchBackend struct {
	n, dims int
	be      *Backend
	vocab   []string
}

func benchSearch(b *testing.B, n, dims int, mode search.Mode) {
	ctx := context.Background()
	if benchBackend.be == nil || benchBackend.n != n {
		chunks, vocab := synthetic(n, dims)
		st := &fixedStore{meta: search.Meta{Analyzer: "fields", Model: "random", Dims: dims}, chunks: chunks}
		be := New(st, Options{Terms: strings.Fields})
		if _, err := be.Meta(ctx); err != nil { // loads the index
			b.Fatal(err)
		}
		benchBackend.n, benchBackend.dims, benchBackend.be, benchBackend.vocab = n, dims, be, vocab
	}
	be, vocab := benchBackend.be, benchBackend.vocab
	r := rand.New(rand.NewPCG(3, 4))
	queries := make([]search.Query, 64)
	for i := range queries {
		q := search.Query{Groups: []string{"g1", "g4", "g7"}, K: 10, Mode: mode}
		// Three to five words: some common, some rare.
		for range 3 + r.IntN(3) {
			q.Terms = append(q.Terms, vocab[int(math.Pow(float64(r.IntN(30_000)), 0.8))])
		}
		q.Vector = make([]float32, dims)
		for j := range q.Vector {
			q.Vector[j] = float32(r.NormFloat64())
		}
		queries[i] = q
	}
	var lat []time.Duration
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		start := time.Now()
		res, err := be.Search(ctx, queries[i%len(queries)])
		lat = append(lat, time.Since(start))
		if err != nil || len(res.Hits) == 0 {
			b.Fatalf("search: %v (%d hits)", err, len(res.Hits))
		}
		i++
	}
	cpu := cpuTime() - cpu0
	slices.Sort(lat)
	// CPU time per query (both cores): steadier than wall time on a
	// machine shared with other work.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(lat)), "cpu-ms/op")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

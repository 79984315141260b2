// Package hashembed is a deterministic, NON-SEMANTIC embedder for tests
// and offline use: it hashes a text's analysed terms (and the character
// n-grams of its words) into a fixed number of signed buckets. Texts that
// share words get similar vectors; texts that mean the same in other words
// do not. It needs no network and no model, and is never a substitute for
// a real embedding model: `gatehouse docs eval` shows what it is worth.
package hashembed

import (
	"context"
	"hash/fnv"
	"math"
	"sort"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Model is the model name an index built with this embedder records.
const Model = "gatehouse-hash-v1-non-semantic"

// Embedder is the hashing embedder.
type Embedder struct {
	analyzer search.Analyzer
	dims     int
}

var _ search.Embedder = (*Embedder)(nil)

// New returns a hashing embedder of dims dimensions over analyzer's terms.
func New(analyzer search.Analyzer, dims int) *Embedder {
	return &Embedder{analyzer: analyzer, dims: dims}
}

// Model implements search.Embedder.
func (e *Embedder) Model() string { return Model }

// Dims implements search.Embedder.
func (e *Embedder) Dims() int { return e.dims }

// Embed implements search.Embedder.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i] = e.vector(t)
	}
	return out, nil
}

func (e *Embedder) vector(text string) []float32 {
	counts := map[string]float64{}
	for _, tok := range e.analyzer.Tokens(text) {
		counts["t:"+tok.Term]++
		// Character trigrams of longer Latin terms: a little tolerance
		// for spelling and compounds.
		if tok.Term[0] < utf8.RuneSelf && len(tok.Term) > 4 {
			for i := 0; i+3 <= len(tok.Term); i++ {
				counts["g:"+tok.Term[i:i+3]] += 0.3
			}
		}
	}
	v := make([]float32, e.dims)
	// In a fixed order: float sums depend on it, and the same text must
	// give the same vector bit for bit.
	feats := make([]string, 0, len(counts))
	for f := range counts {
		feats = append(feats, f)
	}
	sort.Strings(feats)
	for _, f := range feats {
		n := counts[f]
		h := fnv.New64a()
		h.Write([]byte(f))
		x := h.Sum64()
		sign := float32(1)
		if x>>63 == 1 {
			sign = -1
		}
		v[int(x%uint64(e.dims))] += sign * float32(1+math.Log(n+1))
	}
	var norm float64
	for _, f := range v {
		norm += float64(f) * float64(f)
	}
	if norm > 0 {
		inv := float32(1 / math.Sqrt(norm))
		for i := range v {
			v[i] *= inv
		}
	}
	return v
}

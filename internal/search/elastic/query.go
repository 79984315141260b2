package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Query limits.
const (
	maxK      = 1000
	maxTerms  = 1024 // Lucene's default clause limit
	maxGroups = 10000
	// minWindow is the smallest ranking fused for a hybrid query: each
	// ranking contributes its best max(K, minWindow) chunks.
	minWindow = 50
	// minCandidates is Elasticsearch's num_candidates floor: HNSW explores
	// at least this many candidates per shard.
	minCandidates = 100
)

// answer is a _search answer (or one of _msearch's).
type answer struct {
	Hits struct {
		Total struct {
			Value int `json:"value"`
		} `json:"total"`
		Hits []struct {
			ID     string  `json:"_id"`
			Score  float64 `json:"_score"`
			Source doc     `json:"_source"`
			Sort   []any   `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
	Aggregations struct {
		Collections struct {
			Buckets []struct {
				Key      string `json:"key"`
				DocCount int    `json:"doc_count"`
				Sources  struct {
					Value int `json:"value"`
				} `json:"sources"`
			} `json:"buckets"`
		} `json:"collections"`
	} `json:"aggregations"`
	// In an _msearch answer, a failed search has an error and a status.
	Error  json.RawMessage `json:"error"`
	Status int             `json:"status"`
}

// returned is what a hit carries back: everything but the vector and the
// index terms.
var returned = map[string]any{"excludes": []string{"embedding", "terms"}}

// Search runs q with the ACL filter inside every clause that ranks:
// nothing outside q.Groups is scored, counted or returned.
func (b *Backend) Search(ctx context.Context, q search.Query) (search.Result, error) {
	if q.K < 1 || q.K > maxK {
		return search.Result{}, invalid(fmt.Sprintf("k must be between 1 and %d", maxK))
	}
	if len(q.Groups) > maxGroups {
		return search.Result{}, invalid("too many groups")
	}
	var terms []string
	for _, t := range q.Terms {
		terms = append(terms, strings.Fields(t)...)
	}
	if len(terms) > maxTerms {
		return search.Result{}, invalid(fmt.Sprintf("the query has more than %d terms", maxTerms))
	}
	switch q.Mode {
	case search.ModeKeyword:
	case search.ModeVector, search.ModeHybrid:
		if err := checkQueryVector(q.Vector); err != nil {
			return search.Result{}, err
		}
	default:
		return search.Result{}, invalid(fmt.Sprintf("unknown search mode %q", q.Mode))
	}
	if len(q.Groups) == 0 {
		return search.Result{}, nil // nothing is readable: nothing is asked
	}
	acl := map[string]any{"terms": map[string]any{"groups": q.Groups}}
	text := strings.Join(terms, " ")
	var res search.Result
	var err error
	switch {
	case q.Mode == search.ModeKeyword:
		if text == "" {
			return search.Result{}, nil
		}
		res, err = b.keyword(ctx, text, acl, q.K)
	case q.Mode == search.ModeVector:
		res, err = b.vector(ctx, q.Vector, acl, q.K)
	case text == "":
		// Nothing to match by keyword: the fusion of the vector ranking
		// alone.
		res, err = b.vector(ctx, q.Vector, acl, q.K)
		res.Hits, res.Matched = search.Fuse(nil, res.Hits, q.K), 0
	case b.native.Load():
		res, err = b.nativeHybrid(ctx, text, q.Vector, acl, q.K)
		var e *search.Error
		if errors.As(err, &e) && isLicenceRefusal(e.Err) {
			b.native.Store(false)
			b.log.WarnContext(ctx, "the cluster refused the rrf retriever (licence); hybrid results are now fused in Gatehouse")
			res, err = b.hybrid(ctx, text, q.Vector, acl, q.K)
		}
	default:
		res, err = b.hybrid(ctx, text, q.Vector, acl, q.K)
	}
	if err != nil {
		if isNotFound(err) {
			return search.Result{}, nil // nothing indexed yet
		}
		return search.Result{}, err
	}
	return res, nil
}

func checkQueryVector(v []float32) error {
	if len(v) == 0 {
		return invalid("the query has no vector")
	}
	var norm float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return invalid("the query vector has a value that is not a finite number")
		}
		norm += float64(x) * float64(x)
	}
	if norm == 0 {
		return invalid("the query vector is zero")
	}
	return nil
}

// keywordBody is BM25 over the analysed terms, the ACL as a filter.
func keywordBody(text string, acl any, size int) map[string]any {
	return map[string]any{
		"size":             size,
		"track_total_hits": true,
		"_source":          returned,
		"query": map[string]any{"bool": map[string]any{
			"must":   map[string]any{"match": map[string]any{"terms": map[string]any{"query": text}}},
			"filter": acl,
		}},
	}
}

// vectorBody is the k nearest readable neighbours: Elasticsearch's knn
// option with its filter, or OpenSearch's knn query with its filter
// (efficient filtering: the filter applies while the graph is searched).
func (b *Backend) vectorBody(vec []float32, acl any, k int) map[string]any {
	if b.cfg.Engine == EngineOpenSearch {
		return map[string]any{
			"size":    k,
			"_source": returned,
			"query": map[string]any{"knn": map[string]any{"embedding": map[string]any{
				"vector": vec, "k": k, "filter": acl,
			}}},
		}
	}
	return map[string]any{
		"size":    k,
		"_source": returned,
		"knn": map[string]any{
			"field": "embedding", "query_vector": vec, "k": k,
			"num_candidates": min(max(2*k, minCandidates), 10000), "filter": acl,
		},
	}
}

func (b *Backend) keyword(ctx context.Context, text string, acl any, k int) (search.Result, error) {
	a, err := b.searchOnce(ctx, keywordBody(text, acl, k))
	if err != nil {
		return search.Result{}, err
	}
	return search.Result{Hits: hits(a, false), Matched: a.Hits.Total.Value}, nil
}

func (b *Backend) vector(ctx context.Context, vec []float32, acl any, k int) (search.Result, error) {
	a, err := b.searchOnce(ctx, b.vectorBody(vec, acl, k))
	if err != nil {
		return search.Result{}, err
	}
	h := hits(a, true)
	return search.Result{Hits: h, Matched: len(h)}, nil
}

// hybrid sends both rankings in one _msearch and fuses them in Gatehouse.
func (b *Backend) hybrid(ctx context.Context, text string, vec []float32, acl any, k int) (search.Result, error) {
	w := max(k, minWindow)
	var nd bytes.Buffer
	for _, body := range []any{keywordBody(text, acl, w), b.vectorBody(vec, acl, w)} {
		nd.WriteString("{}\n")
		line, err := json.Marshal(body)
		if err != nil {
			return search.Result{}, invalid("the query cannot be encoded")
		}
		nd.Write(line)
		nd.WriteByte('\n')
	}
	raw, err := b.eng.msearch(ctx, b.cfg.Index, nd.Bytes())
	if err != nil {
		return search.Result{}, unavailable("the search cluster failed", err)
	}
	var res struct {
		Responses []answer `json:"responses"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || len(res.Responses) != 2 {
		return search.Result{}, unavailable("the search cluster's answer is not understood", err)
	}
	for _, r := range res.Responses {
		if len(r.Error) > 0 {
			_, e := readAnswer(r.Status, bytes.NewReader(append([]byte(`{"error":`), append(r.Error, '}')...)))
			return search.Result{}, unavailable("the search cluster failed", e)
		}
	}
	kw, vr := hits(res.Responses[0], false), hits(res.Responses[1], true)
	return search.Result{Hits: search.Fuse(kw, vr, k), Matched: res.Responses[0].Hits.Total.Value}, nil
}

// nativeHybrid fuses in the cluster with the rrf retriever (Elasticsearch
// 8.16+, enterprise licence), the ACL filter in both retrievers. The
// cluster does not tell each ranking's rank: KeywordRank and VectorRank
// stay 0.
func (b *Backend) nativeHybrid(ctx context.Context, text string, vec []float32, acl any, k int) (search.Result, error) {
	w := max(k, minWindow)
	body := map[string]any{
		"size":             k,
		"track_total_hits": true,
		"_source":          returned,
		"retriever": map[string]any{"rrf": map[string]any{
			"retrievers": []any{
				map[string]any{"standard": map[string]any{
					"query":  map[string]any{"match": map[string]any{"terms": map[string]any{"query": text}}},
					"filter": acl,
				}},
				map[string]any{"knn": map[string]any{
					"field": "embedding", "query_vector": vec, "k": w,
					"num_candidates": min(max(2*w, minCandidates), 10000), "filter": acl,
				}},
			},
			"rank_constant":    search.RRFK,
			"rank_window_size": w,
		}},
	}
	a, err := b.searchOnce(ctx, body)
	if err != nil {
		return search.Result{}, err
	}
	h := hits(a, false)
	for i := range h {
		h[i].KeywordRank = 0
	}
	return search.Result{Hits: h, Matched: a.Hits.Total.Value}, nil
}

// isLicenceRefusal: the cluster refused a feature its licence lacks
// (403 security_exception "current license is non-compliant for [...]").
func isLicenceRefusal(err error) bool {
	var e *engineError
	return errors.As(err, &e) && e.Status == 403 && strings.Contains(strings.ToLower(e.Reason), "license")
}

func (b *Backend) searchOnce(ctx context.Context, body any) (answer, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return answer{}, invalid("the query cannot be encoded")
	}
	out, err := b.eng.search(ctx, b.cfg.Index, raw)
	if err != nil {
		return answer{}, unavailable("the search cluster failed", err)
	}
	var a answer
	if err := json.Unmarshal(out, &a); err != nil {
		return answer{}, unavailable("the search cluster's answer is not understood", err)
	}
	return a, nil
}

// hits turns an answer into hits; vector scores become cosine
// similarities (both engines score cosine kNN hits as (1 + cos) / 2).
func hits(a answer, vector bool) []search.Hit {
	out := make([]search.Hit, 0, len(a.Hits.Hits))
	for i, h := range a.Hits.Hits {
		d := h.Source
		hit := search.Hit{Chunk: search.Chunk{ID: h.ID, Collection: d.Collection, Source: d.Source, URL: d.URL,
			Title: d.Title, Breadcrumb: d.Breadcrumb, Text: d.Content, Groups: d.Groups, Hash: d.Hash}, Score: h.Score}
		if vector {
			hit.Score = 2*h.Score - 1
			hit.VectorRank = i + 1
		} else {
			hit.KeywordRank = i + 1
		}
		out = append(out, hit)
	}
	return out
}

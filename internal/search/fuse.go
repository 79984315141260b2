package search

import "sort"

// RRFK is the constant k of reciprocal rank fusion (Cormack, Clarke and
// Büttcher, 2009), as Elasticsearch and OpenSearch default it.
const RRFK = 60

// Fuse merges a keyword ranking and a vector ranking by reciprocal rank
// fusion: each hit scores Σ 1/(RRFK + rank) over the rankings it is in.
// Both lists must be in rank order and already filtered by the ACL. The
// result keeps the best limit hits, ties broken by chunk id, with
// KeywordRank and VectorRank set. Backends whose engine lacks RRF use it.
func Fuse(keyword, vector []Hit, limit int) []Hit {
	byID := make(map[string]*Hit, len(keyword)+len(vector))
	var order []string
	add := func(h Hit, rank int, kw bool) {
		f, ok := byID[h.Chunk.ID]
		if !ok {
			c := h
			c.Score = 0
			c.KeywordRank, c.VectorRank = 0, 0
			f = &c
			byID[h.Chunk.ID] = f
			order = append(order, h.Chunk.ID)
		}
		if len(f.Highlights) == 0 {
			f.Highlights = h.Highlights
		}
		f.Score += 1 / float64(RRFK+rank)
		if kw {
			f.KeywordRank = rank
		} else {
			f.VectorRank = rank
		}
	}
	for i, h := range keyword {
		add(h, i+1, true)
	}
	for i, h := range vector {
		add(h, i+1, false)
	}
	out := make([]Hit, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Chunk.ID < out[j].Chunk.ID
	})
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

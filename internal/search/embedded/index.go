package embedded

import (
	"container/heap"
	"math"
	"math/bits"
	"runtime"
	"sync"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// BM25 parameters (Robertson et al.; Lucene's defaults).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// memIndex is the in-memory index: chunks in slots, an inverted index of
// term frequencies, the vectors of all slots in one contiguous float32
// array (normalised, so that cosine similarity is a dot product), and one
// bitset of slots per group for the ACL filter.
type memIndex struct {
	analyze func(string) []string
	dims    int

	chunks []*search.Chunk // by slot; nil: free
	terms  [][]termFreq    // by slot: its terms, to remove its postings
	lens   []int32         // by slot: number of terms
	hasVec []bool
	vecs   []float32 // slot*dims …
	// The same vectors quantised to int8 (per-vector scale), and a bound
	// on the error of a similarity computed from them: the first pass of
	// the exact kNN reads a quarter of the bytes (nearest).
	qvecs   []int8
	qscale  []float32
	qerr    []float32
	byID    map[string]int32
	free    []int32           // slots to reuse
	dead    []int32           // removed slots still in the postings
	groups  map[string]bitset // group id → slots readable by its members
	post    map[string][]posting
	nchunks int
}

type termFreq struct {
	term string
	tf   int32
}

type posting struct {
	slot int32
	tf   int32
}

func newMemIndex(analyze func(string) []string, dims int) *memIndex {
	return &memIndex{analyze: analyze, dims: dims, byID: map[string]int32{}, groups: map[string]bitset{}, post: map[string][]posting{}}
}

// put stores c (replacing any chunk with its id).
func (x *memIndex) put(c search.Chunk) {
	x.remove(c.ID)
	var slot int32
	if n := len(x.free); n > 0 {
		slot, x.free = x.free[n-1], x.free[:n-1]
	} else {
		slot = int32(len(x.chunks))
		x.chunks = append(x.chunks, nil)
		x.terms = append(x.terms, nil)
		x.lens = append(x.lens, 0)
		x.hasVec = append(x.hasVec, false)
		x.vecs = append(x.vecs, make([]float32, x.dims)...)
		x.qvecs = append(x.qvecs, make([]int8, x.dims)...)
		x.qscale = append(x.qscale, 0)
		x.qerr = append(x.qerr, 0)
	}
	vec := c.Vector
	c.Vector = nil
	cc := c
	x.chunks[slot] = &cc
	x.byID[c.ID] = slot
	x.nchunks++

	counts := map[string]int32{}
	toks := x.analyze(c.IndexText())
	for _, t := range toks {
		counts[t]++
	}
	tfs := make([]termFreq, 0, len(counts))
	for t, n := range counts {
		tfs = append(tfs, termFreq{t, n})
		x.post[t] = append(x.post[t], posting{slot, n})
	}
	x.terms[slot] = tfs
	x.lens[slot] = int32(len(toks))

	dst := x.vecs[int(slot)*x.dims : int(slot+1)*x.dims]
	x.hasVec[slot] = len(vec) == x.dims && x.dims > 0
	if x.hasVec[slot] {
		normalize(dst, vec)
	} else {
		clear(dst)
	}
	x.qscale[slot], x.qerr[slot] = quantize(x.qvecs[int(slot)*x.dims:int(slot+1)*x.dims], dst)
	for _, g := range c.Groups {
		b := x.groups[g]
		b = b.grow(len(x.chunks))
		b.set(int(slot))
		x.groups[g] = b
	}
}

// remove drops the chunk id, if present. Its slot is dead: in no group's
// bitset (so never looked at), and reused only after compact has taken it
// out of the postings.
func (x *memIndex) remove(id string) {
	slot, ok := x.byID[id]
	if !ok {
		return
	}
	c := x.chunks[slot]
	for _, g := range c.Groups {
		if b, ok := x.groups[g]; ok {
			b.unset(int(slot))
		}
	}
	delete(x.byID, id)
	x.chunks[slot], x.terms[slot], x.lens[slot], x.hasVec[slot] = nil, nil, 0, false
	x.dead = append(x.dead, slot)
	x.nchunks--
}

// compact takes the dead slots out of the postings and frees them: one
// pass over every posting list, after each batch that removed chunks.
func (x *memIndex) compact() {
	if len(x.dead) == 0 {
		return
	}
	dead := make(bitset, (len(x.chunks)+63)/64)
	for _, s := range x.dead {
		dead.set(int(s))
	}
	for t, ps := range x.post {
		out := ps[:0]
		for _, p := range ps {
			if !dead.has(int(p.slot)) {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			delete(x.post, t)
		} else {
			x.post[t] = out
		}
	}
	for g, b := range x.groups {
		empty := true
		for _, w := range b {
			if w != 0 {
				empty = false
				break
			}
		}
		if empty {
			delete(x.groups, g)
		}
	}
	x.free = append(x.free, x.dead...)
	x.dead = nil
}

// allowed is the union of the bitsets of groups: the slots the asker may
// read. Nothing else is ever looked at.
func (x *memIndex) allowed(groups []string) bitset {
	out := make(bitset, (len(x.chunks)+63)/64)
	for _, g := range groups {
		b := x.groups[g]
		for i := range min(len(b), len(out)) {
			out[i] |= b[i]
		}
	}
	return out
}

// keyword ranks the allowed slots by BM25. Every statistic (the number of
// chunks, their average length, each term's document frequency) is taken
// over the allowed slots only, so that what the asker cannot read changes
// neither scores nor order. It returns the best k and how many matched.
func (x *memIndex) keyword(terms []string, allow bitset, k int) ([]scored, int) {
	if len(terms) == 0 || k <= 0 {
		return nil, 0
	}
	n, sumLen := 0, int64(0)
	allow.each(func(s int) {
		n++
		sumLen += int64(x.lens[s])
	})
	if n == 0 {
		return nil, 0
	}
	avg := float64(sumLen) / float64(n)
	qtf := map[string]int{}
	var uniq []string
	for _, t := range terms {
		if qtf[t] == 0 {
			uniq = append(uniq, t)
		}
		qtf[t]++
	}
	scores := map[int32]float64{}
	for _, t := range uniq {
		ps := x.post[t]
		df := 0
		for _, p := range ps {
			if allow.has(int(p.slot)) {
				df++
			}
		}
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
		w := idf * float64(qtf[t])
		for _, p := range ps {
			if !allow.has(int(p.slot)) {
				continue
			}
			tf := float64(p.tf)
			norm := bm25K1 * (1 - bm25B + bm25B*float64(x.lens[p.slot])/avg)
			scores[p.slot] += w * tf * (bm25K1 + 1) / (tf + norm)
		}
	}
	h := make(topK, 0, k+1)
	for s, v := range scores {
		h.offer(scored{s, v, x.chunks[s].ID}, k)
	}
	return h.sorted(), len(scores)
}

// nearest ranks the allowed slots that have a vector by cosine similarity
// to q, exactly: the result is the k best by the float32 similarity of
// every allowed vector, as a scan of them all would find.
//
// It scans in two passes. The first computes each allowed vector's
// similarity from its int8 copy (a quarter of the bytes of the float32
// one; the scan is bound by memory), which is off by at most qerr. The
// k-th best lower bound (approximation − qerr) is a floor under the k-th
// best exact similarity, so a vector whose upper bound (approximation +
// qerr) is below it cannot be among the k best. The second pass computes
// the exact similarity of the others only. The first pass is split across
// up to GOMAXPROCS goroutines. It returns the best k and how many vectors
// were compared.
func (x *memIndex) nearest(q []float32, allow bitset, k int) ([]scored, int) {
	if len(q) != x.dims || x.dims == 0 || k <= 0 {
		return nil, 0
	}
	qn := make([]float32, len(q))
	normalize(qn, q)
	parts := min(runtime.GOMAXPROCS(0), 8, max(1, len(allow)/256))
	approx := make([][]approxScore, parts)
	var wg sync.WaitGroup
	per := (len(allow) + parts - 1) / parts
	d := x.dims
	for p := range parts {
		lo, hi := p*per, min((p+1)*per, len(allow))
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for _, word := range allow[lo:hi] {
				n += bits.OnesCount64(word)
			}
			out := make([]approxScore, 0, n)
			for w := lo; w < hi; w++ {
				word := allow[w]
				for word != 0 {
					s := w*64 + bits.TrailingZeros64(word)
					word &= word - 1
					if !x.hasVec[s] {
						continue
					}
					a := float32(dotInt8(x.qvecs[s*d:(s+1)*d], qn)) * x.qscale[s]
					out = append(out, approxScore{int32(s), a})
				}
			}
			approx[p] = out
		}()
	}
	wg.Wait()
	total := 0
	floor := make(lowBounds, 0, k+1)
	for _, part := range approx {
		total += len(part)
		for _, a := range part {
			lb := a.score - x.qerr[a.slot]
			if len(floor) < k {
				heap.Push(&floor, lb)
			} else if lb > floor[0] {
				floor[0] = lb
				heap.Fix(&floor, 0)
			}
		}
	}
	if total == 0 {
		return nil, 0
	}
	threshold := float32(math.Inf(-1))
	if len(floor) == k {
		threshold = floor[0]
	}
	h := make(topK, 0, k+1)
	for _, part := range approx {
		for _, a := range part {
			if a.score+x.qerr[a.slot] < threshold {
				continue
			}
			s := int(a.slot)
			v := dot(x.vecs[s*d:(s+1)*d], qn)
			if len(h) < k || v > h[0].score || (v == h[0].score && x.chunks[s].ID < h[0].id) {
				h.offer(scored{int32(s), v, x.chunks[s].ID}, k)
			}
		}
	}
	return h.sorted(), total
}

// approxScore is a slot and its similarity from the int8 copy.
type approxScore struct {
	slot  int32
	score float32
}

// lowBounds is a min-heap of the k best lower bounds seen.
type lowBounds []float32

func (h lowBounds) Len() int           { return len(h) }
func (h lowBounds) Less(i, j int) bool { return h[i] < h[j] }
func (h lowBounds) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lowBounds) Push(v any)        { *h = append(*h, v.(float32)) }
func (h *lowBounds) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// quantize writes v's int8 copy to q (v / scale, rounded) and returns the
// scale and the bound on the error of a similarity to any unit vector x
// computed from the copy: |v·x − scale·(q·x)| ≤ ‖v − scale·q‖ (Cauchy–
// Schwarz), plus a margin for the float32 rounding of both sums (at most
// n·2⁻²⁴ of the sum of |terms|, itself at most √n for unit vectors).
func quantize(q []int8, v []float32) (float32, float32) {
	var m float32
	for _, f := range v {
		m = max(m, float32(math.Abs(float64(f))))
	}
	if m == 0 {
		clear(q)
		return 0, 0
	}
	scale := m / 127
	var e float64
	for i, f := range v {
		r := math.Round(float64(f / scale))
		q[i] = int8(max(-127, min(127, r)))
		diff := float64(f) - float64(scale)*float64(q[i])
		e += diff * diff
	}
	n := float64(len(v))
	margin := 4 * n * math.Pow(2, -24) * math.Sqrt(n)
	return scale, float32(math.Sqrt(e)+margin) * (1 + 1e-6)
}

// dotInt8Go is the dot product of an int8 vector and a float32 vector of
// the same length.
func dotInt8Go(q []int8, x []float32) float64 {
	x = x[:len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(q); i += 4 {
		s0 += float32(q[i]) * x[i]
		s1 += float32(q[i+1]) * x[i+1]
		s2 += float32(q[i+2]) * x[i+2]
		s3 += float32(q[i+3]) * x[i+3]
	}
	for ; i < len(q); i++ {
		s0 += float32(q[i]) * x[i]
	}
	return float64((s0 + s1) + (s2 + s3))
}

// dotGo is the dot product of two vectors of the same length in Go: eight
// independent sums, so that the multiplications pipeline. dot uses an
// AVX2/FMA kernel instead where the processor has one (dot_amd64.s).
func dotGo(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		s4 += x[4] * y[4]
		s5 += x[5] * y[5]
		s6 += x[6] * y[6]
		s7 += x[7] * y[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return float64((s0 + s1) + (s2 + s3) + (s4 + s5) + (s6 + s7))
}

// normalize writes v / |v| to dst (zeros for a zero vector).
func normalize(dst, v []float32) {
	var n float64
	for _, f := range v {
		n += float64(f) * float64(f)
	}
	if n == 0 {
		clear(dst)
		return
	}
	inv := float32(1 / math.Sqrt(n))
	for i, f := range v {
		dst[i] = f * inv
	}
}

// scored is a slot and its score; id breaks ties (smaller first).
type scored struct {
	slot  int32
	score float64
	id    string
}

// topK is a min-heap of the best k seen so far.
type topK []scored

func (h topK) Len() int { return len(h) }
func (h topK) Less(i, j int) bool {
	if h[i].score != h[j].score {
		return h[i].score < h[j].score
	}
	return h[i].id > h[j].id
}
func (h topK) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *topK) Push(v any)   { *h = append(*h, v.(scored)) }
func (h *topK) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

func (h *topK) offer(s scored, k int) {
	heap.Push(h, s)
	if h.Len() > k {
		heap.Pop(h)
	}
}

// sorted empties the heap into best-first order.
func (h *topK) sorted() []scored {
	out := make([]scored, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(scored)
	}
	return out
}

// bitset is a set of slots.
type bitset []uint64

func (b bitset) grow(n int) bitset {
	for len(b) < (n+63)/64 {
		b = append(b, 0)
	}
	return b
}
func (b bitset) set(i int)   { b[i/64] |= 1 << (i % 64) }
func (b bitset) unset(i int) { b[i/64] &^= 1 << (i % 64) }
func (b bitset) has(i int) bool {
	return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0
}
func (b bitset) each(fn func(int)) {
	for w, word := range b {
		for word != 0 {
			fn(w*64 + bits.TrailingZeros64(word))
			word &= word - 1
		}
	}
}

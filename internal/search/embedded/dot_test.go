package embedded

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// TestDot: the kernel dot uses agrees with the Go loop on every length
// (the 32-, 8- and 1-wide steps and their tails).
func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 130; n++ {
		a, b := make([]float32, n), make([]float32, n)
		want := 0.0
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			want += float64(a[i]) * float64(b[i])
		}
		for name, got := range map[string]float64{"dot": dot(a, b), "dotGo": dotGo(a, b)} {
			if math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%s of length %d = %v, want %v", name, n, got, want)
			}
		}
	}
	// b longer than a: only len(a) values count.
	if got := dot([]float32{1, 2}, []float32{3, 4, 100}); got != 11 {
		t.Errorf("dot = %v, want 11", got)
	}
}

func BenchmarkDot768(b *testing.B) {
	x, y := make([]float32, 768), make([]float32, 768)
	for i := range x {
		x[i], y[i] = float32(i)/768, 1-float32(i)/768
	}
	s := 0.0
	for b.Loop() {
		s += dot(x, y)
	}
	_ = s
}

// TestDotInt8: the int8 kernel agrees with a float64 sum on every length.
func TestDotInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 130; n++ {
		q, x := make([]int8, n), make([]float32, n)
		want := 0.0
		for i := range q {
			q[i], x[i] = int8(r.IntN(255)-127), float32(r.NormFloat64())
			want += float64(q[i]) * float64(x[i])
		}
		for name, got := range map[string]float64{"dotInt8": dotInt8(q, x), "dotInt8Go": dotInt8Go(q, x)} {
			if math.Abs(got-want) > 1e-3*math.Max(1, math.Abs(want)) {
				t.Errorf("%s of length %d = %v, want %v", name, n, got, want)
			}
		}
	}
}

// TestNearestIsExact: the two-pass scan returns exactly what comparing
// every allowed float32 vector returns — same slots, same scores, same
// order — on random vectors, on clusters of near-duplicates (where the
// int8 bounds overlap most), for several sizes, dimensions and k.
func TestNearestIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct{ n, dims, k int }{{1, 8, 5}, {300, 13, 1}, {2000, 64, 10}, {3000, 768, 10}, {500, 96, 50}} {
		x := newMemIndex(strings.Fields, tc.dims)
		base := make([]float32, tc.dims)
		for j := range base {
			base[j] = float32(r.NormFloat64())
		}
		for i := range tc.n {
			v := make([]float32, tc.dims)
			for j := range v {
				if i%3 == 0 { // near-duplicates of one vector
					v[j] = base[j] + float32(r.NormFloat64())*1e-3
				} else {
					v[j] = float32(r.NormFloat64())
				}
			}
			if i%17 == 5 {
				v = nil // a chunk without a vector
			}
			g := "a"
			if i%4 == 0 {
				g = "b"
			}
			x.put(search.Chunk{ID: fmt.Sprintf("c%05d", i), Text: "t", Groups: []string{g}, Vector: v})
		}
		for trial := range 5 {
			q := make([]float32, tc.dims)
			for j := range q {
				q[j] = float32(r.NormFloat64())
				if trial%2 == 0 {
					q[j] += base[j] // close to the near-duplicates
				}
			}
			allow := x.allowed([]string{"a"})
			got, n := x.nearest(q, allow, tc.k)
			// Brute force: every allowed vector, the same dot.
			qn := make([]float32, len(q))
			normalize(qn, q)
			want := make(topK, 0, tc.k+1)
			count := 0
			allow.each(func(s int) {
				if !x.hasVec[s] {
					return
				}
				count++
				want.offer(scored{int32(s), dot(x.vecs[s*tc.dims:(s+1)*tc.dims], qn), x.chunks[s].ID}, tc.k)
			})
			if diff := cmp.Diff(want.sorted(), got, cmp.AllowUnexported(scored{}), cmpopts.EquateEmpty()); diff != "" || n != count {
				t.Fatalf("n=%d dims=%d k=%d trial %d: (-brute force +nearest) %s; compared %d, want %d", tc.n, tc.dims, tc.k, trial, diff, n, count)
			}
		}
	}
}

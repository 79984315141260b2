package rules

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRangeTree compares the interval tree with trying every range, on
// random ranges whose bounds collide often (open and closed, one-sided,
// "=").
func TestRangeTree(t *testing.T) {
	points := []float64{-2, -1, -0.5, 0, 0.5, 1, 2, 3, 5, 8}
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 3))
		var ranges []condRange
		for i := range r.IntN(60) {
			var nr numRange
			switch r.IntN(4) {
			case 0:
				nr.hasLo, nr.lo, nr.loOpen = true, points[r.IntN(len(points))], r.IntN(2) == 0
			case 1:
				nr.hasHi, nr.hi, nr.hiOpen = true, points[r.IntN(len(points))], r.IntN(2) == 0
			case 2:
				x := points[r.IntN(len(points))]
				nr = numRange{hasLo: true, hasHi: true, lo: x, hi: x, eq: true}
			default:
				a, b := points[r.IntN(len(points))], points[r.IntN(len(points))]
				nr = numRange{hasLo: true, hasHi: true, lo: min(a, b), hi: max(a, b), loOpen: r.IntN(2) == 0, hiOpen: r.IntN(2) == 0}
			}
			ranges = append(ranges, condRange{r: nr, cond: int32(i)})
		}
		tree := buildRangeTree(slices.Clone(ranges))
		probes := append(slices.Clone(points), -3, 9, -0.75, 0.25, 1.5, 4, math.Inf(1), math.Inf(-1))
		for _, x := range probes {
			var want []int32
			for _, cr := range ranges {
				if cr.r.contains(x) {
					want = append(want, cr.cond)
				}
			}
			got := tree.appendHolding(nil, x)
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("seed %d, x = %v (-want +got):\n%s", seed, x, diff)
			}
		}
		if got := tree.appendHolding(nil, math.NaN()); len(got) != 0 {
			t.Fatalf("NaN is held by %v", got)
		}
	}
}

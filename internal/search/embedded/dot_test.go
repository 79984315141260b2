package embedded

import (
	"math"
	"math/rand/v2"
	"testing"
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

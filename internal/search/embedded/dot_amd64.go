package embedded

import "golang.org/x/sys/cpu"

// hasAVX2FMA is read once: the processor does not change.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotAVX2 is the dot product of n float32s at a and b (dot_amd64.s).
//
//go:noescape
func dotAVX2(a, b *float32, n int) float32

// dot is the dot product of two vectors of the same length.
func dot(a, b []float32) float64 {
	if !hasAVX2FMA || len(a) == 0 {
		return dotGo(a, b)
	}
	b = b[:len(a)]
	return float64(dotAVX2(&a[0], &b[0], len(a)))
}

// dotInt8AVX2 is the dot product of n int8s at q and n float32s at x; n
// is a multiple of 8 (dot_amd64.s).
//
//go:noescape
func dotInt8AVX2(q *int8, x *float32, n int) float32

// dotInt8 is the dot product of an int8 vector and a float32 vector of the
// same length.
func dotInt8(q []int8, x []float32) float64 {
	n := len(q) &^ 7
	if !hasAVX2FMA || n == 0 {
		return dotInt8Go(q, x)
	}
	x = x[:len(q)]
	s := float64(dotInt8AVX2(&q[0], &x[0], n))
	if n < len(q) {
		s += dotInt8Go(q[n:], x[n:])
	}
	return s
}

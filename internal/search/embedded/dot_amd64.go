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

//go:build !amd64

package embedded

// dot is the dot product of two vectors of the same length.
func dot(a, b []float32) float64 { return dotGo(a, b) }

//go:build !amd64

package embedded

// dot is the dot product of two vectors of the same length.
func dot(a, b []float32) float64 { return dotGo(a, b) }

// dotInt8 is the dot product of an int8 vector and a float32 vector of the
// same length.
func dotInt8(q []int8, x []float32) float64 { return dotInt8Go(q, x) }

//go:build !unix

package app

// lockServe is a no-op where flock(2) is not available.
func lockServe(string) (func(), error) { return func() {}, nil }

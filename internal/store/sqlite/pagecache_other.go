//go:build !linux

package sqlite

import (
	"errors"

	"modernc.org/libc"
)

// allocPageCache allocates n bytes that are never freed: SQLite uses them
// until the process ends.
func allocPageCache(n int) (uintptr, error) {
	tls := libc.NewTLS()
	defer tls.Close()
	if p := libc.Xmalloc(tls, libc.Tsize_t(n)); p != 0 {
		return p, nil
	}
	return 0, errors.New("malloc failed")
}

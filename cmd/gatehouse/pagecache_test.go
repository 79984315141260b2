package main

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// TestPageCacheBlockInBinary: with every package the binary imports
// initialized, SQLite took the page-cache block (internal/store/sqlite's
// pagecache.go). A package that opened a database in its init before the
// sqlite store's would make SQLite refuse it, and only the binary's whole
// import graph shows that.
func TestPageCacheBlockInBinary(t *testing.T) {
	if err := sqlite.PageCacheErr(); err != nil {
		t.Fatal(err)
	}
}

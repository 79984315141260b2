package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestPageCacheBlock: SQLite took the page-cache block at package
// initialization, a store's reads take their pages from it, and read
// connections copy pages instead of memory-mapping the file (pagecache.go).
func TestPageCacheBlock(t *testing.T) {
	if pageCache.err != nil {
		t.Fatalf("SQLite refused the page-cache block: %v", pageCache.err)
	}
	if pageCache.size <= 4096 || pageCache.slots*pageCache.size < min((3+2*defaultReadConns())*defaultCacheKiB*1024*9/10, maxPageCacheBytes*9/10) {
		t.Fatalf("the block has %d slots of %d bytes, too few for one store's default caches", pageCache.slots, pageCache.size)
	}
	t.Logf("block: %d slots of %d bytes (%.1f MiB)", pageCache.slots, pageCache.size, float64(pageCache.slots*pageCache.size)/(1<<20))
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, db := range []struct {
		name string
		q    func(string) (int64, error)
	}{
		{"read pool", func(q string) (n int64, err error) { err = s.rdb.QueryRowContext(ctx, q).Scan(&n); return }},
		{"list pool", func(q string) (n int64, err error) { err = s.ldb.QueryRowContext(ctx, q).Scan(&n); return }},
	} {
		if _, err := db.q(`SELECT count(*) FROM users`); err != nil {
			t.Fatal(err)
		}
		used, _, err := pageCacheUse()
		if err != nil {
			t.Fatal(err)
		}
		if used == 0 {
			t.Fatalf("%s: a read holds pages, but none is in the block", db.name)
		}
		if m, err := db.q(`PRAGMA mmap_size`); err != nil || m != 0 {
			t.Fatalf("%s: mmap_size = %d, %v; want 0", db.name, m, err)
		}
	}
}

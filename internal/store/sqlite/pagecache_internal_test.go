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
	// A table of about 300 pages, which each read below goes through.
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE pc_probe (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
		INSERT INTO pc_probe SELECT randomblob(900) FROM n`); err != nil {
		t.Fatal(err)
	}
	for _, db := range []struct {
		name string
		q    func(string) (int64, error)
	}{
		{"read pool", func(q string) (n int64, err error) { err = s.rdb.QueryRowContext(ctx, q).Scan(&n); return }},
		{"list pool", func(q string) (n int64, err error) { err = s.ldb.QueryRowContext(ctx, q).Scan(&n); return }},
	} {
		used0, over0, err := pageCacheUse()
		if err != nil {
			t.Fatal(err)
		}
		if n, err := db.q(`SELECT sum(length(b)) FROM pc_probe`); err != nil || n != 1200*900 {
			t.Fatalf("%s: read %d bytes, %v", db.name, n, err)
		}
		used, over, err := pageCacheUse()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d → %d slots in use, %d → %d bytes outside the block", db.name, used0, used, over0, over)
		// The read's connection keeps the pages it read in its cache:
		// each one in a slot of the block, none allocated outside it.
		if used-used0 < 250 {
			t.Errorf("%s: a read of about 300 pages put %d in the block", db.name, used-used0)
		}
		if over > over0 {
			t.Errorf("%s: a read allocated %d bytes of pages outside the block", db.name, over-over0)
		}
		if m, err := db.q(`PRAGMA mmap_size`); err != nil || m != 0 {
			t.Fatalf("%s: mmap_size = %d, %v; want 0", db.name, m, err)
		}
	}
}

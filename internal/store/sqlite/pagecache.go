package sqlite

import (
	"fmt"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite's page caches take their pages from one block of memory that the
// process allocates once and never frees (SQLITE_CONFIG_PAGECACHE), instead
// of allocating each page on its own.
//
// Why: in WAL mode a read connection drops its whole page cache whenever
// another connection has committed since its last read, and reads the
// pages again. The pure-Go SQLite allocates each page (4 KiB and a header)
// with a mapping of its own and unmaps it when freed, so under a stream of
// writes each page a read touched cost an munmap, an mmap and page faults
// on top of its read. On a 1,000,000-user database with 35 writes a second
// beside the reads, GET /Users/{id} cost 320–370 µs of CPU and answered
// 3,900 requests a second on one VM; with the block, 105–110 µs and
// 10,500–10,900 (docs/benchmarks.md, "Issue 16: a sixth session"). Where
// page faults cost less the CPU saved is smaller (4–13 % on another VM,
// "a seventh session"); the p99 of reads halved on both.
//
// The block holds, in pages of 4 KiB (the page size of the databases
// Gatehouse creates), SQLite's default cache of 2,000 KiB for each
// connection of one store's default pools (two writer connections, the
// checkpointer's, the read and list pools), and two more: for a command's
// read-only connection, and so that the block is not nearly full when
// every cache is, which makes SQLite recycle pages sooner; at most
// maxPageCacheBytes. The block bounds the pages cached by the whole
// process: once fewer than ten slots are free (more stores in one
// process, more than 6 cores), SQLite counts that as memory pressure, and a
// connection's cache takes the least recently used unpinned page of any
// connection before it allocates a new one; it allocates (one by one, as
// before) only when there is none to take. A database whose pages are
// larger than 4 KiB does not fit the slots and allocates every page that
// way; one with smaller pages uses a whole slot for each. Slower, never
// wrong.
var pageCache struct {
	err   error // why SQLite refused the block (nil if it took it)
	slots int   // how many pages it holds
	size  int   // the size of a slot: a page and its header
}

// The block must be SQLite's before it initializes, that is before the
// first connection opens: package initialization runs before any code of
// this package, and no other package of Gatehouse opens SQLite. SQLite
// sets the block up (writing into each slot) when it initializes, so a
// command that never opens a database never touches it. If SQLite refuses
// (a package imported later that opened a database in its own init would
// make it), pages are allocated one by one as before: Open logs a warning
// once, and a test checks that it did not happen.
func init() {
	pageCache.err = setPageCache(3 + 2*defaultReadConns() + 2)
}

// defaultCacheKiB is SQLite's default cache_size (-2000: in KiB).
const defaultCacheKiB = 2000

// maxPageCacheBytes caps the block: SQLite writes into every slot when it
// initializes, so the whole block is resident from the first open on. 64
// MiB holds the default caches of a store on up to 6 cores (5 + 4 per core
// caches of 2,000 KiB); on more, the pages beyond it are allocated as
// before.
const maxPageCacheBytes = 64 << 20

func setPageCache(caches int) error {
	tls := libc.NewTLS()
	defer tls.Close()
	// The header SQLite adds to each page in the cache
	// (SQLITE_CONFIG_PCACHE_HDRSZ), so that a slot fits a whole line. SQLite
	// writes it into C memory (the TLS's stack), not a Go variable, which
	// the Go runtime may move while SQLite runs.
	out := tls.Alloc(4)
	defer tls.Free(4)
	if err := sqliteConfig(tls, sqlite3.SQLITE_CONFIG_PCACHE_HDRSZ, out); err != nil {
		return err
	}
	hdr := *(*int32)(cMem(out))
	size := (4096 + int(hdr) + 7) &^ 7
	slots := min(caches*(defaultCacheKiB*1024/size), maxPageCacheBytes/size)
	buf, err := allocPageCache(size * slots)
	if err != nil {
		return fmt.Errorf("sqlite: no memory for a page cache of %d bytes: %w", size*slots, err)
	}
	if err := sqliteConfig(tls, sqlite3.SQLITE_CONFIG_PAGECACHE, buf, int32(size), int32(slots)); err != nil {
		return err // the block stays mapped: this runs once
	}
	pageCache.slots, pageCache.size = slots, size
	return nil
}

// PageCacheErr says why SQLite refused the page-cache block, nil if it took
// it: the block must be SQLite's before its first connection opens, and a
// package initialized before this one that opened a database would undo it
// (reads then cost what they did before the block).
func PageCacheErr() error { return pageCache.err }

// cMem is the address p of C memory (libc's allocator: outside the Go
// heap, never moved or collected) as a pointer Go code may read through.
// Loading it from memory instead of converting the uintptr in place says
// so to go vet, whose check cannot tell C memory from Go memory.
func cMem(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// sqliteConfig calls sqlite3_config(op, args...).
func sqliteConfig(tls *libc.TLS, op int32, args ...any) error {
	va := libc.NewVaList(args...)
	if va == 0 {
		return fmt.Errorf("sqlite: no memory for sqlite3_config's arguments")
	}
	defer libc.Xfree(tls, va)
	if rc := sqlite3.Xsqlite3_config(tls, op, va); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: sqlite3_config(%d) = %d (SQLite had already initialized)", op, rc)
	}
	return nil
}

// pageCacheUse is how many slots of the block are in use now, and how many
// bytes of pages SQLite allocated outside it (sqlite3_status64).
func pageCacheUse() (used, overflow int64, err error) {
	tls := libc.NewTLS()
	defer tls.Close()
	out := tls.Alloc(16) // current, highwater: C memory, as in setPageCache
	defer tls.Free(16)
	for _, st := range []struct {
		op  int32
		out *int64
	}{{sqlite3.SQLITE_STATUS_PAGECACHE_USED, &used}, {sqlite3.SQLITE_STATUS_PAGECACHE_OVERFLOW, &overflow}} {
		if rc := sqlite3.Xsqlite3_status64(tls, st.op, out, out+8, 0); rc != sqlite3.SQLITE_OK {
			return 0, 0, fmt.Errorf("sqlite3_status64(%d) = %d", st.op, rc)
		}
		*st.out = *(*int64)(cMem(out))
	}
	return used, overflow, nil
}

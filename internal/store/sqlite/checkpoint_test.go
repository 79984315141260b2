package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// TestCommitterFinishesCheckpoint: under a steady stream of writes the
// background checkpoints always lag one batch behind, so the log would only
// grow; once it is past restartFrames, the committer copies the rest between
// two batches, which lets the next batch start the log over.
func TestCommitterFinishesCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := handDriven(t, "wal.db")
	write := func(from, n int) { insertUsers(t, s, from, n) }
	// checkpoint copies the log as a background tick would.
	checkpoint := func() {
		var busy, n, done int
		if err := s.cdb.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &n, &done); err != nil {
			t.Fatal(err)
		}
	}
	// frames reads the log's length without touching it: mxFrame, at byte
	// 16 of the WAL-index header in the -shm file (little-endian here).
	frames := func() int {
		b, err := os.ReadFile(s.path + "-shm")
		if err != nil || len(b) < 20 {
			t.Fatalf("read -shm: %v", err)
		}
		return int(binary.LittleEndian.Uint32(b[16:20]))
	}
	// lagging writes a batch that is still open while a background
	// checkpoint runs, so that the checkpoint ends one batch behind, as
	// under a steady stream of writes.
	lagging := func(from int, beforeCommit func()) {
		started, release := make(chan struct{}), make(chan struct{})
		done := make(chan error)
		go func() {
			done <- s.Write(ctx, func(tx directory.Tx) error {
				now := time.Now()
				for i := from; i < from+500; i++ {
					if err := tx.InsertUser(ctx, &directory.User{ID: fmt.Sprint("u", i), UserName: fmt.Sprint("user", i), OrgID: directory.RootOrgID, Created: now, Modified: now, Version: 1}); err != nil {
						return err
					}
				}
				close(started)
				<-release
				return nil
			})
		}()
		<-started
		checkpoint() // while the batch is open
		beforeCommit()
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	// Without the committer's help the log keeps growing.
	write(0, 2000)
	lagging(10000, func() {})
	before := frames()
	write(20000, 1)
	if after := frames(); after <= before {
		t.Fatalf("control: log went from %d to %d frames without help", before, after)
	}

	// With it: the committer finishes the checkpoint after the lagging
	// batch, and the next write starts the log over.
	lagging(30000, func() { s.walFrames.Store(restartFrames) })
	before = frames()
	write(40000, 1)
	if after := frames(); after >= before/10 {
		t.Errorf("log did not start over: %d frames, then %d", before, after)
	}
	if s.walFrames.Load() != 0 {
		t.Errorf("walFrames = %d after a complete checkpoint", s.walFrames.Load())
	}
}

// TestWriterTempStore: the writer's connections keep statement journals in
// memory (temp_store = 2, MEMORY), also the one that ran the migrations,
// which ran with temporary files (temp_store = 1).
func TestWriterTempStore(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "temp.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var conns []interface{ Close() error }
	for range 2 {
		c, err := s.wdb.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var mode int
		if err := c.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&mode); err != nil || mode != 2 {
			t.Errorf("writer connection %d: temp_store %d %v, want 2 (MEMORY)", len(conns), mode, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestCheckpointFlushesBeforeReporting: a background pass that copied pages
// fsyncs the database file before it reports the log's size (which is what
// sends the committer to finish the checkpoint), so that the committer's
// finishing checkpoint has only the pages written since to flush; a pass
// that copied nothing new does not sync.
func TestCheckpointFlushesBeforeReporting(t *testing.T) {
	ctx := context.Background()
	s := handDriven(t, "flush.db")
	if s.syncDB == nil {
		t.Fatal("the store did not open the database file for the checkpointer's fsync")
	}
	var reported []int64 // the log size the store reported when each sync ran
	s.syncDB = func() error {
		reported = append(reported, s.walFrames.Load())
		return nil
	}
	write := func(from int) { insertUsers(t, s, from, 200) }
	s.checkpoint(ctx, s.cdb, true) // whatever Open left in the log
	reported = nil
	s.walFrames.Store(-1)

	write(0)
	s.checkpoint(ctx, s.cdb, true)
	if len(reported) != 1 || reported[0] != -1 {
		t.Fatalf("after a pass that copied pages: syncs saw reported sizes %v, want one sync before the new size was reported", reported)
	}
	if s.walFrames.Load() <= 0 {
		t.Fatalf("walFrames = %d after the pass", s.walFrames.Load())
	}
	s.checkpoint(ctx, s.cdb, true)
	if len(reported) != 1 {
		t.Fatalf("a pass that copied nothing new synced (%d syncs)", len(reported))
	}
	write(1000)
	s.checkpoint(ctx, s.cdb, true)
	if len(reported) != 2 {
		t.Fatalf("a pass after more writes did not sync (%d syncs)", len(reported))
	}

	// Copy often, sync seldom: a pass before the sync is due copies
	// without syncing and reports the log's size (short of restartFrames:
	// the committer does nothing with it); the next pass when it is due
	// syncs what that one copied, though it copies nothing itself.
	write(2000)
	s.checkpoint(ctx, s.cdb, false)
	if len(reported) != 2 {
		t.Fatalf("a pass before the sync was due synced (%d syncs)", len(reported))
	}
	copied := s.walFrames.Load()
	if copied <= 0 {
		t.Fatalf("walFrames = %d after a pass that did not sync", copied)
	}
	s.checkpoint(ctx, s.cdb, true)
	if len(reported) != 3 {
		t.Fatalf("the pages an earlier pass copied were not synced when the sync was due (%d syncs)", len(reported))
	}
	// A log at restartFrames is synced before it is reported, due or not:
	// what the committer's finishing checkpoint flushes is only what this
	// pass left.
	s.tuning.restartFrames = 1
	s.walFrames.Store(-2)
	write(3000)
	s.checkpoint(ctx, s.cdb, false)
	if len(reported) != 4 || reported[3] != -2 {
		t.Fatalf("a log at restartFrames: syncs saw reported sizes %v, want a fourth before the new size was reported", reported)
	}
	// The committer may finish a checkpoint while a pass syncs (here the
	// sync stands in for it): the pass then leaves the committer's reset
	// alone rather than report the size of a log that has been let go.
	s.syncDB = func() error {
		reported = append(reported, s.walFrames.Load())
		s.walFrames.Store(0)
		return nil
	}
	write(3500)
	s.checkpoint(ctx, s.cdb, false)
	if n := s.walFrames.Load(); n != 0 {
		t.Errorf("a pass overwrote the committer's reset with %d frames", n)
	}
	s.tuning.restartFrames = restartFrames

	// A sync that fails is not reported to the committer, and the next
	// pass tries again.
	s.syncDB = func() error { return errors.New("EIO") }
	write(4000)
	s.checkpoint(ctx, s.cdb, true)
	if n := s.walFrames.Load(); n != 0 {
		t.Errorf("after a failed sync the committer was told the log has %d frames", n)
	}
	synced := false
	s.syncDB = func() error { synced = true; return nil }
	s.checkpoint(ctx, s.cdb, true)
	if !synced || s.walFrames.Load() <= 0 {
		t.Errorf("the pass after a failed sync: synced %v, walFrames %d", synced, s.walFrames.Load())
	}
}

// TestCheckpointSlowWrites: once passes copy little for the time between
// them (writes come seldom: here one every 100 ms), commits no longer bring
// a pass each — each complete copy lets the next commit start the log
// over, at the price of fsyncs on the commit path — and the periodic tick
// (here an hour away) copies instead. It takes slowPasses such passes in a
// row, not one: a lull under heavy writes must not end the fast mode.
func TestCheckpointSlowWrites(t *testing.T) {
	s := handDriven(t, "slow.db")
	s.checkpoint(context.Background(), s.cdb, true) // what Open wrote, so that passes copy only the writes below
	s.tuning.syncEvery = time.Hour
	s.startCheckpointer(s.cdb)
	passes := 0
	for i := range 10 {
		time.Sleep(100 * time.Millisecond)
		insertUsers(t, s, i, 1)
		if !copiedWithin(t, s, 2*time.Second) {
			break
		}
		passes++
	}
	// The first commit's pass may count as fast (the checkpointer has just
	// started); slowPasses slow ones after it end the mode.
	if passes < slowPasses || passes > slowPasses+1 {
		t.Errorf("commits brought a pass each %d times before they stopped, want %d or %d", passes, slowPasses, slowPasses+1)
	}
}

// shmFrames reads the log's length (mxFrame, byte 16 of the WAL-index
// header in the -shm file) and how much of it a checkpoint copied
// (nBackfill, byte 96, after the header's two copies); little-endian here.
func shmFrames(t *testing.T, path string) (mx, backfill uint32) {
	t.Helper()
	b, err := os.ReadFile(path + "-shm")
	if err != nil || len(b) < 100 {
		t.Fatalf("read -shm: %v", err)
	}
	return binary.LittleEndian.Uint32(b[16:20]), binary.LittleEndian.Uint32(b[96:100])
}

// copiedWithin reports whether a pass copies the whole log of s within d.
func copiedWithin(t *testing.T, s *Store, d time.Duration) bool {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if mx, backfill := shmFrames(t, s.path); mx > 0 && backfill == mx {
			return true
		}
	}
	return false
}

// handDriven opens a store in a new directory with its checkpointer
// stopped: the test drives checkpoints itself, or restarts the
// checkpointer after changing its tuning.
func handDriven(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), name), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.stopCheckpointer()
	return s
}

// insertUsers writes users u<from>… u<from+n-1> in one write.
func insertUsers(t *testing.T, s *Store, from, n int) {
	t.Helper()
	ctx := context.Background()
	err := s.Write(ctx, func(tx directory.Tx) error {
		now := time.Now()
		for i := from; i < from+n; i++ {
			if err := tx.InsertUser(ctx, &directory.User{ID: fmt.Sprint("u", i), UserName: fmt.Sprint("user", i), OrgID: directory.RootOrgID, Created: now, Modified: now, Version: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointFollowsCommits: the checkpointer copies what a batch
// committed without waiting for its periodic tick (here an hour away), so
// that each pass has little to copy.
func TestCheckpointFollowsCommits(t *testing.T) {
	s := handDriven(t, "follow.db")
	s.tuning.syncEvery = time.Hour
	s.startCheckpointer(s.cdb)
	insertUsers(t, s, 0, 200)
	if !copiedWithin(t, s, 20*time.Second) {
		mx, backfill := shmFrames(t, s.path)
		t.Fatalf("no checkpoint after a commit: %d of %d frames copied", backfill, mx)
	}
}

// TestDBFileSharedAcrossStores: the descriptor the checkpointer syncs is
// one per process and file, closed only when the last Store on the file has
// closed — closing a descriptor would drop the POSIX locks that the other
// Store's SQLite connections hold on the file.
func TestDBFileSharedAcrossStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.dbFile == nil || a.dbFile != b.dbFile {
		t.Fatalf("two Stores on one file: descriptors %p and %p, want one shared", a.dbFile, b.dbFile)
	}
	other, err := Open(ctx, filepath.Join(t.TempDir(), "other.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.dbFile == a.dbFile {
		t.Fatal("a Store on another file shares the descriptor")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Close() // a second Close must not release the descriptor again
	if err := b.syncDB(); err != nil {
		t.Fatalf("after the first Store closed (twice), the second's descriptor: %v", err)
	}
	f := b.dbFile.f
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err == nil {
		t.Error("the descriptor is still open after the last Store closed")
	}
}

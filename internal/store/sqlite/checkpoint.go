package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints. SQLite's default copies the write-ahead log back into the
// database file from inside the commit that crosses 1,000 pages: the writer,
// and every write waiting behind it, then waits for that copy and its fsync.
// Gatehouse turns that off (wal_autocheckpoint=0) and checkpoints from a
// connection of its own instead (below): the committer never stops for
// it. A PASSIVE checkpoint copies what it can without waiting for
// readers or writers.
//
// The log only starts over from its beginning when a write begins while
// everything in it has been copied, which under a steady stream of writes
// never happens by chance. So once the log passes restartFrames, the
// committer itself, between two batches, finishes the copy (the background
// checkpoints have done most of it) and the next batch restarts the log;
// journal_size_limit then trims the file.
//
// SQLite fsyncs the database file only in the checkpoint that copies the
// whole log (with an ftruncate before it); a partial one leaves the pages
// it copied to the operating system, since the log still holds them. Under
// writes, every background pass is partial, so the committer's finishing
// checkpoint used to flush everything copied since the last restart — 40
// MiB at 2,000 PATCHes a second on 1,000,000 users: a 55–70 ms stall of
// every write, the tail of PATCH's latency (docs/benchmarks.md, issue 16).
// So the checkpointer fsyncs the database file itself, off the commit path,
// before it reports a log that has reached restartFrames (which is what
// sends the committer to finish): what the committer flushes is the few
// pages written since. This sync is for latency only; SQLite's
// own, in the checkpoint that completes, is what durability rests on.
//
// Copy often, sync seldom, while writes come fast. A pass copies
// everything committed since the last one, and copying costs CPU (a read
// and a write of each page): one pass every 250 ms under 1,600 PATCHes a
// second copied the 3,500 or so frames of log those 250 ms had written, in
// 15–50 ms, taking one of two cores from the committer and the requests,
// and its fsync then held up the commits' own for 25–40 ms: every write in
// flight stalled at once, four times a second, which was PATCH's p99
// (30–36 ms; docs/benchmarks.md, "an eighth session"). So while writes come
// fast — passes copy at least busyRate frames a second of the time since
// the pass before; three slower passes in a row, not one, end it — the
// checkpointer copies after commits, at most one pass every copyEvery (a
// few hundred frames, a millisecond or two). Otherwise it copies every
// syncEvery, as before: a
// pass that copies the whole log lets the next commit start it over, which
// costs SQLite's own fsync of the database and one more of the log on the
// commit path, and at a few writes a second a pass after each commit made
// that happen after each commit. The pages it copied are synced at most
// every syncEvery while the log is short of restartFrames, and after each
// pass that copied some once it has reached it (the log stays that long
// only while a reader holds on to its start), so that the committer's
// finishing checkpoint still flushes only what the last pass left. The
// price of frequent passes: the pages every write touches (the tables'
// last pages, the upper levels of the b-trees) are copied once a pass, so
// more passes copy more in all; at 10 ms the checkpointer's CPU doubled
// and POSTs a second fell by up to a tenth, hence 20.

const (
	copyEvery     = 20 * time.Millisecond
	syncEvery     = 250 * time.Millisecond
	busyRate      = 3200 // frames a second (64 in 20 ms, 256 KiB): writes come fast
	slowPasses    = 3    // slower passes in a row that end the fast mode
	restartFrames = 8192 // 32 MiB of 4 KiB pages
)

// checkpointTuning is copyEvery, syncEvery and restartFrames as a store's
// checkpointer uses them (tests change them; the committer's
// finishCheckpoint reads the constant).
type checkpointTuning struct {
	copyEvery, syncEvery time.Duration
	restartFrames        int
}

func (s *Store) startCheckpointer(db *sql.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopCheckpoint = cancel
	s.checkpointDone = make(chan struct{})
	go func() {
		defer close(s.checkpointDone)
		tick := time.NewTicker(s.tuning.syncEvery)
		defer tick.Stop()
		pace := time.NewTimer(0)
		defer pace.Stop()
		fast, slow := true, 0 // fast until passes say otherwise
		prev := time.Now()
		for {
			var commits <-chan struct{}
			if fast {
				commits = s.committed
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-commits:
			}
			start := time.Now()
			copied := s.checkpoint(ctx, db, time.Since(s.lastSync) >= s.tuning.syncEvery)
			switch {
			case copied < 0: // it did not run: nothing learned
			case float64(copied) >= busyRate*start.Sub(prev).Seconds():
				fast, slow = true, 0
			default:
				if slow++; slow >= slowPasses {
					fast = false
				}
			}
			prev = start
			if !fast {
				continue
			}
			pace.Reset(s.tuning.copyEvery)
			select {
			case <-ctx.Done():
				return
			case <-pace.C:
			}
		}
	}()
}

// committedSignal tells the checkpointer that a batch has committed, without
// waiting: one signal pending is enough.
func (s *Store) committedSignal() {
	select {
	case s.committed <- struct{}{}:
	default:
	}
}

// checkpoint runs one checkpoint pass; if pages copied by it or an earlier
// pass are not yet flushed, it flushes them when syncNow is set or the log
// has reached restartFrames. It returns how many frames of log the pass
// copied (-1 if it could not run: another connection was checkpointing),
// and reports nothing else: a failed checkpoint is retried at the
// next pass, and the log meanwhile only grows. Only the checkpointer's
// goroutine calls it (and Close, after that goroutine has stopped).
func (s *Store) checkpoint(ctx context.Context, db *sql.DB, syncNow bool) (copied int) {
	reported := s.walFrames.Load()
	var busy, frames, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil || !ran(busy, frames) {
		return -1
	}
	// Pages were copied since the last pass if more are copied now, or if
	// the log is a new one (smaller than before).
	copied = done - s.walCopied
	if frames < s.walLast {
		copied = done
	}
	if done > 0 && copied != 0 {
		s.unsynced = true
	}
	s.walCopied, s.walLast = done, frames
	if s.unsynced && s.syncDB != nil && (syncNow || frames >= s.tuning.restartFrames) {
		if err := s.syncDB(); err != nil {
			// Not reported to the committer: it finishes no checkpoint on
			// the strength of this pass. (On Linux since 4.13 a writeback
			// error reaches every descriptor open on the file, SQLite's
			// too, so its own sync fails as well.) The next pass retries.
			s.walFrames.Store(0)
			return copied
		}
		s.unsynced, s.lastSync = false, time.Now()
	}
	// Unless the committer has reset it meanwhile: it finished a
	// checkpoint while this pass ran, and the size this pass read may be
	// that of the log it let start over.
	s.walFrames.CompareAndSwap(reported, int64(frames))
	return copied
}

// finishCheckpoint runs in the committer, between batches, when the log has
// grown past restartFrames.
func (s *Store) finishCheckpoint() {
	if s.walFrames.Load() < restartFrames {
		return
	}
	var busy, frames, done int
	if err := s.wdb.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err == nil && ran(busy, frames) && frames == done {
		s.walFrames.Store(0)
	}
}

// ran tells whether a PRAGMA wal_checkpoint(PASSIVE) that answered busy,
// frames ran at all. Another connection's checkpoint in progress (the
// committer's finishing one and the checkpointer's passes can meet) makes
// it answer 1, -1, -1 without an error: the log's size is then unknown —
// and -1 = -1 would read as a log copied to its end, which sent the
// committer on to start it over as if it were.
func ran(busy, frames int) bool { return busy == 0 && frames >= 0 }

func (s *Store) stopCheckpointer() {
	if s.stopCheckpoint != nil {
		s.stopCheckpoint()
		<-s.checkpointDone
	}
}

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
// connection of its own instead, a few times a second: the committer never
// stops for it. A PASSIVE checkpoint copies what it can without waiting for
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
// So the checkpointer fsyncs the database file itself after each pass that
// copied pages, off the commit path, and only then reports the log's size
// (which is what sends the committer to finish): what the committer flushes
// is the few pages written since. This sync is for latency only; SQLite's
// own, in the checkpoint that completes, is what durability rests on.

const (
	checkpointEvery = 250 * time.Millisecond
	restartFrames   = 8192 // 32 MiB of 4 KiB pages
)

func (s *Store) startCheckpointer(db *sql.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopCheckpoint = cancel
	s.checkpointDone = make(chan struct{})
	go func() {
		defer close(s.checkpointDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.checkpoint(ctx, db)
			}
		}
	}()
}

// checkpoint runs one checkpoint pass, flushes the pages it copied, and
// reports nothing: a failed checkpoint is retried at the next tick, and the
// log meanwhile only grows. Only the checkpointer's goroutine calls it
// (and Close, after that goroutine has stopped).
func (s *Store) checkpoint(ctx context.Context, db *sql.DB) {
	var busy, frames, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
		return
	}
	// Pages were copied since the last pass if more are copied now, or if
	// the log is a new one (smaller than before).
	if done > 0 && (done != s.walCopied || frames < s.walLast) && s.syncDB != nil {
		if err := s.syncDB(); err != nil {
			// Not reported to the committer: it finishes no checkpoint on
			// the strength of this pass. (On Linux since 4.13 a writeback
			// error reaches every descriptor open on the file, SQLite's
			// too, so its own sync fails as well.) The next pass retries.
			s.walFrames.Store(0)
			return
		}
	}
	s.walCopied, s.walLast = done, frames
	s.walFrames.Store(int64(frames))
}

// finishCheckpoint runs in the committer, between batches, when the log has
// grown past restartFrames.
func (s *Store) finishCheckpoint() {
	if s.walFrames.Load() < restartFrames {
		return
	}
	var busy, frames, done int
	if err := s.wdb.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err == nil && frames == done {
		s.walFrames.Store(0)
	}
}

func (s *Store) stopCheckpointer() {
	if s.stopCheckpoint != nil {
		s.stopCheckpoint()
		<-s.checkpointDone
	}
}

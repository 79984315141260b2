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

// checkpoint runs one checkpoint and reports nothing: a failed checkpoint is
// retried at the next tick, and the log meanwhile only grows.
func (s *Store) checkpoint(ctx context.Context, db *sql.DB) {
	var busy, frames, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
		return
	}
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

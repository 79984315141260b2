package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Group commit. SQLite has one writer, and with synchronous=FULL every
// commit waits for an fsync. Rather than one transaction (and one fsync) per
// change, a single committer goroutine takes every write waiting in the
// queue and runs them, one after another, inside one transaction, each in
// its own savepoint: a write that fails is rolled back to its savepoint
// without touching the others, and each writer hears back only after the
// COMMIT that made its change durable. Under load many changes share one
// fsync; alone, a write runs at once, without waiting for company.
//
// The result is the same as running the writes one by one in queue order:
// each sees the writes before it, and none sees the effects of a failed one.

const maxBatch = 128

type writeJob struct {
	ctx  context.Context
	fn   func(*tx) error
	done chan error
	// deadline ends the write's wait for a lock another process holds:
	// the busy timeout after it was submitted (begin).
	deadline time.Time
	answered bool // done has been sent its result (begin)
}

// errClosed answers writes submitted after Close.
var errClosed = errors.New("sqlite: store closed")

type committer struct {
	mu     sync.RWMutex // held for reading while submitting, for writing by Close
	closed bool
	jobs   chan *writeJob
	exited chan struct{}
}

func (s *Store) startCommitter() {
	s.cm = &committer{jobs: make(chan *writeJob, maxBatch), exited: make(chan struct{})}
	go s.commitLoop()
}

// submit queues fn and waits until its transaction has committed or
// failed. Once queued, a write is waited for even if ctx ends, so that a
// caller never reports as failed a change that was committed.
func (s *Store) submit(ctx context.Context, fn func(*tx) error) error {
	if err := ctx.Err(); err != nil {
		return err // not queued: a select below may pick either case
	}
	job := &writeJob{ctx: ctx, fn: fn, done: make(chan error, 1), deadline: s.now().Add(s.busyTimeout)}
	s.cm.mu.RLock()
	if s.cm.closed {
		s.cm.mu.RUnlock()
		return errClosed
	}
	select {
	case s.cm.jobs <- job:
		s.cm.mu.RUnlock()
	case <-ctx.Done():
		s.cm.mu.RUnlock()
		return ctx.Err()
	}
	return <-job.done
}

// stopCommitter lets queued writes finish, then stops the committer.
func (s *Store) stopCommitter() {
	s.cm.mu.Lock()
	if !s.cm.closed {
		s.cm.closed = true
		close(s.cm.jobs)
	}
	s.cm.mu.Unlock()
	<-s.cm.exited
}

func (s *Store) commitLoop() {
	defer close(s.cm.exited)
	for first := range s.cm.jobs {
		batch := []*writeJob{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case j, ok := <-s.cm.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		s.runBatch(batch)
		s.finishCheckpoint()
		s.committedSignal() // after: a pass must not report the size of a log finishCheckpoint let go
	}
}

func (s *Store) runBatch(batch []*writeJob) {
	results := make([]error, len(batch))
	err := s.runBatchTx(batch, results)
	for i, j := range batch {
		if j.answered {
			continue
		}
		if err != nil {
			results[i] = err
		}
		j.done <- results[i]
	}
}

// runBatchTx runs the batch in one transaction. It returns an error when the
// transaction as a whole failed (then every write failed).
func (s *Store) runBatchTx(batch []*writeJob, results []error) error {
	ctx := context.Background()
	conn, sqlTx, err := s.begin(ctx, batch, results)
	if err != nil || sqlTx == nil {
		return err
	}
	defer conn.Close()
	defer sqlTx.Rollback()
	t := &tx{tx: cachedTx{tx: sqlTx, c: s.wc}}
	var live []int // the writes begin did not answer
	for i := range batch {
		if results[i] == nil {
			live = append(live, i)
		}
	}
	if len(live) == 1 {
		// Alone: no savepoint needed, a failure rolls back the transaction.
		i := live[0]
		j := batch[i]
		if results[i] = j.ctx.Err(); results[i] != nil {
			return nil
		}
		if results[i] = runJob(j, t); results[i] != nil {
			return nil
		}
		if err := sqlTx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	for _, i := range live {
		j := batch[i]
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		results[i] = runJob(j, t)
		if results[i] != nil {
			if _, err := sqlTx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
				return fmt.Errorf("rollback to savepoint: %w", err)
			}
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE w"); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// begin starts the batch's transaction on a connection of the writer's
// pool, which the caller closes after the transaction; nil, nil when every
// write of the batch has been answered (results) without one.
//
// A write waits for a lock another process holds at most the busy timeout
// in all, counted from its submission: the time it spent queued behind a
// batch that was waiting for the same lock counts. So the transaction
// waits for the lock only until the earliest deadline among the batch's
// writes (PRAGMA busy_timeout, set for each attempt); when the lock is
// still held then, the writes whose deadline has come fail with
// SQLITE_BUSY (Unavailable: 503) and the others wait on, up to their own.
// A write whose deadline has passed while it was queued still gets the
// lock if it is free.
func (s *Store) begin(ctx context.Context, batch []*writeJob, results []error) (*sql.Conn, *sql.Tx, error) {
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	for {
		var first time.Time
		waiting := false
		for i, j := range batch {
			if results[i] == nil && (!waiting || j.deadline.Before(first)) {
				first, waiting = j.deadline, true
			}
		}
		if !waiting {
			conn.Close()
			return nil, nil, nil
		}
		wait := max(first.Sub(s.now()), 0)
		if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(wait.Milliseconds(), 10)); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("begin: %w", err)
		}
		sqlTx, err := conn.BeginTx(ctx, nil)
		if err == nil {
			return conn, sqlTx, nil
		}
		if !isBusy(err) {
			conn.Close()
			return nil, nil, fmt.Errorf("begin: %w", err)
		}
		// Answered now, not with the rest of the batch.
		now := s.now()
		for i, j := range batch {
			if results[i] == nil && (!j.deadline.After(first) || !j.deadline.After(now)) {
				results[i] = fmt.Errorf("begin: %w", err)
				j.done <- results[i]
				j.answered = true
			}
		}
	}
}

// isBusy reports whether err is SQLITE_BUSY: a lock another connection
// holds.
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// runJob runs one write, turning a panic into an error so that one bad
// write cannot take the others down.
func runJob(j *writeJob, t *tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: write panicked: %v", r)
		}
	}()
	return j.fn(t)
}

// exec runs one statement as a write of its own.
func (s *Store) writeExec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.submit(ctx, func(t *tx) error {
		var err error
		res, err = t.tx.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

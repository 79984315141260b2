package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
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
	job := &writeJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
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
	}
}

func (s *Store) runBatch(batch []*writeJob) {
	results := make([]error, len(batch))
	err := s.runBatchTx(batch, results)
	for i, j := range batch {
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
	sqlTx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	t := &tx{tx: cachedTx{tx: sqlTx, c: s.wc}}
	if len(batch) == 1 {
		// Alone: no savepoint needed, a failure rolls back the transaction.
		j := batch[0]
		if results[0] = j.ctx.Err(); results[0] != nil {
			return nil
		}
		if results[0] = runJob(j, t); results[0] != nil {
			return nil
		}
		if err := sqlTx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	for i, j := range batch {
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

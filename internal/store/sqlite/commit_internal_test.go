package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestAbandonedWriteSparesItsBatch: a write whose caller goes away (its
// context ends) while one of its statements runs must not fail the writes
// batched with it in the group commit's transaction. The driver stops such
// a statement with sqlite3_interrupt, which rolls back the whole
// transaction and its savepoints: the other writes failed with "no such
// savepoint" (answered 500) although their callers stayed.
func TestAbandonedWriteSparesItsBatch(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE batch_probe (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// A write of its own holds the committer while the next batch queues.
	hold, held := make(chan struct{}), make(chan struct{})
	go s.submit(ctx, func(*tx) error { close(held); <-hold; return nil })
	<-held
	insert := func(ctx context.Context, q string, args ...any) func(*tx) error {
		return func(t *tx) error { _, err := t.tx.ExecContext(ctx, q, args...); return err }
	}
	stayed := make(chan error, 2)
	for _, k := range []string{"b", "c"} {
		go func() { stayed <- s.submit(ctx, insert(ctx, `INSERT INTO batch_probe VALUES (?)`, k)) }()
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Counting to two million takes SQLite far longer than the 20 ms after
	// which the caller goes away.
	slow := insert(actx, `INSERT INTO batch_probe SELECT 'slow' || max(x) FROM
		(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT x FROM c)`)
	abandoned := make(chan error, 1)
	go func() {
		abandoned <- s.submit(actx, func(t *tx) error {
			time.AfterFunc(20*time.Millisecond, cancel)
			return slow(t)
		})
	}()
	for len(s.cm.jobs) < 3 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	for range 2 {
		if err := <-stayed; err != nil {
			t.Errorf("a write batched with an abandoned one failed: %v", err)
		}
	}
	aerr := <-abandoned
	if aerr != nil && !errors.Is(aerr, context.Canceled) {
		t.Errorf("abandoned write: %v", aerr)
	}
	var n, slowRows int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE k IN ('b', 'c')), count(*) FILTER (WHERE k LIKE 'slow%') FROM batch_probe`).Scan(&n, &slowRows); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d of the two writes that stayed are stored", n)
	}
	// The abandoned write is stored if and only if it was acknowledged.
	if (aerr == nil) != (slowRows == 1) {
		t.Errorf("abandoned write answered %v, %d rows of it stored", aerr, slowRows)
	}
}

// TestSubmitAfterItsCallerHasGone: a write whose context has already ended
// is refused before it is queued, every time. Queued, it would wait for a
// lock another process holds up to the busy timeout and fail as busy (a
// stopped Bulk's remaining operations each waited so).
func TestSubmitAfterItsCallerHasGone(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Another connection holds the write lock.
	other, err := s.cdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer other.ExecContext(ctx, "ROLLBACK")
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for range 30 {
		ran := false
		if err := s.submit(gone, func(*tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("a write whose caller had gone: %v, ran %v", err, ran)
		}
	}
}

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	gsqlite "github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// A write waits for a lock another process holds at most the busy timeout
// in all, counted from its submission: its time queued behind a batch that
// waited for the same lock counts (before, a queued write could wait twice
// the documented 10 s). A write whose deadline has come fails at once
// (SQLITE_BUSY: 503), and is answered then, not when the other writes of
// its batch are; those wait on, up to their own deadlines.
//
// The clock is the test's: the committer's first reading waits until the
// writes are queued, and the times are chosen so that the only real wait
// for the lock is the last write's (a busy timeout of an hour).
func TestWriteWaitsAtMostTheBusyTimeout(t *testing.T) {
	const timeout = time.Hour
	t0 := time.Now()
	var cur atomic.Int64 // the clock's time, as an offset from t0
	var readings atomic.Int64
	read := make(chan int64, 64)
	queued := make(chan struct{})
	now := func() time.Time {
		n := readings.Add(1)
		if n <= 4 {
			read <- n
		}
		if n == 2 {
			<-queued // the committer, about to begin the first write's batch
		}
		return t0.Add(time.Duration(cur.Load()))
	}
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	st, err := gsqlite.Open(context.Background(), path, gsqlite.Options{BusyTimeout: timeout, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Another process (here: another connection) holds the write lock.
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	release := func() {
		if locked {
			locked = false
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer release()

	write := func() chan error {
		done := make(chan error, 1)
		go func() { done <- st.Write(ctx, func(directory.Tx) error { return nil }) }()
		return done
	}
	// w0 is submitted at t0 and taken by the committer, which waits; w1 is
	// submitted at t0 too, w2 a busy timeout later. The committer then
	// reads t0 + the busy timeout: w0's and w1's deadline.
	w0 := write()
	<-read // w0's submission
	select {
	case <-read: // the committer's reading, for w0's batch
	case <-time.After(10 * time.Second):
		close(queued)
		t.Fatal("the committer does not read the clock: it cannot bound a write's wait by its deadline")
	}
	w1 := write()
	<-read
	cur.Store(int64(timeout))
	w2 := write()
	<-read
	close(queued)

	// wait returns a write's result; a write still waiting after a while
	// is let through (the lock released), and then succeeds.
	wait := func(done chan error) error {
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			release()
			return <-done
		}
	}
	for name, done := range map[string]chan error{"the write queued until its deadline": w0, "the write whose deadline came in its batch": w1} {
		if err := wait(done); err == nil || !st.Unavailable(err) {
			t.Errorf("%s, while the lock is held: %v, want SQLITE_BUSY (unavailable) at once", name, err)
		}
	}
	select {
	case err := <-w2:
		t.Fatalf("the write with an hour to wait was answered while the lock is held: %v", err)
	default:
	}
	release()
	if err := <-w2; err != nil {
		t.Errorf("the write still within its deadline when the lock is released: %v", err)
	}
}

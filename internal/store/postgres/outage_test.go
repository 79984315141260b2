package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/store/pgfault"
)

// openThroughProxy opens a store in a fresh schema through a pgfault proxy.
func openThroughProxy(t *testing.T) (*Store, *pgfault.Proxy) {
	t.Helper()
	return openThroughProxyWith(t, Options{})
}

// openThroughProxyWith opens a store with opt in a fresh schema through a
// pgfault proxy.
func openThroughProxyWith(t *testing.T, opt Options) (*Store, *pgfault.Proxy) {
	t.Helper()
	url := testURL(t)
	opt.Schema = freshSchema(t, url)
	p, err := pgfault.Start(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s, err := Open(context.Background(), p.URL(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

func insert(id, userName string) func(ctx context.Context, tx directory.Tx) error {
	return func(ctx context.Context, tx directory.Tx) error { return tx.InsertUser(ctx, newUser(id, userName)) }
}

func write(s *Store, fn func(ctx context.Context, tx directory.Tx) error) error {
	ctx := context.Background()
	return s.Write(ctx, func(tx directory.Tx) error { return fn(ctx, tx) })
}

// While the server cannot be reached, reads and writes fail with errors the
// store calls Unavailable (answered 503), and work again once it can.
func TestUnreachableIsUnavailable(t *testing.T) {
	s, p := openThroughProxy(t)
	ctx := context.Background()
	mustWrite(t, s, insert("u1", "one@example.com"))

	p.Down()
	_, err := s.User(ctx, "u1", directory.ReadOptions{Groups: true})
	if err == nil || !s.Unavailable(err) {
		t.Errorf("User while unreachable: %v, want an Unavailable error", err)
	}
	_, err = s.Users(ctx, directory.Query{Limit: 10, Count: true})
	if err == nil || !s.Unavailable(err) {
		t.Errorf("Users while unreachable: %v, want an Unavailable error", err)
	}
	if err := write(s, insert("u2", "two@example.com")); err == nil || !s.Unavailable(err) {
		t.Errorf("Write while unreachable: %v, want an Unavailable error", err)
	}

	p.Up()
	if _, err := s.User(ctx, "u1", directory.ReadOptions{}); err != nil {
		t.Errorf("User after the outage: %v", err)
	}
	if _, err := s.User(ctx, "u2", directory.ReadOptions{}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the write refused during the outage: %v, want not found", err)
	}
	// Ordinary failures are not outages.
	err = write(s, insert("u3", "ONE@example.com"))
	if !errors.Is(err, directory.ErrConflict) || s.Unavailable(err) {
		t.Errorf("conflict: %v (Unavailable %v)", err, s.Unavailable(err))
	}
	if _, err := s.User(ctx, "nobody", directory.ReadOptions{}); s.Unavailable(err) {
		t.Errorf("not found called Unavailable: %v", err)
	}
}

// writeShapes are two writes of user id: its INSERT alone (queued, then
// sent with BEGIN before COMMIT), and a read first, so that the INSERT
// and the user's externalId travel in COMMIT's own batch.
var writeShapes = []struct {
	name  string
	write func(id, userName string) func(ctx context.Context, tx directory.Tx) error
}{
	{"insert alone", insert},
	{"commit with the queue", readThenInsert},
}

// readThenInsert begins the transaction with a read, so that the user's
// INSERT and its externalId are queued and travel in COMMIT's batch.
func readThenInsert(id, userName string) func(ctx context.Context, tx directory.Tx) error {
	return func(ctx context.Context, tx directory.Tx) error {
		if _, err := tx.UserIDByUserName(ctx, "nobody@example.com"); err != nil && !errors.Is(err, directory.ErrNotFound) {
			return err
		}
		if err := tx.InsertUser(ctx, newUser(id, userName)); err != nil {
			return err
		}
		return tx.SetUserExternalID(ctx, id, "", "ext-"+id)
	}
}

// A COMMIT whose answer is lost with the connection was made: Write learns
// so from the database and reports success, not an error the client would
// retry.
func TestCommitAnswerLost(t *testing.T) {
	for _, shape := range writeShapes {
		t.Run(shape.name, func(t *testing.T) {
			s, p := openThroughProxy(t)
			p.LoseNextCommitAnswer()
			if err := write(s, shape.write("u1", "one@example.com")); err != nil {
				t.Fatalf("a committed write reported as failed: %v", err)
			}
			if p.Armed() {
				t.Fatal("the proxy saw no COMMIT answered")
			}
			if _, err := s.User(context.Background(), "u1", directory.ReadOptions{}); err != nil {
				t.Errorf("the committed user: %v", err)
			}
		})
	}
}

// A COMMIT lost on its way to the server was not made: Write says so with
// ErrUnavailable, and retrying is safe.
func TestCommitLost(t *testing.T) {
	for _, shape := range writeShapes {
		t.Run(shape.name, func(t *testing.T) {
			s, p := openThroughProxy(t)
			p.LoseNextCommit()
			err := write(s, shape.write("u1", "one@example.com"))
			if p.Armed() {
				t.Fatal("the proxy saw no COMMIT sent")
			}
			if !errors.Is(err, directory.ErrUnavailable) || !strings.Contains(directory.Message(err), "not made") {
				t.Fatalf("Write with its COMMIT lost: %v (%q), want ErrUnavailable saying the change was not made", err, directory.Message(err))
			}
			if _, err := s.User(context.Background(), "u1", directory.ReadOptions{}); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("the user of the lost COMMIT: %v, want not found", err)
			}
			mustWrite(t, s, shape.write("u1", "one@example.com"))
		})
	}
}

// TestCommitOutcomeWithFullPool: a write whose connection is cut before its
// COMMIT's batch leaves, in a pool of one connection, is told at once that
// nothing was made — not, after waiting for a connection its own broken one
// holds, that the change "may have been made".
func TestCommitOutcomeWithFullPool(t *testing.T) {
	s, p := openThroughProxyWith(t, Options{MaxConns: 1})
	for _, cut := range []struct {
		name string
		arm  func()
	}{
		{"before the batch", func() { p.Down(); p.Up() }},
		{"commit lost", p.LoseNextCommit},
		{"answer lost", p.LoseNextCommitAnswer},
	} {
		id := "u-" + strings.ReplaceAll(cut.name, " ", "-")
		err := write(s, func(ctx context.Context, tx directory.Tx) error {
			if err := readThenInsert(id, id+"@example.com")(ctx, tx); err != nil {
				return err
			}
			cut.arm()
			return nil
		})
		_, rerr := s.User(context.Background(), id, directory.ReadOptions{})
		switch {
		case strings.Contains(directory.Message(err), "may have been made"):
			t.Errorf("%s: %q; the database could tell", cut.name, directory.Message(err))
		case err == nil && rerr != nil:
			t.Errorf("%s: acknowledged, but the user: %v", cut.name, rerr)
		case err != nil && !errors.Is(rerr, directory.ErrNotFound):
			t.Errorf("%s: failed (%v), but the user: %v", cut.name, err, rerr)
		case cut.name == "answer lost" && err != nil:
			t.Errorf("%s: a committed write reported as failed: %v", cut.name, err)
		case cut.name != "answer lost" && !errors.Is(err, directory.ErrUnavailable):
			t.Errorf("%s: %v, want ErrUnavailable", cut.name, err)
		}
	}
}

// A database that refuses connections (ALLOW_CONNECTIONS false, as during
// maintenance; the server answers SQLSTATE 55000 to the connection) is an
// outage, answered 503, like one that cannot be reached.
func TestRefusedConnectionsAreUnavailable(t *testing.T) {
	ctx := context.Background()
	admin, name, url := scratchDatabase(t)
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustWrite(t, s, insert("u1", "one@example.com"))

	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	// The pool finds its connections gone, then cannot make new ones.
	var last error
	for range 5 {
		_, last = s.User(ctx, "u1", directory.ReadOptions{})
	}
	var pe *pgconn.PgError
	if last == nil || !errors.As(last, &pe) || pe.Code != "55000" || !s.Unavailable(last) {
		t.Errorf("User while the database refuses connections: %v, want an Unavailable error with SQLSTATE 55000", last)
	}
}

// syncBuffer is a log destination several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The leader election's connection failures during an outage are logged
// once, then at most once a minute, as the other background work's are,
// and its return is logged: it tries again every LeaderRetry, and logged
// every attempt.
func TestLeaderOutageLoggedOnce(t *testing.T) {
	ctx := context.Background()
	admin, name, url := scratchDatabase(t)
	var logs syncBuffer
	s, err := Open(ctx, url, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lctx, cancel := context.WithCancel(ctx)
	leading := make(chan struct{}, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Lead(lctx, func(c context.Context) { leading <- struct{}{}; <-c.Done() }, nil)
	}()
	defer func() { cancel(); <-done }()
	<-leading

	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * LeaderRetry) // five attempts
	lost := strings.Count(logs.String(), "leader election: connection lost")
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leading:
	case <-time.After(30 * time.Second):
		t.Fatal("the election did not lead again after the outage")
	}
	if lost != 1 || !strings.Contains(logs.String(), "leader election: connection lost; trying again: working again") {
		t.Errorf("the outage logged %d times, want once, then its end; log:\n%s", lost, logs.String())
	}
}

// scratchDatabase creates a database of its own, for a test that changes
// the database itself (ALTER DATABASE), and drops it when the test ends
// (its stores closed by then). It returns a connection to the test
// database to change it with, its name and its URL.
func scratchDatabase(t *testing.T) (admin *pgx.Conn, name, url string) {
	t.Helper()
	base := testURL(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = "gatehouse_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close(ctx)
		_, _ = admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`)
		if _, err := admin.Exec(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := neturl.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return admin, name, u.String()
}

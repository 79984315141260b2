package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// credChannel is the channel WriteAuth notifies when it bumps the
// credentials version. The channel is per database, not per schema: a
// listener also hears the stores of other schemas, and only re-reads its
// own version for nothing.
const credChannel = "gatehouse_credentials"

// credWatch keeps the credentials version in memory, so that
// CredentialsVersion, which every authenticated request asks, costs no
// query.
//
// A goroutine holds a connection of its own (not a pooled one) that LISTENs
// on credChannel and re-reads cred_version at every notification, and after
// every quiet period of check, which also proves that the connection still
// works: a connection that died silently (a network partition) is noticed
// within check plus queryTimeout, not at the next TCP keepalive. Whenever
// that connection is not listening (at startup, once it is lost, while it
// reconnects with backoff), live is false and CredentialsVersion reads the
// table instead, so a change is never missed. On (re)connecting, the
// listener first LISTENs and only then reads the version: a change committed
// between the two is both read and notified, never neither.
//
// The version only grows, and version keeps the highest one seen: the
// listener's reads and WriteAuth's own bumps (stored after commit, so that a
// process sees its own change at once) may arrive out of order, and going
// back would make credentials remembered before a change valid again.
type credWatch struct {
	cfg *pgx.ConnConfig
	log *slog.Logger

	version atomic.Int64
	live    atomic.Bool
	pid     atomic.Uint32 // server process of the listening connection (tests end it)

	check        time.Duration // quiet period after which the listener re-reads
	queryTimeout time.Duration // bound on connecting and on each statement
	minPause     time.Duration // first pause before reconnecting
	maxPause     time.Duration // longest pause before reconnecting

	cancel context.CancelFunc
	done   chan struct{}
}

// startCredWatch starts the listener on a connection configured like cfg.
func startCredWatch(cfg *pgx.ConnConfig, log *slog.Logger) *credWatch {
	cfg = cfg.Copy()
	// The listener mostly waits for notifications, with no statement to
	// cancel: when its context ends, close the connection at once rather
	// than send the server a cancel request (the pool's setting).
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "gatehouse credentials listener"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &credWatch{
		cfg: cfg, log: log,
		check: 15 * time.Second, queryTimeout: 5 * time.Second,
		minPause: 100 * time.Millisecond, maxPause: 10 * time.Second,
		cancel: cancel, done: make(chan struct{}),
	}
	go w.run(ctx)
	return w
}

// stop ends the listener and waits for it to close its connection.
func (w *credWatch) stop() {
	w.cancel()
	<-w.done
}

// raise moves the version up to v.
func (w *credWatch) raise(v int64) {
	for {
		cur := w.version.Load()
		if v <= cur || w.version.CompareAndSwap(cur, v) {
			return
		}
	}
}

// run keeps a listening connection until ctx ends, reconnecting after a
// growing pause (reset once a connection listened).
func (w *credWatch) run(ctx context.Context) {
	defer close(w.done)
	pause := w.minPause
	for {
		listened, err := w.listen(ctx)
		w.live.Store(false)
		if ctx.Err() != nil {
			return
		}
		if listened {
			pause = w.minPause
		}
		// Up to half again, so that replicas that lost the server together
		// do not come back in step.
		wait := pause + time.Duration(rand.Int64N(int64(pause)/2+1))
		w.log.Warn("postgres: credentials listener is down; reading the credentials version from the database until it is back",
			"err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		pause = min(2*pause, w.maxPause)
	}
}

// listen connects, listens and follows notifications until the connection
// fails or ctx ends. It reports whether the connection got to listen.
func (w *credWatch) listen(ctx context.Context) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, w.queryTimeout)
	conn, err := pgx.ConnectConfig(cctx, w.cfg)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// ctx may be done: closing gets a moment of its own.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if err := w.exec(ctx, conn, "LISTEN "+credChannel); err != nil {
		return false, err
	}
	if err := w.refresh(ctx, conn); err != nil {
		return false, err
	}
	w.pid.Store(conn.PgConn().PID())
	w.live.Store(true)
	for {
		wctx, cancel := context.WithTimeout(ctx, w.check)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		// A notification, or a quiet period (the read also checks the
		// connection). Notifications that arrive meanwhile wait in conn.
		if err := w.refresh(ctx, conn); err != nil {
			return true, err
		}
	}
}

func (w *credWatch) exec(ctx context.Context, conn *pgx.Conn, sql string) error {
	qctx, cancel := context.WithTimeout(ctx, w.queryTimeout)
	defer cancel()
	if _, err := conn.Exec(qctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// refresh reads the version on the listening connection.
func (w *credWatch) refresh(ctx context.Context, conn *pgx.Conn) error {
	qctx, cancel := context.WithTimeout(ctx, w.queryTimeout)
	defer cancel()
	v, err := readCredVersion(qctx, conn)
	if err != nil {
		return err
	}
	w.raise(v)
	return nil
}

// readCredVersion reads the credentials version from the table.
func readCredVersion(ctx context.Context, q querier) (int64, error) {
	var v int64
	if err := q.QueryRow(ctx, `SELECT version FROM cred_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("credentials version: %w", err)
	}
	return v, nil
}

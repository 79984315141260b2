package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// Leadership: among the servers of one database, one at a time runs what
// must run once (schedules, retention). The leader is the holder of a
// session-level advisory lock on a connection of its own:
//
//   - A process that dies (SIGKILL, OOM) closes its connection: the server
//     releases the lock at once, and the next attempt of another process
//     (every LeaderRetry, 1 s) takes it.
//   - A host that dies or is cut off closes nothing: the lock connection
//     asks the server to probe the client (TCP keepalives after 5 s idle,
//     then every second, three probes; tcp_user_timeout 10 s), so the
//     server releases the lock within about 10 s.
//   - The leader checks its connection every LeaderRetry, with a timeout of
//     twice that: when the check fails (cut off, connection ended) it stops
//     its singletons at once — within 3 s, before the server gives the lock
//     to another process — and starts over as a follower.
//
// The lock key is derived from the schema the store works in (Options.Schema,
// else the current schema its search_path gives), like the migration lock's:
// servers of different schemas of one database each have their leader.

// LeaderRetry is how often a follower tries to become the leader, and how
// often the leader checks that it still is.
const LeaderRetry = time.Second

// leaderLock is the advisory lock key of the leader of schema.
func leaderLock(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse leader " + schema))
	return int64(h.Sum64())
}

// Lead runs fn whenever this process is the leader, with a context that
// ends when it stops being the leader (or ctx ends), and waits for fn to
// return before trying again. It returns when ctx ends. onChange, if not
// nil, is told each change of leadership.
func (s *Store) Lead(ctx context.Context, fn func(context.Context), onChange func(leader bool)) {
	cfg := s.connConfig.Copy()
	// A context that ends closes the connection at once: the lock goes
	// with it.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	cfg.RuntimeParams["application_name"] = "gatehouse leader election"
	// The server probes an idle client after 5 s, every second, three
	// times, and gives up on unacknowledged data after 10 s.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "1"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	cfg.RuntimeParams["tcp_user_timeout"] = "10000"
	log := s.log
	if onChange == nil {
		onChange = func(bool) {}
	}
	key := leaderLock(s.schema)
	// Logged once an outage, then once a minute, as the other background
	// work's failures are: it retries every LeaderRetry.
	errs := &logging.Repeated{Log: log, Msg: "postgres: leader election: connection lost; trying again"}
	for ctx.Err() == nil {
		err := s.leadOnce(ctx, cfg, key, fn, onChange, func() { errs.OK(ctx) })
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			errs.Fail(ctx, err)
		}
		pause(ctx, LeaderRetry)
	}
}

// leadOnce connects, tries to take the lock every LeaderRetry and, once it
// holds it, runs fn until the connection fails or ctx ends.
func (s *Store) leadOnce(ctx context.Context, cfg *pgx.ConnConfig, key int64, fn func(context.Context), onChange func(bool), connected func()) error {
	cctx, cancel := context.WithTimeout(ctx, 2*LeaderRetry+5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	check := func(query string, args ...any) (bool, error) {
		qctx, cancel := context.WithTimeout(ctx, 2*LeaderRetry)
		defer cancel()
		var ok bool
		err := conn.QueryRow(qctx, query, args...).Scan(&ok)
		return ok, err
	}
	for {
		got, err := check(`SELECT pg_try_advisory_lock($1)`, key)
		if err != nil {
			return err
		}
		connected()
		if got {
			break
		}
		if !pause(ctx, LeaderRetry) {
			return nil
		}
	}
	s.log.Info("postgres: this server is the leader: it runs the schedules and retention")
	onChange(true)
	defer onChange(false)
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(lctx)
	}()
	defer func() {
		stop()
		<-done
	}()
	t := time.NewTicker(LeaderRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			// fn gave up leading (it should not): hold the lock until
			// ctx ends, running nothing.
			<-ctx.Done()
			return nil
		case <-t.C:
		}
		// Still holding the lock, on a connection that works.
		// (A session's advisory lock goes only with the session.)
		if _, err := check(`SELECT true`); err != nil {
			s.log.Warn("postgres: this server is no longer the leader", "err", err)
			return err
		}
	}
}

// pause waits d, or until ctx ends (false).
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ClaimRun claims the run of schedule name that is due: when it last
// started at least every ago (by the database's clock), or never, it
// records that it starts now, run by holder, and returns true. Otherwise
// it returns false and how long until the run is due. Servers that claim
// at once agree: one wins.
func (s *Store) ClaimRun(ctx context.Context, name string, every time.Duration, holder string) (bool, time.Duration, error) {
	var claimed bool
	err := s.pool.QueryRow(ctx, `WITH claim AS (
			INSERT INTO schedule_runs (name, started, holder) VALUES ($1, clock_timestamp(), $3)
			ON CONFLICT (name) DO UPDATE SET started = excluded.started, holder = excluded.holder
				WHERE schedule_runs.started <= excluded.started - $2::interval
			RETURNING true
		)
		SELECT EXISTS (SELECT 1 FROM claim)`, name, every, holder).Scan(&claimed)
	if err != nil {
		return false, 0, fmt.Errorf("claim the run of %s: %w", name, err)
	}
	if claimed {
		return true, 0, nil
	}
	// Another server's run, perhaps committed after that statement began:
	// read it anew.
	var wait float64
	err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT extract(epoch FROM started + $2::interval - clock_timestamp())
		FROM schedule_runs WHERE name = $1), 0)`, name, every).Scan(&wait)
	if err != nil {
		return false, 0, fmt.Errorf("claim the run of %s: %w", name, err)
	}
	return false, max(0, time.Duration(wait*float64(time.Second))), nil
}

package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RepeatEvery is how often Repeated logs a failure that goes on.
const RepeatEvery = time.Minute

// Repeated logs the failures of work done over and over (a loop that polls
// the database), so that an outage gives a few lines, not one per attempt:
// the first failure at once, at ERROR; while failures go on, at most one
// line every Every, with the count of failures since the last line; and,
// when the work succeeds again, one line at INFO (the message + ": working
// again") with the count and how long it failed. Safe for concurrent use.
type Repeated struct {
	Log   *slog.Logger
	Msg   string
	Attrs []any // added to every line (the target, …)
	// Every is the least time between two lines about the same failure
	// (default RepeatEvery).
	Every time.Duration

	mu       sync.Mutex
	failing  bool
	since    time.Time // the first failure of the run
	logged   time.Time // the last line
	count    int       // failures of the run
	unlogged int       // failures since the last line
}

// Fail records a failure, logging it if it is the first of a run or Every
// has passed since the last line.
func (r *Repeated) Fail(ctx context.Context, err error) {
	now := time.Now()
	every := r.Every
	if every <= 0 {
		every = RepeatEvery
	}
	r.mu.Lock()
	if !r.failing {
		r.failing, r.since, r.count, r.unlogged = true, now, 0, 0
	}
	r.count++
	r.unlogged++
	first := r.count == 1
	if !first && now.Sub(r.logged) < every {
		r.mu.Unlock()
		return
	}
	n, since := r.unlogged, r.since
	r.logged, r.unlogged = now, 0
	r.mu.Unlock()
	attrs := append(append([]any{}, r.Attrs...), "err", err)
	if !first {
		attrs = append(attrs, "failures", n, "failing_since", since.UTC().Format(time.RFC3339))
	}
	r.Log.ErrorContext(ctx, r.Msg, attrs...)
}

// OK records a success, logging the end of a run of failures.
func (r *Repeated) OK(ctx context.Context) {
	r.mu.Lock()
	if !r.failing {
		r.mu.Unlock()
		return
	}
	n, since := r.count, r.since
	r.failing = false
	r.mu.Unlock()
	attrs := append(append([]any{}, r.Attrs...), "failures", n, "failed_for", time.Since(since).Round(time.Millisecond).String())
	r.Log.InfoContext(ctx, r.Msg+": working again", attrs...)
}

package app

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
)

// Several servers may share one PostgreSQL database behind a load balancer.
// Requests, event dispatch and delivery run on all of them (dispatch moves
// a shared cursor by compare-and-set, deliveries are claimed with
// FOR UPDATE SKIP LOCKED under a lease). What must run once runs on one
// server at a time, the leader (postgres.Store.Lead):
//
//   - scheduled pushes (a push target's interval),
//   - scheduled LDAP syncs (a directory's interval),
//   - scheduled documentation indexing (a search source's interval),
//   - audit retention (audit.prune_interval),
//   - the pruning of finished deliveries and old events (events.retention).
//
// Each schedule's runs are also claimed in the database (ClaimRun), once
// per interval: a server that becomes the leader after another died
// carries the schedule on rather than starting it over (an LDAP sync the
// old leader ran a minute ago does not run again at once).
//
// On SQLite one server at a time runs (the serve lock): it is the leader.

// leaderStore is implemented by the stores several servers can share.
type leaderStore interface {
	// Lead runs fn while this process is the leader, with a context that
	// ends when it stops being it, until ctx ends; onChange is told each
	// change.
	Lead(ctx context.Context, fn func(context.Context), onChange func(leader bool))
}

// scheduleStore records when each schedule last ran.
type scheduleStore interface {
	// ClaimRun claims schedule name's run if it is due (its last run
	// started at least every ago, or never), else says how long until it
	// is.
	ClaimRun(ctx context.Context, name string, every time.Duration, holder string) (bool, time.Duration, error)
}

// holder names this process in the schedules' records.
func holder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// startSingletons runs the singletons, under leadership on a shared
// database, until the returned stop is called (which waits for them).
func (a *App) startSingletons(ctx context.Context) (stop func()) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if l, ok := a.Store.(leaderStore); ok {
			l.Lead(sctx, a.runSingletons, a.leader.Store)
			return
		}
		a.leader.Store(true)
		a.runSingletons(sctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// runSingletons runs the schedules and retention until ctx ends.
func (a *App) runSingletons(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { a.runPushes(ctx) })
	wg.Go(func() { a.runLDAPSyncs(ctx) })
	wg.Go(func() { a.RunAuditMaintenance(ctx, time.Duration(a.Config.Audit.PruneInterval)) })
	if a.Config.Search.Enabled {
		wg.Go(func() { a.runSearchSchedule(ctx) })
	}
	wg.Wait()
}

// Leader reports whether this server runs the singletons now.
func (a *App) Leader() bool { return a.leader.Load() }

// runEvery runs fn every interval, the first time after first, until ctx
// ends. On a database that records schedules, each run is claimed there
// first, and skipped (until it is due) when another server ran it within
// the interval.
func (a *App) runEvery(ctx context.Context, name string, every, first time.Duration, fn func(context.Context)) {
	ss, shared := a.Store.(scheduleStore)
	wait := first
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !shared {
			fn(ctx)
			wait = every
			continue
		}
		claimed, due, err := ss.ClaimRun(ctx, name, every, a.holder)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			a.Log.Error("schedule: cannot claim the run; trying again", "schedule", name, "err", err)
			wait = min(every, 10*time.Second)
		case claimed:
			fn(ctx)
			wait = every
		default:
			wait = due
		}
	}
}

// runPushes pushes each target with an interval on its schedule, until ctx
// ends. A push that fails is logged and tried at the next interval.
func (a *App) runPushes(ctx context.Context) {
	if a.Events == nil || a.Config.Events.Disabled {
		return
	}
	var wg sync.WaitGroup
	for name, t := range a.Events.Config().Targets {
		if t.Push == nil || t.Push.Interval <= 0 {
			continue
		}
		wg.Go(func() {
			a.runEvery(ctx, "push:"+name, t.Push.Interval, t.Push.Interval, func(ctx context.Context) {
				start := time.Now()
				p, err := a.Pusher(ctx, name)
				var sum *provision.Summary
				if err == nil {
					sum, err = p.Run(ctx, provision.PushOptions{})
					if sum != nil {
						a.Log.Info("scheduled push", "target", name, "in_scope", sum.InScope, "actions", sum.Actions, "errors", sum.Errors, "duration", sum.Duration)
					}
				}
				if ctx.Err() != nil {
					return // the server is stopping
				}
				if err != nil {
					a.Log.Error("scheduled push", "target", name, "err", err)
				}
				if rerr := a.RecordPush(ctx, directory.Actor{Kind: "system", RequestID: "push-schedule"}, name, "schedule", start, sum, err); rerr != nil {
					a.Log.Error("scheduled push: cannot record the run in the audit log", "target", name, "err", rerr)
				}
			})
		})
	}
	wg.Wait()
}

// runLDAPSyncs runs each directory's sync with an interval on its
// schedule (the first at once), until ctx ends.
func (a *App) runLDAPSyncs(ctx context.Context) {
	links, ok := a.Store.(provision.LinkStore)
	if !ok || len(a.Config.LDAP) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, c := range a.Config.LDAP {
		if c.Interval <= 0 {
			continue
		}
		s, err := ldapsync.New(c, ldapsync.Deps{Dir: a.Directory, Links: links, Getenv: os.Getenv})
		if err != nil {
			a.Log.Error("ldap sync not scheduled", "directory", c.Name, "err", err)
			continue
		}
		wg.Go(func() {
			a.runEvery(ctx, "ldap:"+c.Name, time.Duration(c.Interval), 0, func(ctx context.Context) { s.RunLogged(ctx, a.Log) })
		})
	}
	wg.Wait()
}

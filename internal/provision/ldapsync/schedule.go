package ldapsync

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Schedule runs each directory of cfgs that has an interval, that often
// (the first run at once), until ctx ends; runs of one directory never
// overlap. Summaries and failures are logged without personal data: an
// object is named by its directory id and the attribute at fault, not by
// its DN or values (`gatehouse sync ldap --dry-run` shows those).
func Schedule(ctx context.Context, cfgs []Config, d Deps, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, c := range cfgs {
		if c.Interval <= 0 {
			continue
		}
		s, err := New(c, d)
		if err != nil {
			log.Error("ldap sync not scheduled", "directory", c.Name, "err", err)
			continue
		}
		wg.Go(func() { s.RunEvery(ctx, time.Duration(c.Interval), log) })
	}
	wg.Wait()
}

// RunEvery runs the sync every interval until ctx ends.
func (s *Syncer) RunEvery(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.RunLogged(ctx, log)
		t.Reset(every)
	}
}

// RunLogged runs the sync once and logs its outcome (and up to 100 of the
// objects that failed), as a scheduled run does.
func (s *Syncer) RunLogged(ctx context.Context, log *slog.Logger) {
	failed := 0
	sum, err := s.Run(ctx, Options{Progress: func(p Progress) {
		if c := p.Change; c != nil && c.Op == "error" && c.Kind != "Run" {
			failed++
			if failed <= 100 {
				log.Warn("ldap sync: an object failed", "directory", s.cfg.Name, "kind", c.Kind, "remoteId", c.RemoteID,
					"field", c.Field, "reason", errorKind(c.err))
			}
		}
	}})
	if ctx.Err() != nil {
		return
	}
	attrs := []any{"directory", s.cfg.Name, "full", sum.Full, "listed", sum.Listed, "read", sum.Read,
		"users_created", sum.Users.Created, "users_updated", sum.Users.Updated + sum.Users.Moved, "users_disabled", sum.Users.Disabled,
		"users_enabled", sum.Users.Enabled, "users_deleted", sum.Users.Deleted,
		"groups_created", sum.Groups.Created, "groups_updated", sum.Groups.Updated + sum.Groups.Moved, "groups_deleted", sum.Groups.Deleted,
		"orgs_created", sum.Orgs.Created, "orgs_updated", sum.Orgs.Updated + sum.Orgs.Moved, "orgs_deleted", sum.Orgs.Deleted,
		"errors", sum.ErrorCount, "seconds", sum.Seconds}
	if err != nil {
		log.Error("ldap sync failed", append(attrs, "err", err)...)
		return
	}
	log.Info("ldap sync finished", attrs...)
}

// errorKind names the kind of a failure without its message (which may
// quote a value).
func errorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errDeparted):
		// The message names the person; the log says where to read it.
		return "the user name of a departed account: gatehouse sync ldap --dry-run shows what to run"
	case errors.Is(err, directory.ErrConflict):
		return "conflict"
	case errors.Is(err, directory.ErrInvalid):
		return "invalid value"
	case errors.Is(err, directory.ErrNotFound):
		return "not found"
	case errors.Is(err, directory.ErrBusy):
		return "busy"
	}
	return "error"
}

package console

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// Data are the read-only sources the pages show besides admin.Ops (which
// every page reaches through Options.Ops). Each field may be nil: a page
// whose source is missing says so instead of failing.
type Data struct {
	// Runs lists the scheduled and manual push and LDAP sync
	// connections with what the database keeps of their runs.
	Runs func(ctx context.Context) ([]Run, error)
	// Series reads what the charts draw (charts.go).
	Series Series
	// PushPlan is `gatehouse push TARGET --dry-run`: what a push would
	// do with each account, changing nothing.
	PushPlan func(ctx context.Context, target string) (*provision.Summary, []provision.Item, error)
	// Settings are the configurations the servers recorded (the events
	// source, the rules file's targets without their secrets and rules),
	// most recent first.
	Settings func(ctx context.Context) ([]*events.ServerConfig, error)
}

// Run is one push target or LDAP directory and what is kept of its runs.
type Run struct {
	Kind string // "push" or "ldap"
	Name string
	// Every is the schedule's interval (0: run by hand only).
	Every time.Duration
	// LastFull is when an LDAP sync last read every entry; Retry counts
	// the accounts its last run left to retry.
	LastFull time.Time
	Retry    int
	// Linked counts the accounts linked to the downstream side, and
	// LastChange is the latest time one of those links changed (a push
	// or an LDAP sync wrote it); zero when unknown.
	Linked     int
	LastChange time.Time
}

// Series reads what the charts draw: what Gatehouse keeps anyway (the
// delivery attempt log, the push links), never a store of its own.
type Series interface {
	// Attempts returns the delivery attempts made since, oldest first,
	// at most limit.
	Attempts(ctx context.Context, since time.Time, limit int) ([]events.AttemptPoint, error)
	// PushChanges returns when push links changed since (a push created
	// or updated a downstream account), at most limit.
	PushChanges(ctx context.Context, since time.Time, limit int) ([]time.Time, error)
}

package app

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/web/console"
)

// setupConsole builds the administrators' console (issue 17) on the
// sign-in site, the login service (who is an administrator), the auth
// service (admin tokens), the administration operations, and the data its
// dashboard and charts read.
func (a *App) setupConsole() error {
	sessions, ok := a.Store.(console.TokenSessions)
	if !ok {
		sessions = console.NewMemorySessions()
	}
	c, err := console.New(console.Options{
		Site: a.Web, Admins: a.Login, Credentials: a.Auth, Sessions: sessions, Ops: a.Admin,
		Data:       console.Data{Runs: a.consoleRuns, Series: consoleSeries{a}, PushPlan: a.pushPlan, Settings: a.recordedSettings},
		ClientAddr: scim.RemoteHost, Log: a.Log,
	})
	if err != nil {
		return err
	}
	a.Console = c
	return nil
}

// consoleRuns lists the push targets and LDAP directories with what the
// database keeps of their runs (an LDAP sync's state).
func (a *App) consoleRuns(ctx context.Context) ([]console.Run, error) {
	var out []console.Run
	if a.Events != nil {
		for _, name := range a.PushTargets() {
			out = append(out, console.Run{Kind: "push", Name: name, Every: a.Events.Config().Targets[name].Push.Interval})
		}
	}
	links, _ := a.Store.(provision.LinkStore)
	for _, c := range a.Config.LDAP {
		r := console.Run{Kind: "ldap", Name: c.Name, Every: time.Duration(c.Interval)}
		if links != nil {
			raw, err := links.SyncState(ctx, "ldap:"+c.Name)
			if err != nil {
				return nil, err
			}
			var st struct {
				LastFull time.Time `json:"lastFull"`
				Retry    []string  `json:"retry"`
			}
			if raw != "" && json.Unmarshal([]byte(raw), &st) == nil {
				r.LastFull, r.Retry = st.LastFull, len(st.Retry)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// consoleSeries reads the charts' data from the stores.
type consoleSeries struct{ a *App }

type attemptsSince interface {
	AttemptsSince(ctx context.Context, since time.Time, limit int) ([]events.AttemptPoint, error)
}

func (s consoleSeries) Attempts(ctx context.Context, since time.Time, limit int) ([]events.AttemptPoint, error) {
	st, ok := s.a.Store.(attemptsSince)
	if !ok {
		return nil, nil
	}
	return st.AttemptsSince(ctx, since, limit)
}

func (s consoleSeries) PushChanges(ctx context.Context, since time.Time, limit int) ([]time.Time, error) {
	links, ok := s.a.Store.(provision.LinkStore)
	if !ok {
		return nil, nil
	}
	var out []time.Time
	for _, name := range s.a.PushTargets() {
		ls, err := links.Links(ctx, "push:"+name)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			if !l.Updated.Before(since) {
				out = append(out, l.Updated)
			}
		}
	}
	slices.SortFunc(out, func(x, y time.Time) int { return x.Compare(y) })
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// pushPlan is `gatehouse push TARGET --dry-run`: the same pusher, run
// without writing to the target or the links.
func (a *App) pushPlan(ctx context.Context, target string) (*provision.Summary, []provision.Item, error) {
	p, err := a.Pusher(ctx, target)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var items []provision.Item
	sum, err := p.Run(ctx, provision.PushOptions{DryRun: true, Progress: func(it provision.Item) {
		mu.Lock()
		items = append(items, it)
		mu.Unlock()
	}})
	return sum, items, err
}

// recordedSettings are the configurations the servers recorded (their
// secrets left out when recorded: events.RedactTargets), most recent first.
func (a *App) recordedSettings(ctx context.Context) ([]*events.ServerConfig, error) {
	st, ok := a.Store.(events.ServerConfigStore)
	if !ok {
		return nil, nil
	}
	return st.ServerConfigs(ctx)
}

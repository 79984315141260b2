package app

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"time"

	gatehouse "github.com/gatehouse-id/gatehouse"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// A server records the configuration it runs its pipeline with — the
// events source, the rules file's rules and targets without their secrets
// — in the database, at start and at every reload, and notes when it
// stops. Administration commands (Options.ShowRunning) show that one, so
// that what they say about rules, targets and events is what the server
// does, whatever their own environment holds; they say whose it is and when
// it was recorded, or that there is none.

// forgetServersAfter is how long the record of a server that records
// nothing more is kept.
const forgetServersAfter = 30 * 24 * time.Hour

// shownConfig is a recorded configuration, built to be shown.
type shownConfig struct {
	cfg  *events.Config
	file *events.File
}

// startRecording records the configuration in force as that of the server
// listening on ln, and returns what notes its stop. On SQLite (one server
// at a time, under the serve lock) the records of servers that died
// without stopping are marked stopped, at the time this is noticed.
func (a *App) startRecording(ctx context.Context, ln net.Listener) (stop func()) {
	st, ok := a.Store.(events.ServerConfigStore)
	if !ok {
		return func() {}
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown-host"
	}
	name := host + " " + ln.Addr().String()
	now := time.Now().UTC()
	if kind, _, _ := a.Config.Database(); kind != "postgres" {
		if recs, err := st.ServerConfigs(ctx); err == nil {
			for _, r := range recs {
				if r.Stopped == nil && r.Server != name {
					_ = st.ServerStopped(ctx, r.Server, now)
				}
			}
		}
	}
	a.eventsMu.Lock()
	a.serverName, a.started = name, now
	a.recordRunning(ctx, a.eventsFile)
	a.eventsMu.Unlock()
	return func() {
		a.eventsMu.Lock()
		a.serverName = ""
		a.eventsMu.Unlock()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := st.ServerStopped(sctx, name, time.Now().UTC()); err != nil {
			a.Log.Warn("record the server's stop", "err", err)
		}
	}
}

// recordRunning records file as the configuration in force, when this
// process is a server (a.eventsMu held). A failure is logged: the server
// runs on, and the command line shows an older configuration.
func (a *App) recordRunning(ctx context.Context, file *events.File) {
	st, ok := a.Store.(events.ServerConfigStore)
	if !ok || a.serverName == "" || file == nil {
		return
	}
	rules := a.Config.Events.RulesFile
	if abs, err := filepath.Abs(rules); rules != "" && err == nil {
		rules = abs
	}
	now := time.Now().UTC()
	rec := &events.ServerConfig{Server: a.serverName, PID: os.Getpid(), Version: gatehouse.Version, Started: a.started, Recorded: now,
		Source: a.Config.Events.Source, BaseURL: a.scimBase, RulesFile: rules,
		Targets: events.RedactTargets(file.Targets), Rules: file.Rules}
	if err := st.RecordServerConfig(ctx, rec, now.Add(-forgetServersAfter)); err != nil {
		a.Log.Error("record the configuration in force for the command line", "err", err)
	}
}

// readRunning reads the configuration the running server recorded, for
// showing it: the most recent record of a server that has not stopped,
// else the most recent one. api are the admin API's rules.
func (a *App) readRunning(ctx context.Context, api []events.RuleSpec) error {
	st, ok := a.Store.(events.ServerConfigStore)
	if !ok {
		return nil
	}
	recs, err := st.ServerConfigs(ctx)
	if err != nil {
		return err
	}
	a.Running, a.RunningDiffers = pickRunning(recs)
	if a.Running == nil {
		return nil
	}
	cfg, file, err := a.describe(a.Running, api)
	if err != nil {
		a.RunningErr = err
		return nil
	}
	a.shown = &shownConfig{cfg: cfg, file: file}
	return nil
}

// pickRunning chooses among records (most recent first) the one to show,
// and the other servers, not stopped, whose configuration differs.
func pickRunning(recs []*events.ServerConfig) (*events.ServerConfig, []*events.ServerConfig) {
	var chosen *events.ServerConfig
	for _, r := range recs {
		if r.Stopped == nil {
			chosen = r
			break
		}
	}
	if chosen == nil && len(recs) > 0 {
		chosen = recs[0]
	}
	if chosen == nil {
		return nil, nil
	}
	var differs []*events.ServerConfig
	digest := chosen.Digest()
	for _, r := range recs {
		if r != chosen && r.Stopped == nil && r.Digest() != digest {
			differs = append(differs, r)
		}
	}
	return chosen, differs
}

// describe builds a recorded configuration, with the admin API's rules
// api, to be shown: nothing is constructed, nothing can deliver.
func (a *App) describe(rec *events.ServerConfig, api []events.RuleSpec) (*events.Config, *events.File, error) {
	f := rec.File(api)
	cfg, problems := events.Build(f, events.Env{Getenv: func(string) string { return "" }, WithoutSecrets: true, Describe: true})
	if len(problems) > 0 {
		return nil, nil, &events.ConfigError{File: "(the recorded configuration)", Problems: problems}
	}
	return cfg, f, nil
}

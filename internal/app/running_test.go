package app_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// TestRunningConfiguration: a server records the configuration it runs
// with at start and again at each reload, and its stop; a process opened
// with ShowRunning (an administration command) and none of the server's
// settings shows that configuration: its targets and rules, its events
// source.
func TestRunningConfiguration(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	write := func(rule string) {
		t.Helper()
		src := `targets:
  hook:
    webhook: {url: "https://hooks.example.com/x?token=abc", secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}
rules:
  - name: ` + rule + `
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: hook}]
`
		if err := os.WriteFile(rules, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	var data string
	r := start(t, func(c *config.Config) {
		c.Events.RulesFile, c.Events.Source = rules, "com.alibabacloud.idaas"
		data = c.DataDir
	})
	st := r.app.Store.(events.ServerConfigStore)
	recorded := func() *events.ServerConfig {
		t.Helper()
		// Serve records as it starts, in its own goroutine.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			recs, err := st.ServerConfigs(context.Background())
			if err != nil || len(recs) > 1 {
				t.Fatalf("records: %v %v", recs, err)
			}
			if len(recs) == 1 {
				return recs[0]
			}
			if time.Now().After(deadline) {
				t.Fatal("the server recorded no configuration")
			}
		}
	}
	rec := recorded()
	if rec.Source != "com.alibabacloud.idaas" || rec.RulesFile != rules || len(rec.Rules) != 1 || rec.Rules[0].Name != "first" || rec.Stopped != nil {
		t.Errorf("recorded at start: %+v", rec)
	}
	if w := rec.Targets["hook"].Webhook; w == nil || w.URL != events.NotRecorded || w.Secrets[0] != events.NotRecorded {
		t.Errorf("the webhook's URL and secret were recorded: %+v", w)
	}

	write("second")
	if err := r.app.ReloadRules(); err != nil {
		t.Fatal(err)
	}
	if rec := recorded(); len(rec.Rules) != 1 || rec.Rules[0].Name != "second" {
		t.Errorf("recorded after a reload: %+v", rec.Rules)
	}

	// An administration command, without the rules file or the source.
	cfg := config.Default()
	cfg.DataDir = data
	log, _ := logging.New(io.Discard, logging.Options{})
	cmd, err := app.NewWith(context.Background(), cfg, log, app.Options{WithoutSecrets: true, MustExist: true, ShowRunning: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cmd.Close()
	if cmd.Running == nil || cmd.RunningErr != nil || cmd.Running.Server != rec.Server {
		t.Fatalf("running: %+v %v", cmd.Running, cmd.RunningErr)
	}
	ts, err := cmd.Admin.Targets(context.Background())
	if err != nil || len(ts) != 1 || ts[0].Name != "hook" || ts[0].Kind != "webhook" {
		t.Errorf("targets shown: %+v %v", ts, err)
	}
	rs, err := cmd.Admin.ListRules()
	if err != nil || len(rs) != 1 || rs[0].Name != "second" || rs[0].Origin != "file" {
		t.Errorf("rules shown: %+v %v", rs, err)
	}
	if b := cmd.Events.Builder(); b.Source != "com.alibabacloud.idaas" {
		t.Errorf("event documents name source %q", b.Source)
	}

	r.cancel()
	<-r.done
	r.done <- nil // for the cleanup
	if rec := recorded(); rec.Stopped == nil {
		t.Error("the stop was not recorded")
	}
}

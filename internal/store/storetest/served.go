package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/events"
)

// testServerConfigs: the configurations servers record are kept one per
// server, replaced by its next record, marked when it stops, listed most
// recent first, and forgotten once old.
func testServerConfigs(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	st, ok := e.store.(events.ServerConfigStore)
	if !ok {
		t.Skip("the store keeps no server configurations")
	}
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	yes := true
	cfg := func(server string, at time.Time, source string) *events.ServerConfig {
		return &events.ServerConfig{Server: server, PID: 42, Version: "test", Started: t0, Recorded: at, Source: source,
			BaseURL: "https://gatehouse.example.com/scim/v2", RulesFile: "/etc/gatehouse/rules.yaml",
			Targets: map[string]events.TargetSpec{
				"welcome-email": {SMTP: &events.SMTPSpec{Host: "mail.example.com", Port: 587, From: "Onboarding <hello@example.com>", Password: events.NotRecorded}},
				"ram": {SCIM: &events.SCIMSpec{BaseURL: "https://scim.aliyun.com", ClientSecret: events.NotRecorded, CreateGroups: &yes,
					Push: &events.PushSpec{Organizations: []string{"Engineering"}}}},
			},
			Rules: []events.RuleSpec{{Name: "welcome", Pattern: map[string]any{"detail-type": []any{"User.Created"}},
				Targets: []events.RouteSpec{{Target: "welcome-email", Payload: map[string]any{"to": "${detail.email}"}}}}},
		}
	}
	list := func() []*events.ServerConfig {
		t.Helper()
		got, err := st.ServerConfigs(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("a new database has %d records", len(got))
	}
	a := cfg("host-a 10.0.0.1:8080", t0, "com.alibabacloud.idaas")
	b := cfg("host-b 10.0.0.2:8080", t0.Add(time.Minute), "gatehouse")
	for _, c := range []*events.ServerConfig{a, b} {
		if err := st.RecordServerConfig(e.ctx, c, t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]*events.ServerConfig{b, a}, list()); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}

	stop := t0.Add(2 * time.Minute)
	if err := st.ServerStopped(e.ctx, a.Server, stop); err != nil {
		t.Fatal(err)
	}
	stopped := *a
	stopped.Stopped = &stop
	if diff := cmp.Diff([]*events.ServerConfig{b, &stopped}, list()); diff != "" {
		t.Errorf("after a stop (-want +got):\n%s", diff)
	}

	// Restarted with another source: the record is replaced, running again.
	a2 := cfg(a.Server, t0.Add(3*time.Minute), "gatehouse.other")
	if err := st.RecordServerConfig(e.ctx, a2, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*events.ServerConfig{a2, b}, list()); diff != "" {
		t.Errorf("after a restart (-want +got):\n%s", diff)
	}

	// Records older than forgetBefore go, except the recording server's.
	c := cfg("host-c 10.0.0.3:8080", t0.Add(4*time.Minute), "gatehouse")
	if err := st.RecordServerConfig(e.ctx, c, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*events.ServerConfig{c, a2}, list()); diff != "" {
		t.Errorf("after forgetting (-want +got):\n%s", diff)
	}
}

package events_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

type writerAuth struct{}

func (writerAuth) Authenticate(context.Context, string, string) (*auth.Principal, error) {
	return &auth.Principal{App: &auth.App{ID: "app1", Name: "idaas"}, Scopes: auth.Scopes{auth.ScopeEventsWrite}, SecretID: "s1"}, nil
}

// TestReceiverStore: with the SQLite store, a refused request (a batch
// with one bad event) stores nothing, not even its good events; a good
// one is stored once per (source, id), with an audit record.
func TestReceiverStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc := &events.Receiver{Store: st, Auth: writerAuth{}}
	post := func(body string) int {
		r := httptest.NewRequest("POST", "/events", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/cloudevents-batch+json")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, r)
		return w.Code
	}
	good := `{"specversion": "1.0", "id": "e1", "source": "urn:test", "type": "T"}`
	if code := post("[" + good + `, {"specversion": "1.0", "id": "e2", "source": "urn:test"}]`); code != 400 {
		t.Fatalf("a batch with a bad event: %d", code)
	}
	if code := post("[" + good + `, {"specversion": "1.0", "id": "e2", "source": "urn:test", "type": "T", "data": "` +
		strings.Repeat("x", events.MaxEventSize) + `"}]`); code != 413 {
		t.Fatalf("a batch with an event too large: %d", code)
	}
	recs, err := st.EventsAfter(ctx, 0, 10)
	if err != nil || len(recs) != 0 {
		t.Fatalf("stored after refusals: %v %d", err, len(recs))
	}
	if entries, _ := st.Audit(ctx, directory.AuditQuery{Action: "event.receive"}); len(entries) != 0 {
		t.Errorf("audit records of refused receipts: %d", len(entries))
	}
	for range 2 {
		if code := post("[" + good + "]"); code != 202 {
			t.Fatalf("a good batch: %d", code)
		}
	}
	recs, err = st.EventsAfter(ctx, 0, 10)
	if err != nil || len(recs) != 1 || recs[0].ID != "e1" || recs[0].Source != "urn:test" || recs[0].Actor.Kind != "app" || recs[0].Actor.AppName != "idaas" {
		t.Fatalf("stored: %v %+v", err, recs)
	}
	if entries, _ := st.Audit(ctx, directory.AuditQuery{Action: "event.receive"}); len(entries) != 1 {
		t.Errorf("audit records of receipts: %d, want 1", len(entries))
	}
}

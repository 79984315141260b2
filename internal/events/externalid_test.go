package events_test

import (
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// TestDocumentExternalID: an event's detail.externalId, and its member's,
// are the values the application that made the change knows the resources
// by — never another application's.
func TestDocumentExternalID(t *testing.T) {
	var mu sync.Mutex
	var docs []map[string]any
	s := &sender{}
	s.answer = func(call) events.Result { return events.Result{Outcome: events.OutcomeDelivered, Status: 200} }
	capture := &capturing{sender: s, docs: &docs, mu: &mu}
	bubble(t, map[string]*events.Target{"hook": {Sender: capture, Policy: fastPolicy()}}, events.Options{}, func(h *harness) {
		h.run()
		svc := directory.NewService(h.st, directory.Options{NewID: newID})
		a := directory.Actor{Kind: "app", AppID: "a1", AppName: "okta"}
		b := directory.Actor{Kind: "app", AppID: "a2", AppName: "entra"}
		pa := directory.Profile{TargetOrgID: directory.RootOrgID, Domain: a.Domain()}
		pb := directory.Profile{TargetOrgID: directory.RootOrgID, Domain: b.Domain()}
		u, _, err := svc.CreateUser(h.ctx, a, pa, &directory.User{UserName: "ada@example.com", ExternalID: "okta-ada", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.UpdateUser(h.ctx, b, pb, u.ID, nil, func(u *directory.User) error { u.ExternalID = "entra-ada"; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.CreateGroup(h.ctx, b, pb, &directory.Group{DisplayName: "eng", ExternalID: "entra-eng", Members: []directory.Member{{ID: u.ID}}}); err != nil {
			t.Fatal(err)
		}
		h.p.Poke()
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		var got []map[string]any
		for _, d := range docs {
			detail, _ := d["detail"].(map[string]any)
			row := map[string]any{"type": d["type"], "externalId": detail["externalId"]}
			if m, ok := detail["member"].(map[string]any); ok {
				row["member"] = m["externalId"]
			}
			if p, ok := detail["previous"].(map[string]any); ok {
				row["previous"] = p["externalId"]
			}
			got = append(got, row)
		}
		sort.Slice(got, func(i, j int) bool { return got[i]["type"].(string) < got[j]["type"].(string) })
		want := []map[string]any{
			{"type": "Group.Created", "externalId": "entra-eng"},
			{"type": "Group.MemberAdded", "externalId": "entra-eng", "member": "entra-ada"},
			{"type": "User.Created", "externalId": "okta-ada"},
			// entra's update: its own value, and none before it set one.
			{"type": "User.Updated", "externalId": "entra-ada", "previous": nil},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("documents (-want +got):\n%s", diff)
		}
	})
}

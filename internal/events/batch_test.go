package events_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// TestBatchDocumentsReadGroupsAhead: the dispatcher reads the current
// groups of a batch's users in one query; each document is the one a read
// of its user would give — a user's groups now (in group creation order),
// none for a user in no group or deleted since — byte for byte.
func TestBatchDocumentsReadGroupsAhead(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := directory.NewService(st, directory.Options{NewID: newID})
	actor, root := directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID}
	user := func(name string) string {
		u, _, err := dir.CreateUser(ctx, actor, root, &directory.User{UserName: name, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	ada, bob, cy := user("ada@example.com"), user("bob@example.com"), user("cy@example.com")
	for _, name := range []string{"zeta", "alpha"} { // creation order, not name order
		if _, _, err := dir.CreateGroup(ctx, actor, root, &directory.Group{DisplayName: name, Members: []directory.Member{{ID: ada}, {ID: cy}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dir.UpdateUser(ctx, actor, root, bob, nil, func(u *directory.User) error { u.DisplayName = "Bob"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := dir.DeleteUser(ctx, actor, root, cy, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := st.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := schema.NewRegistry(nil)
	batched, single, err := events.BuildDocuments(ctx, &events.Builder{Source: "gatehouse", Schemas: reg, Dir: st}, recs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{ada: {"zeta", "alpha"}, bob: {}, cy: {}}
	seen := map[string]bool{}
	for i, rec := range recs {
		if string(batched[i]) != string(single[i]) {
			t.Errorf("%s %s: read ahead\n%s\none by one\n%s", rec.Type, rec.ResourceID, batched[i], single[i])
		}
		if rec.Type != "User.Created" && rec.Type != "User.Updated" {
			continue
		}
		var d struct {
			Detail struct {
				Groups []string `json:"groups"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(batched[i], &d); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Detail.Groups, want[rec.ResourceID]) {
			t.Errorf("%s of %s: groups %q, want %q", rec.Type, rec.ResourceID, d.Detail.Groups, want[rec.ResourceID])
		}
		seen[rec.ResourceID] = true
	}
	if len(seen) != 3 {
		t.Errorf("user events of %d users, want 3", len(seen))
	}
}

package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Red team 4: the console's administrator check and session handling.

// TestConsoleAdminGroupRenamed: login.admin_groups names a group, bound to
// its id at first use. Renaming the administrators' group and creating a
// new group with the old name does not make the new group's members
// administrators: they get 403 on the console, as anyone else.
func TestConsoleAdminGroupRenamed(t *testing.T) {
	r, _ := startMFA(t, nil)
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	ada := r.createPerson(t, "ada@example.com", "Correct-Horse-9")
	g, _, err := r.app.Directory.CreateGroup(ctx, op, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.Group{DisplayName: "admins", Members: []directory.Member{{ID: ada}}})
	if err != nil {
		t.Fatal(err)
	}
	grp := g.ID
	if ok, err := r.app.Login.IsAdmin(ctx, ada); err != nil || !ok {
		t.Fatalf("ada: IsAdmin %v %v", ok, err)
	}
	if _, err := r.app.Directory.UpdateGroup(ctx, op, directory.Profile{TargetOrgID: directory.RootOrgID}, grp, nil,
		func(g *directory.Group) error { g.DisplayName = "admins-2025"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	eve := r.createPerson(t, "eve@example.com", "Correct-Horse-9", "admins")
	if ok, err := r.app.Login.IsAdmin(ctx, eve); err != nil || ok {
		t.Errorf("eve, in a new group named admins: IsAdmin %v %v", ok, err)
	}
	if ok, err := r.app.Login.IsAdmin(ctx, ada); err != nil || !ok {
		t.Errorf("ada, in the renamed group: IsAdmin %v %v", ok, err)
	}
	b := newBrowser(t, r.url)
	if last, _ := b.signIn("/", "eve@example.com", "Correct-Horse-9"); last.status != 200 {
		t.Fatalf("sign in: %d", last.status)
	}
	// An administrator with one factor would be sent to the step-up
	// (303); eve is refused.
	if got := b.do("GET", "/console/", nil); got.status != http.StatusForbidden {
		t.Errorf("eve on the console: %d %v", got.status, got.header)
	}
	csrf := fields(b.do("GET", "/console/login", nil).body).Get("csrf")
	if got := b.do("POST", "/console/audit/verify", url.Values{"csrf": {csrf}}); got.status != http.StatusForbidden {
		t.Errorf("eve posting: %d", got.status)
	}
	_ = strings.Contains
}

package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// testLinks: links are kept per scope, replaced by local id, and a remote
// id moves to the local id that claims it last; sync state round-trips.
func testLinks(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	ls, ok := e.store.(provision.LinkStore)
	if !ok {
		t.Skip("the store keeps no links")
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	if err := ls.PutLinks(e.ctx, "ldap:corp", []provision.Link{
		{Kind: "User", LocalID: "u1", RemoteID: "r1", Hash: "h1", Updated: at},
		{Kind: "User", LocalID: "u2", RemoteID: "r2", Hash: "h2", Updated: at},
		{Kind: "Group", LocalID: "u1", RemoteID: "r1", Hash: "g", Updated: at}, // kinds are apart
	}); err != nil {
		t.Fatal(err)
	}
	if err := ls.PutLinks(e.ctx, "push:ram", []provision.Link{{Kind: "User", LocalID: "u1", RemoteID: "ram-1", Updated: at}}); err != nil {
		t.Fatal(err)
	}
	// u2 now maps to r1: u1's claim on r1 goes; u1's link is gone with it.
	if err := ls.PutLinks(e.ctx, "ldap:corp", []provision.Link{{Kind: "User", LocalID: "u2", RemoteID: "r1", Hash: "h3", Updated: at}}); err != nil {
		t.Fatal(err)
	}
	got, err := ls.Links(e.ctx, "ldap:corp")
	if err != nil {
		t.Fatal(err)
	}
	want := []provision.Link{
		{Kind: "Group", LocalID: "u1", RemoteID: "r1", Hash: "g", Updated: at},
		{Kind: "User", LocalID: "u2", RemoteID: "r1", Hash: "h3", Updated: at},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	// One link at a time, by either side (the event pipeline's SCIM
	// target).
	if li, ok := e.store.(provision.LinkIndex); ok {
		for _, c := range []struct {
			name     string
			byRemote bool
			scope    string
			kind, id string
			want     *provision.Link
		}{
			{"local", false, "ldap:corp", "User", "u2", &want[1]},
			{"remote", true, "ldap:corp", "User", "r1", &want[1]},
			{"kind apart", true, "ldap:corp", "Group", "r1", &want[0]},
			{"scope apart", false, "push:ram", "User", "u2", nil},
			{"claimed by another", false, "ldap:corp", "User", "u1", nil},
			{"no such remote", true, "ldap:corp", "User", "r2", nil},
		} {
			var l provision.Link
			var found bool
			var err error
			if c.byRemote {
				l, found, err = li.LinkTo(e.ctx, c.scope, c.kind, c.id)
			} else {
				l, found, err = li.LinkOf(e.ctx, c.scope, c.kind, c.id)
			}
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if found != (c.want != nil) {
				t.Errorf("%s: found %v, want %v", c.name, found, c.want != nil)
				continue
			}
			if c.want != nil {
				if diff := cmp.Diff(*c.want, l, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
					t.Errorf("%s: link (-want +got):\n%s", c.name, diff)
				}
			}
		}
	}
	if err := ls.DeleteLinks(e.ctx, "ldap:corp", "User", []string{"u2", "nope"}); err != nil {
		t.Fatal(err)
	}
	got, _ = ls.Links(e.ctx, "ldap:corp")
	if len(got) != 1 || got[0].Kind != "Group" {
		t.Errorf("after delete: %+v", got)
	}
	if got, _ := ls.Links(e.ctx, "push:ram"); len(got) != 1 || got[0].RemoteID != "ram-1" {
		t.Errorf("another scope's links changed: %+v", got)
	}

	if s, err := ls.SyncState(e.ctx, "ldap:corp"); err != nil || s != "" {
		t.Fatalf("state before any: %q %v", s, err)
	}
	for _, s := range []string{`{"usn":1}`, `{"usn":2}`} {
		if err := ls.SetSyncState(e.ctx, "ldap:corp", s); err != nil {
			t.Fatal(err)
		}
		if got, err := ls.SyncState(e.ctx, "ldap:corp"); err != nil || got != s {
			t.Fatalf("state = %q %v, want %q", got, err, s)
		}
	}
}

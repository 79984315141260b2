package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

// TestPinnedListRunsAsAPointRead: a pinned list (an indexed equality,
// directory.Query.Pinned) runs on the point reads' connections with its
// context checked once, so it is answered while expensive lists hold every
// list connection; an unpinned one waits for them. A pinned list whose
// caller has already gone is not run.
func TestPinnedListRunsAsAPointRead(t *testing.T) {
	ctx := context.Background()
	s := openWithOneListConn(t, nil)
	reg, _ := schema.NewRegistry(nil)
	query := func(pinned bool) directory.Query {
		e, err := filter.Parse(`userName eq "ana@example.com"`)
		if err == nil {
			err = filter.Resolve(e, reg.User)
		}
		if err != nil {
			t.Fatal(err)
		}
		return directory.Query{Filter: e, Limit: 10, Count: true, Pinned: pinned}
	}

	// An expensive list holds the only list connection.
	held, err := s.ldb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() {
		page, err := s.Users(ctx, query(true))
		if err == nil && (len(page.Items) != 1 || page.Total != 1) {
			err = fmt.Errorf("%d users, total %d, want 1", len(page.Items), page.Total)
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("pinned list while the list connections are taken: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a pinned list waited for a list connection")
	}
	wait, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.Users(wait, query(false)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an unpinned list did not wait for a list connection: %v", err)
	}
	held.Close()

	gone, stop := context.WithCancel(ctx)
	stop()
	if _, err := s.Users(gone, query(true)); !errors.Is(err, context.Canceled) {
		t.Errorf("a pinned list whose caller has gone: %v", err)
	}
}

// TestUserColsFor: the prebuilt columns are the text and the arguments
// that building them gives, and are not used where they would not be.
func TestUserColsFor(t *testing.T) {
	for _, opt := range []directory.ReadOptions{{}, {Groups: true}, {Domain: "d1"}, {Domain: "d1", Groups: true}} {
		want := &sqlfilter.Builder{D: dialect{}}
		text := userCols(want, opt.Domain)
		if opt.Groups {
			text += ", " + userGroupsCol(want, nil)
		}
		b := &sqlfilter.Builder{D: dialect{}}
		got, ok := userColsFor(b, opt)
		if !ok || got != text || fmt.Sprint(b.Args) != fmt.Sprint(want.Args) {
			t.Errorf("%+v: %v %q %v, want %q %v", opt, ok, got, b.Args, text, want.Args)
		}
	}
	if _, ok := userColsFor(&sqlfilter.Builder{D: dialect{}}, directory.ReadOptions{Scope: &directory.SyncScope{}}); ok {
		t.Error("used with a scope")
	}
	if _, ok := userColsFor(&sqlfilter.Builder{D: dialect{}, Args: []any{1}}, directory.ReadOptions{Domain: "d1"}); ok {
		t.Error("used after another argument")
	}
}

// TestGroupMembersReadAsAList: a group's members are read on the lists'
// connections, with the caller's context, and its row alone as a point
// read: GETs of large groups do not hold the connections GETs of users
// wait for.
func TestGroupMembersReadAsAList(t *testing.T) {
	ctx := context.Background()
	s := openWithOneListConn(t, func(tx directory.Tx, now time.Time) error {
		return tx.InsertGroup(ctx, &directory.Group{ID: "g", DisplayName: "g", OrgID: directory.RootOrgID,
			Members: []directory.Member{{ID: "u1"}}, Created: now, Modified: now, Version: 1})
	})

	// An expensive list holds the only list connection.
	held, err := s.ldb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := s.Group(ctx, "g", directory.ReadOptions{}); err != nil || g.ID != "g" {
		t.Fatalf("a group without its members while the list connections are taken: %+v, %v", g, err)
	}
	wait, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.Group(wait, "g", directory.ReadOptions{Members: true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a group's members did not wait for a list connection: %v", err)
	}
	held.Close()
	if g, err := s.Group(ctx, "g", directory.ReadOptions{Members: true}); err != nil || len(g.Members) != 1 || g.Members[0].ID != "u1" {
		t.Errorf("a group with its members: %+v, %v", g, err)
	}
}

// openWithOneListConn opens a store with one list connection, holding the
// user u1 (ana@example.com) and what more writes, in the same
// transaction; the store is closed when the test ends.
func openWithOneListConn(t *testing.T, more func(tx directory.Tx, now time.Time) error) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), Options{ListConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	if err := s.Write(ctx, func(tx directory.Tx) error {
		if err := tx.InsertUser(ctx, &directory.User{ID: "u1", UserName: "ana@example.com", Active: true, OrgID: directory.RootOrgID,
			Created: now, Modified: now, Version: 1}); err != nil || more == nil {
			return err
		}
		return more(tx, now)
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// These tests drive Write with the real concurrency of PostgreSQL, below the
// directory.Service (whose organization lock serializes most creates).

func newUser(id, userName string) *directory.User {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &directory.User{ID: id, UserName: userName, OrgID: directory.RootOrgID, Active: true, Created: now, Modified: now, Version: 1}
}

func mustWrite(t *testing.T, s *Store, fn func(ctx context.Context, tx directory.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.Write(ctx, func(tx directory.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentInsertConflict: transactions inserting one userName at once
// queue on the unique index; all but one fail with a conflict on userName.
func TestConcurrentInsertConflict(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.Write(ctx, func(tx directory.Tx) error {
				// The same name, in different cases.
				userName := []string{"same@example.com", "Same@Example.COM"}[i%2]
				return tx.InsertUser(ctx, newUser(fmt.Sprintf("u%02d", i), userName))
			})
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, directory.ErrConflict) || directory.Field(err) != "userName":
			t.Errorf("got %v (field %q), want a conflict on userName", err, directory.Field(err))
		}
	}
	if created != 1 {
		t.Errorf("%d transactions succeeded, want 1", created)
	}
}

// TestWriteRetriesDeadlock: two transactions that lock two users in opposite
// orders deadlock; PostgreSQL aborts one, and Write runs it again.
func TestWriteRetriesDeadlock(t *testing.T) {
	s := open(t)
	mustWrite(t, s, func(ctx context.Context, tx directory.Tx) error {
		return errors.Join(tx.InsertUser(ctx, newUser("u1", "one")), tx.InsertUser(ctx, newUser("u2", "two")))
	})
	var holding sync.WaitGroup // both hold their first lock
	holding.Add(2)
	runs := make([]int, 2)
	done := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	lockBoth := func(i int, first, second string) error {
		ctx := context.Background()
		defer close(done[i])
		return s.Write(ctx, func(tx directory.Tx) error {
			runs[i]++
			if runs[i] > 1 {
				// The one PostgreSQL aborted runs again once the survivor
				// has committed: run at once, on a loaded machine it can
				// take its first lock before the survivor takes the one it
				// waits for, and deadlock again.
				<-done[1-i]
			}
			if _, err := tx.UserForUpdate(ctx, first, ""); err != nil {
				return err
			}
			if runs[i] == 1 {
				holding.Done()
				holding.Wait()
			}
			_, err := tx.UserForUpdate(ctx, second, "")
			return err
		})
	}
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = lockBoth(0, "u1", "u2") })
	wg.Go(func() { errs[1] = lockBoth(1, "u2", "u1") })
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors: %v, %v", errs[0], errs[1])
	}
	if runs[0]+runs[1] != 3 {
		t.Errorf("transactions ran %d and %d times, want 3 in all (one retry)", runs[0], runs[1])
	}
}

// TestAddMemberOfUserBeingDeleted: a member is added while another
// transaction deletes the user. The insert waits for the delete, fails its
// foreign key check when the delete commits, and Write runs fn again, whose
// check now finds the user missing: the caller sees that, not a database
// error.
func TestAddMemberOfUserBeingDeleted(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	mustWrite(t, s, func(ctx context.Context, tx directory.Tx) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		return errors.Join(tx.InsertUser(ctx, newUser("u1", "one")),
			tx.InsertGroup(ctx, &directory.Group{ID: "g1", DisplayName: "G", OrgID: directory.RootOrgID, Created: now, Modified: now, Version: 1}))
	})
	deleted, release := make(chan struct{}), make(chan struct{})
	var deleteErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		deleteErr = s.Write(ctx, func(tx directory.Tx) error {
			_, err := tx.DeleteUser(ctx, "u1")
			close(deleted)
			<-release
			return err
		})
	})
	<-deleted // but not committed
	errMissing := errors.New("missing")
	runs := 0
	var addErr error
	wg.Go(func() {
		addErr = s.Write(ctx, func(tx directory.Tx) error {
			runs++
			missing, err := tx.MissingUsers(ctx, []string{"u1"}, nil)
			if err != nil {
				return err
			}
			if len(missing) > 0 {
				return errMissing
			}
			_, err = tx.AddMembers(ctx, "g1", []string{"u1"})
			return err
		})
	})
	waitForLock(t, s, "INSERT INTO group_members")
	close(release)
	wg.Wait()
	if deleteErr != nil {
		t.Fatal(deleteErr)
	}
	if !errors.Is(addErr, errMissing) || runs != 2 {
		t.Errorf("add member: %v after %d runs, want the missing user found on the second run", addErr, runs)
	}
}

// waitForLock waits until another session waits for a lock while running a
// statement that contains marker.
func waitForLock(t *testing.T, s *Store, marker string) {
	t.Helper()
	for range 2000 {
		var waiting bool
		err := s.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND strpos(query, $1) > 0)`, marker).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no session waits for a lock in %q", marker)
}

// TestUnstorableText: PostgreSQL cannot hold NUL characters or invalid
// UTF-8 in text or jsonb (SQLite can). Writing such a value is an invalid
// value, a filter with one an invalid filter, and no key lookup finds it;
// none is an internal error.
func TestUnstorableText(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	badName := newUser("u1", "nul\x00name")
	badAttr := newUser("u2", "two")
	badAttr.Attrs = directory.Attrs{"title": "nul\x00title"}
	badUTF8 := newUser("u3", "bad\xffutf8")
	for _, u := range []*directory.User{badName, badAttr, badUTF8} {
		err := s.Write(ctx, func(tx directory.Tx) error { return tx.InsertUser(ctx, u) })
		if !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("insert %q: got %v, want ErrInvalid", u.UserName, err)
		}
	}
	if _, err := s.User(ctx, "nul\x00id", directory.ReadOptions{Groups: true}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("get user: got %v, want ErrNotFound", err)
	}
	mustWrite(t, s, func(ctx context.Context, tx directory.Tx) error {
		if _, err := tx.UserIDByUserName(ctx, "nul\x00name"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("user by name: got %v, want ErrNotFound", err)
		}
		if removed, err := tx.RemoveMembers(ctx, "g", []string{"a\x00"}); err != nil || len(removed) != 0 {
			t.Errorf("remove members: %v %v", removed, err)
		}
		missing, err := tx.MissingUsers(ctx, []string{"a\x00", "b"}, nil)
		if diff := cmp.Diff([]string{"a\x00", "b"}, missing); err != nil || diff != "" {
			t.Errorf("missing users: %v (-want +got):\n%s", err, diff)
		}
		return nil
	})
	expr, err := filter.Parse(`userName eq "nul\u0000name"`)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := filter.Resolve(expr, reg.User); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Users(ctx, directory.Query{Filter: expr, Limit: 10, Count: true}); !errors.Is(err, directory.ErrInvalidFilter) {
		t.Errorf("filter: got %v, want ErrInvalidFilter", err)
	}
}

package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	gsqlite "github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// withUsers opens a store with n users.
func withUsers(t *testing.T, n int, opt gsqlite.Options) *gsqlite.Store {
	t.Helper()
	ctx := context.Background()
	s, err := gsqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Microsecond)
	for lo := 0; lo < n; lo += 5000 {
		err := s.Write(ctx, func(tx directory.Tx) error {
			for i := lo; i < min(lo+5000, n); i++ {
				name := fmt.Sprintf("user%07d@example.com", i)
				u := &directory.User{ID: fmt.Sprintf("u%07d", i), UserName: name, DisplayName: fmt.Sprintf("User %d", i),
					Active: true, OrgID: directory.RootOrgID, Created: now, Modified: now, Version: 1,
					Attrs: directory.Attrs{"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}}}}
				if err := tx.InsertUser(ctx, u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// heavyQuery is a list every user must be read and sorted for: 100
// "emails.value ew" terms that match nothing, sorted by displayName.
func heavyQuery(t *testing.T) directory.Query {
	t.Helper()
	reg, err := schema.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	terms := make([]string, 100)
	for i := range terms {
		terms[i] = fmt.Sprintf(`emails.value ew "@nowhere-%d.example"`, i)
	}
	e, err := filter.Parse(strings.Join(terms, " or "))
	if err != nil {
		t.Fatal(err)
	}
	if err := filter.Resolve(e, reg.User); err != nil {
		t.Fatal(err)
	}
	sort, err := reg.User.ResolveLoose("displayName")
	if err != nil {
		t.Fatal(err)
	}
	return directory.Query{Filter: e, Sort: &filter.Path{Name: sort.Attr.Name, Ref: sort}, Limit: 1000, Count: true}
}

// A list whose context deadline passes stops with the deadline's error,
// which the SCIM endpoint turns into its time budget's answer. (The driver
// stops the statement inside SQLite: sqlite3_interrupt, and a progress
// handler every 1,000 VM steps.)
func TestDeadlineStopsList(t *testing.T) {
	s := withUsers(t, 20000, gsqlite.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Users(ctx, heavyQuery(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Users past its deadline: %v, want the deadline's error", err)
	}
}

// Long lists run on connections of their own: while they take every
// connection they may, point reads still find one at once.
func TestListsDoNotBlockPointReads(t *testing.T) {
	const conns = 2
	s := withUsers(t, 20000, gsqlite.Options{ReadConns: conns, ListConns: conns})
	ctx := context.Background()
	q := heavyQuery(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 * conns {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Users(ctx, q); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	// Wait until the lists hold every connection they can get.
	for {
		readInUse, listInUse, _ := gsqlite.PoolStats(s)
		if readInUse+listInUse >= conns {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_, _, before := gsqlite.PoolStats(s)
	for i := range 20 {
		if _, err := s.User(ctx, fmt.Sprintf("u%07d", i*997), directory.ReadOptions{Groups: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, after := gsqlite.PoolStats(s); after != before {
		t.Errorf("statements waited %d times for a read connection while the lists ran", after-before)
	}
}

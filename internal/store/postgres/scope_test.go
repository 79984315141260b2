package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

// TestScopeWithOrganizationsTestsEachUser: for an application scoped to
// organizations and groups, PostgreSQL cannot plan the groups' part of a
// user's scope check as a join (it is one side of an OR). Written as the
// set of the groups' members, it would be hashed whole at every GET of one
// user (23 ms for a group of 20,000); ScopeUsers lets it test the user
// alone, through the index of the groups a user is in.
func TestScopeWithOrganizationsTestsEachUser(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.Write(ctx, func(tx directory.Tx) error {
		if err := tx.InsertOrg(ctx, &directory.Organization{ID: "o1", Name: "Sales", ParentID: directory.RootOrgID,
			Created: now, Modified: now, Version: 1}); err != nil {
			return err
		}
		for id, org := range map[string]string{"u1": directory.RootOrgID, "u2": directory.RootOrgID, "u3": "o1"} {
			if err := tx.InsertUser(ctx, &directory.User{ID: id, UserName: id + "@example.com", Active: true,
				OrgID: org, Created: now, Modified: now, Version: 1}); err != nil {
				return err
			}
		}
		return tx.InsertGroup(ctx, &directory.Group{ID: "g", DisplayName: "g", OrgID: directory.RootOrgID,
			Members: []directory.Member{{ID: "u1"}}, Created: now, Modified: now, Version: 1})
	}); err != nil {
		t.Fatal(err)
	}
	// The group is large, and PostgreSQL knows it: a small set it would
	// rightly hash.
	if err := tamper(t, s, false, `INSERT INTO users (id, org_id, user_name, user_name_lower, active, attrs, created, modified,
		version, attrs_version, attrs_modified) SELECT 'm' || i, 'root', 'm' || i, 'm' || i, true, '{}', now(), now(), 1, 1, now()
		FROM generate_series(1, 20000) i;
		INSERT INTO group_members (group_seq, user_seq) SELECT g.seq, u.seq FROM groups g, users u WHERE g.id = 'g' AND u.id LIKE 'm%';
		ANALYZE`); err != nil {
		t.Fatal(err)
	}
	scope := &directory.SyncScope{OrgIDs: []string{"o1"}, GroupIDs: []string{"g"}}
	for id, in := range map[string]bool{"u1": true, "u2": false, "u3": true} {
		_, err := s.User(ctx, id, directory.ReadOptions{Scope: scope, Groups: true})
		if (err == nil) != in {
			t.Errorf("GET %s in scope: %v, want found %v", id, err, in)
		}
	}
	b := &sqlfilter.Builder{D: dialect{}}
	q := `EXPLAIN SELECT t.id FROM users t WHERE t.id = ` + b.Arg("u1") + ` AND ` + b.ScopeUsers("t", scope)
	rows, err := s.pool.Query(ctx, q, b.Args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(plan, "\n"); !strings.Contains(p, "user_seq = t.seq") {
		t.Errorf("the scope's groups are not tested for the one user:\n%s", p)
	}
}

// TestListsLeaveHalfThePool: reads that may read many rows (lists other
// than of one user, a group's members) take at most half the pool's
// connections; GETs, a list pinned to one user and a group without its
// members do not wait for them.
func TestListsLeaveHalfThePool(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	s, err := Open(ctx, url, Options{Schema: freshSchema(t, url), MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustWrite(t, s, insert("u1", "one@example.com"))
	now := time.Now().UTC()
	mustWrite(t, s, func(ctx context.Context, tx directory.Tx) error {
		return tx.InsertGroup(ctx, &directory.Group{ID: "g", DisplayName: "g", OrgID: directory.RootOrgID,
			Members: []directory.Member{{ID: "u1"}}, Created: now, Modified: now, Version: 1})
	})
	reg, err := schema.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := func(pinned bool) directory.Query {
		e, err := filter.Parse(`userName eq "one@example.com"`)
		if err == nil {
			err = filter.Resolve(e, reg.User)
		}
		if err != nil {
			t.Fatal(err)
		}
		return directory.Query{Filter: e, Limit: 10, Pinned: pinned, Indexed: true}
	}

	// Lists hold both turns: half of 4.
	for range 2 {
		done, err := s.listGate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer done()
	}
	if _, err := s.User(ctx, "u1", directory.ReadOptions{Groups: true}); err != nil {
		t.Errorf("GET while lists hold their half: %v", err)
	}
	if p, err := s.Users(ctx, byName(true)); err != nil || len(p.Items) != 1 {
		t.Errorf("a pinned list while lists hold their half: %v", err)
	}
	if _, err := s.Group(ctx, "g", directory.ReadOptions{}); err != nil {
		t.Errorf("a group without its members while lists hold their half: %v", err)
	}
	wait := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	// A list gives up after half its budget (here 1 s of 2): busy, with
	// budget left, not out of time.
	budget, cancelBudget := context.WithTimeout(ctx, 2*time.Second)
	defer cancelBudget()
	if _, err := s.Users(budget, byName(false)); !errors.Is(err, directory.ErrBusy) || budget.Err() != nil {
		t.Errorf("a list did not wait for its turn, or waited its whole budget (%v): %v", budget.Err(), err)
	}
	if _, err := s.Groups(wait(), directory.Query{Limit: 10}); !errors.Is(err, directory.ErrBusy) {
		t.Errorf("a list of groups did not wait for its turn: %v", err)
	}
	gone, stop := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, stop)
	if _, err := s.Group(gone, "g", directory.ReadOptions{Members: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("a group's members did not wait for their turn until their client went: %v", err)
	}
}

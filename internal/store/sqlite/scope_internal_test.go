package sqlite

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// TestScopedReadsTestEachUser: what an application scoped to a group reads
// of one user (GET, a list pinned to one user, the checks of its writes)
// and of a group's members, and a list an index finds, tests each user
// against the scope through the index of the groups a user is in. None of
// it reads the scope group's members whole, which for a group of 20,000
// cost 5 ms at every GET; only a list of users no index finds takes the set.
func TestScopedReadsTestEachUser(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	if err := s.Write(ctx, func(tx directory.Tx) error {
		for _, id := range []string{"u1", "u2", "u3"} {
			if err := tx.InsertUser(ctx, &directory.User{ID: id, UserName: id + "@example.com", Active: true,
				OrgID: directory.RootOrgID, Created: now, Modified: now, Version: 1}); err != nil {
				return err
			}
		}
		return tx.InsertGroup(ctx, &directory.Group{ID: "g", DisplayName: "g", OrgID: directory.RootOrgID,
			Members: []directory.Member{{ID: "u1"}, {ID: "u2"}}, Created: now, Modified: now, Version: 1})
	}); err != nil {
		t.Fatal(err)
	}
	scope := &directory.SyncScope{GroupIDs: []string{"g"}}
	reg, _ := schema.NewRegistry(nil)
	list := func(f string, pinned bool) int {
		t.Helper()
		e, err := filter.Parse(f)
		if err == nil {
			err = filter.Resolve(e, reg.User)
		}
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.Users(ctx, directory.Query{Filter: e, Limit: 10, Count: true, Scope: scope, Pinned: pinned,
			Indexed: strings.Contains(f, " eq "),
			Read:    directory.ReadOptions{Scope: scope, Groups: true}})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}

	// What each read answers: the scope holds.
	read := directory.ReadOptions{Scope: scope, Groups: true}
	if u, err := s.User(ctx, "u1", read); err != nil || len(u.Groups) != 1 {
		t.Errorf("GET of a user in scope: %+v, %v", u, err)
	}
	if _, err := s.User(ctx, "u3", read); err == nil {
		t.Error("GET of a user outside the scope found it")
	}
	if n := list(`userName eq "u1@example.com"`, true); n != 1 {
		t.Errorf("pinned list of a user in scope: %d users", n)
	}
	if n := list(`userName eq "u3@example.com"`, true); n != 0 {
		t.Errorf("pinned list of a user outside the scope: %d users", n)
	}
	if n := list(`userName eq "u3@example.com" and active eq true`, false); n != 0 {
		t.Errorf("indexed list of a user outside the scope: %d users", n)
	}
	if n := list(`emails pr or userName sw "u"`, false); n != 2 {
		t.Errorf("list in scope: %d users, want 2", n)
	}
	if g, err := s.Group(ctx, "g", directory.ReadOptions{Scope: scope, Members: true}); err != nil || len(g.Members) != 2 {
		t.Errorf("GET of the scope group: %+v, %v", g, err)
	}
	if err := s.Write(ctx, func(tx directory.Tx) error {
		in1, err := tx.UserInScope(ctx, "u1", scope)
		if err != nil {
			return err
		}
		in3, err := tx.UserInScope(ctx, "u3", scope)
		if err != nil {
			return err
		}
		missing, err := tx.MissingUsers(ctx, []string{"u1", "u3"}, scope)
		if err != nil {
			return err
		}
		members, err := tx.Members(ctx, "g", scope)
		if err != nil {
			return err
		}
		if !in1 || in3 || !slices.Equal(missing, []string{"u3"}) || len(members) != 2 {
			t.Errorf("in a write: u1 in scope %v, u3 %v, missing %v, %d members", in1, in3, missing, len(members))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// How: the plan of every statement that tested the scope's groups.
	var perUser, set []string
	for _, c := range []*stmtCache{s.r.c, s.l.c, s.wc} {
		c.mu.RLock()
		for q := range c.m {
			if !strings.Contains(q, "sgm") {
				continue
			}
			plan := explain(t, s, q)
			switch {
			case strings.Contains(plan, "SEARCH sgm USING PRIMARY KEY (group_seq=? AND user_seq=?)"):
				perUser = append(perUser, q)
			case strings.Contains(plan, "SEARCH sgm USING PRIMARY KEY (group_seq=?)"):
				set = append(set, q)
			default:
				t.Errorf("an unexpected plan for %s:\n%s", q, plan)
			}
		}
		c.mu.RUnlock()
	}
	// The GET, the pinned list, the indexed list, the
	// group's members, and the write's three checks.
	if len(perUser) < 7 {
		t.Errorf("%d statements tested users one by one, want at least 7:\n%s", len(perUser), strings.Join(perUser, "\n"))
	}
	for _, q := range set {
		if !strings.HasPrefix(q, "SELECT t.seq, t.id") && !strings.HasPrefix(q, "SELECT count(*) FROM users t") {
			t.Errorf("a statement other than a list of users read the scope group's members whole: %s", q)
		}
	}
	if len(set) == 0 {
		t.Error("the list that is not pinned did not take the scope's set")
	}
}

var sqliteParam = regexp.MustCompile(`\?(\d+)`)

// explain is SQLite's plan of q, its parameters unbound (NULL).
func explain(t *testing.T, s *Store, q string) string {
	t.Helper()
	n := 0
	for _, m := range sqliteParam.FindAllStringSubmatch(q, -1) {
		i, _ := strconv.Atoi(m[1])
		n = max(n, i)
	}
	rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+q, make([]any, n)...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/google/uuid"
)

// TestUpdateRepairsUserNameKey: an update that leaves the userName alone
// leaves its lower-cased key out of the UPDATE (tx.UpdateUser), but only
// where the stored key is the one this build computes. A key that differs
// (stored by a build with other Unicode tables) is written again, as every
// update did before, and then holds the name against duplicates.
func TestUpdateRepairsUserNameKey(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc := directory.NewService(s, directory.Options{Policy: directory.DefaultPasswordPolicy(), NewID: uuid.NewString})
	actor, p := directory.Actor{Kind: "test"}, directory.Profile{TargetOrgID: directory.RootOrgID}
	u, _, err := svc.CreateUser(ctx, actor, p, &directory.User{UserName: "bob", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	key := func() string {
		t.Helper()
		var k string
		if err := s.rdb.QueryRowContext(ctx, `SELECT user_name_lower FROM users WHERE id = ?`, u.ID).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	if _, err := s.wdb.ExecContext(ctx, `UPDATE users SET user_name_lower = 'stale-key' WHERE id = ?`, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateUser(ctx, actor, p, u.ID, nil, func(u *directory.User) error { u.DisplayName = "Bob"; return nil }); err != nil {
		t.Fatalf("update beside a stale key: %v", err)
	}
	if k := key(); k != "bob" {
		t.Fatalf("after an update, the userName key is %q; want %q", k, "bob")
	}
	_, _, err = svc.CreateUser(ctx, actor, p, &directory.User{UserName: "BOB", Active: true})
	if !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("a second BOB: %v; want a conflict", err)
	}
	// With the key right, the next update leaves it out and it stays.
	if _, err := svc.UpdateUser(ctx, actor, p, u.ID, nil, func(u *directory.User) error { u.DisplayName = "Robert"; return nil }); err != nil {
		t.Fatal(err)
	}
	if k := key(); k != "bob" {
		t.Fatalf("the userName key is %q; want %q", k, "bob")
	}
}

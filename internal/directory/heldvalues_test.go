package directory_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// TestDisableKeepsHeldValues: a change is checked only in the values it
// changes. An account that a client without IDaaS's field table gave two
// phone numbers can still be disabled by a connector with that table (an
// LDAP sync disabling a departed account): the second number, which the
// connector could not have stored, is not its change. Changing the
// numbers themselves is still held to the connector's rules.
func TestDisableKeepsHeldValues(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	dir := directory.NewService(st, directory.Options{NewID: func() string { n++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }})
	op := directory.Actor{Kind: "cli"}
	two := []any{
		map[string]any{"value": "+1 425 555 0100", "type": "work"},
		map[string]any{"value": "+1 425 555 0101", "type": "mobile"},
	}
	u, _, err := dir.CreateUser(ctx, op, directory.Profile{}, &directory.User{UserName: "leaver", Active: true,
		Attrs: directory.Attrs{"phoneNumbers": two}})
	if err != nil {
		t.Fatal(err)
	}
	strict := directory.Profile{IDaaSFields: true}

	// Control: the connector may not store two numbers.
	_, err = dir.UpdateUser(ctx, op, strict, u.ID, nil, func(x *directory.User) error {
		x.Attrs["phoneNumbers"] = []any{two[1], two[0]}
		return nil
	})
	var de *directory.Error
	if !errors.As(err, &de) || de.Field != "phoneNumbers" {
		t.Fatalf("reordering the two numbers under IDaaS's table: %v, want a phoneNumbers error", err)
	}
	if err := directory.CheckUser(strict, u, &directory.User{UserName: "leaver", Attrs: directory.Attrs{"phoneNumbers": []any{two[1], two[0]}}}); err == nil {
		t.Error("CheckUser let the numbers' change through")
	}

	out, err := dir.UpdateUser(ctx, op, strict, u.ID, nil, func(x *directory.User) error {
		x.Active = false
		return nil
	})
	if err != nil {
		t.Fatalf("disabling under IDaaS's table an account holding two numbers: %v", err)
	}
	if out.Active || len(out.Attrs["phoneNumbers"].([]any)) != 2 {
		t.Errorf("after the disable: active %v, phoneNumbers %v", out.Active, out.Attrs["phoneNumbers"])
	}
	cur, err := dir.User(ctx, directory.Profile{}, u.ID, directory.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next := cur.Clone()
	next.Active = true
	if err := directory.CheckUser(strict, cur, next); err != nil {
		t.Errorf("CheckUser (an LDAP dry run) refused a change of active alone: %v", err)
	}
}

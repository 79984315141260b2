package events_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// openStore opens a SQLite store in a temporary directory, closed at the
// test's end.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type plainHasher struct{}

func (plainHasher) Hash(_ context.Context, pw string) (string, error) { return "plain:" + pw, nil }
func (plainHasher) Verify(_ context.Context, pw, phc string) (bool, error) {
	return phc == "plain:"+pw, nil
}

// TestLoginEventDocument: a sign-in event is a user event in the rules'
// document shape — detail-type, the person's flat fields, firstActivation
// false — with detail.login, and without the client's address.
func TestLoginEventDocument(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	newID := func() string { v, _ := login.NewToken(); return v } // the login's ids are tokens
	dir := directory.NewService(st, directory.Options{Hasher: plainHasher{}, Policy: directory.DefaultPasswordPolicy(), NewID: newID})
	u, _, err := dir.CreateUser(ctx, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: "ada@example.com", Active: true, Password: "Secret-Pass-1",
			Attrs: directory.Attrs{"emails": []any{map[string]any{"value": "ada@example.com", "type": "work"}}}})
	if err != nil {
		t.Fatal(err)
	}
	svc := login.New(st, st, login.Options{Hasher: plainHasher{}, NewID: newID})
	c := login.Client{Addr: "203.0.113.9", Browser: newID(), RequestID: "req-1"}
	p, err := svc.Begin(ctx, c, login.Requirement{}, "/")
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.Password(ctx, p, c, "ada@example.com", "Secret-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	rec := recs[len(recs)-1]
	reg, _ := schema.NewRegistry(nil)
	doc, err := events.BuildDocument(ctx, &events.Builder{Source: "com.alibabacloud.idaas", Schemas: reg, Dir: st}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "203.0.113") || strings.Contains(string(doc), "Secret-Pass") || strings.Contains(string(doc), "plain:") {
		t.Fatalf("the document carries the address, the password or its hash: %s", doc)
	}
	var d struct {
		Type       string         `json:"type"`
		DetailType string         `json:"detail-type"`
		Subject    string         `json:"subject"`
		Detail     map[string]any `json:"detail"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if d.Type != "User.LoggedIn" || d.DetailType != "User.LoggedIn" || d.Subject != "users/"+u.ID {
		t.Errorf("document: %s", doc)
	}
	want := map[string]any{"method": "password", "amr": []any{"pwd"}, "factors": float64(1), "acr": login.ACR1FA, "sessionId": out.Session.ID}
	if diff := cmp.Diff(want, d.Detail["login"]); diff != "" {
		t.Errorf("detail.login (-want +got):\n%s", diff)
	}
	if d.Detail["email"] != "ada@example.com" || d.Detail["firstActivation"] != false || d.Detail["userName"] != "ada@example.com" {
		t.Errorf("detail: %v", d.Detail)
	}
	// A rule can route it.
	pat, err := rules.ParsePattern([]byte(`{"detail-type": ["User.LoggedIn"], "detail": {"login": {"method": ["password"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := rules.Explain(pat, doc); !ok {
		t.Errorf("a rule on detail.login does not match: %s", why)
	}
}

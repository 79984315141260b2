// Package storetest is the conformance suite every directory store passes.
// It drives the store through directory.Service, the way Gatehouse uses it,
// and checks the store's filter compiler against filter.Match, the
// in-memory reference evaluator.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Store is what the suite needs.
type Store interface {
	directory.Store
	auth.Store
	login.Store
}

// NewStore returns an empty store; the suite calls it once per test.
type NewStore func(t *testing.T) Store

type fakeHasher struct{}

func (fakeHasher) Hash(_ context.Context, pw string) (string, error) { return "hashed:" + pw, nil }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type env struct {
	t     *testing.T
	store Store
	svc   *directory.Service
	ctx   context.Context
	actor directory.Actor
	clock *clock
}

// clock is a test clock that moves forward one millisecond per reading, so
// every change gets a distinct time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func setup(t *testing.T, newStore NewStore) *env {
	s := newStore(t)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return &env{
		t: t, store: s, ctx: context.Background(), clock: c,
		actor: directory.Actor{Kind: "app", AppID: "app-1", AppName: "test", TokenID: "tok-1", RequestID: "req-1"},
		svc: directory.NewService(s, directory.Options{
			Hasher: fakeHasher{}, Policy: directory.DefaultPasswordPolicy(), Now: c.Now, NewID: newID,
		}),
	}
}

// testDomain is the provisioning domain of the suite's changes: its actor's
// application id.
const testDomain = "app-1"

// strict and idaas are the RFC and IDaaS profiles of the suite's
// application.
var (
	strict = directory.Profile{TargetOrgID: directory.RootOrgID, Domain: testDomain}
	idaas  = func() directory.Profile { p := directory.IDaaSProfile(); p.Domain = testDomain; return p }()
)

func (e *env) createUser(p directory.Profile, u *directory.User) *directory.User {
	e.t.Helper()
	out, _, err := e.svc.CreateUser(e.ctx, e.actor, p, u)
	if err != nil {
		e.t.Fatalf("create user %q: %v", u.UserName, err)
	}
	return out
}

func (e *env) createGroup(name string, members ...string) *directory.Group {
	e.t.Helper()
	g := &directory.Group{DisplayName: name}
	for _, m := range members {
		g.Members = append(g.Members, directory.Member{ID: m})
	}
	out, _, err := e.svc.CreateGroup(e.ctx, e.actor, strict, g)
	if err != nil {
		e.t.Fatalf("create group %q: %v", name, err)
	}
	return out
}

func (e *env) memberIDs(groupID string) []string {
	e.t.Helper()
	g, err := e.store.Group(e.ctx, groupID, directory.ReadOptions{Members: true})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.ID)
	}
	sort.Strings(ids)
	return ids
}

func (e *env) countUsers() int {
	e.t.Helper()
	p, err := e.store.Users(e.ctx, directory.Query{Count: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Total
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("got error %v, want kind %v", err, kind)
	}
}

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore, tamper Tamper) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"UserCRUD", testUserCRUD},
		{"UserUniqueness", testUserUniqueness},
		{"IdempotentCreate", testIdempotentCreate},
		{"ExternalIDDomains", testExternalIDDomains},
		{"ConcurrentCreateStrict", testConcurrentCreateStrict},
		{"ConcurrentCreateIdempotent", testConcurrentCreateIdempotent},
		{"ConcurrentUpdate", testConcurrentUpdate},
		{"Groups", testGroups},
		{"UsersGroups", testUsersGroups},
		{"ConcurrentMembership", testConcurrentMembership},
		{"FailedChangesLeaveNoTrace", testFailedChanges},
		{"Filters", testFilters},
		{"Paging", testPaging},
		{"PagingUnderDeletes", testPagingUnderDeletes},
		{"Sorting", testSorting},
		{"Orgs", testOrgs},
		{"Audit", testAudit},
		{"Apps", testApps},
		{"SSOApps", testSSOApps},
		{"LoginSessions", testLoginSessions},
		{"ConsoleSessions", testConsoleSessions},
		{"LoginLockout", testLoginLockout},
		{"LoginPolicy", testLoginPolicy},
		{"LoginPolicyBinding", testLoginPolicyBinding},
		{"LoginPolicyBindingRace", testLoginPolicyBindingRace},
		{"LoginPasswords", testLoginPasswords},
		{"LoginFactors", testLoginFactors},
		{"LoginFactorPolicy", testLoginFactorPolicy},
		{"LoginFactorStore", testLoginFactorStore},
		{"Tokens", testTokens},
		{"ClientCredentials", testClientCredentials},
		{"AccessTokenForm", testAccessTokenForm},
		{"SigningKeys", testSigningKeys},
		{"Throttle", testThrottle},
		{"SyncScope", testSyncScope},
		{"ScopedVersions", testScopedVersions},
		{"AuditChain", func(t *testing.T, ns NewStore) { testAuditChain(t, ns, tamper) }},
		{"Outbox", testOutbox},
		{"OutboxConcurrent", testOutboxConcurrent},
		{"Deliveries", testDeliveries},
		{"AttemptLog", testAttemptLog},
		{"ExternalEvents", testExternalEvents},
		{"Links", testLinks},
		{"APIRules", testAPIRules},
		{"MembershipEvents", testMembershipEvents},
		{"UserDeleteMemberships", testUserDeleteMemberships},
		{"Journey", testJourney},
		{"RuleStarts", func(t *testing.T, ns NewStore) { testRuleStarts(t, ns, tamper) }},
		{"FirstActivation", testFirstActivation},
		{"BackfillStore", testBackfillStore},
		{"ServerConfigs", testServerConfigs},
		{"OIDC", testOIDC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore) })
	}
}

func testUserCRUD(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	in := &directory.User{
		UserName: "Bjensen@Example.com", ExternalID: "ext-1", DisplayName: "Babs Jensen", Active: true,
		Password: "t1meMachine",
		Attrs: directory.Attrs{
			"name":                  map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
			"emails":                []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}},
			"phoneNumbers":          []any{map[string]any{"value": "+86-13800138000", "type": "work"}},
			directory.EnterpriseURN: map[string]any{"department": "Tour Operations"},
		},
	}
	u := e.createUser(idaas, in)
	if u.ID == "" || u.Version != 1 || u.Created.IsZero() || !u.Created.Equal(u.Modified) {
		t.Fatalf("created user: id=%q version=%d created=%v modified=%v", u.ID, u.Version, u.Created, u.Modified)
	}
	if u.PasswordHash != "hashed:t1meMachine" || u.Password != "" && u.PasswordHash == "" {
		t.Errorf("password hash = %q", u.PasswordHash)
	}
	if u.OrgID != directory.RootOrgID {
		t.Errorf("org = %q, want root", u.OrgID)
	}
	got, err := e.store.User(e.ctx, u.ID, directory.ReadOptions{Groups: true, Domain: testDomain})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }), cmpopts.IgnoreFields(directory.User{}, "Attrs")); diff != "" {
		t.Errorf("stored user differs (-created +read):\n%s", diff)
	}
	if diff := cmp.Diff(jsonOf(t, u.Attrs), jsonOf(t, got.Attrs)); diff != "" {
		t.Errorf("stored attributes differ (-created +read):\n%s", diff)
	}
	if got.Attrs["phoneRegion"] != "86" {
		t.Errorf("phoneRegion = %v, want 86", got.Attrs["phoneRegion"])
	}

	// Update through mutate.
	upd, err := e.svc.UpdateUser(e.ctx, e.actor, idaas, u.ID, nil, func(u *directory.User) error {
		u.Active = false
		u.DisplayName = "Babs"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Version != 2 || upd.Active || !upd.Modified.After(u.Modified) {
		t.Errorf("after update: version=%d active=%v modified=%v", upd.Version, upd.Active, upd.Modified)
	}
	if upd.PasswordHash != u.PasswordHash {
		t.Errorf("update lost the password hash")
	}
	// A no-op update writes nothing.
	same, err := e.svc.UpdateUser(e.ctx, e.actor, idaas, u.ID, nil, func(*directory.User) error { return nil })
	if err != nil || same.Version != 2 {
		t.Fatalf("no-op update: version=%d err=%v", same.Version, err)
	}
	// If-Match.
	_, err = e.svc.UpdateUser(e.ctx, e.actor, idaas, u.ID, func(v int64) bool { return v == 1 }, func(u *directory.User) error { u.Active = true; return nil })
	wantKind(t, err, directory.ErrPrecondition)

	// Replace.
	rep, err := e.svc.ReplaceUser(e.ctx, e.actor, idaas, u.ID, &directory.User{UserName: "bjensen@example.com", Active: true}, func(v int64) bool { return v == 2 })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Version != 3 || rep.DisplayName != "" || len(rep.Attrs) != 0 || rep.PasswordHash != u.PasswordHash || rep.ExternalID != "" {
		t.Errorf("replace: %+v", rep)
	}

	if err := e.svc.DeleteUser(e.ctx, e.actor, strict, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.User(e.ctx, u.ID, directory.ReadOptions{})
	wantKind(t, err, directory.ErrNotFound)
	wantKind(t, e.svc.DeleteUser(e.ctx, e.actor, strict, u.ID, nil), directory.ErrNotFound)
	_, err = e.svc.ReplaceUser(e.ctx, e.actor, strict, "nope", &directory.User{UserName: "x"}, nil)
	wantKind(t, err, directory.ErrNotFound)
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testUserUniqueness(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	a := e.createUser(strict, &directory.User{UserName: "alice", ExternalID: "A", Active: true})
	_, _, err := e.svc.CreateUser(e.ctx, e.actor, strict, &directory.User{UserName: "ALICE", Active: true})
	wantKind(t, err, directory.ErrConflict)
	if directory.Field(err) != "userName" {
		t.Errorf("conflict field = %q, want userName", directory.Field(err))
	}
	_, _, err = e.svc.CreateUser(e.ctx, e.actor, strict, &directory.User{UserName: "bob", ExternalID: "A", Active: true})
	wantKind(t, err, directory.ErrConflict)
	if directory.Field(err) != "externalId" {
		t.Errorf("conflict field = %q, want externalId", directory.Field(err))
	}
	b := e.createUser(strict, &directory.User{UserName: "bob", Active: true})
	// Renaming b to a's name conflicts and changes nothing.
	_, err = e.svc.UpdateUser(e.ctx, e.actor, strict, b.ID, nil, func(u *directory.User) error { u.UserName = "Alice"; return nil })
	wantKind(t, err, directory.ErrConflict)
	got, _ := e.store.User(e.ctx, b.ID, directory.ReadOptions{})
	if got.UserName != "bob" || got.Version != b.Version {
		t.Errorf("after failed rename: %q v%d", got.UserName, got.Version)
	}
	if n := e.countUsers(); n != 2 {
		t.Errorf("users = %d, want 2", n)
	}
	// Renames: in case only (the case-insensitive key stays), then to a
	// new name, which frees the old one and takes the new one.
	for _, name := range []string{"Bob", "robert"} {
		if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, b.ID, nil, func(u *directory.User) error { u.UserName = name; return nil }); err != nil {
			t.Fatalf("rename to %q: %v", name, err)
		}
		if got, _ := e.store.User(e.ctx, b.ID, directory.ReadOptions{}); got.UserName != name {
			t.Errorf("after the rename to %q: userName %q", name, got.UserName)
		}
	}
	e.createUser(strict, &directory.User{UserName: "BOB", Active: true})
	_, _, err = e.svc.CreateUser(e.ctx, e.actor, strict, &directory.User{UserName: "Robert", Active: true})
	wantKind(t, err, directory.ErrConflict)
	_ = a
}

func testIdempotentCreate(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	p := idaas
	first, created, err := e.svc.CreateUser(e.ctx, e.actor, p, &directory.User{UserName: "carol", ExternalID: "C-1", DisplayName: "Carol", Active: true})
	if err != nil || !created {
		t.Fatalf("first create: created=%v err=%v", created, err)
	}
	// Same externalId, new userName: the same account, renamed.
	again, created, err := e.svc.CreateUser(e.ctx, e.actor, p, &directory.User{UserName: "carol2", ExternalID: "C-1", DisplayName: "Carol II", Active: true})
	if err != nil || created {
		t.Fatalf("repeat by externalId: created=%v err=%v", created, err)
	}
	if again.ID != first.ID || again.UserName != "carol2" || again.Version != 2 {
		t.Errorf("repeat by externalId: %+v", again)
	}
	// No externalId, same userName (case differs): the same account.
	third, created, err := e.svc.CreateUser(e.ctx, e.actor, p, &directory.User{UserName: "CAROL2", Active: false})
	if err != nil || created || third.ID != first.ID || third.Active {
		t.Fatalf("repeat by userName: created=%v err=%v user=%+v", created, err, third)
	}
	if n := e.countUsers(); n != 1 {
		t.Errorf("users = %d, want 1", n)
	}
}

// testExternalIDDomains: externalId is per provisioning domain (RFC 7643
// §3.1). Two clients may use one value for different resources; each reads,
// filters, sorts and matches idempotent creates on its own values only;
// within a domain a value stays unique.
func testExternalIDDomains(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	reg := registry(t)
	pa, pb := idaas, idaas
	pb.Domain = "app-2"
	actorB := directory.Actor{Kind: "app", AppID: "app-2", AppName: "other"}
	alice, _, err := e.svc.CreateUser(e.ctx, e.actor, pa, &directory.User{UserName: "alice", ExternalID: "X1", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	// B's idempotent create with A's value is a new account.
	bob, created, err := e.svc.CreateUser(e.ctx, actorB, pb, &directory.User{UserName: "bob", ExternalID: "X1", Active: true})
	if err != nil || !created || bob.ID == alice.ID {
		t.Fatalf("B's create with A's externalId: created=%v err=%v %+v", created, err, bob)
	}
	read := func(domain, id string) string {
		t.Helper()
		u, err := e.store.User(e.ctx, id, directory.ReadOptions{Domain: domain})
		if err != nil {
			t.Fatal(err)
		}
		return u.UserName + "=" + u.ExternalID
	}
	if got := []string{read(testDomain, alice.ID), read("app-2", alice.ID), read(testDomain, bob.ID), read("app-2", bob.ID), read("", alice.ID)}; !slices.Equal(got,
		[]string{"alice=X1", "alice=", "bob=", "bob=X1", "alice="}) {
		t.Errorf("externalIds as each domain reads them: %v", got)
	}
	// Within a domain, a value is unique; a strict create gets a conflict.
	sb := strict
	sb.Domain = "app-2"
	_, _, err = e.svc.CreateUser(e.ctx, actorB, sb, &directory.User{UserName: "carol", ExternalID: "X1", Active: true})
	wantKind(t, err, directory.ErrConflict)
	if directory.Field(err) != "externalId" {
		t.Errorf("conflict field = %q, want externalId", directory.Field(err))
	}
	_, err = e.svc.UpdateUser(e.ctx, e.actor, pa, bob.ID, nil, func(u *directory.User) error { u.ExternalID = "X1"; return nil })
	wantKind(t, err, directory.ErrConflict)
	// B gives alice a value of its own; A's stays.
	if _, err := e.svc.UpdateUser(e.ctx, actorB, pb, alice.ID, nil, func(u *directory.User) error { u.ExternalID = "B-ALICE"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := read(testDomain, alice.ID) + " " + read("app-2", alice.ID); got != "alice=X1 alice=B-ALICE" {
		t.Errorf("after B's update: %s", got)
	}
	// Filters and sorts use the reader's domain.
	query := func(domain, f, sort string) []string {
		t.Helper()
		q := directory.Query{Limit: 10, Count: true, Read: directory.ReadOptions{Domain: domain}}
		if f != "" {
			expr, err := filter.Parse(f)
			if err == nil {
				err = filter.Resolve(expr, reg.User)
			}
			if err != nil {
				t.Fatal(err)
			}
			q.Filter = expr
		}
		if sort != "" {
			ref, err := reg.User.ResolveLoose(sort)
			if err != nil {
				t.Fatal(err)
			}
			q.Sort = &filter.Path{Name: ref.Attr.Name, Ref: ref}
		}
		page, err := e.store.Users(e.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range page.Items {
			out = append(out, u.UserName)
		}
		if page.Total != len(out) {
			t.Errorf("%s %s: total %d, %d items", domain, f, page.Total, len(out))
		}
		return out
	}
	for _, tc := range []struct {
		domain, filter, sort string
		want                 []string
	}{
		{testDomain, `externalId eq "X1"`, "", []string{"alice"}},
		{"app-2", `externalId eq "X1"`, "", []string{"bob"}},
		{"app-2", `externalId eq "B-ALICE"`, "", []string{"alice"}},
		{testDomain, `externalId eq "B-ALICE"`, "", nil},
		{"", `externalId pr`, "", nil},
		{testDomain, `externalId pr`, "", []string{"alice"}},
		{testDomain, `not (externalId pr)`, "", []string{"bob"}},
		{"app-2", `externalId sw "B" or externalId eq "X1"`, "", []string{"alice", "bob"}},
		{"app-2", "", "externalId", []string{"alice", "bob"}},
		{testDomain, "", "externalId", []string{"alice", "bob"}},
		{"app-3", "", "externalId", []string{"alice", "bob"}},
	} {
		if got := query(tc.domain, tc.filter, tc.sort); !slices.Equal(got, tc.want) {
			t.Errorf("domain %q filter %q sort %q: %v, want %v", tc.domain, tc.filter, tc.sort, got, tc.want)
		}
	}
	// B's repeated create matches B's own bob, by B's value.
	again, created, err := e.svc.CreateUser(e.ctx, actorB, pb, &directory.User{UserName: "bob2", ExternalID: "X1", Active: true})
	if err != nil || created || again.ID != bob.ID {
		t.Errorf("B's repeated create: created=%v err=%v %+v", created, err, again)
	}
	// Removing a value removes the caller's only.
	if _, err := e.svc.ReplaceUser(e.ctx, actorB, pb, alice.ID, &directory.User{UserName: "alice", Active: true}, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(testDomain, alice.ID) + " " + read("app-2", alice.ID); got != "alice=X1 alice=" {
		t.Errorf("after B's replace without externalId: %s", got)
	}
	// No domain, no externalId: refused, nothing changes.
	_, _, err = e.svc.CreateUser(e.ctx, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: "erin", ExternalID: "E", Active: true})
	wantKind(t, err, directory.ErrInvalid)

	// Groups alike.
	g1, _, err := e.svc.CreateGroup(e.ctx, e.actor, pa, &directory.Group{DisplayName: "eng", ExternalID: "G1"})
	if err != nil {
		t.Fatal(err)
	}
	g2, created, err := e.svc.CreateGroup(e.ctx, actorB, pb, &directory.Group{DisplayName: "ops", ExternalID: "G1"})
	if err != nil || !created || g2.ID == g1.ID {
		t.Fatalf("B's group create with A's externalId: created=%v err=%v %+v", created, err, g2)
	}
	for _, tc := range []struct {
		domain, id, want string
	}{{testDomain, g1.ID, "eng=G1"}, {"app-2", g1.ID, "eng="}, {"app-2", g2.ID, "ops=G1"}, {testDomain, g2.ID, "ops="}} {
		g, err := e.store.Group(e.ctx, tc.id, directory.ReadOptions{Domain: tc.domain})
		if err != nil {
			t.Fatal(err)
		}
		if got := g.DisplayName + "=" + g.ExternalID; got != tc.want {
			t.Errorf("group as %s reads it: %s, want %s", tc.domain, got, tc.want)
		}
	}
	expr, _ := filter.Parse(`externalId eq "G1"`)
	if err := filter.Resolve(expr, reg.Group); err != nil {
		t.Fatal(err)
	}
	page, err := e.store.Groups(e.ctx, directory.Query{Filter: expr, Limit: 10, Read: directory.ReadOptions{Domain: "app-2"}})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != g2.ID {
		t.Errorf("B's groups with G1: %v %+v", err, page)
	}
	_, _, err = e.svc.CreateGroup(e.ctx, actorB, sb, &directory.Group{DisplayName: "ops2", ExternalID: "G1"})
	wantKind(t, err, directory.ErrConflict)
	// A deleted resource takes its values with it.
	if err := e.svc.DeleteUser(e.ctx, e.actor, pa, alice.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateUser(e.ctx, e.actor, strict, &directory.User{UserName: "alice2", ExternalID: "X1", Active: true}); err != nil {
		t.Errorf("a deleted user's externalId is still taken: %v", err)
	}
}

func testConcurrentCreateStrict(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	var created, conflicts, other atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := e.svc.CreateUser(e.ctx, e.actor, strict, &directory.User{UserName: "Race@Example.com", Active: true})
			switch {
			case err == nil:
				created.Add(1)
			case errors.Is(err, directory.ErrConflict):
				conflicts.Add(1)
			default:
				other.Add(1)
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 1 || conflicts.Load() != 99 {
		t.Errorf("created=%d conflicts=%d other=%d, want 1/99/0", created.Load(), conflicts.Load(), other.Load())
	}
	if n := e.countUsers(); n != 1 {
		t.Errorf("users = %d, want 1", n)
	}
}

func testConcurrentCreateIdempotent(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	var created, updated atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, c, err := e.svc.CreateUser(e.ctx, e.actor, idaas, &directory.User{UserName: "race@example.com", ExternalID: "R", Active: true})
			if err != nil {
				t.Errorf("unexpected error: %v", err)
				return
			}
			if c {
				created.Add(1)
			} else {
				updated.Add(1)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 1 || updated.Load() != 99 {
		t.Errorf("created=%d updated=%d, want 1/99", created.Load(), updated.Load())
	}
	if n := e.countUsers(); n != 1 {
		t.Errorf("users = %d, want 1", n)
	}
}

// testConcurrentUpdate: concurrent read-modify-write updates of one user
// must not lose each other's changes.
func testConcurrentUpdate(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	u := e.createUser(strict, &directory.User{UserName: "counter", Active: true, Attrs: directory.Attrs{"roles": []any{}}})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.UpdateUser(e.ctx, e.actor, strict, u.ID, nil, func(u *directory.User) error {
				roles, _ := u.Attrs["roles"].([]any)
				u.Attrs["roles"] = append(roles, map[string]any{"value": fmt.Sprintf("r%d", i)})
				return nil
			})
			if err != nil {
				t.Errorf("update: %v", err)
			}
		}()
	}
	wg.Wait()
	got, _ := e.store.User(e.ctx, u.ID, directory.ReadOptions{})
	roles, _ := got.Attrs["roles"].([]any)
	if len(roles) != 20 || got.Version != 21 {
		t.Errorf("roles = %d, version = %d; want 20, 21", len(roles), got.Version)
	}
}

func testGroups(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, e.createUser(strict, &directory.User{UserName: fmt.Sprintf("u%d", i), DisplayName: fmt.Sprintf("User %d", i), Active: true}).ID)
	}
	g := e.createGroup("Engineering", ids[0], ids[1], ids[1])
	if diff := cmp.Diff(sorted(ids[0], ids[1]), e.memberIDs(g.ID)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	full, _ := e.store.Group(e.ctx, g.ID, directory.ReadOptions{Members: true})
	if full.Members[0].Display == "" {
		t.Errorf("member display not filled: %+v", full.Members)
	}
	u0, _ := e.store.User(e.ctx, ids[0], directory.ReadOptions{Groups: true})
	if len(u0.Groups) != 1 || u0.Groups[0].ID != g.ID || u0.Groups[0].DisplayName != "Engineering" {
		t.Errorf("user groups = %+v", u0.Groups)
	}
	v0 := u0.Version

	// Duplicate name (case-insensitive).
	_, _, err := e.svc.CreateGroup(e.ctx, e.actor, strict, &directory.Group{DisplayName: "engineering"})
	wantKind(t, err, directory.ErrConflict)

	// Add (with an existing member again), remove, replace.
	g2, err := e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, nil, []directory.MemberOp{
		{Kind: directory.AddMembers, IDs: []string{ids[1], ids[2]}},
		{Kind: directory.RemoveMembers, IDs: []string{ids[0], "not-a-member"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted(ids[1], ids[2]), e.memberIDs(g.ID)); diff != "" {
		t.Errorf("after add/remove (-want +got):\n%s", diff)
	}
	if g2.Version != g.Version+1 {
		t.Errorf("group version %d, want %d", g2.Version, g.Version+1)
	}
	u0, _ = e.store.User(e.ctx, ids[0], directory.ReadOptions{Groups: true})
	if len(u0.Groups) != 0 || u0.Version == v0 {
		t.Errorf("removed member: groups=%v version=%d (was %d)", u0.Groups, u0.Version, v0)
	}
	_, err = e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, nil, []directory.MemberOp{{Kind: directory.ReplaceMembers, IDs: []string{ids[3], ids[4]}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted(ids[3], ids[4]), e.memberIDs(g.ID)); diff != "" {
		t.Errorf("after replace (-want +got):\n%s", diff)
	}
	_, err = e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, nil, []directory.MemberOp{{Kind: directory.RemoveMatching, Match: func(m directory.Member) bool { return m.Display == "User 3" }}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted(ids[4]), e.memberIDs(g.ID)); diff != "" {
		t.Errorf("after remove matching (-want +got):\n%s", diff)
	}
	// Rename via mutate.
	ren, err := e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, func(g *directory.Group) error { g.DisplayName = "Eng"; return nil }, nil)
	if err != nil || ren.DisplayName != "Eng" {
		t.Fatalf("rename: %v %+v", err, ren)
	}
	// Deleting a member user removes the membership and bumps the group.
	before, _ := e.store.Group(e.ctx, g.ID, directory.ReadOptions{})
	if err := e.svc.DeleteUser(e.ctx, e.actor, strict, ids[4], nil); err != nil {
		t.Fatal(err)
	}
	after, _ := e.store.Group(e.ctx, g.ID, directory.ReadOptions{Members: true})
	if len(after.Members) != 0 || after.Version != before.Version+1 {
		t.Errorf("after member deleted: members=%v version=%d (was %d)", after.Members, after.Version, before.Version)
	}
	// Nested groups are refused.
	other := e.createGroup("Other")
	_, err = e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, nil, []directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{other.ID}}})
	wantKind(t, err, directory.ErrInvalid)
	// Replace via PUT keeping members when not asked to replace them.
	_, err = e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, nil, []directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{ids[0]}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ReplaceGroup(e.ctx, e.actor, strict, g.ID, &directory.Group{DisplayName: "Eng2"}, false, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted(ids[0]), e.memberIDs(g.ID)); diff != "" {
		t.Errorf("PUT without members changed them (-want +got):\n%s", diff)
	}
	if _, err := e.svc.ReplaceGroup(e.ctx, e.actor, strict, g.ID, &directory.Group{DisplayName: "Eng2"}, true, nil); err != nil {
		t.Fatal(err)
	}
	if got := e.memberIDs(g.ID); len(got) != 0 {
		t.Errorf("PUT with empty members kept %v", got)
	}
	if err := e.svc.DeleteGroup(e.ctx, e.actor, strict, g.ID, nil); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.Group(e.ctx, g.ID, directory.ReadOptions{})
	wantKind(t, err, directory.ErrNotFound)
}

// testUsersGroups: the groups of many users in one read, each user's in
// group creation order; users in no group, deleted users and ids that are
// no user (among them ids PostgreSQL cannot hold: NUL, invalid UTF-8) have
// no entry.
func testUsersGroups(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	ada := e.createUser(strict, &directory.User{UserName: "ada@example.com"})
	bob := e.createUser(strict, &directory.User{UserName: "bob@example.com"})
	cy := e.createUser(strict, &directory.User{UserName: "cy@example.com"})
	zeta := e.createGroup("zeta", ada.ID, cy.ID)
	alpha := e.createGroup("alpha", ada.ID)
	if err := e.svc.DeleteUser(e.ctx, e.actor, strict, cy.ID, nil); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.UsersGroups(e.ctx, []string{bob.ID, ada.ID, cy.ID, "no-such-user", "bad\x00id", "\xff", ada.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]directory.GroupRef{ada.ID: {{ID: zeta.ID, DisplayName: "zeta"}, {ID: alpha.ID, DisplayName: "alpha"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UsersGroups (-want +got):\n%s", diff)
	}
	if got, err := e.store.UsersGroups(e.ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no ids: %v, %v", got, err)
	}
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return out
}

// testConcurrentMembership: parallel member additions to one group must all
// land (no read-modify-write race).
func testConcurrentMembership(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	g := e.createGroup("Everyone")
	var ids []string
	for i := 0; i < 40; i++ {
		ids = append(ids, e.createUser(strict, &directory.User{UserName: fmt.Sprintf("m%02d", i), Active: true}).ID)
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, nil, []directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{id}}})
			} else {
				// Mixed with attribute changes, which retry on conflict.
				_, err = e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, func(g *directory.Group) error {
					g.Attrs = directory.Attrs{}
					g.ExternalID = "x" + id
					return nil
				}, []directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{id}}})
			}
			if err != nil {
				t.Errorf("add member: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := e.memberIDs(g.ID); len(got) != len(ids) {
		t.Errorf("members = %d, want %d", len(got), len(ids))
	}
}

func testFailedChanges(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	u := e.createUser(strict, &directory.User{UserName: "dave", Active: true})
	g := e.createGroup("G", u.ID)
	u, _ = e.store.User(e.ctx, u.ID, directory.ReadOptions{})
	auditBefore, _ := e.store.Audit(e.ctx, directory.AuditQuery{Limit: 1000})

	// A membership change naming a missing user changes nothing, not even
	// the valid part before it.
	_, err := e.svc.UpdateGroup(e.ctx, e.actor, strict, g.ID, nil, func(g *directory.Group) error { g.DisplayName = "G2"; return nil }, []directory.MemberOp{
		{Kind: directory.RemoveMembers, IDs: []string{u.ID}},
		{Kind: directory.AddMembers, IDs: []string{"missing"}},
	})
	wantKind(t, err, directory.ErrInvalid)
	got, _ := e.store.Group(e.ctx, g.ID, directory.ReadOptions{Members: true})
	if got.DisplayName != "G" || len(got.Members) != 1 || got.Version != g.Version {
		t.Errorf("failed group change left traces: %+v", got)
	}
	// A user change breaking a rule.
	_, err = e.svc.UpdateUser(e.ctx, e.actor, idaas, u.ID, nil, func(u *directory.User) error {
		u.DisplayName = "changed"
		u.Attrs["emails"] = []any{map[string]any{"value": "not an email"}}
		return nil
	})
	wantKind(t, err, directory.ErrInvalid)
	// A bad organization.
	_, err = e.svc.UpdateUser(e.ctx, e.actor, strict, u.ID, nil, func(u *directory.User) error { u.OrgID = "nowhere"; return nil })
	wantKind(t, err, directory.ErrInvalid)
	// A weak password.
	_, err = e.svc.UpdateUser(e.ctx, e.actor, strict, u.ID, nil, func(u *directory.User) error { u.Password = "short"; return nil })
	wantKind(t, err, directory.ErrInvalid)
	gotU, _ := e.store.User(e.ctx, u.ID, directory.ReadOptions{})
	if gotU.DisplayName != "" || gotU.Version != u.Version || gotU.OrgID != directory.RootOrgID || gotU.PasswordHash != "" {
		t.Errorf("failed user changes left traces: %+v", gotU)
	}
	auditAfter, _ := e.store.Audit(e.ctx, directory.AuditQuery{Limit: 1000})
	if len(auditAfter) != len(auditBefore) {
		t.Errorf("failed changes were audited: %d entries, want %d", len(auditAfter), len(auditBefore))
	}
}

func testOrgs(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	eng, err := e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "Engineering", ExternalID: "OU=Eng"})
	if err != nil {
		t.Fatal(err)
	}
	if eng.ParentID != directory.RootOrgID {
		t.Errorf("parent = %q", eng.ParentID)
	}
	platform, err := e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "Platform", ParentID: eng.ID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "X", ParentID: "missing"})
	wantKind(t, err, directory.ErrInvalid)
	_, err = e.svc.CreateOrg(e.ctx, e.actor, &directory.Organization{Name: "Y", ExternalID: "OU=Eng"})
	wantKind(t, err, directory.ErrConflict)
	// Cycles are refused.
	_, err = e.svc.UpdateOrg(e.ctx, e.actor, eng.ID, func(o *directory.Organization) error { o.ParentID = platform.ID; return nil })
	wantKind(t, err, directory.ErrInvalid)
	// Users land in the target org of the profile, or the one they name.
	p := idaas
	p.TargetOrgID = platform.ID
	u := e.createUser(p, &directory.User{UserName: "erin", Active: true})
	if u.OrgID != platform.ID {
		t.Errorf("user org = %q, want %q", u.OrgID, platform.ID)
	}
	u2 := e.createUser(p, &directory.User{UserName: "frank", Active: true, OrgID: eng.ID})
	if u2.OrgID != eng.ID {
		t.Errorf("user org = %q, want %q", u2.OrgID, eng.ID)
	}
	_, _, err = e.svc.CreateUser(e.ctx, e.actor, p, &directory.User{UserName: "gina", Active: true, OrgID: "missing"})
	wantKind(t, err, directory.ErrInvalid)
	// A user moves between organizations by an update, and back.
	for _, org := range []string{eng.ID, platform.ID} {
		if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, u.ID, nil, func(u *directory.User) error { u.OrgID = org; return nil }); err != nil {
			t.Fatalf("move to %q: %v", org, err)
		}
		if got, _ := e.store.User(e.ctx, u.ID, directory.ReadOptions{}); got.OrgID != org {
			t.Errorf("after the move to %q: org %q", org, got.OrgID)
		}
	}
	// Non-empty organizations cannot be deleted.
	wantKind(t, e.svc.DeleteOrg(e.ctx, e.actor, eng.ID), directory.ErrConflict)
	wantKind(t, e.svc.DeleteOrg(e.ctx, e.actor, directory.RootOrgID), directory.ErrInvalid)
	moved, err := e.svc.UpdateOrg(e.ctx, e.actor, platform.ID, func(o *directory.Organization) error {
		o.ParentID = directory.RootOrgID
		o.Name = "Platform Eng"
		return nil
	})
	if err != nil || moved.ParentID != directory.RootOrgID || moved.Version != 2 {
		t.Fatalf("move: %v %+v", err, moved)
	}
	if err := e.svc.DeleteUser(e.ctx, e.actor, strict, u2.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteOrg(e.ctx, e.actor, eng.ID); err != nil {
		t.Fatal(err)
	}
	orgs, _ := e.store.Orgs(e.ctx)
	if len(orgs) != 2 {
		t.Errorf("orgs = %d, want 2 (root, platform)", len(orgs))
	}
}

func testAudit(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	u := e.createUser(strict, &directory.User{UserName: "hank", Active: true, Password: "s3cret-Pass"})
	if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, u.ID, nil, func(u *directory.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteUser(e.ctx, e.actor, strict, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	entries, err := e.store.Audit(e.ctx, directory.AuditQuery{ResourceID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action)
		if en.Actor != e.actor {
			t.Errorf("actor = %+v", en.Actor)
		}
		for _, snap := range []string{string(en.Before), string(en.After)} {
			if strings.Contains(snap, "s3cret") || strings.Contains(snap, "hashed:") {
				t.Errorf("audit snapshot leaks the password: %s", snap)
			}
		}
	}
	if diff := cmp.Diff([]string{"user.delete", "user.update", "user.create"}, actions); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
	if entries[2].Before != nil || !strings.Contains(string(entries[2].After), `"passwordSet":true`) {
		t.Errorf("create entry: before=%s after=%s", entries[2].Before, entries[2].After)
	}
	if !strings.Contains(string(entries[1].Before), `"active":true`) || !strings.Contains(string(entries[1].After), `"active":false`) {
		t.Errorf("update entry: before=%s after=%s", entries[1].Before, entries[1].After)
	}
}

// ---- filters, paging, sorting

func registry(t testing.TB) *schema.Registry {
	r, err := schema.NewRegistry([]schema.ExtensionDef{{
		URN: "urn:ietf:params:scim:schemas:extension:customfield:2.0:User",
		Attributes: []schema.ExtensionAttr{
			{Name: "level", Type: schema.Integer},
			{Name: "startDate", Type: schema.DateTime},
			{Name: "badge", CaseExact: true},
			{Name: "skills", MultiValued: true},
			{Name: "remote", Type: schema.Boolean},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const customURN = "urn:ietf:params:scim:schemas:extension:customfield:2.0:User"

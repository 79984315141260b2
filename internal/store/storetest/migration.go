package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// The externalId migration (0006) moves each hub-wide externalId into the
// provisioning domain that set it. Each store's test writes the directory
// below with the schema of migration 0005, in its own dialect
// (LegacyExternalIDs), opens it (which migrates it) and checks the result
// (CheckMigratedExternalIDs).

// LegacySQL is what the legacy rows write differently in each dialect.
type LegacySQL struct {
	True, False string // boolean literals
	EmptyList   string // an empty sync_orgs / sync_groups value
}

// legacyRow is one resource of the legacy directory: its externalId, the
// audit records that set it, and the domain the migration gives it.
type legacyRow struct {
	kind, id, name, ext string
	audit               []legacyAudit
	link                string // an LDAP connector's link with ext as the entry's id
	want                string // the domain; "" when the only SCIM client wins
}

type legacyAudit struct {
	actorKind, appID, appName, action, before, after string // before/after: externalIds ("-": no snapshot)
}

const (
	legacyOkta  = "app-okta"
	legacyEntra = "app-entra"
)

var legacyRows = []legacyRow{
	// Set by the application that created it.
	{kind: "User", id: "u-okta", name: "okta", ext: "X1", want: legacyOkta,
		audit: []legacyAudit{{"app", legacyOkta, "okta", "user.create", "-", "X1"}}},
	// Created by okta with another value; entra set the current one.
	{kind: "User", id: "u-entra", name: "entra", ext: "E1", want: legacyEntra,
		audit: []legacyAudit{{"app", legacyOkta, "okta", "user.create", "-", "OLD"}, {"app", legacyEntra, "entra", "user.update", "OLD", "E1"}}},
	// Set by entra; a later replace by okta kept it: still entra's.
	{kind: "User", id: "u-kept", name: "kept", ext: "S1", want: legacyEntra,
		audit: []legacyAudit{{"app", legacyEntra, "entra", "user.create", "-", "S1"}, {"app", legacyOkta, "okta", "user.replace", "S1", "S1"},
			{"cli", "", "", "user.update", "S1", "S1"}}},
	// Set by an LDAP connector.
	{kind: "User", id: "u-ldap", name: "ldap", ext: "guid-1", want: "ldap:corp",
		audit: []legacyAudit{{"connector", "", "ldap:corp", "user.create", "-", "guid-1"}}},
	// Its audit records pruned; the connector's link names it.
	{kind: "User", id: "u-link", name: "link", ext: "guid-2", link: "ldap:corp", want: "ldap:corp"},
	// Nothing tells: the only SCIM client's, or unattributed.
	{kind: "User", id: "u-orphan", name: "orphan", ext: "Z9"},
	{kind: "Group", id: "g-okta", name: "eng", ext: "G1", want: legacyOkta,
		audit: []legacyAudit{{"app", legacyOkta, "okta", "group.create", "-", "G1"}}},
	{kind: "Group", id: "g-orphan", name: "ops", ext: "G9"},
}

// LegacyExternalIDs returns the statements that write, with the schema of
// migration 0005, the directory CheckMigratedExternalIDs checks. With
// single, okta is the only application of kind scim-client.
func LegacyExternalIDs(d LegacySQL, single bool) []string {
	const at = "2026-01-02T03:04:05.000000Z"
	var out []string
	entraKind := "scim-client"
	if single {
		entraKind = "server-app"
	}
	for _, a := range [][3]string{{legacyOkta, "okta", "scim-client"}, {legacyEntra, "entra", entraKind}, {"app-admin", "admin", "admin"}} {
		out = append(out, fmt.Sprintf(`INSERT INTO apps (id, name, kind, scopes, idaas_fields, idempotent, target_org_id, sync_orgs, sync_groups, extension_urn, enabled, created, modified)
			VALUES ('%s', '%s', '%s', '', %s, %s, 'root', '%s', '%s', NULL, %s, '%s', '%s')`, a[0], a[1], a[2], d.True, d.True, d.EmptyList, d.EmptyList, d.True, at, at))
	}
	seq := 0
	for _, r := range legacyRows {
		if r.kind == "User" {
			out = append(out, fmt.Sprintf(`INSERT INTO users (id, org_id, user_name, user_name_lower, external_id, active, attrs, created, modified, version)
				VALUES ('%s', 'root', '%s', '%s', '%s', %s, '{}', '%s', '%s', 1)`, r.id, r.name, r.name, r.ext, d.True, at, at))
		} else {
			out = append(out, fmt.Sprintf(`INSERT INTO groups (id, org_id, display_name, display_name_lower, external_id, attrs, created, modified, version)
				VALUES ('%s', 'root', '%s', '%s', '%s', '{}', '%s', '%s', 1)`, r.id, r.name, r.name, r.ext, at, at))
		}
		snap := func(ext string) string {
			if ext == "-" {
				return "NULL"
			}
			return fmt.Sprintf(`'{"id":"%s","userName":"%s","externalId":"%s","active":true}'`, r.id, r.name, ext)
		}
		for _, a := range r.audit {
			seq++
			null := func(s string) string {
				if s == "" {
					return "NULL"
				}
				return "'" + s + "'"
			}
			out = append(out, fmt.Sprintf(`INSERT INTO audit_log (seq, at, actor_kind, actor_app_id, actor_app_name, action, resource_type, resource_id, before, after, prev_hash, hash)
				VALUES (%d, '%s', '%s', %s, %s, '%s', '%s', '%s', %s, %s, '', 'h%d')`,
				seq, at, a.actorKind, null(a.appID), null(a.appName), a.action, r.kind, r.id, snap(a.before), snap(a.after), seq))
		}
		if r.link != "" {
			out = append(out, fmt.Sprintf(`INSERT INTO sync_links (scope, kind, local_id, remote_id, hash, updated) VALUES ('%s', '%s', '%s', '%s', '', '%s')`,
				r.link, r.kind, r.id, r.ext, at))
		}
	}
	// The audit chain's head (SQLite's trigger moves it; PostgreSQL's store
	// does).
	out = append(out, fmt.Sprintf(`UPDATE audit_head SET seq = %d, hash = 'h%d' WHERE id = 1`, seq, seq))
	// A user without an externalId, and an organization's, which stays.
	out = append(out, fmt.Sprintf(`INSERT INTO users (id, org_id, user_name, user_name_lower, active, attrs, created, modified, version)
		VALUES ('u-none', 'root', 'none', 'none', %s, '{}', '%s', '%s', 1)`, d.True, at, at),
		fmt.Sprintf(`INSERT INTO orgs (id, parent_id, name, external_id, created, modified, version) VALUES ('o-eng', 'root', 'Engineering', 'OU=Eng', '%s', '%s', 1)`, at, at))
	return out
}

// CheckMigratedExternalIDs checks s, opened on the directory of
// LegacyExternalIDs: every externalId is in the domain that set it, read
// only there, and matched there by idempotent creates.
func CheckMigratedExternalIDs(t *testing.T, s Store, single bool) {
	t.Helper()
	ctx := context.Background()
	// Applications written before the extra-values option (0016) keep
	// IDaaS's rule: extra values refused.
	apps, err := s.Apps(ctx)
	if err != nil || len(apps) != 3 {
		t.Fatalf("migrated applications: %v %d", err, len(apps))
	}
	for _, a := range apps {
		if !a.Profile.IDaaSFields || !a.Profile.Idempotent || a.Profile.DropExtraValues {
			t.Errorf("migrated application %s: %+v", a.Name, a.Profile)
		}
	}
	domains := []string{legacyOkta, legacyEntra, "ldap:corp", "unattributed", ""}
	for _, r := range legacyRows {
		want := r.want
		if want == "" {
			want = "unattributed"
			if single {
				want = legacyOkta
			}
		}
		got := map[string]string{}
		for _, d := range domains {
			var ext string
			if r.kind == "User" {
				u, err := s.User(ctx, r.id, directory.ReadOptions{Domain: d})
				if err != nil {
					t.Fatalf("%s: %v", r.id, err)
				}
				ext = u.ExternalID
			} else {
				g, err := s.Group(ctx, r.id, directory.ReadOptions{Domain: d})
				if err != nil {
					t.Fatalf("%s: %v", r.id, err)
				}
				ext = g.ExternalID
			}
			if ext != "" {
				got[d] = ext
			}
		}
		if diff := cmp.Diff(map[string]string{want: r.ext}, got); diff != "" {
			t.Errorf("%s %s: externalIds by domain (-want +got):\n%s", r.kind, r.id, diff)
		}
	}
	u, err := s.User(ctx, "u-none", directory.ReadOptions{Domain: legacyOkta})
	if err != nil || u.ExternalID != "" {
		t.Errorf("u-none: %v %+v", err, u)
	}
	o, err := s.Org(ctx, "o-eng")
	if err != nil || o.ExternalID != "OU=Eng" {
		t.Errorf("the organization's externalId: %v %+v", err, o)
	}
	// The migrated values work: entra's idempotent create with its value
	// finds its account; okta's with entra's value makes a new one.
	svc := directory.NewService(s, directory.Options{Now: (&clock{t: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}).Now, NewID: newID})
	entra := directory.IDaaSProfile()
	entra.Domain = legacyEntra
	got, created, err := svc.CreateUser(ctx, directory.Actor{Kind: "app", AppID: legacyEntra}, entra, &directory.User{UserName: "entra2", ExternalID: "E1", Active: true})
	if err != nil || created || got.ID != "u-entra" {
		t.Errorf("entra's create with E1: created=%v err=%v %+v", created, err, got)
	}
	okta := directory.IDaaSProfile()
	okta.Domain = legacyOkta
	got, created, err = svc.CreateUser(ctx, directory.Actor{Kind: "app", AppID: legacyOkta}, okta, &directory.User{UserName: "okta-e1", ExternalID: "E1", Active: true})
	if err != nil || !created {
		t.Errorf("okta's create with entra's E1: created=%v err=%v %+v", created, err, got)
	}
	// The journey lists every domain's value.
	if js, ok := s.(interface {
		UserExternalIDs(ctx context.Context, id string) (map[string]string, error)
	}); ok {
		ids, err := js.UserExternalIDs(ctx, "u-entra")
		want := map[string]string{legacyEntra: "E1"}
		if err != nil || !maps.Equal(ids, want) {
			t.Errorf("u-entra's externalIds: %v %v", err, ids)
		}
	} else {
		t.Errorf("%T has no UserExternalIDs", s)
	}
}

// The attempt log migration (0010): before it, a replay set a delivery's
// attempt count to 0 and the attempts after it overwrote the log's first
// rows. Each store's test writes the deliveries below with the schema
// before it (LegacyAttemptLogs), opens the database (which migrates it)
// and checks that numbering goes on after the highest number recorded, with
// the attempts since the replay still counted by the schedule
// (CheckMigratedAttemptLogs).

// legacyDelivery is a delivery as the old schema kept it.
type legacyDelivery struct {
	id, state string
	attempts  int      // the old count: attempts since the last replay
	log       []string // the outcomes of rows 1, 2, …
	// what the migration makes of it
	wantAttempts, wantBase int
}

var legacyDeliveries = []legacyDelivery{
	// Dead after three attempts, replayed, delivered at once: row 1 was
	// overwritten by the delivery.
	{id: "dl-replayed", state: "delivered", attempts: 1, log: []string{"delivered", "retry", "retry"}, wantAttempts: 3, wantBase: 2},
	// Replayed, one failed attempt since, waiting for the next.
	{id: "dl-pending", state: "pending", attempts: 1, log: []string{"retry", "retry", "retry"}, wantAttempts: 3, wantBase: 2},
	// Replayed, not attempted since.
	{id: "dl-fresh", state: "pending", attempts: 0, log: []string{"retry", "retry"}, wantAttempts: 2, wantBase: 2},
	// Never replayed.
	{id: "dl-plain", state: "delivered", attempts: 2, log: []string{"retry", "delivered"}, wantAttempts: 2},
	// Never replayed; its second attempt's process died before recording it.
	{id: "dl-lost", state: "pending", attempts: 2, log: []string{"retry"}, wantAttempts: 2},
}

// LegacyAttemptLogs returns the statements that write legacyDeliveries
// (target "hook", one event) with the schema before migration 0010.
func LegacyAttemptLogs() []string {
	const at = "2026-01-02T03:04:05.000000Z"
	out := []string{
		`INSERT INTO events (seq, id, source, type, subject, time, actor, resource_type, resource_id, data)
			VALUES (1, 'ev-1', '', 'User.Created', 'users/u1', '` + at + `', '{}', 'User', 'u1', '{}')`,
		`INSERT INTO event_docs (seq, id, doc) VALUES (1, 'ev-1', '{}')`,
		`UPDATE event_cursor SET seq = 1 WHERE id = 1`,
	}
	for _, d := range legacyDeliveries {
		out = append(out, fmt.Sprintf(`INSERT INTO deliveries (id, event_seq, event_id, event_type, event_time, rule, target, subject, payload,
				state, attempts, next_at, created, updated)
			VALUES ('%s', 1, 'ev-1', 'User.Created', '%s', 'r', 'hook', 'users/u1', '{}', '%s', %d, '%s', '%s', '%s')`,
			d.id, at, d.state, d.attempts, at, at, at))
		for i, outcome := range d.log {
			out = append(out, fmt.Sprintf(`INSERT INTO delivery_attempts (delivery_id, n, at, outcome, status, latency_us, response, error)
				VALUES ('%s', %d, '%s', '%s', 503, 1000, 'answer %d', NULL)`, d.id, i+1, at, outcome, i+1))
		}
	}
	return out
}

// CheckMigratedAttemptLogs checks s, opened on the deliveries of
// LegacyAttemptLogs.
func CheckMigratedAttemptLogs(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	es, ok := s.(events.Store)
	if !ok {
		t.Fatalf("%T has no event pipeline", s)
	}
	type counts struct{ Attempts, Base, Rows int }
	for _, ld := range legacyDeliveries {
		d, err := es.Delivery(ctx, ld.id)
		if err != nil {
			t.Fatalf("%s: %v", ld.id, err)
		}
		att, err := es.Attempts(ctx, ld.id)
		if err != nil {
			t.Fatal(err)
		}
		want := counts{ld.wantAttempts, ld.wantBase, len(ld.log)}
		if diff := cmp.Diff(want, counts{d.Attempts, d.ReplayBase, len(att)}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ld.id, diff)
		}
		if d.RoundAttempts() != ld.attempts || d.Replays != 0 || !d.UncertainSince.IsZero() {
			t.Errorf("%s: %d attempts since the replay (want %d), %d replays, uncertain since %v", ld.id, d.RoundAttempts(), ld.attempts, d.Replays, d.UncertainSince)
		}
	}
	// The next attempts are numbered after the log, which stays.
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	ds, err := es.Claim(ctx, "hook", now, 10, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var cs []*events.Completion
	for _, d := range ds {
		got[d.ID] = d.Attempts
		cs = append(cs, &events.Completion{Attempt: events.Attempt{DeliveryID: d.ID, N: d.Attempts, At: now, Outcome: events.OutcomeDelivered, Status: 200},
			State: events.StateDelivered})
	}
	if diff := cmp.Diff(map[string]int{"dl-pending": 4, "dl-fresh": 3, "dl-lost": 3}, got); diff != "" {
		t.Errorf("numbers of the next attempts (-want +got):\n%s", diff)
	}
	if err := es.Complete(ctx, cs, now); err != nil {
		t.Fatal(err)
	}
	att, err := es.Attempts(ctx, "dl-pending")
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	for _, a := range att {
		log = append(log, fmt.Sprintf("%d %s %s", a.N, a.Outcome, a.Response))
	}
	if diff := cmp.Diff([]string{"1 retry answer 1", "2 retry answer 2", "3 retry answer 3", "4 delivered "}, log); diff != "" {
		t.Errorf("dl-pending's log (-want +got):\n%s", diff)
	}
}

// Migration 0011 adds each user's and group's own-attribute version and
// time (attrs_version, attrs_modified), starting from the row's version
// and modification time. Each store's test writes the rows below with the
// schema of migration 0010 (LegacyAttrsVersions), opens the database and
// checks them (CheckMigratedAttrsVersions).

// LegacyAttrsVersions returns the statements that write a user and a group
// (the user its member) with versions and times of their own.
func LegacyAttrsVersions(d LegacySQL) []string {
	return []string{
		`INSERT INTO users (id, org_id, user_name, user_name_lower, active, attrs, created, modified, version)
			VALUES ('u-old', 'root', 'old', 'old', ` + d.True + `, '{}', '2026-01-02T03:04:05.000000Z', '2026-02-03T04:05:06.000007Z', 7)`,
		`INSERT INTO groups (id, org_id, display_name, display_name_lower, attrs, created, modified, version)
			VALUES ('g-old', 'root', 'old-group', 'old-group', '{}', '2026-01-02T03:04:05.000000Z', '2026-03-04T05:06:07.000008Z', 4)`,
		`INSERT INTO group_members (group_seq, user_seq) SELECT g.seq, u.seq FROM groups g, users u WHERE g.id = 'g-old' AND u.id = 'u-old'`,
	}
}

// CheckMigratedAttrsVersions checks the rows of LegacyAttrsVersions after
// migration: own-attribute versions and times are the rows' versions and
// times, and changes move them as on any database.
func CheckMigratedAttrsVersions(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	u, err := s.User(ctx, "u-old", directory.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC); u.AttrsVersion != 7 || !u.AttrsModified.Equal(want) || u.Version != 7 || !u.Modified.Equal(want) {
		t.Errorf("migrated user: version %d/%d, modified %v/%v", u.Version, u.AttrsVersion, u.Modified, u.AttrsModified)
	}
	g, err := s.Group(ctx, "g-old", directory.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC); g.AttrsVersion != 4 || !g.AttrsModified.Equal(want) || g.Version != 4 || !g.Modified.Equal(want) {
		t.Errorf("migrated group: version %d/%d, modified %v/%v", g.Version, g.AttrsVersion, g.Modified, g.AttrsModified)
	}
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	svc := directory.NewService(s, directory.Options{Now: func() time.Time { return now }, NewID: newID})
	actor := directory.Actor{Kind: "cli"}
	out, err := svc.UpdateUser(ctx, actor, directory.Profile{}, "u-old", nil, func(u *directory.User) error { u.DisplayName = "Old"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != 8 || out.AttrsVersion != 8 || !out.AttrsModified.Equal(now) {
		t.Errorf("changed user: version %d, attrs version %d, attrs modified %v", out.Version, out.AttrsVersion, out.AttrsModified)
	}
	og, err := svc.UpdateGroup(ctx, actor, directory.Profile{}, "g-old", nil, nil, []directory.MemberOp{{Kind: directory.RemoveMembers, IDs: []string{"u-old"}}})
	if err != nil {
		t.Fatal(err)
	}
	if og.Version != 5 || og.AttrsVersion != 4 || !og.Modified.Equal(now) || og.AttrsModified.Equal(now) {
		t.Errorf("group after a membership change: version %d, attrs version %d, modified %v, attrs modified %v", og.Version, og.AttrsVersion, og.Modified, og.AttrsModified)
	}
}

// LegacyEventReceivers returns the statements that write, as a database
// before migration 0024 holds them, an event received from application
// app-1 and one of Gatehouse's own (their seqs given, since PostgreSQL's
// have no default, and above those the test's appends take).
func LegacyEventReceivers() []string {
	return []string{
		`INSERT INTO events (seq, id, source, type, subject, time, actor, resource_type, resource_id, data)
			VALUES (1000, 'x1', 'urn:idaas', 'User.Created', 'u/1', '2026-01-02T03:04:05.000000Z',
				'{"kind":"app","appId":"app-1","appName":"idaas"}', 'Event', 'x1', '{"id":"x1"}')`,
		`INSERT INTO events (seq, id, source, type, subject, time, actor, resource_type, resource_id, data)
			VALUES (1001, 'own-1', '', 'User.Created', 'users/u', '2026-01-02T03:04:05.000000Z',
				'{"kind":"cli"}', 'User', 'u', '{}')`,
	}
}

// CheckMigratedEventReceivers checks the rows of LegacyEventReceivers
// after migration: the received event is app-1's, so app-1 posting it
// again is a duplicate, and another application posting the same source
// and id is not.
func CheckMigratedEventReceivers(t *testing.T, s Store) {
	t.Helper()
	es, ok := s.(events.Store)
	if !ok {
		t.Fatal("the store keeps no events")
	}
	ctx := context.Background()
	again := []*events.External{{ID: "x1", Source: "urn:idaas", Type: "User.Created", Subject: "u/1",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Doc: json.RawMessage(`{"id":"x1"}`)}}
	if fresh, err := es.AppendExternal(ctx, again, directory.Actor{Kind: "app", AppID: "app-1"}); err != nil || len(fresh) != 1 || fresh[0] {
		t.Errorf("app-1 posting its migrated event again: %v %v (want a duplicate)", err, fresh)
	}
	if fresh, err := es.AppendExternal(ctx, again, directory.Actor{Kind: "app", AppID: "app-2"}); err != nil || len(fresh) != 1 || !fresh[0] {
		t.Errorf("app-2 posting app-1's migrated event: %v %v (want new)", err, fresh)
	}
}

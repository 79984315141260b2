package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// testJourney: the reads of a person's journey (admin.JourneyStore). The
// events about one user are those whose subject is the user and
// Gatehouse's membership events naming it as member, newest first, paged
// by seq; not another user's, not a received event's whose data happens
// to name it. Documents and deliveries with their attempts come back for a
// set of events, in order.
func testJourney(t *testing.T, ns NewStore) {
	e := setup(t, ns)
	es := asEvents(t, e.store)
	js, ok := e.store.(admin.JourneyStore)
	if !ok {
		t.Fatal("the store has the event pipeline but not the journey's reads (admin.JourneyStore)")
	}
	ada := e.createUser(strict, &directory.User{UserName: "Ada@Example.com", Active: true})
	bob := e.createUser(strict, &directory.User{UserName: "bob", Active: true})
	eng := e.createGroup("eng", ada.ID, bob.ID)
	ops := e.createGroup("ops", bob.ID)
	if _, err := e.svc.UpdateUser(e.ctx, e.actor, strict, ada.ID, nil, func(u *directory.User) error { u.DisplayName = "Ada"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateGroup(e.ctx, e.actor, strict, ops.ID, nil, nil, []directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{ada.ID}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Received events: one about ada by subject (hers), two whose data
	// names her but that are not Gatehouse's membership events.
	if _, err := es.AppendExternal(e.ctx, []*events.External{
		{ID: "x1", Source: "urn:idaas", Type: "User.Updated", Subject: "users/" + ada.ID, Time: now, Doc: json.RawMessage(`{"id":"x1"}`)},
		{ID: "x2", Source: "urn:idaas", Type: directory.GroupMemberAdded, Subject: "groups/g", Time: now, Doc: json.RawMessage(`{"member":"` + ada.ID + `"}`)},
		{ID: "x3", Source: "urn:idaas", Type: "Other", Subject: "things/1", Time: now, Doc: json.RawMessage(`{"member":"` + ada.ID + `"}`)},
	}, directory.Actor{Kind: "app", AppID: "idaas"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteGroup(e.ctx, e.actor, strict, eng.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteUser(e.ctx, e.actor, strict, ada.ID, nil); err != nil {
		t.Fatal(err)
	}

	type ev struct{ Type, Subject string }
	kinds := func(recs []*directory.EventRecord) []ev {
		out := []ev{}
		for _, r := range recs {
			out = append(out, ev{r.Type, r.Subject})
		}
		return out
	}
	u, g1, g2 := "users/"+ada.ID, "groups/"+eng.ID, "groups/"+ops.ID
	want := []ev{ // newest first
		{directory.UserDeleted, u},
		{directory.GroupMemberRemoved, g2}, // ada, deleted, leaves ops
		{directory.GroupMemberRemoved, g1},
		{"User.Updated", u}, // received
		{directory.GroupMemberAdded, g2},
		{directory.UserUpdated, u},
		{directory.GroupMemberAdded, g1},
		{directory.UserCreated, u},
	}
	all, err := js.UserEvents(e.ctx, ada.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, kinds(all)); diff != "" {
		t.Fatalf("ada's events (-want +got):\n%s", diff)
	}
	if all[3].Source != "urn:idaas" || all[3].Actor.Kind != "app" || all[3].Actor.AppID != "idaas" {
		t.Errorf("the received event's actor: %+v", all[3].Actor)
	}
	var d directory.EventData
	if err := json.Unmarshal(all[4].Data, &d); err != nil || d.Member != ada.ID || all[4].ResourceID != ops.ID {
		t.Errorf("membership event: %v %s", err, all[4].Data)
	}
	// Paging by seq.
	for _, tc := range []struct {
		name   string
		before int64
		limit  int
		want   []ev
	}{
		{"newest three", 0, 3, want[:3]},
		{"before the third", all[2].Seq, 3, want[3:6]},
		{"before the sixth", all[5].Seq, 3, want[6:]},
		{"before the first", all[7].Seq, 3, []ev{}},
	} {
		got, err := js.UserEvents(e.ctx, ada.ID, tc.before, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, kinds(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	// Bob's are his own.
	bobs, err := js.UserEvents(e.ctx, bob.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	wantBob := []ev{{directory.GroupMemberRemoved, g1}, {directory.GroupMemberAdded, g2}, {directory.GroupMemberAdded, g1}, {directory.UserCreated, "users/" + bob.ID}}
	if diff := cmp.Diff(wantBob, kinds(bobs)); diff != "" {
		t.Errorf("bob's events (-want +got):\n%s", diff)
	}
	if got, err := js.UserEvents(e.ctx, "nobody", 0, 100); err != nil || len(got) != 0 {
		t.Errorf("a stranger's events: %v %v", err, kinds(got))
	}

	// By userName, case-insensitively; bob is still there.
	if id, err := js.UserIDByUserName(e.ctx, "BOB"); err != nil || id != bob.ID {
		t.Errorf("bob by userName: %q %v", id, err)
	}
	_, err = js.UserIDByUserName(e.ctx, "ada@example.com")
	wantKind(t, err, directory.ErrNotFound) // deleted

	// Dispatch everything but ada's last three events; deliveries for two
	// of ada's events and one of bob's, attempts for two.
	recs, err := es.EventsAfter(e.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	dispatchTo := all[3].Seq // the received event about ada, after which three more
	var docs []*events.EventDoc
	for _, r := range recs {
		if r.Seq <= dispatchTo {
			docs = append(docs, &events.EventDoc{Seq: r.Seq, ID: r.ID, Doc: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, r.Seq))})
		}
	}
	created, added := all[7], all[6]
	delivery := func(id string, r *directory.EventRecord, target string) *events.Delivery {
		return &events.Delivery{ID: id, EventSeq: r.Seq, EventID: r.ID, EventType: r.Type, EventTime: r.Time, Rule: "r", Target: target,
			Subject: r.Subject, Payload: json.RawMessage(`{"to":"ada@example.com"}`), State: events.StatePending, NextAt: now, Created: now}
	}
	ds := []*events.Delivery{delivery("d-mail", created, "mail"), delivery("d-hook", created, "hook"), delivery("d-added", added, "hook"),
		delivery("d-bob", bobs[3], "hook")}
	if err := es.Dispatch(e.ctx, 0, dispatchTo, docs, ds); err != nil {
		t.Fatal(err)
	}
	attempts := []events.Attempt{
		{DeliveryID: "d-hook", N: 1, At: now, Outcome: events.OutcomeRetry, Status: 503, Latency: 1500 * time.Microsecond, Error: "unavailable"},
		{DeliveryID: "d-hook", N: 2, At: now.Add(time.Second), Outcome: events.OutcomeDelivered, Status: 201, Latency: 2 * time.Millisecond, Response: "created user 42"},
		{DeliveryID: "d-bob", N: 1, At: now, Outcome: events.OutcomeDelivered, Status: 200},
	}
	for i, a := range attempts {
		state := events.StateDelivered
		if i == 0 {
			state = events.StatePending
		}
		if err := es.Complete(e.ctx, []*events.Completion{{Attempt: a, State: state, NextAt: now.Add(time.Second)}}, now); err != nil {
			t.Fatal(err)
		}
	}
	seqs := make([]int64, len(all))
	for i, r := range all {
		seqs[len(all)-1-i] = r.Seq // oldest first, as a journey asks
	}
	gotDocs, err := js.EventDocuments(e.ctx, seqs)
	if err != nil {
		t.Fatal(err)
	}
	var docSeqs, wantDocSeqs []int64
	for _, d := range gotDocs {
		docSeqs = append(docSeqs, d.Seq)
		if string(d.Doc) != fmt.Sprintf(`{"seq":%d}`, d.Seq) {
			t.Errorf("document of %d: %s", d.Seq, d.Doc)
		}
	}
	for _, s := range seqs {
		if s <= dispatchTo {
			wantDocSeqs = append(wantDocSeqs, s)
		}
	}
	if diff := cmp.Diff(wantDocSeqs, docSeqs); diff != "" {
		t.Errorf("documents kept (-want +got):\n%s", diff)
	}

	gotDs, gotAtt, err := js.EventDeliveries(e.ctx, seqs)
	if err != nil {
		t.Fatal(err)
	}
	type dv struct {
		ID, State, Target string
		Seq               int64
		Attempts          int
		LastStatus        int
		Payload           string
	}
	var gotDv []dv
	for _, d := range gotDs {
		gotDv = append(gotDv, dv{d.ID, d.State, d.Target, d.EventSeq, d.Attempts, d.LastStatus, string(d.Payload)})
	}
	to := `{"to":"ada@example.com"}`
	wantDv := []dv{ // by event, then id (same creation time)
		{"d-hook", events.StateDelivered, "hook", created.Seq, 0, 201, to},
		{"d-mail", events.StatePending, "mail", created.Seq, 0, 0, to},
		{"d-added", events.StatePending, "hook", added.Seq, 0, 0, to},
	}
	if diff := cmp.Diff(wantDv, gotDv); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	wantAtt := []*events.Attempt{&attempts[0], &attempts[1]}
	if diff := cmp.Diff(wantAtt, gotAtt, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}

	// Nothing asked, nothing read.
	if got, err := js.EventDocuments(e.ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no seqs: %v %v", err, got)
	}
	if got, att, err := js.EventDeliveries(e.ctx, nil); err != nil || len(got)+len(att) != 0 {
		t.Errorf("no seqs: %v %v %v", err, got, att)
	}
}

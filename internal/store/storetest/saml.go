package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

// SAMLStore is what the SAML part of the suite needs.
type SAMLStore interface {
	Store
	saml.Store
}

// RunSAML runs the suite of the SAML identity provider's tables.
func RunSAML(t *testing.T, newStore func(t *testing.T) SAMLStore) {
	t.Run("Keys", func(t *testing.T) { testSAMLKeys(t, newStore(t)) })
	t.Run("Requests", func(t *testing.T) { testSAMLRequests(t, newStore(t)) })
	t.Run("Participants", func(t *testing.T) { testSAMLParticipants(t, newStore(t)) })
}

var samlT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func samlApp(t *testing.T, s SAMLStore, name string) string {
	t.Helper()
	svc := auth.NewService(s, auth.Options{Now: func() time.Time { return samlT0 }, NewID: newID})
	a, err := svc.CreateApp(context.Background(), directory.Actor{Kind: "cli"}, auth.AppSpec{Name: name, Kind: auth.KindServerApp})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func testSAMLKeys(t *testing.T, s SAMLStore) {
	ctx := context.Background()
	v0, err := s.CredentialsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k1 := &saml.Key{ID: "s1", PrivatePEM: []byte("priv1"), CertPEM: []byte("cert1"), Created: samlT0, Activates: samlT0}
	k2 := &saml.Key{ID: "s2", PrivatePEM: []byte("priv2"), CertPEM: []byte("cert2"), Created: samlT0.Add(time.Hour), Activates: samlT0.Add(48 * time.Hour)}
	err = s.WriteSAML(ctx, func(tx saml.Tx) error {
		if err := tx.InsertSAMLKey(ctx, k1); err != nil {
			return err
		}
		if err := tx.InsertSAMLKey(ctx, k2); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &directory.AuditEntry{Time: samlT0, Actor: directory.Actor{Kind: "cli"}, Action: "sso.saml.key.rotate", ResourceType: "SAMLKey", ResourceID: "s2"})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SAMLKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*saml.Key{k2, k1}, got); diff != "" {
		t.Errorf("keys, latest to activate first (-want +got):\n%s", diff)
	}
	v1, err := s.CredentialsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v1 == v0 {
		t.Errorf("the credentials version did not move with a key change")
	}
	if err := s.WriteSAML(ctx, func(tx saml.Tx) error { return tx.DeleteSAMLKey(ctx, "s1") }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SAMLKeys(ctx); len(got) != 1 || got[0].ID != "s2" {
		t.Errorf("after delete: got %v, want s2 only", got)
	}
	// A write without key changes leaves the version alone.
	v2, _ := s.CredentialsVersion(ctx)
	app := samlApp(t, s, "sp-keys")
	v3, _ := s.CredentialsVersion(ctx)
	if err := s.WriteSAML(ctx, func(tx saml.Tx) error {
		return tx.InsertSAMLRequest(ctx, &saml.Request{Handle: "h0", AppID: app, RequestID: "r0", Data: []byte("{}"), Created: samlT0, Expires: samlT0.Add(time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}
	if v4, _ := s.CredentialsVersion(ctx); v4 != v3 || v3 == v2 {
		t.Errorf("versions %d, %d, %d: a request must not move the credentials version (an application must)", v2, v3, v4)
	}
}

func testSAMLRequests(t *testing.T, s SAMLStore) {
	ctx := context.Background()
	app := samlApp(t, s, "sp")
	other := samlApp(t, s, "sp2")
	insert := func(r *saml.Request) error {
		return s.WriteSAML(ctx, func(tx saml.Tx) error { return tx.InsertSAMLRequest(ctx, r) })
	}
	r1 := &saml.Request{Handle: "h1", AppID: app, RequestID: "id-1", Data: []byte(`{"acs":"https://sp/acs"}`), Created: samlT0, Expires: samlT0.Add(15 * time.Minute)}
	if err := insert(r1); err != nil {
		t.Fatal(err)
	}
	// The same request ID from the same service provider is a replay;
	// from another service provider it is not.
	wantKind(t, insert(&saml.Request{Handle: "h2", AppID: app, RequestID: "id-1", Data: []byte("{}"), Created: samlT0, Expires: samlT0.Add(time.Minute)}), directory.ErrConflict)
	if err := insert(&saml.Request{Handle: "h3", AppID: other, RequestID: "id-1", Data: []byte("{}"), Created: samlT0, Expires: samlT0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, insert(&saml.Request{Handle: "h4", AppID: "no-such-app", RequestID: "x", Data: []byte("{}"), Created: samlT0, Expires: samlT0.Add(time.Minute)}), directory.ErrNotFound)

	got, err := s.SAMLRequest(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r1, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	if _, err := s.SAMLRequest(ctx, "h2"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("refused request: got %v, want not found", err)
	}
	answer := func(handle string, at time.Time) bool {
		t.Helper()
		var ok bool
		if err := s.WriteSAML(ctx, func(tx saml.Tx) (err error) { ok, err = tx.AnswerSAMLRequest(ctx, handle, at); return err }); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !answer("h1", samlT0.Add(time.Minute)) {
		t.Fatal("first answer refused")
	}
	if answer("h1", samlT0.Add(2*time.Minute)) {
		t.Error("a request was answered twice")
	}
	if answer("h3", samlT0.Add(time.Minute)) {
		t.Error("an expired request was answered")
	}
	if answer("nope", samlT0) {
		t.Error("an unknown request was answered")
	}
	got, _ = s.SAMLRequest(ctx, "h1")
	if want := samlT0.Add(time.Minute); !got.Answered.Equal(want) {
		t.Errorf("answered at %v, want %v", got.Answered, want)
	}
	// Recording a request deletes the expired ones; their IDs may come
	// again (the request itself has long expired by then).
	later := samlT0.Add(time.Hour)
	if err := insert(&saml.Request{Handle: "h5", AppID: app, RequestID: "id-5", Data: []byte("{}"), Created: later, Expires: later.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SAMLRequest(ctx, "h1"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("expired request kept: %v", err)
	}
	if err := insert(&saml.Request{Handle: "h6", AppID: app, RequestID: "id-1", Data: []byte("{}"), Created: later, Expires: later.Add(time.Minute)}); err != nil {
		t.Errorf("an ID forgotten after expiry: %v", err)
	}
}

func testSAMLParticipants(t *testing.T, s SAMLStore) {
	ctx := context.Background()
	a1 := samlApp(t, s, "gitbook")
	a2 := samlApp(t, s, "aliyun")
	upsert := func(p *saml.Participant) *saml.Participant {
		t.Helper()
		var out *saml.Participant
		if err := s.WriteSAML(ctx, func(tx saml.Tx) (err error) { out, err = tx.UpsertSAMLParticipant(ctx, p); return err }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	p1 := &saml.Participant{SessionID: "sess-1", AppID: a1, NameID: "alice@example.com", NameIDFormat: "email", SessionIndex: "gs-1", Created: samlT0, Expires: samlT0.Add(8 * time.Hour)}
	if diff := cmp.Diff(p1, upsert(p1)); diff != "" {
		t.Errorf("first upsert (-want +got):\n%s", diff)
	}
	// Again for the same session and application: the first index stays,
	// the later expiry wins.
	again := *p1
	again.SessionIndex, again.Created, again.Expires = "gs-other", samlT0.Add(time.Minute), samlT0.Add(9*time.Hour)
	want := *p1
	want.Expires = again.Expires
	if diff := cmp.Diff(&want, upsert(&again)); diff != "" {
		t.Errorf("second upsert (-want +got):\n%s", diff)
	}
	p2 := &saml.Participant{SessionID: "sess-1", AppID: a2, NameID: "alice", NameIDFormat: "persistent", SessionIndex: "gs-2", Created: samlT0.Add(time.Second), Expires: samlT0.Add(8 * time.Hour)}
	upsert(p2)
	got, err := s.SAMLParticipants(ctx, "sess-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*saml.Participant{&want, p2}, got); diff != "" {
		t.Errorf("participants (-want +got):\n%s", diff)
	}
	byIdx, err := s.SAMLParticipantByIndex(ctx, a2, "gs-2")
	if err != nil || byIdx.SessionID != "sess-1" {
		t.Errorf("by index: %v, %v", byIdx, err)
	}
	if _, err := s.SAMLParticipantByIndex(ctx, a1, "gs-2"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("another application's index: got %v, want not found", err)
	}
	if err := s.WriteSAML(ctx, func(tx saml.Tx) error { return tx.DeleteSAMLParticipants(ctx, "sess-1") }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SAMLParticipants(ctx, "sess-1"); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	// Deleting the application forgets its participants and requests.
	upsert(p1)
	svc := auth.NewService(s, auth.Options{Now: func() time.Time { return samlT0 }, NewID: newID})
	if err := svc.DeleteApp(ctx, directory.Actor{Kind: "cli"}, a1); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SAMLParticipants(ctx, "sess-1"); len(got) != 0 {
		t.Errorf("participants of a deleted application: %v", got)
	}
}

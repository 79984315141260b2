package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/embedded"
)

// SearchStore is what the search suite needs: the embedded backend's
// store and the outbox.
type SearchStore interface {
	embedded.Store
	EventsAfter(ctx context.Context, after int64, limit int) ([]*directory.EventRecord, error)
}

func searchBackend(st SearchStore) *embedded.Backend {
	return embedded.New(st, embedded.Options{Terms: strings.Fields, NewID: newID,
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
}

func chunk(id, text string, groups ...string) search.Chunk {
	c := search.Chunk{ID: id, Collection: "dir:/docs", Source: id + ".md", Title: "T " + id, Breadcrumb: []string{"H"},
		Text: text, Groups: groups, Vector: []float32{1, float32(len(text)), 0}}
	c.Hash = c.ComputeHash()
	return c
}

func ids(hits []search.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.Chunk.ID)
	}
	return out
}

// Search is the conformance suite of the embedded search index's storage:
// batches with their events in one transaction, refs, reset, and two
// servers on one database each seeing the other's changes at its next
// query.
func Search(t *testing.T, newStore func(t *testing.T) SearchStore) {
	ctx := context.Background()
	t.Run("ApplyFollowRemove", func(t *testing.T) {
		st := newStore(t)
		a, b := searchBackend(st), searchBackend(st) // two servers
		meta := search.Meta{Analyzer: "fields", Model: "m", Dims: 3}
		if err := a.Reset(ctx, meta); err != nil {
			t.Fatal(err)
		}
		if got, err := b.Meta(ctx); err != nil || got != meta {
			t.Fatalf("Meta = %+v, %v; want %+v", got, err, meta)
		}
		batch := search.Batch{Put: []search.Chunk{chunk("c1", "vpn setup guide", "g-eng"), chunk("c2", "vpn for finance", "g-fin"), chunk("c3", "holiday policy", "g-eng", "g-fin")}}
		evs := []search.DocumentEvent{{Type: search.DocumentIndexed, Collection: "dir:/docs", Source: "c1.md", Groups: []string{"g-eng"}, Chunks: 1}}
		if err := a.ApplyWithEvents(ctx, batch, evs); err != nil {
			t.Fatal(err)
		}
		q := search.Query{Terms: []string{"vpn"}, Groups: []string{"g-eng"}, K: 10, Mode: search.ModeKeyword}
		res, err := b.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"c1"}, ids(res.Hits)); diff != "" || res.Matched != 1 {
			t.Errorf("the other server's search (-want +got):\n%s (matched %d)", diff, res.Matched)
		}
		got := res.Hits[0].Chunk
		want := batch.Put[0]
		want.Vector = nil
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("chunk read back (-want +got):\n%s", diff)
		}
		refs, err := b.Refs(ctx, "dir:/docs")
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 3 || refs[0].ID != "c1" || refs[0].Hash != batch.Put[0].Hash || refs[0].Source != "c1.md" {
			t.Errorf("Refs = %+v", refs)
		}
		// The event went to the outbox with the batch.
		recs, err := st.EventsAfter(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Type != search.DocumentIndexed || recs[0].ResourceType != "Document" || recs[0].Subject != "documents/dir:/docs/c1.md" {
			t.Fatalf("events = %+v", recs)
		}
		var data search.DocumentEvent
		if err := json.Unmarshal(recs[0].Data, &data); err != nil || data.Source != "c1.md" || data.Chunks != 1 {
			t.Errorf("event data = %s (%v)", recs[0].Data, err)
		}

		// Removal and replacement by a, seen by b at its next query.
		if err := a.Apply(ctx, search.Batch{Delete: []string{"c1"}, Put: []search.Chunk{chunk("c3", "vpn holiday policy", "g-eng")}}); err != nil {
			t.Fatal(err)
		}
		if res, err = b.Search(ctx, q); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"c3"}, ids(res.Hits)); diff != "" {
			t.Errorf("after a removal and a change (-want +got):\n%s", diff)
		}
		// Vector search over the same ACL.
		res, err = b.Search(ctx, search.Query{Vector: []float32{1, 18, 0}, Groups: []string{"g-fin"}, K: 10, Mode: search.ModeVector})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"c2"}, ids(res.Hits)); diff != "" {
			t.Errorf("vector search of g-fin (-want +got):\n%s", diff)
		}
		st2, err := b.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st2.Chunks != 2 || len(st2.Collections) != 1 {
			t.Errorf("Stats = %+v", st2)
		}
	})
	t.Run("BadBatchChangesNothing", func(t *testing.T) {
		st := newStore(t)
		a := searchBackend(st)
		if err := a.Reset(ctx, search.Meta{Analyzer: "fields", Model: "m", Dims: 3}); err != nil {
			t.Fatal(err)
		}
		if err := a.Apply(ctx, search.Batch{Put: []search.Chunk{chunk("c1", "one", "g")}}); err != nil {
			t.Fatal(err)
		}
		gen, _ := st.SearchGeneration(ctx)
		bad := chunk("c2", "two", "g")
		bad.Vector = []float32{1, 2}
		err := a.Apply(ctx, search.Batch{Put: []search.Chunk{chunk("c3", "three", "g"), bad}, Delete: []string{"c1"}})
		if err == nil {
			t.Fatal("a vector of the wrong dimensions was accepted")
		}
		if after, _ := st.SearchGeneration(ctx); after != gen {
			t.Errorf("generation moved from %d to %d", gen, after)
		}
		refs, _ := a.Refs(ctx, "dir:/docs")
		if len(refs) != 1 || refs[0].ID != "c1" {
			t.Errorf("refs after a refused batch = %+v", refs)
		}
	})
	t.Run("ResetAndRestart", func(t *testing.T) {
		st := newStore(t)
		a := searchBackend(st)
		if err := a.Reset(ctx, search.Meta{Analyzer: "fields", Model: "m", Dims: 3}); err != nil {
			t.Fatal(err)
		}
		if err := a.Apply(ctx, search.Batch{Put: []search.Chunk{chunk("c1", "one", "g"), chunk("c2", "two", "g")}}); err != nil {
			t.Fatal(err)
		}
		// A server started now reads everything.
		fresh := searchBackend(st)
		res, err := fresh.Search(ctx, search.Query{Terms: []string{"two"}, Groups: []string{"g"}, K: 5, Mode: search.ModeKeyword})
		if err != nil || len(res.Hits) != 1 {
			t.Fatalf("fresh server: %+v, %v", res, err)
		}
		// A reset by one is an empty index for the other.
		if err := fresh.Reset(ctx, search.Meta{Analyzer: "fields"}); err != nil {
			t.Fatal(err)
		}
		res, err = a.Search(ctx, search.Query{Terms: []string{"two"}, Groups: []string{"g"}, K: 5, Mode: search.ModeKeyword})
		if err != nil || len(res.Hits) != 0 {
			t.Errorf("after reset: %+v, %v", res, err)
		}
		if m, _ := a.Meta(ctx); m != (search.Meta{Analyzer: "fields"}) {
			t.Errorf("meta after reset = %+v", m)
		}
	})
}

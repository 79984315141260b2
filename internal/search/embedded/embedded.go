// Package embedded is the default search backend: BM25 and exact cosine
// nearest neighbours over an in-memory index, kept in the database beside
// the directory (SQLite or PostgreSQL tables) and rebuilt from it at start.
//
// The database is the truth: every change is written there first, in one
// transaction with its document events, and each server's memory follows
// the database by generation (Store.SearchChanges), so that a change made
// by the command line or by another server is searched at the next query.
package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Store is what the backend needs from the database.
type Store interface {
	// SearchGeneration returns the index's generation: it moves with
	// every change.
	SearchGeneration(ctx context.Context) (int64, error)
	// SearchChanges reads, in one snapshot, what changed after
	// generation after: every chunk written after it (each passed to fn,
	// with its vector) and the ids removed after it, or, when the index
	// was reset after it, every chunk (Changes.Full).
	SearchChanges(ctx context.Context, after int64, fn func(search.Chunk) error) (Changes, error)
	// SearchRefs lists the chunks of a collection.
	SearchRefs(ctx context.Context, collection string) ([]search.ChunkRef, error)
	// ResetSearch removes every chunk and records m.
	ResetSearch(ctx context.Context, m search.Meta) error
	// ApplySearch writes a batch and its events in one transaction.
	ApplySearch(ctx context.Context, b search.Batch, evs []*directory.EventRecord) error
}

// Changes is what SearchChanges read besides the chunks.
type Changes struct {
	Meta       search.Meta
	Generation int64
	Full       bool
	Removed    []string
}

// Options configure the backend.
type Options struct {
	// Terms analyses text into index terms (the analyzer the index was
	// built with: Meta().Analyzer).
	Terms func(string) []string
	// NewID and Now make the document events' ids and times.
	NewID func() string
	Now   func() time.Time
}

// Backend is the embedded search backend.
type Backend struct {
	st  Store
	opt Options

	mu   sync.RWMutex
	idx  *memIndex
	meta search.Meta
	gen  int64
	// loadMu serialises catching up with the database.
	loadMu sync.Mutex
}

var _ search.Backend = (*Backend)(nil)

// New returns a backend over st; the index is read at the first use.
func New(st Store, opt Options) *Backend {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Backend{st: st, opt: opt, gen: -1}
}

// sync brings the memory level with the database.
func (b *Backend) sync(ctx context.Context) error {
	gen, err := b.st.SearchGeneration(ctx)
	if err != nil {
		return unavailable(err)
	}
	b.mu.RLock()
	same := gen == b.gen
	b.mu.RUnlock()
	if same {
		return nil
	}
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	b.mu.RLock()
	after := b.gen
	b.mu.RUnlock()
	if after == gen {
		return nil
	}
	// Read the changes outside the write lock (queries go on meanwhile),
	// then apply them under it.
	var chunks []search.Chunk
	ch, err := b.st.SearchChanges(ctx, max(after, 0), func(c search.Chunk) error {
		chunks = append(chunks, c)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch.Full || after < 0 || b.idx == nil || ch.Meta.Dims != b.meta.Dims {
		b.idx = newMemIndex(b.opt.Terms, ch.Meta.Dims)
	}
	for _, id := range ch.Removed {
		b.idx.remove(id)
	}
	for _, c := range chunks {
		b.idx.put(c)
	}
	b.idx.compact()
	b.meta, b.gen = ch.Meta, ch.Generation
	return nil
}

// Meta implements search.Backend.
func (b *Backend) Meta(ctx context.Context) (search.Meta, error) {
	if err := b.sync(ctx); err != nil {
		return search.Meta{}, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.meta, nil
}

// Reset implements search.Backend.
func (b *Backend) Reset(ctx context.Context, m search.Meta) error {
	if err := b.st.ResetSearch(ctx, m); err != nil {
		return unavailable(err)
	}
	return b.sync(ctx)
}

// Refs implements search.Backend.
func (b *Backend) Refs(ctx context.Context, collection string) ([]search.ChunkRef, error) {
	refs, err := b.st.SearchRefs(ctx, collection)
	if err != nil {
		return nil, unavailable(err)
	}
	return refs, nil
}

// Apply implements search.Backend.
func (b *Backend) Apply(ctx context.Context, batch search.Batch) error {
	return b.ApplyWithEvents(ctx, batch, nil)
}

// ApplyWithEvents writes a batch and its document events in one
// transaction (ingest.EventBackend).
func (b *Backend) ApplyWithEvents(ctx context.Context, batch search.Batch, evs []search.DocumentEvent) error {
	m, err := b.Meta(ctx)
	if err != nil {
		return err
	}
	for _, c := range batch.Put {
		if c.Vector != nil && len(c.Vector) != m.Dims {
			return &search.Error{Kind: search.ErrInvalid, Msg: fmt.Sprintf("chunk %s has a vector of %d dimensions; the index has %d", c.ID, len(c.Vector), m.Dims)}
		}
		if m.Dims > 0 && c.Vector == nil {
			return &search.Error{Kind: search.ErrInvalid, Msg: fmt.Sprintf("chunk %s has no vector; the index has %d dimensions", c.ID, m.Dims)}
		}
	}
	recs := make([]*directory.EventRecord, 0, len(evs))
	now := b.opt.Now().UTC()
	for _, e := range evs {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		id := e.Collection + "/" + e.Source
		recs = append(recs, &directory.EventRecord{
			ID: b.opt.NewID(), Type: e.Type, Subject: "documents/" + id, Time: now, Actor: directory.Actor{Kind: "system"},
			ResourceType: "Document", ResourceID: id, Data: data,
		})
	}
	if err := b.st.ApplySearch(ctx, batch, recs); err != nil {
		return unavailable(err)
	}
	return b.sync(ctx)
}

// Search implements search.Backend.
func (b *Backend) Search(ctx context.Context, q search.Query) (search.Result, error) {
	if err := b.sync(ctx); err != nil {
		return search.Result{}, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.idx == nil || q.K <= 0 || len(q.Groups) == 0 {
		return search.Result{}, nil
	}
	allow := b.idx.allowed(q.Groups)
	window := max(q.K, 50) // the depth of each ranking that RRF fuses
	var res search.Result
	var kw, vec []search.Hit
	if q.Mode != search.ModeVector {
		top, n := b.idx.keyword(q.Terms, allow, window)
		kw = b.hits(top, true)
		res.Matched = n
	}
	if q.Mode != search.ModeKeyword && len(q.Vector) > 0 {
		if len(q.Vector) != b.meta.Dims {
			return search.Result{}, &search.Error{Kind: search.ErrInvalid, Msg: fmt.Sprintf(
				"the query vector has %d dimensions; the index has %d", len(q.Vector), b.meta.Dims)}
		}
		top, n := b.idx.nearest(q.Vector, allow, window)
		vec = b.hits(top, false)
		if q.Mode == search.ModeVector {
			res.Matched = n
		}
	}
	switch q.Mode {
	case search.ModeKeyword:
		res.Hits = kw[:min(len(kw), q.K)]
	case search.ModeVector:
		res.Hits = vec[:min(len(vec), q.K)]
	default:
		res.Hits = search.Fuse(kw, vec, q.K)
	}
	return res, nil
}

// hits turns ranked slots into hits (copies: the caller may keep them).
func (b *Backend) hits(top []scored, keyword bool) []search.Hit {
	out := make([]search.Hit, len(top))
	for i, s := range top {
		out[i] = search.Hit{Chunk: *b.idx.chunks[s.slot], Score: s.score}
		if keyword {
			out[i].KeywordRank = i + 1
		} else {
			out[i].VectorRank = i + 1
		}
	}
	return out
}

// Stats implements search.Backend.
func (b *Backend) Stats(ctx context.Context) (search.Stats, error) {
	if err := b.sync(ctx); err != nil {
		return search.Stats{}, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	st := search.Stats{Meta: b.meta}
	if b.idx == nil {
		return st, nil
	}
	type agg struct {
		chunks  int
		sources map[string]bool
	}
	byColl := map[string]*agg{}
	var order []string
	for _, c := range b.idx.chunks {
		if c == nil {
			continue
		}
		a := byColl[c.Collection]
		if a == nil {
			a = &agg{sources: map[string]bool{}}
			byColl[c.Collection] = a
			order = append(order, c.Collection)
		}
		a.chunks++
		a.sources[c.Source] = true
	}
	sort.Strings(order)
	for _, name := range order {
		a := byColl[name]
		st.Collections = append(st.Collections, search.CollectionStats{Name: name, Chunks: a.chunks, Sources: len(a.sources)})
		st.Chunks += a.chunks
		st.Sources += len(a.sources)
	}
	return st, nil
}

func unavailable(err error) error {
	if _, ok := err.(*search.Error); ok {
		return err
	}
	return &search.Error{Kind: search.ErrUnavailable, Msg: "the search index is unavailable; retry later", Err: err}
}

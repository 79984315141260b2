package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Groups resolves the groups named by an index run.
type Groups interface {
	// GroupIDs returns the id of each group, named by its displayName or
	// its id. A name that matches no group is an error naming it.
	GroupIDs(ctx context.Context, names []string) ([]string, error)
}

// Outbox writes document events (for a backend that cannot write them in
// the transaction of its batch).
type Outbox interface {
	AppendDocumentEvents(ctx context.Context, evs []search.DocumentEvent) error
}

// EventBackend is a backend that writes document events in the
// transaction of the batch that causes them (the embedded one).
type EventBackend interface {
	ApplyWithEvents(ctx context.Context, b search.Batch, evs []search.DocumentEvent) error
}

// Indexer brings an index level with a source.
type Indexer struct {
	Backend  search.Backend
	Analyzer search.Analyzer
	// Embedder is nil for a keyword-only index.
	Embedder search.Embedder
	Groups   Groups
	// Outbox receives the document events when the backend is not an
	// EventBackend (nil: none are written).
	Outbox Outbox
	// EmbedBatch is how many texts go to the embedder at once (default
	// 32).
	EmbedBatch int

	mu sync.Mutex // one run at a time: runs read and write the same refs
}

// Options change a run.
type Options struct {
	// Groups name the groups (displayName or id) whose members may read
	// the documents. Required.
	Groups []string
	// DryRun reports what would change, and changes nothing.
	DryRun bool
	// Rebuild empties the index first when it was built with another
	// analyzer or embedding model (otherwise such a run fails).
	Rebuild bool
	// Progress, when set, is told how the run goes.
	Progress func(Progress)
}

// Progress is a step of a run.
type Progress struct {
	Phase string // "read", "chunk", "embed", "write"
	Done  int
	Total int
}

// Report says what a run did (or, dry, would do).
type Report struct {
	Collection string   `json:"collection"`
	Documents  int      `json:"documents"`
	Chunks     int      `json:"chunks"`
	Added      int      `json:"added"`
	Changed    int      `json:"changed"`
	Unchanged  int      `json:"unchanged"`
	Removed    int      `json:"removed"`
	Embedded   int      `json:"embedded"`
	Sources    []string `json:"changedSources,omitempty"` // documents added or changed
	Gone       []string `json:"removedSources,omitempty"` // documents that disappeared
	DryRun     bool     `json:"dryRun,omitempty"`
	Rebuilt    bool     `json:"rebuilt,omitempty"`
	Model      string   `json:"model,omitempty"` // "" when keyword only
	Seconds    float64  `json:"seconds"`
}

// Meta is the meta an index built by ix has.
func (ix *Indexer) Meta() search.Meta {
	m := search.Meta{Analyzer: ix.Analyzer.Name()}
	if ix.Embedder != nil {
		m.Model, m.Dims = ix.Embedder.Model(), ix.Embedder.Dims()
	}
	return m
}

// Index reads src whole, cuts it into chunks, embeds those that are new or
// changed and applies the difference to the index in one batch, with a
// Document.Indexed event for each document added or changed and a
// Document.Removed event for each that disappeared. Everything that can
// fail (reading, parsing, resolving groups, embedding) happens before the
// index is touched: a failed run leaves it as it was.
func (ix *Indexer) Index(ctx context.Context, src Source, opt Options) (*Report, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	start := time.Now()
	progress := opt.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	rep := &Report{Collection: src.Collection(), DryRun: opt.DryRun}
	if len(opt.Groups) == 0 {
		return nil, invalid("give the groups whose members may read these documents (--groups)")
	}
	groups, err := ix.Groups.GroupIDs(ctx, opt.Groups)
	if err != nil {
		return nil, err
	}
	groups = sortedUnique(groups)

	want := ix.Meta()
	rep.Model = want.Model
	have, err := ix.Backend.Meta(ctx)
	if err != nil {
		return nil, err
	}
	reset := have == (search.Meta{})
	if !reset && have != want {
		if !opt.Rebuild {
			return nil, &search.Error{Kind: search.ErrMetaMismatch, Msg: fmt.Sprintf(
				"the index was built with analyzer %q and model %q (%d dimensions), not %q and %q (%d): rebuild it (--rebuild, then index every collection again)",
				have.Analyzer, have.Model, have.Dims, want.Analyzer, want.Model, want.Dims)}
		}
		reset, rep.Rebuilt = true, true
	}

	progress(Progress{Phase: "read"})
	docs, err := src.Documents(ctx)
	if err != nil {
		return nil, invalidErr(err)
	}
	rep.Documents = len(docs)
	var chunks []search.Chunk
	bySource := map[string][]search.Chunk{}
	for i, d := range docs {
		if _, dup := bySource[d.Source]; dup {
			return nil, invalid(fmt.Sprintf("%s: read twice", d.Source))
		}
		cs, err := Chunks(rep.Collection, d, groups)
		if err != nil {
			return nil, invalidErr(err)
		}
		bySource[d.Source] = cs
		chunks = append(chunks, cs...)
		progress(Progress{Phase: "chunk", Done: i + 1, Total: len(docs)})
	}
	rep.Chunks = len(chunks)

	var refs []search.ChunkRef
	if !reset {
		if refs, err = ix.Backend.Refs(ctx, rep.Collection); err != nil {
			return nil, err
		}
	}
	old := make(map[string]search.ChunkRef, len(refs))
	for _, r := range refs {
		old[r.ID] = r
	}
	var b search.Batch
	changedSources := map[string]bool{}
	for _, c := range chunks {
		r, ok := old[c.ID]
		switch {
		case !ok:
			rep.Added++
		case r.Hash != c.Hash:
			rep.Changed++
		default:
			rep.Unchanged++
			continue
		}
		b.Put = append(b.Put, c)
		changedSources[c.Source] = true
	}
	newIDs := make(map[string]bool, len(chunks))
	for _, c := range chunks {
		newIDs[c.ID] = true
	}
	goneSources := map[string]bool{}
	for _, r := range refs {
		if !newIDs[r.ID] {
			b.Delete = append(b.Delete, r.ID)
			rep.Removed++
			if _, still := bySource[r.Source]; still {
				changedSources[r.Source] = true // fewer chunks than before
			} else {
				goneSources[r.Source] = true
			}
		}
	}
	sort.Strings(b.Delete)
	rep.Sources = sortedKeys(changedSources)
	rep.Gone = sortedKeys(goneSources)

	if ix.Embedder != nil && len(b.Put) > 0 && !opt.DryRun {
		if err := ix.embed(ctx, b.Put, progress); err != nil {
			return nil, err
		}
		rep.Embedded = len(b.Put)
	}
	if opt.DryRun {
		rep.Seconds = time.Since(start).Seconds()
		return rep, nil
	}

	var evs []search.DocumentEvent
	for _, s := range rep.Sources {
		cs := bySource[s]
		ev := search.DocumentEvent{Type: search.DocumentIndexed, Collection: rep.Collection, Source: s, Groups: groups, Chunks: len(cs)}
		if len(cs) > 0 {
			ev.Title, ev.URL = cs[0].Title, cs[0].URL
		}
		evs = append(evs, ev)
	}
	for _, s := range rep.Gone {
		evs = append(evs, search.DocumentEvent{Type: search.DocumentRemoved, Collection: rep.Collection, Source: s})
	}
	progress(Progress{Phase: "write", Total: len(b.Put) + len(b.Delete)})
	if reset {
		if err := ix.Backend.Reset(ctx, want); err != nil {
			return nil, err
		}
	}
	if len(b.Put) > 0 || len(b.Delete) > 0 {
		if eb, ok := ix.Backend.(EventBackend); ok {
			err = eb.ApplyWithEvents(ctx, b, evs)
		} else if err = ix.Backend.Apply(ctx, b); err == nil && ix.Outbox != nil && len(evs) > 0 {
			err = ix.Outbox.AppendDocumentEvents(ctx, evs)
		}
		if err != nil {
			return nil, err
		}
	}
	progress(Progress{Phase: "write", Done: len(b.Put) + len(b.Delete), Total: len(b.Put) + len(b.Delete)})
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// embed sets the vectors of cs, in batches. Any failure, or an answer of
// the wrong shape, fails the whole run.
func (ix *Indexer) embed(ctx context.Context, cs []search.Chunk, progress func(Progress)) error {
	n := ix.EmbedBatch
	if n <= 0 {
		n = 32
	}
	dims := ix.Embedder.Dims()
	for i := 0; i < len(cs); i += n {
		j := min(i+n, len(cs))
		texts := make([]string, 0, j-i)
		for k := i; k < j; k++ {
			texts = append(texts, cs[k].IndexText())
		}
		vecs, err := ix.Embedder.Embed(ctx, texts)
		if err != nil {
			return &search.Error{Kind: search.ErrUnavailable, Msg: "embedding failed; the index is unchanged", Err: err}
		}
		if len(vecs) != len(texts) {
			return &search.Error{Kind: search.ErrUnavailable, Msg: fmt.Sprintf(
				"the embedder returned %d vectors for %d texts; the index is unchanged", len(vecs), len(texts))}
		}
		for k, v := range vecs {
			if len(v) != dims {
				return &search.Error{Kind: search.ErrUnavailable, Msg: fmt.Sprintf(
					"the embedder returned a vector of %d dimensions, not %d; the index is unchanged", len(v), dims)}
			}
			cs[i+k].Vector = v
		}
		progress(Progress{Phase: "embed", Done: j, Total: len(cs)})
	}
	return nil
}

func invalid(msg string) error { return &search.Error{Kind: search.ErrInvalid, Msg: msg} }

// invalidErr makes a read or parse error an ErrInvalid naming the
// document (context errors stay as they are).
func invalidErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &search.Error{Kind: search.ErrInvalid, Msg: err.Error() + "; the index is unchanged"}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}

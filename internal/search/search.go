// Package search is the documentation-search domain: the chunks documents
// are cut into, who may read them, and the contracts the parts of search
// meet through. It knows nothing of HTTP, SQL or any search engine.
//
//   - an Analyzer turns language-mixed text (Chinese and English) into index
//     terms; internal/search/analysis holds the one Gatehouse uses, and the
//     same terms go to every backend;
//   - an Embedder turns texts into vectors (an OpenAI-compatible endpoint,
//     or a deterministic non-semantic one for tests and offline use);
//   - a Backend stores chunks and answers queries: internal/search/embedded
//     (the default, next to the database) or an Elasticsearch / OpenSearch
//     cluster.
//
// Access control is by Gatehouse group: a chunk lists the ids of the groups
// whose members may read it, and every query carries the groups of the
// person asking, resolved when she asks. A backend must apply that filter
// before it scores, counts, highlights or fuses anything, so that nothing a
// person may not read can influence what she is shown.
package search

import (
	"context"
	"errors"
)

// Chunk is one searchable piece of a document: a run of text under one
// heading path, small enough to embed and to show as a result.
type Chunk struct {
	// ID is stable across re-indexing: it is derived from the collection,
	// the source and the chunk's position within the source, so that a
	// changed chunk replaces its older version.
	ID string
	// Collection names what was indexed as a whole ("dir:/srv/handbook",
	// "gitbook:SPACE"). Re-indexing a collection removes the chunks of
	// sources that disappeared from it, and no others.
	Collection string
	// Source is the document the chunk comes from, within its collection:
	// a relative path ("onboarding/vpn.md") or a GitBook page path.
	Source string
	// URL, when known, is where a reader can open the source.
	URL string
	// Title is the document's title (its first heading, or its file name).
	Title string
	// Breadcrumb is the path of headings above the chunk, outermost first.
	// The indexed text is prefixed with it.
	Breadcrumb []string
	// Text is the chunk's content (Markdown-ish plain text: code blocks and
	// tables are kept whole).
	Text string
	// Groups are the ids of the Gatehouse groups whose members may read the
	// chunk. A chunk with no groups is readable by nobody.
	Groups []string
	// Hash is the hex SHA-256 of everything above that is indexed
	// (collection, source, URL, title, breadcrumb, text, groups): equal
	// hashes mean nothing needs re-indexing.
	Hash string
	// Vector is the chunk's embedding (Embedder.Dims values), or nil when
	// the index has no embedder.
	Vector []float32
}

// IndexText is the text that is analysed and embedded for c: the breadcrumb
// and the text, so that a chunk is found by the headings above it.
func (c *Chunk) IndexText() string {
	s := ""
	for _, h := range c.Breadcrumb {
		s += h + " › "
	}
	if s != "" {
		s = s[:len(s)-len(" › ")] + "\n"
	}
	return s + c.Text
}

// ChunkRef is what re-indexing needs to know about a stored chunk.
type ChunkRef struct {
	ID     string
	Source string
	Hash   string
}

// Token is one index term and where it came from in the analysed text.
type Token struct {
	// Term is the normalised term: lower-cased, stemmed for English, a
	// dictionary word (or a single character) for Chinese.
	Term string
	// Start and End are byte offsets of the original span in the text.
	// Overlapping Chinese words (ik_max_word style) have overlapping spans.
	Start, End int
}

// Analyzer turns language-mixed text into index terms. Indexing and
// querying use the same analyzer; an index records the analyzer's Name and
// must be rebuilt when it changes.
type Analyzer interface {
	// Tokens returns the terms of text in order of their start. It never
	// fails: text it cannot segment is split into characters.
	Tokens(text string) []Token
	// Name identifies the analyzer and its version ("gse+snowball/1").
	Name() string
}

// Embedder turns texts into vectors.
type Embedder interface {
	// Embed returns one vector of Dims() values per text, in order. It
	// fails (and returns no vectors) when the endpoint fails, times out or
	// answers with the wrong number of vectors or dimensions.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Model names the model; an index records it, and a change of model
	// forces a rebuild.
	Model() string
	// Dims is the number of dimensions of every vector.
	Dims() int
}

// Meta describes how an index was built. Chunks built one way cannot be
// searched with queries built another way.
type Meta struct {
	// Analyzer is Analyzer.Name() of the analyzer the index was built with.
	Analyzer string `json:"analyzer"`
	// Model is Embedder.Model(), or "" for a keyword-only index.
	Model string `json:"model"`
	// Dims is Embedder.Dims(), or 0 for a keyword-only index.
	Dims int `json:"dims"`
}

// Mode says which rankings a query runs.
type Mode string

const (
	ModeKeyword Mode = "keyword" // BM25 over the analysed terms only
	ModeVector  Mode = "vector"  // cosine nearest neighbours only
	ModeHybrid  Mode = "hybrid"  // both, fused by reciprocal rank fusion
)

// Query is one search, already analysed and embedded.
type Query struct {
	// Terms are the analysed terms of the query text (Analyzer.Tokens).
	Terms []string
	// Vector is the embedded query text (ModeVector, ModeHybrid).
	Vector []float32
	// Groups are the ids of the groups the person asking is in, resolved
	// when she asks. Only chunks sharing at least one group are considered
	// at all. Empty: nothing is readable, and the result is empty.
	Groups []string
	// K is how many hits to return.
	K    int
	Mode Mode
}

// Span is a byte range of a chunk's Text.
type Span struct{ Start, End int }

// Hit is one chunk found by a query.
type Hit struct {
	Chunk Chunk // without Vector
	// Score orders the hits: BM25 (keyword), cosine similarity (vector) or
	// the RRF sum (hybrid).
	Score float64
	// KeywordRank and VectorRank are the chunk's 1-based ranks in each
	// ranking (0: not in it).
	KeywordRank, VectorRank int
	// Highlights are the spans of Chunk.Text that match query terms, in
	// order and not overlapping. A backend may leave them empty; the
	// service then computes them with its analyzer.
	Highlights []Span
}

// Result is the answer of a backend to a query.
type Result struct {
	Hits []Hit
	// Matched is how many readable chunks matched the keyword query (for
	// ModeVector: how many readable chunks were ranked). It never counts
	// chunks outside Query.Groups.
	Matched int
}

// Batch is one change to an index: chunks to store (replacing any with the
// same ID) and ids of chunks to remove.
type Batch struct {
	Put    []Chunk
	Delete []string
}

// Stats describes an index.
type Stats struct {
	Meta
	Chunks      int               `json:"chunks"`
	Sources     int               `json:"sources"`
	Collections []CollectionStats `json:"collections"`
}

// CollectionStats describes one collection of an index.
type CollectionStats struct {
	Name    string `json:"name"`
	Chunks  int    `json:"chunks"`
	Sources int    `json:"sources"`
}

// Backend stores chunks and runs queries. Every method is safe for
// concurrent use.
type Backend interface {
	// Meta returns how the index was built (zero when it is empty and was
	// never reset).
	Meta(ctx context.Context) (Meta, error)
	// Reset removes every chunk and records m: a rebuild with another
	// analyzer or model starts here.
	Reset(ctx context.Context, m Meta) error
	// Refs lists the chunks of a collection.
	Refs(ctx context.Context, collection string) ([]ChunkRef, error)
	// Apply stores and removes chunks. Every vector must have Meta().Dims
	// values (ErrInvalid otherwise, and nothing changes). The embedded
	// backend applies a batch atomically; a remote one applies it with
	// idempotent operations, so that running the same batch again after a
	// failure converges.
	Apply(ctx context.Context, b Batch) error
	// Search runs q. The ACL filter (q.Groups) comes before any scoring.
	Search(ctx context.Context, q Query) (Result, error)
	// Stats describes the index.
	Stats(ctx context.Context) (Stats, error)
}

// Error kinds.
var (
	ErrInvalid      = errors.New("invalid")             // bad input: a query, a document, a vector
	ErrUnavailable  = errors.New("unavailable")         // a backend or endpoint failed or timed out; retry later
	ErrMetaMismatch = errors.New("index meta mismatch") // the index was built with another analyzer or model: rebuild
	ErrUnknownUser  = errors.New("unknown user")        // the person asking is not in the directory
)

// Error is a search error: a kind, and a message fit to show the person who
// asked (it names nothing she may not read). Err keeps internal detail.
type Error struct {
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap exposes the kind and the cause to errors.Is/As.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Document event types, written to the event outbox when indexing changes a
// document (rules can route them like any lifecycle event).
const (
	DocumentIndexed = "Document.Indexed" // a document was added or changed
	DocumentRemoved = "Document.Removed" // a document disappeared from its collection
)

// DocumentEvent is what a document event says: never the text.
type DocumentEvent struct {
	Type       string   `json:"-"`
	Collection string   `json:"collection"`
	Source     string   `json:"source"`
	Title      string   `json:"title,omitempty"`
	URL        string   `json:"url,omitempty"`
	Groups     []string `json:"groups,omitempty"`
	Chunks     int      `json:"chunks"`
}

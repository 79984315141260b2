// Package elastic is the search backend on an Elasticsearch 8 or
// OpenSearch 2 cluster (Alibaba Cloud Elasticsearch in the seeds), through
// the engines' official Go clients (go-elasticsearch/v8,
// opensearch-go/v4), for teams past one machine.
//
// The index (rag-docs by default) is created from the one definition in
// this package (IndexBody; docs/search.md shows it): the text analysed
// with IK (ik_max_word at index time, ik_smart at query time) for
// applications that query the index themselves, Gatehouse's own analysis
// of the same text in the "terms" field (a whitespace analyzer over the
// terms search.Analyzer produced, so that keyword ranking uses the same
// terms as the embedded backend), the ACL groups as keywords, and the
// vector as an HNSW dense_vector (Elasticsearch: cosine, m 16,
// ef_construction 100) or knn_vector (OpenSearch: lucene engine,
// cosinesimil, the same parameters). The mapping's _meta records the
// analyzer, the model and the dimension the index was built with.
//
// Every query carries the ACL filter inside the keyword query (a bool
// filter) and inside the kNN clause (Elasticsearch's knn.filter,
// OpenSearch's knn filter), so that the engine considers only readable
// chunks when it scores, counts and picks neighbours. Hybrid queries send
// both rankings in one _msearch and fuse them in Gatehouse (search.Fuse),
// unless the cluster has Elasticsearch's rrf retriever (8.16 or later, an
// enterprise or trial licence: RRF has never been in the free basic
// licence).
//
// Every connection goes through Gatehouse's egress policy.
package elastic

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Options are what the caller passes besides the configuration.
type Options struct {
	// Analyzer produces the terms indexed in the "terms" field; queries
	// carry terms of the same analyzer (required).
	Analyzer search.Analyzer
	// Egress is the policy every connection to the cluster goes through
	// (the zero policy refuses private, loopback and metadata addresses:
	// allow-list the cluster's private network, as Alibaba Cloud
	// Elasticsearch has no public endpoint).
	Egress egress.Policy
	// Getenv reads the secrets' environment variables (default os.Getenv).
	Getenv func(string) string
	// Logger receives fallbacks and bulk retries (default: discard).
	Logger *slog.Logger
	// Sleep waits between bulk retries (default: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Backend is a search.Backend on one index of a cluster.
type Backend struct {
	cfg      Config
	eng      engine
	version  string
	native   atomic.Bool
	analyzer search.Analyzer
	log      *slog.Logger
	sleep    func(context.Context, time.Duration) error
}

var _ search.Backend = (*Backend)(nil)

// New connects to the cluster cfg describes (which must be valid:
// Problems), checks that it runs the configured engine in a supported
// version and, for Elasticsearch, reads its licence to choose where hybrid
// results are fused.
func New(ctx context.Context, cfg Config, opt Options) (*Backend, error) {
	if ps := cfg.Problems(); len(ps) > 0 {
		return nil, fmt.Errorf("elastic: %s", strings.Join(ps, "; "))
	}
	if opt.Analyzer == nil {
		return nil, errors.New("elastic: an analyzer is required")
	}
	cfg = cfg.Resolve()
	getenv := opt.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	password, err := secret("password", cfg.PasswordEnv, cfg.PasswordFile, getenv)
	if err != nil {
		return nil, fmt.Errorf("elastic: %w", err)
	}
	apiKey, err := secret("API key", cfg.APIKeyEnv, cfg.APIKeyFile, getenv)
	if err != nil {
		return nil, fmt.Errorf("elastic: %w", err)
	}
	tr := opt.Egress.Client(0).Transport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Duration(cfg.Timeout)
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("elastic: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("elastic: ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	b := &Backend{cfg: cfg, analyzer: opt.Analyzer, log: opt.Logger, sleep: opt.Sleep}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.sleep == nil {
		b.sleep = sleepCtx
	}
	backoff := func(n int) time.Duration { return min(time.Duration(n)*500*time.Millisecond, 5*time.Second) }
	switch cfg.Engine {
	case EngineElasticsearch:
		c, err := es.NewClient(es.Config{Addresses: cfg.Addresses, Username: cfg.Username, Password: password,
			APIKey: apiKey, Transport: tr, RetryBackoff: backoff, DisableMetaHeader: true,
			// A refusal of the egress policy fails the same way until the
			// configuration changes.
			RetryOnError: func(_ *http.Request, err error) bool { return !egress.IsRefusal(err) }})
		if err != nil {
			return nil, fmt.Errorf("elastic: %w", err)
		}
		b.eng = esEngine{c}
	default:
		c, err := opensearch.NewClient(opensearch.Config{Addresses: cfg.Addresses, Username: cfg.Username, Password: password,
			Transport: tr, RequestTimeout: time.Duration(cfg.Timeout)})
		if err != nil {
			return nil, fmt.Errorf("elastic: %w", err)
		}
		b.eng = osEngine{c}
	}
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// check reads the cluster's version (and licence) and decides the fusion.
func (b *Backend) check(ctx context.Context) error {
	raw, err := b.eng.info(ctx)
	if err != nil {
		return unavailable("the search cluster did not answer", err)
	}
	var info struct {
		Version struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return unavailable("the search cluster's answer is not understood", err)
	}
	b.version = info.Version.Number
	major, minor := parseVersion(b.version)
	isOS := info.Version.Distribution == "opensearch"
	switch {
	case b.cfg.Engine == EngineOpenSearch && !isOS:
		return invalid(fmt.Sprintf("engine is opensearch, but the cluster runs Elasticsearch %s", b.version))
	case b.cfg.Engine == EngineElasticsearch && isOS:
		return invalid(fmt.Sprintf("engine is elasticsearch, but the cluster runs OpenSearch %s", b.version))
	case b.cfg.Engine == EngineElasticsearch && (major != 8 || minor < 4):
		// 8.4 brought the knn option of _search, with its filter.
		return invalid(fmt.Sprintf("Elasticsearch %s is not supported: Gatehouse needs 8.4 or a later 8.x (kNN search with a filter)", b.version))
	case b.cfg.Engine == EngineOpenSearch && (major != 2 || minor < 9):
		// 2.9: efficient filtering in the knn query for the lucene and
		// faiss engines.
		return invalid(fmt.Sprintf("OpenSearch %s is not supported: Gatehouse needs 2.9 or a later 2.x (k-NN with efficient filtering)", b.version))
	}
	if b.cfg.Engine != EngineElasticsearch || b.cfg.RRF == RRFGatehouse {
		return nil
	}
	licence := ""
	if raw, err := b.eng.license(ctx); err == nil {
		var l struct {
			License struct{ Type, Status string } `json:"license"`
		}
		if json.Unmarshal(raw, &l) == nil && l.License.Status == "active" {
			licence = l.License.Type
		}
	} else {
		b.log.WarnContext(ctx, "cannot read the Elasticsearch licence; hybrid results are fused in Gatehouse", "err", err.Error())
	}
	ok := (major > 8 || minor >= 16) && (licence == "enterprise" || licence == "trial")
	if b.cfg.RRF == RRFNative && !ok {
		return invalid(fmt.Sprintf("rrf: native needs Elasticsearch 8.16 or later with an enterprise or trial licence; the cluster runs %s with a %q licence", b.version, licence))
	}
	b.native.Store(ok)
	return nil
}

// Version is the cluster's version; NativeRRF reports whether hybrid
// results are fused by the cluster.
func (b *Backend) Version() string { return b.version }
func (b *Backend) NativeRRF() bool { return b.native.Load() }

func parseVersion(v string) (major, minor int) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		major, _ = strconv.Atoi(parts[0])
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

func invalid(msg string) error { return &search.Error{Kind: search.ErrInvalid, Msg: msg} }

func unavailable(msg string, err error) error {
	return &search.Error{Kind: search.ErrUnavailable, Msg: msg, Err: err}
}

// Meta reads the index's _meta. An index that does not exist, or that
// Gatehouse did not create and that is empty (created from the same body
// by create-rag-docs-index.sh), has the zero Meta; one Gatehouse did not
// create that holds documents is ErrMetaMismatch (Gatehouse does not
// replace data it did not write).
func (b *Backend) Meta(ctx context.Context) (search.Meta, error) {
	m, found, err := b.meta(ctx)
	switch {
	case err != nil:
		return search.Meta{}, err
	case !found:
		return search.Meta{}, nil
	case m.Schema == 0:
		n, err := b.count(ctx)
		if err != nil {
			return search.Meta{}, err
		}
		if n > 0 {
			return search.Meta{}, &search.Error{Kind: search.ErrMetaMismatch,
				Msg: fmt.Sprintf("index %s holds %d documents Gatehouse did not index: delete it or configure another index", b.cfg.Index, n)}
		}
		return search.Meta{}, nil
	case m.Schema != schemaVersion:
		return search.Meta{}, &search.Error{Kind: search.ErrMetaMismatch,
			Msg: fmt.Sprintf("index %s was built by another version of Gatehouse: rebuild it", b.cfg.Index)}
	}
	return search.Meta{Analyzer: m.Analyzer, Model: m.Model, Dims: m.Dims}, nil
}

// meta returns the mapping's _meta.gatehouse and whether the index exists.
func (b *Backend) meta(ctx context.Context) (indexMeta, bool, error) {
	raw, err := b.eng.getMapping(ctx, b.cfg.Index)
	if isNotFound(err) {
		return indexMeta{}, false, nil
	}
	if err != nil {
		return indexMeta{}, false, unavailable("cannot read the index's mapping", err)
	}
	var mappings map[string]struct {
		Mappings struct {
			Meta map[string]indexMeta `json:"_meta"`
		} `json:"mappings"`
	}
	if err := json.Unmarshal(raw, &mappings); err != nil {
		return indexMeta{}, false, unavailable("the index's mapping is not understood", err)
	}
	for _, m := range mappings { // one index (or the one an alias names)
		return m.Mappings.Meta[metaKey], true, nil
	}
	return indexMeta{}, false, nil
}

func (b *Backend) count(ctx context.Context) (int, error) {
	raw, err := b.eng.count(ctx, b.cfg.Index)
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable("cannot count the index's documents", err)
	}
	var c struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return 0, unavailable("the count is not understood", err)
	}
	return c.Count, nil
}

// Reset deletes the index and creates it again, empty, with the body for
// m.Dims and m in its _meta.
func (b *Backend) Reset(ctx context.Context, m search.Meta) error {
	if m.Analyzer == "" || m.Dims < 0 || (m.Dims == 0) != (m.Model == "") {
		return invalid("reset: the meta needs an analyzer, and a model with its dimension or neither")
	}
	body, err := IndexBody(b.cfg.Engine, m.Dims, &m)
	if err != nil {
		return err
	}
	if err := b.eng.deleteIndex(ctx, b.cfg.Index); err != nil && !isNotFound(err) {
		return unavailable("cannot delete the index", err)
	}
	if err := b.eng.createIndex(ctx, b.cfg.Index, body); err != nil {
		return unavailable("cannot create the index", err)
	}
	return nil
}

// Refs lists the chunks of a collection, by chunk id.
func (b *Backend) Refs(ctx context.Context, collection string) ([]search.ChunkRef, error) {
	var out []search.ChunkRef
	var after []any
	for {
		body := map[string]any{
			"size":             1000,
			"_source":          []string{"chunk_id", "source", "hash"},
			"query":            map[string]any{"term": map[string]any{"collection": collection}},
			"sort":             []any{map[string]any{"chunk_id": "asc"}},
			"track_total_hits": false,
		}
		if after != nil {
			body["search_after"] = after
		}
		res, err := b.searchOnce(ctx, body)
		if err != nil {
			return nil, err
		}
		for _, h := range res.Hits.Hits {
			out = append(out, search.ChunkRef{ID: h.Source.ChunkID, Source: h.Source.Source, Hash: h.Source.Hash})
		}
		if len(res.Hits.Hits) < 1000 {
			return out, nil
		}
		after = res.Hits.Hits[len(res.Hits.Hits)-1].Sort
	}
}

// doc is a chunk as the index stores it.
type doc struct {
	ChunkID    string    `json:"chunk_id"`
	Collection string    `json:"collection"`
	Source     string    `json:"source"`
	URL        string    `json:"url,omitempty"`
	Title      string    `json:"title,omitempty"`
	Breadcrumb []string  `json:"breadcrumb,omitempty"`
	Content    string    `json:"content"`
	Terms      string    `json:"terms,omitempty"`
	Groups     []string  `json:"groups"`
	Hash       string    `json:"hash"`
	Embedding  []float32 `json:"embedding,omitempty"`
}

// Bulk limits: actions and bytes per request.
const (
	bulkActions = 500
	bulkBytes   = 8 << 20
	maxIDBytes  = 512 // Elasticsearch's limit on _id
)

// Apply stores and removes chunks with one or more _bulk requests
// (index and delete actions by chunk id: running a batch again after a
// failure converges), then refreshes the index. Items the cluster
// rejects for load (429) are retried; any other failed item is reported,
// after the rest were applied. A batch that is invalid as a whole (a vector
// of the wrong dimension, an empty id) is refused before anything is sent.
func (b *Backend) Apply(ctx context.Context, batch search.Batch) error {
	if len(batch.Put) == 0 && len(batch.Delete) == 0 {
		return nil
	}
	m, found, err := b.meta(ctx)
	if err != nil {
		return err
	}
	if !found || m.Schema != schemaVersion {
		return &search.Error{Kind: search.ErrMetaMismatch, Msg: fmt.Sprintf("index %s is not ready: rebuild it", b.cfg.Index)}
	}
	puts := make(map[string]bool, len(batch.Put))
	var lines [][]byte
	for i := range batch.Put {
		c := &batch.Put[i]
		if err := checkChunk(c, m.Dims); err != nil {
			return err
		}
		if puts[c.ID] {
			return invalid(fmt.Sprintf("chunk %q is put twice in one batch", c.ID))
		}
		puts[c.ID] = true
		terms := make([]string, 0, 64)
		for _, t := range b.analyzer.Tokens(c.IndexText()) {
			terms = append(terms, strings.Fields(t.Term)...)
		}
		d := doc{ChunkID: c.ID, Collection: c.Collection, Source: c.Source, URL: c.URL, Title: c.Title,
			Breadcrumb: c.Breadcrumb, Content: c.Text, Terms: strings.Join(terms, " "), Groups: c.Groups, Hash: c.Hash, Embedding: c.Vector}
		if d.Groups == nil {
			d.Groups = []string{}
		}
		action, _ := json.Marshal(map[string]any{"index": map[string]string{"_id": c.ID}})
		src, err := json.Marshal(d)
		if err != nil {
			return invalid(fmt.Sprintf("chunk %q cannot be encoded", c.ID))
		}
		lines = append(lines, action, src)
	}
	for _, id := range batch.Delete {
		if id == "" || len(id) > maxIDBytes {
			return invalid("a chunk id to delete is empty or longer than 512 bytes")
		}
		if puts[id] {
			return invalid(fmt.Sprintf("chunk %q is both put and deleted in one batch", id))
		}
		action, _ := json.Marshal(map[string]any{"delete": map[string]string{"_id": id}})
		lines = append(lines, action)
	}
	var failures []string
	retryable := false
	for start := 0; start < len(lines); {
		end, size := start, 0
		for end < len(lines) && (end-start) < 2*bulkActions && (size < bulkBytes || end == start) {
			n := 1
			if bytes.HasPrefix(lines[end], []byte(`{"index"`)) {
				n = 2
			}
			for k := 0; k < n; k++ {
				size += len(lines[end+k]) + 1
			}
			end += n
		}
		f, r, err := b.bulk(ctx, lines[start:end])
		if err != nil {
			return err
		}
		failures = append(failures, f...)
		retryable = retryable || r
		start = end
	}
	if err := b.eng.refresh(ctx, b.cfg.Index); err != nil {
		return unavailable("cannot refresh the index", err)
	}
	if len(failures) > 0 {
		kind := search.ErrInvalid
		if retryable {
			kind = search.ErrUnavailable
		}
		return &search.Error{Kind: kind, Msg: fmt.Sprintf("%d of %d changes were not applied", len(failures), len(batch.Put)+len(batch.Delete)),
			Err: errors.New(strings.Join(failures[:min(len(failures), 5)], "; "))}
	}
	return nil
}

func checkChunk(c *search.Chunk, dims int) error {
	if c.ID == "" || len(c.ID) > maxIDBytes {
		return invalid("a chunk id is empty or longer than 512 bytes")
	}
	if c.Collection == "" || c.Source == "" {
		return invalid(fmt.Sprintf("chunk %q has no collection or source", c.ID))
	}
	switch {
	case dims == 0 && c.Vector != nil:
		return invalid(fmt.Sprintf("chunk %q has a vector, and the index is keyword-only", c.ID))
	case dims > 0 && len(c.Vector) != dims:
		return invalid(fmt.Sprintf("chunk %q has a vector of %d dimensions, and the index has %d", c.ID, len(c.Vector), dims))
	}
	var norm float64
	for _, x := range c.Vector {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return invalid(fmt.Sprintf("chunk %q has a vector value that is not a finite number", c.ID))
		}
		norm += float64(x) * float64(x)
	}
	if dims > 0 && norm == 0 {
		return invalid(fmt.Sprintf("chunk %q has a zero vector (cosine similarity needs a direction)", c.ID))
	}
	return nil
}

// bulkItem is one item of a _bulk answer.
type bulkItem struct {
	ID     string `json:"_id"`
	Status int    `json:"status"`
	Result string `json:"result"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// bulk sends lines, retrying the items rejected for load (429, 5xx) up to
// three times, and returns the failures that remain and whether any of
// them was such a rejection.
func (b *Backend) bulk(ctx context.Context, lines [][]byte) (failures []string, retryable bool, err error) {
	var permanent []string
	for attempt := 0; ; attempt++ {
		raw, err := b.eng.bulk(ctx, b.cfg.Index, append(bytes.Join(lines, []byte("\n")), '\n'))
		if err != nil {
			return nil, false, unavailable("the bulk request failed", err)
		}
		var res struct {
			Errors bool                  `json:"errors"`
			Items  []map[string]bulkItem `json:"items"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, false, unavailable("the bulk answer is not understood", err)
		}
		// The items answer the actions in order; an index action spans
		// two lines.
		var again [][]byte
		var transient []string
		li := 0
		for _, item := range res.Items {
			if li >= len(lines) {
				break
			}
			n := 1
			if bytes.HasPrefix(lines[li], []byte(`{"index"`)) {
				n = 2
			}
			action := lines[li : li+n]
			li += n
			for op, it := range item {
				switch {
				case it.Status < 300, op == "delete" && it.Status == http.StatusNotFound:
				case it.Status == http.StatusTooManyRequests || it.Status >= 500:
					again = append(again, action...)
					transient = append(transient, itemFailure(op, it))
				default:
					permanent = append(permanent, itemFailure(op, it))
				}
			}
		}
		if li < len(lines) {
			return nil, false, unavailable("the bulk answer lists fewer items than were sent", nil)
		}
		if len(again) == 0 {
			return permanent, false, nil
		}
		if attempt >= 3 {
			return append(permanent, transient...), true, nil
		}
		wait := time.Duration(500<<attempt)*time.Millisecond + time.Duration(rand.Int64N(int64(250*time.Millisecond)))
		b.log.WarnContext(ctx, "the cluster rejected bulk items for load; retrying them", "items", len(transient), "wait", wait.String())
		if err := b.sleep(ctx, wait); err != nil {
			return append(permanent, transient...), true, nil
		}
		lines = again
	}
}

func itemFailure(op string, it bulkItem) string {
	s := fmt.Sprintf("%s %s: HTTP %d", op, it.ID, it.Status)
	if it.Error != nil {
		s += " " + it.Error.Type + ": " + clip(it.Error.Reason, 200)
	}
	return s
}

// Stats describes the index: its meta, and its chunks and sources by
// collection (source counts are the engine's cardinality, exact below
// 3,000 sources per collection).
func (b *Backend) Stats(ctx context.Context) (search.Stats, error) {
	m, err := b.Meta(ctx)
	if err != nil {
		return search.Stats{}, err
	}
	st := search.Stats{Meta: m}
	body := map[string]any{
		"size": 0, "track_total_hits": true,
		"aggs": map[string]any{"collections": map[string]any{
			"terms": map[string]any{"field": "collection", "size": 10000, "order": map[string]string{"_key": "asc"}},
			"aggs":  map[string]any{"sources": map[string]any{"cardinality": map[string]any{"field": "source", "precision_threshold": 3000}}},
		}},
	}
	res, err := b.searchOnce(ctx, body)
	if err != nil {
		if isNotFound(err) {
			return st, nil
		}
		return search.Stats{}, err
	}
	st.Chunks = res.Hits.Total.Value
	for _, bk := range res.Aggregations.Collections.Buckets {
		st.Collections = append(st.Collections, search.CollectionStats{Name: bk.Key, Chunks: bk.DocCount, Sources: bk.Sources.Value})
		st.Sources += bk.Sources.Value
	}
	return st, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

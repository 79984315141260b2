package elastic_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/elastic"
	"github.com/gatehouse-id/gatehouse/internal/search/recorded"
)

var update = flag.Bool("update", false, "rewrite the recorded requests in testdata from what the clients send (review before committing)")

// words is a stand-in analyzer: lower-cased runs of letters and digits.
type words struct{}

func (words) Name() string { return "test/1" }
func (words) Tokens(s string) []search.Token {
	var out []search.Token
	start := -1
	for i, r := range s + " " {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, search.Token{Term: strings.ToLower(s[start:i]), Start: start, End: i})
			start = -1
		}
	}
	return out
}

// sleeps records the backend's waits.
type sleeps struct {
	mu sync.Mutex
	n  int
}

func (s *sleeps) sleep(ctx context.Context, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return ctx.Err()
}

// replay serves the recorded exchanges of file (or records them with
// -update) and connects a backend to it through an egress policy that
// admits loopback.
func replay(t *testing.T, file string, cfg elastic.Config, sl *sleeps) *elastic.Backend {
	t.Helper()
	path := filepath.Join("testdata", file)
	var h http.Handler
	if *update {
		h = recorded.NewRecorder(t, path)
	} else {
		archive, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h = recorded.NewReplay(t, archive)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg.Addresses = []string{srv.URL}
	cfg.InsecurePlaintext = true
	opt := elastic.Options{
		Analyzer: words{},
		Egress:   egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Getenv:   func(k string) string { return map[string]string{"ES_PASSWORD": "changeme-0000"}[k] },
	}
	if sl != nil {
		opt.Sleep = sl.sleep
	}
	b, err := elastic.New(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	c1 = search.Chunk{ID: "c1", Collection: "dir:/srv/handbook", Source: "onboarding/vpn.md", URL: "https://docs.example.com/onboarding/vpn.md",
		Title: "VPN", Breadcrumb: []string{"VPN", "申请"}, Text: "入职第一天在 IT 门户申请 VPN 账号。", Groups: []string{"g-eng"}, Hash: "3f1a",
		Vector: []float32{0.5, 0.5, 0.5, 0.5}}
	c2 = search.Chunk{ID: "c2", Collection: "dir:/srv/handbook", Source: "onboarding/laptop.md", URL: "https://docs.example.com/onboarding/laptop.md",
		Title: "Laptop", Breadcrumb: []string{"Laptop"}, Text: "Engineering laptops are set up by IT before your first day.", Groups: []string{"g-eng", "g-all"}, Hash: "9b2c",
		Vector: []float32{0.1, 0.2, 0.3, 0.4}}
)

// stored is c as a hit returns it: without its vector.
func stored(c search.Chunk) search.Chunk { c.Vector = nil; return c }

type ranked struct {
	ID     string
	Score  float64
	KW, VR int
}

func ranks(hs []search.Hit) []ranked {
	out := []ranked{}
	for _, h := range hs {
		out = append(out, ranked{h.Chunk.ID, h.Score, h.KeywordRank, h.VectorRank})
	}
	return out
}

var approx = cmp.Comparer(func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 })

// TestElasticsearch8 replays a rebuild, a bulk and the three kinds of
// query against Elasticsearch 8.15 (testdata/es8.txtar): the request
// bodies must be exactly the recorded ones (the ACL filter in the bool
// query and in knn.filter), and the answers are read as recorded.
func TestElasticsearch8(t *testing.T) {
	ctx := context.Background()
	sl := &sleeps{}
	b := replay(t, "es8.txtar", elastic.Config{Engine: elastic.EngineElasticsearch, Username: "elastic", PasswordEnv: "ES_PASSWORD"}, sl)
	if b.Version() != "8.15.1" || b.NativeRRF() {
		t.Errorf("version %s, native RRF %v; want 8.15.1 fused in Gatehouse (platinum, before 8.16)", b.Version(), b.NativeRRF())
	}

	// An index Gatehouse did not create, holding documents: not replaced.
	if _, err := b.Meta(ctx); !errors.Is(err, search.ErrMetaMismatch) || !strings.Contains(err.Error(), "holds 3 documents") {
		t.Fatalf("Meta = %v, want ErrMetaMismatch", err)
	}
	meta := search.Meta{Analyzer: "test/1", Model: "text-embedding-v3", Dims: 4}
	if err := b.Reset(ctx, meta); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx, search.Batch{Put: []search.Chunk{c1, c2}, Delete: []string{"gone"}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if sl.n != 1 {
		t.Errorf("%d waits before retrying the rejected item, want 1", sl.n)
	}

	refs, err := b.Refs(ctx, "dir:/srv/handbook")
	if err != nil {
		t.Fatal(err)
	}
	want := []search.ChunkRef{{ID: "c1", Source: "onboarding/vpn.md", Hash: "3f1a"}, {ID: "c2", Source: "onboarding/laptop.md", Hash: "9b2c"}}
	if diff := cmp.Diff(want, refs); diff != "" {
		t.Errorf("Refs (-want +got):\n%s", diff)
	}

	groups := []string{"g-eng", "g-all"}
	res, err := b.Search(ctx, search.Query{Terms: []string{"vpn", "申请"}, Groups: groups, K: 5, Mode: search.ModeKeyword})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ranked{{"c1", 1.8630463, 1, 0}}, ranks(res.Hits), approx); diff != "" || res.Matched != 1 {
		t.Errorf("keyword: matched %d, hits (-want +got):\n%s", res.Matched, diff)
	}
	if diff := cmp.Diff(stored(c1), res.Hits[0].Chunk); diff != "" {
		t.Errorf("keyword hit's chunk (-want +got):\n%s", diff)
	}

	res, err = b.Search(ctx, search.Query{Vector: c2.Vector, Groups: groups, K: 5, Mode: search.ModeVector})
	if err != nil {
		t.Fatal(err)
	}
	// Elasticsearch scores cosine kNN hits (1 + cos) / 2.
	if diff := cmp.Diff([]ranked{{"c2", 0.9, 0, 1}, {"c1", 0.8, 0, 2}}, ranks(res.Hits), approx); diff != "" || res.Matched != 2 {
		t.Errorf("vector: matched %d, hits (-want +got):\n%s", res.Matched, diff)
	}

	res, err = b.Search(ctx, search.Query{Terms: []string{"vpn", "申请"}, Vector: c2.Vector, Groups: groups, K: 5, Mode: search.ModeHybrid})
	if err != nil {
		t.Fatal(err)
	}
	wantHybrid := []ranked{{"c1", 1.0/61 + 1.0/62, 1, 2}, {"c2", 1.0 / 61, 0, 1}}
	if diff := cmp.Diff(wantHybrid, ranks(res.Hits), approx); diff != "" || res.Matched != 1 {
		t.Errorf("hybrid: matched %d, hits (-want +got):\n%s", res.Matched, diff)
	}

	// Nobody's groups: nothing is asked of the cluster (the replay fails
	// on any request not recorded).
	for _, mode := range []search.Mode{search.ModeKeyword, search.ModeVector, search.ModeHybrid} {
		res, err := b.Search(ctx, search.Query{Terms: []string{"vpn"}, Vector: c1.Vector, K: 5, Mode: mode})
		if err != nil || len(res.Hits) != 0 || res.Matched != 0 {
			t.Errorf("%s without groups = %+v, %v; want nothing", mode, res, err)
		}
	}

	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStats := search.Stats{Meta: meta, Chunks: 2, Sources: 2, Collections: []search.CollectionStats{{Name: "dir:/srv/handbook", Chunks: 2, Sources: 2}}}
	if diff := cmp.Diff(wantStats, st); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

// TestNativeRRF: Elasticsearch 8.17 with an enterprise licence fuses in
// the cluster (the rrf retriever, the ACL filter in both retrievers); when
// the cluster refuses the licence, Gatehouse fuses from then on.
func TestNativeRRF(t *testing.T) {
	ctx := context.Background()
	b := replay(t, "es8-rrf.txtar", elastic.Config{Engine: elastic.EngineElasticsearch, Username: "elastic", PasswordEnv: "ES_PASSWORD"}, nil)
	if !b.NativeRRF() {
		t.Fatal("native RRF not chosen with an enterprise licence on 8.17")
	}
	q := search.Query{Terms: []string{"vpn", "申请"}, Vector: c2.Vector, Groups: []string{"g-eng"}, K: 5, Mode: search.ModeHybrid}
	res, err := b.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ranked{{"c1", 0.032786883, 0, 0}, {"c2", 0.016393442, 0, 0}}, ranks(res.Hits), approx); diff != "" {
		t.Errorf("native hybrid (-want +got):\n%s", diff)
	}
	res, err = b.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if b.NativeRRF() || len(res.Hits) != 2 || res.Hits[0].KeywordRank != 1 {
		t.Errorf("after the licence refusal: native %v, hits %+v; want Gatehouse's fusion", b.NativeRRF(), ranks(res.Hits))
	}
}

// TestOpenSearch2 replays a first build, a bulk with one refused item and
// vector and hybrid queries against OpenSearch 2.15
// (testdata/opensearch2.txtar).
func TestOpenSearch2(t *testing.T) {
	ctx := context.Background()
	b := replay(t, "opensearch2.txtar", elastic.Config{Engine: elastic.EngineOpenSearch, Username: "admin", PasswordEnv: "ES_PASSWORD"}, nil)
	if m, err := b.Meta(ctx); err != nil || m != (search.Meta{}) {
		t.Fatalf("Meta of a missing index = %+v, %v; want zero", m, err)
	}
	if err := b.Reset(ctx, search.Meta{Analyzer: "test/1", Model: "bge-m3", Dims: 4}); err != nil {
		t.Fatal(err)
	}
	err := b.Apply(ctx, search.Batch{Put: []search.Chunk{c1, c2}})
	var se *search.Error
	if !errors.As(err, &se) || !errors.Is(err, search.ErrInvalid) || !strings.Contains(err.Error(), "1 of 2 changes were not applied") ||
		!strings.Contains(err.Error(), "index c2: HTTP 400 mapper_parsing_exception") {
		t.Fatalf("Apply = %v, want c2's refusal reported", err)
	}
	groups := []string{"g-eng"}
	res, err := b.Search(ctx, search.Query{Vector: c2.Vector, Groups: groups, K: 5, Mode: search.ModeVector})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ranked{{"c2", 0.9, 0, 1}, {"c1", 0.8, 0, 2}}, ranks(res.Hits), approx); diff != "" {
		t.Errorf("vector (-want +got):\n%s", diff)
	}
	res, err = b.Search(ctx, search.Query{Terms: []string{"vpn"}, Vector: c2.Vector, Groups: groups, K: 5, Mode: search.ModeHybrid})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ranked{{"c1", 1.0/61 + 1.0/62, 1, 2}, {"c2", 1.0 / 61, 0, 1}}, ranks(res.Hits), approx); diff != "" {
		t.Errorf("hybrid (-want +got):\n%s", diff)
	}
}

// serve replays an archive given inline.
func serve(t *testing.T, archive string, cfg elastic.Config, pol egress.Policy) (*elastic.Backend, error) {
	t.Helper()
	srv := httptest.NewServer(recorded.NewReplay(t, []byte(archive)))
	t.Cleanup(srv.Close)
	cfg.Addresses = []string{srv.URL}
	cfg.InsecurePlaintext = true
	return elastic.New(context.Background(), cfg, elastic.Options{Analyzer: words{}, Egress: pol})
}

var loopback = egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

const esHeaders = "Content-Type: application/json\nX-Elastic-Product: Elasticsearch\n\n"

func esInfo(version string) string {
	return "-- request --\nGET /\n-- response --\n200\n" + esHeaders +
		`{"name":"n1","cluster_name":"c","version":{"number":"` + version + `","build_flavor":"default","lucene_version":"9.11.1"},"tagline":"You Know, for Search"}` + "\n"
}

func esLicense(typ string) string {
	return "-- request --\nGET /_license\n-- response --\n200\n" + esHeaders +
		`{"license":{"status":"active","uid":"u","type":"` + typ + `","issuer":"elasticsearch"}}` + "\n"
}

// TestBadInput: what is wrong is refused before anything reaches the
// cluster (the replay fails on any request not recorded).
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	archive := esInfo("8.15.1") + esLicense("basic") +
		"-- request --\nGET /rag-docs/_mapping\n-- response --\n200\n" + esHeaders +
		`{"rag-docs":{"mappings":{"_meta":{"gatehouse":{"schema":1,"analyzer":"test/1","model":"m","dims":4}}}}}` + "\n"
	b, err := serve(t, archive, elastic.Config{Engine: elastic.EngineElasticsearch}, loopback)
	if err != nil {
		t.Fatal(err)
	}
	short := c1
	short.Vector = []float32{1, 2, 3}
	if err := b.Apply(ctx, search.Batch{Put: []search.Chunk{c2, short}}); !errors.Is(err, search.ErrInvalid) || !strings.Contains(err.Error(), "3 dimensions, and the index has 4") {
		t.Errorf("Apply with a short vector = %v, want ErrInvalid and nothing sent", err)
	}
	groups := []string{"g-eng"}
	for name, q := range map[string]search.Query{
		"k 0":            {Terms: []string{"a"}, Groups: groups, K: 0, Mode: search.ModeKeyword},
		"k huge":         {Terms: []string{"a"}, Groups: groups, K: 100000, Mode: search.ModeKeyword},
		"no mode":        {Terms: []string{"a"}, Groups: groups, K: 5},
		"no vector":      {Terms: []string{"a"}, Groups: groups, K: 5, Mode: search.ModeHybrid},
		"zero vector":    {Vector: []float32{0, 0, 0, 0}, Groups: groups, K: 5, Mode: search.ModeVector},
		"too many terms": {Terms: strings.Fields(strings.Repeat("a ", 2000)), Groups: groups, K: 5, Mode: search.ModeKeyword},
	} {
		if _, err := b.Search(ctx, q); !errors.Is(err, search.ErrInvalid) {
			t.Errorf("%s: Search = %v, want ErrInvalid", name, err)
		}
	}
	if res, err := b.Search(ctx, search.Query{Groups: groups, K: 5, Mode: search.ModeKeyword}); err != nil || len(res.Hits) != 0 {
		t.Errorf("a keyword query without terms = %+v, %v; want nothing, and nothing asked", res, err)
	}
	if err := b.Reset(ctx, search.Meta{Model: "m", Dims: 4}); !errors.Is(err, search.ErrInvalid) {
		t.Errorf("Reset without an analyzer = %v", err)
	}
}

// TestVersions: New refuses clusters it cannot serve, and native fusion
// where the licence lacks it.
func TestVersions(t *testing.T) {
	tests := []struct {
		name, archive string
		cfg           elastic.Config
		want          string
	}{
		{"Elasticsearch 7", esInfo("7.10.2"), elastic.Config{Engine: elastic.EngineElasticsearch}, "Elasticsearch 7.10.2 is not supported"},
		{"Elasticsearch 8.3", esInfo("8.3.3"), elastic.Config{Engine: elastic.EngineElasticsearch}, "needs 8.4"},
		{"OpenSearch configured, Elasticsearch found", esInfo("8.15.1"), elastic.Config{Engine: elastic.EngineOpenSearch}, "the cluster runs Elasticsearch"},
		{"native RRF on basic", esInfo("8.17.0") + esLicense("basic"), elastic.Config{Engine: elastic.EngineElasticsearch, RRF: elastic.RRFNative}, `with a "basic" licence`},
		{"native RRF before 8.16", esInfo("8.15.1") + esLicense("enterprise"), elastic.Config{Engine: elastic.EngineElasticsearch, RRF: elastic.RRFNative}, "needs Elasticsearch 8.16"},
		{"OpenSearch 1", "-- request --\nGET /\n-- response --\n200\nContent-Type: application/json\n\n" +
			`{"version":{"distribution":"opensearch","number":"1.3.14"}}` + "\n", elastic.Config{Engine: elastic.EngineOpenSearch}, "OpenSearch 1.3.14 is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := serve(t, tt.archive, tt.cfg, loopback)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want %q", err, tt.want)
			}
		})
	}
	// Basic licence, auto: fused in Gatehouse.
	b, err := serve(t, esInfo("8.17.0")+esLicense("basic"), elastic.Config{Engine: elastic.EngineElasticsearch}, loopback)
	if err != nil || b.NativeRRF() {
		t.Errorf("basic licence: %v, native %v", err, b != nil && b.NativeRRF())
	}
}

// TestEgress: the default egress policy refuses the cluster's loopback
// address: nothing is sent.
func TestEgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request %s %s reached the server", r.Method, r.URL)
	}))
	defer srv.Close()
	_, err := elastic.New(context.Background(), elastic.Config{Engine: elastic.EngineElasticsearch, Addresses: []string{srv.URL}, InsecurePlaintext: true},
		elastic.Options{Analyzer: words{}})
	if !egress.IsRefusal(err) || !errors.Is(err, search.ErrUnavailable) {
		t.Errorf("New = %v, want an egress refusal", err)
	}
}

func TestProblems(t *testing.T) {
	ok := elastic.Config{Engine: elastic.EngineElasticsearch, Addresses: []string{"https://es-cn-x.elasticsearch.aliyuncs.com:9200"},
		Username: "elastic", PasswordEnv: "ES_PASSWORD"}
	tests := []struct {
		name string
		mod  func(*elastic.Config)
		want []string
	}{
		{"valid", func(*elastic.Config) {}, nil},
		{"engine", func(c *elastic.Config) { c.Engine = "solr" }, []string{`engine: must be elasticsearch or opensearch, not "solr"`}},
		{"no address", func(c *elastic.Config) { c.Addresses = nil }, []string{"addresses: give at least one (https://host:9200)"}},
		{"plain http", func(c *elastic.Config) { c.Addresses = []string{"http://10.0.0.5:9200"} },
			[]string{`addresses: "http://10.0.0.5:9200" is plain HTTP: use https (or insecure_plaintext: true to send the password and the documents in clear)`}},
		{"credentials in URL", func(c *elastic.Config) { c.Addresses = []string{"https://elastic:pw@h:9200"} },
			[]string{`addresses: "https://elastic:xxxxx@h:9200" must not carry credentials (use username and password_env or password_file)`}},
		{"index name", func(c *elastic.Config) { c.Index = "Rag Docs" },
			[]string{`index: "Rag Docs" is not a valid index name (lower case, no spaces or \/*?"<>|,#:, not starting with -, _ or +)`}},
		{"password without user", func(c *elastic.Config) { c.Username = "" }, []string{"username: required with a password"}},
		{"user without password", func(c *elastic.Config) { c.PasswordEnv = "" }, []string{"username: give password_env or password_file"}},
		{"password and key", func(c *elastic.Config) { c.Username = "elastic"; c.APIKeyEnv = "K" },
			[]string{"password_env/password_file, api_key_env/api_key_file: give a password or an API key, not both"}},
		{"rrf", func(c *elastic.Config) { c.RRF = "linear" }, []string{`rrf: must be auto, gatehouse or native, not "linear"`}},
		{"native on OpenSearch", func(c *elastic.Config) { c.Engine = elastic.EngineOpenSearch; c.RRF = elastic.RRFNative },
			[]string{"rrf: native fusion is Elasticsearch's rrf retriever; OpenSearch fuses in Gatehouse (auto or gatehouse)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			if diff := cmp.Diff(tt.want, c.Problems()); diff != "" {
				t.Errorf("Problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOneDefinition: the index body exists once. The Terraform module's
// copy (created by create-rag-docs-index.sh after apply) and the bodies
// shown in docs/search.md are the embedded files, byte for byte; -update
// rewrites the Terraform copy.
func TestOneDefinition(t *testing.T) {
	es8, err := os.ReadFile("rag-docs.es8.json")
	if err != nil {
		t.Fatal(err)
	}
	os2, err := os.ReadFile("rag-docs.opensearch2.json")
	if err != nil {
		t.Fatal(err)
	}
	tf := filepath.Join("..", "..", "..", "deploy", "terraform", "alicloud", "search", "rag-docs-index.es8.json")
	if *update {
		if err := os.WriteFile(tf, es8, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(tf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, es8) {
		t.Errorf("%s differs from internal/search/elastic/rag-docs.es8.json (go test ./internal/search/elastic -update copies it)", tf)
	}
	// IndexBody with 768 dimensions and no meta is the file itself.
	for engine, file := range map[string][]byte{elastic.EngineElasticsearch: es8, elastic.EngineOpenSearch: os2} {
		body, err := elastic.IndexBody(engine, 768, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !recorded.JSONEqual(body, file) {
			t.Errorf("IndexBody(%s, 768) is not the embedded file:\n%s", engine, body)
		}
	}
	docs, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "search.md"))
	if err != nil {
		t.Fatal(err)
	}
	for marker, file := range map[string][]byte{"<!-- rag-docs.es8.json -->": es8, "<!-- rag-docs.opensearch2.json -->": os2} {
		_, after, ok := bytes.Cut(docs, []byte(marker+"\n```json\n"))
		block, _, ok2 := bytes.Cut(after, []byte("```\n"))
		if !ok || !ok2 || !bytes.Equal(block, file) {
			t.Errorf("docs/search.md does not show the body after %s exactly", marker)
		}
	}
}

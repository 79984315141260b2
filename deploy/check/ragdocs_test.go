package check

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var searchDir = filepath.Join(terraformDir, "search")

// The rag-docs index body: the ik_max_word analyzer for the text, a
// 768-dimension dense_vector for the embeddings (with HNSW kNN on 8.x),
// and mappings under "properties" (the seed's body lacks it).
func TestRagDocsIndexBody(t *testing.T) {
	for _, v := range []string{"7", "8"} {
		t.Run("es"+v, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(searchDir, "rag-docs-index.es"+v+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Settings struct {
					Analysis struct {
						Analyzer map[string]map[string]any `json:"analyzer"`
					} `json:"analysis"`
				} `json:"settings"`
				Mappings struct {
					Properties map[string]map[string]any `json:"properties"`
				} `json:"mappings"`
			}
			dec := json.NewDecoder(strings.NewReader(string(b)))
			if err := dec.Decode(&doc); err != nil {
				t.Fatal(err)
			}
			an := doc.Settings.Analysis.Analyzer
			if an["rag_text"]["tokenizer"] != "ik_max_word" {
				t.Errorf("analyzer rag_text = %v, want the ik_max_word tokenizer", an["rag_text"])
			}
			content := doc.Mappings.Properties["content"]
			if content["type"] != "text" || content["analyzer"] != "rag_text" {
				t.Errorf("content = %v, want text analyzed with rag_text (ik_max_word)", content)
			}
			want := map[string]any{"type": "dense_vector", "dims": 768.0}
			if v == "8" {
				// Explicit HNSW parameters (issue 15): the same body the
				// search backend creates (internal/search/elastic).
				want["index"], want["similarity"] = true, "cosine"
				want["index_options"] = map[string]any{"type": "hnsw", "m": 16.0, "ef_construction": 100.0}
			}
			if diff := cmp.Diff(want, doc.Mappings.Properties["embedding"]); diff != "" {
				t.Errorf("embedding (-want +got):\n%s", diff)
			}
		})
	}
}

// esStub is an Elasticsearch stand-in over TLS that records requests and
// answers PUT /rag-docs like Elasticsearch: created once, then
// resource_already_exists_exception.
type esStub struct {
	mu       sync.Mutex
	requests []string
	bodies   []string
	created  bool
}

func (s *esStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	user, pass, _ := r.BasicAuth()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+user+":"+pass)
	s.bodies = append(s.bodies, string(body))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case user != "elastic" || pass != "S3cret-pass!":
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"type":"security_exception"},"status":401}`)
	case r.Method != http.MethodPut || r.URL.Path != "/rag-docs":
		w.WriteHeader(http.StatusMethodNotAllowed)
	case s.created:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"type":"resource_already_exists_exception","reason":"index [rag-docs/abc] already exists"},"status":400}`)
	default:
		s.created = true
		_, _ = io.WriteString(w, `{"acknowledged":true,"shards_acknowledged":true,"index":"rag-docs"}`)
	}
}

// create-rag-docs-index.sh sends PUT /rag-docs with the body, over HTTPS,
// the password never on curl's command line; a second run leaves the index
// as it is; a refusal is a failure.
func TestCreateRagDocsIndexScript(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	stub := &esStub{}
	srv := httptest.NewTLSServer(stub)
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	body := filepath.Join(searchDir, "rag-docs-index.es8.json")
	script, _ := filepath.Abs(filepath.Join(searchDir, "create-rag-docs-index.sh"))
	run := func(password string, args ...string) (string, int) {
		cmd := exec.Command("sh", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "ES_CACERT="+ca, "ES_PASSWORD="+password)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}

	out, code := run("S3cret-pass!", srv.URL, body)
	if code != 0 || !strings.Contains(out, "created rag-docs") {
		t.Errorf("first run: %d %s", code, out)
	}
	out, code = run("S3cret-pass!", srv.URL+"/", body)
	if code != 0 || !strings.Contains(out, "exists already") {
		t.Errorf("second run: %d %s", code, out)
	}
	out, code = run("wrong", srv.URL, body)
	if code != 1 || !strings.Contains(out, "HTTP 401") {
		t.Errorf("wrong password: %d %s", code, out)
	}
	want := []string{
		"PUT /rag-docs application/json elastic:S3cret-pass!",
		"PUT /rag-docs application/json elastic:S3cret-pass!",
		"PUT /rag-docs application/json elastic:wrong",
	}
	if diff := cmp.Diff(want, stub.requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	wantBody, _ := os.ReadFile(body)
	if stub.bodies[0] != string(wantBody) {
		t.Errorf("the body sent is not %s", body)
	}

	// Usage: plain HTTP, no password, a missing body.
	for _, tt := range []struct {
		password string
		args     []string
		want     string
	}{
		{"S3cret-pass!", []string{"http://" + strings.TrimPrefix(srv.URL, "https://"), body}, "over HTTPS only"},
		{"", []string{srv.URL, body}, "set ES_PASSWORD"},
		{"S3cret-pass!", []string{srv.URL, filepath.Join(dir, "missing.json")}, "cannot read"},
		{"S3cret-pass!", []string{srv.URL}, "usage:"},
	} {
		out, code := run(tt.password, tt.args...)
		if code != 2 || !strings.Contains(out, tt.want) {
			t.Errorf("%v: %d %s, want exit 2 and %q", tt.args, code, out, tt.want)
		}
	}
	if len(stub.requests) != 3 {
		t.Errorf("usage errors reached the server: %v", stub.requests)
	}
}

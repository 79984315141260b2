// Package fake holds protocol-exact stand-ins for OpenAI-compatible
// embedding endpoints, for tests: a Server that behaves as DashScope's
// compatible mode, vLLM, PAI-EAS, Ollama or OpenAI do (limits, error
// bodies, authentication), with faults to inject, and a Replay server that
// answers recorded request/response pairs (testdata/*.txtar) and fails the
// test on any request that differs from the recorded one.
package fake

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Reply is a scripted answer that replaces the next normal one. The zero
// Reply lets the next request be answered normally.
type Reply struct {
	Status int
	Header http.Header
	Body   string
	// Hang holds the request until the client gives up (or the server
	// closes), answering nothing.
	Hang bool
}

// Request is a request the server received.
type Request struct {
	Path          string
	Authorization string
	Model         string
	Inputs        []string
	Dimensions    int
	Format        string
}

// Server stands in for one provider's /embeddings endpoint:
//
//   - dashscope: POST …/compatible-mode/v1/embeddings with "Authorization:
//     Bearer <key>" (401 InvalidApiKey otherwise); at most MaxBatch inputs
//     (default 10, text-embedding-v3/v4's limit: 400 InvalidParameter "batch
//     size is invalid, it should not be larger than 10" above it);
//     dimensions among 64…2048 (default 1024); errors as
//     {"error": {"message", "type", "param", "code"}, "id", "request_id"};
//   - vllm and pai-eas: vLLM's OpenAI server; "dimensions" is refused (400,
//     {"object": "error", "message": "Model … does not support matryoshka
//     representation…", "type": "BadRequestError", "code": 400}) unless
//     Matryoshka is set; PAI-EAS's gateway wants "Authorization: <token>"
//     (no "Bearer") and answers 401 in plain text;
//   - ollama: no key; "dimensions" and "encoding_format" are ignored, the
//     model's own Dims come back; errors are OpenAI-shaped;
//   - openai: Bearer key, dimensions honoured, OpenAI's error shape.
//
// Vectors are deterministic (Vector): the same text always gets the same
// vector. Answers list the vectors in input order unless Shuffle is set.
type Server struct {
	Provider string
	Key      string
	// Dims is the model's own dimension (answered when the request asks
	// for none, or when the server ignores the request's).
	Dims int
	// MaxBatch overrides the provider's batch limit (0: its default).
	MaxBatch int
	// Matryoshka lets vLLM honour "dimensions".
	Matryoshka bool
	// WrongDims, when set, is the length of every vector answered,
	// whatever was asked (a server serving another model).
	WrongDims int
	// Shuffle answers the vectors in reverse order (each with its index).
	Shuffle bool

	mu       sync.Mutex
	script   []Reply
	requests []Request
}

// Then queues replies that replace the next answers, in order.
func (s *Server) Then(r ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, r...)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/embeddings") {
		s.fail(w, http.StatusNotFound, "NotFound", "404 page not found")
		return
	}
	var body struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		Dimensions     int             `json:"dimensions"`
		EncodingFormat string          `json:"encoding_format"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20))
	if err := dec.Decode(&body); err != nil {
		s.fail(w, http.StatusBadRequest, "InvalidParameter", "the request body is not JSON")
		return
	}
	var inputs []string
	if err := json.Unmarshal(body.Input, &inputs); err != nil {
		var one string
		if json.Unmarshal(body.Input, &one) != nil {
			s.fail(w, http.StatusBadRequest, "InvalidParameter", "input must be a string or an array of strings")
			return
		}
		inputs = []string{one}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Path: r.URL.Path, Authorization: r.Header.Get("Authorization"),
		Model: body.Model, Inputs: inputs, Dimensions: body.Dimensions, Format: body.EncodingFormat})
	var reply *Reply
	if len(s.script) > 0 {
		reply = &s.script[0]
		s.script = s.script[1:]
	}
	s.mu.Unlock()
	if reply != nil && (reply.Status != 0 || reply.Hang) {
		if reply.Hang {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		for k, v := range reply.Header {
			w.Header()[k] = v
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(reply.Status)
		_, _ = w.Write([]byte(reply.Body))
		return
	}
	if !s.authorized(r.Header.Get("Authorization")) {
		if s.Provider == "pai-eas" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("Authorization Failed"))
			return
		}
		s.fail(w, http.StatusUnauthorized, "InvalidApiKey", "Incorrect API key provided.")
		return
	}
	if len(inputs) == 0 {
		s.fail(w, http.StatusBadRequest, "InvalidParameter", "input must not be empty")
		return
	}
	if limit := s.maxBatch(); limit > 0 && len(inputs) > limit {
		s.fail(w, http.StatusBadRequest, "InvalidParameter",
			fmt.Sprintf("<400> InternalError.Algo.InvalidParameter: Value error, batch size is invalid, it should not be larger than %d.: input.contents", limit))
		return
	}
	for _, in := range inputs {
		if strings.TrimSpace(in) == "" {
			s.fail(w, http.StatusBadRequest, "InvalidParameter", "input text must not be empty")
			return
		}
	}
	dims := s.Dims
	if dims == 0 {
		dims = 1024
	}
	if body.Dimensions != 0 {
		switch s.Provider {
		case "vllm", "pai-eas":
			if !s.Matryoshka {
				s.fail(w, http.StatusBadRequest, "BadRequestError", fmt.Sprintf(
					"Model %q does not support matryoshka representation, changing output dimensions will lead to poor results.", body.Model))
				return
			}
			dims = body.Dimensions
		case "dashscope":
			if !validDashScopeDims(body.Dimensions) {
				s.fail(w, http.StatusBadRequest, "InvalidParameter", "<400> InternalError.Algo.InvalidParameter: Value error, dimension is invalid.")
				return
			}
			dims = body.Dimensions
		case "openai":
			dims = body.Dimensions
		}
	}
	if s.WrongDims > 0 {
		dims = s.WrongDims
	}
	type item struct {
		Object    string    `json:"object"`
		Embedding []float32 `json:"embedding"`
		Index     int       `json:"index"`
	}
	data := make([]item, len(inputs))
	tokens := 0
	for i, in := range inputs {
		data[i] = item{Object: "embedding", Embedding: Vector(in, dims), Index: i}
		tokens += len([]rune(in))
	}
	if s.Shuffle {
		for i, j := 0, len(data)-1; i < j; i, j = i+1, j-1 {
			data[i], data[j] = data[j], data[i]
		}
	}
	out := map[string]any{"object": "list", "data": data, "model": body.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens}}
	if s.Provider == "dashscope" {
		out["id"] = "73591b79-d194-9bca-8bb5-fake00000001"
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) authorized(h string) bool {
	switch s.Provider {
	case "ollama":
		return true
	case "pai-eas":
		return h == s.Key
	}
	if s.Key == "" {
		return true
	}
	return h == "Bearer "+s.Key
}

func (s *Server) maxBatch() int {
	if s.MaxBatch != 0 {
		return s.MaxBatch
	}
	if s.Provider == "dashscope" {
		return 10
	}
	return 0
}

func validDashScopeDims(d int) bool {
	switch d {
	case 64, 128, 256, 512, 768, 1024, 1536, 2048:
		return true
	}
	return false
}

// fail answers an error in the provider's shape.
func (s *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	switch s.Provider {
	case "vllm", "pai-eas":
		writeJSON(w, status, map[string]any{"object": "error", "message": msg, "type": code, "param": nil, "code": status})
	case "dashscope":
		writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": code, "param": nil, "code": code},
			"id": "318cff27-38bd-4289-8f70-fake00000002", "request_id": "318cff27-38bd-4289-8f70-fake00000002"})
	default:
		writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": nil, "code": nil}})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Vector is the fake's embedding of text: dims values derived from the
// text's SHA-256, of unit length. Equal texts get equal vectors; it means
// nothing else.
func Vector(text string, dims int) []float32 {
	seed := sha256.Sum256([]byte(text))
	x := binary.LittleEndian.Uint64(seed[:8])
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		x += 0x9e3779b97f4a7c15 // splitmix64
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(z>>11)/float64(1<<53)*2 - 1
		v[i] = float32(f)
		norm += f * f
	}
	n := float32(math.Sqrt(norm))
	for i := range v {
		v[i] /= n
	}
	return v
}

package elastic

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// The index bodies: the one definition of the rag-docs index for each
// engine. deploy/terraform/alicloud/search/rag-docs-index.es8.json is a
// copy of rag-docs.es8.json (a test keeps them equal), so that the index
// created after `terraform apply` is the one Gatehouse creates.
var (
	//go:embed rag-docs.es8.json
	es8Body []byte
	//go:embed rag-docs.opensearch2.json
	os2Body []byte
)

// DefaultIndex is the index name the seeds use.
const DefaultIndex = "rag-docs"

// metaKey is where the index's _meta records how it was built.
const metaKey = "gatehouse"

// schemaVersion is the version of the index body: a Gatehouse that needs
// another body rebuilds the index.
const schemaVersion = 1

// indexMeta is the mapping's _meta.gatehouse.
type indexMeta struct {
	Schema   int    `json:"schema"`
	Analyzer string `json:"analyzer"`
	Model    string `json:"model,omitempty"`
	Dims     int    `json:"dims,omitempty"`
}

// IndexBody returns the body of PUT /<index> for engine ("elasticsearch"
// or "opensearch"): the embedded definition with dims dimensions (no
// vector field when dims is 0) and, when m is not nil, the mapping's _meta
// recording how the index is built.
func IndexBody(engine string, dims int, m *search.Meta) ([]byte, error) {
	var raw []byte
	switch engine {
	case EngineElasticsearch:
		raw = es8Body
	case EngineOpenSearch:
		raw = os2Body
	default:
		return nil, fmt.Errorf("elastic: unknown engine %q", engine)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("elastic: the embedded %s index body: %w", engine, err)
	}
	mappings := body["mappings"].(map[string]any)
	props := mappings["properties"].(map[string]any)
	vec := props["embedding"].(map[string]any)
	switch {
	case dims <= 0:
		delete(props, "embedding")
	case engine == EngineElasticsearch:
		vec["dims"] = dims
	default:
		vec["dimension"] = dims
	}
	if m != nil {
		mappings["_meta"] = map[string]any{metaKey: indexMeta{Schema: schemaVersion, Analyzer: m.Analyzer, Model: m.Model, Dims: m.Dims}}
	}
	return json.Marshal(body)
}

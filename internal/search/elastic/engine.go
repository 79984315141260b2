package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
)

// engine is what the backend asks of a cluster, each call through the
// engine's official Go client; answers are the raw JSON bodies, errors
// *engineError when the cluster answered one.
type engine interface {
	info(ctx context.Context) ([]byte, error)
	license(ctx context.Context) ([]byte, error)
	getMapping(ctx context.Context, index string) ([]byte, error)
	count(ctx context.Context, index string) ([]byte, error)
	deleteIndex(ctx context.Context, index string) error
	createIndex(ctx context.Context, index string, body []byte) error
	bulk(ctx context.Context, index string, ndjson []byte) ([]byte, error)
	search(ctx context.Context, index string, body []byte) ([]byte, error)
	msearch(ctx context.Context, index string, ndjson []byte) ([]byte, error)
	refresh(ctx context.Context, index string) error
}

// engineError is an error answer of the cluster:
// {"error": {"type", "reason", "root_cause"}, "status"}.
type engineError struct {
	Status int
	Type   string
	Reason string
}

func (e *engineError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Type, e.Reason)
}

// maxAnswer bounds what is read of one answer.
const maxAnswer = 64 << 20

// readAnswer reads an answer and turns an error status into *engineError.
func readAnswer(status int, body io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxAnswer+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	if status >= 200 && status < 300 {
		return data, nil
	}
	e := &engineError{Status: status}
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &v) == nil {
		var inner struct{ Type, Reason string }
		var s string
		switch {
		case json.Unmarshal(v.Error, &inner) == nil:
			e.Type, e.Reason = inner.Type, inner.Reason
		case json.Unmarshal(v.Error, &s) == nil:
			e.Reason = s
		}
	}
	e.Reason = clip(e.Reason, 400)
	return nil, e
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func isNotFound(err error) bool {
	var e *engineError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// esEngine talks to Elasticsearch 8 through go-elasticsearch's esapi.
type esEngine struct{ c *es.Client }

func (e esEngine) do(ctx context.Context, r esapi.Request) ([]byte, error) {
	res, err := r.Do(ctx, e.c)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return readAnswer(res.StatusCode, res.Body)
}

func (e esEngine) info(ctx context.Context) ([]byte, error) {
	return e.do(ctx, esapi.InfoRequest{})
}

func (e esEngine) license(ctx context.Context) ([]byte, error) {
	return e.do(ctx, esapi.LicenseGetRequest{})
}

func (e esEngine) getMapping(ctx context.Context, index string) ([]byte, error) {
	return e.do(ctx, esapi.IndicesGetMappingRequest{Index: []string{index}})
}

func (e esEngine) count(ctx context.Context, index string) ([]byte, error) {
	return e.do(ctx, esapi.CountRequest{Index: []string{index}})
}

func (e esEngine) deleteIndex(ctx context.Context, index string) error {
	_, err := e.do(ctx, esapi.IndicesDeleteRequest{Index: []string{index}})
	return err
}

func (e esEngine) createIndex(ctx context.Context, index string, body []byte) error {
	_, err := e.do(ctx, esapi.IndicesCreateRequest{Index: index, Body: bytes.NewReader(body)})
	return err
}

func (e esEngine) bulk(ctx context.Context, index string, ndjson []byte) ([]byte, error) {
	return e.do(ctx, esapi.BulkRequest{Index: index, Body: bytes.NewReader(ndjson)})
}

func (e esEngine) search(ctx context.Context, index string, body []byte) ([]byte, error) {
	return e.do(ctx, esapi.SearchRequest{Index: []string{index}, Body: bytes.NewReader(body)})
}

func (e esEngine) msearch(ctx context.Context, index string, ndjson []byte) ([]byte, error) {
	return e.do(ctx, esapi.MsearchRequest{Index: []string{index}, Body: bytes.NewReader(ndjson)})
}

func (e esEngine) refresh(ctx context.Context, index string) error {
	_, err := e.do(ctx, esapi.IndicesRefreshRequest{Index: []string{index}})
	return err
}

// osEngine talks to OpenSearch 2 through opensearch-go's opensearchapi
// requests, sent by its client.
type osEngine struct{ c *opensearch.Client }

func (e osEngine) do(ctx context.Context, method string, r opensearch.Request) ([]byte, error) {
	res, err := e.c.Do(ctx, method, r, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return readAnswer(res.StatusCode, res.Body)
}

func (e osEngine) info(ctx context.Context) ([]byte, error) {
	return e.do(ctx, http.MethodGet, opensearchapi.InfoReq{})
}

// license: OpenSearch has no licences; everything is open.
func (e osEngine) license(context.Context) ([]byte, error) { return nil, nil }

func (e osEngine) getMapping(ctx context.Context, index string) ([]byte, error) {
	return e.do(ctx, http.MethodGet, opensearchapi.MappingGetReq{Indices: []string{index}})
}

func (e osEngine) count(ctx context.Context, index string) ([]byte, error) {
	return e.do(ctx, http.MethodGet, opensearchapi.IndicesCountReq{Indices: []string{index}})
}

func (e osEngine) deleteIndex(ctx context.Context, index string) error {
	_, err := e.do(ctx, http.MethodDelete, opensearchapi.IndicesDeleteReq{Indices: []string{index}})
	return err
}

func (e osEngine) createIndex(ctx context.Context, index string, body []byte) error {
	_, err := e.do(ctx, http.MethodPut, opensearchapi.IndicesCreateReq{Index: index, Body: bytes.NewReader(body)})
	return err
}

func (e osEngine) bulk(ctx context.Context, index string, ndjson []byte) ([]byte, error) {
	return e.do(ctx, http.MethodPost, opensearchapi.BulkReq{Index: index, Body: bytes.NewReader(ndjson)})
}

func (e osEngine) search(ctx context.Context, index string, body []byte) ([]byte, error) {
	return e.do(ctx, http.MethodPost, opensearchapi.SearchReq{Indices: []string{index}, Body: bytes.NewReader(body)})
}

func (e osEngine) msearch(ctx context.Context, index string, ndjson []byte) ([]byte, error) {
	return e.do(ctx, http.MethodPost, opensearchapi.MSearchReq{Indices: []string{index}, Body: bytes.NewReader(ndjson)})
}

func (e osEngine) refresh(ctx context.Context, index string) error {
	_, err := e.do(ctx, http.MethodPost, opensearchapi.IndicesRefreshReq{Index: []string{index}})
	return err
}

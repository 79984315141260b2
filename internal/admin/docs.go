package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/ingest"
)

// DocOps administers documentation search (docs/search.md). The API
// indexes only the sources of the configuration, by name: a path given
// over the network could read any file of the server into the index.
type DocOps interface {
	// Status describes the index and the configured sources.
	Status(ctx context.Context) (*DocsStatus, error)
	// Index indexes the configured source name.
	Index(ctx context.Context, name string, opt ingest.Options) (*ingest.Report, error)
}

// DocsStatus is what GET /docs shows.
type DocsStatus struct {
	Index   search.Stats `json:"index"`
	Sources []DocSource  `json:"sources"`
}

// DocSource is a configured documentation source.
type DocSource struct {
	Name     string   `json:"name"`
	Source   string   `json:"source"`
	Groups   []string `json:"groups"`
	Interval string   `json:"interval,omitempty"`
}

// IndexInput is the body of POST /docs/sources/{name}/index.
type IndexInput struct {
	DryRun  bool `json:"dryRun,omitempty"`
	Rebuild bool `json:"rebuild,omitempty"`
}

func (a *API) docsRoutes() {
	a.handle("GET /docs", a.docsStatus)
	a.handle("POST /docs/sources/{name}/index", a.indexDocs)
}

func (a *API) docsStatus(r *http.Request, _ directory.Actor) (int, any, error) {
	if a.ops.Docs == nil {
		return 0, nil, docsOff()
	}
	st, err := a.ops.Docs.Status(r.Context())
	if err != nil {
		return 0, nil, searchProblem(err)
	}
	return http.StatusOK, st, nil
}

func (a *API) indexDocs(r *http.Request, _ directory.Actor) (int, any, error) {
	if a.ops.Docs == nil {
		return 0, nil, docsOff()
	}
	var in IndexInput
	if r.ContentLength > 0 {
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
	}
	rep, err := a.ops.Docs.Index(r.Context(), r.PathValue("name"), ingest.Options{DryRun: in.DryRun, Rebuild: in.Rebuild})
	if err != nil {
		return 0, nil, searchProblem(err)
	}
	return http.StatusOK, rep, nil
}

func docsOff() error {
	return &problem{Status: http.StatusNotFound, Title: "Not found", Detail: "documentation search is not enabled (search.enabled)"}
}

// searchProblem maps search's error kinds to problems; directory errors
// keep theirs.
func searchProblem(err error) error {
	var se *search.Error
	if !errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(err, search.ErrInvalid):
		return &problem{Status: http.StatusBadRequest, Title: "Invalid value", Detail: se.Msg}
	case errors.Is(err, search.ErrMetaMismatch):
		return &problem{Status: http.StatusConflict, Title: "Conflict", Detail: se.Msg}
	case errors.Is(err, search.ErrUnavailable):
		return &problem{Status: http.StatusServiceUnavailable, Title: "Service unavailable", Detail: se.Msg, header: http.Header{"Retry-After": {"5"}}}
	}
	return err
}

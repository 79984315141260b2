package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/acl"
	"github.com/gatehouse-id/gatehouse/internal/search/analysis"
	"github.com/gatehouse-id/gatehouse/internal/search/chat"
	"github.com/gatehouse-id/gatehouse/internal/search/elastic"
	"github.com/gatehouse-id/gatehouse/internal/search/embed"
	"github.com/gatehouse-id/gatehouse/internal/search/embedded"
	"github.com/gatehouse-id/gatehouse/internal/search/hashembed"
	"github.com/gatehouse-id/gatehouse/internal/search/ingest"
	"github.com/gatehouse-id/gatehouse/internal/search/searchapi"
)

// Search is documentation search, wired (docs/search.md).
type Search struct {
	Analyzer *analysis.Analyzer
	// Embedder is nil when none is configured (keyword search only).
	Embedder search.Embedder
	// Backend is the embedded one (in the database), or an Elasticsearch
	// or OpenSearch cluster when search.elasticsearch is configured.
	Backend search.Backend
	Indexer *ingest.Indexer
	Service *search.Service
	API     *searchapi.API
	// Limiter counts the searches of the API and of the portal's page
	// alike (search.rate_limit).
	Limiter *searchapi.Limiter
}

type searchOnce struct {
	once sync.Once
	s    *Search
	err  error
}

// Search builds documentation search on first use: the segmenter's
// dictionary takes a second or more and about 100 MB, which commands that
// do not search should not pay.
func (a *App) Search() (*Search, error) {
	a.search.once.Do(func() { a.search.s, a.search.err = a.buildSearch() })
	return a.search.s, a.search.err
}

func (a *App) buildSearch() (*Search, error) {
	cfg := a.Config.Search
	an, err := analysis.New(cfg.Words)
	if err != nil {
		return nil, fmt.Errorf("search: load the dictionary: %w", err)
	}
	s := &Search{Analyzer: an}
	switch cfg.Embedder {
	case "hash":
		s.Embedder = hashembed.New(an, cfg.Dims)
	case "openai":
		e, err := embed.New(cfg.Embeddings, embed.Options{HTTPClient: a.egressPolicy().Client(0), Logger: a.Log})
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		s.Embedder = e
	}
	if es := cfg.Elasticsearch; es != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b, err := elastic.New(ctx, *es, elastic.Options{Analyzer: an, Egress: a.egressPolicy(), Logger: a.Log})
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		s.Backend = b
	} else {
		st, ok := a.Store.(embedded.Store)
		if !ok {
			return nil, errors.New("this database cannot hold a search index")
		}
		s.Backend = embedded.New(st, embedded.Options{Terms: an.Terms, NewID: NewID, Now: time.Now})
	}
	dir := acl.Directory{Dir: a.Directory}
	s.Indexer = &ingest.Indexer{Backend: s.Backend, Analyzer: an, Embedder: s.Embedder, Groups: dir}
	s.Service = &search.Service{Backend: s.Backend, Analyzer: an, Embedder: s.Embedder, Members: dir}
	if cfg.Chat.URL != "" {
		client := a.egressPolicy().Client(time.Duration(cfg.Chat.Timeout))
		s.Service.Chat = &chat.Client{URL: cfg.Chat.URL, Model: cfg.Chat.Model, APIKey: os.Getenv(cfg.Chat.APIKeyEnv), HTTP: client}
	}
	rl := cfg.RateLimit
	s.Limiter = searchapi.NewLimiter(searchapi.Limits{Person: rl.Person, App: rl.App}, time.Now)
	askers := searchapi.Askers{App: searchapi.AppAsker{Auth: a.Auth, Dir: a.Directory, Schemas: a.Schemas, ClientAddr: scim.RemoteHost}}
	if a.Web != nil {
		askers.Sessions = a.Web
	}
	s.API = &searchapi.API{Service: s.Service, Log: a.Log, Asker: askers, Limiter: s.Limiter}
	return s, nil
}

// portalSearch is documentation search as the portal's page uses it:
// built on first use, like the API, and counted by the same limiter.
type portalSearch struct{ a *App }

func (p portalSearch) Search(ctx context.Context, r search.Request) (*search.Response, error) {
	s, err := p.a.Search()
	if err != nil {
		return nil, &search.Error{Kind: search.ErrUnavailable, Msg: "search is unavailable", Err: err}
	}
	return s.Service.Search(ctx, r)
}

func (p portalSearch) Answers() bool { return p.a.Config.Search.Chat.URL != "" }

func (p portalSearch) Allow(userID string) (bool, time.Duration) {
	s, err := p.a.Search()
	if err != nil {
		return true, 0 // Search then says it is unavailable
	}
	return s.Limiter.Allow(searchapi.Who{UserID: userID})
}

// serveSearch answers /search when search is enabled: the portal's search
// page to a browser that asks for HTML without an application's token,
// the JSON API to everyone else.
func (a *App) serveSearch(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.Header.Get("Authorization") == "" && a.Web.Wants(r) {
		a.Web.SearchPage(w, r)
		return
	}
	s, err := a.Search()
	if err != nil {
		a.Log.ErrorContext(r.Context(), "search unavailable", "err", err)
		http.Error(w, `{"error":"unavailable","message":"search is unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	s.API.ServeHTTP(w, r)
}

// SearchSource is the source a spec names: "gitbook:SPACE" (read with the
// token in GATEHOUSE_GITBOOK_TOKEN), or a directory ("dir:PATH" or a
// path).
func (a *App) SearchSource(spec, urlPrefix string, getenv func(string) string) (ingest.Source, error) {
	if space, ok := strings.CutPrefix(spec, "gitbook:"); ok {
		client := a.egressPolicy().Client(30 * time.Second)
		return ingest.GitBook{Space: space, Token: getenv("GATEHOUSE_GITBOOK_TOKEN"), BaseURL: getenv("GATEHOUSE_GITBOOK_API_URL"), Client: client}, nil
	}
	dir := strings.TrimPrefix(spec, "dir:")
	if dir == "" {
		return nil, &search.Error{Kind: search.ErrInvalid, Msg: "give a directory or gitbook:SPACE"}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return ingest.Dir{Root: abs, URLPrefix: urlPrefix}, nil
}

// IndexSource indexes the configured source name.
func (a *App) IndexSource(ctx context.Context, name string, opt ingest.Options) (*ingest.Report, error) {
	var src *config.SearchSource
	for i := range a.Config.Search.Sources {
		if a.Config.Search.Sources[i].Name == name {
			src = &a.Config.Search.Sources[i]
		}
	}
	if src == nil {
		return nil, directory.Errorf(directory.ErrNotFound, "source", "no search source named %q in the configuration", name)
	}
	s, err := a.Search()
	if err != nil {
		return nil, err
	}
	source, err := a.SearchSource(src.Source, src.URLPrefix, os.Getenv)
	if err != nil {
		return nil, err
	}
	opt.Groups = src.Groups
	return s.Indexer.Index(ctx, source, opt)
}

// runSearchSchedule indexes each source that has an interval: at start,
// then every interval, until ctx ends — on the leader only (a singleton,
// singletons.go), its runs claimed like the other schedules'. Failures are
// logged and retried at the next interval; the index keeps what it had.
func (a *App) runSearchSchedule(ctx context.Context) {
	var wg sync.WaitGroup
	for _, src := range a.Config.Search.Sources {
		if src.Interval == 0 {
			continue
		}
		every := time.Duration(src.Interval)
		wg.Go(func() {
			a.runEvery(ctx, "search:"+src.Name, every, 0, func(ctx context.Context) {
				rep, err := a.IndexSource(ctx, src.Name, ingest.Options{})
				if err != nil {
					if ctx.Err() == nil {
						a.Log.Warn("scheduled documentation index failed", "source", src.Name, "err", err)
					}
					return
				}
				a.Log.Info("documentation indexed", "source", src.Name, "documents", rep.Documents, "chunks", rep.Chunks,
					"added", rep.Added, "changed", rep.Changed, "removed", rep.Removed, "seconds", rep.Seconds)
			})
		})
	}
	wg.Wait()
}

// egressPolicy is the events' egress policy (events.egress_allow), which
// search's outbound calls (GitBook, the chat endpoint) go through too.
func (a *App) egressPolicy() egress.Policy {
	var policy egress.Policy
	for _, s := range a.Config.Events.EgressAllow {
		if p, err := config.ParseCIDR(s); err == nil { // Validate reported the others
			policy.Allow = append(policy.Allow, p)
		}
	}
	return policy
}

// docOps is the admin API's view of documentation search.
type docOps struct{ a *App }

func (d docOps) Status(ctx context.Context) (*admin.DocsStatus, error) {
	s, err := d.a.Search()
	if err != nil {
		return nil, err
	}
	st, err := s.Backend.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := &admin.DocsStatus{Index: st, Sources: []admin.DocSource{}}
	for _, src := range d.a.Config.Search.Sources {
		ds := admin.DocSource{Name: src.Name, Source: src.Source, Groups: src.Groups}
		if src.Interval != 0 {
			ds.Interval = time.Duration(src.Interval).String()
		}
		out.Sources = append(out.Sources, ds)
	}
	return out, nil
}

func (d docOps) Index(ctx context.Context, name string, opt ingest.Options) (*ingest.Report, error) {
	return d.a.IndexSource(ctx, name, opt)
}

// Package scim is Gatehouse's SCIM 2.0 service provider (RFC 7643, 7644,
// 9865): HTTP handlers for Users, Groups, search, Bulk and discovery. It
// turns protocol requests into directory.Service calls and domain results
// back into SCIM documents and errors.
package scim

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Directory is what the handlers need from the directory service.
type Directory interface {
	User(ctx context.Context, id string, opt directory.ReadOptions) (*directory.User, error)
	Users(ctx context.Context, q directory.Query) (*directory.Page[*directory.User], error)
	CreateUser(ctx context.Context, actor directory.Actor, p directory.Profile, u *directory.User) (*directory.User, bool, error)
	ReplaceUser(ctx context.Context, actor directory.Actor, p directory.Profile, id string, u *directory.User, expect func(int64) bool) (*directory.User, error)
	UpdateUser(ctx context.Context, actor directory.Actor, p directory.Profile, id string, expect func(int64) bool, mutate func(*directory.User) error) (*directory.User, error)
	DeleteUser(ctx context.Context, actor directory.Actor, id string, expect func(int64) bool) error

	Group(ctx context.Context, id string, opt directory.ReadOptions) (*directory.Group, error)
	Groups(ctx context.Context, q directory.Query) (*directory.Page[*directory.Group], error)
	CreateGroup(ctx context.Context, actor directory.Actor, p directory.Profile, g *directory.Group) (*directory.Group, bool, error)
	ReplaceGroup(ctx context.Context, actor directory.Actor, id string, g *directory.Group, replaceMembers bool, expect func(int64) bool) (*directory.Group, error)
	UpdateGroup(ctx context.Context, actor directory.Actor, id string, expect func(int64) bool, mutate func(*directory.Group) error, ops []directory.MemberOp) (*directory.Group, error)
	DeleteGroup(ctx context.Context, actor directory.Actor, id string, expect func(int64) bool) error
}

// Authenticator checks the Authorization header.
type Authenticator interface {
	Authenticate(ctx context.Context, header string) (*auth.Principal, error)
}

// Config holds the SCIM endpoint's settings.
type Config struct {
	// Prefix is the path the endpoint is served under, e.g. "/scim/v2".
	Prefix string
	// BaseURL is the externally visible URL of Prefix
	// ("https://gatehouse.example.com/scim/v2"). When empty it is derived
	// from each request's Host and scheme.
	BaseURL string
	// DefaultPageSize applies when a list names no count; MaxPageSize caps
	// count (larger counts are reduced, not refused).
	DefaultPageSize int
	MaxPageSize     int
	// MaxPayloadSize bounds request bodies, Bulk included (bytes).
	MaxPayloadSize int64
	// MaxBulkOperations bounds the operations of one Bulk request.
	MaxBulkOperations int
	// CursorKey signs RFC 9865 cursors; CursorTimeout is how long a cursor
	// stays valid.
	CursorKey     []byte
	CursorTimeout time.Duration
	// DocumentationURL is served as ServiceProviderConfig.documentationUri.
	DocumentationURL string
}

// Defaults.
const (
	DefaultPageSize   = 100
	DefaultMaxPage    = 1000
	DefaultMaxPayload = 1 << 20
	DefaultMaxBulkOps = 1000
)

// Server serves the SCIM API.
type Server struct {
	dir  Directory
	auth Authenticator
	reg  *schema.Registry
	cfg  Config
	log  *slog.Logger
	now  func() time.Time

	positions *positionCache
	mux       *http.ServeMux
}

// New returns a Server.
func New(dir Directory, authn Authenticator, reg *schema.Registry, cfg Config, log *slog.Logger) *Server {
	if cfg.Prefix == "" {
		cfg.Prefix = "/scim/v2"
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.DefaultPageSize <= 0 {
		cfg.DefaultPageSize = DefaultPageSize
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = DefaultMaxPage
	}
	cfg.DefaultPageSize = min(cfg.DefaultPageSize, cfg.MaxPageSize)
	if cfg.MaxPayloadSize <= 0 {
		cfg.MaxPayloadSize = DefaultMaxPayload
	}
	if cfg.MaxBulkOperations <= 0 {
		cfg.MaxBulkOperations = DefaultMaxBulkOps
	}
	if cfg.CursorTimeout <= 0 {
		cfg.CursorTimeout = time.Hour
	}
	if len(cfg.CursorKey) == 0 {
		cfg.CursorKey = []byte(logging.NewRequestID() + logging.NewRequestID())
	}
	s := &Server{dir: dir, auth: authn, reg: reg, cfg: cfg, log: log, now: time.Now, positions: newPositionCache(20000, 10*time.Minute)}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := http.NewServeMux()
	p := s.cfg.Prefix
	open := func(pattern string, h http.HandlerFunc) { m.Handle(pattern, h) }
	authed := func(pattern string, h func(http.ResponseWriter, *http.Request, *auth.Principal)) {
		m.Handle(pattern, s.authenticate(h))
	}
	open("GET "+p+"/ServiceProviderConfig", s.serviceProviderConfig)
	open("GET "+p+"/ResourceTypes", s.resourceTypes)
	open("GET "+p+"/ResourceTypes/{id}", s.resourceType)
	open("GET "+p+"/Schemas", s.schemas)
	open("GET "+p+"/Schemas/{id}", s.schema)

	for _, pre := range []string{p + "/Users", p + "/Users/{$}"} {
		authed("GET "+pre, s.listUsers)
		authed("POST "+pre, s.createUser)
	}
	authed("POST "+p+"/Users/.search", s.searchUsers)
	authed("GET "+p+"/Users/{id}", s.getUser)
	authed("PUT "+p+"/Users/{id}", s.replaceUser)
	authed("PATCH "+p+"/Users/{id}", s.patchUser)
	authed("DELETE "+p+"/Users/{id}", s.deleteUser)

	for _, pre := range []string{p + "/Groups", p + "/Groups/{$}"} {
		authed("GET "+pre, s.listGroups)
		authed("POST "+pre, s.createGroup)
	}
	authed("POST "+p+"/Groups/.search", s.searchGroups)
	authed("GET "+p+"/Groups/{id}", s.getGroup)
	authed("PUT "+p+"/Groups/{id}", s.replaceGroup)
	authed("PATCH "+p+"/Groups/{id}", s.patchGroup)
	authed("DELETE "+p+"/Groups/{id}", s.deleteGroup)

	authed("POST "+p+"/.search", s.searchRoot)
	authed("POST "+p+"/Bulk", s.bulk)
	open(p+"/Me", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotImplemented, "", "/Me is not supported: Gatehouse's SCIM clients are applications, not users"))
	})
	s.mux = m
}

// ServeHTTP serves the SCIM API. Requests the routes do not match get SCIM
// errors too (404, or 405 with the Allow header), never the router's plain
// text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, errorf(http.StatusMethodNotAllowed, "", r.Method+" is not allowed here; allowed: "+rec.header.Get("Allow")))
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		// The router cleans paths ("//Users" → "/Users") by redirecting.
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
	default:
		s.writeError(w, r, errorf(http.StatusNotFound, "", "no such SCIM endpoint: "+r.URL.Path))
	}
}

// headerRecorder captures what the router's own 404/405 handler would send.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }

// authenticate requires a valid bearer token.
func (s *Server) authenticate(h func(http.ResponseWriter, *http.Request, *auth.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		p, err := s.auth.Authenticate(r.Context(), header)
		if err != nil {
			challenge := `Bearer realm="gatehouse"`
			if header != "" {
				challenge += `, error="invalid_token"`
			}
			se := errorf(http.StatusUnauthorized, "", "a valid bearer token is required (Authorization: Bearer <token>)")
			if err != auth.ErrUnauthenticated {
				se = asError(err)
			}
			if se.Status == http.StatusUnauthorized {
				se.Header = http.Header{"Www-Authenticate": {challenge}}
			}
			s.writeError(w, r, se)
			return
		}
		logging.SetCaller(r.Context(), p.App.ID)
		h(w, r, p)
	})
}

// base returns the URL resources are located under.
func (s *Server) base(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.cfg.Prefix
}

func actor(r *http.Request, p *auth.Principal) directory.Actor {
	return p.Actor(logging.RequestID(r.Context()))
}

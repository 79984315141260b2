// Package scim is Gatehouse's SCIM 2.0 service provider (RFC 7643, 7644,
// 9865): HTTP handlers for Users, Groups, search, Bulk and discovery. It
// turns protocol requests into directory.Service calls and domain results
// back into SCIM documents and errors.
package scim

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/httpquery"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Directory is what the handlers need from the directory service.
type Directory interface {
	User(ctx context.Context, p directory.Profile, id string, opt directory.ReadOptions) (*directory.User, error)
	Users(ctx context.Context, p directory.Profile, q directory.Query) (*directory.Page[*directory.User], error)
	CreateUser(ctx context.Context, actor directory.Actor, p directory.Profile, u *directory.User) (*directory.User, bool, error)
	ReplaceUser(ctx context.Context, actor directory.Actor, p directory.Profile, id string, u *directory.User, expect func(int64) bool) (*directory.User, error)
	UpdateUser(ctx context.Context, actor directory.Actor, p directory.Profile, id string, expect func(int64) bool, mutate func(*directory.User) error) (*directory.User, error)
	// The With Groups variants return the user with its groups, read in
	// the change's transaction (for a response that shows them).
	ReplaceUserWithGroups(ctx context.Context, actor directory.Actor, p directory.Profile, id string, u *directory.User, expect func(int64) bool) (*directory.User, error)
	UpdateUserWithGroups(ctx context.Context, actor directory.Actor, p directory.Profile, id string, expect func(int64) bool, mutate func(*directory.User) error) (*directory.User, error)
	DeleteUser(ctx context.Context, actor directory.Actor, p directory.Profile, id string, expect func(int64) bool) error

	Group(ctx context.Context, p directory.Profile, id string, opt directory.ReadOptions) (*directory.Group, error)
	Groups(ctx context.Context, p directory.Profile, q directory.Query) (*directory.Page[*directory.Group], error)
	CreateGroup(ctx context.Context, actor directory.Actor, p directory.Profile, g *directory.Group) (*directory.Group, bool, error)
	ReplaceGroup(ctx context.Context, actor directory.Actor, p directory.Profile, id string, g *directory.Group, replaceMembers bool, expect func(int64) bool) (*directory.Group, error)
	UpdateGroup(ctx context.Context, actor directory.Actor, p directory.Profile, id string, expect func(int64) bool, mutate func(*directory.Group) error, ops []directory.MemberOp) (*directory.Group, error)
	DeleteGroup(ctx context.Context, actor directory.Actor, p directory.Profile, id string, expect func(int64) bool) error
}

// Authenticator checks the Authorization header of a request from client
// (its address, for throttling failures).
type Authenticator interface {
	Authenticate(ctx context.Context, header, client string) (*auth.Principal, error)
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
	// ClientAddr returns the address a request comes from (default: the
	// host of RemoteAddr); behind a proxy, the address it forwarded.
	ClientAddr func(*http.Request) string
	// PasswordPolicy is the directory's, which /Schemas states (default:
	// directory.DefaultPasswordPolicy).
	PasswordPolicy directory.PasswordPolicy
	// Unavailable reports whether an error from the directory means that
	// the database is unavailable (the store's own judgement, by driver
	// error codes); such errors are answered 503 with Retry-After.
	Unavailable func(error) bool
	// QueryTimeout is the time budget of a list or search (limits.go).
	QueryTimeout time.Duration
	// ExpensiveQueries bounds the expensive lists and searches running at
	// once (default: GOMAXPROCS, at least 2), ExpensiveQueriesPerApp those
	// of one application (default: half of ExpensiveQueries, at least 1);
	// QueueWait is how long a request waits for its turn before it is
	// refused.
	ExpensiveQueries       int
	ExpensiveQueriesPerApp int
	QueueWait              time.Duration
	// OnLimit, when set, is told of every list refused or stopped (LimitApp,
	// LimitGlobal, LimitBudget).
	OnLimit func(reason string)
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
	limits    *limiter
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
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = RemoteHost
	}
	if cfg.PasswordPolicy == (directory.PasswordPolicy{}) {
		cfg.PasswordPolicy = directory.DefaultPasswordPolicy()
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.ExpensiveQueries <= 0 {
		cfg.ExpensiveQueries = max(2, runtime.GOMAXPROCS(0))
	}
	if cfg.ExpensiveQueriesPerApp <= 0 {
		cfg.ExpensiveQueriesPerApp = max(1, cfg.ExpensiveQueries/2)
	}
	cfg.ExpensiveQueriesPerApp = min(cfg.ExpensiveQueriesPerApp, cfg.ExpensiveQueries)
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	if len(cfg.CursorKey) == 0 {
		cfg.CursorKey = []byte(logging.NewRequestID() + logging.NewRequestID())
	}
	s := &Server{dir: dir, auth: authn, reg: reg, cfg: cfg, log: log, now: time.Now, positions: newPositionCache(20000, 10*time.Minute),
		limits: newLimiter(cfg.ExpensiveQueries, cfg.ExpensiveQueriesPerApp, cfg.QueueWait)}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := http.NewServeMux()
	p := s.cfg.Prefix
	open := func(pattern string, h http.HandlerFunc) { m.Handle(pattern, h) }
	// Each route names the scope it needs ("" : checked per resource type
	// by the handler).
	authed := func(pattern, scope string, h func(http.ResponseWriter, *http.Request, *auth.Principal)) {
		m.Handle(pattern, s.authenticate(scope, h))
	}
	open("GET "+p+"/ServiceProviderConfig", s.serviceProviderConfig)
	open("GET "+p+"/ResourceTypes", s.resourceTypes)
	open("GET "+p+"/ResourceTypes/{id}", s.resourceType)
	open("GET "+p+"/Schemas", s.schemas)
	open("GET "+p+"/Schemas/{id}", s.schema)

	ur, uw := auth.ScopeUsersRead, auth.ScopeUsersWrite
	for _, pre := range []string{p + "/Users", p + "/Users/{$}"} {
		authed("GET "+pre, ur, s.listUsers)
		authed("POST "+pre, uw, s.createUser)
	}
	authed("POST "+p+"/Users/.search", ur, s.searchUsers)
	authed("GET "+p+"/Users/{id}", ur, s.getUser)
	authed("PUT "+p+"/Users/{id}", uw, s.replaceUser)
	authed("PATCH "+p+"/Users/{id}", uw, s.patchUser)
	authed("DELETE "+p+"/Users/{id}", uw, s.deleteUser)

	gr, gw := auth.ScopeGroupsRead, auth.ScopeGroupsWrite
	for _, pre := range []string{p + "/Groups", p + "/Groups/{$}"} {
		authed("GET "+pre, gr, s.listGroups)
		authed("POST "+pre, gw, s.createGroup)
	}
	authed("POST "+p+"/Groups/.search", gr, s.searchGroups)
	authed("GET "+p+"/Groups/{id}", gr, s.getGroup)
	authed("PUT "+p+"/Groups/{id}", gw, s.replaceGroup)
	authed("PATCH "+p+"/Groups/{id}", gw, s.patchGroup)
	authed("DELETE "+p+"/Groups/{id}", gw, s.deleteGroup)

	authed("POST "+p+"/.search", "", s.searchRoot)
	authed("POST "+p+"/Bulk", "", s.bulk)
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
		if err := httpquery.Check(r.URL.RawQuery); err != nil {
			s.writeError(w, r, errorf(http.StatusBadRequest, "invalidValue", "the query string is malformed: "+err.Error()))
			return
		}
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

// authenticate requires a valid credential with scope (when not "").
// Failures answer as RFC 6750 §3 says: 401 with a WWW-Authenticate
// challenge when the credential is absent or invalid, 403 naming the scope
// when it is insufficient, and 429 with Retry-After when the client failed
// too often.
func (s *Server) authenticate(scope string, h func(http.ResponseWriter, *http.Request, *auth.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := auth.Authorization(r)
		p, err := s.auth.Authenticate(r.Context(), header, s.cfg.ClientAddr(r))
		if err != nil {
			s.writeError(w, r, authError(s.classify(err), header != ""))
			return
		}
		logging.SetCaller(r.Context(), p.App.ID)
		if scope != "" && !p.Scopes.Has(scope) {
			s.writeError(w, r, scopeError(scope))
			return
		}
		h(w, r, p)
	})
}

// authError maps an authentication failure to its SCIM error.
func authError(err error, presented bool) *Error {
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		secs := int(math.Ceil(te.RetryAfter.Seconds()))
		return &Error{Status: http.StatusTooManyRequests, Detail: "too many failed authentications from this client; retry later",
			Header: http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}}}
	case errors.Is(err, auth.ErrUnauthenticated):
		challenge := `Bearer realm="gatehouse"`
		detail := "a bearer token is required (Authorization: Bearer <token>)"
		if presented {
			challenge += `, error="invalid_token"`
			detail = "the bearer token is invalid, expired or disabled"
		}
		return &Error{Status: http.StatusUnauthorized, Detail: detail, Header: http.Header{"Www-Authenticate": {challenge}}}
	}
	return asError(err)
}

// scopeError is the 403 for a credential without scope.
func scopeError(scope string) *Error {
	return &Error{Status: http.StatusForbidden, Detail: "the credential does not have the scope " + scope,
		Header: http.Header{"Www-Authenticate": {`Bearer realm="gatehouse", error="insufficient_scope", scope="` + scope + `"`}}}
}

// RemoteHost is the host part of the request's RemoteAddr.
func RemoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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

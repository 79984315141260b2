// Package app wires Gatehouse together: it opens the store named by the
// configuration, builds the services and the HTTP handler, and runs the
// server. It holds no logic of its own.
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	gatehouse "github.com/gatehouse-id/gatehouse"
	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/checkpoint"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/metrics"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/scimclient"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
	"github.com/gatehouse-id/gatehouse/internal/store/postgres"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-id/gatehouse/internal/targets"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/internal/web/console"
)

// Store is everything the services need from the database.
type Store interface {
	directory.Store
	auth.Store
	login.Store
	Ping(ctx context.Context) error
	// Unavailable reports whether an error means that the database cannot
	// be used for now (answered 503 with Retry-After).
	Unavailable(err error) bool
	Close() error
}

// App is a wired Gatehouse.
type App struct {
	Config    config.Config
	Log       *slog.Logger
	Store     Store
	Directory *directory.Service
	Auth      *auth.Service
	Schemas   *schema.Registry
	SCIM      *scim.Server
	Admin     *admin.Ops
	AdminAPI  *admin.API
	OAuth     *oauth.Handler
	Metrics   *metrics.Metrics
	// Events is the event pipeline (nil when the store has none).
	Events      *events.Pipeline
	EventStore  events.Store
	EventEnv    events.Env
	eventsMu    sync.Mutex
	eventsFile  *events.File // the rules file in force, with the admin API's rules
	rulesSeen   int64        // the stored rules' version in force (under eventsMu)
	eventsReady bool

	// Running is the configuration the running server recorded, which an
	// administration command (Options.ShowRunning) shows; nil when no
	// server has recorded one (running.go).
	Running *events.ServerConfig
	// RunningDiffers are other servers, not stopped, that recorded a
	// different configuration.
	RunningDiffers []*events.ServerConfig
	// RunningErr says why Running cannot be shown (its own is shown).
	RunningErr error
	shown      *shownConfig // Running, built to be shown
	scimBase   string       // the SCIM base URL event documents name
	serverName string       // set while Serve records its configuration
	started    time.Time

	proxies *proxies
	unlock  func() // releases the serve lock (Lock)

	// Sign-in and single sign-on (login.go).
	Login *login.Service
	Web   *web.Site
	// Console is the administrators' console (console.go).
	Console *console.Console
	// Sessions and Recorder are what the SSO protocols use (a.Web).
	Sessions login.Sessions
	Recorder login.Recorder
	// OIDC is the OpenID Connect provider (oidc.go).
	OIDC *oidc.Provider
	// SAML is the SAML 2.0 identity provider (saml.go).
	SAML   *saml.IdP
	search searchOnce
	leader atomic.Bool // this server runs the singletons now (singletons.go)
	holder string      // this process, in the schedules' records
}

// pokingStore tells the event pipeline about every committed write, so
// that this process's changes are dispatched at once.
type pokingStore struct {
	directory.Store
	poke func()
}

func (p pokingStore) Write(ctx context.Context, fn func(directory.Tx) error) error {
	err := p.Store.Write(ctx, fn)
	if err == nil {
		p.poke()
	}
	return err
}

// NewID returns a new resource id: a UUIDv7 (RFC 9562), random but
// time-ordered, so that new rows land at the end of the id indexes instead of
// on random pages (cheaper inserts on both databases).
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// RAMID returns an id in the form of a RAM user's: 16 digits.
func RAMID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	n := binary.BigEndian.Uint64(b[:])%9_000_000_000_000_000 + 1_000_000_000_000_000
	return strconv.FormatUint(n, 10)
}

// ErrNoDatabase is the error of opening, with Options.MustExist, a
// database that is not there (errors.Is).
var ErrNoDatabase = errors.New("no database")

// noDatabase is a database that is not there, in the store's words.
type noDatabase struct{ err error }

func (n noDatabase) Error() string        { return n.err.Error() }
func (n noDatabase) Unwrap() error        { return n.err }
func (n noDatabase) Is(target error) bool { return target == ErrNoDatabase }

// OpenStore opens the configured database, creating it if needed.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (Store, error) {
	return openStore(ctx, cfg, log, false)
}

func openStore(ctx context.Context, cfg config.Config, log *slog.Logger, mustExist bool) (Store, error) {
	kind, loc, err := cfg.Database()
	if err != nil {
		return nil, err
	}
	var st Store
	switch kind {
	case "postgres":
		st, err = postgres.Open(ctx, loc, postgres.Options{Logger: log, MustExist: mustExist})
		if err != nil {
			err = fmt.Errorf("%s: %w", config.RedactURL(loc), err)
		}
	default:
		st, err = sqlite.Open(ctx, loc, sqlite.Options{Synchronous: cfg.SQLiteSynchronous, MustExist: mustExist})
		if perr := sqlite.PageCacheErr(); perr != nil && err == nil && log != nil {
			log.Warn("SQLite refused the page-cache block: its pages are allocated one by one, and reads cost more CPU", "err", perr)
		}
	}
	if mustExist && errors.Is(err, fs.ErrNotExist) {
		return nil, noDatabase{err}
	}
	return st, err
}

// Options change how NewWith builds the application.
type Options struct {
	// WithoutSecrets builds the event targets without requiring the rules
	// file's ${env:NAME} variables, for what delivers nothing
	// (administration commands): a target whose variables are unset is
	// listed, but cannot deliver or be pushed (events.Env.WithoutSecrets).
	WithoutSecrets bool
	// MustExist refuses a database that is not there (ErrNoDatabase),
	// creating nothing: what is not serve does not create a database.
	MustExist bool
	// ShowRunning makes the event administration (Admin.Events: rules,
	// targets, journeys) and the event documents show the configuration
	// the running server recorded (App.Running) rather than this process's
	// own: for administration commands, whose environment need not be the
	// server's.
	ShowRunning bool
}

// New opens the store and builds the services; every target must be able
// to deliver.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	return NewWith(ctx, cfg, log, Options{})
}

// NewWith opens the store and builds the services, as opt says.
func NewWith(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options) (*App, error) {
	reg, err := schema.NewRegistry(cfg.Extensions())
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, log, opt.MustExist)
	if errors.Is(err, ErrNoDatabase) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	a := &App{Config: cfg, Log: log, Store: st, Schemas: reg, holder: holder()}
	newUserID := NewID
	if cfg.Profile == "ram" {
		newUserID = RAMID
	}
	// One hasher, so that provisioning and sign-in share its cap on
	// concurrent hashes.
	hasher := auth.NewArgon2id()
	a.Directory = directory.NewService(pokingStore{Store: st, poke: a.pokeEvents}, directory.Options{
		Hasher: hasher, Policy: cfg.Policy(), NewID: newUserID, AuditRetention: time.Duration(cfg.Audit.Retention),
	})
	a.Metrics = metrics.New()
	var extURNs []string
	for _, e := range cfg.SCIM.Extensions {
		extURNs = append(extURNs, e.Schema)
	}
	a.Auth = auth.NewService(st, auth.Options{
		NewID: NewID, Log: log, Extensions: extURNs, Issuer: Issuer(cfg, cfg.Listen),
		AccessTokenLifetime: time.Duration(cfg.Auth.AccessTokenLifetime), KeyRotation: time.Duration(cfg.Auth.KeyRotation),
		FailureLimit: cfg.Auth.FailureLimit, FailureWindow: time.Duration(cfg.Auth.FailureWindow),
		OnFailure: a.Metrics.AuthFailure, OnIssue: a.Metrics.TokenIssued,
	})
	if a.proxies, err = newProxies(cfg.TrustedProxies); err != nil {
		st.Close()
		return nil, err
	}
	baseURL := ""
	if cfg.BaseURL != "" {
		baseURL = strings.TrimSuffix(cfg.BaseURL, "/") + "/scim/v2"
	}
	scimCfg := scim.Config{
		Prefix:            "/scim/v2",
		BaseURL:           baseURL,
		DefaultPageSize:   cfg.SCIM.DefaultPageSize,
		MaxPageSize:       cfg.SCIM.MaxPageSize,
		MaxPayloadSize:    cfg.SCIM.MaxPayloadBytes,
		MaxBulkOperations: cfg.SCIM.MaxBulkOperations,
		ClientAddr:        scim.RemoteHost,
		PasswordPolicy:    cfg.Policy(),
		Unavailable:       st.Unavailable,

		QueryTimeout:           time.Duration(cfg.SCIM.QueryTimeout),
		ExpensiveQueries:       cfg.SCIM.ExpensiveQueries,
		ExpensiveQueriesPerApp: cfg.SCIM.ExpensiveQueriesPerApp,
		OnLimit:                a.Metrics.QueryLimited,
	}
	a.Admin = &admin.Ops{Auth: a.Auth, Dir: a.Directory, Schemas: reg, Retention: time.Duration(cfg.Audit.Retention),
		QueryTimeout: time.Duration(cfg.SCIM.QueryTimeout),
		Checkpoints:  admin.Checkpoints{File: cfg.CheckpointFile(), KeyFile: cfg.CheckpointKeyFile(), PublicKeys: cfg.Audit.CheckpointPublicKeys}}
	if cfg.Search.Enabled {
		a.Admin.Docs = docOps{a}
	}
	a.AdminAPI = admin.NewAPI(a.Admin, a.Auth, scim.RemoteHost, log)
	a.AdminAPI.Unavailable = st.Unavailable
	if cfg.Profile == "ram" {
		scimCfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
		a.SCIM = scim.NewRAM(a.Directory, a.Auth, reg, scimCfg, log)
		a.AdminAPI.RAMRoutes()
	} else {
		a.SCIM = scim.New(a.Directory, a.Auth, reg, scimCfg, log)
	}
	a.Admin.Admit = a.SCIM.Admit
	a.OAuth = oauth.New(a.Auth, oauth.Config{ClientAddr: scim.RemoteHost, StrictRAM: cfg.Profile == "ram", Unavailable: st.Unavailable}, log)
	if err := a.setupEvents(ctx, baseURL, opt); err != nil {
		st.Close()
		return nil, err
	}
	if err := a.setupLogin(ctx, hasher, opt.WithoutSecrets); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) pokeEvents() {
	if a.Events != nil {
		a.Events.Poke()
	}
}

// setupEvents builds the event pipeline: the document builder, the
// targets and rules of the rules file, delivery.
func (a *App) setupEvents(ctx context.Context, scimBase string, opt Options) error {
	es, ok := a.Store.(events.Store)
	if !ok {
		return nil
	}
	cfg := a.Config.Events
	a.EventStore = es
	env, err := EventEnv(a.Config, opt.WithoutSecrets)
	if err != nil {
		return err
	}
	if li, ok := a.Store.(provision.LinkIndex); ok {
		// The push and the SCIM targets' deliveries share the links.
		env.Links = func(target string) scimclient.Links { return provision.TargetLinks(li, target) }
	}
	a.EventEnv = env
	api, version, err := a.apiRules(ctx)
	if err != nil {
		return err
	}
	pcfg, file, err := a.loadRules(api)
	var ce *events.ConfigError
	if err != nil && opt.ShowRunning && len(api) > 0 && errors.As(err, &ce) {
		// The admin API's rules may use targets of the server's rules
		// file, which an administration command need not have: it
		// dispatches nothing, so it does without them (and lists them).
		if pcfg, file, err = a.loadRules(nil); err == nil {
			file.API = api
		}
	}
	if err != nil {
		return err
	}
	a.eventsFile, a.rulesSeen, a.scimBase = file, version, scimBase
	source := cfg.Source
	if opt.ShowRunning {
		if err := a.readRunning(ctx, api); err != nil {
			return err
		}
		if a.shown != nil {
			source, scimBase = a.Running.Source, a.Running.BaseURL
		}
	}
	builder := &events.Builder{Source: source, BaseURL: scimBase, Schemas: a.Schemas, Dir: a.Store}
	a.Events = events.New(es, builder, pcfg, events.Options{
		Log: a.Log, Observer: a.Metrics, NewID: NewID, PollInterval: time.Duration(cfg.PollInterval), Retention: time.Duration(cfg.Retention),
		Prunes: a.leader.Load, // one server prunes (singletons.go)
	})
	a.Metrics.Backlog(es.Backlog)
	a.Metrics.Leader(a.leader.Load)
	ops := &admin.EventOps{Store: es, Pipeline: a.Events, Rules: a.RulesFile, Reload: a.ReloadRules,
		Check: func(api []events.RuleSpec) error { _, _, err := a.loadRules(api); return err }}
	if rs, ok := a.Store.(events.RuleStore); ok {
		ops.RuleStore = rs
	}
	if sh := a.shown; sh != nil {
		ops.Config = func() *events.Config { return sh.cfg }
		ops.Rules = func() *events.File { return sh.file }
		ops.Check = func(api []events.RuleSpec) error { _, _, err := a.describe(a.Running, api); return err }
	}
	a.Admin.Events = ops
	return nil
}

// EventEnv is what the rules file's targets are built with: the email
// templates, the egress policy, the environment (for ${env:NAME}).
// It needs no database.
func EventEnv(cfg config.Config, withoutSecrets bool) (events.Env, error) {
	tpl := targets.DefaultTemplates()
	if dir := cfg.Events.TemplatesDir; dir != "" {
		var err error
		if tpl, err = targets.LoadTemplates(dir); err != nil {
			return events.Env{}, fmt.Errorf("email templates: %w", err)
		}
	}
	var policy egress.Policy
	for _, s := range cfg.Events.EgressAllow {
		p, err := config.ParseCIDR(s)
		if err != nil {
			return events.Env{}, err
		}
		policy.Allow = append(policy.Allow, p)
	}
	return events.Env{Getenv: os.Getenv, Egress: policy, Templates: tpl, UserAgent: "gatehouse/" + gatehouse.Version,
		WithoutSecrets: withoutSecrets, Resend: targets.NewResendAccounts(), Company: cfg.Events.Company, Source: cfg.Events.Source}, nil
}

// apiRules returns the rules made through the admin API and their version.
func (a *App) apiRules(ctx context.Context) ([]events.RuleSpec, int64, error) {
	rs, ok := a.Store.(events.RuleStore)
	if !ok {
		return nil, 0, nil
	}
	stored, version, err := rs.APIRules(ctx)
	if err != nil {
		return nil, 0, err
	}
	specs := make([]events.RuleSpec, len(stored))
	for i, s := range stored {
		specs[i] = s.Rule
	}
	return specs, version, nil
}

// loadRules reads the rules file (none: no targets) and adds the admin
// API's rules.
func (a *App) loadRules(api []events.RuleSpec) (*events.Config, *events.File, error) {
	return events.LoadWithAPI(a.Config.Events.RulesFile, a.EventEnv, api)
}

// ReloadRules reads the rules file and the admin API's rules again and, if
// they are valid, puts them in force; otherwise the running configuration
// stays.
func (a *App) ReloadRules() error {
	if a.Events == nil {
		return errors.New("the event pipeline is not available on this database")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api, version, err := a.apiRules(ctx)
	if err != nil {
		return err
	}
	a.eventsMu.Lock()
	defer a.eventsMu.Unlock()
	// Whatever the outcome, this version has been looked at: the watcher
	// does not retry a bad set until it changes again.
	a.rulesSeen = version
	cfg, file, err := a.loadRules(api)
	if err != nil {
		return err
	}
	if err := a.Events.Reload(ctx, cfg); err != nil {
		return err
	}
	a.eventsFile = file
	a.logRules("rules reloaded", file, cfg)
	a.recordRunning(ctx, file)
	return nil
}

// logRules logs the rules and targets put in force (names and kinds, no
// settings), and the rules among them that match nothing Gatehouse emits
// or receives (events.Config.Warnings).
func (a *App) logRules(msg string, file *events.File, cfg *events.Config) {
	var ruleNames, apiNames, targetNames []string
	if file != nil {
		for _, r := range file.Rules {
			ruleNames = append(ruleNames, r.Name)
		}
		for _, r := range file.API {
			apiNames = append(apiNames, r.Name)
		}
	}
	for _, name := range cfg.TargetNames() {
		targetNames = append(targetNames, name+" ("+cfg.Targets[name].Sender.Kind()+")")
	}
	a.Log.Info(msg, "rules_file", a.Config.Events.RulesFile, "rules", strings.Join(ruleNames, ", "), "api_rules", strings.Join(apiNames, ", "),
		"targets", strings.Join(targetNames, ", "))
	for _, w := range cfg.Warnings {
		a.Log.Warn("rule matches no event", "problem", w)
	}
}

// watchRules reloads when the admin API's rules change, in this process or
// another (the CLI, another replica), checking every interval.
func (a *App) watchRules(ctx context.Context, every time.Duration) {
	rs, ok := a.Store.(events.RuleStore)
	if !ok {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := rs.RulesVersion(ctx)
		if err != nil {
			continue
		}
		a.eventsMu.Lock()
		changed := v != a.rulesSeen
		a.eventsMu.Unlock()
		if changed {
			if err := a.ReloadRules(); err != nil {
				a.Log.Error("reload rules: the rules in force stay", "err", err)
			}
		}
	}
}

// RulesFile returns the rules file in force.
func (a *App) RulesFile() *events.File {
	a.eventsMu.Lock()
	defer a.eventsMu.Unlock()
	return a.eventsFile
}

// observe feeds a finished request to the metrics and to its
// application's statistics.
func (a *App) observe(ctx context.Context, rec *logging.Record) {
	a.Metrics.Observe(ctx, rec)
	if rec.AppID != "" {
		detail := ""
		if rec.Failure != "" {
			detail = rec.Failure + " on " + rec.Route
		}
		a.Auth.Observe(rec.AppID, rec.Failure, detail)
	}
}

// Close releases the database (and the serve lock).
func (a *App) Close() error {
	if err := a.Auth.FlushUsage(context.Background()); err != nil {
		a.Log.Error("flush token usage", "err", err)
	}
	err := a.Store.Close()
	if a.unlock != nil {
		a.unlock()
		a.unlock = nil
	}
	return err
}

// Handler is the whole HTTP interface.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	if a.Config.Profile == "ram" {
		// RAM's paths are at the root.
		for _, p := range []string{"/Users", "/Groups", "/Schemas", "/ResourceTypes", "/ServiceProviderConfig", "/Bulk", "/Me", "/.search"} {
			mux.Handle(p, a.SCIM)
			mux.Handle(p+"/", a.SCIM)
		}
	} else {
		mux.Handle("/scim/v2/", a.SCIM)
		mux.Handle("/scim/v2", a.SCIM)
	}
	mux.Handle(admin.Prefix+"/", a.AdminAPI)
	for _, p := range oauth.Patterns() {
		mux.Handle(p, a.OAuth)
	}
	mux.HandleFunc("GET /metrics", a.serveMetrics)
	a.mountSSO(mux)
	if a.EventStore != nil {
		mux.Handle("/events", &events.Receiver{Source: a.Config.Events.Source, Store: a.EventStore, Auth: a.Auth, ClientAddr: scim.RemoteHost, Poke: a.pokeEvents, Log: a.Log,
			Received: a.Metrics.Received, Unavailable: a.Store.Unavailable})
	}
	if a.Config.Search.Enabled {
		mux.HandleFunc("/search", a.serveSearch)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := a.Store.Ping(ctx); err != nil {
			a.Log.ErrorContext(r.Context(), "readiness check failed", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "database unavailable\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET /docs/scim", func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(gatehouse.Docs, "docs/scim.md")
		if err != nil {
			http.Error(w, "documentation missing", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if a.Web.Wants(r) {
			a.Web.Home(w, r) // a browser: the user's page (sign-in)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintf(w, "Gatehouse %s\nSCIM 2.0: /scim/v2\nOAuth 2.0 token endpoint: %s (RAM style: %s)\nAdmin API: %s (OpenAPI: %s/openapi.json)\nDocumentation: /docs/scim\n",
			gatehouse.Version, oauth.TokenPath, oauth.RAMTokenPath, admin.Prefix, admin.Prefix)
	})
	return a.proxies.wrap(logging.Middleware(a.Log, mux, a.observe))
}

// serveMetrics serves Prometheus metrics to a credential with the metrics
// scope (or to anyone when metrics.public is set).
func (a *App) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if !a.Config.Metrics.Public {
		p, err := a.Auth.Authenticate(r.Context(), auth.Authorization(r), scim.RemoteHost(r))
		if err != nil && a.Store.Unavailable(err) {
			// The credential could not be checked: not the caller's fault.
			a.Log.ErrorContext(r.Context(), "metrics: authenticate", "err", err)
			w.Header().Set("Retry-After", scim.UnavailableRetryAfter)
			http.Error(w, "the database is unavailable; retry later", http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			http.Error(w, "a bearer token with the metrics scope is required", http.StatusUnauthorized)
			return
		}
		logging.SetCaller(r.Context(), p.App.ID)
		if !p.Scopes.Has(auth.ScopeMetrics) {
			http.Error(w, "the credential does not have the metrics scope", http.StatusForbidden)
			return
		}
	}
	a.Metrics.Handler().ServeHTTP(w, r)
}

// serveDebug serves the profiler on the debug address.
func (a *App) serveDebug(ctx context.Context) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", a.Config.DebugListen)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	a.Log.Warn("profiler listening", "addr", ln.Addr().String())
	return srv, nil
}

// Issuer is the issuer of OAuth access tokens and of the RFC 8414
// metadata: base_url when it is set; otherwise the URL of the address the
// server listens on, listen (http, or https with tls), with "localhost"
// for an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080"). It is
// never taken from a request's Host header, which the client chooses.
func Issuer(cfg config.Config, listen string) string {
	if cfg.BaseURL != "" {
		return strings.TrimSuffix(cfg.BaseURL, "/")
	}
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return scheme + "://" + listen
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting connections and waits up to the configured timeout for
// in-flight requests to finish.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if a.Config.BaseURL == "" {
		// The address as bound (a port of 0 is now a port).
		a.Auth.SetIssuer(Issuer(a.Config, ln.Addr().String()))
		a.Log.Info("no base_url: OAuth access tokens name the listen address as their issuer; set base_url to the URL clients and resource servers use",
			"issuer", a.Auth.Issuer())
	}
	if a.Login != nil {
		// The login policy's groups bind to ids now (a name that matches no
		// group, or a bound group deleted, is logged as a warning). An error
		// here is not fatal: each login binds again, failing if it must.
		if _, err := a.Login.BindPolicy(ctx); err != nil {
			a.Log.Error("login policy: bind the groups", "error", err.Error())
		}
	}
	// Requests outlive ctx (the signal) by up to shutdown_timeout; then
	// those still running are stopped with logging.ErrStopping.
	reqCtx, stopRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopRequests(nil)
	var running handlers
	srv := &http.Server{
		Handler:           running.track(a.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	if a.Config.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.Config.TLS.CertFile, a.Config.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
		// Every answer comes over TLS here, so browsers may be told to use
		// nothing else for a year (RFC 6797): a later plain-HTTP link to
		// the login page is then never followed in the clear. Behind a
		// proxy that terminates TLS, the proxy sends this header.
		h := srv.Handler
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
			h.ServeHTTP(w, r)
		})
	}
	usageCtx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	usageDone := make(chan struct{})
	go func() {
		a.Auth.RunUsageFlusher(usageCtx, 10*time.Second)
		close(usageDone)
	}()
	defer func() {
		stopUsage()
		<-usageDone
	}()

	if kind, _, _ := a.Config.Database(); kind != "postgres" {
		if err := a.Lock(); err != nil {
			return err
		}
		// No other server uses this database: deliveries left running
		// belong to a process that died mid-attempt. Attempt them again now
		// rather than when their lease runs out.
		if rq, ok := a.Store.(interface {
			RequeueInterrupted(context.Context, time.Time) (int64, error)
		}); ok && a.Events != nil && !a.Config.Events.Disabled {
			n, err := rq.RequeueInterrupted(ctx, time.Now().UTC())
			if err != nil {
				return err
			}
			if n > 0 {
				a.Log.Warn("deliveries interrupted by the previous stop are attempted again", "count", n)
			}
		}
	}
	// The configuration in force, for the command line (running.go).
	if a.Events != nil {
		stop := a.startRecording(ctx, ln)
		defer stop()
	}
	// Checkpoints stop after everything that writes the audit log (deferred
	// before them, so run after them): the last one anchors the final head.
	cp, err := a.checkpointPublisher()
	if err != nil {
		return err
	}
	if cp != nil {
		cpCtx, stopCP := context.WithCancel(context.WithoutCancel(ctx))
		cpDone := make(chan struct{})
		go func() {
			cp.Run(cpCtx, time.Duration(a.Config.Audit.CheckpointInterval))
			close(cpDone)
		}()
		defer func() {
			stopCP()
			<-cpDone
		}()
	}
	if a.Events != nil && !a.Config.Events.Disabled {
		// The rules come into force before the first request: an event
		// written from now on is routed by them, none before.
		if err := a.Events.Activate(ctx); err != nil {
			return err
		}
		a.logRules("rules loaded", a.RulesFile(), a.Events.Config())
		evCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
		evDone := make(chan struct{})
		go func() {
			a.Events.Run(evCtx)
			close(evDone)
		}()
		go a.watchRules(evCtx, 2*time.Second)
		// Stopped after the HTTP server (deferred first, runs last):
		// in-flight attempts finish and are recorded.
		defer func() {
			stopEvents()
			<-evDone
		}()
	}
	if a.Config.Search.Enabled {
		// The dictionary is loaded before the first request; the index
		// is read into memory meanwhile (a query waits for it).
		s, err := a.Search()
		if err != nil {
			return err
		}
		go func() {
			start := time.Now()
			st, err := s.Backend.Stats(ctx)
			if err != nil {
				a.Log.Warn("search index not loaded; the next query tries again", "err", err)
				return
			}
			a.Log.Info("search index loaded", "chunks", st.Chunks, "analyzer", st.Analyzer, "model", st.Model,
				"seconds", time.Since(start).Seconds())
		}()
	}
	// Schedules and retention: on one server of the database at a time.
	// Stopped before the checkpoints (deferred after them), as they write
	// the audit log.
	stopSingletons := a.startSingletons(ctx)
	defer stopSingletons()

	if a.Config.DebugListen != "" {
		dbg, err := a.serveDebug(ctx)
		if err != nil {
			return err
		}
		defer dbg.Close()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "timeout", time.Duration(a.Config.ShutdownTimeout).String())
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(a.Config.ShutdownTimeout))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// What is left past shutdown_timeout: connections still sending a
		// request body or reading an answer, and handlers still running.
		// The connections are closed. The handlers are stopped and waited
		// for: a write queued behind a lock another process holds would
		// otherwise commit after the last checkpoint (deferred, run after
		// this return) has signed the head. A stopped write that has not
		// begun is not applied, and its client is answered 503.
		defer srv.Close()
		n := running.count()
		if n == 0 {
			a.Log.Info("connections still open after shutdown_timeout are closed; no request was running")
			return nil
		}
		a.Log.Warn("requests still running after shutdown_timeout are stopped", "requests", n)
		stopRequests(logging.ErrStopping)
		if !running.wait(drainTimeout) {
			a.Log.Error("requests did not stop: the last audit checkpoint may not cover what they write", "requests", running.count())
			return fmt.Errorf("shutdown: %w", err)
		}
		// Their answers are written before the connections close.
		gctx, gcancel := context.WithTimeout(context.Background(), time.Second)
		defer gcancel()
		_ = srv.Shutdown(gctx)
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// drainTimeout bounds the wait for the requests stopped after
// shutdown_timeout to return. A stopped request returns at once, except a
// write the SQLite store has queued: it waits for the database lock for up
// to the store's busy timeout (10 s) before it is refused.
const drainTimeout = 15 * time.Second

// handlers counts the requests being handled, for the stop: connections
// that are only sending a body or reading an answer do not count.
type handlers struct{ n atomic.Int64 }

// track counts the requests next handles. A request with a body stops
// reading it when the request is stopped (its context ends): a client
// sending it slowly cannot hold the stop for the server's read timeout,
// and the handler can still answer.
func (h *handlers) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.n.Add(1)
		defer h.n.Add(-1)
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			defer context.AfterFunc(r.Context(), func() { _ = rc.SetReadDeadline(time.Now()) })()
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handlers) count() int64 { return h.n.Load() }

// wait waits until no request is being handled, for at most d, and reports
// whether none is.
func (h *handlers) wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for h.n.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Lock takes the serve lock of an SQLite database (PostgreSQL needs
// none): one server at a time runs on it. Serve takes it if it has not been
// taken; a caller that announces the server first takes it before, so that
// a second server fails before it says anything. Close releases it.
func (a *App) Lock() error {
	kind, loc, _ := a.Config.Database()
	if kind == "postgres" || a.unlock != nil {
		return nil
	}
	unlock, err := lockServe(loc + ".serve-lock")
	if err != nil {
		return err
	}
	a.unlock = unlock
	return nil
}

// checkpointPublisher returns what signs and publishes checkpoints of the
// audit chain's head, or nil when checkpoints are off. The key is created
// on first use. A configured key, or any existing key file, that cannot be
// used stops the server; a default key that cannot be created (a read-only
// data directory) only turns checkpoints off, with a warning.
func (a *App) checkpointPublisher() (*checkpoint.Publisher, error) {
	if a.Config.Audit.CheckpointInterval == 0 {
		a.Log.Warn("audit checkpoints are off (audit.checkpoint_interval is 0): removing the last audit records and moving the head back would go unnoticed")
		return nil, nil
	}
	path := a.Config.CheckpointKeyFile()
	key, created, err := checkpoint.LoadOrCreateKey(path)
	if err != nil {
		if _, statErr := os.Stat(path); a.Config.Audit.CheckpointKeyFile != "" || statErr == nil {
			return nil, err // a configured key, or a key file that is there but unusable
		}
		a.Log.Warn("audit checkpoints are off: the default key cannot be used (set audit.checkpoint_key_file)", "path", path, "err", err)
		return nil, nil
	}
	pub := key.Public().(ed25519.PublicKey)
	if created {
		a.Log.Warn("created the audit checkpoint key: keep it apart from the database, and its public key with the auditors",
			"path", path, "key_id", checkpoint.KeyID(pub), "public_key", checkpoint.FormatPublicKey(pub))
	}
	return &checkpoint.Publisher{Key: key, File: a.Config.CheckpointFile(), Log: a.Log, Head: a.SealedHead}, nil
}

// SealedHead returns the audit chain's head once every record committed so
// far is in the chain (on PostgreSQL, records a process that died before
// sealing them left pending are sealed first): what a checkpoint signs
// anchors every record written before it.
func (a *App) SealedHead(ctx context.Context) (int64, string, error) {
	if s, ok := a.Store.(interface {
		SealAudit(context.Context) (int, error)
	}); ok {
		if _, err := s.SealAudit(ctx); err != nil {
			return 0, "", err
		}
	}
	return a.Store.AuditHead(ctx)
}

// RunAuditMaintenance deletes audit records past retention every interval
// (and once at the start, unless another server of the database ran it
// within the interval) until ctx ends. Each run logs the chain's head —
// its last seq and hash. (The anchor verification compares the chain with
// is the signed checkpoints: checkpointPublisher.) When pruning finds the
// log altered it deletes nothing, logs it at ERROR on every run, and the
// maintenance goes on.
func (a *App) RunAuditMaintenance(ctx context.Context, every time.Duration) {
	retention := time.Duration(a.Config.Audit.Retention)
	run := func() {
		actor := directory.Actor{Kind: "system", RequestID: "audit-retention"}
		n, err := a.Directory.PruneAudit(ctx, actor, retention)
		switch {
		case errors.Is(err, directory.ErrTampered):
			a.Log.Error("audit retention refused: the audit log was altered", "err", err)
			return
		case err != nil:
			if ctx.Err() == nil {
				a.Log.Error("audit retention", "err", err)
			}
			return
		}
		a.pruneLogin(ctx)
		a.pruneOIDC(ctx)
		seq, hash, err := a.Store.AuditHead(ctx)
		if err != nil {
			return
		}
		a.Log.Info("audit chain head", "seq", seq, "hash", hash, "pruned", n, "retention", retention.String())
	}
	a.runEvery(ctx, "audit-retention", every, 0, func(context.Context) { run() })
}

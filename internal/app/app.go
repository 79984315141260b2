// Package app wires Gatehouse together: it opens the store named by the
// configuration, builds the services and the HTTP handler, and runs the
// server. It holds no logic of its own.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/google/uuid"

	gatehouse "github.com/gatehouse-id/gatehouse"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/postgres"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// Store is everything the services need from the database.
type Store interface {
	directory.Store
	auth.Store
	Ping(ctx context.Context) error
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
}

// NewID returns a new resource id: a UUIDv7 (RFC 9562), random but
// time-ordered, so that new rows land at the end of the id indexes instead of
// on random pages (cheaper inserts on both databases).
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// OpenStore opens the configured database.
func OpenStore(ctx context.Context, cfg config.Config) (Store, error) {
	kind, loc, err := cfg.Database()
	if err != nil {
		return nil, err
	}
	switch kind {
	case "postgres":
		return postgres.Open(ctx, loc, postgres.Options{})
	default:
		return sqlite.Open(ctx, loc, sqlite.Options{Synchronous: cfg.SQLiteSynchronous})
	}
}

// New opens the store and builds the services.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	reg, err := schema.NewRegistry(cfg.Extensions())
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	a := &App{Config: cfg, Log: log, Store: st, Schemas: reg}
	a.Directory = directory.NewService(st, directory.Options{
		Hasher: auth.NewArgon2id(), Policy: cfg.Policy(), NewID: NewID,
	})
	a.Auth = auth.NewService(st, auth.Options{NewID: NewID, Log: log})
	baseURL := ""
	if cfg.BaseURL != "" {
		baseURL = cfg.BaseURL + "/scim/v2"
	}
	a.SCIM = scim.New(a.Directory, a.Auth, reg, scim.Config{
		Prefix:            "/scim/v2",
		BaseURL:           baseURL,
		DefaultPageSize:   cfg.SCIM.DefaultPageSize,
		MaxPageSize:       cfg.SCIM.MaxPageSize,
		MaxPayloadSize:    cfg.SCIM.MaxPayloadBytes,
		MaxBulkOperations: cfg.SCIM.MaxBulkOperations,
	}, log)
	return a, nil
}

// Close releases the database.
func (a *App) Close() error {
	if err := a.Auth.FlushUsage(context.Background()); err != nil {
		a.Log.Error("flush token usage", "err", err)
	}
	return a.Store.Close()
}

// Handler is the whole HTTP interface.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", a.SCIM)
	mux.Handle("/scim/v2", a.SCIM)
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
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintf(w, "Gatehouse %s\nSCIM 2.0: /scim/v2\nDocumentation: /docs/scim\n", gatehouse.Version)
	})
	return logging.Middleware(a.Log, mux)
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

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting connections and waits up to the configured timeout for
// in-flight requests to finish.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if a.Config.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.Config.TLS.CertFile, a.Config.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
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
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

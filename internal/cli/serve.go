package cli

import (
	"context"
	"fmt"
	"net"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

func (e *env) serve(args []string) error {
	fs := e.newFlagSet("serve")
	var f config.Flags
	f.Register(fs, true)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(f, e.getenv)
	if err != nil {
		return err
	}
	format := cfg.Log.Format
	if format == "" {
		format = "text" // JSON on request (--log-format json)
	}
	level, err := logging.ParseLevel(cfg.Log.Level)
	if err != nil {
		return err
	}
	logOut := logging.NewBufferedWriter(e.stderr, 100*time.Millisecond)
	defer logOut.Close()
	log, err := logging.New(logOut, logging.Options{Format: format, Level: level})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	kind, loc, _ := cfg.Database()
	if kind == "postgres" {
		loc = "PostgreSQL"
	}
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	origin := cfg.BaseURL
	if origin == "" {
		origin = scheme + "://" + ln.Addr().String()
	}
	log.Info("gatehouse listening", "addr", ln.Addr().String(), "database", kind, "tls", cfg.TLS.CertFile != "")
	logOut.Flush()
	e.welcome(ctx, a, origin, loc)
	return a.Serve(ctx, ln)
}

// welcome tells a newcomer what to do next, as long as no application
// exists yet.
func (e *env) welcome(ctx context.Context, a *app.App, origin, db string) {
	apps, err := a.Auth.Apps(ctx)
	if err != nil || len(apps) > 0 {
		fmt.Fprintf(e.stderr, "Gatehouse is serving SCIM 2.0 at %s/scim/v2 (database: %s)\n", origin, db)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nGatehouse is running.\n\n")
	fmt.Fprintf(&b, "  SCIM base URL:  %s/scim/v2\n", origin)
	fmt.Fprintf(&b, "  Database:       %s\n", db)
	fmt.Fprintf(&b, "  Documentation:  %s/docs/scim\n\n", origin)
	fmt.Fprintf(&b, "No application can call it yet. In another terminal, create one and its bearer token\n")
	fmt.Fprintf(&b, "(shown once; give the same --data-dir/--database-url as the server):\n\n")
	fmt.Fprintf(&b, "  gatehouse app create my-idp\n")
	fmt.Fprintf(&b, "  gatehouse token create --app my-idp\n\n")
	fmt.Fprintf(&b, "then: curl -H \"Authorization: Bearer <token>\" %s/scim/v2/Users\n\n", origin)
	fmt.Fprint(e.stderr, b.String())
}

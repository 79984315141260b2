package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// serveGCPercent is the garbage collector's target (GOGC) a server sets:
// 400, unless GOGC is in the environment (ok is false: the runtime has
// read it). Requests leave short-lived garbage over a live heap of a few
// MiB; at Go's default of 100 the collector ran some 50 times a second
// under load, each run a cost of its own. At 400 the heap grows to five
// times what is live before a collection: tens of MiB, a fourth as many
// runs.
func serveGCPercent(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return 400, true
}

func (e *env) serve(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "serve", about: "Run the server: SCIM 2.0, OAuth 2.0, the admin API and the event pipeline.\nThe database is SQLite in ./gatehouse-data unless --data-dir or --database-url say otherwise."})
	var f config.Flags
	f.Register(fs.FlagSet, true)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments (got %s)\nRun \"gatehouse serve -h\" for its flags.", strings.Join(quoteAll(pos), " "))
	}
	cfg, err := config.Load(f, e.getenv)
	if err != nil {
		return err
	}
	// A chosen admin token that is a placeholder or easy to guess is
	// refused at every start, before anything is opened or created: on a
	// database bootstrapped already it is unused, but it says how the
	// deployment was set up.
	if v := e.getenv("GATEHOUSE_ADMIN_TOKEN"); v != "" {
		if err := auth.CheckAdminToken(v); err != nil {
			return err
		}
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
	// The first signal starts the graceful stop; a second one ends the
	// process at once (docs/operations.md). Not by restoring the signals'
	// default action: a server started in the background by a shell
	// inherits SIGINT ignored, and would ignore it again.
	again := make(chan os.Signal, 1)
	defer context.AfterFunc(ctx, func() { signal.Notify(again, syscall.SIGINT, syscall.SIGTERM) })()
	served := make(chan struct{})
	defer close(served)
	go func() {
		select {
		case sig := <-again:
			fmt.Fprintf(e.stderr, "gatehouse: %v again during the stop: exiting at once\n", sig)
			os.Exit(128 + int(sig.(syscall.Signal)))
		case <-served:
			signal.Stop(again)
		}
	}()
	if pct, ok := serveGCPercent(e.getenv); ok {
		debug.SetGCPercent(pct)
	}

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	// One server per SQLite database: a second one stops here, before it
	// listens or announces anything.
	if err := a.Lock(); err != nil {
		return err
	}

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
	// On a new database, create the admin credential: from
	// GATEHOUSE_ADMIN_TOKEN, or generated and printed once.
	generated, created, err := a.Auth.Bootstrap(ctx, e.getenv("GATEHOUSE_ADMIN_TOKEN"))
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if created {
		log.Info("created the admin application", "from_env", generated == "")
	}
	if cfg.TLS.CertFile == "" && !loopback(ln.Addr()) && len(cfg.TrustedProxies) == 0 {
		log.Warn("serving plain HTTP on a non-loopback address: bearer tokens and client secrets cross the network in clear; configure tls or a TLS-terminating proxy (trusted_proxies)")
	}
	log.Info("gatehouse listening", "addr", ln.Addr().String(), "database", kind, "tls", cfg.TLS.CertFile != "")
	logOut.Flush()
	scimBase := origin + "/scim/v2"
	if a.Config.Profile == "ram" {
		scimBase = origin // RAM's paths are at the root
	}
	signIn := origin + "/login"
	if on, _ := cfg.SignIn(); !on {
		signIn = "off: it needs https (base_url or tls; docs/sso.md)"
	}
	log.Info("sign-in", "login_page", signIn)
	e.welcome(scimBase, origin, loc, generated, created, signIn)
	// SIGHUP reloads the rules file; a bad file leaves the running rules.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := a.ReloadRules(); err != nil {
					log.Error("reload rules: the rules in force stay", "err", err)
				}
			}
		}
	}()
	return a.Serve(ctx, ln)
}

func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// welcome tells a newcomer what to do next after the first start: the
// admin token (printed here once, on stdout, never logged) and the first
// steps.
func (e *env) welcome(scimBase, origin, db, adminToken string, created bool, signIn string) {
	if !created {
		fmt.Fprintf(e.stderr, "Gatehouse is serving SCIM 2.0 at %s (database: %s)\n", scimBase, db)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nGatehouse is running.\n\n")
	fmt.Fprintf(&b, "  SCIM base URL:  %s\n", scimBase)
	fmt.Fprintf(&b, "  Token endpoint: %s/oauth2/token (RAM style: %s/v1/token)\n", origin, origin)
	fmt.Fprintf(&b, "  Admin API:      %s/admin/v1 (OpenAPI: %s/admin/v1/openapi.json)\n", origin, origin)
	fmt.Fprintf(&b, "  Sign-in:        %s\n", signIn)
	fmt.Fprintf(&b, "  Database:       %s\n\n", db)
	if adminToken != "" {
		fmt.Fprintf(&b, "An admin application was created. Its token, shown this once and never again:\n\n")
		fmt.Fprintf(&b, "  %s\n\n", adminToken)
	} else {
		fmt.Fprintf(&b, "An admin application was created with the token in GATEHOUSE_ADMIN_TOKEN.\n\n")
	}
	fmt.Fprintf(&b, "Create a SCIM client and its bearer token, from another terminal (same --data-dir/--database-url):\n\n")
	fmt.Fprintf(&b, "  gatehouse app create my-idp\n")
	fmt.Fprintf(&b, "  gatehouse token create --app my-idp\n\n")
	fmt.Fprintf(&b, "or through the admin API:\n\n")
	fmt.Fprintf(&b, "  curl -H \"Authorization: Bearer <admin token>\" -d '{\"name\":\"my-idp\"}' %s/admin/v1/apps\n\n", origin)
	fmt.Fprint(e.stdout, b.String())
}

// Package cli is Gatehouse's command line: serve, and the administration
// subcommands that work on the configured database directly.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	gatehouse "github.com/gatehouse-id/gatehouse"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// env is what a command sees of the world.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = e.serve(args[1:])
	case "app":
		err = e.app(args[1:])
	case "token":
		err = e.token(args[1:])
	case "secret":
		err = e.secret(args[1:])
	case "keys":
		err = e.keys(args[1:])
	case "rules":
		err = e.rules(args[1:])
	case "events":
		err = e.eventsCmd(args[1:])
	case "deliveries":
		err = e.deliveries(args[1:])
	case "targets":
		err = e.targetsCmd(args[1:])
	case "demo":
		err = e.demoCmd(args[1:])
	case "sync":
		err = e.syncCmd(args[1:])
	case "push":
		err = e.pushCmd(args[1:])
	case "journey":
		err = e.journey(args[1:])
	case "org":
		err = e.org(args[1:])
	case "audit":
		err = e.audit(args[1:])
	case "mlps":
		err = e.mlpsCmd(args[1:])
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "gatehouse", gatehouse.Version)
	case "help", "-h", "-help", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err == nil {
		return 0
	}
	var xe exitError
	if errors.As(err, &xe) {
		return xe.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "gatehouse: %s\n", errMessage(err))
	return 1
}

// errMessage shows domain errors by their client-facing message.
func errMessage(err error) string {
	var de *directory.Error
	if errors.As(err, &de) && de.Msg != "" {
		return de.Msg
	}
	return err.Error()
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func usage(w io.Writer) {
	fmt.Fprint(w, `Gatehouse: a SCIM 2.0 identity hub.

Usage:
  gatehouse serve [flags]                          run the server (SQLite in ./gatehouse-data by default)
  gatehouse app create|list|show|update|enable|disable|delete
                                                   manage applications: SCIM clients, server applications, admins
  gatehouse token create|list|show|enable|disable|delete --app APP
                                                   manage an application's bearer tokens (at most two)
  gatehouse secret create|list|enable|disable|delete --app APP
                                                   manage an application's OAuth 2.0 client secrets (at most two)
  gatehouse org create|list|show|update|delete     manage the organization tree
  gatehouse audit list|verify|checkpoint|key|prune read, verify (against signed checkpoints), checkpoint and prune
                                                   the hash-chained audit log
  gatehouse keys list|rotate                       the keys that sign OAuth access tokens
  gatehouse rules list|show|put|delete|check|test  the event rules (put --file RULE.yaml; test --pattern P --event E)
  gatehouse events tail [--follow]                 lifecycle and received events, as rules see them
  gatehouse events backfill --rule R [--dry-run]   route past events by a rule (rules see only events after they
                                                   came into force)
  gatehouse deliveries list|show|replay            deliveries to targets (list --failed; replay ID… or --target T)
  gatehouse targets list|enable|disable            the event targets, their queues and state
  gatehouse journey USER                           what happened to one person: origin, changes, events, deliveries
  gatehouse push TARGET [--dry-run] [--full]       bring a SCIM target level with the accounts in its scope
  gatehouse sync ldap [NAME…] [--dry-run] [--full] bring accounts in from LDAP / Active Directory
  gatehouse demo [--hires N]                       the onboarding scenario on this machine, step by step
  gatehouse mlps check PATH… | evidence [PATH…]    check Terraform directories and plans against MLPS 2.0 level 3;
                                                   the evidence report adds the identity controls Gatehouse attests
  gatehouse version

Every command takes --config, --data-dir and --database-url (or GATEHOUSE_CONFIG,
GATEHOUSE_DATA_DIR, GATEHOUSE_DATABASE_URL) and --json (the admin API's shapes).
Run "gatehouse <command> <subcommand> -h" for a command's flags.
`)
}

// newFlagSet returns a flag set that reports errors to the caller.
func (e *env) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parse parses flags, allowing them after positional arguments
// ("gatehouse app create okta --mode rfc").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// open loads the configuration and opens the database for an
// administration command. Logs go to stderr at warning level. The rules
// file's targets are built without their secrets: a command that sends
// (push) checks its own target (App.Pusher). A database that is not there
// is refused, naming where it was looked for, unless --init was given:
// only serve creates one otherwise.
func (e *env) open(f config.Flags) (*app.App, error) {
	cfg, err := config.Load(f, e.getenv)
	if err != nil {
		return nil, err
	}
	return e.openWith(cfg, f)
}

// openWith opens the database of a configuration loaded already.
func (e *env) openWith(cfg config.Config, f config.Flags) (*app.App, error) {
	log, _ := logging.New(e.stderr, logging.Options{Format: "text", Level: slog.LevelWarn})
	a, err := app.NewWith(e.ctx, cfg, log, app.Options{WithoutSecrets: true, MustExist: !f.Init, ShowRunning: true})
	if errors.Is(err, app.ErrNoDatabase) {
		return nil, fmt.Errorf("%w\n`gatehouse serve` creates the database on its first start (check --data-dir, --database-url, "+
			"GATEHOUSE_DATA_DIR, GATEHOUSE_DATABASE_URL); to create it with this command, add --init", err)
	}
	return a, err
}

// showing says, on standard error, whose configuration a command that
// describes the running system (rules, targets, journeys, events) shows:
// the one the running server recorded, when and by which server, or its
// own when no server has recorded one.
func (e *env) showing(a *app.App) {
	own := func() string {
		rf := a.Config.Events.RulesFile
		if rf == "" {
			rf = "none"
		}
		return fmt.Sprintf("this command's own (rules file: %s, events source: %s)", rf, a.Config.Events.Source)
	}
	r := a.Running
	if r == nil {
		if a.EventStore != nil {
			fmt.Fprintf(e.stderr, "No server has recorded its configuration in this database (serve does when it starts): showing %s.\n", own())
		}
		return
	}
	by := fmt.Sprintf("recorded %s by server %s (pid %d, gatehouse %s", fmtTime(r.Recorded), r.Server, r.PID, r.Version)
	if r.Stopped != nil {
		by += ", stopped " + fmtTime(*r.Stopped)
	}
	by += ")"
	if a.RunningErr != nil {
		fmt.Fprintf(e.stderr, "The configuration %s cannot be shown here: %v\nShowing %s.\n", by, a.RunningErr, own())
		return
	}
	rf := r.RulesFile
	if rf == "" {
		rf = "none"
	}
	fmt.Fprintf(e.stderr, "Showing the running configuration, %s: rules file %s, events source %s.\n", by, rf, r.Source)
	if own := a.Config.Events.RulesFile; own != "" {
		if abs, err := filepath.Abs(own); err == nil && abs != r.RulesFile {
			fmt.Fprintf(e.stderr, "This command's rules file %s is not the server's: it is not shown.\n", own)
		}
	}
	for _, o := range a.RunningDiffers {
		fmt.Fprintf(e.stderr, "Server %s runs a different configuration (recorded %s, rules file %s, events source %s).\n",
			o.Server, fmtTime(o.Recorded), cmpOr(o.RulesFile, "none"), o.Source)
	}
}

func cmpOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// cliActor is the audit identity of an operator at the command line.
func cliActor() directory.Actor {
	return directory.Actor{Kind: "cli", RequestID: logging.NewRequestID()}
}

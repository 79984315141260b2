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
	"slices"
	"strings"
	"text/tabwriter"

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

// Main runs the command line and returns the exit status: 0 on success
// (and for help, which goes to stdout), 1 when the command fails, 2 on a
// usage error (printed once, on stderr), or a command's own status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	err := e.run(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
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
	fmt.Fprintf(stderr, "gatehouse: %s\n", errMessage(err))
	return 1
}

// commands are the top-level commands, for dispatch and suggestions.
func commands() []string {
	return []string{"serve", "app", "token", "secret", "org", "users", "groups", "audit", "keys", "saml", "rules", "events",
		"deliveries", "targets", "journey", "push", "sync", "migrate", "mlps", "docs", "demo", "version", "healthcheck", "help"}
}

func (e *env) run(args []string) error {
	switch args[0] {
	case "serve":
		return e.serve(args[1:])
	case "app":
		return e.app(args[1:])
	case "token":
		return e.token(args[1:])
	case "secret":
		return e.secret(args[1:])
	case "keys":
		return e.keys(args[1:])
	case "rules":
		return e.rules(args[1:])
	case "events":
		return e.eventsCmd(args[1:])
	case "deliveries":
		return e.deliveries(args[1:])
	case "targets":
		return e.targetsCmd(args[1:])
	case "demo":
		return e.demoCmd(args[1:])
	case "sync":
		return e.syncCmd(args[1:])
	case "push":
		return e.pushCmd(args[1:])
	case "journey":
		return e.journey(args[1:])
	case "org":
		return e.org(args[1:])
	case "users":
		return e.users(args[1:])
	case "groups":
		return e.groups(args[1:])
	case "audit":
		return e.audit(args[1:])
	case "migrate":
		return e.migrate(args[1:])
	case "saml":
		return e.samlCmd(args[1:])
	case "version", "--version", "-version":
		return e.version(args[1:])
	case "healthcheck":
		return e.healthcheck(args[1:])
	case "mlps":
		return e.mlpsCmd(args[1:])
	case "docs":
		return e.docs(args[1:])
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[0] == "help" && args[1] != "help" && !strings.HasPrefix(args[1], "-") {
			// "gatehouse help app" is "gatehouse app -h".
			if !slices.Contains(commands(), args[1]) {
				return unknownCommand(args[1])
			}
			return e.run(append(slices.Clone(args[1:]), "-h"))
		}
		usage(e.stdout)
		return nil
	}
	return unknownCommand(args[0])
}

func unknownCommand(name string) error {
	msg := fmt.Sprintf("unknown command %q", name)
	if s := suggest(name, commands()); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return usagef("%s\nRun \"gatehouse help\" for the list of commands.", msg)
}

// suggest returns the option closest to word, when it is close enough to
// be what was meant ("" otherwise): at most two edits away (one for short
// words), or the only option word is a prefix of.
func suggest(word string, options []string) string {
	best, bestD := "", 0
	for _, o := range options {
		d := editDistance(strings.ToLower(word), o)
		if best == "" || d < bestD {
			best, bestD = o, d
		}
	}
	limit := 2
	if len(word) <= 3 {
		limit = 1
	}
	if best != "" && bestD <= limit {
		return best
	}
	var prefixed []string
	for _, o := range options {
		if len(word) >= 2 && strings.HasPrefix(o, strings.ToLower(word)) {
			prefixed = append(prefixed, o)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// editDistance is the Damerau–Levenshtein distance (optimal string
// alignment) between a and b: "tokn" is one edit from "token", "lsit" one
// from "list".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
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
  gatehouse users list [--filter F]                list and search users (SCIM filters: 'userName sw "a"')
  gatehouse groups list [--filter F]               list and search groups
  gatehouse audit list|verify|checkpoint|key|prune read, verify (against signed checkpoints), checkpoint and prune
                                                   the hash-chained audit log
  gatehouse keys list|rotate                       the keys that sign access tokens and ID tokens
  gatehouse saml create|show|update|metadata|keys|rotate-key
                                                   SAML service providers (GitBook, Alibaba Cloud), the IdP's keys
  gatehouse rules list|show|put|delete|check|test  the event rules (put --file RULE.yaml; test --pattern P --event E)
  gatehouse events tail [--follow]                 lifecycle and received events, as rules see them
  gatehouse events backfill --rule R [--dry-run]   route past events by a rule (rules see only events after they
                                                   came into force)
  gatehouse deliveries list|show|replay            deliveries to targets (list --failed; replay ID… or --target T)
  gatehouse targets list|test|enable|disable       the event targets, their queues and state; test sends a test event
  gatehouse journey USER                           what happened to one person: origin, changes, events, deliveries
  gatehouse push TARGET [--dry-run] [--full]       bring a SCIM target level with the accounts in its scope
  gatehouse sync ldap [NAME…] [--dry-run] [--full] bring accounts in from LDAP / Active Directory
  gatehouse migrate status|up [--dry-run]          the database schema: migrations applied and pending
  gatehouse docs index|search|status|eval         documentation search: index DIR|gitbook:SPACE --groups G, search
                                                   as a user, evaluate (nDCG@10, Recall@10, ACL leakage)
  gatehouse demo [--hires N]                       the onboarding scenario on this machine, step by step
  gatehouse mlps check PATH… | evidence [PATH…]    check Terraform directories and plans against MLPS 2.0 level 3;
                                                   the evidence report adds the identity controls Gatehouse attests
  gatehouse healthcheck [--url URL]                exit 0 if the server answers 200 on /readyz (a container's HEALTHCHECK)
  gatehouse version [--json]                       version, commit and build date
  gatehouse help [COMMAND]                         this text, or a command's subcommands and flags

Every command takes --config, --data-dir and --database-url (or GATEHOUSE_CONFIG,
GATEHOUSE_DATA_DIR, GATEHOUSE_DATABASE_URL) and --json (the admin API's shapes).
Run "gatehouse <command> -h" for a command's subcommands,
"gatehouse <command> <subcommand> -h" for its arguments and flags.
`)
}

// arg is a positional argument, as help shows it.
type arg struct {
	name string // NAME, ID…
	help string // the application's name
}

// cmdHelp is what a command's help says besides its flags.
type cmdHelp struct {
	name  string // "app create"
	args  []arg
	more  bool   // the last argument may be repeated (ID…)
	need  string // required flags, as the usage line shows them ("--app APP")
	about string // one paragraph
}

// flagSet is a command's flags, with its help. Errors and help are printed
// by Main, once: errors on stderr (exit status 2), help on stdout.
type flagSet struct {
	*flag.FlagSet
	e *env
	h cmdHelp
}

// newFlagSet returns the flag set of a command.
func (e *env) newFlagSet(h cmdHelp) *flagSet {
	fs := flag.NewFlagSet(h.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, e: e, h: h}
}

// synopsis is the command's usage line.
func (h cmdHelp) synopsis() string {
	s := "gatehouse " + h.name
	for i, a := range h.args {
		if h.more && i == len(h.args)-1 {
			s += " [" + a.name + "…]"
			continue
		}
		s += " " + a.name
	}
	if h.need != "" {
		s += " " + h.need
	}
	return s + " [flags]"
}

// printHelp writes the command's help: usage line, what it does, its
// arguments and its flags.
func (fs *flagSet) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n", fs.h.synopsis())
	if fs.h.about != "" {
		fmt.Fprintf(w, "\n%s\n", fs.h.about)
	}
	if len(fs.h.args) > 0 {
		fmt.Fprintf(w, "\nArguments:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, a := range fs.h.args {
			fmt.Fprintf(tw, "  %s\t%s\n", a.name, a.help)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parse parses flags, allowing them after positional arguments
// ("gatehouse app create okta --mode rfc"); after "--" everything is
// positional. -h prints the help on stdout and returns flag.ErrHelp; a bad
// flag is a usage error, with a suggestion for a mistyped name.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var pos []string
	for {
		before := args
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printHelp(fs.e.stdout)
				return nil, flag.ErrHelp
			}
			return nil, fs.flagError(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if used := len(before) - len(args); used > 0 && before[used-1] == "--" {
			// The flag package stopped at "--" (and took it).
			return append(pos, args...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// flagError turns the flag package's error into a usage error that names
// the command and, for an unknown flag, the closest known one.
func (fs *flagSet) flagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var known []string
		fs.VisitAll(func(f *flag.Flag) { known = append(known, f.Name) })
		msg = fmt.Sprintf("unknown flag --%s", strings.TrimPrefix(name, "-"))
		if s := suggest(strings.TrimPrefix(name, "-"), known); s != "" {
			msg += fmt.Sprintf("; did you mean --%s?", s)
		}
	}
	return usagef("%s: %s\nRun \"gatehouse %s -h\" for its arguments and flags.", fs.h.name, msg, fs.h.name)
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
	return e.openFor(cfg, f, false)
}

// openFor opens the database of a configuration loaded already; for a dry
// run (dry), which writes nothing, never creating it, --init or not.
func (e *env) openFor(cfg config.Config, f config.Flags, dry bool) (*app.App, error) {
	log, _ := logging.New(e.stderr, logging.Options{Format: "text", Level: slog.LevelWarn})
	a, err := app.NewWith(e.ctx, cfg, log, app.Options{WithoutSecrets: true, MustExist: dry || !f.Init, ShowRunning: true})
	if dry && errors.Is(err, app.ErrNoDatabase) {
		return nil, fmt.Errorf("%w\nA dry run writes nothing, not even a new database (--init does not apply to it): "+
			"check --data-dir, --database-url, GATEHOUSE_DATA_DIR, GATEHOUSE_DATABASE_URL, or run it once the database exists", err)
	}
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

package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
)

// syncCmd is `gatehouse sync ldap …`: accounts in from a directory.
func (e *env) syncCmd(args []string) error {
	g := &group{name: "sync", about: "Bring accounts in from a source.", order: []string{"ldap"},
		subs: map[string]*sub{"ldap": {about: "from the LDAP / Active Directory directories of the configuration",
			args: []arg{{"NAME", "a configured directory (default: all of them)"}}, more: true}}}
	switch {
	case len(args) == 0:
		return usagef("sync needs a source: ldap (gatehouse sync ldap [NAME…] [--dry-run] [--full] [--json] [--relink USERNAME…])")
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		g.printHelp(e.stdout)
		return flag.ErrHelp
	case args[0] != "ldap":
		return g.unknown(args[0])
	}
	h := g.help("ldap")
	h.about = "Bring accounts in from the directories configured under ldap: (docs/ldap.md): create, update, disable."
	fs := e.newFlagSet(h)
	var f config.Flags
	f.Register(fs.FlagSet, false)
	dry := fs.Bool("dry-run", false, "read the directory and print what would change; write nothing")
	full := fs.Bool("full", false, "read every entry, not only those changed since the last run")
	asJSON := fs.Bool("json", false, "print JSON lines (one per change or failure, then the summary), as when the output is not a terminal")
	verbose := fs.Bool("v", false, "on a terminal, print every change (a dry run always does)")
	var relink []string
	fs.Func("relink", "`USERNAME`: the entry with this user name is the same person as the account it names, whose entry has gone (a re-hire without a matching employeeNumber); it takes the account over. Repeatable", func(v string) error {
		if v = strings.TrimSpace(v); v == "" {
			return errors.New("give a user name")
		}
		relink = append(relink, v)
		return nil
	})
	names, err := fs.parse(args[1:])
	if err != nil {
		return err
	}
	cfg, err := config.Load(f, e.getenv)
	if err != nil {
		return err
	}
	cfgs := cfg.LDAP
	if len(cfgs) == 0 {
		return errors.New("no directory is configured: add one under ldap: in the configuration file (see docs/ldap.md)")
	}
	if len(names) > 0 {
		var pick []ldapsync.Config
		for _, n := range names {
			i := -1
			for j, c := range cfgs {
				if c.Name == n {
					i = j
				}
			}
			if i < 0 {
				var known []string
				for _, c := range cfgs {
					known = append(known, c.Name)
				}
				return usagef("sync ldap: no directory named %q (configured: %s)", n, strings.Join(known, ", "))
			}
			pick = append(pick, cfgs[i])
		}
		cfgs = pick
	}
	a, err := e.openFor(cfg, f, *dry)
	if err != nil {
		return err
	}
	defer a.Close()
	links, ok := a.Store.(provision.LinkStore)
	if !ok {
		return errors.New("this database keeps no provisioning links")
	}
	out := &syncOutput{w: e.stdout, human: !*asJSON && isTerminal(e.stdout), verbose: *verbose || *dry}
	if out.human && isTerminal(e.stderr) {
		out.bar = e.stderr
	}
	failed := false
	for _, c := range cfgs {
		s, err := ldapsync.New(c, ldapsync.Deps{Dir: a.Directory, Links: links, Getenv: e.getenv})
		if err != nil {
			return err
		}
		sum, err := s.Run(e.ctx, ldapsync.Options{DryRun: *dry, Full: *full, Progress: out.progress, Relink: relink})
		if err != nil {
			// No summary of a run that did not finish: only what it did
			// before it stopped, if anything.
			if sum != nil && sum.Listed > 0 {
				out.stopped(sum, err)
			}
			return err
		}
		out.summary(sum)
		failed = failed || sum.ErrorCount > 0
	}
	if failed {
		// Finished, but some objects failed (they are listed above).
		return exitError{3}
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// syncOutput prints a sync's progress: on a terminal, a progress bar (on
// stderr), failures, the plan of a dry run and a summary table; otherwise
// JSON lines.
type syncOutput struct {
	w       io.Writer
	human   bool
	verbose bool
	bar     io.Writer // nil: no progress bar

	mu      sync.Mutex
	drawn   bool
	lastBar time.Time
}

func (o *syncOutput) progress(p ldapsync.Progress) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c := p.Change; c != nil && (c.Op == "error" || c.Op == "keep" || o.verbose || !o.human) {
		o.clearBar()
		if o.human {
			fmt.Fprintln(o.w, changeLine(c))
		} else {
			line := struct {
				Type string `json:"type"`
				*ldapsync.Change
			}{"change", c}
			if c.Op == "error" {
				line.Type = "error"
			}
			b, _ := json.Marshal(line)
			fmt.Fprintln(o.w, string(b))
		}
	}
	if o.bar != nil && (time.Since(o.lastBar) > 100*time.Millisecond || p.Done == p.Total) {
		o.lastBar = time.Now()
		fmt.Fprintf(o.bar, "\r\033[K%s", barText(p))
		o.drawn = true
	}
}

func (o *syncOutput) clearBar() {
	if o.drawn {
		fmt.Fprint(o.bar, "\r\033[K")
		o.drawn = false
	}
}

// barText draws "users  [#######.............]  1,234/10,000".
func barText(p ldapsync.Progress) string {
	if p.Total <= 0 {
		return fmt.Sprintf("%-13s %s", p.Phase, thousands(p.Done))
	}
	const width = 30
	n := min(width, p.Done*width/p.Total)
	return fmt.Sprintf("%-13s [%s%s] %s/%s", p.Phase, strings.Repeat("#", n), strings.Repeat(".", width-n), thousands(p.Done), thousands(p.Total))
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// changeLine is one change for a human: "update User uid=ada,… (title)".
func changeLine(c *ldapsync.Change) string {
	what := c.DN
	if what == "" {
		what = c.Name
	}
	if what == "" {
		what = c.RemoteID
	}
	s := fmt.Sprintf("%-8s %-12s %s", c.Op, c.Kind, what)
	var detail []string
	if len(c.Changed) > 0 {
		detail = append(detail, strings.Join(c.Changed, ", "))
	}
	if c.Added > 0 || c.Removed > 0 {
		detail = append(detail, fmt.Sprintf("+%d −%d members", c.Added, c.Removed))
	}
	if c.Error != "" {
		detail = append(detail, c.Error)
	}
	if len(detail) > 0 {
		s += " (" + strings.Join(detail, "; ") + ")"
	}
	return s
}

func (o *syncOutput) summary(s *ldapsync.Summary) { o.report(s, nil) }

// stopped reports what a run that failed did before it stopped: a line of
// type "stopped" (not "summary") with the error, or a table under a
// heading that says so.
func (o *syncOutput) stopped(s *ldapsync.Summary, err error) { o.report(s, err) }

func (o *syncOutput) report(s *ldapsync.Summary, failed error) {
	if s == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearBar()
	if !o.human {
		line := struct {
			Type string `json:"type"`
			*ldapsync.Summary
			Error string `json:"error,omitempty"`
		}{"summary", s, ""}
		if failed != nil {
			line.Type, line.Error = "stopped", failed.Error()
		}
		b, _ := json.Marshal(line)
		fmt.Fprintln(o.w, string(b))
		return
	}
	kind := "incremental run"
	if s.Full {
		kind = "full run"
	}
	if failed != nil {
		kind += " stopped by an error (below) before it finished"
	}
	fmt.Fprintf(o.w, "ldap %s: %s, %s accounts listed, %s read in full, %.1fs", s.Name, kind, thousands(s.Listed), thousands(s.Read), s.Seconds)
	if s.DryRun {
		fmt.Fprint(o.w, " — dry run: nothing was written")
	}
	fmt.Fprintln(o.w)
	row := func(name string, c ldapsync.Counts) []string {
		return []string{name, thousands(c.Created), thousands(c.Updated), thousands(c.Moved), thousands(c.Disabled), thousands(c.Enabled),
			thousands(c.Deleted), thousands(c.Unchanged), thousands(c.Failed)}
	}
	_ = table(o.w, []string{"", "CREATED", "UPDATED", "MOVED", "DISABLED", "ENABLED", "DELETED", "UNCHANGED", "FAILED"},
		[][]string{row("users", s.Users), row("groups", s.Groups), row("organizations", s.Orgs)})
	if s.UnresolvedMembers > 0 {
		fmt.Fprintf(o.w, "%s group members are no synchronised account (outside the base DNs or the user filter).\n", thousands(s.UnresolvedMembers))
	}
	if s.ErrorCount > 0 {
		fmt.Fprintf(o.w, "%s objects failed (listed above).\n", thousands(s.ErrorCount))
	}
}

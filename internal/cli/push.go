package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// pushCmd is `gatehouse push TARGET [--dry-run] [--full] [--json]`:
// IDaaS's One-click Push of the accounts in a target's scope.
func (e *env) pushCmd(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "push", args: []arg{{"TARGET", "a SCIM target of the rules file with a push section"}},
		about: "Bring a SCIM target level with the accounts in its scope (IDaaS's One-click Push): create, update, deactivate."})
	var f config.Flags
	f.Register(fs.FlagSet, false)
	dry := fs.Bool("dry-run", false, "print the plan (what would be created, updated, deactivated); change nothing")
	full := fs.Bool("full", false, "read and compare every account downstream, trusting nothing the links remember")
	asJSON := fs.Bool("json", false, "print JSON lines (one per account, then the summary), as when the output is not a terminal")
	verbose := fs.Bool("v", false, "on a terminal, print every account (a dry run always does)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("push: give the target (a SCIM target of the rules file with a push section): gatehouse push TARGET [--dry-run]")
	}
	cfg, err := config.Load(f, e.getenv)
	if err != nil {
		return err
	}
	a, err := e.openFor(cfg, f, *dry)
	if err != nil {
		return err
	}
	defer a.Close()
	p, err := a.Pusher(e.ctx, pos[0])
	if err != nil {
		return err
	}
	total := 0
	if page, err := a.Directory.Users(e.ctx, directory.Profile{TargetOrgID: directory.RootOrgID, Scope: p.Scope}, directory.Query{Count: true}); err == nil {
		total = page.Total
	}
	out := &pushOutput{w: e.stdout, human: !*asJSON && isTerminal(e.stdout), verbose: *verbose || *dry, total: total, start: time.Now(),
		counts: map[string]int{}}
	if out.human && isTerminal(e.stderr) {
		out.bar = e.stderr
	}
	start := time.Now()
	sum, err := p.Run(e.ctx, provision.PushOptions{DryRun: *dry, Full: *full, Progress: out.item})
	if sum != nil {
		out.summary(sum)
	}
	if !*dry {
		if rerr := a.RecordPush(e.ctx, cliActor(), pos[0], "cli", start, sum, err); rerr != nil {
			fmt.Fprintf(e.stderr, "gatehouse: push %s: cannot record the run in the audit log: %v\n", pos[0], rerr)
			if err == nil {
				err = rerr
			}
		}
	}
	if err != nil {
		return err
	}
	if sum.Errors > 0 {
		return exitError{3} // finished, but some accounts failed (listed above)
	}
	return nil
}

// pushOutput prints a push: on a terminal a progress bar (stderr), the
// failures (and with -v or a dry run every account) and a summary;
// otherwise JSON lines.
type pushOutput struct {
	w       io.Writer
	human   bool
	verbose bool
	bar     io.Writer
	total   int
	start   time.Time

	mu      sync.Mutex
	done    int
	counts  map[string]int
	drawn   bool
	lastBar time.Time
}

func (o *pushOutput) item(it provision.Item) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done++
	o.counts[it.Action]++
	if !o.human {
		line := struct {
			Type string `json:"type"`
			provision.Item
		}{"account", it}
		if it.Action == "error" {
			line.Type = "error"
		}
		b, _ := json.Marshal(line)
		fmt.Fprintln(o.w, string(b))
		return
	}
	if it.Action == "error" || (o.verbose && it.Action != "unchanged") {
		o.clear()
		name := it.UserName
		if name == "" {
			name = it.UserID
		}
		if name == "" {
			name = "(downstream " + it.RemoteID + ")"
		}
		line := fmt.Sprintf("%-10s %s", it.Action, name)
		if it.Error != "" {
			line += ": " + it.Error
		}
		fmt.Fprintln(o.w, line)
	}
	if o.bar != nil && time.Since(o.lastBar) > 100*time.Millisecond {
		o.lastBar = time.Now()
		fmt.Fprintf(o.bar, "\r\033[K%s", o.barText())
		o.drawn = true
	}
}

func (o *pushOutput) clear() {
	if o.drawn {
		fmt.Fprint(o.bar, "\r\033[K")
		o.drawn = false
	}
}

func (o *pushOutput) barText() string {
	const width = 30
	frac := 0.0
	if o.total > 0 {
		frac = min(1, float64(o.done)/float64(o.total))
	}
	n := int(frac * width)
	rate := float64(o.done) / max(time.Since(o.start).Seconds(), 0.001)
	return fmt.Sprintf("[%s%s] %d/%d  %.0f/s  %s", strings.Repeat("#", n), strings.Repeat(".", width-n), o.done, o.total, rate, countsText(o.counts))
}

func countsText(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (o *pushOutput) summary(s *provision.Summary) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bar != nil {
		o.clear()
	}
	if !o.human {
		line := struct {
			Type string `json:"type"`
			*provision.Summary
		}{"summary", s}
		b, _ := json.Marshal(line)
		fmt.Fprintln(o.w, string(b))
		return
	}
	what := "Pushed"
	if s.DryRun {
		what = "Dry run of the push to"
	}
	fmt.Fprintf(o.w, "%s %s: %d accounts in scope, in %s.\n", what, s.Target, s.InScope, s.Duration)
	for _, w := range s.Warnings {
		fmt.Fprintf(o.w, "warning: %s\n", w)
	}
	var rows [][]string
	for _, k := range []string{"create", "update", "unchanged", "deactivate", "delete", "skip", "error"} {
		if n := s.Actions[k]; n > 0 || k == "error" {
			rows = append(rows, []string{k, fmt.Sprint(n)})
		}
	}
	_ = table(o.w, []string{"ACTION", "ACCOUNTS"}, rows)
}

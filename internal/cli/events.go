package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// exitError ends a command with a status of its own (rules test: 1 for no
// match) after its output.
type exitError struct{ code int }

func (e exitError) Error() string { return "exit " + strconv.Itoa(e.code) }

// ---- rules

func (e *env) rules(args []string) error {
	if len(args) > 0 && args[0] == "test" {
		return e.rulesTest(args[1:])
	}
	if len(args) > 0 && args[0] == "check" {
		return e.rulesCheck(args[1:])
	}
	var file *string
	subs := map[string]*sub{
		// test and check need no database: rulesTest and rulesCheck run them.
		"test":  {about: "say whether a pattern matches an event, and why (exit 0 match, 1 no match, 2 bad input)"},
		"check": {about: "check a rules file as the server would read it (opens no database)"},
		"list": {about: "list the rules in force: from the rules file and made with put", run: func(c *cmd) error {
			c.e.showing(c.a)
			rs, err := c.a.Admin.ListRules()
			if err != nil {
				return err
			}
			return c.print(admin.Items(rs), func() {
				var rows [][]string
				for _, r := range rs {
					var ts []string
					for _, t := range r.Targets {
						ts = append(ts, t.Target)
					}
					pat, _ := json.Marshal(r.Pattern)
					state := "on"
					if r.Disabled {
						state = "off"
					}
					rows = append(rows, []string{r.Name, r.Origin, state, strings.Join(ts, ", "), string(pat)})
				}
				_ = table(c.e.stdout, []string{"RULE", "ORIGIN", "STATE", "TARGETS", "PATTERN"}, rows)
			})
		}},
		"show": {about: "show a rule", args: []arg{{"RULE", "the rule's name"}}, run: func(c *cmd) error {
			c.e.showing(c.a)
			r, err := c.a.Admin.Rule(c.pos[0])
			if err != nil {
				return err
			}
			return c.print(r, func() { _ = printJSON(c.e.stdout, r) })
		}},
		"put": {
			about: "create or replace a rule (not one of the rules file's) from --file RULE.yaml",
			flags: func(fs *flag.FlagSet) func() error {
				file = fs.String("file", "", "the rule: YAML or JSON (name, pattern, targets, …), - for standard input")
				return nil
			},
			run: func(c *cmd) error {
				if *file == "" {
					return usagef("rules put: give --file RULE.yaml")
				}
				src, err := readInput(c.e, *file)
				if err != nil {
					return usagef("rules put: %v", err)
				}
				r, err := admin.DecodeRule(src)
				if err != nil {
					return usagef("rules put: %s: %s", *file, directory.Message(err))
				}
				created, err := c.a.Admin.PutRule(c.e.ctx, cliActor(), r)
				if err != nil {
					return err
				}
				verb := "replaced"
				if created {
					verb = "created"
				}
				// The API's answer to PUT /rules/{name}.
				return c.print(admin.RuleView{RuleSpec: r, Origin: "api"}, func() {
					c.printf("Rule %s %s; servers put it in force within seconds.\n", r.Name, verb)
				})
			},
		},
		"delete": {about: "delete a rule made with put", args: []arg{{"RULE", "the rule's name"}}, run: func(c *cmd) error {
			if err := c.a.Admin.DeleteRule(c.e.ctx, cliActor(), c.pos[0]); err != nil {
				return err
			}
			return c.print(map[string]any{"name": c.pos[0], "deleted": true}, func() {
				c.printf("Rule %s deleted.\n", c.pos[0])
			})
		}},
	}
	return e.runGroup(&group{name: "rules", about: "The event rules: which events go to which targets, transformed how.",
		order: []string{"list", "show", "put", "delete", "check", "test"}, subs: subs}, args)
}

// rulesCheck is `gatehouse rules check [--file F]`: the rules file (by
// default events.rules_file) checked as serve would load it, every
// variable set. It needs no database.
func (e *env) rulesCheck(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "rules check", about: "Check a rules file as the server would read it: every variable it names must be set.\nIt opens no database."})
	var f config.Flags
	f.Register(fs.FlagSet, false)
	file := fs.String("file", "", "the rules file to check (default: events.rules_file)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("rules check takes no arguments")
	}
	cfg, err := config.Load(f, e.getenv)
	if err != nil {
		return err
	}
	path := *file
	if path == "" {
		path = cfg.Events.RulesFile
	}
	if path == "" {
		return usagef("rules check: give --file or configure events.rules_file")
	}
	// A check is for the server: every variable must be set.
	env, err := app.EventEnv(cfg, false)
	if err != nil {
		return err
	}
	ec, rf, err := events.LoadFile(path, env)
	if err != nil {
		return err
	}
	// Rules that can match nothing do not make the file invalid: they are
	// warned about.
	warnings := ec.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"rules": len(rf.Rules), "targets": len(rf.Targets), "warnings": warnings})
	}
	fmt.Fprintf(e.stdout, "%s is valid: %d rules, %d targets.\n", path, len(rf.Rules), len(rf.Targets))
	return nil
}

// readInput reads a file, or standard input for "-".
func readInput(e *env, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	}
	return os.ReadFile(name)
}

// rulesTest is `gatehouse rules test --pattern P.json --event E.json`: the
// verdict and why; exit 0 on a match, 1 on none, 2 on bad input (as `aws
// events test-event-pattern`). It needs no database.
func (e *env) rulesTest(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "rules test", about: "Say whether --pattern matches --event, and why: exit 0 on a match, 1 on none, 2 on bad input.\nIt needs no database."})
	pattern := fs.String("pattern", "", "the pattern: a JSON file, or JSON text")
	event := fs.String("event", "", "the event: a JSON file, or JSON text (- for standard input)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *pattern == "" || *event == "" {
		return usagef("rules test: give --pattern and --event")
	}
	read := func(what, v string) ([]byte, error) {
		t := strings.TrimSpace(v)
		if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			return []byte(t), nil
		}
		b, err := readInput(e, v)
		if err != nil {
			return nil, usagef("rules test: %s: %v", what, err)
		}
		return b, nil
	}
	p, err := read("--pattern", *pattern)
	if err != nil {
		return err
	}
	ev, err := read("--event", *event)
	if err != nil {
		return err
	}
	res, err := admin.TestPattern(p, ev)
	if err != nil {
		return usagef("%s", errMessage(err))
	}
	if *asJSON {
		_ = printJSON(e.stdout, res)
	} else if res.Match {
		fmt.Fprintf(e.stdout, "match: %s\n", res.Reason)
	} else {
		fmt.Fprintf(e.stdout, "no match: %s\n", res.Reason)
	}
	if !res.Match {
		return exitError{1}
	}
	return nil
}

// ---- events

func (e *env) eventsCmd(args []string) error {
	var bf events.BackfillRequest
	var follow *bool
	var after *int64
	var limit *int
	subs := map[string]*sub{
		"tail": {
			about: "print recent events (and new ones with --follow), as rules see them",
			flags: func(fs *flag.FlagSet) func() error {
				follow = fs.Bool("follow", false, "keep printing new events")
				after = fs.Int64("after", -1, "start after this event seq (default: the last --limit events)")
				limit = fs.Int("limit", 20, "how many recent events to start with")
				return nil
			},
			run: func(c *cmd) error { return c.tail(*after, *limit, *follow) },
		},
		"backfill": {
			about: "route the past events a rule matches, as if it had been in force (--dry-run: say what would be queued)",
			flags: func(fs *flag.FlagSet) func() error {
				fs.StringVar(&bf.Rule, "rule", "", "the rule whose past events to route (required)")
				since := fs.String("since", "", "only events from this time: 2026-03-01, an RFC 3339 time, or a duration back from now (72h)")
				until := fs.String("until", "", "only events before this time (same forms)")
				fs.BoolVar(&bf.DryRun, "dry-run", false, "say what would be queued, queue nothing")
				return func() error {
					if bf.Rule == "" {
						return usagef("events backfill needs --rule NAME")
					}
					var err error
					if bf.Since, err = parseWhen("since", *since); err != nil {
						return err
					}
					bf.Until, err = parseWhen("until", *until)
					return err
				}
			},
			run: func(c *cmd) error { return c.backfill(bf) },
		},
	}
	return e.runGroup(&group{name: "events", about: "Lifecycle and received events.", order: []string{"tail", "backfill"}, subs: subs}, args)
}

// parseWhen reads a time: a date, an RFC 3339 time, or a duration back
// from now; "" is none.
func parseWhen(flagName, s string) (time.Time, error) {
	t, err := admin.ParseWhen(flagName, s, time.Now())
	if err != nil {
		return time.Time{}, usagef("--%s", directory.Message(err))
	}
	return t, nil
}

// backfill routes past events by one rule (or says what it would).
func (c *cmd) backfill(req events.BackfillRequest) error {
	rep, err := c.a.Admin.Backfill(c.e.ctx, cliActor(), req)
	if r := c.a.Running; errors.Is(err, directory.ErrNotFound) && r != nil &&
		slices.ContainsFunc(r.Rules, func(s events.RuleSpec) bool { return s.Name == req.Rule && !s.Disabled }) {
		// The backfill routes by this process's rules; the server's rules
		// file is not in its environment.
		return directory.Errorf(directory.ErrNotFound, "rule",
			"rule %q is in force on the running server (rules file %s) but not in this command's rules (%s): a backfill routes by the command's own rules; "+
				"run it with the server's rules file (GATEHOUSE_RULES_FILE=%s), or through the server (POST /admin/v1/events/backfill)",
			req.Rule, r.RulesFile, cmpOr(c.a.Config.Events.RulesFile, "no rules file"), r.RulesFile)
	}
	if err != nil {
		return err
	}
	return c.print(rep, func() {
		verb := "queued"
		if rep.DryRun {
			verb = "would queue"
		}
		var targets []string
		for _, t := range slices.Sorted(maps.Keys(rep.Targets)) {
			targets = append(targets, fmt.Sprintf("%s: %d", t, rep.Targets[t]))
		}
		c.printf("Rule %s matches %d of the %d past events kept; %s %d deliveries", rep.Rule, rep.Matched, rep.Events, verb, rep.Queued)
		if len(targets) > 0 {
			c.printf(" (%s)", strings.Join(targets, ", "))
		}
		c.printf(".\n")
		if rep.Existing > 0 {
			c.printf("%d the rule had routed already: not again.\n", rep.Existing)
		}
		if rep.Failed > 0 {
			c.printf("%d payloads could not be built: dead deliveries (gatehouse deliveries list --failed says why).\n", rep.Failed)
		}
		if rep.Rebased > 0 {
			c.printf("%d of them are of accounts that have changed since the event: the target gets each account's state now, not the event's.\n", rep.Rebased)
		}
		if rep.Skipped > 0 {
			c.printf("%d not queued: events of accounts that have changed since, which would act on a state the account has left.\n", rep.Skipped)
		}
		if len(rep.Sample) > 0 {
			var rows [][]string
			for _, it := range rep.Sample {
				rows = append(rows, []string{strconv.FormatInt(it.EventSeq, 10), fmtTime(it.EventTime), it.EventType, it.Subject, it.Target, it.Action})
			}
			c.printf("\n")
			_ = table(c.e.stdout, []string{"SEQ", "TIME", "EVENT", "SUBJECT", "TARGET", "ACTION"}, rows)
			if more := rep.Queued - len(rep.Sample); more > 0 {
				c.printf("… and %d more\n", more)
			}
		}
		if len(rep.Stale) > 0 {
			var rows [][]string
			for _, it := range rep.Stale {
				rows = append(rows, []string{strconv.FormatInt(it.EventSeq, 10), it.EventType, it.Subject, it.Target, it.Action, it.Note})
			}
			c.printf("\nEvents whose account has changed since:\n")
			_ = table(c.e.stdout, []string{"SEQ", "EVENT", "SUBJECT", "TARGET", "ACTION", "WHY"}, rows)
			if more := rep.Rebased + rep.Skipped - len(rep.Stale); more > 0 {
				c.printf("… and %d more\n", more)
			}
		}
		switch {
		case rep.DryRun && rep.Queued > 0:
			c.printf("\nRun it again without --dry-run to queue them.\n")
		case rep.Queued > 0:
			c.printf("\nA running server delivers them now.\n")
		}
	})
}

// tail prints events (their documents as rules see them), one JSON line
// each, or a table.
func (c *cmd) tail(after int64, limit int, follow bool) error {
	ev := c.a.EventStore
	if ev == nil || c.a.Events == nil {
		return errors.New("the event pipeline is not available on this database")
	}
	c.e.showing(c.a)
	ctx := c.e.ctx
	if after < 0 {
		// Start with the last `limit` events.
		var last int64
		for {
			recs, err := ev.EventsAfter(ctx, last, 1000)
			if err != nil {
				return err
			}
			if len(recs) < 1000 {
				if n := len(recs); n > 0 {
					last = recs[n-1].Seq
				}
				break
			}
			last = recs[len(recs)-1].Seq
		}
		after = max(0, last-int64(limit))
	}
	for {
		recs, err := ev.EventsAfter(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, r := range recs {
			doc, err := c.a.Events.Render(ctx, r)
			if err != nil {
				return err
			}
			if c.asJSON {
				fmt.Fprintln(c.e.stdout, string(doc))
			} else {
				by := actorText(r.Actor)
				if r.Source != "" {
					by = "received from " + by + " (source " + r.Source + ")"
				}
				c.printf("%-6d %s  %-20s %-40s %s\n", r.Seq, r.Time.UTC().Format(time.DateTime), r.Type, r.Subject, by)
			}
			after = r.Seq
		}
		if !follow {
			return nil
		}
		if len(recs) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

func actorText(a directory.Actor) string {
	if a.AppName != "" {
		return a.Kind + ":" + a.AppName
	}
	return a.Kind
}

// ---- deliveries

func (e *env) deliveries(args []string) error {
	var q events.DeliveryQuery
	var failed *bool
	var rr admin.ReplayRequest
	subs := map[string]*sub{
		"list": {
			about: "list deliveries, newest first",
			flags: func(fs *flag.FlagSet) func() error {
				failed = fs.Bool("failed", false, "only dead deliveries (failed permanently or out of attempts)")
				fs.StringVar(&q.Target, "target", "", "only this target")
				fs.StringVar(&q.Rule, "rule", "", "only this rule")
				fs.StringVar(&q.State, "state", "", "only this state: pending, running, delivered, dead")
				fs.StringVar(&q.EventID, "event", "", "only this event id")
				fs.IntVar(&q.Limit, "limit", 50, "how many, newest first (at most 1000)")
				return func() error { return limitRange(q.Limit, 1000) }
			},
			run: func(c *cmd) error {
				if *failed {
					q.State = events.StateDead
				}
				ds, err := c.a.Admin.Deliveries(c.e.ctx, q)
				if err != nil {
					return err
				}
				return c.print(admin.Items(ds), func() {
					var rows [][]string
					for _, d := range ds {
						rows = append(rows, []string{d.ID, d.Target, d.Rule, d.EventType, d.Subject, d.State, strconv.Itoa(d.Attempts),
							statusOf(d.LastStatus), truncateText(d.LastError, 60)})
					}
					_ = table(c.e.stdout, []string{"ID", "TARGET", "RULE", "EVENT", "SUBJECT", "STATE", "ATTEMPTS", "LAST", "ERROR"}, rows)
				})
			},
		},
		"show": {about: "show a delivery with its attempts", args: []arg{{"ID", "the delivery's id (deliveries list shows them)"}}, run: func(c *cmd) error {
			d, err := c.a.Admin.Delivery(c.e.ctx, c.pos[0])
			if err != nil {
				return err
			}
			return c.print(d, func() {
				replays := ""
				if d.Replays > 0 {
					replays = fmt.Sprintf("; replayed %d time(s), %d attempt(s) since the last replay", d.Replays, d.RoundAttempts())
				}
				c.printf("Delivery:  %s\nTarget:    %s (rule %s)\nEvent:     %s %s (%s)\nState:     %s after %d attempt(s)%s\nNext:      %s\nPayload:   %s\n\nAttempts:\n",
					d.ID, d.Target, d.Rule, d.EventType, d.EventID, d.Subject, d.State, d.Delivery.Attempts, replays, fmtTime(d.NextAt),
					truncateText(string(d.Payload), 400))
				var rows [][]string
				for _, a := range d.Attempts {
					rows = append(rows, []string{strconv.Itoa(a.N), fmtTime(a.At), a.Outcome, statusOf(a.Status), a.Latency.Round(time.Microsecond).String(),
						truncateText(a.Error, 60), truncateText(a.Response, 60)})
				}
				_ = table(c.e.stdout, []string{"N", "AT", "OUTCOME", "STATUS", "LATENCY", "ERROR", "RESPONSE"}, rows)
			})
		}},
		"replay": {
			about: "queue deliveries again: the ids given, or those --target, --rule, --event, --state select",
			args:  []arg{{"ID", "a delivery's id"}},
			more:  true,
			flags: func(fs *flag.FlagSet) func() error {
				fs.StringVar(&rr.Target, "target", "", "replay this target's deliveries (with --state, default dead)")
				fs.StringVar(&rr.Rule, "rule", "", "only this rule's")
				fs.StringVar(&rr.State, "state", "", "which: dead (default), delivered (deliver again) or pending (now)")
				fs.StringVar(&rr.Event, "event", "", "only this event's")
				return nil
			},
			run: func(c *cmd) error {
				rr.IDs = c.pos
				if len(rr.IDs) == 0 && rr.Target == "" && rr.Rule == "" && rr.Event == "" && rr.State == "" {
					return usagef("deliveries replay: give delivery ids, or select with --target, --rule, --event, --state")
				}
				n, err := c.a.Admin.Replay(c.e.ctx, cliActor(), rr)
				if err != nil {
					return err
				}
				return c.print(map[string]int64{"replayed": n}, func() {
					c.printf("%d deliveries queued again; a running server delivers them now.\n", n)
				})
			},
		},
	}
	return e.runGroup(&group{name: "deliveries", about: "Deliveries of events to targets, their attempts, and replay.",
		order: []string{"list", "show", "replay"}, subs: subs}, args)
}

func statusOf(s int) string {
	if s == 0 {
		return "-"
	}
	return strconv.Itoa(s)
}

func truncateText(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ---- targets

func (e *env) targetsCmd(args []string) error {
	var topt events.TestOptions
	setEnabled := func(enabled bool) *sub {
		about := "enable a target: its waiting deliveries go out"
		if !enabled {
			about = "disable a target: deliveries to it wait until it is enabled"
		}
		return &sub{about: about, args: []arg{{"TARGET", "the target's name (targets list shows them)"}}, run: func(c *cmd) error {
			if err := c.a.Admin.SetTargetEnabled(c.e.ctx, cliActor(), c.pos[0], enabled); err != nil {
				return err
			}
			word := map[bool]string{true: "enabled", false: "disabled"}[enabled]
			return c.print(map[string]string{"target": c.pos[0], "state": word}, func() { c.printf("Target %s is now %s.\n", c.pos[0], word) })
		}}
	}
	subs := map[string]*sub{
		"list": {about: "list the targets with their state and queues", run: func(c *cmd) error {
			c.e.showing(c.a)
			ts, err := c.a.Admin.Targets(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(admin.Items(ts), func() {
				var rows [][]string
				for _, t := range ts {
					state := "enabled"
					if t.Disabled != "" {
						state = "disabled (" + t.Disabled + ")"
					}
					rows = append(rows, []string{t.Name, t.Kind, state, strconv.FormatInt(t.Queue[events.StatePending], 10),
						strconv.FormatInt(t.Queue[events.StateDelivered], 10), strconv.FormatInt(t.Queue[events.StateDead], 10)})
				}
				_ = table(c.e.stdout, []string{"TARGET", "KIND", "STATE", "PENDING", "DELIVERED", "DEAD"}, rows)
			})
		}},
		"test": {
			about: "send one test event (Gatehouse.Test, about no one) to a target and print the attempt; exit 1 if it failed",
			args:  []arg{{"TARGET", "the target's name (targets list shows them)"}},
			flags: func(fs *flag.FlagSet) func() error {
				fs.StringVar(&topt.To, "to", "", "email targets: the one address the test email goes to (required for them)")
				fs.StringVar(&topt.Template, "template", "", "email targets: the template to send (default "+events.TestTemplate+", which says it is a test)")
				return nil
			},
			run: func(c *cmd) error {
				res, err := c.a.Admin.TestTarget(c.e.ctx, cliActor(), c.pos[0], topt)
				if errors.Is(err, directory.ErrInvalid) && directory.Field(err) == "to" {
					// --to missing for an email target, not one address, or
					// given for another kind: the command was misused.
					return usagef("targets test: %s", strings.Replace(directory.Message(err), "(to)", "(--to)", 1))
				}
				if err != nil {
					return err
				}
				a := res.Attempt
				if err := c.print(res, func() {
					c.printf("Sent a %s event (id %s) to target %s (%s).\n", events.TestEventType, res.EventID, res.Target, res.Kind)
					c.printf("Attempt:  %s, status %s, %s\n", a.Outcome, statusOf(a.Status), a.Latency.Round(time.Microsecond))
					if a.Response != "" {
						c.printf("Response: %s\n", truncateText(a.Response, 400))
					}
					if a.Error != "" {
						c.printf("Error:    %s\n", truncateText(a.Error, 400))
					}
					if res.Note != "" {
						c.printf("Note:     %s; this test is not retried.\n", res.Note)
					}
				}); err != nil {
					return err
				}
				if a.Outcome != events.OutcomeDelivered {
					return exitError{1}
				}
				return nil
			},
		},
		"enable":  setEnabled(true),
		"disable": setEnabled(false),
	}
	return e.runGroup(&group{name: "targets", about: "The event targets of the rules file, their queues and state.",
		order: []string{"list", "test", "enable", "disable"}, subs: subs}, args)
}

package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/admin"
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
	var file *string
	subs := map[string]*sub{
		"list": {run: func(c *cmd) error {
			rs, err := c.a.Admin.ListRules()
			if err != nil {
				return err
			}
			return c.print(rs, func() {
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
		"show": {args: []string{"the rule's name"}, run: func(c *cmd) error {
			r, err := c.a.Admin.Rule(c.pos[0])
			if err != nil {
				return err
			}
			return c.print(r, func() { _ = printJSON(c.e.stdout, r) })
		}},
		"put": {
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
				var r events.RuleSpec
				dec := yaml.NewDecoder(bytes.NewReader(src))
				dec.KnownFields(true)
				if err := dec.Decode(&r); err != nil {
					return usagef("rules put: %s: %v", *file, err)
				}
				created, err := c.a.Admin.PutRule(c.e.ctx, cliActor(), r)
				if err != nil {
					return err
				}
				verb := "replaced"
				if created {
					verb = "created"
				}
				return c.print(map[string]any{"name": r.Name, "created": created}, func() {
					c.printf("Rule %s %s; servers put it in force within seconds.\n", r.Name, verb)
				})
			},
		},
		"delete": {args: []string{"the rule's name"}, run: func(c *cmd) error {
			if err := c.a.Admin.DeleteRule(c.e.ctx, cliActor(), c.pos[0]); err != nil {
				return err
			}
			return c.print(map[string]any{"name": c.pos[0], "deleted": true}, func() {
				c.printf("Rule %s deleted.\n", c.pos[0])
			})
		}},
		"check": {
			flags: func(fs *flag.FlagSet) func() error {
				file = fs.String("file", "", "the rules file to check (default: events.rules_file)")
				return nil
			},
			run: func(c *cmd) error {
				path := *file
				if path == "" {
					path = c.a.Config.Events.RulesFile
				}
				if path == "" {
					return usagef("rules check: give --file or configure events.rules_file")
				}
				// A check is for the server: every variable must be set.
				env := c.a.EventEnv
				env.WithoutSecrets = false
				cfg, f, err := events.LoadFile(path, env)
				if err != nil {
					return err
				}
				// Rules that can match nothing do not make the file invalid:
				// they are warned about.
				warnings := cfg.Warnings
				if warnings == nil {
					warnings = []string{}
				}
				return c.print(map[string]any{"rules": len(f.Rules), "targets": len(f.Targets), "warnings": warnings}, func() {
					c.printf("%s is valid: %d rules, %d targets.\n", path, len(f.Rules), len(f.Targets))
					for _, w := range warnings {
						fmt.Fprintf(c.e.stderr, "warning: %s\n", w)
					}
				})
			},
		},
	}
	return e.group("rules", subs, []string{"list", "show", "put", "delete", "check", "test"}, args)
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
	fs := e.newFlagSet("rules test")
	pattern := fs.String("pattern", "", "the pattern: a JSON file, or JSON text")
	event := fs.String("event", "", "the event: a JSON file, or JSON text (- for standard input)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
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
	var follow *bool
	var after *int64
	var limit *int
	subs := map[string]*sub{
		"tail": {
			flags: func(fs *flag.FlagSet) func() error {
				follow = fs.Bool("follow", false, "keep printing new events")
				after = fs.Int64("after", -1, "start after this event seq (default: the last --limit events)")
				limit = fs.Int("limit", 20, "how many recent events to start with")
				return nil
			},
			run: func(c *cmd) error { return c.tail(*after, *limit, *follow) },
		},
	}
	return e.group("events", subs, []string{"tail"}, args)
}

// tail prints events (their documents as rules see them), one JSON line
// each, or a table.
func (c *cmd) tail(after int64, limit int, follow bool) error {
	ev := c.a.EventStore
	if ev == nil || c.a.Events == nil {
		return errors.New("the event pipeline is not available on this database")
	}
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
			flags: func(fs *flag.FlagSet) func() error {
				failed = fs.Bool("failed", false, "only dead deliveries (failed permanently or out of attempts)")
				fs.StringVar(&q.Target, "target", "", "only this target")
				fs.StringVar(&q.Rule, "rule", "", "only this rule")
				fs.StringVar(&q.State, "state", "", "only this state: pending, running, delivered, dead")
				fs.StringVar(&q.EventID, "event", "", "only this event id")
				fs.IntVar(&q.Limit, "limit", 50, "how many, newest first")
				return nil
			},
			run: func(c *cmd) error {
				if *failed {
					q.State = events.StateDead
				}
				ds, err := c.a.Admin.Deliveries(c.e.ctx, q)
				if err != nil {
					return err
				}
				return c.print(ds, func() {
					var rows [][]string
					for _, d := range ds {
						rows = append(rows, []string{d.ID, d.Target, d.Rule, d.EventType, d.Subject, d.State, strconv.Itoa(d.Attempts),
							statusOf(d.LastStatus), truncateText(d.LastError, 60)})
					}
					_ = table(c.e.stdout, []string{"ID", "TARGET", "RULE", "EVENT", "SUBJECT", "STATE", "ATTEMPTS", "LAST", "ERROR"}, rows)
				})
			},
		},
		"show": {args: []string{"the delivery's id"}, run: func(c *cmd) error {
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
	// replay takes any number of ids.
	if len(args) > 0 && args[0] == "replay" {
		return e.variadic("deliveries", "replay", subs["replay"], args[1:])
	}
	return e.group("deliveries", subs, []string{"list", "show", "replay"}, args)
}

// variadic runs a subcommand that takes any number of arguments.
func (e *env) variadic(group, name string, sc *sub, args []string) error {
	fs := e.newFlagSet(group + " " + name)
	var f config.Flags
	f.Register(fs, false)
	asJSON := fs.Bool("json", false, "print JSON (the admin API's shapes)")
	if sc.flags != nil {
		sc.flags(fs)
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	a, err := e.open(f)
	if err != nil {
		return err
	}
	defer a.Close()
	return sc.run(&cmd{e: e, a: a, pos: pos, asJSON: *asJSON, set: set})
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
	setEnabled := func(enabled bool) *sub {
		return &sub{args: []string{"the target's name"}, run: func(c *cmd) error {
			if err := c.a.Admin.SetTargetEnabled(c.e.ctx, cliActor(), c.pos[0], enabled); err != nil {
				return err
			}
			word := map[bool]string{true: "enabled", false: "disabled"}[enabled]
			return c.print(map[string]string{"target": c.pos[0], "state": word}, func() { c.printf("Target %s is now %s.\n", c.pos[0], word) })
		}}
	}
	subs := map[string]*sub{
		"list": {run: func(c *cmd) error {
			ts, err := c.a.Admin.Targets(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(ts, func() {
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
		"enable":  setEnabled(true),
		"disable": setEnabled(false),
	}
	return e.group("targets", subs, []string{"list", "enable", "disable"}, args)
}

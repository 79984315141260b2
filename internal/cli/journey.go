package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/config"
)

// journey is `gatehouse journey USER [--json]`: everything that happened
// to one person across the pipeline (admin.Ops.Journey), as a timeline, or
// the admin API's JSON.
func (e *env) journey(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "journey", args: []arg{{"USER", "an id or a userName; a deleted account by its id or the userName it had"}},
		about: "What happened to one person: where the account came from, its changes, events, deliveries and attempts."})
	var f config.Flags
	f.Register(fs.FlagSet, false)
	asJSON := fs.Bool("json", false, "print JSON (the admin API's shape)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("journey: give one user: an id or a userName")
	}
	a, err := e.open(f)
	if err != nil {
		return err
	}
	defer a.Close()
	e.showing(a)
	j, err := a.Admin.Journey(e.ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, j)
	}
	printJourney(e.stdout, j)
	return nil
}

const journeyTime = "2006-01-02 15:04:05.000"

func jtime(t time.Time) string { return t.UTC().Format(journeyTime) }

// printJourney writes the timeline: a header with the account and its
// origin, then one line per step, its deliveries and their attempts
// indented below it.
func printJourney(w io.Writer, j *admin.Journey) {
	u := j.User
	name := u.UserName
	if name == "" {
		name = "(userName unknown)"
	}
	fmt.Fprintf(w, "User:    %s (id %s, %s)\n", name, u.ID, u.State)
	switch og := j.Origin; {
	case og == nil:
		fmt.Fprintln(w, "Origin:  no record of the account's creation is left")
	case og.Pruned:
		fmt.Fprintf(w, "Origin:  the record of the creation was pruned; earliest left: %s %s by %s\n", jtime(og.Time), og.Action, og.Via)
	default:
		fmt.Fprintf(w, "Origin:  created %s by %s\n", jtime(og.Time), og.Via)
	}
	n := fmt.Sprintf("%d steps", len(j.Steps))
	if len(j.Steps) == 1 {
		n = "1 step"
	}
	if j.Truncated {
		n += " (the most recent: the account has more)"
	}
	fmt.Fprintf(w, "Steps:   %s\n\n", n)
	for _, s := range j.Steps {
		fmt.Fprintf(w, "%s  %-5s  %s\n", jtime(s.Time), s.Kind, s.Summary)
		if s.Event == nil {
			continue
		}
		for _, d := range s.Event.Deliveries {
			printJourneyDelivery(w, &d)
		}
	}
}

func printJourneyDelivery(w io.Writer, d *admin.JourneyDelivery) {
	const pad = "                         " // under the summary
	kind := d.TargetKind
	if kind == "" {
		kind = "no longer configured"
	}
	line := fmt.Sprintf("%s→ %s (%s) by rule %s: %s", pad, d.Target, kind, d.Rule, d.State)
	if d.NextAt != nil {
		line += ", next attempt " + jtime(*d.NextAt)
	}
	if d.DownstreamID != "" {
		line += ", downstream id " + d.DownstreamID
	}
	if e := d.Email; e != nil {
		to := strings.Join(e.To, ", ")
		if to == "" {
			to = "(no recipient)"
		}
		line += ", email to " + to + " " + e.Outcome
	}
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, "%s    why: %s\n", pad, oneLine(d.Why.Reason))
	for _, a := range d.Attempts {
		status := "-"
		if a.Status != 0 {
			status = fmt.Sprint(a.Status)
		}
		detail := a.Response
		if a.Error != "" {
			detail = "error: " + a.Error
		}
		fmt.Fprintf(w, "%s    #%d %s  %-9s %3s  %7.1f ms  %s\n", pad, a.N, jtime(a.At), a.Outcome, status, a.LatencyMs, oneLine(detail))
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

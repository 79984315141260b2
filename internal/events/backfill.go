package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// A rule routes only the events written after it came into force (see
// Pipeline). Backfill is the explicit way to route past events by a rule:
// the events still kept (events.retention) that were dispatched, matched
// against the rule as it is now and transformed by its targets' payloads,
// as if the rule had been in force when each was dispatched. Deliveries
// have the ids dispatch gives them, so an event the rule already routed
// is not routed again, and a backfill run twice queues nothing the second
// time.

// PastEvent is a dispatched event with the document rules saw.
type PastEvent struct {
	Seq     int64
	ID      string
	Type    string
	Subject string
	Time    time.Time
	Doc     json.RawMessage
}

// BackfillRequest selects the past events of one rule.
type BackfillRequest struct {
	Rule string `json:"rule"`
	// Since (inclusive) and Until (exclusive) bound the events' times;
	// zero: unbounded.
	Since  time.Time `json:"since,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	DryRun bool      `json:"dryRun,omitempty"`
}

// BackfillReport says what a backfill did, or would do (DryRun).
type BackfillReport struct {
	Rule   string `json:"rule"`
	DryRun bool   `json:"dryRun"`
	// Events is how many past events were looked at, Matched how many the
	// rule matches.
	Events  int `json:"events"`
	Matched int `json:"matched"`
	// Queued deliveries (would be queued, on a dry run), by target in
	// Targets; Existing: those the rule had made already; Failed: queued
	// dead because their payload could not be built.
	Queued   int            `json:"queued"`
	Existing int            `json:"existing"`
	Failed   int            `json:"failed"`
	Targets  map[string]int `json:"targets"`
	// Rebased counts the deliveries queued to scim targets of events whose
	// account has changed since: the target gets the account's state now,
	// not the event's. Skipped counts those not queued: for a scim target,
	// events that would apply nothing now (the account deleted since,
	// enabled again since a User.Disabled, or no longer matching the
	// rule); for an email target, events that found the account active,
	// which it is not now.
	Rebased int `json:"rebased"`
	Skipped int `json:"skipped"`
	// Sample lists the first deliveries queued (up to 20).
	Sample []BackfillItem `json:"sample"`
	// Stale lists each delivery rebased or skipped, with why (up to
	// 1,000).
	Stale []BackfillItem `json:"stale"`
}

// BackfillItem is one delivery a backfill queued (or, in Stale, skipped).
type BackfillItem struct {
	EventSeq  int64     `json:"eventSeq"`
	EventID   string    `json:"eventId"`
	EventType string    `json:"eventType"`
	EventTime time.Time `json:"eventTime"`
	Subject   string    `json:"subject"`
	Target    string    `json:"target"`
	// Action is "queue", "rebase" (queued; the target gets the account's
	// state now) or "skip" (not queued); Note says why.
	Action string `json:"action"`
	Note   string `json:"note,omitempty"`
}

const (
	backfillSample = 20
	backfillStale  = 1000
)

// Backfill routes the past events req selects by the rule req names, as
// it is in force now; audit, filled in with the report and stamped with
// the time it is appended, is appended when something was queued.
func (p *Pipeline) Backfill(ctx context.Context, req BackfillRequest, audit *directory.AuditEntry) (*BackfillReport, error) {
	cfg := p.force.Load().cfg
	if _, ok := cfg.Routes[req.Rule]; !ok || cfg.Matcher == nil {
		return nil, directory.Errorf(directory.ErrNotFound, "rule", "no rule named %q is in force", req.Rule)
	}
	rep := &BackfillReport{Rule: req.Rule, DryRun: req.DryRun, Targets: map[string]int{}, Sample: []BackfillItem{}, Stale: []BackfillItem{}}
	now := p.now()
	woken := map[string]bool{}
	var after int64
	for {
		evs, err := p.store.PastEvents(ctx, after, dispatchBatch)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		after = evs[len(evs)-1].Seq
		var ds []*Delivery
		var failed []*Completion
		docs := map[int64]json.RawMessage{}
		for _, ev := range evs {
			if (!req.Since.IsZero() && ev.Time.Before(req.Since)) || (!req.Until.IsZero() && !ev.Time.Before(req.Until)) {
				continue
			}
			rep.Events++
			rules, err := cfg.Matcher.Match(ev.Doc)
			if err != nil {
				continue // as dispatch: a document that cannot be matched routes nowhere
			}
			for _, rule := range rules {
				if rule != req.Rule {
					continue
				}
				rep.Matched++
				docs[ev.Seq] = ev.Doc
				d, f := route(cfg, rule, ev.Seq, ev.ID, ev.Type, ev.Subject, ev.Time, ev.Doc, now)
				ds, failed = append(ds, d...), append(failed, f...)
			}
		}
		if len(ds) == 0 {
			continue
		}
		// The deliveries the rule has not made yet, and of those, the
		// events whose account has changed since.
		fresh, err := p.store.Enqueue(ctx, ds, true, nil)
		if err != nil {
			return nil, err
		}
		var queue []*Delivery
		notes := map[string]BackfillItem{}
		for i, d := range ds {
			if !fresh[i] {
				rep.Existing++
				continue
			}
			it := BackfillItem{EventSeq: d.EventSeq, EventID: d.EventID, EventType: d.EventType, EventTime: d.EventTime,
				Subject: d.Subject, Target: d.Target, Action: "queue"}
			if d.State != StateDead {
				kind := ""
				if t := cfg.Targets[d.Target]; t != nil && t.Sender != nil {
					kind = t.Sender.Kind()
				}
				v, err := p.current(ctx, cfg, kind, d, docs[d.EventSeq])
				var re *rebaseError
				switch {
				case errors.As(err, &re):
					v.rebased = "re-based on the account's state now, whose payload cannot be built: " + re.err.Error()
				case err != nil:
					return nil, err
				}
				switch {
				case v.skip != "":
					it.Action, it.Note = "skip", v.skip
					rep.Skipped++
				case v.rebased != "":
					it.Action, it.Note = "rebase", v.rebased
				}
				if it.Action != "queue" && len(rep.Stale) < backfillStale {
					rep.Stale = append(rep.Stale, it)
				}
				if it.Action == "skip" {
					continue
				}
			}
			notes[d.ID] = it
			queue = append(queue, d)
		}
		if len(queue) == 0 {
			continue
		}
		if !req.DryRun {
			if fresh, err = p.store.Enqueue(ctx, queue, false, nil); err != nil {
				return nil, err
			}
		} else {
			fresh = make([]bool, len(queue))
			for i := range fresh {
				fresh[i] = true
			}
		}
		dead := map[string]*Completion{}
		for _, c := range failed {
			dead[c.Attempt.DeliveryID] = c
		}
		var complete []*Completion
		for i, d := range queue {
			if !fresh[i] {
				rep.Existing++ // queued meanwhile
				continue
			}
			it := notes[d.ID]
			rep.Queued++
			rep.Targets[d.Target]++
			woken[d.Target] = true
			if it.Action == "rebase" {
				rep.Rebased++
			}
			if c := dead[d.ID]; c != nil {
				rep.Failed++
				complete = append(complete, c)
			}
			if len(rep.Sample) < backfillSample {
				rep.Sample = append(rep.Sample, it)
			}
		}
		if len(complete) > 0 && !req.DryRun {
			if err := p.store.Complete(context.WithoutCancel(ctx), complete, now); err != nil {
				return nil, fmt.Errorf("record deliveries whose payload could not be built: %w", err)
			}
		}
	}
	if rep.Queued > 0 && !req.DryRun && audit != nil {
		audit.After, _ = json.Marshal(map[string]any{"request": req, "queued": rep.Queued, "targets": rep.Targets, "failed": rep.Failed,
			"rebased": rep.Rebased, "skipped": rep.Skipped})
		// Stamped when appended, not when the walk began: an audit record's
		// time must not lag the checkpoints signed meanwhile
		// (directory.AuditClockTolerance).
		audit.Time = p.now()
		if _, err := p.store.Enqueue(ctx, nil, false, audit); err != nil {
			return nil, err
		}
	}
	if !req.DryRun {
		for t := range woken {
			p.wake(t)
		}
	}
	return rep, nil
}

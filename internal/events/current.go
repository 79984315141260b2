package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim"
)

// A user's lifecycle event records the account as it was when the event
// was written. A delivery made or attempted later — a retry that comes
// after a newer event's delivery, a replay, a backfill of old events — may
// find the account changed since. Targets that act on the person must not
// act on a state the account has left:
//
//   - a scim target sets the downstream account's state, so it is given
//     the account's current state instead of the event's: the event is
//     re-based (the same event, with the detail of the account now) and
//     matched and transformed again by its rule; it is not applied at all
//     when the account has been deleted since, when it is a User.Disabled
//     and the account is active again, or when the account no longer
//     matches the rule. This holds for every delivery to a scim target.
//   - an email target (resend, smtp) writes to the person: a backfill does
//     not queue the email of an event that found the account active when
//     the account is not active now (disabled or deleted since).
//
// Other targets (webhook, eventbridge) forward the event as a record of
// what happened, at its time: they get it as it was.

// lifecycleTypes are the events of a user that describe the account's
// state (User.Deleted describes its end, which nothing later undoes).
var lifecycleTypes = []string{directory.UserCreated, directory.UserUpdated, directory.UserEnabled, directory.UserDisabled}

// userEvent is what staleness needs of a user's event document.
type userEvent struct {
	Received json.RawMessage `json:"received"`
	Detail   struct {
		ID     string `json:"id"`
		Active *bool  `json:"active"`
		User   struct {
			Meta struct {
				Version string `json:"version"`
			} `json:"meta"`
		} `json:"user"`
	} `json:"detail"`
}

// staleness is what became of an event's account since the event.
type staleness struct {
	// now is the account now (nil: deleted since).
	now *directory.User
	// version is the account's version in the event.
	version int64
	// activeThen: the event found the account active.
	activeThen bool
}

// changed reports whether the account has changed since the event (or
// been deleted).
func (s *staleness) changed() bool { return s.now == nil || s.now.Version > s.version }

// staleOf reads the account a Gatehouse user lifecycle event of type typ
// is about, to compare it with the event's document doc. It returns nil
// for other events (received ones, other types, a document without a
// version).
func (p *Pipeline) staleOf(ctx context.Context, typ string, doc json.RawMessage) (*staleness, error) {
	if !slices.Contains(lifecycleTypes, typ) || len(doc) == 0 {
		return nil, nil
	}
	var ev userEvent
	if err := json.Unmarshal(doc, &ev); err != nil || len(ev.Received) > 0 || ev.Detail.ID == "" {
		return nil, nil
	}
	v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(ev.Detail.User.Meta.Version, `W/"`), `"`), 10, 64)
	if err != nil {
		return nil, nil
	}
	s := &staleness{version: v, activeThen: ev.Detail.Active != nil && *ev.Detail.Active}
	u, err := p.builder.Dir.User(ctx, ev.Detail.ID, directory.ReadOptions{Groups: true})
	switch {
	case errors.Is(err, directory.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read the account now: %w", err)
	default:
		s.now = u
	}
	return s, nil
}

// verdict is what to do with a delivery of a user's event whose account
// may have changed since: send it as it is (the zero verdict), skip it
// (skip says why), or send it re-based on the account's current state
// (rebased says so; doc and payload are the re-based event and payload).
type verdict struct {
	skip, rebased string
	doc, payload  json.RawMessage
}

// current decides what to do with delivery d (its event's document doc)
// to a target of kind, under cfg. A rebased verdict for a scim target
// carries the re-based document and payload.
func (p *Pipeline) current(ctx context.Context, cfg *Config, kind string, d *Delivery, doc json.RawMessage) (verdict, error) {
	switch kind {
	case "scim", "resend", "smtp":
	default:
		return verdict{}, nil
	}
	s, err := p.staleOf(ctx, d.EventType, doc)
	if err != nil || s == nil || !s.changed() {
		return verdict{}, err
	}
	if kind != "scim" {
		if s.activeThen && (s.now == nil || !s.now.Active) {
			state := "deleted"
			if s.now != nil {
				state = "disabled"
			}
			return verdict{skip: fmt.Sprintf("not sent: the account is not active now (%s since this event)", state)}, nil
		}
		return verdict{}, nil
	}
	switch {
	case s.now == nil:
		return verdict{skip: "not applied: the account has been deleted since this event"}, nil
	case d.EventType == directory.UserDisabled && s.now.Active:
		return verdict{skip: "not applied: the account has been enabled again since this event"}, nil
	}
	rebased, err := p.builder.Rebased(ctx, doc, s.now)
	if err != nil {
		return verdict{}, err
	}
	v := verdict{doc: rebased, rebased: fmt.Sprintf("re-based on the account's state now (version %d; the event's: %d, active now: %t)",
		s.now.Version, s.version, s.now.Active)}
	if cfg.Matcher == nil {
		return verdict{skip: "not applied: the account has changed since this event, and no rule is in force"}, nil
	}
	rules, err := cfg.Matcher.Match(rebased)
	if err != nil || !slices.Contains(rules, d.Rule) {
		return verdict{skip: fmt.Sprintf("not applied: the account has changed since this event and no longer matches rule %s", d.Rule)}, nil
	}
	rt, ok := routeOf(cfg, d)
	if !ok {
		return verdict{skip: fmt.Sprintf("not applied: the account has changed since this event, and rule %s no longer routes to %s", d.Rule, d.Target)}, nil
	}
	v.payload = rebased
	if rt.Transform != nil {
		if v.payload, err = rt.Transform.Apply(rebased); err != nil {
			return verdict{}, &rebaseError{err}
		}
	}
	return v, nil
}

// rebaseError: the payload of a re-based event could not be built.
type rebaseError struct{ err error }

func (e *rebaseError) Error() string {
	return "transform (of the event re-based on the account's state now): " + e.err.Error()
}

// routeOf is the route of cfg that made delivery d: the one whose
// delivery id is d's (ids are deterministic), else the rule's first route
// to d's target.
func routeOf(cfg *Config, d *Delivery) (Route, bool) {
	routes := cfg.Routes[d.Rule]
	for i, rt := range routes {
		if rt.Target == d.Target && deliveryID(d.EventSeq, d.EventID, d.Rule, i, d.Target) == d.ID {
			return rt, true
		}
	}
	for _, rt := range routes {
		if rt.Target == d.Target {
			return rt, true
		}
	}
	return Route{}, false
}

// Rebased returns doc, the document of a user's event, with the state of
// the account now (u, read with its groups) in place of the state the
// event recorded: the same event (id, type, subject, time), the detail of
// u, and the event's firstActivation; "changed" and "previous", which
// describe the event's change, are left out.
func (b *Builder) Rebased(ctx context.Context, doc json.RawMessage, u *directory.User) (json.RawMessage, error) {
	var d Document
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("re-base event: %w", err)
	}
	orgs, err := b.orgs(ctx)
	if err != nil {
		return nil, err
	}
	detail := flatUser(u, orgs)
	detail["user"] = scim.UserResource(u, b.BaseURL, b.Schemas)
	detail["firstActivation"] = d.Detail["firstActivation"] == true
	d.Detail = detail
	return json.Marshal(d)
}

// sendCurrent is what a worker sends for delivery d: d itself, d re-based
// on the account's state now, or nothing (done is the result to record).
// note, when not empty, goes before the target's answer.
func (w *worker) sendCurrent(ctx context.Context, d *Delivery) (send *Delivery, note string, done *Result) {
	kind := w.target.Sender.Kind()
	if kind != "scim" {
		return d, "", nil // email targets: only a backfill skips (Backfill)
	}
	v, err := w.p.current(ctx, w.p.force.Load().cfg, kind, d, d.Event)
	var re *rebaseError
	switch {
	case errors.As(err, &re):
		return nil, "", &Result{Outcome: OutcomePermanent, Err: err}
	case err != nil:
		return nil, "", &Result{Outcome: OutcomeRetry, Err: err}
	case v.skip != "":
		return nil, "", &Result{Outcome: OutcomeDelivered, Response: v.skip}
	case v.rebased != "":
		c := *d
		c.Event, c.Payload = v.doc, v.payload
		return &c, v.rebased, nil
	}
	return d, "", nil
}

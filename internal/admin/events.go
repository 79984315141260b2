package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/rules"
)

// EventOps are the event pipeline's administration (nil fields: the
// database has no pipeline).
type EventOps struct {
	Store    events.Store
	Pipeline *events.Pipeline
	// Rules returns the rules file in force; Reload reads it again.
	Rules  func() *events.File
	Reload func() error
}

var errNoPipeline = directory.Errorf(directory.ErrInvalid, "", "the event pipeline is not available on this database")

func (o *Ops) events() (*EventOps, error) {
	if o.Events == nil || o.Events.Store == nil {
		return nil, errNoPipeline
	}
	return o.Events, nil
}

// DeliveryDetail is a delivery with its attempts and event.
type DeliveryDetail struct {
	*events.Delivery
	Attempts []*events.Attempt `json:"attemptLog"`
	Event    json.RawMessage   `json:"event,omitempty"`
}

// Deliveries lists deliveries, newest first.
func (o *Ops) Deliveries(ctx context.Context, q events.DeliveryQuery) ([]*events.Delivery, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	if q.Limit > 1000 {
		return nil, invalid("limit", "limit must be at most 1000")
	}
	ds, err := ev.Store.Deliveries(ctx, q)
	if ds == nil {
		ds = []*events.Delivery{}
	}
	return ds, err
}

// Delivery returns a delivery with its attempts and event document.
func (o *Ops) Delivery(ctx context.Context, id string) (*DeliveryDetail, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	d, err := ev.Store.Delivery(ctx, id)
	if err != nil {
		return nil, err
	}
	att, err := ev.Store.Attempts(ctx, id)
	if err != nil {
		return nil, err
	}
	if att == nil {
		att = []*events.Attempt{}
	}
	doc, err := ev.Store.EventDocument(ctx, d.EventSeq)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return nil, err
	}
	return &DeliveryDetail{Delivery: d, Attempts: att, Event: doc}, nil
}

// ReplayRequest selects deliveries to replay: ids, or a query (state
// defaults to dead).
type ReplayRequest struct {
	IDs    []string `json:"ids,omitempty"`
	Target string   `json:"target,omitempty"`
	Rule   string   `json:"rule,omitempty"`
	State  string   `json:"state,omitempty"`
	Event  string   `json:"eventId,omitempty"`
}

// Replay makes deliveries pending again and returns how many.
func (o *Ops) Replay(ctx context.Context, actor directory.Actor, req ReplayRequest) (int64, error) {
	ev, err := o.events()
	if err != nil {
		return 0, err
	}
	var n int64
	now := time.Now().UTC()
	after, _ := json.Marshal(req)
	audit := &directory.AuditEntry{Time: now, Actor: actor, Action: "deliveries.replay", ResourceType: "Delivery",
		ResourceID: strings.Join(req.IDs, ","), After: after}
	if len(req.IDs) > 0 {
		n, err = ev.Store.Replay(ctx, req.IDs, nil, now, audit)
	} else {
		if req.State == "" {
			req.State = events.StateDead
		}
		switch req.State {
		case events.StateDead, events.StateDelivered, events.StatePending:
		default:
			return 0, invalid("state", "state must be dead, delivered or pending")
		}
		after, _ = json.Marshal(req)
		audit.After, audit.ResourceID = after, req.Target
		n, err = ev.Store.Replay(ctx, nil, &events.DeliveryQuery{Target: req.Target, Rule: req.Rule, State: req.State, EventID: req.Event}, now, audit)
	}
	if err == nil && n > 0 && ev.Pipeline != nil {
		ev.Pipeline.Poke()
		if req.Target != "" {
			ev.Pipeline.Wake(req.Target)
		}
	}
	return n, err
}

// TargetView is a target as administrators see it.
type TargetView struct {
	Name     string           `json:"name"`
	Kind     string           `json:"kind"`
	Disabled string           `json:"disabled,omitempty"` // why, when disabled
	Policy   PolicyView       `json:"policy"`
	Queue    map[string]int64 `json:"deliveries"`
}

// PolicyView summarises a delivery policy.
type PolicyView struct {
	Schedule    []string `json:"schedule"`
	Concurrency int      `json:"concurrency"`
	Rate        float64  `json:"rate,omitempty"`
	Ordered     bool     `json:"ordered"`
	Timeout     string   `json:"timeout"`
}

// Targets lists the configured targets with their queues.
func (o *Ops) Targets(ctx context.Context) ([]TargetView, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	dis, err := ev.Store.TargetsDisabled(ctx)
	if err != nil {
		return nil, err
	}
	backlog, err := ev.Store.Backlog(ctx)
	if err != nil {
		return nil, err
	}
	out := []TargetView{}
	if ev.Pipeline == nil {
		return out, nil
	}
	cfg := ev.Pipeline.Config()
	for _, name := range cfg.TargetNames() {
		t := cfg.Targets[name]
		pv := PolicyView{Concurrency: t.Policy.Concurrency, Rate: t.Policy.Rate, Ordered: t.Policy.Ordered, Timeout: t.Policy.Timeout.String()}
		for _, d := range t.Policy.Schedule {
			pv.Schedule = append(pv.Schedule, d.String())
		}
		q := backlog[name]
		if q == nil {
			q = map[string]int64{}
		}
		out = append(out, TargetView{Name: name, Kind: t.Sender.Kind(), Disabled: dis[name], Policy: pv, Queue: q})
	}
	return out, nil
}

// SetTargetEnabled enables or disables a target (deliveries wait while
// it is disabled).
func (o *Ops) SetTargetEnabled(ctx context.Context, actor directory.Actor, name string, enabled bool) error {
	ev, err := o.events()
	if err != nil {
		return err
	}
	if ev.Pipeline != nil {
		if _, ok := ev.Pipeline.Config().Targets[name]; !ok {
			return directory.Errorf(directory.ErrNotFound, "target", "no target named %q", name)
		}
	}
	reason := "disabled by " + actor.Kind
	if actor.AppName != "" {
		reason += " " + actor.AppName
	}
	action, after := "target.enable", []byte(nil)
	if !enabled {
		action = "target.disable"
		after, _ = json.Marshal(map[string]string{"reason": reason})
	}
	audit := &directory.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: action, ResourceType: "Target", ResourceID: name, After: after}
	if err := ev.Store.SetTargetDisabled(ctx, name, reason, !enabled, audit); err != nil {
		return err
	}
	if enabled && ev.Pipeline != nil {
		ev.Pipeline.Wake(name)
	}
	return nil
}

// RuleView is a rule of the rules file.
type RuleView = events.RuleSpec

// ListRules returns the rules in force.
func (o *Ops) ListRules() ([]RuleView, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	f := ev.Rules()
	out := make([]RuleView, 0, len(f.Rules))
	out = append(out, f.Rules...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ReloadRules reads the rules file again.
func (o *Ops) ReloadRules() error {
	ev, err := o.events()
	if err != nil {
		return err
	}
	if ev.Reload == nil {
		return errNoPipeline
	}
	if err := ev.Reload(); err != nil {
		return directory.Errorf(directory.ErrInvalid, "rules", "%v", err)
	}
	return nil
}

// TestResult is the verdict of a pattern on an event.
type TestResult struct {
	Match  bool   `json:"match"`
	Reason string `json:"reason"`
}

// TestPattern says whether pattern matches event, and why.
func TestPattern(pattern, event []byte) (*TestResult, error) {
	p, err := rules.ParsePattern(pattern)
	if err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "pattern", "%v", err)
	}
	if !json.Valid(event) {
		return nil, directory.Errorf(directory.ErrInvalid, "event", "the event is not valid JSON")
	}
	ok, why := rules.Explain(p, event)
	return &TestResult{Match: ok, Reason: why}, nil
}

// ---- HTTP

func (a *API) eventRoutes() {
	a.handle("GET /deliveries", a.listDeliveries)
	a.handle("GET /deliveries/{id}", a.getDelivery)
	a.handle("POST /deliveries/replay", a.replay)
	a.handle("GET /targets", a.listTargets)
	a.handle("POST /targets/{name}/enable", a.enableTarget)
	a.handle("POST /targets/{name}/disable", a.disableTarget)
	a.handle("GET /rules", a.listRules)
	a.handle("POST /rules/reload", a.reloadRules)
	a.handle("POST /rules/test", a.testRule)
}

func (a *API) listDeliveries(r *http.Request, _ directory.Actor) (int, any, error) {
	q := r.URL.Query()
	dq := events.DeliveryQuery{Target: q.Get("target"), Rule: q.Get("rule"), State: q.Get("state"), EventID: q.Get("event")}
	for _, p := range []struct {
		name string
		dst  any
	}{{"before", &dq.BeforeSeq}, {"limit", &dq.Limit}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, nil, &problem{Status: http.StatusBadRequest, Title: "Invalid value", Detail: p.name + " must be a non-negative integer", Field: p.name}
		}
		switch d := p.dst.(type) {
		case *int64:
			*d = n
		case *int:
			*d = int(min(n, 1<<20))
		}
	}
	ds, err := a.ops.Deliveries(r.Context(), dq)
	return http.StatusOK, list[*events.Delivery]{ds}, err
}

func (a *API) getDelivery(r *http.Request, _ directory.Actor) (int, any, error) {
	d, err := a.ops.Delivery(r.Context(), r.PathValue("id"))
	return http.StatusOK, d, err
}

type replayReply struct {
	Replayed int64 `json:"replayed"`
}

func (a *API) replay(r *http.Request, actor directory.Actor) (int, any, error) {
	var req ReplayRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	n, err := a.ops.Replay(r.Context(), actor, req)
	return http.StatusOK, replayReply{n}, err
}

func (a *API) listTargets(r *http.Request, _ directory.Actor) (int, any, error) {
	ts, err := a.ops.Targets(r.Context())
	return http.StatusOK, list[TargetView]{ts}, err
}

func (a *API) enableTarget(r *http.Request, actor directory.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.ops.SetTargetEnabled(r.Context(), actor, r.PathValue("name"), true)
}

func (a *API) disableTarget(r *http.Request, actor directory.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.ops.SetTargetEnabled(r.Context(), actor, r.PathValue("name"), false)
}

func (a *API) listRules(r *http.Request, _ directory.Actor) (int, any, error) {
	rs, err := a.ops.ListRules()
	return http.StatusOK, list[RuleView]{rs}, err
}

func (a *API) reloadRules(r *http.Request, _ directory.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.ops.ReloadRules()
}

type testRequest struct {
	Pattern json.RawMessage `json:"pattern"`
	Event   json.RawMessage `json:"event"`
}

func (a *API) testRule(r *http.Request, _ directory.Actor) (int, any, error) {
	var req testRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Pattern) == 0 || len(req.Event) == 0 {
		return 0, nil, &problem{Status: http.StatusBadRequest, Title: "Invalid request", Detail: `give "pattern" and "event"`}
	}
	res, err := TestPattern(req.Pattern, req.Event)
	return http.StatusOK, res, err
}

package admin

import (
	"bytes"
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
	"gopkg.in/yaml.v3"
)

// EventOps are the event pipeline's administration (nil fields: the
// database has no pipeline).
type EventOps struct {
	Store    events.Store
	Pipeline *events.Pipeline
	// Rules returns the rules file in force; Reload reads it again.
	Rules  func() *events.File
	Reload func() error
	// RuleStore keeps the rules made through the admin API (nil: none);
	// Check says whether a set of them is valid with the rules file.
	RuleStore events.RuleStore
	Check     func(api []events.RuleSpec) error
	// Config returns the configuration that listings show (targets and
	// their kinds, rules and push scopes); nil: the pipeline's. An
	// administration command shows the running server's this way.
	Config func() *events.Config
}

// config is the configuration shown (nil: none).
func (e *EventOps) config() *events.Config {
	switch {
	case e.Config != nil:
		return e.Config()
	case e.Pipeline != nil:
		return e.Pipeline.Config()
	}
	return nil
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
	// What names nothing is an error, not "0 replayed": a mistyped target
	// or id would otherwise pass for "nothing to do".
	if req.Target != "" && ev.Pipeline != nil {
		cfg := ev.Pipeline.Config()
		if _, ok := cfg.Targets[req.Target]; !ok {
			return 0, unknownTarget(req.Target, cfg.TargetNames())
		}
	}
	for _, id := range req.IDs {
		if _, err := ev.Store.Delivery(ctx, id); err != nil {
			if errors.Is(err, directory.ErrNotFound) {
				return 0, directory.Errorf(directory.ErrNotFound, "ids", "no delivery %q", id)
			}
			return 0, err
		}
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

// Backfill routes past events by one rule, as if it had been in force
// when they were dispatched (events.Pipeline.Backfill); with DryRun it
// only says what it would queue.
func (o *Ops) Backfill(ctx context.Context, actor directory.Actor, req events.BackfillRequest) (*events.BackfillReport, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	if ev.Pipeline == nil {
		return nil, errNoPipeline
	}
	switch {
	case req.Rule == "":
		return nil, invalid("rule", "name the rule whose past events to route")
	case !req.Since.IsZero() && !req.Until.IsZero() && !req.Until.After(req.Since):
		return nil, invalid("until", "until must be after since")
	}
	audit := &directory.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: "events.backfill", ResourceType: "Rule", ResourceID: req.Rule}
	return ev.Pipeline.Backfill(ctx, req, audit)
}

// unknownTarget is the error for a target name the rules file does not
// define.
func unknownTarget(name string, known []string) error {
	if len(known) == 0 {
		return directory.Errorf(directory.ErrNotFound, "target", "no target named %q: the rules file defines none", name)
	}
	return directory.Errorf(directory.ErrNotFound, "target", "no target named %q (targets: %s)", name, strings.Join(known, ", "))
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
	cfg := ev.config()
	if cfg == nil {
		return out, nil
	}
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
	if cfg := ev.config(); cfg != nil {
		if _, ok := cfg.Targets[name]; !ok {
			return unknownTarget(name, cfg.TargetNames())
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

// TestTarget sends a test event to a target (events.Pipeline.Test) and
// records the test, with its outcome, in the audit log (target.test).
func (o *Ops) TestTarget(ctx context.Context, actor directory.Actor, name string, opt events.TestOptions) (*events.TestResult, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	if ev.Pipeline == nil {
		return nil, errNoPipeline
	}
	if _, ok := ev.Pipeline.Config().Targets[name]; !ok {
		return nil, unknownTarget(name, ev.Pipeline.Config().TargetNames())
	}
	res, err := ev.Pipeline.Test(ctx, name, opt)
	if err != nil {
		return nil, err
	}
	a := res.Attempt
	rec := map[string]any{"eventId": res.EventID, "kind": res.Kind, "outcome": a.Outcome, "latencyMs": float64(a.Latency.Microseconds()) / 1000}
	if a.Status != 0 {
		rec["status"] = a.Status
	}
	if a.Error != "" {
		rec["error"] = a.Error
	}
	after, _ := json.Marshal(rec)
	if err := o.Dir.RecordAudit(ctx, &directory.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: "target.test",
		ResourceType: "Target", ResourceID: name, After: after}); err != nil {
		return nil, err
	}
	return res, nil
}

// RuleView is a rule in force, with where it is defined: "file" (the
// rules file) or "api" (made through the admin API or the CLI).
type RuleView struct {
	events.RuleSpec
	Origin string `json:"origin"`
}

// ListRules returns the rules in force.
func (o *Ops) ListRules() ([]RuleView, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	f := ev.Rules()
	out := make([]RuleView, 0, len(f.Rules)+len(f.API))
	for _, r := range f.Rules {
		out = append(out, RuleView{RuleSpec: r, Origin: "file"})
	}
	for _, r := range f.API {
		out = append(out, RuleView{RuleSpec: r, Origin: "api"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Rule returns one rule in force.
func (o *Ops) Rule(name string) (*RuleView, error) {
	rs, err := o.ListRules()
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Name == name {
			return &r, nil
		}
	}
	return nil, directory.Errorf(directory.ErrNotFound, "rule", "no rule named %q", name)
}

// apiRuleOps checks that rules can be managed here and that name is not
// the rules file's.
func (o *Ops) apiRuleOps(name string) (*EventOps, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	if ev.RuleStore == nil || ev.Check == nil {
		return nil, errNoPipeline
	}
	for _, r := range ev.Rules().Rules {
		if r.Name == name {
			return nil, directory.Errorf(directory.ErrConflict, "name",
				"rule %q is defined in the rules file: change it there (the file is configuration as code)", name)
		}
	}
	return ev, nil
}

// PutRule creates or replaces a rule made through the admin API. The rule
// is checked with the rules file's targets and the other API rules: a bad
// one is refused with every problem and the field at fault. It reports
// whether the rule is new.
func (o *Ops) PutRule(ctx context.Context, actor directory.Actor, r events.RuleSpec) (bool, error) {
	ev, err := o.apiRuleOps(r.Name)
	if err != nil {
		return false, err
	}
	stored, _, err := ev.RuleStore.APIRules(ctx)
	if err != nil {
		return false, err
	}
	var before []byte
	candidate := []events.RuleSpec{r}
	for _, s := range stored {
		if s.Rule.Name == r.Name {
			before, _ = json.Marshal(s.Rule)
			continue
		}
		candidate = append(candidate, s.Rule)
	}
	if err := ev.Check(candidate); err != nil {
		var ce *events.ConfigError
		if errors.As(err, &ce) {
			return false, directory.Errorf(directory.ErrInvalid, "rule", "the rule is refused:\n  - %s", strings.Join(ce.Problems, "\n  - "))
		}
		return false, directory.Errorf(directory.ErrInvalid, "rule", "%v", err)
	}
	after, _ := json.Marshal(r)
	action := "rule.create"
	if before != nil {
		action = "rule.update"
	}
	now := time.Now().UTC()
	created, err := ev.RuleStore.PutRule(ctx, r, now, &directory.AuditEntry{Time: now, Actor: actor, Action: action,
		ResourceType: "Rule", ResourceID: r.Name, Before: before, After: after})
	if err != nil {
		return false, err
	}
	o.reloadAfterRuleChange(ev)
	return created, nil
}

// DeleteRule deletes a rule made through the admin API.
func (o *Ops) DeleteRule(ctx context.Context, actor directory.Actor, name string) error {
	ev, err := o.apiRuleOps(name)
	if err != nil {
		return err
	}
	stored, _, err := ev.RuleStore.APIRules(ctx)
	if err != nil {
		return err
	}
	var before []byte
	for _, s := range stored {
		if s.Rule.Name == name {
			before, _ = json.Marshal(s.Rule)
		}
	}
	if before == nil {
		return directory.Errorf(directory.ErrNotFound, "rule", "no rule named %q was made through the admin API", name)
	}
	if err := ev.RuleStore.DeleteRule(ctx, name, &directory.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: "rule.delete",
		ResourceType: "Rule", ResourceID: name, Before: before}); err != nil {
		return err
	}
	o.reloadAfterRuleChange(ev)
	return nil
}

// reloadAfterRuleChange puts a changed rule in force in this process at
// once (servers elsewhere notice the rules' version within seconds). The
// change is stored: a reload that fails here (the rules file was edited
// meanwhile) leaves the rules in force to the next reload.
func (o *Ops) reloadAfterRuleChange(ev *EventOps) {
	if ev.Pipeline != nil && ev.Reload != nil {
		_ = ev.Reload()
	}
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
	if err := events.CheckRulePattern(p); err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "pattern", "%v", err)
	}
	if !json.Valid(event) {
		return nil, directory.Errorf(directory.ErrInvalid, "event", "the event is not valid JSON")
	}
	ok, why := events.ExplainRule(p, event)
	return &TestResult{Match: ok, Reason: why}, nil
}

// ---- HTTP

func (a *API) eventRoutes() {
	a.handle("GET /deliveries", a.listDeliveries)
	a.handle("GET /deliveries/{id}", a.getDelivery)
	a.handle("POST /deliveries/replay", a.replay)
	a.handle("POST /events/backfill", a.backfill)
	a.handle("GET /targets", a.listTargets)
	a.handle("POST /targets/{name}/enable", a.enableTarget)
	a.handle("POST /targets/{name}/disable", a.disableTarget)
	a.handle("POST /targets/{name}/test", a.testTarget)
	a.handle("GET /rules", a.listRules)
	a.handle("GET /rules/{name}", a.getRule)
	a.handle("PUT /rules/{name}", a.putRule)
	a.handle("DELETE /rules/{name}", a.deleteRule)
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

// BackfillInput is the body of POST /events/backfill: since and until
// take the forms the command line's --since and --until take (ParseWhen).
type BackfillInput struct {
	Rule   string `json:"rule"`
	Since  string `json:"since,omitempty"`
	Until  string `json:"until,omitempty"`
	DryRun bool   `json:"dryRun,omitempty"`
}

func (a *API) backfill(r *http.Request, actor directory.Actor) (int, any, error) {
	var in BackfillInput
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	req := events.BackfillRequest{Rule: in.Rule, DryRun: in.DryRun}
	now := time.Now()
	var err error
	if req.Since, err = ParseWhen("since", in.Since, now); err != nil {
		return 0, nil, err
	}
	if req.Until, err = ParseWhen("until", in.Until, now); err != nil {
		return 0, nil, err
	}
	rep, err := a.ops.Backfill(r.Context(), actor, req)
	return http.StatusOK, rep, err
}

// ParseWhen reads a time bound (the value of field): a date (2026-03-01,
// midnight UTC), an RFC 3339 time, or a positive duration back from now
// (72h). "" is no bound (the zero time).
func ParseWhen(field, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.UTC().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, invalid(field, "%s: %q is not a date (2026-03-01), an RFC 3339 time (2026-03-01T09:00:00Z) or a duration back from now (72h)", field, s)
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

// targetTestInput is the body of POST /targets/{name}/test (optional for
// targets that are not email targets).
type targetTestInput struct {
	To       string `json:"to,omitempty"`
	Template string `json:"template,omitempty"`
}

func (a *API) testTarget(r *http.Request, actor directory.Actor) (int, any, error) {
	var in targetTestInput
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
	}
	res, err := a.ops.TestTarget(r.Context(), actor, r.PathValue("name"), events.TestOptions{To: in.To, Template: in.Template})
	return http.StatusOK, res, err
}

func (a *API) listRules(r *http.Request, _ directory.Actor) (int, any, error) {
	rs, err := a.ops.ListRules()
	return http.StatusOK, list[RuleView]{rs}, err
}

func (a *API) getRule(r *http.Request, _ directory.Actor) (int, any, error) {
	rule, err := a.ops.Rule(r.PathValue("name"))
	return http.StatusOK, rule, err
}

func (a *API) putRule(r *http.Request, actor directory.Actor) (int, any, error) {
	var in events.RuleSpec
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	if in.Name != "" && in.Name != name {
		return 0, nil, invalid("name", "the body names rule %q, the path %q", in.Name, name)
	}
	in.Name = name
	created, err := a.ops.PutRule(r.Context(), actor, in)
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return status, RuleView{RuleSpec: in, Origin: "api"}, nil
}

func (a *API) deleteRule(r *http.Request, actor directory.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.ops.DeleteRule(r.Context(), actor, r.PathValue("name"))
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

// DecodeRule reads a rule as `gatehouse rules put --file` and the
// console's editor take it: YAML or JSON, unknown fields refused.
func DecodeRule(src []byte) (events.RuleSpec, error) {
	var r events.RuleSpec
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return r, directory.Errorf(directory.ErrInvalid, "rule", "%v", err)
	}
	return r, nil
}

package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// ErrCursorMoved: another dispatcher dispatched the same events first.
var ErrCursorMoved = errors.New("events: dispatch cursor moved")

// Outcome kinds of an attempt.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetry     = "retry"
	OutcomePermanent = "permanent"
	OutcomeDisable   = "disable"
)

// Result is what a sender reports of one attempt.
type Result struct {
	Outcome    string
	RetryAfter time.Duration
	Status     int
	Latency    time.Duration
	Response   string
	Err        error
	// Uncertain: the target may have acted on the attempt although its
	// answer does not say so (see KeyLifetime).
	Uncertain bool
}

// KeyLifetime is implemented by senders whose target remembers idempotency
// keys for a limited time (Resend: 24 h; 0: no limit). Once an attempt's
// outcome is uncertain (Result.Uncertain, or an attempt whose process
// died), the delivery is not attempted again later than keyMargin before
// that attempt's key would be forgotten: it is dead instead, and a replay
// sends it again with a new key.
type KeyLifetime interface {
	IdempotencyKeyLifetime() time.Duration
}

// keyMargin is how long before the target forgets a key the last retry
// must start (the attempt's own time, clocks that differ).
const keyMargin = time.Hour

// Pauser is implemented by senders that the target can pause (Resend's
// used-up quota): the worker claims nothing before PausedUntil.
type Pauser interface {
	PausedUntil() (until time.Time, why string)
}

// Sender delivers to one target.
type Sender interface {
	Kind() string
	Send(ctx context.Context, d *Delivery) Result
}

// BatchSender delivers several deliveries in one call (EventBridge's
// PutEvents); results are in the order of ds.
type BatchSender interface {
	SendBatch(ctx context.Context, ds []*Delivery) []Result
}

// Matcher finds the rules a document matches.
type Matcher interface {
	Match(doc []byte) ([]string, error)
}

// Transformer turns a document into a target's payload.
type Transformer interface {
	Apply(doc []byte) ([]byte, error)
}

// Route sends what a rule matched to a target, transformed.
type Route struct {
	Target    string
	Transform Transformer // nil: the whole document
}

// Policy is how deliveries to a target are made.
type Policy struct {
	// Schedule is the wait before each retry: attempt n+1 waits
	// Schedule[n-1] (times 1 ± Jitter). Attempts beyond len(Schedule)+1
	// are not made: the delivery is dead.
	Schedule    []time.Duration
	Jitter      float64
	Concurrency int           // attempts in flight at once
	Rate        float64       // attempts per second (0: unlimited)
	Ordered     bool          // per subject, in event order
	Timeout     time.Duration // per attempt
	// The circuit breaker opens after BreakerFailures consecutive failed
	// attempts and stays open for BreakerCooldown (doubling while failures
	// continue, up to 10 minutes), then lets one attempt through.
	BreakerFailures int
	BreakerCooldown time.Duration
}

// DefaultSchedule is Standard Webhooks' example schedule: 5 s, 5 min,
// 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (ten attempts over ≈ 3 days).
func DefaultSchedule() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
		10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}
}

// DefaultPolicy is the policy of a target that names none.
func DefaultPolicy() Policy {
	return Policy{Schedule: DefaultSchedule(), Jitter: 0.2, Concurrency: 4, Timeout: 10 * time.Second,
		BreakerFailures: 10, BreakerCooldown: 30 * time.Second}
}

// Target is a configured target.
type Target struct {
	Name   string
	Sender Sender
	Policy Policy
	// Push is set for a SCIM target with a push (config.go's PushSpec).
	Push *PushTarget
	// Missing names the environment variables the target needs that were
	// unset, when it was built with Env.WithoutSecrets: it cannot deliver
	// (its Sender refuses) and its Push has no client.
	Missing []string
}

// Unavailable says why the target cannot deliver (nil when it can).
func (t *Target) Unavailable() error {
	if len(t.Missing) == 0 {
		return nil
	}
	return missingError(t.Missing)
}

// Config is what the pipeline runs: compiled rules, their routes and the
// targets. It is replaced as a whole on reload.
type Config struct {
	Matcher Matcher
	Routes  map[string][]Route // by rule name
	Targets map[string]*Target
	// Warnings are what the configuration's check found that does not
	// refuse it: rules whose pattern matches no event Gatehouse emits or
	// receives, each with its line and field, as problems are written.
	Warnings []string
}

// Observer is told what the pipeline does (metrics).
type Observer interface {
	Dispatched(events, deliveries int)
	Matched(rule string)
	Attempted(target, outcome string, latency time.Duration)
	Delivered(target string, endToEnd time.Duration)
}

type nopObserver struct{}

func (nopObserver) Dispatched(int, int)                     {}
func (nopObserver) Matched(string)                          {}
func (nopObserver) Attempted(string, string, time.Duration) {}
func (nopObserver) Delivered(string, time.Duration)         {}

// Options configure a Pipeline.
type Options struct {
	Log      *slog.Logger
	Observer Observer
	NewID    func() string
	// PollInterval bounds how long a change made by another process (the
	// CLI, another replica) waits for dispatch (default 250 ms); changes
	// made in this process are dispatched at once (Poke).
	PollInterval time.Duration
	// Retention is how long finished deliveries and dispatched events are
	// kept (default 7 days).
	Retention time.Duration
	// Prunes, when set, says whether this server prunes now: of the
	// servers of one database, one does (the leader). Nil: always.
	Prunes func() bool
	// Dispatch turns dispatching off (a replica that only delivers).
	NoDispatch bool
	// Now is the clock (default time.Now): the times written to the store
	// and compared with its times. Waits use the runtime's timers.
	Now func() time.Time
	// Rand is the jitter's source, uniform in [0, 1) (default
	// math/rand/v2.Float64).
	Rand func() float64
}

// Pipeline dispatches events and delivers them.
//
// A rule applies to the events written after it came into force: when a
// server first put it in force (Activate, Reload), the pipeline records
// its start in the store — the seq of the last event written by then —
// and routes by it only the events after. History written before a
// server's first start (an import from the command line) is therefore not
// routed by that start, and a rule added later does not see the events
// before it; Backfill routes past events explicitly.
type Pipeline struct {
	store   Store
	builder *Builder
	opt     Options
	log     *slog.Logger
	obs     Observer

	force atomic.Pointer[inForce]
	poke  chan struct{}

	// reloading serialises Activate and Reload; active is set by Activate.
	reloading sync.Mutex
	active    bool

	mu      sync.Mutex
	workers map[string]*worker
	ctx     context.Context
	wg      sync.WaitGroup

	// The failures of the loops, logged once per outage rather than at
	// every attempt (logging.Repeated).
	dispatchErrs, recoverErrs *logging.Repeated

	// readFail is the record whose document the directory's failures
	// kept from being built, and since when (readFailing).
	readFail struct {
		sync.Mutex
		seq   int64
		since time.Time
	}
}

// New returns a pipeline; Run starts it.
func New(store Store, b *Builder, cfg *Config, opt Options) *Pipeline {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Observer == nil {
		opt.Observer = nopObserver{}
	}
	if opt.PollInterval == 0 {
		opt.PollInterval = 250 * time.Millisecond
	}
	if opt.Retention == 0 {
		opt.Retention = 7 * 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Rand == nil {
		opt.Rand = rand.Float64
	}
	p := &Pipeline{store: store, builder: b, opt: opt, log: opt.Log, obs: opt.Observer, poke: make(chan struct{}, 1), workers: map[string]*worker{},
		dispatchErrs: &logging.Repeated{Log: opt.Log, Msg: "dispatch events"},
		recoverErrs:  &logging.Repeated{Log: opt.Log, Msg: "recover deliveries"}}
	if cfg == nil {
		cfg = &Config{}
	}
	p.force.Store(&inForce{cfg: cfg})
	return p
}

// inForce is the configuration in force and the start of each of its
// rules: the seq after which the rule routes events. starts is nil until
// the pipeline is activated (a pipeline that only renders documents, or a
// test dispatching by hand): every rule then sees every event.
type inForce struct {
	cfg    *Config
	starts map[string]int64
}

// routes reports whether rule routes the event of seq.
func (f *inForce) routes(rule string, seq int64) bool {
	if f.starts == nil {
		return true
	}
	start, ok := f.starts[rule]
	return ok && seq > start
}

// ruleNames lists the rules of cfg.
func ruleNames(cfg *Config) []string {
	names := make([]string, 0, len(cfg.Routes))
	for name := range cfg.Routes {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Activate puts the configuration's rules in force: each rule that never
// was gets its start, the last event written so far, so that it routes
// only the events after. A server calls it before it takes requests;
// from then on Reload does the same for the rules it brings. Run
// activates the pipeline if that has not been done.
func (p *Pipeline) Activate(ctx context.Context) error {
	p.reloading.Lock()
	defer p.reloading.Unlock()
	cfg := p.force.Load().cfg
	starts, err := p.store.StartRules(ctx, ruleNames(cfg), p.now())
	if err != nil {
		return fmt.Errorf("put the rules in force: %w", err)
	}
	p.force.Store(&inForce{cfg: cfg, starts: starts})
	p.active = true
	return nil
}

func (p *Pipeline) now() time.Time { return p.opt.Now().UTC() }

// Poke wakes the dispatcher: something was written to the outbox.
func (p *Pipeline) Poke() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

// Builder returns the builder of the documents rules see.
func (p *Pipeline) Builder() *Builder { return p.builder }

// Config returns the configuration in force.
func (p *Pipeline) Config() *Config { return p.force.Load().cfg }

// RuleStarts returns the start of each rule in force: the seq of the last
// event written before it came into force (nil before Activate).
func (p *Pipeline) RuleStarts() map[string]int64 { return p.force.Load().starts }

// Reload replaces the configuration: new targets get workers, removed
// ones stop (their pending deliveries stay queued until a target of that
// name comes back). On an activated pipeline, the new rules come into
// force now (see Activate); if their starts cannot be recorded, the
// configuration in force stays and the error says why.
func (p *Pipeline) Reload(ctx context.Context, cfg *Config) error {
	p.reloading.Lock()
	defer p.reloading.Unlock()
	f := &inForce{cfg: cfg}
	if p.active {
		starts, err := p.store.StartRules(ctx, ruleNames(cfg), p.now())
		if err != nil {
			return fmt.Errorf("put the rules in force: %w", err)
		}
		f.starts = starts
	}
	p.force.Store(f)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil {
		return nil
	}
	p.syncWorkers()
	p.Poke()
	return nil
}

// Run dispatches and delivers until ctx ends.
func (p *Pipeline) Run(ctx context.Context) {
	p.mu.Lock()
	p.ctx = ctx
	p.syncWorkers()
	p.mu.Unlock()
	if !p.opt.NoDispatch {
		for !p.activated() {
			if err := p.Activate(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				p.log.Error("put the rules in force; dispatching waits", "err", err)
				pause(ctx, time.Second)
			}
		}
	}
	if _, err := p.store.Recover(ctx, p.now()); err != nil && ctx.Err() == nil {
		p.log.Error("recover deliveries", "err", err)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.maintain(ctx)
	}()
	if !p.opt.NoDispatch {
		p.dispatchLoop(ctx)
	} else {
		<-ctx.Done()
	}
	p.wg.Wait()
}

func (p *Pipeline) activated() bool {
	p.reloading.Lock()
	defer p.reloading.Unlock()
	return p.active
}

// syncWorkers starts workers for new targets and stops removed ones.
// Called with p.mu held.
func (p *Pipeline) syncWorkers() {
	cfg := p.force.Load().cfg
	for name, w := range p.workers {
		if t, ok := cfg.Targets[name]; !ok || t != w.target {
			w.stop()
			delete(p.workers, name)
		}
	}
	for name, t := range cfg.Targets {
		if _, ok := p.workers[name]; ok {
			continue
		}
		w := newWorker(p, t)
		// The context is made here, not in the goroutine, so that a stop
		// that comes before the goroutine runs still stops it.
		ctx, cancel := context.WithCancel(p.ctx)
		w.cancel = cancel
		p.workers[name] = w
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			w.run(ctx)
		}()
	}
}

// Wake tells target's worker that deliveries may be due.
func (p *Pipeline) Wake(target string) { p.wake(target) }

func (p *Pipeline) wake(target string) {
	p.mu.Lock()
	w := p.workers[target]
	p.mu.Unlock()
	if w != nil {
		w.wake()
	}
}

// Render returns the document of an outbox record, as rules see it.
func (p *Pipeline) Render(ctx context.Context, rec *directory.EventRecord) (json.RawMessage, error) {
	orgs, err := p.builder.orgs(ctx)
	if err != nil {
		return nil, err
	}
	return p.builder.Build(ctx, rec, batch{orgs: orgs})
}

// ---- dispatch

func (p *Pipeline) dispatchLoop(ctx context.Context) {
	t := time.NewTicker(p.opt.PollInterval)
	defer t.Stop()
	for {
		for {
			n, err := p.DispatchOnce(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if !errors.Is(err, ErrCursorMoved) {
					p.dispatchErrs.Fail(ctx, err)
				}
				break
			}
			p.dispatchErrs.OK(ctx)
			if n < dispatchBatch {
				// All there was: what commits from now on pokes this
				// loop (a write of this process) or waits for the tick
				// (another replica's). Looking again at once would only
				// cost the reads of an empty batch.
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.poke:
		case <-t.C:
		}
	}
}

const dispatchBatch = 500

// readRetry is how long the dispatcher tries a batch again while the
// directory cannot be read to build one of its documents. Past it, the
// record is dispatched with a document that says why (a read that fails
// that long is taken for the record's own failure, which would otherwise
// block every event after it).
const readRetry = time.Minute

// readFailing records that reading the directory failed while building
// the document of the record at seq, and reports whether the batch is to
// be tried again: for readRetry from the first failure at seq.
func (p *Pipeline) readFailing(seq int64, now time.Time) bool {
	p.readFail.Lock()
	defer p.readFail.Unlock()
	if p.readFail.seq != seq {
		p.readFail.seq, p.readFail.since = seq, now
	}
	return now.Sub(p.readFail.since) < readRetry
}

// DispatchOnce dispatches the next batch of events and returns how many
// it took.
func (p *Pipeline) DispatchOnce(ctx context.Context) (int, error) {
	from, err := p.store.DispatchCursor(ctx)
	if err != nil {
		return 0, err
	}
	recs, err := p.store.EventsAfter(ctx, from, dispatchBatch)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	force := p.force.Load()
	cfg := force.cfg
	orgs, err := p.builder.orgs(ctx)
	if err != nil {
		return 0, err
	}
	// The groups of the batch's users, in one read. Should it fail (the
	// database, not one event), the whole batch is tried again, as when
	// reading the records fails.
	bt, err := p.builder.withGroups(ctx, batch{orgs: orgs}, recs)
	if err != nil {
		return 0, err
	}
	now := p.now()
	var docs []*EventDoc
	var ds []*Delivery
	var failed []*Completion // deliveries whose payload could not be built
	woken := map[string]bool{}
	before := map[string]int{} // matches of events written before their rule came into force
	for _, rec := range recs {
		doc, err := p.builder.Build(ctx, rec, bt)
		if err != nil {
			if ctx.Err() != nil {
				// Stopped (the server's stop): nothing of the batch is
				// dispatched, and the next start dispatches it.
				return 0, ctx.Err()
			}
			if errors.As(err, new(readError)) && p.readFailing(rec.Seq, now) {
				// The database failed, not the record: the whole batch is
				// tried again, as when reading the records fails, for up
				// to readRetry.
				return 0, err
			}
			// A record that cannot be built is kept (the document says
			// why) rather than blocking the events after it.
			p.log.Error("build event document", "event_id", rec.ID, "err", err)
			doc, _ = json.Marshal(map[string]any{"id": rec.ID, "type": rec.Type, "error": err.Error()})
		}
		docs = append(docs, &EventDoc{Seq: rec.Seq, ID: rec.ID, Doc: doc})
		if cfg.Matcher == nil {
			continue
		}
		rules, err := cfg.Matcher.Match(doc)
		if err != nil {
			p.log.Error("match event", "event_id", rec.ID, "err", err)
			continue
		}
		for _, rule := range rules {
			if !force.routes(rule, rec.Seq) {
				before[rule]++
				continue
			}
			p.obs.Matched(rule)
			rds, rfailed := route(cfg, rule, rec.Seq, rec.ID, rec.Type, rec.Subject, rec.Time, doc, now)
			ds, failed = append(ds, rds...), append(failed, rfailed...)
			for _, d := range rds {
				woken[d.Target] = true
			}
		}
	}
	if err := p.store.Dispatch(ctx, from, recs[len(recs)-1].Seq, docs, ds); err != nil {
		return 0, err
	}
	if len(failed) > 0 {
		if err := p.store.Complete(context.WithoutCancel(ctx), failed, now); err != nil {
			p.log.Error("record deliveries whose payload could not be built", "err", err)
		}
		for _, d := range ds {
			if d.State == StateDead {
				p.logDead(d, &Completion{}, "the payload could not be built")
			}
		}
	}
	p.obs.Dispatched(len(recs), len(ds))
	for _, rule := range slices.Sorted(maps.Keys(before)) {
		p.log.Info("events written before the rule came into force are not routed by it (gatehouse events backfill routes them)",
			"rule", rule, "events", before[rule])
	}
	for t := range woken {
		p.wake(t)
	}
	return len(recs), nil
}

// route makes the deliveries of an event by one rule, one per route, and
// the completions of those whose payload could not be built.
func route(cfg *Config, rule string, seq int64, id, typ, subject string, at time.Time, doc []byte, now time.Time) ([]*Delivery, []*Completion) {
	var ds []*Delivery
	var failed []*Completion
	for i, rt := range cfg.Routes[rule] {
		d := &Delivery{
			ID: deliveryID(seq, id, rule, i, rt.Target), EventSeq: seq, EventID: id, EventType: typ, EventTime: at,
			Rule: rule, Target: rt.Target, Subject: subject, State: StatePending, NextAt: now, Created: now,
		}
		payload := doc
		if rt.Transform != nil {
			var err error
			if payload, err = rt.Transform.Apply(doc); err != nil {
				// Kept as a dead delivery with the reason, not dropped. It
				// is queued never due, then completed as dead: stores
				// queue every delivery as pending.
				reason := "transform: " + err.Error()
				d.State, d.LastError, payload = StateDead, reason, []byte("null")
				d.NextAt = never
				failed = append(failed, &Completion{State: StateDead,
					Attempt: Attempt{DeliveryID: d.ID, At: now, Outcome: OutcomePermanent, Error: truncate(reason, 1024)}})
			}
		}
		d.Payload = payload
		ds = append(ds, d)
	}
	return ds, failed
}

// never is the NextAt of a delivery that is not to be attempted.
var never = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// deliveryID is deterministic: dispatching the same event again (after a
// crash between building and committing) yields the same ids. The seq is
// part of it: event ids are unique per source only, and two received
// events may share one.
func deliveryID(seq int64, eventID, rule string, i int, target string) string {
	return "dlv_" + shortHash(strconv.FormatInt(seq, 10)+"\x00"+eventID+"\x00"+rule+"\x00"+target+"\x00"+strconv.Itoa(i))
}

// ---- maintenance

// maintain requeues deliveries whose attempt outlived its lease (a replica
// died mid-attempt) every few seconds, and prunes hourly.
func (p *Pipeline) maintain(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	pruneEvery := time.Hour
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := p.store.Recover(ctx, p.now()); err != nil {
			if ctx.Err() == nil {
				p.recoverErrs.Fail(ctx, err)
			}
		} else {
			p.recoverErrs.OK(ctx)
			if n > 0 {
				p.log.Warn("deliveries whose attempt outlived its lease were requeued", "count", n)
			}
		}
		if now := p.now(); now.Sub(lastPrune) > pruneEvery && (p.opt.Prunes == nil || p.opt.Prunes()) {
			lastPrune = now
			if n, err := p.store.Prune(ctx, now.Add(-p.opt.Retention)); err != nil {
				if ctx.Err() == nil {
					p.log.Error("prune deliveries", "err", err)
				}
			} else if n > 0 {
				p.log.Info("pruned finished deliveries", "count", n)
			}
		}
	}
}

// ---- delivery

type worker struct {
	p       *Pipeline
	target  *Target
	limiter *rate.Limiter
	wakeCh  chan struct{}
	cancel  context.CancelFunc
	stopped chan struct{}

	failures  int           // consecutive failed attempts
	cooldown  time.Duration // current breaker cooldown (0: closed)
	openUntil time.Time     // while the breaker is open, no attempt before this
	paused    time.Time     // the end of the target's pause last logged (Pauser)
	probe     bool          // after a pause: one attempt tells whether it is over
	off       bool          // the target was disabled when last looked at (logged)

	recording sync.WaitGroup // a batch's results being written (record)
	pending   bool           // record started, flush not since (the loop's own)
	claimErrs *logging.Repeated
}

func newWorker(p *Pipeline, t *Target) *worker {
	w := &worker{p: p, target: t, wakeCh: make(chan struct{}, 1), stopped: make(chan struct{}),
		claimErrs: &logging.Repeated{Log: p.log, Msg: "claim deliveries", Attrs: []any{"target", t.Name}}}
	if t.Policy.Rate > 0 {
		w.limiter = rate.NewLimiter(rate.Limit(t.Policy.Rate), max(1, int(t.Policy.Rate)))
	}
	return w
}

func (w *worker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

func (w *worker) stop() {
	if w.cancel != nil {
		w.cancel()
	}
}

func (w *worker) run(ctx context.Context) {
	defer close(w.stopped)
	pol := w.target.Policy
	// An attempt ends within its timeout; the margin covers recording it.
	// A delivery whose lease ran out is taken by another worker.
	lease := pol.Timeout + 15*time.Second
	for ctx.Err() == nil {
		if wait := w.openUntil.Sub(w.p.now()); wait > 0 {
			// The breaker is open: nothing, new deliveries included, goes
			// before the cooldown ends.
			pause(ctx, wait)
			continue
		}
		if until := w.pausedUntil(); until.After(w.p.now()) {
			// The target asked for a pause (Resend's quota): nothing goes
			// before it ends, new deliveries included; then one attempt
			// finds out whether the target takes deliveries again.
			pause(ctx, until.Sub(w.p.now()))
			w.probe = true
			continue
		}
		if disabled, err := w.disabled(ctx); err != nil || disabled {
			w.sleep(ctx, 5*time.Second)
			continue
		}
		// Enough for the next batch to go out while this one's results are
		// recorded (in the background, below).
		limit := max(1, pol.Concurrency) * 4
		switch {
		case w.cooldown > 0 || w.probe:
			limit = 1 // half-open: one attempt tells whether the target is back
		case pol.BreakerFailures > 0:
			// No more attempts than it takes to open the breaker.
			limit = min(limit, max(1, pol.BreakerFailures-w.failures))
		}
		now := w.p.now()
		ds, err := w.p.store.Claim(ctx, w.target.Name, now, limit, lease, pol.Ordered)
		if err != nil {
			if ctx.Err() == nil {
				w.claimErrs.Fail(ctx, err)
			}
			w.sleep(ctx, time.Second)
			continue
		}
		w.claimErrs.OK(ctx)
		if len(ds) == 0 {
			if w.pending {
				// The results being written may make deliveries due (an
				// ordered subject's next): claim again once they are.
				w.flush()
				continue
			}
			w.idle(ctx, now)
			continue
		}
		results := w.attempt(ctx, ds)
		w.complete(ctx, ds, results)
		if w.probe && !w.pausedUntil().After(w.p.now()) {
			w.probe = false
		}
	}
	w.flush()
}

// record writes a batch's results in the background, so that the next
// batch is claimed and sent meanwhile (the two writes then share a commit).
// One batch is recorded at a time, in order; the deliveries stay running
// (leased) until their results are written, so nothing else takes them.
func (w *worker) record(fn func()) {
	w.recording.Wait()
	w.pending = true
	w.recording.Add(1)
	go func() {
		defer w.recording.Done()
		fn()
	}()
}

// flush waits for the results being recorded.
func (w *worker) flush() {
	w.recording.Wait()
	w.pending = false
}

// pause waits d or until ctx ends; wakes do not end it.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// pausedUntil is when the target's pause ends (zero: none); a new pause is
// logged once.
func (w *worker) pausedUntil() time.Time {
	p, ok := w.target.Sender.(Pauser)
	if !ok {
		return time.Time{}
	}
	until, why := p.PausedUntil()
	if until.After(w.p.now()) && !until.Equal(w.paused) {
		w.paused = until
		w.p.log.Warn("target paused", "target", w.target.Name, "until", until.UTC().Format(time.RFC3339), "reason", why)
	}
	return until
}

// keyLifetime is how long the target remembers idempotency keys (0: no
// limit).
func (w *worker) keyLifetime() time.Duration {
	if kl, ok := w.target.Sender.(KeyLifetime); ok {
		return kl.IdempotencyKeyLifetime()
	}
	return 0
}

// keyDeadline is the latest time an attempt of a delivery whose outcome
// became uncertain at since may start (zero: any time).
func keyDeadline(since time.Time, lifetime time.Duration) time.Time {
	if lifetime <= 0 || since.IsZero() {
		return time.Time{}
	}
	return since.Add(max(lifetime-keyMargin, lifetime/2))
}

// keyExpiredError says why a delivery is not attempted again.
func keyExpiredError(since, deadline time.Time, lifetime time.Duration) string {
	return fmt.Sprintf("an attempt at %s may have reached the target, which forgets idempotency keys after %s: "+
		"an attempt after %s could deliver twice; replay the delivery to send it again (with a new key)",
		since.UTC().Format(time.RFC3339), lifetime, deadline.UTC().Format(time.RFC3339))
}

// disabled reports whether the target is disabled (by a 410 or an
// operator, in any process); a change is logged.
func (w *worker) disabled(ctx context.Context) (bool, error) {
	dis, err := w.p.store.TargetsDisabled(ctx)
	if err != nil {
		return false, err
	}
	reason, off := dis[w.target.Name]
	switch {
	case off && !w.off:
		w.p.log.Warn("target disabled", "target", w.target.Name, "reason", reason)
	case !off && w.off:
		w.p.log.Info("target enabled", "target", w.target.Name)
	}
	w.off = off
	return off, nil
}

// idle waits for new deliveries or the next due one (at most 1 s, so that
// deliveries queued by another replica are picked up). claimed is when the
// claim that found nothing ran: a delivery due by then that it did not
// take waits behind an earlier one of its subject (ordered) and is not a
// reason to come back sooner.
func (w *worker) idle(ctx context.Context, claimed time.Time) {
	wait := time.Second
	if next, err := w.p.store.NextDue(ctx, w.target.Name); err == nil && next.After(claimed) {
		wait = min(wait, max(next.Sub(w.p.now()), time.Millisecond))
	}
	w.sleep(ctx, wait)
}

func (w *worker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wakeCh:
	case <-t.C:
	}
}

func (w *worker) attempt(ctx context.Context, all []*Delivery) []Result {
	pol := w.target.Policy
	results := make([]Result, len(all))
	// A delivery whose target may have forgotten the key of an attempt that
	// may have reached it is not sent again.
	var ds []*Delivery
	var at []int // ds[j] is all[at[j]]
	lifetime, now := w.keyLifetime(), w.p.now()
	for i, d := range all {
		if deadline := keyDeadline(d.UncertainSince, lifetime); !deadline.IsZero() && now.After(deadline) {
			results[i] = Result{Outcome: OutcomePermanent, Err: errors.New("not sent: " + keyExpiredError(d.UncertainSince, deadline, lifetime))}
			continue
		}
		ds, at = append(ds, d), append(at, i)
	}
	if len(ds) == 0 {
		return results
	}
	if bs, ok := w.target.Sender.(BatchSender); ok {
		if w.limiter != nil {
			_ = w.limiter.Wait(ctx)
		}
		actx, cancel := context.WithTimeout(ctx, pol.Timeout)
		start := time.Now()
		rs := bs.SendBatch(actx, ds)
		cancel()
		for j, i := range at {
			if j < len(rs) {
				results[i] = rs[j]
			} else {
				results[i] = Result{Outcome: OutcomeRetry, Err: errors.New("no result for this entry")}
			}
			if results[i].Latency == 0 {
				results[i].Latency = time.Since(start)
			}
		}
		return results
	}
	sem := make(chan struct{}, max(1, pol.Concurrency))
	var wg sync.WaitGroup
	for j, d := range ds {
		i := at[j]
		if w.limiter != nil {
			if err := w.limiter.Wait(ctx); err != nil {
				results[i] = Result{Outcome: OutcomeRetry, Err: err}
				continue
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, pol.Timeout)
			defer cancel()
			start := time.Now()
			send, note, done := w.sendCurrent(actx, d)
			if done != nil {
				done.Latency = time.Since(start)
				results[i] = *done
				return
			}
			r := w.target.Sender.Send(actx, send)
			if r.Latency == 0 {
				r.Latency = time.Since(start)
			}
			if note != "" {
				r.Response = strings.TrimSuffix(note+"; "+r.Response, "; ")
			}
			results[i] = r
		}()
	}
	wg.Wait()
	return results
}

func (w *worker) complete(ctx context.Context, ds []*Delivery, results []Result) {
	pol := w.target.Policy
	now := w.p.now()
	lifetime := w.keyLifetime()
	cs := make([]*Completion, len(ds))
	disable := ""
	for i, d := range ds {
		r := results[i]
		if r.Outcome == "" {
			r.Outcome = OutcomeRetry
		}
		a := Attempt{DeliveryID: d.ID, N: d.Attempts, At: now.Add(-r.Latency), Outcome: r.Outcome, Status: r.Status, Latency: r.Latency,
			Response: truncate(r.Response, 1024)}
		if r.Err != nil {
			a.Error = truncate(r.Err.Error(), 1024)
		}
		c := &Completion{Attempt: a, Uncertain: r.Uncertain}
		switch r.Outcome {
		case OutcomeDelivered:
			c.State = StateDelivered
			w.p.obs.Delivered(w.target.Name, now.Sub(d.EventTime))
		case OutcomePermanent:
			c.State = StateDead
		case OutcomeDisable:
			// The endpoint asked to be disabled (410): keep the delivery
			// for when an operator enables the target again.
			c.State, c.NextAt = StatePending, now
			disable = "the endpoint answered " + statusText(r.Status)
		default:
			if d.RoundAttempts() > len(pol.Schedule) {
				c.State = StateDead
				break
			}
			c.State, c.NextAt = StatePending, now.Add(backoff(pol, d.RoundAttempts(), r.RetryAfter, w.p.opt.Rand))
			since := d.UncertainSince
			if since.IsZero() && r.Uncertain {
				since = a.At
			}
			if deadline := keyDeadline(since, lifetime); !deadline.IsZero() && c.NextAt.After(deadline) {
				// The retry would come after the target may have forgotten
				// the key: dead, for a replay to send again.
				note := "; not retried: " + keyExpiredError(since, deadline, lifetime)
				c.State, c.NextAt = StateDead, time.Time{}
				if a.Error == "" {
					note = strings.TrimPrefix(note, "; ")
				}
				c.Attempt.Error = truncate(a.Error, max(0, 1024-len(note))) + note
			}
		}
		w.p.obs.Attempted(w.target.Name, r.Outcome, r.Latency)
		cs[i] = c
	}
	// Record the attempts even if the pipeline is stopping.
	rctx := context.WithoutCancel(ctx)
	record := func() {
		if err := w.p.store.Complete(rctx, cs, now); err != nil {
			w.p.log.Error("record delivery attempts", "target", w.target.Name, "err", err)
		}
	}
	if disable == "" {
		w.record(record)
	} else {
		// Disabling stops the worker's next claims: done before them.
		w.flush()
		record()
		after, _ := json.Marshal(map[string]string{"reason": disable})
		audit := &directory.AuditEntry{Time: now, Actor: directory.Actor{Kind: "system", AppName: "events"}, Action: "target.disable",
			ResourceType: "Target", ResourceID: w.target.Name, After: after}
		if err := w.p.store.SetTargetDisabled(rctx, w.target.Name, disable, true, audit); err != nil {
			w.p.log.Error("disable target", "target", w.target.Name, "err", err)
		} else {
			// Logged here, with the delivery; the next look finds it so.
			w.p.log.Warn("target disabled", "target", w.target.Name, "reason", disable)
			w.off = true
		}
	}
	for i, c := range cs {
		if c.State == StateDead {
			w.p.logDead(ds[i], c, deadReason(&results[i], c))
		}
	}
	w.breaker(results, now)
}

// deadReason says, without the error's text (which may hold personal
// data), why a delivery was given up.
func deadReason(r *Result, c *Completion) string {
	switch {
	case strings.HasPrefix(c.Attempt.Error, "not sent: "):
		return "not sent: the target may have forgotten the idempotency key of an earlier attempt"
	case r.Outcome == OutcomePermanent:
		return "permanent failure"
	case strings.Contains(c.Attempt.Error, "not retried: "):
		return "not retried: the target would have forgotten the idempotency key of an earlier attempt"
	}
	return "retries exhausted"
}

// logDead logs a delivery given up: a dead letter, for `gatehouse
// deliveries show` and replay. Ids only: the error and the payload may hold
// personal data.
func (p *Pipeline) logDead(d *Delivery, c *Completion, why string) {
	p.log.Warn("delivery dead", "target", d.Target, "delivery_id", d.ID, "rule", d.Rule, "event_id", d.EventID, "event_type", d.EventType,
		"attempts", d.Attempts, "status", c.Attempt.Status, "why", why)
}

// breaker counts consecutive failures (retryable outcomes) and opens
// after BreakerFailures of them: then one attempt goes through per
// cooldown, the cooldown doubling (up to 10 minutes) while they fail.
func (w *worker) breaker(results []Result, now time.Time) {
	pol := w.target.Policy
	failed := false
	for _, r := range results {
		switch r.Outcome {
		case OutcomeDelivered, OutcomePermanent:
			w.failures, w.cooldown, w.openUntil = 0, 0, time.Time{}
		default:
			w.failures++
			failed = true
		}
	}
	if !failed || pol.BreakerFailures <= 0 || w.failures < pol.BreakerFailures {
		return
	}
	switch {
	case w.cooldown == 0:
		w.cooldown = pol.BreakerCooldown
		w.p.log.Warn("circuit breaker open", "target", w.target.Name, "failures", w.failures, "cooldown", w.cooldown.String())
	case w.cooldown < 10*time.Minute:
		w.cooldown = min(w.cooldown*2, 10*time.Minute)
	}
	w.openUntil = now.Add(w.cooldown)
}

// backoff is the wait before attempt n+1 after attempt n failed: the
// schedule's (its last wait once n goes past it), times a factor in
// 1 ± Jitter drawn from rnd (uniform in [0, 1)), and at least what the
// target asked for with Retry-After.
func backoff(pol Policy, n int, retryAfter time.Duration, rnd func() float64) time.Duration {
	d := time.Second
	if len(pol.Schedule) > 0 {
		d = pol.Schedule[min(max(n, 1), len(pol.Schedule))-1]
	}
	if pol.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + pol.Jitter*(2*rnd()-1)))
	}
	return max(d, retryAfter)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func statusText(code int) string {
	if code == 0 {
		return "no status"
	}
	return "HTTP " + strconv.Itoa(code)
}

// shortHash is a stable 128-bit hex digest.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// TargetNames lists the configured targets by name.
func (c *Config) TargetNames() []string {
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

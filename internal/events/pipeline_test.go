package events_test

// The delivery engine against the real SQLite store, in a synctest
// bubble: the store is opened inside it, so its goroutines and the
// pipeline's share the bubble's clock, and hours of retries take no time.
// Times below are read from that clock (deterministic), not measured.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

func TestBackoff(t *testing.T) {
	sched := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	for _, tt := range []struct {
		name       string
		pol        events.Policy
		n          int
		retryAfter time.Duration
		rnd        float64
		want       time.Duration
	}{
		{"first retry, no jitter", events.Policy{Schedule: sched}, 1, 0, 0.9, 5 * time.Second},
		{"second retry", events.Policy{Schedule: sched}, 2, 0, 0, 5 * time.Minute},
		{"past the schedule: its last wait", events.Policy{Schedule: sched}, 7, 0, 0, 30 * time.Minute},
		{"no attempt yet counts as the first", events.Policy{Schedule: sched}, 0, 0, 0, 5 * time.Second},
		{"no schedule", events.Policy{}, 3, 0, 0, time.Second},
		{"jitter, lowest draw", events.Policy{Schedule: sched, Jitter: 0.2}, 2, 0, 0, 4 * time.Minute},
		{"jitter, middle draw", events.Policy{Schedule: sched, Jitter: 0.2}, 2, 0, 0.5, 5 * time.Minute},
		{"jitter, a high draw", events.Policy{Schedule: sched, Jitter: 0.2}, 2, 0, 0.75, 5*time.Minute + 30*time.Second},
		{"full jitter", events.Policy{Schedule: sched, Jitter: 1}, 1, 0, 0, 0},
		{"Retry-After later than the schedule", events.Policy{Schedule: sched, Jitter: 0.2}, 1, time.Hour, 0.5, time.Hour},
		{"Retry-After earlier than the schedule", events.Policy{Schedule: sched, Jitter: 0.2}, 2, time.Second, 0.5, 5 * time.Minute},
		{"Retry-After in the past", events.Policy{Schedule: sched}, 1, -time.Hour, 0, 5 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := events.Backoff(tt.pol, tt.n, tt.retryAfter, fixed(tt.rnd)); got != tt.want {
				t.Errorf("backoff = %v, want %v", got, tt.want)
			}
		})
	}
	// Over the whole range of draws, the wait stays inside 1 ± Jitter.
	pol := events.Policy{Schedule: sched, Jitter: 0.3}
	for i := range 1000 {
		r := float64(i) / 1000
		d := events.Backoff(pol, 2, 0, fixed(r))
		if lo, hi := 210*time.Second, 390*time.Second; d < lo || d > hi {
			t.Fatalf("draw %v: %v outside [%v, %v]", r, d, lo, hi)
		}
	}
}

// ---- the harness

// call is one Send the fake target saw.
type call struct {
	Event   string
	Subject string
	N       int           // the attempt number
	At      time.Duration // since the harness started, on the bubble's clock
	Outcome string
}

// sender is a fake target. answer decides each attempt's result (nil:
// delivered); hold, when set, makes each Send wait until it is closed.
type sender struct {
	t0      time.Time
	mu      sync.Mutex
	answer  func(c call) events.Result
	latency func(c call) time.Duration
	hold    chan struct{}
	calls   []call

	inflight, maxInflight int
}

func (s *sender) Kind() string { return "fake" }

func (s *sender) Send(ctx context.Context, d *events.Delivery) events.Result {
	c := call{Event: d.EventID, Subject: d.Subject, N: d.Attempts, At: time.Since(s.t0)}
	s.mu.Lock()
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	answer, latency, hold := s.answer, s.latency, s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if latency != nil {
		time.Sleep(latency(c))
	}
	r := events.Result{Outcome: events.OutcomeDelivered, Status: 200}
	if answer != nil {
		r = answer(c)
	}
	c.Outcome = r.Outcome
	s.mu.Lock()
	s.inflight--
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	return r
}

func (s *sender) seen() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *sender) set(answer func(c call) events.Result) {
	s.mu.Lock()
	s.answer = answer
	s.mu.Unlock()
}

func retry(status int, after time.Duration) events.Result {
	return events.Result{Outcome: events.OutcomeRetry, Status: status, RetryAfter: after, Err: fmt.Errorf("HTTP %d", status)}
}

// allRules matches every event to every rule of the configuration.
type allRules []string

func (m allRules) Match([]byte) ([]string, error) { return m, nil }

// fastPolicy is a policy with short waits and no jitter.
func fastPolicy() events.Policy {
	p := events.DefaultPolicy()
	p.Schedule = []time.Duration{time.Second, time.Second, time.Second, time.Second, time.Second}
	p.Jitter = 0
	return p
}

type harness struct {
	t   *testing.T
	ctx context.Context
	st  *sqlite.Store
	cs  *countingStore // st, as the pipeline uses it
	b   *events.Builder
	p   *events.Pipeline
	t0  time.Time

	stop func()
}

// countingStore counts the pipeline's claims.
type countingStore struct {
	*sqlite.Store
	claims atomic.Int64
}

func (s *countingStore) Claim(ctx context.Context, target string, now time.Time, limit int, lease time.Duration, ordered bool) ([]*events.Delivery, error) {
	s.claims.Add(1)
	return s.Store.Claim(ctx, target, now, limit, lease, ordered)
}

// configOf routes every event to each target (rule "to-<name>"), and to
// the targets named in ghosts, which have no worker.
func configOf(targets map[string]*events.Target, ghosts ...string) *events.Config {
	cfg := &events.Config{Routes: map[string][]events.Route{}, Targets: targets}
	var names []string
	for name, t := range targets {
		t.Name = name
		names = append(names, name)
	}
	names = append(names, ghosts...)
	sort.Strings(names)
	var m allRules
	for _, name := range names {
		cfg.Routes["to-"+name] = []events.Route{{Target: name}}
		m = append(m, "to-"+name)
	}
	cfg.Matcher = m
	return cfg
}

// newHarness opens a store in the bubble and builds a pipeline over it;
// run starts it.
func newHarness(t *testing.T, cfg *events.Config, opt events.Options) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opt.PollInterval == 0 {
		opt.PollInterval = time.Hour // dispatch on Poke only
	}
	b := &events.Builder{Source: "gatehouse", BaseURL: "https://gatehouse.example.com/scim/v2", Schemas: reg, Dir: st}
	cs := &countingStore{Store: st}
	h := &harness{t: t, ctx: ctx, st: st, cs: cs, b: b, p: events.New(cs, b, cfg, opt), t0: time.Now()}
	for _, tg := range cfg.Targets {
		if s, ok := tg.Sender.(*sender); ok {
			s.t0 = h.t0
		}
	}
	h.stop = func() { st.Close() }
	return h
}

func (h *harness) run() {
	// The rules come into force before anything is written, as a server
	// does before it takes requests.
	if err := h.p.Activate(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.p.Run(ctx)
	}()
	h.stop = func() {
		cancel()
		<-done
		h.st.Close()
	}
}

// receive stores events as POST /events would (subject "s/<id>" unless
// given as "id@subject") and pokes the dispatcher.
func (h *harness) receive(ids ...string) {
	h.t.Helper()
	h.write(ids...)
	h.p.Poke()
}

// write stores events as receive does, without poking the dispatcher (as
// another process would).
func (h *harness) write(ids ...string) {
	h.t.Helper()
	var evs []*events.External
	for _, id := range ids {
		id, subject, ok := strings.Cut(id, "@")
		if !ok {
			subject = "s/" + id
		}
		doc, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "urn:test", "type": "T", "subject": subject,
			"detail-type": "T", "detail": map[string]any{"n": id}})
		evs = append(evs, &events.External{ID: id, Source: "urn:test", Type: "T", Subject: subject, Time: time.Now(), Doc: doc})
	}
	if _, err := h.st.AppendExternal(h.ctx, evs, directory.Actor{Kind: "app", AppID: "test"}); err != nil {
		h.t.Fatal(err)
	}
}

// states is each delivery's state, by "target/event".
func (h *harness) states() map[string]string {
	h.t.Helper()
	ds, err := h.st.Deliveries(h.ctx, events.DeliveryQuery{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range ds {
		out[d.Target+"/"+d.EventID] = d.State
	}
	return out
}

func (h *harness) delivery(target, event string) *events.Delivery {
	h.t.Helper()
	ds, err := h.st.Deliveries(h.ctx, events.DeliveryQuery{Target: target, EventID: event})
	if err != nil || len(ds) != 1 {
		h.t.Fatalf("deliveries of %s to %s: %v %d", event, target, err, len(ds))
	}
	return ds[0]
}

type loggedAttempt struct {
	N       int
	Outcome string
	Status  int
}

func (h *harness) attempts(target, event string) []loggedAttempt {
	h.t.Helper()
	as, err := h.st.Attempts(h.ctx, h.delivery(target, event).ID)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []loggedAttempt
	for _, a := range as {
		out = append(out, loggedAttempt{a.N, a.Outcome, a.Status})
	}
	return out
}

func times(cs []call) []time.Duration {
	var out []time.Duration
	for _, c := range cs {
		out = append(out, c.At)
	}
	return out
}

// sameTimes compares bubble times to the microsecond (the store keeps
// microseconds).
var sameTimes = cmp.Comparer(func(a, b time.Duration) bool { return (a - b).Abs() < time.Millisecond })

// bubble runs f in a synctest bubble with a harness.
func bubble(t *testing.T, targets map[string]*events.Target, opt events.Options, f func(h *harness)) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, configOf(targets), opt)
		defer func() { h.stop() }()
		f(h)
	})
}

// ---- retries

// TestRetrySchedule: failed attempts are retried after the schedule's
// waits, times the jitter factor the random source gives.
func TestRetrySchedule(t *testing.T) {
	s := &sender{answer: func(c call) events.Result {
		if c.N < 3 {
			return retry(503, 0)
		}
		return events.Result{Outcome: events.OutcomeDelivered, Status: 200}
	}}
	pol := events.DefaultPolicy()
	pol.Schedule = []time.Duration{10 * time.Second, time.Minute, time.Hour}
	pol.Jitter = 0.2
	// A draw of 0.75 makes every wait 1 + 0.2 × 0.5 = 1.1 times the schedule's.
	opt := events.Options{Rand: func() float64 { return 0.75 }}
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, opt, func(h *harness) {
		h.run()
		h.receive("e1")
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if diff := cmp.Diff([]time.Duration{0, 11 * time.Second, 77 * time.Second}, times(s.seen()), sameTimes); diff != "" {
			t.Errorf("attempt times (-want +got):\n%s", diff)
		}
		want := []loggedAttempt{{1, "retry", 503}, {2, "retry", 503}, {3, "delivered", 200}}
		if diff := cmp.Diff(want, h.attempts("hook", "e1")); diff != "" {
			t.Errorf("attempt log (-want +got):\n%s", diff)
		}
		if d := h.delivery("hook", "e1"); d.State != events.StateDelivered || d.Attempts != 3 {
			t.Errorf("delivery %+v", d)
		}
	})
}

// TestRetryAfter: a target's Retry-After pushes the next attempt later
// than the schedule, never earlier.
func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name       string
		schedule   time.Duration
		retryAfter time.Duration
		want       time.Duration
	}{
		{"later than the schedule", 10 * time.Second, 10 * time.Minute, 10 * time.Minute},
		{"earlier than the schedule", time.Minute, time.Second, time.Minute},
		{"none", time.Minute, 0, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &sender{answer: func(c call) events.Result {
				if c.N == 1 {
					return retry(429, tt.retryAfter)
				}
				return events.Result{Outcome: events.OutcomeDelivered, Status: 200}
			}}
			pol := fastPolicy()
			pol.Schedule = []time.Duration{tt.schedule}
			bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, events.Options{}, func(h *harness) {
				h.run()
				h.receive("e1")
				time.Sleep(tt.want + time.Minute)
				synctest.Wait()
				if diff := cmp.Diff([]time.Duration{0, tt.want}, times(s.seen()), sameTimes); diff != "" {
					t.Errorf("attempt times (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestDead: a permanent failure is dead at once; retries that run out of
// the schedule are dead after the last; neither is attempted again.
func TestDead(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer events.Result
		want   []loggedAttempt
		times  []time.Duration
	}{
		{
			name:   "permanent",
			answer: events.Result{Outcome: events.OutcomePermanent, Status: 400, Err: fmt.Errorf("HTTP 400: bad payload")},
			want:   []loggedAttempt{{1, "permanent", 400}},
			times:  []time.Duration{0},
		},
		{
			name:   "out of attempts",
			answer: retry(503, 0),
			want:   []loggedAttempt{{1, "retry", 503}, {2, "retry", 503}, {3, "retry", 503}},
			times:  []time.Duration{0, time.Second, 3 * time.Second},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &sender{answer: func(call) events.Result { return tt.answer }}
			pol := fastPolicy()
			pol.Schedule = []time.Duration{time.Second, 2 * time.Second} // three attempts
			bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, events.Options{}, func(h *harness) {
				h.run()
				h.receive("e1")
				time.Sleep(10 * time.Minute)
				synctest.Wait()
				if diff := cmp.Diff(tt.times, times(s.seen()), sameTimes); diff != "" {
					t.Errorf("attempt times (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.want, h.attempts("hook", "e1")); diff != "" {
					t.Errorf("attempt log (-want +got):\n%s", diff)
				}
				d := h.delivery("hook", "e1")
				if d.State != events.StateDead || d.LastStatus != tt.answer.Status || d.LastError != tt.answer.Err.Error() {
					t.Errorf("delivery: state %s, last status %d, last error %q", d.State, d.LastStatus, d.LastError)
				}
			})
		})
	}
}

// TestReplayAppendsAttempts: a replay appends to the attempt log, numbering
// on, and never rewrites what was recorded; the schedule starts over; the
// delivery counts every attempt.
func TestReplayAppendsAttempts(t *testing.T) {
	s := &sender{answer: func(c call) events.Result {
		if c.N <= 2 {
			return retry(503, 0)
		}
		return events.Result{Outcome: events.OutcomeDelivered, Status: 200}
	}}
	pol := fastPolicy()
	pol.Schedule = []time.Duration{time.Second} // two attempts, then dead
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, events.Options{}, func(h *harness) {
		h.run()
		h.receive("e1")
		time.Sleep(time.Minute)
		synctest.Wait()
		id := h.delivery("hook", "e1").ID
		before, err := h.st.Attempts(h.ctx, id)
		if err != nil || len(before) != 2 || h.delivery("hook", "e1").State != events.StateDead {
			t.Fatalf("before the replay: %v %d attempts, state %s", err, len(before), h.delivery("hook", "e1").State)
		}
		replay := func() {
			if n, err := h.st.Replay(h.ctx, []string{id}, nil, time.Now(), nil); err != nil || n != 1 {
				t.Fatalf("replay: %v %d", err, n)
			}
			h.p.Wake("hook")
			time.Sleep(time.Minute)
			synctest.Wait()
		}
		replay()
		want := []loggedAttempt{{1, "retry", 503}, {2, "retry", 503}, {3, "delivered", 200}}
		if diff := cmp.Diff(want, h.attempts("hook", "e1")); diff != "" {
			t.Errorf("attempt log after a replay (-want +got):\n%s", diff)
		}
		// Delivered ones may be replayed too (deliver again).
		replay()
		want = append(want, loggedAttempt{4, "delivered", 200})
		if diff := cmp.Diff(want, h.attempts("hook", "e1")); diff != "" {
			t.Errorf("attempt log after a second replay (-want +got):\n%s", diff)
		}
		after, err := h.st.Attempts(h.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, after[:2]); diff != "" {
			t.Errorf("recorded attempts were rewritten (-before +after):\n%s", diff)
		}
		if d := h.delivery("hook", "e1"); d.State != events.StateDelivered || d.Attempts != 4 {
			t.Errorf("delivery: state %s after %d attempts, want delivered after 4", d.State, d.Attempts)
		}
		// The sender was called with the attempt numbers of the log.
		var ns []int
		for _, c := range s.seen() {
			ns = append(ns, c.N)
		}
		if !slices.Equal(ns, []int{1, 2, 3, 4}) {
			t.Errorf("attempt numbers sent %v", ns)
		}
	})
}

// TestReplayScheduleStartsOver: the attempts before a replay do not count
// against the schedule after it.
func TestReplayScheduleStartsOver(t *testing.T) {
	s := &sender{answer: func(call) events.Result { return retry(503, 0) }}
	pol := fastPolicy()
	pol.Schedule = []time.Duration{time.Second, time.Second} // three attempts, then dead
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, events.Options{}, func(h *harness) {
		h.run()
		h.receive("e1")
		time.Sleep(time.Minute)
		synctest.Wait()
		id := h.delivery("hook", "e1").ID
		if n, err := h.st.Replay(h.ctx, []string{id}, nil, time.Now(), nil); err != nil || n != 1 {
			t.Fatalf("replay: %v %d", err, n)
		}
		h.p.Wake("hook")
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(s.seen()); n != 6 {
			t.Errorf("%d attempts, want 3 before the replay and 3 after", n)
		}
		if d := h.delivery("hook", "e1"); d.State != events.StateDead || d.Attempts != 6 || d.Replays != 1 || d.RoundAttempts() != 3 {
			t.Errorf("delivery: %+v", d)
		}
	})
}

// ---- disabled targets and the breaker

// TestDisable: a 410 disables the target; its deliveries, the one that got
// the 410 included, wait until it is enabled.
func TestDisable(t *testing.T) {
	s := &sender{}
	s.answer = func(c call) events.Result {
		if c.Event == "e1" && c.N == 1 {
			return events.Result{Outcome: events.OutcomeDisable, Status: 410}
		}
		return events.Result{Outcome: events.OutcomeDelivered, Status: 200}
	}
	other := &sender{}
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: fastPolicy()}, "other": {Sender: other, Policy: fastPolicy()}}, events.Options{},
		func(h *harness) {
			h.run()
			h.receive("e1")
			synctest.Wait()
			dis, err := h.st.TargetsDisabled(h.ctx)
			if err != nil || !cmp.Equal(map[string]string{"hook": "the endpoint answered HTTP 410"}, dis) {
				t.Fatalf("disabled targets %v %v", dis, err)
			}
			h.receive("e2", "e3")
			time.Sleep(10 * time.Minute)
			synctest.Wait()
			if n := len(s.seen()); n != 1 {
				t.Errorf("%d attempts while disabled, want 1 (the 410)", n)
			}
			want := map[string]string{"hook/e1": "pending", "hook/e2": "pending", "hook/e3": "pending",
				"other/e1": "delivered", "other/e2": "delivered", "other/e3": "delivered"}
			if diff := cmp.Diff(want, h.states()); diff != "" {
				t.Errorf("while disabled (-want +got):\n%s", diff)
			}
			// Enabled again (gatehouse targets enable): everything goes.
			if err := h.st.SetTargetDisabled(h.ctx, "hook", "", false, nil); err != nil {
				t.Fatal(err)
			}
			h.p.Wake("hook")
			synctest.Wait()
			for _, k := range []string{"hook/e1", "hook/e2", "hook/e3"} {
				want[k] = "delivered"
			}
			if diff := cmp.Diff(want, h.states()); diff != "" {
				t.Errorf("enabled (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]loggedAttempt{{1, "disable", 410}, {2, "delivered", 200}}, h.attempts("hook", "e1")); diff != "" {
				t.Errorf("attempts of e1 (-want +got):\n%s", diff)
			}
		})
}

// TestBreaker: after BreakerFailures consecutive failed attempts the
// circuit opens: one probe per cooldown, the cooldown doubling, whatever
// arrives meanwhile; a probe that succeeds closes it.
func TestBreaker(t *testing.T) {
	var mu sync.Mutex
	down := true
	s := &sender{answer: func(call) events.Result {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return retry(503, 0)
		}
		return events.Result{Outcome: events.OutcomeDelivered, Status: 200}
	}}
	pol := fastPolicy()
	pol.Schedule = slices.Repeat([]time.Duration{time.Second}, 20)
	pol.Concurrency = 4
	pol.BreakerFailures = 3
	pol.BreakerCooldown = 10 * time.Second
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, events.Options{}, func(h *harness) {
		h.run()
		h.receive("e1", "e2", "e3", "e4", "e5", "e6")
		time.Sleep(15 * time.Second)
		// New events and wakes do not let anything through early.
		h.receive("e7", "e8")
		h.p.Wake("hook")
		time.Sleep(35 * time.Second) // 50 s
		mu.Lock()
		down = false
		mu.Unlock()
		time.Sleep(30 * time.Second) // 80 s
		synctest.Wait()
		got := times(s.seen())
		// Three at once (not the eight a claim could take), then probes
		// 10 s, 20 s and 40 s apart; the third succeeds and the rest go.
		want := append([]time.Duration{0, 0, 0, 10 * time.Second, 30 * time.Second}, slices.Repeat([]time.Duration{70 * time.Second}, 8)...)
		if diff := cmp.Diff(want, got, sameTimes); diff != "" {
			t.Errorf("attempt times (-want +got):\n%s", diff)
		}
		for k, st := range h.states() {
			if st != events.StateDelivered {
				t.Errorf("%s: %s", k, st)
			}
		}
	})
}

// ---- order, rate, isolation

// TestOrdered: with Ordered, each subject's events are delivered in event
// order, though attempts run concurrently, take different times and some
// fail once.
func TestOrdered(t *testing.T) {
	const n = 24
	index := func(c call) int { i, _ := strconv.Atoi(strings.TrimPrefix(c.Event, "e")); return i }
	s := &sender{
		latency: func(c call) time.Duration { return time.Duration((7*index(c))%5) * 100 * time.Millisecond },
		answer: func(c call) events.Result {
			if index(c)%4 == 1 && c.N == 1 {
				return retry(503, 0)
			}
			return events.Result{Outcome: events.OutcomeDelivered, Status: 200}
		},
	}
	pol := fastPolicy()
	pol.Concurrency = 4
	pol.Ordered = true
	pol.BreakerFailures = 1000
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, events.Options{}, func(h *harness) {
		h.run()
		var ids []string
		for i := range n {
			ids = append(ids, fmt.Sprintf("e%d@users/%d", i, i%3))
		}
		h.receive(ids...)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		got := map[string][]int{}
		for _, c := range s.seen() {
			if c.Outcome == events.OutcomeDelivered {
				got[c.Subject] = append(got[c.Subject], index(c))
			}
		}
		want := map[string][]int{}
		for i := range n {
			want[fmt.Sprintf("users/%d", i%3)] = append(want[fmt.Sprintf("users/%d", i%3)], i)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("delivered, by subject (-want +got):\n%s", diff)
		}
		if s.maxInflight < 2 {
			t.Errorf("at most %d attempt in flight: the test did not run attempts concurrently", s.maxInflight)
		}
	})
}

// TestOrderedWaiting: a delivery waiting for an earlier one of its subject
// (ordered) goes as soon as that one is delivered, and the wait is not a
// busy loop of claims.
func TestOrderedWaiting(t *testing.T) {
	s := &sender{answer: func(c call) events.Result {
		if c.Event == "a1" && c.N == 1 {
			return retry(503, 0)
		}
		return events.Result{Outcome: events.OutcomeDelivered, Status: 200}
	}}
	pol := fastPolicy()
	pol.Ordered = true
	pol.Schedule = []time.Duration{time.Minute}
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, events.Options{}, func(h *harness) {
		h.run()
		h.receive("a1@users/a", "a2@users/a", "b1@users/b")
		synctest.Wait()
		before := h.cs.claims.Load()
		time.Sleep(50 * time.Second) // a1 waits for its retry, a2 for a1
		synctest.Wait()
		// The worker polls once a second at most while nothing it can
		// take is due (and claims once after each wake).
		if n := h.cs.claims.Load() - before; n > 60 {
			t.Errorf("%d claims in 50 s while a2 waits for a1", n)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		cs := s.seen()
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].At < cs[j].At || (cs[i].At == cs[j].At && cs[i].Event < cs[j].Event) })
		var got []string
		for _, c := range cs {
			got = append(got, fmt.Sprintf("%s %s %v", c.Event, c.Outcome, c.At.Round(time.Second)))
		}
		// a2 goes at the moment a1 is delivered.
		want := []string{"a1 retry 0s", "b1 delivered 0s", "a1 delivered 1m0s", "a2 delivered 1m0s"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
	})
}

// TestRateLimit: a target's rate caps its attempts per second.
func TestRateLimit(t *testing.T) {
	s := &sender{}
	pol := fastPolicy()
	pol.Concurrency = 4
	pol.Rate = 2
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, events.Options{}, func(h *harness) {
		h.run()
		var ids []string
		for i := range 10 {
			ids = append(ids, fmt.Sprint("e", i))
		}
		h.receive(ids...)
		time.Sleep(time.Minute)
		synctest.Wait()
		got := times(s.seen())
		if len(got) != 10 {
			t.Fatalf("%d attempts, want 10", len(got))
		}
		slices.Sort(got)
		// A burst of two, then one every half second.
		for i := 2; i < len(got); i++ {
			if earliest := time.Duration(i-1) * 500 * time.Millisecond; got[i] < earliest-time.Millisecond {
				t.Errorf("attempt %d at %v, before %v: more than 2 per second (%v)", i, got[i], earliest, got)
				break
			}
		}
	})
}

// TestSlowTargetIsolated: a target whose attempts hang does not hold up
// another target's deliveries.
func TestSlowTargetIsolated(t *testing.T) {
	slow := &sender{}
	fast := &sender{}
	pol := fastPolicy()
	pol.Concurrency = 1
	bubble(t, map[string]*events.Target{"slow": {Sender: slow, Policy: pol}, "fast": {Sender: fast, Policy: pol}}, events.Options{}, func(h *harness) {
		slow.hold = make(chan struct{}) // made in the bubble, so that waiting on it is durably blocked
		h.run()
		h.receive("e1", "e2", "e3", "e4", "e5")
		synctest.Wait() // everything that can happen has
		st := h.states()
		for i := 1; i <= 5; i++ {
			if got := st[fmt.Sprintf("fast/e%d", i)]; got != events.StateDelivered {
				t.Errorf("fast/e%d: %s while the slow target hangs", i, got)
			}
		}
		if n := len(slow.seen()); n != 0 {
			t.Errorf("the slow target finished %d attempts", n)
		}
		close(slow.hold)
		synctest.Wait()
		for k, v := range h.states() {
			if v != events.StateDelivered {
				t.Errorf("%s: %s after the slow target answered", k, v)
			}
		}
	})
}

// ---- crashes and retention

// TestLeaseExpiry: a delivery left running by a process that died is
// attempted again once its lease expires (at least once), not before: by
// the periodic recovery, or at start when the lease expired while no
// pipeline ran (here: the pipeline's clock is set past it).
func TestLeaseExpiry(t *testing.T) {
	pol := fastPolicy()
	pol.Timeout = 10 * time.Second
	lease := pol.Timeout*2 + 30*time.Second // the pipeline's
	for _, tt := range []struct {
		name  string
		clock time.Duration // the pipeline's clock, ahead of the bubble's
		want  time.Duration // the earliest the attempt may come
	}{
		{"expires while running", 0, lease},
		{"expired before the start", lease + time.Second, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &sender{}
			opt := events.Options{Now: func() time.Time { return time.Now().Add(tt.clock) }}
			bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: pol}}, opt, func(h *harness) {
				// Another process, on the bubble's clock, dispatched the event
				// and claimed its delivery, then died before recording the
				// attempt.
				h.receive("e1")
				other := events.New(h.st, h.b, h.p.Config(), events.Options{})
				if _, err := other.DispatchOnce(h.ctx); err != nil {
					t.Fatal(err)
				}
				ds, err := h.st.Claim(h.ctx, "hook", time.Now(), 10, lease, false)
				if err != nil || len(ds) != 1 {
					t.Fatalf("claim: %v %d", err, len(ds))
				}
				h.run()
				if tt.want > 0 {
					time.Sleep(tt.want - time.Second)
					synctest.Wait()
					if n := len(s.seen()); n != 0 || h.delivery("hook", "e1").State != events.StateRunning {
						t.Fatalf("attempted during the lease")
					}
				}
				time.Sleep(2 * time.Minute)
				synctest.Wait()
				cs := s.seen()
				if len(cs) != 1 || cs[0].At < tt.want || cs[0].At > tt.want+30*time.Second || cs[0].N != 2 {
					t.Fatalf("attempts %+v, want one, numbered 2, within 30 s after %v", cs, tt.want)
				}
				if d := h.delivery("hook", "e1"); d.State != events.StateDelivered || d.Attempts != 2 {
					t.Errorf("delivery %+v", d)
				}
			})
		})
	}
}

// TestRetention: pruning removes finished deliveries (delivered, dead)
// older than the retention, with their attempts, and nothing else.
func TestRetention(t *testing.T) {
	s := &sender{answer: func(c call) events.Result {
		if c.Event == "e2" {
			return events.Result{Outcome: events.OutcomePermanent, Status: 422}
		}
		return events.Result{Outcome: events.OutcomeDelivered, Status: 200}
	}}
	synctest.Test(t, func(t *testing.T) {
		// "ghost" has no worker: its deliveries stay pending.
		h := newHarness(t, configOf(map[string]*events.Target{"hook": {Sender: s, Policy: fastPolicy()}}, "ghost"),
			events.Options{Retention: 10 * time.Minute})
		defer func() { h.stop() }()
		h.run()
		h.receive("e1", "e2")
		synctest.Wait()
		e1 := h.delivery("hook", "e1").ID
		time.Sleep(55 * time.Minute)
		h.receive("e3")
		time.Sleep(10 * time.Minute) // past the hourly pruning
		synctest.Wait()
		want := map[string]string{"ghost/e1": "pending", "ghost/e2": "pending", "ghost/e3": "pending", "hook/e3": "delivered"}
		if diff := cmp.Diff(want, h.states()); diff != "" {
			t.Errorf("after an hour (-want +got):\n%s", diff)
		}
		if as, err := h.st.Attempts(h.ctx, e1); err != nil || len(as) != 0 {
			t.Errorf("attempts of a pruned delivery: %v %v", as, err)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		delete(want, "hook/e3")
		if diff := cmp.Diff(want, h.states()); diff != "" {
			t.Errorf("after two hours (-want +got):\n%s", diff)
		}
	})
}

// ---- dispatch

// TestTransformFailure: a route whose payload cannot be built makes a
// dead delivery that says why; it is never sent.
func TestTransformFailure(t *testing.T) {
	s := &sender{}
	tr, err := rules.NewTransformer(rules.TransformSpec{Kind: "path", Path: "$.detail.missing"})
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		cfg := configOf(map[string]*events.Target{"hook": {Sender: s, Policy: fastPolicy()}})
		cfg.Routes["to-hook"] = append(cfg.Routes["to-hook"], events.Route{Target: "hook", Transform: tr})
		h := newHarness(t, cfg, events.Options{})
		defer func() { h.stop() }()
		h.run()
		h.receive("e1")
		time.Sleep(time.Minute)
		synctest.Wait()
		ds, err := h.st.Deliveries(h.ctx, events.DeliveryQuery{Target: "hook"})
		if err != nil || len(ds) != 2 {
			t.Fatalf("deliveries: %v %d", err, len(ds))
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.State+" "+d.LastError)
		}
		sort.Strings(got)
		want := []string{"dead transform: " + missingMsg(tr), "delivered "}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("deliveries (-want +got):\n%s", diff)
		}
		if n := len(s.seen()); n != 1 {
			t.Errorf("%d attempts, want 1 (the whole event; the failed payload is not sent)", n)
		}
	})
}

func missingMsg(tr *rules.Transformer) string {
	_, err := tr.Apply([]byte(`{}`))
	return err.Error()
}

// TestSameIDTwoSources: received events are unique by source and id; two
// sources may use one id, and both are delivered.
func TestSameIDTwoSources(t *testing.T) {
	s := &sender{}
	bubble(t, map[string]*events.Target{"hook": {Sender: s, Policy: fastPolicy()}}, events.Options{}, func(h *harness) {
		h.run()
		for _, src := range []string{"urn:a", "urn:b"} {
			ev := &events.External{ID: "x1", Source: src, Type: "T", Time: time.Now(), Doc: json.RawMessage(`{"id":"x1","source":"` + src + `"}`)}
			if _, err := h.st.AppendExternal(h.ctx, []*events.External{ev}, directory.Actor{Kind: "app"}); err != nil {
				t.Fatal(err)
			}
		}
		h.receive("after")
		time.Sleep(time.Minute)
		synctest.Wait()
		var got []string
		for _, c := range s.seen() {
			got = append(got, c.Event)
		}
		sort.Strings(got)
		if diff := cmp.Diff([]string{"after", "x1", "x1"}, got); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
}

// TestDirectoryChange: a change made through the directory service is
// delivered as the document rules see.
func TestDirectoryChange(t *testing.T) {
	var mu sync.Mutex
	var docs []map[string]any
	s := &sender{}
	s.answer = func(call) events.Result { return events.Result{Outcome: events.OutcomeDelivered, Status: 200} }
	capture := &capturing{sender: s, docs: &docs, mu: &mu}
	bubble(t, map[string]*events.Target{"hook": {Sender: capture, Policy: fastPolicy()}}, events.Options{}, func(h *harness) {
		h.run()
		svc := directory.NewService(h.st, directory.Options{NewID: newID})
		u, _, err := svc.CreateUser(h.ctx, directory.Actor{Kind: "app", AppID: "a1"}, directory.Profile{TargetOrgID: directory.RootOrgID},
			&directory.User{UserName: "ada@example.com", Active: true, Attrs: directory.Attrs{
				directory.EnterpriseURN: map[string]any{"department": "Tour Operations"}}})
		if err != nil {
			t.Fatal(err)
		}
		h.p.Poke()
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(docs) != 1 {
			t.Fatalf("%d documents delivered", len(docs))
		}
		d := docs[0]
		detail, _ := d["detail"].(map[string]any)
		got := map[string]any{"type": d["type"], "detail-type": d["detail-type"], "source": d["source"], "subject": d["subject"],
			"id": detail["id"], "userName": detail["userName"], "dept": detail["dept"]}
		want := map[string]any{"type": "User.Created", "detail-type": "User.Created", "source": "gatehouse", "subject": "users/" + u.ID,
			"id": u.ID, "userName": "ada@example.com", "dept": "tour-operations"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("document (-want +got):\n%s", diff)
		}
	})
}

// capturing keeps the payloads a sender is given.
type capturing struct {
	*sender
	mu   *sync.Mutex
	docs *[]map[string]any
}

func (c *capturing) Send(ctx context.Context, d *events.Delivery) events.Result {
	var m map[string]any
	_ = json.Unmarshal(d.Payload, &m)
	c.mu.Lock()
	*c.docs = append(*c.docs, m)
	c.mu.Unlock()
	return c.sender.Send(ctx, d)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestRulesFromWhenInForce: a rule routes the events written after it came
// into force. Events written before the pipeline's first activation are
// not routed; a rule brought by a reload sees only what comes after it;
// a rule already in force keeps its start across restarts, so that what
// was written while the server was stopped still reaches it.
func TestRulesFromWhenInForce(t *testing.T) {
	s := &sender{}
	synctest.Test(t, func(t *testing.T) {
		targets := map[string]*events.Target{"hook": {Sender: s, Policy: fastPolicy()}}
		h := newHarness(t, configOf(targets), events.Options{})
		defer func() { h.stop() }()
		h.receive("history")
		h.run()
		h.receive("e1")
		synctest.Wait()

		// A second rule comes with a reload; e2 is written before it.
		h.receive("e2")
		two := configOf(targets)
		two.Routes["late"] = []events.Route{{Target: "hook"}}
		two.Matcher = allRules{"late", "to-hook"}
		if err := h.p.Reload(h.ctx, two); err != nil {
			t.Fatal(err)
		}
		h.receive("e3")
		time.Sleep(time.Minute)
		synctest.Wait()

		// Another pipeline over the same database: a restart. The rules
		// keep their starts; e4, written while it was "stopped" (the
		// first pipeline, not poked, dispatches nothing meanwhile),
		// reaches both.
		h.write("e4")
		restarted := events.New(h.st, h.b, two, events.Options{})
		if err := restarted.Activate(h.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := restarted.DispatchOnce(h.ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := h.st.Deliveries(h.ctx, events.DeliveryQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.Rule+" "+d.EventID)
		}
		sort.Strings(got)
		want := []string{"late e3", "late e4", "to-hook e1", "to-hook e2", "to-hook e3", "to-hook e4"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("routed (-want +got):\n%s", diff)
		}
		starts := restarted.RuleStarts()
		if starts["to-hook"] != 1 || starts["late"] != 3 {
			t.Errorf("starts %v, want to-hook after event 1, late after event 3", starts)
		}
	})
}

// TestBackfillAuditStamp: the backfill's audit record carries the time it
// is appended, not the time the caller began with: a record must not lag
// the audit checkpoints signed while the walk ran, which verification
// holds retention pruning to.
func TestBackfillAuditStamp(t *testing.T) {
	s := &sender{}
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, configOf(map[string]*events.Target{"hook": {Sender: s, Policy: fastPolicy()}}), events.Options{})
		defer func() { h.stop() }()
		h.receive("history") // before the rules come into force: only a backfill routes it
		h.run()
		h.p.Poke()
		synctest.Wait() // the dispatcher passes it by
		began := time.Now().Add(-2 * time.Hour).UTC()
		audit := &directory.AuditEntry{Time: began, Actor: directory.Actor{Kind: "cli"}, Action: "events.backfill",
			ResourceType: "Rule", ResourceID: "to-hook"}
		rep, err := h.p.Backfill(h.ctx, events.BackfillRequest{Rule: "to-hook"}, audit)
		if err != nil || rep.Queued != 1 {
			t.Fatalf("backfill: %v %+v", err, rep)
		}
		got, err := h.st.Audit(h.ctx, directory.AuditQuery{Action: "events.backfill"})
		if err != nil || len(got) != 1 {
			t.Fatalf("audit: %v %d", err, len(got))
		}
		if want := time.Now().UTC().Truncate(time.Microsecond); !got[0].Time.Equal(want) {
			t.Errorf("the backfill's audit record is stamped %s, want %s (when it was appended)", got[0].Time, want)
		}
	})
}

// failingDir is the directory as the document builder reads it, whose
// user reads fail while err is set, and which cancels the dispatch (as the
// server's stop does) at its next user read while stop is set.
type failingDir struct {
	*sqlite.Store
	err  atomic.Pointer[error]
	stop atomic.Pointer[context.CancelFunc]
}

func (d *failingDir) User(ctx context.Context, id string, opt directory.ReadOptions) (*directory.User, error) {
	if stop := d.stop.Load(); stop != nil {
		(*stop)()
		return nil, ctx.Err()
	}
	if err := d.err.Load(); err != nil {
		return nil, *err
	}
	return d.Store.User(ctx, id, opt)
}

// TestDocumentReadFailure: an event whose document cannot be built because
// the directory cannot be read (a group's new member, read for the
// document) is not dispatched with an error in place of its document. The
// batch is tried again, nothing of it dispatched, until the directory
// answers, for up to a minute; past it, the record is dispatched with a
// document that says why. Stopped while a document is built, the
// dispatcher dispatches nothing and logs no error.
func TestDocumentReadFailure(t *testing.T) {
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	var logs bytes.Buffer
	h := newHarness(t, configOf(map[string]*events.Target{"hook": {Sender: &sender{}, Policy: fastPolicy()}}),
		events.Options{Now: func() time.Time { return *clock.Load() }, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	defer h.stop()
	if err := h.p.Activate(h.ctx); err != nil {
		t.Fatal(err)
	}
	dir := &failingDir{Store: h.st}
	h.b.Dir = dir
	svc := directory.NewService(h.st, directory.Options{NewID: newID})
	actor := directory.Actor{Kind: "app", AppID: "a1"}
	profile := directory.Profile{TargetOrgID: directory.RootOrgID}
	var users []string
	for _, name := range []string{"ada", "bo", "cy"} {
		u, _, err := svc.CreateUser(h.ctx, actor, profile, &directory.User{UserName: name + "@example.com", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u.ID)
	}
	g, _, err := svc.CreateGroup(h.ctx, actor, profile, &directory.Group{DisplayName: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	add := func(user string) {
		t.Helper()
		if _, err := svc.UpdateGroup(h.ctx, actor, profile, g.ID, nil, nil,
			[]directory.MemberOp{{Kind: directory.AddMembers, IDs: []string{user}}}); err != nil {
			t.Fatal(err)
		}
	}
	// payloads is the document of each event dispatched so far, by id.
	payloads := func() map[string]string {
		t.Helper()
		ds, err := h.st.Deliveries(h.ctx, events.DeliveryQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range ds {
			out[d.EventID] = string(d.Payload)
		}
		return out
	}
	down := errors.New("connection refused")

	// The directory fails: nothing is dispatched, however often tried.
	add(users[0])
	dir.err.Store(&down)
	for range 3 {
		if n, err := h.p.DispatchOnce(h.ctx); err == nil || n != 0 {
			t.Fatalf("dispatched %d events while the directory failed (%v)", n, err)
		}
	}
	if p := payloads(); len(p) != 0 {
		t.Fatalf("%d events dispatched while the directory failed", len(p))
	}
	// It answers again: every document is whole.
	dir.err.Store(nil)
	if n, err := h.p.DispatchOnce(h.ctx); err != nil || n != 5 {
		t.Fatalf("dispatched %d events, want 5 (%v)", n, err)
	}
	var member string
	for id, doc := range payloads() {
		if strings.Contains(doc, `"error"`) {
			t.Errorf("event %s dispatched with an error: %s", id, doc)
		}
		if strings.Contains(doc, `"member"`) {
			member = doc
		}
	}
	if !strings.Contains(member, `"userName":"ada@example.com"`) {
		t.Errorf("the new member's document: %s", member)
	}

	// Past a minute of failures the record is dispatched, with why.
	add(users[1])
	dir.err.Store(&down)
	if n, err := h.p.DispatchOnce(h.ctx); err == nil || n != 0 {
		t.Fatalf("dispatched %d events while the directory failed (%v)", n, err)
	}
	later := now.Add(61 * time.Second)
	clock.Store(&later)
	if n, err := h.p.DispatchOnce(h.ctx); err != nil || n != 1 {
		t.Fatalf("after a minute: dispatched %d events, want 1 (%v)", n, err)
	}
	failed := 0
	for _, doc := range payloads() {
		if strings.Contains(doc, "read the directory: connection refused") {
			failed++
		}
	}
	if failed != 1 || strings.Count(logs.String(), "build event document") != 1 {
		t.Errorf("%d documents say the directory failed, want 1; log:\n%s", failed, logs.String())
	}

	// Stopped while it builds a document: nothing dispatched, no error,
	// even past a minute of failures.
	add(users[2])
	if n, err := h.p.DispatchOnce(h.ctx); err == nil || n != 0 {
		t.Fatalf("dispatched %d events while the directory failed (%v)", n, err)
	}
	later = later.Add(61 * time.Second)
	clock.Store(&later)
	dir.err.Store(nil)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	dir.stop.Store(&cancel)
	if n, err := h.p.DispatchOnce(ctx); !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("stopped: dispatched %d events (%v)", n, err)
	}
	dir.stop.Store(nil)
	if len(payloads()) != 6 || strings.Count(logs.String(), "level=ERROR") != 1 {
		t.Errorf("the stop dispatched or logged: %d events; log:\n%s", len(payloads()), logs.String())
	}
	if n, err := h.p.DispatchOnce(h.ctx); err != nil || n != 1 {
		t.Fatalf("after the stop: dispatched %d events, want 1 (%v)", n, err)
	}
	if p := payloads(); strings.Count(fmt.Sprint(p), `"error"`) != 1 {
		t.Errorf("documents after the stop: %v", p)
	}
}

// Package events is Gatehouse's event pipeline: the lifecycle events every
// change writes to the outbox (internal/directory), events received from
// outside, the documents rules see, the dispatcher that matches them against
// the rules and queues deliveries, and the engine that delivers them to
// targets reliably — at least once, with retries, per-target isolation,
// dead letters and replay.
package events

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Delivery states.
const (
	StatePending   = "pending"   // waiting for its next attempt (NextAt)
	StateRunning   = "running"   // an attempt is in progress (until LeaseUntil)
	StateDelivered = "delivered" // the target accepted it
	StateDead      = "dead"      // permanent failure or attempts exhausted
)

// Delivery is one event on its way to one target through one rule.
type Delivery struct {
	ID        string          `json:"id"`
	EventSeq  int64           `json:"eventSeq"`
	EventID   string          `json:"eventId"`
	EventType string          `json:"eventType"`
	EventTime time.Time       `json:"eventTime"`
	Rule      string          `json:"rule"`
	Target    string          `json:"target"`
	Subject   string          `json:"subject"`
	Payload   json.RawMessage `json:"payload"`
	State     string          `json:"state"`
	// Attempts counts every attempt made (claimed), replays included: the
	// attempt log's numbers go on across replays and are never reused.
	Attempts int `json:"attempts"`
	// Replays is how many times the delivery was replayed; ReplayBase is
	// Attempts when it last was (the retry schedule counts the attempts
	// after it: RoundAttempts).
	Replays    int       `json:"replays,omitempty"`
	ReplayBase int       `json:"attemptsBeforeReplay,omitempty"`
	NextAt     time.Time `json:"nextAt"`
	LeaseUntil time.Time `json:"-"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	LastStatus int       `json:"lastStatus,omitempty"`
	LastError  string    `json:"lastError,omitempty"`
	// UncertainSince is when the first attempt since dispatch or the last
	// replay whose outcome is unknown was made (Result.Uncertain, or an
	// attempt whose process died): the target may have acted on it.
	// Zero when there was none.
	UncertainSince time.Time `json:"uncertainSince,omitzero"`
	// Event is the event document (loaded when a delivery is claimed).
	Event json.RawMessage `json:"-"`
}

// RoundAttempts is the number of attempts since dispatch or the last
// replay: what the retry schedule counts.
func (d *Delivery) RoundAttempts() int { return d.Attempts - d.ReplayBase }

// Attempt is one try of a delivery. Once recorded it is never changed.
type Attempt struct {
	DeliveryID string `json:"deliveryId"`
	// N numbers a delivery's attempts from 1, across replays (0: a
	// delivery that was dead before any attempt, its payload not built).
	N        int           `json:"n"`
	At       time.Time     `json:"at"`
	Outcome  string        `json:"outcome"` // delivered, retry, permanent, disable
	Status   int           `json:"status,omitempty"`
	Latency  time.Duration `json:"latencyNs"`
	Response string        `json:"response,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// Completion records an attempt and the delivery's next state.
type Completion struct {
	Attempt Attempt
	State   string    // StatePending (retry), StateDelivered or StateDead
	NextAt  time.Time // for StatePending
	// Uncertain: the attempt's outcome is unknown (the target may have
	// acted on it); the delivery's UncertainSince is set to the attempt's
	// time if it is not set yet.
	Uncertain bool
}

// EventDoc is the document of an event, as rules see it and as deliveries
// carry it.
type EventDoc struct {
	Seq int64
	ID  string
	Doc json.RawMessage
}

// External is an event received from outside (POST /events).
type External struct {
	ID      string // the CloudEvents id
	Source  string
	Type    string
	Subject string
	Time    time.Time
	Doc     json.RawMessage // the normalised document
}

// DeliveryQuery selects deliveries, newest first.
type DeliveryQuery struct {
	Target, Rule, State, EventID string
	BeforeSeq                    int64 // deliveries of events before this seq (paging)
	Limit                        int
}

// Store is what the pipeline needs from the database.
type Store interface {
	// EventsAfter returns outbox records with Seq > after, in order.
	EventsAfter(ctx context.Context, after int64, limit int) ([]*directory.EventRecord, error)
	// AppendExternal stores received events (with an audit record of the
	// receipt), skipping those the same application (actor.AppID) has
	// posted before with the same (source, id); it reports which were new.
	// The application is part of the key because source and id are what
	// the sender wrote: keyed on them alone, any application allowed to
	// post events could post another sender's ids first and have that
	// sender's events dropped as duplicates.
	AppendExternal(ctx context.Context, evs []*External, actor directory.Actor) ([]bool, error)
	// DispatchCursor is the seq of the last event dispatched.
	DispatchCursor(ctx context.Context) (int64, error)
	// Dispatch stores event documents and their deliveries and moves the
	// cursor from `from` to `to`, in one transaction; it fails with
	// ErrCursorMoved if another dispatcher moved the cursor first.
	Dispatch(ctx context.Context, from, to int64, docs []*EventDoc, ds []*Delivery) error
	// StartRules records the start of each rule of names that has none:
	// the seq of the last event written so far (once, after an upgrade,
	// the dispatch cursor instead), after which the rule routes events.
	// It returns the start of each of names.
	StartRules(ctx context.Context, names []string, now time.Time) (map[string]int64, error)
	// PastEvents returns up to limit dispatched events after seq after
	// whose documents are kept, in seq order.
	PastEvents(ctx context.Context, after int64, limit int) ([]*PastEvent, error)
	// Enqueue queues deliveries made outside dispatch (a backfill): those
	// whose id is not stored yet, reporting which they were; with dryRun
	// it only reports. audit, when not nil, is appended in the same
	// transaction.
	Enqueue(ctx context.Context, ds []*Delivery, dryRun bool, audit *directory.AuditEntry) ([]bool, error)

	// Claim marks up to limit due deliveries of target as running until
	// now+lease and returns them with their event documents. With ordered,
	// a delivery waits while an earlier one for the same subject is not
	// finished.
	Claim(ctx context.Context, target string, now time.Time, limit int, lease time.Duration, ordered bool) ([]*Delivery, error)
	// Complete records attempts and the new states, in one transaction.
	// An attempt is appended to its delivery's log: one already recorded
	// under the same (delivery, number) is kept as it is.
	Complete(ctx context.Context, cs []*Completion, now time.Time) error
	// NextDue is the earliest NextAt of target's pending deliveries (zero
	// if none).
	NextDue(ctx context.Context, target string) (time.Time, error)
	// Recover returns running deliveries whose lease expired to pending;
	// their attempt's outcome is unknown (UncertainSince is set to the
	// claim's time if it is not set yet).
	Recover(ctx context.Context, now time.Time) (int64, error)

	Deliveries(ctx context.Context, q DeliveryQuery) ([]*Delivery, error)
	Delivery(ctx context.Context, id string) (*Delivery, error)
	Attempts(ctx context.Context, deliveryID string) ([]*Attempt, error)
	EventDocument(ctx context.Context, seq int64) (json.RawMessage, error)
	// Replay makes the selected deliveries pending again, due now; it
	// returns how many. The attempt count and log stay (numbers continue);
	// Replays goes up by one, ReplayBase becomes Attempts (the schedule
	// starts over) and UncertainSince is cleared. audit, when not nil, is
	// appended to the audit log in the same transaction.
	Replay(ctx context.Context, ids []string, q *DeliveryQuery, now time.Time, audit *directory.AuditEntry) (int64, error)
	// Prune deletes finished deliveries (and their attempts and event
	// documents) and dispatched events older than before.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Backlog counts deliveries by target and state.
	Backlog(ctx context.Context) (map[string]map[string]int64, error)

	// TargetDisabled reports targets disabled (by a 410 or an operator).
	TargetsDisabled(ctx context.Context) (map[string]string, error)
	// SetTargetDisabled disables or enables a target; audit, when not nil,
	// is appended to the audit log in the same transaction.
	SetTargetDisabled(ctx context.Context, target, reason string, disabled bool, audit *directory.AuditEntry) error
}

// StoredRule is a rule made through the admin API.
type StoredRule struct {
	Rule    RuleSpec
	Created time.Time
	Updated time.Time
}

// RuleStore keeps the rules made through the admin API.
type RuleStore interface {
	// APIRules returns the stored rules, by name, and the rules version.
	APIRules(ctx context.Context) ([]StoredRule, int64, error)
	// RulesVersion moves with every change to the stored rules.
	RulesVersion(ctx context.Context) (int64, error)
	// PutRule creates or replaces a rule (by name), appending audit in the
	// same transaction; it reports whether the rule is new.
	PutRule(ctx context.Context, r RuleSpec, now time.Time, audit *directory.AuditEntry) (bool, error)
	// DeleteRule removes a rule (directory.ErrNotFound if there is none).
	DeleteRule(ctx context.Context, name string, audit *directory.AuditEntry) error
}

// AttemptPoint is one delivery attempt as the console's charts read it.
type AttemptPoint struct {
	At      time.Time
	Target  string
	Outcome string // delivered, retry, permanent, disable
	Latency time.Duration
}

package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// TestEventType is the type of the event `gatehouse targets test` sends.
const TestEventType = "Gatehouse.Test"

// TestTemplate is the built-in email template of a test email.
const TestTemplate = "gatehouse_test"

// TestOptions say what a target test sends.
type TestOptions struct {
	// To is the one recipient of an email target's test email (required
	// for resend and smtp targets; refused for the others).
	To string
	// Template is the email template to render (default TestTemplate).
	Template string
}

// TestResult is a test of a target: what was sent and the attempt.
type TestResult struct {
	Target  string          `json:"target"`
	Kind    string          `json:"kind"`
	EventID string          `json:"eventId"`
	Payload json.RawMessage `json:"payload"`
	Attempt Attempt         `json:"attempt"`
	// Note says what a real delivery would have done after this outcome
	// (retried, dead, the target disabled): a test does none of it.
	Note string `json:"note,omitempty"`
}

// Test sends one test event to target name and returns the attempt. The
// event (type Gatehouse.Test) is about no one: its detail says it is a
// test and carries no personal data. It goes to the target as a delivery
// worker sends a delivery — the target's sender, timeout and rate limit,
// no rule's transformer — once: a failed test is not retried, nothing is
// queued, and an answer that would disable the target (410) does not.
//
// Webhook and EventBridge targets get the event document. Email targets
// (resend, smtp) need opt.To, the only recipient, and send the built-in
// gatehouse_test template (or opt.Template) rendered with the test
// event's detail. SCIM targets are refused: their deliveries create and
// change accounts downstream, and a test event would change nothing and
// prove nothing (`gatehouse push TARGET --dry-run` reads the downstream).
func (p *Pipeline) Test(ctx context.Context, name string, opt TestOptions) (*TestResult, error) {
	cfg := p.Config()
	t, ok := cfg.Targets[name]
	if !ok {
		return nil, directory.Errorf(directory.ErrNotFound, "target", "no target named %q", name)
	}
	kind := t.Sender.Kind()
	if err := t.Unavailable(); err != nil {
		return nil, directory.Errorf(directory.ErrInvalid, "target", "target %s cannot deliver from here: %v", name, err)
	}
	now := p.now()
	id := "test-" + uuid.NewString() // EventBridge wants letters, digits and hyphens
	doc, err := json.Marshal(Document{
		SpecVersion: "1.0", ID: id, Source: p.builder.Source, Type: TestEventType, Subject: "targets/" + name, Time: now,
		DataContentType: "application/json", DetailType: TestEventType,
		Detail: map[string]any{"test": true, "target": name,
			"message": "A test event sent by an operator (gatehouse targets test) to check this target. It is about no one: ignore it."},
	})
	if err != nil {
		return nil, err
	}
	payload := json.RawMessage(doc)
	switch kind {
	case "scim":
		return nil, directory.Errorf(directory.ErrInvalid, "target",
			"target %s is a SCIM target: its deliveries create and change accounts, so a test event would prove nothing; "+
				"gatehouse push %s --dry-run reads the downstream without changing it", name, name)
	case "resend", "smtp":
		to := strings.TrimSpace(opt.To)
		if to == "" {
			return nil, directory.Errorf(directory.ErrInvalid, "to",
				"target %s sends email: give the one address the test email goes to (to); it is sent to no one else", name)
		}
		if a, err := mail.ParseAddress(to); err != nil || a.Name != "" || strings.ContainsAny(to, ",;") {
			return nil, directory.Errorf(directory.ErrInvalid, "to", "to must be one email address, such as ops@example.com")
		}
		tpl := opt.Template
		if tpl == "" {
			tpl = TestTemplate
		}
		payload, _ = json.Marshal(map[string]any{"to": to, "template": tpl})
	default:
		if opt.To != "" || opt.Template != "" {
			return nil, directory.Errorf(directory.ErrInvalid, "to", "to and template are for email targets; target %s is a %s target", name, kind)
		}
	}
	d := &Delivery{ID: "dlv_" + id, EventSeq: 0, EventID: id, EventType: TestEventType, EventTime: now, Rule: "", Target: name,
		Subject: "targets/" + name, Payload: payload, State: StateRunning, Attempts: 1, NextAt: now, Created: now, Event: doc}
	r := newWorker(p, t).attempt(ctx, []*Delivery{d})[0]
	if r.Outcome == "" {
		r.Outcome = OutcomeRetry
	}
	a := Attempt{DeliveryID: d.ID, N: 1, At: now, Outcome: r.Outcome, Status: r.Status, Latency: r.Latency, Response: truncate(r.Response, 1024)}
	if r.Err != nil {
		a.Error = truncate(r.Err.Error(), 1024)
	}
	res := &TestResult{Target: name, Kind: kind, EventID: id, Payload: payload, Attempt: a}
	switch r.Outcome {
	case OutcomeRetry:
		res.Note = "a delivery would be retried"
		if r.RetryAfter > 0 {
			res.Note += fmt.Sprintf(" (not before %s, as the target asked)", r.RetryAfter.Round(time.Second))
		}
	case OutcomePermanent:
		res.Note = "a delivery would be dead at once (a permanent failure)"
	case OutcomeDisable:
		res.Note = "the target asked to be disabled: a delivery would disable it"
	}
	return res, nil
}

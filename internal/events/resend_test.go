package events_test

// The delivery engine with the Resend target and the Resend fake (in
// process, on the bubble's clock): what a replay sends, retries and the
// 24 hours Resend keeps an Idempotency-Key, the daily quota.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/targets"
	"github.com/gatehouse-id/gatehouse/internal/targets/fake"
)

const resendKey = "re_Pipeline_5b7c9d1e"

// handlerTransport serves requests in process, on the bubble's clock.
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// keyLife is the Resend target, whose keys (and the fake's) live life
// instead of 24 hours: a bubble's day of idle workers takes seconds.
type keyLife struct {
	events.Sender
	life time.Duration
}

func (k keyLife) IdempotencyKeyLifetime() time.Duration { return k.life }

// resendBubble runs f in a bubble with a pipeline whose target "mail"
// sends every event's welcome email through Resend (the fake f). With
// f.KeyLifetime set, the target says its keys live that long.
func resendBubble(t *testing.T, f *fake.Resend, pol events.Policy, fn func(h *harness)) {
	synctest.Test(t, func(t *testing.T) {
		r, err := targets.NewResend(targets.ResendConfig{BaseURL: "https://api.resend.test", APIKey: resendKey, From: "HR <hr@acme.example>",
			Client: &http.Client{Transport: handlerTransport{f}}, TargetID: "mail"})
		if err != nil {
			t.Fatal(err)
		}
		sender := events.SenderOf(r)
		if f.KeyLifetime > 0 {
			sender = keyLife{sender, f.KeyLifetime}
		}
		cfg := configOf(map[string]*events.Target{"mail": {Sender: sender, Policy: pol}})
		tr, err := rules.NewTransformer(rules.TransformSpec{Kind: "constant", Value: `{"to": "ada@example.com", "template": "welcome_new_hire"}`})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Routes["to-mail"][0].Transform = tr
		h := newHarness(t, cfg, events.Options{})
		defer func() { h.stop() }()
		fn(h)
	})
}

// TestResendReplaySendsAgain: replaying a delivered email sends it again,
// within Resend's 24 hours too (the replay has a key of its own).
func TestResendReplaySendsAgain(t *testing.T) {
	f := fake.NewResend(resendKey)
	resendBubble(t, f, fastPolicy(), func(h *harness) {
		h.run()
		h.receive("e1")
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(f.Emails()); n != 1 {
			t.Fatalf("%d emails, want 1", n)
		}
		d := h.delivery("mail", "e1")
		if n, err := h.st.Replay(h.ctx, []string{d.ID}, nil, time.Now(), nil); err != nil || n != 1 {
			t.Fatalf("replay: %v %d", err, n)
		}
		h.p.Wake("mail")
		time.Sleep(time.Minute)
		synctest.Wait()
		emails := f.Emails()
		if len(emails) != 2 || emails[0].IdempotencyKey == emails[1].IdempotencyKey {
			t.Fatalf("%d emails after the replay, want 2 with different keys", len(emails))
		}
		if d := h.delivery("mail", "e1"); d.State != events.StateDelivered {
			t.Errorf("replayed delivery: %s", d.State)
		}
	})
}

// TestResendRetriesStopBeforeKeyExpires: once an attempt's outcome is
// uncertain (its answer lost), the delivery is retried only while Resend
// remembers the key, less an hour (here keys live 2 hours: the last retry
// starts within the first hour): a retry after could send the email a
// second time. The delivery is dead instead, saying why, for a replay.
func TestResendRetriesStopBeforeKeyExpires(t *testing.T) {
	f := fake.NewResend(resendKey)
	f.KeyLifetime = 2 * time.Hour
	f.DropNextAnswers(1) // the first attempt sends, its answer is lost
	pol := events.DefaultPolicy()
	pol.Jitter = 0
	pol.Schedule = []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute}
	// Attempts at 0, 5m, 15m, 35m; the fifth would be at 75m, after the hour.
	resendBubble(t, f, pol, func(h *harness) {
		start := time.Now()
		h.run()
		h.receive("e1")
		synctest.Wait()
		f.FailNext(4, 503) // the next four fail; the sixth would succeed
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		if n := len(f.Emails()); n != 1 {
			t.Errorf("%d emails sent, want 1 (a retry after Resend forgot the key sent it again)", n)
		}
		var at []time.Duration
		for _, a := range f.Log() {
			at = append(at, a.Time.Sub(start))
		}
		if want := []time.Duration{0, 5 * time.Minute, 15 * time.Minute, 35 * time.Minute}; fmt.Sprint(want) != fmt.Sprint(at) {
			t.Errorf("requests at %v, want %v", at, want)
		}
		d := h.delivery("mail", "e1")
		if d.State != events.StateDead || d.Attempts != 4 || !strings.Contains(d.LastError, "not retried") ||
			!strings.Contains(d.LastError, "replay the delivery") {
			t.Errorf("delivery: %s after %d attempts, %q; want dead after 4, saying why", d.State, d.Attempts, d.LastError)
		}
	})
}

// TestResendCertainFailuresRetryOn: attempts Resend refused outright (429)
// did not send anything: they do not limit the retries.
func TestResendCertainFailuresRetryOn(t *testing.T) {
	f := fake.NewResend(resendKey)
	f.KeyLifetime = 2 * time.Hour
	f.FailNext(5, 429)
	pol := events.DefaultPolicy()
	pol.Jitter = 0
	pol.Schedule = []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute}
	resendBubble(t, f, pol, func(h *harness) {
		h.run()
		h.receive("e1")
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		if d := h.delivery("mail", "e1"); d.State != events.StateDelivered || d.Attempts != 6 || len(f.Emails()) != 1 {
			t.Errorf("delivery: %s after %d attempts, %d emails; want delivered at the sixth, once", d.State, d.Attempts, len(f.Emails()))
		}
	})
}

// TestResendQuotaPausesTarget: a daily_quota_exceeded answer pauses the
// target until the quota is reset (here the answer's retry-after, 2 hours;
// without one, 24 hours): no request meanwhile, then one finds out.
func TestResendQuotaPausesTarget(t *testing.T) {
	f := fake.NewResend(resendKey)
	f.DailyQuota, f.QuotaRetryAfter = 4, 2*time.Hour
	pol := events.DefaultPolicy()
	pol.Jitter = 0
	resendBubble(t, f, pol, func(h *harness) {
		start := time.Now()
		h.run()
		h.receive("e1", "e2", "e3", "e4", "e5", "e6")
		time.Sleep(5 * time.Hour)
		synctest.Wait()
		var got []string
		for _, a := range f.Log() {
			got = append(got, fmt.Sprintf("+%v %d %s", a.Time.Sub(start).Round(time.Minute), a.Status, a.Name))
		}
		want := []string{"+0s 200 ", "+0s 200 ", "+0s 200 ", "+0s 200 ", "+0s 429 daily_quota_exceeded",
			"+2h0m0s 429 daily_quota_exceeded", "+4h0m0s 429 daily_quota_exceeded"}
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("requests:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		count := map[string]int{}
		for _, st := range h.states() {
			count[st]++
		}
		if count[events.StateDelivered] != 4 || count[events.StatePending] != 2 || len(f.Emails()) != 4 {
			t.Errorf("states %v, %d emails; want 4 delivered and 2 waiting, 4 emails", h.states(), len(f.Emails()))
		}
	})
}

// TestUncertainNotSentAfterKeyLifetime: a delivery whose uncertain attempt
// is older than the target's key lifetime (less an hour) when it comes up
// again (its target was disabled meanwhile) is not sent: it is dead, the
// attempt saying why.
func TestUncertainNotSentAfterKeyLifetime(t *testing.T) {
	s := &sender{answer: func(c call) events.Result {
		return events.Result{Outcome: events.OutcomeRetry, Status: 503, Uncertain: true, Err: fmt.Errorf("HTTP 503")}
	}}
	pol := fastPolicy()
	pol.Schedule = []time.Duration{10 * time.Minute}
	bubble(t, map[string]*events.Target{"mail": {Sender: keyLife{s, 2 * time.Hour}, Policy: pol}}, events.Options{}, func(h *harness) {
		h.run()
		h.receive("e1")
		synctest.Wait()
		if err := h.st.SetTargetDisabled(h.ctx, "mail", "maintenance", true, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Hour)
		if err := h.st.SetTargetDisabled(h.ctx, "mail", "", false, nil); err != nil {
			t.Fatal(err)
		}
		h.p.Wake("mail")
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(s.seen()); n != 1 {
			t.Errorf("%d sends, want 1 (the uncertain one)", n)
		}
		d := h.delivery("mail", "e1")
		if d.State != events.StateDead || !strings.HasPrefix(d.LastError, "not sent: ") {
			t.Errorf("delivery: %s, %q; want dead, not sent", d.State, d.LastError)
		}
		if diff := cmp.Diff([]loggedAttempt{{1, "retry", 503}, {2, "permanent", 0}}, h.attempts("mail", "e1")); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
	})
}

package targets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/targets/fake"
	"github.com/google/go-cmp/cmp"
)

const resendKey = "re_TestKey_4f9a2b7c1d"

// emailDelivery is a User.Created event whose rule sends the welcome email.
func emailDelivery(eventID string) *Delivery {
	return &Delivery{
		ID: "d-" + eventID, EventID: eventID, EventType: "User.Created", Subject: "users/42",
		Time:    time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC),
		Payload: json.RawMessage(`{"to":"Ada Lovelace <ada@example.com>","template":"welcome_new_hire"}`),
		Event: json.RawMessage(`{"id":"` + eventID + `","type":"User.Created","detail":{"userName":"ada",` +
			`"displayName":"Ada Lovelace","email":"ada@example.com","organization":"Acme","preferredLanguage":"zh-CN"}}`),
		Attempt: 1,
	}
}

func newResendTarget(t *testing.T, baseURL string, mutate func(*ResendConfig)) *Resend {
	t.Helper()
	cfg := ResendConfig{BaseURL: baseURL, APIKey: resendKey, From: "Acme HR <hr@acme.example>", RateLimit: -1, Client: loopback.Client(30 * time.Second)}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := NewResend(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResendRequest(t *testing.T) {
	f := fake.NewResend(resendKey)
	srv := httptest.NewServer(f)
	defer srv.Close()

	tests := []struct {
		name      string
		mutate    func(*ResendConfig)
		payload   string
		event     string
		wantFrom  string
		wantTo    []string
		wantAgent string
		locale    string
		vars      map[string]any
		subject   string
	}{
		{
			name: "defaults", wantFrom: "Acme HR <hr@acme.example>", wantTo: []string{"Ada Lovelace <ada@example.com>"},
			wantAgent: "gatehouse", locale: "zh",
		},
		{
			name: "payload overrides", mutate: func(c *ResendConfig) { c.UserAgent = "gatehouse/1.2 (+https://gatehouse.example)" },
			payload: `{"to":["ada@example.com","Grace <grace@example.com>"],"template":"welcome_new_hire","locale":"en",` +
				`"subject":"Hello\r\nthere","from":"IT <it@acme.example>","variables":{"company":"Globex"}}`,
			wantFrom: "IT <it@acme.example>", wantTo: []string{"ada@example.com", "Grace <grace@example.com>"},
			wantAgent: "gatehouse/1.2 (+https://gatehouse.example)", locale: "en",
			vars: map[string]any{"company": "Globex"}, subject: "Hello there",
		},
		{
			name: "target locale when the event names none", mutate: func(c *ResendConfig) { c.Locale = "zh" },
			payload: `{"to":"ada@example.com","template":"welcome_new_hire"}`, event: `{"detail":{"userName":"ada"}}`,
			wantFrom: "Acme HR <hr@acme.example>", wantTo: []string{"ada@example.com"}, wantAgent: "gatehouse", locale: "zh",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResendTarget(t, srv.URL, tt.mutate)
			d := emailDelivery(fmt.Sprintf("evt-%d", i))
			if tt.payload != "" {
				d.Payload = json.RawMessage(tt.payload)
			}
			if tt.event != "" {
				d.Event = json.RawMessage(tt.event)
			}
			before := len(f.Emails())
			res := r.Deliver(context.Background(), d)
			emails := f.Emails()
			if res.Outcome != Delivered || res.Err != nil || res.Status != 200 || len(emails) != before+1 {
				t.Fatalf("got %+v, %d emails", res, len(emails)-before)
			}
			e := emails[len(emails)-1]
			if res.Response != e.ID {
				t.Errorf("Response %q, want the email id %q", res.Response, e.ID)
			}

			want, err := DefaultTemplates().Render("welcome_new_hire", []string{tt.locale}, templateVars(eventDetail(d.Event), tt.vars, ""))
			if err != nil {
				t.Fatal(err)
			}
			if tt.subject != "" {
				want.Subject = tt.subject
			}
			got := fake.Email{From: e.From, To: e.To, Subject: e.Subject, HTML: e.HTML, Text: e.Text, UserAgent: e.UserAgent}
			wantEmail := fake.Email{From: tt.wantFrom, To: tt.wantTo, Subject: want.Subject, HTML: want.HTML, Text: want.Text, UserAgent: tt.wantAgent}
			if diff := cmp.Diff(wantEmail, got); diff != "" {
				t.Errorf("email (-want +got):\n%s", diff)
			}
			h := e.RequestHeader
			if h.Get("Authorization") != "Bearer "+resendKey || h.Get("Content-Type") != "application/json" || h.Get("Idempotency-Key") == "" {
				t.Errorf("request headers: %v", h)
			}
		})
	}
}

func TestResendIdempotencyKey(t *testing.T) {
	f := fake.NewResend(resendKey)
	f.RateLimit = -1 // real time: the limit is tested with synctest below
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx := context.Background()

	// The answer of the first attempt is lost (the email is sent): the
	// retry carries the same key and gets the same email back.
	a := newResendTarget(t, srv.URL, func(c *ResendConfig) { c.TargetID = "welcome-email" })
	f.DropNextAnswers(1)
	d := emailDelivery("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	first := a.Deliver(ctx, d)
	d.Attempt = 2
	retry := a.Deliver(ctx, d)
	emails := f.Emails()
	if first.Outcome != Retry || retry.Outcome != Delivered || len(emails) != 1 || retry.Response != emails[0].ID {
		t.Fatalf("first %v, retry %v %q, %d emails: want Retry, then Delivered with the first email's id", first.Outcome, retry.Outcome, retry.Response, len(emails))
	}
	key := emails[0].IdempotencyKey
	if !strings.HasPrefix(key, d.EventID+":welcome-email:") || len(key) > 256 {
		t.Errorf("key %q: want EventID:TargetID:digest", key)
	}

	// The same configuration after a restart sends the same key.
	again := newResendTarget(t, srv.URL, func(c *ResendConfig) { c.TargetID = "welcome-email" })
	if r := again.Deliver(ctx, d); r.Outcome != Delivered || len(f.Emails()) != 1 {
		t.Errorf("after a restart: %v, %d emails; want the first email", r.Outcome, len(f.Emails()))
	}

	keys := map[string]string{"first": key}
	send := func(name string, r *Resend, d *Delivery) {
		t.Helper()
		n := len(f.Emails())
		if res := r.Deliver(ctx, d); res.Outcome != Delivered || len(f.Emails()) != n+1 {
			t.Fatalf("%s: %v %v, want a new email", name, res.Outcome, res.Err)
		}
		k := f.Emails()[n].IdempotencyKey
		for other, ok := range keys {
			if ok == k {
				t.Errorf("%s: key %q, the same as %s's", name, k, other)
			}
		}
		keys[name] = k
	}
	send("another target", newResendTarget(t, srv.URL, func(c *ResendConfig) { c.TargetID = "it-notice" }), d)
	send("a target without TargetID", newResendTarget(t, srv.URL, nil), d)
	send("a target without TargetID and another From", newResendTarget(t, srv.URL, func(c *ResendConfig) { c.From = "IT <it@acme.example>" }), d)
	send("another event", a, emailDelivery("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"))
	other := emailDelivery(d.EventID)
	other.Payload = json.RawMessage(`{"to":"grace@example.com","template":"welcome_new_hire"}`)
	send("another recipient", a, other)

	// Ids that are long, or that are not header-safe, still give a valid key.
	long := emailDelivery(strings.Repeat("x", 300))
	send("a 300-character event id", a, long)
	if k := keys["a 300-character event id"]; !strings.HasPrefix(k, "sha256:") || len(k) > 256 {
		t.Errorf("long id: key %q", k)
	}
	send("an event id with a line break", a, emailDelivery("evt\n1"))
	send("a non-ASCII target id", newResendTarget(t, srv.URL, func(c *ResendConfig) { c.TargetID = "人事 邮件" }), d)
}

// Rendering changes between attempts (an operator edited the template)
// under the same key: Resend refuses the different body.
func TestResendChangedContentSameKey(t *testing.T) {
	f := fake.NewResend(resendKey)
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	write(t, dir, "welcome_new_hire.zh.subject.txt", "新的标题 {{.userName}}")
	edited, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := emailDelivery("evt-edit")
	before := newResendTarget(t, srv.URL, func(c *ResendConfig) { c.TargetID = "t" })
	after := newResendTarget(t, srv.URL, func(c *ResendConfig) { c.TargetID = "t"; c.Templates = edited })
	if r := before.Deliver(context.Background(), d); r.Outcome != Delivered {
		t.Fatalf("first: %+v", r)
	}
	r := after.Deliver(context.Background(), d)
	if r.Outcome != Permanent || r.Status != 409 || r.Err == nil ||
		!strings.Contains(r.Err.Error(), "invalid_idempotent_request") || !strings.Contains(r.Err.Error(), "change TargetID") {
		t.Errorf("got %v %d %v, want Permanent 409 invalid_idempotent_request explaining TargetID", r.Outcome, r.Status, r.Err)
	}
	if n := len(f.Emails()); n != 1 {
		t.Errorf("%d emails, want 1", n)
	}
}

func TestResendConcurrentAttempt(t *testing.T) {
	f := fake.NewResend(resendKey)
	srv := httptest.NewServer(f)
	defer srv.Close()
	r := newResendTarget(t, srv.URL, nil)
	d := emailDelivery("evt-concurrent")

	entered, release := f.HoldNext()
	defer release()
	var wg sync.WaitGroup
	var first Result
	wg.Go(func() { first = r.Deliver(context.Background(), d) })
	<-entered
	second := r.Deliver(context.Background(), d)
	release()
	wg.Wait()
	if second.Outcome != Retry || second.Status != 409 || !strings.Contains(second.Err.Error(), "concurrent_idempotent_requests") || !second.Uncertain {
		t.Errorf("while the first is in progress: %v %d %v, want Retry 409 concurrent_idempotent_requests", second.Outcome, second.Status, second.Err)
	}
	if first.Outcome != Delivered || len(f.Emails()) != 1 {
		t.Errorf("first %v, %d emails", first.Outcome, len(f.Emails()))
	}
}

func TestResendClassification(t *testing.T) {
	f := fake.NewResend(resendKey)
	f.RateLimit = -1
	srv := httptest.NewServer(f)
	defer srv.Close()
	tests := []struct {
		name       string
		fail       int // FailNext status
		mutate     func(*ResendConfig)
		payload    string
		want       Outcome
		status     int
		retryAfter time.Duration
		errHas     string
		sent       bool // whether a request reached the fake
		uncertain  bool // whether the email may have been sent although the answer does not say so
	}{
		{name: "200", want: Delivered, status: 200, sent: true},
		{name: "429", fail: 429, want: Retry, status: 429, retryAfter: time.Second, errHas: "rate_limit_exceeded", sent: true},
		{name: "500", fail: 500, want: Retry, status: 500, errHas: "application_error", sent: true, uncertain: true},
		{name: "503", fail: 503, want: Retry, status: 503, sent: true, uncertain: true},
		{name: "422 validation_error", fail: 422, want: Permanent, status: 422, errHas: "validation_error", sent: true},
		{name: "400", fail: 400, want: Permanent, status: 400, sent: true},
		{name: "wrong API key", mutate: func(c *ResendConfig) { c.APIKey = "re_wrong" }, want: Permanent, status: 403, errHas: "invalid_api_key", sent: true},
		{name: "wrong base URL", mutate: func(c *ResendConfig) { c.BaseURL = srv.URL + "/v2" }, want: Permanent, status: 404, errHas: "not_found", sent: true},
		{name: "no recipient", payload: `{"template":"welcome_new_hire"}`, want: Permanent, errHas: "no recipient"},
		{name: "51 recipients", payload: `{"to":[` + strings.TrimSuffix(strings.Repeat(`"a@example.com",`, 51), ",") + `],"template":"welcome_new_hire"}`, want: Permanent, errHas: "at most 50"},
		{name: "unknown template", payload: `{"to":"a@example.com","template":"welcome"}`, want: Permanent, errHas: "not found"},
		{name: "misspelt field", payload: `{"to":"a@example.com","tempalte":"welcome_new_hire"}`, want: Permanent, errHas: "tempalte"},
		{name: "no sender", mutate: func(c *ResendConfig) { c.From = "" }, want: Permanent, errHas: "no sender"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResendTarget(t, srv.URL, tt.mutate)
			if tt.fail != 0 {
				f.FailNext(1, tt.fail)
			}
			d := emailDelivery(fmt.Sprintf("evt-class-%d", i))
			if tt.payload != "" {
				d.Payload = json.RawMessage(tt.payload)
			}
			n := f.Requests()
			res := r.Deliver(context.Background(), d)
			if res.Outcome != tt.want || res.Status != tt.status || res.RetryAfter != tt.retryAfter {
				t.Errorf("got %v %d retryAfter=%v (%v), want %v %d %v", res.Outcome, res.Status, res.RetryAfter, res.Err, tt.want, tt.status, tt.retryAfter)
			}
			if (res.Err == nil) != (tt.want == Delivered) || (tt.errHas != "" && !strings.Contains(fmt.Sprint(res.Err), tt.errHas)) {
				t.Errorf("Err = %v, want it to mention %q", res.Err, tt.errHas)
			}
			if sent := f.Requests() > n; sent != tt.sent {
				t.Errorf("request sent: %v, want %v", sent, tt.sent)
			}
			if res.Uncertain != tt.uncertain {
				t.Errorf("Uncertain = %v, want %v", res.Uncertain, tt.uncertain)
			}
		})
	}
}

// Edge cases of answers the fake does not produce, from a plain handler.
func TestResendRetryHeaders(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		want       Outcome
		retryAfter time.Duration
	}{
		{"429 retry-after wins over ratelimit-reset", 429, map[string]string{"Retry-After": "2", "Ratelimit-Reset": "9"}, Retry, 2 * time.Second},
		{"429 ratelimit-reset alone", 429, map[string]string{"Ratelimit-Reset": "3"}, Retry, 3 * time.Second},
		{"429 daily quota", 429, map[string]string{"Retry-After": "86400"}, Retry, 24 * time.Hour},
		{"429 beyond the cap", 429, map[string]string{"Retry-After": "99999999"}, Retry, maxRetryAfter},
		{"503 retry-after date", 503, map[string]string{"Retry-After": now.Add(time.Minute).Format(http.TimeFormat)}, Retry, time.Minute},
		{"502", 502, nil, Retry, 0},
		{"409 other name", 409, nil, Permanent, 0},
		{"200 without a body", 200, nil, Delivered, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				if tt.status != 200 {
					fmt.Fprintf(w, `{"statusCode":%d,"name":"some_error","message":"m"}`, tt.status)
				}
			}))
			defer srv.Close()
			r := newResendTarget(t, srv.URL, func(c *ResendConfig) { c.Now = func() time.Time { return now } })
			res := r.Deliver(context.Background(), emailDelivery("evt-h"))
			if res.Outcome != tt.want || res.RetryAfter != tt.retryAfter {
				t.Errorf("got %v %v (%v), want %v %v", res.Outcome, res.RetryAfter, res.Err, tt.want, tt.retryAfter)
			}
		})
	}
}

func TestResendNetworkFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := newResendTarget(t, "http://"+addr, nil)
	res := r.Deliver(context.Background(), emailDelivery("evt-refused"))
	if res.Outcome != Retry || res.Err == nil || strings.Contains(res.Err.Error(), resendKey) || !res.Uncertain {
		t.Errorf("connection refused: %+v, want Retry, uncertain (no answer)", res)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = r.Deliver(ctx, emailDelivery("evt-cancelled"))
	if res.Outcome != Retry || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("cancelled: %+v, want Retry with context.Canceled", res)
	}
}

// The API key never shows in Result.Response or Err, even when the server
// echoes it.
func TestResendSecretNotExposed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"statusCode":401,"name":"validation_error","message":"API key %s is invalid","echo":%q}`, auth, auth)
	}))
	defer srv.Close()
	r := newResendTarget(t, srv.URL, nil)
	res := r.Deliver(context.Background(), emailDelivery("evt-secret"))
	if res.Outcome != Permanent || res.Err == nil {
		t.Fatalf("got %+v", res)
	}
	for what, s := range map[string]string{"Response": res.Response, "Err": res.Err.Error()} {
		if strings.Contains(s, resendKey) || strings.Contains(s, "TestKey") || !strings.Contains(s, "[redacted]") {
			t.Errorf("%s = %q: want the key redacted", what, s)
		}
	}
}

func TestResendBaseURL(t *testing.T) {
	f := fake.NewResend(resendKey)
	mux := http.NewServeMux()
	mux.Handle("/relay/resend/", http.StripPrefix("/relay/resend", f))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r := newResendTarget(t, srv.URL+"/relay/resend/", nil)
	if res := r.Deliver(context.Background(), emailDelivery("evt-base")); res.Outcome != Delivered || len(f.Emails()) != 1 {
		t.Errorf("through a base URL with a path: %+v", res)
	}

	def, err := NewResend(ResendConfig{APIKey: resendKey})
	if err != nil || def.endpoint.String() != "https://api.resend.com/emails" {
		t.Errorf("default endpoint %v, %v", def.endpoint, err)
	}
	for _, tt := range []struct {
		cfg  ResendConfig
		want []string
	}{
		{ResendConfig{BaseURL: "ftp://api.resend.com", APIKey: resendKey}, []string{"base URL"}},
		{ResendConfig{BaseURL: "https://", APIKey: resendKey}, []string{"base URL"}},
		{ResendConfig{}, []string{"no API key"}},
		{ResendConfig{BaseURL: "resend", From: "not an address"}, []string{"base URL", "no API key", "From"}},
	} {
		_, err := NewResend(tt.cfg)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("NewResend(%+v) = %v, want it to mention %q", tt.cfg, err, w)
			}
		}
	}
}

// handlerTransport serves requests in process, so that synctest's clock
// drives both the client's limiter and the fake's rate limit.
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func TestResendClientRateLimit(t *testing.T) {
	deliverAll := func(t *testing.T, r *Resend, n int) []Result {
		results := make([]Result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i] = r.Deliver(context.Background(), emailDelivery(fmt.Sprintf("evt-rl-%d", i))) })
		}
		wg.Wait()
		return results
	}
	count := func(rs []Result) map[Outcome]int {
		m := map[Outcome]int{}
		for _, r := range rs {
			m[r.Outcome]++
		}
		return m
	}

	t.Run("default 5/s keeps under the fake's limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := fake.NewResend(resendKey)
			r := newResendTarget(t, "https://api.resend.test", func(c *ResendConfig) {
				c.RateLimit = 0 // default
				c.Client = &http.Client{Transport: handlerTransport{f}}
			})
			start := time.Now()
			results := deliverAll(t, r, 12)
			if diff := cmp.Diff(map[Outcome]int{Delivered: 12}, count(results)); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			log := f.Log()
			for i, a := range log {
				if a.Status != 200 {
					t.Errorf("request %d: %d %s", i, a.Status, a.Name)
				}
				if want := start.Add(time.Duration(i) * 200 * time.Millisecond); !a.Time.Equal(want) {
					t.Errorf("request %d at +%v, want +%v", i, a.Time.Sub(start), want.Sub(start))
				}
			}
		})
	})

	t.Run("ratelimit-remaining 0 pauses until ratelimit-reset", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := fake.NewResend(resendKey)
			f.RateLimit = 2
			r := newResendTarget(t, "https://api.resend.test", func(c *ResendConfig) {
				c.Client = &http.Client{Transport: handlerTransport{f}}
			})
			start := time.Now()
			for i := range 4 {
				if res := r.Deliver(context.Background(), emailDelivery(fmt.Sprint("evt-p-", i))); res.Outcome != Delivered {
					t.Errorf("delivery %d: %+v", i, res)
				}
			}
			var got []string
			for _, a := range f.Log() {
				got = append(got, fmt.Sprintf("+%v %d", a.Time.Sub(start), a.Status))
			}
			want := []string{"+0s 200", "+0s 200", "+1s 200", "+1s 200"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("a 429 pauses the target", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var mu sync.Mutex
			var times []time.Duration
			start := time.Now()
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				times = append(times, time.Since(start))
				if len(times) == 1 {
					w.Header().Set("Ratelimit-Reset", "2") // no retry-after
					w.WriteHeader(429)
					_, _ = io.WriteString(w, `{"statusCode":429,"name":"rate_limit_exceeded","message":"slow down"}`)
					return
				}
				_, _ = io.WriteString(w, `{"id":"x"}`)
			})
			r := newResendTarget(t, "https://api.resend.test", func(c *ResendConfig) {
				c.Client = &http.Client{Transport: handlerTransport{h}}
			})
			first := r.Deliver(context.Background(), emailDelivery("evt-a"))
			second := r.Deliver(context.Background(), emailDelivery("evt-b"))
			if first.Outcome != Retry || first.RetryAfter != 2*time.Second || second.Outcome != Delivered {
				t.Errorf("first %v %v, second %v", first.Outcome, first.RetryAfter, second.Outcome)
			}
			if diff := cmp.Diff([]time.Duration{0, 2 * time.Second}, times); diff != "" {
				t.Errorf("request times (-want +got):\n%s", diff)
			}
		})
	})

	t.Run("no slot before the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := fake.NewResend(resendKey)
			r := newResendTarget(t, "https://api.resend.test", func(c *ResendConfig) {
				c.RateLimit = 1
				c.Client = &http.Client{Transport: handlerTransport{f}}
			})
			if res := r.Deliver(context.Background(), emailDelivery("evt-1")); res.Outcome != Delivered {
				t.Fatalf("first: %+v", res)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			res := r.Deliver(ctx, emailDelivery("evt-2"))
			if res.Outcome != Retry || res.RetryAfter != time.Second || f.Requests() != 1 {
				t.Errorf("got %+v after %d requests, want Retry after 1s without a request", res, f.Requests())
			}
		})
	})
}

// TestResendReplayKey: a replay has an Idempotency-Key of its own, so that
// Resend sends the email again (the same key would answer the first
// email's id for 24 hours); attempts of one replay share it.
func TestResendReplayKey(t *testing.T) {
	f := fake.NewResend(resendKey)
	f.RateLimit = -1
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx := context.Background()
	r := newResendTarget(t, srv.URL, func(c *ResendConfig) { c.TargetID = "welcome-email" })
	d := emailDelivery("evt-replay")
	for i, step := range []struct {
		replays int
		emails  int
	}{
		{0, 1}, // sent
		{0, 1}, // a retry: the same key, nothing sent
		{1, 2}, // replayed: sent again
		{1, 2}, // a retry of the replay
		{2, 3}, // replayed again
	} {
		d.Replays, d.Attempt = step.replays, i+1
		if res := r.Deliver(ctx, d); res.Outcome != Delivered || len(f.Emails()) != step.emails {
			t.Fatalf("attempt %d (replays %d): %v, %d emails; want Delivered, %d", i+1, step.replays, res.Outcome, len(f.Emails()), step.emails)
		}
	}
	emails := f.Emails()
	base := emails[0].IdempotencyKey
	if want := []string{base, base + ":r1", base + ":r2"}; !cmp.Equal(want, []string{emails[0].IdempotencyKey, emails[1].IdempotencyKey, emails[2].IdempotencyKey}) {
		t.Errorf("keys %q, %q, %q; want %q", emails[0].IdempotencyKey, emails[1].IdempotencyKey, emails[2].IdempotencyKey, want)
	}
}

// TestResendQuota: a used-up quota (429 daily_quota_exceeded) pauses every
// target of the API key: until the answer's retry-after when it gives one
// of a minute or more, else for 24 hours (Resend's daily quota counts the
// last 24 hours). Requests that would go meanwhile are not made; they are
// known not to have been sent.
func TestResendQuota(t *testing.T) {
	for _, tt := range []struct {
		name       string
		retryAfter time.Duration // the fake's
		want       time.Duration
	}{
		{"no retry-after", 0, 24 * time.Hour},
		{"retry-after of hours", 5 * time.Hour, 5 * time.Hour},
		{"retry-after too short to be the quota's", 2 * time.Second, 24 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := fake.NewResend(resendKey)
				f.DailyQuota, f.QuotaRetryAfter = 2, tt.retryAfter
				accounts := NewResendAccounts()
				client := &http.Client{Transport: handlerTransport{f}}
				newTarget := func(key, id string) *Resend {
					return newResendTarget(t, "https://api.resend.test", func(c *ResendConfig) {
						c.APIKey, c.TargetID, c.Accounts, c.Client, c.RateLimit = key, id, accounts, client, 0
					})
				}
				a, b := newTarget(resendKey, "a"), newTarget(resendKey, "b")
				other := newTarget("re_OtherTeam_0000", "c") // another key: not paused (the fake refuses it: 403)
				ctx := context.Background()
				for i := range 2 {
					if res := a.Deliver(ctx, emailDelivery(fmt.Sprint("evt-q", i))); res.Outcome != Delivered {
						t.Fatalf("email %d: %+v", i, res)
					}
				}
				res := a.Deliver(ctx, emailDelivery("evt-q2"))
				if res.Outcome != Retry || res.Status != 429 || res.RetryAfter != tt.want || res.Uncertain ||
					!strings.Contains(fmt.Sprint(res.Err), "daily_quota_exceeded") || !strings.Contains(fmt.Sprint(res.Err), "nothing is sent") {
					t.Fatalf("over the quota: %+v (%v); want Retry 429 after %v, not uncertain", res, res.Err, tt.want)
				}
				answered := f.Log()[2].Time // after the client-side limiter's 400 ms
				for name, r := range map[string]*Resend{"a": a, "b (same key)": b} {
					if until, why := r.PausedUntil(); !until.Equal(answered.Add(tt.want)) || !strings.Contains(why, "daily_quota_exceeded") {
						t.Errorf("%s: paused until +%v (%q), want +%v", name, until.Sub(answered), why, tt.want)
					}
				}
				if until, _ := other.PausedUntil(); !until.IsZero() {
					t.Errorf("another key paused until %v", until)
				}
				n := f.Requests()
				res = b.Deliver(ctx, emailDelivery("evt-q3"))
				if res.Outcome != Retry || res.Uncertain || res.RetryAfter != tt.want || f.Requests() != n {
					t.Errorf("during the pause: %+v after %d requests (want Retry after %v without a request)", res, f.Requests()-n, tt.want)
				}
				if res := other.Deliver(ctx, emailDelivery("evt-q4")); res.Status != 403 || f.Requests() != n+1 {
					t.Errorf("another key during the pause: %+v", res)
				}
				// Once the pause is over, requests go again (the fake's quota is
				// reset 24 hours after the first two emails).
				time.Sleep(tt.want)
				wantStatus := 200
				if tt.want < 24*time.Hour {
					wantStatus = 429
				}
				if res := b.Deliver(ctx, emailDelivery("evt-q5")); res.Status != wantStatus || f.Requests() != n+2 {
					t.Errorf("after the pause: %+v, %d requests; want %d", res, f.Requests()-n, wantStatus)
				}
			})
		})
	}
}

// TestResendSharedRateLimit: targets that share an API key share Resend's
// rate limit (it is the team's, not a target's): together they stay under
// it, at the lowest rate_limit among them.
func TestResendSharedRateLimit(t *testing.T) {
	for _, tt := range []struct {
		name  string
		rates [2]float64
		every time.Duration
	}{
		{"the default 5/s", [2]float64{0, 0}, 200 * time.Millisecond},
		{"the lowest rate wins", [2]float64{5, 2}, 500 * time.Millisecond},
		{"a target without a limit takes the other's", [2]float64{-1, 4}, 250 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := fake.NewResend(resendKey) // 5 requests per second
				accounts := NewResendAccounts()
				client := &http.Client{Transport: handlerTransport{f}}
				var ts []*Resend
				for i, rate := range tt.rates {
					ts = append(ts, newResendTarget(t, "https://api.resend.test", func(c *ResendConfig) {
						c.TargetID, c.Accounts, c.Client, c.RateLimit = fmt.Sprint("t", i), accounts, client, rate
					}))
				}
				ShareResendLimits(ts)
				start := time.Now()
				var wg sync.WaitGroup
				for i := range 12 {
					wg.Go(func() {
						if res := ts[i%2].Deliver(context.Background(), emailDelivery(fmt.Sprint("evt-s", i))); res.Outcome != Delivered {
							t.Errorf("email %d: %v %v", i, res.Outcome, res.Err)
						}
					})
				}
				wg.Wait()
				for i, a := range f.Log() {
					if a.Status != 200 {
						t.Errorf("request %d: %d %s", i, a.Status, a.Name)
					}
					if want := start.Add(time.Duration(i) * tt.every); !a.Time.Equal(want) {
						t.Errorf("request %d at +%v, want +%v", i, a.Time.Sub(start), want.Sub(start))
					}
				}
			})
		})
	}
}

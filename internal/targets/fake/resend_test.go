package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testKey = "re_test_123456"

// resendCall is one hand-built request to the fake.
type resendCall struct {
	method  string
	path    string
	header  map[string]string // "" value: header absent
	body    string
	noAgent bool
}

// resendReply is what came back.
type resendReply struct {
	Status  int
	Name    string
	Message string
	ID      string
	Raw     string
	Header  http.Header
}

func (c resendCall) do(t *testing.T, srv *httptest.Server) resendReply {
	t.Helper()
	method, path := c.method, c.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/emails"
	}
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	if c.noAgent {
		req.Header.Set("User-Agent", "") // Go's client then sends none
	} else {
		req.Header.Set("User-Agent", "fake-test/1.0")
	}
	for k, v := range c.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := resendReply{Status: resp.StatusCode, Raw: string(raw), Header: resp.Header}
	var ans struct {
		ID         string `json:"id"`
		StatusCode int    `json:"statusCode"`
		Name       string `json:"name"`
		Message    string `json:"message"`
	}
	if json.Unmarshal(raw, &ans) == nil {
		r.ID, r.Name, r.Message = ans.ID, ans.Name, ans.Message
		if resp.StatusCode != http.StatusOK {
			// Resend's error body: exactly statusCode, name and message.
			var keys map[string]any
			_ = json.Unmarshal(raw, &keys)
			if len(keys) != 3 || ans.StatusCode != resp.StatusCode || ans.Name == "" || ans.Message == "" {
				t.Errorf("error body %s: want {statusCode: %d, name, message}", raw, resp.StatusCode)
			}
		}
	}
	return r
}

func emailBody(to string, extra ...string) string {
	fields := append([]string{`"from":"Acme <hr@acme.example>"`, `"to":` + to, `"subject":"Welcome"`, `"html":"<p>Hi</p>"`}, extra...)
	return "{" + strings.Join(fields, ",") + "}"
}

func addresses(n int) string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf(`"u%d@example.com"`, i)
	}
	return "[" + strings.Join(l, ",") + "]"
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestResendRequestValidation(t *testing.T) {
	ok := emailBody(`"ada@example.com"`)
	tests := []struct {
		name       string
		call       resendCall
		wantStatus int
		wantName   string // error name; "" for success
		wantSent   int
	}{
		{"sent", resendCall{body: ok}, 200, "", 1},
		{"to as an array of 50", resendCall{body: emailBody(addresses(50))}, 200, "", 1},
		{"to with a display name", resendCall{body: emailBody(`["Ada Lovelace <ada@example.com>"]`)}, 200, "", 1},
		{"text only", resendCall{body: `{"from":"hr@acme.example","to":"a@example.com","subject":"s","text":"hi"}`}, 200, "", 1},
		{"no user agent", resendCall{body: ok, noAgent: true}, 403, "", 0},
		{"other path", resendCall{path: "/email", body: ok}, 404, "not_found", 0},
		{"GET", resendCall{method: http.MethodGet}, 405, "method_not_allowed", 0},
		{"no authorization", resendCall{body: ok, header: map[string]string{"Authorization": ""}}, 401, "missing_api_key", 0},
		{"not a bearer token", resendCall{body: ok, header: map[string]string{"Authorization": "Basic " + testKey}}, 401, "missing_api_key", 0},
		{"empty bearer token", resendCall{body: ok, header: map[string]string{"Authorization": "Bearer "}}, 401, "missing_api_key", 0},
		{"wrong key", resendCall{body: ok, header: map[string]string{"Authorization": "Bearer re_other"}}, 403, "invalid_api_key", 0},
		{"no from", resendCall{body: `{"to":"a@example.com","subject":"s","html":"x"}`}, 422, "missing_required_field", 0},
		{"no to", resendCall{body: `{"from":"hr@acme.example","subject":"s","html":"x"}`}, 422, "missing_required_field", 0},
		{"empty to", resendCall{body: emailBody(`[]`)}, 422, "missing_required_field", 0},
		{"no subject", resendCall{body: `{"from":"hr@acme.example","to":"a@example.com","html":"x"}`}, 422, "missing_required_field", 0},
		{"neither html nor text", resendCall{body: `{"from":"hr@acme.example","to":"a@example.com","subject":"s"}`}, 422, "missing_required_field", 0},
		{"51 recipients", resendCall{body: emailBody(addresses(51))}, 422, "validation_error", 0},
		{"bad recipient", resendCall{body: emailBody(`["ada@example.com","not an address"]`)}, 422, "validation_error", 0},
		{"to not strings", resendCall{body: emailBody(`[1]`)}, 422, "validation_error", 0},
		{"bad sender", resendCall{body: `{"from":"HR","to":"a@example.com","subject":"s","html":"x"}`}, 422, "validation_error", 0},
		{"not JSON", resendCall{body: `{"from":`}, 422, "validation_error", 0},
		{"idempotency key of 256", resendCall{body: ok, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}}, 200, "", 1},
		{"idempotency key of 257", resendCall{body: ok, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 257)}}, 400, "invalid_idempotency_key", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewResend(testKey)
			srv := httptest.NewServer(f)
			defer srv.Close()
			got := tt.call.do(t, srv)
			if got.Status != tt.wantStatus || got.Name != tt.wantName {
				t.Errorf("got %d %q (%s), want %d %q", got.Status, got.Name, got.Raw, tt.wantStatus, tt.wantName)
			}
			if n := len(f.Emails()); n != tt.wantSent {
				t.Errorf("%d emails sent, want %d", n, tt.wantSent)
			}
			if tt.wantStatus == 200 && !uuidRE.MatchString(got.ID) {
				t.Errorf("id %q is not a UUID", got.ID)
			}
			if tt.call.noAgent && got.Raw != "error code: 1010" {
				t.Errorf("body %q, want Resend's edge answer", got.Raw)
			}
			if log := f.Log(); len(log) != 1 || log[0].Status != tt.wantStatus {
				t.Errorf("log %+v, want one answer %d", log, tt.wantStatus)
			}
		})
	}
}

func TestResendEmailRecorded(t *testing.T) {
	f := NewResend(testKey)
	srv := httptest.NewServer(f)
	defer srv.Close()
	got := resendCall{
		body:   emailBody(`"ada@example.com"`, `"text":"Hi"`, `"headers":{"X-Entity-Ref-ID":"42"}`),
		header: map[string]string{"Idempotency-Key": "welcome/42"},
	}.do(t, srv)
	emails := f.Emails()
	if got.Status != 200 || len(emails) != 1 {
		t.Fatalf("got %+v, %d emails", got, len(emails))
	}
	e := emails[0]
	if e.RequestHeader.Get("Authorization") != "Bearer "+testKey || e.RequestHeader.Get("Content-Type") != "application/json" {
		t.Errorf("request headers %v", e.RequestHeader)
	}
	e.RequestHeader, e.Received = nil, time.Time{}
	want := Email{
		ID: got.ID, From: "Acme <hr@acme.example>", To: []string{"ada@example.com"}, Subject: "Welcome",
		HTML: "<p>Hi</p>", Text: "Hi", Headers: map[string]string{"X-Entity-Ref-ID": "42"},
		IdempotencyKey: "welcome/42", UserAgent: "fake-test/1.0",
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("email (-want +got):\n%s", diff)
	}
}

func TestResendIdempotency(t *testing.T) {
	clock := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	f := NewResend(testKey)
	f.RateLimit = -1
	f.Now = func() time.Time { return clock }
	srv := httptest.NewServer(f)
	defer srv.Close()

	bodyA := emailBody(`"ada@example.com"`)
	bodyB := emailBody(`"grace@example.com"`)
	key := map[string]string{"Idempotency-Key": "evt-1:target"}
	type step struct {
		name       string
		advance    time.Duration
		body       string
		header     map[string]string
		wantStatus int
		wantName   string
		wantSameID int // index of the earlier step whose id must come back; -1: a new id
		wantSent   int
	}
	steps := []step{
		{"first", 0, bodyA, key, 200, "", -1, 1},
		{"same key and body", time.Hour, bodyA, key, 200, "", 0, 1},
		{"same key, other body", 0, bodyB, key, 409, "invalid_idempotent_request", -1, 1},
		{"without a key", 0, bodyA, nil, 200, "", -1, 2},
		{"other key", 0, bodyA, map[string]string{"Idempotency-Key": "evt-2:target"}, 200, "", -1, 3},
		{"same key within 24 h", 22 * time.Hour, bodyA, key, 200, "", 0, 3},
		{"after 24 h the key is forgotten", 2 * time.Hour, bodyB, key, 200, "", -1, 4},
		{"and remembered anew", time.Minute, bodyB, key, 200, "", 6, 4},
	}
	ids := make([]string, len(steps))
	for i, s := range steps {
		clock = clock.Add(s.advance)
		got := resendCall{body: s.body, header: s.header}.do(t, srv)
		ids[i] = got.ID
		if got.Status != s.wantStatus || got.Name != s.wantName {
			t.Errorf("%s: got %d %q, want %d %q", s.name, got.Status, got.Name, s.wantStatus, s.wantName)
		}
		switch {
		case s.wantStatus != 200:
		case s.wantSameID >= 0 && got.ID != ids[s.wantSameID]:
			t.Errorf("%s: id %s, want step %d's %s", s.name, got.ID, s.wantSameID, ids[s.wantSameID])
		case s.wantSameID < 0:
			for j := range i {
				if ids[j] == got.ID {
					t.Errorf("%s: id %s, step %d's; want a new one", s.name, got.ID, j)
				}
			}
		}
		if n := len(f.Emails()); n != s.wantSent {
			t.Errorf("%s: %d emails sent, want %d", s.name, n, s.wantSent)
		}
	}
}

func TestResendConcurrentIdempotentRequests(t *testing.T) {
	f := NewResend(testKey)
	f.RateLimit = -1
	srv := httptest.NewServer(f)
	defer srv.Close()
	call := resendCall{body: emailBody(`"ada@example.com"`), header: map[string]string{"Idempotency-Key": "k1"}}

	entered, release := f.HoldNext()
	defer release()
	var wg sync.WaitGroup
	var first resendReply
	wg.Go(func() { first = call.do(t, srv) })
	<-entered

	second := call.do(t, srv)
	other := resendCall{body: call.body, header: map[string]string{"Idempotency-Key": "k2"}}.do(t, srv)
	release()
	wg.Wait()
	third := call.do(t, srv)

	var got []string
	for _, r := range []resendReply{first, second, other, third} {
		got = append(got, fmt.Sprintf("%d %s", r.Status, r.Name))
	}
	want := []string{"200 ", "409 concurrent_idempotent_requests", "200 ", "200 "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if third.ID != first.ID {
		t.Errorf("after the first finished, the same key answered %s, want %s", third.ID, first.ID)
	}
	if n := len(f.Emails()); n != 2 {
		t.Errorf("%d emails sent, want 2 (k1 once, k2 once)", n)
	}
}

func TestResendLostAnswer(t *testing.T) {
	f := NewResend(testKey)
	srv := httptest.NewServer(f)
	defer srv.Close()
	f.DropNextAnswers(1)
	call := resendCall{body: emailBody(`"ada@example.com"`), header: map[string]string{"Idempotency-Key": "k"}}
	lost := call.do(t, srv)
	retry := call.do(t, srv)
	emails := f.Emails()
	if lost.Status != 503 || retry.Status != 200 || len(emails) != 1 || retry.ID != emails[0].ID {
		t.Errorf("lost %d, retry %d %s, emails %d: want 503, then 200 with the first email's id and no second email",
			lost.Status, retry.Status, retry.ID, len(emails))
	}
}

func TestResendFailNext(t *testing.T) {
	f := NewResend(testKey)
	srv := httptest.NewServer(f)
	defer srv.Close()
	f.FailNext(1, 500)
	f.FailNext(1, 429)
	var got []string
	for range 3 {
		r := resendCall{body: emailBody(`"ada@example.com"`)}.do(t, srv)
		got = append(got, fmt.Sprint(r.Status, " ", r.Name, " ", r.Header.Get("Retry-After")))
	}
	want := []string{"500 application_error ", "429 rate_limit_exceeded 1", "200  "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if n := len(f.Emails()); n != 1 {
		t.Errorf("%d emails sent, want 1", n)
	}
}

func TestResendRateLimit(t *testing.T) {
	clock := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	f := NewResend(testKey) // 5 requests per second by default
	f.Now = func() time.Time { return clock }
	srv := httptest.NewServer(f)
	defer srv.Close()

	type answer struct {
		Status                      int
		Name                        string
		Limit, Remaining, Reset, RA string
	}
	var got []answer
	send := func() {
		r := resendCall{body: emailBody(`"ada@example.com"`)}.do(t, srv)
		got = append(got, answer{r.Status, r.Name, r.Header.Get("Ratelimit-Limit"), r.Header.Get("Ratelimit-Remaining"),
			r.Header.Get("Ratelimit-Reset"), r.Header.Get("Retry-After")})
	}
	for range 6 {
		send()
		clock = clock.Add(100 * time.Millisecond)
	}
	clock = clock.Add(400 * time.Millisecond) // one second after the first
	send()
	want := []answer{
		{200, "", "5", "4", "1", ""},
		{200, "", "5", "3", "1", ""},
		{200, "", "5", "2", "1", ""},
		{200, "", "5", "1", "1", ""},
		{200, "", "5", "0", "1", ""},
		{429, "rate_limit_exceeded", "5", "0", "1", "1"},
		{200, "", "5", "4", "1", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if n := len(f.Emails()); n != 6 {
		t.Errorf("%d emails sent, want 6", n)
	}
}

// TestResendDailyQuota: recipients of the last 24 hours count against the
// quota; over it, 429 daily_quota_exceeded (with retry-after only when
// QuotaRetryAfter is set), nothing sent; a known key still answers its
// email; 24 hours later the quota is free again.
func TestResendDailyQuota(t *testing.T) {
	clock := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	f := NewResend(testKey)
	f.RateLimit = -1
	f.DailyQuota = 3
	f.Now = func() time.Time { return clock }
	srv := httptest.NewServer(f)
	defer srv.Close()
	var got []string
	send := func(to, key string) {
		c := resendCall{body: emailBody(to)}
		if key != "" {
			c.header = map[string]string{"Idempotency-Key": key}
		}
		r := c.do(t, srv)
		got = append(got, fmt.Sprint(r.Status, " ", r.Name, " ", r.Header.Get("Retry-After")))
	}
	send(`"a@example.com"`, "k1")
	send(`["b@example.com", "c@example.com"]`, "")
	send(`"d@example.com"`, "") // the fourth recipient
	send(`"a@example.com"`, "k1")
	f.QuotaRetryAfter = time.Hour
	send(`"d@example.com"`, "")
	clock = clock.Add(24 * time.Hour)
	send(`"d@example.com"`, "")
	want := []string{"200  ", "200  ", "429 daily_quota_exceeded ", "200  ", "429 daily_quota_exceeded 3600", "200  "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if n := len(f.Emails()); n != 3 {
		t.Errorf("%d emails sent, want 3", n)
	}
}

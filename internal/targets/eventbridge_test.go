package targets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/targets/fake"
	"github.com/google/go-cmp/cmp"
)

const (
	ebTestKeyID  = "LTAI5tGatehouseTest"
	ebTestSecret = "eb-Secret-7f3a9c2e"
	ebTestBus    = "gatehouse-events"
)

func ebDelivery(id string) *Delivery {
	return &Delivery{
		ID: "d-" + id, EventID: id, EventType: "User.Created", Subject: "users/42",
		Time:    time.Date(2025, 3, 1, 9, 30, 0, 123e6, time.FixedZone("CST", 8*3600)),
		Payload: json.RawMessage(`{ "userName": "ada", "groups": [ "eng" ] }`), Attempt: 1,
	}
}

func ebDeliveries(ids ...string) []*Delivery {
	ds := make([]*Delivery, len(ids))
	for i, id := range ids {
		ds[i] = ebDelivery(id)
	}
	return ds
}

func newEventBridgeTarget(t *testing.T, endpoint string, mutate func(*EventBridgeConfig)) *EventBridge {
	t.Helper()
	cfg := EventBridgeConfig{Endpoint: endpoint, AccessKeyID: ebTestKeyID, AccessKeySecret: ebTestSecret, EventBus: ebTestBus,
		Client: loopback.Client(30 * time.Second)}
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := NewEventBridge(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// recorder keeps the requests that pass through it to h.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	reqs []receivedRequest
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, receivedRequest{r.Header.Clone(), b})
	rc.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	rc.h.ServeHTTP(w, r)
}

func (rc *recorder) all() []receivedRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedRequest(nil), rc.reqs...)
}

func outcomes(rs []Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s %d", r.Outcome, r.Status)
	}
	return out
}

func TestEventBridgePutEvents(t *testing.T) {
	f := fake.NewEventBridge(ebTestKeyID, ebTestSecret)
	rec := &recorder{h: f}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	e := newEventBridgeTarget(t, srv.URL, nil)

	results := e.DeliverBatch(context.Background(), ebDeliveries("e1", "e2", "e3"))
	if diff := cmp.Diff([]string{"delivered 200", "delivered 200", "delivered 200"}, outcomes(results)); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
	for _, r := range results {
		if r.Err != nil || !strings.Contains(r.Response, "TraceId=TRACE-") || !strings.Contains(r.Response, "RequestId=FAKE-") {
			t.Errorf("result %+v", r)
		}
	}

	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one batch", len(reqs))
	}
	h := reqs[0].header
	for k, want := range map[string]string{
		"Content-Type": "application/cloudevents-batch+json; charset=utf-8", "Accept": "application/json",
		"X-Acs-Signature-Method": "HMAC-SHA1", "X-Acs-Signature-Version": "1.0", "X-Eventbridge-Version": "2015-06-06",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if h.Get("X-Acs-Security-Token") != "" || h.Get("X-Acs-Signature-Nonce") == "" || !strings.HasPrefix(h.Get("Authorization"), "acs:"+ebTestKeyID+":") {
		t.Errorf("headers %v", h)
	}

	var body []map[string]json.RawMessage
	if err := json.Unmarshal(reqs[0].body, &body); err != nil || len(body) != 3 {
		t.Fatalf("body %s: want an array of 3 CloudEvents (%v)", reqs[0].body, err)
	}
	for i, ev := range body {
		var keys []string
		for k := range ev {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		// Extensions at the top level, no "extensions" object.
		want := []string{"aliyuneventbusname", "data", "datacontenttype", "id", "source", "specversion", "subject", "time", "type"}
		if diff := cmp.Diff(want, keys); diff != "" {
			t.Errorf("event %d attributes (-want +got):\n%s", i, diff)
		}
		got := map[string]string{}
		for k, v := range ev {
			got[k] = string(v)
		}
		wantVals := map[string]string{
			"aliyuneventbusname": `"` + ebTestBus + `"`, "data": `{"userName":"ada","groups":["eng"]}`,
			"datacontenttype": `"application/json"`, "id": fmt.Sprintf(`"e%d"`, i+1), "source": `"gatehouse"`,
			"specversion": `"1.0"`, "subject": `"users/42"`, "time": `"2025-03-01T01:30:00.123Z"`, "type": `"User.Created"`,
		}
		if diff := cmp.Diff(wantVals, got); diff != "" {
			t.Errorf("event %d (-want +got):\n%s", i, diff)
		}
	}
	if n := len(f.Events()); n != 3 {
		t.Errorf("the fake accepted %d events, want 3", n)
	}

	// Deliver is a batch of one.
	if r := e.Deliver(context.Background(), ebDelivery("e4")); r.Outcome != Delivered {
		t.Errorf("Deliver: %+v", r)
	}
}

func TestEventBridgeCredentials(t *testing.T) {
	tests := []struct {
		name     string
		fakeTok  string
		mutate   func(*EventBridgeConfig)
		want     string
		errHas   string
		wantSent bool
	}{
		{name: "STS token", fakeTok: "sts-Token-55", mutate: func(c *EventBridgeConfig) { c.SecurityToken = "sts-Token-55" }, want: "delivered 200", wantSent: true},
		{name: "STS token missing", fakeTok: "sts-Token-55", want: "permanent 403", errHas: "SecurityTokenInvalid"},
		{name: "another STS token", fakeTok: "sts-Token-55", mutate: func(c *EventBridgeConfig) { c.SecurityToken = "sts-Token-66" }, want: "permanent 403", errHas: "SecurityTokenInvalid"},
		{name: "wrong secret", mutate: func(c *EventBridgeConfig) { c.AccessKeySecret = "eb-Secret-wrong" }, want: "permanent 403", errHas: "SignatureDoesNotMatch"},
		{name: "unknown access key", mutate: func(c *EventBridgeConfig) { c.AccessKeyID = "LTAIother" }, want: "permanent 403", errHas: "InvalidAccessKeyId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fake.NewEventBridge(ebTestKeyID, ebTestSecret)
			f.SecurityToken = tt.fakeTok
			rec := &recorder{h: f}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			e := newEventBridgeTarget(t, srv.URL, tt.mutate)
			r := e.Deliver(context.Background(), ebDelivery("e1"))
			if got := outcomes([]Result{r})[0]; got != tt.want {
				t.Errorf("got %s (%v), want %s", got, r.Err, tt.want)
			}
			if tt.errHas != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.errHas)) {
				t.Errorf("Err = %v, want it to mention %s", r.Err, tt.errHas)
			}
			if s := fmt.Sprint(r.Err) + r.Response; strings.Contains(s, "Secret") || strings.Contains(s, "Token-") {
				t.Errorf("a secret shows in %q", s)
			}
			if sent := len(f.Events()) > 0; sent != tt.wantSent {
				t.Errorf("accepted: %v, want %v", sent, tt.wantSent)
			}
			if tt.name == "STS token" {
				h := rec.all()[0].header
				if h.Get("X-Acs-Security-Token") != "sts-Token-55" || h.Get("X-Acs-Accesskey-Id") != ebTestKeyID {
					t.Errorf("STS headers: %v", h)
				}
			}
		})
	}
}

func TestEventBridgePartialFailure(t *testing.T) {
	f := fake.NewEventBridge(ebTestKeyID, ebTestSecret)
	srv := httptest.NewServer(f)
	defer srv.Close()
	e := newEventBridgeTarget(t, srv.URL, nil)
	f.FailEntry("e2", "TooManyRequests", "flow control", 1)
	f.FailEntry("e3", "EventBusNotExist", "The event bus does not exist", 1)
	f.FailEntry("e5", "InternalError", "oops", 1)

	first := e.DeliverBatch(context.Background(), ebDeliveries("e1", "e2", "e3", "e4", "e5"))
	want := []string{"delivered 200", "retry 200", "permanent 200", "delivered 200", "retry 200"}
	if diff := cmp.Diff(want, outcomes(first)); diff != "" {
		t.Fatalf("first call (-want +got):\n%s", diff)
	}
	if r := first[1]; r.Err == nil || !strings.Contains(r.Err.Error(), "e2: TooManyRequests: flow control") || !strings.Contains(r.Response, "ErrorCode=TooManyRequests") {
		t.Errorf("failed entry: %+v", r)
	}
	if r := first[2]; r.Err == nil || !strings.Contains(r.Err.Error(), "EventBusNotExist") {
		t.Errorf("failed entry: %+v", r)
	}

	// The engine retries only the failed entries it was told to retry.
	var again []*Delivery
	for i, r := range first {
		if r.Outcome == Retry {
			d := ebDelivery(fmt.Sprintf("e%d", i+1))
			d.Attempt = 2
			again = append(again, d)
		}
	}
	second := e.DeliverBatch(context.Background(), again)
	if diff := cmp.Diff([]string{"delivered 200", "delivered 200"}, outcomes(second)); diff != "" {
		t.Errorf("second call (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"e1", "e2", "e3", "e4", "e5"}, {"e2", "e5"}}, f.Batches()); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	var ids []string
	for _, ev := range f.Events() {
		ids = append(ids, ev.ID)
	}
	if diff := cmp.Diff([]string{"e1", "e4", "e2", "e5"}, ids); diff != "" {
		t.Errorf("accepted events (-want +got):\n%s", diff)
	}
}

func TestEventBridgeWholeRequestFailures(t *testing.T) {
	tests := []struct {
		name   string
		inject func(*fake.EventBridge)
		want   string
		errHas string
	}{
		{"503", func(f *fake.EventBridge) { f.FailNext(1, 503, "ServiceUnavailable", "busy") }, "retry 503", "ServiceUnavailable"},
		{"500", func(f *fake.EventBridge) { f.FailNext(1, 500, "InternalError", "oops") }, "retry 500", "InternalError"},
		{"429", func(f *fake.EventBridge) { f.ThrottleNext(1) }, "retry 429", "TooManyRequests"},
		{"400 with a throttling code", func(f *fake.EventBridge) { f.FailNext(1, 400, "Throttling.User", "slow down") }, "retry 400", "Throttling.User"},
		{"400", func(f *fake.EventBridge) { f.FailNext(1, 400, "InvalidArgument", "bad") }, "permanent 400", "InvalidArgument"},
		{"403", func(f *fake.EventBridge) { f.FailNext(1, 403, "AccessDenied", "no") }, "permanent 403", "AccessDenied"},
		{"404", func(f *fake.EventBridge) { f.FailNext(1, 404, "EventBusNotExist", "no bus") }, "permanent 404", "EventBusNotExist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fake.NewEventBridge(ebTestKeyID, ebTestSecret)
			srv := httptest.NewServer(f)
			defer srv.Close()
			tt.inject(f)
			e := newEventBridgeTarget(t, srv.URL, nil)
			rs := e.DeliverBatch(context.Background(), ebDeliveries("e1", "e2"))
			if diff := cmp.Diff([]string{tt.want, tt.want}, outcomes(rs)); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			for _, r := range rs {
				if r.Err == nil || !strings.Contains(r.Err.Error(), tt.errHas) {
					t.Errorf("Err = %v, want it to mention %s", r.Err, tt.errHas)
				}
			}
			if len(f.Events()) != 0 {
				t.Errorf("events accepted")
			}
		})
	}
}

// Answers the fake does not give: odd entry lists, unreadable bodies,
// Retry-After.
func TestEventBridgeAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   []string
		after  time.Duration
	}{
		{"entries out of order", 200, nil,
			`{"RequestId":"r","FailedEntryCount":1,"EntryList":[{"EventId":"e2","TraceId":"t2"},{"EventId":"e1","ErrorCode":"EventBusNotExist","ErrorMessage":"x"}]}`,
			[]string{"permanent 200", "delivered 200"}, 0},
		{"no entry list, nothing failed", 200, nil, `{"RequestId":"r","FailedEntryCount":0}`, []string{"delivered 200", "delivered 200"}, 0},
		{"an entry missing, one failed", 200, nil,
			`{"RequestId":"r","FailedEntryCount":1,"EntryList":[{"EventId":"e1","TraceId":"t1"}]}`, []string{"delivered 200", "retry 200"}, 0},
		{"unreadable answer", 200, nil, `<html>gateway</html>`, []string{"retry 200", "retry 200"}, 0},
		{"503 with Retry-After", 503, map[string]string{"Retry-After": "30"}, `{"code":"ServiceUnavailable","message":"m"}`, []string{"retry 503", "retry 503"}, 30 * time.Second},
		{"502 from a proxy", 502, nil, `bad gateway`, []string{"retry 502", "retry 502"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			rs := newEventBridgeTarget(t, srv.URL, nil).DeliverBatch(context.Background(), ebDeliveries("e1", "e2"))
			if diff := cmp.Diff(tt.want, outcomes(rs)); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if rs[0].RetryAfter != tt.after {
				t.Errorf("RetryAfter %v, want %v", rs[0].RetryAfter, tt.after)
			}
		})
	}
}

func TestEventBridgeBatching(t *testing.T) {
	big := func(id string, n int) *Delivery {
		d := ebDelivery(id)
		d.Payload = json.RawMessage(`{"blob":"` + strings.Repeat("x", n) + `"}`)
		return d
	}
	tests := []struct {
		name       string
		maxBatch   int
		ds         []*Delivery
		wantSizes  []int
		wantResult []Outcome
	}{
		{"20 in 16 and 4", 0, ebDeliveries(ids(20)...), []int{16, 4}, repeat(Delivered, 20)},
		{"MaxBatch 5", 5, ebDeliveries(ids(12)...), []int{5, 5, 2}, repeat(Delivered, 12)},
		{"the same id twice goes in two calls", 0, ebDeliveries("a", "b", "a"), []int{2, 1}, repeat(Delivered, 3)},
		{"256 KiB per call", 0, []*Delivery{big("a", 60<<10), big("b", 60<<10), big("c", 60<<10), big("d", 60<<10), big("e", 60<<10)},
			[]int{4, 1}, repeat(Delivered, 5)},
		{"what cannot be sent does not hold back the others", 0, []*Delivery{
			ebDelivery("ok-1"), ebDelivery("not an id"), big("too-big", 64<<10), func() *Delivery { d := ebDelivery("not-json"); d.Payload = []byte("{"); return d }(),
			func() *Delivery { d := ebDelivery("long-type"); d.EventType = strings.Repeat("T", 65); return d }(), ebDelivery("ok-2"),
		}, []int{2}, []Outcome{Delivered, Permanent, Permanent, Permanent, Permanent, Delivered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fake.NewEventBridge(ebTestKeyID, ebTestSecret)
			srv := httptest.NewServer(f)
			defer srv.Close()
			e := newEventBridgeTarget(t, srv.URL, func(c *EventBridgeConfig) { c.MaxBatch = tt.maxBatch })
			rs := e.DeliverBatch(context.Background(), tt.ds)
			var got []Outcome
			for _, r := range rs {
				got = append(got, r.Outcome)
			}
			if diff := cmp.Diff(tt.wantResult, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			var sizes []int
			for _, b := range f.Batches() {
				sizes = append(sizes, len(b))
			}
			if diff := cmp.Diff(tt.wantSizes, sizes); diff != "" {
				t.Errorf("batch sizes (-want +got):\n%s", diff)
			}
		})
	}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("evt-%02d", i)
	}
	return out
}

func repeat(o Outcome, n int) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// The StringToSign of the official SDK (aliyun/alibabacloud-eventbridge-sdk,
// eventbridge-util getStringToSign), spelt out for a fixed request.
func TestEventBridgeStringToSign(t *testing.T) {
	h := http.Header{}
	h.Set("Date", "Sat, 01 Mar 2025 09:30:00 GMT")
	h.Set("Content-Type", "application/cloudevents-batch+json; charset=utf-8")
	h.Set("Accept", "application/json")
	h.Set("x-acs-signature-nonce", "abc")
	h.Set("x-acs-signature-method", "HMAC-SHA1")
	h.Set("x-acs-signature-version", "1.0")
	h.Set("x-acs-security-token", "tok")
	h.Set("x-acs-accesskey-id", "id")
	h.Set("x-eventbridge-version", "2015-06-06")
	h.Set("Host", "123.eventbridge.cn-hangzhou.aliyuncs.com")
	got := EventBridgeStringToSign("POST", "/openapi/putEvents", url.Values{"b": {"2"}, "a": {"1"}}, h)
	want := "POST\n\napplication/cloudevents-batch+json; charset=utf-8\nSat, 01 Mar 2025 09:30:00 GMT\n" +
		"x-acs-accesskey-id:id\nx-acs-security-token:tok\nx-acs-signature-method:HMAC-SHA1\n" +
		"x-acs-signature-nonce:abc\nx-acs-signature-version:1.0\n/openapi/putEvents?a=1&b=2"
	if got != want {
		t.Errorf("StringToSign:\n%q\nwant\n%q", got, want)
	}
}

func TestNewEventBridgeValidation(t *testing.T) {
	ok := EventBridgeConfig{Endpoint: "123456.eventbridge.cn-hangzhou.aliyuncs.com", AccessKeyID: "id", AccessKeySecret: "s", EventBus: "b"}
	e, err := NewEventBridge(ok)
	if err != nil || e.endpoint.String() != "https://123456.eventbridge.cn-hangzhou.aliyuncs.com/openapi/putEvents" || e.cfg.Source != "gatehouse" || e.cfg.MaxBatch != 16 {
		t.Errorf("defaults: %v %+v %v", e.endpoint, e.cfg, err)
	}
	tests := []struct {
		name   string
		mutate func(*EventBridgeConfig)
		want   string
	}{
		{"no endpoint", func(c *EventBridgeConfig) { c.Endpoint = "" }, "endpoint"},
		{"endpoint with a path", func(c *EventBridgeConfig) { c.Endpoint = "https://x.example/openapi" }, "endpoint"},
		{"endpoint with credentials", func(c *EventBridgeConfig) { c.Endpoint = "https://u:p@x.example" }, "endpoint"},
		{"ftp endpoint", func(c *EventBridgeConfig) { c.Endpoint = "ftp://x.example" }, "endpoint"},
		{"no secret", func(c *EventBridgeConfig) { c.AccessKeySecret = "" }, "AccessKeySecret"},
		{"no bus", func(c *EventBridgeConfig) { c.EventBus = "" }, "EventBus"},
		{"long source", func(c *EventBridgeConfig) { c.Source = strings.Repeat("s", 129) }, "Source"},
		{"MaxBatch 17", func(c *EventBridgeConfig) { c.MaxBatch = 17 }, "MaxBatch"},
	}
	for _, tt := range tests {
		cfg := ok
		tt.mutate(&cfg)
		if _, err := NewEventBridge(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

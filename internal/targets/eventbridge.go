package targets

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

// EventBridge limits (PutEvents, Alibaba Cloud documentation): at most 16
// events and 256 KiB per request, 64 KiB per event (the CloudEvents
// minimum every intermediary must forward), ids of at most 128 letters,
// digits and hyphens, source ≤ 128 and type ≤ 64 characters, subject ≤ 512.
const (
	EventBridgeMaxBatch      = 16
	EventBridgeMaxBatchBytes = 256 << 10
	EventBridgeMaxEventBytes = 64 << 10
)

// EventBridgeConfig configures delivery to an Alibaba Cloud EventBridge
// event bus (PutEvents).
type EventBridgeConfig struct {
	// Endpoint is https://<AccountID>.eventbridge.<region>.aliyuncs.com
	// (or the VPC endpoint); without a scheme, https is assumed.
	Endpoint        string
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string // STS token, with a temporary AccessKeyID and secret
	EventBus        string // the aliyuneventbusname extension
	Source          string // the CloudEvents source (default "gatehouse")
	// Client sends the requests (default: egress.Policy{}.Client with a
	// 30 s timeout, which refuses private, loopback and metadata addresses).
	Client *http.Client
	// MaxBatch is the most events per PutEvents call (default and maximum
	// 16).
	MaxBatch int
	Now      func() time.Time
}

// EventBridge publishes deliveries as CloudEvents to an EventBridge bus.
// It implements Batcher: up to 16 deliveries go in one PutEvents call and
// each gets the result of its own entry.
type EventBridge struct {
	endpoint *url.URL
	cfg      EventBridgeConfig
	client   *http.Client
	now      func() time.Time
}

var ebIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,127}$`)

const ebSourceMax = 128

// NewEventBridge checks cfg and returns the target.
func NewEventBridge(cfg EventBridgeConfig) (*EventBridge, error) {
	var errs []error
	ep := cfg.Endpoint
	if ep != "" && !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(strings.TrimSuffix(ep, "/"))
	if cfg.Endpoint == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.User != nil {
		errs = append(errs, fmt.Errorf("eventbridge: endpoint %q: want https://<AccountID>.eventbridge.<region>.aliyuncs.com", cfg.Endpoint))
	}
	if cfg.AccessKeyID == "" || cfg.AccessKeySecret == "" {
		errs = append(errs, errors.New("eventbridge: AccessKeyID and AccessKeySecret are required"))
	}
	if cfg.EventBus == "" {
		errs = append(errs, errors.New("eventbridge: no EventBus"))
	}
	if cfg.Source == "" {
		cfg.Source = "gatehouse"
	}
	if len(cfg.Source) > ebSourceMax {
		errs = append(errs, fmt.Errorf("eventbridge: Source longer than %d characters", ebSourceMax))
	}
	if cfg.MaxBatch < 0 || cfg.MaxBatch > EventBridgeMaxBatch {
		errs = append(errs, fmt.Errorf("eventbridge: MaxBatch %d: 1 to %d", cfg.MaxBatch, EventBridgeMaxBatch))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = EventBridgeMaxBatch
	}
	e := &EventBridge{endpoint: u.JoinPath("/openapi/putEvents"), cfg: cfg, client: cfg.Client, now: nowFunc(cfg.Now)}
	if e.client == nil {
		e.client = egress.Policy{}.Client(30 * time.Second)
	}
	return e, nil
}

// Kind implements Target.
func (e *EventBridge) Kind() string { return "eventbridge" }

// Deliver publishes one delivery.
func (e *EventBridge) Deliver(ctx context.Context, d *Delivery) Result {
	return e.DeliverBatch(ctx, []*Delivery{d})[0]
}

// cloudEvent is one entry of a PutEvents body: a CloudEvent in structured
// JSON with the bus name as a top-level extension.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	EventBusName    string          `json:"aliyuneventbusname"`
}

// putEventsAnswer is PutEvents' answer: per-entry results on success, or
// an error (lower-case keys) on a 4xx or 5xx.
type putEventsAnswer struct {
	RequestID        string `json:"RequestId"`
	FailedEntryCount int    `json:"FailedEntryCount"`
	EntryList        []struct {
		EventID      string `json:"EventId"`
		TraceID      string `json:"TraceId"`
		ErrorCode    string `json:"ErrorCode"`
		ErrorMessage string `json:"ErrorMessage"`
	} `json:"EntryList"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// DeliverBatch publishes ds in as few PutEvents calls as the limits allow
// and maps each entry's result back to its delivery, so that only failed
// entries are retried. A delivery that cannot be encoded (an id EventBridge
// refuses, a payload that is not JSON or too large) is Permanent without
// holding back the others.
func (e *EventBridge) DeliverBatch(ctx context.Context, ds []*Delivery) []Result {
	results := make([]Result, len(ds))
	type pending struct {
		i   int
		ev  []byte
		id  string
		err error
	}
	var todo []pending
	for i, d := range ds {
		b, err := e.encode(d)
		if err != nil {
			results[i] = Result{Outcome: Permanent, Err: fmt.Errorf("eventbridge: %w", err)}
			continue
		}
		todo = append(todo, pending{i: i, ev: b, id: d.EventID})
	}
	// Pack batches: at most MaxBatch entries and MaxBatchBytes, and never
	// two entries with the same id in one call (results are matched by
	// id).
	for len(todo) > 0 {
		var batch, rest []pending
		size, ids := 2, map[string]bool{}
		for _, p := range todo {
			if len(batch) < e.cfg.MaxBatch && size+len(p.ev)+1 <= EventBridgeMaxBatchBytes && !ids[p.id] {
				batch = append(batch, p)
				size += len(p.ev) + 1
				ids[p.id] = true
			} else {
				rest = append(rest, p)
			}
		}
		evs := make([][]byte, len(batch))
		idList := make([]string, len(batch))
		for j, p := range batch {
			evs[j], idList[j] = p.ev, p.id
		}
		for j, r := range e.put(ctx, evs, idList) {
			results[batch[j].i] = r
		}
		todo = rest
	}
	return results
}

// encode checks a delivery against EventBridge's limits and returns its
// CloudEvent.
func (e *EventBridge) encode(d *Delivery) ([]byte, error) {
	if !ebIDRE.MatchString(d.EventID) {
		return nil, fmt.Errorf("event id %q: EventBridge wants 1 to 128 letters, digits and hyphens", d.EventID)
	}
	if d.EventType == "" || len(d.EventType) > 64 {
		return nil, fmt.Errorf("event type %q: EventBridge wants 1 to 64 characters", d.EventType)
	}
	if len(d.Subject) > 512 {
		return nil, errors.New("subject longer than 512 characters")
	}
	if len(bytes.TrimSpace(d.Payload)) == 0 || !json.Valid(d.Payload) {
		return nil, errors.New("the payload is not JSON")
	}
	t := d.Time
	if t.IsZero() {
		t = e.now()
	}
	var data bytes.Buffer
	if err := json.Compact(&data, d.Payload); err != nil {
		return nil, err
	}
	b, err := json.Marshal(cloudEvent{
		SpecVersion: "1.0", ID: d.EventID, Source: e.cfg.Source, Type: d.EventType, Subject: d.Subject,
		Time: t.UTC().Format("2006-01-02T15:04:05.000Z07:00"), DataContentType: "application/json",
		Data: data.Bytes(), EventBusName: e.cfg.EventBus,
	})
	if err != nil {
		return nil, err
	}
	if len(b) > EventBridgeMaxEventBytes {
		return nil, fmt.Errorf("event of %d bytes; EventBridge takes at most %d", len(b), EventBridgeMaxEventBytes)
	}
	return b, nil
}

// put makes one PutEvents call and returns one result per entry.
func (e *EventBridge) put(ctx context.Context, evs [][]byte, ids []string) []Result {
	all := func(r Result) []Result {
		out := make([]Result, len(evs))
		for i := range out {
			out[i] = r
		}
		return out
	}
	body := append([]byte{'['}, bytes.Join(evs, []byte{','})...)
	body = append(body, ']')
	start := e.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return all(Result{Outcome: Permanent, Err: fmt.Errorf("eventbridge: %w", err)})
	}
	e.sign(req, start)
	resp, err := e.client.Do(req)
	if err != nil {
		r := transportError(ctx, err, "eventbridge PutEvents "+redactURL(e.endpoint), e.client.Timeout)
		r.Latency = e.now().Sub(start)
		return all(r)
	}
	raw := readBody(resp.Body)
	now := e.now()
	secrets := []string{e.cfg.AccessKeySecret, e.cfg.SecurityToken}
	base := Result{Status: resp.StatusCode, Latency: now.Sub(start)}
	var ans putEventsAnswer
	jsonErr := json.Unmarshal(raw, &ans)

	if resp.StatusCode != http.StatusOK {
		r := base
		r.Response = excerpt(raw, secrets...)
		code, msg := ans.Code, excerpt([]byte(ans.Message), secrets...)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || ebRetryable(code):
			r.Outcome = Retry
			r.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		default:
			r.Outcome = Permanent
		}
		if code != "" {
			r.Err = fmt.Errorf("eventbridge PutEvents: %s: %s: %s", statusText(resp.StatusCode), code, msg)
		} else {
			r.Err = fmt.Errorf("eventbridge PutEvents: %s", statusText(resp.StatusCode))
		}
		return all(r)
	}
	if jsonErr != nil {
		// Accepted, but the answer cannot be read: retrying is safe
		// (consumers deduplicate by CloudEvents source and id).
		r := base
		r.Outcome, r.Response = Retry, excerpt(raw, secrets...)
		r.Err = fmt.Errorf("eventbridge PutEvents: unreadable answer: %w", jsonErr)
		return all(r)
	}

	// Match entries to events: by position when the list is complete and
	// consistent (AWS documents it as ordered), else by EventId.
	byID := map[string]int{}
	for j, en := range ans.EntryList {
		if en.EventID != "" {
			byID[en.EventID] = j
		}
	}
	ordered := len(ans.EntryList) == len(ids)
	for j, en := range ans.EntryList {
		if ordered && j < len(ids) && en.EventID != "" && en.EventID != ids[j] {
			ordered = false
		}
	}
	out := make([]Result, len(ids))
	for i, id := range ids {
		r := base
		j, found := i, ordered
		if !found {
			j, found = byID[id]
		}
		switch {
		case found && ans.EntryList[j].ErrorCode == "":
			en := ans.EntryList[j]
			r.Outcome = Delivered
			r.Response = excerpt([]byte(fmt.Sprintf("EventId=%s TraceId=%s RequestId=%s", en.EventID, en.TraceID, ans.RequestID)))
		case found:
			en := ans.EntryList[j]
			r.Outcome = Permanent
			if ebRetryable(en.ErrorCode) {
				r.Outcome = Retry
			}
			r.Response = excerpt([]byte(fmt.Sprintf("EventId=%s ErrorCode=%s RequestId=%s", en.EventID, en.ErrorCode, ans.RequestID)))
			r.Err = fmt.Errorf("eventbridge PutEvents: entry %s: %s: %s", id, en.ErrorCode, excerpt([]byte(en.ErrorMessage), secrets...))
		case ans.FailedEntryCount == 0:
			r.Outcome = Delivered
			r.Response = excerpt([]byte("RequestId=" + ans.RequestID))
		default:
			r.Outcome = Retry
			r.Response = excerpt([]byte("RequestId=" + ans.RequestID))
			r.Err = fmt.Errorf("eventbridge PutEvents: %d of %d entries failed and none of the results names %s", ans.FailedEntryCount, len(ids), id)
		}
		out[i] = r
	}
	return out
}

// ebRetryable reports whether an EventBridge error code is worth retrying:
// throttling and internal errors.
func ebRetryable(code string) bool {
	switch code {
	case "TooManyRequests", "InternalError", "InternalFailure", "ServiceUnavailable", "ServiceBusy", "Timeout":
		return true
	}
	return strings.Contains(code, "Throttl")
}

// sign adds the headers and the signature PutEvents expects (as the
// official SDK does, without Content-MD5):
//
//	authorization: acs:<AccessKeyId>:<base64(HMAC-SHA1(secret, StringToSign))>
//	StringToSign = METHOD "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
//	               + each x-acs-* header, sorted, as "name:value\n"
//	               + path ["?" sorted query]
func (e *EventBridge) sign(req *http.Request, now time.Time) {
	h := req.Header
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("Accept", "application/json")
	h.Set("Content-Type", "application/cloudevents-batch+json; charset=utf-8")
	h.Set("User-Agent", "gatehouse")
	h.Set("x-acs-signature-nonce", nonce())
	h.Set("x-acs-signature-method", "HMAC-SHA1")
	h.Set("x-acs-signature-version", "1.0")
	h.Set("x-eventbridge-version", "2015-06-06")
	if e.cfg.SecurityToken != "" {
		h.Set("x-acs-accesskey-id", e.cfg.AccessKeyID)
		h.Set("x-acs-security-token", e.cfg.SecurityToken)
	}
	sts := EventBridgeStringToSign(req.Method, req.URL.EscapedPath(), req.URL.Query(), h)
	m := hmac.New(sha1.New, []byte(e.cfg.AccessKeySecret))
	m.Write([]byte(sts))
	h.Set("Authorization", "acs:"+e.cfg.AccessKeyID+":"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// EventBridgeStringToSign is the string EventBridge's HMAC-SHA1 signature
// covers.
func EventBridgeStringToSign(method, path string, query url.Values, h http.Header) string {
	var b strings.Builder
	b.WriteString(method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + h.Get("Date") + "\n")
	acs := map[string]string{}
	for k, v := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-acs") && len(v) > 0 {
			acs[lk] = v[0]
		}
	}
	for _, k := range slices.Sorted(maps.Keys(acs)) {
		b.WriteString(k + ":" + acs[k] + "\n")
	}
	b.WriteString(path)
	if len(query) > 0 {
		for i, k := range slices.Sorted(maps.Keys(query)) {
			sep := "&"
			if i == 0 {
				sep = "?"
			}
			b.WriteString(sep + k + "=" + query.Get(k))
		}
	}
	return b.String()
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

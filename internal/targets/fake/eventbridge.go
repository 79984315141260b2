package fake

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// EventBridge stands in for Alibaba Cloud EventBridge's PutEvents
// (POST /openapi/putEvents), as the official SDK
// (aliyun/alibabacloud-eventbridge-sdk) calls it:
//
//   - the request must carry host, date (an HTTP date), a fresh
//     x-acs-signature-nonce (a nonce seen before is 403 SignatureNonceUsed),
//     x-acs-signature-method: HMAC-SHA1, x-acs-signature-version: 1.0,
//     x-eventbridge-version: 2015-06-06, and
//     "authorization: acs:<AccessKeyID>:<signature>", which the fake
//     recomputes from the request it received: base64(HMAC-SHA1(secret,
//     METHOD\nContent-MD5\nContent-Type\nDate\n + sorted x-acs-* headers
//     as name:value\n + path[?sorted query])); 403 InvalidAccessKeyId or
//     SignatureDoesNotMatch otherwise. A Content-MD5, when sent, must match
//     the body. With SecurityToken set, x-acs-security-token must equal it
//     (403 SecurityTokenInvalid);
//   - the content type is application/cloudevents-batch+json (400
//     InvalidArgument otherwise) and the body a JSON array of 1 to 16
//     CloudEvents (at most 256 KiB), else 400 InvalidArgument; each entry needs specversion 1.0, id (1 to
//     128 letters, digits and hyphens), source (≤ 128), type (≤ 64), time
//     (with milliseconds) and aliyuneventbusname, and an entry that lacks
//     them fails alone with ErrorCode InvalidArgument;
//   - the answer is {"RequestId", "ResourceOwnerAccountId",
//     "FailedEntryCount", "EntryList": [{"EventId", "TraceId"} or
//     {"EventId", "ErrorCode", "ErrorMessage"}]}, in request order; errors
//     are {"code", "message", "requestId"}.
//
// FailEntry makes chosen entries fail while the rest of their batch
// succeeds; FailNext and ThrottleNext make whole requests fail.
type EventBridge struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string // required from clients when set
	AccountID       string // ResourceOwnerAccountId in answers

	mu        sync.Mutex
	events    []Event
	failEntry map[string][]entryFailure
	failNext  []requestFailure
	nonces    map[string]bool
	batches   [][]string
	requests  int
	seq       int
}

type requestFailure struct {
	status        int
	code, message string
}

// Event is an event the fake accepted.
type Event struct {
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	SpecVersion     string          `json:"specversion"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	EventBus        string          `json:"aliyuneventbusname"`
	// Raw is the entry as it was sent.
	Raw json.RawMessage `json:"-"`
}

type entryFailure struct{ code, message string }

// NewEventBridge returns a fake accepting the given access key.
func NewEventBridge(accessKeyID, accessKeySecret string) *EventBridge {
	return &EventBridge{AccessKeyID: accessKeyID, AccessKeySecret: accessKeySecret, AccountID: "1234567890123456"}
}

// FailEntry makes the entry with event id fail the next times it is put,
// with the given error code ("TooManyRequests", "InternalError",
// "EventBusNotExist"…) while the rest of its batch succeeds.
func (f *EventBridge) FailEntry(eventID, code, message string, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failEntry == nil {
		f.failEntry = map[string][]entryFailure{}
	}
	for range times {
		f.failEntry[eventID] = append(f.failEntry[eventID], entryFailure{code, message})
	}
}

// ThrottleNext makes the next n authentic requests fail as a whole with 429
// TooManyRequests.
func (f *EventBridge) ThrottleNext(n int) {
	for range n {
		f.FailNext(1, http.StatusTooManyRequests, "TooManyRequests", "The request is denied by flow limiter for too many requests.")
	}
}

// FailNext makes the next n authentic requests fail as a whole with the
// given status and error code (500 InternalError, 503
// ServiceUnavailable…), without accepting any of their events.
func (f *EventBridge) FailNext(n, status int, code, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failNext = append(f.failNext, requestFailure{status, code, message})
	}
}

// Batches returns the event ids of each authentic request received, in
// order.
func (f *EventBridge) Batches() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]string, len(f.batches))
	for i, b := range f.batches {
		out[i] = append([]string(nil), b...)
	}
	return out
}

// Events returns the events accepted so far, in order.
func (f *EventBridge) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.events...)
}

// Requests counts the requests received.
func (f *EventBridge) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *EventBridge) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg, "requestId": f.requestID()})
}

func (f *EventBridge) requestID() string {
	f.seq++
	return fmt.Sprintf("FAKE-%08X", f.seq)
}

var (
	ebEventID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,127}$`)
	ebTime    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}`)
)

// ServeHTTP implements PutEvents as described on EventBridge.
func (f *EventBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if r.URL.Path != "/openapi/putEvents" || r.Method != http.MethodPost {
		f.fail(w, 404, "NotFound", "The requested API does not exist.")
		return
	}
	body, err := readAll(w, r, 1<<20)
	if err != nil {
		f.fail(w, 400, "InvalidArgument", "The request body cannot be read.")
		return
	}
	if status, code, msg := f.verify(r, body); code != "" {
		f.fail(w, status, code, msg)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents-batch+json") {
		f.fail(w, 400, "InvalidArgument", "Content-Type must be application/cloudevents-batch+json.")
		return
	}
	if len(f.failNext) > 0 {
		fl := f.failNext[0]
		f.failNext = f.failNext[1:]
		f.fail(w, fl.status, fl.code, fl.message)
		return
	}
	if len(body) > 256<<10 {
		f.fail(w, 400, "InvalidArgument", "The batch is larger than 256 KB.")
		return
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(body, &entries); err != nil {
		f.fail(w, 400, "InvalidArgument", "The body must be a JSON array of CloudEvents.")
		return
	}
	if len(entries) == 0 || len(entries) > 16 {
		f.fail(w, 400, "InvalidArgument", fmt.Sprintf("A batch holds 1 to 16 events; got %d.", len(entries)))
		return
	}
	ids := make([]string, len(entries))
	type entryResult struct {
		EventID      string `json:"EventId"`
		TraceID      string `json:"TraceId,omitempty"`
		ErrorCode    string `json:"ErrorCode,omitempty"`
		ErrorMessage string `json:"ErrorMessage,omitempty"`
	}
	results := make([]entryResult, len(entries))
	failed := 0
	for i, raw := range entries {
		var ev Event
		problem := ""
		if err := json.Unmarshal(raw, &ev); err != nil {
			problem = "The event is not a JSON object."
		} else {
			problem = checkEvent(&ev, len(raw))
		}
		results[i].EventID = ev.ID
		ids[i] = ev.ID
		ev.Raw = append(json.RawMessage(nil), raw...)
		if problem == "" {
			if fl := f.failEntry[ev.ID]; len(fl) > 0 {
				f.failEntry[ev.ID] = fl[1:]
				results[i].ErrorCode, results[i].ErrorMessage = fl[0].code, fl[0].message
				failed++
				continue
			}
			f.events = append(f.events, ev)
			f.seq++
			results[i].TraceID = fmt.Sprintf("TRACE-%08X", f.seq)
			continue
		}
		results[i].ErrorCode, results[i].ErrorMessage = "InvalidArgument", problem
		failed++
	}
	f.batches = append(f.batches, ids)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"RequestId": f.requestID(), "ResourceOwnerAccountId": f.AccountID,
		"FailedEntryCount": failed, "EntryList": results,
	})
}

func checkEvent(ev *Event, size int) string {
	switch {
	case size > 64<<10:
		return "The event is larger than 64 KB."
	case ev.SpecVersion != "1.0":
		return "specversion must be 1.0."
	case !ebEventID.MatchString(ev.ID):
		return "id must be 1 to 128 letters, digits and hyphens."
	case ev.Source == "" || len(ev.Source) > 128:
		return "source must be 1 to 128 characters."
	case ev.Type == "" || len(ev.Type) > 64:
		return "type must be 1 to 64 characters."
	case len(ev.Subject) > 512:
		return "subject must be at most 512 characters."
	case !ebTime.MatchString(ev.Time):
		return "time must look like 2020-08-24T13:54:05.965Z."
	case ev.EventBus == "":
		return "aliyuneventbusname is required."
	case ev.DataContentType != "" && !strings.HasPrefix(ev.DataContentType, "application/json"):
		return "datacontenttype must be application/json."
	}
	return ""
}

// verify checks the request's headers and recomputes its signature. It
// returns the status, error code and message of the refusal, or a code ""
// when the request is authentic.
func (f *EventBridge) verify(r *http.Request, body []byte) (int, string, string) {
	h := r.Header
	if r.Host == "" {
		return 400, "MissingHost", "The host header is required."
	}
	for _, name := range []string{"Date", "x-acs-signature-nonce", "x-eventbridge-version"} {
		if h.Get(name) == "" {
			return 403, "SignatureDoesNotMatch", "Missing header " + name + "."
		}
	}
	if _, err := http.ParseTime(h.Get("Date")); err != nil {
		return 400, "InvalidDate", "The date header is not an HTTP date."
	}
	if h.Get("x-eventbridge-version") != "2015-06-06" {
		return 400, "InvalidVersion", "Unsupported x-eventbridge-version."
	}
	if h.Get("x-acs-signature-method") != "HMAC-SHA1" || h.Get("x-acs-signature-version") != "1.0" {
		return 403, "SignatureDoesNotMatch", "Unsupported signature method or version."
	}
	if md := h.Get("Content-MD5"); md != "" {
		sum := md5.Sum(body)
		if md != base64.StdEncoding.EncodeToString(sum[:]) {
			return 403, "SignatureDoesNotMatch", "Content-MD5 does not match the body."
		}
	}
	rest, ok := strings.CutPrefix(h.Get("Authorization"), "acs:")
	id, sig, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || id != f.AccessKeyID {
		return 403, "InvalidAccessKeyId", "The access Id you provided is not exist."
	}
	if f.SecurityToken != "" || h.Get("x-acs-security-token") != "" {
		if h.Get("x-acs-security-token") != f.SecurityToken || h.Get("x-acs-accesskey-id") != f.AccessKeyID {
			return 403, "SecurityTokenInvalid", "The Security token that your provide is invalid."
		}
	}

	var sts strings.Builder
	sts.WriteString(r.Method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + h.Get("Date") + "\n")
	var names []string
	values := map[string]string{}
	for name, v := range h {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-acs") {
			names = append(names, lower)
			values[lower] = v[0]
		}
	}
	sort.Strings(names)
	for _, n := range names {
		sts.WriteString(n + ":" + values[n] + "\n")
	}
	sts.WriteString(r.URL.EscapedPath())
	if q := r.URL.Query(); len(q) > 0 {
		var keys []string
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == 0 {
				sts.WriteString("?")
			} else {
				sts.WriteString("&")
			}
			sts.WriteString(k + "=" + q.Get(k))
		}
	}
	mac := hmac.New(sha1.New, []byte(f.AccessKeySecret))
	mac.Write([]byte(sts.String()))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	}
	nonce := h.Get("x-acs-signature-nonce")
	if f.nonces[nonce] {
		return 403, "SignatureNonceUsed", "The request signature nonce has been used."
	}
	if f.nonces == nil {
		f.nonces = map[string]bool{}
	}
	f.nonces[nonce] = true
	return 0, "", ""
}

func readAll(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return b.Bytes(), err
}

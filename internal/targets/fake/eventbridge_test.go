package fake

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	ebKeyID  = "LTAI5tTestKeyId"
	ebSecret = "test-secret-0123456789"
	ebCT     = "application/cloudevents-batch+json; charset=utf-8"
	ebDate   = "Sat, 01 Mar 2025 09:30:00 GMT"
)

// ebCall is a hand-built PutEvents request. The signature is computed
// here, independently of the fake, from a literal StringToSign.
type ebCall struct {
	path   string
	body   string
	secret string            // signing secret (default ebSecret)
	keyID  string            // default ebKeyID
	header map[string]string // set before signing ("" deletes)
	after  map[string]string // set after signing ("" deletes)
	token  string            // STS token: x-acs-accesskey-id and x-acs-security-token
	nonce  string
}

func (c ebCall) request(t *testing.T, base string) *http.Request {
	t.Helper()
	path := c.path
	if path == "" {
		path = "/openapi/putEvents"
	}
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	secret, keyID, nonce := c.secret, c.keyID, c.nonce
	if secret == "" {
		secret = ebSecret
	}
	if keyID == "" {
		keyID = ebKeyID
	}
	if nonce == "" {
		nonce = fmt.Sprintf("nonce-%s-%d", t.Name(), len(c.body))
	}
	h := req.Header
	h.Set("Date", ebDate)
	h.Set("Accept", "application/json")
	h.Set("Content-Type", ebCT)
	h.Set("x-acs-signature-nonce", nonce)
	h.Set("x-acs-signature-method", "HMAC-SHA1")
	h.Set("x-acs-signature-version", "1.0")
	h.Set("x-eventbridge-version", "2015-06-06")
	if c.token != "" {
		h.Set("x-acs-accesskey-id", keyID)
		h.Set("x-acs-security-token", c.token)
	}
	set := func(m map[string]string) {
		for k, v := range m {
			if v == "" {
				h.Del(k)
			} else {
				h.Set(k, v)
			}
		}
	}
	set(c.header)
	// The documented StringToSign, spelt out.
	sts := "POST\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + h.Get("Date") + "\n"
	if c.token != "" {
		sts += "x-acs-accesskey-id:" + keyID + "\n" + "x-acs-security-token:" + c.token + "\n"
	}
	sts += "x-acs-signature-method:HMAC-SHA1\n" + "x-acs-signature-nonce:" + nonce + "\n" + "x-acs-signature-version:1.0\n"
	sts += path
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(sts))
	h.Set("Authorization", "acs:"+keyID+":"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	set(c.after)
	return req
}

type ebReply struct {
	Status           int
	Code             string
	FailedEntryCount int
	Entries          []ebEntry
	Raw              string
}

type ebEntry struct {
	EventID   string `json:"EventId"`
	ErrorCode string `json:"ErrorCode"`
	HasTrace  bool   `json:"-"`
}

func (c ebCall) do(t *testing.T, srv *httptest.Server) ebReply {
	t.Helper()
	resp, err := srv.Client().Do(c.request(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := ebReply{Status: resp.StatusCode, Raw: string(raw)}
	if resp.StatusCode != http.StatusOK {
		var e map[string]string
		if err := json.Unmarshal(raw, &e); err != nil || e["code"] == "" || e["message"] == "" || e["requestId"] == "" {
			t.Errorf("error body %s: want {code, message, requestId}", raw)
		}
		r.Code = e["code"]
		return r
	}
	var ans struct {
		RequestID        string `json:"RequestId"`
		Owner            string `json:"ResourceOwnerAccountId"`
		FailedEntryCount *int   `json:"FailedEntryCount"`
		EntryList        []struct {
			EventID      string `json:"EventId"`
			TraceID      string `json:"TraceId"`
			ErrorCode    string `json:"ErrorCode"`
			ErrorMessage string `json:"ErrorMessage"`
		} `json:"EntryList"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.RequestID == "" || ans.Owner == "" || ans.FailedEntryCount == nil {
		t.Fatalf("answer %s: want RequestId, ResourceOwnerAccountId, FailedEntryCount, EntryList", raw)
	}
	r.FailedEntryCount = *ans.FailedEntryCount
	for _, e := range ans.EntryList {
		if (e.ErrorCode == "") == (e.TraceID == "") || (e.ErrorCode != "") != (e.ErrorMessage != "") {
			t.Errorf("entry %+v: want a TraceId or an ErrorCode and ErrorMessage", e)
		}
		r.Entries = append(r.Entries, ebEntry{EventID: e.EventID, ErrorCode: e.ErrorCode})
	}
	return r
}

func cloudEvent(id string, extra ...string) string {
	fields := append([]string{`"specversion":"1.0"`, `"id":"` + id + `"`, `"source":"gatehouse"`, `"type":"User.Created"`,
		`"time":"2025-03-01T09:30:00.123Z"`, `"datacontenttype":"application/json"`, `"data":{"userName":"ada"}`}, extra...)
	return "{" + strings.Join(fields, ",") + "}"
}

func batch(events ...string) string { return "[" + strings.Join(events, ",") + "]" }

func TestEventBridgeRequestChecks(t *testing.T) {
	bus := `"aliyuneventbusname":"gatehouse-bus"`
	one := batch(cloudEvent("e1", bus))
	two := batch(cloudEvent("e1", bus), cloudEvent("e2", bus))
	many := make([]string, 17)
	for i := range many {
		many[i] = cloudEvent(fmt.Sprintf("e%d", i), bus)
	}
	md5sum := func(s string) string { b := md5.Sum([]byte(s)); return base64.StdEncoding.EncodeToString(b[:]) }
	tests := []struct {
		name        string
		call        ebCall
		wantStatus  int
		wantCode    string
		wantEntries []ebEntry
		wantFailed  int
		wantEvents  int
	}{
		{"accepted", ebCall{body: two}, 200, "", []ebEntry{{EventID: "e1"}, {EventID: "e2"}}, 0, 2},
		{"with a matching Content-MD5", ebCall{body: one, header: map[string]string{"Content-MD5": md5sum(one)}}, 200, "", []ebEntry{{EventID: "e1"}}, 0, 1},
		{"wrong secret", ebCall{body: one, secret: "other-secret"}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"unknown access key", ebCall{body: one, keyID: "LTAIother"}, 403, "InvalidAccessKeyId", nil, 0, 0},
		{"no authorization", ebCall{body: one, after: map[string]string{"Authorization": ""}}, 403, "InvalidAccessKeyId", nil, 0, 0},
		{"date changed after signing", ebCall{body: one, after: map[string]string{"Date": "Sat, 01 Mar 2025 09:31:00 GMT"}}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"x-acs header added after signing", ebCall{body: one, after: map[string]string{"x-acs-extra": "1"}}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"content type changed after signing", ebCall{body: one, after: map[string]string{"Content-Type": "application/cloudevents-batch+json"}}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"no nonce", ebCall{body: one, header: map[string]string{"x-acs-signature-nonce": ""}}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"no date", ebCall{body: one, header: map[string]string{"Date": ""}}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"date not an HTTP date", ebCall{body: one, header: map[string]string{"Date": "2025-03-01T09:30:00Z"}}, 400, "InvalidDate", nil, 0, 0},
		{"other signature method", ebCall{body: one, header: map[string]string{"x-acs-signature-method": "HMAC-SHA256"}}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"no x-eventbridge-version", ebCall{body: one, header: map[string]string{"x-eventbridge-version": ""}}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"other x-eventbridge-version", ebCall{body: one, header: map[string]string{"x-eventbridge-version": "2020-04-01"}}, 400, "InvalidVersion", nil, 0, 0},
		{"wrong Content-MD5", ebCall{body: one, header: map[string]string{"Content-MD5": md5sum("other")}}, 403, "SignatureDoesNotMatch", nil, 0, 0},
		{"unexpected STS token", ebCall{body: one, token: "sts-token"}, 403, "SecurityTokenInvalid", nil, 0, 0},
		{"other path", ebCall{body: one, path: "/openapi/putEvent"}, 404, "NotFound", nil, 0, 0},
		{"plain JSON content type", ebCall{body: one, header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}, 400, "InvalidArgument", nil, 0, 0},
		{"not an array", ebCall{body: cloudEvent("e1", bus)}, 400, "InvalidArgument", nil, 0, 0},
		{"empty batch", ebCall{body: "[]"}, 400, "InvalidArgument", nil, 0, 0},
		{"17 events", ebCall{body: batch(many...)}, 400, "InvalidArgument", nil, 0, 0},
		{"an entry without aliyuneventbusname fails alone", ebCall{body: batch(cloudEvent("e1"), cloudEvent("e2", bus))}, 200, "",
			[]ebEntry{{EventID: "e1", ErrorCode: "InvalidArgument"}, {EventID: "e2"}}, 1, 1},
		{"an entry with a bad id fails alone", ebCall{body: batch(cloudEvent("e1", bus), cloudEvent("e 2", bus))}, 200, "",
			[]ebEntry{{EventID: "e1"}, {EventID: "e 2", ErrorCode: "InvalidArgument"}}, 1, 1},
		{"an entry without milliseconds fails alone", ebCall{body: batch(strings.Replace(cloudEvent("e1", bus), ".123Z", "Z", 1))}, 200, "",
			[]ebEntry{{EventID: "e1", ErrorCode: "InvalidArgument"}}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewEventBridge(ebKeyID, ebSecret)
			srv := httptest.NewServer(f)
			defer srv.Close()
			got := tt.call.do(t, srv)
			if got.Status != tt.wantStatus || got.Code != tt.wantCode {
				t.Fatalf("got %d %q (%s), want %d %q", got.Status, got.Code, got.Raw, tt.wantStatus, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantEntries, got.Entries); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if got.FailedEntryCount != tt.wantFailed {
				t.Errorf("FailedEntryCount %d, want %d", got.FailedEntryCount, tt.wantFailed)
			}
			if n := len(f.Events()); n != tt.wantEvents {
				t.Errorf("%d events accepted, want %d", n, tt.wantEvents)
			}
		})
	}
}

func TestEventBridgeNonceReuse(t *testing.T) {
	f := NewEventBridge(ebKeyID, ebSecret)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := ebCall{body: batch(cloudEvent("e1", `"aliyuneventbusname":"b"`)), nonce: "n-1"}
	first, again := c.do(t, srv), c.do(t, srv)
	if first.Status != 200 || again.Status != 403 || again.Code != "SignatureNonceUsed" {
		t.Errorf("got %d, then %d %s; want 200, then 403 SignatureNonceUsed", first.Status, again.Status, again.Code)
	}
}

func TestEventBridgeSecurityToken(t *testing.T) {
	f := NewEventBridge(ebKeyID, ebSecret)
	f.SecurityToken = "sts-token"
	srv := httptest.NewServer(f)
	defer srv.Close()
	body := batch(cloudEvent("e1", `"aliyuneventbusname":"b"`))
	tests := []struct {
		name       string
		call       ebCall
		wantStatus int
		wantCode   string
	}{
		{"with the token", ebCall{body: body, token: "sts-token", nonce: "a"}, 200, ""},
		{"without it", ebCall{body: body, nonce: "b"}, 403, "SecurityTokenInvalid"},
		{"another token", ebCall{body: body, token: "other", nonce: "c"}, 403, "SecurityTokenInvalid"},
		{"token without x-acs-accesskey-id", ebCall{body: body, token: "sts-token", nonce: "d", header: map[string]string{"x-acs-accesskey-id": ""}}, 403, "SecurityTokenInvalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.call.do(t, srv)
			if got.Status != tt.wantStatus || got.Code != tt.wantCode {
				t.Errorf("got %d %q (%s), want %d %q", got.Status, got.Code, got.Raw, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestEventBridgeInjectedFailures(t *testing.T) {
	f := NewEventBridge(ebKeyID, ebSecret)
	srv := httptest.NewServer(f)
	defer srv.Close()
	bus := `"aliyuneventbusname":"b"`
	body := batch(cloudEvent("e1", bus), cloudEvent("e2", bus), cloudEvent("e3", bus))

	f.FailNext(1, 503, "ServiceUnavailable", "try later")
	f.ThrottleNext(1)
	f.FailEntry("e2", "TooManyRequests", "slow down", 1)
	f.FailEntry("e3", "EventBusNotExist", "no such bus", 2)

	var got []string
	for i := range 4 {
		r := ebCall{body: body, nonce: fmt.Sprint("n", i)}.do(t, srv)
		s := fmt.Sprintf("%d %s", r.Status, r.Code)
		for _, e := range r.Entries {
			s += fmt.Sprintf(" %s:%s", e.EventID, e.ErrorCode)
		}
		got = append(got, fmt.Sprintf("%s failed=%d", s, r.FailedEntryCount))
	}
	want := []string{
		"503 ServiceUnavailable failed=0",
		"429 TooManyRequests failed=0",
		"200  e1: e2:TooManyRequests e3:EventBusNotExist failed=2",
		"200  e1: e2: e3:EventBusNotExist failed=1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	var ids []string
	for _, e := range f.Events() {
		ids = append(ids, e.ID)
		var top map[string]any
		if err := json.Unmarshal(e.Raw, &top); err != nil || top["aliyuneventbusname"] != "b" {
			t.Errorf("event %s: raw %s", e.ID, e.Raw)
		}
	}
	if diff := cmp.Diff([]string{"e1", "e1", "e2"}, ids); diff != "" {
		t.Errorf("accepted events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"e1", "e2", "e3"}, {"e1", "e2", "e3"}}, f.Batches()); diff != "" {
		t.Errorf("batches that reached the entries (-want +got):\n%s", diff)
	}
	if n := f.Requests(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

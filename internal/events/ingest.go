package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/strictjson"
)

// Events from outside: POST /events takes CloudEvents 1.0 in structured
// mode (application/cloudevents+json), binary mode (ce-* headers, the body
// is the data) and batch mode (application/cloudevents-batch+json), and
// plain application/json holding a CloudEvent, an EventBridge-style event
// ({"source", "detail-type", "detail", …}), an IDaaS change callback
// ({"eventType": "urn:alibaba:idaas:app:event:ud:user:create", …}) or an
// array of those. Every event becomes a document of the same shape as
// Gatehouse's own: CloudEvents attributes plus "detail-type" and "detail".

// Limits.
const (
	MaxEventSize  = 64 << 10 // CloudEvents: intermediaries forward events up to 64 KiB
	MaxBatch      = 100
	MaxIngestBody = 2 << 20
)

// IDaaSSource is the source given to IDaaS change callbacks.
const IDaaSSource = "com.alibabacloud.idaas"

// idaasTypes maps IDaaS callback event types to Gatehouse's.
var idaasTypes = map[string]string{
	"ud:user:create":                "User.Created",
	"ud:user:delete":                "User.Deleted",
	"ud:user:update_info":           "User.Updated",
	"ud:user:update_password":       "User.Updated",
	"ud:user:update_primary_ou":     "User.Updated",
	"ud:user:disable":               "User.Disabled",
	"ud:user:enable":                "User.Enabled",
	"ud:user:lock":                  "User.Disabled",
	"ud:user:unlock":                "User.Enabled",
	"ud:organizational_unit:create": "Organization.Created",
	"ud:organizational_unit:delete": "Organization.Deleted",
	"ud:organizational_unit:update": "Organization.Updated",
	"ud:group:create":               "Group.Created",
	"ud:group:delete":               "Group.Deleted",
	"ud:group:update":               "Group.Updated",
	"ud:group:add_user":             "Group.MemberAdded",
	"ud:group:remove_user":          "Group.MemberRemoved",
	"common:test":                   "Test",

	// An organizational unit moved under another parent.
	"ud:organizational_unit:update_parent_organizational_unit": "Organization.Updated",
	// Accepted too: the membership names Gatehouse used before it followed
	// IDaaS's documented add_user and remove_user.
	"ud:group:add_member":    "Group.MemberAdded",
	"ud:group:remove_member": "Group.MemberRemoved",
}

// IngestError is a refused request: the status and why.
type IngestError struct {
	Status int
	Msg    string
}

func (e *IngestError) Error() string { return e.Msg }

func bad(format string, args ...any) error {
	return &IngestError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func tooLarge() error {
	return &IngestError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("an event is larger than %d bytes", MaxEventSize)}
}

// maxDocSize bounds the normalised document of an event: an event of up
// to MaxEventSize bytes must be taken, and normalising adds a few
// attributes ("detail-type" repeats "type").
const maxDocSize = 2 * MaxEventSize

// ParseRequest reads the events of a POST /events request. now stamps
// events that carry no time. A request is taken or refused as a whole: an
// *IngestError says why (400, 413 or 415).
func ParseRequest(r *http.Request, body []byte, now time.Time) ([]*External, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct != "" && mt == "" {
		return nil, &IngestError{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("the Content-Type is not a media type: %v", err)}
	}
	structured := mt == "application/cloudevents+json" || mt == "application/cloudevents-batch+json"
	// The cloudevents media types mean structured mode even with ce-*
	// headers (CloudEvents HTTP binding, section 3).
	if !structured && r.Header.Get("Ce-Specversion") != "" {
		e, err := binaryEvent(r.Header, mt, body, now)
		if err != nil {
			return nil, err
		}
		return []*External{e}, nil
	}
	switch mt {
	case "application/cloudevents+json", "application/cloudevents-batch+json", "application/json", "":
	default:
		return nil, &IngestError{Status: http.StatusUnsupportedMediaType, Msg: "send application/cloudevents+json, application/cloudevents-batch+json, application/json, or a binary-mode CloudEvent (ce-* headers)"}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, bad("the body is empty")
	}
	var items []json.RawMessage
	if trimmed[0] == '[' {
		if mt == "application/cloudevents+json" {
			return nil, bad("application/cloudevents+json holds one event; send a batch as application/cloudevents-batch+json")
		}
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, bad("the body is not a JSON array of events: %v", err)
		}
		if len(items) == 0 {
			return nil, bad("the batch is empty")
		}
	} else {
		if mt == "application/cloudevents-batch+json" {
			return nil, bad("application/cloudevents-batch+json must be a JSON array")
		}
		items = []json.RawMessage{trimmed}
	}
	if len(items) > MaxBatch {
		return nil, &IngestError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("at most %d events per request", MaxBatch)}
	}
	out := make([]*External, 0, len(items))
	for i, raw := range items {
		e, err := structuredEvent(raw, now)
		if err != nil {
			var ie *IngestError
			if len(items) > 1 && errors.As(err, &ie) {
				// The whole request is refused, with the status of the
				// event that has the problem.
				return nil, &IngestError{Status: ie.Status, Msg: fmt.Sprintf("event %d: %s", i, ie.Msg)}
			}
			return nil, err
		}
		out = append(out, e)
	}
	// encoding/json has decoded invalid UTF-8 and unpaired surrogates as
	// U+FFFD and kept the last of two members with one name ("id" twice:
	// which event is it?): refuse such a body.
	if err := strictjson.Check(trimmed, strictjson.Options{}); err != nil {
		return nil, bad("the body is refused: %v", err)
	}
	return out, nil
}

func structuredEvent(raw json.RawMessage, now time.Time) (*External, error) {
	if len(raw) > MaxEventSize {
		return nil, tooLarge()
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, bad("not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("not a JSON object: more after the event's closing brace")
	}
	switch {
	case m["specversion"] != nil:
		return cloudEvent(m, now)
	case m["detail-type"] != nil:
		return eventBridgeEvent(m, now)
	case isIDaaS(m):
		return idaasEvent(m, now)
	}
	return nil, bad(`not an event: expected a CloudEvent ("specversion"), an EventBridge event ("detail-type") or an IDaaS callback ("eventType")`)
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, bad("time %q is not an RFC 3339 timestamp", s)
	}
	return t.UTC(), nil
}

// cloudEvent checks a structured CloudEvent.
func cloudEvent(m map[string]any, now time.Time) (*External, error) {
	if v := str(m, "specversion"); v != "1.0" {
		return nil, bad(`specversion must be "1.0", not %q`, v)
	}
	for _, k := range []string{"id", "source", "type"} {
		if str(m, k) == "" {
			return nil, bad("the CloudEvents attribute %q is required (a non-empty string)", k)
		}
	}
	if _, err := url.Parse(str(m, "source")); err != nil {
		return nil, bad("source is not a URI-reference")
	}
	for k, v := range m {
		if !validAttribute(k) {
			return nil, bad("attribute name %q is not a valid CloudEvents attribute (lower-case letters and digits)", k)
		}
		switch v.(type) {
		case string, json.Number, bool, nil:
		default:
			if k != "data" {
				return nil, bad("attribute %q: a CloudEvents attribute is a string, a number or a boolean", k)
			}
		}
	}
	if v, ok := m["time"]; ok && v != nil {
		if _, isString := v.(string); !isString {
			return nil, bad("time is not an RFC 3339 timestamp")
		}
	}
	t, err := parseTime(str(m, "time"), now)
	if err != nil {
		return nil, err
	}
	data := m["data"]
	if b64, ok := m["data_base64"]; ok && b64 != nil {
		if data != nil {
			return nil, bad("an event has data or data_base64, not both")
		}
		data = b64
	}
	return normalized(m, str(m, "id"), str(m, "source"), str(m, "type"), str(m, "subject"), t, data)
}

// validAttribute: CloudEvents attribute names are lower-case letters and
// digits (data_base64 is the JSON format's member for binary data).
func validAttribute(k string) bool {
	return k == "data_base64" || (k != "" && allLowerAlnum(k))
}

func allLowerAlnum(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// eventBridgeMembers are the members an EventBridge-style event may have:
// AWS EventBridge's envelope (version, id, detail-type, source, account,
// time, region, resources, detail, replay-name) and a CloudEvents subject.
// Any other member is refused, not dropped: a sender that writes "Source"
// or "Detail" (names are case-sensitive), "data", or "received" learns it
// at once.
var eventBridgeMembers = []string{"account", "detail", "detail-type", "id", "region", "replay-name", "resources", "source", "subject", "time", "version"}

// eventBridgeKept are the envelope members kept as they are, as top-level
// members of the document (a pattern can match {"account": ["123"]}).
var eventBridgeKept = []string{"account", "region", "replay-name", "resources", "version"}

// eventBridgeEvent reads {"id", "source", "detail-type", "detail", "time"?,
// "subject"?, "version"?, "account"?, "region"?, "resources"?,
// "replay-name"?}.
func eventBridgeEvent(m map[string]any, now time.Time) (*External, error) {
	const what = "an EventBridge-style event"
	if err := checkMembers(m, eventBridgeMembers, what, true); err != nil {
		return nil, err
	}
	for _, k := range eventBridgeMembers {
		v, ok := m[k]
		switch {
		case !ok || k == "detail":
		case k == "resources":
			list, isList := v.([]any)
			for _, x := range list {
				if _, isString := x.(string); !isString {
					isList = false
				}
			}
			if !isList {
				return nil, bad(`"resources" of %s is an array of strings`, what)
			}
		default:
			if _, isString := v.(string); !isString {
				return nil, bad(`%q of %s is a string`, k, what)
			}
		}
	}
	typ := str(m, "detail-type")
	if typ == "" || str(m, "source") == "" {
		return nil, bad(`an EventBridge-style event needs "source" and "detail-type"`)
	}
	id := str(m, "id")
	if id == "" {
		return nil, bad(`an EventBridge-style event needs an "id" (it makes delivery idempotent)`)
	}
	t, err := parseTime(str(m, "time"), now)
	if err != nil {
		return nil, err
	}
	attrs := map[string]any{}
	for _, k := range eventBridgeKept {
		if v, ok := m[k]; ok {
			attrs[k] = v
		}
	}
	return normalized(attrs, id, str(m, "source"), typ, str(m, "subject"), t, m["detail"])
}

// checkMembers refuses a member of an event object that Gatehouse would
// otherwise drop without a word: "received" in any case (Gatehouse's own),
// a member whose name differs only in case from one Gatehouse reads
// ("Source" for "source"), and, when closed, any member not in known.
func checkMembers(m map[string]any, known []string, what string, closed bool) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if strings.EqualFold(k, ReceivedField) {
			return bad("the member %q is Gatehouse's own: it names the application that posted a received event", k)
		}
		if slices.Contains(known, k) {
			continue
		}
		for _, kk := range known {
			if strings.EqualFold(k, kk) {
				return bad("the member %q of %s is not %q: names are case-sensitive", k, what, kk)
			}
		}
		if closed {
			return bad("%s has no member %q (its members are %s)", what, k, strings.Join(known, ", "))
		}
	}
	return nil
}

func isIDaaS(m map[string]any) bool {
	return strings.HasPrefix(str(m, "eventType"), "urn:alibaba:idaas:")
}

// idaasMembers are the members of an IDaaS callback Gatehouse reads. The
// others (the JWT claims of a signed callback: iss, aud, iat…) are not
// kept.
var idaasMembers = []string{"data", "eventData", "eventId", "eventType", "id", "timestamp"}

// idaasEvent maps an IDaaS change callback: eventType, and the record in
// eventData (or data).
func idaasEvent(m map[string]any, now time.Time) (*External, error) {
	if err := checkMembers(m, idaasMembers, "an IDaaS callback", false); err != nil {
		return nil, err
	}
	urn := str(m, "eventType")
	key := strings.TrimPrefix(urn, "urn:alibaba:idaas:app:event:")
	typ, ok := idaasTypes[key]
	if !ok {
		typ = urn
	}
	// Each of the two spellings, but not both: which one named the event
	// (and so which repeat is a duplicate) would be left to this code.
	for _, pair := range [][2]string{{"eventId", "id"}, {"eventData", "data"}} {
		if _, ok := m[pair[0]]; ok {
			if _, ok := m[pair[1]]; ok {
				return nil, bad(`an IDaaS callback has %q or %q, not both`, pair[0], pair[1])
			}
		}
	}
	id := str(m, "eventId")
	if id == "" {
		id = str(m, "id")
	}
	if id == "" {
		return nil, bad(`an IDaaS callback needs an "eventId"`)
	}
	data := m["eventData"]
	if data == nil {
		data = m["data"]
	}
	t := now
	if ts, ok := m["timestamp"].(json.Number); ok {
		if ms, err := ts.Int64(); err == nil && ms > 0 {
			if ms > 1e12 {
				t = time.UnixMilli(ms).UTC()
			} else {
				t = time.Unix(ms, 0).UTC()
			}
		}
	}
	return normalized(nil, id, IDaaSSource, typ, "", t, data)
}

// normalized builds the document rules see. attrs are a CloudEvent's own
// attributes (extensions included), kept.
func normalized(attrs map[string]any, id, source, typ, subject string, t time.Time, data any) (*External, error) {
	if _, ok := attrs[ReceivedField]; ok {
		return nil, bad("the attribute %q is Gatehouse's own: it names the application that posted a received event", ReceivedField)
	}
	for _, a := range [...]struct{ name, v string }{{"id", id}, {"source", source}, {"type", typ}, {"subject", subject}} {
		if err := checkShown(a.name, a.v); err != nil {
			return nil, err
		}
	}
	doc := map[string]any{}
	for k, v := range attrs {
		if k != "data" && k != "data_base64" {
			doc[k] = v
		}
	}
	doc["specversion"] = "1.0"
	doc["id"], doc["source"], doc["type"] = id, source, typ
	doc["time"] = t.Format(time.RFC3339Nano)
	if subject != "" {
		doc["subject"] = subject
	}
	if doc["datacontenttype"] == nil {
		doc["datacontenttype"] = "application/json"
	}
	doc["detail-type"] = typ
	if data == nil {
		data = map[string]any{}
	}
	doc["detail"] = data
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" stays one byte, not six
	if err := enc.Encode(doc); err != nil {
		return nil, bad("cannot encode the event: %v", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > maxDocSize {
		return nil, tooLarge()
	}
	return &External{ID: id, Source: source, Type: typ, Subject: subject, Time: t, Doc: b}, nil
}

// checkShown refuses what a reader would not see in an attribute that
// names an event wherever it is shown (events tail, the journey, the
// deliveries): its id, source, type and subject. A control character
// (which a terminal would obey) or an invisible one (directory.Invisible:
// "com.alibabacloud.idaas" followed by U+034F looks exactly like the hub's
// source) is refused, not removed: events are stored as sent.
func checkShown(name, v string) error {
	for _, r := range v {
		switch {
		case unicode.IsControl(r):
			return bad("the %s %s contains the control character U+%04X", name, strconv.QuoteToASCII(v), r)
		case directory.Invisible(r):
			return bad("the %s %s contains the invisible character U+%04X (zero-width, joiner, filler, variation selector or other formatting characters are not allowed)", name, strconv.QuoteToASCII(v), r)
		}
	}
	return nil
}

// binaryEvent reads a binary-mode CloudEvent: attributes in ce-* headers,
// the body is the data.
func binaryEvent(h http.Header, mt string, body []byte, now time.Time) (*External, error) {
	if len(body) > MaxEventSize {
		return nil, tooLarge()
	}
	attrs := map[string]any{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "ce-") || len(vs) == 0 {
			continue
		}
		name := lk[3:]
		if !allLowerAlnum(name) {
			return nil, bad("header %s is not a valid CloudEvents attribute", k)
		}
		// CloudEvents HTTP binding §3.1.3.2: values are percent-encoded,
		// "%" itself as "%25". A "%" that starts no escape is refused:
		// taken as it is, "…%CD" and "…%" would be two spellings of one
		// value.
		v, err := url.PathUnescape(vs[0])
		if err != nil {
			return nil, bad("header %s is not percent-encoded correctly (%v): write %%25 for a %%", k, err)
		}
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return nil, bad("header %s is not UTF-8 text (without NUL)", k)
		}
		attrs[name] = v
	}
	if mt != "" {
		attrs["datacontenttype"] = mt
	}
	m := attrs
	var data any
	if len(bytes.TrimSpace(body)) > 0 {
		if mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json") {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&data); err != nil {
				return nil, bad("the body is not JSON (datacontenttype %s): %v", mt, err)
			}
			if err := strictjson.Check(body, strictjson.Options{}); err != nil {
				return nil, bad("the body is refused: %v", err)
			}
		} else {
			// The data becomes a JSON string: bytes that are not UTF-8
			// would turn into U+FFFD, and NUL cannot be stored.
			if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
				return nil, bad("the body is not UTF-8 text without NUL (datacontenttype %s): send binary data base64-encoded, as data_base64 in structured mode", mt)
			}
			data = string(body)
		}
	}
	m["data"] = data
	if v := str(m, "specversion"); v != "1.0" {
		return nil, bad(`ce-specversion must be "1.0", not %q`, v)
	}
	for _, k := range []string{"id", "source", "type"} {
		if str(m, k) == "" {
			return nil, bad("the header ce-%s is required", k)
		}
	}
	t, err := parseTime(str(m, "time"), now)
	if err != nil {
		return nil, err
	}
	return normalized(m, str(m, "id"), str(m, "source"), str(m, "type"), str(m, "subject"), t, data)
}

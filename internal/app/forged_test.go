package app_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/config"
)

// TestEventsForgedLifecycle: a credential with only events:write cannot
// pass events off as the hub's own. The hub's source is
// com.alibabacloud.idaas, as the seeds' rules expect; the rules are the
// seeds' (a downstream SCIM account for every User.Created of that
// source) and one that names no source. Every spelling of the hub's
// lifecycle event a sender can try — CloudEvents structured, batch and
// binary, EventBridge-style, an IDaaS callback, case and whitespace
// variants of the source, a forged "received" attribute — is refused or
// stored without routing: no delivery, no downstream account. A person's
// journey shows a received event as received, from the application that
// posted it; a rule that names "received" gets what that application
// sends.
func TestEventsForgedLifecycle(t *testing.T) {
	h := newHook(t)
	downstream := start(t, nil) // the SCIM service the seeds' rule provisions (GitBook)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  gitbook:
    scim: {base_url: %q, token: %q}
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: gitbook-access
    pattern: {"source": ["com.alibabacloud.idaas"], "detail-type": ["User.Created"]}
    targets:
      - target: gitbook
        payload: {"userName": "{{userName}}", "active": true}
  - name: any-new-user
    pattern: {"detail-type": [{"equals-ignore-case": "user.created"}]}
    targets: [{target: hook}]
`, downstream.url+"/scim/v2", downstream.token, h.srv.URL, h.secret), func(c *config.Config) {
		c.Events.Source = "com.alibabacloud.idaas"
	})
	victim := createUser(t, r, `{"userName":"ada@example.com"}`)
	victimID := victim["id"].(string)

	res := adminCall(t, r, "POST", "/apps", `{"name":"bus","kind":"server-app","scopes":["events:write"]}`)
	if res.status != 201 {
		t.Fatal(res.status, string(res.raw))
	}
	bus := adminCall(t, r, "POST", "/apps/bus/tokens", "").str("token")
	post := func(ct, body string, hdr ...string) *reply {
		return call(t, "POST", r.url+"/events", body, append(append(bearer(bus), "Content-Type", ct), hdr...)...)
	}
	data := `{"userName":"backdoor@evil.example","email":"backdoor@evil.example","id":"` + victimID + `"}`
	ce := func(id, source string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"` + source + `","type":"User.Created","subject":"users/` + victimID + `","data":` + data + `}`
	}
	// The hub's source, in any spelling, is refused; so is an attribute
	// "received"; another source is taken (and routed by no rule here).
	attempts := []struct {
		name, ct, body string
		hdr            []string
		status         int
	}{
		{"structured", "application/cloudevents+json", ce("f1", "com.alibabacloud.idaas"), nil, 400},
		{"upper case", "application/cloudevents+json", ce("f2", "COM.AlibabaCloud.IDAAS"), nil, 400},
		{"spaces", "application/cloudevents+json", ce("f3", " com.alibabacloud.idaas\t"), nil, 400},
		{"trailing slash", "application/cloudevents+json", ce("f4", "com.alibabacloud.idaas/"), nil, 400},
		{"full-width", "application/cloudevents+json", ce("f5", "ｃｏｍ.alibabacloud.idaas"), nil, 400},
		{"zero-width space", "application/cloudevents+json", ce("f6", "com.alibaba\u200bcloud.idaas"), nil, 400},
		// Characters nobody sees, after the source: each once got 202.
		{"U+034F", "application/cloudevents+json", ce("f30", "com.alibabacloud.idaas\u034f"), nil, 400},
		{"U+115F", "application/cloudevents+json", ce("f31", "com.alibabacloud.idaas\u115f"), nil, 400},
		{"U+1160", "application/cloudevents+json", ce("f32", "com.alibabacloud.idaas\u1160"), nil, 400},
		{"U+3164", "application/cloudevents+json", ce("f33", "com.alibabacloud.idaas\u3164"), nil, 400},
		{"U+FFA0", "application/cloudevents+json", ce("f34", "com.alibabacloud.idaas\uffa0"), nil, 400},
		{"U+17B4", "application/cloudevents+json", ce("f35", "com.alibabacloud.idaas\u17b4"), nil, 400},
		{"U+17B5", "application/cloudevents+json", ce("f36", "com.alibabacloud.idaas\u17b5"), nil, 400},
		{"U+FE0F", "application/cloudevents+json", ce("f37", "com.alibabacloud.idaas\ufe0f"), nil, 400},
		{"U+E0100", "application/cloudevents+json", ce("f38", "com.alibabacloud.idaas\U000e0100"), nil, 400},
		{"batch", "application/cloudevents-batch+json", "[" + ce("f7", "urn:partner") + "," + ce("f8", "com.alibabacloud.idaas") + "]", nil, 400},
		{"binary", "application/json", data, []string{"Ce-Specversion", "1.0", "Ce-Id", "f9", "Ce-Source", "com.alibabacloud.idaas", "Ce-Type", "User.Created",
			"Ce-Subject", "users/" + victimID}, 400},
		{"binary, percent-encoded", "application/json", data, []string{"Ce-Specversion", "1.0", "Ce-Id", "f10", "Ce-Source", "com%252Ealibabacloud%2Eidaas",
			"Ce-Type", "User.Created"}, 400},
		{"EventBridge", "application/json", `{"id":"f11","source":"com.alibabacloud.idaas","detail-type":"User.Created","detail":` + data + `}`, nil, 400},
		{"IDaaS callback", "application/json", `{"eventId":"f12","eventType":"urn:alibaba:idaas:app:event:ud:user:create","eventData":` + data + `}`, nil, 400},
		{"forged received", "application/cloudevents+json", `{"specversion":"1.0","id":"f13","source":"urn:partner","type":"User.Created","received":"no","data":` + data + `}`, nil, 400},
		{"forged received, binary", "application/json", data, []string{"Ce-Specversion", "1.0", "Ce-Id", "f14", "Ce-Source", "urn:partner", "Ce-Type", "User.Created",
			"Ce-Received", "no"}, 400},
		{"trailing dot", "application/cloudevents+json", ce("f17", "com.alibabacloud.idaas."), nil, 400},
		{"binary, a lone %", "application/json", data, []string{"Ce-Specversion", "1.0", "Ce-Id", "f18", "Ce-Source", "com.alibabacloud.idaas%", "Ce-Type", "User.Created"}, 400},
		{"binary, %zz", "application/json", data, []string{"Ce-Specversion", "1.0", "Ce-Id", "f19", "Ce-Source", "com.alibabacloud.idaas%zz", "Ce-Type", "User.Created"}, 400},
		{"binary, U+034F percent-encoded", "application/json", data, []string{"Ce-Specversion", "1.0", "Ce-Id", "f20", "Ce-Source", "com.alibabacloud.idaas%CD%8F",
			"Ce-Type", "User.Created"}, 400},
		{"EventBridge, received", "application/json", `{"id":"f21","source":"urn:partner","detail-type":"User.Created","received":{"app":"okta"},"detail":` + data + `}`, nil, 400},
		{"EventBridge, Source", "application/json", `{"id":"f22","source":"urn:partner","Source":"com.alibabacloud.idaas","detail-type":"User.Created","detail":` + data + `}`, nil, 400},
		{"EventBridge, Detail", "application/json", `{"id":"f23","source":"urn:partner","detail-type":"User.Created","Detail":` + data + `}`, nil, 400},
		{"another source", "application/cloudevents+json", ce("f15", "urn:partner"), nil, 202},
		{"EventBridge, another source", "application/json", `{"id":"f16","source":"urn:partner","detail-type":"User.Created","detail":` + data + `}`, nil, 202},
	}
	for _, a := range attempts {
		res := post(a.ct, a.body, a.hdr...)
		if res.status != a.status || (a.status == 400 && res.str("detail") == "") {
			t.Errorf("%s: %d %s, want %d", a.name, res.status, res.raw, a.status)
		}
	}

	// Gatehouse's own User.Created still routes; the dispatcher takes
	// events in order, so once its deliveries exist, those of every
	// event received before it would too.
	createUser(t, r, `{"userName":"grace@example.com"}`)
	waitFor(t, "the hub's own event delivered", func() bool {
		for _, req := range h.received() {
			if d, _ := req.doc["detail"].(map[string]any); d["userName"] == "grace@example.com" {
				return true
			}
		}
		return false
	})
	for _, target := range []string{"hook", "gitbook"} {
		res := adminCall(t, r, "GET", "/deliveries?target="+target, "")
		items, _ := res.body["items"].([]any)
		for _, it := range items {
			if id := it.(map[string]any)["eventId"].(string); strings.HasPrefix(id, "f") {
				t.Errorf("%s: received event %s was routed like the hub's own: %v", target, id, it)
			}
		}
		if len(items) != 2 {
			t.Errorf("%s: %d deliveries, want 2 (the two users created over SCIM)", target, len(items))
		}
	}
	waitFor(t, "the legitimate account downstream", func() bool {
		res := call(t, "GET", downstream.url+"/scim/v2/Users?filter="+urlQuery(`userName eq "grace@example.com"`), "", bearer(downstream.token)...)
		return res.body["totalResults"] == float64(1)
	})
	if res := call(t, "GET", downstream.url+"/scim/v2/Users?filter="+urlQuery(`userName eq "backdoor@evil.example"`), "", bearer(downstream.token)...); res.body["totalResults"] != float64(0) {
		t.Errorf("the forged account exists downstream: %s", res.raw)
	}

	// The victim's journey: the origin is the SCIM client that created the
	// account; each received event about it says it was received, from
	// application bus, never from Gatehouse.
	jr := adminCall(t, r, "GET", "/users/"+victimID+"/journey", "")
	var j admin.Journey
	if err := json.Unmarshal(jr.raw, &j); err != nil || jr.status != 200 {
		t.Fatalf("journey: %d %v %s", jr.status, err, jr.raw)
	}
	if j.Origin == nil || j.Origin.Via != "application e2e (scim-client)" {
		t.Errorf("origin: %+v", j.Origin)
	}
	received := 0
	for _, s := range j.Steps {
		if s.Event == nil || s.Event.Subject != "users/"+victimID || s.Event.ID == "" || !strings.HasPrefix(s.Event.ID, "f") {
			continue
		}
		received++
		e := s.Event
		if e.Actor.Kind != "app" || e.Actor.AppName != "bus" || e.Source == "" || !strings.Contains(s.Summary, "received from application bus") {
			t.Errorf("received event %s in the journey: actor %+v, source %q, summary %q", e.ID, e.Actor, e.Source, s.Summary)
		}
		if len(e.Deliveries) != 0 {
			t.Errorf("received event %s has deliveries: %+v", e.ID, e.Deliveries)
		}
	}
	if received == 0 {
		t.Errorf("the journey shows no received event: %s", jr.raw)
	}

	// A rule that names "received" takes what bus sends, marked (a rule
	// put through the API is in force when the answer comes).
	if res := adminCall(t, r, "PUT", "/rules/from-bus", `{"pattern":{"received":{"app":["bus"]},"detail-type":["Partner.Signup"]},"targets":[{"target":"hook"}]}`); res.status != 201 {
		t.Fatalf("put rule: %d %s", res.status, res.raw)
	}
	if res := post("application/cloudevents+json", `{"specversion":"1.0","id":"p1","source":"urn:partner","type":"Partner.Signup","data":{"x":1}}`); res.status != 202 {
		t.Fatalf("partner event: %d %s", res.status, res.raw)
	}
	var got hookReq
	waitFor(t, "the received event delivered", func() bool {
		for _, req := range h.received() {
			if req.doc["id"] == "p1" {
				got = req
				return true
			}
		}
		return false
	})
	rec, _ := got.doc["received"].(map[string]any)
	if got.doc["source"] != "urn:partner" || rec["app"] != "bus" || rec["appId"] == "" {
		t.Errorf("received document: %s", got.body)
	}
}

// TestEventsPreemptedIDs: an application that may post events cannot have
// another sender's events dropped as duplicates by posting their source
// and id first. The real sender's event is taken, routed by the rule that
// names it and delivered; each application's repeat is its own duplicate.
func TestEventsPreemptedIDs(t *testing.T) {
	h := newHook(t)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: new-hires
    pattern: {"received": {"app": ["idaas-callbacks"]}, "detail-type": ["User.Created"]}
    targets: [{target: hook}]
`, h.srv.URL, h.secret), nil)
	tokens := map[string]string{}
	for _, name := range []string{"intruder", "idaas-callbacks"} {
		if res := adminCall(t, r, "POST", "/apps", `{"name":"`+name+`","kind":"server-app","scopes":["events:write"]}`); res.status != 201 {
			t.Fatal(res.status, string(res.raw))
		}
		tokens[name] = adminCall(t, r, "POST", "/apps/"+name+"/tokens", "").str("token")
	}
	post := func(app, userName string) *reply {
		return call(t, "POST", r.url+"/events", `{"specversion":"1.0","id":"evt-42","source":"com.example.idaas","type":"User.Created","subject":"users/x","data":{"userName":"`+userName+`"}}`,
			append(bearer(tokens[app]), "Content-Type", "application/cloudevents+json")...)
	}
	counts := func(res *reply) string {
		return fmt.Sprintf("%d %v/%v", res.status, res.body["accepted"], res.body["duplicates"])
	}
	if res := post("intruder", "mallory"); counts(res) != "202 1/0" {
		t.Fatalf("the intruder's event: %s %s", counts(res), res.raw)
	}
	if res := post("idaas-callbacks", "new-hire"); counts(res) != "202 1/0" {
		t.Fatalf("the real sender's event after the intruder's: %s %s (want it accepted, not a duplicate)", counts(res), res.raw)
	}
	for _, app := range []string{"intruder", "idaas-callbacks"} {
		if res := post(app, "again"); counts(res) != "202 0/1" {
			t.Errorf("%s posting its event again: %s %s (want a duplicate)", app, counts(res), res.raw)
		}
	}
	waitFor(t, "the real sender's event delivered", func() bool {
		for _, req := range h.received() {
			if data, _ := req.doc["detail"].(map[string]any); data["userName"] == "new-hire" {
				return true
			}
		}
		return false
	})
	for _, req := range h.received() {
		if data, _ := req.doc["detail"].(map[string]any); data["userName"] != "new-hire" {
			t.Errorf("delivered: %s", req.body)
		}
	}
}

// TestQueryStringsReadWhole: a query string that net/url would read only
// in part (a pair holding ";" or a malformed "%" escape, which url.Values
// drops without a word), or one naming a one-value parameter twice, is
// 400 on the SCIM endpoint and in the admin API, over HTTP — not a list
// that ignores the filter (red-team finding).
func TestQueryStringsReadWhole(t *testing.T) {
	r := start(t, nil)
	createUser(t, r, `{"userName":"ada@example.com"}`)
	createUser(t, r, `{"userName":"bob@example.com"}`)
	ada := url.QueryEscape(`userName eq "ada@example.com"`)
	for _, q := range []string{"filter=" + ada + ";", "filter=" + ada + "%zz", "filter=" + ada + "&filter=" + url.QueryEscape(`userName eq "bob@example.com"`)} {
		if res := call(t, "GET", r.url+"/scim/v2/Users?"+q, "", bearer(r.token)...); res.status != 400 {
			t.Errorf("SCIM ?%s: %d %s", q, res.status, res.raw)
		}
		if res := adminCall(t, r, "GET", "/users?"+q, ""); res.status != 400 {
			t.Errorf("admin ?%s: %d %s", q, res.status, res.raw)
		}
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users?filter="+ada, "", bearer(r.token)...); res.status != 200 || res.body["totalResults"] != float64(1) {
		t.Errorf("SCIM, one filter: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "GET", "/users?filter="+ada, ""); res.status != 200 || strings.Count(string(res.raw), `"userName"`) != 1 {
		t.Errorf("admin, one filter: %d %s", res.status, res.raw)
	}
}

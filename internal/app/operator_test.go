package app_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/targets/fake"
)

// TestAdminDeleteAppForce: DELETE /admin/v1/apps/{app} of an enabled
// application whose clients hold enabled credentials is a 409 naming
// force, and changes nothing; ?force=true deletes it; a disabled
// application needs no force.
func TestAdminDeleteAppForce(t *testing.T) {
	r := start(t, nil)
	for _, name := range []string{"idp", "reader", "off"} {
		if res := adminCall(t, r, "POST", "/apps", `{"name":"`+name+`"}`); res.status != 201 {
			t.Fatalf("create %s: %d %s", name, res.status, res.raw)
		}
	}
	tok := adminCall(t, r, "POST", "/apps/idp/tokens", "")
	adminCall(t, r, "POST", "/apps/reader/secrets", "")
	adminCall(t, r, "POST", "/apps/off/tokens", "")

	res := adminCall(t, r, "DELETE", "/apps/idp", "")
	if res.status != 409 || res.str("field") != "force" || !strings.Contains(res.str("detail"), `application "idp" has 1 enabled bearer token`) ||
		!strings.Contains(res.str("detail"), "?force=true") {
		t.Fatalf("delete with an enabled token: %d %s", res.status, res.raw)
	}
	// Nothing changed: the token still works.
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", bearer(tok.str("token"))...); res.status != 200 {
		t.Errorf("the refused delete changed the application: %d", res.status)
	}
	if res := adminCall(t, r, "DELETE", "/apps/reader", ""); res.status != 409 || !strings.Contains(res.str("detail"), "1 enabled client secret") {
		t.Errorf("delete with an enabled secret: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "DELETE", "/apps/idp?force=maybe", ""); res.status != 400 || res.str("field") != "force" {
		t.Errorf("bad force: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "DELETE", "/apps/idp?force=true", ""); res.status != 204 {
		t.Errorf("forced delete: %d %s", res.status, res.raw)
	}
	if res := call(t, "GET", r.url+"/scim/v2/Users", "", bearer(tok.str("token"))...); res.status != 401 {
		t.Errorf("token of a deleted application: %d", res.status)
	}
	adminCall(t, r, "PATCH", "/apps/off", `{"enabled":false}`)
	if res := adminCall(t, r, "DELETE", "/apps/off", ""); res.status != 204 {
		t.Errorf("delete of a disabled application: %d %s", res.status, res.raw)
	}
}

// TestAdminForceIsTrueOrFalse: ?force= takes exactly true or false (the
// spellings strconv.ParseBool also takes are refused like any other), and
// nothing is deleted by a refused one.
func TestAdminForceIsTrueOrFalse(t *testing.T) {
	r := start(t, nil)
	if res := adminCall(t, r, "POST", "/apps", `{"name":"idp"}`); res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.raw)
	}
	adminCall(t, r, "POST", "/apps/idp/tokens", "")
	for _, v := range []string{"1", "t", "T", "TRUE", "True", "yes", "0", "f", "FALSE", ""} {
		if res := adminCall(t, r, "DELETE", "/apps/idp?force="+v, ""); res.status != 400 || res.str("field") != "force" ||
			res.str("detail") != "force must be true or false" {
			t.Errorf("force=%s: %d %s, want 400 naming force", v, res.status, res.raw)
		}
	}
	if res := adminCall(t, r, "DELETE", "/apps/idp?force=false", ""); res.status != 409 || res.str("field") != "force" {
		t.Errorf("force=false: %d %s, want the 409 of an application in use", res.status, res.raw)
	}
	if res := adminCall(t, r, "DELETE", "/apps/idp?force=true", ""); res.status != 204 {
		t.Errorf("force=true: %d %s", res.status, res.raw)
	}
}

// TestAdminKeepsAccess: the admin API does not lock its administrators
// out: the application whose credential makes the request cannot delete
// or disable itself, nor take its own admin scope away, even with force;
// the last enabled application with the admin scope is kept too. Another
// admin application can do it.
func TestAdminKeepsAccess(t *testing.T) {
	r := start(t, nil)
	for _, tt := range []struct{ method, path, body string }{
		{"DELETE", "/apps/admin?force=true", ""},
		{"DELETE", "/apps/admin", ""},
		{"PATCH", "/apps/admin", `{"enabled":false}`},
		{"PATCH", "/apps/admin", `{"scopes":["metrics"]}`},
	} {
		res := adminCall(t, r, tt.method, tt.path, tt.body)
		if res.status != 409 || res.str("field") != "app" || !strings.Contains(res.str("detail"), "application admin makes this request") {
			t.Errorf("%s %s %s by itself: %d %s, want 409", tt.method, tt.path, tt.body, res.status, res.raw)
		}
	}
	if res := adminCall(t, r, "GET", "/apps", ""); res.status != 200 {
		t.Fatalf("the admin application was changed: %d %s", res.status, res.raw)
	}
	// A second admin application may remove the first; then it is the
	// last, and is kept — from the command line's operations too.
	if res := adminCall(t, r, "POST", "/apps", `{"name":"ops","kind":"admin"}`); res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.raw)
	}
	ops := adminCall(t, r, "POST", "/apps/ops/tokens", "").str("token")
	opsCall := func(method, path, body string) *reply {
		return call(t, method, r.url+"/admin/v1"+path, body, "Authorization", "Bearer "+ops, "Content-Type", "application/json")
	}
	if res := opsCall("PATCH", "/apps/admin", `{"enabled":false}`); res.status != 200 {
		t.Fatalf("disable by another admin application: %d %s", res.status, res.raw)
	}
	if res := opsCall("DELETE", "/apps/admin", ""); res.status != 204 {
		t.Fatalf("delete by another admin application: %d %s", res.status, res.raw)
	}
	if _, err := r.app.Admin.DeleteApp(t.Context(), directory.Actor{Kind: "cli"}, "ops", true); err == nil ||
		!strings.Contains(err.Error(), "the last enabled application with the admin scope") {
		t.Errorf("delete of the last admin application from the command line: %v", err)
	}
	if res := opsCall("GET", "/apps", ""); res.status != 200 {
		t.Errorf("the last admin application: %d %s", res.status, res.raw)
	}
}

// TestAdminListUsers: GET /admin/v1/users and /groups list the whole
// directory with SCIM filters, oldest first, a page at a time; bad input
// is a problem document naming the parameter.
func TestAdminListUsers(t *testing.T) {
	r := start(t, nil)
	for _, u := range []string{`{"userName":"ada@example.com","displayName":"Ada","emails":[{"value":"ada@example.com","type":"work"}]}`,
		`{"userName":"alan@example.com","active":false}`, `{"userName":"grace@example.org"}`} {
		createUser(t, r, u)
	}
	list := func(path string) *reply {
		t.Helper()
		res := adminCall(t, r, "GET", path, "")
		if res.status != 200 {
			t.Fatalf("%s: %d %s", path, res.status, res.raw)
		}
		return res
	}
	names := func(res *reply) []string {
		var out []string
		items, _ := res.body["items"].([]any)
		for _, it := range items {
			m := it.(map[string]any)
			out = append(out, fmt.Sprint(m["userName"], m["displayName"]))
		}
		return out
	}
	q := func(f string) string { return "/users?filter=" + url.QueryEscape(f) }
	for _, tt := range []struct {
		path  string
		want  []string
		total float64
	}{
		{"/users", []string{"ada@example.comAda", "alan@example.com<nil>", "grace@example.org<nil>"}, 3},
		{q(`userName sw "a"`), []string{"ada@example.comAda", "alan@example.com<nil>"}, 2},
		{q(`active eq false`), []string{"alan@example.com<nil>"}, 1},
		{q(`emails[type eq "work" and value ew "@example.com"]`), []string{"ada@example.comAda"}, 1},
		{q(`USERNAME Eq "GRACE@EXAMPLE.ORG"`), []string{"grace@example.org<nil>"}, 1},
		{q(`externalId pr`), nil, 0}, // the admin sees no application's externalIds
	} {
		res := list(tt.path)
		if diff := cmp.Diff(tt.want, names(res)); diff != "" || res.body["total"] != tt.total {
			t.Errorf("%s: total %v (-want +got):\n%s", tt.path, res.body["total"], diff)
		}
	}
	// The shape of one user.
	res := list(q(`userName eq "ada@example.com"`))
	u := res.body["items"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "created", "lastModified"} {
		delete(u, k)
	}
	if diff := cmp.Diff(map[string]any{"userName": "ada@example.com", "displayName": "Ada", "email": "ada@example.com", "active": true,
		"organizationId": "root"}, u); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
	// Paging: 2, then the rest; the last page has no next.
	p1 := list("/users?limit=2")
	next := p1.str("next")
	if got := names(p1); len(got) != 2 || next == "" {
		t.Fatalf("page 1: %s", p1.raw)
	}
	p2 := list("/users?limit=2&after=" + next)
	if diff := cmp.Diff([]string{"grace@example.org<nil>"}, names(p2)); diff != "" || p2.body["next"] != nil || p2.body["total"] != float64(3) {
		t.Errorf("page 2: %s", p2.raw)
	}
	// Groups.
	if res := call(t, "POST", r.url+"/scim/v2/Groups", `{"displayName":"engineering-readers"}`, append(bearer(r.token), "Content-Type", "application/scim+json")...); res.status != 201 {
		t.Fatalf("group: %d %s", res.status, res.raw)
	}
	g := list("/groups?filter=" + url.QueryEscape(`displayName co "readers"`))
	items, _ := g.body["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["displayName"] != "engineering-readers" {
		t.Errorf("groups: %s", g.raw)
	}
	// Bad input.
	for path, field := range map[string]string{
		q(`userName eq`): "filter", q(`password eq "x"`): "filter", q(`nosuch eq "x"`): "filter",
		"/users?limit=0": "limit", "/users?limit=1001": "limit", "/users?limit=x": "limit", "/users?after=abc": "after",
		"/groups?filter=" + url.QueryEscape(`userName eq "x"`): "filter",
	} {
		res := adminCall(t, r, "GET", path, "")
		if res.status != 400 || res.str("field") != field || res.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", path, res.status, res.raw)
		}
	}
	// A SCIM client's token is not an admin's.
	if res := call(t, "GET", r.url+"/admin/v1/users", "", bearer(r.token)...); res.status != 403 {
		t.Errorf("SCIM token: %d", res.status)
	}
}

// TestAdminTargetTest: POST /admin/v1/targets/{name}/test sends one
// Gatehouse.Test event through the target's sender and returns the
// attempt: a signed webhook with the event document (no personal data),
// an email to the one address given and no one else; SCIM targets and
// email targets without an address are refused. Nothing is queued; each
// test is audited.
func TestAdminTargetTest(t *testing.T) {
	h := newHook(t)
	failing := newHook(t)
	failing.status = func(int) int { return 503 }
	mb := newMailbox(t)
	host, port, _ := strings.Cut(mb.addr, ":")
	eb := fake.NewEventBridge("LTAItest", "eb-secret")
	ebSrv := httptest.NewServer(eb)
	t.Cleanup(ebSrv.Close)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  hook:
    webhook: {url: %q, secrets: [%q]}
  failing:
    webhook: {url: %q, secrets: [%q]}
  mail:
    smtp: {host: %q, port: %s, tls: none, from: "Onboarding <onboarding@example.com>"}
  gitbook:
    scim: {profile: gitbook, base_url: "http://127.0.0.1:1/scim/v2", token: "x"}
  bus:
    eventbridge: {endpoint: %q, access_key_id: LTAItest, access_key_secret: eb-secret, event_bus: onboarding}
rules:
  - name: welcome
    pattern: {"detail-type": ["User.Created"]}
    targets:
      - target: mail
        payload: {"to": "${detail.email}", "template": "welcome_new_hire"}
`, h.srv.URL, h.secret, failing.srv.URL, failing.secret, host, port, ebSrv.URL), nil)

	res := adminCall(t, r, "POST", "/targets/hook/test", "")
	att, _ := res.body["attempt"].(map[string]any)
	if res.status != 200 || res.str("kind") != "webhook" || att["outcome"] != "delivered" || att["status"] != float64(200) {
		t.Fatalf("webhook test: %d %s", res.status, res.raw)
	}
	got := h.received()
	if len(got) != 1 {
		t.Fatalf("%d webhook requests", len(got))
	}
	doc := got[0].doc
	detail, _ := doc["detail"].(map[string]any)
	if doc["type"] != "Gatehouse.Test" || doc["detail-type"] != "Gatehouse.Test" || doc["id"] != res.str("eventId") || doc["subject"] != "targets/hook" ||
		detail["test"] != true || got[0].header.Get("Webhook-Id") == "" {
		t.Errorf("test event: %s", got[0].body)
	}
	if strings.Contains(string(got[0].body), "@") {
		t.Errorf("the test event carries an address: %s", got[0].body)
	}

	res = adminCall(t, r, "POST", "/targets/failing/test", "")
	att, _ = res.body["attempt"].(map[string]any)
	if res.status != 200 || att["outcome"] != "retry" || att["status"] != float64(503) || !strings.Contains(res.str("note"), "would be retried") {
		t.Errorf("failing target: %d %s", res.status, res.raw)
	}
	if n := failing.n.Load(); n != 1 {
		t.Errorf("the failing target got %d requests: a test is not retried", n)
	}

	// EventBridge: the test event, put on the bus.
	res = adminCall(t, r, "POST", "/targets/bus/test", "")
	if att, _ := res.body["attempt"].(map[string]any); res.status != 200 || res.str("kind") != "eventbridge" || att["outcome"] != "delivered" {
		t.Errorf("eventbridge test: %d %s", res.status, res.raw)
	}
	if evs := eb.Events(); len(evs) != 1 || evs[0].Type != "Gatehouse.Test" || evs[0].ID != res.str("eventId") {
		t.Errorf("events put: %+v", evs)
	}

	// Email: to the one address given.
	if res := adminCall(t, r, "POST", "/targets/mail/test", ""); res.status != 400 || res.str("field") != "to" {
		t.Errorf("email without to: %d %s", res.status, res.raw)
	}
	for _, bad := range []string{`{"to":"a@example.com, b@example.com"}`, `{"to":"Ops <ops@example.com>"}`, `{"to":"not an address"}`} {
		if res := adminCall(t, r, "POST", "/targets/mail/test", bad); res.status != 400 || res.str("field") != "to" {
			t.Errorf("%s: %d %s", bad, res.status, res.raw)
		}
	}
	res = adminCall(t, r, "POST", "/targets/mail/test", `{"to":"ops@example.com"}`)
	att, _ = res.body["attempt"].(map[string]any)
	if res.status != 200 || att["outcome"] != "delivered" {
		t.Fatalf("email test: %d %s", res.status, res.raw)
	}
	msgs := mb.messages()
	if len(msgs) != 1 || !cmp.Equal(msgs[0].to, []string{"ops@example.com"}) || !strings.Contains(msgs[0].data, "Subject: [Gatehouse test] Target mail can send email") {
		t.Errorf("test email: %+v", msgs)
	}
	// Another template, to see it rendered: still only to the address
	// given, with no person's data.
	res = adminCall(t, r, "POST", "/targets/mail/test", `{"to":"ops@example.com","template":"welcome_new_hire"}`)
	if att, _ := res.body["attempt"].(map[string]any); res.status != 200 || att["outcome"] != "delivered" {
		t.Fatalf("email test with a template: %d %s", res.status, res.raw)
	}
	if msgs := mb.messages(); len(msgs) != 2 || !cmp.Equal(msgs[1].to, []string{"ops@example.com"}) || !strings.Contains(msgs[1].data, "Welcome to the team") {
		t.Errorf("welcome test email: %+v", msgs)
	}

	// Refusals.
	for path, want := range map[string]int{"/targets/gitbook/test": 400, "/targets/nope/test": 404} {
		if res := adminCall(t, r, "POST", path, ""); res.status != want || res.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", path, res.status, res.raw)
		}
	}
	if res := adminCall(t, r, "POST", "/targets/hook/test", `{"to":"ops@example.com"}`); res.status != 400 {
		t.Errorf("to for a webhook: %d %s", res.status, res.raw)
	}
	if res := adminCall(t, r, "POST", "/targets/hook/test", `{"bogus":1}`); res.status != 400 {
		t.Errorf("unknown field: %d %s", res.status, res.raw)
	}

	// Nothing queued; the five tests that were sent are audited.
	if res := adminCall(t, r, "GET", "/deliveries", ""); len(res.body["items"].([]any)) != 0 {
		t.Errorf("deliveries: %s", res.raw)
	}
	aud := adminCall(t, r, "GET", "/audit?action=target.test", "")
	if items, _ := aud.body["items"].([]any); len(items) != 5 {
		t.Errorf("audit: %s", aud.raw)
	}
	if strings.Contains(string(aud.raw), "ops@example.com") {
		t.Errorf("the audit records the recipient: %s", aud.raw)
	}
}

package scimclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/scimclient"
)

// event builds a delivery of a user event: the payload as the GitBook rule
// of the scenario makes it, and the CloudEvent whose detail.id is
// Gatehouse's user id.
func event(typ, gid string, payload map[string]any) *scimclient.Delivery {
	p, _ := json.Marshal(payload)
	ev, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": "ev-" + typ, "source": "gatehouse", "type": typ, "subject": "users/" + gid,
		"detail-type": typ, "detail": map[string]any{"id": gid, "userName": payload["userName"], "externalId": "AD-1001"},
	})
	return &scimclient.Delivery{ID: "d-" + typ, EventID: "ev-" + typ, EventType: typ, Subject: "users/" + gid,
		Time: time.Now(), Payload: p, Event: ev, Attempt: 1}
}

func deliver(t *testing.T, tg *scimclient.Target, d *scimclient.Delivery, want scimclient.Outcome) scimclient.Result {
	t.Helper()
	res := tg.Deliver(t.Context(), d)
	if res.Outcome != want {
		t.Fatalf("%s: outcome %v (status %d, %q, %v), want %v", d.EventType, res.Outcome, res.Status, res.Response, res.Err, want)
	}
	return res
}

// writes counts the requests that change something.
func writes(p *proxy) []string {
	var out []string
	for _, r := range p.log() {
		if !strings.HasPrefix(r, "GET ") {
			out = append(out, r)
		}
	}
	return out
}

// TestTargetScenario follows a new hire through the GitBook rule of the
// scenario: created in engineering-readers, moved to research-readers by a
// department change, disabled, deleted — each event delivered twice.
func TestTargetScenario(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	c := g.client(t, func(cfg *scimclient.Config) { cfg.BaseURL = p.URL + "/scim/v2"; cfg.Profile = "gitbook" })
	tg := scimclient.NewTarget(c, scimclient.TargetOptions{CreateGroups: true, ManageGroups: true, ManagedGroupPattern: "*-readers"})
	ctx := t.Context()
	const gid = "0190c0de-0000-7000-8000-000000000001"

	created := event(scimclient.EventUserCreated, gid, map[string]any{
		"userName": "Ada@Example.com", "active": true, "groups": []any{"engineering-readers"}})
	res := deliver(t, tg, created, scimclient.Delivered)
	if res.Status != 201 || !strings.Contains(res.Response, "created user") || res.Latency <= 0 {
		t.Errorf("created: %+v", res)
	}
	u, err := c.FindUser(ctx, scimclient.Eq("externalId", gid))
	if err != nil {
		t.Fatal(err)
	}
	uid := scimclient.ID(u)
	if u["userName"] != "ada@example.com" || u["active"] != true {
		t.Errorf("downstream user: %v", u)
	}
	if diff := cmp.Diff([]string{"engineering-readers"}, groupsOf(t, c, uid)); diff != "" {
		t.Errorf("groups after Created: %s", diff)
	}
	// Again: nothing changes, nothing is written.
	p.reset()
	res = deliver(t, tg, created, scimclient.Delivered)
	if w := writes(p); len(w) != 0 || !strings.Contains(res.Response, "up to date") {
		t.Errorf("redelivered Created wrote %v (%s)", w, res.Response)
	}
	// A group outside the managed pattern, joined some other way.
	staff, err := c.CreateGroup(ctx, map[string]any{"displayName": "all-staff", "members": []any{map[string]any{"value": uid}}})
	if err != nil {
		t.Fatal(err)
	}
	research, err := c.CreateGroup(ctx, map[string]any{"displayName": "research-readers"})
	if err != nil {
		t.Fatal(err)
	}

	updated := event(scimclient.EventUserUpdated, gid, map[string]any{
		"userName": "ada@example.com", "displayName": "Ada Lovelace", "active": true, "groups": []any{"research-readers"}})
	deliver(t, tg, updated, scimclient.Delivered)
	if diff := cmp.Diff([]string{"all-staff", "research-readers"}, groupsOf(t, c, uid)); diff != "" {
		t.Errorf("groups after the move: %s", diff)
	}
	if u, _ := c.GetUser(ctx, uid); u["displayName"] != "Ada Lovelace" || u["externalId"] != gid {
		t.Errorf("after Updated: %v", u)
	}
	if g, _ := c.GetGroup(ctx, scimclient.ID(research)); len(g["members"].([]any)) != 1 {
		t.Errorf("research-readers: %v", g["members"])
	}
	p.reset()
	deliver(t, tg, updated, scimclient.Delivered)
	if w := writes(p); len(w) != 0 {
		t.Errorf("redelivered Updated wrote %v", w)
	}

	disabled := event(scimclient.EventUserDisabled, gid, map[string]any{"userName": "ada@example.com", "active": false})
	deliver(t, tg, disabled, scimclient.Delivered)
	if u, _ := c.GetUser(ctx, uid); u["active"] != false {
		t.Errorf("after Disabled: %v", u)
	}
	p.reset()
	deliver(t, tg, disabled, scimclient.Delivered)
	if w := writes(p); len(w) != 0 {
		t.Errorf("redelivered Disabled wrote %v", w)
	}
	enabled := event(scimclient.EventUserEnabled, gid, map[string]any{"userName": "ada@example.com", "groups": []any{"research-readers"}})
	deliver(t, tg, enabled, scimclient.Delivered)
	if u, _ := c.GetUser(ctx, uid); u["active"] != true {
		t.Errorf("after Enabled: %v", u)
	}

	deleted := event(scimclient.EventUserDeleted, gid, map[string]any{"userName": "ada@example.com"})
	res = deliver(t, tg, deleted, scimclient.Delivered)
	if res.Status != 204 {
		t.Errorf("deleted: %+v", res)
	}
	if _, err := c.GetUser(ctx, uid); !scimclient.IsNotFound(err) {
		t.Errorf("after Deleted: %v", err)
	}
	res = deliver(t, tg, deleted, scimclient.Delivered)
	if !strings.Contains(res.Response, "nothing to delete") {
		t.Errorf("redelivered Deleted: %+v", res)
	}
	// The groups stay; only the membership went with the user.
	if g, err := c.GetGroup(ctx, scimclient.ID(staff)); err != nil || g["displayName"] != "all-staff" || g["members"] != nil {
		t.Errorf("all-staff after the user's deletion: %v %v", g, err)
	}
	// Events of other kinds are acknowledged.
	deliver(t, tg, &scimclient.Delivery{EventType: "Group.Created", Payload: []byte(`{}`)}, scimclient.Delivered)
}

// TestTargetOptions: deactivation instead of deletion, missing groups
// without CreateGroups, and accounts found by name.
func TestTargetOptions(t *testing.T) {
	g := startGatehouse(t)
	c := g.client(t, nil)
	ctx := t.Context()
	tg := scimclient.NewTarget(c, scimclient.TargetOptions{OnDelete: "deactivate"})
	// An account that exists downstream by name only is adopted: it gets
	// the externalId.
	pre := mustCreate(t, c, map[string]any{"userName": "grace@example.com", "title": "Rear Admiral"})
	deliver(t, tg, event(scimclient.EventUserCreated, "gh-2", map[string]any{"userName": "grace@example.com", "title": "Admiral"}), scimclient.Delivered)
	u, err := c.GetUser(ctx, scimclient.ID(pre))
	if err != nil || u["externalId"] != "gh-2" || u["title"] != "Admiral" {
		t.Errorf("adopted account: %v %v", u, err)
	}
	// OnDelete: deactivate.
	deliver(t, tg, event(scimclient.EventUserDeleted, "gh-2", map[string]any{}), scimclient.Delivered)
	if u, _ := c.GetUser(ctx, scimclient.ID(pre)); u["active"] != false {
		t.Errorf("deactivated on delete: %v", u)
	}
	// A payload's externalId wins over Gatehouse's id.
	deliver(t, tg, event(scimclient.EventUserCreated, "gh-3", map[string]any{"userName": "hopper@example.com", "externalId": "AD-7"}), scimclient.Delivered)
	if _, err := c.FindUser(ctx, scimclient.Eq("externalId", "AD-7")); err != nil {
		t.Errorf("externalId from the payload: %v", err)
	}
	// A group that does not exist, and may not be created: permanent.
	res := deliver(t, tg, event(scimclient.EventUserUpdated, "gh-3", map[string]any{"userName": "hopper@example.com", "externalId": "AD-7", "groups": []any{"nowhere"}}), scimclient.Permanent)
	if !strings.Contains(res.Response, "nowhere") {
		t.Errorf("missing group: %+v", res)
	}
	// Disabling and deleting an account that carries another externalId,
	// found by name, leaves it alone.
	other := mustCreate(t, c, map[string]any{"userName": "other@example.com", "externalId": "someone-else"})
	deliver(t, tg, event(scimclient.EventUserDisabled, "gh-4", map[string]any{"userName": "other@example.com"}), scimclient.Delivered)
	if u, _ := c.GetUser(ctx, scimclient.ID(other)); u["active"] != true {
		t.Errorf("another source's account was disabled: %v", u)
	}
	// Payloads the target cannot use.
	for _, d := range []*scimclient.Delivery{
		{EventType: scimclient.EventUserCreated, Subject: "users/x", Payload: []byte(`{"active": true}`)},
		{EventType: scimclient.EventUserCreated, Subject: "users/x", Payload: []byte(`[1]`)},
		{EventType: scimclient.EventUserCreated, Payload: []byte(`{"userName": "a@example.com"}`)},
		{EventType: scimclient.EventUserCreated, Subject: "users/x", Payload: []byte(`{"userName": "a@example.com", "groups": "g"}`)},
		{EventType: scimclient.EventUserCreated, Subject: "users/x", Payload: []byte(`{"specversion": "1.0", "detail": {}}`)},
	} {
		res := tg.Deliver(ctx, d)
		if res.Outcome != scimclient.Permanent || res.Err == nil {
			t.Errorf("%s: %+v", d.Payload, res)
		}
	}
	// The server's refusal is permanent, with its detail.
	res = deliver(t, tg, event(scimclient.EventUserCreated, "gh-5", map[string]any{"userName": "bad@example.com", "emails": []any{map[string]any{"value": "not an address"}}}), scimclient.Permanent)
	if res.Status != 400 || !strings.Contains(res.Response, "not an email address") {
		t.Errorf("invalid email: %+v", res)
	}
}

// TestTargetConflict: a create that conflicts (the lookups missed the
// account) looks it up again and updates it.
func TestTargetConflict(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	c := g.client(t, func(cfg *scimclient.Config) { cfg.BaseURL = p.URL + "/scim/v2"; cfg.Auth.BearerToken = g.rfcToken })
	existing := mustCreate(t, c, map[string]any{"userName": "race@example.com", "externalId": "gh-9", "title": "old"})
	// The first two lookups answer "no such user", as if the account had
	// been created just after them.
	p.reset()
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n <= 2 && r.Method == "GET" && r.URL.Query().Get("filter") != "" {
			w.Header().Set("Content-Type", "application/scim+json")
			fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}`)
			return true
		}
		return false
	})
	tg := scimclient.NewTarget(c, scimclient.TargetOptions{})
	deliver(t, tg, event(scimclient.EventUserCreated, "gh-9", map[string]any{"userName": "race@example.com", "title": "new"}), scimclient.Delivered)
	if u, _ := c.GetUser(t.Context(), scimclient.ID(existing)); u["title"] != "new" {
		t.Errorf("after the conflict: %v", u)
	}
	if n := p.count("POST /scim/v2/Users"); n != 1 {
		t.Errorf("%d creates", n)
	}
}

// TestTargetOutcomes: retryable failures ask for a retry (with the
// server's Retry-After), refused credentials disable the target.
func TestTargetOutcomes(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	c := g.client(t, func(cfg *scimclient.Config) {
		cfg.BaseURL = p.URL + "/scim/v2"
		cfg.MaxRetries = 1
		cfg.Backoff = time.Millisecond
		cfg.MaxPause = -1 // no pause: the outcome carries the wait to the caller
	})
	tg := scimclient.NewTarget(c, scimclient.TargetOptions{})
	d := event(scimclient.EventUserCreated, "gh-1", map[string]any{"userName": "x@example.com"})
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	res := deliver(t, tg, d, scimclient.Retry)
	if res.RetryAfter != 2*time.Minute || res.Status != 503 || res.Err == nil {
		t.Errorf("503: %+v", res)
	}
	p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusUnauthorized)
		return true
	})
	res = deliver(t, tg, d, scimclient.Disable)
	if res.Status != 401 {
		t.Errorf("401: %+v", res)
	}
	p.setIntercept(nil)
	bad := g.client(t, func(cfg *scimclient.Config) {
		cfg.Auth = scimclient.Auth{TokenURL: g.url + "/v1/token", ClientID: g.clientID, ClientSecret: "gate_cs_not-the-secret"}
	})
	res = deliver(t, scimclient.NewTarget(bad, scimclient.TargetOptions{}), d, scimclient.Disable)
	if strings.Contains(res.Response, "not-the-secret") || strings.Contains(res.Err.Error(), "not-the-secret") {
		t.Errorf("the secret shows: %+v", res)
	}
	// A cancelled context: retry.
	ctx, cancel := contextCancelled(t)
	defer cancel()
	if res := tg.Deliver(ctx, d); res.Outcome != scimclient.Retry {
		t.Errorf("cancelled: %+v", res)
	}
}

// TestTargetTokenEndpointOutcomes: only a refusal of the client
// credentials by the token endpoint (400, 401, 403) disables the target.
// A redirect is not followed and fails the delivery, as a redirect from
// the SCIM base URL does; other answers fail it or are retried as they
// would be at the base URL.
func TestTargetTokenEndpointOutcomes(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	tests := []struct {
		status  int
		body    string
		want    scimclient.Outcome
		wantMsg string
	}{
		{307, "", scimclient.Permanent, "token endpoint: the answer is a redirect (HTTP 307), which is not followed"},
		{308, "", scimclient.Permanent, "token endpoint: the answer is a redirect (HTTP 308), which is not followed"},
		{302, `{"error":"invalid_client"}`, scimclient.Permanent, "token endpoint: the answer is a redirect (HTTP 302), which is not followed"},
		{301, "", scimclient.Permanent, "the answer is a redirect (HTTP 301)"},
		{404, "no such page", scimclient.Permanent, "token endpoint: the token endpoint answered HTTP 404"},
		{400, `{"error":"invalid_client","error_description":"bad secret"}`, scimclient.Disable, "400 invalid_client: token endpoint: bad secret"},
		{401, "", scimclient.Disable, "token endpoint: the token endpoint refused the client credentials request"},
		{403, "", scimclient.Disable, "token endpoint: the token endpoint refused the client credentials request"},
		{409, "", scimclient.Permanent, "token endpoint: the token endpoint answered HTTP 409"},
		{503, "", scimclient.Retry, "503"},
	}
	for _, tt := range tests {
		// The token endpoint's 404 or 409 is no answer about the account:
		// a deletion is not taken as done, a creation not as a conflict.
		for _, d := range []*scimclient.Delivery{
			event(scimclient.EventUserCreated, "gh-1", map[string]any{"userName": "x@example.com"}),
			event(scimclient.EventUserDeleted, "gh-1", map[string]any{"userName": "x@example.com"}),
		} {
			t.Run(strconv.Itoa(tt.status)+"/"+d.EventType, func(t *testing.T) {
				p.reset()
				p.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
					if !strings.HasSuffix(r.URL.Path, "/v1/token") {
						return false
					}
					if tt.status/100 == 3 {
						w.Header().Set("Location", p.URL+"/v1/token?followed=1")
					}
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, tt.body)
					return true
				})
				c := g.client(t, func(cfg *scimclient.Config) {
					cfg.Auth = scimclient.Auth{TokenURL: p.URL + "/v1/token", ClientID: g.clientID, ClientSecret: g.secret}
					cfg.MaxRetries = -1 // a 503 is retried later, by the pipeline
				})
				res := deliver(t, scimclient.NewTarget(c, scimclient.TargetOptions{}), d, tt.want)
				if res.Status != tt.status || !strings.Contains(res.Response, tt.wantMsg) {
					t.Errorf("status %d, response %q; want %d and %q", res.Status, res.Response, tt.status, tt.wantMsg)
				}
				if tt.want != scimclient.Disable && strings.Contains(res.Response, "refused the client credentials") {
					t.Errorf("%d reads as a refusal of the credentials: %q", tt.status, res.Response)
				}
				// Not followed: the one request is the token request.
				if got := p.log(); len(got) != 1 || !strings.HasPrefix(got[0], "POST /v1/token") {
					t.Errorf("requests %v, want the token request alone", got)
				}
			})
		}
	}
	p.setIntercept(nil)
}

func contextCancelled(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx, cancel
}

// TestTargetEgressRefusal: a SCIM server or token endpoint the egress
// policy refuses (the default client's policy refuses loopback) is a
// permanent failure at once, not retried in the client or later, and
// never reached.
func TestTargetEgressRefusal(t *testing.T) {
	g := startGatehouse(t)
	p := newProxy(t, g.url)
	d := event(scimclient.EventUserCreated, "gh-1", map[string]any{"userName": "x@example.com"})
	for _, tt := range []struct {
		name string
		auth func(*scimclient.Config)
	}{
		{"SCIM server", func(cfg *scimclient.Config) {}},
		{"token endpoint", func(cfg *scimclient.Config) {
			cfg.Auth = scimclient.Auth{TokenURL: p.URL + "/v1/token", ClientID: g.clientID, ClientSecret: g.secret}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p.reset()
			c := g.client(t, func(cfg *scimclient.Config) {
				cfg.BaseURL = p.URL + "/scim/v2"
				cfg.HTTPClient = nil // the default: egress.Policy{}
				cfg.Backoff = time.Millisecond
				tt.auth(cfg)
			})
			res := deliver(t, scimclient.NewTarget(c, scimclient.TargetOptions{}), d, scimclient.Permanent)
			if !egress.IsRefusal(res.Err) || !strings.Contains(res.Response, "egress policy refused a connection to 127.0.0.1 (loopback address") {
				t.Errorf("result %+v, want the egress policy's refusal", res)
			}
			if retry, _ := scimclient.IsRetryable(res.Err); retry {
				t.Errorf("%v is retryable", res.Err)
			}
			if n := len(p.log()); n != 0 {
				t.Errorf("%d requests reached the server", n)
			}
			if strings.Contains(res.Response, g.secret) {
				t.Errorf("the secret shows: %q", res.Response)
			}
		})
	}
}

// inactiveEvent is event with the account inactive in the event's detail
// (a user created disabled, or changed while disabled).
func inactiveEvent(typ, gid string, payload map[string]any) *scimclient.Delivery {
	d := event(typ, gid, payload)
	var ev map[string]any
	_ = json.Unmarshal(d.Event, &ev)
	ev["detail"].(map[string]any)["active"] = false
	d.Event, _ = json.Marshal(ev)
	return d
}

// TestTargetInactive: the Created or Updated of an inactive account never
// creates it downstream nor makes it active there, whatever the payload's
// "active"; an account that is downstream is treated as OnDisable says.
func TestTargetInactive(t *testing.T) {
	g := startGatehouse(t)
	c := g.client(t, nil)
	ctx := t.Context()
	type state struct {
		Exists      bool
		Active      bool
		DisplayName string
	}
	for i, tt := range []struct {
		name      string
		onDisable string
		typ       string
		existing  map[string]any // downstream before (nil: none)
		want      state
		note      string
	}{
		{"created disabled", "", scimclient.EventUserCreated, nil, state{}, "not created downstream"},
		{"created disabled, delete on disable", "delete", scimclient.EventUserCreated, nil, state{}, "not created downstream"},
		{"changed while disabled", "", scimclient.EventUserUpdated, map[string]any{"active": false, "displayName": "Old"},
			state{Exists: true, Active: false, DisplayName: "New"}, "updated user"},
		{"changed while disabled, still active downstream", "deactivate", scimclient.EventUserUpdated, map[string]any{"active": true, "displayName": "Old"},
			state{Exists: true, Active: false, DisplayName: "New"}, "updated user"},
		{"changed while disabled, delete on disable", "delete", scimclient.EventUserUpdated, map[string]any{"active": true, "displayName": "Old"},
			state{}, "deleted user"},
		{"changed while disabled, disable ignored", "ignore", scimclient.EventUserUpdated, map[string]any{"active": false, "displayName": "Old"},
			state{Exists: true, Active: false, DisplayName: "New"}, "updated user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gid := fmt.Sprintf("gh-inactive-%d", i)
			name := gid + "@example.com"
			if tt.existing != nil {
				doc := map[string]any{"userName": name, "externalId": gid}
				for k, v := range tt.existing {
					doc[k] = v
				}
				mustCreate(t, c, doc)
			}
			tg := scimclient.NewTarget(c, scimclient.TargetOptions{OnDisable: tt.onDisable})
			// The payload of a rule that hard-codes "active": true.
			d := inactiveEvent(tt.typ, gid, map[string]any{"userName": name, "displayName": "New", "active": true})
			res := deliver(t, tg, d, scimclient.Delivered)
			if !strings.Contains(res.Response, tt.note) {
				t.Errorf("response %q, want %q", res.Response, tt.note)
			}
			var got state
			u, err := c.FindUser(ctx, scimclient.Eq("externalId", gid))
			switch {
			case err == nil:
				got = state{Exists: true, Active: u["active"] == true, DisplayName: fmt.Sprint(u["displayName"])}
			case !scimclient.IsNotFound(err):
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("downstream (-want +got):\n%s", diff)
			}
		})
	}
}

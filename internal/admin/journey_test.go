package admin

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/rules"
)

var downstreamIDTests = []struct {
	name, kind, outcome, response, want string
}{
	{"scim created", "scim", "delivered", "created user 27648498165273", "27648498165273"},
	{"scim updated", "scim", "delivered", "updated user 0193a-b", "0193a-b"},
	{"scim up to date", "scim", "delivered", "user u-1 up to date", "u-1"},
	{"scim already inactive", "scim", "delivered", "user u-1 already inactive", "u-1"},
	{"scim deactivated", "scim", "delivered", "deactivated user u-2", "u-2"},
	{"scim deleted", "scim", "delivered", "deleted user u-3", "u-3"},
	{"scim with group notes", "scim", "delivered", "created user 42; added to new group eng-readers; added to group all", "42"},
	{"scim groups only", "scim", "delivered", "added to group eng", ""},
	{"scim nothing to do", "scim", "delivered", "event type Group.Created: nothing to do", ""},
	{"scim no such user", "scim", "delivered", "no such user downstream: nothing to delete", ""},
	{"scim left alone", "scim", "delivered", "an account named like the user belongs to externalId x: left alone", ""},
	{"scim created, then a failure", "scim", "retry", "created user 42; then: scim: PATCH /Groups/7: 503", "42"},
	{"scim failure names a user", "scim", "retry", "scim: created user 42 failed", ""},
	{"scim failure alone", "scim", "permanent", "scim: DELETE /Users/42: 500", ""},
	{"scim failure reads like a note", "scim", "permanent", "deleted user 42", ""},
	{"scim error after the then", "scim", "retry", "updated user 1; then: created user 2", "1"},
	{"scim two words", "scim", "delivered", "created user two words", ""},
	{"scim empty id", "scim", "delivered", "created user ", ""},
	{"scim prefix only", "scim", "delivered", "created users 42", ""},
	{"scim last wins", "scim", "delivered", "deleted user 1; created user 2", "2"},
	{"unknown kind read as scim", "", "delivered", "created user 9", "9"},
	{"webhook body", "webhook", "delivered", "created user 42", ""},
	{"resend id", "resend", "delivered", "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794", "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"},
	{"resend failure", "resend", "retry", "rate_limit_exceeded", ""},
	{"resend body, not an id", "resend", "delivered", `{"id": "x"}`, ""},
	{"smtp reply", "smtp", "delivered", "2.0.0 OK: queued", ""},
	{"eventbridge", "eventbridge", "delivered", "EventId=ev-1 TraceId=t RequestId=r", "ev-1"},
	{"eventbridge failed entry", "eventbridge", "retry", "EventId=ev-1 ErrorCode=Throttled RequestId=r", ""},
	{"eventbridge request only", "eventbridge", "delivered", "RequestId=r", ""},
}

func TestDownstreamID(t *testing.T) {
	for _, tt := range downstreamIDTests {
		if got := DownstreamID(tt.kind, tt.outcome, tt.response); got != tt.want {
			t.Errorf("%s: DownstreamID(%q, %q, %q) = %q, want %q", tt.name, tt.kind, tt.outcome, tt.response, got, tt.want)
		}
	}
}

// FuzzDownstreamID: never panics, and an id found is one word of the
// response.
func FuzzDownstreamID(f *testing.F) {
	for _, tt := range downstreamIDTests {
		f.Add(tt.kind, tt.outcome, tt.response)
	}
	f.Fuzz(func(t *testing.T, kind, outcome, response string) {
		id := DownstreamID(kind, outcome, response)
		if id == "" {
			return
		}
		if !isToken(id) || !strings.Contains(response, id) {
			t.Errorf("DownstreamID(%q, %q, %q) = %q", kind, outcome, response, id)
		}
	})
}

func TestSnapshotChanges(t *testing.T) {
	const ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	for _, tt := range []struct {
		name          string
		before, after string
		want          []string
	}{
		{"creation", "", `{"id":"1","userName":"a"}`, nil},
		{"deletion", `{"id":"1","userName":"a"}`, "", nil},
		{"bookkeeping only", `{"id":"1","userName":"a","version":1,"lastModified":"x","created":"c"}`,
			`{"id":"1","userName":"a","version":2,"lastModified":"y","created":"c"}`, nil},
		{"top level", `{"userName":"a","displayName":"A","active":true}`, `{"userName":"b","active":false}`,
			[]string{"active", "displayName", "userName"}},
		{"password, never its value", `{"userName":"a","passwordSet":false}`, `{"userName":"a","passwordSet":true}`, []string{"password"}},
		{"attributes", `{"attributes":{"title":"x","name":{"givenName":"A"}}}`, `{"attributes":{"title":"y","name":{"givenName":"A"},"nickName":"n"}}`,
			[]string{"nickName", "title"}},
		{"extension attributes", `{"attributes":{"` + ext + `":{"department":"Eng","manager":{"value":"m"}}}}`,
			`{"attributes":{"` + ext + `":{"department":"Ops","manager":{"value":"m"},"costCenter":"1"}}}`,
			[]string{ext + ":costCenter", ext + ":department"}},
		{"extension added", `{"userName":"a"}`, `{"userName":"a","attributes":{"` + ext + `":{"department":"Eng"}}}`,
			[]string{ext + ":department"}},
		{"same, spaced differently", `{"attributes":{"emails":[{"value":"a","primary":true}]}}`, `{"attributes":{"emails":[ {"primary":true, "value":"a"} ]}}`, nil},
		{"not JSON", `{`, `{}`, nil},
		{"notes of dropped values are not changes", `{"userName":"a","attributes":{"phoneNumbers":[{"value":"1","type":"work"}]}}`,
			`{"userName":"a","attributes":{"phoneNumbers":[{"value":"2","type":"work"}]},"droppedValues":[{"attribute":"phoneNumbers","index":1,"type":"fax"}],"retypedValues":[{"attribute":"phoneNumbers","index":0,"type":"mobile"}]}`,
			[]string{"phoneNumbers"}},
	} {
		got := snapshotChanges(raw(tt.before), raw(tt.after))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// fakeSender and fakeMatcher stand in for a configured target and the
// compiled rules.
type fakeSender struct{ kind string }

func (s fakeSender) Kind() string                                       { return s.kind }
func (fakeSender) Send(context.Context, *events.Delivery) events.Result { return events.Result{} }

type fakeMatcher []string

func (m fakeMatcher) Match([]byte) ([]string, error) { return m, nil }

func TestJourneyWhy(t *testing.T) {
	yes, no := true, false
	doc := json.RawMessage(`{"detail-type":"User.Created","detail":{"email":"ada@example.com"}}`)
	run := &journeyRun{
		rules: map[string]RuleView{
			"welcome": {RuleSpec: events.RuleSpec{Name: "welcome", Pattern: map[string]any{"detail-type": []any{"User.Created"}}}, Origin: "file"},
			"changed": {RuleSpec: events.RuleSpec{Name: "changed", Pattern: map[string]any{"detail-type": []any{"User.Updated"}}}, Origin: "api"},
			"off":     {RuleSpec: events.RuleSpec{Name: "off", Pattern: map[string]any{"detail-type": []any{"User.Created"}}, Disabled: true}, Origin: "file"},
		},
		patterns: map[string]*rules.Pattern{}, bad: map[string]string{}, why: map[string]JourneyWhy{},
		cfg: &events.Config{
			Matcher: fakeMatcher{"push:ram"},
			Targets: map[string]*events.Target{
				"ram":   {Name: "ram", Sender: fakeSender{"scim"}, Push: &events.PushTarget{Spec: events.PushSpec{Organizations: []string{"eng"}}}},
				"other": {Name: "other", Sender: fakeSender{"scim"}, Push: &events.PushTarget{}},
				"hook":  {Name: "hook", Sender: fakeSender{"webhook"}},
			},
		},
	}
	for _, tt := range []struct {
		name, rule string
		doc        json.RawMessage
		want       JourneyWhy
	}{
		{"matches", "welcome", doc, JourneyWhy{Origin: "file", Matches: &yes, Reason: `detail-type: "User.Created" matches "User.Created"`}},
		{"changed since", "changed", doc, JourneyWhy{Origin: "api", Matches: &no,
			Reason: `the rule has changed since: it no longer matches: detail-type: "User.Created" is not one of ["User.Updated"]`}},
		{"disabled now", "off", doc, JourneyWhy{Origin: "file", Matches: &yes, Reason: `(the rule is disabled now) detail-type: "User.Created" matches "User.Created"`}},
		{"gone", "removed", doc, JourneyWhy{Reason: `rule "removed" no longer exists`}},
		{"received, the rule does not name received events", "welcome",
			json.RawMessage(`{"detail-type":"User.Created","received":{"app":"bus","appId":"a1"}}`), JourneyWhy{Origin: "file", Matches: &no,
				Reason: `the rule has changed since: it no longer matches: received: the event was received on POST /events (from application "bus"); a pattern that does not name "received" matches only Gatehouse's own events`}},
		{"document pruned", "welcome", nil, JourneyWhy{Origin: "file", Reason: "the event's document was pruned: the match cannot be explained"}},
		{"push in scope", "push:ram", doc, JourneyWhy{Origin: "push", Matches: &yes,
			Reason: "the push of target ram follows the lifecycle events of the accounts in its scope (organizations eng); the account was in scope"}},
		{"push out of scope now", "push:other", doc, JourneyWhy{Origin: "push", Matches: &no,
			Reason: "the push of target other follows the lifecycle events of the accounts in its scope (the whole directory); the scope has changed since: the document no longer matches it"}},
		{"push gone", "push:hook", doc, JourneyWhy{Reason: `rule "push:hook" no longer exists: target "hook" no longer follows a push scope`}},
	} {
		got := run.explainOnce(tt.rule, tt.doc)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestJourneyDeliveryEmail(t *testing.T) {
	run := &journeyRun{rules: map[string]RuleView{}, patterns: map[string]*rules.Pattern{}, bad: map[string]string{}, why: map[string]JourneyWhy{},
		cfg: &events.Config{Targets: map[string]*events.Target{"mail": {Name: "mail", Sender: fakeSender{"resend"}}}}}
	for _, tt := range []struct {
		name    string
		payload string
		state   string
		tries   int
		want    *JourneyEmail
	}{
		{"sent to one", `{"to":"ada@example.com","template":"welcome_new_hire"}`, events.StateDelivered, 1,
			&JourneyEmail{To: []string{"ada@example.com"}, Template: "welcome_new_hire", Outcome: "sent"}},
		{"failed, to two", `{"to":["Ada <ada@example.com>","hr@example.com"]}`, events.StateDead, 3,
			&JourneyEmail{To: []string{"Ada <ada@example.com>", "hr@example.com"}, Outcome: "failed"}},
		{"retrying", `{"to":"a@example.com"}`, events.StatePending, 1, &JourneyEmail{To: []string{"a@example.com"}, Outcome: "retrying"}},
		{"queued", `{"to":"a@example.com"}`, events.StatePending, 0, &JourneyEmail{To: []string{"a@example.com"}, Outcome: "queued"}},
		{"not an email", `"text"`, events.StateDead, 1, &JourneyEmail{To: []string{}, Outcome: "failed"}},
	} {
		d := &events.Delivery{ID: "d", Rule: "gone", Target: "mail", State: tt.state, Attempts: tt.tries, Payload: json.RawMessage(tt.payload)}
		got := run.delivery(d, nil, nil)
		if diff := cmp.Diff(tt.want, got.Email); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestJourneyViewsMatchSchemas: the journey's JSON has the properties the
// OpenAPI document's schemas declare, and no others.
func TestJourneyViewsMatchSchemas(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"Journey": Journey{}, "JourneyUser": JourneyUser{}, "JourneyOrigin": JourneyOrigin{}, "JourneyStep": JourneyStep{},
		"JourneyAudit": JourneyAudit{}, "JourneyEvent": JourneyEvent{}, "JourneyGroup": JourneyGroup{}, "JourneyDelivery": JourneyDelivery{},
		"JourneyWhy": JourneyWhy{}, "JourneyAttempt": JourneyAttempt{}, "JourneyEmail": JourneyEmail{},
	} {
		var declared []string
		for p := range doc.Components.Schemas[name].Properties {
			declared = append(declared, p)
		}
		sort.Strings(declared)
		written := fieldNames(v)
		if !slices.Equal(declared, written) {
			t.Errorf("schema %s declares %v; the view writes %v", name, declared, written)
		}
	}
}

func fieldNames(v any) []string {
	rt := reflect.TypeOf(v)
	var out []string
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "-" && rt.Field(i).IsExported() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// TestJourneyOrigin: the origin is the account's first record; a received
// event never is, whatever it claims.
func TestJourneyOrigin(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	app := directory.Actor{Kind: "app", AppID: "a1", AppName: "okta"}
	bus := directory.Actor{Kind: "app", AppID: "a2", AppName: "bus"}
	created := &directory.EventRecord{Seq: 2, Type: directory.UserCreated, Subject: "users/u1", Time: t0.Add(time.Second), Actor: app}
	updated := &directory.EventRecord{Seq: 3, Type: directory.UserUpdated, Subject: "users/u1", Time: t0.Add(2 * time.Second), Actor: app}
	forged := &directory.EventRecord{Seq: 1, Type: directory.UserCreated, Subject: "users/u1", Time: t0, Actor: bus, Source: "gatehouse"}
	tests := []struct {
		name string
		recs []*directory.EventRecord
		want *JourneyOrigin
	}{
		{"the hub's own User.Created", []*directory.EventRecord{forged, created, updated},
			&JourneyOrigin{Time: created.Time, Action: directory.UserCreated, Actor: app, Via: "application okta", From: "event"}},
		{"pruned: the earliest own record", []*directory.EventRecord{forged, updated},
			&JourneyOrigin{Time: updated.Time, Action: directory.UserUpdated, Actor: app, Via: "application okta", From: "event", Pruned: true}},
		{"only received events", []*directory.EventRecord{forged}, nil},
	}
	for _, tt := range tests {
		got := (&Ops{}).journeyOrigin(context.Background(), nil, tt.recs)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

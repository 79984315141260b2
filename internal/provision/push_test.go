package provision_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/egress"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/scimclient"
)

// server is a real Gatehouse on 127.0.0.1: the hub, or a downstream.
type server struct {
	app   *app.App
	url   string
	token string // a SCIM client's bearer token (strict RFC semantics)
	// clientID and secret: a server application with /acs/scim.
	clientID, secret string
}

func startServer(t *testing.T, profile string) *server {
	t.Helper()
	return startServerWith(t, profile, nil)
}

// startHub starts a hub whose rules file is rules (targets on loopback
// allowed).
func startHub(t *testing.T, rules string) *server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServerWith(t, "", func(c *config.Config) {
		c.Events.RulesFile = path
		c.Events.EgressAllow = []string{"127.0.0.0/8"}
		c.Events.PollInterval = config.Duration(50 * time.Millisecond)
	})
}

func startServerWith(t *testing.T, profile string, mutate func(*config.Config)) *server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SQLiteSynchronous = "NORMAL"
	cfg.Profile = profile
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log, _ := logging.New(io.Discard, logging.Options{Format: "json"})
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	s := &server{app: a, url: "http://" + ln.Addr().String()}
	// Answered once the server serves: its rules are in force by then.
	resp, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	op := directory.Actor{Kind: "cli"}
	bg := context.Background()
	cl, err := a.Auth.CreateApp(bg, op, auth.AppSpec{Name: "pusher", Profile: directory.Profile{TargetOrgID: directory.RootOrgID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, s.token, err = a.Auth.CreateToken(bg, op, cl.ID, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := a.Auth.CreateApp(bg, op, auth.AppSpec{Name: "oauth-pusher", Kind: auth.KindServerApp, Scopes: auth.Scopes{auth.ScopeSCIM},
		Profile: directory.Profile{TargetOrgID: directory.RootOrgID}})
	if err != nil {
		t.Fatal(err)
	}
	sec, secret, err := a.Auth.CreateSecret(bg, op, sa.ID)
	if err != nil {
		t.Fatal(err)
	}
	_ = sec
	s.clientID, s.secret = sa.ID, secret
	return s
}

var hubActor = directory.Actor{Kind: "cli", AppName: "test"}

func (s *server) createOrg(t *testing.T, name string) string {
	t.Helper()
	o, err := s.app.Directory.CreateOrg(context.Background(), hubActor, &directory.Organization{Name: name, ParentID: directory.RootOrgID})
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func (s *server) createUser(t *testing.T, name, org, dept string) *directory.User {
	t.Helper()
	u, _, err := s.app.Directory.CreateUser(context.Background(), hubActor, directory.Profile{TargetOrgID: directory.RootOrgID}, &directory.User{
		UserName: name + "@example.com", DisplayName: strings.ToUpper(name[:1]) + name[1:], Active: true, OrgID: org,
		Attrs: directory.Attrs{
			"emails": []any{map[string]any{"value": name + "@example.com", "type": "work", "primary": true}},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": dept},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// downstream lists the downstream's users by externalId.
func downstream(t *testing.T, c *scimclient.Client) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	err := c.ListUsers(context.Background(), "", func(p *scimclient.Page) error {
		for _, u := range p.Resources {
			key, _ := u["externalId"].(string)
			if key == "" {
				key = "name:" + u["userName"].(string)
			}
			out[key] = u
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type pushEnv struct {
	hub    *server
	client *scimclient.Client
	pusher *provision.Pusher
}

func newPusher(t *testing.T, hub *server, name string, cfg scimclient.Config, mapping string, scope directory.SyncScope, topts scimclient.TargetOptions) *pushEnv {
	t.Helper()
	// The downstreams listen on loopback, which the default policy refuses.
	cfg.HTTPClient = egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client(0)
	c, err := scimclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rules.NewTransformer(rules.TransformSpec{Kind: "template", Template: mapping})
	if err != nil {
		t.Fatal(err)
	}
	b := &events.Builder{Source: "gatehouse", Schemas: hub.app.Schemas, Dir: hub.app.Store}
	docs, err := b.UserDocuments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	links, ok := hub.app.Store.(provision.LinkStore)
	if !ok {
		t.Fatal("the store keeps no links")
	}
	return &pushEnv{hub: hub, client: c, pusher: &provision.Pusher{
		Name: name, Dir: hub.app.Directory, Docs: docs, Map: tr, Target: scimclient.NewTarget(c, topts), Client: c,
		Links: links, Scope: scope, Concurrency: 4,
	}}
}

func run(t *testing.T, p *provision.Pusher, opt provision.PushOptions) *provision.Summary {
	t.Helper()
	sum, err := p.Run(context.Background(), opt)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return sum
}

func wantActions(t *testing.T, what string, sum *provision.Summary, want map[string]int) {
	t.Helper()
	for k, n := range want {
		if sum.Actions[k] != n {
			t.Errorf("%s: %d %s, want %d (summary %+v)", what, sum.Actions[k], k, n, sum.Actions)
		}
	}
	for k, n := range sum.Actions {
		if _, ok := want[k]; !ok && n > 0 {
			t.Errorf("%s: unexpected %d %s (summary %+v)", what, n, k, sum.Actions)
		}
	}
}

const gitbookMapping = `{"userName": "{{email}}", "displayName": "${detail.displayName}", "active": true, "groups": ["{{dept}}-readers"]}`

// TestPushGitBookLike: a push to another Gatehouse acting as GitBook —
// creates, a second push that sends nothing, a change, a department move
// that moves the group, an account leaving the scope (deactivated), a
// downstream account of the target's own (left alone, unless pruned), a
// dry run that writes nothing.
func TestPushGitBookLike(t *testing.T) {
	hub := startServer(t, "")
	gitbook := startServer(t, "")
	eng := hub.createOrg(t, "Engineering")
	sales := hub.createOrg(t, "Sales")
	var users []*directory.User
	for i := range 12 {
		users = append(users, hub.createUser(t, fmt.Sprintf("eng%02d", i), eng, "Engineering"))
	}
	outsider := hub.createUser(t, "sam", sales, "Sales")
	// An account GitBook had before Gatehouse.
	own := map[string]any{"userName": "owner@example.com", "active": true}
	pe := newPusher(t, hub, "gitbook", scimclient.Config{BaseURL: gitbook.url + "/scim/v2", Auth: scimclient.Auth{BearerToken: gitbook.token}, Profile: "gitbook"},
		gitbookMapping, directory.SyncScope{OrgIDs: []string{eng}},
		scimclient.TargetOptions{CreateGroups: true, ManageGroups: true, ManagedGroupPattern: "*-readers"})
	if _, err := pe.client.CreateUser(context.Background(), own); err != nil {
		t.Fatal(err)
	}

	// A dry run plans and changes nothing.
	sum := run(t, pe.pusher, provision.PushOptions{DryRun: true})
	wantActions(t, "dry run", sum, map[string]int{"create": 12})
	if got := downstream(t, pe.client); len(got) != 1 {
		t.Fatalf("the dry run wrote: %d downstream users", len(got))
	}

	sum = run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "first push", sum, map[string]int{"create": 12})
	got := downstream(t, pe.client)
	if len(got) != 13 {
		t.Fatalf("%d downstream users, want 12 + the target's own", len(got))
	}
	for _, u := range users {
		d := got[u.ID]
		if d == nil || d["userName"] != u.UserName || d["active"] != true {
			t.Errorf("downstream %s: %v", u.UserName, d)
			continue
		}
		groups, _ := d["groups"].([]any)
		if len(groups) != 1 || groups[0].(map[string]any)["display"] != "engineering-readers" {
			t.Errorf("downstream %s groups: %v", u.UserName, d["groups"])
		}
	}
	if got[outsider.ID] != nil {
		t.Errorf("an account outside the scope was pushed")
	}

	// Nothing changed: nothing is sent.
	sum = run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "second push", sum, map[string]int{"unchanged": 12})

	// A change, a department move, an account leaving the scope.
	ctx := context.Background()
	if _, err := hub.app.Directory.UpdateUser(ctx, hubActor, directory.Profile{TargetOrgID: directory.RootOrgID}, users[0].ID, nil, func(u *directory.User) error {
		u.DisplayName = "Renamed"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.app.Directory.UpdateUser(ctx, hubActor, directory.Profile{TargetOrgID: directory.RootOrgID}, users[1].ID, nil, func(u *directory.User) error {
		u.Attrs["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"department": "Platform"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.app.Directory.UpdateUser(ctx, hubActor, directory.Profile{TargetOrgID: directory.RootOrgID}, users[2].ID, nil, func(u *directory.User) error {
		u.OrgID = sales
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sum = run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "third push", sum, map[string]int{"update": 2, "unchanged": 9, "deactivate": 1})
	got = downstream(t, pe.client)
	if got[users[0].ID]["displayName"] != "Renamed" {
		t.Errorf("rename not pushed: %v", got[users[0].ID])
	}
	if g, _ := got[users[1].ID]["groups"].([]any); len(g) != 1 || g[0].(map[string]any)["display"] != "platform-readers" {
		t.Errorf("department move: groups %v", got[users[1].ID]["groups"])
	}
	if got[users[2].ID]["active"] != false {
		t.Errorf("the account that left the scope is %v", got[users[2].ID])
	}
	if got["name:owner@example.com"] == nil || got["name:owner@example.com"]["active"] != true {
		t.Errorf("the target's own account was touched: %v", got["name:owner@example.com"])
	}

	// Prune retires accounts no push made and nobody in scope matches.
	pe.pusher.Prune = true
	sum = run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "pruning push", sum, map[string]int{"unchanged": 11, "deactivate": 1})
	if got := downstream(t, pe.client); got["name:owner@example.com"]["active"] != false {
		t.Errorf("prune left the target's own account: %v", got["name:owner@example.com"])
	}
}

// TestPushRAM: a push to the RAM stand-in with RAM's OAuth client
// credentials: four attributes, lower-case names, no groups; leaving the
// scope deletes (RAM has no inactive state); a user with an access key
// cannot be deleted, and the error says so.
func TestPushRAM(t *testing.T) {
	hub := startServer(t, "")
	ram := startServer(t, "ram")
	eng := hub.createOrg(t, "Engineering")
	var users []*directory.User
	for i := range 5 {
		users = append(users, hub.createUser(t, fmt.Sprintf("Dev%d", i), eng, "Engineering"))
	}
	pe := newPusher(t, hub, "ram", scimclient.Config{BaseURL: ram.url, Profile: "ram",
		Auth: scimclient.Auth{TokenURL: ram.url + "/v1/token", ClientID: ram.clientID, ClientSecret: ram.secret, TokenStyle: "ram"}},
		`{"userName": "${detail.userName}", "displayName": "${detail.displayName}"}`, directory.SyncScope{OrgIDs: []string{eng}},
		scimclient.TargetOptions{OnDisable: "delete"})
	// RAM user names have no "@": map the name's local part.
	pe.pusher.Map = localPart{}
	sum := run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "first push", sum, map[string]int{"create": 5})
	got := downstream(t, pe.client)
	for _, u := range users {
		d := got[u.ID]
		want := strings.ToLower(strings.TrimSuffix(u.UserName, "@example.com"))
		if d == nil || d["userName"] != want {
			t.Errorf("RAM user for %s: %v (want userName %q)", u.UserName, d, want)
		}
	}
	// One user leaves the scope; another has an access key and leaves too.
	ctx := context.Background()
	move := func(id string) {
		if _, err := hub.app.Directory.UpdateUser(ctx, hubActor, directory.Profile{TargetOrgID: directory.RootOrgID}, id, nil, func(u *directory.User) error {
			u.OrgID = directory.RootOrgID
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	move(users[0].ID)
	move(users[1].ID)
	ramID := got[users[1].ID]["id"].(string)
	if _, err := ram.app.Admin.AddRAMAccessKey(ctx, hubActor, ramID); err != nil {
		t.Fatal(err)
	}
	sum = run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "second push", sum, map[string]int{"unchanged": 3, "delete": 1, "error": 1})
	got = downstream(t, pe.client)
	if got[users[0].ID] != nil || got[users[1].ID] == nil {
		t.Errorf("after the push: %v", got)
	}
	// The failed one is tried again at the next push, and succeeds once
	// the key is gone.
	keys, _ := ram.app.Admin.RAMAccessKeys(ctx, ramID)
	if err := ram.app.Admin.DeleteRAMAccessKey(ctx, hubActor, ramID, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	sum = run(t, pe.pusher, provision.PushOptions{})
	wantActions(t, "third push", sum, map[string]int{"unchanged": 3, "delete": 1})
}

// localPart maps a user to RAM's attributes with the local part of the
// user name (RAM user names have no "@").
type localPart struct{}

func (localPart) Apply(doc []byte) ([]byte, error) {
	var ev struct {
		Detail struct {
			UserName    string `json:"userName"`
			DisplayName string `json:"displayName"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(doc, &ev); err != nil {
		return nil, err
	}
	local, _, _ := strings.Cut(ev.Detail.UserName, "@")
	return json.Marshal(map[string]any{"userName": local, "displayName": ev.Detail.DisplayName})
}

// TestPushFlakyTargetResumes: a target that answers 429 and 503 now and
// then and has no PATCH; a push cut short resumes where it stopped.
func TestPushFlakyTargetResumes(t *testing.T) {
	hub := startServer(t, "")
	target := startServer(t, "")
	for i := range 60 {
		hub.createUser(t, fmt.Sprintf("u%02d", i), directory.RootOrgID, "Ops")
	}
	up, _ := url.Parse(target.url)
	proxy := httputil.NewSingleHostReverseProxy(up)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // the cut push cancels requests
	var n atomic.Int64
	var patches atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			patches.Add(1)
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig") {
			w.Header().Set("Content-Type", "application/scim+json")
			io.WriteString(w, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],"patch":{"supported":false},"filter":{"supported":true,"maxResults":100},"bulk":{"supported":false},"sort":{"supported":false},"etag":{"supported":false},"changePassword":{"supported":false}}`)
			return
		}
		// Two of every seven requests fail, whichever request they are:
		// with 25 retries a request fails for good with odds of (2/7)^26.
		switch n.Add(1) % 7 {
		case 3:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		case 5:
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	pe := newPusher(t, hub, "flaky", scimclient.Config{BaseURL: flaky.URL + "/scim/v2", Auth: scimclient.Auth{BearerToken: target.token},
		MaxRetries: 25, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		`{"userName": "${detail.userName}", "displayName": "${detail.displayName}", "active": true}`, directory.SyncScope{}, scimclient.TargetOptions{})

	// Cut the first push short after 20 accounts.
	ctx, cancel := context.WithCancel(context.Background())
	var done atomic.Int64
	_, err := pe.pusher.Run(ctx, provision.PushOptions{Progress: func(it provision.Item) {
		if done.Add(1) == 20 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("the cut push reported success")
	}
	sum := run(t, pe.pusher, provision.PushOptions{Progress: func(it provision.Item) {
		if it.Action == "error" {
			t.Logf("resumed push: %s: %s", it.UserName, it.Error)
		}
	}})
	if sum.Actions["create"]+sum.Actions["update"] >= 60 || sum.Actions["unchanged"] < 15 || sum.Errors > 0 {
		t.Errorf("the resumed push redid the work or failed: %+v", sum.Actions)
	}
	if got := downstream(t, pe.client); len(got) != 60 {
		t.Errorf("%d downstream users, want 60", len(got))
	}
	// A change goes by PUT: the target has no PATCH.
	sum = run(t, pe.pusher, provision.PushOptions{Full: true})
	if sum.Errors > 0 || patches.Load() > 0 {
		t.Errorf("full push: %+v, %d PATCH requests", sum.Actions, patches.Load())
	}
}

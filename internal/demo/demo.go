// Package demo runs the onboarding scenario of the seeds on one machine,
// with real parts talking real protocols on loopback: the hub, a Gatehouse
// acting as Alibaba Cloud RAM (the RAM profile), one acting as GitBook, and
// an SMTP server; the rules are examples/onboarding/rules.yaml. The hub gets
// new hires over SCIM, as from an upstream IdP or HR system, and the demo
// watches the three effects of each — the welcome email received, the RAM
// account, the GitBook account in its {dept}-readers group — and how long
// each took. gatehouse demo and the end-to-end test both use it.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	gatehouse "github.com/gatehouse-id/gatehouse"
	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// Options configure an environment.
type Options struct {
	// Dir holds the three databases and the rules file (default: a new
	// temporary directory, removed by Close).
	Dir string
	// Log receives the servers' logs (default: discarded).
	Log *slog.Logger
	// Durable makes the databases fsync every commit (synchronous=FULL,
	// Gatehouse's default); the demo otherwise uses NORMAL, which survives
	// a crash of the process but not of the machine.
	Durable bool
}

// Env is the running scenario.
type Env struct {
	Hub, RAM, GitBook *Server
	// GitBookSAML is GitBook's SAML side (saml.go): the documentation the
	// new hire reaches through SAML, registered at the hub by FirstSignIn.
	GitBookSAML *GitBookSP
	Mail        *Mailbox
	// HRToken is the bearer token of the hub's SCIM client ("hr").
	HRToken string
	// RAM's OAuth application, and GitBook's token for the hub.
	RAMClientID, RAMSecret, GitBookToken string

	dir     string
	ownDir  bool
	servers []*Server
	client  *http.Client
}

// Server is one Gatehouse serving on loopback.
type Server struct {
	App    *app.App
	URL    string
	cancel context.CancelFunc
	done   chan error
}

var operator = directory.Actor{Kind: "cli", AppName: "demo"}

// Start brings the scenario up.
func Start(ctx context.Context, opt Options) (env *Env, err error) {
	e := &Env{dir: opt.Dir, client: &http.Client{Timeout: 30 * time.Second}}
	if e.dir == "" {
		if e.dir, err = os.MkdirTemp("", "gatehouse-demo-"); err != nil {
			return nil, err
		}
		e.ownDir = true
	}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sync := "NORMAL"
	if opt.Durable {
		sync = "FULL"
	}
	if e.Mail, err = startMailbox(); err != nil {
		return nil, fmt.Errorf("smtp server: %w", err)
	}

	// The RAM stand-in, with an OAuth application that has /acs/scim.
	if e.RAM, err = e.serve(ctx, log, func(c *config.Config) {
		c.Profile = "ram"
		c.DataDir = filepath.Join(e.dir, "ram")
		c.SQLiteSynchronous = sync
	}); err != nil {
		return nil, fmt.Errorf("RAM stand-in: %w", err)
	}
	ramApp, err := e.RAM.App.Auth.CreateApp(ctx, operator, auth.AppSpec{Name: "idaas-push", Kind: auth.KindServerApp,
		Scopes: auth.Scopes{auth.ScopeSCIM}, Profile: directory.Profile{TargetOrgID: directory.RootOrgID}})
	if err != nil {
		return nil, err
	}
	if _, e.RAMSecret, err = e.RAM.App.Auth.CreateSecret(ctx, operator, ramApp.ID); err != nil {
		return nil, err
	}
	e.RAMClientID = ramApp.ID

	// GitBook: another Gatehouse, strict RFC semantics for its SCIM client.
	if e.GitBook, err = e.serve(ctx, log, func(c *config.Config) { c.DataDir = filepath.Join(e.dir, "gitbook"); c.SQLiteSynchronous = sync }); err != nil {
		return nil, fmt.Errorf("GitBook stand-in: %w", err)
	}
	gb, err := e.GitBook.App.Auth.CreateApp(ctx, operator, auth.AppSpec{Name: "gatehouse-hub", Profile: directory.Profile{TargetOrgID: directory.RootOrgID}})
	if err != nil {
		return nil, err
	}
	if _, e.GitBookToken, err = e.GitBook.App.Auth.CreateToken(ctx, operator, gb.ID, 0); err != nil {
		return nil, err
	}

	// The hub, with the seeds' rules (examples/onboarding/rules.yaml),
	// whose settings come from the environment.
	for k, v := range map[string]string{
		"SMTP_HOST": e.Mail.Host, "GITBOOK_SCIM_URL": e.GitBook.URL + "/scim/v2", "GITBOOK_SCIM_TOKEN": e.GitBookToken,
		"RAM_SCIM_URL": e.RAM.URL, "RAM_TOKEN_URL": e.RAM.URL + "/v1/token", "RAM_CLIENT_ID": e.RAMClientID, "RAM_CLIENT_SECRET": e.RAMSecret,
	} {
		os.Setenv(k, v)
	}
	rules := bytes.Replace(gatehouse.OnboardingRules, []byte("port: 25"), []byte(fmt.Sprintf("port: %d", e.Mail.Port)), 1)
	rulesFile := filepath.Join(e.dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, rules, 0o600); err != nil {
		return nil, err
	}
	if e.Hub, err = e.serve(ctx, log, func(c *config.Config) {
		c.DataDir = filepath.Join(e.dir, "hub")
		c.SQLiteSynchronous = sync
		c.Events.Source = "com.alibabacloud.idaas"
		c.Events.RulesFile = rulesFile
		c.Events.EgressAllow = []string{"127.0.0.0/8"}
		c.Events.PollInterval = config.Duration(50 * time.Millisecond)
		// People sign in at the hub (signin.go): over http on loopback,
		// her department's group needing two factors.
		c.Login.InsecureDevCookies = true
		c.Login.GroupFactors = map[string]int{TwoFactorGroup: 2}
	}); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	// The company: the welcome email names it.
	if _, err := e.Hub.App.Directory.UpdateOrg(ctx, operator, directory.RootOrgID, func(o *directory.Organization) error {
		o.Name = "Example Corp"
		return nil
	}); err != nil {
		return nil, err
	}
	hr, err := e.Hub.App.Auth.CreateApp(ctx, operator, auth.AppSpec{Name: "hr", Profile: directory.IDaaSProfile()})
	if err != nil {
		return nil, err
	}
	if _, e.HRToken, err = e.Hub.App.Auth.CreateToken(ctx, operator, hr.ID, 0); err != nil {
		return nil, err
	}
	return e, nil
}

// serve starts a Gatehouse on 127.0.0.1:0.
func (e *Env) serve(ctx context.Context, log *slog.Logger, mutate func(*config.Config)) (*Server, error) {
	cfg := config.Default()
	mutate(&cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a, err := app.New(sctx, cfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		return nil, err
	}
	s := &Server{App: a, URL: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.Serve(sctx, ln) }()
	e.servers = append(e.servers, s)
	return s, nil
}

// Close stops everything and removes the demo's directory (if it made it).
func (e *Env) Close() {
	if e.GitBookSAML != nil {
		e.GitBookSAML.Close()
		e.GitBookSAML = nil
	}
	for i := len(e.servers) - 1; i >= 0; i-- {
		s := e.servers[i]
		s.cancel()
		<-s.done
		s.App.Close()
	}
	e.servers = nil
	if e.Mail != nil {
		e.Mail.close()
	}
	if e.ownDir {
		os.RemoveAll(e.dir)
	}
}

// Hire is a new hire, as the upstream system sends it.
type Hire struct {
	GivenName, FamilyName, Email, Department string
	// StartsLater: the account is created disabled, to be enabled on the
	// start date (Active Directory's "create disabled, enable on the start
	// date").
	StartsLater bool
}

// Account is the RAM user name a hire gets: the email's local part.
func (h Hire) Account() string {
	return events.Account(h.Email)
}

// ReadersGroup is the GitBook group of the hire's department.
func (h Hire) ReadersGroup() string { return events.Slug(h.Department) + "-readers" }

// scim sends a SCIM request to the hub as its upstream client.
func (e *Env) scim(ctx context.Context, method, path string, body any) (map[string]any, error) {
	return e.call(ctx, method, e.Hub.URL+"/scim/v2"+path, e.HRToken, body)
}

func (e *Env) call(ctx context.Context, method, u, token string, body any) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	if resp.StatusCode >= 300 {
		return doc, fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return doc, nil
}

// Create sends a new hire to the hub (POST /Users) and returns its id and
// when the hub created it.
func (e *Env) Create(ctx context.Context, h Hire) (string, time.Time, error) {
	doc, err := e.scim(ctx, http.MethodPost, "/Users", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"userName":    h.Email,
		"displayName": h.GivenName + " " + h.FamilyName,
		"name":        map[string]any{"givenName": h.GivenName, "familyName": h.FamilyName},
		"emails":      []any{map[string]any{"value": h.Email, "type": "work", "primary": true}},
		"active":      !h.StartsLater,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": h.Department},
	})
	if err != nil {
		return "", time.Time{}, err
	}
	id, _ := doc["id"].(string)
	return id, metaTime(doc, "created"), nil
}

func metaTime(doc map[string]any, key string) time.Time {
	meta, _ := doc["meta"].(map[string]any)
	s, _ := meta[key].(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Effects are a new hire's three effects, each with when it was done by
// the system that did it: the SMTP server's receipt, RAM's and GitBook's
// own timestamps.
type Effects struct {
	Created   time.Time // the hub created the account
	Email     time.Time // the SMTP server received the welcome email
	RAM       time.Time // RAM created the account
	GitBook   time.Time // GitBook has the account in its group
	Mail      Mail
	RAMID     string
	GitBookID string
}

// Done is when the last effect was done.
func (f *Effects) Done() time.Time {
	return maxTime(f.Email, f.RAM, f.GitBook)
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// WaitEffects waits until a hire created at the hub (at created) has its
// three effects.
func (e *Env) WaitEffects(ctx context.Context, h Hire, created time.Time) (*Effects, error) {
	f := &Effects{Created: created}
	err := Wait(ctx, func() (bool, error) {
		if f.Email.IsZero() {
			if m, ok := e.Mail.For(h.Email); ok {
				f.Email, f.Mail = m.Received, m
			}
		}
		if f.RAM.IsZero() {
			u, err := e.RAMUser(ctx, h.Account())
			if err != nil {
				return false, err
			}
			if u != nil {
				f.RAM, f.RAMID = metaTime(u, "created"), u["id"].(string)
			}
		}
		if f.GitBook.IsZero() {
			u, err := e.GitBookUser(ctx, strings.ToLower(h.Email))
			if err != nil {
				return false, err
			}
			if u != nil && slices.Contains(GroupsOf(u), h.ReadersGroup()) {
				f.GitBook, f.GitBookID = metaTime(u, "lastModified"), u["id"].(string)
			}
		}
		return !f.Email.IsZero() && !f.RAM.IsZero() && !f.GitBook.IsZero(), nil
	})
	return f, err
}

// Disable deactivates a user at the hub as Okta does (PATCH active=false).
func (e *Env) Disable(ctx context.Context, id string) error { return e.setActive(ctx, id, false) }

// Enable activates a user at the hub (PATCH active=true): the start date
// of a hire created disabled, or a return.
func (e *Env) Enable(ctx context.Context, id string) error { return e.setActive(ctx, id, true) }

func (e *Env) setActive(ctx context.Context, id string, active bool) error {
	_, err := e.scim(ctx, http.MethodPatch, "/Users/"+url.PathEscape(id), map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": active}}},
	})
	return err
}

// Settled waits until the hub has dispatched the user's latest event of
// type typ and each of its deliveries is finished (delivered or dead),
// and returns them: after that, nothing more comes of the event.
func (e *Env) Settled(ctx context.Context, id, typ string) ([]admin.JourneyDelivery, error) {
	var out []admin.JourneyDelivery
	err := Wait(ctx, func() (bool, error) {
		j, err := e.Hub.App.Admin.Journey(ctx, id)
		if err != nil {
			return false, err
		}
		var last *admin.JourneyEvent
		for _, s := range j.Steps {
			if s.Event != nil && s.Event.Type == typ {
				last = s.Event
			}
		}
		if last == nil || last.Document == "pending" {
			return false, nil
		}
		for _, d := range last.Deliveries {
			if d.State != events.StateDelivered && d.State != events.StateDead {
				return false, nil
			}
		}
		out = last.Deliveries
		return true, nil
	})
	return out, err
}

// Move changes a user's department at the hub (PATCH).
func (e *Env) Move(ctx context.Context, id, department string) error {
	_, err := e.scim(ctx, http.MethodPatch, "/Users/"+url.PathEscape(id), map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace",
			"path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": department}},
	})
	return err
}

// RAMUser returns the RAM stand-in's user of that name (nil: none).
func (e *Env) RAMUser(ctx context.Context, userName string) (map[string]any, error) {
	tok, err := e.ramToken(ctx)
	if err != nil {
		return nil, err
	}
	return e.first(e.call(ctx, http.MethodGet, e.RAM.URL+"/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), tok, nil))
}

// GitBookUser returns the GitBook stand-in's user of that name (nil: none).
func (e *Env) GitBookUser(ctx context.Context, userName string) (map[string]any, error) {
	return e.first(e.call(ctx, http.MethodGet, e.GitBook.URL+"/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), e.GitBookToken, nil))
}

func (e *Env) first(doc map[string]any, err error) (map[string]any, error) {
	if err != nil {
		return nil, err
	}
	list, _ := doc["Resources"].([]any)
	if len(list) == 0 {
		return nil, nil
	}
	u, _ := list[0].(map[string]any)
	return u, nil
}

// GroupsOf lists the display names of a GitBook user's groups.
func GroupsOf(u map[string]any) []string {
	var out []string
	list, _ := u["groups"].([]any)
	for _, g := range list {
		if m, ok := g.(map[string]any); ok {
			if d, ok := m["display"].(string); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// ramToken asks the RAM stand-in for an access token exactly as
// ram-scim-oauth.txt does.
func (e *Env) ramToken(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		e.RAM.URL+"/v1/token?grant_type=client_credentials&client_id="+url.QueryEscape(e.RAMClientID), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(e.RAMClientID, e.RAMSecret)
	resp, err := e.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("RAM token: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken, nil
}

// Wait polls cond until it holds or ctx ends (a bound on liveness, not a
// measure: latencies come from the hub's records and the mailbox).
func Wait(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ---- the SMTP server

// Mailbox is an SMTP server on loopback that keeps what it receives.
type Mailbox struct {
	Host string
	Port int
	srv  *smtp.Server

	mu   sync.Mutex
	msgs []Mail
	wake chan struct{}
}

// Mail is a received message.
type Mail struct {
	From     string
	To       []string
	Data     string
	Received time.Time
}

func startMailbox() (*Mailbox, error) {
	m := &Mailbox{wake: make(chan struct{})}
	m.srv = smtp.NewServer(m)
	m.srv.Domain = "localhost"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 30*time.Second, 30*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().(*net.TCPAddr)
	m.Host, m.Port = "127.0.0.1", addr.Port
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

func (m *Mailbox) close() { _ = m.srv.Close() }

// Messages returns what was received so far.
func (m *Mailbox) Messages() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.msgs...)
}

// For returns the first message to rcpt, if one arrived.
func (m *Mailbox) For(rcpt string) (Mail, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, msg := range m.msgs {
		for _, to := range msg.To {
			if strings.EqualFold(to, rcpt) {
				return msg, true
			}
		}
	}
	return Mail{}, false
}

// NewSession implements smtp.Backend.
func (m *Mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{m: m}, nil }

type session struct {
	m    *Mailbox
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 10<<20))
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, Mail{From: s.from, To: s.to, Data: string(b), Received: time.Now()})
	s.m.mu.Unlock()
	return nil
}

// listAll reads every user of a SCIM endpoint (base: ".../Users"), 100 per
// page.
func (e *Env) listAll(ctx context.Context, base, token string) ([]map[string]any, error) {
	var out []map[string]any
	for start := 1; ; start += 100 {
		doc, err := e.call(ctx, http.MethodGet, fmt.Sprintf("%s?startIndex=%d&count=100", base, start), token, nil)
		if err != nil {
			return nil, err
		}
		list, _ := doc["Resources"].([]any)
		for _, r := range list {
			if m, ok := r.(map[string]any); ok {
				out = append(out, m)
			}
		}
		total, _ := doc["totalResults"].(float64)
		if len(list) == 0 || len(out) >= int(total) {
			return out, nil
		}
	}
}

// CollectEffects waits until every hire has its three effects and reads
// when each was done from the three systems' own records, reading each
// system in bulk (polling each hire would load the machine it measures).
func (e *Env) CollectEffects(ctx context.Context, hires []Hire, created []time.Time) ([]*Effects, error) {
	n := len(hires)
	byName := map[string]int{}
	out := make([]*Effects, n)
	for i, h := range hires {
		byName[strings.ToLower(h.Email)] = i
		byName[h.Account()] = i
		out[i] = &Effects{Created: created[i]}
	}
	pending := n * 3
	err := Wait(ctx, func() (bool, error) {
		for _, m := range e.Mail.Messages() {
			for _, to := range m.To {
				if i, ok := byName[strings.ToLower(to)]; ok && out[i].Email.IsZero() {
					out[i].Email, out[i].Mail = m.Received, m
					pending--
				}
			}
		}
		tok, err := e.ramToken(ctx)
		if err != nil {
			return false, err
		}
		ram, err := e.listAll(ctx, e.RAM.URL+"/Users", tok)
		if err != nil {
			return false, err
		}
		for _, u := range ram {
			name, _ := u["userName"].(string)
			if i, ok := byName[name]; ok && out[i].RAM.IsZero() {
				out[i].RAM, out[i].RAMID = metaTime(u, "created"), u["id"].(string)
				pending--
			}
		}
		gb, err := e.listAll(ctx, e.GitBook.URL+"/scim/v2/Users", e.GitBookToken)
		if err != nil {
			return false, err
		}
		for _, u := range gb {
			name, _ := u["userName"].(string)
			if i, ok := byName[name]; ok && out[i].GitBook.IsZero() && slices.Contains(GroupsOf(u), hires[i].ReadersGroup()) {
				out[i].GitBook, out[i].GitBookID = metaTime(u, "lastModified"), u["id"].(string)
				pending--
			}
		}
		if pending == 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		return false, nil
	})
	return out, err
}

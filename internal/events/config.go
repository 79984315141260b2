package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/scimclient"
	"github.com/gatehouse-id/gatehouse/internal/targets"
)

// The rules file: targets and the rules that route events to them, as
// code (YAML), reloaded on SIGHUP. See docs/events.md.
//
//	targets:
//	  welcome-email:
//	    resend: {api_key: "${env:RESEND_API_KEY}", from: "Onboarding <hello@example.com>"}
//	rules:
//	  - name: welcome
//	    pattern: {"source": ["com.alibabacloud.idaas"], "detail-type": ["User.Created"]}
//	    targets:
//	      - target: welcome-email
//	        payload: {"to": "${detail.email}", "template": "welcome_new_hire"}

// File is the rules file as written.
type File struct {
	Targets map[string]TargetSpec `yaml:"targets"`
	Rules   []RuleSpec            `yaml:"rules"`
}

// RuleSpec is one rule.
type RuleSpec struct {
	Name        string      `yaml:"name" json:"name"`
	Description string      `yaml:"description" json:"description,omitempty"`
	Pattern     any         `yaml:"pattern" json:"pattern"`
	Targets     []RouteSpec `yaml:"targets" json:"targets"`
	Disabled    bool        `yaml:"disabled" json:"disabled,omitempty"`
}

// RouteSpec sends a rule's events to a target.
type RouteSpec struct {
	Target string `yaml:"target" json:"target"`
	// Payload is a template (JSON or text) with ${…} and {{…}}
	// placeholders; Transform is the general form. Neither: the whole
	// event.
	Payload   any            `yaml:"payload" json:"payload,omitempty"`
	Transform *TransformSpec `yaml:"transform" json:"transform,omitempty"`
}

// TransformSpec is Alibaba EventBridge's transformer: one of path,
// constant, or template (with vars).
type TransformSpec struct {
	Path     string            `yaml:"path" json:"path,omitempty"`
	Constant any               `yaml:"constant" json:"constant,omitempty"`
	Template any               `yaml:"template" json:"template,omitempty"`
	Vars     map[string]string `yaml:"vars" json:"vars,omitempty"`
}

// TargetSpec configures a target: exactly one kind, and a policy.
type TargetSpec struct {
	Webhook     *WebhookSpec     `yaml:"webhook"`
	Resend      *ResendSpec      `yaml:"resend"`
	SMTP        *SMTPSpec        `yaml:"smtp"`
	SCIM        *SCIMSpec        `yaml:"scim"`
	EventBridge *EventBridgeSpec `yaml:"eventbridge"`
	Policy      PolicySpec       `yaml:"policy"`
}

// WebhookSpec configures a Standard Webhooks endpoint.
type WebhookSpec struct {
	URL     string            `yaml:"url"`
	Secrets []string          `yaml:"secrets"`
	Headers map[string]string `yaml:"headers"`
}

// ResendSpec configures email through Resend.
type ResendSpec struct {
	BaseURL   string  `yaml:"base_url"`
	APIKey    string  `yaml:"api_key"`
	From      string  `yaml:"from"`
	Locale    string  `yaml:"locale"`
	RateLimit float64 `yaml:"rate_limit"`
	TargetID  string  `yaml:"idempotency_id"`
}

// SMTPSpec configures email through an SMTP server.
type SMTPSpec struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	TLS      string `yaml:"tls"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	From     string `yaml:"from"`
	Helo     string `yaml:"helo"`
	Locale   string `yaml:"locale"`
}

// SCIMSpec configures a downstream SCIM service.
type SCIMSpec struct {
	BaseURL      string  `yaml:"base_url"`
	Profile      string  `yaml:"profile"`
	Token        string  `yaml:"token"`
	TokenURL     string  `yaml:"token_url"`
	ClientID     string  `yaml:"client_id"`
	ClientSecret string  `yaml:"client_secret"`
	TokenStyle   string  `yaml:"token_style"`
	Scope        string  `yaml:"scope"`
	RateLimit    float64 `yaml:"rate_limit"`
	CreateGroups *bool   `yaml:"create_groups"`
	ManageGroups bool    `yaml:"manage_groups"`
	ManagedGroup string  `yaml:"managed_groups"`
	OnDelete     string  `yaml:"on_delete"`
	OnDisable    string  `yaml:"on_disable"`
}

// EventBridgeSpec configures Alibaba Cloud EventBridge.
type EventBridgeSpec struct {
	Endpoint        string `yaml:"endpoint"`
	AccessKeyID     string `yaml:"access_key_id"`
	AccessKeySecret string `yaml:"access_key_secret"`
	SecurityToken   string `yaml:"security_token"`
	EventBus        string `yaml:"event_bus"`
	Source          string `yaml:"source"`
}

// PolicySpec configures delivery to a target.
type PolicySpec struct {
	Schedule        []string `yaml:"schedule"`
	Jitter          *float64 `yaml:"jitter"`
	Concurrency     int      `yaml:"concurrency"`
	Rate            float64  `yaml:"rate"`
	Ordered         *bool    `yaml:"ordered"`
	Timeout         string   `yaml:"timeout"`
	BreakerFailures int      `yaml:"breaker_failures"`
	BreakerCooldown string   `yaml:"breaker_cooldown"`
}

// Env is what building targets may use from outside: the environment
// (for ${env:NAME}), the egress policy and the email templates.
type Env struct {
	Getenv    func(string) string
	Egress    targets.Egress
	Templates *targets.Templates
	UserAgent string
}

// ConfigError is a refused rules file: every problem, each with its line.
type ConfigError struct {
	File     string
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid rules file " + e.File + ":\n  - " + strings.Join(e.Problems, "\n  - ")
}

// LoadFile reads and checks a rules file and builds its configuration.
func LoadFile(path string, env Env) (*Config, *File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read rules file: %w", err)
	}
	return Parse(path, b, env)
}

// Parse checks a rules file's text and builds its configuration.
func Parse(name string, src []byte, env Env) (*Config, *File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, nil, &ConfigError{File: name, Problems: []string{err.Error()}}
	}
	if len(root.Content) == 0 {
		return &Config{Routes: map[string][]Route{}, Targets: map[string]*Target{}}, &File{}, nil
	}
	var f File
	dec := root.Content[0]
	if err := strictDecode(dec, &f); err != nil {
		return nil, nil, &ConfigError{File: name, Problems: []string{err.Error()}}
	}
	cfg, problems := Build(&f, env, lines(dec))
	if len(problems) > 0 {
		return nil, nil, &ConfigError{File: name, Problems: problems}
	}
	return cfg, &f, nil
}

// strictDecode decodes refusing unknown keys.
func strictDecode(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// lineIndex finds the line of a path ("rules[2].pattern", "targets.hook").
type lineIndex func(path string) int

func lines(root *yaml.Node) lineIndex {
	return func(path string) int {
		n := root
		for _, part := range splitPath(path) {
			if n == nil {
				return 0
			}
			switch n.Kind {
			case yaml.MappingNode:
				var next *yaml.Node
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == part {
						next = n.Content[i+1]
						break
					}
				}
				n = next
			case yaml.SequenceNode:
				var idx int
				if _, err := fmt.Sscanf(part, "%d", &idx); err != nil || idx >= len(n.Content) {
					return 0
				}
				n = n.Content[idx]
			default:
				return n.Line
			}
		}
		if n == nil {
			return 0
		}
		return n.Line
	}
}

func splitPath(p string) []string {
	p = strings.ReplaceAll(p, "[", ".")
	p = strings.ReplaceAll(p, "]", "")
	return strings.Split(p, ".")
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)

// Build turns a parsed file into a configuration, collecting every
// problem. lineOf, when set, adds the line of each problem.
func Build(f *File, env Env, lineOf lineIndex) (*Config, []string) {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	var problems []string
	at := func(path, format string, args ...any) {
		msg := path + ": " + fmt.Sprintf(format, args...)
		if lineOf != nil {
			if l := lineOf(path); l > 0 {
				msg = fmt.Sprintf("line %d: %s", l, msg)
			}
		}
		problems = append(problems, msg)
	}
	expand := func(path, s string) string {
		return envRef.ReplaceAllStringFunc(s, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v := env.Getenv(name)
			if v == "" {
				at(path, "the environment variable %s is not set", name)
			}
			return v
		})
	}
	cfg := &Config{Routes: map[string][]Route{}, Targets: map[string]*Target{}}
	names := make([]string, 0, len(f.Targets))
	for n := range f.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		spec := f.Targets[name]
		path := "targets." + name
		if !validName(name) {
			at(path, "a target name has 1 to 64 letters, digits, '-', '_' or '.'")
			continue
		}
		pol, err := spec.Policy.policy()
		if err != nil {
			at(path+".policy", "%v", err)
			continue
		}
		sender, err := buildSender(name, spec, env, func(s string) string { return expand(path, s) }, pol)
		if err != nil {
			at(path, "%v", err)
			continue
		}
		cfg.Targets[name] = &Target{Name: name, Sender: sender, Policy: pol}
	}
	patterns := map[string]*rules.Pattern{}
	for i, r := range f.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		if !validName(r.Name) {
			at(path+".name", "a rule needs a name of 1 to 64 letters, digits, '-', '_' or '.'")
			continue
		}
		if _, dup := patterns[r.Name]; dup {
			at(path+".name", "rule %q is defined twice", r.Name)
			continue
		}
		p, routes, errs := CompileRule(&r, f.Targets)
		for _, e := range errs {
			at(path+e.path, "%s", e.msg)
		}
		if len(errs) > 0 || r.Disabled {
			continue
		}
		patterns[r.Name] = p
		cfg.Routes[r.Name] = routes
	}
	if len(problems) > 0 {
		return nil, problems
	}
	m, err := rules.Compile(patterns)
	if err != nil {
		return nil, []string{err.Error()}
	}
	cfg.Matcher = m
	return cfg, nil
}

type ruleProblem struct{ path, msg string }

// CompileRule checks one rule: its pattern and its routes (targets must
// be among known, when known is not nil).
func CompileRule(r *RuleSpec, known map[string]TargetSpec) (*rules.Pattern, []Route, []ruleProblem) {
	var errs []ruleProblem
	src, err := json.Marshal(jsonable(r.Pattern))
	var p *rules.Pattern
	switch {
	case r.Pattern == nil:
		errs = append(errs, ruleProblem{".pattern", "a rule needs a pattern"})
	case err != nil:
		errs = append(errs, ruleProblem{".pattern", err.Error()})
	default:
		if s, ok := r.Pattern.(string); ok {
			src = []byte(s) // a pattern written as a JSON string
		}
		if p, err = rules.ParsePattern(src); err != nil {
			var pe *rules.PatternError
			if errors.As(err, &pe) {
				errs = append(errs, ruleProblem{".pattern", "at " + pe.Path + ": " + pe.Msg})
			} else {
				errs = append(errs, ruleProblem{".pattern", err.Error()})
			}
		}
	}
	if len(r.Targets) == 0 {
		errs = append(errs, ruleProblem{".targets", "a rule needs at least one target"})
	}
	var routes []Route
	for j, rt := range r.Targets {
		path := fmt.Sprintf(".targets[%d]", j)
		if known != nil {
			if _, ok := known[rt.Target]; !ok {
				errs = append(errs, ruleProblem{path + ".target", fmt.Sprintf("no target named %q", rt.Target)})
				continue
			}
		}
		tr, err := rt.transformer()
		if err != nil {
			errs = append(errs, ruleProblem{path, err.Error()})
			continue
		}
		routes = append(routes, Route{Target: rt.Target, Transform: tr})
	}
	return p, routes, errs
}

// jsonable converts what YAML decoded (map[string]any with any keys) to
// what encoding/json encodes.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = jsonable(v)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[fmt.Sprint(k)] = jsonable(v)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = jsonable(v)
		}
		return out
	}
	return v
}

func (rt *RouteSpec) transformer() (Transformer, error) {
	if rt.Payload != nil && rt.Transform != nil {
		return nil, errors.New("give payload or transform, not both")
	}
	if rt.Payload != nil {
		return templateTransformer(rt.Payload, nil)
	}
	if rt.Transform == nil {
		return nil, nil // the whole event
	}
	t := rt.Transform
	n := 0
	for _, set := range []bool{t.Path != "", t.Constant != nil, t.Template != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("a transform is one of path, constant or template")
	}
	switch {
	case t.Path != "":
		return rules.NewTransformer(rules.TransformSpec{Kind: "path", Path: t.Path})
	case t.Constant != nil:
		v, err := textOrJSON(t.Constant)
		if err != nil {
			return nil, err
		}
		return rules.NewTransformer(rules.TransformSpec{Kind: "constant", Value: v})
	}
	return templateTransformer(t.Template, t.Vars)
}

func templateTransformer(tpl any, vars map[string]string) (Transformer, error) {
	text, err := textOrJSON(tpl)
	if err != nil {
		return nil, err
	}
	return rules.NewTransformer(rules.TransformSpec{Kind: "template", Template: text, Vars: vars})
}

// textOrJSON: a string stays as written; a YAML mapping or list becomes
// its JSON.
func textOrJSON(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(jsonable(v))
	return string(b), err
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func validName(s string) bool { return nameRE.MatchString(s) }

func (p PolicySpec) policy() (Policy, error) {
	pol := DefaultPolicy()
	if len(p.Schedule) > 0 {
		pol.Schedule = nil
		for _, s := range p.Schedule {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return pol, fmt.Errorf("schedule: %q is not a positive duration", s)
			}
			pol.Schedule = append(pol.Schedule, d)
		}
	}
	if p.Jitter != nil {
		if *p.Jitter < 0 || *p.Jitter > 1 {
			return pol, errors.New("jitter must be between 0 and 1")
		}
		pol.Jitter = *p.Jitter
	}
	if p.Concurrency < 0 || p.Concurrency > 256 {
		return pol, errors.New("concurrency must be between 1 and 256")
	}
	if p.Concurrency > 0 {
		pol.Concurrency = p.Concurrency
	}
	if p.Rate < 0 {
		return pol, errors.New("rate must not be negative")
	}
	pol.Rate = p.Rate
	if p.Ordered != nil {
		pol.Ordered = *p.Ordered
	}
	if p.Timeout != "" {
		d, err := time.ParseDuration(p.Timeout)
		if err != nil || d <= 0 || d > 5*time.Minute {
			return pol, errors.New("timeout must be a duration up to 5m")
		}
		pol.Timeout = d
	}
	if p.BreakerFailures < 0 {
		return pol, errors.New("breaker_failures must not be negative")
	}
	if p.BreakerFailures > 0 {
		pol.BreakerFailures = p.BreakerFailures
	}
	if p.BreakerCooldown != "" {
		d, err := time.ParseDuration(p.BreakerCooldown)
		if err != nil || d <= 0 {
			return pol, errors.New("breaker_cooldown must be a positive duration")
		}
		pol.BreakerCooldown = d
	}
	return pol, nil
}

// buildSender makes the target of spec.
func buildSender(name string, spec TargetSpec, env Env, expand func(string) string, pol Policy) (Sender, error) {
	kinds := 0
	for _, set := range []bool{spec.Webhook != nil, spec.Resend != nil, spec.SMTP != nil, spec.SCIM != nil, spec.EventBridge != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return nil, errors.New("a target is exactly one of webhook, resend, smtp, scim or eventbridge")
	}
	client := env.Egress.Client(pol.Timeout)
	switch {
	case spec.Webhook != nil:
		w := spec.Webhook
		secrets := make([]string, len(w.Secrets))
		for i, s := range w.Secrets {
			secrets[i] = expand(s)
		}
		headers := map[string]string{}
		for k, v := range w.Headers {
			headers[k] = expand(v)
		}
		t, err := targets.NewWebhook(targets.WebhookConfig{URL: expand(w.URL), Secrets: secrets, Headers: headers, Timeout: pol.Timeout, Client: client})
		if err != nil {
			return nil, err
		}
		return targetSender{t}, nil
	case spec.Resend != nil:
		r := spec.Resend
		t, err := targets.NewResend(targets.ResendConfig{BaseURL: expand(r.BaseURL), APIKey: expand(r.APIKey), From: expand(r.From),
			Templates: env.Templates, Client: client, UserAgent: env.UserAgent, Locale: r.Locale, TargetID: r.TargetID, RateLimit: r.RateLimit})
		if err != nil {
			return nil, err
		}
		return targetSender{t}, nil
	case spec.SMTP != nil:
		s := spec.SMTP
		t, err := targets.NewSMTP(targets.SMTPConfig{Host: expand(s.Host), Port: s.Port, TLS: s.TLS, Username: expand(s.Username),
			Password: expand(s.Password), From: expand(s.From), HeloName: s.Helo, Templates: env.Templates, Timeout: pol.Timeout, Locale: s.Locale,
			TargetID: name})
		if err != nil {
			return nil, err
		}
		return targetSender{t}, nil
	case spec.EventBridge != nil:
		e := spec.EventBridge
		t, err := targets.NewEventBridge(targets.EventBridgeConfig{Endpoint: expand(e.Endpoint), AccessKeyID: expand(e.AccessKeyID),
			AccessKeySecret: expand(e.AccessKeySecret), SecurityToken: expand(e.SecurityToken), EventBus: expand(e.EventBus),
			Source: e.Source, Client: client})
		if err != nil {
			return nil, err
		}
		return batchSender{targetSender{t}, t}, nil
	}
	s := spec.SCIM
	auth := scimclient.Auth{BearerToken: expand(s.Token), TokenURL: expand(s.TokenURL), ClientID: expand(s.ClientID),
		ClientSecret: expand(s.ClientSecret), TokenStyle: s.TokenStyle, Scope: s.Scope}
	c, err := scimclient.New(scimclient.Config{BaseURL: expand(s.BaseURL), Auth: auth, Profile: s.Profile, RateLimit: s.RateLimit,
		Timeout: pol.Timeout, HTTPClient: client, UserAgent: env.UserAgent, MaxRetryWait: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	create := true
	if s.CreateGroups != nil {
		create = *s.CreateGroups
	}
	return scimSender{scimclient.NewTarget(c, scimclient.TargetOptions{CreateGroups: create, ManageGroups: s.ManageGroups,
		ManagedGroupPattern: s.ManagedGroup, OnDelete: s.OnDelete, OnDisable: s.OnDisable})}, nil
}

// targetSender adapts a targets.Target.
type targetSender struct{ t targets.Target }

func (s targetSender) Kind() string { return s.t.Kind() }

func toTargets(d *Delivery) *targets.Delivery {
	return &targets.Delivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Subject: d.Subject, Time: d.EventTime,
		Payload: d.Payload, Event: d.Event, Attempt: d.Attempts}
}

func fromTargets(r targets.Result) Result {
	return Result{Outcome: r.Outcome.String(), RetryAfter: r.RetryAfter, Status: r.Status, Latency: r.Latency, Response: r.Response, Err: r.Err}
}

func (s targetSender) Send(ctx context.Context, d *Delivery) Result {
	return fromTargets(s.t.Deliver(ctx, toTargets(d)))
}

// batchSender adds batches for targets that have them.
type batchSender struct {
	targetSender
	b targets.Batcher
}

func (s batchSender) SendBatch(ctx context.Context, ds []*Delivery) []Result {
	in := make([]*targets.Delivery, len(ds))
	for i, d := range ds {
		in[i] = toTargets(d)
	}
	rs := s.b.DeliverBatch(ctx, in)
	out := make([]Result, len(rs))
	for i, r := range rs {
		out[i] = fromTargets(r)
	}
	return out
}

// scimSender adapts the SCIM downstream target.
type scimSender struct{ t *scimclient.Target }

func (s scimSender) Kind() string { return "scim" }

func (s scimSender) Send(ctx context.Context, d *Delivery) Result {
	r := s.t.Deliver(ctx, &scimclient.Delivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Subject: d.Subject, Time: d.EventTime,
		Payload: d.Payload, Event: d.Event, Attempt: d.Attempts})
	out := Result{RetryAfter: r.RetryAfter, Status: r.Status, Latency: r.Latency, Response: r.Response, Err: r.Err}
	switch r.Outcome {
	case scimclient.Delivered:
		out.Outcome = OutcomeDelivered
	case scimclient.Permanent:
		out.Outcome = OutcomePermanent
	case scimclient.Disable:
		out.Outcome = OutcomeDisable
	default:
		out.Outcome = OutcomeRetry
	}
	return out
}

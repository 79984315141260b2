package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/egress"
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
	// API holds the rules made through the admin API (stored in the
	// database, not in the file); they route to the file's targets.
	API []RuleSpec `yaml:"-"`
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
	// SignatureHeaders: standard (webhook-id, webhook-timestamp,
	// webhook-signature; default), svix (svix-id, svix-timestamp,
	// svix-signature, for receivers built on older Svix libraries) or both.
	SignatureHeaders string `yaml:"signature_headers"`
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
	CAFile   string `yaml:"ca_file"`
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
	// MaxPause is the longest Retry-After honoured by pausing every request
	// to the target (default 5m; "0s": none, the request fails and is
	// retried later).
	MaxPause string `yaml:"max_pause"`
	// Push makes the target one that `gatehouse push` brings level with
	// the accounts in a scope (IDaaS's One-click Push).
	Push *PushSpec `yaml:"push"`
}

// PushSpec configures the push of a SCIM target.
type PushSpec struct {
	// Organizations (ids or names; with their subtrees) and Groups (ids or
	// display names) are the scope; neither: the whole directory.
	Organizations []string `yaml:"organizations"`
	Groups        []string `yaml:"groups"`
	// Mapping builds the downstream account from the account's event
	// document (a template, as a rule's payload); default: by profile.
	Mapping any `yaml:"mapping"`
	// OnLeave is what happens downstream to an account that left the scope
	// or was deleted: deactivate (default; delete where the target has no
	// inactive state), delete, or keep.
	OnLeave string `yaml:"on_leave"`
	// Prune also retires downstream accounts no account in scope matches.
	Prune bool `yaml:"prune"`
	// Concurrency bounds the requests in flight (default 8).
	Concurrency int `yaml:"concurrency"`
	// Follow (default true) routes the lifecycle events of accounts in
	// scope to the target with the mapping, so that changes arrive within
	// seconds after the first push (a rule named "push:<target>").
	Follow *bool `yaml:"follow"`
	// Interval, when set, makes the server push on that schedule (such as
	// 1h): accounts that left the scope are retired at the next push.
	Interval string `yaml:"interval"`
}

// PushTarget is a SCIM target that can be pushed.
type PushTarget struct {
	Client   *scimclient.Client
	Target   *scimclient.Target
	Mapping  Transformer
	Spec     PushSpec
	Interval time.Duration
}

// DefaultPushMapping is the mapping of a push without one, by profile: RAM
// keeps four attributes and user names without "@".
func DefaultPushMapping(profile string) string {
	if strings.EqualFold(profile, "ram") {
		return `{"userName": "{{account}}", "displayName": "${detail.displayName:-}"}`
	}
	return `{"userName": "${detail.userName}", "displayName": ${detail.displayName:-null}, "active": ${detail.active}, ` +
		`"emails": ${detail.user.emails:-[]}, "name": ${detail.user.name:-null}}`
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
	Egress    egress.Policy
	Templates *targets.Templates
	UserAgent string
	// WithoutSecrets builds the configuration for what delivers nothing
	// (administration commands): a ${env:NAME} whose variable is unset is
	// no problem. A target that uses one is kept — its name, kind, policy
	// and push scope — but cannot deliver (Target.Unavailable).
	WithoutSecrets bool
	// Describe builds a configuration that another process runs (one a
	// server recorded, ServerConfig), to show it: every target is kept
	// with its name, kind, policy and push scope, but none is constructed
	// (no file is read, no client made) and none can deliver. Use it with
	// WithoutSecrets.
	Describe bool
	// Resend is where Resend targets that share an API key share its rate
	// limit and pauses, across reloads (nil: shared within one
	// configuration only).
	Resend *targets.ResendAccounts
	// Company is the company's name for the email templates
	// (events.company).
	Company string
	// Source is the source of Gatehouse's own events (events.source):
	// rules whose pattern cannot match it are warned about (Config.Warnings).
	Source string
	// Links, when set, gives each SCIM target the push links of its name
	// (provision.TargetLinks), which its deliveries read and keep.
	Links func(target string) scimclient.Links
}

// ConfigError is a refused rules file: every problem, each with its line
// and the path of the field at fault ("line 12: rules[0].targets[0].target:
// no target named …").
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

// Parse checks a rules file's text and builds its configuration. A file
// with any problem is refused as a whole: the error is a *ConfigError that
// lists every problem at once (unknown keys, values of the wrong type,
// missing or bad settings, bad patterns and payloads, unknown targets,
// duplicate rules), each with its line and the field at fault. Messages
// never repeat a setting's value, so that no secret is printed.
func Parse(name string, src []byte, env Env) (*Config, *File, error) {
	return parse(name, src, env, nil)
}

// LoadWithAPI builds the configuration of the rules file at path (none
// when path is "") together with the rules made through the admin API,
// which may use the file's targets. Problems in either refuse the whole.
func LoadWithAPI(path string, env Env, api []RuleSpec) (*Config, *File, error) {
	if path == "" {
		f := &File{API: api}
		cfg, problems := Build(f, env)
		if len(problems) > 0 {
			return nil, nil, &ConfigError{File: "(admin API rules)", Problems: problems}
		}
		return cfg, f, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read rules file: %w", err)
	}
	return parse(path, b, env, api)
}

func parse(name string, src []byte, env Env, api []RuleSpec) (*Config, *File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, nil, &ConfigError{File: name, Problems: []string{yamlSyntaxProblem(err)}}
	}
	if len(root.Content) == 0 || isNull(root.Content[0]) {
		if len(api) > 0 {
			return LoadWithAPI("", env, api)
		}
		return emptyConfig(), &File{}, nil
	}
	doc := root.Content[0]
	c := &checker{root: doc}
	c.shape(doc, reflect.TypeFor[File](), nil)
	var f File
	// What Decode refuses the shape check has reported, with the field's
	// path; decode what can be, to check the rest. Anything else it
	// refuses (excessive aliasing) refuses the file.
	if err := doc.Decode(&f); err != nil {
		var te *yaml.TypeError
		switch {
		case !errors.As(err, &te):
			return nil, nil, &ConfigError{File: name, Problems: append(c.messages(), strings.TrimPrefix(err.Error(), "yaml: "))}
		case len(c.problems) == 0:
			return nil, nil, &ConfigError{File: name, Problems: te.Errors}
		}
	}
	f.API = api
	cfg := c.build(&f, env)
	if len(c.problems) > 0 {
		return nil, nil, &ConfigError{File: name, Problems: c.messages()}
	}
	return cfg, &f, nil
}

// Build turns a rules file given as a value into a configuration,
// collecting every problem (without lines: there is no source).
func Build(f *File, env Env) (*Config, []string) {
	c := &checker{}
	cfg := c.build(f, env)
	if len(c.problems) > 0 {
		return nil, c.messages()
	}
	return cfg, nil
}

func emptyConfig() *Config {
	return &Config{Routes: map[string][]Route{}, Targets: map[string]*Target{}}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxProblem rewords a YAML parser error in the problems' form.
// The parser names the line where the construct it could not finish
// starts, or the one before: the problem is there or after.
func yamlSyntaxProblem(err error) string {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return "line " + m[1] + ": not valid YAML at or after this line: " + m[2]
	}
	return "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

// ---- where a problem is

// fieldPath locates a value in the rules file: mapping keys (string) and
// list indexes (int), as in targets.hook.webhook.url or
// rules[0].pattern.detail.email.
type fieldPath []any

func (p fieldPath) key(k string) fieldPath     { return append(p[:len(p):len(p)], k) }
func (p fieldPath) index(i int) fieldPath      { return append(p[:len(p):len(p)], i) }
func (p fieldPath) with(q fieldPath) fieldPath { return append(p[:len(p):len(p)], q...) }

func (p fieldPath) String() string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		case string:
			if s == "" || strings.ContainsAny(s, ".[]\"' \t\r\n") {
				fmt.Fprintf(&b, "[%q]", s)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

// within reports whether p is q or inside it.
func (p fieldPath) within(q fieldPath) bool {
	if len(p) < len(q) {
		return false
	}
	for i := range q {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// splitPatternPath reads a rules.PatternError path (detail.email[0],
// $or[1].source, detail["a.b"]).
func splitPatternPath(s string) fieldPath {
	var p fieldPath
	for i := 0; i < len(s); {
		switch s[i] {
		case '.':
			i++
		case '[':
			if i+1 < len(s) && s[i+1] == '"' {
				dec := json.NewDecoder(strings.NewReader(s[i+1:]))
				var k string
				if dec.Decode(&k) != nil {
					return p
				}
				p = append(p, k)
				i += 1 + int(dec.InputOffset()) + 1 // the string and "]"
				continue
			}
			j := strings.IndexByte(s[i:], ']')
			n, err := strconv.Atoi(s[i+1 : i+max(j, 1)])
			if j < 0 || err != nil {
				return p
			}
			p = append(p, n)
			i += j + 1
		default:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			p = append(p, s[i:j])
			i = j
		}
	}
	return p
}

type problem struct {
	line int // 0: unknown
	path fieldPath
	msg  string
}

// checker collects the problems of a rules file.
type checker struct {
	root     *yaml.Node // the document (nil: no source, no lines)
	problems []problem
	warnings []problem   // what does not refuse the file: rules that match nothing
	shaped   []fieldPath // where the shape check found problems
	pushes   map[string]*PushTarget
	missing  []string          // the unset variables of the target being built (Env.WithoutSecrets)
	describe bool              // Env.Describe
	resend   []*targets.Resend // the Resend targets built, to share limits by API key
}

// at reports a problem with the value at p, on p's line. A problem that
// follows from one the shape check reported (a value of the wrong type
// reads as missing) is not reported again.
func (c *checker) at(p fieldPath, format string, args ...any) {
	c.atLine(c.lineOf(p), p, format, args...)
}

func (c *checker) atLine(line int, p fieldPath, format string, args ...any) {
	for _, s := range c.shaped {
		if p.within(s) || (s.within(p) && len(s) == len(p)+1) {
			return
		}
	}
	c.problems = append(c.problems, problem{line: line, path: p, msg: fmt.Sprintf(format, args...)})
}

// warn reports what does not refuse the file, at p.
func (c *checker) warn(p fieldPath, format string, args ...any) {
	c.warnings = append(c.warnings, problem{line: c.lineOf(p), path: p, msg: fmt.Sprintf(format, args...)})
}

// messages are the problems in the order of the file.
func (c *checker) messages() []string { return format(c.problems) }

// format writes problems (or warnings) in the order of the file, each with
// its line and field.
func format(problems []problem) []string {
	ps := slices.Clone(problems)
	slices.SortStableFunc(ps, func(a, b problem) int {
		switch {
		case a.line == b.line:
			return 0
		case a.line == 0:
			return 1
		case b.line == 0:
			return -1
		}
		return a.line - b.line
	})
	out := make([]string, len(ps))
	for i, p := range ps {
		msg := p.msg
		if len(p.path) > 0 {
			msg = p.path.String() + ": " + msg
		}
		if p.line > 0 {
			msg = "line " + strconv.Itoa(p.line) + ": " + msg
		}
		out[i] = msg
	}
	return out
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// node finds the value at p and the line that names it (the key's line
// for a mapping value); for a path that goes further than the file, the
// deepest value there is.
func (c *checker) node(p fieldPath) (n *yaml.Node, line int, found bool) {
	n = c.root
	if n == nil {
		return nil, 0, false
	}
	line = n.Line
	for _, seg := range p {
		n = deref(n)
		var next *yaml.Node
		switch s := seg.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next, line = n.Content[i+1], n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
				line = next.Line
			}
		}
		if next == nil {
			return n, line, false
		}
		n = next
	}
	return n, line, true
}

func (c *checker) lineOf(p fieldPath) int {
	_, line, _ := c.node(p)
	return line
}

// ---- the shape of the file: keys and types

func (c *checker) shapeProblem(n *yaml.Node, p fieldPath, format string, args ...any) {
	c.shaped = append(c.shaped, p)
	c.problems = append(c.problems, problem{line: n.Line, path: p, msg: fmt.Sprintf(format, args...)})
}

// shape checks that n can be decoded into a t: known keys, each once,
// values of the right kinds. Messages name the key, never the value.
func (c *checker) shape(n *yaml.Node, t reflect.Type, p fieldPath) {
	n = deref(n)
	if isNull(n) {
		return // an empty value is the zero value
	}
	switch t.Kind() {
	case reflect.Pointer:
		c.shape(n, t.Elem(), p)
	case reflect.Interface:
		c.uniqueKeys(n, p)
	case reflect.Struct:
		keys := yamlKeys(t)
		if n.Kind != yaml.MappingNode {
			c.shapeProblem(n, p, "want a mapping (of %s), not %s", strings.Join(keys, ", "), kindName(n))
			return
		}
		c.eachKey(n, p, func(k, v *yaml.Node, kp fieldPath) {
			f, ok := yamlField(t, k.Value)
			if !ok {
				where := "the file"
				if len(p) > 0 {
					where = p.String()
				}
				c.shapeProblem(k, kp, "unknown key %q%s; %s takes %s", k.Value, suggest(k.Value, keys), where, strings.Join(keys, ", "))
				return
			}
			c.shape(v, f.Type, kp)
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.shapeProblem(n, p, "want a mapping, not %s", kindName(n))
			return
		}
		c.eachKey(n, p, func(_, v *yaml.Node, kp fieldPath) { c.shape(v, t.Elem(), kp) })
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.shapeProblem(n, p, "want a list, not %s", kindName(n))
			return
		}
		for i, e := range n.Content {
			c.shape(e, t.Elem(), p.index(i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			c.shapeProblem(n, p, "want %s, not %s", scalarWant(t), kindName(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.shapeProblem(n, p, "want %s", scalarWant(t))
		}
	}
}

// eachKey calls fn for each key of mapping n (merged ones included),
// reporting keys given twice.
// A key given twice is dropped from n once reported (the first stays), so
// that decoding, which refuses the whole mapping, checks the rest.
func (c *checker) eachKey(n *yaml.Node, p fieldPath, fn func(k, v *yaml.Node, kp fieldPath)) {
	seen := map[string]int{}
	var walk func(n *yaml.Node, top bool)
	walk = func(n *yaml.Node, top bool) {
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				for _, m := range mergeSources(v) {
					walk(m, false)
				}
				kept = append(kept, k, v)
				continue
			}
			kp := p.key(k.Value)
			if first, dup := seen[k.Value]; dup {
				c.shapeProblem(k, kp, "%q is given twice (first on line %d)", k.Value, first)
				continue
			}
			seen[k.Value] = k.Line
			kept = append(kept, k, v)
			fn(k, v, kp)
		}
		if top {
			n.Content = kept
		}
	}
	walk(n, true)
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	v = deref(v)
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, e := range v.Content {
			if e = deref(e); e.Kind == yaml.MappingNode {
				out = append(out, e)
			}
		}
		return out
	}
	return nil
}

// uniqueKeys checks a free-form value (a pattern, a payload): no key twice.
// An alias is not followed: its anchor is checked where it is, and
// following aliases of aliases can take exponential time.
func (c *checker) uniqueKeys(n *yaml.Node, p fieldPath) {
	switch n.Kind {
	case yaml.MappingNode:
		c.eachKey(n, p, func(_, v *yaml.Node, kp fieldPath) { c.uniqueKeys(v, kp) })
	case yaml.SequenceNode:
		for i, e := range n.Content {
			c.uniqueKeys(e, p.index(i))
		}
	}
}

// yamlKeys lists the keys a struct takes, in its order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if k, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

func yamlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if k, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); k == key && k != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

func scalarWant(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

// suggest is " (did you mean "x"?)" for the known key closest to k, when
// one is close.
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ---- what the file means

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)

// build checks a decoded file and builds its configuration (nil when
// there are problems).
func (c *checker) build(f *File, env Env) *Config {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	c.describe = env.Describe
	if env.Resend == nil {
		env.Resend = targets.NewResendAccounts()
	}
	cfg := emptyConfig()
	for _, name := range slices.Sorted(maps.Keys(f.Targets)) {
		if t := c.target(name, f.Targets[name], env); t != nil {
			cfg.Targets[name] = t
		}
	}
	patterns := map[string]*rules.Pattern{}
	first := map[string]int{} // rule name → index of its first definition
	for i := range f.Rules {
		r := &f.Rules[i]
		p := fieldPath{"rules", i}
		named := false
		switch j, dup := first[r.Name]; {
		case !validName(r.Name):
			c.at(p.key("name"), "a rule needs a name of 1 to 64 letters, digits, '-', '_' or '.'")
		case dup:
			where := fmt.Sprintf("rules[%d]", j)
			if l := c.lineOf(fieldPath{"rules", j, "name"}); l > 0 {
				where += fmt.Sprintf(", line %d", l)
			}
			c.at(p.key("name"), "rule %q is defined twice (first as %s); rule names are unique", r.Name, where)
		default:
			first[r.Name] = i
			named = true
		}
		pat, routes, ok := c.rule(p, r, f.Targets)
		if !ok || !named || r.Disabled {
			continue
		}
		c.lint(p.key("pattern"), pat, env.Source)
		patterns[r.Name] = pat
		cfg.Routes[r.Name] = routes
	}
	for i := range f.API {
		r := &f.API[i]
		p := fieldPath{"api_rules", r.Name}
		named := false
		switch j, dup := first[r.Name]; {
		case !validName(r.Name):
			c.at(p.key("name"), "a rule needs a name of 1 to 64 letters, digits, '-', '_' or '.'")
		case dup:
			c.at(p.key("name"), "rule %q is defined in the rules file too (rules[%d]); rule names are unique", r.Name, j)
		default:
			named = true
		}
		pat, routes, ok := c.rule(p, r, f.Targets)
		if !ok || !named || r.Disabled {
			continue
		}
		c.lint(p.key("pattern"), pat, env.Source)
		patterns[r.Name] = pat
		cfg.Routes[r.Name] = routes
	}
	// Pushes that follow their scope route events by an implicit rule.
	for _, name := range slices.Sorted(maps.Keys(cfg.Targets)) {
		pt := cfg.Targets[name].Push
		if pt == nil || (pt.Spec.Follow != nil && !*pt.Spec.Follow) {
			continue
		}
		pat, err := rules.ParsePattern([]byte(followRule(pt)))
		if err != nil {
			c.at(fieldPath{"targets", name, "scim", "push"}, "the scope cannot be followed: %v", err)
			continue
		}
		rule := "push:" + name
		patterns[rule] = pat
		cfg.Routes[rule] = []Route{{Target: name, Transform: pt.Mapping}}
	}
	if len(c.problems) > 0 {
		return nil
	}
	// Rules that do not name received events match only Gatehouse's own.
	for name, pat := range patterns {
		guarded, err := RulePattern(pat)
		if err != nil {
			c.at(fieldPath{"rules"}, "rule %q: %v", name, err)
			continue
		}
		patterns[name] = guarded
	}
	if len(c.problems) > 0 {
		return nil
	}
	m, err := rules.Compile(patterns)
	if err != nil {
		c.at(fieldPath{"rules"}, "%v", err)
		return nil
	}
	cfg.Matcher = m
	if len(c.warnings) > 0 {
		cfg.Warnings = format(c.warnings)
	}
	// Targets sharing a Resend API key share one limiter, at the lowest
	// rate among them.
	targets.ShareResendLimits(c.resend)
	return cfg
}

// lint warns about a rule's pattern that matches no event Gatehouse emits
// or receives (lint.go).
func (c *checker) lint(p fieldPath, pat *rules.Pattern, source string) {
	for _, w := range patternWarnings(pat, source) {
		at := p
		if w.field != "" {
			at = p.key(w.field)
		}
		c.warn(at, "%s", w.msg)
	}
}

// rule checks one rule: its pattern and its routes.
func (c *checker) rule(p fieldPath, r *RuleSpec, known map[string]TargetSpec) (*rules.Pattern, []Route, bool) {
	n := len(c.problems)
	pat := c.pattern(p.key("pattern"), r.Pattern)
	if len(r.Targets) == 0 {
		c.at(p.key("targets"), "a rule needs at least one target")
	}
	var routes []Route
	for j := range r.Targets {
		rt := &r.Targets[j]
		rp := p.key("targets").index(j)
		if rt.Target == "" {
			c.at(rp.key("target"), "a route needs a target: the name of one of the file's targets")
			continue
		}
		if _, ok := known[rt.Target]; !ok {
			c.at(rp.key("target"), "no target named %q%s", rt.Target, knownTargets(rt.Target, known))
			continue
		}
		tr, ok := c.transformer(rp, rt)
		if !ok {
			continue
		}
		routes = append(routes, Route{Target: rt.Target, Transform: tr})
	}
	return pat, routes, len(c.problems) == n
}

func knownTargets(name string, known map[string]TargetSpec) string {
	if len(known) == 0 {
		return " (the file defines no targets)"
	}
	names := slices.Sorted(maps.Keys(known))
	return suggest(name, names) + "; the file defines " + strings.Join(names, ", ")
}

// pattern checks a rule's pattern, written as YAML or as JSON text. A
// problem is reported at the pattern's field that has it
// (rules[0].pattern.detail.email[0].prefix), on that field's line.
func (c *checker) pattern(p fieldPath, v any) *rules.Pattern {
	if v == nil {
		c.at(p, `a rule needs a pattern, such as {"detail-type": ["User.Created"]}`)
		return nil
	}
	text, isText := v.(string)
	src := []byte(text)
	if !isText {
		b, err := json.Marshal(jsonable(v))
		if err != nil {
			c.at(p, "the pattern cannot be read as JSON: %v", err)
			return nil
		}
		src = b
	}
	pat, err := rules.ParsePattern(src)
	if err == nil {
		if err := CheckRulePattern(pat); err != nil {
			c.at(p, "%v", err)
			return nil
		}
		return pat
	}
	var pe *rules.PatternError
	if !errors.As(err, &pe) {
		c.at(p, "%v", err)
		return nil
	}
	if !isText {
		c.at(p.with(splitPatternPath(pe.Path)), "%s", pe.Msg)
		return nil
	}
	// JSON text: the problem's line within it, counted from the pattern's.
	line := 0
	if n, l, ok := c.node(p); ok {
		line = l + pe.Line - 1
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			line = l + pe.Line // the text starts on the line after "|"
		}
	}
	at := pe.Path
	if at == "" {
		at = "(top level)"
	}
	c.atLine(line, p, "at %s: %s", at, pe.Msg)
	return nil
}

// transformer checks a route's payload or transform.
func (c *checker) transformer(p fieldPath, rt *RouteSpec) (Transformer, bool) {
	switch {
	case rt.Payload != nil && rt.Transform != nil:
		c.at(p, "give payload or transform, not both")
		return nil, false
	case rt.Payload != nil:
		tr, err := templateTransformer(rt.Payload, nil)
		if err != nil {
			c.at(p.key("payload"), "%v", err)
			return nil, false
		}
		return tr, true
	case rt.Transform == nil:
		return nil, true // the whole event
	}
	t := rt.Transform
	tp := p.key("transform")
	var kinds []string
	if t.Path != "" {
		kinds = append(kinds, "path")
	}
	if t.Constant != nil {
		kinds = append(kinds, "constant")
	}
	if t.Template != nil {
		kinds = append(kinds, "template")
	}
	switch {
	case len(kinds) == 0:
		c.at(tp, "a transform is one of path, constant or template (with vars)")
		return nil, false
	case len(kinds) > 1:
		c.at(tp, "a transform is one of path, constant or template, not %s", strings.Join(kinds, " and "))
		return nil, false
	case t.Vars != nil && t.Template == nil:
		c.at(tp.key("vars"), "vars go with a template")
		return nil, false
	}
	var tr Transformer
	var err error
	field := kinds[0]
	switch field {
	case "path":
		var x *rules.Transformer
		if x, err = rules.NewTransformer(rules.TransformSpec{Kind: "path", Path: t.Path}); err == nil {
			tr = x
		}
	case "constant":
		var v string
		if v, err = textOrJSON(t.Constant); err == nil {
			var x *rules.Transformer
			if x, err = rules.NewTransformer(rules.TransformSpec{Kind: "constant", Value: v}); err == nil {
				tr = x
			}
		}
	default:
		tr, err = templateTransformer(t.Template, t.Vars)
	}
	if err != nil {
		c.at(tp.key(field), "%v", err)
		return nil, false
	}
	return tr, true
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

func templateTransformer(tpl any, vars map[string]string) (Transformer, error) {
	text, err := textOrJSON(tpl)
	if err != nil {
		return nil, err
	}
	t, err := rules.NewTransformer(rules.TransformSpec{Kind: "template", Template: text, Vars: vars})
	if err != nil {
		return nil, err
	}
	return t, nil
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

// ---- targets

// target checks and builds one target.
func (c *checker) target(name string, spec TargetSpec, env Env) *Target {
	p := fieldPath{"targets", name}
	if !validName(name) {
		c.at(p, "a target name has 1 to 64 letters, digits, '-', '_' or '.'")
		return nil
	}
	n := len(c.problems)
	c.missing = nil
	pol := c.policy(p.key("policy"), spec.Policy)
	sender := c.sender(p, name, spec, env, pol)
	if len(c.problems) != n || sender == nil {
		return nil
	}
	return &Target{Name: name, Sender: sender, Policy: pol, Push: c.pushes[name], Missing: c.missing}
}

// unavailable is the sender of a target whose variables are unset (nil
// when none is).
func (c *checker) unavailable(kind string) Sender {
	switch {
	case c.describe:
		return unavailableSender{kind: kind, err: errDescribed}
	case len(c.missing) == 0:
		return nil
	}
	return unavailableSender{kind: kind, err: missingError(c.missing)}
}

var errDescribed = errors.New("this target is described from the configuration a server recorded: it delivers from that server, not from here")

func missingError(names []string) error {
	if len(names) == 1 {
		return fmt.Errorf("the environment variable %s is not set", names[0])
	}
	return fmt.Errorf("the environment variables %s are not set", strings.Join(names, ", "))
}

// unavailableSender stands for a target built without its secrets: it
// delivers nothing (the delivery stays pending).
type unavailableSender struct {
	kind string
	err  error
}

func (u unavailableSender) Kind() string { return u.kind }

func (u unavailableSender) Send(context.Context, *Delivery) Result {
	return Result{Outcome: OutcomeRetry, Err: u.err}
}

// policy checks a target's delivery policy, reporting every bad value.
func (c *checker) policy(p fieldPath, s PolicySpec) Policy {
	pol := DefaultPolicy()
	if len(s.Schedule) > 0 {
		pol.Schedule = nil
		for i, v := range s.Schedule {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 {
				c.at(p.key("schedule").index(i), "want a positive duration, such as 5s, 5m or 2h")
				continue
			}
			pol.Schedule = append(pol.Schedule, d)
		}
	}
	if s.Jitter != nil {
		if j := *s.Jitter; j >= 0 && j <= 1 {
			pol.Jitter = j
		} else {
			c.at(p.key("jitter"), "want a number from 0 to 1 (each wait is multiplied by a random factor in 1 ± jitter)")
		}
	}
	switch {
	case s.Concurrency < 0 || s.Concurrency > 256:
		c.at(p.key("concurrency"), "want 1 to 256 attempts in flight at once")
	case s.Concurrency > 0:
		pol.Concurrency = s.Concurrency
	}
	if s.Rate >= 0 && !math.IsInf(s.Rate, 0) {
		pol.Rate = s.Rate
	} else {
		c.at(p.key("rate"), "want attempts per second, a positive number (leave it out for no limit)")
	}
	if s.Ordered != nil {
		pol.Ordered = *s.Ordered
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(strings.TrimSpace(s.Timeout))
		if err != nil || d <= 0 || d > 5*time.Minute {
			c.at(p.key("timeout"), "want a duration up to 5m, such as 10s")
		} else {
			pol.Timeout = d
		}
	}
	switch {
	case s.BreakerFailures < 0:
		c.at(p.key("breaker_failures"), "want a positive whole number of consecutive failed attempts")
	case s.BreakerFailures > 0:
		pol.BreakerFailures = s.BreakerFailures
	}
	if s.BreakerCooldown != "" {
		d, err := time.ParseDuration(strings.TrimSpace(s.BreakerCooldown))
		if err != nil || d <= 0 {
			c.at(p.key("breaker_cooldown"), "want a positive duration, such as 30s")
		} else {
			pol.BreakerCooldown = d
		}
	}
	return pol
}

// expand replaces ${env:NAME} references in a setting. A variable that is
// not set (or empty) is a problem naming it; ok is false then.
func (c *checker) expand(env Env, p fieldPath, s string) (v string, ok bool) {
	ok = true
	if rest := envRef.ReplaceAllString(s, ""); strings.Contains(rest, "${env:") {
		c.at(p, "a ${env:NAME} reference needs a NAME of letters, digits and '_' and a closing '}'")
		ok = false
	}
	v = envRef.ReplaceAllStringFunc(s, func(m string) string {
		name := envRef.FindStringSubmatch(m)[1]
		val := env.Getenv(name)
		switch {
		case val != "":
		case env.WithoutSecrets:
			if !slices.Contains(c.missing, name) {
				c.missing = append(c.missing, name)
			}
			ok = false
		default:
			c.at(p, "the environment variable %s is not set", name)
			ok = false
		}
		return val
	})
	return v, ok
}

// settings reads one target's settings.
type settings struct {
	c   *checker
	env Env
	at  fieldPath // the target kind's mapping: targets.hook.webhook
}

// get expands the setting key; when required is not "" and the setting is
// empty (not for want of a variable, reported already), it is the problem.
func (s *settings) get(key, raw, required string) string {
	v, ok := s.c.expand(s.env, s.at.key(key), raw)
	if !ok {
		// Reported already, or a variable unset (Env.WithoutSecrets): a
		// part of the value is not a value to check.
		return ""
	}
	if required != "" && strings.TrimSpace(v) == "" {
		s.c.at(s.at.key(key), "%s", required)
	}
	return v
}

// url checks an http(s) URL setting, without repeating it (it may hold a
// token).
func (s *settings) url(key, v string) {
	if v == "" {
		return
	}
	u, err := url.Parse(strings.TrimSpace(v))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		s.c.at(s.at.key(key), "want an absolute http:// or https:// URL")
	case u.User != nil:
		s.c.at(s.at.key(key), "credentials in the URL are not allowed")
	}
}

func (s *settings) rate(key string, v float64) {
	if !(v >= 0) || math.IsInf(v, 0) {
		s.c.at(s.at.key(key), "want requests per second, a positive number (leave it out for the default)")
	}
}

func (s *settings) oneOf(key, v string, allowed ...string) {
	if v != "" && !slices.Contains(allowed, v) {
		s.c.at(s.at.key(key), "want %s, not %q", strings.Join(allowed, ", "), v)
	}
}

// constructed reports what a target's constructor refused, one problem
// per error.
func (s *settings) constructed(err error) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		s.c.at(s.at, "%v", e)
	}
}

// validWebhookSecret is what targets.NewWebhook accepts: "whsec_" (which
// may be left out) and the base64 of a 24- to 64-byte key.
func validWebhookSecret(s string) bool {
	raw := strings.TrimPrefix(strings.TrimSpace(s), "whsec_")
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(raw)
	}
	return err == nil && len(key) >= 24 && len(key) <= 64
}

// sender checks a target's settings and builds its sender. Settings are
// checked here, with their paths, before the target's constructor (which
// checks them again) sees them.
func (c *checker) sender(p fieldPath, name string, spec TargetSpec, env Env, pol Policy) Sender {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"webhook", spec.Webhook != nil}, {"resend", spec.Resend != nil}, {"smtp", spec.SMTP != nil}, {"scim", spec.SCIM != nil},
		{"eventbridge", spec.EventBridge != nil}} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	switch len(kinds) {
	case 0:
		c.at(p, "a target needs a kind: webhook, resend, smtp, scim or eventbridge")
		return nil
	case 1:
	default:
		c.at(p, "a target has exactly one kind; this one has %s", strings.Join(kinds, " and "))
		return nil
	}
	s := &settings{c: c, env: env, at: p.key(kinds[0])}
	n := len(c.problems)
	ok := func() bool { return len(c.problems) == n }
	client := env.Egress.Client(pol.Timeout)
	switch {
	case spec.Webhook != nil:
		w := spec.Webhook
		u := s.get("url", w.URL, "the webhook needs a url (http:// or https://)")
		s.url("url", u)
		switch {
		case len(w.Secrets) == 0:
			c.at(s.at.key("secrets"), "the webhook needs secrets: one Standard Webhooks secret (whsec_…), or two while rotating")
		case len(w.Secrets) > 2:
			c.at(s.at.key("secrets"), "at most two secrets (the current one and the next, while rotating)")
		}
		secrets := make([]string, len(w.Secrets))
		for i, raw := range w.Secrets {
			sp := s.at.key("secrets").index(i)
			v, vok := c.expand(env, sp, raw)
			if vok && !validWebhookSecret(v) {
				c.at(sp, "not a Standard Webhooks secret: want whsec_ and the base64 of a 24- to 64-byte key")
			}
			secrets[i] = v
		}
		headers := map[string]string{}
		for k, raw := range w.Headers {
			headers[k], _ = c.expand(env, s.at.key("headers").key(k), raw)
		}
		s.oneOf("signature_headers", w.SignatureHeaders, targets.WebhookHeadersStandard, targets.WebhookHeadersSvix, targets.WebhookHeadersBoth)
		if !ok() {
			return nil
		}
		if u := c.unavailable("webhook"); u != nil {
			return u
		}
		t, err := targets.NewWebhook(targets.WebhookConfig{URL: u, Secrets: secrets, Headers: headers, SignatureHeaders: w.SignatureHeaders,
			Timeout: pol.Timeout, Client: client})
		if err != nil {
			s.constructed(err)
			return nil
		}
		return targetSender{t}
	case spec.Resend != nil:
		r := spec.Resend
		base := s.get("base_url", r.BaseURL, "")
		s.url("base_url", base)
		key := s.get("api_key", r.APIKey, `Resend needs an api_key; keep it out of the file with "${env:RESEND_API_KEY}"`)
		from := s.get("from", r.From, `Resend needs a from address, such as "Onboarding <onboarding@example.com>"`)
		s.rate("rate_limit", r.RateLimit)
		if !ok() {
			return nil
		}
		if u := c.unavailable("resend"); u != nil {
			return u
		}
		t, err := targets.NewResend(targets.ResendConfig{BaseURL: base, APIKey: key, From: from, Templates: env.Templates, Client: client,
			UserAgent: env.UserAgent, Locale: r.Locale, Company: env.Company, TargetID: r.TargetID, RateLimit: r.RateLimit, Accounts: env.Resend})
		if err != nil {
			s.constructed(err)
			return nil
		}
		c.resend = append(c.resend, t)
		return targetSender{t}
	case spec.SMTP != nil:
		m := spec.SMTP
		host := s.get("host", m.Host, "SMTP needs a host")
		user := s.get("username", m.Username, "")
		pass := s.get("password", m.Password, "")
		from := s.get("from", m.From, `SMTP needs a from address, such as "Onboarding <onboarding@example.com>"`)
		if m.Port < 0 || m.Port > 65535 {
			c.at(s.at.key("port"), "want a port number from 1 to 65535")
		}
		s.oneOf("tls", m.TLS, targets.SMTPStartTLS, targets.SMTPImplicitTLS, targets.SMTPStartTLSOptional, targets.SMTPNoTLS)
		if pass != "" && m.Username == "" {
			c.at(s.at.key("username"), "a password needs a username")
		}
		if !ok() {
			return nil
		}
		if u := c.unavailable("smtp"); u != nil {
			return u
		}
		t, err := targets.NewSMTP(targets.SMTPConfig{Host: host, Port: m.Port, TLS: m.TLS, Username: user, Password: pass, From: from,
			CAFile: m.CAFile, HeloName: m.Helo, Templates: env.Templates, Timeout: pol.Timeout, Locale: m.Locale, Company: env.Company,
			TargetID: name, Egress: env.Egress})
		if err != nil {
			s.constructed(err)
			return nil
		}
		return targetSender{t}
	case spec.EventBridge != nil:
		e := spec.EventBridge
		ep := s.get("endpoint", e.Endpoint, "EventBridge needs an endpoint, https://<AccountID>.eventbridge.<region>.aliyuncs.com")
		id := s.get("access_key_id", e.AccessKeyID, "EventBridge needs an access_key_id")
		secret := s.get("access_key_secret", e.AccessKeySecret, `EventBridge needs an access_key_secret; keep it out of the file with "${env:NAME}"`)
		token := s.get("security_token", e.SecurityToken, "")
		bus := s.get("event_bus", e.EventBus, "EventBridge needs an event_bus: the bus events are put on")
		if !ok() {
			return nil
		}
		if u := c.unavailable("eventbridge"); u != nil {
			return u
		}
		t, err := targets.NewEventBridge(targets.EventBridgeConfig{Endpoint: ep, AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token,
			EventBus: bus, Source: e.Source, Client: client})
		if err != nil {
			s.constructed(err)
			return nil
		}
		return batchSender{targetSender{t}, t}
	}
	sc := spec.SCIM
	base := s.get("base_url", sc.BaseURL, "the SCIM target needs a base_url (http:// or https://)")
	s.url("base_url", base)
	token := s.get("token", sc.Token, "")
	tokenURL := s.get("token_url", sc.TokenURL, "")
	s.url("token_url", tokenURL)
	clientID := s.get("client_id", sc.ClientID, "")
	clientSecret := s.get("client_secret", sc.ClientSecret, "")
	oauth := sc.TokenURL != "" || sc.ClientID != "" || sc.ClientSecret != ""
	switch {
	case sc.Token == "" && !oauth:
		c.at(s.at, "the SCIM target needs credentials: token, or token_url with client_id and client_secret")
	case sc.Token != "" && oauth:
		c.at(s.at.key("token"), "give token, or token_url with client_id and client_secret, not both")
	case oauth:
		if sc.TokenURL == "" {
			c.at(s.at.key("token_url"), "client_id and client_secret need a token_url")
		}
		if sc.ClientID == "" {
			c.at(s.at.key("client_id"), "token_url needs a client_id")
		}
		if sc.ClientSecret == "" {
			c.at(s.at.key("client_secret"), "token_url needs a client_secret")
		}
	}
	s.oneOf("on_delete", sc.OnDelete, "delete", "deactivate")
	s.oneOf("on_disable", sc.OnDisable, "deactivate", "delete", "ignore")
	if _, err := path.Match(strings.ToLower(sc.ManagedGroup), ""); err != nil {
		c.at(s.at.key("managed_groups"), "not a group name pattern (* and ? match, [a-z] a range): %v", err)
	}
	s.rate("rate_limit", sc.RateLimit)
	var maxPause time.Duration
	if v := strings.TrimSpace(sc.MaxPause); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || d < 0 || d > 24*time.Hour:
			c.at(s.at.key("max_pause"), "want a duration from 0s (no pause) to 24h, such as 5m")
		case d == 0:
			maxPause = -1
		default:
			maxPause = d
		}
	}
	if !ok() {
		return nil
	}
	if u := c.unavailable("scim"); u != nil {
		// The push's scope is still shown (journey); pushing needs the
		// client (App.Pusher refuses an unavailable target).
		if sc.Push != nil {
			if pt := c.push(s.at.key("push"), sc, nil, nil); pt != nil {
				if c.pushes == nil {
					c.pushes = map[string]*PushTarget{}
				}
				c.pushes[name] = pt
			}
		}
		return u
	}
	auth := scimclient.Auth{BearerToken: token, TokenURL: tokenURL, ClientID: clientID, ClientSecret: clientSecret, TokenStyle: sc.TokenStyle, Scope: sc.Scope}
	cl, err := scimclient.New(scimclient.Config{BaseURL: base, Auth: auth, Profile: sc.Profile, RateLimit: sc.RateLimit,
		Timeout: pol.Timeout, HTTPClient: client, UserAgent: env.UserAgent, MaxRetryWait: 2 * time.Second, MaxPause: maxPause})
	if err != nil {
		s.constructed(err)
		return nil
	}
	create := true
	if sc.CreateGroups != nil {
		create = *sc.CreateGroups
	}
	onDisable := sc.OnDisable
	if onDisable == "" && !cl.Profile().Active {
		onDisable = "delete" // no inactive state downstream (RAM)
	}
	var links scimclient.Links
	if env.Links != nil {
		links = env.Links(name)
	}
	tgt := scimclient.NewTarget(cl, scimclient.TargetOptions{CreateGroups: create, ManageGroups: sc.ManageGroups,
		ManagedGroupPattern: sc.ManagedGroup, OnDelete: sc.OnDelete, OnDisable: onDisable, Links: links})
	if sc.Push != nil {
		if pt := c.push(s.at.key("push"), sc, cl, tgt); pt != nil {
			if c.pushes == nil {
				c.pushes = map[string]*PushTarget{}
			}
			c.pushes[name] = pt
		}
	}
	return scimSender{tgt}
}

// push checks a SCIM target's push settings.
func (c *checker) push(p fieldPath, sc *SCIMSpec, cl *scimclient.Client, tgt *scimclient.Target) *PushTarget {
	ps := *sc.Push
	n := len(c.problems)
	switch ps.OnLeave {
	case "", "deactivate", "delete", "keep":
	default:
		c.at(p.key("on_leave"), "want deactivate, delete or keep")
	}
	if ps.Concurrency < 0 || ps.Concurrency > 64 {
		c.at(p.key("concurrency"), "want 1 to 64 requests in flight")
	}
	var interval time.Duration
	if ps.Interval != "" {
		d, err := time.ParseDuration(ps.Interval)
		if err != nil || d < time.Minute {
			c.at(p.key("interval"), "want a duration of at least 1m, such as 1h")
		}
		interval = d
	}
	for i, v := range append(slices.Clone(ps.Organizations), ps.Groups...) {
		if strings.TrimSpace(v) == "" {
			key := "organizations"
			if i >= len(ps.Organizations) {
				key, i = "groups", i-len(ps.Organizations)
			}
			c.at(p.key(key).index(i), "an id or a name, not empty")
		}
	}
	mapping := ps.Mapping
	if mapping == nil {
		mapping = DefaultPushMapping(sc.Profile)
	}
	tr, ok := c.transformer(p, &RouteSpec{Target: "push", Payload: mapping})
	if !ok || len(c.problems) != n {
		return nil
	}
	return &PushTarget{Client: cl, Target: tgt, Mapping: tr, Spec: ps, Interval: interval}
}

// followRule is the implicit rule of a push that follows its scope: the
// lifecycle events of the accounts in scope, mapped as the push maps them.
func followRule(pt *PushTarget) string {
	pattern := map[string]any{"detail-type": []any{"User.Created", "User.Updated", "User.Enabled", "User.Disabled", "User.Deleted"}}
	var alts []any
	add := func(field string, vals []string) {
		if len(vals) > 0 {
			list := make([]any, len(vals))
			for i, v := range vals {
				list[i] = v
			}
			alts = append(alts, map[string]any{"detail": map[string]any{field: list}})
		}
	}
	// Ids and names both: a value given is one or the other.
	add("orgPath", pt.Spec.Organizations)
	add("orgPathNames", pt.Spec.Organizations)
	add("groupIds", pt.Spec.Groups)
	add("groups", pt.Spec.Groups)
	if len(alts) > 0 {
		pattern["$or"] = alts
	}
	b, _ := json.Marshal(pattern)
	return string(b)
}

// targetSender adapts a targets.Target.
type targetSender struct{ t targets.Target }

func (s targetSender) Kind() string { return s.t.Kind() }

func toTargets(d *Delivery) *targets.Delivery {
	return &targets.Delivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Subject: d.Subject, Time: d.EventTime,
		Payload: d.Payload, Event: d.Event, Attempt: d.Attempts, Replays: d.Replays}
}

func fromTargets(r targets.Result) Result {
	return Result{Outcome: r.Outcome.String(), RetryAfter: r.RetryAfter, Status: r.Status, Latency: r.Latency, Response: r.Response, Err: r.Err,
		Uncertain: r.Uncertain}
}

func (s targetSender) Send(ctx context.Context, d *Delivery) Result {
	return fromTargets(s.t.Deliver(ctx, toTargets(d)))
}

// IdempotencyKeyLifetime implements KeyLifetime for targets that have one.
func (s targetSender) IdempotencyKeyLifetime() time.Duration {
	if kl, ok := s.t.(targets.KeyLifetime); ok {
		return kl.IdempotencyKeyLifetime()
	}
	return 0
}

// PausedUntil implements Pauser for targets that can be paused.
func (s targetSender) PausedUntil() (time.Time, string) {
	if p, ok := s.t.(targets.Pauser); ok {
		return p.PausedUntil()
	}
	return time.Time{}, ""
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
	r := s.t.Deliver(ctx, &scimclient.Delivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Subject: d.Subject, Rule: d.Rule,
		Time: d.EventTime, Payload: d.Payload, Event: d.Event, Attempt: d.Attempts})
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

// Package config reads Gatehouse's settings from, in increasing order of
// precedence, built-in defaults, an optional YAML file, GATEHOUSE_*
// environment variables and command-line flags, and validates them,
// reporting every problem at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/checkpoint"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/search/elastic"
	"github.com/gatehouse-id/gatehouse/internal/search/embed"
)

// Config is the whole configuration.
type Config struct {
	// Listen is the address to listen on.
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite database (and nothing else yet).
	DataDir string `yaml:"data_dir"`
	// DatabaseURL selects the database: a SQLite path ("sqlite:PATH",
	// "file:PATH" or a bare path) or a PostgreSQL URL ("postgres://…").
	// Empty means SQLite at DataDir/gatehouse.db.
	DatabaseURL string `yaml:"database_url"`
	// BaseURL is the externally visible URL of the server
	// ("https://gatehouse.example.com"), used in resource locations (empty:
	// derived from each request) and as the issuer of OAuth access tokens
	// (empty: the listen address; app.Issuer).
	BaseURL string `yaml:"base_url"`
	TLS     TLS    `yaml:"tls"`
	Log     Log    `yaml:"log"`
	SCIM    SCIM   `yaml:"scim"`
	// PasswordPolicy applies to passwords set through provisioning.
	PasswordPolicy PasswordPolicy `yaml:"password_policy"`
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// on SIGINT/SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// SQLiteSynchronous is PRAGMA synchronous for SQLite: FULL (default) or
	// NORMAL.
	SQLiteSynchronous string `yaml:"sqlite_synchronous"`
	// DebugListen, when set, serves Go's profiler (/debug/pprof/) on this
	// address. Keep it on loopback.
	DebugListen string `yaml:"debug_listen"`
	// Profile is what the server plays: "" (the identity hub) or "ram", a
	// strict stand-in for Alibaba Cloud RAM's SCIM endpoint.
	Profile string `yaml:"profile"`
	// TrustedProxies lists the addresses (CIDRs or IPs) of reverse proxies
	// and load balancers in front of Gatehouse: for requests from them, the
	// client address (for throttling and logs) is taken from
	// X-Forwarded-For.
	TrustedProxies []string `yaml:"trusted_proxies"`
	Auth           Auth     `yaml:"auth"`
	Audit          Audit    `yaml:"audit"`
	Metrics        Metrics  `yaml:"metrics"`
	Events         Events   `yaml:"events"`
	// LDAP lists the directories to synchronise from (`gatehouse sync
	// ldap`, and `serve` for those with an interval); docs/ldap.md.
	LDAP []ldapsync.Config `yaml:"ldap"`
	// Login configures people's sign-in (docs/sso.md).
	Login Login `yaml:"login"`
	// Search configures documentation search (docs/search.md).
	Search Search `yaml:"search"`
}

// Login configures sign-in: sessions, the factor policy, lockout.
type Login struct {
	// SessionIdle ends a session unused for this long (1m to 24h);
	// SessionLifetime ends it this long after the login whatever its use
	// (5m to 30d).
	SessionIdle     Duration `yaml:"session_idle"`
	SessionLifetime Duration `yaml:"session_lifetime"`
	// Reauth is how recent a login must be for a sensitive action (1m to
	// 1h).
	Reauth Duration `yaml:"reauth"`
	// TemporaryPasswordLifetime is how long the temporary password of an
	// administrator's reset works (1h to 30d).
	TemporaryPasswordLifetime Duration `yaml:"temporary_password_lifetime"`
	// AdminGroups name the groups (display names or ids) whose members
	// always need two factors.
	AdminGroups []string `yaml:"admin_groups"`
	// GroupFactors gives the factors (1 or 2) the members of a group (by
	// display name or id) need.
	GroupFactors map[string]int `yaml:"group_factors"`
	Lockout      LoginLockout   `yaml:"lockout"`
	// FactorKeyFile holds the key that seals TOTP secrets in the database
	// (32 bytes in base64; AES-256-GCM). Default: login-factor.key in
	// DataDir; serve creates the file if it is missing. Keep it apart from
	// the database; replicas share it.
	FactorKeyFile string `yaml:"factor_key_file"`
	// InsecureDevCookies lets sign-in work over plain http, for
	// development on this machine: session cookies without Secure and
	// without the __Host- prefix. Allowed only when the server listens on
	// a loopback address, without TLS, and base_url (if set) is an http
	// URL of a loopback host.
	InsecureDevCookies bool `yaml:"insecure_dev_cookies"`
}

// LoginLockout sets the limits on failed logins (docs/sso.md, "Lockout
// and throttling").
type LoginLockout struct {
	// Failures failures of an account from one network (or trusted
	// device) within Window lock that network out of that account for
	// Duration.
	Failures int      `yaml:"failures"`
	Window   Duration `yaml:"window"`
	Duration Duration `yaml:"duration"`
	// Past AccountFailures failures from clients that are not the
	// account's trusted devices, each further attempt from them waits
	// twice as long as the last, up to AccountMaxDelay.
	AccountFailures int      `yaml:"account_failures"`
	AccountMaxDelay Duration `yaml:"account_max_delay"`
	// AddressFailures failures per client address in AddressWindow, then
	// 429.
	AddressFailures int      `yaml:"address_failures"`
	AddressWindow   Duration `yaml:"address_window"`
	// FactorFailures wrong second factors from clients that are not the
	// account's trusted devices stop such attempts until an administrator
	// unlocks the account.
	FactorFailures int `yaml:"factor_failures"`
}

// Search configures documentation search.
type Search struct {
	// Enabled serves GET /search and runs the scheduled index runs.
	Enabled bool `yaml:"enabled"`
	// Embedder is "none" (keyword search only, the default), "openai"
	// (the OpenAI-compatible endpoint Embeddings describes: DashScope,
	// PAI-EAS, vLLM, Ollama) or "hash", the deterministic NON-SEMANTIC
	// local embedder (for tests and offline use).
	Embedder string `yaml:"embedder"`
	// Embeddings is embedder "openai"'s endpoint
	// (docs/search.md#embedding-endpoints).
	Embeddings embed.Config `yaml:"embeddings"`
	// Elasticsearch, when set, keeps the index in an Elasticsearch 8 or
	// OpenSearch 2 cluster instead of the database
	// (docs/search.md#elasticsearch-and-opensearch).
	Elasticsearch *elastic.Config `yaml:"elasticsearch"`
	// Dims is the hash embedder's number of dimensions (768).
	Dims int `yaml:"dims"`
	// Words are words the Chinese segmenter learns (product and team
	// names); changing them makes the index be rebuilt.
	Words []string `yaml:"words"`
	// Sources are the documentation sets the admin API may index, by
	// name, and serve indexes on a schedule.
	Sources []SearchSource `yaml:"sources"`
	// Chat is the OpenAI-compatible chat endpoint of the answer mode
	// (none: no answers).
	Chat SearchChat `yaml:"chat"`
	// RateLimit bounds searches per minute (GET /search and the portal's
	// search page).
	RateLimit SearchRateLimit `yaml:"rate_limit"`
}

// SearchRateLimit is how many searches a minute each asker may run; 0 is
// no limit.
type SearchRateLimit struct {
	// Person is a person searching with her Gatehouse session (default 30).
	Person int `yaml:"person"`
	// App is an application's token, whichever person it acts for
	// (default 600).
	App int `yaml:"app"`
}

// SearchSource is one documentation set.
type SearchSource struct {
	Name string `yaml:"name"`
	// Source is a directory ("dir:/srv/handbook" or a path) or a GitBook
	// space ("gitbook:SPACE_ID", read with the token in
	// GATEHOUSE_GITBOOK_TOKEN).
	Source string `yaml:"source"`
	// Groups name the groups (displayName or id) whose members may read
	// the documents.
	Groups []string `yaml:"groups"`
	// URLPrefix makes a directory document's URL (prefix + its path).
	URLPrefix string `yaml:"url_prefix"`
	// Interval, when set, makes serve index the source that often.
	Interval Duration `yaml:"interval"`
}

// SearchChat is an OpenAI-compatible chat completions endpoint.
type SearchChat struct {
	// URL is the API base ("https://dashscope.aliyuncs.com/compatible-mode/v1");
	// POST {url}/chat/completions is called.
	URL   string `yaml:"url"`
	Model string `yaml:"model"`
	// APIKeyEnv names the environment variable holding the API key.
	APIKeyEnv string `yaml:"api_key_env"`
	// Timeout bounds one answer (default 60s).
	Timeout Duration `yaml:"timeout"`
}

// Events configures the event pipeline.
type Events struct {
	// Source is the CloudEvents source of Gatehouse's own events (the
	// seeds' rules expect "com.alibabacloud.idaas").
	Source string `yaml:"source"`
	// RulesFile holds the targets and rules (YAML; reloaded on SIGHUP).
	RulesFile string `yaml:"rules_file"`
	// TemplatesDir overrides the built-in email templates.
	TemplatesDir string `yaml:"templates_dir"`
	// Company is the company's name, which the welcome email names
	// ("Welcome to Acme!"); when empty, the root organization's name,
	// unless it is still "Root".
	Company string `yaml:"company"`
	// Retention is how long finished deliveries and dispatched events are
	// kept.
	Retention Duration `yaml:"retention"`
	// PollInterval bounds how late a change made by another process is
	// dispatched.
	PollInterval Duration `yaml:"poll_interval"`
	// EgressAllow lists the ranges every target (and the push) may reach
	// although the egress policy refuses them: loopback, private networks,
	// special-purpose blocks and this host's addresses are refused by
	// default; cloud metadata addresses always (docs/events.md).
	EgressAllow []string `yaml:"egress_allow"`
	// Disabled turns the pipeline off in this process (events are still
	// written, and delivered by another replica).
	Disabled bool `yaml:"disabled"`
}

// Auth configures credentials.
type Auth struct {
	// AccessTokenLifetime is how long OAuth access tokens live (5m to 24h).
	AccessTokenLifetime Duration `yaml:"access_token_lifetime"`
	// KeyRotation is how long a signing key signs before the next takes
	// over (1h to 365d).
	KeyRotation Duration `yaml:"key_rotation"`
	// FailureLimit failed authentications per client address or
	// application within FailureWindow are allowed; further ones are
	// answered 429 with Retry-After.
	FailureLimit  int      `yaml:"failure_limit"`
	FailureWindow Duration `yaml:"failure_window"`
}

// Audit configures the audit log.
type Audit struct {
	// Retention is how long audit records are kept (at least 1d; MLPS 2.0
	// asks for 180d, the default).
	Retention Duration `yaml:"retention"`
	// PruneInterval is how often records past retention are deleted.
	PruneInterval Duration `yaml:"prune_interval"`
	// CheckpointKeyFile is the Ed25519 private key (PEM, PKCS #8) that
	// signs checkpoints of the chain's head. Default: audit-checkpoint.key
	// in DataDir; serve creates the file if it is missing. Keep it where
	// those who can write the database cannot read it.
	CheckpointKeyFile string `yaml:"checkpoint_key_file"`
	// CheckpointFile is where serve appends checkpoints (they also go to
	// the log). Default: audit-checkpoints.log in DataDir.
	CheckpointFile string `yaml:"checkpoint_file"`
	// CheckpointInterval is how often serve signs the head when it has
	// moved (and at start and stop); 0 turns checkpoints off.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// CheckpointPublicKeys are further keys ("ed25519:…") whose
	// checkpoints verification trusts: earlier keys, other replicas' keys.
	CheckpointPublicKeys []string `yaml:"checkpoint_public_keys"`
}

// Metrics configures /metrics.
type Metrics struct {
	// Public serves /metrics without a credential (for a scraper on a
	// private network); otherwise it needs a bearer token with the
	// "metrics" scope.
	Public bool `yaml:"public"`
}

// TLS names a certificate and key; both or neither.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Log configures logging.
type Log struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// SCIM configures the SCIM endpoint.
type SCIM struct {
	DefaultPageSize   int         `yaml:"default_page_size"`
	MaxPageSize       int         `yaml:"max_page_size"`
	MaxPayloadBytes   int64       `yaml:"max_payload_bytes"`
	MaxBulkOperations int         `yaml:"max_bulk_operations"`
	Extensions        []Extension `yaml:"extensions"`
	// QueryTimeout is the time budget of a list or search.
	QueryTimeout Duration `yaml:"query_timeout"`
	// ExpensiveQueries bounds the lists and searches without an indexed
	// equality that run at once (0: GOMAXPROCS, at least 2);
	// ExpensiveQueriesPerApp those of one application (0: half of
	// ExpensiveQueries, at least 1).
	ExpensiveQueries       int `yaml:"expensive_queries"`
	ExpensiveQueriesPerApp int `yaml:"expensive_queries_per_app"`
}

// Extension declares a custom User extension namespace.
type Extension struct {
	Schema      string           `yaml:"schema"`
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Attributes  []ExtensionField `yaml:"attributes"`
}

// ExtensionField is one attribute of an extension.
type ExtensionField struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	MultiValued bool   `yaml:"multi_valued"`
	CaseExact   bool   `yaml:"case_exact"`
	Required    bool   `yaml:"required"`
	Description string `yaml:"description"`
}

// PasswordPolicy mirrors directory.PasswordPolicy.
type PasswordPolicy struct {
	MinLength        int   `yaml:"min_length"`
	MaxLength        int   `yaml:"max_length"`
	MinClasses       int   `yaml:"min_classes"`
	DisallowUserName *bool `yaml:"disallow_user_name"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 90s, 36h or 180d", n.Line)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a Go duration ("90s", "36h") or a whole number of
// days ("180d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && fmt.Sprint(days) == n {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}

// Default returns the built-in defaults: zero configuration runs Gatehouse
// on 127.0.0.1:8080 with SQLite under ./gatehouse-data.
func Default() Config {
	pp := directory.DefaultPasswordPolicy()
	return Config{
		Listen:          "127.0.0.1:8080",
		DataDir:         "./gatehouse-data",
		ShutdownTimeout: Duration(30 * time.Second),
		Log:             Log{Level: "info"},
		SCIM: SCIM{
			DefaultPageSize: 100, MaxPageSize: 1000, MaxPayloadBytes: 1 << 20, MaxBulkOperations: 1000,
			QueryTimeout: Duration(10 * time.Second),
		},
		PasswordPolicy:    PasswordPolicy{MinLength: pp.MinLength, MaxLength: pp.MaxLength, MinClasses: pp.MinClasses},
		SQLiteSynchronous: "FULL",
		Auth: Auth{
			AccessTokenLifetime: Duration(time.Hour), KeyRotation: Duration(30 * 24 * time.Hour),
			FailureLimit: 20, FailureWindow: Duration(time.Minute),
		},
		Audit: Audit{Retention: Duration(directory.AuditRetention), PruneInterval: Duration(time.Hour),
			CheckpointInterval: Duration(time.Minute)},
		Events: Events{Source: "gatehouse", Retention: Duration(7 * 24 * time.Hour), PollInterval: Duration(250 * time.Millisecond)},
		Login: Login{
			SessionIdle: Duration(30 * time.Minute), SessionLifetime: Duration(12 * time.Hour), Reauth: Duration(5 * time.Minute),
			TemporaryPasswordLifetime: Duration(72 * time.Hour),
			Lockout: LoginLockout{Failures: 5, Window: Duration(15 * time.Minute), Duration: Duration(15 * time.Minute),
				AccountFailures: 10, AccountMaxDelay: Duration(5 * time.Minute), AddressFailures: 20, AddressWindow: Duration(time.Minute),
				FactorFailures: 10},
		},
		Search: Search{Embedder: "none", Dims: 768, Chat: SearchChat{Timeout: Duration(60 * time.Second)},
			RateLimit: SearchRateLimit{Person: 30, App: 600}},
	}
}

// Flags are the command-line settings shared by the subcommands that open
// the database; serve adds its own.
type Flags struct {
	Config      string
	DataDir     string
	DatabaseURL string
	// Init lets an administration command create the database when there
	// is none (only serve does otherwise).
	Init bool
	// serve only
	Listen    string
	BaseURL   string
	TLSCert   string
	TLSKey    string
	LogFormat string
	LogLevel  string
	Profile   string
}

// Register adds the database flags to fs; with serve, the server flags too.
func (f *Flags) Register(fs *flag.FlagSet, serve bool) {
	fs.StringVar(&f.Config, "config", "", "configuration file (YAML); env GATEHOUSE_CONFIG")
	fs.StringVar(&f.DataDir, "data-dir", "", "data directory (default ./gatehouse-data); env GATEHOUSE_DATA_DIR")
	fs.StringVar(&f.DatabaseURL, "database-url", "", "SQLite path or postgres:// URL (default: SQLite in the data directory); env GATEHOUSE_DATABASE_URL")
	if !serve {
		fs.BoolVar(&f.Init, "init", false, "create the database if there is none (otherwise only serve creates one)")
		return
	}
	fs.StringVar(&f.Listen, "listen", "", "listen address (default 127.0.0.1:8080); env GATEHOUSE_LISTEN")
	fs.StringVar(&f.BaseURL, "base-url", "", "external URL of the server, e.g. https://gatehouse.example.com; env GATEHOUSE_BASE_URL")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "TLS certificate file (PEM); env GATEHOUSE_TLS_CERT")
	fs.StringVar(&f.TLSKey, "tls-key", "", "TLS private key file (PEM); env GATEHOUSE_TLS_KEY")
	fs.StringVar(&f.LogFormat, "log-format", "", "log format: text (default) or json; env GATEHOUSE_LOG_FORMAT")
	fs.StringVar(&f.Profile, "profile", "", "what to serve: the hub (default) or ram, a stand-in for Alibaba Cloud RAM's SCIM endpoint; env GATEHOUSE_PROFILE")
	fs.StringVar(&f.LogLevel, "log-level", "", "log level: debug, info, warn, error (default info); env GATEHOUSE_LOG_LEVEL")
}

// Load builds the configuration: defaults, then the file, then the
// environment, then the flags. Every problem is reported at once, in one
// error: those of the file named by the key as written there and its line,
// a value set by an environment variable or a flag named by it.
func Load(f Flags, getenv func(string) string) (Config, error) {
	c := Default()
	var problems []string
	sc := &shapeCheck{lines: map[string]int{}}
	path := first(f.Config, getenv("GATEHOUSE_CONFIG"))
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read configuration: %w", err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err != nil {
			return c, fmt.Errorf("configuration file %s: %s", path, yamlSyntaxProblem(err))
		}
		if len(root.Content) > 0 && !(root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null") {
			doc := root.Content[0]
			if sc.check(doc, reflect.TypeFor[Config](), "") {
				// What the check let through decodes; anything it did not
				// foresee is reported as the decoder words it.
				if err := doc.Decode(&c); err != nil {
					var te *yaml.TypeError
					if errors.As(err, &te) {
						problems = append(problems, te.Errors...)
					} else {
						problems = append(problems, err.Error())
					}
				}
			}
			problems = append(problems, sc.problems...)
		}
	}
	from := map[string]string{} // settings given by environment variables and flags
	set := func(key string, dst *string, env, flagName, flagVal string) {
		if v := getenv(env); v != "" {
			*dst, from[key] = v, env
		}
		if flagVal != "" {
			*dst, from[key] = flagVal, "--"+flagName
		}
	}
	set("listen", &c.Listen, "GATEHOUSE_LISTEN", "listen", f.Listen)
	set("data_dir", &c.DataDir, "GATEHOUSE_DATA_DIR", "data-dir", f.DataDir)
	set("database_url", &c.DatabaseURL, "GATEHOUSE_DATABASE_URL", "database-url", f.DatabaseURL)
	set("base_url", &c.BaseURL, "GATEHOUSE_BASE_URL", "base-url", f.BaseURL)
	set("tls.cert_file", &c.TLS.CertFile, "GATEHOUSE_TLS_CERT", "tls-cert", f.TLSCert)
	set("tls.key_file", &c.TLS.KeyFile, "GATEHOUSE_TLS_KEY", "tls-key", f.TLSKey)
	set("log.format", &c.Log.Format, "GATEHOUSE_LOG_FORMAT", "log-format", f.LogFormat)
	set("log.level", &c.Log.Level, "GATEHOUSE_LOG_LEVEL", "log-level", f.LogLevel)
	set("sqlite_synchronous", &c.SQLiteSynchronous, "GATEHOUSE_SQLITE_SYNCHRONOUS", "", "")
	set("debug_listen", &c.DebugListen, "GATEHOUSE_DEBUG_LISTEN", "", "")
	set("profile", &c.Profile, "GATEHOUSE_PROFILE", "profile", f.Profile)
	set("events.rules_file", &c.Events.RulesFile, "GATEHOUSE_RULES_FILE", "", "")
	set("events.source", &c.Events.Source, "GATEHOUSE_EVENTS_SOURCE", "", "")
	set("events.company", &c.Events.Company, "GATEHOUSE_EVENTS_COMPANY", "", "")
	if v := getenv("GATEHOUSE_EVENTS_EGRESS_ALLOW"); v != "" {
		c.Events.EgressAllow = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.Events.EgressAllow = append(c.Events.EgressAllow, p)
			}
		}
		from["events.egress_allow"] = "GATEHOUSE_EVENTS_EGRESS_ALLOW"
	}
	set("audit.checkpoint_key_file", &c.Audit.CheckpointKeyFile, "GATEHOUSE_AUDIT_CHECKPOINT_KEY_FILE", "", "")
	set("login.factor_key_file", &c.Login.FactorKeyFile, "GATEHOUSE_LOGIN_FACTOR_KEY_FILE", "", "")
	set("audit.checkpoint_file", &c.Audit.CheckpointFile, "GATEHOUSE_AUDIT_CHECKPOINT_FILE", "", "")
	for _, d := range []struct {
		key, env string
		dst      *Duration
	}{{"audit.retention", "GATEHOUSE_AUDIT_RETENTION", &c.Audit.Retention}, {"audit.checkpoint_interval", "GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL", &c.Audit.CheckpointInterval}} {
		if v := getenv(d.env); v != "" {
			p, err := ParseDuration(v)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: want a duration such as 90s, 36h or 180d", d.env))
				continue
			}
			*d.dst, from[d.key] = Duration(p), d.env
		}
	}
	for _, p := range c.problems() {
		problems = append(problems, locate(p, sc.lines, from))
	}
	if len(problems) > 0 {
		where := "invalid configuration"
		if path != "" {
			where += " (file " + path + ")"
		}
		return c, fmt.Errorf("%s:\n  - %s", where, strings.Join(sortedProblems(problems), "\n  - "))
	}
	return c, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxProblem rewords a YAML parser error. The parser names the line
// where the construct it could not finish starts, or the one before: the
// problem is there or after.
func yamlSyntaxProblem(err error) string {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return "line " + m[1] + ": not valid YAML at or after this line: " + m[2]
	}
	return "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Validate reports every problem in the configuration at once.
func (c Config) Validate() error {
	if problems := c.problems(); len(problems) > 0 {
		return fmt.Errorf("invalid configuration:\n  - %s", strings.Join(problems, "\n  - "))
	}
	return nil
}

// problems lists what is wrong with the configuration, each problem
// starting with the key at fault ("scim.max_page_size: …").
func (c Config) problems() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen: %q is not host:port", c.Listen)
	}
	if c.DebugListen != "" {
		if _, _, err := net.SplitHostPort(c.DebugListen); err != nil {
			add("debug_listen: %q is not host:port", c.DebugListen)
		}
	}
	if c.DataDir == "" {
		add("data_dir: must not be empty")
	}
	switch c.Profile {
	case "", "hub", "ram":
	default:
		add("profile: %q is not a profile (hub, ram)", c.Profile)
	}
	problems = append(problems, c.Search.problems()...)
	if _, _, err := c.Database(); err != nil {
		add("database_url: %v", err)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("base_url: %q must be an absolute http(s) URL", c.BaseURL)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls: give both cert_file and key_file, or neither")
	}
	for _, f := range []string{c.TLS.CertFile, c.TLS.KeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				add("tls: %v", err)
			}
		}
	}
	switch strings.ToLower(c.Log.Format) {
	case "", "text", "json":
	default:
		add("log.format: must be text or json, not %q", c.Log.Format)
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		add("log.level: must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if c.SCIM.MaxPageSize < 1 || c.SCIM.MaxPageSize > 10000 {
		add("scim.max_page_size: must be between 1 and 10000")
	}
	if c.SCIM.DefaultPageSize < 1 || c.SCIM.DefaultPageSize > c.SCIM.MaxPageSize {
		add("scim.default_page_size: must be between 1 and scim.max_page_size")
	}
	if c.SCIM.MaxPayloadBytes < 1024 || c.SCIM.MaxPayloadBytes > 64<<20 {
		add("scim.max_payload_bytes: must be between 1 KiB and 64 MiB")
	}
	if c.SCIM.MaxBulkOperations < 1 || c.SCIM.MaxBulkOperations > 10000 {
		add("scim.max_bulk_operations: must be between 1 and 10000")
	}
	if time.Duration(c.SCIM.QueryTimeout) < 10*time.Millisecond || time.Duration(c.SCIM.QueryTimeout) > 10*time.Minute {
		add("scim.query_timeout: must be between 10ms and 10m")
	}
	if c.SCIM.ExpensiveQueries < 0 || c.SCIM.ExpensiveQueries > 1000 {
		add("scim.expensive_queries: must be between 1 and 1000 (0: automatic)")
	}
	if c.SCIM.ExpensiveQueriesPerApp < 0 || (c.SCIM.ExpensiveQueries > 0 && c.SCIM.ExpensiveQueriesPerApp > c.SCIM.ExpensiveQueries) {
		add("scim.expensive_queries_per_app: must be between 1 and scim.expensive_queries (0: automatic)")
	}
	if _, err := schema.NewRegistry(c.Extensions()); err != nil {
		add("scim.extensions: %v", err)
	}
	if err := c.Policy().Validate(); err != nil {
		for _, p := range strings.Split(err.Error(), "; ") {
			add("%s", strings.Replace(p, " must", ": must", 1))
		}
	}
	if c.ShutdownTimeout < 0 {
		add("shutdown_timeout: must not be negative")
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParseCIDR(p); err != nil {
			add("trusted_proxies: %v", err)
		}
	}
	between := func(name string, d Duration, lo, hi time.Duration) {
		if time.Duration(d) < lo || time.Duration(d) > hi {
			add("%s: must be between %s and %s", name, lo, hi)
		}
	}
	between("auth.access_token_lifetime", c.Auth.AccessTokenLifetime, 5*time.Minute, 24*time.Hour)
	between("auth.key_rotation", c.Auth.KeyRotation, time.Hour, 365*24*time.Hour)
	between("auth.failure_window", c.Auth.FailureWindow, time.Second, 24*time.Hour)
	if c.Auth.FailureLimit < 1 || c.Auth.FailureLimit > 1000000 {
		add("auth.failure_limit: must be between 1 and 1000000")
	}
	between("audit.retention", c.Audit.Retention, 24*time.Hour, 100*365*24*time.Hour)
	between("audit.prune_interval", c.Audit.PruneInterval, time.Minute, 7*24*time.Hour)
	if c.Audit.CheckpointInterval != 0 {
		between("audit.checkpoint_interval", c.Audit.CheckpointInterval, time.Second, 24*time.Hour)
	}
	for _, k := range c.Audit.CheckpointPublicKeys {
		if _, err := checkpoint.ParsePublicKey(k); err != nil {
			add("audit.checkpoint_public_keys: %v", err)
		}
	}
	for _, p := range c.Events.EgressAllow {
		if _, err := ParseCIDR(p); err != nil {
			add("events.egress_allow: %v", err)
		}
	}
	if c.Events.Source == "" {
		add("events.source: must not be empty (a URI-reference, e.g. com.alibabacloud.idaas)")
	} else if _, err := url.Parse(c.Events.Source); err != nil {
		add("events.source: %q is not a URI-reference", c.Events.Source)
	}
	if co := c.Events.Company; len(co) > 200 || strings.ContainsFunc(co, unicode.IsControl) || !utf8.ValidString(co) {
		add("events.company: want a name of at most 200 characters on one line")
	}
	between("events.retention", c.Events.Retention, time.Hour, 3650*24*time.Hour)
	between("events.poll_interval", c.Events.PollInterval, 10*time.Millisecond, time.Minute)
	if c.Events.RulesFile != "" {
		if _, err := os.Stat(c.Events.RulesFile); err != nil {
			add("events.rules_file: %v", err)
		}
	}
	switch strings.ToUpper(c.SQLiteSynchronous) {
	case "FULL", "NORMAL":
	default:
		add("sqlite_synchronous: must be FULL or NORMAL")
	}
	between("login.session_idle", c.Login.SessionIdle, time.Minute, 24*time.Hour)
	between("login.session_lifetime", c.Login.SessionLifetime, 5*time.Minute, 30*24*time.Hour)
	between("login.reauth", c.Login.Reauth, time.Minute, time.Hour)
	between("login.temporary_password_lifetime", c.Login.TemporaryPasswordLifetime, time.Hour, 30*24*time.Hour)
	lo := c.Login.Lockout
	if lo.Failures < 1 || lo.Failures > 100 {
		add("login.lockout.failures: must be between 1 and 100")
	}
	between("login.lockout.window", lo.Window, time.Minute, 24*time.Hour)
	between("login.lockout.duration", lo.Duration, time.Minute, 24*time.Hour)
	if lo.AccountFailures < 1 || lo.AccountFailures > 1000 {
		add("login.lockout.account_failures: must be between 1 and 1000")
	}
	between("login.lockout.account_max_delay", lo.AccountMaxDelay, time.Second, time.Hour)
	if lo.AddressFailures < 1 || lo.AddressFailures > 1000000 {
		add("login.lockout.address_failures: must be between 1 and 1000000")
	}
	between("login.lockout.address_window", lo.AddressWindow, time.Second, 24*time.Hour)
	if lo.FactorFailures < 1 || lo.FactorFailures > 1000 {
		add("login.lockout.factor_failures: must be between 1 and 1000")
	}
	for g, n := range c.Login.GroupFactors {
		if n < 1 || n > 2 {
			add("login.group_factors: %q: must be 1 or 2", g)
		}
	}
	for _, g := range c.Login.AdminGroups {
		if strings.TrimSpace(g) == "" {
			add("login.admin_groups: a group name must not be empty")
		}
	}
	if c.Login.InsecureDevCookies {
		if why := c.devCookiesRefused(); why != "" {
			add("login.insecure_dev_cookies: %s", why)
		}
	}
	ldapNames := map[string]bool{}
	for i, l := range c.LDAP {
		for _, p := range l.Problems() {
			add("ldap[%d]: %s", i, p)
		}
		if ldapNames[l.Name] {
			add("ldap[%d]: name: %q is used twice", i, l.Name)
		}
		ldapNames[l.Name] = true
	}
	return problems
}

// devCookiesRefused says why login.insecure_dev_cookies may not be used
// with this configuration ("" when it may): it is for a server on this
// machine only.
func (c Config) devCookiesRefused() string {
	if c.TLS.CertFile != "" {
		return "not with TLS (the cookies are Secure then)"
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil || !loopbackHost(host) {
		return "only for a server listening on a loopback address (127.0.0.1, [::1], localhost)"
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || u.Scheme != "http" || !loopbackHost(u.Hostname()) {
			return "only with an http base_url of a loopback host"
		}
	}
	return ""
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// SignIn says how sign-in cookies are sent: secure (https: base_url is
// https or the server has TLS), or insecure for development
// (login.insecure_dev_cookies), or not at all (enabled false): a browser
// would send the session over plain http.
func (c Config) SignIn() (enabled, secure bool) {
	if c.TLS.CertFile != "" || strings.HasPrefix(strings.ToLower(c.BaseURL), "https://") {
		return true, true
	}
	if c.Login.InsecureDevCookies && c.devCookiesRefused() == "" {
		return true, false
	}
	return false, false
}

// Database returns the database kind ("sqlite" or "postgres") and its
// location (file path or URL).
func (c Config) Database() (kind, location string, err error) {
	u := strings.TrimSpace(c.DatabaseURL)
	switch {
	case u == "":
		return "sqlite", filepath.Join(c.DataDir, "gatehouse.db"), nil
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		if _, err := url.Parse(u); err != nil {
			// url.Error repeats the URL, password included: only the reason.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return "", "", fmt.Errorf("bad PostgreSQL URL: %v", err)
		}
		return "postgres", u, nil
	case strings.HasPrefix(u, "sqlite://"):
		return "sqlite", strings.TrimPrefix(u, "sqlite://"), nil
	case strings.HasPrefix(u, "sqlite:"):
		return "sqlite", strings.TrimPrefix(u, "sqlite:"), nil
	case strings.HasPrefix(u, "file:"):
		return "sqlite", strings.TrimPrefix(u, "file:"), nil
	case strings.Contains(u, "://"):
		return "", "", fmt.Errorf("unsupported database URL scheme in %q (use a SQLite path or postgres://)", RedactURL(u))
	}
	return "sqlite", u, nil
}

// CheckpointKeyFile is the key that signs audit checkpoints.
func (c Config) CheckpointKeyFile() string {
	return first(c.Audit.CheckpointKeyFile, filepath.Join(c.DataDir, "audit-checkpoint.key"))
}

// FactorKeyFile is the file of the key that seals TOTP secrets.
func (c Config) FactorKeyFile() string {
	return first(c.Login.FactorKeyFile, filepath.Join(c.DataDir, "login-factor.key"))
}

// CheckpointFile is the file audit checkpoints are appended to.
func (c Config) CheckpointFile() string {
	return first(c.Audit.CheckpointFile, filepath.Join(c.DataDir, "audit-checkpoints.log"))
}

// RedactURL hides the secrets of a database URL, for messages and logs:
// the password of its userinfo, and the value of every query parameter
// named like one (password, sslpassword, passfile…, any name with pass,
// secret or token in it), shown as xxxxx.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			name, _, ok := strings.Cut(p, "=")
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			if lower := strings.ToLower(name); ok && (strings.Contains(lower, "pass") || strings.Contains(lower, "secret") || strings.Contains(lower, "token")) {
				parts[i] = p[:strings.IndexByte(p, '=')] + "=xxxxx"
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.Redacted()
}

// Extensions converts the configured extensions.
func (c Config) Extensions() []schema.ExtensionDef {
	var out []schema.ExtensionDef
	for _, e := range c.SCIM.Extensions {
		d := schema.ExtensionDef{URN: e.Schema, Name: e.Name, Description: e.Description}
		for _, a := range e.Attributes {
			d.Attributes = append(d.Attributes, schema.ExtensionAttr{
				Name: a.Name, Type: schema.Type(a.Type), MultiValued: a.MultiValued, CaseExact: a.CaseExact,
				Required: a.Required, Description: a.Description,
			})
		}
		out = append(out, d)
	}
	return out
}

// Policy returns the password policy.
func (c Config) Policy() directory.PasswordPolicy {
	p := directory.PasswordPolicy{MinLength: c.PasswordPolicy.MinLength, MaxLength: c.PasswordPolicy.MaxLength, MinClasses: c.PasswordPolicy.MinClasses, DisallowUserName: true}
	if c.PasswordPolicy.DisallowUserName != nil {
		p.DisallowUserName = *c.PasswordPolicy.DisallowUserName
	}
	return p
}

// ParseCIDR reads a CIDR ("10.0.0.0/8") or a single address.
func ParseCIDR(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// problems lists what is wrong with the search section.
func (s Search) problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	switch s.Embedder {
	case "", "none", "hash":
	case "openai":
		for _, p := range s.Embeddings.Problems() {
			add("search.embeddings.%s", p)
		}
	default:
		add("search.embedder: %q is not an embedder (none, openai, hash)", s.Embedder)
	}
	if s.Elasticsearch != nil {
		for _, p := range s.Elasticsearch.Problems() {
			add("search.elasticsearch.%s", p)
		}
	}
	if s.Dims < 8 || s.Dims > 4096 {
		add("search.dims: must be between 8 and 4096")
	}
	names := map[string]bool{}
	for i, src := range s.Sources {
		key := fmt.Sprintf("search.sources[%d]", i)
		switch {
		case src.Name == "":
			add("%s.name: must not be empty", key)
		case names[src.Name]:
			add("%s.name: %q is used twice", key, src.Name)
		}
		names[src.Name] = true
		if src.Source == "" {
			add("%s.source: must not be empty (a directory or gitbook:SPACE)", key)
		}
		if len(src.Groups) == 0 {
			add("%s.groups: name the groups whose members may read the documents", key)
		}
		if src.Interval != 0 && time.Duration(src.Interval) < time.Minute {
			add("%s.interval: at least 1m", key)
		}
	}
	if s.RateLimit.Person < 0 {
		add("search.rate_limit.person: must be 0 (no limit) or more")
	}
	if s.RateLimit.App < 0 {
		add("search.rate_limit.app: must be 0 (no limit) or more")
	}
	if s.Chat.URL != "" {
		if u, err := url.Parse(s.Chat.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("search.chat.url: not an http(s) URL")
		}
		if s.Chat.Model == "" {
			add("search.chat.model: must be set with search.chat.url")
		}
	}
	return out
}

package elastic

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Engines.
const (
	EngineElasticsearch = "elasticsearch"
	EngineOpenSearch    = "opensearch"
)

// RRF modes.
const (
	// RRFAuto fuses in the cluster when it can (Elasticsearch 8.16 or
	// later with an enterprise or trial licence: the rrf retriever), and in
	// Gatehouse otherwise.
	RRFAuto = "auto"
	// RRFGatehouse always fuses in Gatehouse (search.Fuse) over the two
	// rankings one _msearch returns.
	RRFGatehouse = "gatehouse"
	// RRFNative requires the cluster's rrf retriever (New fails without
	// it).
	RRFNative = "native"
)

// Config is an Elasticsearch 8 or OpenSearch 2 cluster (the configuration
// file's `search.elasticsearch:` section).
type Config struct {
	// Engine is "elasticsearch" (8.x) or "opensearch" (2.x).
	Engine string `yaml:"engine"`
	// Addresses are the cluster's HTTPS endpoints
	// (https://es-cn-xxxx.elasticsearch.aliyuncs.com:9200).
	Addresses []string `yaml:"addresses"`
	// InsecurePlaintext allows http:// addresses (the password and the
	// documents then travel in clear).
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
	// CAFile is a PEM bundle to verify the cluster's certificate with
	// (default: the system's).
	CAFile string `yaml:"ca_file"`
	// Index is the index name (default rag-docs).
	Index string `yaml:"index"`
	// Username with PasswordEnv or PasswordFile: HTTP basic
	// authentication (Alibaba Cloud Elasticsearch's elastic user).
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// APIKeyEnv or APIKeyFile: an Elasticsearch API key (the encoded
	// id:key), instead of a password.
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// RRF is where hybrid results are fused: auto (default), gatehouse or
	// native.
	RRF string `yaml:"rrf"`
	// Timeout bounds each request to the cluster (default 30s).
	Timeout Duration `yaml:"timeout"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (such as 30s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 30 * time.Second

// Resolve returns c with every default filled in.
func (c Config) Resolve() Config {
	if c.Index == "" {
		c.Index = DefaultIndex
	}
	if c.RRF == "" {
		c.RRF = RRFAuto
	}
	if c.Timeout <= 0 {
		c.Timeout = Duration(DefaultTimeout)
	}
	return c
}

// Problems lists what is wrong with c, every problem at once; nil when it
// is valid. It reads no file and no environment variable.
func (c Config) Problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if c.Engine != EngineElasticsearch && c.Engine != EngineOpenSearch {
		add("engine: must be elasticsearch or opensearch, not %q", c.Engine)
	}
	if len(c.Addresses) == 0 {
		add("addresses: give at least one (https://host:9200)")
	}
	for _, a := range c.Addresses {
		u, err := url.Parse(a)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			add("addresses: %q is not an http(s) URL", a)
		case u.User != nil:
			add("addresses: %q must not carry credentials (use username and password_env or password_file)", u.Redacted())
		case u.Scheme == "http" && !c.InsecurePlaintext:
			add("addresses: %q is plain HTTP: use https (or insecure_plaintext: true to send the password and the documents in clear)", a)
		}
	}
	if c.Index != "" && !validIndexName(c.Index) {
		add("index: %q is not a valid index name (lower case, no spaces or \\/*?\"<>|,#:, not starting with -, _ or +)", c.Index)
	}
	pw := c.PasswordEnv != "" || c.PasswordFile != ""
	key := c.APIKeyEnv != "" || c.APIKeyFile != ""
	switch {
	case c.PasswordEnv != "" && c.PasswordFile != "":
		add("password_env, password_file: give one, not both")
	case c.APIKeyEnv != "" && c.APIKeyFile != "":
		add("api_key_env, api_key_file: give one, not both")
	case pw && c.Username == "":
		add("username: required with a password")
	case c.Username != "" && !pw:
		add("username: give password_env or password_file")
	case pw && key:
		add("password_env/password_file, api_key_env/api_key_file: give a password or an API key, not both")
	case key && c.Engine == EngineOpenSearch:
		add("api_key_env, api_key_file: OpenSearch takes a username and password")
	}
	if !slices.Contains([]string{"", RRFAuto, RRFGatehouse, RRFNative}, c.RRF) {
		add("rrf: must be auto, gatehouse or native, not %q", c.RRF)
	}
	if c.RRF == RRFNative && c.Engine == EngineOpenSearch {
		add("rrf: native fusion is Elasticsearch's rrf retriever; OpenSearch fuses in Gatehouse (auto or gatehouse)")
	}
	if c.Timeout < 0 {
		add("timeout: must not be negative")
	}
	return out
}

func validIndexName(s string) bool {
	if s == "" || len(s) > 255 || s == "." || s == ".." || strings.ContainsAny(s[:1], "-_+") {
		return false
	}
	if strings.ToLower(s) != s || strings.ContainsAny(s, " \\/*?\"<>|,#:") {
		return false
	}
	return true
}

// secret reads a secret from an environment variable or a file.
func secret(what, env, file string, getenv func(string) string) (string, error) {
	switch {
	case env != "":
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return "", fmt.Errorf("the %s: the environment variable %s is not set", what, env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("the %s: %w", what, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("the %s: %s is empty", what, file)
		}
		return v, nil
	}
	return "", nil
}

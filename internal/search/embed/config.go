package embed

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the embedding endpoint (the configuration file's
// `search.embeddings:` section). Fields left empty take the provider's
// defaults (see Resolve). The API key is never written in the file: it is
// read from the environment variable APIKeyEnv or the file APIKeyFile.
type Config struct {
	// Provider names the server: "dashscope" (Alibaba Cloud Model Studio's
	// OpenAI-compatible mode), "pai-eas" (a PAI-EAS service, usually vLLM,
	// behind the EAS gateway), "vllm", "ollama" (its OpenAI endpoint) or
	// "openai" (any other server that speaks OpenAI's embeddings API).
	Provider string `yaml:"provider"`
	// BaseURL is the API base, as an OpenAI SDK takes it (the client
	// appends "/embeddings"): https://dashscope.aliyuncs.com/compatible-mode/v1
	// (dashscope's default), <EAS endpoint>/v1, http://host:8000/v1 (vLLM),
	// http://host:11434/v1 (Ollama).
	BaseURL string `yaml:"base_url"`
	// Model is the embedding model ("text-embedding-v3", "text-embedding-v4",
	// "bge-m3", "nomic-embed-text", …).
	Model string `yaml:"model"`
	// Dimensions is the length of every vector (768 in the seeds). Every
	// answer is checked against it: a vector of another length is an error.
	Dimensions int `yaml:"dimensions"`
	// SendDimensions asks the server for Dimensions (the request's
	// "dimensions" field). Default: true for dashscope and openai, false
	// for vllm, pai-eas and ollama (vLLM refuses the field for models
	// without Matryoshka support; Ollama's OpenAI endpoint ignores it).
	SendDimensions *bool `yaml:"send_dimensions"`
	// APIKeyEnv or APIKeyFile names where the API key is (one of them, or
	// neither for a server that needs none).
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// BatchSize is how many texts go in one request (default: the
	// provider's limit; at most that limit).
	BatchSize int `yaml:"batch_size"`
	// Timeout bounds each request (default 30s).
	Timeout Duration `yaml:"timeout"`
	// MaxRetries is how often a request is retried after a 408, 429, 5xx
	// or transport failure (default 3; -1: never).
	MaxRetries int `yaml:"max_retries"`
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

// Defaults.
const (
	DefaultTimeout    = 30 * time.Second
	DefaultMaxRetries = 3
	// MaxDimensions bounds Dimensions (OpenAI's largest model has 3,072;
	// Elasticsearch's dense_vector takes at most 4,096).
	MaxDimensions = 4096
)

// provider is what the client knows of one kind of server.
type provider struct {
	// defaultBaseURL, when the provider has one address for everyone.
	defaultBaseURL string
	// maxBatch is the most inputs one request may carry (0: the
	// default batch is the limit).
	maxBatch func(model string) int
	// defaultBatch is BatchSize's default (at most maxBatch).
	defaultBatch int
	// sendDimensions is SendDimensions' default.
	sendDimensions bool
	// sendEncodingFormat: the request says "encoding_format": "float".
	sendEncodingFormat bool
	// rawToken: the key goes in the Authorization header as it is, not
	// after "Bearer " (PAI-EAS's documented form).
	rawToken bool
	// keyRequired: a key must be configured.
	keyRequired bool
}

// providers are the supported servers. The batch limits are the
// providers' documented ones: DashScope takes at most 10 inputs per request
// for text-embedding-v3 and -v4 (older documents said 6, then 20: the
// server answers "batch size is invalid, it should not be larger than 10"
// above it) and 25 for text-embedding-v1 and -v2; OpenAI takes 2,048. vLLM,
// PAI-EAS and Ollama batch as they are configured: their defaults are kept
// small enough for one request to finish well within Timeout.
var providers = map[string]provider{
	"dashscope": {
		defaultBaseURL: "https://dashscope.aliyuncs.com/compatible-mode/v1",
		maxBatch: func(model string) int {
			if model == "text-embedding-v1" || model == "text-embedding-v2" {
				return 25
			}
			return 10
		},
		sendDimensions:     true,
		sendEncodingFormat: true,
		keyRequired:        true,
	},
	"pai-eas": {defaultBatch: 16, sendEncodingFormat: true, rawToken: true, keyRequired: true},
	"vllm":    {defaultBatch: 32, sendEncodingFormat: true},
	"ollama":  {defaultBatch: 32},
	"openai": {
		maxBatch:           func(string) int { return 2048 },
		defaultBatch:       100,
		sendDimensions:     true,
		sendEncodingFormat: true,
	},
}

// Providers lists the provider names, sorted.
func Providers() []string {
	out := make([]string, 0, len(providers))
	for k := range providers {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Resolve returns c with every default filled in. It does not validate:
// call Problems first.
func (c Config) Resolve() Config {
	p := providers[c.Provider]
	if strings.TrimSpace(c.BaseURL) == "" {
		c.BaseURL = p.defaultBaseURL
	}
	limit := p.limit(c.Model)
	if c.BatchSize <= 0 {
		c.BatchSize = limit
	}
	if c.SendDimensions == nil {
		v := p.sendDimensions
		c.SendDimensions = &v
	}
	if c.Timeout <= 0 {
		c.Timeout = Duration(DefaultTimeout)
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	case c.MaxRetries < 0:
		c.MaxRetries = -1
	}
	return c
}

// limit is the most inputs one request may carry for model.
func (p provider) limit(model string) int {
	if p.maxBatch != nil {
		m := p.maxBatch(model)
		if p.defaultBatch > 0 {
			return min(m, p.defaultBatch)
		}
		return m
	}
	return p.defaultBatch
}

// hardLimit is the provider's documented maximum (0: none).
func (p provider) hardLimit(model string) int {
	if p.maxBatch == nil {
		return 0
	}
	return p.maxBatch(model)
}

// Problems lists what is wrong with c, every problem at once; nil when it
// is valid. It reads no file and no environment variable: the key is read
// by New.
func (c Config) Problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	p, ok := providers[c.Provider]
	if !ok {
		add("provider: must be one of %s, not %q", strings.Join(Providers(), ", "), c.Provider)
	}
	base := strings.TrimSpace(c.BaseURL)
	if base == "" && ok {
		base = p.defaultBaseURL
	}
	u, err := url.Parse(base)
	switch {
	case base == "":
		add("base_url: required for provider %s (the OpenAI-style base, ending in /v1)", c.Provider)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		add("base_url: %q is not an absolute http(s) URL", base)
	case u.User != nil:
		add("base_url: must not carry credentials (use api_key_env or api_key_file)")
	case u.RawQuery != "" || u.Fragment != "":
		add("base_url: must have no query or fragment")
	case strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/embeddings"):
		add("base_url: give the base (…/v1), not the /embeddings endpoint")
	}
	if strings.TrimSpace(c.Model) == "" {
		add("model: required")
	}
	if c.Dimensions < 1 || c.Dimensions > MaxDimensions {
		add("dimensions: must be between 1 and %d, not %d", MaxDimensions, c.Dimensions)
	}
	if c.APIKeyEnv != "" && c.APIKeyFile != "" {
		add("api_key_env, api_key_file: give one, not both")
	}
	if ok && p.keyRequired && c.APIKeyEnv == "" && c.APIKeyFile == "" {
		add("api_key_env or api_key_file: provider %s needs an API key", c.Provider)
	}
	if ok {
		if hard := p.hardLimit(c.Model); hard > 0 && c.BatchSize > hard {
			add("batch_size: %s takes at most %d inputs per request%s, not %d", c.Provider, hard, forModel(c.Model), c.BatchSize)
		}
	}
	if c.BatchSize < 0 {
		add("batch_size: must not be negative")
	}
	if c.Timeout < 0 {
		add("timeout: must not be negative")
	}
	if c.MaxRetries < -1 || c.MaxRetries > 10 {
		add("max_retries: must be between -1 (never) and 10")
	}
	return out
}

// apiKey reads the key from where c says; "" when c names no place.
func (c Config) apiKey(getenv func(string) string) (string, error) {
	switch {
	case c.APIKeyEnv != "":
		v := strings.TrimSpace(getenv(c.APIKeyEnv))
		if v == "" {
			return "", fmt.Errorf("the API key: the environment variable %s is not set", c.APIKeyEnv)
		}
		return v, nil
	case c.APIKeyFile != "":
		b, err := os.ReadFile(c.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("the API key: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("the API key: %s is empty", c.APIKeyFile)
		}
		return v, nil
	}
	return "", nil
}

func forModel(m string) string {
	if strings.TrimSpace(m) == "" {
		return ""
	}
	return " for " + m
}

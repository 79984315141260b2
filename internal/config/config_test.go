package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(file, []byte(`
listen: 127.0.0.1:9000
data_dir: /from/file
base_url: https://file.example.com
shutdown_timeout: 5s
scim:
  max_page_size: 500
  default_page_size: 50
  extensions:
    - schema: urn:ietf:params:scim:schemas:extension:customfield:2.0:User
      attributes:
        - name: costCenterCode
        - name: level
          type: integer
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Flags{Config: file, Listen: "127.0.0.1:9002"}, env(map[string]string{
		"GATEHOUSE_LISTEN":         "127.0.0.1:9001",
		"GATEHOUSE_DATA_DIR":       "/from/env",
		"GATEHOUSE_EVENTS_COMPANY": "Acme Corp",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9002" {
		t.Errorf("listen = %q: flags must win over env and file", c.Listen)
	}
	if c.DataDir != "/from/env" {
		t.Errorf("data_dir = %q: env must win over the file", c.DataDir)
	}
	if c.BaseURL != "https://file.example.com" || time.Duration(c.ShutdownTimeout) != 5*time.Second || c.SCIM.MaxPageSize != 500 {
		t.Errorf("file values lost: %+v", c)
	}
	if c.Events.Company != "Acme Corp" {
		t.Errorf("events.company = %q, want it from the environment", c.Events.Company)
	}
	if c.SCIM.MaxBulkOperations != 1000 {
		t.Errorf("defaults lost: max_bulk_operations = %d", c.SCIM.MaxBulkOperations)
	}
	ext := c.Extensions()
	if len(ext) != 1 || len(ext[0].Attributes) != 2 || ext[0].Attributes[1].Type != "integer" {
		t.Errorf("extensions = %+v", ext)
	}
	kind, loc, _ := c.Database()
	if kind != "sqlite" || loc != "/from/env/gatehouse.db" {
		t.Errorf("database = %s %s", kind, loc)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	os.WriteFile(file, []byte(`
listen: nowhere
base_url: ftp://x
tls: {cert_file: /nope.pem}
log: {format: xml, level: loud}
scim:
  max_page_size: 0
  extensions:
    - schema: not-a-urn
      attributes: [{name: "bad name"}]
events: {company: "Acme\nBcc: x@example.com"}
`), 0o600)
	_, err := Load(Flags{Config: file}, env(nil))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"listen", "base_url", "tls", "log.format", "log.level", "max_page_size", "must be a URN", "bad name", "events.company"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "typo.yaml")
	os.WriteFile(file, []byte("listne: 127.0.0.1:1\n"), 0o600)
	if _, err := Load(Flags{Config: file}, env(nil)); err == nil || !strings.Contains(err.Error(), "listne") {
		t.Errorf("typo in the file: %v", err)
	}
}

func TestDatabaseURLs(t *testing.T) {
	tests := []struct{ in, kind, loc string }{
		{"", "sqlite", "d/gatehouse.db"},
		{"/var/lib/g.db", "sqlite", "/var/lib/g.db"},
		{"sqlite:rel.db", "sqlite", "rel.db"},
		{"sqlite:///abs.db", "sqlite", "/abs.db"},
		{"file:x.db", "sqlite", "x.db"},
		{"postgres://u:p@h/db", "postgres", "postgres://u:p@h/db"},
		{"postgresql://h/db", "postgres", "postgresql://h/db"},
	}
	for _, tc := range tests {
		c := Default()
		c.DataDir, c.DatabaseURL = "d", tc.in
		kind, loc, err := c.Database()
		if err != nil || kind != tc.kind || loc != tc.loc {
			t.Errorf("%q → %s %s %v", tc.in, kind, loc, err)
		}
	}
	for _, bad := range []string{"mysql://root:hunter2@h/db", "mysql://root@h/db?password=hunter2", "postgres://u:hunter2@h:x/db",
		"postgres://u@h:x/db?password=hunter2"} {
		c := Default()
		c.DatabaseURL = bad
		if _, _, err := c.Database(); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v (and the password must not be shown)", bad, err)
		}
	}
}

// RedactURL hides the password of a database URL, in its userinfo or in a
// query parameter, and keeps the rest.
func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"postgres://u:hunter2@h/db?sslmode=disable", "postgres://u:xxxxx@h/db?sslmode=disable"},
		{"postgres://u@h/db?password=hunter2&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres://u@h/db?sslmode=verify-full&sslpassword=hunter2&PASSWORD=hunter2&pass%77ord=hunter2",
			"postgres://u@h/db?sslmode=verify-full&sslpassword=xxxxx&PASSWORD=xxxxx&pass%77ord=xxxxx"},
		{"postgres://h/db?application_name=gatehouse", "postgres://h/db?application_name=gatehouse"},
	} {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAuditCheckpointSettings: the checkpoint key and file default to the
// data directory; the environment overrides the file; 0 turns checkpoints
// off; bad intervals and public keys are reported.
func TestAuditCheckpointSettings(t *testing.T) {
	c, err := Load(Flags{DataDir: "/var/lib/gatehouse"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.CheckpointKeyFile() != "/var/lib/gatehouse/audit-checkpoint.key" || c.CheckpointFile() != "/var/lib/gatehouse/audit-checkpoints.log" ||
		time.Duration(c.Audit.CheckpointInterval) != time.Minute {
		t.Errorf("defaults: %q %q %v", c.CheckpointKeyFile(), c.CheckpointFile(), c.Audit.CheckpointInterval)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(file, []byte(`
audit:
  checkpoint_key_file: /file/key
  checkpoint_file: /file/checkpoints.log
  checkpoint_interval: 0
  checkpoint_public_keys: ["ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="]
`), 0o600)
	c, err = Load(Flags{Config: file}, env(map[string]string{"GATEHOUSE_AUDIT_CHECKPOINT_KEY_FILE": "/env/key"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.CheckpointKeyFile() != "/env/key" || c.CheckpointFile() != "/file/checkpoints.log" || c.Audit.CheckpointInterval != 0 ||
		len(c.Audit.CheckpointPublicKeys) != 1 {
		t.Errorf("from file and env: %q %q %v %v", c.CheckpointKeyFile(), c.CheckpointFile(), c.Audit.CheckpointInterval, c.Audit.CheckpointPublicKeys)
	}
	c, err = Load(Flags{}, env(map[string]string{"GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL": "5s", "GATEHOUSE_AUDIT_CHECKPOINT_FILE": "/env/cp.log"}))
	if err != nil || time.Duration(c.Audit.CheckpointInterval) != 5*time.Second || c.CheckpointFile() != "/env/cp.log" {
		t.Errorf("from env: %v %v %q", err, c.Audit.CheckpointInterval, c.CheckpointFile())
	}
	if _, err := Load(Flags{}, env(map[string]string{"GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL": "soon"})); err == nil {
		t.Error("a bad interval in the environment was accepted")
	}
	os.WriteFile(file, []byte(`
audit:
  checkpoint_interval: 500ms
  checkpoint_public_keys: ["ssh-ed25519 AAAA"]
`), 0o600)
	_, err = Load(Flags{Config: file}, env(nil))
	for _, want := range []string{"audit.checkpoint_interval", "audit.checkpoint_public_keys"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

// TestOnboardingExample loads examples/onboarding/gatehouse.yaml as shipped,
// and again with its commented directory uncommented: both must be valid
// configurations, and the directory must read the base DN the example
// names (docs/ldap.md: in a YAML flow list the commas of a DN split it).
func TestOnboardingExample(t *testing.T) {
	t.Chdir("../..") // the example names its rules file from the repository's top
	const file = "examples/onboarding/gatehouse.yaml"
	noEnv := env(nil)
	c, err := Load(Flags{Config: file}, noEnv)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if c.Events.RulesFile != "examples/onboarding/rules.yaml" || len(c.LDAP) != 0 {
		t.Errorf("as shipped: rules_file %q, %d directories", c.Events.RulesFile, len(c.LDAP))
	}

	// The commented block starts at "# ldap:" and runs to the end of the
	// file's comments; uncommenting strips "# ".
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if line == "# ldap:" {
			in = true
		}
		if in && strings.HasPrefix(line, "#") {
			line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
		} else if in && strings.TrimSpace(line) != "" {
			in = false
		}
		out = append(out, line)
	}
	uncommented := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(uncommented, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(Flags{Config: uncommented}, noEnv)
	if err != nil {
		t.Fatalf("%s with its directory uncommented: %v", file, err)
	}
	if len(c.LDAP) != 1 {
		t.Fatalf("directories = %d, want the example's one", len(c.LDAP))
	}
	want := []string{"OU=Staff,DC=corp,DC=example,DC=com"}
	if got := c.LDAP[0].BaseDNs; !slices.Equal(got, want) {
		t.Errorf("base_dns = %q, want %q", got, want)
	}
}

// TestProblemsNamedByKey: every problem of the file, the environment and
// the values is reported at once, each named by its key as written in the
// file (with its line) or by the variable that set it — never by a Go type
// — and a value of the wrong type does not stop the others from being
// checked.
func TestProblemsNamedByKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string
	}{{
		name: "unknown keys and wrong types",
		file: `listen: nowhere
lisen: x
scim:
  max_page_size: lots
  default_page_sise: 3
audit:
  retention: 3 weeks
events: [a]
log:
  format: xml
`,
		want: []string{
			`line 1: listen: "nowhere" is not host:port`,
			`line 2: lisen: unknown key (did you mean "listen"?); the file takes listen, data_dir, database_url, base_url, tls, log, scim, password_policy, shutdown_timeout, sqlite_synchronous, debug_listen, profile, trusted_proxies, auth, audit, metrics, events, ldap, login, search`,
			`line 4: scim.max_page_size: want a whole number`,
			`line 5: scim.default_page_sise: unknown key (did you mean "default_page_size"?); scim takes default_page_size, max_page_size, max_payload_bytes, max_bulk_operations, extensions, query_timeout, expensive_queries, expensive_queries_per_app`,
			`line 7: audit.retention: want a duration such as 90s, 36h or 180d`,
			`line 8: events: want a mapping (of source, rules_file, templates_dir, company, retention, poll_interval, egress_allow, disabled), not a list`,
			`line 10: log.format: must be text or json, not "xml"`,
		},
	}, {
		name: "nested lists and values from the environment",
		file: `password_policy:
  min_length: 0
trusted_proxies: [10.0.0.0/8, {a: b}]
ldap:
  - name: corp
    profile: openldap
    url: ldaps://dc.example.com
    base_dns: ["dc=example,dc=com"]
    page_size: many
    timeout: soon
  - name: corp
    profiel: ad
`,
		env: map[string]string{"GATEHOUSE_LOG_LEVEL": "loud", "GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL": "soon"},
		want: []string{
			`line 2: password_policy.min_length: must be at least 1`,
			`line 3: trusted_proxies[1]: want text, not a mapping`,
			`line 9: ldap[0].page_size: want a whole number`,
			`line 10: ldap[0].timeout: "soon" is not a duration (such as 15m)`,
			`line 11: ldap[1]: profile: must be one of ad, openldap, not ""`,
			`line 11: ldap[1]: url: required (ldaps://host, or ldap://host with start_tls)`,
			`line 11: ldap[1]: base_dns: give at least one`,
			`line 11: ldap[1]: name: "corp" is used twice`,
			`line 12: ldap[1].profiel: unknown key (did you mean "profile"?); ldap[1] takes name, profile, url, start_tls, ca_file, tls_server_name, insecure_plaintext, bind_dn, bind_password_env, bind_password_file, base_dns, user_filter, group_filter, ou_filter, page_size, timeout, workers, organization, ous, groups, on_delete, max_deletions, max_membership_removals, interval, full_interval, overlap, id_attribute, change_attribute, attributes, delegated_auth, disabled`,
			`GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL: want a duration such as 90s, 36h or 180d`,
			`log.level (set by GATEHOUSE_LOG_LEVEL): must be debug, info, warn or error, not "loud"`,
		},
	}, {
		name: "a key given twice",
		file: "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
		want: []string{`line 2: listen: given twice (first on line 1)`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "gatehouse.yaml")
			if err := os.WriteFile(file, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(Flags{Config: file}, env(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			head, list, _ := strings.Cut(err.Error(), ":\n  - ")
			if head != "invalid configuration (file "+file+")" {
				t.Errorf("head = %q", head)
			}
			if diff := cmp.Diff(tc.want, strings.Split(list, "\n  - ")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSearchBackends: the OpenAI-compatible embedder's and the
// Elasticsearch backend's settings are checked with the rest, by key.
func TestSearchBackends(t *testing.T) {
	file := filepath.Join(t.TempDir(), "search.yaml")
	os.WriteFile(file, []byte(`search:
  embedder: openai
  embeddings:
    provider: dashscope
    dimensions: 768
    timeout: soon
    batch_size: 11
  elasticsearch:
    engine: elasticsearch
    addresses: ["http://10.0.0.5:9200"]
    username: elastic
`), 0o600)
	_, err := Load(Flags{Config: file}, env(nil))
	want := []string{
		`line 6: search.embeddings.timeout: "soon" is not a duration (such as 30s)`,
		`line 7: search.embeddings.batch_size: dashscope takes at most 10 inputs per request, not 11`,
		`line 10: search.elasticsearch.addresses: "http://10.0.0.5:9200" is plain HTTP: use https (or insecure_plaintext: true to send the password and the documents in clear)`,
		`line 11: search.elasticsearch.username: give password_env or password_file`,
		`search.embeddings.model: required`,
		`search.embeddings.api_key_env or api_key_file: provider dashscope needs an API key`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}

	os.WriteFile(file, []byte(`search:
  embedder: openai
  embeddings: {provider: dashscope, model: text-embedding-v3, dimensions: 768, api_key_env: DASHSCOPE_API_KEY}
  elasticsearch: {engine: opensearch, addresses: ["https://search.internal:9200"], username: admin, password_file: /run/secrets/os}
`), 0o600)
	c, err := Load(Flags{Config: file}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Search.Embeddings.Model != "text-embedding-v3" || c.Search.Elasticsearch == nil || c.Search.Elasticsearch.Engine != "opensearch" {
		t.Errorf("search = %+v", c.Search)
	}
}

func TestSearchProblems(t *testing.T) {
	c := Default()
	c.Search = Search{Embedder: "openai-ish", Dims: 3, Sources: []SearchSource{
		{Name: "a", Source: "dir:/docs", Groups: []string{"g"}, Interval: Duration(time.Second)},
		{Name: "a"},
	}, Chat: SearchChat{URL: "ftp://x"}, RateLimit: SearchRateLimit{Person: -1, App: -5}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no problems")
	}
	for _, want := range []string{
		`search.embedder: "openai-ish" is not an embedder (none, openai, hash)`,
		"search.dims: must be between 8 and 4096",
		"search.sources[0].interval: at least 1m",
		`search.sources[1].name: "a" is used twice`,
		"search.sources[1].source: must not be empty",
		"search.sources[1].groups: name the groups",
		"search.chat.url: not an http(s) URL",
		"search.chat.model: must be set with search.chat.url",
		"search.rate_limit.person: must be 0 (no limit) or more",
		"search.rate_limit.app: must be 0 (no limit) or more",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

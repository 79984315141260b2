package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	c := Default()
	c.DatabaseURL = "mysql://root:hunter2@h/db"
	if _, _, err := c.Database(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unsupported scheme: %v (and the password must not be shown)", err)
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

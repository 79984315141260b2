package check

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

func loadCompose(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "compose.yaml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(env), cli.WithInterpolation(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// exampleEnv reads .env.example's variables.
func exampleEnv(t *testing.T) []string {
	t.Helper()
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, l := range strings.Split(string(example), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			env = append(env, l)
		}
	}
	return env
}

// compose.yaml is a valid Compose file (the loader and schema docker
// compose itself uses), with .env.example's variables given values.
func TestCompose(t *testing.T) {
	var env []string
	for _, kv := range exampleEnv(t) {
		k, _, _ := strings.Cut(kv, "=")
		env = append(env, k+"=test-value-of-"+k)
	}
	p, err := loadCompose(t, env)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"gatehouse", "postgres", "mailpit"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("no %s service", name)
		}
	}
	for name, s := range p.Services {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s: no healthcheck", name)
		}
		if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || (!strings.Contains(s.Image, ":") && name != "gatehouse") {
			t.Errorf("%s: image %q is not pinned to a tag", name, s.Image)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s is published on %q, not on loopback", name, port.Published, port.HostIP)
			}
		}
	}
	gh := p.Services["gatehouse"]
	if got := gh.HealthCheck.Test; len(got) < 3 || got[0] != "CMD" || got[2] != "healthcheck" {
		t.Errorf("gatehouse healthcheck %q: want gatehouse healthcheck (the image has no shell or curl)", got)
	}
	for _, dep := range []string{"postgres", "mailpit"} {
		if d, ok := gh.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("gatehouse does not wait for %s to be healthy", dep)
		}
	}
	if !gh.ReadOnly || len(gh.CapDrop) != 1 || gh.CapDrop[0] != "ALL" {
		t.Errorf("gatehouse: read_only %v, cap_drop %q: want a read-only root and no capabilities", gh.ReadOnly, gh.CapDrop)
	}
	// The secret reached the container from the environment, not the file.
	if u := gh.Environment["GATEHOUSE_DATABASE_URL"]; u == nil || !strings.Contains(*u, "test-value-of-POSTGRES_PASSWORD@postgres:5432") {
		t.Errorf("GATEHOUSE_DATABASE_URL = %v", u)
	}
}

// Without .env, or with .env.example copied as it is, the file does not
// start with a default password or admin token (a value published in the
// example is known to all): .env.example gives no value, and the loader
// stops and says what to set.
func TestComposeNeedsSecrets(t *testing.T) {
	for _, kv := range exampleEnv(t) {
		if k, v, _ := strings.Cut(kv, "="); v != "" {
			t.Errorf(".env.example gives %s a value, which whoever copies it would use: leave it empty", k)
		}
	}
	for _, tt := range []struct {
		name string
		env  []string
		want string
	}{
		{"no .env", nil, "set POSTGRES_PASSWORD in .env"},
		{".env.example copied", exampleEnv(t), "set POSTGRES_PASSWORD in .env"},
		{"only the password set", []string{"POSTGRES_PASSWORD=0f3a9c1e7b2d4c8e9f3a1b6d0c7e2f4a8b9c3d5e", "GATEHOUSE_ADMIN_TOKEN="},
			"set GATEHOUSE_ADMIN_TOKEN in .env to a random value (openssl rand -hex 32"},
	} {
		if _, err := loadCompose(t, tt.env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("loading compose.yaml with %s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// No secret is written in compose.yaml itself: every value of a variable
// named like a secret is an interpolation from .env.
func TestComposeHasNoSecrets(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	secretName := regexp.MustCompile(`(?i)(passw|secret|token|api_?key|database_url)`)
	for name, s := range doc.Services {
		for k, v := range s.Environment {
			if secretName.MatchString(k) && !strings.HasSuffix(k, "_FILE") && !strings.Contains(v, "${") {
				t.Errorf("%s: %s is written in compose.yaml; take it from .env", name, k)
			}
			if _, rest, ok := strings.Cut(v, "://"); ok {
				if _, pass, ok := strings.Cut(rest, ":"); ok && strings.Contains(rest, "@") && !strings.HasPrefix(pass, "${") {
					t.Errorf("%s: %s holds a literal password", name, k)
				}
			}
		}
	}
	ignored, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^/?\.env$`).Match(ignored) {
		t.Errorf(".gitignore does not keep .env out of the repository")
	}
}

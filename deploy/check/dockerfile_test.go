package check

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// lintDockerfile parses a Dockerfile with BuildKit's own parser and checks
// the rules Gatehouse's image keeps (hadolint is not packaged where CI
// runs; these are the rules that matter here). Each problem names its line.
func lintDockerfile(src []byte) ([]string, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	var problems []string
	add := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: %s", line, fmt.Sprintf(format, args...)))
	}
	type stage struct {
		from, name   string
		line         int
		nodes        []*parser.Node
		cgoOff       bool
		user         string
		userLine     int
		health       *parser.Node
		copiesSource bool
	}
	var stages []*stage
	args := map[string]string{} // ARG defaults before the first FROM
	secretName := regexp.MustCompile(`(?i)(passw|secret|token|api_?key|private_?key|credential)`)
	words := func(n *parser.Node) []string {
		var w []string
		for c := n.Next; c != nil; c = c.Next {
			w = append(w, c.Value)
		}
		return w
	}
	// keyValues reads ARG's K=V words and ENV's (K, V, "=") triples.
	keyValues := func(inst string, w []string) [][2]string {
		var kv [][2]string
		if inst == "env" {
			for i := 0; i+1 < len(w); i += 3 {
				kv = append(kv, [2]string{w[i], w[i+1]})
			}
			return kv
		}
		for _, x := range w {
			k, v, _ := strings.Cut(x, "=")
			kv = append(kv, [2]string{k, v})
		}
		return kv
	}
	for _, n := range res.AST.Children {
		w := words(n)
		inst := strings.ToLower(n.Value)
		switch inst {
		case "arg", "env":
			for _, kv := range keyValues(inst, w) {
				if inst == "arg" && len(stages) == 0 {
					args[kv[0]] = kv[1]
				}
				if secretName.MatchString(kv[0]) {
					add(n.StartLine, "%s %s: secrets do not belong in the image (ARG and ENV values are kept in its history)", strings.ToUpper(inst), kv[0])
				}
			}
		case "from":
			if len(w) == 0 {
				add(n.StartLine, "FROM without an image")
				continue
			}
			s := &stage{from: w[0], line: n.StartLine}
			if len(w) == 3 && strings.EqualFold(w[1], "as") {
				s.name = w[2]
			}
			stages = append(stages, s)
			continue
		case "add":
			add(n.StartLine, "ADD: use COPY (ADD fetches URLs and unpacks archives implicitly)")
		}
		if len(stages) == 0 {
			continue
		}
		s := stages[len(stages)-1]
		s.nodes = append(s.nodes, n)
		switch inst {
		case "env":
			for _, kv := range keyValues(inst, w) {
				if kv == [2]string{"CGO_ENABLED", "0"} {
					s.cgoOff = true
				}
			}
		case "user":
			if len(w) > 0 {
				s.user, s.userLine = w[0], n.StartLine
			}
		case "healthcheck":
			s.health = n
		case "copy":
			from := false
			for _, f := range n.Flags {
				if strings.HasPrefix(f, "--from=") {
					from = true
				}
			}
			if !from {
				s.copiesSource = true
			}
		}
	}
	if len(stages) < 2 {
		add(1, "not a multi-stage build: build in one stage, ship the binary alone in another")
		return problems, nil
	}
	expand := func(img string) string {
		return os.Expand(img, func(k string) string { return args[k] })
	}
	pinned := regexp.MustCompile(`^[^@]+(:[^:@/]+)?@sha256:[0-9a-f]{64}$|^[^@]+:[^:@/]+$`)
	for _, s := range stages {
		img := expand(s.from)
		if img == "scratch" {
			continue
		}
		if !pinned.MatchString(img) || strings.HasSuffix(img, ":latest") {
			add(s.line, "FROM %s: pin the base image by a tag (not latest) or a digest", s.from)
		}
	}

	// The build: static, stamped.
	built := false
	for _, s := range stages[:len(stages)-1] {
		for _, n := range s.nodes {
			if !strings.EqualFold(n.Value, "run") || !strings.Contains(n.Original, "go build") {
				continue
			}
			built = true
			if !s.cgoOff && !strings.Contains(n.Original, "CGO_ENABLED=0") {
				add(n.StartLine, "go build without CGO_ENABLED=0: the binary must be static")
			}
			for _, v := range []string{"Version", "Commit", "BuildDate"} {
				if !strings.Contains(n.Original, "-X github.com/gatehouse-id/gatehouse."+v+"=") {
					add(n.StartLine, "go build does not stamp %s (-ldflags -X github.com/gatehouse-id/gatehouse.%s=…)", v, v)
				}
			}
		}
	}
	if !built {
		add(stages[0].line, "no build stage runs go build")
	}

	// The image: distroless static or scratch, non-root, health-checked,
	// the binary alone.
	final := stages[len(stages)-1]
	base := expand(final.from)
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		add(final.line, "FROM %s: ship on gcr.io/distroless/static (nonroot) or scratch", final.from)
	}
	switch {
	case final.user == "":
		add(final.line, "the image runs as root: add USER (65532:65532, distroless's nonroot)")
	case regexp.MustCompile(`^(root|0)(:.*)?$`).MatchString(final.user):
		add(final.userLine, "USER %s: run as a non-root user", final.user)
	}
	switch h := final.health; {
	case h == nil:
		add(final.line, "no HEALTHCHECK in the image")
	case h.Next == nil || !strings.EqualFold(h.Next.Value, "cmd"):
		add(h.StartLine, "HEALTHCHECK NONE: the image must check its health")
	default:
		cmd := words(h.Next)
		if !h.Attributes["json"] {
			add(h.StartLine, "HEALTHCHECK CMD in shell form: a static image has no shell")
		}
		if len(cmd) < 2 || !strings.HasSuffix(cmd[0], "gatehouse") || cmd[1] != "healthcheck" {
			add(h.StartLine, "HEALTHCHECK must run gatehouse healthcheck (a static image has no curl), not %q", strings.Join(cmd, " "))
		}
	}
	if final.copiesSource {
		add(final.line, "the final stage copies from the build context: copy only the built binary (COPY --from=…)")
	}
	return problems, nil
}

func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	problems, err := lintDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("Dockerfile %s", p)
	}
	// The Go toolchain of the build is the one go.mod names.
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil || !bytes.Contains(src, []byte("ARG GO_VERSION="+string(goVersion[1])+"\n")) {
		t.Errorf("the Dockerfile's GO_VERSION is not go.mod's go %s", goVersion[1])
	}
}

// Each rule fires on the Dockerfile that breaks it.
func TestDockerfileLintRules(t *testing.T) {
	const good = `ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION} AS build
ENV CGO_ENABLED=0
COPY . .
RUN go build -ldflags "-X github.com/gatehouse-id/gatehouse.Version=1 -X github.com/gatehouse-id/gatehouse.Commit=c -X github.com/gatehouse-id/gatehouse.BuildDate=d" -o /out/gatehouse ./cmd/gatehouse
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
USER 65532:65532
HEALTHCHECK CMD ["/usr/local/bin/gatehouse", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
`
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"good", "", "", nil},
		{"one stage", "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY --from=build /out/gatehouse /usr/local/bin/gatehouse\n", "",
			[]string{"line 1: not a multi-stage build: build in one stage, ship the binary alone in another"}},
		{"latest", "static-debian12:nonroot", "static-debian12:latest",
			[]string{"line 6: FROM gcr.io/distroless/static-debian12:latest: pin the base image by a tag (not latest) or a digest"}},
		{"unpinned", "ARG GO_VERSION=1.26.8", "ARG GO_VERSION",
			[]string{"line 2: FROM golang:${GO_VERSION}: pin the base image by a tag (not latest) or a digest"}},
		{"cgo", "ENV CGO_ENABLED=0\n", "",
			[]string{"line 4: go build without CGO_ENABLED=0: the binary must be static"}},
		{"unstamped", " -X github.com/gatehouse-id/gatehouse.Commit=c", "",
			[]string{"line 5: go build does not stamp Commit (-ldflags -X github.com/gatehouse-id/gatehouse.Commit=…)"}},
		{"debian base", "gcr.io/distroless/static-debian12:nonroot", "debian:12",
			[]string{"line 6: FROM debian:12: ship on gcr.io/distroless/static (nonroot) or scratch"}},
		{"root", "USER 65532:65532", "USER root", []string{"line 8: USER root: run as a non-root user"}},
		{"no user", "USER 65532:65532\n", "", []string{"line 6: the image runs as root: add USER (65532:65532, distroless's nonroot)"}},
		{"no healthcheck", "HEALTHCHECK CMD [\"/usr/local/bin/gatehouse\", \"healthcheck\"]\n", "", []string{"line 6: no HEALTHCHECK in the image"}},
		{"healthcheck none", `HEALTHCHECK CMD ["/usr/local/bin/gatehouse", "healthcheck"]`, "HEALTHCHECK NONE",
			[]string{"line 9: HEALTHCHECK NONE: the image must check its health"}},
		{"curl", `HEALTHCHECK CMD ["/usr/local/bin/gatehouse", "healthcheck"]`, `HEALTHCHECK CMD ["curl", "-f", "http://localhost:8080/readyz"]`,
			[]string{`line 9: HEALTHCHECK must run gatehouse healthcheck (a static image has no curl), not "curl -f http://localhost:8080/readyz"`}},
		{"add url", "COPY . .", "ADD https://example.com/src.tar.gz /src",
			[]string{"line 4: ADD: use COPY (ADD fetches URLs and unpacks archives implicitly)"}},
		{"secret", "ENV CGO_ENABLED=0", "ENV CGO_ENABLED=0 GATEHOUSE_ADMIN_TOKEN=abc",
			[]string{"line 3: ENV GATEHOUSE_ADMIN_TOKEN: secrets do not belong in the image (ARG and ENV values are kept in its history)"}},
		{"source in image", "COPY --from=build /out/gatehouse /usr/local/bin/gatehouse", "COPY . /src",
			[]string{"line 6: the final stage copies from the build context: copy only the built binary (COPY --from=…)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := good
			if tt.old != "" {
				if !strings.Contains(src, tt.old) {
					t.Fatalf("%q is not in the good Dockerfile", tt.old)
				}
				src = strings.Replace(src, tt.old, tt.new, 1)
			}
			got, err := lintDockerfile([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// The build context carries no version control data, local databases,
// keys or secrets.
func TestDockerignore(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(src), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{".git", ".env", ".env.*", "*.key", "*.pem", "/gatehouse-data/", "*.db", "deploy/terraform/**/*.tfstate*", "deploy/terraform/**/*.tfvars"} {
		if !lines[want] {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	// What the build embeds must stay in the context.
	for _, need := range []string{"docs", "examples", "internal", "cmd", "go.mod", "go.sum"} {
		if lines[need] || lines["/"+need] || lines[need+"/"] {
			t.Errorf(".dockerignore excludes %s, which the build needs", need)
		}
	}
}

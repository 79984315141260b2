package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The release build stamps version, commit and date with -ldflags -X, as
// the Dockerfile does; `gatehouse version` prints them. Without a stamp it
// falls back to the revision the toolchain recorded (checked when this
// test runs inside a git checkout with git on PATH).
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	dir := t.TempDir()
	const pkg = "github.com/gatehouse-id/gatehouse"
	stamped := filepath.Join(dir, "stamped")
	build(t, gobin, stamped, "-ldflags", "-X "+pkg+".Version=9.8.7 -X "+pkg+".Commit=0123456789abcdef -X "+pkg+".BuildDate=2026-12-01T08:00:00Z")

	out := run(t, stamped, "version")
	if !strings.HasPrefix(out, "gatehouse 9.8.7 (commit 0123456789abcdef, built 2026-12-01T08:00:00Z, go") {
		t.Errorf("version printed %q", out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(run(t, stamped, "version", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": "9.8.7", "commit": "0123456789abcdef", "date": "2026-12-01T08:00:00Z", "date_is": "build", "source": "ldflags"}
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k) // go, platform
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version --json (-want +got):\n%s", diff)
	}

	// Not stamped: the toolchain's record of the checkout, if there is one
	// (CI builds in a clone).
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout here (%v): the fallback to vcs.revision is not checked", err)
	}
	plain := filepath.Join(dir, "plain")
	build(t, gobin, plain, "-buildvcs=true")
	if m, err := exec.Command(gobin, "version", "-m", plain).Output(); err != nil || !strings.Contains(string(m), "vcs.revision=") {
		// The go command records nothing in a git worktree (.git is a
		// file there) or where VCS stamping is off.
		t.Skipf("the toolchain recorded no revision here: the fallback to vcs.revision is not checked")
	}
	out = run(t, plain, "version")
	if rev := strings.TrimSpace(string(head)); !strings.Contains(out, "(commit "+rev) || !strings.Contains(out, "committed ") {
		t.Errorf("unstamped version printed %q, want commit %s and its time from the toolchain's record", out, rev)
	}
}

func build(t *testing.T, gobin, out string, flags ...string) {
	t.Helper()
	args := append([]string{"build", "-o", out}, flags...)
	// The environment's own build settings (not CGO_ENABLED=0, which .ci/run
	// checks separately): the build then reuses what `go test` compiled, where
	// a cgo-less variant of every dependency took over ten minutes on a busy
	// two-core machine.
	cmd := exec.Command(gobin, append(args, ".")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	b, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return string(b)
}

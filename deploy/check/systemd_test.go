package check

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var unitFile = filepath.Join(root, "packaging", "systemd", "gatehouse.service")

// unitDirectives reads a unit file's [Service] directives (the last value
// of each, as systemd applies them; lists are kept whole).
func unitDirectives(t *testing.T, src []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = line
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not a directive: %q", unitFile, line)
			}
			out[section+k] = append(out[section+k], v)
		}
	}
	return out
}

// The unit runs Gatehouse unprivileged and confined, as docs/deployment.md
// says.
func TestSystemdUnitHardening(t *testing.T) {
	src, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	d := unitDirectives(t, src)
	want := map[string]string{
		"DynamicUser":             "yes",
		"StateDirectory":          "gatehouse",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"SystemCallArchitectures": "native",
		"UMask":                   "0077",
	}
	for k, v := range want {
		got := d["[Service]"+k]
		if len(got) == 0 || got[len(got)-1] != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	if f := d["[Service]SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter starts %q, want @system-service", f)
	}
	// Gatehouse's egress policy lists this host's addresses (netlink);
	// without AF_NETLINK every delivery would fail.
	fam := strings.Fields(strings.Join(d["[Service]RestrictAddressFamilies"], " "))
	for _, f := range []string{"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"} {
		if !strings.Contains(" "+strings.Join(fam, " ")+" ", " "+f+" ") {
			t.Errorf("RestrictAddressFamilies=%q lacks %s", fam, f)
		}
	}
	if len(fam) != 4 {
		t.Errorf("RestrictAddressFamilies=%q: want exactly AF_INET AF_INET6 AF_UNIX AF_NETLINK", fam)
	}
	// The instance metadata service hands out the user data (the secrets
	// cloud-init wrote) and the RAM role's credentials to whoever asks.
	deny := strings.Fields(strings.Join(d["[Service]IPAddressDeny"], " "))
	for _, a := range []string{"100.100.100.200", "169.254.169.254"} {
		if !slices.Contains(deny, a) {
			t.Errorf("IPAddressDeny=%q lacks the metadata address %s", deny, a)
		}
	}
	if _, ok := d["[Service]IPAddressAllow"]; ok {
		t.Errorf("IPAddressAllow is set: it would take precedence over IPAddressDeny")
	}
	if got := d["[Service]ExecStart"]; len(got) != 1 || !strings.HasPrefix(got[0], "/usr/local/bin/gatehouse serve ") {
		t.Errorf("ExecStart=%q", got)
	}
	for _, k := range []string{"User", "Group", "PermissionsStartOnly"} {
		if _, ok := d["[Service]"+k]; ok {
			t.Errorf("[Service] %s is set: the service runs as its dynamic user", k)
		}
	}
}

// systemd-analyze verify accepts the unit without a warning (it exits 0
// on unknown or unparsable directives too, so any output fails), and
// systemd-analyze security rates its exposure at most 2.0 ("OK").
func TestSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is not installed (.ci/run installs systemd)")
		}
		t.Skip("systemd-analyze is not installed")
	}
	src, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	// verify wants ExecStart's program to exist: the same unit with a
	// stand-in executable at another path.
	dir := t.TempDir()
	stub := filepath.Join(dir, "gatehouse")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "gatehouse.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(src, []byte("/usr/local/bin/gatehouse"), []byte(stub)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(sa, "security", "--offline=yes", "--threshold=20", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security --threshold=20 (exposure above 2.0): %v\n%s", err, out)
	}
	if i := bytes.Index(out, []byte("Overall exposure level")); i >= 0 {
		t.Logf("%s", bytes.TrimSpace(out[i:]))
	}
}

// A misspelt directive is caught: the verify step is not one that cannot
// fail.
func TestSystemdAnalyzeCatchesTypos(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, "bad.service")
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/bin/true\nProtectSystm=strict\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(sa, "verify", unit).CombinedOutput()
	if !bytes.Contains(out, []byte("Unknown key")) {
		t.Errorf("systemd-analyze verify said nothing about ProtectSystm: %q", out)
	}
}

package gatehouse

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Commit and BuildDate are stamped at build time, as Version is:
//
//	go build -ldflags "-X github.com/gatehouse-id/gatehouse.Version=1.2.0 \
//	  -X github.com/gatehouse-id/gatehouse.Commit=$(git rev-parse HEAD) \
//	  -X github.com/gatehouse-id/gatehouse.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/gatehouse
//
// Left empty, Build takes them from the version control information the Go
// toolchain records in the binary (vcs.revision, vcs.time), when it does.
var (
	Commit    string
	BuildDate string
)

// BuildInfo says which build of Gatehouse this is.
type BuildInfo struct {
	Version string `json:"version"`
	// Commit is the source revision ("unknown" when neither stamped nor
	// recorded by the toolchain); Modified says the tree had uncommitted
	// changes (known only from the toolchain's record).
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"`
	// Date is when the binary was built (DateIs "build"), or, from the
	// toolchain's record, the time of the commit (DateIs "commit");
	// "unknown" when neither is known.
	Date      string `json:"date"`
	DateIs    string `json:"date_is,omitempty"`
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
	// Source says where Commit and Date came from: "ldflags", "vcs" (the
	// toolchain's record) or "none".
	Source string `json:"source"`
}

// Build returns this binary's build information.
func Build() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfo(Version, Commit, BuildDate, bi)
}

// buildInfo prefers the stamped values and falls back, field by field, to
// the toolchain's vcs.* settings.
func buildInfo(version, commit, date string, bi *debug.BuildInfo) BuildInfo {
	out := BuildInfo{Version: version, Commit: commit, Date: date, DateIs: "build", GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, Source: "ldflags"}
	if bi != nil && bi.GoVersion != "" {
		out.GoVersion = bi.GoVersion
	}
	if commit == "" && date == "" {
		out.Source = "none"
	}
	if bi != nil && (commit == "" || date == "") {
		vcs := map[string]string{}
		for _, s := range bi.Settings {
			if k, ok := strings.CutPrefix(s.Key, "vcs."); ok {
				vcs[k] = s.Value
			}
		}
		if commit == "" && vcs["revision"] != "" {
			out.Commit, out.Modified, out.Source = vcs["revision"], vcs["modified"] == "true", "vcs"
		}
		if date == "" && vcs["time"] != "" {
			out.Date, out.DateIs = vcs["time"], "commit"
			if out.Source == "none" {
				out.Source = "vcs"
			}
		}
	}
	if out.Commit == "" {
		out.Commit = "unknown"
	}
	if out.Date == "" {
		out.Date, out.DateIs = "unknown", ""
	}
	return out
}

// String is the one line `gatehouse version` prints.
func (b BuildInfo) String() string {
	commit := b.Commit
	if b.Modified {
		commit += "-dirty"
	}
	date := "built " + b.Date
	switch b.DateIs {
	case "commit":
		date = "committed " + b.Date + ", build date not stamped"
	case "":
		date = "build date unknown"
	}
	return "gatehouse " + b.Version + " (commit " + commit + ", " + date + ", " + b.GoVersion + ", " + b.Platform + ")"
}

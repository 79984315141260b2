package gatehouse

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
		{Key: "-ldflags", Value: "-s"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "4408c86aa1b2"},
		{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  BuildInfo
		line                  string
	}{
		{
			name: "stamped", version: "1.2.0", commit: "0123abcd", date: "2026-12-01T08:00:00Z", bi: vcs,
			want: BuildInfo{Version: "1.2.0", Commit: "0123abcd", Date: "2026-12-01T08:00:00Z", DateIs: "build", GoVersion: "go1.26.8",
				Platform: platform, Source: "ldflags"},
			line: "gatehouse 1.2.0 (commit 0123abcd, built 2026-12-01T08:00:00Z, go1.26.8, " + platform + ")",
		},
		{
			name: "toolchain record", version: "0.1.0-dev", bi: vcs,
			want: BuildInfo{Version: "0.1.0-dev", Commit: "4408c86aa1b2", Modified: true, Date: "2026-11-30T10:00:00Z", DateIs: "commit",
				GoVersion: "go1.26.8", Platform: platform, Source: "vcs"},
			line: "gatehouse 0.1.0-dev (commit 4408c86aa1b2-dirty, committed 2026-11-30T10:00:00Z, build date not stamped, go1.26.8, " + platform + ")",
		},
		{
			name: "commit stamped, date from the record", version: "1.2.0", commit: "0123abcd", bi: vcs,
			want: BuildInfo{Version: "1.2.0", Commit: "0123abcd", Date: "2026-11-30T10:00:00Z", DateIs: "commit", GoVersion: "go1.26.8",
				Platform: platform, Source: "ldflags"},
			line: "gatehouse 1.2.0 (commit 0123abcd, committed 2026-11-30T10:00:00Z, build date not stamped, go1.26.8, " + platform + ")",
		},
		{
			name: "nothing known", version: "0.1.0-dev", bi: &debug.BuildInfo{GoVersion: "go1.26.8"},
			want: BuildInfo{Version: "0.1.0-dev", Commit: "unknown", Date: "unknown", GoVersion: "go1.26.8", Platform: platform, Source: "none"},
			line: "gatehouse 0.1.0-dev (commit unknown, build date unknown, go1.26.8, " + platform + ")",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildInfo(tt.version, tt.commit, tt.date, tt.bi)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("buildInfo (-want +got):\n%s", diff)
			}
			if got.String() != tt.line {
				t.Errorf("String() = %q, want %q", got.String(), tt.line)
			}
		})
	}
}

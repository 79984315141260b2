package cli

import "testing"

// TestServeGCPercent: a server collects garbage at GOGC=400 unless the
// environment says otherwise.
func TestServeGCPercent(t *testing.T) {
	for env, want := range map[string]struct {
		pct int
		ok  bool
	}{"": {400, true}, "100": {0, false}, "off": {0, false}} {
		pct, ok := serveGCPercent(func(k string) string {
			if k == "GOGC" {
				return env
			}
			return ""
		})
		if pct != want.pct || ok != want.ok {
			t.Errorf("GOGC=%q: %d %v, want %d %v", env, pct, ok, want.pct, want.ok)
		}
	}
}

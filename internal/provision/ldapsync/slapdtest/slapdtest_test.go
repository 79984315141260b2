package slapdtest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMissing: without slapd the LDAP tests fail, saying what to install,
// unless GATEHOUSE_TEST_SKIP_SLAPD=1 lets them skip (and
// GATEHOUSE_TEST_REQUIRE_SLAPD=1 overrides that); with slapd they run.
func TestMissing(t *testing.T) {
	type result struct {
		Why  string
		Skip bool
	}
	fail := result{"the LDAP tests need OpenLDAP's slapd, which is not installed: apt-get install slapd ldap-utils (or set GATEHOUSE_TEST_SKIP_SLAPD=1 to skip them knowingly)", false}
	for _, tt := range []struct {
		name      string
		installed bool
		env       map[string]string
		want      result
	}{
		{"installed", true, nil, result{}},
		{"installed, skip allowed", true, map[string]string{SkipEnv: "1"}, result{}},
		{"missing", false, nil, fail},
		{"missing, required", false, map[string]string{RequireEnv: "1"}, fail},
		{"missing, skip allowed", false, map[string]string{SkipEnv: "1"},
			result{"SKIPPED: the LDAP tests need OpenLDAP's slapd, which is not installed (GATEHOUSE_TEST_SKIP_SLAPD=1)", true}},
		{"missing, skip allowed but required", false, map[string]string{SkipEnv: "1", RequireEnv: "1"}, fail},
		{"missing, skip not 1", false, map[string]string{SkipEnv: "yes"}, fail},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var findErr error
			if !tt.installed {
				findErr = ErrNotInstalled
			}
			why, skip := missing(findErr, func(k string) string { return tt.env[k] })
			if diff := cmp.Diff(tt.want, result{why, skip}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

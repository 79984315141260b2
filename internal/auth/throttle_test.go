package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// newThrottled returns a Service on a real store whose clock stands still,
// so that no allowance comes back during a test: limit failures per client
// key are allowed, the next is throttled.
func newThrottled(t *testing.T, limit int) *auth.Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return auth.NewService(st, auth.Options{Now: func() time.Time { return now }, FailureLimit: limit, FailureWindow: time.Minute})
}

// attempt fails one authentication (no credential) from client and reports
// whether it was throttled (429) rather than refused (401).
func attempt(t *testing.T, s *auth.Service, client string) bool {
	t.Helper()
	_, err := s.Authenticate(context.Background(), "", client)
	switch {
	case errors.Is(err, auth.ErrThrottled):
		return true
	case errors.Is(err, auth.ErrUnauthenticated):
		return false
	}
	t.Fatalf("Authenticate from %s: %v", client, err)
	return false
}

// v6 returns an address in the /64 prefix with interface identifier n.
func v6(prefix string, n uint64) string {
	a := netip.MustParsePrefix(prefix).Addr().As16()
	for i := 0; i < 8; i++ {
		a[15-i] = byte(n >> (8 * i))
	}
	return netip.AddrFrom16(a).String()
}

func TestThrottleKeys(t *testing.T) {
	const limit = 3
	tests := []struct {
		name string
		// exhaust fails limit times from each of these addresses in turn
		// (one failure each, round robin, until limit failures in all).
		exhaust []string
		// then is tried next; throttled is whether it must be refused.
		then      string
		throttled bool
	}{
		{"IPv6 addresses rotating inside a /64 share its allowance",
			[]string{"2001:db8:1:2::1", "2001:db8:1:2:aaaa::7", "2001:db8:1:2:ffff:ffff:ffff:ffff"}, "2001:db8:1:2:1234::9", true},
		{"another /64 keeps its own", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}, "2001:db8:1:3::1", false},
		{"zones do not make new keys", []string{"fe80::1%eth0", "fe80::2%eth1", "fe80::3"}, "fe80::4%eth2", true},
		{"IPv4 addresses count one by one", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"}, "192.0.2.2", false},
		{"an IPv4 address is one key", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"}, "192.0.2.1", true},
		{"an IPv4-mapped IPv6 address is its IPv4 address", []string{"::ffff:192.0.2.1", "192.0.2.1", "::ffff:c000:201"}, "192.0.2.1", true},
		{"an IPv4 address is not the /64 that holds its mapped form", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"}, "::ffff:192.0.2.9", false},
		{"not an address: its own key", []string{"@", "@", "@"}, "@", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newThrottled(t, limit)
			for i := 0; i < limit; i++ {
				if attempt(t, s, tt.exhaust[i%len(tt.exhaust)]) {
					t.Fatalf("failure %d throttled within the allowance", i+1)
				}
			}
			if got := attempt(t, s, tt.then); got != tt.throttled {
				t.Errorf("%s after %v: throttled = %v, want %v", tt.then, tt.exhaust, got, tt.throttled)
			}
		})
	}
}

// A client that rotates through 200,000 addresses must neither escape its
// own throttle nor reset anyone else's.
func TestThrottleSurvivesAddressRotation(t *testing.T) {
	const limit, rotations = 5, 200000
	t.Run("inside one /64", func(t *testing.T) {
		s := newThrottled(t, limit)
		victim := "198.51.100.7"
		for i := 0; i < limit; i++ {
			attempt(t, s, victim)
		}
		refused := 0
		for i := uint64(0); i < rotations; i++ {
			if attempt(t, s, v6("2001:db8:abcd:12::/64", i+1)) {
				refused++
			}
		}
		if want := rotations - limit; refused != want {
			t.Errorf("rotating addresses of one /64: %d throttled, want %d", refused, want)
		}
		if !attempt(t, s, victim) {
			t.Error("the throttled address got a new allowance after the rotation")
		}
	})
	t.Run("distinct networks", func(t *testing.T) {
		// 200,000 distinct IPv4 addresses (as many keys, twice what the
		// throttle remembers) while a throttled client keeps trying: the
		// oldest keys are forgotten first, and the client still trying is
		// never among them.
		s := newThrottled(t, limit)
		victim := "2001:db8:ffff:1::1"
		for i := 0; i < limit; i++ {
			attempt(t, s, victim)
		}
		for i := 0; i < rotations; i++ {
			addr := fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)
			if attempt(t, s, addr) {
				t.Fatalf("%s throttled at its first failure", addr)
			}
			if i%1000 == 0 && !attempt(t, s, victim) {
				t.Fatalf("the throttled client got a new allowance after %d other addresses failed", i+1)
			}
		}
		if !attempt(t, s, victim) {
			t.Error("the throttled client got a new allowance after the flood")
		}
	})
}

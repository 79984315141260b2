package searchapi

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

// TestLimiter: a person and an application each have their own bucket of
// a minute's searches, refilled continuously; the wait is how long until
// the next one; 0 is no limit.
func TestLimiter(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(Limits{Person: 3, App: 6}, func() time.Time { return now })
	ada, bob := Who{UserID: "ada"}, Who{UserID: "bob"}
	app := Who{UserID: "ada", AppID: "portal"}
	for i := range 3 {
		if ok, _ := l.Allow(ada); !ok {
			t.Fatalf("ada's search %d refused", i+1)
		}
	}
	if ok, wait := l.Allow(ada); ok || wait != 20*time.Second {
		t.Errorf("ada's 4th search: %v, wait %v; want refused, 20s", ok, wait)
	}
	// Others are not counted with her, nor is an application acting for her.
	if ok, _ := l.Allow(bob); !ok {
		t.Error("bob refused")
	}
	for i := range 6 {
		if ok, _ := l.Allow(app); !ok {
			t.Fatalf("the application's search %d refused", i+1)
		}
	}
	if ok, wait := l.Allow(Who{UserID: "carol", AppID: "portal"}); ok || wait != 10*time.Second {
		t.Errorf("the application's 7th search (for another person): %v, wait %v", ok, wait)
	}
	now = now.Add(15 * time.Second)
	if ok, wait := l.Allow(ada); ok || wait != 5*time.Second {
		t.Errorf("ada after 15s: %v, wait %v", ok, wait)
	}
	now = now.Add(5 * time.Second)
	if ok, _ := l.Allow(ada); !ok {
		t.Error("ada after 20s: refused")
	}
	if ok, _ := NewLimiter(Limits{}, nil).Allow(ada); !ok {
		t.Error("no limit: refused")
	}
}

// TestLimiterSweep: buckets that have refilled are forgotten once there
// are many.
func TestLimiterSweep(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(Limits{Person: 1}, func() time.Time { return now })
	for i := range sweepAt {
		l.Allow(Who{UserID: strconv.Itoa(i)})
	}
	now = now.Add(time.Minute)
	l.Allow(Who{UserID: "late"})
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1", n)
	}
	if ok, _ := l.Allow(Who{UserID: "0"}); !ok {
		t.Error("a forgotten bucket is not full")
	}
}

type fakeSessions struct{ s *login.Session }

func (f fakeSessions) Current(*http.Request) (*login.Session, error) { return f.s, nil }

// TestAskersSession: a request with a session and no Authorization
// searches as the session's person; from another site's page (Fetch
// metadata) it is refused; with Gatehouse-User it is refused (a session
// never searches as someone else).
func TestAskersSession(t *testing.T) {
	a := Askers{Sessions: fakeSessions{&login.Session{UserID: "ada-id"}}}
	r := httptest.NewRequest("GET", "/search?q=vpn", nil)
	got, err := a.Who(r)
	if err != nil || !cmp.Equal(got, Who{UserID: "ada-id"}) {
		t.Errorf("session: %+v, %v", got, err)
	}
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if got, err := a.Who(r); err != nil || got.UserID != "ada-id" {
		t.Errorf("session, same-origin: %+v, %v", got, err)
	}
	for _, site := range []string{"cross-site", "same-site"} {
		r.Header.Set("Sec-Fetch-Site", site)
		_, err = a.Who(r)
		if e, ok := err.(*Error); !ok || e.Status != http.StatusForbidden || e.Code != "cross_site" {
			t.Errorf("session, %s: %v", site, err)
		}
	}
	r.Header.Del("Sec-Fetch-Site")
	r.Header.Set(UserHeader, "bob@example.com")
	_, err = a.Who(r)
	if e, ok := err.(*Error); !ok || e.Status != http.StatusBadRequest || e.Code != "invalid_request" {
		t.Errorf("session with %s: %v", UserHeader, err)
	}
}

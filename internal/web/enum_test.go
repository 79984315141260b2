package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// countingHasher is plainHasher counting the hashes it makes and checks
// (each costs one argon2id's time).
type countingHasher struct {
	plainHasher
	verified *atomic.Int64
}

func (h countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.verified.Add(1)
	return h.plainHasher.Hash(ctx, pw)
}

func (h countingHasher) Verify(ctx context.Context, pw, phc string) (bool, error) {
	h.verified.Add(1)
	return h.plainHasher.Verify(ctx, pw, phc)
}

// answer is what a client sees of a login attempt.
type answer struct {
	Status     int
	RetryAfter string
	Body       string
	Hashed     int64
}

var volatile = regexp.MustCompile(`nonce="[^"]*"|l=[A-Za-z0-9_-]{43}|value="[A-Za-z0-9_-]{43}"`)

// attempts signs in as name with a wrong password from the networks and at
// the times of a guessing campaign, on a fresh site whose only account is
// ada, and returns the answers with the name taken out.
func attempts(t *testing.T, name string) []answer {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := directory.NewService(st, directory.Options{Hasher: plainHasher{}, Policy: directory.DefaultPasswordPolicy(),
		NewID: func() string { v, _ := login.NewToken(); return v }})
	if _, _, err := dir.CreateUser(context.Background(), directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.User{UserName: "ada", Active: true, Password: "Secret-Pass-1"}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var verified atomic.Int64
	svc := login.New(st, st, login.Options{Now: clock, Hasher: countingHasher{verified: &verified},
		Lockout: login.Lockout{Failures: 3, Window: 15 * time.Minute, Duration: 15 * time.Minute, AccountFailures: 5,
			AccountMaxDelay: time.Hour, AddressFailures: 1 << 30}})
	site, err := New(svc, Options{Enabled: true, Secure: true, PolicyText: "x", Now: clock,
		ClientAddr: func(r *http.Request) string { return r.Header.Get("X-Test-Client") }})
	if err != nil {
		t.Fatal(err)
	}
	h := site.handler()
	var out []answer
	try := func(addr string) {
		p, err := svc.Begin(context.Background(), login.Client{Browser: testBrowser}, login.Requirement{}, "/")
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"csrf": {csrf(testBrowser)}, "l": {p.ID}, "stage": {"first"}, "username": {name}, "password": {"wrong-Pass-9"}}
		r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("X-Test-Client", addr)
		r.AddCookie(&http.Cookie{Name: "__Host-gatehouse_browser", Value: testBrowser})
		w := httptest.NewRecorder()
		before := verified.Load()
		h.ServeHTTP(w, r)
		body := strings.ReplaceAll(w.Body.String(), p.ID, "ID")
		body = volatile.ReplaceAllString(strings.ReplaceAll(body, name, "NAME"), "X")
		out = append(out, answer{Status: w.Code, RetryAfter: w.Header().Get("Retry-After"), Body: body, Hashed: verified.Load() - before})
	}
	// One network until it is locked out, and past it.
	for range 5 {
		try("203.0.113.7")
		now = now.Add(time.Second)
	}
	// Other networks, until the account-wide slow-down.
	for i := range 6 {
		try("198.51.100." + string(rune('1'+i)))
		now = now.Add(time.Second)
	}
	// The first network, 4 minutes on (still locked), and 16 on.
	now = now.Add(4 * time.Minute)
	try("203.0.113.7")
	now = now.Add(12 * time.Minute)
	try("203.0.113.7")
	try("192.0.2.200")
	return out
}

// TestUnknownNameAnswersAsAccount: a guessing campaign against a name that
// is no account gets, attempt by attempt, the answers one against an
// account gets — status, Retry-After, the page, the password-hashing work
// — so that nothing tells whether the account exists (red team finding 1:
// unknown names locked for 3 minutes, not 15, and were never slowed down
// account-wide).
func TestUnknownNameAnswersAsAccount(t *testing.T) {
	known, unknown := attempts(t, "ada"), attempts(t, "nobody")
	if diff := cmp.Diff(known, unknown); diff != "" {
		t.Errorf("answers for an account (-) and for a name that is none (+) differ:\n%s", diff)
	}
	// The campaign did reach the locks.
	var locked, slowed bool
	for _, a := range known {
		locked = locked || a.Status == http.StatusTooManyRequests && strings.Contains(a.Body, "network")
		slowed = slowed || a.Status == http.StatusTooManyRequests && strings.Contains(a.Body, "account")
	}
	if !locked || !slowed {
		t.Errorf("the campaign locked %v, slowed %v: %+v", locked, slowed, known)
	}
}

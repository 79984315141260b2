package scimclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// handlerTransport serves requests with a handler, in memory: inside a
// synctest bubble no goroutine waits on the network, so the fake clock
// moves as soon as everything is blocked on time.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// recorder is a test server's log of requests with their (fake) times.
type recorder struct {
	mu    sync.Mutex
	times []time.Time
	reqs  []*http.Request
	body  [][]byte
}

func (rc *recorder) add(r *http.Request) int {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.times = append(rc.times, time.Now())
	rc.reqs = append(rc.reqs, r)
	rc.body = append(rc.body, b)
	return len(rc.reqs)
}

func (rc *recorder) n() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

func (rc *recorder) gaps() []time.Duration {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(rc.times); i++ {
		out = append(out, rc.times[i].Sub(rc.times[i-1]))
	}
	return out
}

func newTestClient(t *testing.T, h http.Handler, mutate func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: "https://scim.example.com/scim/v2", Auth: Auth{BearerToken: "static-token-value"},
		HTTPClient: &http.Client{Transport: handlerTransport{h}}}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeUser(w http.ResponseWriter, status int, id string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"schemas":[%q],"id":%q,"userName":"u"}`, UserSchema, id)
}

// TestRetryAfter: the waits between attempts are exactly what Retry-After
// says, in seconds or as an HTTP date.
func TestRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch rc.add(r) {
			case 1:
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusTooManyRequests)
			case 2:
				w.Header().Set("Retry-After", time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat))
				w.WriteHeader(http.StatusServiceUnavailable)
			default:
				writeUser(w, http.StatusOK, "1")
			}
		})
		c := newTestClient(t, h, nil)
		if _, err := c.GetUser(t.Context(), "1"); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]time.Duration{7 * time.Second, 30 * time.Second}, rc.gaps()); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})
}

// TestBackoff: without Retry-After, waits grow exponentially, jittered in
// their upper half, capped at MaxBackoff; then the error comes back.
func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc.add(r)
			w.WriteHeader(http.StatusInternalServerError)
		})
		c := newTestClient(t, h, func(cfg *Config) {
			cfg.Backoff, cfg.MaxBackoff, cfg.MaxRetries = time.Second, 3*time.Second, 4
		})
		_, err := c.GetUser(t.Context(), "1")
		var e *Error
		if !errors.As(err, &e) || e.Status != 500 || !e.Retryable {
			t.Fatalf("error: %v", err)
		}
		gaps := rc.gaps()
		bounds := [][2]time.Duration{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second},
			{1500 * time.Millisecond, 3 * time.Second}, {1500 * time.Millisecond, 3 * time.Second}}
		if len(gaps) != len(bounds) {
			t.Fatalf("%d retries, want %d", len(gaps), len(bounds))
		}
		for i, g := range gaps {
			if g < bounds[i][0] || g > bounds[i][1] {
				t.Errorf("wait %d: %v, want %v..%v", i+1, g, bounds[i][0], bounds[i][1])
			}
		}
	})
}

// TestNoRetry: client errors are not retried; a context deadline shorter
// than the wait ends the retries at once.
func TestNoRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, status := range []int{400, 403, 404, 409, 412, 501} {
			rc := &recorder{}
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc.add(r)
				w.WriteHeader(status)
			}), nil)
			_, err := c.GetUser(t.Context(), "1")
			var e *Error
			if !errors.As(err, &e) || e.Status != status || e.Retryable || rc.n() != 1 {
				t.Errorf("%d: %v after %d attempts", status, err, rc.n())
			}
		}
		rc := &recorder{}
		c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc.add(r)
			w.Header().Set("Retry-After", "10")
			w.WriteHeader(http.StatusServiceUnavailable)
		}), nil)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.GetUser(ctx, "1")
		if ok, after := IsRetryable(err); !ok || after != 10*time.Second || rc.n() != 1 || time.Since(start) != 0 {
			t.Errorf("deadline before the retry: %v after %d attempts and %v", err, rc.n(), time.Since(start))
		}
	})
}

// TestRateLimit: requests keep to RateLimit per second after the burst,
// sequential or concurrent.
func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &recorder{}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc.add(r)
			writeUser(w, http.StatusOK, "1")
		})
		c := newTestClient(t, h, func(cfg *Config) { cfg.RateLimit, cfg.Burst = 5, 2 })
		start := time.Now()
		for range 12 {
			if _, err := c.GetUser(t.Context(), "1"); err != nil {
				t.Fatal(err)
			}
		}
		// 2 at once, then one every 200 ms: the 12th at 2 s.
		if got := time.Since(start); got < 2*time.Second-time.Millisecond || got > 2*time.Second+time.Millisecond {
			t.Errorf("12 requests took %v, want 2s", got)
		}
		time.Sleep(time.Minute) // the bucket fills again
		rc = &recorder{}
		var wg sync.WaitGroup
		start = time.Now()
		for range 22 {
			wg.Go(func() {
				if _, err := c.GetUser(t.Context(), "1"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := time.Since(start); got < 4*time.Second-time.Millisecond || got > 4*time.Second+time.Millisecond {
			t.Errorf("22 concurrent requests took %v, want 4s", got)
		}
	})
}

// oauthServer is a token endpoint and a SCIM server that accepts the
// tokens it issued.
type oauthServer struct {
	mu        sync.Mutex
	issued    int
	requests  []*http.Request
	forms     []url.Values
	expiresIn string // JSON of expires_in; "" leaves it out
	delay     time.Duration
	valid     map[string]bool
}

func (s *oauthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/token") {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		time.Sleep(s.delay)
		s.mu.Lock()
		s.issued++
		tok := "access-" + strconv.Itoa(s.issued)
		s.valid[tok] = true
		s.requests = append(s.requests, r)
		s.forms = append(s.forms, form)
		exp := s.expiresIn
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		body := `{"scope":"/acs/scim","request_id":"r1","access_token":"` + tok + `","token_type":"Bearer"`
		if exp != "" {
			body += `,"expires_in":` + exp
		}
		fmt.Fprint(w, body+"}")
		return
	}
	s.mu.Lock()
	ok := s.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeUser(w, http.StatusOK, "1")
}

func (s *oauthServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

func oauthClient(t *testing.T, s *oauthServer, mutate func(*Config)) *Client {
	return newTestClient(t, s, func(cfg *Config) {
		cfg.Auth = Auth{TokenURL: "https://oauth.example.com/v1/token", ClientID: "4637905686741830", ClientSecret: "s3cr+t/v:lue%"}
		if mutate != nil {
			mutate(cfg)
		}
	})
}

// TestTokenLifetime: expires_in as RAM's string or RFC 6749's number; the
// token is renewed once 80 % of its life has passed; without expires_in it
// is kept until refused.
func TestTokenLifetime(t *testing.T) {
	for _, exp := range []string{`"3599"`, `3599`, `3599.0`, ``, `"soon"`} {
		t.Run(exp, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &oauthServer{valid: map[string]bool{}, expiresIn: exp}
				c := oauthClient(t, s, nil)
				call := func() {
					t.Helper()
					if _, err := c.GetUser(t.Context(), "1"); err != nil {
						t.Fatal(err)
					}
				}
				call()
				time.Sleep(2879 * time.Second) // 80 % of 3599 s is 2879.2 s
				call()
				if s.count() != 1 {
					t.Errorf("renewed before 80 %%: %d tokens", s.count())
				}
				time.Sleep(time.Second)
				call()
				want := 2
				if exp == "" || exp == `"soon"` {
					want = 1
				}
				if s.count() != want {
					t.Errorf("after 80 %%: %d tokens, want %d", s.count(), want)
				}
			})
		})
	}
}

// TestTokenSingleflight: callers that need a token at once share one token
// request, even when the first of them gives up waiting.
func TestTokenSingleflight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &oauthServer{valid: map[string]bool{}, expiresIn: `"3599"`, delay: time.Second}
		c := oauthClient(t, s, nil)
		impatient, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := c.GetUser(impatient, "1"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("impatient caller: %v", err)
			}
		})
		synctest.Wait()
		for range 50 {
			wg.Go(func() {
				if _, err := c.GetUser(t.Context(), "1"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if s.count() != 1 {
			t.Errorf("%d token requests, want 1", s.count())
		}
		// A refusal renews once for everyone who was refused.
		s.mu.Lock()
		s.valid = map[string]bool{}
		s.mu.Unlock()
		for range 20 {
			wg.Go(func() {
				if _, err := c.GetUser(t.Context(), "1"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if s.count() != 2 {
			t.Errorf("%d token requests after the refusal, want 2", s.count())
		}
	})
}

// TestTokenRequest: the two request styles, as RAM's documentation and RFC
// 6749 write them.
func TestTokenRequest(t *testing.T) {
	basic := func(r *http.Request) string {
		b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "))
		return string(b)
	}
	s := &oauthServer{valid: map[string]bool{}, expiresIn: `"3599"`}
	c := oauthClient(t, s, nil)
	if _, err := c.GetUser(t.Context(), "1"); err != nil {
		t.Fatal(err)
	}
	r := s.requests[0]
	if r.Method != "POST" || r.URL.Path != "/v1/token" || r.URL.Query().Get("grant_type") != "client_credentials" ||
		r.URL.Query().Get("client_id") != "4637905686741830" || r.URL.Query().Has("client_secret") || len(s.forms[0]) != 0 ||
		basic(r) != "4637905686741830:s3cr+t/v:lue%" {
		t.Errorf("RAM-style request: %s %s %q %v", r.Method, r.URL, basic(r), s.forms[0])
	}
	s = &oauthServer{valid: map[string]bool{}, expiresIn: `3600`}
	c = oauthClient(t, s, func(cfg *Config) {
		cfg.Auth.TokenURL = "https://idp.example.com/oauth2/token"
		cfg.Auth.TokenStyle = TokenStyleRFC6749
		cfg.Auth.Scope = "scim:users:write"
	})
	if _, err := c.GetUser(t.Context(), "1"); err != nil {
		t.Fatal(err)
	}
	r, form := s.requests[0], s.forms[0]
	if r.URL.RawQuery != "" || form.Get("grant_type") != "client_credentials" || form.Get("scope") != "scim:users:write" ||
		form.Has("client_secret") || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		basic(r) != "4637905686741830:s3cr%2Bt%2Fv%3Alue%25" {
		t.Errorf("RFC 6749 request: %s %q %v", r.URL, basic(r), form)
	}
}

// TestSecretsStayOut: neither tokens nor secrets appear in errors or logs,
// even when a server echoes them.
func TestSecretsStayOut(t *testing.T) {
	const secret, token = "the-client-secret-xyz", "static-token-abc"
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "got %s %s %s", r.Header.Get("Authorization"), r.URL, b)
	})
	c := newTestClient(t, echo, func(cfg *Config) { cfg.Auth.BearerToken = token; cfg.Logger = log; cfg.Backoff = time.Millisecond })
	_, err := c.FindUser(t.Context(), Eq("userName", "someone@example.com"))
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("error: %v", err)
	}
	tokenEcho := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s for %s"}`, secret, r.Header.Get("Authorization"))
	})
	c = newTestClient(t, tokenEcho, func(cfg *Config) {
		cfg.Auth = Auth{TokenURL: "https://oauth.example.com/v1/token", ClientID: "id", ClientSecret: secret}
		cfg.Logger = log
	})
	_, err = c.GetUser(t.Context(), "1")
	b64 := base64.StdEncoding.EncodeToString([]byte("id:" + secret))
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), b64) {
		t.Errorf("token error: %v", err)
	}
	for _, s := range []string{token, secret, b64, "someone@example.com"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log shows %q:\n%s", s, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "retried") {
		t.Errorf("no log of the retries:\n%s", logs.String())
	}
}

func TestErrorFromResponse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		status int
		header string
		body   string
		want   Error
	}{
		{409, "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName is taken"}`,
			Error{Status: 409, ScimType: "uniqueness", Detail: "userName is taken"}},
		{400, "", `{"status":400,"detail":"bad"}`, Error{Status: 400, Detail: "bad"}},
		{429, "120", `{"message":"slow down"}`, Error{Status: 429, Detail: "slow down", Retryable: true, RetryAfter: 2 * time.Minute}},
		{503, "Thu, 01 Jan 2026 00:00:30 GMT", "<html>\n<h1>Busy</h1>\n</html>", Error{Status: 503, Detail: "<html> <h1>Busy</h1> </html>", Retryable: true, RetryAfter: 30 * time.Second}},
		{503, "Wed, 31 Dec 2025 23:00:00 GMT", "", Error{Status: 503, Retryable: true}},
		{502, "soon", "\xff\xfe", Error{Status: 502, Retryable: true}},
		{501, "", "", Error{Status: 501}},
		{408, "", "", Error{Status: 408, Retryable: true}},
		{404, "", `[]`, Error{Status: 404, Detail: "[]"}},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Retry-After", tc.header)
		}
		got := errorFromResponse("GET", "/Users", tc.status, h, []byte(tc.body), now)
		tc.want.Method, tc.want.Path = "GET", "/Users"
		if *got != tc.want {
			t.Errorf("%d %q:\n got %+v\nwant %+v", tc.status, tc.body, *got, tc.want)
		}
	}
	e := &Error{Method: "POST", Path: "/Users", Status: 409, ScimType: "uniqueness", Detail: "taken"}
	if !IsConflict(e) || IsNotFound(e) || e.Error() != "scim POST /Users: 409 uniqueness: taken" {
		t.Errorf("%v", e)
	}
	if !IsConflict(fmt.Errorf("wrapped: %w", e)) || !IsNotFound(&Error{Status: 404}) || !IsNotFound(ErrNotFound) {
		t.Error("Is")
	}
}

// TestPagingGuards: servers that ignore count, ignore startIndex, omit
// totalResults or repeat resources across pages.
func TestPagingGuards(t *testing.T) {
	ids := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, strconv.Itoa(i+1))
		}
		return out
	}
	serve := func(page func(start, count int) (items []int, total int, withTotal bool)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
			count, _ := strconv.Atoi(r.URL.Query().Get("count"))
			items, total, withTotal := page(start, count)
			var res []string
			for _, i := range items {
				res = append(res, fmt.Sprintf(`{"id":"%d"}`, i))
			}
			w.Header().Set("Content-Type", ContentType)
			tot := ""
			if withTotal {
				tot = fmt.Sprintf(`"totalResults":%d,`, total)
			}
			fmt.Fprintf(w, `{"schemas":[%q],%s"startIndex":%d,"Resources":[%s]}`, listRespSchema, tot, start, strings.Join(res, ","))
		})
	}
	window := func(n, size int) func(start, count int) ([]int, int, bool) {
		return func(start, count int) ([]int, int, bool) {
			var out []int
			for i := start; i <= n && i < start+size; i++ {
				out = append(out, i)
			}
			return out, n, true
		}
	}
	tests := []struct {
		name  string
		page  func(start, count int) ([]int, int, bool)
		want  []string
		calls int
	}{
		{"as asked", window(25, 10), ids(25), 3},
		{"fewer than asked", window(7, 3), ids(7), 3},
		{"more than asked", window(25, 100), ids(25), 1},
		{"ignores startIndex", func(int, int) ([]int, int, bool) { return []int{1, 2, 3, 4, 5}, 50, true }, ids(5), 2},
		{"no total", func(start, count int) ([]int, int, bool) {
			it, _, _ := window(12, 5)(start, count)
			return it, 0, false
		}, ids(12), 4},
		{"overlapping pages", func(start, count int) ([]int, int, bool) {
			it, n, _ := window(10, 4)(max(start-1, 1), count)
			return it, n, true
		}, ids(10), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			h := serve(func(start, count int) ([]int, int, bool) { calls++; return tc.page(start, count) })
			c := newTestClient(t, h, func(cfg *Config) { cfg.PageSize = 10 })
			var got []string
			err := c.ListUsers(t.Context(), "", func(p *Page) error {
				for _, r := range p.Resources {
					got = append(got, ID(r))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if calls != tc.calls {
				t.Errorf("%d requests, want %d", calls, tc.calls)
			}
		})
	}
}

// TestRequestShape: media types, paths relative to the base URL, schemas
// filled in, read-only attributes dropped.
func TestRequestShape(t *testing.T) {
	rc := &recorder{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.add(r)
		writeUser(w, http.StatusCreated, "1")
	})
	c := newTestClient(t, h, func(cfg *Config) {
		cfg.BaseURL = "https://scim.example.com/tenant/scim/v2/?tenant=7"
		cfg.Paths.Groups = "https://other.example.com/teams"
	})
	_, err := c.CreateUser(t.Context(), map[string]any{"userName": "a", "id": "x", "meta": map[string]any{}, "groups": []any{},
		ent: map[string]any{"department": "R"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateGroup(t.Context(), map[string]any{"displayName": "g"}); err != nil {
		t.Fatal(err)
	}
	r := rc.reqs[0]
	if r.URL.String() != "https://scim.example.com/tenant/scim/v2/Users?tenant=7" || r.Header.Get("Content-Type") != ContentType ||
		r.Header.Get("Accept") != "application/scim+json, application/json" || r.Header.Get("Authorization") != "Bearer static-token-value" {
		t.Errorf("request: %s %v", r.URL, r.Header)
	}
	want := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","` + ent + `"],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R"},"userName":"a"}`
	if got := strings.TrimSpace(string(rc.body[0])); got != want {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
	if got := rc.reqs[1].URL.String(); got != "https://other.example.com/teams" {
		t.Errorf("group URL %s", got)
	}
	// An empty answer to a create is an error: the id is unknown.
	c = newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }), nil)
	if _, err := c.CreateUser(t.Context(), map[string]any{"userName": "a"}); err == nil {
		t.Error("empty 201 accepted")
	}
}

// TestPauseOnLongRetryAfter: a Retry-After longer than MaxRetryWait (here
// 2 minutes, over the 30 s default) pauses every request to the target —
// the ones in flight and the ones that come later — and all of them go
// through after it; a caller whose deadline ends within the pause gets a
// retryable error without a request; a Retry-After above MaxPause fails at
// once, saying so.
func TestPauseOnLongRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var first, until time.Time // the target's own rate-limit window
		duringPause := 0
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			now := time.Now()
			if first.IsZero() {
				first, until = now, now.Add(2*time.Minute)
			}
			if now.After(first) && now.Before(until) {
				duringPause++
			}
			limited := now.Before(until)
			mu.Unlock()
			if limited {
				w.Header().Set("Retry-After", strconv.Itoa(int(until.Sub(now).Seconds())))
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			writeUser(w, http.StatusOK, "1")
		})
		c := newTestClient(t, h, nil)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Go(func() {
				if i >= 5 {
					time.Sleep(time.Minute) // these come in the middle of the pause
				}
				_, errs[i] = c.GetUser(t.Context(), "1")
			})
		}
		synctest.Wait()
		// A caller with a deadline inside the pause sends nothing.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := c.GetUser(ctx, "1")
		cancel()
		if ok, after := IsRetryable(err); !ok || after != 2*time.Minute {
			t.Errorf("a call within the pause: %v (retry after %v), want a retryable error after 2m", err, after)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		}
		// Nothing was sent during the pause (only the requests of the
		// very moment the limit was met were refused); everything went
		// through when it ended.
		if duringPause != 0 {
			t.Errorf("%d requests sent during the pause", duringPause)
		}
		if got := time.Since(start); got != 2*time.Minute {
			t.Errorf("done after %v, want the 2m pause", got)
		}

		// A Retry-After above the ceiling fails at once and says why; until
		// the time it gives, nothing more is sent to the target: requests
		// fail at once, retryable after the rest of the wait.
		var sent atomic.Int32
		c2 := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sent.Add(1)
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		}), func(cfg *Config) { cfg.MaxPause = 10 * time.Minute })
		start = time.Now()
		_, err = c2.GetUser(t.Context(), "1")
		if ok, after := IsRetryable(err); !ok || after != time.Hour || time.Since(start) != 0 || !errors.Is(err, ErrWaitTooLong) ||
			!strings.Contains(err.Error(), "more than the client pauses for (10m0s)") {
			t.Errorf("Retry-After above MaxPause: %v after %v", err, time.Since(start))
		}
		time.Sleep(20 * time.Minute)
		_, err = c2.GetUser(t.Context(), "2")
		if ok, after := IsRetryable(err); !ok || after != 40*time.Minute || !errors.Is(err, ErrWaitTooLong) || sent.Load() != 1 {
			t.Errorf("a request while the target asked to be left alone: %v (retry after %v); %d requests sent", err, after, sent.Load())
		}
		time.Sleep(40 * time.Minute)
		if _, err = c2.GetUser(t.Context(), "3"); sent.Load() != 2 {
			t.Errorf("after the wait: %v; %d requests sent, want the second", err, sent.Load())
		}
	})
}

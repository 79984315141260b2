package app_test

import (
	"net/http"
	"net/http/cookiejar"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
)

// Logins per second at the argon2id parameters Gatehouse uses (19 MiB, 2
// passes, 1 lane; at most GOMAXPROCS hashes at once), through HTTP: the
// login page (a pending login is written), the form (the attempt is
// counted, the hash checked, the session, its audit record and its event
// written), the redirect. docs/benchmarks.md has the figures.
//
//	go test ./internal/app -run '^$' -bench 'Login' -benchtime 100x

// benchLogin signs in with a new browser: GET /login (303 to the new
// login's page), GET the page, POST the form (303 back to /). It returns
// the browser.
func benchLogin(b *testing.B, base, user string) *http.Client {
	client := newBenchClient(b)
	get, err := client.Get(base + "/login")
	if err != nil {
		b.Fatal(err)
	}
	readAll(get)
	if get.StatusCode != http.StatusSeeOther {
		b.Fatalf("GET /login: %d", get.StatusCode)
	}
	get, err = client.Get(base + get.Header.Get("Location"))
	if err != nil {
		b.Fatal(err)
	}
	page := readAll(get)
	if get.StatusCode != 200 {
		b.Fatalf("GET the login page: %d", get.StatusCode)
	}
	f := fields(page)
	f.Set("username", user)
	f.Set("password", "Correct-Horse-9")
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	readAll(resp)
	if resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("POST /login: %d", resp.StatusCode)
	}
	return client
}

func readAll(r *http.Response) string {
	defer r.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 8192)
	for {
		n, err := r.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

func newBenchClient(b *testing.B) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// benchServer serves n people, user0@example.com … with the password
// Correct-Horse-9.
func benchServer(b *testing.B, n int) *running {
	r := start(b, devLogin)
	for i := range n {
		r.createPerson(b, "user"+strconv.Itoa(i)+"@example.com", "Correct-Horse-9")
	}
	return r
}

func BenchmarkLogin(b *testing.B) {
	r := benchServer(b, 1)
	start, cpu := time.Now(), cpuTime()
	n := 0
	for b.Loop() {
		benchLogin(b, r.url, "user0@example.com")
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "logins/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(n), "cpu-ms/login")
}

func BenchmarkLoginParallel(b *testing.B) {
	// 4 × GOMAXPROCS browsers at once, each signing one person in again
	// and again (one person's attempts in flight from one network count
	// against her lock until they succeed).
	const par = 4
	r := benchServer(b, par*runtime.GOMAXPROCS(0))
	b.SetParallelism(par)
	var next atomic.Int64
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		user := "user" + strconv.FormatInt(next.Add(1)-1, 10) + "@example.com"
		for pb.Next() {
			benchLogin(b, r.url, user)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/login")
}

// cpuTime is the CPU time (user and system) the test process has used:
// the server's and the client's, which on a shared machine says more than
// the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkArgon2idVerify is the password check alone.
func BenchmarkArgon2idVerify(b *testing.B) {
	h := auth.NewArgon2id()
	phc, err := h.Hash(b.Context(), "Correct-Horse-9")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := h.Verify(b.Context(), "Correct-Horse-9", phc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

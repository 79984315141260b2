package app_test

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

// Logins with a second factor: the password login of BenchmarkLogin, then
// the second-factor page and its code (the TOTP secret opened, the code
// matched, its step used by a conditional update, the lockout counts, the
// session). A code is accepted once, so each login is another person's,
// each with her authenticator app set up beforehand. docs/benchmarks.md
// has the figures.
//
//	go test ./internal/app -run '^$' -bench 'LoginTOTP' -benchtime 50x

func BenchmarkLoginTOTP(b *testing.B) {
	const n = 50
	r := benchServer(b, n)
	ctx := context.Background()
	secrets := make([][]byte, n)
	for i := range n {
		tok, _ := login.NewToken()
		c := login.Client{Addr: "192.0.2.1", Browser: tok}
		p, err := r.app.Login.Begin(ctx, c, login.Requirement{}, "/")
		if err != nil {
			b.Fatal(err)
		}
		out, err := r.app.Login.Password(ctx, p, c, "user"+strconv.Itoa(i)+"@example.com", "Correct-Horse-9")
		if err != nil {
			b.Fatal(err)
		}
		e, err := r.app.Login.AddTOTP(ctx, out.Session)
		if err != nil {
			b.Fatal(err)
		}
		secrets[i], _ = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(e.Secret, " ", ""))
		// Confirmed with the previous step's code: this step's is free.
		if _, err := r.app.Login.ConfirmTOTP(ctx, out.Session, c, e.FactorID, "", login.TOTPCode(secrets[i], time.Now().Add(-login.TOTPPeriod))); err != nil {
			b.Fatal(err)
		}
	}
	start, cpu := time.Now(), cpuTime()
	i := 0
	for b.Loop() {
		if i == n {
			b.Fatalf("more than %d logins: use -benchtime %dx", n, n)
		}
		benchLoginTOTP(b, r.url, "user"+strconv.Itoa(i)+"@example.com", secrets[i])
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "logins/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(i), "cpu-ms/login")
}

// benchLoginTOTP signs in with a new browser: the password (as
// benchLogin), the second-factor page, its code, the 303 back.
func benchLoginTOTP(b *testing.B, base, user string, secret []byte) {
	client := newBenchClient(b)
	resp, err := client.Get(base + "/login")
	if err != nil {
		b.Fatal(err)
	}
	readAll(resp)
	post := func(f url.Values) *http.Response {
		req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		return resp
	}
	for _, step := range []string{"password", "code"} {
		page, err := client.Get(base + resp.Header.Get("Location"))
		if err != nil {
			b.Fatal(err)
		}
		f := fields(readAll(page))
		if step == "password" {
			f.Set("username", user)
			f.Set("password", "Correct-Horse-9")
		} else {
			f.Set("code", login.TOTPCode(secret, time.Now()))
		}
		resp = post(f)
		readAll(resp)
		if resp.StatusCode != http.StatusSeeOther {
			b.Fatalf("POST /login (%s): %d", step, resp.StatusCode)
		}
	}
	if resp.Header.Get("Location") != "/" {
		b.Fatalf("after the code: %s", resp.Header.Get("Location"))
	}
}

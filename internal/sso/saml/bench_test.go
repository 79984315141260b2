package saml_test

import (
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkResponse: a signed-in person's IdP-initiated sign-on over HTTP,
// end to end on SQLite: the request recorded, the assertion and the
// response signed (RSA-2048, the default, SHA-256, exclusive c14n), answered once, the
// participant and the audit record written, the form sent. cpu-ms/op is
// the process's CPU time (server and client, which share the process) per
// response.
func BenchmarkResponse(b *testing.B) {
	e := newBenchEnv(b)
	s := settingsFor(spEntity, spACS)
	if err := s.ApplyPreset("gitbook"); err != nil {
		b.Fatal(err)
	}
	e.app("GitBook", s)
	alice := e.user("alice", "alice@example.com", "Alice", "Liddell")
	br := e.browser()
	br.signIn(alice, 1, e.now())
	url := e.srv.URL + "/saml/idp-init/GitBook"
	br.get(url).form(b) // warm up: keys loaded, statements prepared
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if a := br.get(url); a.status != 200 {
			b.Fatalf("status %d", a.status)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}

// BenchmarkSPInitiated: the same with an AuthnRequest (HTTP-Redirect,
// signed by the service provider, verified) answered over HTTP-POST.
func BenchmarkSPInitiated(b *testing.B) {
	e := newBenchEnv(b)
	e.app("GitBook", settingsFor(spEntity, spACS))
	alice := e.user("alice", "alice@example.com", "Alice", "Liddell")
	sp := e.newSP(spEntity, spACS, true)
	br := e.browser()
	br.signIn(alice, 1, e.now())
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		u, _ := sp.redirectRequest(b, "", nil)
		if a := br.get(u); a.status != 200 {
			b.Fatalf("status %d: %s", a.status, a.body)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}

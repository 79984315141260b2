package app_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/checkpoint"
	"github.com/gatehouse-id/gatehouse/internal/config"
)

// TestShutdownStopsRequestsBeforeTheLastCheckpoint: a write still waiting,
// when shutdown_timeout ends, for the database lock another process holds
// is stopped and waited for before the server signs its last checkpoint.
// It is answered 503 with Retry-After (the server's refusal, not a client
// that went away), changes nothing, and the last checkpoint anchors the
// final head: no write commits after it.
func TestShutdownStopsRequestsBeforeTheLastCheckpoint(t *testing.T) {
	cpFile := filepath.Join(t.TempDir(), "checkpoints.log")
	r := start(t, func(c *config.Config) {
		c.ShutdownTimeout = config.Duration(200 * time.Millisecond)
		c.Audit.CheckpointKeyFile = filepath.Join(filepath.Dir(cpFile), "audit.key")
		c.Audit.CheckpointFile = cpFile
		c.Audit.CheckpointInterval = config.Duration(time.Hour)
	})
	// The start's checkpoint first: signed after the create below, it
	// would anchor the final head already, and the stop sign none.
	waitFor(t, "the start's checkpoint", func() bool { return logged(r, "audit checkpoint") })
	createUser(t, r, `{"userName":"before@example.com"}`)

	// Another process (here: another connection) takes the write lock.
	_, path, _ := r.app.Config.Database()
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	// A create, sent before the stop: it waits for the lock.
	type answer struct {
		status int
		header http.Header
		body   map[string]any
		err    error
	}
	answered := make(chan answer, 1)
	sent := make(chan struct{})
	go func() {
		req, _ := http.NewRequest("POST", r.url+"/scim/v2/Users", strings.NewReader(`{"userName":"during@example.com"}`))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set("Content-Type", "application/scim+json")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) },
		}))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer res.Body.Close()
		var body map[string]any
		err = json.NewDecoder(res.Body).Decode(&body)
		answered <- answer{status: res.StatusCode, header: res.Header, body: body, err: err}
	}()
	<-sent
	time.Sleep(100 * time.Millisecond) // for the server to read it (not an assertion)
	r.cancel()
	waitFor(t, "shutdown_timeout to end", func() bool { return logged(r, "requests still running after shutdown_timeout are stopped") })
	// The create cannot return while the lock is held; nor may the server.
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("the server stopped (%v) before the request it stopped returned", err)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	err = <-r.done
	r.done <- err // for the cleanup
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("serve returned %v, want the shutdown's deadline", err)
	}

	a := <-answered
	if a.err != nil || a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || a.body["status"] != "503" ||
		!strings.Contains(a.body["detail"].(string), "stopping") {
		t.Errorf("the stopped create: %d %v %v %v, want a SCIM 503 with Retry-After", a.status, a.header, a.body, a.err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE user_name = 'during@example.com'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the stopped create was applied: %d %v", n, err)
	}

	// The last checkpoint was signed after the stopped request returned.
	answeredAt, signedAt := -1, -1
	for i, l := range r.log.lines() {
		switch {
		case l["msg"] == "http request" && l["method"] == "POST" && l["status"] == float64(http.StatusServiceUnavailable):
			answeredAt = i
		case l["msg"] == "audit checkpoint" && l["checkpoint"] != nil:
			signedAt = i
		}
	}
	if answeredAt < 0 || signedAt < answeredAt {
		t.Errorf("the last checkpoint (log line %d) was signed before the stopped request returned (log line %d)", signedAt, answeredAt)
	}
	seq, hash, err := r.app.Store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp, want := lastCheckpoint(t, cpFile), checkpoint.Prefix+"seq="+strconv.FormatInt(seq, 10)+" hash="+hash+" "; !strings.HasPrefix(cp, want) {
		t.Errorf("the last checkpoint does not anchor the final head %d: %s", seq, cp)
	}
}

// logged reports whether the server's log has a line with message msg.
func logged(r *running, msg string) bool {
	for _, l := range r.log.lines() {
		if l["msg"] == msg {
			return true
		}
	}
	return false
}

// TestShutdownWithNoRequestRunning: a connection still sending a request
// body after its handler has answered (here a 401, at once) keeps
// net/http's shutdown waiting, but runs no handler: when shutdown_timeout ends it is
// closed, nothing is stopped, and the stop is clean (no error, exit 0).
func TestShutdownWithNoRequestRunning(t *testing.T) {
	r := start(t, func(c *config.Config) { c.ShutdownTimeout = config.Duration(300 * time.Millisecond) })
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the 401", func() bool { return logged(r, "http request") })
	r.cancel()
	err = <-r.done
	r.done <- err // for the cleanup
	if err != nil {
		t.Errorf("serve returned %v, want a clean stop", err)
	}
	if logged(r, "requests still running after shutdown_timeout are stopped") ||
		!logged(r, "connections still open after shutdown_timeout are closed; no request was running") {
		t.Errorf("log:\n%v", r.log.lines())
	}
}

// TestShutdownStopsASlowBody: a handler reading a body its client sends
// slowly is stopped like any other: the read ends, the client is answered
// 503, and the stop does not wait for the server's read timeout.
func TestShutdownStopsASlowBody(t *testing.T) {
	r := start(t, func(c *config.Config) { c.ShutdownTimeout = config.Duration(200 * time.Millisecond) })
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + r.token +
		"\r\nContent-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // for the server to read it (not an assertion)
	r.cancel()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "stopping") {
		t.Errorf("the stopped request: %d %s", res.StatusCode, body)
	}
	err = <-r.done
	r.done <- err // for the cleanup
	if !errors.Is(err, context.DeadlineExceeded) || !logged(r, "requests still running after shutdown_timeout are stopped") ||
		logged(r, "requests did not stop: the last audit checkpoint may not cover what they write") {
		t.Errorf("serve returned %v; log:\n%v", err, r.log.lines())
	}
	// Not logged as a fault: the stop logs the number it stopped.
	for _, l := range r.log.lines() {
		if l["level"] == "ERROR" || l["msg"] == "http request" && l["status"] == float64(http.StatusServiceUnavailable) && l["level"] != "WARN" {
			t.Errorf("the stopped request logged: %v", l)
		}
	}
}

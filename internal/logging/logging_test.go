package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRedaction(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, Options{Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("x",
		"password", "hunter2", "token", "gate_tk_secret", "client_secret", "s3", "Authorization", "Bearer abc",
		"email", "ada@example.com", "userName", "ada", "phone_number", "+86-138",
		slog.Group("user", "Email", "grace@example.com"),
		"token_id", "tok-123", "app_id", "app-1")
	out := buf.String()
	for _, leak := range []string{"hunter2", "gate_tk_secret", "s3\"", "Bearer abc", "ada@example.com", "\"ada\"", "+86-138", "grace@example.com"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q: %s", leak, out)
		}
	}
	for _, keep := range []string{"tok-123", "app-1"} {
		if !strings.Contains(out, keep) {
			t.Errorf("log lost %q: %s", keep, out)
		}
	}
}

// TestPlainNames: the names redact lets through without looking are ones
// it would let through anyway, among them every name of an access-log
// line.
func TestPlainNames(t *testing.T) {
	var buf bytes.Buffer
	log, _ := New(&buf, Options{Format: "json"})
	h := Middleware(log, http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	names := []string{"password", "token", "user_email", "App_Token", "Authorization", "level", "time", "msg"}
	for k := range line {
		names = append(names, k)
		if !plainName(k) {
			t.Errorf("access-log name %q is not plain: every line would search it", k)
		}
	}
	for _, k := range names {
		checkPlainName(t, k)
	}
}

func checkPlainName(t *testing.T, k string) {
	t.Helper()
	if plainName(k) && sensitiveName(k) {
		t.Errorf("%q is plain but sensitive: its value would be logged", k)
	}
}

func FuzzPlainName(f *testing.F) {
	for _, k := range []string{"request_id", "method", "route", "status", "bytes", "duration_ms", "client", "app_id", "time", "level", "msg", "password"} {
		f.Add(k)
	}
	f.Fuzz(checkPlainName)
}

func TestMiddleware(t *testing.T) {
	var buf bytes.Buffer
	log, _ := New(&buf, Options{Format: "json"})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /Users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if RequestID(r.Context()) == "" {
			t.Error("no request id in context")
		}
		SetCaller(r.Context(), "app-9")
		w.WriteHeader(http.StatusTeapot)
	})
	h := Middleware(log, mux)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/Users/42?filter=userName%20eq%20%22ada@example.com%22", nil))
	if rec.Header().Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	out := buf.String()
	if !strings.Contains(out, `"route":"GET /Users/{id}"`) || !strings.Contains(out, `"status":418`) || !strings.Contains(out, `"app_id":"app-9"`) {
		t.Errorf("access log: %s", out)
	}
	if strings.Contains(out, "ada@example.com") || strings.Contains(out, "/Users/42") {
		t.Errorf("access log carries the path or query: %s", out)
	}

	// A well-formed incoming id is kept; a hostile one replaced.
	for in, keep := range map[string]bool{"abc-123_X.y": true, "bad id\n": false, strings.Repeat("a", 65): false} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/Users/1", nil)
		req.Header.Set("X-Request-Id", in)
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-Id"); (got == in) != keep {
			t.Errorf("X-Request-Id %q → %q", in, got)
		}
	}
}

// TestAccessLogLevel: the access log line is an ERROR only for the
// server's faults: not for client errors, 501 (what is not offered, such
// as SCIM's /Me) included.
func TestAccessLogLevel(t *testing.T) {
	for status, want := range map[int]string{200: "INFO", 404: "INFO", 429: "INFO", 501: "INFO", 500: "ERROR", 503: "ERROR"} {
		var buf bytes.Buffer
		log, _ := New(&buf, Options{Format: "json"})
		h := Middleware(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/Me", nil))
		if !strings.Contains(buf.String(), `"level":"`+want+`"`) {
			t.Errorf("%d: %s, want level %s", status, buf.String(), want)
		}
	}
}

// TestClientGoneOrStopped: a request canceled because its client went away
// is ClientGone; one the stopping server canceled (cause ErrStopping) is
// not, and Stopped marks its error so that it is answered as the server's
// refusal. A deadline of the server's own is neither.
func TestClientGoneOrStopped(t *testing.T) {
	req := func(cancel func(context.Context) context.Context) *http.Request {
		return httptest.NewRequest("GET", "/", nil).WithContext(cancel(context.Background()))
	}
	gone := req(func(ctx context.Context) context.Context {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		return ctx
	})
	stopping := req(func(ctx context.Context) context.Context {
		ctx, cancel := context.WithCancelCause(ctx)
		cancel(ErrStopping)
		return ctx
	})
	late := req(func(ctx context.Context) context.Context {
		ctx, cancel := context.WithTimeout(ctx, 0)
		cancel()
		return ctx
	})
	canceled := fmt.Errorf("query: %w", context.Canceled)
	for _, c := range []struct {
		name            string
		r               *http.Request
		err             error
		gone, isStopped bool
	}{
		{"client gone", gone, canceled, true, false},
		{"server stopping", stopping, canceled, false, true},
		{"server stopping, another error", stopping, errors.New("constraint"), false, false},
		{"deadline", late, context.DeadlineExceeded, false, false},
		// PostgreSQL's statement cancelled on the context's behalf.
		{"client gone, statement cancelled", gone, fmt.Errorf("get user: %w", sqlState("57014")), true, false},
		{"server stopping, statement cancelled", stopping, sqlState("57014"), false, true},
		{"statement timeout", late, sqlState("57014"), false, false},
		{"client gone, another database error", gone, sqlState("23505"), false, false},
	} {
		if got := ClientGone(c.r, c.err); got != c.gone {
			t.Errorf("%s: ClientGone = %v", c.name, got)
		}
		err := Stopped(c.r, c.err)
		if got := errors.Is(err, ErrStopping); got != c.isStopped || !errors.Is(err, c.err) {
			t.Errorf("%s: Stopped = %v", c.name, err)
		}
	}
}

// sqlState is a database error with an SQLSTATE, as pgconn.PgError is.
type sqlState string

func (s sqlState) Error() string    { return "database error " + string(s) }
func (s sqlState) SQLState() string { return string(s) }

// Package logging builds Gatehouse's structured logger and its HTTP access
// log. Log records must never carry secrets or personal data: the logger
// redacts attributes by name as a last line of defence, and callers log ids,
// not names or addresses.
package logging

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures New.
type Options struct {
	// Format is "text" or "json".
	Format string
	Level  slog.Level
}

// New returns a logger writing to w.
func New(w io.Writer, opt Options) (*slog.Logger, error) {
	ho := &slog.HandlerOptions{Level: opt.Level, ReplaceAttr: redact}
	switch strings.ToLower(opt.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, fmt.Errorf("log format must be text or json, not %q", opt.Format)
}

// ParseLevel reads debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// sensitive lists attribute-name fragments whose values are never logged.
var sensitive = []string{"password", "secret", "authorization", "cookie", "email", "username", "user_name", "phone", "bearer", "credential"}

// redact is a slog ReplaceAttr: it replaces the value of any attribute whose
// key names a secret or personal datum. "token" is redacted too, except for
// token ids.
func redact(_ []string, a slog.Attr) slog.Attr {
	if !plainName(a.Key) && sensitiveName(a.Key) {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

// plainName reports whether k is one of the names every access-log line
// carries (and slog's own), which name nothing secret: they skip the
// search of sensitiveName, which would find nothing in them.
func plainName(k string) bool {
	switch k {
	case slog.TimeKey, slog.LevelKey, slog.MessageKey, "request_id", "method", "route", "status", "bytes", "duration_ms", "client", "app_id":
		return true
	}
	return false
}

// sensitiveName reports whether an attribute named k is redacted.
func sensitiveName(k string) bool {
	k = strings.ToLower(k)
	if k == "token" || strings.HasSuffix(k, "_token") || strings.HasPrefix(k, "token_value") {
		return true
	}
	for _, s := range sensitive {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// reqInfo travels in the request context; handlers fill in who the caller
// is, the access log reads it.
type reqInfo struct {
	id      string
	appID   string
	failure string
	detail  string
}

// RequestID returns the request id from ctx, or "".
func RequestID(ctx context.Context) string {
	if ri, ok := ctx.Value(ctxKey{}).(*reqInfo); ok {
		return ri.id
	}
	return ""
}

// SetCaller records the authenticated application for the access log.
func SetCaller(ctx context.Context, appID string) {
	if ri, ok := ctx.Value(ctxKey{}).(*reqInfo); ok {
		ri.appID = appID
	}
}

// SetFailure records why a request failed ("400 invalidValue", "401
// invalid_client") and a short description, for per-application statistics.
// The description must not hold personal data or secrets.
func SetFailure(ctx context.Context, reason string) {
	if ri, ok := ctx.Value(ctxKey{}).(*reqInfo); ok {
		ri.failure = reason
	}
}

// Record describes a finished request, for observers (metrics, statistics).
type Record struct {
	Method   string
	Route    string // the route pattern, "(unmatched)" if none
	Status   int
	Duration time.Duration
	AppID    string // the authenticated application, if any
	Failure  string // as given to SetFailure, or ""
}

// Observer is told about every finished request.
type Observer func(ctx context.Context, rec *Record)

// WithRequestID returns a context carrying id (for work outside HTTP).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, &reqInfo{id: id})
}

// NewRequestID returns a random id.
func NewRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Middleware gives every request an id (kept from a well-formed
// X-Request-Id header, else new), returns it in X-Request-Id, and writes one
// access-log line per request: method, route pattern (not the raw path or
// query, which may carry personal data), status, size, duration, client
// address and calling application.
func Middleware(log *slog.Logger, next http.Handler, observers ...Observer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = NewRequestID()
		}
		ri := &reqInfo{id: id}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "(unmatched)"
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		elapsed := time.Since(start)
		if len(observers) > 0 {
			rec := &Record{Method: r.Method, Route: route, Status: sw.status, Duration: elapsed, AppID: ri.appID, Failure: ri.failure}
			if rec.Failure == "" && sw.status >= 400 {
				rec.Failure = strconv.Itoa(sw.status)
			}
			for _, o := range observers {
				o(r.Context(), rec)
			}
		}
		level := slog.LevelInfo
		if ServerFault(sw.status) {
			level = slog.LevelError
			if errors.Is(context.Cause(r.Context()), ErrStopping) {
				// Stopped by the server's stop, which logs their number:
				// not a fault each.
				level = slog.LevelWarn
			}
		}
		// What log.LogAttrs does, without looking up the caller's program
		// counter on every request: the line names its route, and
		// Gatehouse's handlers do not add the source.
		ctx := r.Context()
		if h := log.Handler(); h.Enabled(ctx, level) {
			rec := slog.NewRecord(time.Now(), level, "http request", 0)
			rec.AddAttrs(
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
				slog.String("client", host),
				slog.String("app_id", ri.appID),
			)
			_ = h.Handle(ctx, rec)
		}
	})
}

// StatusClientClosed is the status logged and counted for a request whose
// client went away before its answer was ready (nginx's 499). It is not a
// server fault; only a client that closed just its sending half reads it.
const StatusClientClosed = 499

// ClientGone reports whether err stopped r because its client went away
// (hung up, or gave up waiting): r's context is canceled and err says so.
// A deadline of the server's own (a query's time budget) is not that, nor
// is a server that stops its requests (Stopped).
func ClientGone(r *http.Request, err error) bool {
	return context.Cause(r.Context()) == context.Canceled && canceled(err)
}

// canceled reports whether err says that its work was cancelled:
// context.Canceled, or PostgreSQL's query_canceled (SQLSTATE 57014), which
// the driver returns for a statement it had the server cancel when the
// context ended. (A statement_timeout is 57014 too; the callers ask only
// when the request's context was canceled.)
func canceled(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	var pe interface{ SQLState() string }
	return errors.As(err, &pe) && pe.SQLState() == "57014"
}

// ErrStopping is the cause with which a stopping server cancels the
// requests still running when its shutdown_timeout ends.
var ErrStopping = errors.New("the server is stopping")

// Stopped marks err with ErrStopping when it stopped r because the server
// is stopping (r's context canceled with that cause), so that it is
// answered as the server's refusal (503, retry later) and not as a client
// that went away; any other err is returned as it is.
func Stopped(r *http.Request, err error) error {
	if canceled(err) && !errors.Is(err, ErrStopping) && errors.Is(context.Cause(r.Context()), ErrStopping) {
		return fmt.Errorf("%w: %w", ErrStopping, err)
	}
	return err
}

// Stopping returns r's context's error marked with ErrStopping when the
// server has stopped r (Stopped), and nil otherwise: for work that fails
// without saying why, such as a body read cut short.
func Stopping(r *http.Request) error {
	if err := Stopped(r, r.Context().Err()); errors.Is(err, ErrStopping) {
		return err
	}
	return nil
}

// AnswerClientGone answers a request whose client went away (ClientGone)
// with StatusClientClosed, and records it as the failure for the access
// log and the application's statistics.
func AnswerClientGone(w http.ResponseWriter, r *http.Request) {
	SetFailure(r.Context(), strconv.Itoa(StatusClientClosed))
	w.WriteHeader(StatusClientClosed)
}

// ServerFault reports whether an answer's status says the server failed
// (logged at ERROR): a 5xx other than 501 Not Implemented, which answers a
// client that asked for what is not offered (SCIM's /Me, RFC 7644 §3.11;
// PATCH on a RAM-style endpoint): a client error.
func ServerFault(status int) bool {
	return status >= 500 && status != http.StatusNotImplemented
}

// BufferedWriter batches log lines into fewer write system calls: it
// flushes when its buffer fills and at least every interval. At thousands of
// requests a second, one write per access-log line costs more than the
// line. On a crash, at most one interval's lines are lost; the audit trail
// is in the database, not here.
type BufferedWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewBufferedWriter starts flushing w every interval.
func NewBufferedWriter(w io.Writer, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.Flush()
			case <-b.stop:
				b.Flush()
				return
			}
		}
	}()
	return b
}

// Write buffers p (one log record: slog writes whole records).
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes out what is buffered.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close flushes and stops the flusher.
func (b *BufferedWriter) Close() error {
	close(b.stop)
	<-b.done
	return nil
}

// Package recorded replays recorded HTTP exchanges (request/response
// pairs written from the providers' and engines' documented formats) for
// tests: the real clients are the code under test, and a request that
// differs from the recorded one fails the test.
package recorded

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// Exchange is one recorded request and its answer.
type Exchange struct {
	Method, Path string
	// Header holds the request headers that must match exactly.
	Header http.Header
	// Body is the request body; JSON bodies are compared as JSON values.
	Body []byte

	Status     int
	RespHeader http.Header
	RespBody   []byte
}

// ParseExchanges reads a txtar archive of recorded exchanges: files named
// "request" and "response", in pairs and in order. A request is
// "METHOD PATH", header lines, a blank line and the body; a response is the
// status code, header lines, a blank line and the body. The archive's
// comment says where the exchange comes from.
func ParseExchanges(data []byte) ([]Exchange, error) {
	a := txtar.Parse(data)
	var out []Exchange
	for i := 0; i < len(a.Files); i += 2 {
		if a.Files[i].Name != "request" || i+1 >= len(a.Files) || a.Files[i+1].Name != "response" {
			return nil, fmt.Errorf("file %d: want a request and its response, in pairs", i)
		}
		first, h, body, err := splitMessage(a.Files[i].Data)
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", i/2, err)
		}
		method, path, ok := strings.Cut(first, " ")
		if !ok {
			return nil, fmt.Errorf("request %d: first line %q is not METHOD PATH", i/2, first)
		}
		status, rh, rbody, err := splitMessage(a.Files[i+1].Data)
		if err != nil {
			return nil, fmt.Errorf("response %d: %w", i/2, err)
		}
		code, err := strconv.Atoi(status)
		if err != nil {
			return nil, fmt.Errorf("response %d: status %q", i/2, status)
		}
		out = append(out, Exchange{Method: method, Path: path, Header: h, Body: body, Status: code, RespHeader: rh, RespBody: rbody})
	}
	return out, nil
}

func splitMessage(data []byte) (first string, h http.Header, body []byte, err error) {
	r := bufio.NewReader(bytes.NewReader(data))
	line, err := r.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", nil, nil, err
	}
	first = strings.TrimSpace(line)
	h = http.Header{}
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return "", nil, nil, fmt.Errorf("header line %q", line)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		if err != nil {
			break
		}
	}
	body, _ = io.ReadAll(r)
	return first, h, bytes.TrimSpace(body), nil
}

// Replay answers recorded exchanges in order, and fails t on a request
// that differs from the next recorded one (method, path, recorded headers,
// JSON body) and, at the end of the test, on exchanges never requested.
type Replay struct {
	t  testing.TB
	mu sync.Mutex
	ex []Exchange
	n  int
	// got holds the requests received, in update mode.
	got []string
}

// NewReplay returns a Replay of the exchanges in archive.
func NewReplay(t testing.TB, archive []byte) *Replay {
	t.Helper()
	ex, err := ParseExchanges(archive)
	if err != nil {
		t.Fatal(err)
	}
	r := &Replay{t: t, ex: ex}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.n != len(r.ex) {
			t.Errorf("replay: %d of %d recorded exchanges were requested", r.n, len(r.ex))
		}
	})
	return r
}

// NewRecorder is NewReplay for writing a fixture: it answers the recorded
// responses whatever the requests and, at the end of the test, rewrites
// the archive at path with the requests it received (Content-Type and
// Authorization kept). Review the result against the documented format
// before committing it.
func NewRecorder(t testing.TB, path string) *Replay {
	t.Helper()
	archive, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := ParseExchanges(archive)
	if err != nil {
		t.Fatal(err)
	}
	r := &Replay{t: t, ex: ex, got: []string{}}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		a := txtar.Parse(archive)
		for i := range a.Files {
			if a.Files[i].Name == "request" && i/2 < len(r.got) {
				a.Files[i].Data = []byte(r.got[i/2])
			}
		}
		if err := os.WriteFile(path, txtar.Format(a), 0o644); err != nil {
			t.Error(err)
		}
	})
	return r
}

// ServeHTTP implements http.Handler.
func (r *Replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	if r.n >= len(r.ex) {
		r.mu.Unlock()
		r.t.Errorf("replay: unexpected request %s %s (all %d exchanges done)", req.Method, req.URL.RequestURI(), len(r.ex))
		http.Error(w, "unexpected request", http.StatusTeapot)
		return
	}
	e := r.ex[r.n]
	r.n++
	recording := r.got != nil
	if recording {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", req.Method, req.URL.RequestURI())
		for _, k := range []string{"Authorization", "Content-Type"} {
			if v := req.Header.Get(k); v != "" {
				fmt.Fprintf(&b, "%s: %s\n", k, v)
			}
		}
		b.WriteString("\n")
		if len(body) > 0 {
			b.Write(bytes.TrimSpace(body))
			b.WriteString("\n")
		}
		r.got = append(r.got, b.String())
	}
	r.mu.Unlock()
	if problem := e.mismatch(req, body); problem != "" && !recording {
		r.t.Errorf("replay: request %d: %s", r.n, problem)
		http.Error(w, problem, http.StatusTeapot)
		return
	}
	for k, v := range e.RespHeader {
		w.Header()[k] = v
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.RespBody)
}

func (e Exchange) mismatch(req *http.Request, body []byte) string {
	if req.Method != e.Method || req.URL.RequestURI() != e.Path {
		return fmt.Sprintf("got %s %s, want %s %s", req.Method, req.URL.RequestURI(), e.Method, e.Path)
	}
	for k, v := range e.Header {
		if got := req.Header.Values(k); !reflect.DeepEqual(got, v) {
			return fmt.Sprintf("header %s: got %q, want %q", k, got, v)
		}
	}
	if len(e.Body) == 0 && len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	if !JSONEqual(e.Body, body) {
		// NDJSON (bulk, msearch): compare line by line.
		if !NDJSONEqual(e.Body, body) {
			return fmt.Sprintf("body differs:\n got: %s\nwant: %s", clipBytes(body), clipBytes(e.Body))
		}
	}
	return ""
}

// JSONEqual reports whether a and b hold the same JSON value.
func JSONEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// NDJSONEqual reports whether a and b hold the same JSON values, one per
// line.
func NDJSONEqual(a, b []byte) bool {
	la := bytes.Split(bytes.TrimSpace(a), []byte("\n"))
	lb := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		if !JSONEqual(la[i], lb[i]) {
			return false
		}
	}
	return true
}

func clipBytes(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

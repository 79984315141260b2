package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bigJSON is a syntactically plausible JSON object of n bytes, streamed:
// {"userName":"aaaa…"} (the body must be refused for its size, not for
// being malformed).
func bigJSON(n int64) io.Reader {
	head, tail := `{"userName":"`, `"}`
	pad := n - int64(len(head)+len(tail))
	return io.MultiReader(strings.NewReader(head), io.LimitReader(repeatReader('a'), pad), strings.NewReader(tail))
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// How a client sends a body.
type sender int

const (
	goClient  sender = iota // net/http's client: reads the answer while it writes
	goChunked               // the same without Content-Length
	goExpect                // sends "Expect: 100-continue" and waits for it
	writeAll                // writes the whole body, then reads the answer (curl, many SDKs)
)

// send posts a body of n bytes and returns the status and the decoded
// answer. Any transport error fails the test: the client must be able to
// read the refusal.
func send(t *testing.T, target, token, contentType string, n int64, how sender) (int, http.Header, map[string]any) {
	t.Helper()
	var resp *http.Response
	switch how {
	case goClient, goChunked, goExpect:
		body := &countingReader{r: bigJSON(n)}
		req, err := http.NewRequest("POST", target, body)
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{}
		if how != goChunked {
			req.ContentLength = n
		}
		if how == goExpect {
			req.Header.Set("Expect", "100-continue")
			tr.ExpectContinueTimeout = time.Minute
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", contentType)
		resp, err = (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatalf("POST %d bytes: the answer could not be read: %v", n, err)
		}
		if how == goExpect && body.n > 0 {
			t.Errorf("the client waiting for 100 Continue was asked for the body (%d bytes sent)", body.n)
		}
	case writeAll:
		u, _ := url.Parse(target)
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := "POST " + u.Path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: Bearer " + token +
			"\r\nContent-Type: " + contentType + "\r\nContent-Length: " + strconv.FormatInt(n, 10) + "\r\n\r\n"
		if _, err := io.Copy(conn, io.MultiReader(strings.NewReader(head), bigJSON(n))); err != nil {
			t.Fatalf("POST %d bytes: the connection broke before the whole body was sent, so the answer is lost: %v", n, err)
		}
		resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("POST %d bytes: the answer could not be read: %v", n, err)
		}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %d bytes: reading the answer: %v", n, err)
	}
	var doc map[string]any
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&doc); err != nil {
		t.Fatalf("POST %d bytes: %d %q is not JSON: %v", n, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, resp.Header, doc
}

func TestOversizedBodies(t *testing.T) {
	r := start(t, nil)
	const scimURN = "urn:ietf:params:scim:api:messages:2.0:Error"
	for _, tt := range []struct {
		name string
		n    int64
		how  sender
	}{
		{"3 MB", 3 << 20, goClient},
		{"100 MiB", 100 << 20, goClient},
		{"100 MiB without Content-Length", 100 << 20, goChunked},
		{"100 MiB announced with Expect: 100-continue", 100 << 20, goExpect},
		{"3 MB written whole before reading", 3 << 20, writeAll},
		{"100 MiB written whole before reading", 100 << 20, writeAll},
	} {
		t.Run("SCIM "+tt.name, func(t *testing.T) {
			code, _, doc := send(t, r.url+"/scim/v2/Users", r.token, "application/scim+json", tt.n, tt.how)
			if code != http.StatusRequestEntityTooLarge || doc["status"] != "413" || !strings.Contains(strings.Join(anyStrings(doc["schemas"]), " "), scimURN) {
				t.Errorf("got %d %v, want a 413 SCIM error", code, doc)
			}
		})
		t.Run("admin API "+tt.name, func(t *testing.T) {
			code, h, doc := send(t, r.url+"/admin/v1/apps", r.admin, "application/json", tt.n, tt.how)
			if code != http.StatusRequestEntityTooLarge || doc["status"] != float64(413) || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
				t.Errorf("got %d %s %v, want a 413 problem document", code, h.Get("Content-Type"), doc)
			}
		})
	}
	// Nothing was created.
	code, body := get(t, http.DefaultClient, r.url+"/scim/v2/Users?count=0", r.token)
	if code != 200 || !strings.Contains(body, `"totalResults":0`) {
		t.Errorf("users after the refusals: %d %s", code, body)
	}
}

func anyStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

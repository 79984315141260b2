package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestEventsTokenRedirect: a scim target whose token_url answers with a
// redirect is not disabled. The redirect is not followed; each delivery
// fails permanently (dead after its one attempt, as a redirect from the
// base URL makes it), saying so, and the next event is attempted.
func TestEventsTokenRedirect(t *testing.T) {
	downstream := start(t, nil)
	var hits, followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(elsewhere.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, elsewhere.URL+"/v1/token", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	r := startWithRules(t, fmt.Sprintf(`
targets:
  ram:
    scim: {base_url: %q, profile: ram, token_url: %q, client_id: id, client_secret: s3cr3t}
rules:
  - name: all
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: ram, payload: {"userName": "{{account}}"}}]
`, downstream.url, redirector.URL+"/v1/token"), nil)

	for i, name := range []string{"ada", "grace"} {
		createUser(t, r, `{"userName":"`+name+`@example.com"}`)
		var items []any
		waitFor(t, fmt.Sprintf("%d dead deliveries", i+1), func() bool {
			res := adminCall(t, r, "GET", "/deliveries?state=dead", "")
			items, _ = res.body["items"].([]any)
			return len(items) == i+1
		})
		for _, it := range items {
			d := it.(map[string]any)
			msg := fmt.Sprint(d["lastError"])
			if d["attempts"] != float64(1) || !strings.Contains(msg, "token endpoint: the answer is a redirect (HTTP 307), which is not followed") ||
				strings.Contains(msg, "refused the client credentials") || strings.Contains(msg, "s3cr3t") {
				t.Errorf("delivery %v: %v attempts, error %q", d["id"], d["attempts"], msg)
			}
		}
		res := adminCall(t, r, "GET", "/targets", "")
		targets, _ := res.body["items"].([]any)
		if len(targets) != 1 || targets[0].(map[string]any)["disabled"] != nil {
			t.Fatalf("after a redirect from the token endpoint: %s", res.raw)
		}
	}
	if res := adminCall(t, r, "GET", "/deliveries?state=pending", ""); len(res.body["items"].([]any)) != 0 {
		t.Errorf("pending deliveries: %s", res.raw)
	}
	if hits.Load() != 2 || followed.Load() != 0 {
		t.Errorf("token endpoint asked %d times, redirect followed %d times; want 2 and 0", hits.Load(), followed.Load())
	}
}

package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestOperatorLogs: what an operator needs is in the server's log — the
// rules and targets put in force (INFO, at start and on reload) and rules
// that match nothing (WARN), deliveries given up and targets disabled or
// enabled (WARN, INFO), with ids and never the personal data the events
// carry; a client's request for what is not offered (/Me, 501) is not an
// ERROR.
func TestOperatorLogs(t *testing.T) {
	gone := newHook(t)
	gone.status = func(int) int { return http.StatusGone }
	r := startWithRules(t, fmt.Sprintf(`
targets:
  down:
    webhook: {url: "http://127.0.0.1:1/hook", secrets: [%q]}
    policy: {schedule: [10ms]}
  gone:
    webhook: {url: %q, secrets: [%q]}
rules:
  - name: created
    pattern: {"detail-type": ["User.Created"]}
    targets: [{target: down}, {target: gone}]
  - name: copied
    pattern: {"source": ["com.aliyun.idaas"], "detail-type": ["SCIM.UserCreated"]}
    targets: [{target: down}]
`, gone.secret, gone.srv.URL, gone.secret), nil)

	// find waits for a line with msg whose attributes include want.
	find := func(level, msg string, want map[string]string) map[string]any {
		t.Helper()
		var found map[string]any
		waitFor(t, fmt.Sprintf("%s %q %v in the log", level, msg, want), func() bool {
		lines:
			for _, l := range r.log.lines() {
				if l["level"] != level || l["msg"] != msg {
					continue
				}
				for k, v := range want {
					if s := fmt.Sprint(l[k]); !strings.Contains(s, v) {
						continue lines
					}
				}
				found = l
				return true
			}
			return false
		})
		return found
	}
	find("INFO", "rules loaded", map[string]string{"rules": "created, copied", "targets": "down (webhook), gone (webhook)"})
	find("WARN", "rule matches no event", map[string]string{"problem": `rules[1].pattern.detail-type: matches no event type Gatehouse emits ("SCIM.UserCreated": did you mean "User.Created"?)`})
	find("WARN", "rule matches no event", map[string]string{"problem": `rules[1].pattern.source`})

	// /Me: 501, a client error.
	if res := call(t, "GET", r.url+"/scim/v2/Me", "", bearer(r.token)...); res.status != http.StatusNotImplemented {
		t.Fatalf("/Me: %d", res.status)
	}
	find("INFO", "http request", map[string]string{"route": "/Me", "status": "501"})

	createUser(t, r, `{"userName":"ada.lovelace@example.com","name":{"givenName":"Ada"},"emails":[{"value":"ada.lovelace@example.com"}]}`)
	dead := find("WARN", "delivery dead", map[string]string{"target": "down", "why": "retries exhausted", "rule": "created", "event_type": "User.Created"})
	if dead["attempts"] != float64(2) || dead["delivery_id"] == "" {
		t.Errorf("delivery dead: %v", dead)
	}
	find("WARN", "target disabled", map[string]string{"target": "gone", "reason": "the endpoint answered HTTP 410"})

	// An operator's changes, made in any process, are seen and logged.
	if res := adminCall(t, r, "POST", "/targets/gone/enable", ""); res.status/100 != 2 {
		t.Fatalf("enable: %d %s", res.status, res.raw)
	}
	find("INFO", "target enabled", map[string]string{"target": "gone"})
	if res := adminCall(t, r, "POST", "/targets/down/disable", ""); res.status/100 != 2 {
		t.Fatalf("disable: %d %s", res.status, res.raw)
	}
	find("WARN", "target disabled", map[string]string{"target": "down", "reason": "disabled by"})

	if err := r.app.ReloadRules(); err != nil {
		t.Fatal(err)
	}
	find("INFO", "rules reloaded", map[string]string{"rules": "created, copied", "targets": "down (webhook), gone (webhook)"})

	for _, l := range r.log.lines() {
		if l["level"] == "ERROR" {
			t.Errorf("ERROR in the log: %v", l)
		}
		if s := fmt.Sprint(l); strings.Contains(s, "ada.lovelace") || strings.Contains(s, "Ada") {
			t.Errorf("personal data in the log: %v", l)
		}
	}
}

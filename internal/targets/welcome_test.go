package targets

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/targets/fake"
)

// TestWelcomeGreetsByName: the welcome email greets the person by name —
// givenName, else displayName — never by an email address (which is what
// userName, and sometimes displayName, hold); it names the company (the
// root organization here), not the organization the person is placed in.
func TestWelcomeGreetsByName(t *testing.T) {
	f := fake.NewResend(resendKey)
	f.RateLimit = -1
	srv := httptest.NewServer(f)
	defer srv.Close()
	r := newResendTarget(t, srv.URL, nil)
	tests := []struct {
		name      string
		detail    string
		subject   string
		greeting  string // the text part's first line
		company   string // the text part's "Welcome to …!"
		htmlHello string
	}{
		{
			name: "a SCIM user: userName is the email address",
			detail: `{"userName":"ada.lovelace@example.com","email":"ada.lovelace@example.com","givenName":"Ada","familyName":"Lovelace",` +
				`"displayName":"Ada Lovelace","organization":"Engineering","orgPathNames":["Acme Corp","Engineering"]}`,
			subject: "Welcome to Acme Corp, Ada Lovelace", greeting: "Hi Ada,", company: "Welcome to Acme Corp!", htmlHello: "<p>Hi Ada,</p>",
		},
		{
			name:    "no givenName: the displayName",
			detail:  `{"userName":"grace@example.com","displayName":"Grace Hopper","organization":"Root","orgPathNames":["Root"]}`,
			subject: "Welcome to the team, Grace Hopper", greeting: "Hi Grace Hopper,", company: "Welcome to the team!", htmlHello: "<p>Hi Grace Hopper,</p>",
		},
		{
			name:    "a displayName that is an email address, no name: no name",
			detail:  `{"userName":"linus@example.com","displayName":"linus@example.com","orgPathNames":["Root","Sales"]}`,
			subject: "Welcome to the team, new colleague", greeting: "Hi there,", company: "Welcome to the team!", htmlHello: "<p>Hi there,</p>",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := emailDelivery(strings.Repeat("w", i+1))
			d.Event = json.RawMessage(`{"type":"User.Created","detail":` + tt.detail + `}`)
			d.Payload = json.RawMessage(`{"to":"someone@example.com","template":"welcome_new_hire"}`)
			if res := r.Deliver(context.Background(), d); res.Outcome != Delivered {
				t.Fatalf("%+v", res)
			}
			emails := f.Emails()
			e := emails[len(emails)-1]
			lines := strings.Split(e.Text, "\n")
			if e.Subject != tt.subject || lines[0] != tt.greeting || len(lines) < 3 || !strings.HasPrefix(lines[2], tt.company) {
				t.Errorf("subject %q, text:\n%s\nwant subject %q, %q, %q", e.Subject, e.Text, tt.subject, tt.greeting, tt.company)
			}
			if !strings.Contains(e.HTML, tt.htmlHello) {
				t.Errorf("HTML lacks %q:\n%s", tt.htmlHello, e.HTML)
			}
			if strings.Contains(lines[0], "@") || strings.Contains(e.Subject, "@") {
				t.Errorf("greets by an email address: %q, %q", e.Subject, lines[0])
			}
		})
	}
}

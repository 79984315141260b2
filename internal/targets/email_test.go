package targets

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestComposeEmail(t *testing.T) {
	tpl := DefaultTemplates()
	tests := []struct {
		name    string
		payload string
		event   string
		want    email // Text and HTML not compared
		errHas  string
	}{
		{
			name:    "locale from the payload first",
			payload: `{"to":"a@example.com","template":"welcome_new_hire","locale":"en"}`,
			event:   `{"detail":{"userName":"ada","locale":"zh","preferredLanguage":"zh"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "Welcome to the team, ada", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "then detail.locale",
			payload: `{"to":"a@example.com","template":"welcome_new_hire"}`,
			event:   `{"detail":{"userName":"ada","locale":"zh-Hans","preferredLanguage":"en"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "欢迎加入团队，ada", Template: "welcome_new_hire", Locale: "zh"},
		},
		{
			name:    "then detail.preferredLanguage (SCIM)",
			payload: `{"to":"a@example.com","template":"welcome_new_hire"}`,
			event:   `{"detail":{"userName":"ada","preferredLanguage":"zh-CN"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "欢迎加入团队，ada", Template: "welcome_new_hire", Locale: "zh"},
		},
		{
			name:    "then the target's",
			payload: `{"to":"a@example.com","template":"welcome_new_hire"}`,
			event:   `{"data":{"userName":"ada"}}`, // a CloudEvent's data when there is no detail
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "Welcome to the team, ada", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "variables over detail, subject and from overrides",
			payload: `{"to":[" a@example.com ","","B <b@example.com>"],"template":"welcome_new_hire","variables":{"organization":"Globex"},"subject":" Hi\nthere ","from":"IT <it@acme.example>"}`,
			event:   `{"detail":{"userName":"ada","organization":"Acme"}}`,
			want:    email{From: "IT <it@acme.example>", To: []string{"a@example.com", "B <b@example.com>"}, Subject: "Hi there", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "variables alone",
			payload: `{"to":"a@example.com","template":"welcome_new_hire","variables":{"organization":"Globex"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "Welcome to Globex, new colleague", Template: "welcome_new_hire", Locale: "en"},
		},
		{name: "not JSON", payload: `{`, errHas: "email payload"},
		{name: "unknown field", payload: `{"to":"a@example.com","tempalte":"welcome_new_hire"}`, errHas: `unknown field "tempalte"`},
		{name: "to a number", payload: `{"to":1,"template":"welcome_new_hire"}`, errHas: `"to" must be a string or an array`},
		{name: "no recipient", payload: `{"to":[" "],"template":"welcome_new_hire"}`, errHas: "no recipient"},
		{name: "bad recipient", payload: `{"to":["a@example.com","bob"],"template":"welcome_new_hire"}`, errHas: `recipient "bob"`},
		{name: "51 recipients", payload: `{"to":[` + strings.TrimSuffix(strings.Repeat(`"a@example.com",`, 51), ",") + `],"template":"welcome_new_hire"}`, errHas: "51 recipients; at most 50"},
		{name: "no template", payload: `{"to":"a@example.com"}`, errHas: `no "template"`},
		{name: "unknown template", payload: `{"to":"a@example.com","template":"nope"}`, errHas: "email template not found"},
		{name: "bad sender", payload: `{"to":"a@example.com","template":"welcome_new_hire","from":"HR"}`, errHas: `sender "HR"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Delivery{EventID: "e1", Payload: json.RawMessage(tt.payload), Event: json.RawMessage(tt.event)}
			got, err := composeEmail(d, tpl, "HR <hr@acme.example>", "en")
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("err = %v, want it to mention %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Text == "" || got.HTML == "" {
				t.Errorf("parts missing: %+v", got)
			}
			got.Text, got.HTML = "", ""
			if diff := cmp.Diff(tt.want, *got, cmp.AllowUnexported(email{})); diff != "" {
				t.Errorf("email (-want +got):\n%s", diff)
			}
		})
	}
	// No sender anywhere.
	d := &Delivery{Payload: json.RawMessage(`{"to":"a@example.com","template":"welcome_new_hire"}`)}
	if _, err := composeEmail(d, tpl, "", "en"); err == nil || !strings.Contains(err.Error(), "no sender") {
		t.Errorf("err = %v, want no sender", err)
	}
}

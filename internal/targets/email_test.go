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
		company string // the target's
		payload string
		event   string
		want    email // Text and HTML not compared
		errHas  string
	}{
		{
			name:    "locale from the payload first",
			payload: `{"to":"a@example.com","template":"welcome_new_hire","locale":"en"}`,
			event:   `{"detail":{"userName":"ada","locale":"zh","preferredLanguage":"zh"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "Welcome to the team, new colleague", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "then detail.locale",
			payload: `{"to":"a@example.com","template":"welcome_new_hire"}`,
			event:   `{"detail":{"userName":"ada","locale":"zh-Hans","preferredLanguage":"en"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "欢迎加入团队，新同事", Template: "welcome_new_hire", Locale: "zh"},
		},
		{
			name:    "then detail.preferredLanguage (SCIM)",
			payload: `{"to":"a@example.com","template":"welcome_new_hire"}`,
			event:   `{"detail":{"userName":"ada","preferredLanguage":"zh-CN"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "欢迎加入团队，新同事", Template: "welcome_new_hire", Locale: "zh"},
		},
		{
			name:    "then the target's",
			payload: `{"to":"a@example.com","template":"welcome_new_hire"}`,
			event:   `{"data":{"userName":"ada"}}`, // a CloudEvent's data when there is no detail
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "Welcome to the team, new colleague", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "variables over detail, subject and from overrides",
			payload: `{"to":[" a@example.com ","","B <b@example.com>"],"template":"welcome_new_hire","variables":{"organization":"Globex"},"subject":" Hi\nthere ","from":"IT <it@acme.example>"}`,
			event:   `{"detail":{"userName":"ada","organization":"Acme"}}`,
			want:    email{From: "IT <it@acme.example>", To: []string{"a@example.com", "B <b@example.com>"}, Subject: "Hi there", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "variables alone",
			payload: `{"to":"a@example.com","template":"welcome_new_hire","variables":{"company":"Globex"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "Welcome to Globex, new colleague", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "the target's company, over the root organization's name",
			company: "Initech",
			payload: `{"to":"a@example.com","template":"welcome_new_hire"}`,
			event:   `{"detail":{"displayName":"Ada Lovelace","organization":"Engineering","orgPathNames":["Acme","Engineering"]}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "Welcome to Initech, Ada Lovelace", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "a payload's company over the target's",
			company: "Initech",
			payload: `{"to":"a@example.com","template":"welcome_new_hire","variables":{"company":"Globex","fullName":"Dr. Lovelace"}}`,
			event:   `{"detail":{"displayName":"Ada Lovelace"}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "Welcome to Globex, Dr. Lovelace", Template: "welcome_new_hire", Locale: "en"},
		},
		{
			name:    "a Chinese name from its parts",
			payload: `{"to":"a@example.com","template":"welcome_new_hire"}`,
			event:   `{"detail":{"userName":"zhangsan@example.com","givenName":"三","familyName":"张","locale":"zh","orgPathNames":["示例公司"]}}`,
			want:    email{From: "HR <hr@acme.example>", To: []string{"a@example.com"}, Subject: "欢迎加入示例公司，张三", Template: "welcome_new_hire", Locale: "zh"},
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
			got, err := composeEmail(d, tpl, emailDefaults{From: "HR <hr@acme.example>", Locale: "en", Company: tt.company})
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
	if _, err := composeEmail(d, tpl, emailDefaults{Locale: "en"}); err == nil || !strings.Contains(err.Error(), "no sender") {
		t.Errorf("err = %v, want no sender", err)
	}
}

// TestTemplateVars: the variables derived for the templates: the name to
// greet by, the full name and the company, never an email address; the
// payload's variables win.
func TestTemplateVars(t *testing.T) {
	for _, tt := range []struct {
		name      string
		detail    map[string]any
		variables map[string]any
		company   string
		want      map[string]any // greetingName, fullName, company ("": absent)
	}{
		{"given and display names", map[string]any{"givenName": "Ada", "familyName": "Lovelace", "displayName": "Countess Lovelace"}, nil, "",
			map[string]any{"greetingName": "Ada", "fullName": "Countess Lovelace"}},
		{"given and family names", map[string]any{"givenName": " Ada ", "familyName": "Lovelace"}, nil, "",
			map[string]any{"greetingName": "Ada", "fullName": "Ada Lovelace"}},
		{"Korean", map[string]any{"givenName": "민준", "familyName": "김"}, nil, "", map[string]any{"greetingName": "민준", "fullName": "김민준"}},
		{"email addresses are no names", map[string]any{"userName": "ada@example.com", "displayName": "ada@example.com", "givenName": "a@b"}, nil, "",
			map[string]any{}},
		{"the root organization names the company", map[string]any{"orgPathNames": []any{"Acme", "Engineering"}}, nil, "",
			map[string]any{"company": "Acme"}},
		{"unless it is still Root", map[string]any{"orgPathNames": []any{"Root", "Engineering"}}, nil, "", map[string]any{}},
		{"the setting first", map[string]any{"orgPathNames": []any{"Acme"}}, nil, "Initech", map[string]any{"company": "Initech"}},
		{"the payload's variables last", map[string]any{"givenName": "Ada"}, map[string]any{"greetingName": "Countess", "company": "Globex"}, "Initech",
			map[string]any{"greetingName": "Countess", "fullName": "Ada", "company": "Globex"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := templateVars(tt.detail, tt.variables, tt.company)
			got := map[string]any{}
			for _, k := range []string{"greetingName", "fullName", "company"} {
				if v, ok := vars[k]; ok {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("derived variables (-want +got):\n%s", diff)
			}
		})
	}
}

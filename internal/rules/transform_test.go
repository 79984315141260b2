package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// transformEvent is a Gatehouse event document (docs/events.md) with values
// that need care: quotes, a backslash and a newline, non-ASCII text, a
// number beyond float64's precision, a decimal with a trailing zero, null.
const transformEvent = `{
  "specversion": "1.0",
  "id": "01936f8e-0000-7000-8000-000000000001",
  "source": "com.alibabacloud.idaas",
  "type": "User.Created",
  "subject": "users/u1",
  "time": "2026-11-23T08:00:00.123456Z",
  "datacontenttype": "application/json",
  "detail-type": "User.Created",
  "detail": {
    "id": "u1",
    "userName": "ada@example.com",
    "displayName": "Ada \"The Countess\" Lovelace",
    "active": true,
    "email": "ada@example.com",
    "dept": "tour-operations",
    "department": "R&D <Tours>",
    "groups": ["engineering"],
    "employeeNumber": 12345678901234567890,
    "ratio": 1.50,
    "manager": null,
    "note": "line1\nline2\\end\u0001\u2028",
    "city": "Zürich ☃",
    "user": {"emails": [{"value": "ada@example.com", "type": "work"}], "id": "u1"}
  }
}`

// dataEvent has a CloudEvents "data" of its own.
const dataEvent = `{"data": {"email": "data@example.com"}, "detail": {"email": "detail@example.com"}}`

var transformCases = []struct {
	name  string
	spec  TransformSpec
	event string // transformEvent if empty
	want  string // the exact payload
	// missing: Apply fails with a *MissingError for this placeholder and path.
	missing, missingPath string
}{
	// ---- The seeds' payloads ----
	{name: "seed welcome email", spec: TransformSpec{Kind: "template", Template: `{"to": "${detail.email}", "template": "welcome_new_hire"}`},
		want: `{"to":"ada@example.com","template":"welcome_new_hire"}`},
	{name: "seed gitbook user", spec: TransformSpec{Kind: "template", Template: `{"userName": "{{email}}", "active": true, "groups": ["{{dept}}-readers"]}`},
		want: `{"userName":"ada@example.com","active":true,"groups":["tour-operations-readers"]}`},
	{name: "seed resend email", spec: TransformSpec{Kind: "template", Template: `{"from": "onboarding@example.com", "to": ["{{email}}"], "subject": "Welcome"}`},
		want: `{"from":"onboarding@example.com","to":["ada@example.com"],"subject":"Welcome"}`},

	// ---- defaults for missing fields: ${path:-default} ----
	{name: "default inside a string", spec: TransformSpec{Kind: "template", Template: `{"title": "${detail.title:-Engineer}"}`},
		want: `{"title":"Engineer"}`},
	{name: "empty default inside a string", spec: TransformSpec{Kind: "template", Template: `{"nick": "{{nick:-}}"}`}, want: `{"nick":""}`},
	{name: "default not used when present", spec: TransformSpec{Kind: "template", Template: `{"to": "${detail.email:-nobody@example.com}"}`},
		want: `{"to":"ada@example.com"}`},
	{name: "JSON default outside quotes", spec: TransformSpec{Kind: "template", Template: `{"on": ${detail.enabled:-true}, "n": ${detail.n:-0}, "g": ${detail.gs:-[]}}`},
		want: `{"on":true,"n":0,"g":[]}`},
	{name: "text default outside quotes is a string", spec: TransformSpec{Kind: "template", Template: `{"region": ${detail.region:-cn-hangzhou}}`},
		want: `{"region":"cn-hangzhou"}`},
	{name: "null is not missing: no default", spec: TransformSpec{Kind: "template", Template: `{"m": ${detail.manager:-"none"}}`}, want: `{"m":null}`},
	{name: "default of a variable's path", spec: TransformSpec{Kind: "template", Template: `{"p": "${ph:-none}"}`, Vars: map[string]string{"ph": "$.detail.phone"}},
		want: `{"p":"none"}`},

	// ---- kind "path" ----
	{name: "path to a string", spec: TransformSpec{Kind: "path", Path: "$.detail.email"}, want: `"ada@example.com"`},
	{name: "path to an object", spec: TransformSpec{Kind: "path", Path: "$.detail.user"},
		want: `{"emails":[{"type":"work","value":"ada@example.com"}],"id":"u1"}`},
	{name: "path with an index", spec: TransformSpec{Kind: "path", Path: "$.detail.user.emails[0].value"}, want: `"ada@example.com"`},
	{name: "path with a quoted name", spec: TransformSpec{Kind: "path", Path: "$['detail-type']"}, want: `"User.Created"`},
	{name: "path with a double-quoted name", spec: TransformSpec{Kind: "path", Path: `$.detail["userName"]`}, want: `"ada@example.com"`},
	{name: "path keeps numbers exact", spec: TransformSpec{Kind: "path", Path: "$.detail.employeeNumber"}, want: `12345678901234567890`},
	{name: "path to null", spec: TransformSpec{Kind: "path", Path: "$.detail.manager"}, want: `null`},
	{name: "path to the root", spec: TransformSpec{Kind: "path", Path: "$"}, event: `{"b": 1, "a": [true]}`, want: `{"a":[true],"b":1}`},
	{name: "path $.data is $.detail", spec: TransformSpec{Kind: "path", Path: "$.data"}, event: `{"detail": {"email": "x@example.com"}}`, want: `{"email":"x@example.com"}`},
	{name: "path $.data.email is $.detail.email", spec: TransformSpec{Kind: "path", Path: "$.data.email"}, want: `"ada@example.com"`},
	{name: "path $.data when there is data", spec: TransformSpec{Kind: "path", Path: "$.data.email"}, event: dataEvent, want: `"data@example.com"`},
	{name: "path does not HTML-escape", spec: TransformSpec{Kind: "path", Path: "$.detail.department"}, want: `"R&D <Tours>"`},
	{name: "path missing", spec: TransformSpec{Kind: "path", Path: "$.detail.phone"}, missing: "$.detail.phone", missingPath: "$.detail.phone"},
	{name: "path index out of range", spec: TransformSpec{Kind: "path", Path: "$.detail.groups[1]"}, missing: "$.detail.groups[1]", missingPath: "$.detail.groups[1]"},
	{name: "path through a string", spec: TransformSpec{Kind: "path", Path: "$.detail.email.domain"}, missing: "$.detail.email.domain", missingPath: "$.detail.email.domain"},

	// ---- kind "constant" ----
	{name: "constant JSON", spec: TransformSpec{Kind: "constant", Value: "{\"ping\": true,\n \"n\": 1.0}"}, want: `{"ping":true,"n":1.0}`},
	{name: "constant number", spec: TransformSpec{Kind: "constant", Value: "42"}, want: `42`},
	{name: "constant text", spec: TransformSpec{Kind: "constant", Value: `Please "deal" with it \ now & <then>`}, want: `"Please \"deal\" with it \\ now & <then>"`},
	{name: "constant ignores the event", spec: TransformSpec{Kind: "constant", Value: "x"}, event: `not JSON at all`, want: `"x"`},

	// ---- Placeholder forms ----
	{name: "${path} from the root", spec: TransformSpec{Kind: "template", Template: `{"t": "${detail-type}", "s": "${source}"}`},
		want: `{"t":"User.Created","s":"com.alibabacloud.idaas"}`},
	{name: "${$.path}", spec: TransformSpec{Kind: "template", Template: `{"to": "${$.detail.email}"}`}, want: `{"to":"ada@example.com"}`},
	{name: "${path} with an index", spec: TransformSpec{Kind: "template", Template: `{"to": "${detail.user.emails[0].value}"}`}, want: `{"to":"ada@example.com"}`},
	{name: "{{name}} is in detail", spec: TransformSpec{Kind: "template", Template: `{"u": "{{userName}}", "g": "{{groups[0]}}"}`},
		want: `{"u":"ada@example.com","g":"engineering"}`},
	{name: "{{nested.name}} is in detail", spec: TransformSpec{Kind: "template", Template: `{"t": "{{user.emails[0].type}}"}`}, want: `{"t":"work"}`},
	{name: "{{$.path}} is from the root", spec: TransformSpec{Kind: "template", Template: `{"id": "{{$.id}}"}`}, want: `{"id":"01936f8e-0000-7000-8000-000000000001"}`},
	{name: "spaces inside placeholders", spec: TransformSpec{Kind: "template", Template: `{"a": "{{ email }}", "b": "${ detail.dept }", "c": "${ v }"}`, Vars: map[string]string{"v": "$.id"}},
		want: `{"a":"ada@example.com","b":"tour-operations","c":"01936f8e-0000-7000-8000-000000000001"}`},
	{name: "${var} bound to a path", spec: TransformSpec{Kind: "template", Template: `{"to": "${email}", "name": "${name}"}`, Vars: map[string]string{"email": "$.detail.email", "name": "$.detail.displayName"}},
		want: `{"to":"ada@example.com","name":"Ada \"The Countess\" Lovelace"}`},
	{name: "${var} bound to a constant", spec: TransformSpec{Kind: "template", Template: `{"subject": "${subject}", "to": "${email}"}`, Vars: map[string]string{"subject": "Welcome aboard", "email": "$.detail.email"}},
		want: `{"subject":"Welcome aboard","to":"ada@example.com"}`},
	{name: "${var} constant with quotes in a string", spec: TransformSpec{Kind: "template", Template: `{"m": "said: ${q}"}`, Vars: map[string]string{"q": `"hi" \ bye`}},
		want: `{"m":"said: \"hi\" \\ bye"}`},
	{name: "${var} constant outside quotes is JSON when it is JSON", spec: TransformSpec{Kind: "template", Template: `{"active": ${on}, "n": ${n}, "o": ${o}, "s": ${s}, "in": "${on}"}`, Vars: map[string]string{"on": "true", "n": "42", "o": `{"a": [1]}`, "s": "plain text"}},
		want: `{"active":true,"n":42,"o":{"a":[1]},"s":"plain text","in":"true"}`},
	{name: "${var} beats a path of the same name", spec: TransformSpec{Kind: "template", Template: `{"s": "${source}"}`, Vars: map[string]string{"source": "gatehouse"}},
		want: `{"s":"gatehouse"}`},
	{name: "Alibaba's template example", spec: TransformSpec{Kind: "template", Template: `The event ${name} is ${constant}`, Vars: map[string]string{"name": "$.data.name", "constant": "Please deal with it timely."}},
		event: `{"data": {"name": "test", "scope": 100}}`, want: `"The event test is Please deal with it timely."`},
	{name: "$.data in ${path} means detail", spec: TransformSpec{Kind: "template", Template: `{"a": "${data.email}", "b": "${$.data.dept}"}`},
		want: `{"a":"ada@example.com","b":"tour-operations"}`},
	{name: "$.data in ${path} when there is data", spec: TransformSpec{Kind: "template", Template: `{"a": "${data.email}", "b": "{{email}}"}`}, event: dataEvent,
		want: `{"a":"data@example.com","b":"detail@example.com"}`},

	// ---- Inside JSON strings: the value's text, escaped ----
	{name: "quotes escaped", spec: TransformSpec{Kind: "template", Template: `{"name": "{{displayName}}"}`}, want: `{"name":"Ada \"The Countess\" Lovelace"}`},
	{name: "newline, backslash, control character, U+2028", spec: TransformSpec{Kind: "template", Template: `{"note": "> {{note}}"}`},
		want: `{"note":"> line1\nline2\\end\u0001\u2028"}`},
	{name: "unicode kept", spec: TransformSpec{Kind: "template", Template: `{"city": "{{city}}"}`}, want: `{"city":"Zürich ☃"}`},
	{name: "no HTML escaping", spec: TransformSpec{Kind: "template", Template: `{"d": "{{department}}"}`}, want: `{"d":"R&D <Tours>"}`},
	{name: "non-strings in a string", spec: TransformSpec{Kind: "template", Template: `{"s": "n={{employeeNumber}} r={{ratio}} a={{active}} m={{manager}} g={{groups}}"}`},
		want: `{"s":"n=12345678901234567890 r=1.50 a=true m= g=[\"engineering\"]"}`},
	{name: "object in a string", spec: TransformSpec{Kind: "template", Template: `{"s": "{{user}}"}`},
		want: `{"s":"{\"emails\":[{\"type\":\"work\",\"value\":\"ada@example.com\"}],\"id\":\"u1\"}"}`},
	{name: "placeholder in a key inside quotes", spec: TransformSpec{Kind: "template", Template: `{"{{dept}}": 1}`}, want: `{"tour-operations":1}`},
	{name: "escaped quote before a placeholder", spec: TransformSpec{Kind: "template", Template: `{"a": "\"{{dept}}\""}`}, want: `{"a":"\"tour-operations\""}`},
	{name: "escaped backslash before a placeholder", spec: TransformSpec{Kind: "template", Template: `{"a": "\\{{dept}}"}`}, want: `{"a":"\\tour-operations"}`},
	{name: "a JSON string template", spec: TransformSpec{Kind: "template", Template: `"{{email}}"`}, want: `"ada@example.com"`},

	// ---- Outside strings: the value's JSON ----
	{name: "array value", spec: TransformSpec{Kind: "template", Template: `{"groups": {{groups}}}`}, want: `{"groups":["engineering"]}`},
	{name: "object value", spec: TransformSpec{Kind: "template", Template: `{"u": ${detail.user}}`}, want: `{"u":{"emails":[{"type":"work","value":"ada@example.com"}],"id":"u1"}}`},
	{name: "numbers exact", spec: TransformSpec{Kind: "template", Template: `{"n": {{employeeNumber}}, "r": {{ratio}}}`}, want: `{"n":12345678901234567890,"r":1.50}`},
	{name: "null and booleans", spec: TransformSpec{Kind: "template", Template: `{"m": {{manager}}, "a": {{active}}}`}, want: `{"m":null,"a":true}`},
	{name: "string value quoted", spec: TransformSpec{Kind: "template", Template: `{"n": {{displayName}}}`}, want: `{"n":"Ada \"The Countess\" Lovelace"}`},
	{name: "array template", spec: TransformSpec{Kind: "template", Template: `[{{email}}, "{{dept}}", {{active}}]`}, want: `["ada@example.com","tour-operations",true]`},
	{name: "whole-value template", spec: TransformSpec{Kind: "template", Template: ` {{user.emails}} `}, want: `[{"type":"work","value":"ada@example.com"}]`},
	{name: "JSON template compacted", spec: TransformSpec{Kind: "template", Template: "{\n  \"to\": \"{{email}}\",\n  \"n\": 1.0\n}"}, want: `{"to":"ada@example.com","n":1.0}`},

	// ---- Text templates: a JSON string ----
	{name: "text", spec: TransformSpec{Kind: "template", Template: `Welcome {{displayName}} to {{department}}`}, want: `"Welcome Ada \"The Countess\" Lovelace to R&D <Tours>"`},
	{name: "text with a newline", spec: TransformSpec{Kind: "template", Template: "Hello\n{{email}}: {{groups}} {{manager}}"}, want: `"Hello\nada@example.com: [\"engineering\"] "`},
	{name: "text starting with a bracket", spec: TransformSpec{Kind: "template", Template: `[ALERT] {{email}}`}, want: `"[ALERT] ada@example.com"`},
	{name: "text that would not be JSON", spec: TransformSpec{Kind: "template", Template: `-{{ratio}}`}, want: `"-1.50"`},
	{name: "text without placeholders", spec: TransformSpec{Kind: "template", Template: `ping`}, want: `"ping"`},
	{name: "empty template", spec: TransformSpec{Kind: "template", Template: ``}, want: `""`},
	{name: "text with ${var}", spec: TransformSpec{Kind: "template", Template: `${who} joined`, Vars: map[string]string{"who": "$.detail.email"}}, want: `"ada@example.com joined"`},

	// ---- A missing field is an error naming the placeholder ----
	{name: "missing ${path}", spec: TransformSpec{Kind: "template", Template: `{"to": "${detail.phone}"}`}, missing: "${detail.phone}", missingPath: "$.detail.phone"},
	{name: "missing {{name}}", spec: TransformSpec{Kind: "template", Template: `{"userName": "{{emial}}", "active": true}`}, missing: "{{emial}}", missingPath: "$.detail.emial"},
	{name: "missing ${var}", spec: TransformSpec{Kind: "template", Template: `{"p": "${phone}"}`, Vars: map[string]string{"phone": "$.detail.phoneNumber"}}, missing: "${phone}", missingPath: "$.detail.phoneNumber"},
	{name: "missing outside quotes", spec: TransformSpec{Kind: "template", Template: `{"g": {{teams}}}`}, missing: "{{teams}}", missingPath: "$.detail.teams"},
	{name: "missing in text", spec: TransformSpec{Kind: "template", Template: `Hi {{givenName}}`}, missing: "{{givenName}}", missingPath: "$.detail.givenName"},
	{name: "missing: the first one is named", spec: TransformSpec{Kind: "template", Template: `{"a": "{{x}}", "b": "{{y}}"}`}, missing: "{{x}}", missingPath: "$.detail.x"},
	{name: "missing detail", spec: TransformSpec{Kind: "template", Template: `{"to": "{{email}}"}`}, event: `{"source": "x"}`, missing: "{{email}}", missingPath: "$.detail.email"},
	{name: "missing: an index past the end", spec: TransformSpec{Kind: "template", Template: `{"g": "{{groups[3]}}"}`}, missing: "{{groups[3]}}", missingPath: "$.detail.groups[3]"},
}

func TestTransform(t *testing.T) {
	for _, c := range transformCases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := NewTransformer(c.spec)
			if err != nil {
				t.Fatalf("NewTransformer: %v", err)
			}
			ev := c.event
			if ev == "" {
				ev = transformEvent
			}
			got, err := tr.Apply([]byte(ev))
			if c.missing != "" {
				var me *MissingError
				if !errors.As(err, &me) {
					t.Fatalf("Apply = %s, %v; want a *MissingError for %s", got, err, c.missing)
				}
				want := &MissingError{Placeholder: c.missing, Path: c.missingPath}
				if diff := cmp.Diff(want, me); diff != "" {
					t.Errorf("MissingError (-want +got):\n%s", diff)
				}
				if wantMsg := c.missing + ": the event has nothing at " + c.missingPath; err.Error() != wantMsg {
					t.Errorf("Error() = %q, want %q", err, wantMsg)
				}
				if got != nil {
					t.Errorf("Apply returned a payload with the error: %s", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if diff := cmp.Diff(c.want, string(got)); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("payload %s is not JSON", got)
			}
		})
	}
}

func TestTransformApplyErrors(t *testing.T) {
	tr, err := NewTransformer(TransformSpec{Kind: "template", Template: `{"to": "{{email}}"}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{``, `{"detail":`, `{"detail": {}} {"x": 1}`, `nope`} {
		got, err := tr.Apply([]byte(ev))
		var me *MissingError
		if err == nil || errors.As(err, &me) || !strings.Contains(err.Error(), "the event is not JSON") {
			t.Errorf("Apply(%q) = %s, %v; want an error saying the event is not JSON", ev, got, err)
		}
	}
}

func TestTransformConfigErrors(t *testing.T) {
	manyVars := map[string]string{}
	var uses strings.Builder
	for i := range MaxTransformVars + 1 {
		name := fmt.Sprintf("v%d", i)
		manyVars[name] = "$.detail.email"
		uses.WriteString("${" + name + "}")
	}
	hundred := map[string]string{}
	for i := range MaxTransformVars {
		hundred[fmt.Sprintf("v%d", i)] = "$.detail.email"
	}
	long := strings.Repeat("é", MaxTransformChars+1) // characters, not bytes
	for _, c := range []struct {
		name string
		spec TransformSpec
		want string // in the error
	}{
		{"unknown kind", TransformSpec{Kind: "jsonpath"}, `unknown transformer kind "jsonpath"`},
		{"unclosed ${", TransformSpec{Kind: "template", Template: `{"to": "${detail.email"`}, `"${" at offset 8 is not closed by "}"`},
		{"unclosed {{", TransformSpec{Kind: "template", Template: `Hi {{email}`}, `"{{" at offset 3 is not closed by "}}"`},
		{"empty placeholder", TransformSpec{Kind: "template", Template: `{"a": "${ }"}`}, "${ }: an empty placeholder"},
		{"empty {{}}", TransformSpec{Kind: "template", Template: `{"a": "{{}}"}`}, "{{}}: an empty placeholder"},
		{"placeholder as a key", TransformSpec{Kind: "template", Template: `{${k}: "v"}`, Vars: map[string]string{"k": "$.detail.dept"}}, "${k}: a placeholder outside quotes cannot be an object key"},
		{"{{}} as a key", TransformSpec{Kind: "template", Template: `{"a": 1, {{dept}} : 2}`}, "{{dept}}: a placeholder outside quotes cannot be an object key"},
		{"key in an array template", TransformSpec{Kind: "template", Template: `[{ {{dept}}: 1}]`}, "{{dept}}: a placeholder outside quotes cannot be an object key"},
		{"not JSON", TransformSpec{Kind: "template", Template: "{\"to\": \"{{email}}\",\n  \"cc\": }"}, "the template starts with '{' but is not JSON: line 2, column 9: invalid character '}' looking for beginning of value"},
		{"not JSON, ends early", TransformSpec{Kind: "template", Template: `{"to": "{{email}}"`}, "not JSON: it ends early"},
		{"not JSON, placeholder glued to a number", TransformSpec{Kind: "template", Template: `{"n": 1{{ratio}}}`}, "{{ratio}} (line 1, column 8) cannot stand there"},
		{"not JSON, sign before a placeholder", TransformSpec{Kind: "template", Template: `{"n": -{{ratio}}}`}, "{{ratio}} (line 1, column 8) cannot stand there"},
		{"not JSON, escape before a placeholder", TransformSpec{Kind: "template", Template: `{"a": "\${detail.dept}"}`}, "line 1, column 9: invalid character '$' in string escape code"},
		{"not JSON, bad \\u before a placeholder", TransformSpec{Kind: "template", Template: `{"a": "\u{{dept}}"}`}, "{{dept}} (line 1, column 10) breaks the string it is in"},
		{"unused variable", TransformSpec{Kind: "template", Template: `{"to": "${email}"}`, Vars: map[string]string{"email": "$.detail.email", "name": "$.detail.displayName"}}, `variable "name" is not used in the template (write ${name})`},
		{"variable used only as {{}}", TransformSpec{Kind: "template", Template: `{"to": "{{email}}"}`, Vars: map[string]string{"email": "$.detail.email"}}, `variable "email" is not used`},
		{"bad variable name", TransformSpec{Kind: "template", Template: `{"to": "${e mail}"}`, Vars: map[string]string{"e mail": "$.detail.email"}}, `variable name "e mail"`},
		{"dotted variable name", TransformSpec{Kind: "template", Template: `{"to": "${a.b}"}`, Vars: map[string]string{"a.b": "$.detail.email"}}, `variable name "a.b"`},
		{"empty variable name", TransformSpec{Kind: "template", Template: `x`, Vars: map[string]string{"": "$.detail.email"}}, `variable name ""`},
		{"too many variables", TransformSpec{Kind: "template", Template: uses.String(), Vars: manyVars}, "at most 100 variables, this one has 101"},
		{"template too long", TransformSpec{Kind: "template", Template: long}, "longer than 10240 characters"},
		{"variable too long", TransformSpec{Kind: "template", Template: `${v}`, Vars: map[string]string{"v": long}}, `variable "v" is longer than 10240 characters`},
		{"constant too long", TransformSpec{Kind: "constant", Value: long}, "longer than 10240 characters"},
		{"template not UTF-8", TransformSpec{Kind: "template", Template: "{\"a\": \"\xff\"}"}, "the template is not valid UTF-8"},
		{"constant not UTF-8", TransformSpec{Kind: "constant", Value: "\"\xff\""}, "the constant is not valid UTF-8"},
		{"variable not UTF-8", TransformSpec{Kind: "template", Template: "${v}", Vars: map[string]string{"v": "\xff"}}, `variable "v" is not valid UTF-8`},
		{"bad path: no $", TransformSpec{Kind: "path", Path: "detail.email"}, `path "detail.email": a path is "$"`},
		{"bad path: empty name", TransformSpec{Kind: "path", Path: "$.detail..email"}, `"" is not a name`},
		{"bad path: wildcard", TransformSpec{Kind: "path", Path: "$.detail.groups[*]"}, `[*] is not an index`},
		{"bad path: unclosed bracket", TransformSpec{Kind: "path", Path: "$.detail[0"}, `'[' is not closed`},
		{"bad path: negative index", TransformSpec{Kind: "path", Path: "$.detail.groups[-1]"}, `[-1] is not an index`},
		{"bad path: filter", TransformSpec{Kind: "path", Path: "$..email"}, "not a name"},
		{"bad path in ${}", TransformSpec{Kind: "template", Template: `{"a": "${detail.groups[x]}"}`}, `${detail.groups[x]}: a path is "$"`},
		{"bad path in {{}}", TransformSpec{Kind: "template", Template: `{"a": "{{user..id}}"}`}, `{{user..id}}: a path is "$"`},
		{"bad path in a variable", TransformSpec{Kind: "template", Template: `${v}`, Vars: map[string]string{"v": "$.a[*]"}}, `variable "v": path "$.a[*]"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := NewTransformer(c.spec)
			if err == nil {
				got, aerr := tr.Apply([]byte(transformEvent))
				t.Fatalf("NewTransformer succeeded (Apply: %s, %v); want an error containing %q", got, aerr, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
	// The limits themselves are allowed.
	if _, err := NewTransformer(TransformSpec{Kind: "template", Template: strings.Repeat("é", MaxTransformChars)}); err != nil {
		t.Errorf("a template of exactly %d characters: %v", MaxTransformChars, err)
	}
	var u strings.Builder
	for name := range hundred {
		u.WriteString("${" + name + "}")
	}
	if _, err := NewTransformer(TransformSpec{Kind: "template", Template: u.String(), Vars: hundred}); err != nil {
		t.Errorf("%d variables: %v", MaxTransformVars, err)
	}
}

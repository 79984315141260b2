package admin

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/events"
)

// TestDecode: a body that encoding/json would decode into something other
// than was sent is refused (400, naming the problem), whatever the input
// type; names inside free-form values stay case-sensitive.
func TestDecode(t *testing.T) {
	type result struct {
		Status int
		Field  string
		Detail string // a part of it
	}
	tests := []struct {
		name string
		into func() any
		body string
		want *result // nil: accepted
	}{
		{"an application", func() any { return &AppInput{} }, `{"name":"okta","scopes":["scim:users:read"],"syncScope":{"organizations":["root"]}}`, nil},
		{"a rule whose pattern has names differing in case", func() any { return &events.RuleSpec{} },
			`{"name":"r","pattern":{"detail":{"Email":[{"exists":true}],"email":[{"exists":true}]}},"targets":[{"target":"t","payload":{"To":"${detail.email}","to":"x"}}]}`, nil},
		{"a field twice", func() any { return &OrgInput{} }, `{"name":"a","parentId":"root","name":"b"}`,
			&result{400, "", `the name "name" appears twice`}},
		{"a field twice, once escaped", func() any { return &OrgInput{} }, `{"name":"a","n\u0061me":"b"}`,
			&result{400, "", `the name "name" appears twice`}},
		{"a field twice, in another case", func() any { return &OrgInput{} }, `{"name":"a","NAME":"b"}`,
			&result{400, "name", `"NAME" and "name" both name the field "name"`}},
		{"a nested field twice, in another case", func() any { return &AppInput{} }, `{"name":"okta","syncScope":{"groups":["g1"],"Groups":["g2"]}}`,
			&result{400, "groups", `"Groups" and "groups" both name the field "groups"`}},
		{"a field of a list element twice, in another case", func() any { return &events.RuleSpec{} },
			`{"name":"r","pattern":{},"targets":[{"target":"a"},{"target":"b","Target":"c"}]}`,
			&result{400, "target", `"Target" and "target" both name the field "target"`}},
		{"a name twice in a free-form value", func() any { return &events.RuleSpec{} }, `{"name":"r","pattern":{"source":["a"],"source":["b"]}}`,
			&result{400, "", `the name "source" appears twice`}},
		{"a value of the wrong type, in JSON's terms", func() any { return &OrgInput{} }, `{"name":1}`, &result{400, "name", "name must be a string, not a number"}},
		{"a nested value of the wrong type", func() any { return &AppInput{} }, `{"name":"okta","syncScope":{"groups":"g1"}}`,
			&result{400, "groups", "syncScope.groups must be an array, not a string"}},
		{"invalid UTF-8", func() any { return &OrgInput{} }, "{\"name\":\"Eng\xffineering\"}", &result{400, "", "not valid UTF-8"}},
		{"an unpaired surrogate", func() any { return &OrgInput{} }, `{"name":"Eng\ud800"}`, &result{400, "", "unpaired UTF-16 surrogate"}},
		{"NUL", func() any { return &AppInput{} }, `{"name":"okta\u0000"}`, &result{400, "", "NUL"}},
		{"an unpaired surrogate in a free-form value", func() any { return &events.RuleSpec{} }, `{"name":"r","pattern":{"source":["\udc00"]}}`,
			&result{400, "", "unpaired UTF-16 surrogate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/admin/v1/x", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			err := decode(r, tc.into())
			var got *result
			if err != nil {
				var p *problem
				if !errors.As(err, &p) {
					t.Fatalf("error %v is not a problem", err)
				}
				got = &result{p.Status, p.Field, p.Detail}
				if tc.want != nil && strings.Contains(p.Detail, tc.want.Detail) {
					got.Detail = tc.want.Detail
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decode(%s) (-want +got):\n%s", tc.body, diff)
			}
		})
	}
}

package scimclient

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func doc(t *testing.T, s string) map[string]any {
	t.Helper()
	d, err := decodeDoc([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func TestDiffOps(t *testing.T) {
	current := `{"id": "1", "userName": "ada@example.com", "active": true, "displayName": "Ada", "title": "Eng",
		"name": {"givenName": "Ada", "familyName": "Lovelace"},
		"emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
		"groups": [{"value": "g1", "display": "x"}],
		"meta": {"version": "W/\"3\""},
		"` + ent + `": {"department": "Engineering", "manager": {"value": "m1"}},
		"x-count": 3}`
	tests := []struct {
		name    string
		desired string
		want    []PatchOp
	}{
		{"same", `{"userName": "ada@example.com", "active": true, "emails": [{"value": "ada@example.com", "type": "work"}]}`, nil},
		{"read-only and schemas ignored", `{"id": "2", "meta": {}, "groups": [], "schemas": ["x"], "password": "Secret123!"}`, nil},
		{"case of attribute names", `{"USERNAME": "ada@example.com", "Name": {"GivenName": "Ada"}}`, nil},
		{"booleans as strings", `{"active": "True"}`, nil},
		{"numbers", `{"x-count": 3.0}`, nil},
		{"one attribute", `{"displayName": "Ada L."}`, []PatchOp{{Op: "replace", Path: "displayName", Value: "Ada L."}}},
		{"deactivate", `{"active": false}`, []PatchOp{{Op: "replace", Path: "active", Value: false}}},
		{"new attribute", `{"nickName": "A"}`, []PatchOp{{Op: "replace", Path: "nickName", Value: "A"}}},
		{"null removes", `{"title": null, "nickName": null}`, []PatchOp{{Op: "remove", Path: "title"}}},
		{"sub-attribute", `{"name": {"givenName": "Augusta", "familyName": "Lovelace", "middleName": null}}`,
			[]PatchOp{{Op: "replace", Path: "name.givenName", Value: "Augusta"}}},
		{"extension", `{"` + ent + `": {"department": "Research", "manager": {"value": "m1"}}}`,
			[]PatchOp{{Op: "replace", Path: ent + ":department", Value: "Research"}}},
		{"extension complex", `{"` + ent + `": {"manager": {"value": "m2"}}}`,
			[]PatchOp{{Op: "replace", Path: ent + ":manager", Value: map[string]any{"value": "m2"}}}},
		{"multi-valued replaced whole", `{"emails": [{"value": "ada@example.org", "type": "work"}]}`,
			[]PatchOp{{Op: "replace", Path: "emails", Value: []any{map[string]any{"value": "ada@example.org", "type": "work"}}}}},
		{"multi-valued longer", `{"emails": [{"value": "ada@example.com"}, {"value": "a@example.org"}]}`,
			[]PatchOp{{Op: "replace", Path: "emails", Value: []any{map[string]any{"value": "ada@example.com"}, map[string]any{"value": "a@example.org"}}}}},
		{"complex from nothing", `{"addresses": [{"locality": "London"}], "name": {"givenName": "Ada"}}`,
			[]PatchOp{{Op: "replace", Path: "addresses", Value: []any{map[string]any{"locality": "London"}}}}},
		{"type change", `{"title": ["Eng"]}`, []PatchOp{{Op: "replace", Path: "title", Value: []any{"Eng"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := diffOps(doc(t, current), doc(t, tc.desired))
			// Compare as JSON: numbers are json.Number inside.
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tc.want)
			if string(gb) != string(wb) {
				t.Errorf("diffOps:\n got %s\nwant %s", gb, wb)
			}
			// The PUT body gives the same result: diffing it again finds
			// nothing.
			m := merged(doc(t, current), doc(t, tc.desired))
			if rest := diffOps(m, doc(t, tc.desired)); len(rest) != 0 {
				t.Errorf("merged document still differs: %v", rest)
			}
			for _, k := range []string{"id", "meta", "groups"} {
				if _, ok := m[k]; ok {
					t.Errorf("merged document has read-only %s", k)
				}
			}
		})
	}
}

func TestMerged(t *testing.T) {
	got := merged(
		doc(t, `{"id": "1", "userName": "a", "title": "t", "name": {"givenName": "A", "familyName": "L"}, "meta": {}}`),
		doc(t, `{"USERNAME": "b", "title": null, "name": {"GivenName": "B", "middleName": null}}`))
	want := map[string]any{"USERNAME": "b", "name": map[string]any{"GivenName": "B", "familyName": "L"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
}

func TestEqualValue(t *testing.T) {
	tests := []struct {
		cur, des string
		want     bool
	}{
		{`[{"value": "a", "primary": true}, {"value": "b"}]`, `[{"value": "b"}, {"value": "a"}]`, true},
		{`[{"value": "a"}, {"value": "a"}]`, `[{"value": "a"}, {"value": "b"}]`, false},
		{`[{"value": "a"}]`, `[]`, false},
		{`"False"`, `false`, true},
		{`false`, `"false"`, true},
		{`"yes"`, `true`, false},
		{`1`, `1.0`, true},
		{`1`, `"1"`, false},
		{`{"a": 1}`, `{"a": 1, "b": null}`, true},
		{`{"a": 1, "b": 2}`, `{"b": null}`, false},
		{`null`, `null`, true},
		{`"A"`, `"a"`, false},
	}
	for _, tc := range tests {
		var c, d any
		dec := func(s string, v *any) {
			if err := json.Unmarshal([]byte(s), v); err != nil {
				t.Fatal(err)
			}
		}
		dec(tc.cur, &c)
		dec(tc.des, &d)
		cn, dn := normalize(map[string]any{"v": c})["v"], normalize(map[string]any{"v": d})["v"]
		if got := equalValue(cn, dn); got != tc.want {
			t.Errorf("equalValue(%s, %s) = %v", tc.cur, tc.des, got)
		}
	}
}

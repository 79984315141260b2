package directory

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func phones(types ...string) []any {
	out := make([]any, len(types))
	for i, t := range types {
		el := map[string]any{"value": "+1 425 555 010" + string(rune('0'+i))}
		if t != "" {
			el["type"] = t
		}
		out[i] = el
	}
	return out
}

// TestExtraValuesRefused: in idaas mode, an IdP's extra email or phone
// number is refused (IDaaS's rule), and the error names the attribute
// mapping to change in the IdP, and the application option that drops
// them instead — by type, never by value.
func TestExtraValuesRefused(t *testing.T) {
	tests := []struct {
		name  string
		attrs Attrs
		want  []string // in the message
	}{
		{
			name:  "Entra's default mapping: work, mobile and fax",
			attrs: Attrs{"phoneNumbers": phones("work", "mobile", "fax")},
			want: []string{`only one phone number can be stored, of type "work" (got 3`, `phoneNumbers[type eq "mobile"].value`,
				`phoneNumbers[type eq "fax"].value`, `keep only phoneNumbers[type eq "work"].value`, "extra-values option"},
		},
		{
			name:  "Okta's default mapping: primary (work) and mobile",
			attrs: Attrs{"phoneNumbers": phones("work", "mobile")},
			want:  []string{`got 2`, `remove the mapping to phoneNumbers[type eq "mobile"].value`, "extra-values option"},
		},
		{
			name:  "a mobile number alone",
			attrs: Attrs{"phoneNumbers": phones("mobile")},
			want:  []string{`phoneNumbers must be of type "work" (got "mobile")`, `map this value to phoneNumbers[type eq "work"].value instead of phoneNumbers[type eq "mobile"].value`, "extra-values option"},
		},
		{
			name:  "two work numbers",
			attrs: Attrs{"phoneNumbers": phones("work", "work")},
			want:  []string{`got 2`, `map only one value to phoneNumbers[type eq "work"].value`},
		},
		{
			name:  "a second email without a type",
			attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "work"}, map[string]any{"value": "c@b.co"}}},
			want:  []string{`only one email can be stored, of type "work" (got 2`, `remove the mapping that sends emails without a type`},
		},
		{
			name:  "no work value",
			attrs: Attrs{"phoneNumbers": phones("mobile", "fax")},
			want: []string{`keep only phoneNumbers[type eq "work"].value: map the value to keep to phoneNumbers[type eq "work"].value instead of phoneNumbers[type eq "mobile"].value`,
				`remove the mapping to phoneNumbers[type eq "fax"].value`},
		},
		{
			name:  "many values: the message stays short",
			attrs: Attrs{"phoneNumbers": phones("work", "a", "b", "c", "d", "e", "f", "g", "h", "i")},
			want:  []string{`got 10, of types "work", "a", "b", "c", "d", "e", "f", "g", …)`, `phoneNumbers[type eq "g"].value and the other types' mappings;`},
		},
		{
			name:  "a home email",
			attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "home"}}},
			want:  []string{`emails must be of type "work" (got "home")`, `emails[type eq "home"].value`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &User{UserName: "ada", Attrs: tc.attrs}
			err := checkUser(u, IDaaSProfile())
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not say %q", err.Error(), w)
				}
			}
			for _, el := range elements(tc.attrs, "phoneNumbers") {
				if v := el["value"].(string); strings.Contains(err.Error(), v) {
					t.Errorf("message %q holds the value %q", err.Error(), v)
				}
			}
		})
	}
}

// TestExtraValuesDropped: with the application option on, the work value
// (else the primary, else the first) is kept as the one "work" value and
// the others are dropped, unchecked; the user carries notes of what was
// dropped and retyped, by position and type.
func TestExtraValuesDropped(t *testing.T) {
	drop := IDaaSProfile()
	drop.DropExtraValues = true
	tests := []struct {
		name        string
		attrs       Attrs
		wantAttrs   Attrs
		wantDropped []ValueNote
		wantRetyped []ValueNote
		wantErr     string
	}{
		{
			name:        "Entra: work, mobile, fax",
			attrs:       Attrs{"phoneNumbers": phones("work", "mobile", "fax")},
			wantAttrs:   Attrs{"phoneNumbers": []any{map[string]any{"value": "+1 425 555 0100", "type": "work"}}, "phoneRegion": "1"},
			wantDropped: []ValueNote{{Attribute: "phoneNumbers", Index: 1, Type: "mobile"}, {Attribute: "phoneNumbers", Index: 2, Type: "fax"}},
		},
		{
			name:        "the work value need not come first",
			attrs:       Attrs{"phoneNumbers": phones("mobile", "Work")},
			wantAttrs:   Attrs{"phoneNumbers": []any{map[string]any{"value": "+1 425 555 0101", "type": "work"}}, "phoneRegion": "1"},
			wantDropped: []ValueNote{{Attribute: "phoneNumbers", Index: 0, Type: "mobile"}},
		},
		{
			name:        "no work value: the primary one, stored as work",
			attrs:       Attrs{"phoneNumbers": []any{map[string]any{"value": "+1 425 555 0100", "type": "fax"}, map[string]any{"value": "+1 425 555 0101", "type": "mobile", "primary": true}}},
			wantAttrs:   Attrs{"phoneNumbers": []any{map[string]any{"value": "+1 425 555 0101", "type": "work", "primary": true}}, "phoneRegion": "1"},
			wantDropped: []ValueNote{{Attribute: "phoneNumbers", Index: 0, Type: "fax"}},
			wantRetyped: []ValueNote{{Attribute: "phoneNumbers", Index: 1, Type: "mobile"}},
		},
		{
			name:        "Okta: a mobile number alone is the first, stored as work",
			attrs:       Attrs{"phoneNumbers": phones("mobile")},
			wantAttrs:   Attrs{"phoneNumbers": []any{map[string]any{"value": "+1 425 555 0100", "type": "work"}}, "phoneRegion": "1"},
			wantRetyped: []ValueNote{{Attribute: "phoneNumbers", Index: 0, Type: "mobile"}},
		},
		{
			name:        "a dropped value is not checked",
			attrs:       Attrs{"phoneNumbers": []any{map[string]any{"value": "+86 138 0013 8000", "type": "work"}, map[string]any{"value": "ext. 12", "type": "other"}}},
			wantAttrs:   Attrs{"phoneNumbers": []any{map[string]any{"value": "+86 138 0013 8000", "type": "work"}}, "phoneRegion": "86"},
			wantDropped: []ValueNote{{Attribute: "phoneNumbers", Index: 1, Type: "other"}},
		},
		{
			name:    "the kept value is checked",
			attrs:   Attrs{"phoneNumbers": []any{map[string]any{"value": "tel:+86-13800138000", "type": "work"}, map[string]any{"value": "+1 425 555 0100", "type": "mobile"}}},
			wantErr: "contains",
		},
		{
			name:        "emails: a work value wins over one without a type",
			attrs:       Attrs{"emails": []any{map[string]any{"value": "home@b.co", "type": "home"}, map[string]any{"value": "a@b.co"}, map[string]any{"value": "work@b.co", "type": "work"}}},
			wantAttrs:   Attrs{"emails": []any{map[string]any{"value": "work@b.co", "type": "work"}}},
			wantDropped: []ValueNote{{Attribute: "emails", Index: 0, Type: "home"}, {Attribute: "emails", Index: 1}},
		},
		{
			name:        "emails: a value without a type is work",
			attrs:       Attrs{"emails": []any{map[string]any{"value": "home@b.co", "type": "home"}, map[string]any{"value": "a@b.co"}}},
			wantAttrs:   Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "work"}}},
			wantDropped: []ValueNote{{Attribute: "emails", Index: 0, Type: "home"}},
		},
		{
			name:      "one work value: nothing to note",
			attrs:     Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "work"}}},
			wantAttrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "work"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &User{UserName: "ada", Attrs: tc.attrs, Dropped: []ValueNote{{Attribute: "stale"}}}
			err := checkUser(u, drop)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantAttrs, u.Attrs); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantDropped, u.Dropped); diff != "" {
				t.Errorf("dropped (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRetyped, u.Retyped); diff != "" {
				t.Errorf("retyped (-want +got):\n%s", diff)
			}
		})
	}
	// rfc mode keeps every value whatever the option says (the
	// application settings refuse the combination).
	rfc := Profile{DropExtraValues: true}
	u := &User{UserName: "ada", Attrs: Attrs{"phoneNumbers": phones("work", "mobile")}}
	if err := checkUser(u, rfc); err != nil || len(elements(u.Attrs, "phoneNumbers")) != 2 || u.Dropped != nil {
		t.Errorf("rfc mode: %v %v %v", err, u.Attrs, u.Dropped)
	}
}

package directory

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePhone(t *testing.T) {
	tests := []struct {
		value, region string
		want          Phone
		wantErr       string
	}{
		{value: "+86-13800138000", want: Phone{Region: "86", National: "13800138000", International: true}},
		{value: "+86 138 0013 8000", want: Phone{Region: "86", National: "13800138000", International: true}},
		{value: "+8613800138000", want: Phone{Region: "86", National: "13800138000", International: true}},
		{value: "+1 (425) 555-0100", want: Phone{Region: "1", National: "4255550100", International: true}},
		{value: "+14255550100", want: Phone{Region: "1", National: "4255550100", International: true}},
		{value: "+852 2345 6789", want: Phone{Region: "852", National: "23456789", International: true}},
		{value: "+85223456789", want: Phone{Region: "852", National: "23456789", International: true}},
		{value: "+44 20 7946 0958", want: Phone{Region: "44", National: "2079460958", International: true}},
		{value: "+7 495 123-45-67", want: Phone{Region: "7", National: "4951234567", International: true}},
		{value: "+886-2-1234-5678", want: Phone{Region: "886", National: "212345678", International: true}},
		// No calling code: phoneRegion, else 86.
		{value: "13800138000", want: Phone{Region: "86", National: "13800138000"}},
		{value: "13800138000", region: "852", want: Phone{Region: "852", National: "13800138000"}},
		{value: "138-0013-8000", region: "+86", want: Phone{Region: "86", National: "13800138000"}},
		// phoneRegion given and agreeing.
		{value: "+86-13800138000", region: "86", want: Phone{Region: "86", National: "13800138000", International: true}},
		// Errors.
		{value: "+86-13800138000", region: "1", wantErr: "does not match"},
		{value: "+8613800138000", region: "852", wantErr: "does not match"},
		{value: "", wantErr: "empty"},
		{value: "+86", wantErr: "no number"},
		{value: "138 0013 8000 ext 5", wantErr: "contains"},
		{value: "tel:+86-13800138000", wantErr: "contains"},
		{value: "+86-12", wantErr: "between 3"},
		{value: "+86-1234567890123456", wantErr: "between 3"},
		{value: "13800138000", region: "86a", wantErr: "not a calling code"},
		{value: "13800138000", region: "1234", wantErr: "not a calling code"},
	}
	for _, tc := range tests {
		t.Run(tc.value+"/"+tc.region, func(t *testing.T) {
			got, err := ParsePhone(tc.value, tc.region)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPasswordPolicy(t *testing.T) {
	p := DefaultPasswordPolicy()
	tests := []struct {
		pw, user string
		ok       bool
	}{
		{"1mz050nq", "test.user@okta.local", true}, // Okta's test password: two classes
		{"correct horse battery staple", "ada", true},
		{"Tr0ub4dor&3", "ada", true},
		{"密码Passw0rd", "ada", true},
		{"short1", "ada", false},
		{"alllowercase", "ada", false},
		{"12345678901", "ada", false},
		{"ada-Lovelace1", "ada@example.com", false},
		{"x-LOVELACE-1", "lovelace", false},
		{strings.Repeat("aB1", 43), "ada", false}, // 129 characters
		{"tab\tinside1A", "ada", false},
	}
	for _, tc := range tests {
		err := p.Check(tc.pw, tc.user)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q, %q) = %v, want ok=%v", tc.pw, tc.user, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), tc.pw) {
			t.Errorf("error message leaks the password: %v", err)
		}
	}
	if err := (PasswordPolicy{MinLength: 10, MaxLength: 5}).Validate(); err == nil {
		t.Error("inconsistent policy accepted")
	}
}

func TestCheckUserIDaaSFields(t *testing.T) {
	tests := []struct {
		name    string
		attrs   Attrs
		profile Profile
		wantErr string
		check   func(t *testing.T, u *User)
	}{
		{
			name:    "work type filled in",
			attrs:   Attrs{"emails": []any{map[string]any{"value": "a@b.co"}}},
			profile: IDaaSProfile(),
			check: func(t *testing.T, u *User) {
				if u.Email() != "a@b.co" || elements(u.Attrs, "emails")[0]["type"] != "work" {
					t.Errorf("attrs = %v", u.Attrs)
				}
			},
		},
		{name: "two emails", attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co"}, map[string]any{"value": "c@b.co"}}}, profile: IDaaSProfile(), wantErr: "only one email"},
		{name: "home email", attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "home"}}}, profile: IDaaSProfile(), wantErr: "of type \"work\""},
		{name: "two emails in RFC mode", attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "type": "home"}, map[string]any{"value": "c@b.co"}}}, profile: Profile{}},
		{name: "bad email", attrs: Attrs{"emails": []any{map[string]any{"value": "Ada <a@b.co>"}}}, profile: Profile{}, wantErr: "not an email address"},
		{name: "two primaries", attrs: Attrs{"emails": []any{map[string]any{"value": "a@b.co", "primary": true}, map[string]any{"value": "c@b.co", "primary": true}}}, profile: Profile{}, wantErr: "primary"},
		{
			name: "phone region derived", attrs: Attrs{"phoneNumbers": []any{map[string]any{"value": "+852 2345 6789"}}}, profile: IDaaSProfile(),
			check: func(t *testing.T, u *User) {
				if u.Attrs["phoneRegion"] != "852" {
					t.Errorf("phoneRegion = %v", u.Attrs["phoneRegion"])
				}
			},
		},
		{
			name: "phone region defaulted", attrs: Attrs{"phoneNumbers": []any{map[string]any{"value": "13800138000", "type": "Work"}}}, profile: IDaaSProfile(),
			check: func(t *testing.T, u *User) {
				if u.Attrs["phoneRegion"] != "86" || u.Phone() != "13800138000" {
					t.Errorf("attrs = %v", u.Attrs)
				}
			},
		},
		{name: "phone region mismatch", attrs: Attrs{"phoneRegion": "1", "phoneNumbers": []any{map[string]any{"value": "+86-13800138000"}}}, profile: IDaaSProfile(), wantErr: "does not match"},
		{name: "mobile phone", attrs: Attrs{"phoneNumbers": []any{map[string]any{"value": "+86-13800138000", "type": "mobile"}}}, profile: IDaaSProfile(), wantErr: "of type \"work\""},
		{name: "mobile phone in RFC mode", attrs: Attrs{"phoneNumbers": []any{map[string]any{"value": "tel:+1-201-555-0123", "type": "mobile"}}}, profile: Profile{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &User{UserName: "ada", Attrs: tc.attrs}
			err := checkUser(u, tc.profile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v, want ErrInvalid containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, u)
			}
		})
	}
	for _, bad := range []string{"", " ", "a\x00b", strings.Repeat("x", 257)} {
		if err := checkUser(&User{UserName: bad}, Profile{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("userName %q accepted", bad)
		}
	}
}

func TestTotalFromPage(t *testing.T) {
	tests := []struct {
		q     Query
		items int
		more  bool
		want  int
		ok    bool
	}{
		{Query{Limit: 100}, 1, false, 1, true},
		{Query{Limit: 100}, 0, false, 0, true},
		{Query{Limit: 100}, 100, true, 0, false},
		{Query{Limit: 10, Offset: 95}, 6, false, 101, true},
		{Query{Limit: 10, Offset: 500}, 0, false, 0, false}, // past the end: unknown
		{Query{Limit: 10, After: &Key{Seq: 5}}, 3, false, 0, false},
		{Query{Limit: 0}, 0, false, 0, false},
	}
	for _, tc := range tests {
		got, ok := TotalFromPage(tc.q, tc.items, tc.more)
		if got != tc.want || ok != tc.ok {
			t.Errorf("TotalFromPage(%+v, %d, %v) = %d, %v; want %d, %v", tc.q, tc.items, tc.more, got, ok, tc.want, tc.ok)
		}
	}
}

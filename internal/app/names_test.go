package app_test

import (
	"strings"
	"testing"
)

// TestAdminNamesNotLookAlike: organization and application names follow
// the look-alike rules of userNames and group names — no invisible or
// bidirectional characters (U+200B, U+202E…), no white space at an end,
// NFC — on the admin API's creations and renames: 400 problem documents
// naming the field, and nothing stored. Real names of every script work.
func TestAdminNamesNotLookAlike(t *testing.T) {
	r := start(t, nil)
	org := adminCall(t, r, "POST", "/orgs", `{"name":"Sales"}`)
	if org.status != 201 {
		t.Fatal(org.status, string(org.raw))
	}
	if res := adminCall(t, r, "POST", "/apps", `{"name":"okta"}`); res.status != 201 {
		t.Fatal(res.status, string(res.raw))
	}
	list := func(path string) string {
		t.Helper()
		res := adminCall(t, r, "GET", path, "")
		if res.status != 200 {
			t.Fatalf("GET %s: %d %s", path, res.status, res.raw)
		}
		return string(res.raw)
	}
	orgs, apps := list("/orgs"), list("/apps")
	for _, name := range []string{`Sales\u200b`, `\u202eselaS`, `Sa\u200dles`, `Sales\ufeff`, `Jose\u0301`, `\u2066Sales\u2069`, `Sales\u001b[31m`} {
		for _, tc := range []struct{ method, path, body string }{
			{"POST", "/orgs", `{"name":"` + name + `"}`},
			{"PATCH", "/orgs/" + org.str("id"), `{"name":"` + name + `"}`},
			{"POST", "/apps", `{"name":"` + name + `"}`},
			{"PATCH", "/apps/okta", `{"name":"` + name + `"}`},
		} {
			res := adminCall(t, r, tc.method, tc.path, tc.body)
			if res.status != 400 || res.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(res.str("detail"), "name") {
				t.Errorf("%s %s %s: %d %s", tc.method, tc.path, name, res.status, res.raw)
			}
		}
	}
	if got := list("/orgs"); got != orgs {
		t.Errorf("refused names changed the organizations:\n%s\n%s", orgs, got)
	}
	if got := list("/apps"); got != apps {
		t.Errorf("refused names changed the applications:\n%s\n%s", apps, got)
	}
	for i, name := range []string{"研发部\u3000北京", "Ventes Île-de-France", "المبيعات"} {
		if res := adminCall(t, r, "POST", "/orgs", `{"name":"`+name+`"}`); res.status != 201 {
			t.Errorf("organization %q: %d %s", name, res.status, res.raw)
		}
		if res := adminCall(t, r, "POST", "/apps", `{"name":"`+name+`"}`); res.status != 201 {
			t.Errorf("application %d %q: %d %s", i, name, res.status, res.raw)
		}
	}
}

package console

import "testing"

// TestSafeNext: the sign-in form only ever sends the browser on to a
// console page — never another site, another part of Gatehouse, or back
// to the sign-in form.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "/console/",
		"/console/":                   "/console/",
		"/console/users?filter=x":     "/console/users?filter=x",
		"/console":                    "/console",
		"https://evil.example/":       "/console/",
		"//evil.example/console/":     "/console/",
		"/\\evil.example":             "/console/",
		"/consolex":                   "/console/",
		"/admin/v1/apps":              "/console/",
		"/console/login?next=/x":      "/console/",
		"/console/../login":           "/console/",
		"/console/%2e%2e/login":       "/console/",
		"/console/%2E./login":         "/console/",
		"javascript:alert(1)":         "/console/",
		"/console/users/\r\nSet-Foo:": "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/demo"
)

// TestSAMLEndToEnd: the real server with the real sign-in. The GitBook
// stand-in (crewjam/saml's service provider) is registered through the
// admin API from its metadata; a person of the allowed group opens it,
// signs in with her password on Gatehouse's login page, and arrives
// signed in as her email; a person outside the group gets the refusal
// page; the metadata is served, signed.
func TestSAMLEndToEnd(t *testing.T) {
	r := start(t, devLogin)
	ctx := context.Background()
	ada := r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering")
	r.createPerson(t, "eve@example.com", "Correct-Horse-8")

	md, err := http.Get(r.url + "/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	mdBody, _ := io.ReadAll(md.Body)
	md.Body.Close()
	if md.StatusCode != 200 || md.Header.Get("Content-Type") != "application/samlmetadata+xml" || !bytes.Contains(mdBody, []byte("<ds:Signature")) ||
		!bytes.Contains(mdBody, []byte(`entityID="`+r.url+`/saml/metadata"`)) {
		t.Fatalf("metadata: %d %s %s", md.StatusCode, md.Header.Get("Content-Type"), mdBody)
	}

	g, err := demo.StartGitBookSP(ctx, r.url+"/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	body, _ := json.Marshal(map[string]any{"name": "GitBook", "metadata": string(g.Metadata()), "preset": "gitbook", "allowedGroups": []string{"engineering"}})
	status, reply := r.samlAdmin(t, "POST", "/admin/v1/saml/apps", body)
	if status != http.StatusCreated || reply["idp"].(map[string]any)["ssoUrl"] != r.url+"/saml/sso" {
		t.Fatalf("create: %d %v", status, reply)
	}
	if status, reply := r.samlAdmin(t, "POST", "/admin/v1/saml/apps", []byte(`{"name":"bad","entityId":"x","acs":["ftp://x"]}`)); status != http.StatusBadRequest ||
		!strings.Contains(reply["detail"].(string), "not an http or https URL") {
		t.Errorf("invalid service provider: %d %v", status, reply)
	}

	login := func(user, password string) demo.SignIn {
		return func(ctx context.Context, c *http.Client, resp *http.Response) (*http.Response, error) {
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			f := fields(string(page))
			f.Set("username", user)
			f.Set("password", password)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.url+"/login", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", r.url)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			return c.Do(req)
		}
	}
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	who, err := demo.SAMLLogin(ctx, newClient(), g, login("ada@example.com", "Correct-Horse-9"))
	if err != nil {
		t.Fatal(err)
	}
	if who != "ada@example.com" {
		t.Errorf("GitBook shows %q", who)
	}
	if got := r.auditActions(t, ada); !slices.Contains(got, "sso.saml.response") {
		t.Errorf("audit of the person: %v, want sso.saml.response", got)
	}

	// Outside the allowed groups: Gatehouse's refusal page, nothing sent.
	_, err = demo.SAMLLogin(ctx, newClient(), g, login("eve@example.com", "Correct-Horse-8"))
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a person outside the allowed groups: %v", err)
	}

	// The user page lists GitBook for ada, opened by IdP-initiated sign-on.
	b := newBrowser(t, r.url)
	last, _ := b.signIn("/", "ada@example.com", "Correct-Horse-9")
	if !strings.Contains(last.body, "/saml/idp-init/") {
		t.Errorf("the user page does not link GitBook: %s", last.body)
	}
}

// samlAdmin calls the admin API with the admin token.
func (r *running) samlAdmin(t *testing.T, method, path string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, r.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

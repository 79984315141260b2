package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search/ingest"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// portalDocs are the documents of the portal tests: the VPN page for
// engineering-readers only (with markup that must stay text), the leave
// page for everyone.
var portalDocs = map[string]string{
	"engineering/vpn.md": "# VPN\n\n## 连接 VPN\n\n安装 WireGuard 客户端，导入配置文件后连接 VPN。<script>alert(1)</script>\n",
	"everyone/leave.md":  "# Leave\n\n## Annual leave\n\nFull-time employees get 10 days of annual leave. Ask about VPN access too.\n",
}

// startPortal starts a server with sign-in and search on, two people —
// ada in engineering-readers and everyone, bob in everyone only — and the
// documents indexed for those groups.
func startPortal(t testing.TB, mutate func(*config.Config)) *running {
	t.Helper()
	docs := t.TempDir()
	for name, body := range portalDocs {
		p := filepath.Join(docs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, func(c *config.Config) {
		devLogin(c)
		c.Search.Enabled = true
		if mutate != nil {
			mutate(c)
		}
	})
	ctx := context.Background()
	ada := r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering-readers")
	bob := r.createPerson(t, "bob@example.com", "Correct-Horse-9")
	if _, _, err := r.app.Directory.CreateGroup(ctx, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.Group{DisplayName: "everyone", Members: []directory.Member{{ID: ada}, {ID: bob}}}); err != nil {
		t.Fatal(err)
	}
	s, err := r.app.Search()
	if err != nil {
		t.Fatal(err)
	}
	for sub, group := range map[string]string{"engineering": "engineering-readers", "everyone": "everyone"} {
		if _, err := s.Indexer.Index(ctx, ingest.Dir{Root: filepath.Join(docs, sub)}, ingest.Options{Groups: []string{group}}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// searchJSON asks GET /search as a script in the browser's session would
// (no Authorization header, Accept: application/json).
func (b *browser) searchJSON(query string, hdr ...string) (int, map[string]any, http.Header) {
	b.t.Helper()
	r := b.do("GET", "/search?"+query, nil, append([]string{"Accept", "application/json"}, hdr...)...)
	var body map[string]any
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		b.t.Fatalf("GET /search?%s: not JSON: %d %s", query, r.status, r.body)
	}
	return r.status, body, r.header
}

func resultSources(body map[string]any) []string {
	out := []string{}
	list, _ := body["results"].([]any)
	for _, it := range list {
		out = append(out, it.(map[string]any)["source"].(string))
	}
	return out
}

// TestPortalSearchSession: GET /search with a Gatehouse session searches
// as the session's person, whose groups decide what it shows — ada finds
// the engineering page, bob, in the same words, does not — and a session
// cannot name someone else; the search page shows the same results in
// HTML, never another group's documents, with breadcrumbs, sources and
// escaped, highlighted snippets; an application's token still acts for a
// person.
func TestPortalSearchSession(t *testing.T) {
	r := startPortal(t, nil)
	q := "q=" + url.QueryEscape("怎么连接VPN") + "&mode=keyword"

	// Without a session nor a token: 401, the application's challenge.
	anon := newBrowser(t, r.url)
	if status, body, hdr := anon.searchJSON(q); status != http.StatusUnauthorized || body["error"] != "invalid_token" ||
		!strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no session: %d %v %v", status, body, hdr)
	}
	// The page sends a browser without a session to sign in, and back.
	if p := anon.do("GET", "/search?q=vpn", nil); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login?l=") {
		t.Errorf("search page without a session: %d %v", p.status, p.header)
	}

	ada := newBrowser(t, r.url)
	if last, _ := ada.signIn("/search?q=vpn", "ada@example.com", "Correct-Horse-9"); last.status != http.StatusOK ||
		!strings.Contains(last.body, `<ol class="results"`) {
		t.Fatalf("ada signed in, back on the search page: %d %s", last.status, last.body)
	}
	bob := newBrowser(t, r.url)
	if last, _ := bob.signIn("/", "bob@example.com", "Correct-Horse-9"); last.status != http.StatusOK {
		t.Fatalf("bob signed in: %d", last.status)
	}

	status, body, _ := ada.searchJSON(q)
	if status != http.StatusOK || len(resultSources(body)) == 0 || resultSources(body)[0] != "vpn.md" {
		t.Errorf("ada's session: %d %v", status, body)
	}
	status, body, _ = bob.searchJSON(q)
	// (The leave page mentions VPN: bob finds it, and only it, counted
	// alone.)
	if status != http.StatusOK || strings.Join(resultSources(body), ",") != "leave.md" || body["matched"] != 1.0 {
		t.Errorf("bob's session: %d %v", status, body)
	}
	// Bob cannot search as ada with his session.
	status, body, _ = bob.searchJSON(q, "Gatehouse-User", "ada@example.com")
	if status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("bob's session naming ada: %d %v", status, body)
	}

	// The page: ada sees the VPN page, with its breadcrumb, its source,
	// the match highlighted, and the document's markup as text.
	page := ada.do("GET", "/search?q="+url.QueryEscape("连接 VPN"), nil)
	if page.status != http.StatusOK || page.header.Get("Content-Security-Policy") != web.CSP {
		t.Fatalf("ada's search page: %d %v", page.status, page.header)
	}
	for _, want := range []string{`<mark>VPN</mark>`, `<li>连接 VPN</li>`, `Keyword search only: no embedding endpoint is configured.`, `vpn.md`, `&lt;script&gt;alert(1)&lt;/script&gt;`, `role="search"`, `<label for="q">`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("ada's search page lacks %s:\n%s", want, page.body)
		}
	}
	if strings.Contains(page.body, "<script>") {
		t.Error("ada's search page has the document's script as markup")
	}
	// Bob, the same words: the leave page (which mentions VPN), never the
	// VPN page nor a count of it.
	page = bob.do("GET", "/search?q="+url.QueryEscape("连接 VPN"), nil)
	if page.status != http.StatusOK || strings.Contains(page.body, "vpn.md") || strings.Contains(page.body, "WireGuard") ||
		!strings.Contains(page.body, "leave.md") || !strings.Contains(page.body, "1 result.") {
		t.Errorf("bob's search page: %d\n%s", page.status, page.body)
	}
	// In Chinese, for a browser that asks for it.
	bob.lang = "zh-CN"
	page = bob.do("GET", "/search?q=annual+leave", nil)
	if !strings.Contains(page.body, `lang="zh-Hans"`) || !strings.Contains(page.body, "共 1 条结果。") || !strings.Contains(page.body, "来源：") ||
		!strings.Contains(page.body, "仅关键词搜索：未配置向量嵌入服务。") {
		t.Errorf("bob's search page in Chinese:\n%s", page.body)
	}
	bob.lang = ""
	// A query too long: the page says why, 400.
	page = bob.do("GET", "/search?q="+strings.Repeat("x", 1001), nil)
	if page.status != http.StatusBadRequest || !strings.Contains(page.body, "longer than 1000 bytes") {
		t.Errorf("a long query: %d", page.status)
	}

	// An application's token acting for a person keeps working.
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	appl, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "portal", Scopes: auth.Scopes{auth.ScopeDocsSearch}, Profile: directory.IDaaSProfile()})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := r.app.Auth.CreateToken(ctx, op, appl.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	// (With bob's session cookie too: the token decides, for ada.)
	status, body, _ = bob.searchJSON(q, "Authorization", "Bearer "+token, "Gatehouse-User", "ada@example.com")
	if status != http.StatusOK || len(resultSources(body)) == 0 || resultSources(body)[0] != "vpn.md" {
		t.Errorf("the application for ada: %d %v", status, body)
	}
}

// TestPortalSearchRateLimit: a person's searches are limited (the API
// and the page count together), 429 with Retry-After; another person and
// an application have their own budget.
func TestPortalSearchRateLimit(t *testing.T) {
	r := startPortal(t, func(c *config.Config) { c.Search.RateLimit = config.SearchRateLimit{Person: 2, App: 1} })
	ada, bob := newBrowser(t, r.url), newBrowser(t, r.url)
	ada.signIn("/", "ada@example.com", "Correct-Horse-9")
	bob.signIn("/", "bob@example.com", "Correct-Horse-9")
	if status, body, _ := ada.searchJSON("q=vpn"); status != http.StatusOK {
		t.Fatalf("ada's 1st search: %d %v", status, body)
	}
	if p := ada.do("GET", "/search?q=vpn", nil); p.status != http.StatusOK {
		t.Fatalf("ada's 2nd search (the page): %d", p.status)
	}
	status, body, hdr := ada.searchJSON("q=vpn")
	if status != http.StatusTooManyRequests || body["error"] != "too_many_requests" || hdr.Get("Retry-After") == "" {
		t.Errorf("ada's 3rd search: %d %v %v", status, body, hdr)
	}
	if p := ada.do("GET", "/search?q=vpn", nil); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" ||
		!strings.Contains(p.body, "You have searched too often") {
		t.Errorf("ada's 4th search (the page): %d %v", p.status, p.header)
	}
	// The search box alone is not a search.
	if p := ada.do("GET", "/search", nil); p.status != http.StatusOK {
		t.Errorf("ada's search page without a query: %d", p.status)
	}
	if status, body, _ := bob.searchJSON("q=vpn"); status != http.StatusOK {
		t.Errorf("bob: %d %v", status, body)
	}

	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	appl, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "portal", Scopes: auth.Scopes{auth.ScopeDocsSearch}, Profile: directory.IDaaSProfile()})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := r.app.Auth.CreateToken(ctx, op, appl.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	anon := newBrowser(t, r.url)
	for i, who := range []string{"ada@example.com", "bob@example.com"} {
		status, body, hdr := anon.searchJSON("q=vpn", "Authorization", "Bearer "+token, "Gatehouse-User", who)
		if want := []int{http.StatusOK, http.StatusTooManyRequests}[i]; status != want || (i == 1 && hdr.Get("Retry-After") == "") {
			t.Errorf("the application's search %d (for %s): %d %v, want %d", i+1, who, status, body, want)
		}
	}
	// Another application probing for users it cannot have spends its
	// budget too: the second probe is 429, not 404.
	prober, err := r.app.Auth.CreateApp(ctx, op, auth.AppSpec{Name: "prober", Scopes: auth.Scopes{auth.ScopeDocsSearch}, Profile: directory.IDaaSProfile()})
	if err != nil {
		t.Fatal(err)
	}
	_, probe, err := r.app.Auth.CreateToken(ctx, op, prober.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{http.StatusNotFound, http.StatusTooManyRequests} {
		if status, body, _ := anon.searchJSON("q=vpn", "Authorization", "Bearer "+probe, "Gatehouse-User", "nobody"+strconv.Itoa(i)+"@example.com"); status != want {
			t.Errorf("probe %d: %d %v, want %d", i+1, status, body, want)
		}
	}
}

// TestPortalProfile: the profile page shows the person's own attributes
// and groups, read-only, and needs a session.
func TestPortalProfile(t *testing.T) {
	r := start(t, devLogin)
	id := r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering-readers")
	ctx := context.Background()
	if _, err := r.app.Directory.UpdateUser(ctx, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID}, id, nil,
		func(u *directory.User) error {
			u.Attrs["title"] = "Engineer <b>"
			u.Attrs[directory.EnterpriseURN] = map[string]any{"department": "研发部", "employeeNumber": "E-042"}
			return nil
		}); err != nil {
		t.Fatal(err)
	}
	anon := newBrowser(t, r.url)
	if p := anon.do("GET", "/profile", nil); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login?l=") {
		t.Errorf("profile without a session: %d %v", p.status, p.header)
	}
	b := newBrowser(t, r.url)
	last, _ := b.signIn("/profile", "ada@example.com", "Correct-Horse-9")
	if last.status != http.StatusOK {
		t.Fatalf("profile: %d %s", last.status, last.body)
	}
	for _, want := range []string{"<dt>User name</dt>", "<dd>ada@example.com (work)</dd>", "<dd>Engineer &lt;b&gt;</dd>", "<dd>研发部</dd>",
		"<dd>E-042</dd>", "<dd>engineering-readers</dd>", `href="/factors"`, `href="/password"`} {
		if !strings.Contains(last.body, want) {
			t.Errorf("profile lacks %s:\n%s", want, last.body)
		}
	}
	if strings.Contains(last.body, "<form method=\"post\" action=\"/profile") || strings.Contains(last.body, id) {
		t.Error("the profile page has a form, or shows the user's id")
	}
	b.lang = "zh-CN"
	if p := b.do("GET", "/profile", nil); !strings.Contains(p.body, "<dt>部门</dt>") {
		t.Errorf("profile in Chinese:\n%s", p.body)
	}
}

// TestPortalSearchAnswer: with a chat endpoint, the search page offers an
// answer; the chat model is sent only the results the asker may read (bob's
// prompt never holds the engineering page); the answer's citations of
// results shown become links to them (the service drops citations of
// sources it did not send), the model's markup stays text; a failing endpoint is a notice, in Chinese too.
func TestPortalSearchAnswer(t *testing.T) {
	var mu sync.Mutex
	var prompts []string
	fail := false
	chatSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		prompts = append(prompts, req.Messages[len(req.Messages)-1].Content)
		failing := fail
		mu.Unlock()
		if failing {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"choices":[{"message":{"content":"See [1], not [7]. <b>bold</b>"}}]}`))
	}))
	defer chatSrv.Close()
	r := startPortal(t, func(c *config.Config) {
		c.Search.Chat = config.SearchChat{URL: chatSrv.URL, Model: "qwen-plus", Timeout: config.Duration(10 * time.Second)}
		c.Events.EgressAllow = []string{"127.0.0.1/32"}
	})
	ada, bob := newBrowser(t, r.url), newBrowser(t, r.url)
	ada.signIn("/", "ada@example.com", "Correct-Horse-9")
	if home, _ := bob.signIn("/", "bob@example.com", "Correct-Horse-9"); !strings.Contains(home.body, `name="answer"`) {
		t.Errorf("the search box offers no answer:\n%s", home.body)
	}
	q := "/search?answer=1&q=" + url.QueryEscape("连接 VPN")

	page := ada.do("GET", q, nil)
	for _, want := range []string{`<a href="#result-1" class="cite" aria-label="source 1">[1]</a>`, `&lt;b&gt;bold&lt;/b&gt;`, `<li id="result-1">`, `checked`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("ada's answer lacks %s:\n%s", want, page.body)
		}
	}
	page = bob.do("GET", q, nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, `href="#result-1"`) {
		t.Errorf("bob's answer: %d\n%s", page.status, page.body)
	}
	mu.Lock()
	if len(prompts) != 2 || !strings.Contains(prompts[0], "WireGuard") || strings.Contains(prompts[1], "WireGuard") || strings.Contains(prompts[1], "连接 VPN\n") {
		t.Errorf("the prompts sent to the chat endpoint:\n%q", prompts)
	}
	fail = true
	mu.Unlock()
	bob.lang = "zh-CN"
	page = bob.do("GET", q, nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, "未能生成回答：对话服务调用失败。") || strings.Contains(page.body, `class="answer"`) {
		t.Errorf("a failing chat endpoint: %d\n%s", page.status, page.body)
	}
	// Without answer=1, no answer is asked for.
	mu.Lock()
	n := len(prompts)
	mu.Unlock()
	bob.do("GET", "/search?q=leave", nil)
	mu.Lock()
	defer mu.Unlock()
	if len(prompts) != n {
		t.Error("a search without answer=1 asked the chat endpoint")
	}
}

// TestPortalApps: the user page lists exactly the applications Allowed
// lets her open (AppsFor decides them with one read of her record) —
// SAML and OIDC, everyone or her group, not another group's, not a
// disabled one, not an API client — each with the link that starts its
// single sign-on; a disabled person is listed none.
func TestPortalApps(t *testing.T) {
	r := start(t, devLogin)
	ctx := context.Background()
	op := directory.Actor{Kind: "cli"}
	ada := r.createPerson(t, "ada@example.com", "Correct-Horse-9", "engineering-readers")
	r.createPerson(t, "bob@example.com", "Correct-Horse-9", "sales")
	groups, err := r.app.Directory.Groups(ctx, directory.Profile{}, directory.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	id := map[string]string{}
	for _, g := range groups.Items {
		id[g.DisplayName] = g.ID
	}
	mk := func(spec auth.AppSpec) *auth.App {
		t.Helper()
		a, err := r.app.Auth.CreateApp(ctx, op, spec)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mk(auth.AppSpec{Name: "Everyone's SAML", Kind: auth.KindSAMLSP, Access: auth.Access{Everyone: true}})
	gitbook := mk(auth.AppSpec{Name: "GitBook", Kind: auth.KindSAMLSP, Access: auth.Access{AllowedGroups: []string{id["engineering-readers"]}}})
	mk(auth.AppSpec{Name: "Wiki", Kind: auth.KindOIDCClient, Access: auth.Access{AllowedGroups: []string{id["engineering-readers"]}},
		SSO: []byte(`{"redirectUris":["https://wiki.example.com/cb"],"initiateLoginUri":"https://wiki.example.com/login"}`)})
	mk(auth.AppSpec{Name: "CRM", Kind: auth.KindSAMLSP, Access: auth.Access{AllowedGroups: []string{id["sales"]}}})
	mk(auth.AppSpec{Name: "Nobody's", Kind: auth.KindOIDCClient})
	off := mk(auth.AppSpec{Name: "Retired", Kind: auth.KindSAMLSP, Access: auth.Access{Everyone: true}})
	if _, err := r.app.Auth.UpdateApp(ctx, op, off.ID, func(a *auth.App) error { a.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	mk(auth.AppSpec{Name: "API client", Scopes: auth.Scopes{auth.ScopeDocsSearch}})

	listed, err := r.app.Login.AppsFor(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range listed {
		names = append(names, a.Name)
	}
	if want := []string{"Everyone's SAML", "GitBook", "Wiki"}; !cmp.Equal(names, want) {
		t.Errorf("ada's applications: %q, want %q", names, want)
	}
	all, err := r.app.Auth.Apps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		ok, _, err := r.app.Login.Allowed(ctx, ada, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if in := slices.ContainsFunc(listed, func(x *auth.App) bool { return x.ID == a.ID }); in != ok {
			t.Errorf("%s: listed %v, Allowed %v", a.Name, in, ok)
		}
	}
	b := newBrowser(t, r.url)
	home, _ := b.signIn("/", "ada@example.com", "Correct-Horse-9")
	for _, want := range []string{`href="/saml/idp-init/` + gitbook.ID + `"`, `href="https://wiki.example.com/login"`} {
		if !strings.Contains(home.body, want) {
			t.Errorf("ada's page lacks %s", want)
		}
	}
	for _, not := range []string{"CRM", "Retired", "Nobody", "API client"} {
		if strings.Contains(home.body, not) {
			t.Errorf("ada's page lists %s", not)
		}
	}
	if _, err := r.app.Directory.UpdateUser(ctx, op, directory.Profile{TargetOrgID: directory.RootOrgID}, ada, nil,
		func(u *directory.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if listed, err := r.app.Login.AppsFor(ctx, ada); err != nil || len(listed) != 0 {
		t.Errorf("a disabled person's applications: %v %v", listed, err)
	}
}

package targets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func newHireVars() map[string]any {
	return templateVars(map[string]any{
		"userName": "ada", "displayName": "Ada Lovelace", "email": "ada@example.com",
		"department": "R&D", "organization": "Engineering", "orgPathNames": []any{"Acme", "Engineering"},
		"loginUrl": "https://sso.acme.example/login?x=1&y=2",
	}, nil, "")
}

func TestWelcomeNewHire(t *testing.T) {
	tests := []struct {
		name      string
		prefs     []string
		vars      map[string]any
		want      Rendered
		wantHTML  []string // fragments of the HTML part
		wantNoHTM []string // must not be in the HTML part
	}{
		{
			name: "en", prefs: []string{"en"}, vars: newHireVars(),
			want: Rendered{
				Template: "welcome_new_hire", Locale: "en", Subject: "Welcome to Acme, Ada Lovelace",
				Text: "Hi Ada Lovelace,\n\nWelcome to Acme! Your account has been created.\n\n" +
					"  Username:   ada\n  Email:      ada@example.com\n  Department: R&D\n\n" +
					"Sign in here: https://sso.acme.example/login?x=1&y=2\n\n" +
					"If you have any questions, reply to this email or contact your IT team.\n",
			},
			wantHTML: []string{`<html lang="en">`, "<p>Hi Ada Lovelace,</p>", "<strong>ada</strong>", "<td>R&amp;D</td>",
				`<a href="https://sso.acme.example/login?x=1&amp;y=2">Sign in</a>`},
		},
		{
			name: "zh", prefs: []string{"zh"}, vars: newHireVars(),
			want: Rendered{
				Template: "welcome_new_hire", Locale: "zh", Subject: "欢迎加入Acme，Ada Lovelace",
				Text: "Ada Lovelace，您好！\n\n欢迎加入Acme！您的账号已经创建。\n\n" +
					"  用户名：ada\n  邮箱：ada@example.com\n  部门：R&D\n\n" +
					"登录地址：https://sso.acme.example/login?x=1&y=2\n\n" +
					"如有任何问题，请直接回复此邮件或联系 IT 部门。\n",
			},
			wantHTML: []string{`<html lang="zh-CN">`, "<p>Ada Lovelace，您好！</p>", "<td>部门</td><td>R&amp;D</td>", `">登录</a>`},
		},
		{
			name: "no optional fields", prefs: []string{"en"}, vars: map[string]any{},
			want: Rendered{
				Template: "welcome_new_hire", Locale: "en", Subject: "Welcome to the team, new colleague",
				Text: "Hi there,\n\nWelcome to the team! Your account has been created.\n\n\n" +
					"If you have any questions, reply to this email or contact your IT team.\n",
			},
			wantHTML:  []string{"<p>Hi there,</p>"},
			wantNoHTM: []string{"Username", "<a href", "no value"},
		},
		{
			name: "never the userName (an email address, usually)", prefs: []string{"zh"},
			vars: templateVars(map[string]any{"userName": "ada@example.com", "displayName": nil}, nil, ""),
			want: Rendered{
				Template: "welcome_new_hire", Locale: "zh", Subject: "欢迎加入团队，新同事",
				Text: "新同事，您好！\n\n欢迎加入团队！您的账号已经创建。\n\n  用户名：ada@example.com\n\n如有任何问题，请直接回复此邮件或联系 IT 部门。\n",
			},
			wantHTML: []string{"<p>新同事，您好！</p>"},
		},
		{
			name: "user data is escaped in HTML, not in text", prefs: []string{"en"},
			vars: templateVars(map[string]any{"displayName": `Eve <script>alert("x")</script>`, "loginUrl": "javascript:alert(1)"}, nil, "A&B"),
			want: Rendered{
				Template: "welcome_new_hire", Locale: "en", Subject: `Welcome to A&B, Eve <script>alert("x")</script>`,
				Text: "Hi Eve <script>alert(\"x\")</script>,\n\nWelcome to A&B! Your account has been created.\n\n\n" +
					"Sign in here: javascript:alert(1)\n\n" +
					"If you have any questions, reply to this email or contact your IT team.\n",
			},
			wantHTML:  []string{"<p>Hi Eve &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;,</p>", "Welcome to A&amp;B!", `<a href="#ZgotmplZ">`},
			wantNoHTM: []string{"<script>", "javascript:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DefaultTemplates().Render("welcome_new_hire", tt.prefs, tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			html := r.HTML
			r.HTML = ""
			if diff := cmp.Diff(tt.want, *r); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
			for _, f := range tt.wantHTML {
				if !strings.Contains(html, f) {
					t.Errorf("HTML lacks %q:\n%s", f, html)
				}
			}
			for _, f := range tt.wantNoHTM {
				if strings.Contains(html, f) {
					t.Errorf("HTML contains %q:\n%s", f, html)
				}
			}
		})
	}
}

func TestTemplateLocaleChoice(t *testing.T) {
	tests := []struct {
		prefs []string
		want  string
	}{
		{nil, "en"},
		{[]string{"zh"}, "zh"},
		{[]string{"zh-CN"}, "zh"},
		{[]string{"zh_Hans_CN"}, "zh"},
		{[]string{" ZH-TW "}, "zh"},
		{[]string{"fr"}, "en"},
		{[]string{"", "zh"}, "zh"},
		{[]string{"fr", "zh", "en"}, "zh"},
		{[]string{"en-GB", "zh"}, "en"},
	}
	for _, tt := range tests {
		r, err := DefaultTemplates().Render("welcome_new_hire", tt.prefs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Locale != tt.want {
			t.Errorf("prefs %q: locale %s, want %s", tt.prefs, r.Locale, tt.want)
		}
	}
	if got, want := DefaultTemplates().Locales("welcome_new_hire"), []string{"en", "zh"}; !cmp.Equal(got, want) {
		t.Errorf("Locales = %v, want %v", got, want)
	}
}

func TestTemplateNotFound(t *testing.T) {
	_, err := DefaultTemplates().Render("welcome_new_hir", []string{"en"}, nil)
	if !errors.Is(err, ErrTemplateNotFound) || !strings.Contains(err.Error(), `"welcome_new_hir"`) {
		t.Errorf("err = %v, want ErrTemplateNotFound naming the template", err)
	}
}

// A missing variable, or a null one, prints as nothing in every part; it is
// false in conditions; present zero values still print.
func TestTemplateMissingVariable(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "probe.en.subject.txt", "Hi {{.missing}}!")
	write(t, dir, "probe.en.txt", "[{{.missing}}] [{{.null}}] [{{.manager.email}}] [{{$x := .missing}}{{$x}}] "+
		"[{{if .missing}}yes{{else}}no{{end}}] [{{.zero}} {{.no}} {{.empty}}] [{{range .list}}{{.}},{{end}}] [{{.missing | printf \"%v\"}}]")
	write(t, dir, "probe.en.html", "<p>[{{.missing}}] [{{.null}}] [{{.manager.email}}]</p>")
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.Render("probe", nil, map[string]any{"null": nil, "zero": 0.0, "no": false, "empty": "", "list": []any{"a", nil, "b"}})
	if err != nil {
		t.Fatal(err)
	}
	want := Rendered{
		Template: "probe", Locale: "en", Subject: "Hi !",
		Text: "[] [] [] [] [no] [0 false ] [a,,b,] [<nil>]",
		HTML: "<p>[] [] []</p>",
	}
	if diff := cmp.Diff(want, *r); diff != "" {
		t.Errorf("rendered (-want +got):\n%s", diff)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadTemplatesOverrides(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "welcome_new_hire.en.subject.txt", "Your {{.company}} account: {{.userName}}\n")
	write(t, dir, "welcome_new_hire.zh-tw.subject.txt", "歡迎 {{.userName}}")
	write(t, dir, "welcome_new_hire.zh-tw.txt", "{{.userName}}，您好")
	write(t, dir, "offboarding.en.subject.txt", "Goodbye {{.userName}}")
	write(t, dir, "offboarding.en.html", "<p>Bye {{.displayName}}</p>")
	write(t, dir, "README.md", "ignored")
	if err := os.Mkdir(filepath.Join(dir, "drafts"), 0o755); err != nil {
		t.Fatal(err)
	}
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	vars := newHireVars()

	// Only the English subject is replaced; the parts and Chinese stay built in.
	en, err := tpl.Render("welcome_new_hire", []string{"en"}, vars)
	if err != nil {
		t.Fatal(err)
	}
	builtin, _ := DefaultTemplates().Render("welcome_new_hire", []string{"en"}, vars)
	if en.Subject != "Your Acme account: ada" || en.Text != builtin.Text || en.HTML != builtin.HTML {
		t.Errorf("en override: subject %q; text and HTML built in: %v %v", en.Subject, en.Text == builtin.Text, en.HTML == builtin.HTML)
	}
	zh, _ := tpl.Render("welcome_new_hire", []string{"zh"}, vars)
	builtinZh, _ := DefaultTemplates().Render("welcome_new_hire", []string{"zh"}, vars)
	if diff := cmp.Diff(builtinZh, zh); diff != "" {
		t.Errorf("zh changed (-built in +got):\n%s", diff)
	}
	tw, err := tpl.Render("welcome_new_hire", []string{"zh-TW"}, vars)
	if err != nil || tw.Locale != "zh-tw" || tw.Subject != "歡迎 ada" || tw.Text != "ada，您好" || tw.HTML != "" {
		t.Errorf("new locale: %+v, %v", tw, err)
	}
	off, err := tpl.Render("offboarding", []string{"zh"}, vars)
	if err != nil || off.Locale != "en" || off.Subject != "Goodbye ada" || off.HTML != "<p>Bye Ada Lovelace</p>" || off.Text != "" {
		t.Errorf("new template: %+v, %v", off, err)
	}
	if got := tpl.Locales("welcome_new_hire"); !cmp.Equal(got, []string{"en", "zh", "zh-tw"}) {
		t.Errorf("Locales = %v", got)
	}
}

func TestLoadTemplatesErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // fragments of the error
	}{
		{"upper-case file name", map[string]string{"Welcome.EN.txt": "x"}, []string{`"Welcome.EN.txt"`}},
		{"no locale", map[string]string{"welcome.txt": "x"}, []string{`"welcome.txt"`}},
		{"parse error", map[string]string{"welcome_new_hire.en.txt": "{{.userName"}, []string{"welcome_new_hire.en.txt"}},
		{"HTML parse error", map[string]string{"welcome_new_hire.en.html": "{{if .x}}"}, []string{"welcome_new_hire.en.html"}},
		{"no subject", map[string]string{"bye.en.txt": "bye"}, []string{"bye.en: no subject"}},
		{"no part", map[string]string{"bye.en.subject.txt": "bye"}, []string{"bye.en: neither a .txt nor an .html part"}},
		{"every problem at once", map[string]string{"Bad.txt": "x", "bye.en.subject.txt": "bye"}, []string{`"Bad.txt"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tt.files {
				write(t, dir, n, c)
			}
			_, err := LoadTemplates(dir)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := LoadTemplates(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("a missing directory loads")
	}
}

func TestTemplateEmptySubject(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "blank.en.subject.txt", "{{.name}}\n")
	write(t, dir, "blank.en.txt", "x")
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Render("blank", nil, nil); err == nil || !strings.Contains(err.Error(), "subject is empty") {
		t.Errorf("err = %v, want an empty subject refused", err)
	}
	r, err := tpl.Render("blank", nil, map[string]any{"name": "a\r\nBcc: x@evil.example\t b"})
	if err != nil || r.Subject != "a Bcc: x@evil.example b" {
		t.Errorf("subject %q, %v: want one line", r.Subject, err)
	}
}

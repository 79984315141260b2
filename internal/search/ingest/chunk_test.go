package ingest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type shape struct {
	Breadcrumb string
	Text       string
}

func shapes(t *testing.T, d Document) []shape {
	t.Helper()
	cs, err := Chunks("dir:/x", d, []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	var out []shape
	for _, c := range cs {
		out = append(out, shape{strings.Join(c.Breadcrumb, " > "), c.Text})
		if c.Hash != c.ComputeHash() || len(c.ID) != 32 || c.Collection != "dir:/x" || c.Source != d.Source {
			t.Errorf("chunk %+v: id, hash or origin wrong", c)
		}
	}
	return out
}

func TestChunksMarkdown(t *testing.T) {
	md := "---\ntitle: x\n---\n# Guide\n\nIntro.\n\n## Install\n\nRun this:\n\n```bash\nmake dev\n\n# not a heading\n```\n\n" +
		"| a | b |\n| --- | --- |\n| 1 | 2 |\n\nSetext\n------\n\nText under setext.\n\n### Deep\n\nDeep text.\n\n## Next\n\n<!-- hidden -->\nVisible.\n"
	got := shapes(t, Document{Source: "guide.md", Format: Markdown, Body: []byte(md)})
	want := []shape{
		{"Guide", "Intro."},
		{"Guide > Install", "Run this:\n\n```bash\nmake dev\n\n# not a heading\n```\n\n| a | b |\n| --- | --- |\n| 1 | 2 |"},
		{"Guide > Setext", "Text under setext."},
		{"Guide > Setext > Deep", "Deep text."},
		{"Guide > Next", "Visible."},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

func TestChunksHTML(t *testing.T) {
	page := `<html><head><title>T</title><script>var x="secret";</script></head><body><nav>Home | About</nav>
<h1>VPN</h1><p>Install <b>WireGuard</b>.</p><pre>wg-quick up corp
  # indented</pre><table><tr><th>OS</th><th>Client</th></tr><tr><td>macOS</td><td>App Store</td></tr></table>
<h2>连接</h2><ul><li>导入配置</li><li>连接</li></ul></body></html>`
	got := shapes(t, Document{Source: "vpn.html", Format: HTML, Body: []byte(page)})
	want := []shape{
		{"VPN", "Install WireGuard.\n\n```\nwg-quick up corp\n  # indented\n```\n\n| OS | Client |\n| macOS | App Store |"},
		{"VPN > 连接", "- 导入配置\n\n- 连接"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

// TestChunkSizes: long prose is cut at sentence ends (Chinese and
// English), each part within MaxTokens; a long code block stays whole.
func TestChunkSizes(t *testing.T) {
	zh := strings.Repeat("新员工入职第一天需要领取工牌并开通账号。", 60) // 19 tokens a sentence
	en := strings.Repeat("Every new hire completes the security course. ", 120)
	code := "```\n" + strings.Repeat("echo step\n", 400) + "```"
	md := "# A\n\n" + zh + "\n\n## B\n\n" + en + "\n\n## C\n\n" + code + "\n"
	cs, err := Chunks("c", Document{Source: "a.md", Format: Markdown, Body: []byte(md)}, []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	sawCode := false
	for _, c := range cs {
		n := tokenCount(c.Text)
		if strings.HasPrefix(c.Text, "```") {
			sawCode = true
			if c.Text != code {
				t.Errorf("the code block was cut")
			}
			continue
		}
		if n > MaxTokens {
			t.Errorf("chunk of %d tokens (max %d)", n, MaxTokens)
		}
		if !strings.HasSuffix(c.Text, "。") && !strings.HasSuffix(c.Text, ".") {
			t.Errorf("chunk cut mid-sentence: …%q", c.Text[max(0, len(c.Text)-20):])
		}
	}
	if !sawCode || len(cs) < 4 {
		t.Errorf("%d chunks, code block seen %v", len(cs), sawCode)
	}
}

func TestChunksRefuseBrokenDocuments(t *testing.T) {
	for _, d := range []Document{
		{Source: "bad.md", Format: Markdown, Body: []byte("# ok\n\xff\xfe broken")},
		{Source: "bin.md", Format: Markdown, Body: []byte("PK\x00\x03")},
		{Source: "big.md", Format: Markdown, Body: make([]byte, MaxDocumentBytes+1)},
	} {
		if _, err := Chunks("c", d, []string{"g"}); err == nil || !strings.Contains(err.Error(), d.Source) {
			t.Errorf("%s: err = %v, want an error naming it", d.Source, err)
		}
	}
}

func FuzzChunks(f *testing.F) {
	f.Add("# A\n\ntext\n\n```\ncode\n```\n| t |\n", false)
	f.Add("<h1>x</h1><p>y<table><tr><td>z", true)
	f.Fuzz(func(t *testing.T, body string, html bool) {
		format := Markdown
		if html {
			format = HTML
		}
		cs, err := Chunks("c", Document{Source: "f", Format: format, Body: []byte(body)}, []string{"g"})
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, c := range cs {
			if seen[c.ID] {
				t.Fatalf("duplicate chunk id %s", c.ID)
			}
			seen[c.ID] = true
		}
	})
}

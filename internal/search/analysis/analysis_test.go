package analysis

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var shared struct {
	once sync.Once
	a    *Analyzer
	err  error
}

// analyzer loads the dictionary once per test binary.
func analyzer(t testing.TB) *Analyzer {
	t.Helper()
	shared.once.Do(func() { shared.a, shared.err = New(nil) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.a
}

func TestTokens(t *testing.T) {
	a := analyzer(t)
	tests := []struct {
		text string
		want []string
	}{
		// ik_max_word style: every dictionary word, overlapping.
		{"数据库连接池配置", []string{"数据", "数据库", "据库", "连接", "连接池", "配置"}},
		{"中华人民共和国", []string{"中华", "中华人民", "中华人民共和国", "华人", "人民", "人民共和国", "共和", "共和国"}},
		// Characters no word covers stand alone; particles are dropped.
		{"研究生命起源", []string{"研究", "研究生", "生命", "起源"}},
		{"入职的第一天", []string{"入职", "第一", "第一天", "一天"}},
		// English: lower-cased, stop words dropped, stemmed; identifiers
		// split at punctuation.
		{"How do I configure the ik_max_word analyzer for rag-docs?", []string{"configur", "ik", "max", "word", "analyz", "rag", "doc"}},
		{"Connecting to the VPN", []string{"connect", "vpn"}},
		// Full-width Latin letters fold to ASCII; mixed text.
		{"申请ＶＰＮ账号", []string{"申请", "vpn", "账号"}},
		{"Go 1.26 与 Docker", []string{"go", "1", "26", "docker"}},
		{"", nil},
		{"，。！？", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, tok := range a.Tokens(tt.text) {
			got = append(got, tok.Term)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Tokens(%q) (-want +got):\n%s", tt.text, diff)
		}
	}
}

// TestOffsets: every token's span is in the text, on rune boundaries, and
// spells the term (before folding).
func TestOffsets(t *testing.T) {
	a := analyzer(t)
	text := "新员工入职：连接VPN（WireGuard）后访问堡垒机。Ｄｏｃｋｅｒ"
	for _, tok := range a.Tokens(text) {
		if tok.Start < 0 || tok.End > len(text) || tok.Start >= tok.End || !utf8.RuneStart(text[tok.Start]) ||
			(tok.End < len(text) && !utf8.RuneStart(text[tok.End])) {
			t.Fatalf("token %+v: bad span", tok)
		}
		span := strings.ToLower(text[tok.Start:tok.End])
		if !strings.HasPrefix(span, tok.Term[:1]) && utf8.RuneLen([]rune(span)[0]) == 1 {
			t.Errorf("token %+v spells %q", tok, span)
		}
	}
}

func TestExtraWords(t *testing.T) {
	base := analyzer(t)
	a, err := New([]string{"钉钉审批流"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() == base.Name() {
		t.Errorf("extra words do not change the analyzer's name %q: an index built without them would not be rebuilt", a.Name())
	}
	got := a.Terms("钉钉审批流")
	if !strings.Contains(strings.Join(got, " "), "钉钉审批流") {
		t.Errorf("Terms = %q, want the added word among them", got)
	}
}

func FuzzTokens(f *testing.F) {
	for _, s := range []string{"数据库连接池配置", "How do I configure ik_max_word?", "申请ＶＰＮ账号", "\xff\xfe中", "a\x00b"} {
		f.Add(s)
	}
	a := analyzer(f)
	f.Fuzz(func(t *testing.T, s string) {
		prev := 0
		for _, tok := range a.Tokens(s) {
			if tok.Start < prev || tok.End > len(s) || tok.Start >= tok.End || tok.Term == "" {
				t.Fatalf("Tokens(%q): bad token %+v", s, tok)
			}
			prev = tok.Start
		}
	})
}

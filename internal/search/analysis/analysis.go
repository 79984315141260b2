// Package analysis is the text analyzer of documentation search: Chinese
// word segmentation in the manner of IK's ik_max_word, and English
// tokenisation with Snowball (Porter 2) stemming, for text that mixes both.
//
// Chinese runs are cut into every dictionary word they contain, overlapping
// words included ("数据库连接" → 数据库, 数据, 据库, 连接), as ik_max_word does;
// characters that no word of two or more characters covers become terms of
// their own. The dictionary is the one github.com/go-ego/gse embeds (derived
// from jieba's, simplified and traditional, Apache-2.0 / MIT), plus any
// words the operator adds. Latin letters and digits form words split at
// anything else; they are lower-cased, full-width forms folded, English stop
// words dropped and the rest stemmed. Offsets always refer to the original
// text, so that highlights land where the words are.
package analysis

import (
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-ego/gse"
	"github.com/kljensen/snowball/english"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Name identifies this analysis; an index built with another must be
// rebuilt. Bump the version when the output for some text changes
// (workplace.txt included).
const Name = "gse-max-word+workplace+snowball-en/1"

// workplace are words of the workplace the embedded dictionary lacks.
//
//go:embed workplace.txt
var workplace string

// Analyzer is the Chinese/English analyzer. It is safe for concurrent use.
type Analyzer struct {
	dict   *gse.Dictionary
	maxLen int // longest dictionary word, in bytes
	// extra are the words added to the dictionary (workplace.txt and the
	// operator's); extraPrefix their prefixes.
	extra, extraPrefix map[string]bool
	name               string
}

// New loads the embedded dictionary (simplified and traditional Chinese;
// about a second and 100 MB) and adds the operator's words.
func New(extraWords []string) (*Analyzer, error) {
	seg := gse.Segmenter{SkipLog: true, NotLoadHMM: true}
	if err := seg.LoadDictEmbed("zh_s"); err != nil {
		return nil, err
	}
	a := &Analyzer{dict: seg.Dict, maxLen: seg.Dict.MaxTokenLen() * utf8.UTFMax, name: Name,
		extra: map[string]bool{}, extraPrefix: map[string]bool{}}
	for _, line := range strings.Split(workplace, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			a.add(line)
		}
	}
	if len(extraWords) > 0 {
		for _, w := range extraWords {
			a.add(strings.TrimSpace(w))
		}
		// The extra words change the output: say so in the name, so that
		// an index built without them is rebuilt.
		a.name += "+" + search.HashStrings(extraWords)[:12]
	}
	return a, nil
}

// add adds a word of two or more characters.
func (a *Analyzer) add(w string) {
	if utf8.RuneCountInString(w) < 2 {
		return
	}
	a.extra[w] = true
	for i := range w {
		if i > 0 {
			a.extraPrefix[w[:i]] = true
		}
	}
	a.maxLen = max(a.maxLen, len(w))
}

// Name implements search.Analyzer.
func (a *Analyzer) Name() string { return a.name }

// Tokens implements search.Analyzer.
func (a *Analyzer) Tokens(text string) []search.Token {
	var out []search.Token
	i := 0
	for i < len(text) {
		r, n := utf8.DecodeRuneInString(text[i:])
		switch {
		case isHan(r):
			j := i + n
			for j < len(text) {
				r2, n2 := utf8.DecodeRuneInString(text[j:])
				if !isHan(r2) {
					break
				}
				j += n2
			}
			out = a.han(out, text, i, j)
			i = j
		case isWordRune(r):
			j := i + n
			for j < len(text) {
				r2, n2 := utf8.DecodeRuneInString(text[j:])
				if !isWordRune(r2) {
					break
				}
				j += n2
			}
			out = latin(out, text, i, j)
			i = j
		default:
			i += n
		}
	}
	return out
}

// han adds the terms of the run of Han characters text[start:end]: every
// dictionary word, and each character no word covers.
func (a *Analyzer) han(out []search.Token, text string, start, end int) []search.Token {
	run := text[start:end]
	covered := make([]bool, len(run)) // by byte offset of a character
	var words []search.Token
	for i := 0; i < len(run); {
		_, n := utf8.DecodeRuneInString(run[i:])
		for j := i + n; j < len(run) && j-i <= a.maxLen; {
			_, m := utf8.DecodeRuneInString(run[j:])
			j += m
			w := run[i:j]
			freq, _, ok := a.dict.Find([]byte(w))
			if a.extra[w] {
				ok, freq = true, 1
			} else if !ok && a.extraPrefix[w] {
				ok = true
			}
			if !ok {
				break // not even a prefix of a word
			}
			if freq > 0 {
				words = append(words, search.Token{Term: w, Start: start + i, End: start + j})
				for k := i; k < j; k++ {
					covered[k] = true
				}
			}
		}
		i += n
	}
	wi := 0
	for i := 0; i < len(run); {
		_, n := utf8.DecodeRuneInString(run[i:])
		for wi < len(words) && words[wi].Start == start+i {
			if !zhStop[words[wi].Term] {
				out = append(out, words[wi])
			}
			wi++
		}
		if !covered[i] && !zhStop[run[i:i+n]] {
			out = append(out, search.Token{Term: run[i : i+n], Start: start + i, End: start + i + n})
		}
		i += n
	}
	return out
}

// latin adds the term of the word text[start:end] (letters and digits).
func latin(out []search.Token, text string, start, end int) []search.Token {
	var b strings.Builder
	letters := true
	for _, r := range text[start:end] {
		if r >= 0xFF01 && r <= 0xFF5E { // full-width ASCII
			r -= 0xFEE0
		}
		r = unicode.ToLower(r)
		if !unicode.IsLetter(r) {
			letters = false
		}
		b.WriteRune(r)
	}
	w := b.String()
	if enStop[w] {
		return out
	}
	if letters && isASCII(w) {
		w = english.Stem(w, false)
	}
	return append(out, search.Token{Term: w, Start: start, End: end})
}

// Terms returns only the terms of text, in order.
func (a *Analyzer) Terms(text string) []string {
	toks := a.Tokens(text)
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.Term
	}
	return out
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func isWordRune(r rune) bool {
	return !isHan(r) && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

var (
	// zhStop are function words and characters that carry no meaning for
	// search (the particles and pronouns of questions).
	zhStop = set("的 了 吗 呢 吧 啊 呀 和 与 及 或 是 在 也 就 都 把 被 之 个 这 那 哪 我 你 您 他 她 它 我们 你们 他们 怎么 怎样 如何 什么 请问 一下 可以 需要 应该 要 能 会 吧 么 从 对 向 给 让 有 没有")
	// enStop are English stop words (a short list: BM25's idf already
	// discounts the rest).
	enStop = set("a an and are as at be but by can do does for from how i if in into is it its me my of on or our should so that the their then there these they this to was we what when where which who why will with would you your")
)

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

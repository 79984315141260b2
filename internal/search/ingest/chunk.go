package ingest

import (
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Sizes of chunks, in approximate tokens (a Han character or a Latin word
// counts one).
const (
	// TargetTokens is the size a chunk grows to before the next block
	// starts a new one.
	TargetTokens = 300
	// MaxTokens is the largest a chunk of prose may be: a longer paragraph
	// is cut at sentence boundaries. Code blocks and tables are kept whole
	// up to MaxWholeBytes.
	MaxTokens = 500
	// MaxWholeBytes bounds a code block or table kept whole; a larger one
	// is cut between lines.
	MaxWholeBytes = 16 << 10
)

// Chunks cuts d into chunks of collection, readable by groups (ids). Each
// chunk holds blocks of one section (the text under one heading), prefixed
// in IndexText by the breadcrumb of headings above it; a section's blocks
// are packed until TargetTokens, code blocks and tables are never split
// (up to MaxWholeBytes), and prose longer than MaxTokens is cut at the end
// of a sentence (。！？；.!? and line ends).
func Chunks(collection string, d Document, groups []string) ([]search.Chunk, error) {
	blocks, err := parse(d)
	if err != nil {
		return nil, err
	}
	title := d.Title
	if title == "" {
		for _, b := range blocks {
			if b.kind == heading {
				title = b.text
				break
			}
		}
	}
	if title == "" {
		title = strings.TrimSuffix(path.Base(d.Source), path.Ext(d.Source))
	}
	var (
		out    []search.Chunk
		crumbs []string // heading texts by level (index level-1)
		buf    []string
		size   int
	)
	breadcrumb := func() []string {
		var bc []string
		for _, h := range crumbs {
			if h != "" {
				bc = append(bc, h)
			}
		}
		return bc
	}
	emit := func() {
		if len(buf) == 0 {
			return
		}
		c := search.Chunk{
			Collection: collection, Source: d.Source, URL: d.URL, Title: title, Breadcrumb: breadcrumb(),
			Text: strings.Join(buf, "\n\n"), Groups: groups,
		}
		c.ID = search.HashStrings([]string{collection, d.Source, strconv.Itoa(len(out))})[:32]
		c.Hash = c.ComputeHash()
		out = append(out, c)
		buf, size = nil, 0
	}
	add := func(text string, n int) {
		if size > 0 && size+n > TargetTokens {
			emit()
		}
		buf = append(buf, text)
		size += n
	}
	for _, b := range blocks {
		switch b.kind {
		case heading:
			emit()
			for len(crumbs) < b.level {
				crumbs = append(crumbs, "")
			}
			crumbs = crumbs[:b.level]
			crumbs[b.level-1] = b.text
		case code, table:
			for _, part := range splitLines(b.text, MaxWholeBytes) {
				add(part, tokenCount(part))
			}
		default:
			for _, part := range splitSentences(b.text, MaxTokens) {
				add(part, tokenCount(part))
			}
		}
	}
	emit()
	if len(out) == 0 && title != "" {
		// A document with headings only is still found by its title.
		buf = []string{title}
		emit()
	}
	return out, nil
}

// tokenCount approximates the number of tokens of s: Han characters and
// Latin words.
func tokenCount(s string) int {
	n, inWord := 0, false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			n++
			inWord = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if !inWord {
				n++
			}
			inWord = true
		default:
			inWord = false
		}
	}
	return n
}

// splitSentences cuts prose longer than max tokens into parts of at most
// max tokens, at sentence ends; a single sentence longer than max is cut
// at max.
func splitSentences(s string, max int) []string {
	if tokenCount(s) <= max {
		return []string{s}
	}
	var sentences []string
	start := 0
	for i, r := range s {
		end := false
		switch r {
		case '。', '！', '？', '；', '\n':
			end = true
		case '.', '!', '?', ';':
			next := i + 1
			end = next >= len(s) || s[next] == ' ' || s[next] == '\n'
		}
		if end {
			j := i + utf8.RuneLen(r)
			sentences = append(sentences, s[start:j])
			start = j
		}
	}
	if start < len(s) {
		sentences = append(sentences, s[start:])
	}
	var out []string
	var cur strings.Builder
	n := 0
	for _, sen := range sentences {
		k := tokenCount(sen)
		if n > 0 && n+k > max {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			n = 0
		}
		for k > max { // one sentence longer than max: cut it
			head, tail := cutTokens(sen, max-n)
			cur.WriteString(head)
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			n = 0
			sen, k = tail, tokenCount(tail)
		}
		cur.WriteString(sen)
		n += k
	}
	if t := strings.TrimSpace(cur.String()); t != "" {
		out = append(out, t)
	}
	return out
}

// cutTokens splits s after its first n tokens (at least one).
func cutTokens(s string, n int) (string, string) {
	n = max(n, 1)
	count, inWord := 0, false
	for i, r := range s {
		han := unicode.Is(unicode.Han, r)
		word := !han && (unicode.IsLetter(r) || unicode.IsDigit(r))
		if han || (word && !inWord) {
			if count == n {
				return s[:i], s[i:]
			}
			count++
		}
		inWord = word
	}
	return s, ""
}

// splitLines cuts a block larger than max bytes between lines (a single
// line longer than max is cut at a character boundary).
func splitLines(s string, max int) []string {
	if len(s) <= max {
		return []string{s}
	}
	var out []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		for len(line) > max {
			cut := max
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			out = append(out, line[:cut])
			line = line[cut:]
		}
		if cur.Len()+len(line) > max {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(line)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

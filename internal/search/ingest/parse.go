// Package ingest turns documentation into search chunks: it reads Markdown
// and HTML trees and GitBook spaces, cuts each document into heading-aware
// chunks, and brings an index level with what it read (index.go): only
// what changed is embedded and written, and what disappeared is removed.
package ingest

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Format is a document's markup.
type Format string

const (
	Markdown Format = "markdown"
	HTML     Format = "html"
)

// Document is one document read from a source, before chunking.
type Document struct {
	// Source is the document's path within its collection
	// ("onboarding/vpn.md"), with forward slashes.
	Source string
	URL    string
	// Title, when empty, is taken from the first heading, or the file
	// name.
	Title  string
	Format Format
	Body   []byte
}

// MaxDocumentBytes bounds one document.
const MaxDocumentBytes = 4 << 20

// blockKind is what a block of a document is.
type blockKind int

const (
	paragraph blockKind = iota
	heading
	code  // kept whole
	table // kept whole
)

type block struct {
	kind  blockKind
	level int // heading level (1–6)
	text  string
}

// parse checks d and splits it into blocks. A document that is not text
// (not UTF-8, or with NUL bytes) or too large is refused, naming it.
func parse(d Document) ([]block, error) {
	switch {
	case len(d.Body) > MaxDocumentBytes:
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a document may have", d.Source, len(d.Body), MaxDocumentBytes)
	case !utf8.Valid(d.Body):
		return nil, fmt.Errorf("%s: not UTF-8 text", d.Source)
	case bytes.IndexByte(d.Body, 0) >= 0:
		return nil, fmt.Errorf("%s: contains NUL bytes (a binary file?)", d.Source)
	}
	switch d.Format {
	case Markdown:
		return parseMarkdown(string(d.Body)), nil
	case HTML:
		return parseHTML(d.Body)
	}
	return nil, fmt.Errorf("%s: unknown format %q", d.Source, d.Format)
}

// FormatOf returns the format of a file name by its extension ("" when it
// is not a document).
func FormatOf(name string) Format {
	switch strings.ToLower(path.Ext(name)) {
	case ".md", ".markdown", ".mdx":
		return Markdown
	case ".html", ".htm":
		return HTML
	}
	return ""
}

// parseMarkdown splits Markdown into headings (ATX and setext), fenced code
// blocks, tables and paragraphs (lists and quotes stay in their paragraph).
// Front matter is dropped. An unclosed fence runs to the end, as in
// CommonMark.
func parseMarkdown(s string) []block {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	i := 0
	if len(lines) > 0 && strings.TrimSpace(lines[0]) == "---" {
		for j := 1; j < len(lines); j++ {
			if t := strings.TrimSpace(lines[j]); t == "---" || t == "..." {
				i = j + 1
				break
			}
		}
	}
	var out []block
	var para []string
	flush := func() {
		if len(para) > 0 {
			t := strings.TrimSpace(strings.Join(para, "\n"))
			if t != "" {
				out = append(out, block{kind: paragraph, text: t})
			}
			para = nil
		}
	}
	for ; i < len(lines); i++ {
		line := lines[i]
		trim := strings.TrimLeft(line, " ")
		indent := len(line) - len(trim)
		switch {
		case indent < 4 && (strings.HasPrefix(trim, "```") || strings.HasPrefix(trim, "~~~")):
			flush()
			fence := trim[:3]
			n := len(trim) - len(strings.TrimLeft(trim, fence[:1]))
			body := []string{line}
			for i++; i < len(lines); i++ {
				body = append(body, lines[i])
				t := strings.TrimSpace(lines[i])
				if strings.HasPrefix(t, strings.Repeat(fence[:1], n)) && strings.Trim(t, fence[:1]) == "" {
					break
				}
			}
			out = append(out, block{kind: code, text: strings.Join(body, "\n")})
		case indent < 4 && isATX(trim):
			flush()
			level := len(trim) - len(strings.TrimLeft(trim, "#"))
			text := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(trim[level:]), "#"))
			out = append(out, block{kind: heading, level: level, text: text})
		case indent < 4 && strings.HasPrefix(trim, "|"):
			flush()
			body := []string{line}
			for i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|") {
				i++
				body = append(body, lines[i])
			}
			out = append(out, block{kind: table, text: strings.Join(body, "\n")})
		case strings.TrimSpace(line) == "":
			flush()
		case len(para) == 1 && indent < 4 && isSetext(trim) != 0:
			text := strings.TrimSpace(para[0])
			para = nil
			out = append(out, block{kind: heading, level: isSetext(trim), text: text})
		case strings.HasPrefix(trim, "<!--"):
			// An HTML comment: skipped to its end.
			for ; i < len(lines) && !strings.Contains(lines[i], "-->"); i++ {
			}
		default:
			para = append(para, line)
		}
	}
	flush()
	return out
}

func isATX(s string) bool {
	n := len(s) - len(strings.TrimLeft(s, "#"))
	return n >= 1 && n <= 6 && (len(s) == n || s[n] == ' ' || s[n] == '\t')
}

// isSetext returns the level of a setext underline (0: not one).
func isSetext(s string) int {
	t := strings.TrimSpace(s)
	switch {
	case t != "" && strings.Trim(t, "=") == "":
		return 1
	case len(t) >= 2 && strings.Trim(t, "-") == "":
		return 2
	}
	return 0
}

// parseHTML walks an HTML document: headings, <pre> (code), tables (as
// Markdown rows), and the text of paragraphs, list items and other blocks.
// Scripts, styles, navigation, headers, footers and forms are skipped.
func parseHTML(body []byte) ([]block, error) {
	root, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	var out []block
	var text strings.Builder
	flush := func() {
		t := collapse(text.String())
		text.Reset()
		if t != "" {
			out = append(out, block{kind: paragraph, text: t})
		}
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
			return
		}
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Script, atom.Style, atom.Nav, atom.Header, atom.Footer, atom.Form, atom.Noscript, atom.Template, atom.Svg, atom.Title:
				return
			case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
				flush()
				out = append(out, block{kind: heading, level: int(n.Data[1] - '0'), text: collapse(textOf(n))})
				return
			case atom.Pre:
				flush()
				out = append(out, block{kind: code, text: "```\n" + strings.Trim(textOf(n), "\n") + "\n```"})
				return
			case atom.Table:
				flush()
				if t := tableText(n); t != "" {
					out = append(out, block{kind: table, text: t})
				}
				return
			case atom.Br:
				text.WriteString("\n")
			}
		}
		blockish := n.Type == html.ElementNode && isBlockElement(n.DataAtom)
		if blockish {
			flush()
		}
		if n.DataAtom == atom.Li {
			text.WriteString("- ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if blockish {
			flush()
		}
	}
	walk(root)
	flush()
	return out, nil
}

func isBlockElement(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Ul, atom.Ol, atom.Section, atom.Article, atom.Main, atom.Blockquote,
		atom.Dl, atom.Dt, atom.Dd, atom.Figure, atom.Figcaption, atom.Details, atom.Summary, atom.Body, atom.Aside:
		return true
	}
	return false
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && n.DataAtom == atom.Br:
			b.WriteString("\n")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// tableText renders a table's rows as Markdown rows.
func tableText(t *html.Node) string {
	var rows []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == atom.Tr {
			var cells []string
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && (c.DataAtom == atom.Td || c.DataAtom == atom.Th) {
					cells = append(cells, strings.ReplaceAll(collapse(textOf(c)), "|", "\\|"))
				}
			}
			if len(cells) > 0 {
				rows = append(rows, "| "+strings.Join(cells, " | ")+" |")
			}
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(t)
	return strings.Join(rows, "\n")
}

// collapse folds runs of white space into one space (keeping line breaks
// as spaces), and trims.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

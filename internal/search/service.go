package search

import (
	"context"
	"errors"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Members resolves, when a person asks, the groups she is in now: a
// membership change takes effect at her next query, with no re-indexing.
type Members interface {
	// GroupsOf returns the ids of the groups user is a member of; none
	// for a user who is disabled. An unknown user is an error.
	GroupsOf(ctx context.Context, userID string) ([]string, error)
}

// Chat completes a conversation (an OpenAI-compatible chat endpoint).
type Chat interface {
	Complete(ctx context.Context, system, user string) (string, error)
}

// Service answers searches for people: it resolves the asker's groups,
// analyses and embeds the query, runs it on the backend, and makes
// snippets and, when asked and configured, an answer with citations.
type Service struct {
	Backend  Backend
	Analyzer Analyzer
	// Embedder is nil when no embedding endpoint is configured: searches
	// are then keyword only, and say so.
	Embedder Embedder
	Members  Members
	// Chat is nil when no chat endpoint is configured: no answers.
	Chat Chat
}

// Query limits.
const (
	MaxQueryBytes = 1000
	MaxK          = 50
	DefaultK      = 10
)

// Request is one search by a person.
type Request struct {
	UserID string
	Query  string
	Mode   Mode // "" for hybrid (keyword when there is no embedder)
	K      int  // 0 for DefaultK
	Answer bool // ask for an answer with citations
}

// Response is the answer to a Request. Everything in it comes from chunks
// the asker may read.
type Response struct {
	Query   string `json:"query"`
	Mode    Mode   `json:"mode"`
	Matched int    `json:"matched"`
	Results []Item `json:"results"`
	// Notices say plainly what the search could not do ("keyword search
	// only: no embedding endpoint is configured").
	Notices []string `json:"notices,omitempty"`
	Answer  *Answer  `json:"answer,omitempty"`
}

// Item is one hit as shown to a person.
type Item struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Source     string   `json:"source"`
	Collection string   `json:"collection"`
	URL        string   `json:"url,omitempty"`
	Breadcrumb []string `json:"breadcrumb"`
	// Snippet is an excerpt of the chunk around the words that matched;
	// Highlighted is the same excerpt, HTML-escaped, with the matches in
	// <mark>…</mark>.
	Snippet     string  `json:"snippet"`
	Highlighted string  `json:"highlighted"`
	Score       float64 `json:"score"`
	KeywordRank int     `json:"keywordRank,omitempty"`
	VectorRank  int     `json:"vectorRank,omitempty"`
}

// Answer is a generated answer and the results it cites.
type Answer struct {
	Text string `json:"text"`
	// Citations are indexes into Response.Results (1-based, as [n] in
	// Text): only results shown, which the asker may read.
	Citations []int `json:"citations"`
}

// Search runs r.
func (s *Service) Search(ctx context.Context, r Request) (*Response, error) {
	q := strings.TrimSpace(r.Query)
	switch {
	case q == "":
		return nil, &Error{Kind: ErrInvalid, Msg: "the query is empty"}
	case len(r.Query) > MaxQueryBytes:
		return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("the query is longer than %d bytes", MaxQueryBytes)}
	case !utf8.ValidString(r.Query) || strings.ContainsRune(r.Query, 0):
		return nil, &Error{Kind: ErrInvalid, Msg: "the query is not valid UTF-8 text"}
	case r.K < 0 || r.K > MaxK:
		return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("the number of results must be between 1 and %d", MaxK)}
	}
	k := r.K
	if k == 0 {
		k = DefaultK
	}
	mode := r.Mode
	resp := &Response{Query: q, Results: []Item{}}
	switch mode {
	case "":
		mode = ModeHybrid
		if s.Embedder == nil {
			mode = ModeKeyword
			resp.Notices = append(resp.Notices, "keyword search only: no embedding endpoint is configured")
		}
	case ModeKeyword, ModeHybrid, ModeVector:
		if mode != ModeKeyword && s.Embedder == nil {
			return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("%s search needs an embedding endpoint, and none is configured: use keyword", mode)}
		}
	default:
		return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("unknown mode %q (keyword, vector or hybrid)", r.Mode)}
	}
	if r.Answer && s.Chat == nil {
		return nil, &Error{Kind: ErrInvalid, Msg: "answers need a chat endpoint, and none is configured"}
	}

	groups, err := s.Members.GroupsOf(ctx, r.UserID)
	if err != nil {
		return nil, err
	}
	meta, err := s.Backend.Meta(ctx)
	if err != nil {
		return nil, err
	}
	if meta.Analyzer != "" && meta.Analyzer != s.Analyzer.Name() {
		return nil, &Error{Kind: ErrMetaMismatch, Msg: "the search index was built with another analyzer and must be rebuilt (gatehouse docs index --rebuild)"}
	}
	var vec []float32
	if mode != ModeKeyword {
		if meta.Model != "" && (meta.Model != s.Embedder.Model() || meta.Dims != s.Embedder.Dims()) {
			if mode == ModeVector {
				return nil, &Error{Kind: ErrMetaMismatch, Msg: "the search index was built with another embedding model and must be rebuilt (gatehouse docs index --rebuild)"}
			}
			mode = ModeKeyword
			resp.Notices = append(resp.Notices, "keyword search only: the index was built with another embedding model and must be rebuilt")
		} else {
			vs, err := s.Embedder.Embed(ctx, []string{q})
			switch {
			case err == nil && (len(vs) != 1 || len(vs[0]) != s.Embedder.Dims()):
				err = errors.New("the embedder answered with the wrong shape")
				fallthrough
			case err != nil:
				if mode == ModeVector {
					return nil, &Error{Kind: ErrUnavailable, Msg: "the embedding endpoint failed; retry later, or search by keyword", Err: err}
				}
				mode = ModeKeyword
				resp.Notices = append(resp.Notices, "keyword search only: the embedding endpoint failed")
			default:
				vec = vs[0]
			}
		}
	}
	resp.Mode = mode
	toks := s.Analyzer.Tokens(q)
	terms := make([]string, len(toks))
	for i, t := range toks {
		terms[i] = t.Term
	}
	res, err := s.Backend.Search(ctx, Query{Terms: terms, Vector: vec, Groups: groups, K: k, Mode: mode})
	if err != nil {
		return nil, err
	}
	resp.Matched = res.Matched
	want := map[string]bool{}
	for _, t := range terms {
		want[t] = true
	}
	for _, h := range res.Hits {
		hl := h.Highlights
		if len(hl) == 0 {
			hl = s.highlights(h.Chunk.Text, want)
		}
		snip, marked := Snippet(h.Chunk.Text, hl, 240)
		resp.Results = append(resp.Results, Item{
			ID: h.Chunk.ID, Title: h.Chunk.Title, Source: h.Chunk.Source, Collection: h.Chunk.Collection, URL: h.Chunk.URL,
			Breadcrumb: nonNil(h.Chunk.Breadcrumb), Snippet: snip, Highlighted: marked, Score: h.Score,
			KeywordRank: h.KeywordRank, VectorRank: h.VectorRank,
		})
	}
	if r.Answer {
		a, err := s.answer(ctx, q, res.Hits)
		if err != nil {
			resp.Notices = append(resp.Notices, "no answer: the chat endpoint failed")
		} else {
			resp.Answer = a
		}
	}
	return resp, nil
}

// highlights are the spans of text whose terms are query terms, merged.
func (s *Service) highlights(text string, want map[string]bool) []Span {
	var out []Span
	for _, t := range s.Analyzer.Tokens(text) {
		if !want[t.Term] {
			continue
		}
		if n := len(out); n > 0 && t.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, t.End)
			continue
		}
		out = append(out, Span{t.Start, t.End})
	}
	return out
}

// Snippet cuts an excerpt of about width runes from text, around the
// densest run of highlights, and returns it plain and as escaped HTML with
// the highlights in <mark>.
func Snippet(text string, hl []Span, width int) (string, string) {
	text = strings.TrimSpace(text)
	start, end := 0, len(text)
	if utf8.RuneCountInString(text) > width {
		// Start a little before the highlight whose window holds most.
		best, bestN := 0, -1
		for i, h := range hl {
			n := 0
			for _, g := range hl[i:] {
				if utf8.RuneCountInString(text[h.Start:min(g.End, len(text))]) > width {
					break
				}
				n++
			}
			if n > bestN {
				best, bestN = i, n
			}
		}
		if len(hl) > 0 {
			start = hl[best].Start
			for back := 0; start > 0 && back < width/6; back++ {
				_, n := utf8.DecodeLastRuneInString(text[:start])
				start -= n
			}
		}
		end = start
		for n := 0; end < len(text) && n < width; n++ {
			_, sz := utf8.DecodeRuneInString(text[end:])
			end += sz
		}
	}
	var plain, marked strings.Builder
	if start > 0 {
		plain.WriteString("…")
		marked.WriteString("…")
	}
	pos := start
	for _, h := range hl {
		if h.End <= start || h.Start >= end {
			continue
		}
		a, b := max(h.Start, pos), min(h.End, end)
		if a >= b {
			continue
		}
		marked.WriteString(html.EscapeString(text[pos:a]))
		marked.WriteString("<mark>" + html.EscapeString(text[a:b]) + "</mark>")
		pos = b
	}
	marked.WriteString(html.EscapeString(text[pos:end]))
	plain.WriteString(text[start:end])
	if end < len(text) {
		plain.WriteString("…")
		marked.WriteString("…")
	}
	return plain.String(), marked.String()
}

// MaxAnswerSources is how many results an answer is drawn from.
const MaxAnswerSources = 5

var citation = regexp.MustCompile(`\[(\d{1,3})\]`)

// answer asks the chat endpoint to answer q from the first hits only (all
// readable by the asker: nothing else is sent), and keeps only the
// citations of sources it was given.
func (s *Service) answer(ctx context.Context, q string, hits []Hit) (*Answer, error) {
	if len(hits) == 0 {
		return &Answer{Text: "", Citations: []int{}}, nil
	}
	hits = hits[:min(len(hits), MaxAnswerSources)]
	var b strings.Builder
	for i, h := range hits {
		fmt.Fprintf(&b, "[%d] %s\n%s\n\n", i+1, strings.Join(append([]string{h.Chunk.Title}, h.Chunk.Breadcrumb...), " › "), h.Chunk.Text)
	}
	fmt.Fprintf(&b, "Question: %s", q)
	system := "You answer questions of new employees from the numbered sources given, and from nothing else. " +
		"Cite the sources you use as [n]. If the sources do not answer the question, say so. Answer in the language of the question."
	text, err := s.Chat.Complete(ctx, system, b.String())
	if err != nil {
		return nil, err
	}
	cited := []int{}
	text = citation.ReplaceAllStringFunc(text, func(m string) string {
		n, _ := strconv.Atoi(m[1 : len(m)-1])
		if n < 1 || n > len(hits) {
			return "" // a source it was not given: not a citation
		}
		if !slices.Contains(cited, n) {
			cited = append(cited, n)
		}
		return m
	})
	slices.Sort(cited)
	return &Answer{Text: strings.TrimSpace(text), Citations: cited}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

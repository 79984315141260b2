package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Source is where documents come from.
type Source interface {
	// Collection names the source as a whole ("dir:/srv/handbook",
	// "gitbook:SPACE").
	Collection() string
	// Documents reads every document, in a stable order. It fails as a
	// whole: an index is changed only from a complete read.
	Documents(ctx context.Context) ([]Document, error)
}

// Limits of one read.
const (
	MaxDocuments  = 20000
	MaxTotalBytes = 512 << 20
)

// Dir is a tree of Markdown and HTML files. Hidden files and directories
// (".git") are skipped, and symbolic links are not followed: a link could
// bring files from outside the tree into the index.
type Dir struct {
	Root string
	// URLPrefix, when set, makes each document's URL URLPrefix + its
	// path.
	URLPrefix string
}

// Collection implements Source: "dir:" and the absolute path of the root.
func (d Dir) Collection() string {
	abs, err := filepath.Abs(d.Root)
	if err != nil {
		abs = d.Root
	}
	return "dir:" + filepath.ToSlash(abs)
}

// Documents implements Source.
func (d Dir) Documents(ctx context.Context) ([]Document, error) {
	info, err := os.Stat(d.Root)
	if err != nil {
		return nil, fmt.Errorf("documents: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("documents: %s is not a directory", d.Root)
	}
	var docs []Document
	total := 0
	err = filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		if p != d.Root && strings.HasPrefix(name, ".") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() || !e.Type().IsRegular() {
			return nil // symbolic links and devices included
		}
		f := FormatOf(name)
		if f == "" {
			return nil
		}
		rel, err := filepath.Rel(d.Root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := e.Info()
		if err != nil {
			return err
		}
		if info.Size() > MaxDocumentBytes {
			return fmt.Errorf("%s: %d bytes, more than the %d a document may have", rel, info.Size(), MaxDocumentBytes)
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		total += len(body)
		if len(docs) >= MaxDocuments || total > MaxTotalBytes {
			return fmt.Errorf("more than %d documents or %d bytes: index the tree in parts", MaxDocuments, MaxTotalBytes)
		}
		doc := Document{Source: rel, Format: f, Body: body}
		if d.URLPrefix != "" {
			doc.URL = d.URLPrefix + rel
		}
		docs = append(docs, doc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("documents: %w", err)
	}
	return docs, nil
}

// GitBook is a GitBook space, read through GitBook's REST API: the pages
// of the space's current revision (GET /v1/spaces/{space}/content/pages),
// then each document page as Markdown (GET
// /v1/spaces/{space}/content/page/{page}?format=markdown).
type GitBook struct {
	Space string
	// BaseURL is the API's ("https://api.gitbook.com" by default).
	BaseURL string
	// Token is a GitBook API token (sent as a bearer token).
	Token string
	// Client makes the requests (the egress policy's client in serve).
	Client *http.Client
	// Sleep waits between retries (time.Sleep by default; tests pass a
	// no-op).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Collection implements Source.
func (g GitBook) Collection() string { return "gitbook:" + g.Space }

type gitbookPage struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Kind     string        `json:"kind"`
	Type     string        `json:"type"`
	Path     string        `json:"path"`
	Pages    []gitbookPage `json:"pages"`
	Markdown string        `json:"markdown"`
	URLs     struct {
		App       string `json:"app"`
		Published string `json:"published"`
	} `json:"urls"`
}

// Documents implements Source.
func (g GitBook) Documents(ctx context.Context) ([]Document, error) {
	if g.Space == "" || strings.ContainsAny(g.Space, "/?#%") {
		return nil, fmt.Errorf("gitbook: %q is not a space id", g.Space)
	}
	if g.Token == "" {
		return nil, errors.New("gitbook: no API token (set GATEHOUSE_GITBOOK_TOKEN)")
	}
	var list struct {
		Pages []gitbookPage `json:"pages"`
	}
	if err := g.get(ctx, "/v1/spaces/"+url.PathEscape(g.Space)+"/content/pages", &list); err != nil {
		return nil, err
	}
	var pages []gitbookPage
	var walk func(ps []gitbookPage)
	walk = func(ps []gitbookPage) {
		for _, p := range ps {
			if p.Type == "document" || (p.Type == "" && p.Kind == "sheet") {
				pages = append(pages, p)
			}
			walk(p.Pages)
		}
	}
	walk(list.Pages)
	if len(pages) > MaxDocuments {
		return nil, fmt.Errorf("gitbook: the space has more than %d pages", MaxDocuments)
	}
	sort.SliceStable(pages, func(i, j int) bool { return pages[i].Path < pages[j].Path })
	docs := make([]Document, 0, len(pages))
	for _, p := range pages {
		var full gitbookPage
		if err := g.get(ctx, "/v1/spaces/"+url.PathEscape(g.Space)+"/content/page/"+url.PathEscape(p.ID)+"?format=markdown", &full); err != nil {
			return nil, err
		}
		src := p.Path
		if src == "" {
			src = p.ID
		}
		u := full.URLs.Published
		if u == "" {
			u = full.URLs.App
		}
		title := full.Title
		if title == "" {
			title = p.Title
		}
		docs = append(docs, Document{Source: src + ".md", URL: u, Title: title, Format: Markdown, Body: []byte(full.Markdown)})
	}
	return docs, nil
}

// get reads one API resource, retrying 429 and 5xx answers (Retry-After
// respected, at most 30 s) up to four times.
func (g GitBook) get(ctx context.Context, p string, v any) error {
	base := g.BaseURL
	if base == "" {
		base = "https://api.gitbook.com"
	}
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	sleep := g.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+p, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+g.Token)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("gitbook: GET %s: %w", path.Clean(p), err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentBytes*2+1))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("gitbook: GET %s: %w", p, err)
		}
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		if retry && attempt < 5 {
			wait := backoff
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = min(time.Duration(s)*time.Second, 30*time.Second)
			}
			backoff *= 2
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			var e struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			_ = json.Unmarshal(body, &e)
			msg := e.Error.Message
			if msg == "" {
				msg = http.StatusText(resp.StatusCode)
			}
			return fmt.Errorf("gitbook: GET %s: %d %s", p, resp.StatusCode, msg)
		}
		if len(body) > MaxDocumentBytes*2 {
			return fmt.Errorf("gitbook: GET %s: the answer is too large", p)
		}
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("gitbook: GET %s: malformed answer: %w", p, err)
		}
		return nil
	}
}

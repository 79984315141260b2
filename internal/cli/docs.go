package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/eval"
	"github.com/gatehouse-id/gatehouse/internal/search/ingest"
)

// docs is `gatehouse docs index|search|status|eval`: documentation search
// (docs/search.md).
func (e *env) docs(args []string) error {
	var (
		groups, urlPrefix, source, user, mode string
		dry, rebuild                          bool
		k                                     int
	)
	subs := map[string]*sub{
		"index": {about: "index a directory of Markdown/HTML or a GitBook space (only what changed; what disappeared is removed)",
			args: []arg{{"DIR|gitbook:SPACE", "a directory tree, or a GitBook space (token in GATEHOUSE_GITBOOK_TOKEN); or --source NAME"}},
			more: true,
			flags: func(fs *flag.FlagSet) func() error {
				fs.StringVar(&groups, "groups", "", "the groups (displayName or id, comma-separated) whose members may read the documents")
				fs.StringVar(&urlPrefix, "url-prefix", "", "a directory's documents' URLs: this prefix + their path")
				fs.StringVar(&source, "source", "", "index the source of this name in the configuration (search.sources) instead")
				fs.BoolVar(&dry, "dry-run", false, "say what would change; change nothing (and embed nothing)")
				fs.BoolVar(&rebuild, "rebuild", false, "empty the index first if it was built with another analyzer or embedding model")
				return nil
			},
			run: func(c *cmd) error {
				if (len(c.pos) == 1) == (source != "") {
					return usagef("docs index: give a directory or gitbook:SPACE, or --source NAME (one of them)")
				}
				if source == "" && groups == "" {
					return usagef("docs index: give --groups, the groups whose members may read these documents")
				}
				s, err := c.a.Search()
				if err != nil {
					return err
				}
				opt := ingest.Options{DryRun: dry, Rebuild: rebuild}
				out := &indexProgress{w: c.e.stderr, on: !c.asJSON && isTerminal(c.e.stderr), start: time.Now()}
				opt.Progress = out.step
				var rep *ingest.Report
				if source != "" {
					rep, err = c.a.IndexSource(c.e.ctx, source, opt)
				} else {
					opt.Groups = splitList(groups)
					src, serr := c.a.SearchSource(c.pos[0], urlPrefix, c.e.getenv)
					if serr != nil {
						return serr
					}
					rep, err = s.Indexer.Index(c.e.ctx, src, opt)
				}
				out.done()
				if err != nil {
					return err
				}
				return c.print(rep, func() {
					verb := "Indexed"
					if rep.DryRun {
						verb = "Would index"
					}
					c.printf("%s %s: %d documents, %d chunks (%d added, %d changed, %d unchanged, %d removed) in %.1fs.\n",
						verb, rep.Collection, rep.Documents, rep.Chunks, rep.Added, rep.Changed, rep.Unchanged, rep.Removed, rep.Seconds)
					for _, src := range rep.Sources {
						c.printf("  changed  %s\n", src)
					}
					for _, src := range rep.Gone {
						c.printf("  removed  %s\n", src)
					}
					if rep.Model == "" {
						c.printf("No embedder is configured: the index serves keyword search only.\n")
					}
				})
			}},
		"search": {about: "search as a user would (her groups now), to check what she finds",
			args: []arg{{"QUERY", "the words to search for"}}, need: "--user USER",
			flags: func(fs *flag.FlagSet) func() error {
				fs.StringVar(&user, "user", "", "the user to search as (id or userName)")
				fs.StringVar(&mode, "mode", "", "keyword, vector or hybrid (default: hybrid, or keyword without an embedder)")
				fs.IntVar(&k, "k", search.DefaultK, "how many results")
				return func() error {
					if user == "" {
						return usagef("docs search: give --user, the user to search as")
					}
					return nil
				}
			},
			run: func(c *cmd) error {
				s, err := c.a.Search()
				if err != nil {
					return err
				}
				id, err := c.userID(user)
				if err != nil {
					return err
				}
				resp, err := s.Service.Search(c.e.ctx, search.Request{UserID: id, Query: c.pos[0], Mode: search.Mode(mode), K: k})
				if err != nil {
					return searchErr(err)
				}
				return c.print(resp, func() {
					for _, n := range resp.Notices {
						fmt.Fprintf(c.e.stderr, "Note: %s.\n", n)
					}
					c.printf("%d results (%s; %d matched):\n", len(resp.Results), resp.Mode, resp.Matched)
					for i, r := range resp.Results {
						where := strings.Join(r.Breadcrumb, " › ")
						if len(r.Breadcrumb) == 0 || r.Breadcrumb[0] != r.Title {
							where = strings.Join(append([]string{r.Title}, r.Breadcrumb...), " › ")
						}
						c.printf("%2d. %s  [%s]\n    %s\n", i+1, where, r.Source, strings.ReplaceAll(r.Snippet, "\n", " "))
					}
				})
			}},
		"status": {about: "what the index holds: collections, chunks, analyzer and model", run: func(c *cmd) error {
			s, err := c.a.Search()
			if err != nil {
				return err
			}
			st, err := s.Backend.Stats(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(st, func() {
				model := st.Model
				if model == "" {
					model = "none (keyword search only)"
				}
				c.printf("Analyzer: %s\nModel:    %s (%d dimensions)\nChunks:   %d in %d documents\n\n", st.Analyzer, model, st.Dims, st.Chunks, st.Sources)
				rows := [][]string{}
				for _, col := range st.Collections {
					rows = append(rows, []string{col.Name, fmt.Sprint(col.Sources), fmt.Sprint(col.Chunks)})
				}
				_ = table(c.e.stdout, []string{"COLLECTION", "DOCUMENTS", "CHUNKS"}, rows)
			})
		}},
		"eval": {about: "run the evaluation set (docs/search.md): nDCG@10 and Recall@10 for keyword, vector and hybrid, and ACL leakage",
			noApp: true, run: func(c *cmd) error {
				rep, err := eval.Run(c.e.ctx, eval.Options{})
				if err != nil {
					return err
				}
				if err := c.print(rep, func() { eval.Print(c.e.stdout, rep) }); err != nil {
					return err
				}
				if rep.Leaks > 0 {
					return exitError{3}
				}
				return nil
			}},
	}
	return e.runGroup(&group{name: "docs", about: "Documentation search: index documents for groups, search as a user, evaluate.",
		order: []string{"index", "search", "status", "eval"}, subs: subs}, args)
}

// userID resolves a user named by id or userName.
func (c *cmd) userID(name string) (string, error) {
	u, err := c.a.Directory.User(c.e.ctx, directory.Profile{}, name, directory.ReadOptions{})
	if err == nil {
		return u.ID, nil
	}
	if !errors.Is(err, directory.ErrNotFound) {
		return "", err
	}
	page, err := c.a.Admin.Users(c.e.ctx, admin.ListQuery{Filter: fmt.Sprintf("userName eq %q", name), Limit: 2})
	if err != nil {
		return "", err
	}
	if len(page.Items) != 1 {
		return "", fmt.Errorf("no user %q (give her id or userName)", name)
	}
	return page.Items[0].ID, nil
}

// searchErr shows a search error by its message.
func searchErr(err error) error {
	var se *search.Error
	if errors.As(err, &se) {
		return errors.New(se.Msg)
	}
	return err
}

// indexProgress draws a run's progress on a terminal (stderr).
type indexProgress struct {
	w     interface{ Write([]byte) (int, error) }
	on    bool
	start time.Time

	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func (p *indexProgress) step(s ingest.Progress) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && s.Done != s.Total {
		return
	}
	p.last = time.Now()
	const width = 30
	n := 0
	if s.Total > 0 {
		n = min(width, width*s.Done/s.Total)
	}
	fmt.Fprintf(p.w, "\r\033[K%-6s [%s%s] %d/%d  %.1fs", s.Phase, strings.Repeat("#", n), strings.Repeat(".", width-n), s.Done, s.Total, time.Since(p.start).Seconds())
	p.drawn = true
}

func (p *indexProgress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

package web

import (
	"context"
	"errors"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/search"
)

// The self-service portal's own pages besides the user's page (Home) and
// the password and factor pages: her profile (read-only) and the
// documentation search.

// Searcher is documentation search as the portal uses it.
type Searcher interface {
	// Search runs a person's query: her groups, read now, decide what it
	// may show.
	Search(ctx context.Context, r search.Request) (*search.Response, error)
	// Allow takes one search from the person's rate limit, or reports how
	// long she must wait.
	Allow(userID string) (bool, time.Duration)
	// Answers reports whether a chat endpoint is configured (the answer
	// mode).
	Answers() bool
}

// SetSearch turns on the search page (and the search box of the user's
// page) with sr.
func (s *Site) SetSearch(sr Searcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.searcher = sr
}

func (s *Site) searchOn() Searcher {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.searcher
}

// SearchPage serves the search page: GET /search for a browser (the app
// sends it here when the request asks for HTML and carries no
// Authorization header; the rest is the JSON API).
func (s *Site) SearchPage(w http.ResponseWriter, r *http.Request) {
	s.wrap(s.searchPage).ServeHTTP(w, r)
}

// searchView is one result on the search page.
type searchView struct {
	N          int // 1-based, the number answers cite
	Title      string
	URL        string
	Source     string
	Breadcrumb []string
	Snippet    template.HTML
}

// current returns the request's session, or sends the browser to sign in
// and come back to resume (nil, having answered).
func (s *Site) current(w http.ResponseWriter, r *http.Request, resume string) *login.Session {
	s.browser(w, r)
	sess, err := s.Current(r)
	if err != nil {
		s.internal(w, r, err)
		return nil
	}
	if sess == nil {
		if !login.SafeResume(resume) {
			resume = "/"
		}
		s.Authenticate(w, r, login.Requirement{}, resume)
		return nil
	}
	return sess
}

func (s *Site) searchPage(w http.ResponseWriter, r *http.Request) {
	l := s.lang(r)
	sr := s.searchOn()
	if sr == nil {
		s.render(w, r, http.StatusNotFound, "error", &page{Title: l.T("error.title"), Message: l.T("err.notfound")})
		return
	}
	q := r.URL.Query().Get("q")
	resume := "/search"
	if q != "" {
		resume += "?q=" + url.QueryEscape(q)
	}
	sess := s.current(w, r, resume)
	if sess == nil {
		return
	}
	pg := &page{L: l, Title: l.T("search.title"), Query: q, SearchOn: true, Wide: true, Answers: sr.Answers()}
	pg.AskAnswer = pg.Answers && r.URL.Query().Get("answer") == "1"
	if u, err := s.login.User(r.Context(), sess.UserID); err == nil {
		pg.UserName = displayName(u.DisplayName, u.UserName)
	}
	if strings.TrimSpace(q) == "" {
		s.render(w, r, http.StatusOK, "search", pg)
		return
	}
	pg.Title = l.F("search.title.q", q)
	if ok, wait := sr.Allow(sess.UserID); !ok {
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		pg.Error = l.F("search.limited", waitText(wait))
		s.render(w, r, http.StatusTooManyRequests, "search", pg)
		return
	}
	resp, err := sr.Search(r.Context(), search.Request{UserID: sess.UserID, Query: q, Answer: pg.AskAnswer})
	var se *search.Error
	switch {
	case err == nil:
	case errors.As(err, &se) && errors.Is(err, search.ErrInvalid):
		pg.Error = l.F("search.invalid", se.Msg)
		s.render(w, r, http.StatusBadRequest, "search", pg)
		return
	case errors.As(err, &se) && (errors.Is(err, search.ErrUnavailable) || errors.Is(err, search.ErrMetaMismatch)),
		errors.Is(err, directory.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.opt.Log.WarnContext(r.Context(), "search page: search unavailable", "err", err)
		w.Header().Set("Retry-After", "5")
		pg.Error = l.T("search.unavailable")
		s.render(w, r, http.StatusServiceUnavailable, "search", pg)
		return
	default:
		s.internal(w, r, err)
		return
	}
	pg.Searched = true
	for _, n := range resp.Notices {
		pg.Notices = append(pg.Notices, l.Notice(n))
	}
	for i, it := range resp.Results {
		v := searchView{N: i + 1, Title: it.Title, URL: safeLink(it.URL), Source: it.Source, Breadcrumb: it.Breadcrumb,
			// Highlighted is the chunk's text HTML-escaped by the search
			// service, with only <mark> added.
			Snippet: template.HTML(it.Highlighted)} //nolint:gosec // escaped by search.Snippet
		if v.Title == "" {
			v.Title = it.Source
		}
		if len(v.Breadcrumb) > 0 && v.Breadcrumb[0] == v.Title {
			v.Breadcrumb = v.Breadcrumb[1:]
		}
		pg.Results = append(pg.Results, v)
	}
	if resp.Answer != nil {
		pg.Answer = answerParts(resp.Answer.Text, len(pg.Results))
	}
	switch n := len(pg.Results); n {
	case 0:
		pg.Message = l.T("search.none")
	case 1:
		pg.Message = l.T("search.count.one")
	default:
		pg.Message = l.F("search.count", n)
	}
	s.render(w, r, http.StatusOK, "search", pg)
}

// answerPart is a run of an answer's text, or a citation of result N.
type answerPart struct {
	Text string
	N    int
}

// citationRE is a citation in an answer: [n].
var citationRE = regexp.MustCompile(`\[(\d{1,3})\]`)

// answerParts cuts an answer's text into text and citations of the
// results shown (1…results); other bracketed numbers stay text. The text
// is the chat model's: the template escapes it like any other text.
func answerParts(text string, results int) []answerPart {
	var out []answerPart
	pos := 0
	for _, m := range citationRE.FindAllStringSubmatchIndex(text, -1) {
		n, err := strconv.Atoi(text[m[2]:m[3]])
		if err != nil || n < 1 || n > results {
			continue
		}
		if m[0] > pos {
			out = append(out, answerPart{Text: text[pos:m[0]]})
		}
		out = append(out, answerPart{N: n})
		pos = m[1]
	}
	if pos < len(text) {
		out = append(out, answerPart{Text: text[pos:]})
	}
	return out
}

// profileRow is one attribute on the profile page.
type profileRow struct {
	Label  string
	Values []string
}

// profilePage shows the person's own directory record, read-only: what
// Gatehouse holds about her and provisions to her applications.
func (s *Site) profilePage(w http.ResponseWriter, r *http.Request) {
	sess := s.current(w, r, "/profile")
	if sess == nil {
		return
	}
	u, err := s.login.Profile(r.Context(), sess.UserID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	l := s.lang(r)
	pg := &page{L: l, Title: l.T("profile.title"), UserName: displayName(u.DisplayName, u.UserName), SearchOn: s.searchOn() != nil, Wide: true}
	pg.Profile = profileRows(l, u)
	s.render(w, r, http.StatusOK, "profile", pg)
}

// profileRows lists the attributes a person sees of herself: the SCIM
// core and enterprise attributes people recognise, and her groups. Not
// her password, nor the ids and external ids applications use.
func profileRows(l *Lang, u *directory.User) []profileRow {
	var rows []profileRow
	add := func(key string, vals ...string) {
		var keep []string
		for _, v := range vals {
			if v = strings.TrimSpace(v); v != "" {
				keep = append(keep, v)
			}
		}
		if len(keep) > 0 {
			rows = append(rows, profileRow{Label: l.T("profile." + key), Values: keep})
		}
	}
	str := func(keys ...string) string {
		var v any = map[string]any(u.Attrs)
		for _, k := range keys {
			m, ok := v.(map[string]any)
			if !ok {
				return ""
			}
			v = m[k]
		}
		s, _ := v.(string)
		return s
	}
	multi := func(name string) []string {
		list, _ := u.Attrs[name].([]any)
		var out []string
		for _, el := range list {
			m, _ := el.(map[string]any)
			v, _ := m["value"].(string)
			if v == "" {
				continue
			}
			if t, _ := m["type"].(string); t != "" {
				v += " (" + t + ")"
			}
			out = append(out, v)
		}
		return out
	}
	add("userName", u.UserName)
	add("displayName", u.DisplayName)
	name := str("name", "formatted")
	if name == "" {
		name = strings.TrimSpace(str("name", "givenName") + " " + str("name", "familyName"))
	}
	add("name", name)
	add("title.attr", str("title"))
	add("emails", multi("emails")...)
	add("phoneNumbers", multi("phoneNumbers")...)
	add("employee", str(directory.EnterpriseURN, "employeeNumber"))
	add("organization", str(directory.EnterpriseURN, "organization"))
	add("department", str(directory.EnterpriseURN, "department"))
	add("manager", str(directory.EnterpriseURN, "manager", "displayName"))
	add("language", str("preferredLanguage"))
	add("locale", str("locale"))
	add("timezone", str("timezone"))
	var groups []string
	for _, g := range u.Groups {
		groups = append(groups, g.DisplayName)
	}
	add("groups", groups...)
	return rows
}

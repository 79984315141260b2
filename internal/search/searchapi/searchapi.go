// Package searchapi is documentation search's HTTP API: GET /search for a
// person, asked either by an application's token acting for her (the
// docs:search scope and the Gatehouse-User header) or by her own
// Gatehouse SSO session (a browser): whoever asks is resolved by an Asker,
// and her groups are read when she asks. Searches are rate limited per
// person (a session) and per application (a token).
package searchapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/httpquery"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/search"
)

// Asker says who is asking.
type Asker interface {
	// Who returns whom the request searches for, or an *Error to answer
	// with. With an error, Who may still say who asked (an application
	// authenticated, asking for a user it cannot have): the request then
	// counts against that asker's rate limit.
	Who(r *http.Request) (Who, error)
}

// Who is whom a request searches for, and who asks.
type Who struct {
	// UserID is the person whose groups decide what the search may show.
	UserID string
	// AppID is the application whose token asks for her; "" when she
	// asks herself, with her session.
	AppID string
}

// Error is an answer the API gives instead of results.
type Error struct {
	Status  int
	Code    string // "invalid_request", "invalid_token", "insufficient_scope", …
	Message string
	Header  http.Header
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// UserHeader names the user an application searches for: her id or her
// userName.
const UserHeader = "Gatehouse-User"

// Authenticator checks a bearer credential.
type Authenticator interface {
	Authenticate(ctx context.Context, header, client string) (*auth.Principal, error)
}

// AppAsker is an application acting for a user: a credential with the
// docs:search scope, and the user named in the Gatehouse-User header,
// who must be inside the application's synchronization scope.
type AppAsker struct {
	Auth       Authenticator
	Dir        *directory.Service
	Schemas    *schema.Registry
	ClientAddr func(*http.Request) string
}

// Who implements Asker.
func (a AppAsker) Who(r *http.Request) (Who, error) {
	// A header sent twice is ambiguous — a proxy may read the first, we
	// the other (which user, which credential?): refused.
	for _, h := range []string{"Authorization", UserHeader} {
		if len(r.Header.Values(h)) > 1 {
			return Who{}, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "send the " + h + " header once"}
		}
	}
	authz := r.Header.Get("Authorization")
	p, err := a.Auth.Authenticate(r.Context(), authz, a.ClientAddr(r))
	if err != nil {
		var te *auth.ThrottledError
		if errors.As(err, &te) {
			secs := int(math.Ceil(te.RetryAfter.Seconds()))
			return Who{}, &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "too many failed authentications; retry later",
				Header: http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}}}
		}
		if errors.Is(err, auth.ErrUnauthenticated) {
			challenge, msg := `Bearer realm="gatehouse"`, "a bearer token with the docs:search scope is required"
			if authz != "" {
				challenge += `, error="invalid_token"`
				msg = "the bearer token is invalid, expired or disabled"
			}
			return Who{}, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: msg, Header: http.Header{"Www-Authenticate": {challenge}}}
		}
		return Who{}, err
	}
	logging.SetCaller(r.Context(), p.App.ID)
	if !p.Scopes.Has(auth.ScopeDocsSearch) {
		return Who{AppID: p.App.ID}, &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Message: "the credential does not have the docs:search scope",
			Header: http.Header{"Www-Authenticate": {`Bearer realm="gatehouse", error="insufficient_scope", scope="docs:search"`}}}
	}
	name := strings.TrimSpace(r.Header.Get(UserHeader))
	if name == "" || len(name) > directory.MaxNameLen {
		return Who{AppID: p.App.ID}, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "name the user to search for in the " + UserHeader + " header (her id or userName)"}
	}
	prof := p.Profile()
	u, err := a.Dir.User(r.Context(), prof, name, directory.ReadOptions{})
	if errors.Is(err, directory.ErrNotFound) {
		u, err = a.byUserName(r.Context(), prof, name)
	}
	if errors.Is(err, directory.ErrNotFound) {
		return Who{AppID: p.App.ID}, &Error{Status: http.StatusNotFound, Code: "unknown_user", Message: "no such user (in this application's scope)"}
	}
	if err != nil {
		return Who{AppID: p.App.ID}, err
	}
	return Who{UserID: u.ID, AppID: p.App.ID}, nil
}

// byUserName finds a user by userName, inside the application's scope.
func (a AppAsker) byUserName(ctx context.Context, prof directory.Profile, name string) (*directory.User, error) {
	e, err := filter.Parse("userName eq " + strconv.Quote(name))
	if err != nil {
		return nil, directory.ErrNotFound // not a userName anyone can have
	}
	if err := filter.Resolve(e, a.Schemas.User); err != nil {
		return nil, err
	}
	page, err := a.Dir.Users(ctx, prof, directory.Query{Limit: 2, Filter: e})
	if err != nil {
		return nil, err
	}
	if len(page.Items) != 1 {
		return nil, directory.ErrNotFound
	}
	return page.Items[0], nil
}

// API serves GET /search.
type API struct {
	Service *search.Service
	Asker   Asker
	// Limiter, when set, limits searches per person and per application
	// (429 with Retry-After).
	Limiter *Limiter
	Log     *slog.Logger
}

// ServeHTTP answers GET /search?q=…[&mode=keyword|vector|hybrid][&k=N][&answer=true].
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		a.fail(w, r, &Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Message: r.Method + " is not allowed here"})
		return
	}
	who, err := a.Asker.Who(r)
	if a.Limiter != nil && (who.AppID != "" || who.UserID != "") {
		// Before the error, if any: an application probing for users
		// spends its budget like one searching.
		if ok, wait := a.Limiter.Allow(who); !ok {
			a.fail(w, r, limited(wait))
			return
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q, err := httpquery.Parse(r.URL.RawQuery)
	if err != nil {
		a.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "the query string is malformed: " + err.Error()})
		return
	}
	req := search.Request{UserID: who.UserID, Query: q.Get("q"), Mode: search.Mode(q.Get("mode"))}
	for key, vals := range q {
		switch key {
		case "q", "mode", "k", "answer":
			if len(vals) > 1 {
				a.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: key + " is given more than once"})
				return
			}
		default:
			a.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "unknown parameter " + strconv.Quote(key) + " (q, mode, k, answer)"})
			return
		}
	}
	if s := q.Get("k"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			a.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "k must be a whole number between 1 and " + strconv.Itoa(search.MaxK)})
			return
		}
		req.K = n
	}
	switch q.Get("answer") {
	case "", "false":
	case "true":
		req.Answer = true
	default:
		a.fail(w, r, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: "answer must be true or false"})
		return
	}
	resp, err := a.Service.Search(r.Context(), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// limited is the answer to an asker over her limit: 429, and how many
// whole seconds to wait in Retry-After.
func limited(wait time.Duration) *Error {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Message: "too many searches; retry in " + strconv.Itoa(secs) + " s",
		Header:  http.Header{"Retry-After": {strconv.Itoa(secs)}}}
}

// fail answers with an error document: {"error": code, "message": …}.
// Messages name the request's own mistakes and never what the asker may
// not read.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	var se *search.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &se) && (errors.Is(err, search.ErrInvalid) || errors.Is(err, search.ErrUnknownUser)):
		e = &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: se.Msg}
		if errors.Is(err, search.ErrUnknownUser) {
			e = &Error{Status: http.StatusNotFound, Code: "unknown_user", Message: se.Msg}
		}
	case errors.As(err, &se) && errors.Is(err, search.ErrMetaMismatch):
		e = &Error{Status: http.StatusServiceUnavailable, Code: "index_rebuild_needed", Message: se.Msg}
	case errors.As(err, &se) && errors.Is(err, search.ErrUnavailable), errors.Is(err, directory.ErrUnavailable):
		e = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "search is unavailable; retry later",
			Header: http.Header{"Retry-After": {"5"}}}
		a.Log.WarnContext(r.Context(), "search unavailable", "err", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the search took too long; retry later"}
	default:
		a.Log.ErrorContext(r.Context(), "search failed", "err", err)
		e = &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal error; the server log has details (request id in X-Request-Id)"}
	}
	for k, v := range e.Header {
		w.Header()[k] = v
	}
	logging.SetFailure(r.Context(), strconv.Itoa(e.Status))
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "message": e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

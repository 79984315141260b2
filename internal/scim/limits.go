package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Lists and searches cost what their filter, sort and page size make them
// cost: "userName eq …" is one index lookup, a hundred "emails.value ew …"
// terms sorted by displayName read and sort every user. One client sending
// many of the second kind at once would take every database connection and
// every CPU, and starve everyone's point reads. So:
//
//   - a list whose filter does not pin it to a few rows through an index is
//     expensive (indexed below); at most Config.ExpensiveQueries of them
//     run at once, and at most Config.ExpensiveQueriesPerApp for one
//     application. A request waits up to Config.QueueWait for its turn,
//     then is refused: 429 when its application has its share running, 503
//     when all the slots are taken (both with Retry-After);
//   - every list runs with a time budget (Config.QueryTimeout), as a context
//     deadline the stores honour in the database (SQLite interrupts the
//     statement, PostgreSQL is sent a cancel request). An expensive list
//     that runs out of time is 400 tooMany: it would again; an indexed one
//     that does is 503, since then the database is struggling. A list of
//     users that reads one user at most, through a unique index (bounded),
//     is marked pinned (directory.Query.Pinned): SQLite, whose readers
//     wait for no lock, runs it as a point read, without the budget.
//
// Point reads (GET /Users/{id}) and writes are neither limited nor budgeted
// here; the stores keep long lists off the connections point reads use.

// Default limits.
const (
	DefaultQueryTimeout = 10 * time.Second
	DefaultQueueWait    = time.Second
)

// maxPinnedComparisons bounds the comparisons of a filter that still
// counts as pinned: an indexed equality and-ed with a few other conditions.
const maxPinnedComparisons = 8

// indexed lists the attributes whose eq comparison an index answers in
// both stores, by resource type: unique columns, the email index, and
// group membership by member id.
var indexed = map[string]map[string]bool{
	schema.UserURN: {
		schema.UserURN + ":id": true, schema.UserURN + ":userName": true, schema.UserURN + ":externalId": true,
		schema.UserURN + ":emails.value": true,
	},
	schema.GroupURN: {
		schema.GroupURN + ":id": true, schema.GroupURN + ":displayName": true, schema.GroupURN + ":externalId": true,
		schema.GroupURN + ":members.value": true,
	},
}

// expensive reports whether a list with filter e (nil: none) on resource
// type rt may have to read many rows: unless e pins it through an index,
// it is.
func expensive(rt *schema.ResourceType, e filter.Expr) bool {
	if e == nil {
		return true
	}
	n := 0
	filter.Walk(e, func(x filter.Expr) bool {
		if _, ok := x.(*filter.Compare); ok {
			n++
		}
		return true
	})
	return n > maxPinnedComparisons || !pinned(indexed[rt.Schema.ID], e)
}

// pinned reports whether e matches only rows an index finds: an indexed
// equality, a conjunction with one, or a disjunction of such.
func pinned(idx map[string]bool, e filter.Expr) bool {
	switch x := e.(type) {
	case *filter.Compare:
		return x.Op == filter.Eq && x.Value.Kind == filter.KindString && x.Path.Resolved() && idx[x.Path.Ref.String()]
	case *filter.ValuePath:
		return pinned(idx, x.Filter)
	case *filter.Logical:
		if x.Or {
			return pinned(idx, x.Left) && pinned(idx, x.Right)
		}
		return pinned(idx, x.Left) || pinned(idx, x.Right)
	}
	return false
}

// unique lists the attributes a UNIQUE index keys in both stores, by
// resource type: an eq comparison on one matches at most one row (an
// externalId: one in the caller's domain). Users only: a group's row
// brings all its members, which may be many.
var unique = map[string]map[string]bool{
	schema.UserURN: {
		schema.UserURN + ":id": true, schema.UserURN + ":userName": true, schema.UserURN + ":externalId": true,
	},
}

// bounded reports whether a list with filter e on resource type rt reads
// one user at most, found through a unique index: e is one eq comparison
// on a unique attribute, with nothing and-ed or or-ed to it. (A cheap list
// may still read many rows: an email many users share, a group and its
// members, or a condition beside the equality that SQL evaluates over a
// whole table, as `emails.value co` does.) Such a list is pinned for the
// store (directory.Query.Pinned).
func bounded(rt *schema.ResourceType, e filter.Expr) bool {
	x, ok := e.(*filter.Compare)
	return ok && x.Op == filter.Eq && x.Value.Kind == filter.KindString && x.Path.Resolved() && unique[rt.Schema.ID][x.Path.Ref.String()]
}

// limiter bounds the expensive lists running at once, in all and per
// application.
type limiter struct {
	perApp int
	wait   time.Duration
	global chan struct{}

	mu   sync.Mutex
	apps map[string]*appSlots // applications with lists running or waiting
}

type appSlots struct {
	sem   chan struct{}
	users int // running or waiting
}

func newLimiter(global, perApp int, wait time.Duration) *limiter {
	return &limiter{perApp: perApp, wait: wait, global: make(chan struct{}, global), apps: map[string]*appSlots{}}
}

// Reasons a list is refused or stopped, as OnLimit reports them.
const (
	LimitApp    = "app"    // the application has its share of expensive lists running
	LimitGlobal = "global" // every slot for expensive lists is taken
	LimitBudget = "budget" // a list ran out of its time budget
	LimitBusy   = "busy"   // a list waited for a database connection until too little of its budget was left
)

// acquire waits (up to l.wait) for a slot for an expensive list of app. It
// returns the function that gives the slot back, or why there is none
// (LimitApp, LimitGlobal, or ctx's error).
func (l *limiter) acquire(ctx context.Context, app string) (func(), error) {
	l.mu.Lock()
	a := l.apps[app]
	if a == nil {
		a = &appSlots{sem: make(chan struct{}, l.perApp)}
		l.apps[app] = a
	}
	a.users++
	l.mu.Unlock()
	leave := func() {
		l.mu.Lock()
		if a.users--; a.users == 0 {
			delete(l.apps, app)
		}
		l.mu.Unlock()
	}
	timer := time.NewTimer(l.wait)
	defer timer.Stop()
	// Each wait first tries without waiting: a free slot wins over a wait
	// that ran out at the same moment (select picks among ready cases at
	// random).
	select {
	case a.sem <- struct{}{}:
	default:
		select {
		case a.sem <- struct{}{}:
		case <-timer.C:
			leave()
			return nil, errLimitApp
		case <-ctx.Done():
			leave()
			return nil, ctx.Err()
		}
	}
	select {
	case l.global <- struct{}{}:
	default:
		select {
		case l.global <- struct{}{}:
		case <-timer.C:
			<-a.sem
			leave()
			return nil, errLimitGlobal
		case <-ctx.Done():
			<-a.sem
			leave()
			return nil, ctx.Err()
		}
	}
	return func() {
		<-l.global
		<-a.sem
		leave()
	}, nil
}

var (
	errLimitApp    = errors.New(LimitApp)
	errLimitGlobal = errors.New(LimitGlobal)
)

// listCall is the context of a list or search: ctx carries its time
// budget; done must be called when the database work is over.
type listCall struct {
	ctx       context.Context
	done      func()
	expensive bool
}

// startList admits a list or search (its plans, one per resource type
// searched) for application app: it waits for a slot when the list is
// expensive, and sets the time budget.
func (s *Server) startList(r *http.Request, app string, plans ...*listPlan) (*listCall, error) {
	lc := &listCall{}
	for _, pl := range plans {
		lc.expensive = lc.expensive || pl.expensive
	}
	release := func() {}
	if lc.expensive {
		rel, err := s.limits.acquire(r.Context(), app)
		if err != nil {
			return nil, s.limitError(err)
		}
		release = rel
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	lc.ctx = ctx
	lc.done = func() {
		cancel()
		release()
	}
	return lc, nil
}

// check turns an error of the list's database work into the answer for a
// list that ran out of its time budget (the client's own cancellation and
// other errors pass through).
func (s *Server) check(r *http.Request, lc *listCall, err error) error {
	if err == nil {
		return nil
	}
	if r.Context().Err() != nil {
		// The client went (or the server stops) while the list waited or
		// ran: that decides the answer (499, or the stop's 503), whatever
		// ended the statement — its budget's end too, never a 500.
		return fmt.Errorf("%w: %w", r.Context().Err(), err)
	}
	if errors.Is(err, directory.ErrBusy) {
		// Its budget went waiting for a database connection: a refusal for
		// load, counted and not logged as a fault, as a refused slot is.
		s.onLimit(LimitBusy)
		return &Error{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}, Detail: directory.Message(err)}
	}
	if !errors.Is(lc.ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	s.onLimit(LimitBudget)
	budget := s.cfg.QueryTimeout.String()
	if lc.expensive {
		return &Error{Status: http.StatusBadRequest, ScimType: "tooMany", Err: err,
			Detail: "the query did not finish within its time budget (" + budget + "): narrow the filter with an indexed equality (id, userName, externalId, emails.value; a group's displayName), ask for fewer results or drop sortBy"}
	}
	return &Error{Status: http.StatusServiceUnavailable, Err: err, Header: http.Header{"Retry-After": {"1"}},
		Detail: "the database did not answer within the time budget (" + budget + "); retry later"}
}

// limitError is the answer for a list refused a slot.
func (s *Server) limitError(err error) error {
	retry := http.Header{"Retry-After": {strconv.Itoa(max(1, int(s.cfg.QueueWait.Seconds())))}}
	switch {
	case errors.Is(err, errLimitApp):
		s.onLimit(LimitApp)
		return &Error{Status: http.StatusTooManyRequests, Header: retry,
			Detail: "too many expensive queries (filters without an indexed equality, or none) from this application at once: at most " +
				strconv.Itoa(s.cfg.ExpensiveQueriesPerApp) + " run together; retry later"}
	case errors.Is(err, errLimitGlobal):
		s.onLimit(LimitGlobal)
		return &Error{Status: http.StatusServiceUnavailable, Header: retry,
			Detail: "the server is running as many expensive queries as it allows; retry later"}
	}
	// The client left while waiting: nobody reads the answer.
	return &Error{Status: http.StatusServiceUnavailable, Detail: "the request ended while waiting for its turn"}
}

func (s *Server) onLimit(reason string) {
	if s.cfg.OnLimit != nil {
		s.cfg.OnLimit(reason)
	}
}

// Admit admits a listing made elsewhere than this endpoint (the admin
// API's and the console's, by caller) to the same slots as its own: when
// filter e (nil: none) on rt is expensive, it waits for a slot as a SCIM
// list does. It returns the function that gives the slot back, or
// directory.ErrUnavailable when none came in time.
func (s *Server) Admit(ctx context.Context, caller string, rt *schema.ResourceType, e filter.Expr) (func(), error) {
	if !expensive(rt, e) {
		return func() {}, nil
	}
	release, err := s.limits.acquire(ctx, caller)
	if err != nil {
		if name := err.Error(); name == LimitApp || name == LimitGlobal {
			s.onLimit(name)
		}
		return nil, directory.Errorf(directory.ErrUnavailable, "filter", "too many searches that no index answers are running: retry shortly, or narrow the filter with an indexed equality (id, userName, externalId, emails.value; a group's displayName)")
	}
	return release, nil
}

package scim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

func TestExpensive(t *testing.T) {
	reg, err := schema.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rt     *schema.ResourceType
		filter string
		want   bool
	}{
		{reg.User, "", true},
		{reg.User, `userName eq "a@example.com"`, false},
		{reg.User, `USERNAME eq "a@example.com"`, false},
		{reg.User, `externalId eq "e1"`, false},
		{reg.User, `id eq "x"`, false},
		{reg.User, `emails.value eq "a@example.com"`, false},
		{reg.User, `emails[value eq "a@example.com"]`, false},
		{reg.User, `emails[type eq "work" and value eq "a@example.com"]`, false},
		{reg.User, `userName eq "a" and active eq true`, false},
		{reg.User, `userName eq "a" or externalId eq "b"`, false},
		{reg.User, `userName eq "a" or displayName eq "b"`, true},
		{reg.User, `displayName eq "A"`, true},
		{reg.User, `userName sw "a"`, true},
		{reg.User, `userName ne "a"`, true},
		{reg.User, `not (userName eq "a")`, true},
		{reg.User, `emails.value ew "@example.com"`, true},
		{reg.User, `emails[type eq "work"]`, true},
		{reg.User, `active eq true`, true},
		{reg.User, `userName eq "a" and (emails.value ew "1" or emails.value ew "2" or emails.value ew "3" or emails.value ew "4" or emails.value ew "5" or emails.value ew "6" or emails.value ew "7" or emails.value ew "8")`, true},
		{reg.Group, `displayName eq "Sales"`, false},
		{reg.Group, `members.value eq "u1"`, false},
		{reg.Group, `members[value eq "u1"]`, false},
		{reg.Group, `displayName co "S"`, true},
		{reg.Group, `externalId pr`, true},
	}
	for _, tt := range tests {
		var e filter.Expr
		if tt.filter != "" {
			var err error
			if e, err = filter.Parse(tt.filter); err != nil {
				t.Fatal(err)
			}
			if err := filter.Resolve(e, tt.rt); err != nil {
				t.Fatal(err)
			}
		}
		if got := expensive(tt.rt, e); got != tt.want {
			t.Errorf("%s %q: expensive = %v, want %v", tt.rt.Name, tt.filter, got, tt.want)
		}
	}
}

// TestBounded: only a list that reads one user at most, through a unique
// index, is pinned for the store (directory.Query.Pinned): not every cheap
// one, since an indexed equality may match many rows (a shared email, a
// group's members) and a condition beside it may read a whole table.
func TestBounded(t *testing.T) {
	reg, err := schema.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{reg: reg, cfg: Config{DefaultPageSize: 100, MaxPageSize: 1000}}
	for _, tt := range []struct {
		rt     *schema.ResourceType
		filter string
		want   bool
	}{
		{reg.User, `userName eq "a@example.com"`, true},
		{reg.User, `USERNAME eq "a@example.com"`, true},
		{reg.User, `externalId eq "e1"`, true},
		{reg.User, `id eq "x"`, true},
		// A group brings its members, however many.
		{reg.Group, `displayName eq "Sales"`, false},
		{reg.Group, `externalId eq "g1"`, false},
		{reg.Group, `id eq "g"`, false},
		{reg.User, "", false},
		{reg.User, `userName ne "a"`, false},
		{reg.User, `userName sw "a"`, false},
		{reg.User, `displayName eq "A"`, false},
		{reg.User, `emails.value eq "a@example.com"`, false},
		{reg.User, `emails[value eq "a@example.com"]`, false},
		{reg.User, `userName eq "a" and active eq true`, false},
		{reg.User, `userName eq "a" and (emails.value co "1" or emails.value co "2")`, false},
		{reg.User, `userName eq "a" or externalId eq "b"`, false},
		{reg.User, `not (userName eq "a")`, false},
		{reg.Group, `members.value eq "u1"`, false},
		{reg.Group, `displayName co "S"`, false},
	} {
		pl, err := s.plan(tt.rt, listRequest{filter: tt.filter, count: -1}, nil)
		if err != nil || pl.query.Pinned != tt.want {
			t.Errorf("%s %q: planned %v, Pinned %v, want %v", tt.rt.Name, tt.filter, err, pl != nil && pl.query.Pinned, tt.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(2, 1, 20*time.Millisecond)
	ctx := context.Background()
	outcome := func(app string) (func(), string) {
		rel, err := l.acquire(ctx, app)
		switch {
		case err == nil:
			return rel, "ok"
		case errors.Is(err, errLimitApp):
			return nil, LimitApp
		case errors.Is(err, errLimitGlobal):
			return nil, LimitGlobal
		}
		t.Fatal(err)
		return nil, ""
	}
	var got []string
	relA, o := outcome("a")
	got = append(got, o)
	_, o = outcome("a") // a has its one slot
	got = append(got, o)
	relB, o := outcome("b")
	got = append(got, o)
	_, o = outcome("c") // both slots taken
	got = append(got, o)
	relA()
	relC, o := outcome("c")
	got = append(got, o)
	relB()
	relC()
	if diff := cmp.Diff([]string{"ok", LimitApp, "ok", LimitGlobal, "ok"}, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if len(l.apps) != 0 || len(l.global) != 0 {
		t.Errorf("after every release: %d applications, %d global slots held", len(l.apps), len(l.global))
	}
	// A request whose client leaves while it waits gives up its place.
	rel, _ := outcome("a")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.acquire(cctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("acquire with its context cancelled: %v", err)
	}
	rel()
	if len(l.apps) != 0 {
		t.Errorf("applications left: %d", len(l.apps))
	}
}

// TestCheckBusy: a list whose time budget ran out is 400 tooMany when it
// is expensive and 503 otherwise, but one whose budget went waiting for a
// connection (the store's ErrBusy) is 503 with Retry-After either way: to
// narrow its filter would not help it.
func TestCheckBusy(t *testing.T) {
	s := &Server{cfg: Config{QueryTimeout: time.Millisecond}}
	r := httptest.NewRequest("GET", "/scim/v2/Users", nil)
	for _, expensive := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		<-ctx.Done()
		lc := &listCall{ctx: ctx, expensive: expensive}
		busy := &directory.Error{Kind: directory.ErrBusy, Op: "list", Msg: "taken"}
		if got := asError(s.check(r, lc, busy)); got.Status != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "" || logged(got) {
			t.Errorf("busy, expensive %v: %+v (logged as a fault %v)", expensive, got, logged(got))
		}
		ran := asError(s.check(r, lc, ctx.Err()))
		if want := map[bool]int{true: http.StatusBadRequest, false: http.StatusServiceUnavailable}[expensive]; ran.Status != want {
			t.Errorf("out of time, expensive %v: %d, want %d", expensive, ran.Status, want)
		}
		// Its client gone as well: the client's going decides (499).
		rctx, rcancel := context.WithCancel(context.Background())
		rcancel()
		if err := s.check(r.WithContext(rctx), lc, ctx.Err()); !errors.Is(err, context.Canceled) {
			t.Errorf("out of time and the client gone, expensive %v: %v", expensive, err)
		}
		cancel()
	}
}

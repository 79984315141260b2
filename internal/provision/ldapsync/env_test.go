package ldapsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// gatehouse is an empty Gatehouse: a SQLite store and the directory
// service over it.
type gatehouse struct {
	ctx     context.Context
	store   *sqlite.Store
	dir     *directory.Service
	reg     *schema.Registry
	lastSeq int64 // events seen by newEvents
	// as is the profile the helpers read with: the last connector's
	// provisioning domain, whose externalIds they show.
	as directory.Profile
}

func newGatehouse(t testing.TB) *gatehouse {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := schema.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.NewService(st, directory.Options{NewID: func() string { return uuid.Must(uuid.NewV7()).String() }})
	return &gatehouse{ctx: ctx, store: st, dir: dir, reg: reg}
}

func (g *gatehouse) syncer(t testing.TB, c ldapsync.Config, env map[string]string) *ldapsync.Syncer {
	t.Helper()
	s, err := ldapsync.New(c, ldapsync.Deps{Dir: g.dir, Links: g.store, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	g.as = directory.Profile{Domain: c.Scope()}
	return s
}

// run syncs once and fails the test on a run error.
func run(t testing.TB, s *ldapsync.Syncer, opt ldapsync.Options) *ldapsync.Summary {
	t.Helper()
	sum, err := s.Run(context.Background(), opt)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return sum
}

// user returns the Gatehouse user named name, or nil.
func (g *gatehouse) user(t testing.TB, name string) *directory.User {
	t.Helper()
	us := g.users(t, "userName eq "+jsonString(name))
	if len(us) == 0 {
		return nil
	}
	return us[0]
}

func (g *gatehouse) users(t testing.TB, f string) []*directory.User {
	t.Helper()
	q := directory.Query{Limit: 100000, Read: directory.ReadOptions{Groups: true}}
	if f != "" {
		e, err := filter.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := filter.Resolve(e, g.reg.User); err != nil {
			t.Fatal(err)
		}
		q.Filter = e
	}
	p, err := g.dir.Users(g.ctx, g.as, q)
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func (g *gatehouse) group(t testing.TB, name string) *directory.Group {
	t.Helper()
	e, err := filter.Parse("displayName eq " + jsonString(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := filter.Resolve(e, g.reg.Group); err != nil {
		t.Fatal(err)
	}
	p, err := g.dir.Groups(g.ctx, g.as, directory.Query{Filter: e, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) == 0 {
		return nil
	}
	gr, err := g.dir.Group(g.ctx, g.as, p.Items[0].ID, directory.ReadOptions{Members: true})
	if err != nil {
		t.Fatal(err)
	}
	return gr
}

// orgPath returns the names from the root down to organization id
// ("Root/People/Engineering/Platform").
func (g *gatehouse) orgPath(t testing.TB, id string) string {
	t.Helper()
	orgs, err := g.dir.Orgs(g.ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*directory.Organization{}
	for _, o := range orgs {
		byID[o.ID] = o
	}
	var names []string
	for o := byID[id]; o != nil; o = byID[o.ParentID] {
		names = append([]string{o.Name}, names...)
		if o.ParentID == "" {
			break
		}
	}
	return strings.Join(names, "/")
}

// newEvents returns the outbox events written since the last call, as
// "Type" counts, and the records.
func (g *gatehouse) newEvents(t testing.TB) (map[string]int, []*directory.EventRecord) {
	t.Helper()
	counts := map[string]int{}
	var all []*directory.EventRecord
	for {
		recs, err := g.store.EventsAfter(g.ctx, g.lastSeq, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return counts, all
		}
		for _, r := range recs {
			counts[r.Type]++
			g.lastSeq = r.Seq
		}
		all = append(all, recs...)
	}
}

// changed returns the "changed" list of an update event.
func changed(t testing.TB, r *directory.EventRecord) []string {
	var d directory.EventData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.Changed
}

func (g *gatehouse) links(t testing.TB, scope string) []provision.Link {
	t.Helper()
	ls, err := g.store.Links(g.ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func memberNames(t testing.TB, g *gatehouse, gr *directory.Group) []string {
	t.Helper()
	var out []string
	for _, m := range gr.Members {
		u, err := g.dir.User(g.ctx, g.as, m.ID, directory.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u.UserName)
	}
	sort.Strings(out)
	return out
}

// ldif builds test data.
type ldif struct{ strings.Builder }

func (l *ldif) entry(dn string, attrs ...string) {
	fmt.Fprintf(l, "dn: %s\n", dn)
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == "" {
			continue
		}
		fmt.Fprintf(l, "%s: %s\n", attrs[i], attrs[i+1])
	}
	l.WriteString("\n")
}

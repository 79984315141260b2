// Package ldapsync brings accounts, groups and organizational units in from
// an LDAP directory (Active Directory, OpenLDAP) through the directory
// service, the same path SCIM writes take, so that every change is audited
// and fires its events.
//
// A run reads the organizational units, lists the accounts (their ids
// only), reads in full the accounts that changed since the last run (all of
// them on a full run), reads the groups, and then removes what has gone from
// the directory. Each object is remembered as a provision.Link with a hash
// of what was written, so unchanged objects cost nothing; the watermark of
// the last run is the scope's sync state.
package ldapsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Deps is what a Syncer works with.
type Deps struct {
	Dir   *directory.Service
	Links provision.LinkStore
	// Getenv reads the bind password's environment variable (default
	// os.Getenv is not assumed: pass it).
	Getenv func(string) string
	Now    func() time.Time
}

// Syncer synchronises one directory.
type Syncer struct {
	cfg    Config // resolved
	m      mapper
	dir    *directory.Service
	links  provision.LinkStore
	getenv func(string) string
	now    func() time.Time
	reg    *schema.Registry
}

// New returns a Syncer for cfg, which must be valid.
func New(cfg Config, d Deps) (*Syncer, error) {
	if p := cfg.Problems(); len(p) > 0 {
		return nil, fmt.Errorf("ldap %q: %s", cfg.Name, strings.Join(p, "; "))
	}
	if d.Dir == nil || d.Links == nil {
		return nil, errors.New("ldapsync: the directory service and a link store are required")
	}
	reg, err := schema.NewRegistry(nil)
	if err != nil {
		return nil, err
	}
	if d.Getenv == nil {
		d.Getenv = func(string) string { return "" }
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	r := cfg.Resolve()
	return &Syncer{cfg: r, m: mapper{c: r}, dir: d.Dir, links: d.Links, getenv: d.Getenv, now: d.Now, reg: reg}, nil
}

// Options tunes one run.
type Options struct {
	// DryRun reads everything and reports what would change, writing
	// nothing: no change, no link, no watermark.
	DryRun bool
	// Full reads every entry, not only those changed since the last run.
	Full bool
	// Progress, if set, hears about the run's progress and each change.
	// Calls are serialised.
	Progress func(Progress)
	// Relink lists user names whose account, synchronised from an entry
	// that has gone, the entry now carrying the name may take over even
	// though nothing shows it is the same person (no employeeNumber to
	// compare, or a different one). The operator says it is.
	Relink []string
}

// Progress is a report from a running sync.
type Progress struct {
	Phase string // "organizations", "list", "users", "managers", "groups", "deletions"
	Done  int    // objects handled in this phase so far
	Total int    // objects the phase will handle, 0 when unknown
	// Change is set when an object changed (or, in a dry run, would) or
	// failed.
	Change *Change
}

// Change is one object's change, or its failure.
type Change struct {
	// Op is create, update, adopt (an existing Gatehouse object is linked
	// to the entry and updated), relink (an account whose entry has gone is
	// linked to the new entry with its user name — a re-hire — and updated),
	// move, disable, enable, delete, keep (a gone organization that still
	// holds objects) or error.
	Op       string   `json:"op"`
	Kind     string   `json:"kind"` // User, Group, Organization
	DN       string   `json:"dn,omitempty"`
	RemoteID string   `json:"remoteId,omitempty"`
	ID       string   `json:"id,omitempty"` // the Gatehouse id ("" for an object a dry run would create)
	Name     string   `json:"name,omitempty"`
	Changed  []string `json:"changed,omitempty"`
	Added    int      `json:"membersAdded,omitempty"`
	Removed  int      `json:"membersRemoved,omitempty"`
	// Error is the reason of a failure (Op "error"); Field the attribute
	// at fault, when known.
	Error string `json:"error,omitempty"`
	Field string `json:"field,omitempty"`
	err   error
}

// Err returns the error behind an "error" change.
func (c *Change) Err() error { return c.err }

// Counts counts what happened to one kind of object.
type Counts struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Moved     int `json:"moved,omitempty"`
	Disabled  int `json:"disabled,omitempty"`
	Enabled   int `json:"enabled,omitempty"`
	Deleted   int `json:"deleted"`
	Unchanged int `json:"unchanged"`
	Failed    int `json:"failed"`
}

// Summary is the outcome of a run.
type Summary struct {
	Name     string        `json:"name"`
	DryRun   bool          `json:"dryRun"`
	Full     bool          `json:"full"` // every entry was read (else only changed ones)
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`
	// Listed is the number of accounts in the directory; Read the number
	// read in full.
	Listed int    `json:"listed"`
	Read   int    `json:"read"`
	Users  Counts `json:"users"`
	Groups Counts `json:"groups"`
	Orgs   Counts `json:"organizations"`
	// UnresolvedMembers counts group members that are no synchronised
	// account (outside the base DNs or the user filter, or failed).
	UnresolvedMembers int `json:"unresolvedMembers,omitempty"`
	// Errors are the failures (the first MaxReportedErrors; reported one
	// by one through Progress as well); ErrorCount counts them all.
	Errors     []*Change `json:"-"`
	ErrorCount int       `json:"errorCount"`
	// Watermark is where the next incremental run starts.
	Watermark string `json:"watermark,omitempty"`
}

// MaxReportedErrors bounds Summary.Errors.
const MaxReportedErrors = 1000

// ErrTooManyDeletions reports a run that would have removed more than
// max_deletions or max_membership_removals allow (or every account): it
// removed nothing.
var ErrTooManyDeletions = errors.New("too many deletions")

// link is a remembered object.
type link struct {
	local, hash string
	// fresh: made (or pointed at another Gatehouse object) by this run.
	fresh bool
}

// goneHash marks the link of an account disabled because its entry went:
// it is not disabled again, and is enabled if the entry comes back.
const goneHash = "gone"

// newPrefix marks the ids a dry run makes up for objects it would create.
const newPrefix = "new:"

// run is the state of one run.
type run struct {
	s   *Syncer
	opt Options
	sum *Summary
	ls  searcher

	mu      sync.Mutex
	links   map[string]map[string]*link // kind → remote id → link
	byLocal map[string]map[string]string
	pending []provision.Link
	done    int
	phase   string
	total   int
	retry   []string // users that failed, read again next run

	orgOf       map[string]string // OU's normalised DN → Gatehouse organization id
	presentOrgs map[string]bool   // the OUs' ids

	// From the listing: every account's normalised DN and id.
	dnToID map[string]string
	idToDN map[string]string

	// Accounts whose manager is new in this run: created without it and
	// given it afterwards (deferred), or existing ones written once,
	// after the accounts they need (postponed).
	deferred  []*wantUser
	postponed []postponedUser
}

// Run synchronises once.
func (s *Syncer) Run(ctx context.Context, opt Options) (*Summary, error) {
	start := s.now()
	sum := &Summary{Name: s.cfg.Name, DryRun: opt.DryRun, Started: start.UTC()}
	defer func() {
		sum.Duration = s.now().Sub(start)
		sum.Seconds = sum.Duration.Seconds()
	}()
	conn, closeConn, err := dial(ctx, s.cfg, s.getenv)
	if err != nil {
		return sum, fmt.Errorf("ldap %s: %w", s.cfg.Name, err)
	}
	defer closeConn()
	return s.run(ctx, conn, opt, sum)
}

func (s *Syncer) run(ctx context.Context, ls searcher, opt Options, sum *Summary) (*Summary, error) {
	r := &run{s: s, opt: opt, sum: sum, ls: ls,
		links: map[string]map[string]*link{}, byLocal: map[string]map[string]string{},
		orgOf: map[string]string{}, dnToID: map[string]string{}, idToDN: map[string]string{}}
	fail := func(err error) (*Summary, error) {
		// Keep the links of what was written before the failure.
		if ferr := r.flush(context.WithoutCancel(ctx)); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return sum, fmt.Errorf("ldap %s: %w", s.cfg.Name, err)
	}
	if _, err := s.dir.Org(ctx, s.cfg.Organization); err != nil {
		return fail(fmt.Errorf("organization %q (where accounts are placed): %w", s.cfg.Organization, err))
	}

	prev, err := s.loadState(ctx)
	if err != nil {
		return fail(err)
	}
	server, err := serverID(ls)
	if err != nil {
		return fail(err)
	}
	full := opt.Full || prev.needsFull(s.fingerprint(), server, s.now(), time.Duration(s.cfg.FullInterval))
	sum.Full = full
	if err := r.loadLinks(ctx); err != nil {
		return fail(err)
	}
	if s.cfg.OUs == "tree" {
		if err := r.syncOrgs(ctx); err != nil {
			return fail(err)
		}
	}
	wm, err := r.listUsers(ctx)
	if err != nil {
		return fail(err)
	}
	if err := r.syncUsers(ctx, full, prev); err != nil {
		return fail(err)
	}
	if err := r.resolveManagers(ctx); err != nil {
		return fail(err)
	}
	// Everything a run would remove is known before any of it is: the
	// guard stops all of it, memberships included.
	var groups *groupPlan
	groupIDs := map[string]bool{}
	removals := 0
	if s.cfg.Groups != "off" {
		if groups, err = r.readGroups(ctx); err != nil {
			return fail(err)
		}
		groupIDs = groups.present
		if removals, err = r.removals(ctx, groups); err != nil {
			return fail(err)
		}
	}
	gs := r.gone(groupIDs)
	// A deleted group's members are removed from it too.
	ofDeleted, err := r.goneMemberships(ctx, gs)
	if err != nil {
		return fail(err)
	}
	delErr := r.guard(gs, removals, ofDeleted)
	if groups != nil {
		if err := r.writeGroups(ctx, groups, delErr != nil); err != nil {
			return fail(err)
		}
	}
	if err := r.flush(ctx); err != nil {
		return fail(err)
	}
	if delErr == nil {
		delErr = r.deletions(ctx, gs)
	}
	if err := r.flush(ctx); err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}

	next := state{V: 1, Fingerprint: s.fingerprint(), Server: server, LastFull: prev.LastFull, Watermark: wm.String()}
	if full {
		next.LastFull = sum.Started
	}
	switch {
	case len(r.retry) > maxRetry:
		// Too many to read again one by one: the next run starts from
		// where this one did.
		next.Watermark = prev.Watermark
		if full {
			next.Watermark, next.LastFull = "", time.Time{}
		}
	default:
		next.Retry = r.retry
	}
	sum.Watermark = next.Watermark
	if !opt.DryRun {
		b, _ := json.Marshal(next)
		if err := s.links.SetSyncState(ctx, s.cfg.Scope(), string(b)); err != nil {
			return fail(err)
		}
	}
	if delErr != nil {
		return fail(delErr)
	}
	return sum, nil
}

// ---- bookkeeping

func (r *run) loadLinks(ctx context.Context) error {
	all, err := r.s.links.Links(ctx, r.s.cfg.Scope())
	if err != nil {
		return err
	}
	for _, k := range []string{"User", "Group", "Organization"} {
		r.links[k] = map[string]*link{}
		r.byLocal[k] = map[string]string{}
	}
	for _, l := range all {
		if r.links[l.Kind] == nil {
			continue
		}
		r.links[l.Kind][l.RemoteID] = &link{local: l.LocalID, hash: l.Hash}
		r.byLocal[l.Kind][l.LocalID] = l.RemoteID
	}
	return nil
}

// linkOf returns a copy of the link of kind's remote id, or nil.
func (r *run) linkOf(kind, remote string) *link {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.links[kind][remote]; l != nil {
		c := *l
		return &c
	}
	return nil
}

// linkedTo returns the remote id linked to a Gatehouse id, or "".
func (r *run) linkedTo(kind, local string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byLocal[kind][local]
}

// setLink remembers a link (and queues it to be written). Like the store,
// it keeps one link per Gatehouse object: one that held local for another
// entry (a re-hire's departed entry) is forgotten.
func (r *run) setLink(kind, local, remote, hash string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fresh := true
	if old := r.links[kind][remote]; old != nil {
		if old.local != local {
			delete(r.byLocal[kind], old.local)
		} else {
			fresh = old.fresh
		}
	}
	if prev, ok := r.byLocal[kind][local]; ok && prev != remote {
		delete(r.links[kind], prev)
	}
	r.links[kind][remote] = &link{local: local, hash: hash, fresh: fresh}
	r.byLocal[kind][local] = remote
	if !r.opt.DryRun {
		r.pending = append(r.pending, provision.Link{Kind: kind, LocalID: local, RemoteID: remote, Hash: hash, Updated: r.s.now()})
	}
}

func (r *run) dropLink(kind, remote string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.links[kind][remote]; l != nil {
		delete(r.byLocal[kind], l.local)
	}
	delete(r.links[kind], remote)
}

// flushAt is how many links are written at once.
const flushAt = 500

// flushSome writes the queued links when there are enough of them.
func (r *run) flushSome(ctx context.Context) error {
	r.mu.Lock()
	n := len(r.pending)
	r.mu.Unlock()
	if n < flushAt {
		return nil
	}
	return r.flush(ctx)
}

func (r *run) flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 || r.opt.DryRun {
		return nil
	}
	return r.s.links.PutLinks(ctx, r.s.cfg.Scope(), batch)
}

// startPhase begins a phase of total objects (0: unknown).
func (r *run) startPhase(name string, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase, r.done, r.total = name, 0, total
	r.report(nil)
}

// tick counts one object handled and reports the change, if any.
func (r *run) tick(c *Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done++
	r.report(c)
}

// note reports a change without counting an object.
func (r *run) note(c *Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report(c)
}

// report is called with r.mu held.
func (r *run) report(c *Change) {
	if c != nil && c.Op == "error" {
		r.sum.ErrorCount++
		if len(r.sum.Errors) < MaxReportedErrors {
			r.sum.Errors = append(r.sum.Errors, c)
		}
	}
	if r.opt.Progress != nil {
		r.opt.Progress(Progress{Phase: r.phase, Done: r.done, Total: r.total, Change: c})
	}
}

// failure builds the error change of an object.
func failure(kind, dn, remote string, err error) *Change {
	c := &Change{Op: "error", Kind: kind, DN: dn, RemoteID: remote, err: err, Field: directory.Field(err)}
	var de *directory.Error
	if errors.As(err, &de) && de.Msg != "" {
		c.Error = de.Msg
	} else {
		c.Error = err.Error()
	}
	return c
}

// count adds one to the right counter of cs for op.
func (r *run) count(cs *Counts, op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch op {
	case "create":
		cs.Created++
	case "update", "adopt", "relink":
		cs.Updated++
	case "move":
		cs.Moved++
	case "disable":
		cs.Disabled++
	case "enable":
		cs.Enabled++
	case "delete":
		cs.Deleted++
	case "unchanged":
		cs.Unchanged++
	case "error", "keep":
		cs.Failed++
	}
}

// profile is the connector's directory profile. Its provisioning domain is
// its scope ("ldap:corp"): the externalIds it sets (the entries' ids) are
// its own, apart from those of applications and other connectors.
func (s *Syncer) profile() directory.Profile {
	return directory.Profile{IDaaSFields: true, TargetOrgID: s.cfg.Organization, Domain: s.cfg.Scope()}
}

// query runs a SCIM filter over users or groups.
func (s *Syncer) parseFilter(rt *schema.ResourceType, f string) (filter.Expr, error) {
	e, err := filter.Parse(f)
	if err != nil {
		return nil, err
	}
	if err := filter.Resolve(e, rt); err != nil {
		return nil, err
	}
	return e, nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// orgFor returns the organization of the entry with normalised DN dn: its
// nearest ancestor OU's, else the configured one.
func (r *run) orgFor(dn string) string {
	for p := parentDN(dn); p != ""; p = parentDN(p) {
		if id, ok := r.orgOf[p]; ok {
			return id
		}
	}
	return r.s.cfg.Organization
}

// ---- organizations

type ouEntry struct {
	id, dn, rawDN, name string
}

func (r *run) syncOrgs(ctx context.Context) error {
	c := r.s.cfg
	var ous []ouEntry
	attrs := dedupFold(append([]string{c.IDAttribute}, c.Attributes[FieldOrgName]...))
	for _, base := range c.BaseDNs {
		err := search(ctx, r.ls, base, c.OUFilter, attrs, c.PageSize, func(page []*ldap.Entry) error {
			for _, e := range page {
				dn, ok := normDN(e.DN)
				id, err := r.s.m.remoteID(e)
				if !ok || err != nil {
					if err == nil {
						err = errors.New("the DN does not parse")
					}
					r.count(&r.sum.Orgs, "error")
					r.note(failure("Organization", e.DN, "", err))
					continue
				}
				name := r.s.m.first(e, FieldOrgName)
				if name == "" {
					name = rdnValue(e.DN)
				}
				ous = append(ous, ouEntry{id: id, dn: dn, rawDN: e.DN, name: name})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	slices.SortStableFunc(ous, func(a, b ouEntry) int { return depth(a.dn) - depth(b.dn) })
	r.startPhase("organizations", len(ous))
	existing, err := r.s.dir.Orgs(ctx)
	if err != nil {
		return err
	}
	byExt := map[string]*directory.Organization{}
	byID := map[string]*directory.Organization{}
	for _, o := range existing {
		byID[o.ID] = o
		if o.ExternalID != "" {
			byExt[o.ExternalID] = o
		}
	}
	present := map[string]bool{}
	for _, ou := range ous {
		if err := ctx.Err(); err != nil {
			return err
		}
		present[ou.id] = true
		want := &wantOrg{ExternalID: ou.id, Name: ou.name, ParentID: r.orgFor(ou.dn)}
		ch, local := r.org(ctx, ou, want, byID, byExt)
		if local != "" {
			r.orgOf[ou.dn] = local
		} else if l := r.linkOf("Organization", ou.id); l != nil {
			r.orgOf[ou.dn] = l.local
		}
		r.tick(ch)
	}
	r.presentOrgs = present
	return nil
}

func rdnValue(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return dn
	}
	return d.RDNs[0].Attributes[0].Value
}

// org brings one OU in; it returns the change to report (nil: none) and
// the organization's id ("" on failure).
func (r *run) org(ctx context.Context, ou ouEntry, want *wantOrg, byID, byExt map[string]*directory.Organization) (*Change, string) {
	h := want.hash()
	l := r.linkOf("Organization", ou.id)
	if l != nil && l.hash == h {
		r.count(&r.sum.Orgs, "unchanged")
		return nil, l.local
	}
	fail := func(err error) (*Change, string) {
		r.count(&r.sum.Orgs, "error")
		return failure("Organization", ou.rawDN, ou.id, err), ""
	}
	var cur *directory.Organization
	op := "update"
	if l != nil {
		cur = byID[l.local]
	}
	if cur == nil {
		if o := byExt[ou.id]; o != nil {
			if other := r.linkedTo("Organization", o.ID); other != "" && other != ou.id {
				return fail(fmt.Errorf("organization %s has this externalId but is linked to another entry", o.ID))
			}
			cur, op = o, "adopt"
		}
	}
	ch := &Change{Kind: "Organization", DN: ou.rawDN, RemoteID: ou.id, Name: want.Name}
	if cur == nil {
		ch.Op = "create"
		if r.opt.DryRun {
			// What the run would refuse, the dry run reports as it would.
			if err := directory.CheckOrg(nil, &directory.Organization{Name: want.Name, ParentID: want.ParentID, ExternalID: want.ExternalID}); err != nil {
				return fail(err)
			}
			ch.ID = ""
			r.setLink("Organization", newPrefix+ou.id, ou.id, h)
			r.count(&r.sum.Orgs, "create")
			return ch, newPrefix + ou.id
		}
		o, err := r.s.dir.CreateOrg(ctx, r.s.cfg.Actor(), &directory.Organization{Name: want.Name, ParentID: want.ParentID, ExternalID: want.ExternalID})
		if err != nil {
			return fail(err)
		}
		ch.ID = o.ID
		r.setLink("Organization", o.ID, ou.id, h)
		r.count(&r.sum.Orgs, "create")
		return ch, o.ID
	}
	ch.ID = cur.ID
	next := *cur
	next.Name, next.ParentID, next.ExternalID = want.Name, want.ParentID, want.ExternalID
	if next.Name != cur.Name {
		ch.Changed = append(ch.Changed, "name")
	}
	if next.ParentID != cur.ParentID {
		ch.Changed = append(ch.Changed, "parent")
		if op == "update" {
			op = "move"
		}
	}
	if next.ExternalID != cur.ExternalID {
		ch.Changed = append(ch.Changed, "externalId")
	}
	ch.Op = op
	if len(ch.Changed) == 0 && op != "adopt" {
		r.setLink("Organization", cur.ID, ou.id, h)
		r.count(&r.sum.Orgs, "unchanged")
		return nil, cur.ID
	}
	if r.opt.DryRun {
		if err := directory.CheckOrg(cur, &next); err != nil {
			return fail(err)
		}
	} else {
		if _, err := r.s.dir.UpdateOrg(ctx, r.s.cfg.Actor(), cur.ID, func(o *directory.Organization) error {
			o.Name, o.ParentID, o.ExternalID = want.Name, want.ParentID, want.ExternalID
			return nil
		}); err != nil {
			return fail(err)
		}
	}
	r.setLink("Organization", cur.ID, ou.id, h)
	r.count(&r.sum.Orgs, op)
	return ch, cur.ID
}

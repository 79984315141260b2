package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// listUsers lists every account (DN and id only): the accounts present,
// for deletions; DNs to ids, for managers and members; and the watermark
// for the next run.
func (r *run) listUsers(ctx context.Context) (watermark, error) {
	c := r.s.cfg
	r.startPhase("list", 0)
	var wm watermark
	attrs := dedupFold([]string{c.IDAttribute, c.ChangeAttribute})
	for _, base := range c.BaseDNs {
		err := search(ctx, r.ls, base, c.UserFilter, attrs, c.PageSize, func(page []*ldap.Entry) error {
			for _, e := range page {
				dn, ok := normDN(e.DN)
				id, err := r.s.m.remoteID(e)
				if !ok || err != nil {
					// Read in full later, where it fails and is reported.
					continue
				}
				r.dnToID[dn] = id
				r.idToDN[id] = dn
				wm.observe(e.GetEqualFoldAttributeValue(c.ChangeAttribute))
			}
			r.mu.Lock()
			r.done += len(page)
			r.report(nil)
			r.mu.Unlock()
			return nil
		})
		if err != nil {
			return wm, err
		}
	}
	r.sum.Listed = len(r.idToDN)
	return wm, nil
}

// syncUsers reads the accounts that changed since prev (all of them on a
// full run) and brings each in, several at once.
func (r *run) syncUsers(ctx context.Context, full bool, prev state) error {
	c := r.s.cfg
	f := c.UserFilter
	var retry []string
	if !full {
		w, _ := parseWatermark(prev.Watermark)
		f = "(&" + c.UserFilter + w.changedSince(c.ChangeAttribute, time.Duration(*c.Overlap)) + ")"
		retry = prev.Retry
	}
	total := 0
	if full {
		total = len(r.idToDN)
	}
	r.startPhase("users", total)
	attrs := r.s.m.userAttrs()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	entries := make(chan *ldap.Entry, c.PageSize)
	var wg sync.WaitGroup
	var seen sync.Map // remote ids handled, on incremental runs (changed ∩ retried)
	for range c.Workers {
		wg.Go(func() {
			for e := range entries {
				r.user(ctx, e, !full, &seen)
				if err := r.flushSome(ctx); err != nil {
					cancel(err)
				}
			}
		})
	}
	err := stream(ctx, r.ls, c.BaseDNs, f, attrs, c.PageSize, entries)
	if err == nil && len(retry) > 0 {
		err = r.readAgain(ctx, retry, attrs, full, &seen)
	}
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// readAgain reads the accounts that failed in the last run, by id.
func (r *run) readAgain(ctx context.Context, ids []string, attrs []string, full bool, seen *sync.Map) error {
	c := r.s.cfg
	for len(ids) > 0 {
		n := min(len(ids), 50)
		var ors strings.Builder
		for _, id := range ids[:n] {
			if a, err := r.s.m.idFilter(id); err == nil {
				ors.WriteString(a)
			}
		}
		ids = ids[n:]
		if ors.Len() == 0 {
			continue
		}
		f := "(&" + c.UserFilter + "(|" + ors.String() + "))"
		for _, base := range c.BaseDNs {
			err := search(ctx, r.ls, base, f, attrs, c.PageSize, func(page []*ldap.Entry) error {
				for _, e := range page {
					r.user(ctx, e, !full, seen)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// user brings one account in. With dedup (incremental runs), an account
// handled already in this run is skipped.
func (r *run) user(ctx context.Context, e *ldap.Entry, dedup bool, seen *sync.Map) {
	m := r.s.m
	id, err := m.remoteID(e)
	dn, ok := normDN(e.DN)
	if err == nil && !ok {
		err = errors.New("the DN does not parse")
	}
	if err != nil {
		r.count(&r.sum.Users, "error")
		r.tick(failure("User", e.DN, id, err))
		return
	}
	if dedup {
		if _, dup := seen.LoadOrStore(id, true); dup {
			return
		}
	}
	r.mu.Lock()
	r.sum.Read++
	r.mu.Unlock()
	w, err := m.user(e, id)
	if err != nil {
		r.userFailed(e.DN, id, err)
		return
	}
	w.OrgID = r.orgFor(dn)
	// A manager linked before this run is set now. One new in this run
	// (created or taken over by another worker, or later) is set once it
	// is there, in a way that does not depend on which worker got there
	// first, so that the dry run and the run report the same: an
	// existing account is written once, after the accounts (postponed); a
	// new one is created, and given its manager afterwards if it is not
	// there yet (deferred).
	pending := ""
	if m.managed(FieldManager) && w.ManagerDN != "" {
		if mid, ok := r.dnToID[w.ManagerDN]; ok && mid != id {
			if l := r.linkOf("User", mid); l != nil && !l.fresh {
				w.ManagerID = l.local
			} else {
				pending = mid
			}
		}
	}
	ch, local, err := r.writeUser(ctx, e.DN, w, pending)
	switch {
	case errors.Is(err, errPostponed):
		r.mu.Lock()
		r.postponed = append(r.postponed, postponedUser{w: w, dn: e.DN})
		r.mu.Unlock()
		r.tick(nil)
		return
	case err != nil:
		r.userFailed(e.DN, id, err)
		return
	}
	if pending != "" && w.ManagerID == "" && local != "" {
		r.mu.Lock()
		r.deferred = append(r.deferred, w)
		r.mu.Unlock()
	}
	r.tick(ch)
}

// userFailed reports an account that failed; the next run reads it again.
func (r *run) userFailed(dn, id string, err error) {
	r.count(&r.sum.Users, "error")
	r.mu.Lock()
	r.retry = append(r.retry, id)
	r.mu.Unlock()
	r.tick(failure("User", dn, id, err))
}

// postponedUser is an existing account whose manager is new in this run.
type postponedUser struct {
	w  *wantUser
	dn string
}

// errPostponed: the account is written after the others.
var errPostponed = errors.New("postponed")

// writeUser makes Gatehouse hold w, unless the link says it does already.
// It returns the change to report (nil: none) and the account's id. With
// pendingManager (the remote id of w's manager, new in this run), an
// existing account is not written (errPostponed), and a new one is
// created with its manager if the manager is there already (w.ManagerID
// is then set), else without.
func (r *run) writeUser(ctx context.Context, dn string, w *wantUser, pendingManager string) (*Change, string, error) {
	h := w.hash()
	l := r.linkOf("User", w.ExternalID)
	if pendingManager != "" && l != nil && !strings.HasPrefix(l.local, newPrefix) {
		return nil, "", errPostponed
	}
	if l != nil && l.hash == h {
		r.count(&r.sum.Users, "unchanged")
		return nil, l.local, nil
	}
	if l != nil && !strings.HasPrefix(l.local, newPrefix) {
		ch, err := r.updateUser(ctx, dn, l.local, w, "update")
		if err == nil {
			r.setLink("User", l.local, w.ExternalID, h)
			return ch, l.local, nil
		}
		if !errors.Is(err, directory.ErrNotFound) {
			return nil, "", err
		}
		// Deleted in Gatehouse: the directory still has it.
	}
	cur, relink, err := r.findUser(ctx, w)
	if err != nil {
		return nil, "", err
	}
	if cur != nil && pendingManager != "" {
		return nil, "", errPostponed
	}
	if cur != nil {
		op := "adopt"
		if relink {
			op = "relink"
		}
		ch, err := r.updateUser(ctx, dn, cur.ID, w, op)
		if err != nil {
			return nil, "", err
		}
		r.setLink("User", cur.ID, w.ExternalID, h)
		return ch, cur.ID, nil
	}
	if pendingManager != "" {
		if ml := r.linkOf("User", pendingManager); ml != nil {
			w.ManagerID = ml.local
			h = w.hash()
		}
	}
	ch := &Change{Op: "create", Kind: "User", DN: dn, RemoteID: w.ExternalID, Name: w.UserName}
	u := &directory.User{}
	r.s.m.apply(w, u)
	local := newPrefix + w.ExternalID
	if r.opt.DryRun {
		// What the run would refuse, the dry run reports as it would.
		if err := directory.CheckUser(r.s.profile(), nil, u); err != nil {
			return nil, "", err
		}
	} else {
		out, _, err := r.s.dir.CreateUser(ctx, r.s.cfg.Actor(), r.s.profile(), u)
		if err != nil {
			return nil, "", err
		}
		local = out.ID
		ch.ID = out.ID
	}
	r.setLink("User", local, w.ExternalID, h)
	r.count(&r.sum.Users, "create")
	return ch, local, nil
}

// findUser finds the account an unlinked entry should take over: the one
// with its externalId, else with its userName. An account linked to
// another entry of this directory is taken over only if that entry has
// gone (relink is then true) and the two are the same person: the same
// employeeNumber, or the operator says so (Options.Relink). An account
// whose entry is still there is never taken over.
func (r *run) findUser(ctx context.Context, w *wantUser) (pick *directory.User, relink bool, err error) {
	expr, err := r.s.parseFilter(r.s.reg.User, "externalId eq "+quote(w.ExternalID)+" or userName eq "+quote(w.UserName))
	if err != nil {
		return nil, false, err
	}
	page, err := r.s.dir.Users(ctx, r.s.profile(), directory.Query{Filter: expr, Limit: 2})
	if err != nil {
		return nil, false, err
	}
	for _, u := range page.Items {
		if u.ExternalID == w.ExternalID {
			pick = u
			break
		}
	}
	if pick == nil && len(page.Items) > 0 {
		pick = page.Items[0]
	}
	if pick == nil {
		return nil, false, nil
	}
	other := r.linkedTo("User", pick.ID)
	if other == "" || other == w.ExternalID {
		return pick, false, nil
	}
	if odn, present := r.idToDN[other]; present {
		return nil, false, &directory.Error{Kind: directory.ErrConflict, Field: "userName",
			Msg: fmt.Sprintf("userName %q is taken by the account synchronised from %s", w.UserName, odn)}
	}
	// The account's entry has gone: a re-hire, or the name given to
	// someone else.
	if reason := r.samePerson(pick, w); reason != "" && !slices.Contains(r.opt.Relink, w.UserName) {
		return nil, false, fmt.Errorf("%w: %w", errDeparted, &directory.Error{Kind: directory.ErrConflict, Field: "userName",
			Msg: fmt.Sprintf("userName %q belongs to account %s, whose entry has gone (entry id %s); %s, so this entry may be another person. "+
				"If it is the same person, run: gatehouse sync ldap %s --relink %s (it takes the account over). "+
				"If not, free the name first: delete account %s, or change its userName, in Gatehouse",
				w.UserName, pick.ID, other, reason, r.s.cfg.Name, w.UserName, pick.ID)})
	}
	return pick, true, nil
}

// errDeparted marks an entry refused because its user name belongs to
// the account of an entry that has gone, and nothing shows they are the
// same person.
var errDeparted = errors.New("the user name of a departed account")

// samePerson tells whether entry w may take over account u, whose entry
// has gone: "" when both carry the same employeeNumber, else why not.
func (r *run) samePerson(u *directory.User, w *wantUser) string {
	if !r.s.m.managed(FieldEmployeeNumber) {
		return "no employeeNumber is synchronised to compare"
	}
	ent, _ := u.Attrs[directory.EnterpriseURN].(map[string]any)
	had, _ := ent["employeeNumber"].(string)
	switch {
	case had == "" || w.EmployeeNumber == "":
		return "there is no employeeNumber to compare"
	case !strings.EqualFold(strings.TrimSpace(had), strings.TrimSpace(w.EmployeeNumber)):
		return "its employeeNumber differs"
	}
	return ""
}

// updateUser writes w's fields onto account id; op is "update" or
// "adopt". It reports move, disable or enable when that is what changed.
func (r *run) updateUser(ctx context.Context, dn, id string, w *wantUser, op string) (*Change, error) {
	m := r.s.m
	var changed []string
	var before, after *directory.User
	if r.opt.DryRun {
		cur, err := r.s.dir.User(ctx, r.s.profile(), id, directory.ReadOptions{})
		if err != nil {
			return nil, err
		}
		next := cur.Clone()
		m.apply(w, next)
		if err := directory.CheckUser(r.s.profile(), cur, next); err != nil {
			return nil, err
		}
		before, after, changed = cur, next, changedFields(cur, next)
	} else {
		_, err := r.s.dir.UpdateUser(ctx, r.s.cfg.Actor(), r.s.profile(), id, nil, func(u *directory.User) error {
			b := u.Clone()
			m.apply(w, u)
			before, after, changed = b, u, changedFields(b, u)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	switch {
	case op == "adopt", op == "relink":
	case before.Active && !after.Active:
		op = "disable"
	case !before.Active && after.Active:
		op = "enable"
	case before.OrgID != after.OrgID:
		op = "move"
	case len(changed) == 0:
		op = "unchanged"
	}
	r.count(&r.sum.Users, op)
	if op == "unchanged" {
		return nil, nil
	}
	return &Change{Op: op, Kind: "User", DN: dn, RemoteID: w.ExternalID, ID: id, Name: w.UserName, Changed: changed}, nil
}

// resolveManagers sets the managers that are new in this run: of the
// accounts created before their manager (silently: part of the creation),
// and of the existing accounts postponed for it (written now, and reported
// like any update).
func (r *run) resolveManagers(ctx context.Context) error {
	if len(r.deferred)+len(r.postponed) == 0 {
		return nil
	}
	r.startPhase("managers", len(r.deferred)+len(r.postponed))
	for _, w := range r.deferred {
		if err := ctx.Err(); err != nil {
			return err
		}
		l := r.linkOf("User", w.ExternalID)
		ml := r.linkOf("User", r.dnToID[w.ManagerDN])
		if l == nil || ml == nil {
			// The manager failed: read this account again next run, when
			// the manager may be there.
			r.mu.Lock()
			r.retry = append(r.retry, w.ExternalID)
			r.mu.Unlock()
			r.tick(nil)
			continue
		}
		w.ManagerID = ml.local
		dn := r.idToDN[w.ExternalID]
		if !r.opt.DryRun {
			_, err := r.s.dir.UpdateUser(ctx, r.s.cfg.Actor(), r.s.profile(), l.local, nil, func(u *directory.User) error {
				r.s.m.apply(w, u)
				return nil
			})
			if err != nil {
				r.userFailed(dn, w.ExternalID, err)
				continue
			}
		}
		r.setLink("User", l.local, w.ExternalID, w.hash())
		r.tick(nil)
	}
	r.deferred = nil
	// In one order, whatever the workers did: a dry run reports the same.
	slices.SortFunc(r.postponed, func(a, b postponedUser) int { return strings.Compare(a.w.ExternalID, b.w.ExternalID) })
	for _, p := range r.postponed {
		if err := ctx.Err(); err != nil {
			return err
		}
		w := p.w
		ml := r.linkOf("User", r.dnToID[w.ManagerDN])
		if ml != nil {
			w.ManagerID = ml.local
		}
		ch, _, err := r.writeUser(ctx, p.dn, w, "")
		if err != nil {
			r.userFailed(p.dn, w.ExternalID, err)
			continue
		}
		if ml == nil {
			// The manager failed: none for now, and this account is read
			// again next run, when the manager may be there.
			r.mu.Lock()
			r.retry = append(r.retry, w.ExternalID)
			r.mu.Unlock()
		}
		r.tick(ch)
		if err := r.flushSome(ctx); err != nil {
			return err
		}
	}
	r.postponed = nil
	return r.flush(ctx)
}

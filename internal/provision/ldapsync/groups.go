package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// groupEntry is a group as read from the directory.
type groupEntry struct {
	id, dn, rawDN, name string
	members             []string // normalised DNs
}

// groupPlan is every group read from the directory and what Gatehouse
// should hold for it.
type groupPlan struct {
	groups  []*groupEntry
	wants   []*wantGroup
	present map[string]bool // the groups' ids
}

// readGroups reads every group (nested groups need the whole graph) and
// works out each one's members.
func (r *run) readGroups(ctx context.Context) (*groupPlan, error) {
	c := r.s.cfg
	attrs := dedupFold(append(append([]string{c.IDAttribute}, c.Attributes[FieldGroupName]...), c.Attributes[FieldMember]...))
	var groups []*groupEntry
	byDN := map[string]*groupEntry{}
	r.startPhase("groups", 0)
	for _, base := range c.BaseDNs {
		// Small pages: a group's member values are many, and the client's
		// decoded form of a page costs some hundred bytes per value.
		err := search(ctx, r.ls, base, c.GroupFilter, attrs, min(c.PageSize, groupPageSize), func(page []*ldap.Entry) error {
			for _, e := range page {
				dn, ok := normDN(e.DN)
				id, err := r.s.m.remoteID(e)
				if err == nil && !ok {
					err = errors.New("the DN does not parse")
				}
				if err != nil {
					r.count(&r.sum.Groups, "error")
					r.note(failure("Group", e.DN, id, err))
					continue
				}
				g := &groupEntry{id: id, dn: dn, rawDN: e.DN, name: r.s.m.first(e, FieldGroupName)}
				if g.name == "" {
					g.name = rdnValue(e.DN)
				}
				// The first member attribute the entry has wins (member
				// for groupOfNames, uniqueMember for groupOfUniqueNames).
				var vals []string
				for _, a := range c.Attributes[FieldMember] {
					if vals, err = fullValues(ctx, r.ls, e, a); err != nil {
						return err
					}
					if len(vals) > 0 {
						break
					}
				}
				for _, v := range vals {
					if n, ok := normDN(memberDN(v)); ok {
						g.members = append(g.members, n)
					}
				}
				groups = append(groups, g)
				byDN[dn] = g
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	p := &groupPlan{groups: groups, wants: make([]*wantGroup, len(groups)), present: make(map[string]bool, len(groups))}
	for i, g := range groups {
		p.present[g.id] = true
		members, unresolved := r.members(g, byDN)
		r.sum.UnresolvedMembers += unresolved
		p.wants[i] = &wantGroup{ExternalID: g.id, DisplayName: g.name, OrgID: r.orgFor(g.dn), Members: members}
	}
	for _, g := range groups {
		g.members = nil // resolved: the DNs are no longer needed
	}
	return p, nil
}

// removals counts the memberships that writing p would remove (before any
// is written, for the guard). A group whose diff fails is left to
// writeGroups, which reports it.
func (r *run) removals(ctx context.Context, p *groupPlan) (int, error) {
	n := 0
	for i, g := range p.groups {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		d, err := r.diffGroup(ctx, g, p.wants[i])
		var de *directory.Error
		switch {
		case errors.As(err, &de):
			continue
		case err != nil:
			return 0, err
		}
		n += len(d.remove)
	}
	return n, nil
}

// writeGroups brings every group of p in. With keepMembers (a guard
// stopped the run) no member is removed: the groups that would lose some
// are written without their removals and left for the next run.
func (r *run) writeGroups(ctx context.Context, p *groupPlan, keepMembers bool) error {
	r.startPhase("groups", len(p.groups))
	for i, g := range p.groups {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch, err := r.group(ctx, g, p.wants[i], keepMembers)
		if err != nil {
			r.count(&r.sum.Groups, "error")
			ch = failure("Group", g.rawDN, g.id, err)
		}
		r.tick(ch)
	}
	return nil
}

// members returns the Gatehouse ids of g's members, sorted: the accounts
// in it and, when flattening, in the groups nested in it (cycles are
// harmless). unresolved counts g's own members that are no synchronised
// account or group.
func (r *run) members(g *groupEntry, byDN map[string]*groupEntry) (ids []string, unresolved int) {
	set := map[string]bool{}
	visited := map[string]bool{g.dn: true}
	flatten := r.s.cfg.Groups == "flatten"
	var walk func(*groupEntry, bool)
	walk = func(g *groupEntry, top bool) {
		for _, m := range g.members {
			if id, ok := r.dnToID[m]; ok {
				if l := r.linkOf("User", id); l != nil {
					set[l.local] = true
				} else if top {
					unresolved++
				}
				continue
			}
			if sub, ok := byDN[m]; ok {
				if flatten && !visited[m] {
					visited[m] = true
					walk(sub, false)
				}
				continue
			}
			if top {
				unresolved++
			}
		}
	}
	walk(g, true)
	ids = make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, unresolved
}

// groupDiff is what bringing one group in takes.
type groupDiff struct {
	hash        string
	same        bool             // the link says Gatehouse holds it already
	cur         *directory.Group // nil: it is created
	op          string           // update or adopt
	changed     []string         // displayName, externalId, organizationId
	add, remove []string
}

// diffGroup compares want with what Gatehouse holds. It writes nothing.
func (r *run) diffGroup(ctx context.Context, g *groupEntry, want *wantGroup) (*groupDiff, error) {
	d := &groupDiff{hash: want.hash(), op: "update"}
	l := r.linkOf("Group", g.id)
	if l != nil && l.hash == d.hash {
		d.same = true
		return d, nil
	}
	if l != nil && !strings.HasPrefix(l.local, newPrefix) {
		cur, err := r.s.dir.Group(ctx, r.s.profile(), l.local, directory.ReadOptions{Members: true})
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			return nil, err
		}
		d.cur = cur
	}
	if d.cur == nil {
		cur, err := r.findGroup(ctx, want)
		if err != nil {
			return nil, err
		}
		d.cur, d.op = cur, "adopt"
	}
	if d.cur == nil {
		d.add = want.Members
		return d, nil
	}
	cur := d.cur
	if cur.DisplayName != want.DisplayName {
		d.changed = append(d.changed, "displayName")
	}
	if cur.ExternalID != want.ExternalID {
		d.changed = append(d.changed, "externalId")
	}
	if cur.OrgID != want.OrgID {
		d.changed = append(d.changed, "organizationId")
	}
	have := map[string]bool{}
	for _, m := range cur.Members {
		have[m.ID] = true
	}
	for _, id := range want.Members {
		if !have[id] {
			d.add = append(d.add, id)
		}
		delete(have, id)
	}
	for _, m := range cur.Members {
		if have[m.ID] {
			d.remove = append(d.remove, m.ID)
		}
	}
	return d, nil
}

// group makes Gatehouse hold want — without removing members when
// keepMembers is set; it returns the change to report (nil: none).
func (r *run) group(ctx context.Context, g *groupEntry, want *wantGroup, keepMembers bool) (*Change, error) {
	d, err := r.diffGroup(ctx, g, want)
	if err != nil {
		return nil, err
	}
	if d.same {
		r.count(&r.sum.Groups, "unchanged")
		return nil, nil
	}
	h := d.hash
	if keepMembers && len(d.remove) > 0 {
		// Not what want says: linked without the hash, the group is
		// looked at again by the next run.
		d.remove, h = nil, ""
	}
	ch := &Change{Kind: "Group", DN: g.rawDN, RemoteID: g.id, Name: want.DisplayName}
	if d.cur == nil {
		ch.Op, ch.Added = "create", len(want.Members)
		local := newPrefix + g.id
		if r.opt.DryRun {
			// What the run would refuse, the dry run reports as it would.
			if err := directory.CheckGroup(r.s.profile(), nil, &directory.Group{DisplayName: want.DisplayName, ExternalID: want.ExternalID, OrgID: want.OrgID}); err != nil {
				return nil, err
			}
		} else {
			first := want.Members[:min(len(want.Members), memberChunk)]
			members := make([]directory.Member, len(first))
			for i, id := range first {
				members[i] = directory.Member{ID: id}
			}
			out, _, err := r.s.dir.CreateGroup(ctx, r.s.cfg.Actor(), r.s.profile(), &directory.Group{
				DisplayName: want.DisplayName, ExternalID: want.ExternalID, OrgID: want.OrgID, Members: members})
			if err != nil {
				return nil, err
			}
			local, ch.ID = out.ID, out.ID
			if err := r.changeMembers(ctx, out.ID, want.Members[len(first):], nil); err != nil {
				// Created, not complete: linked without a hash, it is
				// completed by the next run.
				r.setLink("Group", local, g.id, "")
				return nil, err
			}
		}
		r.setLink("Group", local, g.id, h)
		r.count(&r.sum.Groups, "create")
		return ch, nil
	}
	cur, op := d.cur, d.op
	ch.ID = cur.ID
	ch.Changed = d.changed
	ch.Added, ch.Removed = len(d.add), len(d.remove)
	if ch.Added > 0 || ch.Removed > 0 {
		ch.Changed = append(ch.Changed, "members")
	}
	if len(ch.Changed) == 0 && op == "update" {
		r.setLink("Group", cur.ID, g.id, h)
		r.count(&r.sum.Groups, "unchanged")
		return nil, nil
	}
	if op == "update" && cur.OrgID != want.OrgID {
		op = "move"
	}
	ch.Op = op
	if r.opt.DryRun {
		next := cur.Clone()
		next.DisplayName, next.ExternalID, next.OrgID = want.DisplayName, want.ExternalID, want.OrgID
		if err := directory.CheckGroup(r.s.profile(), cur, next); err != nil {
			return nil, err
		}
	} else {
		_, err := r.s.dir.UpdateGroup(ctx, r.s.cfg.Actor(), r.s.profile(), cur.ID, nil, func(x *directory.Group) error {
			x.DisplayName, x.ExternalID, x.OrgID = want.DisplayName, want.ExternalID, want.OrgID
			return nil
		}, nil)
		if err == nil {
			err = r.changeMembers(ctx, cur.ID, d.add, d.remove)
		}
		if err != nil {
			return nil, err
		}
	}
	r.setLink("Group", cur.ID, g.id, h)
	r.count(&r.sum.Groups, op)
	return ch, nil
}

// groupPageSize bounds the groups read at once.
const groupPageSize = 20

// memberChunk is how many membership changes one write makes. Every
// membership event carries the change's whole list of members added and
// removed, so larger writes cost more than proportionally.
const memberChunk = 50

// changeMembers adds and removes members, memberChunk at a time.
func (r *run) changeMembers(ctx context.Context, id string, add, remove []string) error {
	for _, batch := range []struct {
		kind directory.MemberOpKind
		ids  []string
	}{{directory.RemoveMembers, remove}, {directory.AddMembers, add}} {
		for ids := range slices.Chunk(batch.ids, memberChunk) {
			if _, err := r.s.dir.UpdateGroup(ctx, r.s.cfg.Actor(), r.s.profile(), id, nil, nil,
				[]directory.MemberOp{{Kind: batch.kind, IDs: ids}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// findGroup finds the group an unlinked directory group takes over: the
// one with its externalId, else its displayName, unless that one is linked
// to another directory group.
func (r *run) findGroup(ctx context.Context, want *wantGroup) (*directory.Group, error) {
	expr, err := r.s.parseFilter(r.s.reg.Group, "externalId eq "+quote(want.ExternalID)+" or displayName eq "+quote(want.DisplayName))
	if err != nil {
		return nil, err
	}
	page, err := r.s.dir.Groups(ctx, r.s.profile(), directory.Query{Filter: expr, Limit: 2})
	if err != nil {
		return nil, err
	}
	var pick *directory.Group
	for _, g := range page.Items {
		if g.ExternalID == want.ExternalID {
			pick = g
			break
		}
	}
	if pick == nil && len(page.Items) > 0 {
		pick = page.Items[0]
	}
	if pick == nil {
		return nil, nil
	}
	if other := r.linkedTo("Group", pick.ID); other != "" && other != want.ExternalID {
		return nil, &directory.Error{Kind: directory.ErrConflict, Field: "displayName",
			Msg: fmt.Sprintf("a group named %q is synchronised from another directory group already", want.DisplayName)}
	}
	return r.s.dir.Group(ctx, r.s.profile(), pick.ID, directory.ReadOptions{Members: true})
}

// goneMemberships counts the memberships that deleting the groups that
// have gone would remove (each member of a deleted group is removed from
// it: a Group.MemberRemoved each), for the guard.
func (r *run) goneMemberships(ctx context.Context, gs goneSet) (int, error) {
	n := 0
	if r.s.cfg.MaxMembershipRemovals < 0 {
		return 0, nil // no limit: nothing to count
	}
	for _, g := range gs.groups {
		if strings.HasPrefix(g.local, newPrefix) {
			continue // created by this (dry) run
		}
		grp, err := r.s.dir.Group(ctx, r.s.profile(), g.local, directory.ReadOptions{Members: true})
		switch {
		case errors.Is(err, directory.ErrNotFound):
			continue
		case err != nil:
			return 0, err
		}
		n += len(grp.Members)
	}
	return n, nil
}

// gone is a linked object whose entry has gone.
type gone struct{ remote, local string }

// goneSet is what has gone from the directory: linked objects whose
// entries were not found.
type goneSet struct{ users, groups, orgs []gone }

// gone lists the linked objects whose entries have gone: accounts not
// listed (not those disabled for it already, unless on_delete is delete),
// groups not among groupIDs, organizations of OUs not read.
func (r *run) gone(groupIDs map[string]bool) goneSet {
	c := r.s.cfg
	var gs goneSet
	r.mu.Lock()
	defer r.mu.Unlock()
	for remote, l := range r.links["User"] {
		if _, ok := r.idToDN[remote]; !ok && (c.OnDelete == "delete" || l.hash != goneHash) {
			gs.users = append(gs.users, gone{remote, l.local})
		}
	}
	if c.Groups != "off" {
		for remote, l := range r.links["Group"] {
			if !groupIDs[remote] {
				gs.groups = append(gs.groups, gone{remote, l.local})
			}
		}
	}
	if c.OUs == "tree" {
		for remote, l := range r.links["Organization"] {
			if !r.presentOrgs[remote] {
				gs.orgs = append(gs.orgs, gone{remote, l.local})
			}
		}
	}
	return gs
}

// guard refuses a run that would remove too much — more accounts and
// groups than max_deletions, every account, or more memberships than
// max_membership_removals: such a run removes nothing (no account
// disabled or deleted, no group deleted, no member removed). A broken
// search base or filter looks like everyone leaving.
func (r *run) guard(gs goneSet, removals, ofDeleted int) error {
	c := r.s.cfg
	var why []string
	if r.sum.Listed == 0 && len(gs.users) > 0 {
		why = append(why, fmt.Sprintf("the directory lists no account under the base DNs, and %d are linked", len(gs.users)))
	}
	if n := len(gs.users) + len(gs.groups); c.MaxDeletions >= 0 && n > c.MaxDeletions {
		why = append(why, fmt.Sprintf("%d accounts and groups are gone from the directory, more than max_deletions (%d)", n, c.MaxDeletions))
	}
	if n := removals + ofDeleted; c.MaxMembershipRemovals >= 0 && n > c.MaxMembershipRemovals {
		deleted := ""
		if ofDeleted > 0 {
			groups := "groups"
			if len(gs.groups) == 1 {
				groups = "group"
			}
			deleted = fmt.Sprintf(" (%d of them by deleting %d %s gone from the directory)", ofDeleted, len(gs.groups), groups)
		}
		why = append(why, fmt.Sprintf("%d group memberships would be removed%s, more than max_membership_removals (%d)", n, deleted, c.MaxMembershipRemovals))
	}
	if len(why) == 0 {
		return nil
	}
	err := fmt.Errorf("%w: %s; nothing was deleted, disabled or removed from a group", ErrTooManyDeletions, strings.Join(why, "; "))
	r.note(&Change{Op: "error", Kind: "Run", Error: err.Error(), err: err})
	return err
}

// deletions removes what has gone from the directory: accounts (disabled or
// deleted, per on_delete), groups, and organizations that are empty.
func (r *run) deletions(ctx context.Context, gs goneSet) error {
	c := r.s.cfg
	users, groups, orgs := gs.users, gs.groups, gs.orgs
	if len(users)+len(groups)+len(orgs) == 0 {
		return nil
	}
	r.startPhase("deletions", len(users)+len(groups)+len(orgs))
	slices.SortFunc(users, func(a, b gone) int { return strings.Compare(a.remote, b.remote) })
	var dropped []string
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch := &Change{Kind: "User", RemoteID: u.remote, ID: u.local}
		if cur, err := r.s.dir.User(ctx, r.s.profile(), u.local, directory.ReadOptions{}); err == nil {
			ch.Name = cur.UserName
		}
		var err error
		switch {
		case c.OnDelete == "delete":
			ch.Op = "delete"
			if !r.opt.DryRun {
				err = r.s.dir.DeleteUser(ctx, r.s.cfg.Actor(), r.s.profile(), u.local, nil)
				if errors.Is(err, directory.ErrNotFound) {
					err = nil
				}
			}
			if err == nil {
				r.dropLink("User", u.remote)
				dropped = append(dropped, u.local)
			}
		default:
			ch.Op = "disable"
			if !r.opt.DryRun {
				_, err = r.s.dir.UpdateUser(ctx, r.s.cfg.Actor(), r.s.profile(), u.local, nil, func(x *directory.User) error {
					x.Active = false
					return nil
				})
				if errors.Is(err, directory.ErrNotFound) {
					err = nil
					r.dropLink("User", u.remote)
					dropped = append(dropped, u.local)
					ch.Op = "delete"
					break
				}
			}
			if err == nil {
				r.setLink("User", u.local, u.remote, goneHash)
			}
		}
		if err != nil {
			r.count(&r.sum.Users, "error")
			r.tick(failure("User", "", u.remote, err))
			continue
		}
		r.count(&r.sum.Users, ch.Op)
		r.tick(ch)
	}
	if !r.opt.DryRun && len(dropped) > 0 {
		if err := r.s.links.DeleteLinks(ctx, c.Scope(), "User", dropped); err != nil {
			return err
		}
	}
	dropped = nil
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch := &Change{Op: "delete", Kind: "Group", RemoteID: g.remote, ID: g.local}
		if !r.opt.DryRun {
			if err := r.s.dir.DeleteGroup(ctx, r.s.cfg.Actor(), r.s.profile(), g.local, nil); err != nil && !errors.Is(err, directory.ErrNotFound) {
				r.count(&r.sum.Groups, "error")
				r.tick(failure("Group", "", g.remote, err))
				continue
			}
		}
		r.dropLink("Group", g.remote)
		dropped = append(dropped, g.local)
		r.count(&r.sum.Groups, "delete")
		r.tick(ch)
	}
	if !r.opt.DryRun && len(dropped) > 0 {
		if err := r.s.links.DeleteLinks(ctx, c.Scope(), "Group", dropped); err != nil {
			return err
		}
	}
	return r.deleteOrgs(ctx, orgs)
}

// deleteOrgs deletes the organizations of gone OUs, children first. One
// that still holds accounts (disabled ones, or others') or groups is kept
// and forgotten.
func (r *run) deleteOrgs(ctx context.Context, list []gone) error {
	if len(list) == 0 {
		return nil
	}
	orgs, err := r.s.dir.Orgs(ctx)
	if err != nil {
		return err
	}
	parent := map[string]string{}
	for _, o := range orgs {
		parent[o.ID] = o.ParentID
	}
	depthOf := func(id string) int {
		d := 0
		for p := parent[id]; p != "" && d < 1000; p = parent[p] {
			d++
		}
		return d
	}
	slices.SortFunc(list, func(a, b gone) int { return depthOf(b.local) - depthOf(a.local) })
	var dropped []string
	for _, o := range list {
		ch := &Change{Op: "delete", Kind: "Organization", RemoteID: o.remote, ID: o.local}
		if !r.opt.DryRun {
			err := r.s.dir.DeleteOrg(ctx, r.s.cfg.Actor(), o.local)
			switch {
			case err == nil, errors.Is(err, directory.ErrNotFound):
			case errors.Is(err, directory.ErrConflict):
				ch.Op, ch.Error = "keep", "the organizational unit is gone, but the organization still holds accounts or groups: kept"
			default:
				r.count(&r.sum.Orgs, "error")
				r.tick(failure("Organization", "", o.remote, err))
				continue
			}
		}
		r.dropLink("Organization", o.remote)
		dropped = append(dropped, o.local)
		r.count(&r.sum.Orgs, ch.Op)
		r.tick(ch)
	}
	if !r.opt.DryRun && len(dropped) > 0 {
		return r.s.links.DeleteLinks(ctx, r.s.cfg.Scope(), "Organization", dropped)
	}
	return nil
}

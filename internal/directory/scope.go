package directory

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"
	"time"
)

// A reader with a synchronization scope must not be able to watch what it
// cannot see. A resource's Version moves with every change, memberships
// and managers outside the scope included, and a group's Modified with
// every membership change; so such a reader is shown instead:
//
//   - as the version, one derived from what it sees of the resource: its
//     own attributes (AttrsVersion) and the ids of the related resources
//     inside the scope — a user's manager and groups, a group's members.
//     It moves when, and only when, one of those changes; If-Match and
//     If-None-Match compare with it.
//   - as lastModified, AttrsModified: the time of the last change of the
//     resource's own attributes. Membership changes, and a change of a
//     user's manager alone, do not move it (a change the reader can see
//     moves its version only), because the time of a change it cannot see
//     would show through a time that includes it. Filters and sorts on
//     meta.lastModified use the same time (the stores' filter compilers
//     read attrs_modified for such a reader).
//
// A reader without a scope sees Version and Modified, as ever.

// viewVersion is the version a reader with a scope sees: a hash of the
// resource's own-attribute version and the ids of what it sees related to
// it. It is at least 2^62, so it is never taken for a counter value.
func viewVersion(kind string, attrsVersion int64, manager string, related []string) int64 {
	h := sha256.New()
	h.Write([]byte(kind + "\x00" + strconv.FormatInt(attrsVersion, 10) + "\x00" + manager + "\x00"))
	for _, id := range slices.Sorted(slices.Values(related)) {
		h.Write([]byte(id + "\x00"))
	}
	sum := h.Sum(nil)
	return int64(binary.BigEndian.Uint64(sum[:8])>>2) | 1<<62
}

// seeUsers sets, for a reader with scope sc, the version and lastModified
// of users read for it, whose managers outside the scope are already left
// out and whose Groups are those inside the scope. Unless keepGroups, it
// then leaves the groups out (the read did not ask for them).
func seeUsers(sc *SyncScope, keepGroups bool, users ...*User) {
	if sc == nil {
		return
	}
	for _, u := range users {
		ids := make([]string, len(u.Groups))
		for i, g := range u.Groups {
			ids[i] = g.ID
		}
		u.Version, u.Modified = viewVersion("User", u.AttrsVersion, managerID(u), ids), u.AttrsModified
		if !keepGroups {
			u.Groups = nil
		}
	}
}

// seeGroups is seeUsers for groups: their Members are those inside the
// scope, left out afterwards unless keepMembers.
func seeGroups(sc *SyncScope, keepMembers bool, groups ...*Group) {
	if sc == nil {
		return
	}
	for _, g := range groups {
		g.Version, g.Modified = viewVersion("Group", g.AttrsVersion, "", memberIDs(g.Members)), g.AttrsModified
		if !keepMembers {
			g.Members = nil
		}
	}
}

// viewGroup returns what p sees of g, read in tx: g itself without a
// scope, else a copy with the version and lastModified p sees.
func viewGroup(ctx context.Context, tx Tx, p Profile, g *Group) (*Group, error) {
	sc := p.Scope.restriction()
	if sc == nil {
		return g, nil
	}
	ms, err := tx.Members(ctx, g.ID, sc)
	if err != nil {
		return nil, err
	}
	v := g.Clone()
	v.Members = ms
	seeGroups(sc, false, v)
	return v, nil
}

// userAttrsChanged reports whether next's own attributes differ from cur's:
// anything but its manager (users' memberships are not in User).
func userAttrsChanged(cur, next *User) bool {
	if managerID(cur) == "" && managerID(next) == "" {
		return !sameUser(cur, next)
	}
	a, _ := withoutManager(cur)
	b, _ := withoutManager(next)
	return !sameUser(a, b)
}

// stampUser sets next's AttrsVersion and AttrsModified: cur's, moved on to
// now when next's own attributes differ from cur's.
func stampUser(cur, next *User, now time.Time) {
	next.AttrsVersion, next.AttrsModified = cur.AttrsVersion, cur.AttrsModified
	if userAttrsChanged(cur, next) {
		next.AttrsVersion, next.AttrsModified = cur.AttrsVersion+1, now
	}
}

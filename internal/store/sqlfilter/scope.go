package sqlfilter

import (
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Synchronization scopes as SQL: the same text in both dialects (recursive
// common table expressions, IN lists), with the dialect's placeholders.

func (b *Builder) list(ids []string) string {
	ph := make([]string, len(ids))
	for i, id := range ids {
		ph[i] = b.Arg(id)
	}
	return strings.Join(ph, ", ")
}

// orgSubtree selects the ids of the scope's organizations and all their
// descendants.
func (b *Builder) orgSubtree(ids []string) string {
	return "(WITH RECURSIVE sub(id) AS (SELECT id FROM orgs WHERE id IN (" + b.list(ids) + ")" +
		" UNION SELECT o.id FROM orgs o JOIN sub ON o.parent_id = sub.id) SELECT id FROM sub)"
}

// ScopeUsers is the condition that keeps the users aliased alias inside
// scope: in one of its organizations (or below), or a member of one of its
// groups. A nil scope is everything.
//
// It is the condition for users another condition finds — one by id or by
// an indexed value, a group's members, the ids a write names — and tests
// each of them through the index of the groups a user is in. The set of a
// scope group's members (ScopeUserSet) would be read whole for each
// statement: 5 ms of CPU for a group of 20,000 at every GET on SQLite,
// 23 ms on PostgreSQL when the scope has organizations too (an IN beside an
// OR is hashed whole; this EXISTS is tested row by row or hashed, as
// PostgreSQL judges cheaper). Where it can, PostgreSQL plans it as a join,
// as it would the set (docs/benchmarks.md).
func (b *Builder) ScopeUsers(alias string, scope *directory.SyncScope) string {
	return b.scopeUsers(alias, scope, false)
}

// ScopeUserSet is ScopeUsers for a list of users that no index finds,
// which the scope may have to find: its groups' members as one set, which
// the database reads once and may read the users from, instead of testing
// every user it has.
func (b *Builder) ScopeUserSet(alias string, scope *directory.SyncScope) string {
	return b.scopeUsers(alias, scope, true)
}

func (b *Builder) scopeUsers(alias string, scope *directory.SyncScope, set bool) string {
	if scope == nil {
		return "(1 = 1)"
	}
	var parts []string
	if len(scope.OrgIDs) > 0 {
		parts = append(parts, alias+".org_id IN "+b.orgSubtree(scope.OrgIDs))
	}
	if len(scope.GroupIDs) > 0 {
		groups := "sg.id IN (" + b.list(scope.GroupIDs) + ")"
		if set {
			parts = append(parts, alias+".seq IN (SELECT sgm.user_seq FROM group_members sgm JOIN groups sg ON sg.seq = sgm.group_seq WHERE "+groups+")")
		} else {
			parts = append(parts, "EXISTS (SELECT 1 FROM group_members sgm JOIN groups sg ON sg.seq = sgm.group_seq WHERE sgm.user_seq = "+alias+".seq AND "+groups+")")
		}
	}
	if len(parts) == 0 {
		return "(1 = 0)"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// ScopeGroups is the condition that keeps the groups aliased alias inside
// scope: in one of its organizations (or below), or one of its groups.
func (b *Builder) ScopeGroups(alias string, scope *directory.SyncScope) string {
	if scope == nil {
		return "(1 = 1)"
	}
	var parts []string
	if len(scope.OrgIDs) > 0 {
		parts = append(parts, alias+".org_id IN "+b.orgSubtree(scope.OrgIDs))
	}
	if len(scope.GroupIDs) > 0 {
		parts = append(parts, alias+".id IN ("+b.list(scope.GroupIDs)+")")
	}
	if len(parts) == 0 {
		return "(1 = 0)"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// ScopeOrg is the condition that organization expression org lies inside
// scope's organizations.
func (b *Builder) ScopeOrg(org string, scope *directory.SyncScope) string {
	if scope == nil {
		return "(1 = 1)"
	}
	if len(scope.OrgIDs) == 0 {
		return "(1 = 0)"
	}
	return "(" + org + " IN " + b.orgSubtree(scope.OrgIDs) + ")"
}

// UserListScope is the scope condition of the list of users q: a list
// whose filter finds its rows through an index (directory.Query.Indexed,
// Pinned) tests each row found (ScopeUsers); any other takes the scope's
// set (ScopeUserSet).
func UserListScope(q directory.Query) func(*Builder) string {
	return func(b *Builder) string {
		if q.Pinned || q.Indexed {
			return b.ScopeUsers("t", q.Scope)
		}
		return b.ScopeUserSet("t", q.Scope)
	}
}

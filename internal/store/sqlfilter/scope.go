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
func (b *Builder) ScopeUsers(alias string, scope *directory.SyncScope) string {
	if scope == nil {
		return "(1 = 1)"
	}
	var parts []string
	if len(scope.OrgIDs) > 0 {
		parts = append(parts, alias+".org_id IN "+b.orgSubtree(scope.OrgIDs))
	}
	if len(scope.GroupIDs) > 0 {
		parts = append(parts, alias+".seq IN (SELECT sgm.user_seq FROM group_members sgm JOIN groups sg ON sg.seq = sgm.group_seq WHERE sg.id IN ("+b.list(scope.GroupIDs)+"))")
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

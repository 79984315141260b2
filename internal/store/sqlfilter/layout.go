package sqlfilter

import (
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// The layouts of the two stores' tables, which their migrations keep
// alike: the same tables, columns and side tables in SQLite and PostgreSQL.
// Paths are canonical schema.Ref strings.

// UserLayout is where each User attribute lives.
func UserLayout() *Layout {
	core := schema.UserURN + ":"
	return &Layout{
		Doc: "t.attrs",
		Seq: "t.seq",
		Columns: map[string]Column{
			core + "id":                                 {Expr: "t.id"},
			core + "userName":                           {Expr: "t.user_name_lower", Lowered: true},
			core + "displayName":                        {Expr: "t.display_name_lower", Lowered: true},
			core + "active":                             {Expr: "t.active", Kind: Bool},
			core + "meta.created":                       {Expr: "t.created", Kind: Time},
			core + "meta.lastModified":                  {Expr: "t.modified", Kind: Time, Scoped: "t.attrs_modified"},
			directory.EnterpriseURN + ":organizationId": {Expr: "t.org_id"},
		},
		Constants: map[string]string{core + "meta.resourceType": "User"},
		Unsupported: map[string]string{
			core + "meta.location": "it is derived from id",
			core + "meta.version":  "it is derived from the version number",
			core + "meta":          "name a sub-attribute",
		},
		Sides: map[string]SideTable{
			core + "emails": {
				From: "user_emails e", Link: "e.user_seq = t.seq", LinkColumn: "e.user_seq", Key: "t.seq",
				Subs: map[string]Column{
					"value":   {Expr: "e.value_lower", Lowered: true},
					"type":    {Expr: "e.type_lower", Lowered: true},
					"display": {Expr: "e.display_lower", Lowered: true},
					"primary": {Expr: "e.is_primary", Kind: Bool},
				},
				SortExpr: func(*Builder) string {
					return "(SELECT e2.value_lower FROM user_emails e2 WHERE e2.user_seq = t.seq ORDER BY e2.is_primary DESC, e2.pos LIMIT 1)"
				},
			},
			core + "externalId": externalIDs("user_external_ids", "user_seq"),
			core + "groups": {
				From: "group_members gm JOIN groups g ON g.seq = gm.group_seq", Link: "gm.user_seq = t.seq", LinkColumn: "gm.user_seq", Key: "t.seq",
				Subs: map[string]Column{
					"value":   {Expr: "g.id"},
					"display": {Expr: "g.display_name_lower", Lowered: true},
				},
				Constants: map[string]string{"type": "direct"},
				Visible:   func(b *Builder) string { return b.scoped(func() string { return b.ScopeGroups("g", b.Scope) }) },
			},
		},
		Guards: map[string]func(*Builder) string{
			// A manager outside the scope is not shown, so it is not there
			// to match or sort on either.
			directory.EnterpriseURN + ":manager": func(b *Builder) string {
				return b.scoped(func() string {
					keys := []string{directory.EnterpriseURN, "manager", "value"}
					return "EXISTS (SELECT 1 FROM users mgr WHERE mgr.id = " + b.D.JSONText("t.attrs", keys) +
						" AND " + b.ScopeUsers("mgr", b.Scope) + ")"
				})
			},
		},
	}
}

// GroupLayout is where each Group attribute lives.
func GroupLayout() *Layout {
	core := schema.GroupURN + ":"
	return &Layout{
		Doc: "t.attrs",
		Seq: "t.seq",
		Columns: map[string]Column{
			core + "id":                {Expr: "t.id"},
			core + "displayName":       {Expr: "t.display_name_lower", Lowered: true},
			core + "meta.created":      {Expr: "t.created", Kind: Time},
			core + "meta.lastModified": {Expr: "t.modified", Kind: Time, Scoped: "t.attrs_modified"},
		},
		Constants: map[string]string{core + "meta.resourceType": "Group"},
		Unsupported: map[string]string{
			core + "meta.location": "it is derived from id",
			core + "meta.version":  "it is derived from the version number",
			core + "meta":          "name a sub-attribute",
			core + "members.$ref":  "it is derived from the member's id",
		},
		Sides: map[string]SideTable{
			core + "externalId": externalIDs("group_external_ids", "group_seq"),
			core + "members": {
				From: "group_members gm JOIN users u ON u.seq = gm.user_seq", Link: "gm.group_seq = t.seq", LinkColumn: "gm.group_seq", Key: "t.seq",
				Subs: map[string]Column{
					"value":   {Expr: "u.id"},
					"display": {Expr: "COALESCE(u.display_name_lower, u.user_name_lower)", Lowered: true},
				},
				Constants: map[string]string{"type": "User"},
				Visible:   func(b *Builder) string { return b.scoped(func() string { return b.ScopeUsers("u", b.Scope) }) },
			},
		},
	}
}

// scoped returns cond() when the reader has a synchronization scope, else "".
func (b *Builder) scoped(cond func() string) string {
	if b.Scope == nil {
		return ""
	}
	return cond()
}

// externalIDs is where externalId lives: one row per provisioning domain
// that set one, in table (keyed by the resource's seq in column key). The
// reader sees its own domain's value only; comparisons use the (domain,
// external_id) index.
func externalIDs(table, key string) SideTable {
	return SideTable{
		From: table + " x", Link: "x." + key + " = t.seq", LinkColumn: "x." + key, Key: "t.seq",
		Subs:    map[string]Column{"value": {Expr: "x.external_id"}},
		Visible: func(b *Builder) string { return "x.domain = " + b.Arg(b.Domain) },
		SortExpr: func(b *Builder) string {
			return "(SELECT x2.external_id FROM " + table + " x2 WHERE x2." + key + " = t.seq AND x2.domain = " + b.Arg(b.Domain) + ")"
		},
	}
}

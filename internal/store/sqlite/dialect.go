package sqlite

import (
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

// dialect is SQLite's part of filter compilation.
type dialect struct{}

func (dialect) Param(n int) string           { return "?" + strconv.Itoa(n) }
func (dialect) Lower(x string) string        { return "gh_lower(" + x + ")" }
func (dialect) Contains(x, p string) string  { return "instr(" + x + ", " + p + ") > 0" }
func (dialect) HasPrefix(x, p string) string { return "substr(" + x + ", 1, length(" + p + ")) = " + p }
func (dialect) HasSuffix(x, p string) string {
	return "(length(" + x + ") >= length(" + p + ") AND substr(" + x + ", length(" + x + ") - length(" + p + ") + 1) = " + p + ")"
}
func (dialect) Collate(x string) string                   { return x } // BINARY collation: byte order
func (dialect) TimeArg(t time.Time) any                   { return fmtTime(t) }
func (dialect) JSONBool(doc string, keys []string) string { return jsonExtract(doc, keys) }
func (dialect) JSONNumber(doc string, keys []string) string {
	return jsonExtract(doc, keys)
}
func (dialect) JSONText(doc string, keys []string) string { return jsonExtract(doc, keys) }

func (dialect) BoolLit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (dialect) JSONTimeCompare(doc string, keys []string, op, p string) string {
	return "gh_time(" + jsonExtract(doc, keys) + ") " + op + " gh_time(" + p + ")"
}

// JSONPresent follows filter.Match: null, "", [] and {} are absent.
func (dialect) JSONPresent(doc string, keys []string) string {
	if len(keys) == 0 {
		return "(" + doc + " IS NOT NULL AND " + doc + " NOT IN ('', '[]', '{}'))"
	}
	p := "'" + jsonPath(keys) + "'"
	typ := "json_type(" + doc + ", " + p + ")"
	return "COALESCE(" + typ + " IN ('true', 'false', 'integer', 'real')" +
		" OR (" + typ + " = 'text' AND json_extract(" + doc + ", " + p + ") <> '')" +
		" OR (" + typ + " = 'array' AND json_array_length(" + doc + ", " + p + ") > 0)" +
		" OR (" + typ + " = 'object' AND json_extract(" + doc + ", " + p + ") <> '{}'), 0)"
}

func (dialect) JSONEach(doc string, keys []string, alias string) (string, string) {
	return "json_each(" + doc + ", '" + jsonPath(keys) + "') AS " + alias, alias + ".value"
}

// jsonExtract extracts keys below doc; with no keys, doc is an element of
// json_each, whose value column is already the SQL value for scalars and the
// JSON text for objects.
func jsonExtract(doc string, keys []string) string {
	if len(keys) == 0 {
		return doc
	}
	return "json_extract(" + doc + ", '" + jsonPath(keys) + "')"
}

func jsonPath(keys []string) string {
	sqlfilter.CheckKeys(keys)
	var b strings.Builder
	b.WriteString("$")
	for _, k := range keys {
		if k != "" && strings.Trim(k, "0123456789") == "" {
			b.WriteString("[" + k + "]")
			continue
		}
		b.WriteString(`."` + k + `"`)
	}
	return b.String()
}

// Layouts: where each attribute lives. Paths are canonical schema.Ref
// strings.

func userLayout() *sqlfilter.Layout {
	core := schema.UserURN + ":"
	return &sqlfilter.Layout{
		Doc: "t.attrs",
		Seq: "t.seq",
		Columns: map[string]sqlfilter.Column{
			core + "id":                                 {Expr: "t.id"},
			core + "externalId":                         {Expr: "t.external_id"},
			core + "userName":                           {Expr: "t.user_name_lower", Lowered: true},
			core + "displayName":                        {Expr: "t.display_name_lower", Lowered: true},
			core + "active":                             {Expr: "t.active", Kind: sqlfilter.Bool},
			core + "meta.created":                       {Expr: "t.created", Kind: sqlfilter.Time},
			core + "meta.lastModified":                  {Expr: "t.modified", Kind: sqlfilter.Time},
			directory.EnterpriseURN + ":organizationId": {Expr: "t.org_id"},
		},
		Constants: map[string]string{core + "meta.resourceType": "User"},
		Unsupported: map[string]string{
			core + "meta.location": "it is derived from id",
			core + "meta.version":  "it is derived from the version number",
			core + "meta":          "name a sub-attribute",
		},
		Sides: map[string]sqlfilter.SideTable{
			core + "emails": {
				From: "user_emails e", Link: "e.user_seq = t.seq", LinkColumn: "e.user_seq", Key: "t.seq",
				Subs: map[string]sqlfilter.Column{
					"value":   {Expr: "e.value_lower", Lowered: true},
					"type":    {Expr: "e.type_lower", Lowered: true},
					"display": {Expr: "e.display_lower", Lowered: true},
					"primary": {Expr: "e.is_primary", Kind: sqlfilter.Bool},
				},
				SortExpr: "(SELECT e2.value_lower FROM user_emails e2 WHERE e2.user_seq = t.seq ORDER BY e2.is_primary DESC, e2.pos LIMIT 1)",
			},
			core + "groups": {
				From: "group_members gm JOIN groups g ON g.seq = gm.group_seq", Link: "gm.user_seq = t.seq", LinkColumn: "gm.user_seq", Key: "t.seq",
				Subs: map[string]sqlfilter.Column{
					"value":   {Expr: "g.id"},
					"display": {Expr: "g.display_name_lower", Lowered: true},
				},
				Constants: map[string]string{"type": "direct"},
			},
		},
	}
}

func groupLayout() *sqlfilter.Layout {
	core := schema.GroupURN + ":"
	return &sqlfilter.Layout{
		Doc: "t.attrs",
		Seq: "t.seq",
		Columns: map[string]sqlfilter.Column{
			core + "id":                {Expr: "t.id"},
			core + "externalId":        {Expr: "t.external_id"},
			core + "displayName":       {Expr: "t.display_name_lower", Lowered: true},
			core + "meta.created":      {Expr: "t.created", Kind: sqlfilter.Time},
			core + "meta.lastModified": {Expr: "t.modified", Kind: sqlfilter.Time},
		},
		Constants: map[string]string{core + "meta.resourceType": "Group"},
		Unsupported: map[string]string{
			core + "meta.location": "it is derived from id",
			core + "meta.version":  "it is derived from the version number",
			core + "meta":          "name a sub-attribute",
			core + "members.$ref":  "it is derived from the member's id",
		},
		Sides: map[string]sqlfilter.SideTable{
			core + "members": {
				From: "group_members gm JOIN users u ON u.seq = gm.user_seq", Link: "gm.group_seq = t.seq", LinkColumn: "gm.group_seq", Key: "t.seq",
				Subs: map[string]sqlfilter.Column{
					"value":   {Expr: "u.id"},
					"display": {Expr: "COALESCE(u.display_name_lower, u.user_name_lower)", Lowered: true},
				},
				Constants: map[string]string{"type": "User"},
			},
		},
	}
}

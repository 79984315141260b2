package postgres

import (
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

// dialect is PostgreSQL's part of filter compilation.
type dialect struct{}

var _ sqlfilter.Dialect = dialect{}

func (dialect) Param(n int) string           { return "$" + strconv.Itoa(n) }
func (dialect) Lower(x string) string        { return "lower(" + x + ")" }
func (dialect) Contains(x, p string) string  { return "strpos(" + x + ", " + p + ") > 0" }
func (dialect) HasPrefix(x, p string) string { return "starts_with(" + x + ", " + p + ")" }

// HasSuffix compares the last length(p) characters. For an empty p those
// are the empty string again, so the empty suffix matches every value, as in
// strings.HasSuffix.
func (dialect) HasSuffix(x, p string) string { return "right(" + x + ", length(" + p + ")) = " + p }

// Collate parenthesizes x: COLLATE binds tighter than the JSON operators.
func (dialect) Collate(x string) string { return "(" + x + `) COLLATE "C"` }

func (dialect) BoolLit(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TimeArg passes times as time.Time, which pgx sends as timestamptz.
func (dialect) TimeArg(t time.Time) any { return t.UTC() }

// The JSON functions read the jsonb document through the gh_… helpers the
// migration defines, which type-check the value as filter.Match does.

// JSONText is the string at path; NULL for any other JSON type.
func (dialect) JSONText(doc string, keys []string) string {
	return "gh_text(" + jsonValue(doc, keys) + ")"
}

// JSONNumber is the number at path as float8, the reference evaluator's
// float64 (so sort keys also survive the trip through directory.Key); NULL
// for any other JSON type.
func (dialect) JSONNumber(doc string, keys []string) string {
	return "gh_number(" + jsonValue(doc, keys) + ")"
}

// JSONBool is the boolean at path; NULL for any other JSON type.
func (dialect) JSONBool(doc string, keys []string) string {
	return "gh_bool(" + jsonValue(doc, keys) + ")"
}

// JSONTimeCompare compares the RFC 3339 string at path, read by
// gh_timestamptz (NULL if malformed), with the parameter, which the filter
// compiler formats as RFC 3339.
func (d dialect) JSONTimeCompare(doc string, keys []string, op, p string) string {
	return "gh_timestamptz(" + d.JSONText(doc, keys) + ") " + op + " " + p + "::timestamptz"
}

// JSONPresent tests that the value at path holds a number, a boolean or a
// non-empty string, at any depth; never NULL.
func (dialect) JSONPresent(doc string, keys []string) string {
	return "gh_present(" + jsonValue(doc, keys) + ")"
}

// JSONEach iterates the elements of the array at path. As in filter.Match, a
// value that is not an array is a list of one, and a missing value or JSON
// null an empty list (gh_elements). An element is a jsonb value, alias.v.
func (dialect) JSONEach(doc string, keys []string, alias string) (string, string) {
	return "jsonb_array_elements(gh_elements(" + jsonValue(doc, keys) + ")) AS " + alias + "(v)", alias + ".v"
}

// jsonValue is the jsonb value at path; with no keys, doc itself.
func jsonValue(doc string, keys []string) string {
	if len(keys) == 0 {
		return doc
	}
	return doc + " #> " + jsonPath(keys)
}

// jsonPath renders keys as the text[] literal #> takes, e.g.
// '{"name","givenName"}'. Keys that look like numbers index arrays.
// CheckKeys guarantees that no key holds a quote, brace, comma or backslash.
func jsonPath(keys []string) string {
	sqlfilter.CheckKeys(keys)
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = `"` + k + `"`
	}
	return "'{" + strings.Join(quoted, ",") + "}'"
}

// Layouts: where each attribute lives. They name the same columns as the
// SQLite store's.

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

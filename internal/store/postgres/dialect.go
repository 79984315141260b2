package postgres

import (
	"strconv"
	"strings"
	"time"

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

package sqlite

import (
	"strconv"
	"strings"
	"time"

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

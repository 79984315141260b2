package postgres

import (
	"regexp"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
	"github.com/gatehouse-id/gatehouse/internal/store/storetest"
)

func compileUser(e filter.Expr) (string, []any, error) {
	b := &sqlfilter.Builder{D: dialect{}, Domain: "app-1"}
	sql, err := b.Where(sqlfilter.UserLayout(), e)
	return sql, b.Args, err
}

// countParams counts the distinct $N placeholders.
func countParams(sql string) int {
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\d+`).FindAllString(sql, -1) {
		seen[m] = true
	}
	return len(seen)
}

// TestCompile needs no database: it checks the SQL text.
func TestCompile(t *testing.T) { storetest.TestCompile(t, "compile", compileUser) }

func FuzzCompile(f *testing.F) { storetest.FuzzCompile(f, compileUser, countParams) }

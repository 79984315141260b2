package storetest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

var update = flag.Bool("update", false, "rewrite golden files")

// UserFilters are the filters the conformance suite runs; stores use them
// as the table of their compiler tests and the seeds of their fuzz tests.
func UserFilters() []string { return append([]string(nil), userFilters...) }

// CompileFunc compiles a resolved User filter with a store's layout and
// dialect.
type CompileFunc func(e filter.Expr) (string, []any, error)

func compileCase(t testing.TB, f string, compile CompileFunc) (string, []any, error) {
	expr, err := filter.Parse(f)
	if err != nil {
		return "", nil, err
	}
	if err := filter.Resolve(expr, registry(t).User); err != nil {
		return "", nil, err
	}
	return compile(expr)
}

// TestCompile compiles every conformance filter and compares the SQL and
// arguments with testdata/<name>.golden (rewritten with -update).
func TestCompile(t *testing.T, name string, compile CompileFunc) {
	var b strings.Builder
	for _, f := range userFilters {
		sql, args, err := compileCase(t, f, compile)
		fmt.Fprintf(&b, "filter: %s\n", f)
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n\n", err)
			continue
		}
		fmt.Fprintf(&b, "sql:    %s\nargs:   %#v\n\n", sql, args)
		checkCompiled(t, f, sql)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("compiled SQL changed (-golden +now); run with -update if intended:\n%s", diff)
	}
}

// checkCompiled holds for any compiled filter: placeholders and arguments
// agree, and no value of the filter appears in the SQL text.
func checkCompiled(t testing.TB, f, sql string) {
	t.Helper()
	expr, err := filter.Parse(f)
	if err != nil {
		return
	}
	filter.Walk(expr, func(e filter.Expr) bool {
		if c, ok := e.(*filter.Compare); ok && c.Value.Kind == filter.KindString && len(c.Value.Str) >= 4 &&
			strings.ContainsAny(c.Value.Str, "'\";-") && strings.Contains(sql, c.Value.Str) {
			t.Errorf("filter %q: value %q appears in the SQL: %s", f, c.Value.Str, sql)
		}
		return true
	})
}

// FuzzCompile compiles arbitrary filters: never a panic, every value an
// argument. countParams counts the distinct placeholders of a statement.
func FuzzCompile(f *testing.F, compile CompileFunc, countParams func(string) int) {
	for _, s := range userFilters {
		f.Add(s)
	}
	f.Add(`userName eq "x' OR '1'='1"`)
	f.Add(`name.givenName co "'; DROP TABLE users; --"`)
	f.Add(`emails[value eq "a\"b" or type sw "'"]`)
	f.Fuzz(func(t *testing.T, s string) {
		sql, args, err := compileCase(t, s, compile)
		if err != nil {
			return // refused filters are the parser's and resolver's tests
		}
		if n := countParams(sql); n != len(args) {
			t.Fatalf("filter %q: %d placeholders, %d arguments: %s", s, n, len(args), sql)
		}
		checkCompiled(t, s, sql)
	})
}

package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/cli"
)

// TestUsage: usage errors exit 2 and are printed once, on stderr, with a
// suggestion where one is close; help exits 0 on stdout and names the
// subcommands and positional arguments. None of these touch a database:
// the data directory stays absent.
func TestUsage(t *testing.T) {
	type want struct {
		Code int
		// Patterns that stdout and stderr must match (an empty list: the
		// stream must be empty).
		Stdout, Stderr []string
	}
	tests := []struct {
		args []string
		want want
	}{
		// Unknown flags: exit 2, one message naming the command, a hint
		// for a near miss, no flag dump.
		{[]string{"app", "list", "--bogus"}, want{2, nil, []string{`^gatehouse: app list: unknown flag --bogus\nRun "gatehouse app list -h" for its arguments and flags.\n$`}}},
		{[]string{"app", "list", "--jsn"}, want{2, nil, []string{`unknown flag --jsn; did you mean --json\?`}}},
		{[]string{"serve", "--bogus"}, want{2, nil, []string{`^gatehouse: serve: unknown flag --bogus\n`}}},
		{[]string{"push", "--dryrun", "x"}, want{2, nil, []string{`did you mean --dry-run\?`}}},
		{[]string{"rules", "test", "--patern", "x"}, want{2, nil, []string{`did you mean --pattern\?`}}},
		{[]string{"deliveries", "replay", "--targt", "x"}, want{2, nil, []string{`did you mean --target\?`}}},
		{[]string{"app", "create", "x", "--kind"}, want{2, nil, []string{`flag needs an argument: -kind`}}},
		// Mistyped commands and subcommands.
		{[]string{"tokn"}, want{2, nil, []string{`^gatehouse: unknown command "tokn"; did you mean "token"\?\nRun "gatehouse help" for the list of commands.\n$`}}},
		{[]string{"frobnicate"}, want{2, nil, []string{`^gatehouse: unknown command "frobnicate"\n`}}},
		{[]string{"app", "lsit"}, want{2, nil, []string{`unknown app subcommand "lsit"; did you mean "list"\? \(one of: create, list, show, update, enable, disable, delete, oidc\)`}}},
		{[]string{"targets", "tset"}, want{2, nil, []string{`did you mean "test"\?`}}},
		{[]string{"app", "--json"}, want{2, nil, []string{`app: give the subcommand first, then --json`}}},
		{[]string{"app"}, want{2, nil, []string{`app needs a subcommand: create, list`}}},
		{[]string{"sync", "ldpa"}, want{2, nil, []string{`did you mean "ldap"\?`}}},
		// Arguments.
		{[]string{"token", "create", "my-idp"}, want{2, nil, []string{`^gatehouse: token create: the application is given with --app: gatehouse token create --app my-idp\n$`}}},
		{[]string{"secret", "list", "my-idp"}, want{2, nil, []string{`--app my-idp`}}},
		{[]string{"token", "create"}, want{2, nil, []string{`token: --app is required`}}},
		{[]string{"app", "show"}, want{2, nil, []string{`app show: give the application's name or id\nUsage: gatehouse app show APP \[flags\]`}}},
		{[]string{"app", "list", "extra"}, want{2, nil, []string{`app list takes no arguments \(got "extra"\)`}}},
		{[]string{"serve", "extra"}, want{2, nil, []string{`serve takes no arguments`}}},
		{[]string{"migrate", "up", "--sql"}, want{2, nil, []string{`--sql goes with --dry-run`}}},
		// Flag values out of range, like values of the wrong type.
		{[]string{"users", "list", "--limit", "abc"}, want{2, nil, []string{`invalid value "abc" for flag -limit`}}},
		{[]string{"users", "list", "--limit", "99999"}, want{2, nil, []string{`^gatehouse: --limit must be from 1 to 1000 \(got 99999\)\n$`}}},
		{[]string{"users", "list", "--limit", "0"}, want{2, nil, []string{`--limit must be from 1 to 1000 \(got 0\)`}}},
		{[]string{"groups", "list", "--limit", "-1"}, want{2, nil, []string{`--limit must be from 1 to 1000`}}},
		{[]string{"audit", "list", "--limit", "0"}, want{2, nil, []string{`--limit must be from 1 to 1000`}}},
		{[]string{"deliveries", "list", "--limit", "5000"}, want{2, nil, []string{`--limit must be from 1 to 1000`}}},
		{nil, want{2, nil, []string{`^Gatehouse: a SCIM 2.0 identity hub.`}}},
		// Help: stdout, exit 0; groups list their subcommands, commands
		// name their arguments.
		{[]string{"app", "-h"}, want{0, []string{`Usage: gatehouse app <subcommand>`, `\n  create NAME +create an application`, `\n  show APP +`,
			`\n  delete APP +.*--force`, `Run "gatehouse app <subcommand> -h"`}, nil}},
		{[]string{"app", "help"}, want{0, []string{`\n  enable APP `}, nil}},
		{[]string{"help", "token"}, want{0, []string{`Usage: gatehouse token <subcommand>`, `\n  show ID --app APP +show one`, `\n  create --app APP +create`}, nil}},
		{[]string{"token", "create", "-h"}, want{0, []string{`^Usage: gatehouse token create --app APP \[flags\]`}, nil}},
		{[]string{"deliveries", "--help"}, want{0, []string{`\n  replay \[ID…\] +queue deliveries again`}, nil}},
		{[]string{"rules", "-h"}, want{0, []string{`\n  test +say whether a pattern matches`, `\n  show RULE `}, nil}},
		{[]string{"targets", "-h"}, want{0, []string{`\n  test TARGET +send one test event`}, nil}},
		{[]string{"users", "-h"}, want{0, []string{`\n  list +list users`}, nil}},
		{[]string{"migrate", "-h"}, want{0, []string{`\n  status +list the migrations`, `\n  up +apply the pending`}, nil}},
		{[]string{"sync", "-h"}, want{0, []string{`\n  ldap \[NAME…\] +from the LDAP`}, nil}},
		{[]string{"app", "create", "-h"}, want{0, []string{`^Usage: gatehouse app create NAME \[flags\]\n\nCreate an application`, `Arguments:\n  NAME  the application's name\n`,
			`Flags:\n`, `-kind string`}, nil}},
		{[]string{"app", "delete", "x", "-h"}, want{0, []string{`Usage: gatehouse app delete APP \[flags\]`, `-force`}, nil}},
		{[]string{"deliveries", "replay", "-h"}, want{0, []string{`Usage: gatehouse deliveries replay \[ID…\] \[flags\]`, `ID  a delivery's id`}, nil}},
		{[]string{"journey", "-h"}, want{0, []string{`^Usage: gatehouse journey USER \[flags\]`, `USER  an id or a userName`}, nil}},
		{[]string{"push", "-h"}, want{0, []string{`^Usage: gatehouse push TARGET \[flags\]`, `-dry-run`}, nil}},
		{[]string{"sync", "ldap", "-h"}, want{0, []string{`^Usage: gatehouse sync ldap \[NAME…\] \[flags\]`, `-relink`}, nil}},
		{[]string{"serve", "-h"}, want{0, []string{`^Usage: gatehouse serve \[flags\]`, `-listen string`}, nil}},
		{[]string{"rules", "test", "-h"}, want{0, []string{`^Usage: gatehouse rules test \[flags\]`, `-pattern string`}, nil}},
		{[]string{"targets", "test", "-h"}, want{0, []string{`^Usage: gatehouse targets test TARGET \[flags\]`, `-to string`}, nil}},
		{[]string{"users", "list", "-h"}, want{0, []string{`-filter string`, `-after string`}, nil}},
		{[]string{"help"}, want{0, []string{`gatehouse users list`, `gatehouse migrate status\|up`, `gatehouse targets list\|test`}, nil}},
		{[]string{"help", "nope"}, want{2, nil, []string{`unknown command "nope"`}}},
		{[]string{"help", "-h"}, want{0, []string{`^Gatehouse: a SCIM 2.0 identity hub.`}, nil}},
		{[]string{"help", "help"}, want{0, []string{`^Gatehouse: a SCIM 2.0 identity hub.`}, nil}},
		{[]string{"--help"}, want{0, []string{`^Gatehouse: a SCIM 2.0 identity hub.`}, nil}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			getenv := func(k string) string {
				switch k {
				case "GATEHOUSE_DATA_DIR":
					return data
				case "GATEHOUSE_LISTEN":
					return "127.0.0.1:0"
				}
				return ""
			}
			// A bound on a command that would run instead of refusing
			// (serve), not a timing assertion.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := cli.Main(ctx, tt.args, strings.NewReader(""), &stdout, &stderr, getenv)
			got := want{Code: code, Stdout: matching(stdout.String(), tt.want.Stdout), Stderr: matching(stderr.String(), tt.want.Stderr)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\nstdout:\n%s\nstderr:\n%s", diff, stdout.String(), stderr.String())
			}
			if tt.want.Code == 2 && strings.Count(stderr.String(), "gatehouse: ") > 1 {
				t.Errorf("the error is printed more than once:\n%s", stderr.String())
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("%v created the data directory", tt.args)
			}
		})
	}
}

// matching returns the patterns that out matches, or out itself in their
// place when it matches none of them or should have been empty: so that
// the diff shows what went wrong.
func matching(out string, patterns []string) []string {
	if len(patterns) == 0 {
		if out == "" {
			return nil
		}
		return []string{out}
	}
	var got []string
	for _, p := range patterns {
		if regexp.MustCompile(p).MatchString(out) {
			got = append(got, p)
		} else {
			got = append(got, "NO MATCH IN: "+out)
		}
	}
	return got
}

package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gatehouse-id/gatehouse/internal/cli"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync/slapdtest"
)

// The scripts run the gatehouse command as a process of its own (the test
// binary re-executed as "gatehouse"), servers included, and talk to
// servers with curl.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"gatehouse": func() {
			os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("GATEHOUSE_DATA_DIR", e.WorkDir+"/data")
			// A free port for scripts that start a server.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			addr := ln.Addr().String()
			ln.Close()
			e.Setenv("ADDR", addr)
			e.Setenv("BASE", "http://"+addr)
			// More, for scripts with several servers.
			for _, n := range []string{"2", "3"} {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					return err
				}
				a := ln.Addr().String()
				ln.Close()
				e.Setenv("ADDR"+n, a)
				e.Setenv("BASE"+n, "http://"+a)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"getjson":       getJSON,
			"samejson":      sameJSON,
			"slapd":         slapdCmd,
			"hook":          hookCmd,
			"rewrite-audit": rewriteAudit,
		},
	})
}

// getJSON VAR PATH sets VAR to the value at PATH (dot-separated keys and
// indexes) in the JSON of the last command's stdout.
func getJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: getjson VAR PATH")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("stdout is not JSON: %v", err)
	}
	for _, k := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
				ts.Fatalf("no index %q", k)
			}
			v = x[i]
		default:
			ts.Fatalf("no %q in %v", k, v)
		}
	}
	if v == nil {
		ts.Fatalf("%s is absent", args[1])
	}
	ts.Setenv(args[0], fmt.Sprint(v))
}

// sameJSON A B fails unless files A and B hold the same JSON value (layout
// aside).
func sameJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: samejson FILE1 FILE2")
	}
	var a, b any
	for i, v := range []*any{&a, &b} {
		if err := json.Unmarshal([]byte(ts.ReadFile(args[i])), v); err != nil {
			ts.Fatalf("%s is not JSON: %v", args[i], err)
		}
	}
	diff := cmp.Diff(a, b)
	switch {
	case neg && diff == "":
		ts.Fatalf("%s and %s hold the same JSON", args[0], args[1])
	case !neg && diff != "":
		ts.Fatalf("%s and %s differ (-%s +%s):\n%s", args[0], args[1], args[0], args[1], diff)
	}
}

// slapdCmd runs an OpenLDAP server for a script (ldapsync/slapdtest).
//
//	slapd ensure                      put slapd on PATH, for [exec:slapd]; fail if it is
//	                                  missing (skip if GATEHOUSE_TEST_SKIP_SLAPD=1)
//	slapd start LDIF [TEMPLATE OUT]   start one loaded with LDIF, stopped at the end;
//	                                  set LDAP_URL, LDAPS_URL, LDAP_CA, LDAP_BIND_DN,
//	                                  LDAP_PW, LDAP_ADMIN_DN, LDAP_ADMIN_PW, and write
//	                                  OUT from TEMPLATE with those expanded
func slapdCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: slapd ensure | slapd start LDIF [TEMPLATE OUT]")
	}
	switch {
	case args[0] == "ensure" && len(args) == 1:
		if why, skip := slapdtest.Missing(); why != "" {
			if skip {
				return // the script skips: [!exec:slapd] skip
			}
			ts.Fatalf("%s", why)
		}
		bin, _, err := slapdtest.Find()
		ts.Check(err)
		ts.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+ts.Getenv("PATH"))
	case args[0] == "start" && (len(args) == 2 || len(args) == 4):
		srv, err := slapdtest.Start(ts.MkAbs("slapd"), slapdtest.Options{LDIF: ts.ReadFile(args[1]), Limits: "size=unlimited"})
		ts.Check(err)
		ts.Defer(srv.Stop)
		vars := map[string]string{"LDAP_URL": srv.LDAPURL, "LDAPS_URL": srv.LDAPSURL, "LDAP_CA": srv.CAFile, "LDAP_BIND_DN": srv.SvcDN,
			"LDAP_PW": srv.SvcPW, "LDAP_ADMIN_DN": srv.AdminDN, "LDAP_ADMIN_PW": srv.AdminPW}
		for k, v := range vars {
			ts.Setenv(k, v)
		}
		if len(args) == 4 {
			out := os.Expand(ts.ReadFile(args[2]), func(k string) string { return vars[k] })
			ts.Check(os.WriteFile(ts.MkAbs(args[3]), []byte(out), 0o600))
		}
	default:
		ts.Fatalf("usage: slapd ensure | slapd start LDIF [TEMPLATE OUT]")
	}
}

// hookCmd runs a webhook receiver for a script, stopped at the end.
//
//	hook start   answer every POST with 204, keep its body in hook/N.json
//	             (N from 1) under the work directory; set HOOK_URL
func hookCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || args[0] != "start" {
		ts.Fatalf("usage: hook start")
	}
	dir := ts.MkAbs("hook")
	ts.Check(os.MkdirAll(dir, 0o755))
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n++
		name := filepath.Join(dir, fmt.Sprintf("%d.json", n))
		mu.Unlock()
		_ = os.WriteFile(name, body, 0o644)
		w.WriteHeader(http.StatusNoContent)
	}))
	ts.Defer(srv.Close)
	ts.Setenv("HOOK_URL", srv.URL+"/hook")
}

// rewriteAudit DB SHIFT rewrites the audit chain of the SQLite database DB
// the way someone who holds the file and has read the code could: every
// record's time moved back by SHIFT (as 200d), every hash recomputed, the
// head moved along, the append-only trigger put back. The chain stays
// consistent; only the signed checkpoints can tell.
func rewriteAudit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: rewrite-audit DB SHIFT")
	}
	shift, err := config.ParseDuration(args[1])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0]))
	ts.Check(err)
	defer db.Close()
	rows, err := db.Query(`SELECT seq, at, actor_kind, actor_app_id, actor_app_name, actor_token_id, request_id, action,
		resource_type, resource_id, before, after, prev_hash FROM audit_log ORDER BY seq`)
	ts.Check(err)
	var chain []*directory.AuditEntry
	for rows.Next() {
		var e directory.AuditEntry
		var at string
		var appID, appName, tokenID, reqID, before, after sql.NullString
		ts.Check(rows.Scan(&e.Seq, &at, &e.Actor.Kind, &appID, &appName, &tokenID, &reqID, &e.Action, &e.ResourceType,
			&e.ResourceID, &before, &after, &e.PrevHash))
		e.Time, err = time.Parse(time.RFC3339Nano, at)
		ts.Check(err)
		e.Actor.AppID, e.Actor.AppName, e.Actor.TokenID, e.Actor.RequestID = appID.String, appName.String, tokenID.String, reqID.String
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		chain = append(chain, &e)
	}
	ts.Check(rows.Err())
	var trigger string
	ts.Check(db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_log_no_update'`).Scan(&trigger))
	tx, err := db.Begin()
	ts.Check(err)
	_, err = tx.Exec(`DROP TRIGGER audit_log_no_update`)
	ts.Check(err)
	prev := ""
	if len(chain) > 0 {
		prev = chain[0].PrevHash
	}
	for _, e := range chain {
		e.Time, e.PrevHash = e.Time.Add(-shift), prev
		e.Hash = directory.AuditHash(prev, e)
		prev = e.Hash
		_, err = tx.Exec(`UPDATE audit_log SET at = ?, prev_hash = ?, hash = ? WHERE seq = ?`,
			e.Time.UTC().Format(directory.AuditTimeLayout), e.PrevHash, e.Hash, e.Seq)
		ts.Check(err)
	}
	_, err = tx.Exec(`UPDATE audit_head SET hash = ? WHERE id = 1`, prev)
	ts.Check(err)
	_, err = tx.Exec(trigger)
	ts.Check(err)
	ts.Check(tx.Commit())
}

package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gatehouse-id/gatehouse/internal/cli"
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
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"getjson": getJSON,
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

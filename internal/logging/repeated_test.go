package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A failure repeated every 250 ms for three minutes gives four lines: the
// first failure, one a minute with the count since the last line, and the
// recovery; a success without a failure before logs nothing.
func TestRepeated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		log, _ := New(&buf, Options{Format: "json"})
		r := &Repeated{Log: log, Msg: "dispatch events", Attrs: []any{"target", "hook"}}
		ctx := context.Background()
		r.OK(ctx)
		down := errors.New("connection refused")
		for range 3 * 60 * 4 {
			r.Fail(ctx, down)
			time.Sleep(250 * time.Millisecond)
		}
		r.OK(ctx)
		r.OK(ctx)

		type line struct {
			Level, Msg, Target, Err string
			Failures                int
			Since                   string `json:"failing_since"`
			For                     string `json:"failed_for"`
		}
		var got []line
		for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			var x line
			if err := json.Unmarshal(l, &x); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			got = append(got, x)
		}
		since := time.Now().Add(-3 * time.Minute).UTC().Format(time.RFC3339)
		want := []line{
			{Level: "ERROR", Msg: "dispatch events", Target: "hook", Err: "connection refused"},
			{Level: "ERROR", Msg: "dispatch events", Target: "hook", Err: "connection refused", Failures: 240, Since: since},
			{Level: "ERROR", Msg: "dispatch events", Target: "hook", Err: "connection refused", Failures: 240, Since: since},
			{Level: "INFO", Msg: "dispatch events: working again", Target: "hook", Failures: 720, For: "3m0s"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("log lines (-want +got):\n%s", diff)
		}
	})
}

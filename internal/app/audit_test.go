package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/checkpoint"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// TestAuditCheckpoints: the running server signs the audit chain's head
// into the checkpoint file on its interval and once more when it stops;
// the admin API's verification compares the chain with them (and with
// checkpoints sent in the request), so records removed from the end with
// the head moved back are found.
func TestAuditCheckpoints(t *testing.T) {
	dir := t.TempDir()
	keyFile, cpFile := filepath.Join(dir, "keys", "audit.key"), filepath.Join(dir, "anchors", "checkpoints.log")
	r := start(t, func(c *config.Config) {
		c.Audit.CheckpointKeyFile, c.Audit.CheckpointFile = keyFile, cpFile
		c.Audit.CheckpointInterval = config.Duration(time.Second)
	})
	ctx := context.Background()
	var key ed25519.PrivateKey
	waitFor(t, "the server to create its key", func() bool {
		k, err := checkpoint.LoadKey(keyFile)
		key = k
		return err == nil
	})
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	// anchored waits until the file anchors the current head.
	anchored := func(what string) int64 {
		t.Helper()
		seq, hash, err := r.app.Store.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := checkpoint.Prefix + "seq=" + strconv.FormatInt(seq, 10) + " hash=" + hash + " "
		waitFor(t, what, func() bool {
			b, _ := os.ReadFile(cpFile)
			return strings.Contains(string(b), want)
		})
		return seq
	}
	createUser(t, r, `{"userName":"ana@example.com","active":true}`)
	seq := anchored("the periodic checkpoint")

	ver := adminCall(t, r, "POST", "/audit/verify", "")
	var rep struct {
		OK          bool
		Problems    []struct{ Seq int64 }
		Checkpoints struct {
			Read, Matched, Rejected int
			Unanchored              int64
			Latest                  struct{ Seq int64 }
			Sources                 []string
		}
	}
	decodeInto := func(raw []byte) {
		t.Helper()
		rep.Problems = nil
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
	}
	decodeInto(ver.raw)
	if ver.status != 200 || !rep.OK || rep.Checkpoints.Read == 0 || rep.Checkpoints.Matched != rep.Checkpoints.Read ||
		rep.Checkpoints.Latest.Seq != seq || rep.Checkpoints.Unanchored != 0 || len(rep.Checkpoints.Sources) != 1 {
		t.Fatalf("verify: %d %s", ver.status, ver.raw)
	}

	// Checkpoints sent with the request are compared too: a forged one is
	// refused and named; one that is genuine counts.
	genuine := checkpoint.Sign(key, seq, strings.Repeat("0", 64), time.Now())
	forged := strings.Replace(checkpoint.Sign(key, seq, strings.Repeat("0", 64), time.Now()), "seq=", "seq=1", 1)
	body, _ := json.Marshal(map[string]any{"checkpoints": []string{"log line: " + forged}})
	res := adminCall(t, r, "POST", "/audit/verify", string(body))
	decodeInto(res.raw)
	if res.status != 200 || rep.OK || rep.Checkpoints.Rejected != 1 || !strings.Contains(string(res.raw), "request checkpoints[0]:1 does not carry a valid signature") {
		t.Errorf("forged checkpoint: %d %s", res.status, res.raw)
	}
	body, _ = json.Marshal(map[string]any{"checkpoints": []string{genuine}})
	res = adminCall(t, r, "POST", "/audit/verify", string(body))
	decodeInto(res.raw)
	if res.status != 200 || rep.OK || !strings.Contains(string(res.raw), "does not match the checkpoint") {
		t.Errorf("a checkpoint anchoring another hash: %d %s", res.status, res.raw)
	}
	// The API reads no file it is told to.
	for _, bad := range []string{`{"files":["/etc/passwd"]}`, `{"publicKeys":["ed25519:AAAA"]}`, `{"checkpoints":"x"}`, `[`} {
		if res := adminCall(t, r, "POST", "/audit/verify", bad); res.status != 400 || res.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", bad, res.status, res.raw)
		}
	}

	// A change right before the stop is anchored on the way out.
	createUser(t, r, `{"userName":"bo@example.com","active":true}`)
	last, _, err := r.app.Store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.cancel()
	err = <-r.done
	r.done <- err // for the cleanup
	if err != nil {
		t.Fatal(err)
	}
	if cp := lastCheckpoint(t, cpFile); !strings.HasPrefix(cp, checkpoint.Prefix+"seq="+strconv.FormatInt(last, 10)+" ") {
		t.Fatalf("the last checkpoint is not of the final head %d: %s", last, cp)
	}

	// Someone with the database file removes the last records and moves
	// the head back; the chain alone would pass, the checkpoints do not.
	kind, path, _ := r.app.Config.Database()
	if kind != "sqlite" {
		t.Fatalf("database %s", kind)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq > ?;
		UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?)`, seq, seq, seq); err != nil {
		t.Fatal(err)
	}
	alone, err := r.app.Directory.VerifyAudit(ctx)
	if err != nil || !alone.OK {
		t.Fatalf("the chain alone: %v %+v", err, alone)
	}
	got, err := r.app.Admin.VerifyAudit(ctx, admin.VerifyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got.OK || got.Checkpoints.Latest.Seq != last {
		t.Errorf("truncation below the checkpoints not detected: %+v %+v", got, got.Checkpoints)
	}
}

// lastCheckpoint returns the last line of the checkpoint file at path.
func lastCheckpoint(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// TestCheckpointKeyUnusable: a checkpoint key that is there but cannot be
// used stops the server rather than leaving the chain unanchored.
func TestCheckpointKeyUnusable(t *testing.T) {
	for name, mutate := range map[string]func(c *config.Config, dir string){
		"configured key is a directory": func(c *config.Config, dir string) { c.Audit.CheckpointKeyFile = dir },
		"default key is not a key": func(c *config.Config, dir string) {
			if err := os.WriteFile(filepath.Join(c.DataDir, "audit-checkpoint.key"), []byte("not a key"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			mutate(&cfg, t.TempDir())
			a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := a.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "audit checkpoint key") {
				t.Errorf("serve: %v", err)
			}
		})
	}
}

// TestAuditRetentionRefusesAlteredLog: when the server's scheduled
// retention finds the records it would delete altered — here all
// back-dated, by someone who holds the database file — it deletes
// nothing, logs it at ERROR on every run, and goes on running.
func TestAuditRetentionRefusesAlteredLog(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SQLiteSynchronous = "NORMAL"
	var out lockedBuffer
	log, err := logging.New(&out, logging.Options{Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, name := range []string{"Sales", "Support", "Finance"} {
		if _, err := a.Directory.CreateOrg(ctx, directory.Actor{Kind: "cli"}, &directory.Organization{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	_, path, _ := a.Config.Database()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TRIGGER audit_log_no_update; UPDATE audit_log SET at = '2020-01-01T00:00:00.000000Z'`); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.RunAuditMaintenance(runCtx, 10*time.Millisecond)
	}()
	const refused = `"msg":"audit retention refused: the audit log was altered"`
	waitFor(t, "two refused runs", func() bool { return strings.Count(out.String(), refused) >= 2 })
	stop()
	<-done
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, refused) && (!strings.Contains(line, `"level":"ERROR"`) ||
			!strings.Contains(line, "record 1 was changed after it was written") || !strings.Contains(line, "deleted nothing")) {
			t.Errorf("log line: %s", line)
		}
	}
	rep, err := a.Directory.VerifyAudit(ctx)
	if err != nil || rep.Records != 3 || rep.FirstSeq != 1 {
		t.Errorf("after the refused runs: %v %+v", err, rep)
	}
}

// lockedBuffer is a log destination goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

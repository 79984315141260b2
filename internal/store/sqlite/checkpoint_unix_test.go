//go:build unix

package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestCheckpointWhileAnotherRuns: a checkpoint that finds another
// connection's in progress (SQLite answers busy, -1, -1) changes nothing —
// the committer does not take it for a log copied to its end, and the
// checkpointer neither records nor syncs anything on its strength. A
// helper process holds SQLite's checkpoint lock (byte 121 of the -shm
// file: the WAL-index's locks start at 120, and the checkpoint lock is the
// second), as a checkpoint running in another process would.
func TestCheckpointWhileAnotherRuns(t *testing.T) {
	ctx := context.Background()
	s := handDriven(t, "busy.db")
	insertUsers(t, s, 1, 1)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldCheckpointLock$")
	cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_HOLD_CKPT_LOCK="+s.path+"-shm")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}

	s.walFrames.Store(restartFrames)
	s.finishCheckpoint()
	if n := s.walFrames.Load(); n != restartFrames {
		t.Errorf("a finishing checkpoint that could not run set walFrames to %d", n)
	}
	synced := false
	s.syncDB = func() error { synced = true; return nil }
	s.walCopied, s.walLast, s.unsynced = 7, 9, false
	s.checkpoint(ctx, s.cdb, true)
	if synced || s.unsynced || s.walCopied != 7 || s.walLast != 9 || s.walFrames.Load() != restartFrames {
		t.Errorf("a pass that could not run: synced %v, unsynced %v, walCopied %d, walLast %d, walFrames %d", synced, s.unsynced, s.walCopied, s.walLast, s.walFrames.Load())
	}

	// Control: with the lock released, both run.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	s.finishCheckpoint()
	if n := s.walFrames.Load(); n != 0 {
		t.Errorf("control: walFrames = %d after a finishing checkpoint that ran", n)
	}
	s.checkpoint(ctx, s.cdb, true)
	if s.walCopied == 7 {
		t.Error("control: a pass that ran recorded nothing")
	}
}

// TestHelperHoldCheckpointLock is TestCheckpointWhileAnotherRuns's other
// process: it takes the checkpoint lock of the -shm file it is given,
// says so, and holds it until its standard input closes.
func TestHelperHoldCheckpointLock(t *testing.T) {
	path := os.Getenv("GATEHOUSE_TEST_HOLD_CKPT_LOCK")
	if path == "" {
		t.Skip("the helper process of TestCheckpointWhileAnotherRuns")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 121, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	fmt.Println("held")
	buf := make([]byte, 1)
	for {
		if _, err := os.Stdin.Read(buf); err != nil {
			return
		}
	}
}

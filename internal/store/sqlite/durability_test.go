package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// TestAcknowledgedWritesSurviveKill runs a writer in a child process, which
// prints the id of every user whose creation was acknowledged, kills it
// with SIGKILL in the middle of its work, and checks that every
// acknowledged user is in the database.
func TestAcknowledgedWritesSurviveKill(t *testing.T) {
	if path := os.Getenv("GATEHOUSE_TEST_WRITER_DB"); path != "" {
		writerChild(path)
		return
	}
	db := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedWritesSurviveKill$")
	cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_WRITER_DB="+db)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked = append(acked, id)
			if len(acked) == 300 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("writer acknowledged only %d users before exiting", len(acked))
	}
	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range acked {
		if _, err := st.User(context.Background(), id, directory.ReadOptions{}); err != nil {
			t.Fatalf("acknowledged user %s lost: %v", id, err)
		}
	}
}

// writerChild creates users from 8 goroutines until killed.
func writerChild(path string) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	svc := directory.NewService(st, directory.Options{Policy: directory.DefaultPasswordPolicy(), NewID: uuid.NewString})
	var mu sync.Mutex
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				u, _, err := svc.CreateUser(ctx, directory.Actor{Kind: "test"}, directory.IDaaSProfile(), &directory.User{UserName: fmt.Sprintf("crash%06d", i), Active: true})
				if err != nil {
					fmt.Println("error:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Println("ack", u.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestGroupCommitIsolation: writes that fail, or panic, in a batch leave no
// trace and do not affect the writes batched with them.
func TestGroupCommitIsolation(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	svc := directory.NewService(st, directory.Options{Policy: directory.DefaultPasswordPolicy(), NewID: uuid.NewString})
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	boom := errors.New("boom")
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0: // succeeds
				if _, _, err := svc.CreateUser(ctx, directory.Actor{Kind: "test"}, directory.IDaaSProfile(), &directory.User{UserName: fmt.Sprintf("ok%02d", i), Active: true}); err != nil {
					t.Error(err)
				}
				ok.Add(1)
			case 1: // writes, then fails: its insert must be rolled back
				err := st.Write(ctx, func(tx directory.Tx) error {
					now := time.Now()
					if err := tx.InsertUser(ctx, &directory.User{ID: uuid.NewString(), UserName: fmt.Sprintf("bad%02d", i), OrgID: directory.RootOrgID, Created: now, Modified: now, Version: 1}); err != nil {
						return err
					}
					return boom
				})
				if !errors.Is(err, boom) {
					t.Errorf("failing write returned %v", err)
				}
				failed.Add(1)
			case 2: // writes, then panics
				err := st.Write(ctx, func(tx directory.Tx) error {
					now := time.Now()
					_ = tx.InsertUser(ctx, &directory.User{ID: uuid.NewString(), UserName: fmt.Sprintf("panic%02d", i), OrgID: directory.RootOrgID, Created: now, Modified: now, Version: 1})
					panic("write panicked")
				})
				if err == nil || !strings.Contains(err.Error(), "panicked") {
					t.Errorf("panicking write returned %v", err)
				}
			}
		}()
	}
	wg.Wait()
	p, err := st.Users(ctx, directory.Query{Limit: 1000, Count: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != int(ok.Load()) {
		t.Errorf("%d users stored, want %d", p.Total, ok.Load())
	}
	for _, u := range p.Items {
		if !strings.HasPrefix(u.UserName, "ok") {
			t.Errorf("failed write left %s", u.UserName)
		}
	}
	audit, _ := st.Audit(ctx, directory.AuditQuery{Limit: 1000})
	if len(audit) != int(ok.Load()) {
		t.Errorf("%d audit entries, want %d", len(audit), ok.Load())
	}
}

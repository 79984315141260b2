package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	gsqlite "github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// A new database is readable by its owner only: the file, and the -wal
// and -shm files SQLite makes beside it (before, the file was 0644 less
// the umask).
func TestDatabaseFileModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "gatehouse.db")
	st, err := gsqlite.Open(context.Background(), path, gsqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Write(context.Background(), func(directory.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", filepath.Base(p), fi.Mode().Perm(), err, want)
		}
	}
}

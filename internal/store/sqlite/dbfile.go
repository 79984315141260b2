package sqlite

import (
	"os"
	"sync"
)

// The database file, opened by Gatehouse itself for the checkpointer's
// fsync (checkpoint.go). Closing any descriptor of a file drops every POSIX
// lock the process holds on it, those of SQLite's connections included
// (SQLite defers closing its own descriptors for this reason). So the
// descriptor is shared by every Store of the process on that file (found by
// device and inode), and closed only when the last of them has closed its
// connections.
var dbFiles struct {
	sync.Mutex
	open []*sharedFile
}

type sharedFile struct {
	f    *os.File
	info os.FileInfo
	refs int // Stores using it; guarded by dbFiles
}

// openDBFile returns the process's descriptor of the file at path, or nil
// if it cannot be opened (the checkpointer then does without its fsync).
func openDBFile(path string) *sharedFile {
	dbFiles.Lock()
	defer dbFiles.Unlock()
	if info, err := os.Stat(path); err == nil {
		for _, sf := range dbFiles.open {
			if os.SameFile(sf.info, info) {
				sf.refs++
				return sf
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	info, err := f.Stat()
	if err != nil {
		// Not shareable, and closing it could drop another Store's locks:
		// left open, unused.
		return nil
	}
	sf := &sharedFile{f: f, info: info, refs: 1}
	dbFiles.open = append(dbFiles.open, sf)
	return sf
}

// release gives up a Store's use of sf, after the Store's connections have
// closed, and closes the descriptor when no Store of the process uses it.
func (sf *sharedFile) release() {
	dbFiles.Lock()
	defer dbFiles.Unlock()
	if sf.refs <= 0 {
		return // released already
	}
	if sf.refs--; sf.refs > 0 {
		return
	}
	for i, x := range dbFiles.open {
		if x == sf {
			dbFiles.open = append(dbFiles.open[:i], dbFiles.open[i+1:]...)
			break
		}
	}
	sf.f.Close()
}

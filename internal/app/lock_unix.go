//go:build unix

package app

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockServe takes an exclusive advisory lock on path, so that one server
// at a time runs on an SQLite database. The lock goes with the process:
// a killed server leaves no stale lock behind.
func lockServe(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("serve lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another gatehouse server is running on this database (%s is locked); stop it first, or use PostgreSQL for several servers", path)
		}
		return nil, fmt.Errorf("serve lock: %w", err)
	}
	return func() { f.Close() }, nil
}

//go:build unix

package mlps

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO named main.tf, or given as a plan, is refused without being
// opened for a blocking read. Before: the read waited for a writer forever.
func TestFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "main.tf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := LoadDir(dir, LoadOptions{})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Error() != fifo+":1: not a regular file (a named pipe): not read" {
		t.Errorf("LoadDir: %v", err)
	}
	if _, err := ReadInput(fifo); !errors.As(err, &pe) || !strings.Contains(pe.Msg, "a named pipe") {
		t.Errorf("ReadInput: %v", err)
	}
}

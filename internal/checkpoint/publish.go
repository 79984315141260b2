package checkpoint

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Publisher signs the audit chain's head and publishes the checkpoint to
// the log and, when File is set, appends it to File.
type Publisher struct {
	Key ed25519.PrivateKey
	// File is the checkpoint file ("": none). It is only ever appended to;
	// each checkpoint is on disk (fsync) before Publish returns.
	File string
	Log  *slog.Logger
	// Head returns the chain's head: the last record's seq and hash.
	Head func(ctx context.Context) (int64, string, error)
	Now  func() time.Time

	mu       sync.Mutex
	lastSeq  int64
	lastHash string
}

// Publish signs the head and publishes it, unless the head is the one this
// Publisher published last or the chain is empty. It returns the
// checkpoint ("" when none was due).
func (p *Publisher) Publish(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seq, hash, err := p.Head(ctx)
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	if seq == 0 || seq == p.lastSeq && hash == p.lastHash {
		return "", nil
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	cp := Sign(p.Key, seq, hash, now())
	// The log first: it is there even when the file cannot be written.
	p.Log.InfoContext(ctx, "audit checkpoint", "seq", seq, "hash", hash, "checkpoint", cp)
	if p.File != "" {
		if err := appendLine(p.File, cp); err != nil {
			return cp, fmt.Errorf("audit checkpoint file: %w", err)
		}
	}
	p.lastSeq, p.lastHash = seq, hash
	return cp, nil
}

// appendLine appends line to the file at path, creating it (and its
// directory) if needed, for its owner only, and syncs it.
func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Run publishes at once, then every interval, and a last time when ctx
// ends (with a few seconds of its own), so that a clean stop anchors the
// final head.
func (p *Publisher) Run(ctx context.Context, every time.Duration) {
	publish := func(ctx context.Context) {
		if _, err := p.Publish(ctx); err != nil {
			p.Log.ErrorContext(ctx, "audit checkpoint", "err", err)
		}
	}
	publish(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			publish(last)
			cancel()
			return
		case <-t.C:
			publish(ctx)
		}
	}
}

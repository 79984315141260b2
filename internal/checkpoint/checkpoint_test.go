package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/checkpoint"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

var (
	hashA = strings.Repeat("a1", 32)
	hashB = strings.Repeat("b2", 32)
	when  = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// TestReadBack: a checkpoint is read back from wherever it was published —
// the file, a text log, a JSON log, a line carrying two — and repeats are
// dropped.
func TestReadBack(t *testing.T) {
	key := newKey(t)
	a := checkpoint.Sign(key, 1204, hashA, when)
	b := checkpoint.Sign(key, 1210, hashB, when.Add(time.Minute))
	if !strings.HasPrefix(a, "gatehouse-audit-checkpoint v1 seq=1204 hash="+hashA+" time=2026-11-02T09:00:00Z key="+checkpoint.KeyID(pubOf(key))+" sig=") {
		t.Fatalf("checkpoint = %q", a)
	}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("audit checkpoint", "seq", 1204, "checkpoint", a)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("audit checkpoint", "seq", 1210, "checkpoint", b)
	id := checkpoint.KeyID(pubOf(key))
	cpA := directory.AuditCheckpoint{Seq: 1204, Hash: hashA, Time: when, KeyID: id}
	cpB := directory.AuditCheckpoint{Seq: 1210, Hash: hashB, Time: when.Add(time.Minute), KeyID: id}
	at := func(c directory.AuditCheckpoint, src string) directory.AuditCheckpoint { c.Source = src; return c }
	tests := []struct {
		name string
		in   string
		want []directory.AuditCheckpoint
	}{
		{"file", a + "\n" + b + "\n", []directory.AuditCheckpoint{at(cpA, "src:1"), at(cpB, "src:2")}},
		{"text log", "time=… level=INFO msg=other\n" + text.String(), []directory.AuditCheckpoint{at(cpA, "src:2")}},
		{"json log", js.String(), []directory.AuditCheckpoint{at(cpB, "src:1")}},
		{"two on a line", "seen: " + a + ", then " + b + ".", []directory.AuditCheckpoint{at(cpA, "src:1"), at(cpB, "src:1")}},
		{"repeats", a + "\n" + text.String() + a + "\n", []directory.AuditCheckpoint{at(cpA, "src:1")}},
		{"no checkpoints", "level=INFO msg=\"http request\"\n\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := checkpoint.NewReader(pubOf(key))
			if err := r.Read(strings.NewReader(tc.in), "src"); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, r.Checkpoints); diff != "" {
				t.Errorf("checkpoints (-want +got):\n%s", diff)
			}
			if r.Bad != 0 || len(r.Problems) != 0 {
				t.Errorf("problems: %+v", r.Problems)
			}
		})
	}
}

// TestReadRejects: a checkpoint that was forged, altered, cut, or signed by
// a key verification does not trust is refused, and named.
func TestReadRejects(t *testing.T) {
	key, other := newKey(t), newKey(t)
	good := checkpoint.Sign(key, 1204, hashA, when)
	body, sig, _ := strings.Cut(good, " sig=")
	otherSig := strings.SplitN(checkpoint.Sign(key, 1205, hashA, when), " sig=", 2)[1]
	tests := []struct {
		name string
		in   string
		seq  int64
		want string
	}{
		{"seq moved", strings.Replace(good, "seq=1204", "seq=1999", 1), 1999, "does not carry a valid signature"},
		{"hash changed", strings.Replace(good, hashA, hashB, 1), 1204, "does not carry a valid signature"},
		{"time changed", strings.Replace(good, "09:00:00Z", "09:00:01Z", 1), 1204, "does not carry a valid signature"},
		{"another checkpoint's signature", body + " sig=" + otherSig, 1204, "does not carry a valid signature"},
		{"made with another key", checkpoint.Sign(other, 1204, hashA, when), 1204, "which verification does not trust"},
		{"key id of the trusted key, signed by another", body + " sig=" + strings.SplitN(checkpoint.Sign(other, 1204, hashA, when), " sig=", 2)[1], 1204, "does not carry a valid signature"},
		{"signature with other padding bits", good[:len(good)-1] + paddingTwin(good[len(good)-1:]), 1204, "does not carry a valid signature"},
		{"cut", good[:len(good)-10], 1204, "malformed"},
		{"longer signature", good + "A", 1204, "malformed"},
		{"no signature", body, 1204, "malformed"},
		{"bad seq", strings.Replace(good, "seq=1204", "seq=01204", 1), 1204, "malformed"},
		{"negative seq", strings.Replace(good, "seq=1204", "seq=-4", 1), -4, "malformed"},
		{"upper-case hash", strings.Replace(good, hashA, strings.ToUpper(hashA), 1), 1204, "malformed"},
		{"signature not base64url", body + " sig=" + strings.Repeat("+", len(sig)), 1204, "malformed"},
		{"prefix only", checkpoint.Prefix, 0, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := checkpoint.NewReader(pubOf(key))
			if err := r.Read(strings.NewReader("x "+tc.in+"\n"), "f.log"); err != nil {
				t.Fatal(err)
			}
			if len(r.Checkpoints) != 0 || r.Bad != 1 || len(r.Problems) != 1 {
				t.Fatalf("accepted: %+v, problems %+v", r.Checkpoints, r.Problems)
			}
			p := r.Problems[0]
			if p.Seq != tc.seq || !strings.Contains(p.Reason, tc.want) || !strings.Contains(p.Reason, "f.log:1") {
				t.Errorf("problem = %+v, want seq %d and %q at f.log:1", p, tc.seq, tc.want)
			}
		})
	}
	// An altered copy read first does not hide the genuine checkpoint.
	r := checkpoint.NewReader(pubOf(key))
	altered := strings.Replace(good, "seq=1204", "seq=1203", 1)
	if err := r.Read(strings.NewReader(altered+"\n"+good+"\n"), "f"); err != nil || len(r.Checkpoints) != 1 || r.Bad != 1 {
		t.Errorf("altered copy, then the genuine one: %v %+v %+v", err, r.Checkpoints, r.Problems)
	}
	// No trusted key at all: nothing is accepted.
	r = checkpoint.NewReader()
	if err := r.Read(strings.NewReader(good), "f"); err != nil || len(r.Checkpoints) != 0 || r.Bad != 1 {
		t.Errorf("without keys: %v %+v %+v", err, r.Checkpoints, r.Problems)
	}
}

// paddingTwin returns the base64url character that differs from c only in
// the low bit, which the last character of a 64-byte value does not carry.
func paddingTwin(c string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.Index(alphabet, c)^1])
}

// FuzzRead: reading never panics, and whatever is accepted is exactly
// what the key signs for its seq, hash and time (Ed25519 is
// deterministic).
func FuzzRead(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	good := checkpoint.Sign(key, 1204, hashA, when)
	for _, s := range []string{good, good + good, "x " + good[:100], checkpoint.Prefix + "seq=1", strings.Replace(good, "1204", "1205", 1), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := checkpoint.NewReader(pubOf(key))
		if err := r.Read(strings.NewReader(in), "fuzz"); err != nil {
			return
		}
		for _, c := range r.Checkpoints {
			if cp := checkpoint.Sign(key, c.Seq, c.Hash, c.Time); !strings.Contains(in, cp) {
				t.Errorf("accepted %+v, which the key signs as %q, not in the input", c, cp)
			}
		}
	})
}

func TestPublicKeyText(t *testing.T) {
	key := newKey(t)
	s := checkpoint.FormatPublicKey(pubOf(key))
	got, err := checkpoint.ParsePublicKey(" " + s + "\n")
	if err != nil || !got.Equal(pubOf(key)) {
		t.Errorf("round trip of %q: %v", s, err)
	}
	for _, bad := range []string{"", "ed25519:", strings.TrimPrefix(s, "ed25519:"), "ed25519:AAAA", s + "AAAA", "ed25519:!!!"} {
		if _, err := checkpoint.ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}

// TestKeyFile: a key is created readable by its owner only, never
// replaces a file, and loads back; other files are refused.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "audit.key")
	key, created, err := checkpoint.LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", fi.Mode(), err)
	}
	again, created, err := checkpoint.LoadOrCreateKey(path)
	if err != nil || created || !again.Equal(key) {
		t.Errorf("load: %v %v", created, err)
	}
	if _, err := checkpoint.CreateKey(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateKey over an existing file: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	for name, content := range map[string][]byte{
		"empty":    nil,
		"not pem":  []byte("hello"),
		"public":   pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}),
		"garbage":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"an ecdsa": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := checkpoint.LoadOrCreateKey(p); err == nil {
			t.Errorf("%s: loaded as a key", name)
		}
	}
}

type head struct {
	seq  int64
	hash string
}

func (h *head) get(context.Context) (int64, string, error) { return h.seq, h.hash, nil }

// TestPublish: a checkpoint goes to the log and the file when the head has
// moved, and not again for the same head; an empty chain is not signed.
func TestPublish(t *testing.T) {
	key := newKey(t)
	file := filepath.Join(t.TempDir(), "sub", "checkpoints.log")
	var log bytes.Buffer
	h := &head{}
	p := &checkpoint.Publisher{Key: key, File: file, Log: slog.New(slog.NewJSONHandler(&log, nil)), Head: h.get,
		Now: func() time.Time { return when }}
	ctx := context.Background()
	var got []string
	for _, next := range []head{{0, ""}, {3, hashA}, {3, hashA}, {5, hashB}} {
		*h = next
		cp, err := p.Publish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cp)
	}
	want := []string{"", checkpoint.Sign(key, 3, hashA, when), "", checkpoint.Sign(key, 5, hashB, when)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(file)
	if err != nil || string(b) != want[1]+"\n"+want[3]+"\n" {
		t.Errorf("file: %v %q", err, b)
	}
	// The file and the directory made for it are the owner's only.
	for path, perm := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != perm {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, perm)
		}
	}
	// The log carries the same checkpoints, readable back.
	r := checkpoint.NewReader(pubOf(key))
	if err := r.Read(&log, "log"); err != nil || len(r.Checkpoints) != 2 || r.Bad != 0 {
		t.Errorf("from the log: %v %+v %+v", err, r.Checkpoints, r.Problems)
	}
	// A file that cannot be written is an error; the log still has it.
	log.Reset()
	p.File = filepath.Join(file, "not-a-dir", "x.log")
	h.seq = 6
	if _, err := p.Publish(ctx); err == nil || !strings.Contains(log.String(), `"seq":6`) {
		t.Errorf("unwritable file: %v, log %s", err, log.String())
	}
}

// TestRun: the publisher signs at start, on each interval when the head
// moved, and once more when it is stopped.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		key := newKey(t)
		file := filepath.Join(t.TempDir(), "checkpoints.log")
		var mu sync.Mutex
		h := &head{seq: 1, hash: hashA}
		set := func(seq int64, hash string) {
			mu.Lock()
			defer mu.Unlock()
			h.seq, h.hash = seq, hash
		}
		p := &checkpoint.Publisher{Key: key, File: file, Log: slog.New(slog.DiscardHandler),
			Head: func(ctx context.Context) (int64, string, error) {
				mu.Lock()
				defer mu.Unlock()
				return h.get(ctx)
			}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.Run(ctx, time.Minute); close(done) }()
		synctest.Wait()
		set(2, hashB)
		time.Sleep(time.Minute + time.Second) // one tick
		synctest.Wait()
		set(3, hashA)
		cancel() // before the next tick: the last head is signed on the way out
		<-done
		r := checkpoint.NewReader(pubOf(key))
		if err := r.ReadFile(file); err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, c := range r.Checkpoints {
			seqs = append(seqs, c.Seq)
		}
		if diff := cmp.Diff([]int64{1, 2, 3}, seqs); diff != "" {
			t.Errorf("checkpoints (-want +got):\n%s", diff)
		}
	})
}

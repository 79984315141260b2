// Package checkpoint anchors the audit chain outside the database. The
// chain and its head live in the database, so whoever can write the
// database can delete the last records and move the head back, or rewrite
// the chain and the head consistently, and the chain alone still verifies.
// A checkpoint is a signed statement of the head — record seq had hash h at
// time t — made with an Ed25519 key that is not in the database, and
// published where the database's holder cannot take it back: an
// append-only file and the server log (shipped off the machine).
// Verification (directory.VerifyAudit) then compares the chain with every
// checkpoint it is given.
//
// A checkpoint is one line of text:
//
//	gatehouse-audit-checkpoint v1 seq=1204 hash=9f2c… time=2026-11-02T09:00:00Z key=3b1f0c2a9d8e7f61 sig=…
//
// hash is the record's SHA-256 (64 hex digits), time is UTC to the second,
// key is the key id (the first 8 bytes of the SHA-256 of the public key, in
// hex) and sig is the Ed25519 signature of the text before " sig=", in
// base64url without padding. The line holds no quote, backslash or
// personal datum, so it reaches a text or JSON log unchanged, and a
// checkpoint can be read back out of any text that carries it: the
// checkpoint file, a server log, a ticket.
package checkpoint

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Prefix starts every checkpoint.
const Prefix = "gatehouse-audit-checkpoint v1 "

// TimeLayout is how a checkpoint writes its time.
const TimeLayout = "2006-01-02T15:04:05Z"

// PublicKeyPrefix starts the text form of a public key.
const PublicKeyPrefix = "ed25519:"

// line is a whole checkpoint; the groups are seq, hash, time, key and sig.
var line = regexp.MustCompile(`^` + regexp.QuoteMeta(Prefix) +
	`seq=([1-9][0-9]{0,18}) hash=([0-9a-f]{64}) time=([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z) key=([0-9a-f]{16}) sig=([A-Za-z0-9_-]{86})`)

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// FormatPublicKey writes a public key as "ed25519:" and its 32 bytes in
// base64.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads what FormatPublicKey writes.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), PublicKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("a checkpoint public key starts with %q", PublicKeyPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("a checkpoint public key is %q and %d bytes in base64", PublicKeyPrefix, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// LoadKey reads an Ed25519 private key from a PEM file ("PRIVATE KEY",
// PKCS #8: what `openssl genpkey -algorithm ed25519` writes, and
// CreateKey).
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit checkpoint key %s: not a PEM \"PRIVATE KEY\"", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit checkpoint key %s: not an Ed25519 key", path)
	}
	return ek, nil
}

// CreateKey makes a new Ed25519 key in a new file path (readable by its
// owner only), creating the directory if needed. It refuses to replace a
// file.
func CreateKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	return priv, f.Close()
}

// LoadOrCreateKey loads the key at path, or creates it when there is no
// file; created says which.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	key, err = LoadKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, false, err
	}
	key, err = CreateKey(path)
	if errors.Is(err, os.ErrExist) { // created meanwhile by another process
		key, err = LoadKey(path)
		return key, false, err
	}
	return key, err == nil, err
}

// Sign returns the checkpoint of record seq with hash at t.
func Sign(key ed25519.PrivateKey, seq int64, hash string, t time.Time) string {
	body := fmt.Sprintf("%sseq=%d hash=%s time=%s key=%s", Prefix, seq, hash, t.UTC().Format(TimeLayout),
		KeyID(key.Public().(ed25519.PublicKey)))
	return body + " sig=" + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(body)))
}

// Reader collects checkpoints from any number of sources, checks each
// signature with the trusted keys and drops repeats (the same checkpoint in
// the file and in the log).
type Reader struct {
	keys map[string]ed25519.PublicKey
	seen map[string]bool
	// Checkpoints are the distinct checkpoints with a valid signature.
	Checkpoints []directory.AuditCheckpoint
	// Problems are the checkpoints that are malformed, signed by a key
	// that is not trusted, or whose signature does not verify.
	Problems []directory.AuditProblem
	// Bad counts those checkpoints (Problems keeps the first 100).
	Bad int
	// Sources names what was read.
	Sources []string
}

// NewReader returns a Reader that trusts keys.
func NewReader(keys ...ed25519.PublicKey) *Reader {
	r := &Reader{keys: map[string]ed25519.PublicKey{}, seen: map[string]bool{}}
	for _, k := range keys {
		r.keys[KeyID(k)] = k
	}
	return r
}

// maxLine bounds a line of a source (a log line may be long; a checkpoint
// is about 290 bytes).
const maxLine = 1 << 20

// Read reads the checkpoints in src, any text, naming it name in
// messages. Text without checkpoints is skipped.
func (r *Reader) Read(src io.Reader, name string) error {
	r.Sources = append(r.Sources, name)
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		text := sc.Text()
		for {
			i := strings.Index(text, Prefix)
			if i < 0 {
				break
			}
			text = text[i:]
			r.take(text, fmt.Sprintf("%s:%d", name, n))
			text = text[len(Prefix):]
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read checkpoints from %s: %w", name, err)
	}
	return nil
}

// ReadFile reads the checkpoints in the file at path.
func (r *Reader) ReadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	defer f.Close()
	return r.Read(f, path)
}

// take checks the checkpoint at the start of text.
func (r *Reader) take(text, where string) {
	m := line.FindStringSubmatch(text)
	if m == nil || len(text) > len(m[0]) && isB64(text[len(m[0])]) {
		seq := int64(0)
		if s, ok := strings.CutPrefix(text[len(Prefix):], "seq="); ok {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			seq, _ = strconv.ParseInt(s[:end], 10, 64)
		}
		r.problem(seq, "the checkpoint at %s is malformed: it was altered or cut", where)
		return
	}
	seq, _ := strconv.ParseInt(m[1], 10, 64)
	if r.seen[m[0]] { // the same text, the same verdict
		return
	}
	r.seen[m[0]] = true
	pub, ok := r.keys[m[4]]
	if !ok {
		r.problem(seq, "the checkpoint at %s is signed by key %s, which verification does not trust: it was forged, "+
			"or the key that signed it was not given (audit.checkpoint_public_keys, --public-key)", where, m[4])
		return
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(m[5]) // one text per signature
	body := m[0][:len(m[0])-len(" sig=")-len(m[5])]
	if err != nil || !ed25519.Verify(pub, []byte(body), sig) {
		r.problem(seq, "the checkpoint at %s does not carry a valid signature of key %s: it was forged or altered", where, m[4])
		return
	}
	t, err := time.Parse(TimeLayout, m[3])
	if err != nil { // signed, so Sign wrote it: cannot happen
		r.problem(seq, "the checkpoint at %s has an invalid time", where)
		return
	}
	r.Checkpoints = append(r.Checkpoints, directory.AuditCheckpoint{Seq: seq, Hash: m[2], Time: t, KeyID: m[4], Source: where})
}

// maxProblems bounds the problems a Reader keeps (like verification's).
const maxProblems = 100

func (r *Reader) problem(seq int64, format string, args ...any) {
	r.Bad++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, directory.AuditProblem{Seq: seq, Reason: fmt.Sprintf(format, args...)})
	}
}

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

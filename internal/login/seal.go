package login

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TOTP secrets are kept sealed: AES-256-GCM with a key that is not in the
// database (login.factor_key_file), so that a copy of the database (a
// backup, a replica, a stolen disk) does not hold the secrets in clear.
// Whoever holds both can still read them; the key file should be readable
// by the server's user only, apart from the database. Replicas share the
// key file. A sealed secret names its key (the first 8 bytes of the key's
// SHA-256), so that a server with another key says so instead of
// reporting wrong codes.
//
// Sealed form: 0x01, the key id (8 bytes), the nonce (12 bytes), the
// ciphertext with its tag. The additional data binds it to its user and
// factor: a sealed secret copied to another row does not open.

// FactorKeySize is the size of the sealing key.
const FactorKeySize = 32

// ErrSealKey: a sealed secret was sealed with another key than this
// server's.
var ErrSealKey = errors.New("the TOTP secret was sealed with another key (login.factor_key_file differs between servers, or was replaced)")

// Sealer seals and opens factor secrets.
type Sealer struct {
	aead cipher.AEAD
	id   [8]byte
	// names is a key derived from the factor key for NameID.
	names []byte
}

// NewSealer returns a sealer with a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != FactorKeySize {
		return nil, fmt.Errorf("the factor key must be %d bytes", FactorKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &Sealer{aead: aead}
	sum := sha256.Sum256(key)
	copy(s.id[:], sum[:8])
	m := hmac.New(sha256.New, key)
	m.Write([]byte("gatehouse: the ids of user names that are no account"))
	s.names = m.Sum(nil)
	return s, nil
}

// NameID is a keyed hash of name (HMAC-SHA-256 with a key derived from
// the factor key, 16 bytes): what the database keeps of a user name that
// is no account (ghosts.go). Keyed, so that someone with the database or a
// backup, but not the key file, cannot test guesses of what was typed — a
// user name field sometimes holds a password.
func (s *Sealer) NameID(name string) []byte {
	m := hmac.New(sha256.New, s.names)
	m.Write([]byte(name))
	return m.Sum(nil)[:16]
}

// KeyID names the key (hex), for logs.
func (s *Sealer) KeyID() string { return hex.EncodeToString(s.id[:]) }

// Seal encrypts plain, bound to aad.
func (s *Sealer) Seal(plain, aad []byte) ([]byte, error) {
	out := make([]byte, 1+8+s.aead.NonceSize(), 1+8+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = 1
	copy(out[1:9], s.id[:])
	if _, err := rand.Read(out[9:]); err != nil {
		return nil, err
	}
	return s.aead.Seal(out, out[9:], plain, aad), nil
}

// Open decrypts what Seal made with this key and aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+8+n+s.aead.Overhead() || sealed[0] != 1 {
		return nil, errors.New("not a sealed secret")
	}
	if [8]byte(sealed[1:9]) != s.id {
		return nil, fmt.Errorf("%w: sealed with key %x, this server's is %s", ErrSealKey, sealed[1:9], s.KeyID())
	}
	plain, err := s.aead.Open(nil, sealed[9:9+n], sealed[9+n:], aad)
	if err != nil {
		return nil, errors.New("a sealed secret does not open: it was altered, or moved to another factor")
	}
	return plain, nil
}

// LoadOrCreateFactorKey reads the sealing key from path (32 bytes in
// base64 on one line: what `openssl rand -base64 32` writes), or creates
// the file (mode 0600) with a new key when there is none. created says
// which.
func LoadOrCreateFactorKey(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != FactorKeySize {
			return nil, false, fmt.Errorf("factor key %s: want %d bytes in base64 on one line (openssl rand -base64 32)", path, FactorKeySize)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("factor key: %w", err)
	}
	key = make([]byte, FactorKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("factor key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("factor key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("factor key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("factor key: %w", err)
	}
	return key, true, f.Close()
}

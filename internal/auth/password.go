package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id hashes user passwords (RFC 9106), with OWASP's minimum
// parameters by default: 19 MiB, 2 passes, 1 lane. A hash takes on the order
// of 100 ms, so the number of hashes computed at once is capped, which keeps
// a burst of provisioning requests with passwords from exhausting memory.
type Argon2id struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	slots   chan struct{}
}

// NewArgon2id returns a hasher with the default parameters, computing at
// most GOMAXPROCS hashes at once.
func NewArgon2id() *Argon2id {
	return &Argon2id{Memory: 19 * 1024, Time: 2, Threads: 1, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// Hash returns the PHC string of password's hash.
func (a *Argon2id) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	key := argon2.IDKey([]byte(password), salt, a.Time, a.Memory, a.Threads, 32)
	<-a.slots
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.Memory, a.Time, a.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks password against a PHC string made by Hash, in constant
// time.
func (a *Argon2id) Verify(ctx context.Context, password, phc string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("not an argon2id hash")
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, fmt.Errorf("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("bad argon2 parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("bad salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("bad hash: %w", err)
	}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	<-a.slots
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

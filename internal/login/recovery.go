package login

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// Recovery codes: ten single-use codes, shown once when made, for a person
// who has lost her authenticator. Each is 16 characters of Crockford's
// base32 (80 random bits), written in four groups of four. Only their
// SHA-256 is stored, salted with the user id (so that equal hashes never
// tell two people's codes apart): with 80 bits, a stolen table cannot be
// searched for the codes, so a slow hash (argon2id) would add nothing but
// the cost of checking ten of them at every use.

// RecoveryCodeCount is how many codes a person gets at a time.
const RecoveryCodeCount = 10

const (
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford's base32
	recoveryLen      = 16
)

// newRecoveryCodes returns RecoveryCodeCount new codes.
func newRecoveryCodes() ([]string, error) {
	out := make([]string, RecoveryCodeCount)
	buf := make([]byte, recoveryLen)
	for i := range out {
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		var b strings.Builder
		for j, c := range buf {
			if j > 0 && j%4 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[c&31])
		}
		out[i] = b.String()
	}
	return out, nil
}

// normalizeRecovery returns code as stored (lower case, without spaces
// and dashes; Crockford's look-alikes i, l → 1 and o → 0), if it is then
// 16 characters of the alphabet.
func normalizeRecovery(code string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch r {
		case ' ', '-', '\u00a0', '\t':
			continue
		case 'i', 'l':
			r = '1'
		case 'o':
			r = '0'
		}
		if r > 0x7f || !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
		if b.Len() > recoveryLen {
			return "", false
		}
	}
	if b.Len() != recoveryLen {
		return "", false
	}
	return b.String(), true
}

// hashRecovery is a code's stored hash for userID.
func hashRecovery(userID, code string) []byte {
	h := sha256.Sum256([]byte("gatehouse recovery code v1\x00" + userID + "\x00" + code))
	return h[:]
}

package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
)

// Secrets carry a recognisable prefix, like GitHub's and Stripe's, so that
// secret scanners can find leaked ones, and a checksum, so that a scanner
// can tell a real-looking secret from random text without asking Gatehouse.
//
//	gate_tk_<32 base62 characters of randomness><6 base62 characters of CRC32>
const (
	TokenPrefix      = "gate_tk_"  // bearer tokens of SCIM clients and server applications
	AdminTokenPrefix = "gate_adm_" // bearer tokens of admin applications
	SecretPrefix     = "gate_cs_"  // OAuth 2.0 client secrets
	randomChars      = 32          // ≈190 bits
	checksumLen      = 6
	base62Digits     = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewSecret returns a new secret with the given prefix.
func NewSecret(prefix string) (string, error) {
	var b strings.Builder
	b.WriteString(prefix)
	max := big.NewInt(62)
	body := make([]byte, 0, randomChars)
	for range randomChars {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate secret: %w", err)
		}
		body = append(body, base62Digits[n.Int64()])
	}
	b.Write(body)
	b.WriteString(checksum(body))
	return b.String(), nil
}

func checksum(body []byte) string {
	var buf [4]byte
	binary.BigEndian.PutUint32(buf[:], crc32.ChecksumIEEE(body))
	n := new(big.Int).SetBytes(buf[:])
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		m := new(big.Int)
		n.DivMod(n, big.NewInt(62), m)
		out[i] = base62Digits[m.Int64()]
	}
	return string(out)
}

// WellFormed reports whether s has the prefix, length, alphabet and checksum
// of a secret. It says nothing about whether the secret is valid.
func WellFormed(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) {
		return false
	}
	rest := s[len(prefix):]
	if len(rest) != randomChars+checksumLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !strings.ContainsRune(base62Digits, rune(rest[i])) {
			return false
		}
	}
	return checksum([]byte(rest[:randomChars])) == rest[randomChars:]
}

// hasKnownPrefix reports whether s claims to be one of Gatehouse's secrets.
func hasKnownPrefix(s string) bool {
	return strings.HasPrefix(s, TokenPrefix) || strings.HasPrefix(s, AdminTokenPrefix) || strings.HasPrefix(s, SecretPrefix)
}

// HashSecret is what is stored of a secret. Secrets are long and random, so
// a fast hash is enough: no dictionary can reach them.
func HashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Hint returns the part of a secret shown in listings: the prefix and four
// characters.
func Hint(s string) string {
	i := strings.LastIndexByte(s, '_') + 1
	if len(s) < i+4 {
		return s[:i] + "…"
	}
	return s[:i+4] + "…"
}

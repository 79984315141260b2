package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// CheckAdminToken refuses the .env.example placeholder and values that are
// long but easy to guess; it accepts random values of 128 bits and more.
func TestCheckAdminToken(t *testing.T) {
	for _, tt := range []struct {
		name, value, err string
	}{
		{"the .env.example placeholder", "replace-me-with-openssl-rand-hex-32-at-least-32-characters", "placeholder"},
		{"another placeholder", "CHANGEME-0f3a9c1e7b2d4c8e9f3a1b6d0c7e2f4a", "placeholder"},
		{"one character repeated", strings.Repeat("a", 36), "too easy to guess"},
		{"two characters alternating", strings.Repeat("ab", 20), "too easy to guess"},
		{"a sequence", "0123456789abcdef0123456789abcdef", "too easy to guess"},
		{"a sequence of letters", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "too easy to guess"},
		{"a short value repeated", strings.Repeat("9f3a1b6d", 6), "too easy to guess"},
		{"a sentence", "the-admin-token-of-our-gatehouse-server-in-production", "too easy to guess"},
		{"a capitalised passphrase", "Correct-Horse-Battery-Staple-Correct-Horse", "too easy to guess"},
		{"too short", "0f3a9c1e7b2d4c8e9f3a1b6d", "32 to 4096 characters"},
		{"a space", "0f3a9c1e7b2d4c8e 9f3a1b6d0c7e2f4a8b9c", "no spaces"},
		{"a malformed Gatehouse token", "gate_adm_" + strings.Repeat("A", 38), "starts like a Gatehouse token"},
		{"openssl rand -hex 32", "5f1c0e6a7b2d4c8e9f3a1b6d0c7e2f4a8b9c3d5e6f7a1b2c0d9e8f7a6b5c4d3e", ""},
		{"openssl rand -hex 16", "9f86d081884c7d659a2feaa0c55ad015", ""},
		{"openssl rand -base64 32", "q3Kx8Zl0V+7m/2hTnJ5wR9cYbE1uFgA4sDoPiLkMzXo=", ""},
	} {
		err := CheckAdminToken(tt.value)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s (%d bits): %v", tt.name, int(guessBits(tt.value)), err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s (%d bits): %v, want an error with %q", tt.name, int(guessBits(tt.value)), err, tt.err)
		}
	}
	// Values from a random generator pass, whatever patterns they hold by
	// chance: openssl rand -hex 32 (256 bits), openssl rand -base64 32
	// (256) or 24 (192), and the tokens Gatehouse generates. (16 random
	// bytes, 128 bits, are refused about once in 10,000 tries.)
	for range 2000 {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		tok, err := NewSecret(AdminTokenPrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)), base64.StdEncoding.EncodeToString(b),
			base64.RawURLEncoding.EncodeToString(b[:24]), tok} {
			if err := CheckAdminToken(v); err != nil {
				t.Fatalf("%s (%d bits): %v", v, int(guessBits(v)), err)
			}
		}
	}
}

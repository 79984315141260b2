package auth

import (
	"context"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		s, err := NewSecret(TokenPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if !WellFormed(s, TokenPrefix) || len(s) != len(TokenPrefix)+38 || seen[s] {
			t.Fatalf("bad secret %q", s)
		}
		seen[s] = true
		// Any single-character change breaks the checksum (or the alphabet).
		for i := len(TokenPrefix); i < len(s); i++ {
			b := []byte(s)
			if b[i] == 'a' {
				b[i] = 'b'
			} else {
				b[i] = 'a'
			}
			if WellFormed(string(b), TokenPrefix) {
				t.Fatalf("%q passes the checksum", b)
			}
		}
	}
	if WellFormed("gate_tk_short", TokenPrefix) || WellFormed("ghp_"+strings.Repeat("a", 38), TokenPrefix) {
		t.Error("malformed secrets pass")
	}
	if h := Hint("gate_tk_ABCDEFG"); h != "gate_tk_ABCD…" {
		t.Errorf("hint %q", h)
	}
}

func TestArgon2id(t *testing.T) {
	a := NewArgon2id()
	a.Memory, a.Time = 64, 1 // fast parameters for the test
	h, err := a.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := a.Hash(context.Background(), "correct horse")
	if h == h2 {
		t.Error("hashes are not salted")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsf": false, "": false} {
		ok, err := a.Verify(context.Background(), pw, h)
		if err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v", pw, ok, err)
		}
	}
	if _, err := a.Verify(context.Background(), "x", "$2a$10$bcrypt"); err == nil {
		t.Error("non-argon2id hash accepted")
	}
}

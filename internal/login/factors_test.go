package login

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// oathtool returns the path of oathtool (Debian package oathtool), or
// skips — fails when GATEHOUSE_TEST_REQUIRE_OATHTOOL is 1 (CI).
func oathtool(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("oathtool"); err == nil {
		return p
	}
	msg := "the TOTP interoperability tests need oathtool, which is not installed: apt-get install oathtool"
	if os.Getenv("GATEHOUSE_TEST_REQUIRE_OATHTOOL") == "1" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// TestTOTPVectors: RFC 6238 Appendix B's SHA-1 vectors, whose 8-digit
// values end in the 6-digit codes.
func TestTOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"},
		{2000000000, "279037"}, {20000000000, "353130"},
	} {
		if got := TOTPCode(secret, time.Unix(tc.unix, 0)); got != tc.want {
			t.Errorf("TOTPCode(%d) = %s, want %s", tc.unix, got, tc.want)
		}
	}
}

// TestTOTPMatchesOathtool: the codes oathtool makes for a random secret
// are the ones Gatehouse computes and accepts, at several times, with
// the step they belong to; a code a step too far is not accepted.
func TestTOTPMatchesOathtool(t *testing.T) {
	tool := oathtool(t)
	secret := []byte("\x8a\x01\xffgatehouse-totp!\x00\x10")
	b32 := totpEncoding.EncodeToString(secret)
	for _, unix := range []int64{1, 59, 1_700_000_000, 1_767_225_599, 4_102_444_800} {
		out, err := exec.Command(tool, "--totp", "-b", b32, "-N", "@"+strconv.FormatInt(unix, 10)).Output()
		if err != nil {
			t.Fatalf("oathtool: %v", err)
		}
		code := strings.TrimSpace(string(out))
		at := time.Unix(unix, 0)
		if got := TOTPCode(secret, at); got != code {
			t.Errorf("at %d: oathtool %s, Gatehouse %s", unix, code, got)
		}
		for _, d := range []time.Duration{-TOTPPeriod, 0, TOTPPeriod} {
			step, ok := matchTOTP(secret, code, at.Add(d))
			if !ok || step != TOTPStep(at) {
				t.Errorf("at %d%+v: %s matched step %d %v, want %d", unix, d, code, step, ok, TOTPStep(at))
			}
		}
		if _, ok := matchTOTP(secret, code, at.Add(2*TOTPPeriod)); ok && TOTPCode(secret, at.Add(2*TOTPPeriod)) != code {
			t.Errorf("at %d: a code two steps old was accepted", unix)
		}
	}
}

func TestTOTPCodeForms(t *testing.T) {
	secret := []byte("12345678901234567890")
	at := time.Unix(59, 0)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"287082", true}, {"287 082", true}, {" 287082 ", true}, {"287-082", true},
		{"", false}, {"28708", false}, {"2870821", false}, {"28708a", false}, {"٢٨٧٠٨٢", false}, {"287082\x00", false},
		{"０８１８０４", false},
	} {
		if _, ok := matchTOTP(secret, tc.in, at); ok != tc.ok {
			t.Errorf("matchTOTP(%q) = %v, want %v", tc.in, ok, tc.ok)
		}
	}
}

// TestTOTPURI: the otpauth URI names the issuer and the account, and
// carries the secret and the parameters the apps need.
func TestTOTPURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	u, err := url.Parse(TOTPURI(secret, "Gatehouse", "ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{"scheme": u.Scheme, "host": u.Host, "path": u.Path}
	for k, v := range u.Query() {
		got[k] = v[0]
	}
	want := map[string]string{"scheme": "otpauth", "host": "totp", "path": "/Gatehouse:ada@example.com", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"issuer": "Gatehouse", "algorithm": "SHA1", "digits": "6", "period": "30"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("otpauth URI (-want +got):\n%s", diff)
	}
	if got := TOTPSecretText(secret); got != "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ" {
		t.Errorf("secret text %q", got)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(TOTPSecretText(secret), " ", ""))
	if err != nil || !bytes.Equal(raw, secret) {
		t.Errorf("the secret text does not read back: %v", err)
	}
}

// BenchmarkTOTPVerify: what checking a code costs (three HMAC-SHA-1),
// without the database.
func BenchmarkTOTPVerify(b *testing.B) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1_767_225_599, 0)
	code := TOTPCode(secret, now)
	for b.Loop() {
		if _, ok := matchTOTP(secret, code, now); !ok {
			b.Fatal("no match")
		}
	}
}

// TestSealer: a sealed secret opens with its key and binding only.
func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{7}, FactorKeySize)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("secret"), []byte("user 1 factor 1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("the secret is in clear")
	}
	if got, err := s.Open(sealed, []byte("user 1 factor 1")); err != nil || string(got) != "secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.Open(sealed, []byte("user 2 factor 1")); err == nil {
		t.Error("a secret opened for another factor")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.Open(tampered, []byte("user 1 factor 1")); err == nil {
		t.Error("an altered secret opened")
	}
	other, _ := NewSealer(bytes.Repeat([]byte{8}, FactorKeySize))
	if _, err := other.Open(sealed, []byte("user 1 factor 1")); err == nil || !strings.Contains(err.Error(), s.KeyID()) {
		t.Errorf("another key: %v", err)
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

// TestFactorKeyFile: the key file is made once (mode 0600), read back
// after, and refused when it holds something else.
func TestFactorKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "factor.key")
	k1, created, err := LoadOrCreateFactorKey(path)
	if err != nil || !created || len(k1) != FactorKeySize {
		t.Fatalf("create: %v %v %d", created, err, len(k1))
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", st.Mode(), err)
	}
	k2, created, err := LoadOrCreateFactorKey(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Errorf("load: %v %v", created, err)
	}
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateFactorKey(path); err == nil {
		t.Error("a bad key file was accepted")
	}
}

var recoveryForms = []struct {
	in, want string
}{
	{"abcd-efgh-jkmn-pqrs", "abcdefghjkmnpqrs"},
	{"ABCD EFGH JKMN PQRS", "abcdefghjkmnpqrs"},
	{"0123-4567-89ab-cdef", "0123456789abcdef"},
	{"o123-i567-l9ab-cdef", "0123156719abcdef"}, // Crockford's look-alikes
	{"abcd-efgh-jkmn-pqr", ""},
	{"abcd-efgh-jkmn-pqrst", ""},
	{"abcd-efgh-jkmn-pqru", ""}, // u is not in the alphabet
	{"", ""},
	{"abcd\x00efgh-jkmn-pqrs", ""},
	{"ａｂｃｄ-efgh-jkmn-pqrs", ""},
}

func TestRecoveryCodes(t *testing.T) {
	for _, tc := range recoveryForms {
		got, ok := normalizeRecovery(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("normalizeRecovery(%q) = %q %v, want %q", tc.in, got, ok, tc.want)
		}
	}
	codes, err := newRecoveryCodes()
	if err != nil || len(codes) != RecoveryCodeCount {
		t.Fatalf("%d codes, %v", len(codes), err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		n, ok := normalizeRecovery(c)
		if !ok || len(c) != 19 || seen[n] {
			t.Errorf("code %q: normalized %q %v", c, n, ok)
		}
		seen[n] = true
	}
	if bytes.Equal(hashRecovery("u1", "abcdefghjkmnpqrs"), hashRecovery("u2", "abcdefghjkmnpqrs")) {
		t.Error("the hash does not depend on the user")
	}
}

// FuzzRecoveryCode: the recovery-code parser never panics, accepts only
// what reads back to itself, and never more than 16 characters.
func FuzzRecoveryCode(f *testing.F) {
	for _, tc := range recoveryForms {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, ok := normalizeRecovery(in)
		if !ok {
			return
		}
		if len(n) != recoveryLen {
			t.Fatalf("%q normalized to %q", in, n)
		}
		if again, ok := normalizeRecovery(n); !ok || again != n {
			t.Fatalf("%q: %q does not read back", in, n)
		}
	})
}

// FuzzTOTPCode: the code parser never panics and accepts only six ASCII
// digits (after spaces and dashes).
func FuzzTOTPCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12345", "abcdef", "１２３４５６", "123-456"} {
		f.Add(s)
	}
	secret := []byte("12345678901234567890")
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, in string) {
		n, ok := normalizeTOTP(in)
		if ok && (len(n) != 6 || strings.Trim(n, "0123456789") != "") {
			t.Fatalf("%q normalized to %q", in, n)
		}
		if _, match := matchTOTP(secret, in, now); match && !ok {
			t.Fatalf("%q matched without being a code", in)
		}
	})
}

func TestFactorName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "Security key", true}, {"  YubiKey 5C ", "YubiKey 5C", true}, {"手机", "手机", true},
		{strings.Repeat("x", 64), strings.Repeat("x", 64), true}, {strings.Repeat("x", 65), "", false},
		{"a\nb", "", false}, {"\xff", "", false},
	} {
		got, err := factorName(tc.in, "Security key")
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("factorName(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// TestFactorNameRefusesSpoofing: a factor's name may not hold control
// characters or the invisible direction marks, overrides and isolates
// that make one name read as another (red team finding 6): refused with
// "factor-name", whose page says why.
func TestFactorNameRefusesSpoofing(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "def", true},
		{"  Phone  ", "Phone", true},
		{"Téléphone 電話", "Téléphone 電話", true},
		{"Phone\u202Eenohp", "", false},
		{"\u2066Phone\u2069", "", false},
		{"Ph\u200Eone", "", false},
		{"Ph\u200Fone", "", false},
		{"Ph\u061Cone", "", false},
		{"Phone\x1b[31m", "", false},
		{"Pho\u0085ne", "", false},
		{"Phone\nKey", "", false},
		{"Phone\u2028Key", "", false},
	} {
		got, err := factorName(tc.in, "def")
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("factorName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if f, isF := isFailure(err); err != nil && (!isF || f.Reason != "factor-name") {
			t.Errorf("factorName(%q): %v, want the factor-name failure", tc.in, err)
		}
	}
}

// TestGhostIDKeyed: what the database keeps of a user name that is no
// account is a keyed hash of it, the same for every spelling of its case
// and every replica with the same key file, another with another key, and
// not the plain SHA-256 someone with the database could test guesses
// against.
func TestGhostIDKeyed(t *testing.T) {
	k1, _ := NewSealer(bytes.Repeat([]byte{1}, FactorKeySize))
	k1again, _ := NewSealer(bytes.Repeat([]byte{1}, FactorKeySize))
	k2, _ := NewSealer(bytes.Repeat([]byte{2}, FactorKeySize))
	a, b, c := &Service{sealer: k1}, &Service{sealer: k1again}, &Service{sealer: k2}
	id := a.ghostID("Summer2024!")
	if id != a.ghostID("summer2024!") || id != b.ghostID("SUMMER2024!") {
		t.Errorf("ghost ids differ by case or replica: %s %s %s", id, a.ghostID("summer2024!"), b.ghostID("SUMMER2024!"))
	}
	if id == c.ghostID("Summer2024!") {
		t.Error("two keys give one ghost id")
	}
	plain := sha256.Sum256([]byte("summer2024!"))
	if strings.Contains(id, hex.EncodeToString(plain[:16])) || id == (&Service{}).ghostID("Summer2024!") {
		t.Errorf("the ghost id is the unkeyed hash: %s", id)
	}
	if !strings.HasPrefix(id, "ghost:") || len(id) != len("ghost:")+32 {
		t.Errorf("ghost id %q", id)
	}
}

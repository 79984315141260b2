package login

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TOTP (RFC 6238) as authenticator apps implement it: HMAC-SHA-1, 6
// digits, 30-second steps from the Unix epoch, a 160-bit secret. A code is
// accepted for the current step and one step either side (clock drift),
// and never twice: the step of the last code accepted is stored with the
// factor, and a code of that step or an earlier one is refused, on every
// replica (Tx.UseTOTPStep is a conditional update).
//
// The RFC is implemented here, with crypto/hmac, rather than with a
// library: it is twenty lines, and the verifier must return the step it
// matched, which is what the reuse check needs.

// TOTP parameters.
const (
	TOTPDigits = 6
	TOTPPeriod = 30 * time.Second
	// TOTPSkew is how many steps either side of the current one a code
	// may come from.
	TOTPSkew = 1
	// totpSecretBytes: RFC 4226 §4 asks for 128 bits and recommends 160.
	totpSecretBytes = 20
)

// totpEncoding is how a secret is written for manual entry and in
// otpauth URIs: base32 without padding (RFC 4648), as the apps expect.
var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTPStep is the time step of t.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCode is the code of secret at time t.
func TOTPCode(secret []byte, t time.Time) string { return hotp(secret, TOTPStep(t)) }

// hotp is RFC 4226's HOTP value of counter, as 6 decimal digits.
func hotp(key []byte, counter int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	s := strconv.FormatUint(uint64(bin%1_000_000), 10)
	return strings.Repeat("0", TOTPDigits-len(s)) + s
}

// normalizeTOTP returns code without the spaces an app shows in the
// middle ("123 456"), if it is then six ASCII digits.
func normalizeTOTP(code string) (string, bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\u00a0' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != TOTPDigits {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// matchTOTP returns the step, within TOTPSkew of now's, whose code is
// code (false when none is). Every candidate is computed and compared in
// constant time.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	code, ok := normalizeTOTP(code)
	if !ok {
		return 0, false
	}
	cur := TOTPStep(now)
	var found int64
	hit := 0
	for step := cur - TOTPSkew; step <= cur+TOTPSkew; step++ {
		if subtle.ConstantTimeCompare([]byte(hotp(secret, step)), []byte(code)) == 1 && hit == 0 {
			found, hit = step, 1
		}
	}
	return found, hit == 1
}

// TOTPSecretText writes a secret for manual entry: base32 in groups of
// four.
func TOTPSecretText(secret []byte) string {
	s := totpEncoding.EncodeToString(secret)
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// TOTPURI is the otpauth URI an app reads from the QR code (the Key URI
// Format of Google Authenticator, which the others follow).
func TOTPURI(secret []byte, issuer, account string) string {
	label := url.PathEscape(issuer + ":" + account)
	q := url.Values{"secret": {totpEncoding.EncodeToString(secret)}, "issuer": {issuer}, "algorithm": {"SHA1"},
		"digits": {strconv.Itoa(TOTPDigits)}, "period": {strconv.Itoa(int(TOTPPeriod / time.Second))}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}

package auth

import (
	"fmt"
	"math"
	"strings"
)

// The admin token an operator chooses (GATEHOUSE_ADMIN_TOKEN) opens every
// door: CheckAdminToken refuses one that is known or easy to guess.

// MinAdminTokenBits is the least entropy CheckAdminToken accepts, as
// estimated by guessBits: 128 bits, less a margin of 8 for the runs and
// repeats that random values hold by chance (32 random hexadecimal
// characters, 128 bits, pass).
const MinAdminTokenBits = 120

// adminTokenPlaceholders are values published as examples (.env.example):
// anyone can try them.
var adminTokenPlaceholders = []string{"replace-me", "replace_me", "change-me", "change_me", "changeme", "placeholder"}

// CheckAdminToken checks an admin token chosen by the operator: 32 to 4096
// characters without spaces, not a placeholder, not a malformed Gatehouse
// token, and at least MinAdminTokenBits bits of estimated entropy.
func CheckAdminToken(value string) error {
	const how = "use a random value (openssl rand -hex 32), or leave GATEHOUSE_ADMIN_TOKEN unset on the first start and Gatehouse generates one"
	if len(value) < 32 || len(value) > 4096 || strings.ContainsAny(value, " \t\r\n") {
		return fmt.Errorf("GATEHOUSE_ADMIN_TOKEN must have 32 to 4096 characters and no spaces (e.g. openssl rand -hex 32)")
	}
	lower := strings.ToLower(value)
	for _, p := range adminTokenPlaceholders {
		if strings.Contains(lower, p) {
			return fmt.Errorf("GATEHOUSE_ADMIN_TOKEN is a placeholder (it contains %q), the same for everyone who copied the example: %s", p, how)
		}
	}
	if hasKnownPrefix(value) && !WellFormed(value, value[:strings.LastIndexByte(value, '_')+1]) {
		return fmt.Errorf("GATEHOUSE_ADMIN_TOKEN starts like a Gatehouse token but is not one; use a token Gatehouse generated or a random value without its prefixes (e.g. openssl rand -hex 32)")
	}
	if bits := guessBits(value); bits < MinAdminTokenBits {
		return fmt.Errorf("GATEHOUSE_ADMIN_TOKEN is too easy to guess: about %d bits of entropy, at least 128 are required "+
			"(runs such as aaaa or 1234, repeats and words count for little): %s", int(bits), how)
	}
	return nil
}

// guessBits estimates, conservatively, the entropy of s in bits: what a
// guesser who knows how people and generators make such values must try.
//
//   - A character counts the bits of the alphabet s seems drawn from: 4
//     when s is hexadecimal (one case), else log2 of the classes it uses
//     (lower case, upper case, digits, others), at most 6.
//   - A character that continues a run (the same character, or the next or
//     previous one, a fourth time: aaaa, 1234, dcba) or a repeat of four
//     characters seen before counts nothing.
//   - When s reads as words (every run of letters is in lower case or
//     capitalised, and runs of three letters or more hold 80% of them, as
//     in a passphrase), each run of letters counts at most 11 bits (a word
//     of a 2,048-word list), and a character other than a letter or digit
//     that came before (the separator) nothing.
func guessBits(s string) float64 {
	var lower, upper, digit, other, hexOnly = false, false, false, false, true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z':
			lower = true
			hexOnly = hexOnly && c <= 'f'
		case c >= 'A' && c <= 'Z':
			upper = true
			hexOnly = hexOnly && c <= 'F'
		case c >= '0' && c <= '9':
			digit = true
		default:
			other = true
			hexOnly = false
		}
	}
	perChar := 4.0
	if !hexOnly || (lower && upper) {
		size := 0
		for _, c := range []struct {
			used bool
			n    int
		}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
			if c.used {
				size += c.n
			}
		}
		perChar = min(math.Log2(float64(size)), 6)
	}
	predictable := func(i int) bool {
		if i < 3 {
			return false
		}
		d := int(s[i]) - int(s[i-1])
		if d >= -1 && d <= 1 && int(s[i-1])-int(s[i-2]) == d && int(s[i-2])-int(s[i-3]) == d {
			return true
		}
		return strings.Contains(s[:i], s[i-3:i+1])
	}
	isLower := func(c byte) bool { return c >= 'a' && c <= 'z' }
	isUpper := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	isLetter := func(c byte) bool { return isLower(c) || isUpper(c) }
	// The runs of letters, and whether s reads as words.
	type run struct{ from, to int }
	var runs []run
	letters, inWords, allWords := 0, 0, true
	for i := 0; i < len(s); {
		if !isLetter(s[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isLower(s[j]) {
			j++
		}
		if j < len(s) && isUpper(s[j]) {
			allWords = false // an upper-case letter inside a run
			for j < len(s) && isLetter(s[j]) {
				j++
			}
		}
		runs = append(runs, run{i, j})
		letters += j - i
		if j-i >= 3 {
			inWords += j - i
		}
		i = j
	}
	words := perChar > 4 && letters > 0 && allWords && inWords*10 >= letters*8
	bits := 0.0
	next := 0 // the next run of letters
	for i := 0; i < len(s); {
		if next < len(runs) && runs[next].from == i {
			r := runs[next]
			next++
			b := 0.0
			for k := r.from; k < r.to; k++ {
				if !predictable(k) {
					b += perChar
				}
			}
			if words {
				b = min(b, 11)
			}
			bits += b
			i = r.to
			continue
		}
		c := s[i]
		separator := words && !(c >= '0' && c <= '9') && strings.IndexByte(s[:i], c) >= 0
		if !predictable(i) && !separator {
			bits += perChar
		}
		i++
	}
	return bits
}

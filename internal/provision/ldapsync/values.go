package ldapsync

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// FormatGUID renders a binary objectGUID as the canonical GUID string
// ("3f2504e0-4f89-11d3-9a0c-0305e82c3301"). AD stores a GUID as Windows'
// GUID structure: the first three fields (4, 2 and 2 bytes) little-endian,
// the last 8 bytes as they are.
func FormatGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("a GUID has 16 bytes, not %d", len(b))
	}
	o := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]}
	h := hex.EncodeToString(o)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// ParseGUID is the inverse of FormatGUID: the binary objectGUID of a GUID
// string (with or without braces).
func ParseGUID(s string) ([]byte, error) {
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return nil, fmt.Errorf("%q is not a GUID", s)
	}
	h, err := hex.DecodeString(t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:36])
	if err != nil {
		return nil, fmt.Errorf("%q is not a GUID", s)
	}
	return []byte{h[3], h[2], h[1], h[0], h[5], h[4], h[7], h[6], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]}, nil
}

// escapeBytes writes b for a filter assertion, every byte escaped (RFC 4515).
func escapeBytes(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%02x", c)
	}
	return sb.String()
}

// ParseGeneralizedTime reads an LDAP GeneralizedTime (RFC 4517 3.3.13) as
// servers write it: "20240102150405Z", with optional fractional seconds
// ("20240102150405.123Z", AD's "20240102150405.0Z") and a "Z" or ±hhmm
// offset; minutes and seconds may be left out.
func ParseGeneralizedTime(s string) (time.Time, error) {
	bad := fmt.Errorf("%q is not a GeneralizedTime", s)
	if len(s) < 11 {
		return time.Time{}, bad
	}
	var loc *time.Location
	body := s
	switch {
	case strings.HasSuffix(s, "Z"):
		loc, body = time.UTC, s[:len(s)-1]
	case len(s) >= 5 && (s[len(s)-5] == '+' || s[len(s)-5] == '-'):
		off := s[len(s)-5:]
		h, err1 := strconv.Atoi(off[1:3])
		m, err2 := strconv.Atoi(off[3:5])
		if err1 != nil || err2 != nil || h > 23 || m > 59 || !allDigits(off[1:]) {
			return time.Time{}, bad
		}
		sec := h*3600 + m*60
		if off[0] == '-' {
			sec = -sec
		}
		loc, body = time.FixedZone("", sec), s[:len(s)-5]
	default:
		return time.Time{}, bad // local time without an offset: ambiguous
	}
	frac := ""
	if i := strings.IndexAny(body, ".,"); i >= 0 {
		frac, body = body[i+1:], body[:i]
		if frac == "" || !allDigits(frac) {
			return time.Time{}, bad
		}
	}
	if !allDigits(body) {
		return time.Time{}, bad
	}
	var layout string
	switch len(body) {
	case 10:
		layout = "2006010215"
	case 12:
		layout = "200601021504"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, bad
	}
	t, err := time.ParseInLocation(layout, body, loc)
	if err != nil {
		return time.Time{}, bad
	}
	if frac != "" {
		// The fraction is of the last unit given.
		f, _ := strconv.ParseFloat("0."+frac, 64)
		unit := map[int]time.Duration{10: time.Hour, 12: time.Minute, 14: time.Second}[len(body)]
		t = t.Add(time.Duration(f * float64(unit)).Truncate(time.Microsecond))
	}
	return t.UTC(), nil
}

// FormatGeneralizedTime writes t as a GeneralizedTime of whole seconds in
// UTC, the form filters compare.
func FormatGeneralizedTime(t time.Time) string { return t.UTC().Format("20060102150405") + "Z" }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// valueRange is the part of a multi-valued attribute an AD server sent
// ("member;range=0-1499"): values lo…hi, and whether more follow.
type valueRange struct {
	Attr string
	Lo   int
	Hi   int  // -1 for "*", the last part
	Last bool // hi was "*"
}

// parseRange reads an attribute description with AD's range option
// ("member;range=1500-2999", "member;range=3000-*"). ok is false for a
// description without one.
func parseRange(desc string) (r valueRange, ok bool, err error) {
	parts := strings.Split(desc, ";")
	for _, opt := range parts[1:] {
		v, found := strings.CutPrefix(strings.ToLower(opt), "range=")
		if !found {
			continue
		}
		lo, hi, found := strings.Cut(v, "-")
		if !found || !allDigits(lo) {
			return r, true, fmt.Errorf("bad range option %q", opt)
		}
		r.Attr = parts[0]
		if r.Lo, err = strconv.Atoi(lo); err != nil {
			return r, true, fmt.Errorf("bad range option %q", opt)
		}
		if hi == "*" {
			r.Hi, r.Last = -1, true
			return r, true, nil
		}
		if !allDigits(hi) {
			return r, true, fmt.Errorf("bad range option %q", opt)
		}
		if r.Hi, err = strconv.Atoi(hi); err != nil || r.Hi < r.Lo {
			return r, true, fmt.Errorf("bad range option %q", opt)
		}
		return r, true, nil
	}
	return r, false, nil
}

// normDN is the form DNs are compared in: attribute types and values
// folded to lower case (the attributes that name entries match ignoring
// case), escaping and spacing normalised. ok is false for a string that is
// not a DN.
func normDN(s string) (string, bool) {
	d, err := ldap.ParseDN(s)
	if err != nil {
		return "", false
	}
	for _, r := range d.RDNs {
		for _, a := range r.Attributes {
			a.Type, a.Value = strings.ToLower(a.Type), strings.ToLower(a.Value)
		}
	}
	return d.String(), true
}

// parentDN returns the normalised DN of n's parent ("" for a one-RDN DN).
// n must be normalised: its separators are the unescaped commas.
func parentDN(n string) string {
	for i := 0; i < len(n); i++ {
		switch n[i] {
		case '\\':
			i++
		case ',':
			return n[i+1:]
		}
	}
	return ""
}

// depth is the number of RDNs of a normalised DN.
func depth(n string) int {
	d := 0
	for n != "" {
		d++
		n = parentDN(n)
	}
	return d
}

// memberDN strips the optional unique identifier of a nameAndOptionalUID
// value (uniqueMember: "uid=a,dc=x#'0101'B").
func memberDN(v string) string {
	if i := strings.LastIndex(v, "#'"); i >= 0 && strings.HasSuffix(v, "'B") {
		bits := v[i+2 : len(v)-2]
		if strings.Trim(bits, "01") == "" {
			return v[:i]
		}
	}
	return v
}

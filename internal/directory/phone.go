package directory

import (
	"fmt"
	"strings"
)

// DefaultPhoneRegion is the calling code IDaaS assumes for a number that
// carries none.
const DefaultPhoneRegion = "86"

// twoDigitCodes are the ITU-T E.164 country calling codes of two digits.
// Calling codes form a prefix code: a number starting "+1" or "+7" has a
// one-digit code, one starting with any of these a two-digit code, and every
// other a three-digit code.
var twoDigitCodes = map[string]bool{
	"20": true, "27": true, "30": true, "31": true, "32": true, "33": true, "34": true, "36": true,
	"39": true, "40": true, "41": true, "43": true, "44": true, "45": true, "46": true, "47": true,
	"48": true, "49": true, "51": true, "52": true, "53": true, "54": true, "55": true, "56": true,
	"57": true, "58": true, "60": true, "61": true, "62": true, "63": true, "64": true, "65": true,
	"66": true, "81": true, "82": true, "84": true, "86": true, "90": true, "91": true, "92": true,
	"93": true, "94": true, "95": true, "98": true,
}

// callingCodeLen returns the length of the country calling code that digits
// (an international number without "+") starts with.
func callingCodeLen(digits string) int {
	switch {
	case digits == "":
		return 0
	case digits[0] == '1' || digits[0] == '7':
		return 1
	case len(digits) >= 2 && twoDigitCodes[digits[:2]]:
		return 2
	}
	return 3
}

// Phone is a phone number read the way IDaaS reads it.
type Phone struct {
	// Region is the calling code without "+", e.g. "86".
	Region string
	// National is the number without its calling code, digits only.
	National string
	// International reports whether the number carried its calling code
	// ("+86-138…").
	International bool
}

// ParsePhone reads a phone number as IDaaS's field table describes it: a
// number that includes its calling code must start with "+"
// ("+86-13800138000", "+86 138 0013 8000", "+8613800138000"); a number
// without "+" carries no calling code. region is the separate phoneRegion
// value, which may be empty: if it is, the code is taken from the number, else
// DefaultPhoneRegion is used; if it is not, it must agree with the code in
// the number. Spaces, hyphens, dots and parentheses may separate digits.
func ParsePhone(value, region string) (Phone, error) {
	region = strings.TrimPrefix(strings.TrimSpace(region), "+")
	if region != "" && !allDigits(region) || len(region) > 3 {
		return Phone{}, fmt.Errorf("phoneRegion %q is not a calling code (1 to 3 digits, such as \"86\")", region)
	}
	v := strings.TrimSpace(value)
	if v == "" {
		return Phone{}, fmt.Errorf("phone number is empty")
	}
	international := strings.HasPrefix(v, "+")
	body := strings.TrimPrefix(v, "+")
	var digits strings.Builder
	firstGroup := -1 // length of the first run of digits, when a separator follows it
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= '0' && c <= '9':
			digits.WriteByte(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
			if firstGroup < 0 && digits.Len() > 0 {
				firstGroup = digits.Len()
			}
		default:
			return Phone{}, fmt.Errorf("phone number %q contains %q: use digits, with \"+\" and the calling code in front if it has one", value, string(c))
		}
	}
	d := digits.String()
	p := Phone{International: international}
	if international {
		n := callingCodeLen(d)
		if firstGroup >= 1 && firstGroup <= 3 {
			n = firstGroup // "+86-138…": the writer told us where the code ends
		}
		if len(d) <= n {
			return Phone{}, fmt.Errorf("phone number %q has a calling code but no number", value)
		}
		p.Region, p.National = d[:n], d[n:]
		if region != "" && region != p.Region {
			return Phone{}, fmt.Errorf("phoneRegion %q does not match the calling code +%s of phone number %q", region, p.Region, value)
		}
	} else {
		p.National = d
		p.Region = region
		if p.Region == "" {
			p.Region = DefaultPhoneRegion
		}
	}
	if len(p.National) < 3 || len(p.Region)+len(p.National) > 15 {
		return Phone{}, fmt.Errorf("phone number %q must have between 3 and %d digits after its calling code", value, 15-len(p.Region))
	}
	return p, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

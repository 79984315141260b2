package directory

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PasswordPolicy is what a password set through provisioning must satisfy.
type PasswordPolicy struct {
	MinLength int // characters
	MaxLength int // characters; bounds the cost of hashing
	// MinClasses is how many of the four character classes (lower case, upper
	// case, digits, other) must appear.
	MinClasses int
	// DisallowUserName refuses passwords that contain the user name (or the
	// local part of an email-style user name), case-insensitively.
	DisallowUserName bool
}

// DefaultPasswordPolicy is used unless configuration says otherwise.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLength: 8, MaxLength: 128, MinClasses: 2, DisallowUserName: true}
}

// Validate reports every rule the policy has and the policy itself breaks.
func (p PasswordPolicy) Validate() error {
	var problems []string
	if p.MinLength < 1 {
		problems = append(problems, "password_policy.min_length must be at least 1")
	}
	if p.MaxLength < p.MinLength || p.MaxLength > 1024 {
		problems = append(problems, "password_policy.max_length must be between min_length and 1024")
	}
	if p.MinClasses < 0 || p.MinClasses > 4 {
		problems = append(problems, "password_policy.min_classes must be between 0 and 4")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Describe states the policy in words, for clients (the SCIM schema of
// "password").
func (p PasswordPolicy) Describe() string {
	s := fmt.Sprintf("%d to %d characters, without control characters", p.MinLength, p.MaxLength)
	if p.MinClasses > 0 {
		s += fmt.Sprintf("; at least %d of: lower-case letters, upper-case letters, digits, other characters", p.MinClasses)
	}
	if p.DisallowUserName {
		s += "; not containing the user name (for an email-style user name, its local part) when that has 3 characters or more, ignoring case"
	}
	return s
}

// Check reports the first rule pw breaks, in words meant for the client. It
// never includes the password in the message.
func (p PasswordPolicy) Check(pw, userName string) error {
	if !utf8.ValidString(pw) {
		return fmt.Errorf("the password is not valid UTF-8")
	}
	n := utf8.RuneCountInString(pw)
	if n < p.MinLength {
		return fmt.Errorf("the password must have at least %d characters", p.MinLength)
	}
	if n > p.MaxLength {
		return fmt.Errorf("the password must have at most %d characters", p.MaxLength)
	}
	var lower, upper, digit, other bool
	for _, r := range pw {
		switch {
		case unicode.IsControl(r):
			return fmt.Errorf("the password must not contain control characters")
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			classes++
		}
	}
	if classes < p.MinClasses {
		return fmt.Errorf("the password must mix at least %d of: lower-case letters, upper-case letters, digits, other characters", p.MinClasses)
	}
	if p.DisallowUserName && userName != "" {
		name := strings.ToLower(userName)
		if local, _, ok := strings.Cut(name, "@"); ok {
			name = local
		}
		if len(name) >= 3 && strings.Contains(strings.ToLower(pw), name) {
			return fmt.Errorf("the password must not contain the user name")
		}
	}
	return nil
}

package targets

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// EmailPayload is the Payload of deliveries to the email targets (Resend
// and SMTP), as the rule's transformer produces it:
//
//	{
//	  "to":        "ada@example.com" | ["Ada <ada@example.com>", …],   required, 1 to 50
//	  "template":  "welcome_new_hire",                                 required
//	  "subject":   "…",            optional: replaces the template's subject (taken literally, not a template)
//	  "locale":    "zh" | "en" …,  optional: else the event's detail.locale or detail.preferredLanguage, else the target's
//	  "variables": {…},            optional: laid over the event's detail fields for the template
//	  "from":      "HR <hr@example.com>"   optional: else the target's From
//	}
//
// Unknown fields are refused (a misspelt "tempalte" should fail loudly, not
// send a default).
type EmailPayload struct {
	To        Addresses      `json:"to"`
	Template  string         `json:"template"`
	Subject   string         `json:"subject,omitempty"`
	Locale    string         `json:"locale,omitempty"`
	Variables map[string]any `json:"variables,omitempty"`
	From      string         `json:"from,omitempty"`
}

// Addresses is one address or a list of them; in JSON a string or an array
// of strings.
type Addresses []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *Addresses) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Addresses{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New(`"to" must be a string or an array of strings`)
	}
	*a = l
	return nil
}

// MaxRecipients is the most recipients of one email (Resend's limit, also
// applied to SMTP).
const MaxRecipients = 50

// email is an email ready to send.
type email struct {
	From     string
	To       []string
	Subject  string
	Text     string
	HTML     string
	Template string
	Locale   string
}

// emailDefaults are an email target's settings for what the payload does
// not say.
type emailDefaults struct {
	From, Locale string
	Company      string // the company's name, for the templates' "company"
}

// composeEmail builds the email of a delivery. Every error is the payload's
// or the configuration's fault: the delivery is Permanent.
func composeEmail(d *Delivery, tpl *Templates, def emailDefaults) (*email, error) {
	defaultFrom, defaultLocale := def.From, def.Locale
	var p EmailPayload
	dec := json.NewDecoder(bytes.NewReader(d.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("email payload: %w", err)
	}
	var errs []error
	var to []string
	for _, a := range p.To {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, err := mail.ParseAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("email payload: recipient %q: %w", a, err))
			continue
		}
		to = append(to, a)
	}
	switch {
	case len(to) == 0 && len(errs) == 0:
		errs = append(errs, errors.New(`email payload: no recipient ("to")`))
	case len(to) > MaxRecipients:
		errs = append(errs, fmt.Errorf("email payload: %d recipients; at most %d", len(to), MaxRecipients))
	}
	from := strings.TrimSpace(p.From)
	if from == "" {
		from = defaultFrom
	}
	if from == "" {
		errs = append(errs, errors.New(`email: no sender ("from" in the payload or the target's From)`))
	} else if _, err := mail.ParseAddress(from); err != nil {
		errs = append(errs, fmt.Errorf("email: sender %q: %w", from, err))
	}
	if p.Template == "" {
		errs = append(errs, errors.New(`email payload: no "template"`))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	detail := eventDetail(d.Event)
	vars := templateVars(detail, p.Variables, def.Company)
	prefs := []string{p.Locale, stringField(detail, "locale"), stringField(detail, "preferredLanguage"), defaultLocale}
	r, err := tpl.Render(p.Template, prefs, vars)
	if err != nil {
		return nil, err
	}
	e := &email{From: from, To: to, Subject: r.Subject, Text: r.Text, HTML: r.HTML, Template: r.Template, Locale: r.Locale}
	if s := cleanSubject(p.Subject); s != "" {
		e.Subject = s
	}
	return e, nil
}

// defaultRootName is the name the root organization is created with: a
// root still so named does not name the company.
const defaultRootName = "Root"

// templateVars is what email templates see: the event's detail fields,
// then the variables derived from them, then the payload's variables
// (which win over both):
//
//	greetingName  the name to greet the person by: givenName, else
//	              displayName; never an email address ("" when there is
//	              none)
//	fullName      displayName, else givenName and familyName ("张三" for
//	              CJK names, "Ada Lovelace" otherwise); never an email address
//	company       the target's company setting (events.company), else the
//	              root organization's name (detail.orgPathNames[0]) unless it
//	              is still "Root"
func templateVars(detail, variables map[string]any, company string) map[string]any {
	vars := make(map[string]any, len(detail)+len(variables)+3)
	for k, v := range detail {
		vars[k] = v
	}
	for k, v := range variables {
		vars[k] = v
	}
	given, family, display := personName(vars, "givenName"), personName(vars, "familyName"), personName(vars, "displayName")
	derived := map[string]string{"greetingName": cmp.Or(given, display), "fullName": cmp.Or(display, joinName(given, family))}
	if company == "" {
		if path, ok := vars["orgPathNames"].([]any); ok && len(path) > 0 {
			if root, _ := path[0].(string); root != defaultRootName {
				company = strings.TrimSpace(root)
			}
		}
	}
	derived["company"] = company
	for k, v := range derived {
		if _, set := variables[k]; !set && v != "" {
			vars[k] = v
		}
	}
	return vars
}

// personName is a name field of vars, trimmed; "" when it is absent, not
// text, or an email address (some directories put one there).
func personName(vars map[string]any, k string) string {
	s, _ := vars[k].(string)
	s = strings.TrimSpace(s)
	if strings.Contains(s, "@") {
		return ""
	}
	return s
}

// joinName joins a given and a family name in the order of the name's
// script: family first without a space for Chinese, Japanese and Korean
// names, given first otherwise.
func joinName(given, family string) string {
	switch {
	case given == "" || family == "":
		return given + family
	case isCJK(given) && isCJK(family):
		return family + given
	}
	return given + " " + family
}

func isCJK(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hangul, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) {
			return true
		}
	}
	return false
}

// eventDetail returns the fields of the event's "detail" object (or, for
// events without one, of its CloudEvents "data" object).
func eventDetail(ev json.RawMessage) map[string]any {
	if len(ev) == 0 {
		return nil
	}
	var doc struct {
		Detail map[string]any `json:"detail"`
		Data   map[string]any `json:"data"`
	}
	if err := json.Unmarshal(ev, &doc); err != nil {
		return nil
	}
	if doc.Detail != nil {
		return doc.Detail
	}
	return doc.Data
}

func stringField(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// emailDigest identifies which email of an event a target sends: the
// template and the recipients, not the rendered content (which may change
// between attempts if an operator edits a template).
func emailDigest(targetID string, e *email) string {
	h := sha256.New()
	h.Write([]byte(targetID))
	h.Write([]byte{0})
	h.Write([]byte(e.Template))
	for _, t := range e.To {
		h.Write([]byte{0})
		h.Write([]byte(strings.ToLower(t)))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

var safeIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// safeEventID is the event id if it is a plain token, else a digest of it.
func safeEventID(id string) string {
	if safeIDRE.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "h" + hex.EncodeToString(sum[:16])
}

// headerSafe is s when it is made of visible ASCII characters, else "h"
// and a digest of it.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			sum := sha256.Sum256([]byte(s))
			return "h" + hex.EncodeToString(sum[:16])
		}
	}
	return s
}

// targetIDFor is the configured target id, or a digest of what identifies
// the target's configuration.
func targetIDFor(configured string, parts ...string) string {
	if configured != "" {
		return configured
	}
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// idempotencyKey is EventID ":" target id ":" email digest, and after the
// nth replay ":r" n; or, when that would exceed Resend's 256 characters,
// "sha256:" and the hex digest of it. An event or target id that is not
// visible ASCII (a line break cannot be sent in a header; other bytes are
// not portable) is replaced by a digest.
func idempotencyKey(eventID, targetID string, replays int, e *email) string {
	k := headerSafe(eventID) + ":" + headerSafe(targetID) + ":" + emailDigest(targetID, e)
	if replays > 0 {
		k += ":r" + strconv.Itoa(replays)
	}
	if len(k) > 256 {
		sum := sha256.Sum256([]byte(k))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

// messageID is the deterministic Message-ID (without angle brackets) of an
// event's email through a target: the same on every attempt, so receiving
// systems can recognise a resend; after the nth replay it has ".r" n
// before the "@" (a replay is sent again, and some mailboxes drop a
// Message-ID they have seen).
func messageID(eventID, targetID string, replays int, e *email) string {
	domain := "gatehouse.invalid"
	if a, err := mail.ParseAddress(e.From); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" && !strings.ContainsAny(d, "[]<> ") {
			domain = d
		}
	}
	local := safeEventID(eventID) + "." + emailDigest(targetID, e)
	if replays > 0 {
		local += ".r" + strconv.Itoa(replays)
	}
	return local + "@" + domain
}

// parseMailbox parses one address such as "Ada <ada@example.com>".
func parseMailbox(s string) (*mail.Address, error) {
	return mail.ParseAddress(strings.TrimSpace(s))
}

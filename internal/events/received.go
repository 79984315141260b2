package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/rules"
)

// Events received on POST /events are never taken for Gatehouse's own:
//
//   - their document carries "received": {"app": NAME, "appId": ID}, the
//     application whose credential posted them. Gatehouse writes it when it
//     builds the document, from the stored record (never from the event: an
//     event that brings a "received" attribute of its own is refused);
//   - a rule whose pattern does not name "received" at its top level
//     matches only documents without it — Gatehouse's own events. A rule
//     for received events names them, and so says whose it takes:
//     {"received": {"app": ["idaas-callbacks"]}, "detail-type": […]};
//   - no received event carries the hub's own source (Builder.Source), in
//     any spelling (SameSource): the receiver refuses it.

// ReceivedField is the top-level member of a received event's document
// that names the application that posted it.
const ReceivedField = "received"

// Received is what a received event's document says of its receipt.
type Received struct {
	App   string `json:"app"`   // the application's name when it posted the event
	AppID string `json:"appId"` // and its id
}

// ownEventsOnly is the condition a rule that does not name "received" gets.
const ownEventsOnly = `{"` + ReceivedField + `": {"app": [{"exists": false}]}}`

// CheckRulePattern refuses what a rule's pattern cannot say: "received"
// inside "$or" only (the rule would take received events in some
// alternatives and not in others; name it at the top level, or write two
// rules).
func CheckRulePattern(p *rules.Pattern) error {
	if direct, inOr := p.Names(ReceivedField); inOr && !direct {
		return errors.New(`"received" may only be named at the top level of a pattern, not inside $or: write one rule for Gatehouse's own events and one for received events`)
	}
	return nil
}

// RulePattern is the pattern a rule's pattern compiles to: itself when it
// names "received" at its top level; otherwise it, and the condition that
// the event was not received (it matches only Gatehouse's own events).
func RulePattern(p *rules.Pattern) (*rules.Pattern, error) {
	if err := CheckRulePattern(p); err != nil {
		return nil, err
	}
	if direct, _ := p.Names(ReceivedField); direct {
		return p, nil
	}
	return p.And(rules.MustParsePattern(ownEventsOnly))
}

// ExplainRule is rules.Explain for a rule's pattern, as the pipeline
// matches it (RulePattern): a pattern that does not name "received" does
// not match a received event.
func ExplainRule(p *rules.Pattern, doc []byte) (bool, string) {
	if direct, _ := p.Names(ReceivedField); !direct {
		if app, ok := receivedApp(doc); ok {
			return false, fmt.Sprintf(`received: the event was received on POST /events (from application %q); a pattern that does not name "received" matches only Gatehouse's own events`, app)
		}
	}
	return rules.Explain(p, doc)
}

// receivedApp reads the application a received document names.
func receivedApp(doc []byte) (string, bool) {
	var d struct {
		Received map[string]any `json:"received"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return "", false
	}
	app, ok := d.Received["app"]
	if !ok {
		return "", false
	}
	s, _ := app.(string)
	return s, true
}

// receivedDocument is the document of a received event: the one it came
// with, and the receipt (ReceivedField) from the stored record.
func receivedDocument(rec *directory.EventRecord) (json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(rec.Data, &doc); err != nil {
		return nil, fmt.Errorf("received event %s: %w", rec.ID, err)
	}
	if doc == nil {
		doc = map[string]json.RawMessage{}
	}
	mark, err := json.Marshal(Received{App: rec.Actor.AppName, AppID: rec.Actor.AppID})
	if err != nil {
		return nil, err
	}
	doc[ReceivedField] = mark
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("received event %s: %w", rec.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SameSource reports whether two CloudEvents sources are one, as a reader
// (or a pattern with equals-ignore-case) would take them: compared after
// percent-decoding, Unicode compatibility normalisation (NFKC: full-width
// letters are letters), with the ideographic full stops "。" and "｡" read
// as "." (as IDNA reads them), without white space, control and invisible
// characters (directory.Invisible), case-insensitively, without trailing
// slashes and dots ("com.alibabacloud.idaas." is the fully qualified
// spelling of the name).
func SameSource(a, b string) bool {
	ka, kb := sourceKey(a), sourceKey(b)
	return ka != "" && ka == kb
}

func sourceKey(s string) string {
	for range 3 { // "%252E" is "%2E" is "."
		u, err := url.PathUnescape(s)
		if err != nil || u == s {
			break
		}
		s = u
	}
	s = norm.NFKC.String(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r) || directory.Invisible(r):
			continue
		case r == '\u3002' || r == '\uff61': // ideographic full stops (NFKC makes U+FF0E ".")
			r = '.'
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return strings.TrimRight(b.String(), "/.")
}

package events

import (
	"encoding/json"
	"fmt"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"slices"
	"strings"
	"unicode"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/rules"
)

// Rules that can never match are accepted (a rules file is not refused
// for them) but warned about, by `gatehouse rules check` and in the log at
// every load: a pattern copied from elsewhere ("source":
// ["com.aliyun.idaas"], "detail-type": ["SCIM.UserCreated"]) is valid and
// silently matches nothing.
//
// A pattern that does not name "received" matches only Gatehouse's own
// events, whose source is events.source and whose detail-type (and type)
// is one of directory.EventTypes(): it is checked against those, on its
// conditions on source, type and detail-type. A pattern that names
// "received" is about events from outside, whose sources and types are the
// senders': only a source that is nothing but the hub's own is warned
// about (POST /events refuses such events).

// patternWarning is why a pattern matches nothing: the top-level field at
// fault ("" when it is their combination) and what to do.
type patternWarning struct{ field, msg string }

// patternWarnings says why a rule's pattern can match no event Gatehouse
// emits or receives (nil when it can). source is events.source ("": not
// checked).
func patternWarnings(p *rules.Pattern, source string) []patternWarning {
	if direct, _ := p.Names(ReceivedField); direct {
		if vals, only := p.Strings("source"); only && source != "" && len(vals) > 0 &&
			!slices.ContainsFunc(vals, func(v string) bool { return !SameSource(v, source) }) {
			return []patternWarning{{"source", fmt.Sprintf(`received events never have Gatehouse's own source %q (events.source): POST /events refuses them, so this rule matches nothing`, source)}}
		}
		return nil
	}
	fields := []string{"type", "detail-type"}
	if source != "" {
		fields = append(fields, "source")
	}
	proj := p.Only(fields...)
	if proj == nil {
		return nil
	}
	types := OwnEventTypes()
	if anyMatches(proj, source, types) {
		return nil
	}
	var out []patternWarning
	srcOK := true
	if src := p.Only("source"); src != nil && source != "" {
		srcOK = anyMatches(src, source, []string{""})
		if !srcOK {
			out = append(out, patternWarning{"source", fmt.Sprintf(`matches none of Gatehouse's own events, whose source is %q (events.source)%s: write "source": [%q], or set events.source to the source the rule expects (events from outside need "received" in the pattern)`,
				source, suggestion(p, "source", []string{source}), source)})
		}
	}
	typeOK := true
	if tp := p.Only("type", "detail-type"); tp != nil {
		typeOK = anyMatches(tp, "", types)
		if !typeOK {
			for _, field := range []string{"detail-type", "type"} {
				if p.Only(field) == nil || anyMatches(p.Only(field), "", types) {
					continue
				}
				out = append(out, patternWarning{field, fmt.Sprintf("matches no event type Gatehouse emits%s; they are %s", suggestion(p, field, types), strings.Join(types, ", "))})
			}
		}
	}
	if len(out) == 0 {
		out = append(out, patternWarning{"", fmt.Sprintf("matches none of Gatehouse's own events (source %q; %s): its conditions on source, type and detail-type exclude each other",
			source, strings.Join(types, ", "))})
	}
	return out
}

// anyMatches reports whether p matches the document of an event of one
// of types with source (each left out when empty).
func anyMatches(p *rules.Pattern, source string, types []string) bool {
	for _, t := range types {
		doc := map[string]any{}
		if source != "" {
			doc["source"] = source
		}
		if t != "" {
			doc["type"], doc["detail-type"] = t, t
		}
		b, _ := json.Marshal(doc)
		if ok, _ := rules.Explain(p, b); ok {
			return true
		}
	}
	return false
}

// suggestion is ` ("X" is not one of them; did you mean "Y"?)` for the first
// exact value of the pattern's field that is not known and has a close
// known value, or "".
func suggestion(p *rules.Pattern, field string, known []string) string {
	vals, _ := p.Strings(field)
	for _, v := range vals {
		if slices.Contains(known, v) {
			continue
		}
		if s := closest(v, known); s != "" {
			return fmt.Sprintf(" (%q: did you mean %q?)", v, s)
		}
	}
	return ""
}

// closest is the known value v most likely stands for: the type an IDaaS
// callback code maps to, the one with the same letters (case and
// punctuation aside) or whose letters end v's ("SCIM.UserCreated" →
// "User.Created"), or one within three edits; "" when none is close.
func closest(v string, known []string) string {
	if t, ok := idaasTypes[strings.TrimPrefix(v, "urn:alibaba:idaas:app:event:")]; ok && slices.Contains(known, t) {
		return t
	}
	lv := letters(v)
	for _, k := range known {
		if lk := letters(k); lk == lv || (len(lk) >= 6 && (strings.HasSuffix(lv, lk) || strings.HasPrefix(lv, lk))) {
			return k
		}
	}
	best, bestD := "", 4
	for _, k := range known {
		if d := editDistance(strings.ToLower(v), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// letters is s lower-cased without what is not a letter or a digit.
func letters(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// OwnEventTypes lists the types of the events Gatehouse itself emits: the
// directory's lifecycle events and documentation search's document events.
func OwnEventTypes() []string {
	return append(directory.EventTypes(), search.DocumentIndexed, search.DocumentRemoved)
}

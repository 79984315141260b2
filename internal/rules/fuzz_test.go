package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// FuzzParsePattern: ParsePattern never panics; a pattern it accepts prints
// to canonical JSON that parses again to the same text; a refusal is a
// *PatternError that points into the source.
func FuzzParsePattern(f *testing.F) {
	for _, c := range conformanceCases {
		f.Add([]byte(c.pattern))
	}
	for _, c := range conformanceRefusals {
		f.Add([]byte(c.pattern))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := ParsePattern(src)
		if err != nil {
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *PatternError", err, err)
			}
			if pe.Line < 1 || pe.Column < 1 || pe.Msg == "" {
				t.Fatalf("PatternError %+v: no position or message", pe)
			}
			return
		}
		s := p.String()
		if !json.Valid([]byte(s)) {
			t.Fatalf("String() = %s is not JSON", s)
		}
		p2, err := ParsePattern([]byte(s))
		if err != nil {
			t.Fatalf("String() = %s does not parse: %v (source %q)", s, err, src)
		}
		if s2 := p2.String(); s2 != s {
			t.Fatalf("printing is not stable:\n source %q\n first  %s\n second %s", src, s, s2)
		}
	})
}

// fuzzMatcher holds every pattern of the conformance table.
func fuzzMatcher(tb testing.TB) (*Matcher, map[string]*Pattern) {
	patterns := map[string]*Pattern{}
	for _, c := range conformanceCases {
		patterns[c.name] = MustParsePattern(c.pattern)
	}
	m, err := Compile(patterns)
	if err != nil {
		tb.Fatal(err)
	}
	return m, patterns
}

// FuzzMatch: any bytes as an event against a fixed matcher never panic;
// Match refuses exactly what is not a JSON object, and on a JSON object it
// agrees with the reference evaluator and with MatchValue.
func FuzzMatch(f *testing.F) {
	m, patterns := fuzzMatcher(f)
	seen := map[string]bool{}
	for _, c := range conformanceCases {
		if !seen[c.event] {
			seen[c.event] = true
			f.Add([]byte(c.event))
		}
	}
	for _, s := range []string{`[]`, `"x"`, `{"a":`, `{"detail": {"state": "a", "state": "b"}}`, "{\"a\": \"\xff\"}", `{"n": 1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, event []byte) {
		got, err := m.Match(event)
		var decoded any
		d := json.NewDecoder(bytes.NewReader(event))
		d.UseNumber()
		derr := d.Decode(&decoded)
		valid := json.Valid(event)
		obj, isObj := decoded.(map[string]any)
		if !valid || !isObj {
			if err == nil {
				t.Fatalf("Match(%q) = %v, want an error (valid JSON %v, object %v)", event, got, valid, isObj)
			}
			var ee *EventError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v (%T) is not an *EventError", err, err)
			}
			return
		}
		if err != nil || derr != nil {
			t.Fatalf("Match(%q): %v (decoding: %v)", event, err, derr)
		}
		if diff := cmp.Diff(got, m.MatchValue(obj)); diff != "" {
			t.Fatalf("event %q: MatchValue differs from Match (-Match +MatchValue):\n%s", event, diff)
		}
		if len(event) > 2048 {
			return // the reference evaluator is exponential in arrays of objects
		}
		var want []string
		for id, p := range patterns {
			if refMatch(p, decoded) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("event %q: Match differs from the reference (-want +got):\n%s", event, diff)
		}
	})
}

// FuzzTemplate: NewTransformer and Apply never panic, and what Apply
// returns without an error is always valid JSON.
func FuzzTemplate(f *testing.F) {
	for _, c := range transformCases {
		ev := c.event
		if ev == "" {
			ev = transformEvent
		}
		var name, def string
		for k, v := range c.spec.Vars {
			name, def = k, v // one variable per case is enough for the corpus
			break
		}
		text := c.spec.Template
		switch c.spec.Kind {
		case "path":
			text = c.spec.Path
		case "constant":
			text = c.spec.Value
		}
		f.Add(c.spec.Kind, text, name, def, []byte(ev))
	}
	f.Fuzz(func(t *testing.T, kind, text, name, def string, event []byte) {
		spec := TransformSpec{Kind: kind, Path: text, Value: text, Template: text}
		if name != "" {
			spec.Vars = map[string]string{name: def}
		}
		tr, err := NewTransformer(spec)
		if err != nil {
			return
		}
		out, err := tr.Apply(event)
		if err != nil {
			if out != nil {
				t.Fatalf("Apply returned %q with the error %v", out, err)
			}
			return
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("Apply(%q) with %+v = %q, not JSON in UTF-8", event, spec, out)
		}
	})
}

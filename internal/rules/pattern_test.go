package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNames: where a pattern names a top-level field.
func TestNames(t *testing.T) {
	tests := []struct {
		pattern     string
		direct, or_ bool
	}{
		{`{"received": {"app": ["a"]}}`, true, false},
		{`{"received": [{"exists": false}]}`, true, false},
		{`{"source": ["x"]}`, false, false},
		{`{"detail": {"received": ["x"]}}`, false, false},
		{`{"$or": [{"received": {"app": ["a"]}}, {"source": ["x"]}]}`, false, true},
		{`{"$or": [{"source": ["y"]}, {"$or": [{"received": {"app": ["a"]}}, {"source": ["x"]}]}]}`, false, true},
		{`{"$or": [{"detail": {"received": ["a"]}}, {"source": ["x"]}]}`, false, false},
		{`{"received": {"app": ["a"]}, "$or": [{"received": {"appId": ["b"]}}, {"source": ["x"]}]}`, true, true},
	}
	for _, tt := range tests {
		direct, inOr := MustParsePattern(tt.pattern).Names("received")
		if diff := cmp.Diff([2]bool{tt.direct, tt.or_}, [2]bool{direct, inOr}); diff != "" {
			t.Errorf("%s: (direct, inOr) (-want +got):\n%s", tt.pattern, diff)
		}
	}
}

// TestAnd: the conjunction matches what both patterns match, renders as
// their fields together, and refuses a shared top-level field.
func TestAnd(t *testing.T) {
	guard := MustParsePattern(`{"received": {"app": [{"exists": false}]}}`)
	tests := []struct {
		pattern string
		want    string // String() of the conjunction; "" for an error
		match   map[string]bool
	}{
		{
			pattern: `{"detail-type": ["User.Created"]}`,
			want:    `{"detail-type":["User.Created"],"received":{"app":[{"exists":false}]}}`,
			match: map[string]bool{
				`{"detail-type": "User.Created"}`:                              true,
				`{"detail-type": "User.Created", "received": {"app": "x"}}`:    false,
				`{"detail-type": "User.Created", "received": {"app": ""}}`:     false,
				`{"detail-type": "User.Updated"}`:                              false,
				`{"detail-type": "User.Created", "received": {"appId": "x"}}`:  true,
				`{"detail-type": "User.Created", "detail": {"received": "x"}}`: true,
			},
		},
		{
			pattern: `{"$or": [{"source": ["a"]}, {"source": ["b"]}]}`,
			want:    `{"$or":[{"source":["a"]},{"source":["b"]}],"received":{"app":[{"exists":false}]}}`,
			match: map[string]bool{
				`{"source": "b"}`: true,
				`{"source": "b", "received": {"app": "x"}}`: false,
			},
		},
		{pattern: `{"received": {"appId": ["x"]}}`},
	}
	for _, tt := range tests {
		p, err := MustParsePattern(tt.pattern).And(guard)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: And = %s, want an error", tt.pattern, p)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.pattern, err)
		}
		if got := p.String(); got != tt.want {
			t.Errorf("%s: And = %s, want %s", tt.pattern, got, tt.want)
		}
		m, err := Compile(map[string]*Pattern{"r": p})
		if err != nil {
			t.Fatal(err)
		}
		for ev, want := range tt.match {
			got, err := m.Match([]byte(ev))
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) == 1) != want {
				t.Errorf("%s on %s: %v, want %v", tt.pattern, ev, got, want)
			}
			if ok, why := Explain(p, []byte(ev)); ok != want {
				t.Errorf("Explain(%s, %s) = %v (%s), want %v", tt.pattern, ev, ok, why, want)
			}
		}
	}
}

// TestOnly: a pattern restricted to some top-level fields keeps their
// conditions, in "$or" alternatives too, and matches what they match.
func TestOnly(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // String() of Only("source", "detail-type"); "" for nil
	}{
		{`{"source": ["a"], "detail-type": ["T"], "detail": {"x": ["y"]}}`, `{"detail-type":["T"],"source":["a"]}`},
		{`{"detail": {"x": ["y"]}}`, ""},
		{`{"$or": [{"source": ["a"]}, {"detail-type": ["T"], "detail": {"x": ["y"]}}]}`, `{"$or":[{"source":["a"]},{"detail-type":["T"]}]}`},
		{`{"source": ["a"], "$or": [{"detail-type": ["T"]}, {"detail": {"x": ["y"]}}]}`, `{"source":["a"]}`},
		{`{"source": [{"prefix": "com."}], "$or": [{"$or": [{"detail-type": ["T"]}, {"detail-type": ["U"]}]}, {"source": ["b"]}]}`,
			`{"$or":[{"$or":[{"detail-type":["T"]},{"detail-type":["U"]}]},{"source":["b"]}],"source":[{"prefix":"com."}]}`},
	}
	for _, tt := range tests {
		got := ""
		if p := MustParsePattern(tt.pattern).Only("source", "detail-type"); p != nil {
			got = p.String()
		}
		if got != tt.want {
			t.Errorf("Only(%s) = %s, want %s", tt.pattern, got, tt.want)
		}
	}
	p := MustParsePattern(`{"$or": [{"source": ["a"], "detail": {"x": ["y"]}}, {"detail-type": ["T"]}]}`).Only("source", "detail-type")
	for event, want := range map[string]bool{`{"source": "a"}`: true, `{"detail-type": "T"}`: true, `{"source": "b", "detail-type": "U"}`: false} {
		if got, why := Explain(p, []byte(event)); got != want {
			t.Errorf("%s: %v (%s), want %v", event, got, why, want)
		}
	}
}

// TestStrings: the exact strings a top-level field accepts, and whether
// they are all it accepts.
func TestStrings(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string
		only    bool
	}{
		{`{"source": ["a", "b"]}`, []string{"a", "b"}, true},
		{`{"source": ["a", {"prefix": "b"}]}`, []string{"a"}, false},
		{`{"detail-type": ["T"]}`, nil, false},
		{`{"source": {"x": ["a"]}}`, nil, false},
		{`{"source": ["a"], "$or": [{"source": ["b"]}, {"type": ["T"]}]}`, nil, false},
	}
	for _, tt := range tests {
		got, only := MustParsePattern(tt.pattern).Strings("source")
		if !cmp.Equal(tt.want, got) || only != tt.only {
			t.Errorf("Strings(%s) = %q, %v; want %q, %v", tt.pattern, got, only, tt.want, tt.only)
		}
	}
}

package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The differential test compiles random patterns into one Matcher and
// compares, on random events, what it matches with the reference evaluator.
// Patterns and events draw on one small vocabulary of keys and values so
// that matches are frequent.

var (
	diffKeys    = []string{"a", "b", "c", "d"}
	diffStrings = []string{"x", "y", "X", "xy", "yx", "xY", "", "10.0.0.7", "10.0.1.7", "2001:db8::1", "a*b", "ab", "ſ", "S", "straße", "éX"}
	diffNumbers = []float64{0, 1, 2, 3.5, 300, -1}
)

// diffWriter writes JSON with some variety in spelling: numbers as 300, 3e2
// or 300.0, strings with escapes.
type diffWriter struct {
	r    *rand.Rand
	b    bytes.Buffer
	keys []string
}

func (w *diffWriter) str(s string) {
	if w.r.IntN(4) == 0 && s != "" {
		// escape the first character
		r := []rune(s)
		fmt.Fprintf(&w.b, `"\u%04x%s"`, r[0], strings.Trim(strconv.Quote(string(r[1:])), `"`))
		return
	}
	b, _ := json.Marshal(s)
	w.b.Write(b)
}

func (w *diffWriter) num(f float64) {
	switch w.r.IntN(3) {
	case 0:
		w.b.WriteString(strconv.FormatFloat(f, 'e', -1, 64))
	case 1:
		if f == float64(int64(f)) {
			fmt.Fprintf(&w.b, "%d.0", int64(f))
			return
		}
		fallthrough
	default:
		w.b.WriteString(strconv.FormatFloat(f, 'f', -1, 64))
	}
}

func (w *diffWriter) scalar() {
	switch w.r.IntN(10) {
	case 0, 1, 2, 3, 4:
		w.str(diffStrings[w.r.IntN(len(diffStrings))])
	case 5, 6:
		w.num(diffNumbers[w.r.IntN(len(diffNumbers))])
	case 7:
		w.b.WriteString("true")
	case 8:
		w.b.WriteString("false")
	default:
		w.b.WriteString("null")
	}
}

func (w *diffWriter) event(depth int) {
	w.b.WriteByte('{')
	n := 1 + w.r.IntN(5)
	keys := slices.Clone(w.keys)
	w.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for i := range n {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.str(keys[i%len(keys)]) // n may exceed the keys: a duplicate key now and then
		w.b.WriteByte(':')
		w.eventValue(depth)
	}
	w.b.WriteByte('}')
}

func (w *diffWriter) eventValue(depth int) {
	switch x := w.r.IntN(20); {
	case depth < 3 && x < 7:
		w.event(depth + 1)
	case x < 12:
		w.b.WriteByte('[')
		n := w.r.IntN(4)
		for i := range n {
			if i > 0 {
				w.b.WriteByte(',')
			}
			switch y := w.r.IntN(10); {
			case depth < 3 && y < 5:
				w.event(depth + 1)
			case depth < 3 && y == 5:
				w.eventValue(depth + 1)
			default:
				w.scalar()
			}
		}
		w.b.WriteByte(']')
	default:
		w.scalar()
	}
}

func (w *diffWriter) pattern(depth int) {
	w.b.WriteByte('{')
	keys := slices.Clone(w.keys)
	w.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	n := 1 + w.r.IntN(min(3, len(keys)))
	if depth >= 2 {
		n = 1 + w.r.IntN(2)
	}
	for i := range n {
		if i > 0 {
			w.b.WriteByte(',')
		}
		if depth < 3 && w.r.IntN(7) == 0 {
			w.b.WriteString(`"$or":[`)
			for j := range 2 + w.r.IntN(2) {
				if j > 0 {
					w.b.WriteByte(',')
				}
				w.pattern(depth + 1)
			}
			w.b.WriteByte(']')
			continue
		}
		w.str(keys[i])
		w.b.WriteByte(':')
		if depth < 3 && w.r.IntN(10) < 3 {
			w.pattern(depth + 1)
			continue
		}
		w.b.WriteByte('[')
		for j := range 1 + w.r.IntN(3) {
			if j > 0 {
				w.b.WriteByte(',')
			}
			w.atom()
		}
		w.b.WriteByte(']')
	}
	w.b.WriteByte('}')
}

var diffWildcards = []string{"x*", "*y", "x*y", "*", "a\\*b", "*x*", "*.7", "10.*.7", "s*ße", "*Y"}

func (w *diffWriter) pick(list []string) string { return list[w.r.IntN(len(list))] }

func (w *diffWriter) strList(list []string) string {
	n := 1 + w.r.IntN(3)
	var parts []string
	for range n {
		b, _ := json.Marshal(w.pick(list))
		parts = append(parts, string(b))
	}
	if n == 1 && w.r.IntN(2) == 0 {
		return parts[0]
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (w *diffWriter) atom() {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	short := []string{"x", "y", "X", "10.", "a", "S", "s", "é", ".7"}
	switch w.r.IntN(22) {
	case 0, 1, 2:
		w.str(w.pick(diffStrings))
	case 3:
		w.num(diffNumbers[w.r.IntN(len(diffNumbers))])
	case 4:
		w.b.WriteString(w.pick([]string{"true", "false", "null"}))
	case 5:
		fmt.Fprintf(&w.b, `{"prefix":%s}`, q(w.pick(short)))
	case 6:
		fmt.Fprintf(&w.b, `{"prefix":{"equals-ignore-case":%s}}`, q(w.pick(short)))
	case 7:
		fmt.Fprintf(&w.b, `{"suffix":%s}`, q(w.pick(short)))
	case 8:
		fmt.Fprintf(&w.b, `{"suffix":{"equals-ignore-case":%s}}`, q(w.pick(short)))
	case 9:
		fmt.Fprintf(&w.b, `{"equals-ignore-case":%s}`, q(w.pick(diffStrings)))
	case 10:
		fmt.Fprintf(&w.b, `{"wildcard":%s}`, q(w.pick(diffWildcards)))
	case 11:
		fmt.Fprintf(&w.b, `{"contains":%s}`, q(w.pick(short)))
	case 12:
		ops := [][]string{{">"}, {">="}, {"<"}, {"<="}, {"="}, {">", "<="}, {">=", "<"}, {">", "<"}, {"<", ">"}}
		op := ops[w.r.IntN(len(ops))]
		lo := diffNumbers[w.r.IntN(len(diffNumbers))]
		if len(op) == 1 {
			fmt.Fprintf(&w.b, `{"numeric":[%q,%v]}`, op[0], lo)
		} else {
			hi := lo + float64(w.r.IntN(300))
			if op[0] == "<" {
				lo, hi = hi, lo
			}
			fmt.Fprintf(&w.b, `{"numeric":[%q,%v,%q,%v]}`, op[0], lo, op[1], hi)
		}
	case 13:
		fmt.Fprintf(&w.b, `{"cidr":%s}`, q(w.pick([]string{"10.0.0.0/24", "10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"})))
	case 14:
		fmt.Fprintf(&w.b, `{"exists":true}`)
	case 15, 16:
		fmt.Fprintf(&w.b, `{"exists":false}`)
	case 17:
		fmt.Fprintf(&w.b, `{"anything-but":%s}`, w.strList(diffStrings))
	case 18:
		fmt.Fprintf(&w.b, `{"anything-but":[%v,%v]}`, diffNumbers[w.r.IntN(len(diffNumbers))], diffNumbers[w.r.IntN(len(diffNumbers))])
	case 19:
		fmt.Fprintf(&w.b, `{"anything-but":{"prefix":%s}}`, w.strList(short))
	case 20:
		fmt.Fprintf(&w.b, `{"anything-but":{"%s":%s}}`, w.pick([]string{"suffix", "equals-ignore-case"}), w.strList(short))
	default:
		fmt.Fprintf(&w.b, `{"anything-but":{"wildcard":%s}}`, w.strList(diffWildcards))
	}
}

func decodeUseNumber(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestDifferential(t *testing.T) {
	t.Run("four keys", func(t *testing.T) { testDifferential(t, diffKeys, 1) })
	// Two keys: deep, array-heavy events where array consistency decides.
	t.Run("two keys", func(t *testing.T) { testDifferential(t, diffKeys[:2], 2) })
}

func testDifferential(t *testing.T, keys []string, seed uint64) {
	const batches, rulesPerBatch, eventsPerBatch = 60, 40, 60
	cases, matches := 0, 0
	for batch := range batches {
		r := rand.New(rand.NewPCG(uint64(batch), seed))
		w := &diffWriter{r: r, keys: keys}
		patterns := map[string]*Pattern{}
		sources := map[string]string{}
		for len(patterns) < rulesPerBatch {
			w.b.Reset()
			w.pattern(0)
			src := w.b.String()
			p, err := ParsePattern([]byte(src))
			if err != nil {
				continue // e.g. an expansion too large
			}
			id := fmt.Sprintf("r%02d", len(patterns))
			patterns[id] = p
			sources[id] = src
		}
		m, err := Compile(patterns)
		if err != nil {
			t.Fatal(err)
		}
		singles := map[string]*Matcher{}
		for id, p := range patterns {
			singles[id], _ = Compile(map[string]*Pattern{id: p})
		}
		for range eventsPerBatch {
			w.b.Reset()
			w.event(0)
			ev := slices.Clone(w.b.Bytes())
			decoded := decodeUseNumber(t, ev)
			var floats any
			if err := json.Unmarshal(ev, &floats); err != nil {
				t.Fatal(err)
			}
			var want []string
			for id, p := range patterns {
				if refMatch(p, decoded) {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			got, err := m.Match(ev)
			if err != nil {
				t.Fatalf("Match(%s): %v", ev, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("batch %d event %s: Match differs from the reference (-want +got):\n%s", batch, ev, diff)
				for _, id := range symmetricDiff(want, got) {
					t.Logf("  %s: %s", id, sources[id])
				}
			}
			if diff := cmp.Diff(want, m.MatchValue(decoded)); diff != "" {
				t.Errorf("batch %d event %s: MatchValue (json.Number) differs (-want +got):\n%s", batch, ev, diff)
			}
			if diff := cmp.Diff(want, m.MatchValue(floats)); diff != "" {
				t.Errorf("batch %d event %s: MatchValue (float64) differs (-want +got):\n%s", batch, ev, diff)
			}
			for id, sm := range singles {
				got, _ := sm.Match(ev)
				if (len(got) == 1) != slices.Contains(want, id) {
					t.Errorf("batch %d event %s: rule %s alone: got %v, reference %v\n  %s", batch, ev, id, got, slices.Contains(want, id), sources[id])
				}
			}
			cases += len(patterns)
			matches += len(want)
		}
		if t.Failed() {
			break
		}
	}
	t.Logf("%d pattern × event comparisons, %d matches", cases, matches)
}

func symmetricDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}

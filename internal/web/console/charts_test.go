package console

import (
	"strings"
	"testing"
	"time"
)

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {1, 1}, {3, 5}, {7, 10}, {12, 20}, {180, 200}, {501, 1000}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestBuckets: the last bucket holds now; a time before the first or
// after the last is in none.
func TestBuckets(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	p := periods[0]
	starts, labels := buckets(p, now)
	if len(starts) != 24 || labels[23] != "10:00" || !starts[0].Equal(time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("buckets %v %v", starts[0], labels)
	}
	for _, tc := range []struct {
		t    time.Time
		want int
	}{{now, 23}, {starts[0], 0}, {starts[0].Add(-time.Nanosecond), -1}, {now.Add(time.Hour), -1}, {starts[5].Add(59 * time.Minute), 5}} {
		if got := bucketOf(starts, time.Hour, tc.t); got != tc.want {
			t.Errorf("bucketOf(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

// TestChartSVG: bars for positive values only, labels escaped, no style
// attribute (the CSP would refuse it).
func TestChartSVG(t *testing.T) {
	ch := &chart{ID: "x", Title: `<b>&"`, Labels: []string{"a", "b", "c"}, Bars: true,
		Series: []chartSeries{{Name: "n", Class: "a", Values: []float64{0, 2, 5}}}}
	svg := string(ch.SVG())
	if strings.Count(svg, "<rect") != 2 || strings.Contains(svg, "<b>") || !strings.Contains(svg, "&lt;b&gt;") || strings.Contains(svg, "style") {
		t.Errorf("svg:\n%s", svg)
	}
	if q := quantile([]float64{5, 1, 3, 2, 4}, 0.5); q != 3 {
		t.Errorf("median %v", q)
	}
	if q := quantile([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 100}, 0.95); q != 19 {
		t.Errorf("p95 %v", q)
	}
}

package console

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
)

// Charts drawn on the server as SVG (no script): delivery latency and
// failures over time (the delivery attempt log), push throughput (the
// push links' changes), sign-ins (the audit log's login records). Each
// chart comes with its figures as a table, for screen readers and for
// copying.

// maxPoints bounds what one chart reads; a period with more says so.
const maxPoints = 50000

// period is a chart's time span and its buckets.
type period struct {
	Key     string
	Span    time.Duration
	Buckets int
}

var periods = []period{{"24h", 24 * time.Hour, 24}, {"7d", 7 * 24 * time.Hour, 28}}

// chartsView is the charts page's data.
type chartsView struct {
	Period  string
	Periods []string
	Charts  []*chart
}

// chart is one chart: buckets of a period, one or more series.
type chart struct {
	ID, Title, Unit string
	Labels          []string // one per bucket
	Series          []chartSeries
	Bars            bool
	// Capped: the period had more points than a chart reads (maxPoints).
	Capped bool
	// Missing says why there is no data source ("" when there is one).
	Missing string
}

type chartSeries struct {
	Name   string
	Class  string // a or b (console.css)
	Values []float64
}

// Rows are the chart's figures, a row per bucket, for its table.
func (ch *chart) Rows() [][]string {
	rows := make([][]string, len(ch.Labels))
	for i, l := range ch.Labels {
		row := []string{l}
		for _, s := range ch.Series {
			row = append(row, formatValue(s.Values[i]))
		}
		rows[i] = row
	}
	return rows
}

func formatValue(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// SVG draws the chart.
func (ch *chart) SVG() template.HTML {
	const w, h, left, right, top, bottom = 720.0, 220.0, 56.0, 12.0, 12.0, 28.0
	n := len(ch.Labels)
	maxV := 0.0
	for _, s := range ch.Series {
		for _, v := range s.Values {
			maxV = max(maxV, v)
		}
	}
	top1 := niceCeil(maxV)
	if ch.Bars && top1 < 4 {
		// Counts: whole numbers on the grid.
		top1 = 4
	}
	x := func(i float64) float64 { return left + (w-left-right)*i/float64(n) }
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/top1) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" role="img" aria-labelledby="%s-t" focusable="false">`, w, h, ch.ID)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, ch.ID, template.HTMLEscapeString(ch.Title))
	for i := 0; i <= 4; i++ {
		v := top1 * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-6, y(v)+4, strconv.FormatFloat(v, 'f', -1, 64))
	}
	step := max(1, n/6)
	for i := 0; i < n; i += step {
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x(float64(i)+0.5), h-8, template.HTMLEscapeString(ch.Labels[i]))
	}
	bw := (w - left - right) / float64(n) / float64(max(1, len(ch.Series)))
	for si, s := range ch.Series {
		if ch.Bars {
			for i, v := range s.Values {
				if v <= 0 {
					continue
				}
				fmt.Fprintf(&b, `<rect class="bar-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, s.Class,
					x(float64(i))+bw*float64(si)+1, y(v), max(1, bw-2), y(0)-y(v))
			}
			continue
		}
		var pts []string
		for i, v := range s.Values {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i)+0.5), y(v)))
		}
		fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, s.Class, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	// Every value written is a number formatted here or an escaped label.
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// buckets returns the start of each bucket of p ending at now, and a
// label for each.
func buckets(p period, now time.Time) ([]time.Time, []string) {
	size := p.Span / time.Duration(p.Buckets)
	end := now.UTC().Truncate(size).Add(size)
	starts := make([]time.Time, p.Buckets)
	labels := make([]string, p.Buckets)
	for i := range starts {
		starts[i] = end.Add(-size * time.Duration(p.Buckets-i))
		if size < 24*time.Hour && p.Span <= 24*time.Hour {
			labels[i] = starts[i].Format("15:04")
		} else {
			labels[i] = starts[i].Format("01-02 15h")
		}
	}
	return starts, labels
}

// bucketOf returns the bucket t falls in, or -1.
func bucketOf(starts []time.Time, size time.Duration, t time.Time) int {
	if len(starts) == 0 || t.Before(starts[0]) {
		return -1
	}
	i := int(t.Sub(starts[0]) / size)
	if i >= len(starts) {
		return -1
	}
	return i
}

func (c *Console) chartsPage(q *Request) error {
	ctx := q.Context()
	p := periods[0]
	for _, x := range periods {
		if x.Key == q.URL.Query().Get("period") {
			p = x
		}
	}
	now := c.opt.Now()
	starts, labels := buckets(p, now)
	size := p.Span / time.Duration(p.Buckets)
	since := starts[0]
	l := q.L
	v := chartsView{Period: p.Key}
	for _, x := range periods {
		v.Periods = append(v.Periods, x.Key)
	}
	newSeries := func(name, class string) chartSeries {
		return chartSeries{Name: name, Class: class, Values: make([]float64, p.Buckets)}
	}

	// Delivery latency (p50, p95 of delivered attempts) and failures.
	lat := &chart{ID: "latency", Title: l.T("charts.latency"), Unit: "ms", Labels: labels}
	fail := &chart{ID: "failures", Title: l.T("charts.failures"), Labels: labels, Bars: true}
	if c.opt.Data.Series == nil {
		lat.Missing, fail.Missing = l.T("charts.nosource"), l.T("charts.nosource")
	} else {
		pts, err := c.opt.Data.Series.Attempts(ctx, since, maxPoints)
		if err != nil {
			return err
		}
		lat.Capped, fail.Capped = len(pts) >= maxPoints, len(pts) >= maxPoints
		per := make([][]float64, p.Buckets)
		ok, bad := newSeries(l.T("charts.delivered"), "a"), newSeries(l.T("charts.failed"), "b")
		for _, a := range pts {
			i := bucketOf(starts, size, a.At)
			if i < 0 {
				continue
			}
			if a.Outcome == "delivered" {
				ok.Values[i]++
				per[i] = append(per[i], float64(a.Latency)/float64(time.Millisecond))
			} else {
				bad.Values[i]++
			}
		}
		p50, p95 := newSeries("p50", "a"), newSeries("p95", "b")
		for i, xs := range per {
			p50.Values[i], p95.Values[i] = quantile(xs, 0.5), quantile(xs, 0.95)
		}
		lat.Series = []chartSeries{p50, p95}
		fail.Series = []chartSeries{ok, bad}
	}

	// Push throughput: accounts a push created or updated downstream.
	push := &chart{ID: "push", Title: l.T("charts.push"), Labels: labels, Bars: true}
	if c.opt.Data.Series == nil {
		push.Missing = l.T("charts.nosource")
	} else {
		ts, err := c.opt.Data.Series.PushChanges(ctx, since, maxPoints)
		if err != nil {
			return err
		}
		push.Capped = len(ts) >= maxPoints
		s := newSeries(l.T("charts.pushed"), "a")
		for _, t := range ts {
			if i := bucketOf(starts, size, t); i >= 0 {
				s.Values[i]++
			}
		}
		push.Series = []chartSeries{s}
	}

	// Sign-ins: the audit log's login.success and login.failure.
	signins := &chart{ID: "signins", Title: l.T("charts.signins"), Labels: labels, Bars: true}
	okS, badS := newSeries(l.T("charts.signin.ok"), "a"), newSeries(l.T("charts.signin.failed"), "b")
	for _, x := range []struct {
		action string
		s      *chartSeries
	}{{"login.success", &okS}, {"login.failure", &badS}} {
		capped, err := c.auditTimes(ctx, x.action, since, func(t time.Time) {
			if i := bucketOf(starts, size, t); i >= 0 {
				x.s.Values[i]++
			}
		})
		if err != nil {
			return err
		}
		signins.Capped = signins.Capped || capped
	}
	signins.Series = []chartSeries{okS, badS}
	v.Charts = []*chart{lat, fail, push, signins}
	return q.Render("charts.title", v)
}

// auditTimes calls fn with the time of each audit record of action since,
// reading at most maxPoints; it reports whether it stopped there.
func (c *Console) auditTimes(ctx context.Context, action string, since time.Time, fn func(time.Time)) (bool, error) {
	f := admin.AuditFilter{Action: action, Since: since.Format(time.RFC3339Nano), Limit: 1000}
	read := 0
	for {
		es, next, err := c.opt.Ops.Audit(ctx, f)
		if err != nil {
			return false, err
		}
		for _, e := range es {
			fn(e.Time)
		}
		read += len(es)
		if next == 0 {
			return false, nil
		}
		if read >= maxPoints {
			return true, nil
		}
		f.Before = next
	}
}

// quantile returns the q-quantile of xs (0 for none), sorting xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

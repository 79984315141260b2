// Package metrics exposes Gatehouse's Prometheus metrics: HTTP requests by
// route and status, their durations, requests and failures per
// application, failed authentications by reason and access tokens issued,
// beside the Go runtime and process collectors.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// Metrics holds the collectors.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	appRequests  *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	issued       prometheus.Counter
	queryLimits  *prometheus.CounterVec

	eventsDispatched prometheus.Counter
	eventsReceived   *prometheus.CounterVec
	ruleMatches      *prometheus.CounterVec
	deliveriesQueued prometheus.Counter
	attempts         *prometheus.CounterVec
	attemptDuration  *prometheus.HistogramVec
	endToEnd         *prometheus.HistogramVec

	routes sync.Map // routeKey → *routeMetrics
}

// New registers the collectors in a registry of their own.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request durations by route pattern and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"route", "method"})
	m.appRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_app_requests_total", Help: "Authenticated requests per application, by outcome (ok, or the failure reason).",
	}, []string{"app_id", "outcome"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_auth_failures_total", Help: "Failed authentications by reason.",
	}, []string{"reason"})
	m.issued = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_oauth_tokens_issued_total", Help: "OAuth 2.0 access tokens issued.",
	})
	m.queryLimits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_scim_query_limits_total",
		Help: "SCIM lists and searches refused or stopped, by reason: app (the application's share of expensive queries is running), global (every slot is taken), budget (the query ran out of its time budget and was cancelled in the database).",
	}, []string{"reason"})
	m.eventsDispatched = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_events_dispatched_total", Help: "Events matched against the rules (Gatehouse's own and received ones).",
	})
	m.eventsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_events_received_total", Help: "Events received on POST /events, new and duplicate (already received).",
	}, []string{"kind"})
	m.ruleMatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_rule_matches_total", Help: "Events each rule matched.",
	}, []string{"rule"})
	m.deliveriesQueued = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_deliveries_queued_total", Help: "Deliveries created by matching rules.",
	})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_delivery_attempts_total", Help: "Delivery attempts by target and outcome (delivered, retry, permanent, disable).",
	}, []string{"target", "outcome"})
	m.attemptDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatehouse_delivery_attempt_duration_seconds", Help: "How long delivery attempts took, by target.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"target"})
	m.endToEnd = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatehouse_delivery_latency_seconds", Help: "From the event to its delivery, by target.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400},
	}, []string{"target"})
	m.reg.MustRegister(m.requests, m.duration, m.appRequests, m.authFailures, m.issued, m.queryLimits,
		m.eventsDispatched, m.eventsReceived, m.ruleMatches, m.deliveriesQueued, m.attempts, m.attemptDuration, m.endToEnd,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// routeKey names the series of one kind of request. Its parts are
// bounded: route patterns are the server's own, methods are named by
// methodLabel, statuses are those Gatehouse answers.
type routeKey struct {
	route, method string
	status        int
}

// routeMetrics are a routeKey's series, looked up once: finding a child by
// its label values hashes them, at every request.
type routeMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// methodLabel is the method label of a request: a method of RFC 9110 or
// PATCH as is, anything else "other". A client names the method, and
// net/http accepts any token, so a label of the method as sent would make
// a series for each name a client makes up (it is answered 404 or 405).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// Observe records a finished request (a logging.Observer).
func (m *Metrics) Observe(_ context.Context, rec *logging.Record) {
	k := routeKey{route: rec.Route, method: methodLabel(rec.Method), status: rec.Status}
	ro, ok := m.routes.Load(k)
	if !ok {
		ro, _ = m.routes.LoadOrStore(k, &routeMetrics{
			requests: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status)),
			duration: m.duration.WithLabelValues(k.route, k.method),
		})
	}
	r := ro.(*routeMetrics)
	r.requests.Inc()
	r.duration.Observe(rec.Duration.Seconds())
	if rec.AppID != "" {
		outcome := "ok"
		if rec.Failure != "" {
			outcome = rec.Failure
		}
		m.appRequests.WithLabelValues(rec.AppID, outcome).Inc()
	}
}

// AuthFailure counts a failed authentication.
func (m *Metrics) AuthFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }

// QueryLimited counts a SCIM list refused or stopped (scim.Config.OnLimit).
func (m *Metrics) QueryLimited(reason string) { m.queryLimits.WithLabelValues(reason).Inc() }

// TokenIssued counts an access token issued.
func (m *Metrics) TokenIssued() { m.issued.Inc() }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Dispatched counts events matched and deliveries created (events.Observer).
func (m *Metrics) Dispatched(events, deliveries int) {
	m.eventsDispatched.Add(float64(events))
	m.deliveriesQueued.Add(float64(deliveries))
}

// Matched counts an event a rule matched (events.Observer).
func (m *Metrics) Matched(rule string) { m.ruleMatches.WithLabelValues(rule).Inc() }

// Received counts events received from outside.
func (m *Metrics) Received(accepted, duplicates int) {
	m.eventsReceived.WithLabelValues("new").Add(float64(accepted))
	m.eventsReceived.WithLabelValues("duplicate").Add(float64(duplicates))
}

// Attempted counts a delivery attempt (events.Observer).
func (m *Metrics) Attempted(target, outcome string, latency time.Duration) {
	m.attempts.WithLabelValues(target, outcome).Inc()
	m.attemptDuration.WithLabelValues(target).Observe(latency.Seconds())
}

// Delivered records the time from an event to its delivery (events.Observer).
func (m *Metrics) Delivered(target string, endToEnd time.Duration) {
	m.endToEnd.WithLabelValues(target).Observe(endToEnd.Seconds())
}

// Leader registers gatehouse_leader, read from fn at each scrape.
func (m *Metrics) Leader(fn func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_leader",
		Help: "1 while this server runs the schedules and retention (one server of a database at a time), else 0."},
		func() float64 {
			if fn() {
				return 1
			}
			return 0
		}))
}

// Backlog registers a gauge of deliveries by target and state, read from
// fn at each scrape (the retry depth).
func (m *Metrics) Backlog(fn func(context.Context) (map[string]map[string]int64, error)) {
	m.reg.MustRegister(&backlog{fn: fn, desc: prometheus.NewDesc("gatehouse_deliveries",
		"Deliveries in the queue by target and state (pending, running, delivered, dead).", []string{"target", "state"}, nil)})
}

type backlog struct {
	fn   func(context.Context) (map[string]map[string]int64, error)
	desc *prometheus.Desc
}

func (b *backlog) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := b.fn(ctx)
	if err != nil {
		return
	}
	for target, states := range counts {
		for state, n := range states {
			ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, float64(n), target, state)
		}
	}
}

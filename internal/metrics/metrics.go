// Package metrics exposes Gatehouse's Prometheus metrics: HTTP requests by
// route and status, their durations, requests and failures per
// application, failed authentications by reason and access tokens issued,
// beside the Go runtime and process collectors.
package metrics

import (
	"context"
	"net/http"
	"strconv"

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
	m.reg.MustRegister(m.requests, m.duration, m.appRequests, m.authFailures, m.issued,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe records a finished request (a logging.Observer).
func (m *Metrics) Observe(_ context.Context, rec *logging.Record) {
	m.requests.WithLabelValues(rec.Route, rec.Method, strconv.Itoa(rec.Status)).Inc()
	m.duration.WithLabelValues(rec.Route, rec.Method).Observe(rec.Duration.Seconds())
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

// TokenIssued counts an access token issued.
func (m *Metrics) TokenIssued() { m.issued.Inc() }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reckon-billing/reckon/internal/usage"
)

type metrics struct {
	requests *prometheus.HistogramVec
	records  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	failed   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reckon_http_request_duration_seconds",
			Help:    "Latency of HTTP requests by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reckon_ingest_records_total",
			Help: "Usage records received, by outcome (accepted, duplicate, rejected).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reckon_ingest_rejected_records_total",
			Help: "Usage records rejected, by reason code.",
		}, []string{"code"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reckon_ingest_failed_requests_total",
			Help: "Ingest requests of which nothing could be committed.",
		}),
	}
	reg.MustRegister(m.requests, m.records, m.rejected, m.failed,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

func (m *metrics) observeIngest(res usage.Result, err error) {
	if err != nil {
		m.failed.Inc()
		return
	}
	m.records.WithLabelValues("accepted").Add(float64(res.Accepted))
	m.records.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	m.records.WithLabelValues("rejected").Add(float64(len(res.Rejected)))
	for _, r := range res.Rejected {
		m.rejected.WithLabelValues(r.Code).Inc()
	}
}

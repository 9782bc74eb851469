package natsingest

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reckon-billing/reckon/internal/usage"
)

type metrics struct {
	messages       *prometheus.CounterVec
	records        *prometheus.CounterVec
	deadLetters    prometheus.Counter
	commitFailures prometheus.Counter
	batchSeconds   prometheus.Histogram
}

// newMetrics creates the consumer's metrics, registered on reg when it is
// not nil.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reckon_nats_messages_total",
			Help: "NATS messages handled by the usage consumer, by outcome (ack, term, nak, skip).",
		}, []string{"outcome"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reckon_nats_records_total",
			Help: "Usage records received through NATS, by outcome (accepted, duplicate, rejected).",
		}, []string{"outcome"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reckon_nats_dead_letters_total",
			Help: "Dead letters published for rejected records and malformed messages.",
		}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reckon_nats_commit_failures_total",
			Help: "Batches from NATS whose commit failed; their messages were negatively acknowledged.",
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reckon_nats_batch_duration_seconds",
			Help:    "Time from a fetched batch to its acknowledgement (decode, commit, dead letters, acks).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.records, m.deadLetters, m.commitFailures, m.batchSeconds)
	}
	return m
}

func (m *metrics) observe(res usage.Result, acked, termed, naked, skipped int, d time.Duration) {
	m.messages.WithLabelValues("ack").Add(float64(acked))
	m.messages.WithLabelValues("term").Add(float64(termed))
	m.messages.WithLabelValues("nak").Add(float64(naked))
	m.messages.WithLabelValues("skip").Add(float64(skipped))
	m.records.WithLabelValues("accepted").Add(float64(res.Accepted))
	m.records.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	m.records.WithLabelValues("rejected").Add(float64(len(res.Rejected)))
	m.batchSeconds.Observe(d.Seconds())
}

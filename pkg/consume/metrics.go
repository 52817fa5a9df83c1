package consume

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/metrics"
)

type consumerMetrics struct {
	handled, duplicates, retries *prometheus.CounterVec
	deadLettered                 *prometheus.CounterVec
	duration, batches            *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *consumerMetrics {
	l := []string{"consumer", "topic"}
	return &consumerMetrics{
		handled: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_events_handled_total", Help: "Events whose handler succeeded.",
		}, l)),
		duplicates: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_events_duplicate_total", Help: "Redelivered events skipped because they were handled before.",
		}, l)),
		retries: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_retries_total", Help: "Handler attempts that failed and were retried.",
		}, l)),
		deadLettered: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_dead_lettered_total", Help: "Messages sent to the dead-letter topic, by reason.",
		}, append(l, "reason"))),
		duration: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "consumer_handler_duration_seconds", Help: "Time a handler took, per attempt.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, l)),
		batches: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "consumer_batch_messages", Help: "Messages handled together in one transaction (batches of two or more).",
			Buckets: prometheus.ExponentialBuckets(2, 2, 8),
		}, l)),
	}
}

package consume

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	handled, duplicates, retries *prometheus.CounterVec
	deadLettered                 *prometheus.CounterVec
	duration, batches            *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	l := []string{"consumer", "topic"}
	return &metrics{
		handled: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_events_handled_total", Help: "Events whose handler succeeded.",
		}, l)),
		duplicates: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_events_duplicate_total", Help: "Redelivered events skipped because they were handled before.",
		}, l)),
		retries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_retries_total", Help: "Handler attempts that failed and were retried.",
		}, l)),
		deadLettered: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_dead_lettered_total", Help: "Messages sent to the dead-letter topic, by reason.",
		}, append(l, "reason"))),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "consumer_handler_duration_seconds", Help: "Time a handler took, per attempt.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, l)),
		batches: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "consumer_batch_messages", Help: "Messages handled together in one transaction (batches of two or more).",
			Buckets: prometheus.ExponentialBuckets(2, 2, 8),
		}, l)),
	}
}

// register registers c, or returns the collector already registered under
// its name (several consumers in one process share the metric families).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

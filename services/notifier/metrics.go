package notifier

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the notifier's own figures.
type Metrics struct {
	scheduled prometheus.Counter
	fired     prometheus.Counter
	missed    prometheus.Counter
	lateness  prometheus.Histogram
	sent      *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
}

// NewMetrics registers the notifier's metrics on reg (nil: a private registry).
// Registering twice on one registry returns the same collectors.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Metrics{
		scheduled: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notifier_reminders_scheduled_total", Help: "Reminders scheduled or moved to a new fire time by task events.",
		})),
		fired: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notifier_reminders_fired_total", Help: "Reminders fired (reminder.due events written to the outbox).",
		})),
		missed: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notifier_reminders_missed_total", Help: "Reminders found due longer ago than the grace window, recorded as missed and not fired.",
		})),
		lateness: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "notifier_reminder_fire_lateness_seconds", Help: "How long after its fire time a reminder fired.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		})),
		sent: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_deliveries_sent_total", Help: "Deliveries sent, per channel.",
		}, []string{"channel"})),
		failed: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_deliveries_failed_total", Help: "Deliveries given up after their last attempt (dead-lettered), per channel.",
		}, []string{"channel"})),
		retried: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_deliveries_retried_total", Help: "Failed delivery attempts scheduled for a retry, per channel.",
		}, []string{"channel"})),
	}
}

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

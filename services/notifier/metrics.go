package notifier

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/metrics"
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
	throttled *prometheus.CounterVec
}

// NewMetrics registers the notifier's metrics on reg (nil: a private registry).
// Registering twice on one registry returns the same collectors.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Metrics{
		scheduled: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notifier_reminders_scheduled_total", Help: "Reminders scheduled or moved to a new fire time by task events.",
		})),
		fired: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notifier_reminders_fired_total", Help: "Reminders fired (reminder.due events written to the outbox).",
		})),
		missed: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notifier_reminders_missed_total", Help: "Reminders found due longer ago than the grace window, recorded as missed and not fired.",
		})),
		lateness: metrics.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "notifier_reminder_fire_lateness_seconds", Help: "How long after its fire time a reminder fired.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		})),
		sent: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_deliveries_sent_total", Help: "Deliveries sent, per channel.",
		}, []string{"channel"})),
		failed: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_deliveries_failed_total", Help: "Deliveries given up after their last attempt (dead-lettered), per channel.",
		}, []string{"channel"})),
		retried: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_deliveries_retried_total", Help: "Failed delivery attempts scheduled for a retry, per channel.",
		}, []string{"channel"})),
		throttled: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifier_webhook_deliveries_put_off_total", Help: "Webhook deliveries put off by their host's limits (rate or concurrency), without counting an attempt.",
		}, []string{"reason"})),
	}
}

package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/metrics"
)

// TestRegister: the second registration of a family returns the first
// collector; a different kind under the same name panics.
func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, []string{"kind"}))
	second := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, []string{"kind"}))
	if first != second {
		t.Fatal("the second registration made a new collector")
	}
	second.WithLabelValues("a").Inc()
	families, err := reg.Gather()
	if err != nil || len(families) != 1 || families[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Fatalf("gathered %v, %v: want one family with the one count", families, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a gauge under a counter's name did not panic")
		}
	}()
	metrics.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "things_total", Help: "Things."}))
}

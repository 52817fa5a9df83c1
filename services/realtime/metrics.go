package realtime

import "github.com/prometheus/client_golang/prometheus"

// metrics are the realtime service's own metrics.
type metrics struct {
	connections prometheus.Gauge
	sent        prometheus.Counter
	overflows   prometheus.Counter
	idleCloses  prometheus.Counter
	closes      *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	received    *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	resumes     *prometheus.CounterVec
	replayed    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "realtime_connections", Help: "Open, authenticated WebSocket connections."}),
		sent:        prometheus.NewCounter(prometheus.CounterOpts{Name: "realtime_messages_sent_total", Help: "Messages written to WebSocket connections."}),
		overflows:   prometheus.NewCounter(prometheus.CounterOpts{Name: "realtime_overflow_closes_total", Help: "Connections closed (4008) because their send queue overflowed."}),
		idleCloses:  prometheus.NewCounter(prometheus.CounterOpts{Name: "realtime_idle_closes_total", Help: "Connections dropped because no pong came."}),
		closes:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "realtime_closes_total", Help: "Connections closed, by close code."}, []string{"code"}),
		rejected:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "realtime_rejected_total", Help: "Upgrade requests refused before a socket existed, by reason."}, []string{"reason"}),
		received:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "realtime_events_received_total", Help: "Events received from the transport, by topic."}, []string{"topic"}),
		dropped:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "realtime_events_dropped_total", Help: "Deliveries not dispatched, by reason."}, []string{"reason"}),
		resumes:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "realtime_resumes_total", Help: "Connections that came with a cursor, by result: replayed (replay hit) or resync."}, []string{"result"}),
		replayed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "realtime_replayed_events_total", Help: "Events sent again from the replay buffers on resume."}),
	}
	reg.MustRegister(m.connections, m.sent, m.overflows, m.idleCloses, m.closes, m.rejected, m.received, m.dropped, m.resumes, m.replayed)
	return m
}

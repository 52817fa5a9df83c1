package database

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports a pgx pool's statistics.
type poolCollector struct {
	pool  *pgxpool.Pool
	descs map[string]*prometheus.Desc
}

// NewPoolCollector returns a Prometheus collector of pool's statistics
// (db_pool_* metrics).
func NewPoolCollector(pool *pgxpool.Pool) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{pool: pool, descs: map[string]*prometheus.Desc{
		"acquired":       d("acquired_connections", "Connections in use."),
		"idle":           d("idle_connections", "Idle connections."),
		"total":          d("total_connections", "Open connections."),
		"max":            d("max_connections", "Most connections the pool opens."),
		"acquires":       d("acquires_total", "Connections acquired from the pool."),
		"empty_acquires": d("empty_acquires_total", "Acquires that had to wait for a connection."),
		"canceled":       d("canceled_acquires_total", "Acquires canceled by their context."),
		"acquire_secs":   d("acquire_seconds_total", "Time spent acquiring connections."),
	}}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	g := func(k string, v float64) { ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.GaugeValue, v) }
	n := func(k string, v float64) { ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, v) }
	g("acquired", float64(s.AcquiredConns()))
	g("idle", float64(s.IdleConns()))
	g("total", float64(s.TotalConns()))
	g("max", float64(s.MaxConns()))
	n("acquires", float64(s.AcquireCount()))
	n("empty_acquires", float64(s.EmptyAcquireCount()))
	n("canceled", float64(s.CanceledAcquireCount()))
	n("acquire_secs", s.AcquireDuration().Seconds())
}

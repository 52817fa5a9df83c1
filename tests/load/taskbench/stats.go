package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// histogram records latencies in microseconds, from 1 µs to 2 minutes, to 3
// significant digits. It is not safe for concurrent use.
type histogram struct {
	h   *hdrhistogram.Histogram
	max time.Duration // exact
}

func newHistogram() *histogram {
	return &histogram{h: hdrhistogram.New(1, int64(2*time.Minute/time.Microsecond), 3)}
}

func (h *histogram) record(d time.Duration) {
	us := max(int64(d/time.Microsecond), 1)
	_ = h.h.RecordValue(min(us, h.h.HighestTrackableValue()))
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	h.h.Merge(o.h)
	h.max = max(h.max, o.max)
}

func (h *histogram) count() int64 { return h.h.TotalCount() }

// ms returns the q-th percentile in milliseconds.
func (h *histogram) ms(q float64) float64 {
	return float64(h.h.ValueAtQuantile(q)) / 1000
}

// latency is the summary of a histogram.
type latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func (h *histogram) summary() latency {
	return latency{Count: h.count(), P50: h.ms(50), P95: h.ms(95), P99: h.ms(99), Max: float64(h.max.Microseconds()) / 1000}
}

// opStats are the figures of one operation in one phase.
type opStats struct {
	Op         string  `json:"op"`
	Errors     int64   `json:"errors"`
	Conflicts  int64   `json:"conflicts_412"`
	Throughput float64 `json:"ops_per_second"`
	latency
}

// phaseStats are the figures of one phase (or step) of the load.
type phaseStats struct {
	Rate         float64   `json:"rate"`
	Seconds      float64   `json:"seconds"`
	Scheduled    int64     `json:"scheduled"`
	Dropped      int64     `json:"dropped"`
	Late         int64     `json:"late"`
	Achieved     float64   `json:"achieved_ops_per_second"`
	Ops          []opStats `json:"ops"`
	Overall      opStats   `json:"overall"`
	SendLag      latency   `json:"send_lag"`
	ErrorSamples []string  `json:"error_samples,omitempty"`
}

// stats summarizes a finished recorder: its phase ran at rate.
func (r *recorder) stats(rate float64) phaseStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	window := r.last.Sub(r.start).Seconds()
	p := phaseStats{
		Rate: rate, Seconds: window, Scheduled: r.scheduled.Load(), Dropped: r.dropped.Load(), Late: r.late.Load(),
		SendLag: r.lag.summary(), ErrorSamples: r.samples,
	}
	all := newHistogram()
	var errs, conflicts int64
	for o := range numOps {
		h := r.hist[o]
		if h.count() == 0 && o != opCreate && o != opGet {
			continue
		}
		s := opStats{Op: opNames[o], Errors: r.errors[o], Conflicts: r.conflicts[o], latency: h.summary()}
		if window > 0 {
			s.Throughput = float64(s.Count) / window
		}
		p.Ops = append(p.Ops, s)
		all.merge(h)
		errs += r.errors[o]
		conflicts += r.conflicts[o]
	}
	p.Overall = opStats{Op: "all", Errors: errs, Conflicts: conflicts, latency: all.summary()}
	if window > 0 {
		p.Overall.Throughput = float64(p.Overall.Count) / window
		p.Achieved = p.Overall.Throughput
	}
	return p
}

// scheduledOps counts the answers to scheduled requests (re-reads are not).
func (p phaseStats) scheduledOps() (count, errors int64) {
	for _, o := range p.Ops {
		if o.Op != opNames[opReread] {
			count += o.Count
			errors += o.Errors
		}
	}
	return count, errors
}

// thousands formats n with thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

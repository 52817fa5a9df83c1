// Package loadstat holds what the load tools under tests/load share: latency
// histograms with their percentile summaries, and number formatting for
// their reports.
package loadstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram records latencies in microseconds, from 1 µs to 2 minutes, to 3
// significant digits. It is not safe for concurrent use; see Recorder.
type Histogram struct {
	h   *hdrhistogram.Histogram
	max time.Duration // exact
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(1, int64(2*time.Minute/time.Microsecond), 3)}
}

// Record adds one latency; values past the range count as its maximum.
func (h *Histogram) Record(d time.Duration) {
	us := max(int64(d/time.Microsecond), 1)
	_ = h.h.RecordValue(min(us, h.h.HighestTrackableValue()))
	h.max = max(h.max, d)
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	h.h.Merge(o.h)
	h.max = max(h.max, o.max)
}

// Count is how many values h holds.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Ms returns the q-th percentile in milliseconds.
func (h *Histogram) Ms(q float64) float64 {
	return float64(h.h.ValueAtQuantile(q)) / 1000
}

// Latency is the summary of a histogram.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary returns h's count, percentiles and exact maximum.
func (h *Histogram) Summary() Latency {
	return Latency{Count: h.Count(), P50: h.Ms(50), P95: h.Ms(95), P99: h.Ms(99), Max: float64(h.max.Microseconds()) / 1000}
}

// String formats the summary as "p50 / p95 / p99 / max ms (n)".
func (l Latency) String() string {
	return fmt.Sprintf("p50 %.2f / p95 %.2f / p99 %.2f / max %.2f ms (%s)", l.P50, l.P95, l.P99, l.Max, Thousands(l.Count))
}

// Thousands formats n with thousands separators.
func Thousands(n int64) string {
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

// MiB formats a byte count in MiB.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// LoadAverage is the machine's load average (1, 5 and 15 minutes), as
// /proc/loadavg gives it; benchmarks print it beside their figures, which
// mean little on a busy machine.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

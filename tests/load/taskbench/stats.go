package main

import "github.com/todo-platform/todo/tests/load/loadstat"

// opStats are the figures of one operation in one phase.
type opStats struct {
	Op         string  `json:"op"`
	Errors     int64   `json:"errors"`
	Conflicts  int64   `json:"conflicts_412"`
	Throughput float64 `json:"ops_per_second"`
	loadstat.Latency
}

// phaseStats are the figures of one phase (or step) of the load.
type phaseStats struct {
	Rate         float64          `json:"rate"`
	Seconds      float64          `json:"seconds"`
	Scheduled    int64            `json:"scheduled"`
	Dropped      int64            `json:"dropped"`
	Late         int64            `json:"late"`
	Achieved     float64          `json:"achieved_ops_per_second"`
	Ops          []opStats        `json:"ops"`
	Overall      opStats          `json:"overall"`
	SendLag      loadstat.Latency `json:"send_lag"`
	ErrorSamples []string         `json:"error_samples,omitempty"`
}

// stats summarizes a finished recorder: its phase ran at rate.
func (r *recorder) stats(rate float64) phaseStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	window := r.last.Sub(r.start).Seconds()
	p := phaseStats{
		Rate: rate, Seconds: window, Scheduled: r.scheduled.Load(), Dropped: r.dropped.Load(), Late: r.late.Load(),
		SendLag: r.lag.Summary(), ErrorSamples: r.samples,
	}
	all := loadstat.NewHistogram()
	var errs, conflicts int64
	for o := range numOps {
		h := r.hist[o]
		if h.Count() == 0 && o != opCreate && o != opGet {
			continue
		}
		s := opStats{Op: opNames[o], Errors: r.errors[o], Conflicts: r.conflicts[o], Latency: h.Summary()}
		if window > 0 {
			s.Throughput = float64(s.Count) / window
		}
		p.Ops = append(p.Ops, s)
		all.Merge(h)
		errs += r.errors[o]
		conflicts += r.conflicts[o]
	}
	p.Overall = opStats{Op: "all", Errors: errs, Conflicts: conflicts, Latency: all.Summary()}
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

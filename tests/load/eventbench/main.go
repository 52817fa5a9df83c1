// Command eventbench measures the event backbone: the delay from taskapi's
// commit of a change to a consumer's handler, through the Kafka transport
// (sarama, straight to the broker) and through the Dapr transport (the
// sidecar's pub/sub API and a programmatic subscription), at a steady rate
// and in a burst, and the outbox relay's throughput.
//
// The whole path is the real one: tasks are created over HTTP on taskapi,
// whose store writes the task and its outbox row in one transaction; the
// outbox relay (the code taskapi runs) publishes the row to an embedded
// Kafka-protocol broker (kfake), directly or through daprd; the consumer
// is the consume runtime (its idempotency record is written in PostgreSQL
// in the handler's transaction), fed by a sarama consumer group or by
// daprd's subscription. The delay counts from the event's timestamp, which
// taskapi takes just before it sends the transaction, so it includes the
// commit itself: it is an upper bound of commit → handler.
//
// PostgreSQL is BENCH_DATABASE_URL's (BENCH_DATABASE_DIRECT_URL for the
// migrations and LISTEN when that one is a transaction-mode pooler), or a
// private durable one started here; -pgbouncer puts a PgBouncer in
// transaction mode in front of it, as production's pooled URL is. The Dapr transport needs daprd (make tools); without it, that part
// is skipped with a note unless -transports names it.
//
// Usage: go run ./tests/load/eventbench [flags]  (make bench-events)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/todo-platform/todo/pkg/dapr"
	"github.com/todo-platform/todo/tests/load/loadstat"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "eventbench:", err)
		os.Exit(1)
	}
}

type config struct {
	transports    []string
	explicit      bool // -transports was given
	users         int
	rates         []float64
	daprBulk      dapr.Bulk
	duration      time.Duration
	burst         int
	burstWorkers  int
	relayEvents   int
	relayWorkers  int
	pgDir         string
	jsonPath      string
	waitFor       time.Duration
	kafkaPartitns int
	syncCommit    string
	pgbouncer     bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	transports := fs.String("transports", "kafka,dapr", "transports to measure: kafka, dapr or both")
	fs.IntVar(&c.users, "users", 100, "users the tasks belong to (the partition keys)")
	rates := fs.String("rate", "200,1000", "steady phases: task creations per second, open-loop, one phase per rate")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "steady phase: how long, at each rate")
	fs.IntVar(&c.daprBulk.MaxMessages, "dapr-bulk-max-messages", dapr.DefaultBulk.MaxMessages, "Dapr transport: the sidecar's batches of a partition's messages (bulk subscribe); 0 or 1: one request a message")
	fs.DurationVar(&c.daprBulk.MaxAwait, "dapr-bulk-max-await", dapr.DefaultBulk.MaxAwait, "Dapr transport: the longest a message waits for its batch to fill")
	fs.IntVar(&c.burst, "burst", 2000, "burst phase: task creations sent at once")
	fs.IntVar(&c.burstWorkers, "burst-workers", 64, "burst phase: concurrent creators")
	fs.IntVar(&c.relayEvents, "relay-events", 10000, "relay phase: events waiting in the outbox when the relay starts")
	fs.IntVar(&c.relayWorkers, "relay-workers", 32, "relay phase: concurrent creators that fill the outbox")
	fs.StringVar(&c.pgDir, "pgdir", "", "keep the private PostgreSQL in this folder (default: a temporary one)")
	fs.StringVar(&c.jsonPath, "json", "", "also write the report as JSON to this file")
	fs.DurationVar(&c.waitFor, "wait", 2*time.Minute, "how long to wait for a phase's events to arrive before counting the rest as lost")
	fs.IntVar(&c.kafkaPartitns, "partitions", 4, "partitions of each topic on the embedded broker")
	fs.StringVar(&c.syncCommit, "synchronous-commit", "on", "the private PostgreSQL's synchronous_commit: on (durable) or off (commits do not wait for the disk)")
	fs.BoolVar(&c.pgbouncer, "pgbouncer", false, "put PgBouncer (pool_mode = transaction, as Neon's pooled URL) in front of the private PostgreSQL as DATABASE_URL; migrations and LISTEN use the direct URL")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) { c.explicit = c.explicit || f.Name == "transports" })
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return c, fmt.Errorf("-rate: %q is not a positive rate", r)
		}
		c.rates = append(c.rates, v)
	}
	for _, t := range strings.Split(*transports, ",") {
		switch t = strings.TrimSpace(t); t {
		case "kafka", "dapr":
			c.transports = append(c.transports, t)
		case "":
		default:
			return c, fmt.Errorf("-transports: unknown transport %q (want kafka, dapr)", t)
		}
	}
	switch {
	case c.syncCommit != "on" && c.syncCommit != "off":
		return c, fmt.Errorf("-synchronous-commit=%q: want on or off", c.syncCommit)
	case len(c.transports) == 0:
		return c, errors.New("-transports: name at least one of kafka, dapr")
	case c.users < 1, c.duration <= 0, c.burst < 1, c.burstWorkers < 1, c.relayEvents < 1, c.relayWorkers < 1:
		return c, errors.New("-users, -duration, -burst, -burst-workers, -relay-events and -relay-workers must be positive")
	}
	return c, nil
}

// report is what the run found.
type report struct {
	Started    string            `json:"started"`
	GOMAXPROCS int               `json:"gomaxprocs"`
	Database   string            `json:"database"`
	Broker     string            `json:"broker"`
	Transports []transportReport `json:"transports"`
	Skipped    []string          `json:"skipped,omitempty"`
	LoadStart  string            `json:"load_average_start"`
	LoadEnd    string            `json:"load_average_end"`
}

// rateList is "200, 1,000".
func rateList(rates []float64) string {
	var out []string
	for _, r := range rates {
		out = append(out, loadstat.Thousands(int64(r)))
	}
	return strings.Join(out, " and ")
}

// goals says how a transport's run compares with the bench's goals: every
// steady phase p99 ≤ 10 ms with nothing lost; a burst p99 ≤ 50 ms through
// Kafka, ≤ 150 ms through Dapr; through Dapr, a backlog handled at 8,000
// events/s or more.
func goals(t transportReport) []goal {
	var out []goal
	for _, ph := range t.Steady {
		out = append(out, goal{What: ph.Name + ": p99 ≤ 10 ms, none lost", Met: ph.Lost == 0 && ph.Delay.P99 <= 10,
			Value: fmt.Sprintf("p99 %.2f ms, lost %d", ph.Delay.P99, ph.Lost)})
	}
	limit := 50.0
	if t.Transport == "dapr" {
		limit = 150
	}
	out = append(out, goal{What: fmt.Sprintf("burst: p99 ≤ %.0f ms, none lost", limit), Met: t.Burst.Lost == 0 && t.Burst.Delay.P99 <= limit,
		Value: fmt.Sprintf("p99 %.2f ms, lost %d", t.Burst.Delay.P99, t.Burst.Lost)})
	if t.Transport == "dapr" {
		out = append(out, goal{What: "backlog: handled ≥ 8,000 events/s", Met: t.Relay.Lost == 0 && t.Relay.HandledPerSecond >= 8000,
			Value: loadstat.Thousands(int64(t.Relay.HandledPerSecond)) + " events/s"})
	}
	return out
}

type transportReport struct {
	Transport string        `json:"transport"`
	Steady    []phaseReport `json:"steady"` // one a rate
	Burst     phaseReport   `json:"burst"`
	Relay     relayReport   `json:"relay"`
	Goals     []goal        `json:"goals"`
	Notes     []string      `json:"notes,omitempty"`
}

// goal is one of the bench's goals and whether the run met it.
type goal struct {
	What  string `json:"what"`
	Met   bool   `json:"met"`
	Value string `json:"value"`
}

type phaseReport struct {
	Name        string           `json:"name"` // "steady 200/s", "burst"
	Rate        float64          `json:"rate_per_second,omitempty"`
	Sent        int              `json:"sent"`
	Failed      int              `json:"failed"`
	Received    int              `json:"received"`
	Lost        int              `json:"lost"`
	Seconds     float64          `json:"seconds"`
	SendRate    float64          `json:"sent_per_second"`
	DrainSecond float64          `json:"last_event_after_seconds"`
	Delay       loadstat.Latency `json:"delay"`
	Stages      []stage          `json:"stages,omitempty"`
	// AfterResponse is the delay from the arrival of taskapi's 201, which
	// it sends after the commit: a lower bound of commit → handler, where
	// Delay (from the event's timestamp, before the commit) is an upper
	// one. BeforeResponse counts events handled before the 201 arrived
	// (counted as 0).
	AfterResponse  loadstat.Latency `json:"delay_after_response"`
	BeforeResponse int              `json:"handled_before_response"`
	Create         loadstat.Latency `json:"create_latency"`
	// Deliveries are the requests (Dapr) or fetched batches (Kafka) that
	// brought the phase's messages, Delivered those messages.
	Deliveries int `json:"deliveries"`
	Delivered  int `json:"delivered_messages"`
}

// stage is one part of the delay (Kafka gives the broker's time; Dapr does
// not, so its delay is not split).
type stage struct {
	Name string `json:"name"`
	loadstat.Latency
}

type relayReport struct {
	Events           int     `json:"events"`
	PublishSeconds   float64 `json:"publish_seconds"`
	PublishPerSecond float64 `json:"published_per_second"`
	HandledSeconds   float64 `json:"handled_seconds"`
	HandledPerSecond float64 `json:"handled_per_second"`
	Lost             int     `json:"lost"`
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "eventbench: "+format+"\n", a...) }
	rep := &report{Started: time.Now().UTC().Format(time.RFC3339), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadStart: loadstat.LoadAverage()}
	progress("load average %s", rep.LoadStart)

	env, err := startEnv(ctx, cfg, getenv, progress)
	if err != nil {
		return err
	}
	defer env.close(progress)
	rep.Database, rep.Broker = env.dbSource, env.brokerDesc

	for _, kind := range cfg.transports {
		if kind == "dapr" && env.daprd == "" {
			msg := "dapr: skipped, daprd is not built (" + env.daprdErr + "); `make tools` builds it"
			if cfg.explicit {
				return errors.New(msg)
			}
			progress("%s", msg)
			rep.Skipped = append(rep.Skipped, msg)
			continue
		}
		tr, err := measure(ctx, env, cfg, kind, progress)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		rep.Transports = append(rep.Transports, tr)
	}
	rep.LoadEnd = loadstat.LoadAverage()
	print(stdout, rep, cfg)
	if cfg.jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(cfg.jsonPath, append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func print(w io.Writer, rep *report, cfg config) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("\nEvent backbone: commit → consumer handler (delay from the event's timestamp, taken just before taskapi's commit)\n")
	p("database   %s\nbroker     %s\nGOMAXPROCS %d; load generator, taskapi, relay, broker, consumer (and daprd) share the machine\n", rep.Database, rep.Broker, rep.GOMAXPROCS)
	p("load       load average %s at the start, %s at the end\n", rep.LoadStart, rep.LoadEnd)
	bulk := "off: one request a message"
	if cfg.daprBulk.On() {
		bulk = fmt.Sprintf("up to %d messages or %s", cfg.daprBulk.MaxMessages, cfg.daprBulk.MaxAwait)
	}
	p("users      %d (partition keys); steady %s creations/s for %s each; burst %d creations by %d workers; relay backlog %d events\n",
		cfg.users, rateList(cfg.rates), cfg.duration, cfg.burst, cfg.burstWorkers, cfg.relayEvents)
	p("dapr       the sidecar delivers in batches (bulk subscribe): %s\n\n", bulk)
	phases := func(t transportReport) []phaseReport { return append(append([]phaseReport{}, t.Steady...), t.Burst) }
	p("%-9s %-12s %8s %8s %6s %9s %9s %9s %9s %9s\n", "transport", "phase", "sent", "received", "lost", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
	for _, t := range rep.Transports {
		for _, ph := range phases(t) {
			p("%-9s %-12s %8d %8d %6d %9.0f %9.2f %9.2f %9.2f %9.2f\n", t.Transport, ph.Name, ph.Sent, ph.Received, ph.Lost, ph.SendRate,
				ph.Delay.P50, ph.Delay.P95, ph.Delay.P99, ph.Delay.Max)
		}
	}
	p("\nthe same delay counted from the arrival of taskapi's 201 (sent after the commit: a lower bound), and the creations' own latency:\n")
	for _, t := range rep.Transports {
		for _, ph := range phases(t) {
			a := ph.AfterResponse
			p("%-9s %-12s after 201: p50 %8.2f  p95 %8.2f  p99 %8.2f  max %8.2f ms (%d handled before the 201)   create: p50 %.2f  p99 %.2f ms\n",
				t.Transport, ph.Name, a.P50, a.P95, a.P99, a.Max, ph.BeforeResponse, ph.Create.P50, ph.Create.P99)
		}
	}
	p("\nmessages a delivery brought to the consumer (a request from the sidecar, a batch from a Kafka fetch):\n")
	for _, t := range rep.Transports {
		for _, ph := range phases(t) {
			if ph.Deliveries > 0 {
				p("%-9s %-12s %7d deliveries of %7d messages: %.1f a delivery\n", t.Transport, ph.Name, ph.Deliveries, ph.Delivered, float64(ph.Delivered)/float64(ph.Deliveries))
			}
		}
	}
	p("\nwhere the delay goes (Kafka messages carry the producer's time, in ms through Dapr):\n")
	for _, t := range rep.Transports {
		for _, ph := range phases(t) {
			for _, st := range ph.Stages {
				p("%-9s %-12s %-20s p50 %8.2f  p95 %8.2f  p99 %8.2f  max %8.2f ms\n", t.Transport, ph.Name, st.Name, st.P50, st.P95, st.P99, st.Max)
			}
		}
	}
	p("\nthroughput from a backlog: the relay publishes a backlog of the outbox (the consumer paused), then the consumer handles it from the broker:\n")
	for _, t := range rep.Transports {
		p("%-9s %d events published in %.2f s = %s events/s; then handled by the consumer in %.2f s = %s events/s; lost %d\n",
			t.Transport, t.Relay.Events, t.Relay.PublishSeconds, loadstat.Thousands(int64(t.Relay.PublishPerSecond)),
			t.Relay.HandledSeconds, loadstat.Thousands(int64(t.Relay.HandledPerSecond)), t.Relay.Lost)
	}
	p("\ngoals:\n")
	for _, t := range rep.Transports {
		for _, g := range t.Goals {
			verdict := "MISS"
			if g.Met {
				verdict = "MEETS"
			}
			p("%-9s %-50s %-24s %s\n", t.Transport, g.What, g.Value, verdict)
		}
	}
	for _, t := range rep.Transports {
		for _, n := range t.Notes {
			p("note (%s): %s\n", t.Transport, n)
		}
	}
	for _, s := range rep.Skipped {
		p("%s\n", s)
	}
}

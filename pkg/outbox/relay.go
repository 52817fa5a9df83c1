package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/todo-platform/todo/pkg/backoff"
	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/metrics"
	"github.com/todo-platform/todo/pkg/pgnotify"
	"github.com/todo-platform/todo/pkg/tracing"
)

// RelayConfig configures a Relay. Table and Channel are required.
type RelayConfig struct {
	Table   string // schema-qualified outbox table, e.g. "taskapi.outbox"
	Channel string // channel its writers NOTIFY (see Waker), e.g. "taskapi_outbox"

	// ListenConfig is the connection that LISTENs (see pgnotify). Nil: the
	// pool's. It must reach PostgreSQL directly (or through a session-mode
	// pooler): through a transaction-mode pooler no notification arrives,
	// and only the poll is left. The services give it DATABASE_DIRECT_URL.
	ListenConfig *pgx.ConnConfig

	BatchSize       int           // rows per batch (default 256)
	Lanes           int           // keys published concurrently (default 32)
	PollInterval    time.Duration // poll when no notification comes (default 2s)
	Retention       time.Duration // published rows older than this are deleted (default 72h)
	PruneInterval   time.Duration // how often to delete them (default 5m)
	MetricsInterval time.Duration // how often to measure the lag (default 5s)
	ListenCheck     time.Duration // ping the listening connection when silent this long (default 30s)
	MinBackoff      time.Duration // first wait after a failed batch (default 100ms)
	MaxBackoff      time.Duration // longest wait (default 2s: the most a repaired broker, sidecar or database waits for the relay to try again)

	Log        *slog.Logger          // default: discard
	Registerer prometheus.Registerer // default: a private registry
	// Tracer, when it records (see pkg/tracing), makes a producer span of
	// each publication, a child of the span that wrote the row, and sends
	// its trace context in the message's headers.
	Tracer trace.TracerProvider
}

// Relay publishes the rows of one outbox table.
type Relay struct {
	pool     *pgxpool.Pool
	pub      broker.Publisher
	cfg      RelayConfig
	log      *slog.Logger
	m        *relayMetrics
	lockName string
	tracing  bool // cfg.Tracer records spans

	selectPending, markPublished, pruneOld, oldestRow, lag string
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$`)

// NewRelay returns a relay of cfg.Table that publishes through pub.
func NewRelay(pool *pgxpool.Pool, pub broker.Publisher, cfg RelayConfig) (*Relay, error) {
	if !tableName.MatchString(cfg.Table) {
		return nil, fmt.Errorf("outbox relay: table %q: want schema.table", cfg.Table)
	}
	if cfg.Channel == "" {
		return nil, errors.New("outbox relay: no notification channel")
	}
	if pool == nil || pub == nil {
		return nil, errors.New("outbox relay: needs a pool and a publisher")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = 32
	}
	def(&cfg.PollInterval, 2*time.Second)
	def(&cfg.Retention, 72*time.Hour)
	def(&cfg.PruneInterval, 5*time.Minute)
	def(&cfg.MetricsInterval, 5*time.Second)
	def(&cfg.ListenCheck, 30*time.Second)
	def(&cfg.MinBackoff, 100*time.Millisecond)
	def(&cfg.MaxBackoff, 2*time.Second)
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.ListenConfig == nil {
		cfg.ListenConfig = pool.Config().ConnConfig
	}
	cfg.ListenConfig = cfg.ListenConfig.Copy()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	t := pgx.Identifier(strings.Split(cfg.Table, ".")).Sanitize()
	return &Relay{
		pool: pool, pub: pub, cfg: cfg,
		log:      cfg.Log.With("outbox", cfg.Table),
		m:        newRelayMetrics(cfg.Registerer, cfg.Table),
		lockName: "outbox relay " + cfg.Table,
		tracing:  tracing.On(cfg.Tracer),
		selectPending: `SELECT id, topic, partition_key, event_id::text, event::text, created_at FROM ` + t +
			` WHERE published_at IS NULL ORDER BY id LIMIT $1`,
		markPublished: `UPDATE ` + t + ` SET published_at = now() WHERE id = ANY($1)`,
		// Oldest first along the primary key, a chunk at a time.
		pruneOld: `DELETE FROM ` + t + ` WHERE id IN (SELECT id FROM ` + t +
			` WHERE published_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2)`,
		oldestRow: `SELECT created_at < now() - make_interval(secs => $1) FROM ` + t + ` ORDER BY id LIMIT 1`,
		lag: `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM ` + t +
			` WHERE published_at IS NULL`,
	}, nil
}

// Run publishes until ctx ends; it returns nil then. Errors of the database
// or the broker are logged and retried, never returned.
func (r *Relay) Run(ctx context.Context) error {
	r.log.Info("outbox relay started", "channel", r.cfg.Channel, "poll", r.cfg.PollInterval)
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.listen(ctx, wake) }()
	go func() { defer wg.Done(); r.maintain(ctx) }()
	defer wg.Wait()

	poll := time.NewTicker(r.cfg.PollInterval)
	defer poll.Stop()
	failures := 0
	for {
		err := r.drain(ctx)
		if ctx.Err() != nil {
			r.log.Info("outbox relay stopped")
			return nil
		}
		if err != nil {
			failures++
			d := backoff.Delay(failures, r.cfg.MinBackoff, r.cfg.MaxBackoff)
			r.log.Warn("outbox publish failed; rows stay pending, retrying", "attempt", failures, "retry_in", d.Round(time.Millisecond), "err", err)
			backoff.Sleep(ctx, d) // an ended ctx is seen on the next turn
			continue
		}
		if failures > 0 {
			r.log.Info("outbox publishing again", "after_failures", failures)
			failures = 0
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-poll.C:
		}
	}
}

// drain publishes batches until none is full, the lock is elsewhere or a
// batch fails.
func (r *Relay) drain(ctx context.Context) error {
	for {
		n, busy, err := r.batch(ctx)
		if err != nil || busy || n < r.cfg.BatchSize {
			return err
		}
	}
}

type pendingRow struct {
	id        int64
	topic     string
	key       string
	eventID   string
	event     string
	createdAt time.Time
}

// batch runs one claim-publish-mark transaction. It returns how many rows it
// read and whether another relay holds the table's lock.
func (r *Relay) batch(ctx context.Context) (n int, busy bool, err error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	// The lock, and (in the same round trip) the mark's durability: the mark
	// need not wait for the disk. A mark lost in a crash of the database only
	// publishes its rows again, which consumers skip as duplicates; not
	// waiting takes a WAL flush off every batch, and so off every event's way
	// to the broker. set_config(…, true) is SET LOCAL.
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)), set_config('synchronous_commit', 'off', true)`, r.lockName).Scan(&locked, nil); err != nil {
		return 0, false, fmt.Errorf("take relay lock: %w", err)
	}
	if !locked {
		return 0, true, nil
	}
	rows, err := tx.Query(ctx, r.selectPending, r.cfg.BatchSize)
	if err != nil {
		return 0, false, fmt.Errorf("read pending rows: %w", err)
	}
	var pending []pendingRow
	var p pendingRow
	_, err = pgx.ForEachRow(rows, []any{&p.id, &p.topic, &p.key, &p.eventID, &p.event, &p.createdAt}, func() error {
		pending = append(pending, p)
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("read pending rows: %w", err)
	}
	if len(pending) == 0 {
		return 0, false, nil
	}

	done, pubErr := r.publish(ctx, pending)
	if len(done) > 0 {
		// Record what the broker has, even when ctx just ended: fewer
		// copies after a restart.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := tx.Exec(mctx, r.markPublished, done); err != nil {
			return len(pending), false, errors.Join(pubErr, fmt.Errorf("mark %d rows published (they will be published again): %w", len(done), err))
		}
		if err := tx.Commit(mctx); err != nil {
			return len(pending), false, errors.Join(pubErr, fmt.Errorf("commit %d published rows (they will be published again): %w", len(done), err))
		}
		r.log.Debug("outbox batch published", "rows", len(done), "first_id", pending[0].id)
	}
	return len(pending), false, pubErr
}

// publish publishes rows (in id order) with one lane per partition key and
// returns the ids the broker acknowledged. A lane stops at its first failure.
func (r *Relay) publish(ctx context.Context, rows []pendingRow) ([]int64, error) {
	var order []string
	lanes := map[string][]*pendingRow{}
	for i := range rows {
		k := rows[i].key
		if _, ok := lanes[k]; !ok {
			order = append(order, k)
		}
		lanes[k] = append(lanes[k], &rows[i])
	}
	var (
		mu       sync.Mutex
		done     = make([]int64, 0, len(rows))
		firstErr error
		failed   int
		wg       sync.WaitGroup
		slots    = make(chan struct{}, r.cfg.Lanes)
	)
	for _, k := range order {
		slots <- struct{}{}
		wg.Add(1)
		go func(lane []*pendingRow) {
			defer func() { <-slots; wg.Done() }()
			for i, row := range lane {
				start := time.Now()
				err := r.publishRow(ctx, row)
				r.m.duration.Observe(time.Since(start).Seconds())
				if err != nil {
					r.m.errors.Inc()
					mu.Lock()
					failed += len(lane) - i
					if firstErr == nil {
						firstErr = fmt.Errorf("publish outbox row %d (event %s) to %s: %w", row.id, row.eventID, row.topic, err)
					}
					mu.Unlock()
					return
				}
				r.m.published.Inc()
				r.m.delay.Observe(time.Since(row.createdAt).Seconds())
				mu.Lock()
				done = append(done, row.id)
				mu.Unlock()
			}
		}(lanes[k])
	}
	wg.Wait()
	if firstErr != nil && failed > 1 {
		firstErr = fmt.Errorf("%w (and %d more rows held back)", firstErr, failed-1)
	}
	return done, firstErr
}

// publishRow publishes one row; with tracing on, inside a producer span
// that continues the trace of the row's event.
func (r *Relay) publishRow(ctx context.Context, row *pendingRow) error {
	m := broker.Publication{Topic: row.topic, Key: row.key, Value: []byte(row.event), EventID: row.eventID}
	if !r.tracing {
		return r.pub.Publish(ctx, m)
	}
	parent := tracing.ExtractJSON(ctx, []byte(row.event))
	sctx, span := tracing.Tracer(r.cfg.Tracer).Start(parent, "publish "+row.topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", row.topic),
			attribute.String("messaging.message.id", row.eventID),
			attribute.String("outbox.table", r.cfg.Table),
		))
	m.Headers = map[string]string{}
	tracing.Inject(sctx, m.Headers)
	err := r.pub.Publish(sctx, m)
	tracing.End(span, err)
	return err
}

// listen wakes the relay on every notification of its channel (see
// pgnotify.Listen) until ctx ends.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	_ = pgnotify.Listen(ctx, pgnotify.ListenConfig{
		Conn: r.cfg.ListenConfig, Channel: r.cfg.Channel, Name: "outbox-relay " + r.cfg.Table,
		Check: r.cfg.ListenCheck, MinBackoff: r.cfg.MinBackoff, MaxBackoff: r.cfg.MaxBackoff, Log: r.log,
	}, func() { signal(wake) })
}

// maintain measures the lag and prunes old published rows.
func (r *Relay) maintain(ctx context.Context) {
	metrics := time.NewTicker(r.cfg.MetricsInterval)
	defer metrics.Stop()
	prune := time.NewTicker(r.cfg.PruneInterval)
	defer prune.Stop()
	r.measure(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-metrics.C:
			r.measure(ctx)
		case <-prune.C:
			if n, err := r.Prune(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox prune failed", "err", err)
			} else if n > 0 {
				r.log.Info("outbox pruned", "rows", n, "older_than", r.cfg.Retention)
			}
		}
	}
}

func (r *Relay) measure(ctx context.Context) {
	var n int64
	var age float64
	if err := r.pool.QueryRow(ctx, r.lag).Scan(&n, &age); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("outbox lag not measured", "err", err)
		}
		return
	}
	r.m.pending.Set(float64(n))
	r.m.oldest.Set(age)
}

// Prune deletes published rows older than the retention and returns how
// many. Run calls it every PruneInterval.
func (r *Relay) Prune(ctx context.Context) (int64, error) {
	const chunk = 5000
	secs := r.cfg.Retention.Seconds()
	// Rows are roughly in id order of age: when the oldest is young enough,
	// there is nothing to scan for.
	var old bool
	if err := r.pool.QueryRow(ctx, r.oldestRow, secs).Scan(&old); errors.Is(err, pgx.ErrNoRows) || (err == nil && !old) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	var total int64
	for {
		tag, err := r.pool.Exec(ctx, r.pruneOld, secs, chunk)
		if err != nil {
			return total, fmt.Errorf("prune outbox: %w", err)
		}
		total += tag.RowsAffected()
		r.m.pruned.Add(float64(tag.RowsAffected()))
		if tag.RowsAffected() < chunk {
			return total, nil
		}
	}
}

type relayMetrics struct {
	published, errors, pruned prometheus.Counter
	pending, oldest           prometheus.Gauge
	duration, delay           prometheus.Observer
}

func newRelayMetrics(reg prometheus.Registerer, table string) *relayMetrics {
	// One registration per metric, spelled out rather than from a table:
	// the kinds, help texts and buckets differ, and each name stays where
	// a search for it lands.
	l := []string{"table"}
	published := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_published_total", Help: "Outbox rows the broker acknowledged.",
	}, l))
	errs := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_publish_errors_total", Help: "Failed attempts to publish an outbox row.",
	}, l))
	pruned := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_pruned_total", Help: "Published outbox rows deleted after the retention.",
	}, l))
	pending := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outbox_pending_rows", Help: "Outbox rows not yet published (the relay's lag).",
	}, l))
	oldest := metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outbox_oldest_pending_age_seconds", Help: "Age of the oldest outbox row not yet published (0: none).",
	}, l))
	duration := metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "outbox_publish_duration_seconds", Help: "Time the broker took to acknowledge one outbox row.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, l))
	delay := metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "outbox_publish_delay_seconds", Help: "Time from writing an outbox row to the broker's acknowledgement.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, l))
	return &relayMetrics{
		published: published.WithLabelValues(table), errors: errs.WithLabelValues(table), pruned: pruned.WithLabelValues(table),
		pending: pending.WithLabelValues(table), oldest: oldest.WithLabelValues(table),
		duration: duration.WithLabelValues(table), delay: delay.WithLabelValues(table),
	}
}

func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

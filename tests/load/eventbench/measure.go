package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/consume"
	"github.com/todo-platform/todo/pkg/dapr"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/outbox"
	"github.com/todo-platform/todo/pkg/transport"
	"github.com/todo-platform/todo/services/taskapi"
	"github.com/todo-platform/todo/tests/daprd"
	"github.com/todo-platform/todo/tests/load/loadstat"
)

// collector records the delay of each handled event of the current phase:
// the events whose task title starts with the phase's prefix.
type collector struct {
	mu       sync.Mutex
	prefix   string
	hist     *loadstat.Histogram
	stages   [3]*loadstat.Histogram // see stageNames
	received int
	last     time.Time
	// Per task title: when the handler ran, and when taskapi's 201 (sent
	// after the commit) arrived; and the creations' latency.
	handledAt map[string]time.Time
	responded map[string]time.Time
	create    *loadstat.Histogram
	// Deliveries: requests or batches that reached the consumer, and the
	// messages in them (the transport's batching).
	deliveries, delivered int
	// gate, while open (non-nil), holds every delivery until it is
	// closed: the consumer is paused while a backlog builds in the broker.
	gate chan struct{}
}

// pause holds the consumer's deliveries until resume.
func (c *collector) pause() { c.mu.Lock(); c.gate = make(chan struct{}); c.mu.Unlock() }

// resume lets the held deliveries and the next ones through.
func (c *collector) resume() {
	c.mu.Lock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
	c.mu.Unlock()
}

// wait blocks while the consumer is paused.
func (c *collector) wait(ctx context.Context) {
	c.mu.Lock()
	g := c.gate
	c.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
		}
	}
}

// created notes that the creation of title, sent at sent, was answered now.
func (c *collector) created(title string, sent time.Time) {
	now := time.Now()
	c.mu.Lock()
	c.responded[title] = now
	c.create.Record(now.Sub(sent))
	c.mu.Unlock()
}

// The stages of the delay, where the transport gives the broker's time.
var stageNames = [3]string{"commit → broker", "broker → consumer", "consumer → handler"}

func (c *collector) start(prefix string) {
	c.mu.Lock()
	c.prefix, c.hist, c.received, c.last = prefix, loadstat.NewHistogram(), 0, time.Time{}
	c.handledAt, c.responded, c.create = map[string]time.Time{}, map[string]time.Time{}, loadstat.NewHistogram()
	c.deliveries, c.delivered = 0, 0
	for i := range c.stages {
		c.stages[i] = loadstat.NewHistogram()
	}
	c.mu.Unlock()
}

// arrival is when a delivery reached the consumer, and its broker time.
type arrival struct{ broker, consumer time.Time }

type arrivalsKey struct{}

// arrivals notes, by event id, when deliveries reached the consumer.
func arrivals(ctx context.Context, ds ...broker.Delivery) context.Context {
	now := time.Now()
	m := make(map[string]arrival, len(ds))
	for _, d := range ds {
		if e, err := events.Parse(d.Value); err == nil {
			m[e.ID()] = arrival{broker: d.Timestamp, consumer: now}
		}
	}
	return context.WithValue(ctx, arrivalsKey{}, m)
}

// process wraps the consumer's Process to note when each delivery arrived.
func (c *collector) process(next func(context.Context, broker.Delivery) error) func(context.Context, broker.Delivery) error {
	return func(ctx context.Context, d broker.Delivery) error {
		c.wait(ctx)
		c.mu.Lock()
		c.deliveries++
		c.delivered++
		c.mu.Unlock()
		return next(arrivals(ctx, d), d)
	}
}

// processBatch is process for ProcessBatch, as the services consume; it
// counts the batches.
func (c *collector) processBatch(next func(context.Context, []broker.Delivery) (int, error)) func(context.Context, []broker.Delivery) (int, error) {
	return func(ctx context.Context, ds []broker.Delivery) (int, error) {
		c.wait(ctx)
		c.mu.Lock()
		c.deliveries++
		c.delivered += len(ds)
		c.mu.Unlock()
		return next(arrivals(ctx, ds...), ds)
	}
}

func (c *collector) handle(ctx context.Context, _ pgx.Tx, e events.Event) error {
	now := time.Now()
	snap, err := events.TaskData(e)
	if err != nil {
		return consume.Permanent(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prefix != "" && strings.HasPrefix(snap.Title, c.prefix) {
		c.hist.Record(now.Sub(e.Time()))
		if a, ok := ctx.Value(arrivalsKey{}).(map[string]arrival)[e.ID()]; ok && !a.broker.IsZero() {
			c.stages[0].Record(a.broker.Sub(e.Time()))
			c.stages[1].Record(a.consumer.Sub(a.broker))
			c.stages[2].Record(now.Sub(a.consumer))
		}
		c.received++
		c.last = now
		c.handledAt[snap.Title] = now
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received
}

// waitFor waits until n events of the phase arrived or timeout passed, and
// returns how many did.
func (c *collector) waitFor(ctx context.Context, n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		got := c.count()
		if got >= n || time.Now().After(deadline) || ctx.Err() != nil {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func measure(ctx context.Context, e *env, cfg config, kind string, progress func(string, ...any)) (transportReport, error) {
	tr := transportReport{Transport: kind}
	col := &collector{}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	group := "eventbench-" + kind + "-" + run
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var tcfg transport.Config
	var feed func(ctx context.Context, c *consume.Consumer) (func(), error)
	switch kind {
	case "kafka":
		kc := e.kafka
		kc.OffsetNewest = true // a new group: start after the earlier phases' events
		tcfg = transport.Config{Kind: transport.Kafka, Kafka: kc}
		feed = func(ctx context.Context, c *consume.Consumer) (func(), error) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = kafka.Consume(ctx, kc, kafka.Group{Group: group, Topics: []string{events.TopicTaskEvents}, ProcessBatch: col.processBatch(c.ProcessBatch), Log: log})
			}()
			return func() { <-done }, nil
		}
	case "dapr":
		d, err := startDaprd(ctx, e, group, cfg.daprBulk, progress)
		if err != nil {
			return tr, err
		}
		defer d.stop()
		tcfg = transport.Config{Kind: transport.Dapr, Dapr: dapr.Config{HTTPPort: d.httpPort, APIToken: d.apiToken}}
		feed = func(_ context.Context, c *consume.Consumer) (func(), error) {
			d.app.Store(&dapr.Subscriber{Topics: []string{events.TopicTaskEvents}, Process: col.process(c.Process), Log: log, AppToken: d.appToken,
				ProcessBatch: col.processBatch(c.ProcessBatch), Bulk: cfg.daprBulk})
			return func() { d.app.Store(nil) }, nil
		}
	}
	bus, err := transport.Open(tcfg, log)
	if err != nil {
		return tr, err
	}
	defer func() { _ = bus.Close() }()
	consumer, err := consume.New(e.pool, col.handle, consume.Config{
		Name: group, Table: "eventbench.consumed_events", DeadLetters: bus, Log: log,
		Types: events.TaskTypes(),
	})
	if err != nil {
		return tr, err
	}
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	waitFeed, err := feed(feedCtx, consumer)
	if err != nil {
		return tr, err
	}
	defer func() { stopFeed(); waitFeed() }()

	var relayCancel context.CancelFunc
	var relayDone chan struct{}
	startRelay := func() error {
		listen, err := database.ConnConfig(e.directURL)
		if err != nil {
			return err
		}
		relay, err := outbox.NewRelay(e.pool, bus, outbox.RelayConfig{Table: taskapi.OutboxTable, Channel: taskapi.OutboxChannel, ListenConfig: listen, Log: log})
		if err != nil {
			return err
		}
		var rctx context.Context
		rctx, relayCancel = context.WithCancel(ctx)
		relayDone = make(chan struct{})
		go func() { defer close(relayDone); _ = relay.Run(rctx) }()
		return nil
	}
	stopRelay := func() {
		if relayCancel != nil {
			relayCancel()
			<-relayDone
			relayCancel = nil
		}
	}
	if err := startRelay(); err != nil {
		return tr, err
	}
	defer stopRelay()

	// Warm up until the consumer receives: the group has joined (or the
	// sidecar subscribed) and every connection is open.
	progress("%s: warming up until the consumer receives", kind)
	col.start("warm/" + run + "/")
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; col.count() == 0; i++ {
		if time.Now().After(deadline) {
			return tr, errors.New("no event reached the consumer within 90 s")
		}
		if err := e.create(ctx, i, fmt.Sprintf("warm/%s/%d", run, i)); err != nil {
			return tr, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range 200 { // a few hundred more, to warm every path
		_ = e.create(ctx, i, fmt.Sprintf("warm/%s/x%d", run, i))
	}
	time.Sleep(time.Second)

	// Steady: open-loop at each rate.
	var failed atomic.Int64
	for _, rate := range cfg.rates {
		n := int(rate * cfg.duration.Seconds())
		progress("%s: steady phase, %d creations at %.0f/s", kind, n, rate)
		prefix := fmt.Sprintf("steady%.0f/%s/", rate, run)
		col.start(prefix)
		began := time.Now()
		failed.Store(0)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 512)
		for i := range n {
			at := began.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			time.Sleep(time.Until(at))
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if e.createNoted(ctx, col, i, prefix+strconv.Itoa(i)) != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		ph := e.finish(ctx, col, n, int(failed.Load()), began, time.Since(began), cfg.waitFor)
		ph.Name, ph.Rate = fmt.Sprintf("steady %s/s", loadstat.Thousands(int64(rate))), rate
		tr.Steady = append(tr.Steady, ph)
		time.Sleep(time.Second) // let the last phase's stragglers settle
	}

	// Burst: cfg.burst creations at once.
	progress("%s: burst phase, %d creations by %d workers", kind, cfg.burst, cfg.burstWorkers)
	prefix := "burst/" + run + "/"
	col.start(prefix)
	began := time.Now()
	failed.Store(0)
	e.parallel(ctx, cfg.burst, cfg.burstWorkers, func(i int) {
		if e.createNoted(ctx, col, i, prefix+strconv.Itoa(i)) != nil {
			failed.Add(1)
		}
	})
	tr.Burst = e.finish(ctx, col, cfg.burst, int(failed.Load()), began, time.Since(began), cfg.waitFor)
	tr.Burst.Name = "burst"

	// Relay: a backlog written while the relay is stopped, then published.
	progress("%s: relay phase, %d events in the outbox, then the relay starts", kind, cfg.relayEvents)
	stopRelay()
	prefix = "relay/" + run + "/"
	col.start(prefix)
	failed.Store(0)
	e.parallel(ctx, cfg.relayEvents, cfg.relayWorkers, func(i int) {
		if e.create(ctx, i, prefix+strconv.Itoa(i)) != nil {
			failed.Add(1)
		}
	})
	want := cfg.relayEvents - int(failed.Load())
	// The consumer waits until the relay published the whole backlog, so
	// that each rate is measured alone: the relay's publishing, then the
	// consumer's handling of a backlog in the broker.
	col.pause()
	defer col.resume()
	began = time.Now()
	if err := startRelay(); err != nil {
		return tr, err
	}
	for {
		var pending int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM `+taskapi.OutboxTable+` WHERE published_at IS NULL`).Scan(&pending); err != nil {
			return tr, err
		}
		if pending == 0 || time.Since(began) > cfg.waitFor {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	published := time.Since(began)
	resumed := time.Now()
	col.resume()
	got := col.waitFor(ctx, want, cfg.waitFor)
	handled := time.Since(resumed)
	tr.Relay = relayReport{
		Events: want, PublishSeconds: published.Seconds(), PublishPerSecond: float64(want) / published.Seconds(),
		HandledSeconds: handled.Seconds(), HandledPerSecond: float64(got) / handled.Seconds(), Lost: want - got,
	}
	if failed.Load() > 0 {
		tr.Notes = append(tr.Notes, fmt.Sprintf("relay phase: %d creations failed", failed.Load()))
	}

	tr.Goals = goals(tr)
	for _, ph := range tr.Steady {
		progress("%s: %s p99 %.2f ms", kind, ph.Name, ph.Delay.P99)
	}
	progress("%s: burst p99 %.2f ms, relay %s events/s, handled %s events/s", kind, tr.Burst.Delay.P99,
		loadstat.Thousands(int64(tr.Relay.PublishPerSecond)), loadstat.Thousands(int64(tr.Relay.HandledPerSecond)))
	return tr, nil
}

// finish waits for a phase's events and summarizes it.
func (e *env) finish(ctx context.Context, col *collector, n, failed int, began time.Time, sending time.Duration, timeout time.Duration) phaseReport {
	want := n - failed
	got := col.waitFor(ctx, want, timeout)
	col.mu.Lock()
	defer col.mu.Unlock()
	r := phaseReport{Sent: n, Failed: failed, Received: got, Lost: want - got, Seconds: sending.Seconds(), Delay: col.hist.Summary(), Create: col.create.Summary(),
		Deliveries: col.deliveries, Delivered: col.delivered}
	after := loadstat.NewHistogram()
	for title, h := range col.handledAt {
		if at, ok := col.responded[title]; ok {
			if h.Before(at) {
				r.BeforeResponse++ // handled before taskapi's answer arrived
				after.Record(0)
			} else {
				after.Record(h.Sub(at))
			}
		}
	}
	r.AfterResponse = after.Summary()
	for i, h := range col.stages {
		if h.Count() > 0 {
			r.Stages = append(r.Stages, stage{Name: stageNames[i], Latency: h.Summary()})
		}
	}
	if sending > 0 {
		r.SendRate = float64(n) / sending.Seconds()
	}
	if !col.last.IsZero() {
		r.DrainSecond = col.last.Sub(began).Seconds()
	}
	return r
}

// parallel runs fn(0..n-1) on workers goroutines.
func (e *env) parallel(ctx context.Context, n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// createNoted is create, noting the answer's arrival in col.
func (e *env) createNoted(ctx context.Context, col *collector, i int, title string) error {
	sent := time.Now()
	if err := e.create(ctx, i, title); err != nil {
		return err
	}
	col.created(title, sent)
	return nil
}

// create creates one task titled title for user i (mod the users).
func (e *env) create(ctx context.Context, i int, title string) error {
	body, _ := json.Marshal(map[string]string{"title": title})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.taskapiURL+"/api/v1/tasks", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", e.tokens[i%len(e.tokens)])
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create: %s", resp.Status)
	}
	return nil
}

// sidecar is a running daprd and the app server it delivers to.
type sidecar struct {
	httpPort int
	apiToken string
	appToken string
	app      atomic.Pointer[dapr.Subscriber]
	stop     func()
}

// startDaprd starts daprd self-hosted on loopback with a pubsub.kafka
// component on the bench's broker, and the app server its subscription
// delivers to (a dapr.Subscriber set later), and waits until it is healthy.
func startDaprd(ctx context.Context, e *env, group string, bulk dapr.Bulk, progress func(string, ...any)) (*sidecar, error) {
	d := &sidecar{apiToken: "eventbench-api-token", appToken: "eventbench-app-token"}
	appAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	app := &http.Server{Addr: appAddr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := d.app.Load()
		if s == nil {
			// Not subscribed yet (or any more): list the subscription so
			// daprd subscribes, and have deliveries retried.
			s = &dapr.Subscriber{Topics: []string{events.TopicTaskEvents}, AppToken: d.appToken, Bulk: bulk,
				Process:      func(context.Context, broker.Delivery) error { return errors.New("not ready") },
				ProcessBatch: func(context.Context, []broker.Delivery) (int, error) { return 0, errors.New("not ready") }}
		}
		s.ServeHTTP(w, r)
	})}
	go func() { _ = app.ListenAndServe() }()

	dir, err := os.MkdirTemp("", "eventbench-daprd-")
	if err != nil {
		_ = app.Close()
		return nil, err
	}
	logPath := filepath.Join(dir, "daprd.log")
	logFile, err := os.Create(logPath) //nolint:gosec // the bench's own temporary folder
	if err != nil {
		_ = app.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cleanup := func() {
		_ = logFile.Close()
		_ = app.Close()
		_ = os.RemoveAll(dir)
	}
	_, appPort, _ := strings.Cut(appAddr, ":")
	port, _ := strconv.Atoi(appPort)
	progress("starting daprd %s (log %s)", e.daprd, logPath)
	sc, err := daprd.Start(ctx, daprd.Config{
		Bin: e.daprd, Dir: dir, AppID: "eventbench", Group: group, AppPort: port,
		Brokers: strings.Join(e.kafka.Brokers, ","), ClientID: "eventbench-daprd", InitialOffset: "newest",
		APIToken: d.apiToken, AppToken: d.appToken, Log: logFile, Within: 60 * time.Second,
	})
	if err != nil {
		b, _ := os.ReadFile(logPath) //nolint:gosec // the bench's own temporary folder
		cleanup()
		return nil, fmt.Errorf("%w:\n%s", err, b)
	}
	d.httpPort = sc.HTTPPort
	d.stop = func() {
		sc.Stop()
		cleanup()
	}
	return d, nil
}

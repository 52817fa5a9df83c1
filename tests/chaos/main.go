// Command chaos runs the platform as separate OS processes (PostgreSQL,
// a Kafka-protocol broker, each service's own binary) under a steady mix of
// real user actions, injects faults one at a time with recovery in between
// (kill -9 of each service, audit frozen while a backlog builds,
// PostgreSQL stopped as by a crash, the broker down), and then counts what
// the platform promises: no acknowledged write lost, every task event in
// the audit log once, one next occurrence per completed recurring task,
// every reminder due delivered to the inbox and the webhook once, every
// event on each user's socket once and in order (or a resync), no crash,
// and how fast each fault was recovered from. `make test-chaos` runs it; it
// exits 1 when an invariant is broken.
//
// With -transport dapr every service runs beside its own daprd (the Dapr
// transport, as in a Kubernetes pod), and the faults are the kill -9 of
// each service and of the sidecars of taskapi (which publishes) and of the
// notifier (which consumes and publishes), each started again after
// -sidecar-down; the freeze, PostgreSQL and broker faults are the Kafka
// run's, to keep the two runs short.
//
//	go run ./tests/chaos [-transport kafka|dapr] [-users 4] [-writers 8] [-freeze 40s] [-pg-down 20s] [-broker-down 60s] [-sidecar-down 5s] [-keep]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/todo-platform/todo/tests/toolchain"
)

func main() {
	if len(os.Args) == 4 && os.Args[1] == "broker" {
		if err := runBroker(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "chaos broker:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

// recoveryGoal is the goal for the time from a repair to a new task's event
// in the audit log. It is a measured figure, printed with the table, and
// not an invariant: after a long broker outage it includes draining the
// backlog written meanwhile, which depends on the machine's load.
const recoveryGoal = 10 * time.Second

// fault is one thing that goes wrong: inject breaks, repair mends.
type fault struct {
	name   string
	inject func() error
	hold   time.Duration // how long the fault lasts before repair
	repair func() error
}

func run() error {
	users := flag.Int("users", 4, "users the load acts as")
	writers := flag.Int("writers", 8, "concurrent writers (spread over the users)")
	pgDown := flag.Duration("pg-down", 20*time.Second, "how long PostgreSQL stays down")
	brokerDown := flag.Duration("broker-down", 60*time.Second, "how long the broker stays down")
	freeze := flag.Duration("freeze", 40*time.Second, "how long audit stays frozen (SIGSTOP) while a backlog builds")
	sidecarDown := flag.Duration("sidecar-down", 5*time.Second, "how long a killed daprd stays down (-transport dapr)")
	transport := flag.String("transport", "kafka", "events transport: kafka (the services talk to the broker) or dapr (each service beside its own daprd)")
	keep := flag.Bool("keep", false, "keep the data folder (logs, PostgreSQL, broker) afterwards")
	flag.Parse()
	var daprd string
	switch *transport {
	case "kafka":
	case "dapr":
		var err error
		if daprd, err = toolchain.Path(toolchain.Daprd); err != nil {
			return fmt.Errorf("the Dapr run needs daprd: %w", err)
		}
	default:
		return fmt.Errorf("-transport %q: want kafka or dapr", *transport)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "todo-chaos-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // the postgres user enters it
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "platform.log"))
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	started := time.Now()
	say := func(format string, args ...any) {
		fmt.Printf("[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
	}
	defer func() {
		if *keep {
			say("data and logs kept in %s", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	say("transport: %s", *transport)
	p, err := startPlatform(ctx, dir, *transport, daprd, logf, say)
	if p != nil {
		defer p.stop()
	}
	if err != nil {
		return fmt.Errorf("%w (logs: %s)", err, filepath.Join(dir, "platform.log"))
	}

	faults := []fault{}
	for _, s := range services {
		faults = append(faults, fault{
			name:   "kill -9 " + s,
			inject: func() error { p.signal(s, syscall.SIGKILL); return nil },
			hold:   time.Second,
			repair: func() error {
				if err := p.start(s); err != nil {
					return err
				}
				return p.waitReady(ctx, s, time.Minute)
			},
		})
	}
	if *transport == "dapr" {
		for _, s := range []string{"taskapi", "notifier"} {
			name := sidecarName(s)
			faults = append(faults, fault{
				name:   "kill -9 " + name,
				inject: func() error { p.signal(name, syscall.SIGKILL); return nil },
				hold:   *sidecarDown,
				repair: func() error { return p.startSidecar(ctx, s) },
			})
		}
		say("faults: kill -9 of each service and of the sidecars of taskapi and the notifier; " +
			"audit's freeze, the PostgreSQL crash and the broker outage are the Kafka run's")
	} else {
		faults = append(faults, kafkaFaults(ctx, p, *freeze, *pgDown, *brokerDown)...)
	}

	// Reminders fall due until shortly before the last fault ends.
	var plan time.Duration
	for _, f := range faults {
		plan += f.hold + 8*time.Second
	}
	l := newLoad(p, *users, time.Now().Add(plan))
	if err := l.registerHooks(ctx); err != nil {
		return err
	}
	defer l.hooks.Close()
	sockCtx, closeSockets := context.WithCancel(ctx)
	defer closeSockets()
	l.openSockets(sockCtx)

	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range *writers {
		wg.Add(1)
		go func() { defer wg.Done(); l.writer(loadCtx, l.users[i%len(l.users)], uint64(i)+1) }()
	}
	say("load started: %d writers over %d users", *writers, *users)
	time.Sleep(5 * time.Second)

	recoveries := map[string]time.Duration{}
	var problems []string
	for _, f := range faults {
		if ctx.Err() != nil {
			break
		}
		l.phase(f.name)
		say("fault: %s (for %s)", f.name, f.hold)
		if err := f.inject(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: inject: %v", f.name, err))
			continue
		}
		time.Sleep(f.hold)
		if err := f.repair(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: repair: %v", f.name, err))
			break
		}
		l.phase("after " + f.name)
		d, err := l.probe(ctx, time.Minute)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: not recovered within a minute: %v", f.name, err))
			continue
		}
		recoveries[f.name] = d
		say("recovered from %s in %s", f.name, d.Round(10*time.Millisecond))
		time.Sleep(5 * time.Second)
	}
	stopLoad()
	wg.Wait()
	say("load stopped; waiting for the events and the reminders due to settle")
	settle(ctx, l)
	closeSockets()

	ok := report(ctx, os.Stdout, l, faults, recoveries, problems)
	if !ok {
		return fmt.Errorf("%w (logs: %s; -keep keeps them)", errInvariants, filepath.Join(dir, "platform.log"))
	}
	say("every invariant held (%s transport)", *transport)
	return nil
}

// kafkaFaults are the faults of the Kafka run beyond the service kills: a
// consumer frozen while a backlog builds, PostgreSQL's crash, the broker's
// outage.
func kafkaFaults(ctx context.Context, p *platform, freeze, pgDown, brokerDown time.Duration) []fault {
	return []fault{
		{
			// A consumer that stops handling (a long pause, a stuck host)
			// while writes go on: a backlog builds and must drain.
			name:   "audit frozen",
			inject: func() error { return p.freeze("audit", true) },
			hold:   freeze,
			repair: func() error { return p.freeze("audit", false) },
		},
		{
			name: "PostgreSQL crash", inject: p.pg.Crash, hold: pgDown,
			repair: func() error { _, err := startAgain(ctx, p); return err },
		},
		{
			name:   "broker down",
			inject: func() error { p.signal("broker", syscall.SIGTERM); return nil },
			hold:   brokerDown,
			repair: p.startBroker,
		},
	}
}

// startAgain starts PostgreSQL again on its folder and port.
func startAgain(ctx context.Context, p *platform) (time.Duration, error) {
	start := time.Now()
	c, err := pgStart(ctx, p)
	if err != nil {
		return 0, err
	}
	p.pg = c
	return time.Since(start), nil
}

// settle waits until every published task event is in the audit log and
// consumed by recurring and the notifier, and every reminder due has fired
// and been delivered, or two minutes pass.
func settle(ctx context.Context, l *load) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var pending, missing, unconsumed, undelivered int
		// Each consumer records an event once (its table's key): a count
		// short of the outbox's is a consumer still catching up.
		_ = l.p.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM taskapi.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM notifier.outbox WHERE published_at IS NULL),
			(SELECT count(*) FROM taskapi.outbox o WHERE o.topic = 'task-events' AND NOT EXISTS (SELECT 1 FROM audit.entries e WHERE e.event_id = o.event_id::text)),
			2*(SELECT count(*) FROM taskapi.outbox WHERE topic = 'task-events')
				- (SELECT count(*) FROM recurring.consumed_events WHERE topic = 'task-events')
				- (SELECT count(*) FROM notifier.consumed_events WHERE topic = 'task-events'),
			(SELECT count(*) FROM notifier.deliveries WHERE status = 'pending')`).Scan(&pending, &missing, &unconsumed, &undelivered)
		due := 0
		l.mu.Lock()
		ids := make([]string, 0, len(l.reminders))
		for id, at := range l.reminders {
			if at.Before(time.Now().Add(-2 * time.Second)) {
				ids = append(ids, id)
			}
		}
		l.mu.Unlock()
		_ = l.p.pool.QueryRow(ctx, `SELECT count(*) FROM notifier.reminders WHERE task_id = ANY($1) AND fired_at IS NULL AND missed_at IS NULL AND canceled_at IS NULL`, ids).Scan(&due)
		if pending == 0 && missing == 0 && unconsumed == 0 && undelivered == 0 && due == 0 {
			time.Sleep(2 * time.Second) // the sockets' last pushes
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// report checks the invariants, prints the tables and says whether all
// held.
func report(ctx context.Context, w io.Writer, l *load, faults []fault, recoveries map[string]time.Duration, problems []string) bool {
	ok := len(problems) == 0
	fail := func(format string, args ...any) {
		ok = false
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	pool := l.p.pool
	l.mu.Lock()
	created, completed := append([]string(nil), l.created...), append([]string(nil), l.completed...)
	reminders := map[string]time.Time{}
	for k, v := range l.reminders {
		reminders[k] = v
	}
	l.mu.Unlock()

	fmt.Fprintf(w, "\nWrites and effects (%s transport)\n", l.p.transport)
	fmt.Fprintf(w, "  %-44s %10s %10s %10s %10s\n", "", "expected", "found", "lost", "duplicated")
	var found int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM taskapi.tasks WHERE id::text = ANY($1)`, created).Scan(&found)
	fmt.Fprintf(w, "  %-44s %10d %10d %10d %10s\n", "acknowledged creations in the database", len(created), found, len(created)-found, "-")
	if found != len(created) {
		fail("%d acknowledged creations lost", len(created)-found)
	}

	var events, inAudit, auditRows, auditDistinct int
	_ = pool.QueryRow(ctx, `SELECT count(*), count(e.event_id) FROM taskapi.outbox o LEFT JOIN audit.entries e ON e.event_id = o.event_id::text WHERE o.topic = 'task-events'`).Scan(&events, &inAudit)
	_ = pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT event_id) FROM audit.entries`).Scan(&auditRows, &auditDistinct)
	fmt.Fprintf(w, "  %-44s %10d %10d %10d %10d\n", "task events in the audit log", events, inAudit, events-inAudit, auditRows-auditDistinct)
	if events != inAudit || auditRows != auditDistinct {
		fail("audit log: %d task events missing, %d duplicated", events-inAudit, auditRows-auditDistinct)
	}

	var withOne, withNone, withMore int
	_ = pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n = 0), count(*) FILTER (WHERE n > 1)
		FROM (SELECT c.id, (SELECT count(*) FROM taskapi.tasks t WHERE t.previous_id = c.id) AS n FROM taskapi.tasks c WHERE c.id::text = ANY($1)) s`, completed).Scan(&withOne, &withNone, &withMore)
	fmt.Fprintf(w, "  %-44s %10d %10d %10d %10d\n", "completed recurring tasks with a next one", len(completed), withOne, withNone, withMore)
	if withOne != len(completed) {
		fail("recurring: %d completions without a next occurrence, %d with more than one", withNone, withMore)
	}

	// Reminders due by now (with 2 s of grace for the firing loop).
	var dueIDs []string
	for id, at := range reminders {
		if at.Before(time.Now().Add(-2 * time.Second)) {
			dueIDs = append(dueIDs, id)
		}
	}
	var inbox, inboxDistinct, late, missed int
	_ = pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT task_id) FROM notifier.notifications WHERE task_id = ANY($1)`, dueIDs).Scan(&inbox, &inboxDistinct)
	_ = pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE fired_at - fire_at > interval '5 seconds'), count(*) FILTER (WHERE missed_at IS NOT NULL)
		FROM notifier.reminders WHERE task_id = ANY($1)`, dueIDs).Scan(&late, &missed)
	fmt.Fprintf(w, "  %-44s %10d %10d %10d %10d\n", "reminders due, in the inbox", len(dueIDs), inboxDistinct, len(dueIDs)-inboxDistinct, inbox-inboxDistinct)
	if inboxDistinct != len(dueIDs) || inbox != inboxDistinct {
		fail("inbox: %d reminders missing, %d duplicated", len(dueIDs)-inboxDistinct, inbox-inboxDistinct)
	}
	l.hooks.mu.Lock()
	perTask := map[string]int{}
	dups := 0
	for ev, n := range l.hooks.events {
		perTask[l.hooks.tasks[ev]]++
		dups += n - 1
	}
	l.hooks.mu.Unlock()
	hooked := 0
	for _, id := range dueIDs {
		if perTask[id] > 0 {
			hooked++
		}
		if perTask[id] > 1 {
			dups += perTask[id] - 1
		}
	}
	fmt.Fprintf(w, "  %-44s %10d %10d %10d %10d\n", "reminders due, at the webhook", len(dueIDs), hooked, len(dueIDs)-hooked, dups)
	if hooked != len(dueIDs) || dups > 0 {
		fail("webhook: %d reminders missing, %d duplicated", len(dueIDs)-hooked, dups)
	}
	fmt.Fprintf(w, "  reminders fired more than 5 s late: %d (due while their notifier, database or broker was down); missed: %d\n", late, missed)
	if missed > 0 {
		fail("%d reminders missed", missed)
	}

	fmt.Fprintln(w, "\nLive sockets (reconnecting with their cursors)")
	fmt.Fprintf(w, "  %-16s %10s %10s %10s %10s %12s %10s %10s\n", "user", "expected", "received", "missing", "duplicated", "out of order", "resyncs", "reconnects")
	for _, s := range l.socks {
		s.mu.Lock()
		var ids []string
		// The order of a user's events is their order in the user's
		// partition (one partition key), which audit consumes in order: its
		// entries' seq. (Not the outbox's ids: two transactions may commit
		// in the other order than they took their ids.)
		position := map[string]int64{}
		rows, err := pool.Query(ctx, `SELECT event_id, seq FROM audit.entries WHERE owner_id = $1 AND recorded_at > $2 AND event_type LIKE 'todo.task.%'`, s.user, s.firstReady)
		if err == nil {
			for rows.Next() {
				var id string
				var pos int64
				if rows.Scan(&id, &pos) == nil {
					ids = append(ids, id)
					position[id] = pos
				}
			}
			rows.Close()
		}
		// In order: each event after the ones before it (since the last
		// resync), by outbox position; a second copy is counted above.
		outOfOrder := 0
		var last int64 = -1
		for _, id := range s.order {
			if id == "" {
				last = -1
				continue
			}
			pos, ok := position[id]
			if !ok {
				continue
			}
			if pos < last {
				outOfOrder++
			}
			last = max(last, pos)
		}
		got, missing, dup := 0, 0, 0
		var dupIDs []string
		for _, id := range ids {
			switch n := s.received[id]; n {
			case 0:
				missing++
			default:
				got++
				dup += n - 1
				if n > 1 {
					dupIDs = append(dupIDs, id)
				}
			}
		}
		fmt.Fprintf(w, "  %-16s %10d %10d %10d %10d %12d %10d %10d\n", s.user, len(ids), got, missing, dup, outOfOrder, s.resyncs, s.reconnects)
		if outOfOrder > 0 {
			fail("%s's socket: %d events out of order", s.user, outOfOrder)
		}
		if missing > 0 && s.resyncs == 0 {
			fail("%s's socket: %d events missing, and no resync said so", s.user, missing)
		}
		if dup > 0 {
			fail("%s's socket: %d events pushed twice (e.g. %v)", s.user, dup, dupIDs[:min(3, len(dupIDs))])
		}
		s.mu.Unlock()
	}

	fmt.Fprintln(w, "\nRequests during and after each fault")
	fmt.Fprintf(w, "  %-28s %9s %9s %9s %9s %9s %9s %9s %9s\n", "window", okay, conflict, unavailable, limited, serverError, clientError, refused, timedOut)
	for _, win := range l.windows {
		fmt.Fprintf(w, "  %-28s%s\n", win.name, win.row())
		win.mu.Lock()
		if n := win.outcomes[serverError]; n > 0 {
			fail("%s: %d answers 5xx other than 503 (e.g. %s)", win.name, n, win.sample[serverError])
		}
		if n := win.outcomes[clientError]; n > 0 {
			fail("%s: %d answers 4xx other than 412/429 (e.g. %s)", win.name, n, win.sample[clientError])
		}
		if n := win.outcomes[timedOut]; n > 0 {
			fail("%s: %d requests hung past the client's 15 s", win.name, n)
		}
		if win.noRetry > 0 {
			fail("%s: %d 503 answers without Retry-After", win.name, win.noRetry)
		}
		win.mu.Unlock()
	}

	fmt.Fprintln(w, "\nRecovery (fault repaired -> a new task acknowledged and in the audit log, behind any backlog; goal 10 s)")
	for _, f := range faults {
		d, okRec := recoveries[f.name]
		switch {
		case !okRec:
			fmt.Fprintf(w, "  %-28s not recovered\n", f.name) // a problem recorded during the run
		case d > recoveryGoal:
			fmt.Fprintf(w, "  %-28s %s  OVER THE GOAL\n", f.name, d.Round(10*time.Millisecond))
		default:
			fmt.Fprintf(w, "  %-28s %s\n", f.name, d.Round(10*time.Millisecond))
		}
	}
	l.p.mu.Lock()
	crashes := append([]string(nil), l.p.crashes...)
	l.p.mu.Unlock()
	fmt.Fprintf(w, "\nCrashes (processes that exited without being told to): %d\n", len(crashes))
	for _, c := range crashes {
		fail("crash: %s", c)
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, "\nBroken:")
		fmt.Fprintln(w, "  "+strings.Join(problems, "\n  "))
	}
	return ok && !errors.Is(ctx.Err(), context.Canceled)
}

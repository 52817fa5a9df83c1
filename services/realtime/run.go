// Package realtime is the realtime service: it pushes every task and
// reminder event to the WebSocket connections of the event's owner, so that
// each open client of a user (two browser tabs, a phone) sees a change made
// elsewhere within well under a second — tasks created by the recurring
// service and reminders fired by the notifier included.
//
// # Every replica sees every event
//
// Connections are spread over the replicas by a load balancer, so a user's
// connections may be on any of them, and each replica must receive every
// event of the users connected to it. One consumer group shared by the
// replicas would split the partitions between them and each replica would
// see only its share; so realtime never shares a group:
//
//   - With Kafka (EVENTS_TRANSPORT=kafka), each replica reads every
//     partition of task-events and reminders itself, with sarama's plain
//     partition consumers and no consumer group (kafka.ConsumeAll through
//     transport.SubscribeAll), from the newest offset at its start. There is
//     no group coordination, no committed offset and no stale group left
//     behind when a replica goes.
//   - With Dapr (EVENTS_TRANSPORT=dapr), the sidecar delivers what its
//     pub/sub component's consumer group gets. The component realtime uses,
//     named by DAPR_PUBSUB, must set consumerGroup: "{podName}" (Dapr's
//     templated metadata) and initialOffset: newest, so that each pod is a
//     group of its own and receives everything.
//
// Each replica dispatches an event to the connections of its owner (the task
// snapshot's owner_id; else the partition key, which is the owner's user id)
// and forgets it, but for a bounded replay buffer per partition.
//
// # Resume
//
// Every message carries a cursor: the position of everything dispatched so
// far, as Kafka coordinates (topic, partition, next offset), which are the
// same on every replica. A client that reconnects, to this replica or
// another, with its last cursor gets the events of its user it missed, in
// order, from the replay buffers, or {"type":"resync"} when the buffers do
// not reach back that far (see README.md for the protocol).
package realtime

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/ratelimit"
	"github.com/todo-platform/todo/pkg/service"
	"github.com/todo-platform/todo/pkg/tracing"
	"github.com/todo-platform/todo/pkg/transport"
	"github.com/todo-platform/todo/pkg/web"
)

// Topics realtime pushes to clients.
var Topics = []string{events.TopicTaskEvents, events.TopicReminders}

// Config is realtime's configuration, read from the environment. Realtime
// keeps no data: it needs no database.
type Config struct {
	service.Server
	// API: the tokens of the sockets' users; RATE_LIMIT_* bounds upgrades
	// and refused tokens per address.
	service.API
	Events  transport.Config
	Options Options
}

// ConfigFromEnv reads the configuration, naming the variable of any bad value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	srv, err := service.ServerFromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{Server: srv}
	if c.API, err = service.APIFromEnv(getenv); err != nil {
		return c, err
	}
	if c.Events, err = transport.ConfigFromEnv(getenv); err != nil {
		return c, err
	}

	o := &c.Options
	if v := strings.TrimSpace(getenv("REALTIME_ALLOWED_ORIGINS")); v != "" {
		o.AllowedOrigins = []string{}
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.AllowedOrigins = append(o.AllowedOrigins, p)
			}
		}
	}
	for _, e := range []struct {
		name string
		dst  *int
	}{
		{"REALTIME_MAX_CONNS_PER_USER", &o.MaxConnsPerUser},
		{"REALTIME_MAX_CONNS", &o.MaxConns},
		{"REALTIME_MAX_CONNS_PER_ADDRESS", &o.MaxConnsPerAddress},
		{"REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS", &o.MaxPendingPerAddress},
		{"REALTIME_SEND_QUEUE", &o.SendQueue},
		{"REALTIME_REPLAY_SIZE", &o.ReplaySize},
	} {
		if *e.dst, err = service.EnvInt(getenv, e.name, *e.dst, 1); err != nil {
			return c, err
		}
	}
	readLimit, err := service.EnvInt(getenv, "REALTIME_READ_LIMIT", int(o.ReadLimit), 512)
	if err != nil {
		return c, err
	}
	o.ReadLimit = int64(readLimit)
	for _, e := range []struct {
		name string
		dst  *time.Duration
	}{
		{"REALTIME_AUTH_TIMEOUT", &o.AuthTimeout},
		{"REALTIME_PING_INTERVAL", &o.PingInterval},
		{"REALTIME_PONG_TIMEOUT", &o.PongTimeout},
		{"REALTIME_WRITE_TIMEOUT", &o.WriteTimeout},
	} {
		if *e.dst, err = service.EnvDuration(getenv, e.name, *e.dst); err != nil {
			return c, err
		}
	}
	c.Options = c.Options.withDefaults()
	return c, nil
}

// Run runs realtime until ctx ends or SIGINT/SIGTERM arrives: the WebSocket
// endpoint and the broadcast consumer of task-events and reminders. At the
// end it closes every connection with 1012 (service restart), so that the
// clients reconnect, with their cursors, to another replica.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if len(args) > 1 && args[1] != "serve" {
		return fmt.Errorf("unknown command %q: usage: realtime [serve]", args[1])
	}
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	log, err := web.NewLogger(stdout, cfg.LogFormat, cfg.LogLevel, "realtime")
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(ctx, cfg.JWT)
	if err != nil {
		return err
	}
	tp, err := service.StartTracing(ctx, cfg.Server, "realtime", log)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hub := NewHub(cfg.Options.ReplaySize, cfg.Options.MaxConnsPerUser, newMetrics(reg))
	hub.SetTracer(tp)

	sub, consumeLoop, err := transport.SubscribeAll(cfg.Events, log, transport.Broadcast{
		Name: "realtime", Topics: Topics, Process: hub.Process, OnStart: hub.Started, StartAt: hub.Next,
	})
	if err != nil {
		return err
	}
	if sub != nil {
		hub.markStarted() // the sidecar delivers when it has something
	}
	cfg.Options.Limits = ratelimit.New(cfg.Limits, reg)
	srv := web.NewHTTPServer(cfg.Addr, tracing.HTTP(tp, "realtime", NewServer(Deps{
		Hub: hub, Verifier: verifier, Options: cfg.Options, Log: log, Registry: reg, Dapr: sub,
	})), log)
	log.Info("realtime starting", "transport", cfg.Events.Kind, "allowed_origins", cfg.Options.AllowedOrigins)

	return service.Serve(ctx, srv, log, cfg.ShutdownGrace,
		consumeLoop,
		service.Metrics(cfg.MetricsAddr, reg, log),
		func(ctx context.Context) error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
			defer cancel()
			hub.Shutdown(sctx)
			return nil
		},
	)
}

package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/web"
)

// Defaults of the local event backbone.
const (
	DefaultKafkaPort = 19092
	localPartitions  = 4
	// KafkaUser is the embedded broker's one user (SASL SCRAM-SHA-256);
	// its password is in the data folder (KafkaPasswordFile).
	KafkaUser = "todo"
)

// broker is the Kafka the local platform uses: an embedded kfake broker, or
// the one KAFKA_BROKERS names.
type broker struct {
	cfg      kafka.Config
	embedded *kfake.Cluster
	desc     string // for the summary
}

// startBroker starts the embedded broker on 127.0.0.1:LOCAL_KAFKA_PORT,
// keeping its data in dataDir/kafka across restarts, unless KAFKA_BROKERS
// points at another Kafka; either way the platform's topics exist after it.
func startBroker(ctx context.Context, dataDir string, getenv func(string) string, logFormat string, stdout io.Writer, say func(string, ...any)) (*broker, error) {
	log, err := web.NewLogger(stdout, logFormat, slog.LevelInfo, "kafka")
	if err != nil {
		return nil, err
	}
	b := &broker{}
	if getenv("KAFKA_BROKERS") != "" {
		cfg, err := kafka.ConfigFromEnv(getenv)
		if err != nil {
			return nil, err
		}
		b.cfg, b.desc = cfg, strings.Join(cfg.Brokers, ",")+" (KAFKA_BROKERS)"
	} else {
		port := DefaultKafkaPort
		if p := getenv("LOCAL_KAFKA_PORT"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("LOCAL_KAFKA_PORT=%q: want a port number", p)
			}
			port = n
		}
		dir := filepath.Join(dataDir, "kafka")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
		// Every client authenticates: the broker knows one user, whose
		// password is in the data folder. The broker keeps its users with
		// its data and would restore the saved ones over the one given
		// here: the saved list goes, the password file rules.
		password, err := secret(dataDir, KafkaPasswordFile)
		if err != nil {
			return nil, err
		}
		if err := os.Remove(filepath.Join(dir, "sasl.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reset the broker's users: %w", err)
		}
		say("starting the Kafka broker (embedded kfake) in %s on 127.0.0.1:%d (set KAFKA_BROKERS to use another Kafka)", dir, port)
		c, err := kfake.NewCluster(
			kfake.Ports(port),
			kfake.DataDir(dir),
			kfake.SeedTopics(localPartitions, events.Topics()...),
			kfake.EnableSASL(),
			kfake.Superuser(kafka.SASLScramSHA256, KafkaUser, password),
			kfake.WithLogger(kfakeLogger{log}),
		)
		if err != nil {
			var opErr *net.OpError
			if errors.As(err, &opErr) && opErr.Op == "listen" {
				return nil, fmt.Errorf("start the Kafka broker: 127.0.0.1:%d is taken (set LOCAL_KAFKA_PORT to another port): %w", port, err)
			}
			return nil, fmt.Errorf("start the Kafka broker (delete %s to start afresh): %w", dir, err)
		}
		b.embedded = c
		b.cfg = kafka.Config{Brokers: c.ListenAddrs(), ClientID: "todo-local", SASLMechanism: kafka.SASLScramSHA256, Username: KafkaUser, Password: password}
		b.desc = strings.Join(b.cfg.Brokers, ",") + " (embedded; data in " + dir + ")\n│                 SASL SCRAM-SHA-256, user " + KafkaUser + ", password in " + filepath.Join(dataDir, KafkaPasswordFile)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(tctx, b.cfg, kafka.TopicSpec{Partitions: localPartitions}, events.Topics()...); err != nil {
		b.close(say)
		return nil, err
	}
	return b, nil
}

// close stops the embedded broker, which saves its data.
func (b *broker) close(say func(string, ...any)) {
	if b.embedded != nil {
		say("stopping the Kafka broker")
		b.embedded.Close()
	}
}

// env is what services need to reach the broker.
func (b *broker) env() map[string]string {
	if b.embedded == nil {
		return nil // they read the caller's KAFKA_* themselves
	}
	return map[string]string{
		"KAFKA_BROKERS": strings.Join(b.cfg.Brokers, ","), "KAFKA_TLS": "false",
		"KAFKA_SASL_MECHANISM": b.cfg.SASLMechanism, "KAFKA_USERNAME": b.cfg.Username, "KAFKA_PASSWORD": b.cfg.Password,
	}
}

// kfakeLogger passes the broker's warnings and errors to the log.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error(fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		l.log.Warn(fmt.Sprintf(format, args...))
	}
}

// Package kafka is the platform's Kafka transport, built on IBM/sarama: an
// idempotent producer that publishes CloudEvents (structured mode, message
// key = the event's partition key), the creation of the platform's topics,
// and consumer groups that hand each message to a consume.Consumer and mark
// it only once that consumer is done with it. Its configuration comes from
// KAFKA_* environment variables, TLS and SASL (PLAIN, SCRAM) included, which
// the managed Kafkas need.
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// DefaultVersion is the Kafka protocol version spoken unless KAFKA_VERSION
// says otherwise; idempotent producers need at least 0.11.
const DefaultVersion = "2.8.0"

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Config says how to reach the brokers.
type Config struct {
	Brokers       []string // KAFKA_BROKERS, comma-separated host:port
	ClientID      string   // KAFKA_CLIENT_ID (default "todo")
	Version       string   // KAFKA_VERSION (default DefaultVersion)
	TLS           bool     // KAFKA_TLS
	TLSCAFile     string   // KAFKA_TLS_CA_FILE: PEM roots; default the system's
	SASLMechanism string   // KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or empty
	Username      string   // KAFKA_USERNAME
	Password      string   // KAFKA_PASSWORD

	// Consumer group timing; zero values take the defaults noted.
	SessionTimeout    time.Duration // default 10s
	HeartbeatInterval time.Duration // default 3s
	// OffsetNewest makes a new consumer group start at the end of its
	// topics; by default it reads them from the oldest retained message.
	OffsetNewest bool
}

// ConfigFromEnv reads the configuration, naming the variable of any bad
// value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		ClientID:      getenv("KAFKA_CLIENT_ID"),
		Version:       getenv("KAFKA_VERSION"),
		TLSCAFile:     getenv("KAFKA_TLS_CA_FILE"),
		SASLMechanism: strings.ToUpper(strings.TrimSpace(getenv("KAFKA_SASL_MECHANISM"))),
		Username:      getenv("KAFKA_USERNAME"),
		Password:      getenv("KAFKA_PASSWORD"),
	}
	for _, b := range strings.Split(getenv("KAFKA_BROKERS"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("KAFKA_TLS"))); v {
	case "", "false", "0", "no":
	case "true", "1", "yes":
		c.TLS = true
	default:
		return c, fmt.Errorf("KAFKA_TLS=%q: want true or false", v)
	}
	if c.TLSCAFile != "" && !c.TLS {
		return c, errors.New("KAFKA_TLS_CA_FILE is set but KAFKA_TLS is not true")
	}
	return c, c.Validate()
}

// Validate checks c without connecting.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("KAFKA_BROKERS is not set: give the brokers as host:port[,host:port…]")
	}
	for _, b := range c.Brokers {
		if i := strings.LastIndex(b, ":"); i <= 0 || i == len(b)-1 {
			return fmt.Errorf("KAFKA_BROKERS: %q is not host:port", b)
		}
	}
	if c.Version != "" {
		if _, err := sarama.ParseKafkaVersion(c.Version); err != nil {
			return fmt.Errorf("KAFKA_VERSION=%q: %w", c.Version, err)
		}
	}
	switch c.SASLMechanism {
	case "":
		if c.Username != "" || c.Password != "" {
			return errors.New("KAFKA_USERNAME/KAFKA_PASSWORD are set but KAFKA_SASL_MECHANISM is not (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.Username == "" || c.Password == "" {
			return fmt.Errorf("KAFKA_SASL_MECHANISM=%s needs KAFKA_USERNAME and KAFKA_PASSWORD", c.SASLMechanism)
		}
	default:
		return fmt.Errorf("KAFKA_SASL_MECHANISM=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism)
	}
	return nil
}

// Sarama returns the sarama client configuration that the producer, the
// consumer groups and the admin client start from.
func (c Config) Sarama() (*sarama.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := sarama.NewConfig()
	s.ClientID = c.ClientID
	if s.ClientID == "" {
		s.ClientID = "todo"
	}
	v := c.Version
	if v == "" {
		v = DefaultVersion
	}
	s.Version, _ = sarama.ParseKafkaVersion(v)
	s.Net.DialTimeout = 5 * time.Second
	s.Net.ReadTimeout = 15 * time.Second
	s.Net.WriteTimeout = 15 * time.Second
	s.Metadata.Retry.Max = 2
	s.Metadata.Retry.Backoff = 200 * time.Millisecond

	if c.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("KAFKA_TLS_CA_FILE=%s: no PEM certificate in it", c.TLSCAFile)
			}
			tc.RootCAs = roots
		}
		s.Net.TLS.Enable = true
		s.Net.TLS.Config = tc
	}
	if c.SASLMechanism != "" {
		s.Net.SASL.Enable = true
		s.Net.SASL.Handshake = true
		s.Net.SASL.User = c.Username
		s.Net.SASL.Password = c.Password
		switch c.SASLMechanism {
		case SASLPlain:
			s.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case SASLScramSHA256:
			s.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			s.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
		case SASLScramSHA512:
			s.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			s.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
		}
	}

	s.Consumer.Return.Errors = true
	s.Consumer.Offsets.Initial = sarama.OffsetOldest
	if c.OffsetNewest {
		s.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	if c.SessionTimeout > 0 {
		s.Consumer.Group.Session.Timeout = c.SessionTimeout
	}
	if c.HeartbeatInterval > 0 {
		s.Consumer.Group.Heartbeat.Interval = c.HeartbeatInterval
	}
	s.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky(), sarama.NewBalanceStrategyRange()}
	s.Consumer.Group.Rebalance.Retry.Backoff = 500 * time.Millisecond
	return s, nil
}

// scramClient is sarama's SCRAM client on github.com/xdg-go/scram, as in
// sarama's own SASL/SCRAM example.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *scramClient) Begin(user, password, authzID string) error {
	c, err := x.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) { return x.conv.Step(challenge) }

func (x *scramClient) Done() bool { return x.conv.Done() }

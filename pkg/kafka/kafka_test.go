package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	ok := []struct {
		name string
		env  map[string]string
		want kafka.Config
	}{
		{"brokers", map[string]string{"KAFKA_BROKERS": " a:9092, b:9093 ,"},
			kafka.Config{Brokers: []string{"a:9092", "b:9093"}}},
		{"tls and scram", map[string]string{"KAFKA_BROKERS": "k:9093", "KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": "/ca.pem",
			"KAFKA_SASL_MECHANISM": "scram-sha-512", "KAFKA_USERNAME": "u", "KAFKA_PASSWORD": "p", "KAFKA_CLIENT_ID": "audit"},
			kafka.Config{Brokers: []string{"k:9093"}, TLS: true, TLSCAFile: "/ca.pem", SASLMechanism: kafka.SASLScramSHA512,
				Username: "u", Password: "p", ClientID: "audit"}},
		{"plain", map[string]string{"KAFKA_BROKERS": "k:9093", "KAFKA_TLS": "1", "KAFKA_SASL_MECHANISM": "PLAIN",
			"KAFKA_USERNAME": "$ConnectionString", "KAFKA_PASSWORD": "Endpoint=sb://x", "KAFKA_VERSION": "3.6.0"},
			kafka.Config{Brokers: []string{"k:9093"}, TLS: true, SASLMechanism: kafka.SASLPlain,
				Username: "$ConnectionString", Password: "Endpoint=sb://x", Version: "3.6.0"}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			got, err := kafka.ConfigFromEnv(env(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	bad := []struct {
		name, mentions string
		env            map[string]string
	}{
		{"no brokers", "KAFKA_BROKERS", map[string]string{}},
		{"broker without port", "KAFKA_BROKERS", map[string]string{"KAFKA_BROKERS": "kafka"}},
		{"tls typo", "KAFKA_TLS", map[string]string{"KAFKA_BROKERS": "k:1", "KAFKA_TLS": "yes please"}},
		{"ca without tls", "KAFKA_TLS", map[string]string{"KAFKA_BROKERS": "k:1", "KAFKA_TLS_CA_FILE": "/ca.pem"}},
		{"unknown mechanism", "KAFKA_SASL_MECHANISM", map[string]string{"KAFKA_BROKERS": "k:1", "KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_USERNAME": "u", "KAFKA_PASSWORD": "p"}},
		{"mechanism without password", "KAFKA_PASSWORD", map[string]string{"KAFKA_BROKERS": "k:1", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_USERNAME": "u"}},
		{"user without mechanism", "KAFKA_SASL_MECHANISM", map[string]string{"KAFKA_BROKERS": "k:1", "KAFKA_USERNAME": "u", "KAFKA_PASSWORD": "p"}},
		{"bad version", "KAFKA_VERSION", map[string]string{"KAFKA_BROKERS": "k:1", "KAFKA_VERSION": "latest"}},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := kafka.ConfigFromEnv(env(c.env))
			if err == nil || !strings.Contains(err.Error(), c.mentions) {
				t.Errorf("error %v, want one naming %s", err, c.mentions)
			}
			if err != nil && c.env["KAFKA_PASSWORD"] != "" && strings.Contains(err.Error(), c.env["KAFKA_PASSWORD"]) {
				t.Errorf("error %v shows the password", err)
			}
		})
	}
}

func publish(t *testing.T, p *kafka.Producer, topic, key, value string) error {
	t.Helper()
	return p.Publish(context.Background(), broker.Publication{Topic: topic, Key: key, Value: []byte(value), EventID: value})
}

// publishWith publishes value under key "k" to topic with a producer of
// its own to cfg (without a logger: a refused connection is expected).
func publishWith(t *testing.T, cfg kafka.Config, topic, value string) error {
	t.Helper()
	p, err := kafka.NewProducer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return publish(t, p, topic, "k", value)
}

// TestProducerKeepsEachKeyOnOnePartitionInOrder: messages published
// concurrently for several keys land each key on one partition, in the order
// that key's messages were published, with the CloudEvents headers.
func TestProducerKeepsEachKeyOnOnePartitionInOrder(t *testing.T) {
	t.Parallel()
	_, cfg := kafkatest.Start(t)
	p := kafkatest.Producer(t, cfg)
	keys := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if err := publish(t, p, events.TopicTaskEvents, k, fmt.Sprintf("%s-%02d", k, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	msgs := kafkatest.Messages(t, cfg, events.TopicTaskEvents)
	if len(msgs) != len(keys)*20 {
		t.Fatalf("%d messages, want %d", len(msgs), len(keys)*20)
	}
	next := map[string]int{}
	part := map[string]int32{}
	used := map[int32]bool{}
	for _, m := range msgs {
		if want := fmt.Sprintf("%s-%02d", m.Key, next[m.Key]); string(m.Value) != want {
			t.Errorf("%s: %s, want %s", m, m.Value, want)
		}
		next[m.Key]++
		if p, ok := part[m.Key]; ok && p != m.Partition {
			t.Errorf("key %s on partitions %d and %d", m.Key, p, m.Partition)
		}
		part[m.Key] = m.Partition
		used[m.Partition] = true
		if m.Headers[kafka.HeaderContentType] != kafka.ContentType || m.Headers[kafka.HeaderEventID] != string(m.Value) {
			t.Errorf("%s: headers %v", m, m.Headers)
		}
	}
	if len(used) < 2 {
		t.Errorf("all keys on partitions %v", used)
	}
}

// TestProducerWaitsForTheBroker: a producer made while no broker answers
// fails its publishes, and publishes once a broker is there.
func TestProducerWaitsForTheBroker(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := kafkatest.Config(fmt.Sprintf("127.0.0.1:%d", port))
	p := kafkatest.Producer(t, cfg)
	if err := publish(t, p, events.TopicTaskEvents, "k", "early"); err == nil {
		t.Fatal("published with no broker")
	}
	kafkatest.Start(t, kfake.Ports(port))
	kafkatest.Eventually(t, 30*time.Second, "published once the broker is up", func() bool {
		return publish(t, p, events.TopicTaskEvents, "k", "late") == nil
	})
}

// TestEnsureTopics creates the platform's topics with the partitions asked
// for, and leaves them alone the second time.
func TestEnsureTopics(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := kafkatest.Config(c.ListenAddrs()...)
	ctx := context.Background()
	for range 2 {
		if err := kafka.EnsureTopics(ctx, cfg, kafka.TopicSpec{Partitions: 6}, events.Topics()...); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := cfg.Sarama()
	client, err := sarama.NewClient(cfg.Brokers, s)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, topic := range []string{"task-events", "task-events.dlq", "reminders", "reminders.dlq"} {
		parts, err := client.Partitions(topic)
		if err != nil || len(parts) != 6 {
			t.Errorf("%s: %d partitions (%v), want 6", topic, len(parts), err)
		}
	}
}

// TestSASL publishes and reads through a broker that requires each SASL
// mechanism, and is refused with a wrong password.
func TestSASL(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLScramSHA256, kafka.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			_, base := kafkatest.Start(t, kfake.EnableSASL(), kfake.Superuser(mech, "app", "s3cret-pass"))
			cfg, err := kafka.ConfigFromEnv(env(map[string]string{
				"KAFKA_BROKERS": strings.Join(base.Brokers, ","), "KAFKA_SASL_MECHANISM": mech,
				"KAFKA_USERNAME": "app", "KAFKA_PASSWORD": "s3cret-pass",
			}))
			if err != nil {
				t.Fatal(err)
			}
			if err := publishWith(t, cfg, events.TopicReminders, "hello"); err != nil {
				t.Fatal(err)
			}
			if msgs := kafkatest.Messages(t, cfg, events.TopicReminders); len(msgs) != 1 || string(msgs[0].Value) != "hello" {
				t.Errorf("read back %v", msgs)
			}

			cfg.Password = "wrong"
			if err := publishWith(t, cfg, events.TopicReminders, "intruder"); err == nil {
				t.Error("published with a wrong password")
			}
		})
	}
}

// TestTLS publishes through a TLS listener whose certificate is signed by
// the CA in KAFKA_TLS_CA_FILE, and is refused without that CA.
func TestTLS(t *testing.T) {
	t.Parallel()
	caPEM, serverCert := certificates(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, base := kafkatest.Start(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	vars := map[string]string{"KAFKA_BROKERS": strings.Join(base.Brokers, ","), "KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": caFile}
	cfg, err := kafka.ConfigFromEnv(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if err := publishWith(t, cfg, events.TopicTaskEvents, "over tls"); err != nil {
		t.Fatal(err)
	}

	delete(vars, "KAFKA_TLS_CA_FILE") // the system's roots do not know this CA
	cfg, _ = kafka.ConfigFromEnv(env(vars))
	if err := publishWith(t, cfg, events.TopicTaskEvents, "unverified"); err == nil {
		t.Error("published to a broker whose certificate is not trusted")
	}
}

// certificates makes a CA and a certificate for 127.0.0.1 signed by it.
func certificates(t *testing.T) (caPEM []byte, server tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

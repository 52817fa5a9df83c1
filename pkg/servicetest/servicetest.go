// Package servicetest is what the services' tests share: a broker with
// outbox relays and consumer group members on it, tokens and calls to a
// service's HTTP API (its OpenAPI document, its paged lists), counts and
// counters, the service started as its binary runs it (Run) and what it
// prints, the `migrate` command checked, and a realtime socket's events.
//
// It builds on kafkatest and dbtest and knows no service: each test names
// its own schemas, topics and tables.
package servicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/apidoc"
	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/database"
	"github.com/todo-platform/todo/pkg/database/dbtest"
	"github.com/todo-platform/todo/pkg/kafka"
	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/outbox"
)

// Wait bounds the conditions the tests wait for: generous, for a shared and
// busy machine; no test measures speed with it.
const Wait = 60 * time.Second

// Eventually waits until cond holds, failing the test if it does not
// within Wait.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	kafkatest.Eventually(tb, Wait, what, cond)
}

// Broker is a broker started for one test, with what talks to it.
type Broker struct {
	Config kafka.Config
	Log    *slog.Logger // the test's log
	Pub    *kafka.Producer
}

// StartBroker starts a broker for the test and a producer to it, and runs
// an outbox relay on pool for each of relays until the test ends.
func StartBroker(tb testing.TB, pool *pgxpool.Pool, relays ...outbox.RelayConfig) Broker {
	tb.Helper()
	_, cfg := kafkatest.Start(tb)
	b := Broker{Config: cfg, Log: kafkatest.Logger(tb), Pub: kafkatest.Producer(tb, cfg)}
	for _, rc := range relays {
		kafkatest.Relay(tb, pool, b.Pub, rc)
	}
	return b
}

// Consume runs a member of g on the broker until the test ends; g.Log, if
// unset, is the test's.
func (b Broker) Consume(tb testing.TB, g kafka.Group) {
	tb.Helper()
	if g.Log == nil {
		g.Log = b.Log
	}
	kafkatest.Go(tb, func(ctx context.Context) error { return kafka.Consume(ctx, b.Config, g) })
}

// Messages are the messages now on topic.
func (b Broker) Messages(tb testing.TB, topic string) []kafkatest.Message {
	tb.Helper()
	return kafkatest.Messages(tb, b.Config, topic)
}

// Redeliver publishes m again, as a relay or the broker may (at least once).
func (b Broker) Redeliver(tb testing.TB, m kafkatest.Message) {
	tb.Helper()
	if err := b.Pub.Publish(context.Background(), broker.Publication{Topic: m.Topic, Key: m.Key, Value: m.Value}); err != nil {
		tb.Fatal(err)
	}
}

// Count is the integer a query (a count(*), say) answers on pool.
func Count(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Counter is the sum of the counters named name in g, over all their
// labels (0 when there are none).
func Counter(tb testing.TB, g prometheus.Gatherer, name string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
		}
	}
	return sum
}

// Token is an HS256 token of user signed with secret, valid for an hour;
// for user "" it is "", which Call sends as no token.
func Token(tb testing.TB, secret, user string) string {
	tb.Helper()
	if user == "" {
		return ""
	}
	tok, err := auth.IssueHS256(secret, user, "", "", time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// Verifier verifies the tokens signed with secret.
func Verifier(tb testing.TB, secret string) *auth.Verifier {
	tb.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// Call sends method url with token as its bearer ("" sends none) and
// returns the status and body. A body that is a string is sent as it is,
// any other non-nil one as JSON; either way as application/json.
func Call(tb testing.TB, method, url, token string, body any) (int, []byte) {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, r)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, b
}

// Get is what GET url answers with token as its bearer ("" sends none),
// decoded from JSON; it fails the test unless the answer is a 200.
func Get[T any](tb testing.TB, url, token string) T {
	tb.Helper()
	status, b := Call(tb, http.MethodGet, url, token, nil)
	if status != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", url, status, b)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("GET %s: decode %s: %v", url, b, err)
	}
	return v
}

// Document is the service's OpenAPI document, openapi.json in the test's
// folder (the package's).
func Document(tb testing.TB) *apidoc.Doc {
	tb.Helper()
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		tb.Fatal(err)
	}
	return apidoc.Load(tb, b)
}

// Pages walks a cursor-paged list of limit items a page: page fetches the
// page that query (limit=… and, after the first, &cursor=…) asks for and
// returns its items and the next cursor (nil on the last page). It fails
// the test on a page of more than limit items, an item (by its id) on two
// pages or a walk of more than maxPages, and returns the ids seen.
func Pages[T any](tb testing.TB, limit, maxPages int, page func(query string) ([]T, *string), id func(T) string) map[string]bool {
	tb.Helper()
	seen := map[string]bool{}
	q := "limit=" + strconv.Itoa(limit)
	for pages := 1; ; pages++ {
		items, next := page(q)
		if len(items) > limit {
			tb.Fatalf("page of %d items with %s", len(items), q)
		}
		for _, it := range items {
			if seen[id(it)] {
				tb.Errorf("%s on two pages", id(it))
			}
			seen[id(it)] = true
		}
		if next == nil {
			return seen
		}
		if pages >= maxPages {
			tb.Fatalf("pagination does not end within %d pages", maxPages)
		}
		q = "limit=" + strconv.Itoa(limit) + "&cursor=" + url.QueryEscape(*next)
	}
}

// FreeAddr is a loopback address that was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Buffer is a bytes.Buffer safe for a service's goroutines: what it prints.
type Buffer struct {
	// Max, if set, is how much it keeps: later writes are dropped (and
	// still reported written).
	Max int
	mu  sync.Mutex
	b   bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Max > 0 && s.b.Len() >= s.Max {
		return len(p), nil
	}
	return s.b.Write(p)
}

// Reset empties the buffer.
func (s *Buffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RunFunc is a service's Run: what its main calls.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Migrate runs `name migrate` twice (the second must change nothing) on a
// fresh database with env (DATABASE_URL set to it) and returns a pool on
// that database, closed when the test ends.
func Migrate(tb testing.TB, run RunFunc, name string, env map[string]string) *pgxpool.Pool {
	tb.Helper()
	u := dbtest.URL(tb)
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return u
		}
		return env[k]
	}
	for range 2 {
		if err := run(context.Background(), []string{name, "migrate"}, getenv, io.Discard, io.Discard); err != nil {
			tb.Fatal(err)
		}
	}
	pool, err := database.Connect(context.Background(), u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

package realtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/todo-platform/todo/services/realtime"
)

// TestConfigFromEnv: realtime needs no database; bad values are refused
// naming their variable; defaults fill the rest.
func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	base := map[string]string{"JWT_SECRET": jwtSecret, "KAFKA_BROKERS": "127.0.0.1:9092"}
	get := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	c, err := realtime.ConfigFromEnv(get(nil))
	if err != nil {
		t.Fatalf("no DATABASE_URL: %v", err)
	}
	o := c.Options
	if c.Addr != ":8080" || o.MaxConnsPerUser != 20 || o.SendQueue != 256 || o.ReplaySize != 4096 || o.ReadLimit != 8192 ||
		o.AuthTimeout != 10*time.Second || o.PingInterval != 30*time.Second || len(o.AllowedOrigins) == 0 {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = realtime.ConfigFromEnv(get(map[string]string{"REALTIME_ALLOWED_ORIGINS": " app.example.com , https://*.example.org ", "EVENTS_TRANSPORT": "dapr", "DAPR_PUBSUB": "rt"}))
	if err != nil || len(c.Options.AllowedOrigins) != 2 || c.Options.AllowedOrigins[1] != "https://*.example.org" || c.Events.Dapr.PubSub != "rt" {
		t.Fatalf("origins and dapr: %+v %v", c, err)
	}
	for name, value := range map[string]string{
		"JWT_SECRET": "", "REALTIME_SEND_QUEUE": "0", "REALTIME_MAX_CONNS_PER_USER": "many", "REALTIME_READ_LIMIT": "10",
		"REALTIME_PING_INTERVAL": "soon", "EVENTS_TRANSPORT": "carrier-pigeon", "LOG_LEVEL": "loud",
	} {
		_, err := realtime.ConfigFromEnv(get(map[string]string{name: value}))
		if err == nil {
			t.Errorf("%s=%q accepted", name, value)
			continue
		}
		if name != "JWT_SECRET" && !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v does not name the variable", name, value, err)
		}
	}
}

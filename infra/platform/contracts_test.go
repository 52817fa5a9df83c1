package platform

import (
	"slices"
	"testing"

	"github.com/todo-platform/todo/infra/apps"
	"github.com/todo-platform/todo/infra/kafka"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/services/audit"
	"github.com/todo-platform/todo/services/notifier"
	"github.com/todo-platform/todo/services/realtime"
	"github.com/todo-platform/todo/services/recurring"
)

// TestTopicsAreTheServices: the deployment creates the topics the services
// publish to and read (pkg/events), and each service's subscriptions (its
// Dapr Subscriptions and network rules) are the topics it consumes. The
// names are written twice, in infra/kafka and pkg/events: this test is the
// one link between the copies.
func TestTopicsAreTheServices(t *testing.T) {
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if got, want := sorted(kafka.Topics), sorted(events.Topics()); !slices.Equal(got, want) {
		t.Errorf("infra/kafka creates %v; the services use %v", got, want)
	}
	consumes := map[string][]string{
		"taskapi": nil, "recurring": recurring.Topics, "notifier": notifier.Topics,
		"audit": audit.Topics, "realtime": realtime.Topics,
	}
	for _, svc := range apps.Catalog {
		want, ok := consumes[svc.Name]
		if !ok {
			t.Errorf("%s: a service this test does not know", svc.Name)
			continue
		}
		if got := sorted(svc.Subscribes); !slices.Equal(got, sorted(want)) {
			t.Errorf("%s: the catalog subscribes it to %v; it consumes %v", svc.Name, got, want)
		}
	}
}

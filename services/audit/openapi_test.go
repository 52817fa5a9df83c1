package audit_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/todo-platform/todo/pkg/kafka/kafkatest"
	"github.com/todo-platform/todo/pkg/servicetest"
	"github.com/todo-platform/todo/services/audit"
)

// TestOpenAPICoversRouter: the router serves exactly the operations the
// document describes. Every service with a document has this test, alike
// but for the service: each proves its own document against its own router.
func TestOpenAPICoversRouter(t *testing.T) {
	t.Parallel()
	h := audit.NewServer(audit.Deps{Store: audit.NewStore(nil), Log: kafkatest.Logger(t), Registry: prometheus.NewRegistry()})
	servicetest.Document(t).CoversRouter(t, h)
}

// TestResponsesMatchOpenAPI: the document is served without a token, and
// the list's answers (a page, a bad query, no token) match it.
func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	v := setup(t)
	d := servicetest.Document(t)
	status, served := servicetest.Call(t, http.MethodGet, v.api.URL+audit.OpenAPIPath, "", nil)
	d.Response(t, http.MethodGet, audit.OpenAPIPath, status, served)
	if b, _ := os.ReadFile("openapi.json"); status != http.StatusOK || string(served) != string(b) {
		t.Errorf("the served document (%d) is not openapi.json", status)
	}

	v.create(t, "alice", "file the taxes")
	servicetest.Eventually(t, "the event audited", func() bool { return v.entries(t) == 1 })
	for _, c := range []struct {
		user, query string
		want        int
	}{
		{"alice", "", http.StatusOK},
		{"alice", "limit=1", http.StatusOK},
		{"bob", "", http.StatusOK},
		{"alice", "limit=0&colour=red", http.StatusBadRequest},
		{"", "", http.StatusUnauthorized},
	} {
		status, b := v.get(t, c.user, c.query)
		if status != c.want {
			t.Errorf("?%s as %q: %d %s, want %d", c.query, c.user, status, b, c.want)
		}
		d.Response(t, http.MethodGet, "/api/v1/audit", status, b)
	}
}

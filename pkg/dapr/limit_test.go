package dapr

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/todo-platform/todo/pkg/broker"
)

// TestDeliveryBodyLimit sends deliveries larger than the limit: they are
// dropped unread, never handed to Process, and a body within it still is.
func TestDeliveryBodyLimit(t *testing.T) {
	t.Parallel()
	var processed int
	s := &Subscriber{Topics: []string{"task-events"}, Process: func(context.Context, broker.Delivery) error {
		processed++
		return nil
	}}
	post := func(body string) string {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, EventsPrefix+"task-events", strings.NewReader(body))
		req.ContentLength = -1 // as a chunked body: the limit must hold while reading
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var a struct{ Status string }
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		return a.Status
	}
	huge := `{"id":"e1","data":"` + strings.Repeat("x", DefaultMaxBody) + `"}`
	if st := post(huge); st != string(StatusDrop) || processed != 0 {
		t.Fatalf("a %d-byte delivery: %s, processed %d times; want DROP, unprocessed", len(huge), st, processed)
	}
	s.MaxBody = 64
	if st := post(`{"id":"e2","data":"` + strings.Repeat("y", 64) + `"}`); st != string(StatusDrop) || processed != 0 {
		t.Fatalf("over MaxBody: %s, processed %d times", st, processed)
	}
	if st := post(`{"id":"e3"}`); st != string(StatusSuccess) || processed != 1 {
		t.Fatalf("within MaxBody: %s, processed %d times", st, processed)
	}
}

package local_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// span is one span as an OTLP receiver got it.
type span struct {
	service, name      string
	trace, id, parent  string
	kind               tracepb.Span_SpanKind
	attrs              map[string]string
	connectionsPushed  int64
	hasConnectionsAttr bool
}

// otlpReceiver is an in-process OTLP/HTTP trace receiver: it decodes each
// export request (protobuf) and keeps the spans.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf POST to /v1/traces", http.StatusBadRequest)
			return
		}
		b, err := io.ReadAll(req.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &msg)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, rs := range msg.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					sp := span{
						service: service, name: s.GetName(), kind: s.GetKind(), attrs: map[string]string{},
						trace: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()), parent: hex.EncodeToString(s.GetParentSpanId()),
					}
					for _, a := range s.GetAttributes() {
						sp.attrs[a.GetKey()] = a.GetValue().GetStringValue()
						if a.GetKey() == "realtime.connections" {
							sp.connectionsPushed, sp.hasConnectionsAttr = a.GetValue().GetIntValue(), true
						}
					}
					r.spans = append(r.spans, sp)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	t.Cleanup(r.Close)
	return r
}

// of returns the spans of trace.
func (r *otlpReceiver) of(trace string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if s.trace == trace {
			out = append(out, s)
		}
	}
	return out
}

// TestTraceOfATaskCreation runs the local platform with traces exported to
// an in-process OTLP receiver, creates a task with a traceparent of the
// test's own, and checks the shape of the trace: the API call continues
// the test's span; the relay's publish is a child of the API call; the
// handling by audit, recurring and the notifier and realtime's push to the
// open socket are children of the publish, all in the one trace.
func TestTraceOfATaskCreation(t *testing.T) {
	recv := newOTLPReceiver(t)
	// Read by the SDK's batch processor from the process environment.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	up := startUp(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL, "OTEL_SERVICE_NAME": ""})
	token, taskAddr, realtimeAddr := up.token, up.env["TASKAPI_ADDR"], up.env["REALTIME_ADDR"]

	// Alice's open socket, which must get the push.
	wsCtx, wsCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wsCancel()
	ws := up.dial(t, realtimeAddr)
	defer ws.CloseNow()
	for { // the socket is live once it says so
		var m struct{ Type string }
		if err := wsjson.Read(wsCtx, ws, &m); err != nil {
			t.Fatalf("socket: %v", err)
		}
		if m.Type == "ready" {
			break
		}
	}

	// The caller's own span: the trace must continue it.
	traceID, callerSpan := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+taskAddr+"/api/v1/tasks",
		strings.NewReader(`{"title":"traced","recurrence":{"rule":"FREQ=DAILY"},"due_at":"2030-01-02T09:00:00Z","reminders":[{"before":"1h"}]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", fmt.Sprintf("00-%s-%s-01", traceID, callerSpan))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, body)
	}

	// Wait for every expected span: the shape below names them.
	want := []struct{ service, name string }{
		{"taskapi", "POST /api/v1/tasks"},
		{"taskapi", "publish task-events"},
		{"audit", "process task-events"},
		{"recurring", "process task-events"},
		{"notifier", "process task-events"},
		{"realtime", "push task-events"},
	}
	find := func(spans []span, service, name string) *span {
		for i := range spans {
			if spans[i].service == service && spans[i].name == name {
				return &spans[i]
			}
		}
		return nil
	}
	var spans []span
	for deadline := time.Now().Add(time.Minute); ; {
		spans = recv.of(traceID)
		missing := 0
		for _, w := range want {
			if find(spans, w.service, w.name) == nil {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			var got []string
			for _, s := range spans {
				got = append(got, s.service+": "+s.name)
			}
			sort.Strings(got)
			t.Fatalf("after a minute, %d of the trace's spans are missing; it has: %v", missing, got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	api := find(spans, "taskapi", "POST /api/v1/tasks")
	if api.parent != callerSpan || api.kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("the API span: parent %s, kind %v; want the caller's %s, a server span", api.parent, api.kind, callerSpan)
	}
	publish := find(spans, "taskapi", "publish task-events")
	if publish.parent != api.id || publish.kind != tracepb.Span_SPAN_KIND_PRODUCER {
		t.Errorf("the publish span: parent %s, kind %v; want the API span %s, a producer span", publish.parent, publish.kind, api.id)
	}
	for _, w := range want[2:] {
		s := find(spans, w.service, w.name)
		if s.parent != publish.id || s.kind != tracepb.Span_SPAN_KIND_CONSUMER {
			t.Errorf("%s %q: parent %s, kind %v; want the publish span %s, a consumer span", w.service, w.name, s.parent, s.kind, publish.id)
		}
		if s.attrs["cloudevents.event_type"] != "todo.task.created.v1" {
			t.Errorf("%s %q: event type %q", w.service, w.name, s.attrs["cloudevents.event_type"])
		}
	}
	if push := find(spans, "realtime", "push task-events"); !push.hasConnectionsAttr || push.connectionsPushed != 1 {
		t.Errorf("realtime's push reached %d connections, want alice's one", push.connectionsPushed)
	}
}

package tracing_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/pkg/tracing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want tracing.Config
		err  string
	}{
		{"unset: off", nil, tracing.Config{Protocol: "http/protobuf"}, ""},
		{"base endpoint, http", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			tracing.Config{Endpoint: "http://collector:4318/v1/traces", Protocol: "http/protobuf"}, ""},
		{"base endpoint, grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			tracing.Config{Endpoint: "http://collector:4317", Protocol: "grpc"}, ""},
		{"traces endpoint wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/otlp/v1/traces"},
			tracing.Config{Endpoint: "https://b/otlp/v1/traces", Protocol: "http/protobuf"}, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_TRACES_EXPORTER": "none"}, tracing.Config{}, ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_SDK_DISABLED": "true"}, tracing.Config{}, ""},
		{"service name", map[string]string{"OTEL_SERVICE_NAME": "api-eu"}, tracing.Config{Protocol: "http/protobuf", ServiceName: "api-eu"}, ""},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, tracing.Config{}, "OTEL_TRACES_EXPORTER"},
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, tracing.Config{}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"endpoint without scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, tracing.Config{}, "http:// or https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tracing.ConfigFromEnv(env(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || c != tc.want {
				t.Fatalf("got %+v, %v; want %+v", c, err, tc.want)
			}
			if c.On() != (c.Endpoint != "") {
				t.Error("On() disagrees with the endpoint")
			}
		})
	}
}

// TestEventTrace: an event written under a span carries its trace context
// as CloudEvents extensions; a message's headers win over them; an event
// written without a span carries none.
func TestEventTrace(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	if !tracing.On(tp) || tracing.On(tracing.Off()) || tracing.On(tracing.Off().TracerProvider) {
		t.Fatal("On() does not tell a recording provider from a no-op one")
	}
	ctx, span := tp.Tracer("test").Start(context.Background(), "write")
	defer span.End()
	mk := func() events.Event {
		e, err := events.NewTaskEvent("test", events.TypeTaskCreated, task.Snapshot{ID: "0b5e1c4e-8a5b-4f0e-9d7e-3f4a2b1c0d9e", OwnerID: "alice"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	e := mk()
	tracing.WithEventTrace(ctx, &e)
	h := tracing.EventHeaders(nil, e)
	got := trace.SpanContextFromContext(tracing.Extract(context.Background(), h))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("the event's trace context %v is not the writer's span %v", got, span.SpanContext())
	}

	_, other := tp.Tracer("test").Start(context.Background(), "publish")
	defer other.End()
	headers := map[string]string{}
	tracing.Inject(trace.ContextWithSpan(context.Background(), other), headers)
	got = trace.SpanContextFromContext(tracing.Extract(context.Background(), tracing.EventHeaders(headers, e)))
	if got.SpanID() != other.SpanContext().SpanID() {
		t.Error("the message's headers did not win over the event's extensions")
	}

	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if got := trace.SpanContextFromContext(tracing.ExtractJSON(context.Background(), raw)); got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("ExtractJSON of the written event: %v, want the writer's span", got)
	}

	plain := mk()
	tracing.WithEventTrace(context.Background(), &plain)
	if _, ok := plain.Extensions()[tracing.ExtTraceparent]; ok {
		t.Error("an event written without a span carries a traceparent")
	}
}

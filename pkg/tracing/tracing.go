// Package tracing gives each service an OpenTelemetry tracer provider set
// up from the standard OTEL_* variables, and carries the W3C trace context
// across the event path: from the API request into the outbox row (the
// CloudEvents distributed-tracing extension, traceparent and tracestate),
// from the relay into the message headers, and from a delivery into the
// consumer's span. One trace then shows a task's creation from the API call
// to every consumer's handling and the WebSocket push.
//
// Tracing is off (a no-op provider, nothing exported, nothing added to
// events) unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT is set; OTEL_TRACES_EXPORTER=none or
// OTEL_SDK_DISABLED=true turn it off again. OTEL_EXPORTER_OTLP_PROTOCOL
// (or its _TRACES_ form) picks http/protobuf (the default) or grpc;
// OTEL_TRACES_SAMPLER and its argument, OTEL_EXPORTER_OTLP_HEADERS and the
// other variables of the specification are read by the SDK and exporters
// themselves. OTEL_SERVICE_NAME overrides the service's name.
package tracing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/todo-platform/todo/pkg/events"
)

// Config is the tracing configuration read from the environment.
type Config struct {
	Endpoint    string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces (http)
	Protocol    string // http/protobuf (default) or grpc
	ServiceName string // OTEL_SERVICE_NAME; empty: the service's own name
}

// On reports whether traces are exported.
func (c Config) On() bool { return c.Endpoint != "" }

// ConfigFromEnv reads the configuration, naming the variable of a bad
// value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{ServiceName: getenv("OTEL_SERVICE_NAME")}
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return c, nil
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); v {
	case "", "otlp":
	case "none":
		return c, nil
	default:
		return c, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp or none", v)
	}
	c.Protocol = getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if c.Protocol == "" {
		c.Protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch c.Protocol {
	case "":
		c.Protocol = "http/protobuf"
	case "http/protobuf", "grpc":
	default:
		return c, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", c.Protocol)
	}
	c.Endpoint = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); c.Endpoint == "" && base != "" {
		c.Endpoint = base
		if c.Protocol == "http/protobuf" {
			c.Endpoint = strings.TrimRight(base, "/") + "/v1/traces"
		}
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		return c, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%q: want an http:// or https:// URL", c.Endpoint)
	}
	return c, nil
}

// Provider is a service's tracer provider and its shutdown, which exports
// what is left.
type Provider struct {
	trace.TracerProvider
	Shutdown func(context.Context) error
}

// New returns the tracer provider of the service name: exporting over OTLP
// when c is on, a no-op one otherwise.
func New(ctx context.Context, c Config, name string) (*Provider, error) {
	if !c.On() {
		return Off(), nil
	}
	var exp sdktrace.SpanExporter
	var err error
	if c.Protocol == "grpc" {
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(c.Endpoint))
	} else {
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.Endpoint))
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter for %s: %w", c.Endpoint, err)
	}
	if c.ServiceName != "" {
		name = c.ServiceName
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", name)))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Provider{TracerProvider: tp, Shutdown: tp.Shutdown}, nil
}

// Off is the provider of a service that does not trace.
func Off() *Provider {
	return &Provider{TracerProvider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil }}
}

// On reports whether tp records spans (it is not a no-op provider).
func On(tp trace.TracerProvider) bool {
	if p, ok := tp.(*Provider); ok {
		tp = p.TracerProvider
	}
	_, off := tp.(noop.TracerProvider)
	return tp != nil && !off
}

// propagator is the W3C trace context, the one format every hop speaks.
var propagator = propagation.TraceContext{}

// Inject writes the span context of ctx into headers (traceparent and, when
// there is one, tracestate); nothing when ctx has no valid span.
func Inject(ctx context.Context, headers map[string]string) {
	propagator.Inject(ctx, propagation.MapCarrier(headers))
}

// Extract returns ctx carrying the remote span context in headers, if any.
func Extract(ctx context.Context, headers map[string]string) context.Context {
	return propagator.Extract(ctx, propagation.MapCarrier(headers))
}

// HTTP wraps a service's handler: each request starts a server span, or
// continues the trace of its traceparent header.
func HTTP(tp trace.TracerProvider, service string, h http.Handler) http.Handler {
	if !On(tp) {
		return h
	}
	return otelhttp.NewHandler(h, service,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
}

// NameRoute is chi middleware that names the request's span after the
// route that served it ("POST /api/v1/tasks"), once routing is done.
func NameRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		span := trace.SpanFromContext(r.Context())
		if !span.IsRecording() {
			return
		}
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			span.SetName(r.Method + " " + rc.RoutePattern())
		}
	})
}

// End ends span, recording err (if any) as its status.
func End(span trace.Span, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Tracer is the tracer of this module's instrumentation on tp.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer("github.com/todo-platform/todo")
}

// The CloudEvents distributed-tracing extension's attributes.
const (
	ExtTraceparent = "traceparent"
	ExtTracestate  = "tracestate"
)

// WithEventTrace sets e's traceparent and tracestate extensions to the span
// context of ctx; it leaves e alone when ctx has no valid span.
func WithEventTrace(ctx context.Context, e *events.Event) {
	h := map[string]string{}
	Inject(ctx, h)
	for _, k := range []string{ExtTraceparent, ExtTracestate} {
		if v := h[k]; v != "" {
			e.SetExtension(k, v)
		}
	}
}

// ExtractJSON returns ctx carrying the trace context of a CloudEvent in its
// JSON form (the outbox row), read without decoding the rest of the event.
func ExtractJSON(ctx context.Context, event []byte) context.Context {
	var ext struct {
		Traceparent string `json:"traceparent"`
		Tracestate  string `json:"tracestate"`
	}
	if json.Unmarshal(event, &ext) != nil || ext.Traceparent == "" {
		return ctx
	}
	return Extract(ctx, map[string]string{ExtTraceparent: ext.Traceparent, ExtTracestate: ext.Tracestate})
}

// EventHeaders returns the trace context of a message: its traceparent and
// tracestate headers when it has them (what the relay set), else those of
// its CloudEvents extensions (what the writer set).
func EventHeaders(headers map[string]string, e events.Event) map[string]string {
	if headers[ExtTraceparent] != "" {
		return headers
	}
	h := map[string]string{}
	for _, k := range []string{ExtTraceparent, ExtTracestate} {
		if v, ok := e.Extensions()[k].(string); ok {
			h[k] = v
		}
	}
	return h
}

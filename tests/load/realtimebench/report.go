package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Goals of the benchmark.
const (
	goalConns       = 50_000
	goalBytesPerCon = 20 << 10
	goalP99ms       = 25.0
)

type fanoutStats struct {
	Samples      int     `json:"samples"`
	Lost         int     `json:"lost"`
	ConnsPerUser int     `json:"conns_per_user"`
	First        summary `json:"publish_to_first_conn"`
	Last         summary `json:"publish_to_every_conn"`
}

type latencyStats struct {
	Rate             float64 `json:"rate_per_s"`
	Seconds          float64 `json:"seconds"`
	Tasks            int     `json:"tasks"`
	Errors           int     `json:"errors"`
	Deliveries       int     `json:"deliveries"`
	Missing          int     `json:"missing_deliveries"`
	CommitToClient   summary `json:"commit_to_client"`
	CommitToLastConn summary `json:"commit_to_last_conn_of_user"`
	RequestToClient  summary `json:"request_start_to_client"`
	PublishToClient  summary `json:"kafka_publish_to_client"`
	API              summary `json:"api_create"`
}

type report struct {
	Started                 string       `json:"started"`
	GOMAXPROCS              int          `json:"gomaxprocs"`
	NumCPU                  int          `json:"num_cpu"`
	GoVersion               string       `json:"go_version"`
	FileLimit               uint64       `json:"rlimit_nofile"`
	Server                  string       `json:"server"`
	Broker                  string       `json:"broker"`
	Database                string       `json:"database"`
	SourceAddresses         int          `json:"source_addresses"`
	Connections             int          `json:"connections"`
	ConnectSeconds          float64      `json:"connect_seconds"`
	ConnectFailures         int64        `json:"connect_failures"`
	ConnectFirstError       string       `json:"connect_first_error,omitempty"`
	ServerBefore            childMemory  `json:"server_before"`
	ServerAfter             childMemory  `json:"server_after"`
	ServerRSSPerConn        float64      `json:"server_rss_bytes_per_conn"`
	ServerHeapPerConn       float64      `json:"server_heap_and_stack_bytes_per_conn"`
	ServerGoroutinesPerConn float64      `json:"server_goroutines_per_conn"`
	ClientBytesPerConn      float64      `json:"client_heap_and_stack_bytes_per_conn"`
	Fanout                  fanoutStats  `json:"fanout"`
	Latency                 latencyStats `json:"latency"`
	clientBytes             int64
}

func (r *report) print(w io.Writer) {
	kb := func(b float64) string { return fmt.Sprintf("%.1f KB", b/1024) }
	mb := func(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
	fmt.Fprintf(w, "realtimebench %s — GOMAXPROCS %d, %d CPUs, %s, RLIMIT_NOFILE %d\n", r.Started, r.GOMAXPROCS, r.NumCPU, r.GoVersion, r.FileLimit)
	fmt.Fprintf(w, "server:   %s\nbroker:   %s\ndatabase: %s\n\n", r.Server, r.Broker, r.Database)
	fmt.Fprintf(w, "connections: %d open (%d source addresses) in %.1fs, %d failed  [goal ≥ %d: %s]\n",
		r.Connections, r.SourceAddresses, r.ConnectSeconds, r.ConnectFailures, goalConns, passMiss(r.Connections >= goalConns))
	if r.ConnectFirstError != "" {
		fmt.Fprintf(w, "  first failure: %s\n", r.ConnectFirstError)
	}
	fmt.Fprintf(w, "\nmemory per idle connection (server, after GC):\n")
	fmt.Fprintf(w, "  RSS           %s → %s: %s per connection  [goal ≤ 20 KB: %s]\n", mb(r.ServerBefore.RSS), mb(r.ServerAfter.RSS), kb(r.ServerRSSPerConn), passMiss(r.ServerRSSPerConn <= goalBytesPerCon))
	fmt.Fprintf(w, "  heap + stacks %s → %s: %s per connection\n", mb(r.ServerBefore.HeapInuse+r.ServerBefore.StackInuse), mb(r.ServerAfter.HeapInuse+r.ServerAfter.StackInuse), kb(r.ServerHeapPerConn))
	fmt.Fprintf(w, "    of which stacks %s → %s: %s per connection\n", mb(r.ServerBefore.StackInuse), mb(r.ServerAfter.StackInuse), kb(float64(r.ServerAfter.StackInuse-r.ServerBefore.StackInuse)/float64(max(r.Connections, 1))))
	fmt.Fprintf(w, "  goroutines    %d → %d: %.2f per connection\n", r.ServerBefore.Goroutines, r.ServerAfter.Goroutines, r.ServerGoroutinesPerConn)
	fmt.Fprintf(w, "  client side (the client processes, heap + stacks): %s per connection, not counted above\n", kb(r.ClientBytesPerConn))
	f := r.Fanout
	fmt.Fprintf(w, "\nfan-out: one event published to Kafka for a user with %d connections, %d samples (%d lost)\n", f.ConnsPerUser, f.Samples, f.Lost)
	fmt.Fprintf(w, "  to the first connection  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", f.First.P50, f.First.P99, f.First.Max)
	fmt.Fprintf(w, "  to every connection      p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", f.Last.P50, f.Last.P99, f.Last.Max)
	l := r.Latency
	fmt.Fprintf(w, "\ncommit → client under load: %.0f task creations/s over HTTP for %.0fs: %d tasks (%d errors), %d deliveries (%d missing)\n",
		l.Rate, l.Seconds, l.Tasks, l.Errors, l.Deliveries, l.Missing)
	fmt.Fprintf(w, "  commit → socket (every delivery)       p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  [goal p99 ≤ 25 ms: %s]\n",
		l.CommitToClient.P50, l.CommitToClient.P90, l.CommitToClient.P99, l.CommitToClient.Max, passMiss(l.CommitToClient.N > 0 && l.CommitToClient.P99 <= goalP99ms))
	fmt.Fprintf(w, "  commit → last socket of the user       p50 %.2f ms  p99 %.2f ms\n", l.CommitToLastConn.P50, l.CommitToLastConn.P99)
	fmt.Fprintf(w, "  request start → socket                 p50 %.2f ms  p99 %.2f ms\n", l.RequestToClient.P50, l.RequestToClient.P99)
	fmt.Fprintf(w, "  the API's create (request → response)  p50 %.2f ms  p99 %.2f ms\n", l.API.P50, l.API.P99)
	fmt.Fprintf(w, "  stage Kafka publish → socket, same load (10 events/s straight to Kafka)  p50 %.2f ms  p99 %.2f ms  max %.2f ms  (n %d)\n",
		l.PublishToClient.P50, l.PublishToClient.P99, l.PublishToClient.Max, l.PublishToClient.N)
	fmt.Fprintf(w, "  (commit = the 201 response's arrival at the client, just after the commit)\n")
}

func passMiss(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

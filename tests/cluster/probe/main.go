// Command probe tells which addresses a pod can reach: for each argument,
// tcp://host:port (a TCP connection) or http://host:port/path (a GET), it
// prints one JSON line {"target", "reached", "status", "error"} and exits
// 0. -delay waits first (a network policy controller filters a new pod's
// traffic only once it has seen the pod's address). The local cluster ships
// it as an image for network policy checks.
//
//	probe -delay 5s tcp://198.18.0.1:5432 http://taskapi.todo:8080/readyz
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

type result struct {
	Target  string `json:"target"`
	Reached bool   `json:"reached"`
	Status  int    `json:"status,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	delay := flag.Duration("delay", 0, "wait this long before probing")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: probe [-delay d] tcp://host:port|http://host:port/path ...")
		os.Exit(2)
	}
	time.Sleep(*delay)
	enc := json.NewEncoder(os.Stdout)
	for _, target := range flag.Args() {
		_ = enc.Encode(probe(target))
	}
}

func probe(target string) result {
	r := result{Target: target}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	switch {
	case strings.HasPrefix(target, "tcp://"):
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(target, "tcp://"))
		if err != nil {
			r.Error = err.Error()
			return r
		}
		_ = conn.Close()
		r.Reached = true
	case strings.HasPrefix(target, "http://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		_ = resp.Body.Close()
		r.Reached, r.Status = true, resp.StatusCode
	default:
		r.Error = "unknown scheme (want tcp:// or http://)"
	}
	return r
}

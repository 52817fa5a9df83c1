package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/task"
)

// measureMemory reads the server's memory before (taken in setup's wake:
// the server has started, no connection yet) and after the connections.
func (b *bench) measureMemory(ctx context.Context) error {
	after, err := b.serverMemory(ctx)
	if err != nil {
		return err
	}
	b.rep.ServerAfter = after
	n := float64(b.rep.Connections)
	b.rep.ServerRSSPerConn = float64(after.RSS-b.rep.ServerBefore.RSS) / n
	b.rep.ServerHeapPerConn = float64(after.HeapInuse+after.StackInuse-b.rep.ServerBefore.HeapInuse-b.rep.ServerBefore.StackInuse) / n
	b.rep.ServerGoroutinesPerConn = float64(after.Goroutines-b.rep.ServerBefore.Goroutines) / n
	b.logf("server: RSS %.1f KB/conn, heap+stacks %.1f KB/conn, %.2f goroutines/conn",
		b.rep.ServerRSSPerConn/1024, b.rep.ServerHeapPerConn/1024, b.rep.ServerGoroutinesPerConn)
	return nil
}

// measureFanout publishes one event at a time for an active user and waits
// for it on every connection of that user.
func (b *bench) measureFanout(ctx context.Context) error {
	var first, last []time.Duration
	lost := 0
	for i := 0; i < b.cfg.fanout && ctx.Err() == nil; i++ {
		ui := i % b.cfg.activeUsers
		title := fmt.Sprintf("fanout-%d", i)
		s, err := b.publishDirect(ctx, ui, title)
		if err != nil {
			return err
		}
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			lost++
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		b.track.mu.Lock()
		arr := slices.Clone(s.arrivals)
		b.track.mu.Unlock()
		slices.SortFunc(arr, func(a, b time.Time) int { return a.Compare(b) })
		first = append(first, arr[0].Sub(s.sent))
		last = append(last, arr[len(arr)-1].Sub(s.sent))
	}
	b.rep.Fanout = fanoutStats{
		Samples: len(last), Lost: lost, ConnsPerUser: b.expected(0),
		First: summarize(first), Last: summarize(last),
	}
	return nil
}

// measureLatency creates tasks over HTTP at -rate (open loop: each request
// starts on the clock, in its own goroutine) for the active users, and
// records, for every delivery to every connection of the owner, the time
// from the commit to the arrival. The commit is taken as the moment the
// client has taskapi's 201 response, which comes after the commit: the
// figure is short of the true delay by the response's way back (well under a
// millisecond on loopback), and an event may even beat the response (a
// negative figure). The time from the request's start is reported too.
func (b *bench) measureLatency(ctx context.Context) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	var (
		mu       sync.Mutex
		apiLat   []time.Duration
		errs     int
		measured []*sample
		wg       sync.WaitGroup
	)
	interval := time.Duration(float64(time.Second) / b.cfg.rate)
	start := time.Now()
	measureFrom := start.Add(b.cfg.warmup)
	end := measureFrom.Add(b.cfg.duration)
	b.logf("write load: %.0f tasks/s for %s (+%s warm-up)", b.cfg.rate, b.cfg.duration, b.cfg.warmup)
	// Beside the load, events published straight to Kafka (10 per second)
	// time the broker → realtime → socket stage alone, under the same load.
	direct := make(chan []*sample, 1)
	go func() {
		var ss []*sample
		defer func() { direct <- ss }()
		for j := 0; ; j++ {
			at := start.Add(time.Duration(j) * 100 * time.Millisecond)
			if at.After(end) {
				return
			}
			select {
			case <-time.After(time.Until(at)):
			case <-ctx.Done():
				return
			}
			ui := j % b.cfg.activeUsers
			s, err := b.publishDirect(ctx, ui, fmt.Sprintf("direct-%d", j))
			if err != nil {
				b.logf("direct publish: %v", err)
				return
			}
			if !at.Before(measureFrom) {
				ss = append(ss, s)
			}
		}
	}()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.After(end) {
			break
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ui := i % b.cfg.activeUsers
		u := &b.users[ui]
		title := fmt.Sprintf("load-%d", i)
		inWindow := !at.Before(measureFrom)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			s := b.track.add(title, sent, b.expected(ui))
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.apiAddr+"/api/v1/tasks", strings.NewReader(`{"title":"`+title+`"}`))
			req.Header.Set("Authorization", "Bearer "+u.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			ok := err == nil && resp.StatusCode == http.StatusCreated
			if resp != nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if !inWindow {
				return
			}
			if !ok {
				errs++
				return
			}
			now := time.Now()
			apiLat = append(apiLat, now.Sub(sent))
			b.track.mu.Lock()
			s.committed = now
			b.track.mu.Unlock()
			measured = append(measured, s)
		}()
	}
	wg.Wait()
	directSamples := <-direct
	time.Sleep(3 * time.Second) // the last events' way to the sockets
	var all, fromRequest, lastPer []time.Duration
	missing := 0
	b.track.mu.Lock()
	for _, s := range measured {
		for _, a := range s.arrivals {
			all = append(all, a.Sub(s.committed))
			fromRequest = append(fromRequest, a.Sub(s.sent))
		}
		missing += s.want - len(s.arrivals)
		if len(s.arrivals) > 0 {
			lastPer = append(lastPer, slices.MaxFunc(s.arrivals, func(a, b time.Time) int { return a.Compare(b) }).Sub(s.committed))
		}
	}
	var publishToClient []time.Duration
	for _, s := range directSamples {
		for _, a := range s.arrivals {
			publishToClient = append(publishToClient, a.Sub(s.sent))
		}
	}
	b.track.mu.Unlock()
	b.rep.Latency = latencyStats{
		PublishToClient: summarize(publishToClient),
		Rate:            b.cfg.rate, Seconds: b.cfg.duration.Seconds(), Tasks: len(measured), Errors: errs,
		Deliveries: len(all), Missing: missing,
		CommitToClient: summarize(all), CommitToLastConn: summarize(lastPer), RequestToClient: summarize(fromRequest), API: summarize(apiLat),
	}
	return nil
}

// summary is a latency distribution in milliseconds.
type summary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func summarize(d []time.Duration) summary {
	if len(d) == 0 {
		return summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p * float64(len(s)-1))
		return float64(s[i].Microseconds()) / 1000
	}
	return summary{N: len(s), P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: float64(s[len(s)-1].Microseconds()) / 1000}
}

// publishDirect publishes a task event for user ui straight to Kafka, as
// the outbox relay would, and returns its sample (timed from just before
// the publish).
func (b *bench) publishDirect(ctx context.Context, ui int, title string) (*sample, error) {
	u := &b.users[ui]
	e, err := events.NewTaskEvent("/todo/realtimebench", events.TypeTaskUpdated, task.Snapshot{ID: uuid.NewString(), OwnerID: u.id, Title: title}, time.Now())
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	s := b.track.add(title, time.Now(), b.expected(ui))
	return s, b.prod.Publish(ctx, broker.Publication{Topic: events.TopicTaskEvents, Key: u.id, Value: raw, EventID: e.ID()})
}

package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/todo-platform/todo/pkg/broker"
	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/tracing"
)

// Errors of registering a connection.
var (
	errTooManyConnections = errors.New("too many connections for this user")
	errShuttingDown       = errors.New("the service is restarting")
)

// entry is one event in a partition's replay buffer: its offset, its owner
// and the message as sent (with the cursor it was sent with).
type entry struct {
	seq    uint64 // this replica's dispatch order, across partitions
	offset int64
	owner  string
	id     string // the event's id
	msg    []byte // nil: a second copy of an event, kept only to keep the offsets complete
}

// partition is what the hub knows of one partition: the next offset it
// expects and the recent events, a ring complete from offset from up to
// next (every message of the partition in [from, next) is in it).
type partition struct {
	first int64 // the offset this replica started at: it dispatched nothing before
	next  int64
	from  int64
	ring  []entry // circular, cap = replay size
	start int     // index of the oldest entry
	n     int
	ids   map[string]int // event ids in the ring: the relay publishes at least once
}

func (p *partition) push(e entry) {
	if cap(p.ring) == 0 {
		return
	}
	if p.ids == nil {
		p.ids = map[string]int{}
	}
	if e.id != "" {
		p.ids[e.id]++
	}
	if p.n < cap(p.ring) {
		p.ring = append(p.ring, e)
		p.n++
		return
	}
	old := p.ring[p.start]
	if old.id != "" {
		if p.ids[old.id]--; p.ids[old.id] <= 0 {
			delete(p.ids, old.id)
		}
	}
	p.from = old.offset + 1
	p.ring[p.start] = e
	p.start = (p.start + 1) % p.n
}

// seen reports whether the ring holds an event with this id: a second
// copy of an event (the outbox relay publishes at least once: a row whose
// "published" mark was lost is published again, at a new offset).
// An event without an id is never taken for another.
func (p *partition) seen(id string) bool { return id != "" && p.ids[id] > 0 }

// has reports whether the ring holds offset.
func (p *partition) has(offset int64) bool {
	found := false
	p.each(func(e *entry) { found = found || e.offset == offset })
	return found
}

// each calls fn on the entries in offset order.
func (p *partition) each(fn func(e *entry)) {
	for i := 0; i < p.n; i++ {
		fn(&p.ring[(p.start+i)%p.n])
	}
}

// Hub routes events to the connections of their owner and keeps the replay
// buffers. One mutex guards it all: dispatching an event (append to a ring,
// queue to a few connections) is short, and it makes a resume atomic with
// respect to dispatch (a connection gets each event once, replayed or live).
type Hub struct {
	instance   string
	replaySize int
	maxPerUser int
	m          *metrics

	mu       sync.Mutex
	parts    map[position]*partition
	order    []position // parts' keys, sorted
	users    map[string]map[*client]struct{}
	conns    int
	seq      uint64
	localSeq map[string]int64 // per topic, for events without coordinates
	closing  bool
	started  bool
	handlers atomic.Int64         // sockets being served (a counter, not a WaitGroup: new ones may start while Shutdown waits)
	tracer   trace.TracerProvider // nil: no spans (see SetTracer)
}

// SetTracer makes the hub record a span of each event it pushes, in the
// trace the event carries (see pkg/tracing). Call it before the consumer
// starts.
func (h *Hub) SetTracer(tp trace.TracerProvider) {
	if tracing.On(tp) {
		h.tracer = tp
	}
}

// NewHub returns a hub that keeps replaySize events per partition and allows
// maxPerUser connections per user.
func NewHub(replaySize, maxPerUser int, m *metrics) *Hub {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Hub{
		instance:   hex.EncodeToString(b[:]),
		replaySize: replaySize,
		maxPerUser: maxPerUser,
		m:          m,
		parts:      map[position]*partition{},
		users:      map[string]map[*client]struct{}{},
		localSeq:   map[string]int64{},
	}
}

// Started records that reading a partition starts at offset: the next
// message is offset, and nothing before it is in the replay buffer (a
// restart after a gap empties the buffer).
func (h *Hub) Started(topic string, part int32, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.started = true
	pos := position{topic, part}
	p := h.parts[pos]
	if p != nil && p.next == offset {
		return
	}
	h.setPartLocked(pos, &partition{first: offset, next: offset, from: offset, ring: make([]entry, 0, h.replaySize)})
}

// Next is where reading a partition should resume after a failure: the
// next offset not dispatched yet, or -1 when the hub has not read it.
func (h *Hub) Next(topic string, part int32) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.parts[position{topic, part}]; p != nil {
		return p.next
	}
	return -1
}

func (h *Hub) setPartLocked(pos position, p *partition) {
	if _, ok := h.parts[pos]; !ok {
		h.order = append(h.order, pos)
		sortPositions(h.order)
	}
	h.parts[pos] = p
}

// Ready reports whether the hub receives events (Kafka: a partition has
// started; Dapr: always, the sidecar calls when it has some).
func (h *Hub) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started && !h.closing
}

func (h *Hub) markStarted() {
	h.mu.Lock()
	h.started = true
	h.mu.Unlock()
}

// UserConnections is the number of connections of user.
func (h *Hub) UserConnections(user string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.users[user])
}

// wireEvent is the message of an event, as clients receive it.
type wireEvent struct {
	Type    string          `json:"type"` // "event"
	Cursor  string          `json:"cursor"`
	ID      string          `json:"id"`    // the event's id
	Event   string          `json:"event"` // the event's type, e.g. todo.task.created.v1
	Topic   string          `json:"topic"`
	Subject string          `json:"subject,omitempty"` // the task id
	Time    *time.Time      `json:"time,omitempty"`
	Data    json.RawMessage `json:"data"`
}

// Process takes one delivered message (Kafka or Dapr) and dispatches it. A
// message that is not an event, or has no owner, is dropped with an error
// (logged by the transport; nothing else to do with it).
func (h *Hub) Process(ctx context.Context, d broker.Delivery) (err error) {
	e, err := events.Parse(d.Value)
	if err != nil {
		h.m.dropped.WithLabelValues("malformed").Inc()
		return err
	}
	var owner string
	if h.tracer != nil {
		_, span := tracing.Tracer(h.tracer).Start(tracing.Extract(ctx, tracing.EventHeaders(d.Headers, e)), "push "+d.Topic,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.destination.name", d.Topic),
				attribute.String("messaging.message.id", e.ID()),
				attribute.String("cloudevents.event_type", e.Type()),
			))
		defer func() {
			span.SetAttributes(attribute.Int("realtime.connections", h.connsOf(owner)))
			tracing.End(span, err)
		}()
	}
	owner = events.PartitionKey(e)
	if events.IsTaskEvent(e.Type()) {
		if s, err := events.TaskData(e); err == nil {
			owner = s.OwnerID
		}
	}
	if owner == "" {
		owner = string(d.Key)
	}
	if owner == "" {
		h.m.dropped.WithLabelValues("no_owner").Inc()
		return fmt.Errorf("%s: event %s has no owner", d, e.ID())
	}
	data := json.RawMessage(e.Data())
	if len(data) == 0 {
		data = json.RawMessage("null")
	} else if !json.Valid(data) {
		b, _ := json.Marshal(string(data))
		data = b
	}
	w := wireEvent{Type: "event", ID: e.ID(), Event: e.Type(), Topic: d.Topic, Subject: e.Subject(), Data: data}
	if t := e.Time(); !t.IsZero() {
		w.Time = &t
	}
	h.m.received.WithLabelValues(d.Topic).Inc()
	h.dispatch(d.Topic, d.Partition, d.Offset, owner, w)
	return nil
}

// connsOf counts the open connections of user.
func (h *Hub) connsOf(user string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.users[user])
}

// dispatch records the event in its partition's ring and queues it to the
// owner's connections.
func (h *Hub) dispatch(topic string, part int32, offset int64, owner string, w wireEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if part < 0 || offset < 0 {
		part = -1
		offset = h.localSeq[topic]
		h.localSeq[topic]++
	}
	pos := position{topic, part}
	p := h.parts[pos]
	if p == nil {
		// A partition not announced by Started (Dapr): it starts here.
		p = &partition{first: offset, next: offset, from: offset, ring: make([]entry, 0, h.replaySize)}
		h.setPartLocked(pos, p)
		h.started = true
	}
	if offset < p.next {
		if offset >= p.first && (offset < p.from || p.has(offset)) {
			// Delivered again (a sidecar's redelivery): already dispatched
			// (or long ago, out of the buffer: taken as such).
			h.m.dropped.WithLabelValues("duplicate").Inc()
			return
		}
		// Late: a sidecar delivered the partition's messages out of order.
		// Pushed now, but not kept for replay (the buffer is in offset
		// order and cursors have moved past it).
		h.m.dropped.WithLabelValues("late_not_replayable").Inc()
		w.Cursor = h.cursorLocked()
		if msg, err := json.Marshal(w); err == nil {
			for c := range h.users[owner] {
				c.send(msg)
			}
		}
		return
	}
	p.next = offset + 1
	if p.seen(w.ID) {
		// Pushed already; the entry keeps the ring's offsets complete.
		h.m.dropped.WithLabelValues("duplicate_event").Inc()
		p.push(entry{seq: h.seq, offset: offset, owner: owner, id: w.ID})
		return
	}
	h.seq++
	w.Cursor = h.cursorLocked()
	msg, err := json.Marshal(w)
	if err != nil {
		h.m.dropped.WithLabelValues("encode").Inc()
		return
	}
	p.push(entry{seq: h.seq, offset: offset, owner: owner, id: w.ID, msg: msg})
	for c := range h.users[owner] {
		c.send(msg)
	}
}

// cursorLocked is the cursor of everything dispatched so far.
func (h *Hub) cursorLocked() string {
	inst := ""
	next := make(map[position]int64, len(h.parts))
	for pos, p := range h.parts {
		next[pos] = p.next
		if pos.partition < 0 {
			inst = h.instance
		}
	}
	return encodeCursor(inst, h.order, next)
}

// controlMessage is a message of the service itself: ready, resync, pong.
type controlMessage struct {
	Type     string `json:"type"`
	Cursor   string `json:"cursor,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	Replayed *int   `json:"replayed,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

func encodeControl(m controlMessage) []byte {
	b, _ := json.Marshal(m)
	return b
}

// Register adds c to its user's connections and queues what c should get
// first: without a cursor, "ready"; with a cursor the replay buffers cover,
// the user's events since it, in order, then "ready"; with a cursor they do
// not cover (too old, unknown, from a replica-local sequence of another
// replica, or more missed events than c's send queue holds), "resync". Live
// events follow; none is lost or doubled between the replay and them.
func (h *Hub) Register(c *client, cur string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return errShuttingDown
	}
	if len(h.users[c.user]) >= h.maxPerUser {
		return errTooManyConnections
	}
	set := h.users[c.user]
	if set == nil {
		set = map[*client]struct{}{}
		h.users[c.user] = set
	}
	set[c] = struct{}{}
	h.conns++
	h.m.connections.Set(float64(h.conns))

	now := h.cursorLocked()
	if cur == "" {
		c.send(encodeControl(controlMessage{Type: "ready", Cursor: now, UserID: c.user}))
		return nil
	}
	missed, reason := h.missedLocked(c.user, cur, c.maxQueue-1)
	if !h.started {
		// Not reading yet: where this replica will start is unknown, so
		// nothing can be promised about what came after the cursor.
		reason = "this replica is not reading events yet"
	}
	if reason != "" {
		h.m.resumes.WithLabelValues("resync").Inc()
		c.send(encodeControl(controlMessage{Type: "resync", Cursor: now, UserID: c.user, Reason: reason}))
		return nil
	}
	h.m.resumes.WithLabelValues("replayed").Inc()
	h.m.replayed.Add(float64(len(missed)))
	for _, e := range missed {
		c.send(e.msg)
	}
	n := len(missed)
	c.send(encodeControl(controlMessage{Type: "ready", Cursor: now, UserID: c.user, Replayed: &n}))
	return nil
}

// missedLocked returns user's events after cur, in dispatch order, or why
// they cannot be known.
func (h *Hub) missedLocked(user, cur string, limit int) ([]*entry, string) {
	c, err := decodeCursor(cur)
	if err != nil {
		return nil, "unknown cursor"
	}
	var missed []*entry
	for _, pos := range h.order {
		p := h.parts[pos]
		from, ok := c.next[pos]
		switch {
		case pos.partition < 0 && c.instance != h.instance:
			if p.next > p.from || ok {
				return nil, "the cursor is from another replica's local sequence"
			}
			continue
		case !ok:
			// A partition the cursor does not know: anything in it may be
			// the user's.
			if p.next == p.from && p.n == 0 {
				continue // nothing read from it yet
			}
			return nil, "the cursor does not cover every partition"
		case from >= p.next:
			continue // nothing missed (or the cursor is ahead of this replica)
		case from < p.from:
			return nil, "the gap is older than the replay buffer"
		}
		p.each(func(e *entry) {
			if e.offset >= from && e.owner == user && e.msg != nil {
				missed = append(missed, e)
			}
		})
		if len(missed) > limit {
			return nil, "too many missed events"
		}
	}
	slices.SortFunc(missed, func(a, b *entry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return missed, ""
}

// unregister removes c.
func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.users[c.user]
	if _, ok := set[c]; !ok {
		return
	}
	delete(set, c)
	if len(set) == 0 {
		delete(h.users, c.user)
	}
	h.conns--
	h.m.connections.Set(float64(h.conns))
}

// Shutdown closes every connection with 1012 (service restart: reconnect,
// to another replica) and refuses new ones; it waits until their handlers
// are done or ctx ends.
func (h *Hub) Shutdown(ctx context.Context) {
	h.mu.Lock()
	h.closing = true
	var all []*client
	for _, set := range h.users {
		for c := range set {
			all = append(all, c)
		}
	}
	h.mu.Unlock()
	for _, c := range all {
		c.close(CloseServiceRestart, "service restart: reconnect")
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for h.handlers.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

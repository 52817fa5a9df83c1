package realtime_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/todo-platform/todo/pkg/events"
	"github.com/todo-platform/todo/pkg/task"
	"github.com/todo-platform/todo/services/realtime"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
)

// TestEventReachesEveryConnectionOfItsOwnerOnly: two clients of user A and
// one of B; A's change reaches both A clients and never B.
func TestEventReachesEveryConnectionOfItsOwnerOnly(t *testing.T) {
	t.Parallel()
	r, kcfg := kafkaReplica(t)
	pub := newPublisher(t, kcfg)

	a1, _ := connect(t, r.url(""), "alice")
	// The second tab authenticates with the auth message, as browsers do.
	a2 := dialMessage(t, r.url(""))
	a2.sendText(`{"type":"auth","token":"` + token(t, "alice", time.Hour) + `"}`)
	if m := a2.next(); m.Type != "ready" || m.UserID != "alice" {
		t.Fatalf("a2 first message %+v: want ready", m)
	}
	b, _ := connect(t, r.url(""), "bob")

	id := pub.task("alice")
	for i, c := range []*wsClient{a1, a2} {
		m := c.nextEvent()
		if m.Event != events.TypeTaskCreated || m.taskID(t) != id || m.Subject != id || m.Cursor == "" || m.ID == "" {
			t.Fatalf("alice client %d got %+v: want the creation of %s with a cursor", i+1, m, id)
		}
	}
	// Bob's next event is his own: alice's never reached him.
	bid := pub.task("bob")
	if m := b.nextEvent(); m.taskID(t) != bid {
		t.Fatalf("bob got %+v: want only his task %s", m, bid)
	}
	// Reminders travel too: the notifier's reminder.due, and any other type
	// on the reminders topic, owner from the partition key.
	due, err := events.NewReminderDueEvent("/todo/notifier", events.ReminderDue{
		ReminderID: uuid.NewString(), TaskID: id, OwnerID: "alice", TaskTitle: "t", FireAt: time.Now(), FiredAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	pub.publish(events.TopicReminders, "alice", due)
	for _, c := range []*wsClient{a1, a2} {
		if m := c.nextEvent(); m.Topic != events.TopicReminders || m.Event != events.TypeReminderDue || m.Subject != id || !strings.Contains(string(m.Data), id) {
			t.Fatalf("reminder.due: got %+v", m)
		}
	}
	rem := cloudevents.New()
	rem.SetID(uuid.NewString())
	rem.SetSource("/todo/notifier")
	rem.SetType("todo.reminder.fired.v2")
	rem.SetSubject(id)
	rem.SetExtension(events.PartitionKeyExtension, "alice")
	if err := rem.SetData(cloudevents.ApplicationJSON, map[string]string{"task_id": id}); err != nil {
		t.Fatal(err)
	}
	pub.publish(events.TopicReminders, "alice", rem)
	for _, c := range []*wsClient{a1, a2} {
		if m := c.nextEvent(); m.Topic != events.TopicReminders || m.Event != "todo.reminder.fired.v2" || !strings.Contains(string(m.Data), id) {
			t.Fatalf("reminder: got %+v", m)
		}
	}
	// Bob got none of it.
	bid2 := pub.task("bob")
	if m := b.nextEvent(); m.taskID(t) != bid2 {
		t.Fatalf("bob got %+v, want only his task %s", m, bid2)
	}
	if code, body := httpGet(t, "http://"+r.metrics+"/metrics"); code != 200 || !strings.Contains(body, "realtime_connections 3") || !strings.Contains(body, "realtime_messages_sent_total") {
		t.Fatalf("/metrics: %d, want realtime_connections 3:\n%s", code, body)
	}
}

// TestResumeReplaysWhatWasMissed: a client that reconnects with its last
// cursor gets exactly the events of its user it missed, in order; an
// unknown or too old cursor gets resync.
func TestResumeReplaysWhatWasMissed(t *testing.T) {
	t.Parallel()
	r, kcfg := kafkaReplica(t, "REALTIME_REPLAY_SIZE", "8")
	pub := newPublisher(t, kcfg)

	a, _ := connect(t, r.url(""), "alice")
	last := a.nextEventAfter(t, func() string { return pub.task("alice") })
	_ = a.ws.Close(websocket.StatusNormalClosure, "")

	// While away: three of alice's, two of bob's. A watcher sees them all
	// dispatched before alice comes back.
	w, _ := connect(t, r.url(""), "alice")
	var missed []string
	for i := 0; i < 3; i++ {
		missed = append(missed, pub.task("alice"))
		pub.task("bob")
	}
	for range missed {
		w.nextEvent()
	}

	for _, how := range []string{"query", "auth message"} {
		var c *wsClient
		if how == "query" {
			c = mustDial(t, r.url("cursor="+last), token(t, "alice", time.Hour))
		} else {
			c = dialMessage(t, r.url(""))
			c.sendText(`{"type":"auth","token":"` + token(t, "alice", time.Hour) + `","cursor":"` + last + `"}`)
		}
		for i, want := range missed {
			m := c.next()
			if m.Type != "event" || m.taskID(t) != want {
				t.Fatalf("%s: replayed message %d: %+v, want the event of %s", how, i, m, want)
			}
		}
		if m := c.next(); m.Type != "ready" || m.Replayed == nil || *m.Replayed != len(missed) {
			t.Fatalf("%s: after the replay: %+v, want ready with replayed %d", how, m, len(missed))
		}
		// And live events follow.
		id := pub.task("alice")
		if m := c.nextEvent(); m.taskID(t) != id {
			t.Fatalf("%s: live event %+v, want %s", how, m, id)
		}
		w.nextEvent()
		// The next round resumes from the same cursor and gets one more.
		missed = append(missed, id)
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
	}

	// An unknown cursor: resync.
	c := mustDial(t, r.url("cursor=not-a-cursor"), token(t, "alice", time.Hour))
	if m := c.next(); m.Type != "resync" || m.Cursor == "" {
		t.Fatalf("unknown cursor: %+v, want resync with a fresh cursor", m)
	}
	// A cursor older than the replay buffer (8 per partition): resync.
	for i := 0; i < 10; i++ {
		pub.task("alice")
		w.nextEvent()
	}
	c = mustDial(t, r.url("cursor="+last), token(t, "alice", time.Hour))
	if m := c.next(); m.Type != "resync" || !strings.Contains(m.Reason, "older") {
		t.Fatalf("too old cursor: %+v, want resync", m)
	}
	if code, body := httpGet(t, "http://"+r.metrics+"/metrics"); code != 200 || !strings.Contains(body, `realtime_resumes_total{result="resync"} 2`) {
		t.Fatalf("/metrics: want 2 resyncs:\n%s", body)
	}
}

// TestReplicasEachSeeEveryEvent: with two replicas on one broker, each
// delivers the events of the users connected to it (no shared group splits
// them), and a cursor from one replica resumes on the other.
func TestReplicasEachSeeEveryEvent(t *testing.T) {
	t.Parallel()
	r1, kcfg := kafkaReplica(t)
	r2 := startReplica(t, kafkaEnv(kcfg))
	pub := newPublisher(t, kcfg)

	users := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	on1, on2 := map[string]*wsClient{}, map[string]*wsClient{}
	for _, u := range users {
		on1[u], _ = connect(t, r1.url(""), u)
		on2[u], _ = connect(t, r2.url(""), u)
	}
	var cursor string
	for _, u := range users {
		id := pub.task(u)
		for i, c := range []*wsClient{on1[u], on2[u]} {
			m := c.nextEvent()
			if m.taskID(t) != id {
				t.Fatalf("replica %d, user %s: got %+v, want %s", i+1, u, m, id)
			}
			if u == "u1" && i == 0 {
				cursor = m.Cursor
			}
		}
	}
	// u1 moves from replica 1 to replica 2 with replica 1's cursor.
	missed := pub.task("u1")
	on2["u1"].nextEvent()
	c, _, err := dialHeader(t, r2.url("cursor="+cursor), token(t, "u1", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.next(); m.Type != "event" || m.taskID(t) != missed {
		t.Fatalf("resume on the other replica: %+v, want %s", m, missed)
	}
	if m := c.next(); m.Type != "ready" {
		t.Fatalf("after the replay: %+v, want ready", m)
	}
}

// TestShutdownTellsClientsToReconnect: stopping a replica closes its
// sockets with 1012 (service restart).
func TestShutdownTellsClientsToReconnect(t *testing.T) {
	t.Parallel()
	r, _ := kafkaReplica(t)
	a, _ := connect(t, r.url(""), "alice")
	b, _ := connect(t, r.url(""), "bob")
	r.stop(t)
	for _, c := range []*wsClient{a, b} {
		if code, _ := c.closed(); code != realtime.CloseServiceRestart {
			t.Fatalf("close code %d, want 1012", code)
		}
	}
}

// TestDaprSubscription: through Dapr, the sidecar learns the subscriptions
// from /dapr/subscribe (on the pub/sub named by DAPR_PUBSUB) and delivers
// to /dapr/events/<topic>; the event reaches the owner's socket, with or
// without Kafka coordinates, and a resume on the same replica replays.
func TestDaprSubscription(t *testing.T) {
	t.Parallel()
	r := startReplica(t, map[string]string{"EVENTS_TRANSPORT": "dapr", "DAPR_PUBSUB": "realtime-pubsub", "DAPR_HTTP_PORT": "3599"})
	code, body := httpGet(t, "http://"+r.addr+"/dapr/subscribe")
	if code != 200 || !strings.Contains(body, `"pubsubname":"realtime-pubsub"`) || !strings.Contains(body, `"topic":"reminders"`) || !strings.Contains(body, `"route":"/dapr/events/task-events"`) {
		t.Fatalf("/dapr/subscribe: %d %s", code, body)
	}
	a, _ := connect(t, r.url(""), "alice")
	b, _ := connect(t, r.url(""), "bob")
	deliver := func(owner string, headers map[string]string) string {
		id := uuid.NewString()
		e, err := events.NewTaskEvent("/todo/test", events.TypeTaskUpdated, snapshot(id, owner), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := e.MarshalJSON()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+r.addr+"/dapr/events/task-events", strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct{ Status string }
		if err := decodeJSON(resp.Body, &st); err != nil || resp.StatusCode != 200 || st.Status != "SUCCESS" {
			t.Fatalf("delivery: %d %+v %v", resp.StatusCode, st, err)
		}
		return id
	}
	id := deliver("alice", map[string]string{"__partition": "2", "__offset": "40"})
	m := a.nextEvent()
	if m.taskID(t) != id || m.Event != events.TypeTaskUpdated {
		t.Fatalf("alice got %+v, want %s", m, id)
	}
	cursor := m.Cursor
	bid := deliver("bob", map[string]string{"__partition": "2", "__offset": "41"})
	if m := b.nextEvent(); m.taskID(t) != bid {
		t.Fatalf("bob got %+v, want %s", m, bid)
	}
	// Delivered again by the sidecar: not pushed twice.
	deliver("alice", map[string]string{"__partition": "2", "__offset": "40"})
	id2 := deliver("alice", map[string]string{"__partition": "2", "__offset": "42"})
	if m := a.nextEvent(); m.taskID(t) != id2 {
		t.Fatalf("alice got %+v, want %s (and no redelivery)", m, id2)
	}
	// Out of order (a sidecar may deliver so): the late one is pushed too.
	late := deliver("alice", map[string]string{"__partition": "3", "__offset": "8"})
	early := deliver("alice", map[string]string{"__partition": "3", "__offset": "7"})
	for _, want := range []string{late, early} {
		if m := a.nextEvent(); m.taskID(t) != want {
			t.Fatalf("alice got %+v, want %s", m, want)
		}
	}
	// A resume replays alice's events after the cursor, once each.
	c := mustDial(t, r.url("cursor="+cursor), token(t, "alice", time.Hour))
	if m := c.next(); m.Type != "resync" {
		// The cursor predates partition 3, which the replica has seen
		// since: it cannot vouch for what the cursor missed there.
		t.Fatalf("resume: %+v, want resync", m)
	}
	// A cursor taken after partition 3 appeared replays alice's events
	// after it, once each.
	cursor = a.nextEventAfter(t, func() string { return deliver("alice", map[string]string{"__partition": "2", "__offset": "43"}) })
	id4 := deliver("bob", map[string]string{"__partition": "2", "__offset": "44"})
	id5 := deliver("alice", map[string]string{"__partition": "3", "__offset": "9"})
	_ = id4
	a.nextEvent()
	c = mustDial(t, r.url("cursor="+cursor), token(t, "alice", time.Hour))
	if m := c.next(); m.Type != "event" || m.taskID(t) != id5 {
		t.Fatalf("resume: %+v, want %s", m, id5)
	}
	if m := c.next(); m.Type != "ready" || m.Replayed == nil || *m.Replayed != 1 {
		t.Fatalf("resume: %+v, want ready after 1", m)
	}
	// Without coordinates: the replica's own sequence, which another
	// replica cannot resume from; a cursor from before it gets resync.
	id3 := deliver("alice", nil)
	for _, c := range []*wsClient{a, c} {
		if m := c.nextEvent(); m.taskID(t) != id3 {
			t.Fatalf("alice got %+v, want %s", m, id3)
		}
	}
	c2 := mustDial(t, r.url("cursor="+cursor), token(t, "alice", time.Hour))
	if m := c2.next(); m.Type != "resync" {
		t.Fatalf("resume across a local sequence: %+v, want resync", m)
	}
}

func snapshot(id, owner string) task.Snapshot {
	return task.Snapshot{ID: id, OwnerID: owner, Title: "task " + id}
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// TestSecondCopyOfAnEventIsNotPushed: the outbox relay publishes at least
// once, so the same event may come twice at two offsets. The socket gets
// it once, live and on a resume, and the events around it as usual.
func TestSecondCopyOfAnEventIsNotPushed(t *testing.T) {
	t.Parallel()
	r, kcfg := kafkaReplica(t, "REALTIME_REPLAY_SIZE", "16")
	pub := newPublisher(t, kcfg)
	a, _ := connect(t, r.url(""), "alice")
	cursor := a.nextEventAfter(t, func() string { return pub.task("alice") })

	id := uuid.NewString()
	e, err := events.NewTaskEvent("/todo/test", events.TypeTaskCreated, task.Snapshot{ID: id, OwnerID: "alice", Title: "twice"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub.publish(events.TopicTaskEvents, "alice", e)
	pub.publish(events.TopicTaskEvents, "alice", e) // the relay's second copy
	after := pub.task("alice")
	for _, want := range []string{id, after} {
		if m := a.nextEvent(); m.taskID(t) != want {
			t.Fatalf("live: got %+v, want the event of %s (once)", m, want)
		}
	}

	c := mustDial(t, r.url("cursor="+cursor), token(t, "alice", time.Hour))
	for _, want := range []string{id, after} {
		if m := c.next(); m.Type != "event" || m.taskID(t) != want {
			t.Fatalf("replay: got %+v, want the event of %s (once)", m, want)
		}
	}
	if m := c.next(); m.Type != "ready" || m.Replayed == nil || *m.Replayed != 2 {
		t.Fatalf("after the replay: %+v, want ready with replayed 2", m)
	}
}

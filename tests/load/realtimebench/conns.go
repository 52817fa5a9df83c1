package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/todo-platform/todo/pkg/auth"
)

// clientsCommand runs this binary as a client process: it opens a share of
// the connections and reports the arrivals on the active users' ones.
const clientsCommand = "clients"

// secretEnv passes the token signing secret to the child processes.
const secretEnv = "REALTIMEBENCH_JWT_SECRET"

func userID(i int) string { return fmt.Sprintf("bench-user-%05d", i) }

// clients is a client process. Its standard output is a line protocol the
// parent reads:
//
//	opened <n> <failed> <first error, quoted>
//	clientmem <heap and stack bytes of the connections>
//	arr <title> <unix nanoseconds>
func clients(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet(clientsCommand, flag.ContinueOnError)
	addr := fs.String("addr", "", "realtime server host:port")
	source := fs.String("source", "127.0.0.2", "loopback source address")
	from := fs.Int("from", 0, "first connection number")
	to := fs.Int("to", 0, "connection number after the last")
	users := fs.Int("users", 1, "users")
	active := fs.Int("active", 1, "users whose connections are read")
	workers := fs.Int("workers", 64, "connections being opened at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := raiseFileLimit(uint64(*to-*from) + 1000); err != nil { //nolint:gosec // a count, positive
		return err
	}
	secret := getenv(secretEnv)
	tokens := map[int]string{}
	for i := *from; i < *to; i++ {
		u := i % *users
		if _, ok := tokens[u]; !ok {
			tok, err := auth.IssueHS256(secret, userID(u), "", "", 24*time.Hour)
			if err != nil {
				return err
			}
			tokens[u] = tok
		}
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(*source)}, Timeout: 30 * time.Second}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var (
		next   atomic.Int64
		failed atomic.Int64
		mu     sync.Mutex
		first  error
		conns  = map[int]*websocket.Conn{}
		wg     sync.WaitGroup
	)
	next.Store(int64(*from))
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && failed.Load() < 100 {
				i := int(next.Add(1) - 1)
				if i >= *to {
					return
				}
				c, err := dial(ctx, client, *addr, tokens[i%*users])
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i, err)
					}
				} else {
					conns[i] = c
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	out := bufio.NewWriter(stdout)
	var outMu sync.Mutex
	line := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", a...)
		_ = out.Flush()
	}
	firstText := ""
	if first != nil {
		firstText = first.Error()
	}
	line("opened %d %d %s", len(conns), failed.Load(), strconv.Quote(firstText))
	line("clientmem %d", int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse))

	for i, c := range conns {
		if i%*users < *active {
			go readArrivals(c, line)
		}
	}
	<-ctx.Done()
	for _, c := range conns {
		_ = c.CloseNow()
	}
	return nil
}

// dial opens one connection with the token in the header and reads its
// ready message.
func dial(ctx context.Context, client *http.Client, addr, token string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{
		HTTPClient: client, HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		_ = c.CloseNow()
		return nil, fmt.Errorf("read ready: %w", err)
	}
	var m struct{ Type string }
	if json.Unmarshal(msg, &m) != nil || m.Type != "ready" {
		_ = c.CloseNow()
		return nil, fmt.Errorf("first message %s: want ready", msg)
	}
	return c, nil
}

func readArrivals(c *websocket.Conn, line func(string, ...any)) {
	var m struct {
		Type string
		Data struct{ Title string }
	}
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		at := time.Now()
		m.Data.Title = ""
		if json.Unmarshal(b, &m) != nil || m.Type != "event" || m.Data.Title == "" {
			continue
		}
		line("arr %s %d", m.Data.Title, at.UnixNano())
	}
}

// clientProc is a running client process, seen from the parent.
type clientProc struct {
	cmd    *exec.Cmd
	opened chan string
}

// connect starts the client processes, one per replica, each opening its
// share of the connections to its replica from its own source address, and
// waits until they all have.
func (b *bench) connect(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	b.track = newTracker()
	per := (b.cfg.conns + len(b.replicas) - 1) / len(b.replicas)
	start := time.Now()
	for k, r := range b.replicas {
		from, to := k*per, min((k+1)*per, b.cfg.conns)
		cmd := exec.CommandContext(context.WithoutCancel(ctx), exe, clientsCommand, //nolint:gosec // this very binary
			"-addr", r.addr, "-source", fmt.Sprintf("127.0.0.%d", 2+k), "-from", strconv.Itoa(from), "-to", strconv.Itoa(to),
			"-users", strconv.Itoa(b.cfg.users), "-active", strconv.Itoa(b.cfg.activeUsers), "-workers", strconv.Itoa(b.cfg.dialWorkers))
		cmd.Env = append(os.Environ(), secretEnv+"="+b.secret)
		cmd.Stderr = b.progress
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 30 * time.Second
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		p := &clientProc{cmd: cmd, opened: make(chan string, 2)}
		b.clients = append(b.clients, p)
		go b.readClient(pipe, p)
	}
	for k, p := range b.clients {
		var opened, mem string
		for _, dst := range []*string{&opened, &mem} {
			select {
			case *dst = <-p.opened:
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Minute):
				return fmt.Errorf("client process %d: no report within 10 minutes", k)
			}
		}
		var n, failed int
		rest := ""
		if _, err := fmt.Sscanf(opened, "opened %d %d", &n, &failed); err != nil {
			return fmt.Errorf("client process %d: %q: %w", k, opened, err)
		}
		if f := strings.SplitN(opened, " ", 4); len(f) == 4 {
			rest, _ = strconv.Unquote(f[3])
		}
		var cm int64
		_, _ = fmt.Sscanf(mem, "clientmem %d", &cm)
		b.rep.Connections += n
		b.rep.ConnectFailures += int64(failed)
		b.rep.clientBytes += cm
		if rest != "" && b.rep.ConnectFirstError == "" {
			b.rep.ConnectFirstError = rest
		}
		b.logf("client process %d (127.0.0.%d → replica %d): %d open, %d failed", k, 2+k, k, n, failed)
	}
	b.rep.ConnectSeconds = time.Since(start).Seconds()
	b.rep.SourceAddresses = len(b.clients)
	if b.rep.Connections == 0 {
		return errors.New("no connection opened")
	}
	b.rep.ClientBytesPerConn = float64(b.rep.clientBytes) / float64(b.rep.Connections)
	b.logf("%d connections open in %.1fs", b.rep.Connections, b.rep.ConnectSeconds)
	return nil
}

// readClient reads a client process's reports.
func (b *bench) readClient(r io.Reader, p *clientProc) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "arr "):
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			ns, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				continue
			}
			b.track.arrive(f[1], time.Unix(0, ns))
		case strings.HasPrefix(line, "opened "), strings.HasPrefix(line, "clientmem "):
			p.opened <- line
		}
	}
}

// expected is how many connections user u has when all opened.
func (b *bench) expected(u int) int {
	n := b.cfg.conns / b.cfg.users
	if u < b.cfg.conns%b.cfg.users {
		n++
	}
	return n
}

// tracker matches arriving events to the samples that caused them, by the
// task's title.
type tracker struct {
	mu      sync.Mutex
	samples map[string]*sample
}

// sample is one event: when it was sent, and its arrivals.
type sample struct {
	sent      time.Time
	committed time.Time // latency phase: when the API answered
	want      int
	arrivals  []time.Time
	done      chan struct{}
}

func newTracker() *tracker { return &tracker{samples: map[string]*sample{}} }

func (t *tracker) add(title string, sent time.Time, want int) *sample {
	s := &sample{sent: sent, want: want, done: make(chan struct{})}
	t.mu.Lock()
	t.samples[title] = s
	t.mu.Unlock()
	return s
}

func (t *tracker) arrive(title string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.samples[title]; s != nil {
		s.arrivals = append(s.arrivals, at)
		if len(s.arrivals) == s.want {
			close(s.done)
		}
	}
}

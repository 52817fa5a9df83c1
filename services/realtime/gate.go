package realtime

import (
	"fmt"
	"sync"
)

// gate caps the sockets of a replica: in all, per client address, and per
// address those still waiting for their auth message, so that no one
// address can hold the replica's sockets, nor open unauthenticated ones
// without end.
type gate struct {
	o       Options
	mu      sync.Mutex
	total   int
	perAddr map[string]int
	pending map[string]int
}

func newGate(o Options) *gate {
	return &gate{o: o, perAddr: map[string]int{}, pending: map[string]int{}}
}

// slot is one socket's place at the gate.
type slot struct {
	g       *gate
	addr    string
	pending bool
	done    bool
}

// enter takes a place for a socket from addr, pending its auth message or
// not; why says which cap refused it ("" when it was taken).
func (g *gate) enter(addr string, pending bool) (s *slot, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.total >= g.o.MaxConns:
		return nil, fmt.Sprintf("this server holds its most connections (%d): retry later", g.o.MaxConns)
	case g.perAddr[addr] >= g.o.MaxConnsPerAddress:
		return nil, fmt.Sprintf("at most %d connections per client address", g.o.MaxConnsPerAddress)
	case pending && g.pending[addr] >= g.o.MaxPendingPerAddress:
		return nil, fmt.Sprintf("at most %d connections per client address may wait for their auth message", g.o.MaxPendingPerAddress)
	}
	g.total++
	g.perAddr[addr]++
	if pending {
		g.pending[addr]++
	}
	return &slot{g: g, addr: addr, pending: pending}, ""
}

// authenticated says s's auth message came: it no longer counts as pending.
func (s *slot) authenticated() {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.pending && !s.done {
		s.pending = false
		decr(g.pending, s.addr)
	}
}

// release gives s's place back (once).
func (s *slot) release() {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	g.total--
	decr(g.perAddr, s.addr)
	if s.pending {
		decr(g.pending, s.addr)
	}
}

func decr(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

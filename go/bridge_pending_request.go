package main

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// replyKind tells the request goroutine what Ruby decided.
type replyKind int

const (
	replyResponse replyKind = iota // ctx.Response is filled in
	replyHijack                    // hand the socket to Ruby
	replyUpgrade                   // become a WebSocket / SSE connection
)

// pending is one request waiting for a Ruby thread. The request goroutine
// blocks on done; the Ruby thread fills ctx.Response (through the exported
// functions) and then sends on done. After that send the Ruby side only
// touches stream, which outlives the handler.
type pending struct {
	ctx    *fasthttp.RequestCtx
	id     uint64 // the handle C knows it by (and an upgrade's connection id)
	done   chan replyKind
	fd     chan int // hijacked socket's duplicate, back to Ruby
	stream *rubyStream
	extra  http.Header // an upgrade's response headers from the app
}

var pendingPool = sync.Pool{New: func() any { return &pending{done: make(chan replyKind, 1)} }}

func acquirePending(ctx *fasthttp.RequestCtx) *pending {
	p := pendingPool.Get().(*pending)
	p.ctx = ctx
	return p
}

// releasePending recycles p. Only the request goroutine calls it, after
// Ruby's last touch (the send on done) and never for a stream or hijack,
// which Ruby keeps using.
func releasePending(p *pending) {
	p.ctx = nil
	p.stream = nil
	p.fd = nil
	p.extra = nil
	pendingPool.Put(p)
}

// registry maps the 64-bit handles given to C to pending requests. A handle
// is slot<<32 | generation, so a stale handle from C never finds a reused
// slot. A mutex is enough here: it is held for a few nanoseconds per request.
type registry struct {
	mu    sync.Mutex
	slots []*pending
	gens  []uint32
	free  []uint32
	live  atomic.Int64
}

var requests registry

func (r *registry) add(p *pending) uint64 {
	r.mu.Lock()
	var i uint32
	if n := len(r.free); n > 0 {
		i = r.free[n-1]
		r.free = r.free[:n-1]
	} else {
		i = uint32(len(r.slots))
		r.slots = append(r.slots, nil)
		r.gens = append(r.gens, 0)
	}
	r.gens[i]++
	r.slots[i] = p
	h := uint64(i)<<32 | uint64(r.gens[i])
	r.mu.Unlock()
	r.live.Add(1)
	return h
}

func (r *registry) get(h uint64) *pending {
	i, g := uint32(h>>32), uint32(h)
	r.mu.Lock()
	defer r.mu.Unlock()
	if int(i) >= len(r.slots) || r.gens[i] != g {
		return nil
	}
	return r.slots[i]
}

// remove forgets a handle; later calls with it find nothing.
func (r *registry) remove(h uint64) {
	i, g := uint32(h>>32), uint32(h)
	r.mu.Lock()
	if int(i) < len(r.slots) && r.gens[i] == g && r.slots[i] != nil {
		r.slots[i] = nil
		r.gens[i]++
		r.free = append(r.free, i)
		r.live.Add(-1)
	}
	r.mu.Unlock()
}

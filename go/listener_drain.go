package main

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// A stopping server must not close a keep-alive connection at the moment
// its client sends the next request: the client sees a reset and the
// request fails (wrk saw 5 such errors in 297k requests across a hot
// restart). So a draining listener answers each connection's next request
// with "Connection: close", and closes only connections that stay idle for
// idleGrace, which no client racing a request does.
const idleGrace = time.Second

// connTracker follows each connection's state (fasthttp's ConnState hook).
type connTracker struct {
	mu     sync.Mutex
	idle   map[net.Conn]time.Time // zero time: active
	shared bool                   // connections came from the cluster's socket
}

func newConnTracker(shared bool) *connTracker {
	return &connTracker{idle: map[net.Conn]time.Time{}, shared: shared}
}

func (t *connTracker) onState(c net.Conn, state fasthttp.ConnState) {
	t.mu.Lock()
	switch state {
	case fasthttp.StateNew, fasthttp.StateActive:
		t.idle[c] = time.Time{}
	case fasthttp.StateIdle:
		t.idle[c] = time.Now()
	case fasthttp.StateHijacked, fasthttp.StateClosed:
		delete(t.idle, c)
		if t.shared {
			boardCount(-1)
		}
	}
	t.mu.Unlock()
}

// A WebSocket or SSE connection is load on its worker as long as it is
// open, though fasthttp counted it off the cluster's board when it was
// hijacked: upgraded counts it back on, longLivedClosed off when it ends,
// as for a raw TCP connection (which only the accept counted on).
func (t *connTracker) upgraded() {
	if t.shared {
		boardCount(1)
	}
}

func (t *connTracker) longLivedClosed() {
	if t.shared {
		boardCount(-1)
	}
}

// closeIdle closes the connections idle for longer than grace and returns
// how many connections are still open.
func (t *connTracker) closeIdle(grace time.Duration) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for c, since := range t.idle {
		if !since.IsZero() && now.Sub(since) >= grace {
			c.Close() // fasthttp reports StateClosed, which counts it off
		}
	}
	return len(t.idle)
}

// drain stops accepting, lets open connections finish (see above) until
// they are all gone or ctx expires, then has fasthttp close the rest.
func (l *listener) drain(ctx context.Context) {
	l.draining.Store(true)
	if l.shared != nil {
		l.shared.stopAccepting()
	}
	l.ln.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for l.conns.closeIdle(idleGrace) > 0 {
		select {
		case <-ctx.Done():
			logf(levelWarn, "%s: shutdown timeout: closing the remaining connections", l)
			return
		case <-tick.C:
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
)

// rtConn is one long-lived connection: a WebSocket or SSE after its
// upgrade, or a raw TCP one. Go owns the socket. It is read in passes while
// it has bytes and parked in the poller in between (conn_read.go), and
// writes go through an outgoing queue that a flusher goroutine empties,
// started only while there is something to write: an idle connection has
// no goroutine at all. Ruby sees the connection through events, one at a
// time and in order.
type rtConn struct {
	id       uint64
	kind     connKind
	netConn  net.Conn
	listener *listener

	mu          sync.Mutex
	out         [][]byte // queued frames, written in order
	pending     int64    // bytes in out and in the write in progress
	flushing    bool     // a flusher goroutine is running
	closeAfter  bool     // close once out is written (close, close frame)
	closed      bool     // the socket is closed; writes are refused
	dialing     bool     // a client not connected yet (conn_client.go); writes are refused
	wantDrained bool     // Ruby wrote: tell it when the backlog empties
	events      []event  // events waiting for the one with Ruby
	queued      int      // bytes in events (maxReadAhead)
	inRuby      bool     // an event of this connection is with Ruby
	current     uint32   // the type of that event
	finished    bool     // the close event was queued: nothing follows
	peerClosed  bool     // the client sent its close frame: no linger
	finishing   bool     // finish ran (once is enough)
	subs        []*subscription
	timeout     time.Duration // idle time before a keep-alive ping
	maxMsg      int           // the biggest message it takes, bytes
	client      bool          // we dialed it (conn_client.go): WebSocket frames are masked

	// The reading side (conn_read.go); only its owner touches the rest.
	readState atomic.Uint32
	sysConn   syscall.RawConn // the plain socket under netConn (the poller watches a server's), or nil
	ws        *websocket.Conn // a WebSocket's reader
	wsIn      *bufio.Reader   // its buffer (a server's, for peeking frames; lent out while parked)
	wsClosing bool            // we sent a close: messages are dropped
	peerEOF   bool            // a raw TCP peer half-closed: replies still go out

	lastRead  atomic.Int64 // unix nanoseconds of the last frame read
	lastWrite atomic.Int64
}

type connKind uint8

const (
	connWebSocket connKind = iota + 1
	connSSE
	connRaw // a raw TCP service's connection (conn_raw.go)
)

// event is a connection event on its way to Ruby.
type event struct {
	typ     uint32
	flags   uint32
	sub     uint64
	channel []byte
	data    []byte
}

// maxBacklog bounds a connection's outgoing queue: a client that stops
// reading is closed past it instead of growing memory without limit.
const maxBacklog = 16 << 20

// writeStall closes a connection whose socket accepts nothing for this long.
const writeStall = 30 * time.Second

var (
	connsMu   sync.RWMutex
	conns     = map[uint64]*rtConn{}
	liveConns sync.WaitGroup // until each connection's on_close ran
)

// newRTConn makes an accepted connection: upgraded from a request, or a
// raw TCP service's.
func newRTConn(id uint64, kind connKind, c net.Conn, l *listener) *rtConn {
	rc := &rtConn{id: id, kind: kind, netConn: c, listener: l, sysConn: syscallConn(c),
		timeout: l.cfg.ping, maxMsg: l.cfg.maxMsgBytes}
	if kind == connRaw {
		rc.timeout = l.cfg.keepAlive // before on_timeout
	} else {
		l.conns.upgraded()
	}
	rc.register()
	return rc
}

// register makes the connection findable, once set up, and has a stopping
// server wait for its on_close.
func (c *rtConn) register() {
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastWrite.Store(now)
	connsMu.Lock()
	conns[c.id] = c
	connsMu.Unlock()
	liveConns.Add(1)
}

func findConn(id uint64) *rtConn {
	connsMu.RLock()
	c := conns[id]
	connsMu.RUnlock()
	return c
}

// write queues a frame. It never blocks. It returns the backlog in bytes,
// or -1 when the connection is closed or closing.
func (c *rtConn) write(frame []byte, fromRuby bool) int64 {
	c.mu.Lock()
	if c.closed || c.closeAfter || c.dialing {
		c.mu.Unlock()
		return -1
	}
	c.out = append(c.out, frame)
	c.pending += int64(len(frame))
	backlog := c.pending
	if fromRuby {
		c.wantDrained = true
	}
	if backlog > maxBacklog {
		c.mu.Unlock()
		logf(levelWarn, "connection %d: closed, its client is %d bytes behind", c.id, backlog)
		c.abort()
		return -1
	}
	start := !c.flushing
	c.flushing = true
	c.mu.Unlock()
	if start {
		go c.flush()
	}
	return backlog
}

// closeGracefully writes last (a close frame, or nil) after what is queued,
// then closes the socket.
func (c *rtConn) closeGracefully(last []byte) {
	c.mu.Lock()
	if c.closed || c.closeAfter {
		c.mu.Unlock()
		return
	}
	if c.dialing { // nothing to say yet: stop the dial
		c.mu.Unlock()
		c.abort()
		return
	}
	if last != nil {
		c.out = append(c.out, last)
		c.pending += int64(len(last))
	}
	c.closeAfter = true
	start := !c.flushing
	c.flushing = true
	c.mu.Unlock()
	if start {
		go c.flush()
	}
}

// flush writes the queue with writev until it is empty, then exits.
func (c *rtConn) flush() {
	bp := frameLists.Get().(*net.Buffers)
	defer frameLists.Put(bp)
	for {
		c.mu.Lock()
		if len(c.out) == 0 || c.closed {
			c.flushing = false
			if cap(c.out) > 64 { // after a big burst: an idle connection keeps no big list
				c.out = nil
			}
			drained := c.wantDrained && !c.closed
			c.wantDrained = false
			closeNow := c.closeAfter && !c.closed
			c.mu.Unlock()
			if closeNow {
				c.shutdownWrite()
			} else if drained {
				c.queueEvent(event{typ: evDrained})
			}
			return
		}
		bufs := append((*bp)[:0], c.out...)
		clear(c.out)
		c.out = c.out[:0]
		n := int64(0)
		for _, b := range bufs {
			n += int64(len(b))
		}
		c.mu.Unlock()
		c.netConn.SetWriteDeadline(time.Now().Add(writeStall))
		w := bufs // WriteTo consumes its receiver
		_, err := w.WriteTo(c.netConn)
		clear(bufs)
		*bp = bufs[:0]
		c.mu.Lock()
		c.pending -= n
		c.mu.Unlock()
		c.lastWrite.Store(time.Now().UnixNano())
		if err != nil {
			logf(levelDebug, "connection %d: write: %v", c.id, err)
			c.abort()
		}
	}
}

// frameLists are flush's lists of frames to write: one per flush would
// be most of what a broadcast allocates.
var frameLists = sync.Pool{New: func() any { return new(net.Buffers) }}

// lingerClose is how long a closing connection waits for its client's
// close frame (or EOF) after ours.
const lingerClose = 2 * time.Second

// shutdownWrite ends the sending side after the last queued byte (so the
// client reads everything, then EOF) and lets the reader finish the
// connection when the client answers, or abort it when lingerClose passes.
func (c *rtConn) shutdownWrite() {
	if cw, ok := c.netConn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		time.AfterFunc(lingerClose, c.abort)
		return
	}
	c.abort()
}

// waitWhile polls busy (run under c.mu) until it is false, the socket is
// closed or limit passed: rare, short waits at a connection's end, not
// worth a condition variable each.
func (c *rtConn) waitWhile(limit time.Duration, busy func() bool) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		wait := !c.closed && busy()
		c.mu.Unlock()
		if !wait {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// awaitCloseFrame gives a close in progress (our answer to the client's
// close frame, say) up to lingerClose to be written before the socket goes.
func (c *rtConn) awaitCloseFrame() {
	c.waitWhile(lingerClose, func() bool { return c.closeAfter && c.flushing })
}

// awaitReplies lets a raw TCP client that half-closed its side have what
// it already sent handled, and the replies written, before the socket goes.
func (c *rtConn) awaitReplies() {
	c.waitWhile(writeStall, func() bool { return c.inRuby || len(c.events) > 0 || c.flushing })
}

// maxReadAhead bounds the bytes of a connection's messages waiting for
// Ruby: past it the connection is not read (TCP slows the client down)
// until Ruby is half-way through them.
const maxReadAhead = 1 << 20

// pauseReading stops reading a connection Ruby is too far behind (it
// stays out of the poller); done resumes it. The caller owns the reading
// side and gives it up when this returns true. A closed connection is
// not paused: its pass goes on to finish it.
func (c *rtConn) pauseReading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queued <= maxReadAhead || c.closed {
		return false
	}
	c.readState.Store(readPaused)
	return true
}

func (c *rtConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// awaitReadAhead holds a reading goroutine while Ruby is too far behind;
// connections read in passes pause instead (pauseReading).
func (c *rtConn) awaitReadAhead() {
	c.waitWhile(time.Duration(math.MaxInt64), func() bool { return c.queued > maxReadAhead })
}

// lingerClose ends the sending side and reads what the client still sends
// (the rest of an oversized message, its close reply) until EOF or
// lingerClose: closing with unread bytes would reset the connection and
// the client could lose the close frame it was sent.
func (c *rtConn) lingerClose() {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	cw, ok := c.netConn.(interface{ CloseWrite() error })
	if closed || !ok || cw.CloseWrite() != nil {
		return
	}
	c.netConn.SetReadDeadline(time.Now().Add(lingerClose))
	var buf [512]byte
	for {
		if _, err := c.netConn.Read(buf[:]); err != nil {
			return
		}
	}
}

// abort closes the socket at once; the reader then sees the error and
// finishes the connection (or, when it is parked, abort does).
func (c *rtConn) abort() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.out = nil
	c.pending = 0
	c.mu.Unlock()
	c.netConn.Close()
	c.finishParked()
}

// backlog is the number of bytes not yet written, or -1 once closed.
func (c *rtConn) backlog() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.finished || c.dialing {
		return -1
	}
	return c.pending
}

// queueEvent sends an event to Ruby, or keeps it until Ruby is done with
// the connection's previous one: a connection's callbacks never overlap
// and keep their order. Nothing follows the close event.
func (c *rtConn) queueEvent(e event) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	if e.typ == evClose {
		c.finished = true
	}
	if c.inRuby {
		if e.typ == evMessage { // the reader reuses its buffer
			e.data = bytes.Clone(e.data)
		}
		c.events = append(c.events, e)
		c.queued += len(e.data) + len(e.channel)
		c.mu.Unlock()
		return
	}
	c.inRuby = true
	c.current = e.typ
	c.mu.Unlock()
	pushEvent(taskConn, c.id, e)
}

// done is Ruby's word that it handled the connection's last event.
func (c *rtConn) done() {
	c.mu.Lock()
	switch c.current {
	case evShutdown:
		defer c.closeWith(1001, "server shutting down") // after on_shutdown's own writes
	case evClose:
		c.inRuby = false
		c.mu.Unlock()
		connsMu.Lock()
		delete(conns, c.id)
		connsMu.Unlock()
		liveConns.Done()
		return
	}
	var next *event
	if len(c.events) == 0 {
		c.inRuby = false
		c.current = 0
	} else {
		e := c.events[0]
		c.events[0] = event{}
		c.events = c.events[1:]
		if len(c.events) == 0 {
			c.events = nil
		}
		c.queued -= len(e.data) + len(e.channel)
		c.current = e.typ
		next = &e
	}
	resume := c.queued <= maxReadAhead/2 && c.readState.CompareAndSwap(readPaused, readActive)
	c.mu.Unlock()
	if next != nil {
		pushEvent(taskConn, c.id, *next)
	}
	if resume {
		go c.readPass(false)
	}
}

// finish runs once, when reading ended: the socket closes, subscriptions
// go and Ruby gets on_close (after any events still queued). After a
// completed close handshake nothing is left to read, so no linger.
// The connection stays findable until Ruby handled on_close (done).
func (c *rtConn) finish() {
	c.mu.Lock()
	again := c.finishing
	c.finishing = true
	c.mu.Unlock()
	if again {
		return
	}
	if c.peerEOF {
		c.awaitReplies()
	}
	c.awaitCloseFrame()
	c.mu.Lock()
	handshakeDone := c.peerClosed
	c.mu.Unlock()
	if !handshakeDone {
		c.lingerClose()
	}
	c.abort()
	if c.listener != nil {
		c.listener.conns.longLivedClosed()
	}
	unsubscribeConn(c)
	c.queueEvent(event{typ: evClose})
}

// keepAliveTick is how often keepAlive looks. A connection counts as due
// when its interval ends within half a tick, so -ping N means about N
// seconds, not N+1.
const keepAliveTick = time.Second

// keepAlive pings every connection that wrote nothing for its interval,
// and closes those that sent nothing (not even a pong) for three of them;
// a raw TCP connection gets on_timeout instead (conn_raw.go).
// One goroutine per process scans all connections, instead of a timer each.
func keepAlive(stop <-chan struct{}) {
	tick := time.NewTicker(keepAliveTick)
	defer tick.Stop()
	var list []*rtConn
	for {
		select {
		case <-stop:
			return
		case t := <-tick.C:
			now := t.UnixNano()
			connsMu.RLock()
			for _, c := range conns {
				list = append(list, c)
			}
			connsMu.RUnlock()
			for _, c := range list {
				c.mu.Lock()
				d, dialing := c.timeout, c.dialing
				c.mu.Unlock()
				if d <= 0 || dialing { // a dial has its own timeout
					continue
				}
				due := d - keepAliveTick/2
				if c.kind == connRaw {
					if c.timedOut(now, due) {
						c.queueEvent(event{typ: evTimeout})
					}
					continue
				}
				if now-c.lastRead.Load() >= int64(3*d) && c.kind == connWebSocket {
					logf(levelDebug, "connection %d: no answer for %v; closing", c.id, 3*d)
					c.abort()
					continue
				}
				if now-c.lastWrite.Load() >= int64(due) { // nothing written: ping
					c.ping()
				}
			}
			clear(list)
			list = list[:0]
		}
	}
}

func (c *rtConn) ping() {
	if c.client && c.kind == connSSE {
		return // an SSE client never writes
	}
	switch c.kind {
	case connWebSocket:
		if c.client {
			c.write(c.frame(websocket.PingMessage, nil), false)
		} else {
			c.write(wsPingFrame, false)
		}
	case connSSE:
		c.write(ssePingComment, false)
	}
	c.lastWrite.Store(time.Now().UnixNano())
}

// shutdownConns tells every connection's handler that the server stops
// (on_shutdown), then closes it politely (close 1001 for a WebSocket).
func shutdownConns() {
	connsMu.RLock()
	list := make([]*rtConn, 0, len(conns))
	for _, c := range conns {
		list = append(list, c)
	}
	connsMu.RUnlock()
	for _, c := range list {
		c.mu.Lock()
		dialing := c.dialing
		c.mu.Unlock()
		if dialing {
			c.abort() // on_close alone, as for a failed dial
		} else {
			c.queueEvent(event{typ: evShutdown})
		}
	}
}

// closeWith ends a connection after what is queued: a WebSocket with a
// close frame (code, reason), SSE and raw TCP by closing the socket.
func (c *rtConn) closeWith(code int, reason string) {
	if c.kind == connWebSocket {
		c.closeGracefully(c.closeFrame(code, reason))
	} else {
		c.closeGracefully(nil)
	}
}

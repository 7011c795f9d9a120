package main

import (
	"net"
	"syscall"
	"time"
)

// A connection's reading side. A connection the poller can park
// (conn_poller_linux.go) is read in passes: nothing runs for it while its socket
// is quiet; when bytes arrive one read pass handles them and parks it
// again. Clients, and sockets the poller cannot watch, keep one goroutine
// that reads in a loop until the connection ends.
//
// readState says who owns the reading side; it changes hands only by
// compare-and-swap (or by the owner), so one pass at a time reads, and a
// parked or paused connection that is closed is finished by abort.
const (
	readActive uint32 = iota // a pass or the reading goroutine owns it
	readParked               // armed in the poller; nobody reads
	readPaused               // Ruby is too far behind (pauseReading); nobody reads
	readDone                 // reading ended; finish runs
)

// What a read pass found (readSome).
const (
	passMore   = iota // read what there was: park (or wait a moment)
	passPaused        // Ruby is too far behind: paused, the pass ends here
	passEnded         // the connection ended
)

// serveReads reads the connection until it ends.
func (c *rtConn) serveReads() {
	if c.sysConn != nil && !c.client && parkingPoller() != nil {
		c.readPass(false)
		return
	}
	c.readLoop()
}

// readLoop reads on this goroutine until the connection ends.
func (c *rtConn) readLoop() {
	switch c.kind {
	case connWebSocket:
		c.readWebSocket()
	case connSSE:
		c.readSSE()
	default:
		c.readRaw()
	}
}

// readPass handles what the connection has to read, then parks it, or
// finishes it once reading ended. woken: the poller found the socket
// readable, so one read returns without waiting. A connection that was
// woken waits a moment for its next bytes before it parks (awaitMore).
func (c *rtConn) readPass(woken bool) {
	for {
		switch c.readSome(woken) {
		case passEnded:
			c.readState.Store(readDone)
			c.finish()
			return
		case passPaused:
			return // done() resumes it, abort() finishes it: hands off
		}
		if c.pauseReading() {
			return
		}
		if !woken || !c.awaitMore() {
			break
		}
	}
	c.returnReadBuffer()
	c.readState.Store(readParked)
	err := idlePoller.arm(c)
	if err == nil {
		return
	}
	if !c.readState.CompareAndSwap(readParked, readActive) {
		return // closed meanwhile: abort finishes it
	}
	if c.isClosed() {
		c.readState.Store(readDone)
		c.finish()
		return
	}
	logf(levelWarn, "connection %d: can't wait in epoll (%v); it keeps a reading goroutine", c.id, err)
	c.readLoop()
}

// readSome reads what the socket has (passMore, passPaused, passEnded).
func (c *rtConn) readSome(woken bool) int {
	ok := true
	switch c.kind {
	case connWebSocket:
		return c.wsReadReady(woken)
	case connSSE:
		ok = !woken || c.discardRead()
	default:
		ok = !woken || c.readRawOnce()
	}
	if !ok {
		return passEnded
	}
	return passMore
}

// hotWait is how long a connection that just had bytes waits for more in
// Go's own poller, with the goroutine it has, before it parks: a busy
// connection then costs no epoll round trip and no new goroutine (whose
// stack grows anew) per message.
const hotWait = 50 * time.Millisecond

// awaitMore: the socket has bytes (or an error to report) within hotWait.
func (c *rtConn) awaitMore() bool {
	c.netConn.SetReadDeadline(time.Now().Add(hotWait))
	err := awaitBytes(c.sysConn)
	c.netConn.SetReadDeadline(time.Time{})
	return err == nil
}

// readable is the poller's report: the socket has something to read.
func (c *rtConn) readable() {
	if c.readState.CompareAndSwap(readParked, readActive) {
		go c.readPass(true)
	}
}

// finishParked finishes a connection closed while parked or paused: no
// read pass will come to see the error. Otherwise its reader does.
func (c *rtConn) finishParked() {
	if c.readState.CompareAndSwap(readParked, readDone) || c.readState.CompareAndSwap(readPaused, readDone) {
		go c.finish()
	}
}

// prefixPending: bytes fasthttp read past the upgrade request are still
// waiting in front of the socket (http_hijack.go).
func (c *rtConn) prefixPending() bool {
	p, ok := c.netConn.(*prefixConn)
	return ok && len(p.prefix) > 0
}

// syscallConn is the socket under c that the poller can watch, or nil.
func syscallConn(c net.Conn) syscall.RawConn {
	if p, ok := c.(*prefixConn); ok {
		c = p.Conn
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
